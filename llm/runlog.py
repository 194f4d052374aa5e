"""Quiet training runs: per-step logs and library chatter go to files in the run folder.

What a user of ``endorm rl`` / ``endorm demo`` sees on the terminal is progress bars, endorm's own
warnings and the result tables. Two things would otherwise flood it:

* the ``Trainer``'s per-step log dictionaries (``PrinterCallback`` prints them when the progress
  bar is off, ``ProgressCallback`` writes them under the bar). ``quiet_trainer`` replaces both with
  ``LogToFile`` (one JSON line per logged step in ``trainer_log.jsonl``) and, when the bar is on,
  a bar that writes nothing else;
* library deprecation warnings (``DeprecationWarning``, ``PendingDeprecationWarning``,
  ``FutureWarning``) and the ``transformers``/``trl`` loggers' records: ``library_output_to``
  appends them to ``run.log`` and says at the end how many there were.
"""
from __future__ import annotations

import json
import logging
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
LIBRARY_LOGGERS = ("transformers", "trl", "accelerate", "datasets", "endorm.library")


@contextmanager
def library_output_to(path, announce: bool = True):
    """Send library deprecation warnings and library log records to ``path`` (appended) inside the block.

    Other warnings (e.g. endorm's own ``UserWarning``s) are shown as usual, and a warnings filter
    that turns a warning into an error still does.

    Args:
        path: the log file, e.g. ``OUT/run.log``; its folder is created.
        announce: print one line to stderr at the end if anything was written.

    Yields:
        a dict whose ``"lines"`` counts the records written so far.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = {"lines": 0}
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    handler.addFilter(lambda record: count.__setitem__("lines", count["lines"] + 1) or True)
    saved = []
    for name in LIBRARY_LOGGERS:
        lg = logging.getLogger(name)
        saved.append((lg, lg.handlers[:], lg.propagate))
        lg.handlers = [handler]
        lg.propagate = False
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, DEPRECATIONS):
                logging.getLogger("endorm.library").warning(
                    "%s", warnings.formatwarning(message, category, filename, lineno, line).rstrip())
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = showwarning
        for category in DEPRECATIONS:  # each once per place, as Python's default filter does, into the file
            warnings.filterwarnings("default", category=category)
        try:
            yield count
        finally:
            for lg, handlers, propagate in saved:
                lg.handlers, lg.propagate = handlers, propagate
            handler.close()
    if announce and count["lines"]:
        print(f"({count['lines']} library warning(s) and log line(s) written to {path})", file=sys.stderr)


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
        return None


class LogToFile(TrainerCallback):
    """A ``TrainerCallback`` writing each ``on_log`` dictionary as one JSON line ``{"step": N, ...}``."""

    def __init__(self, path):
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": state.global_step, **logs}, default=float) + "\n")
