"""Quiet training runs: the ``Trainer``'s per-step log dictionaries go to a JSONL file.

``PrinterCallback`` prints them when the progress bar is off, ``ProgressCallback`` writes them under
the bar. ``quiet_trainer`` replaces both with ``LogToFile`` (one JSON line per logged step in
``trainer_log.jsonl``) and, when the bar is on, a bar that writes nothing else.
"""
from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback


def quiet_trainer(trainer, log_path):
    """Replace the trainer's printing callbacks: per-step logs go to ``log_path`` as JSON lines.

    Args:
        trainer: a ``transformers.Trainer`` (e.g. TRL's ``GRPOTrainer``).
        log_path: the JSONL file (appended: a resumed run continues it), e.g. ``OUT/trainer_log.jsonl``.

    Returns:
        ``trainer``, with ``PrinterCallback``/``ProgressCallback`` replaced by ``LogToFile`` and,
        unless ``args.disable_tqdm``, a progress bar that prints nothing else.
    """
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if not trainer.args.disable_tqdm:
        trainer.add_callback(ProgressBarOnly())
    trainer.add_callback(LogToFile(log_path))
    return trainer


class ProgressBarOnly(ProgressCallback):
    """The training progress bar without the log dictionaries written under it."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        """Write nothing (``ProgressCallback.on_log`` would print ``logs`` under the bar)."""
        return None


class LogToFile(TrainerCallback):
    """A ``TrainerCallback`` writing each ``on_log`` dictionary as one JSON line ``{"step": N, ...}``.

    Args:
        path: the JSONL file, appended to (its folder is created on the first write).
    """

    def __init__(self, path):
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        """Append ``{"step": state.global_step, **logs}`` on the main process (non-JSON values as float).

        Raises:
            OSError: the file cannot be written; TypeError / ValueError: a log value that neither
                JSON nor ``float()`` takes.
        """
        if state.is_world_process_zero and logs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": state.global_step, **logs}, default=float) + "\n")
