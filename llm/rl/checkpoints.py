"""Checkpoints that a kill never leaves looking complete, and resuming from the last complete one.

transformers writes ``checkpoint-N/`` file by file (the model, optimizer, scheduler, RNG state, then
``trainer_state.json``), and ``get_last_checkpoint`` takes the highest N whatever its state: a run killed
mid-save then fails to resume (``SafetensorError: incomplete metadata``). Here:

* ``MarkComplete`` (a ``TrainerCallback``) writes ``checkpoint-N/endorm-complete.json`` in ``on_save``,
  which transformers calls once it has written the whole folder: after every process is done (a
  barrier) and every file is flushed to disk (fsync), the main process writes the marker atomically
  (temporary file, then rename) with the name and size of every file of the folder.
* ``last_complete_checkpoint`` trusts a checkpoint whose marker is there and whose files all have the
  sizes it lists. A checkpoint without the marker (written before endorm wrote one, or killed
  before it was written) is trusted only if it is whole as far as can be told without loading it:
  ``trainer_state.json`` and every other ``.json`` parse, model weights are there, every
  ``.safetensors`` file's header parses and the file is exactly as long as the header says, every
  torch file (``.pt``, ``.pth``, ``.bin``) is a readable zip archive (a cut one has no central
  directory). A checkpoint that fails is skipped.
* ``resume_point`` says on stderr which checkpoints it skipped and why, and renames each to
  ``incomplete-checkpoint-N`` (which transformers neither resumes from nor rotates; an older folder of
  that name is replaced) so that training writes that step again into a new folder. Delete them to
  free the space.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import sys
import zipfile
from pathlib import Path

from transformers import TrainerCallback

MARKER = "endorm-complete.json"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
           "adapter_model.safetensors", "adapter_model.bin")


class MarkComplete(TrainerCallback):
    """Write ``checkpoint-N/endorm-complete.json`` once transformers has saved ``checkpoint-N/`` (module docstring)."""

    def on_save(self, args, state, control, **kwargs):
        """After every process has saved: fsync the folder's files, then write the marker (main process only).

        Raises:
            OSError: a file cannot be flushed or the marker cannot be written.
        """
        from accelerate import PartialState

        PartialState().wait_for_everyone()  # other processes may still write their RNG state or optimizer shards
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            write_marker(folder, state.global_step)
        PartialState().wait_for_everyone()


def write_marker(folder: Path, step: int) -> Path:
    """Flush every file of ``folder`` to disk, then write ``folder/endorm-complete.json`` atomically.

    Returns:
        the marker's path. Its content: ``{"step": step, "files": {relative path: size in bytes}}``.
    """
    from endorm._io import atomic_write_json

    files = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MARKER and not p.name.endswith(".tmp"):
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
            files[p.relative_to(folder).as_posix()] = p.stat().st_size
    path = atomic_write_json(folder / MARKER, {"step": int(step), "files": files})
    _fsync_dir(folder)
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. a platform that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def why_incomplete(folder) -> str | None:
    """Whether ``folder`` is a complete checkpoint (the rules: module docstring).

    Returns:
        None if it is, else why not, e.g. ``model.safetensors: 20000 bytes, its header says 158424``,
        ``optimizer.pt: 50 bytes, endorm-complete.json says 1400`` or ``no trainer_state.json``.
    """
    folder = Path(folder)
    try:
        if (folder / MARKER).is_file():
            return _check_marker(folder)
        return _check_files(folder)
    except (OSError, ValueError, UnicodeDecodeError) as e:  # unreadable, or removed while we looked
        return f"{type(e).__name__}: {e}"


def _check_marker(folder: Path) -> str | None:
    files = json.loads((folder / MARKER).read_text())["files"]
    for name, size in files.items():
        p = folder / name
        if not p.is_file():
            return f"{name} is missing"
        if p.stat().st_size != size:
            return f"{name}: {p.stat().st_size} bytes, {MARKER} says {size}"
    return None


def _check_files(folder: Path) -> str | None:
    if not (folder / "trainer_state.json").is_file():
        return "no trainer_state.json"
    if not any((folder / w).is_file() for w in WEIGHTS):
        return "no model weights"
    for p in sorted(folder.rglob("*")):
        why = _check_file(p) if p.is_file() else None
        if why:
            return f"{p.relative_to(folder).as_posix()}: {why}"
    return None


def _check_file(p: Path) -> str | None:
    """Why the file is not whole (None if it looks whole, or is of a kind that cannot be checked)."""
    if p.suffix == ".json":
        try:
            json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            return "not valid JSON"
    elif p.suffix == ".safetensors":
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(8)
            n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            if not 0 < n <= size - 8:
                return f"{size} bytes, shorter than its header"
            try:
                header = json.loads(fh.read(n))
            except (ValueError, UnicodeDecodeError):
                return "its header is not valid JSON"
        end = 8 + n + max([t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"], default=0)
        if size != end:
            return f"{size} bytes, its header says {end}"
    elif p.suffix in (".pt", ".pth", ".bin"):
        if not zipfile.is_zipfile(p):
            return "not a whole torch file (no zip central directory)"
    return None


def last_complete_checkpoint(out) -> tuple[Path | None, list]:
    """The newest complete ``checkpoint-N/`` in ``out`` and the newer ones that are not.

    Only checkpoints newer than the one returned are examined (from the newest down).

    Returns:
        ``(path or None, [(path, why incomplete)])``, the skipped ones newest first.
    """
    out = Path(out)
    found = []
    for p in out.iterdir() if out.is_dir() else []:
        m = CHECKPOINT.match(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    found.sort()
    skipped = []
    for _, path in reversed(found):
        why = why_incomplete(path)
        if why is None:
            return path, skipped
        skipped.append((path, why))
    return None, skipped


def resume_point(trainer, out) -> str | None:
    """Mark the trainer's checkpoints when complete, and choose the one to resume from.

    Adds ``MarkComplete`` to ``trainer``; finds ``last_complete_checkpoint(out)``; on the main process
    says on stderr what it skipped (``endorm rl: skipped the incomplete checkpoint-4 (model.safetensors:
    20000 bytes, its header says 158424); moved to incomplete-checkpoint-4``) and renames the skipped
    folders.

    Returns:
        the checkpoint folder to pass as ``resume_from_checkpoint`` (str), or None: start at step 0.

    Raises:
        OSError: a skipped checkpoint cannot be renamed.
    """
    trainer.add_callback(MarkComplete())
    last, skipped = last_complete_checkpoint(out)
    if trainer.is_world_process_zero():
        for path, why in skipped:
            moved = path.with_name("incomplete-" + path.name)
            if moved.exists():
                shutil.rmtree(moved)
            path.rename(moved)
            print(f"endorm rl: skipped the incomplete {path.name} ({why}); moved to {moved.name}", file=sys.stderr)
        if skipped:
            print(f"endorm rl: resuming from {last.name}" if last else "endorm rl: no complete checkpoint; "
                  "starting at step 0", file=sys.stderr)
    return None if last is None else str(last)
