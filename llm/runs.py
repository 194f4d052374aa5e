"""Run folders shared by ``bench``, ``eval-math``, ``rl`` and ``demo``: identity, resume, quiet logs.

* ``check_run``: ``OUT/run.json`` records what changes a result without changing its key; a
  folder that holds a different run, or files but no run at all, is refused and left untouched
  (``refuse_other``, which checks without writing, before a model loads).
* ``run_lock``: one process per run folder (an OS file lock that a killed process releases).
* ``read_jsonl``: the complete lines of a streamed results file (``scores.jsonl``,
  ``samples.jsonl``); a half-written last line (a kill during a write) is dropped.
* ``library_output_to``: library deprecation warnings (``DeprecationWarning``,
  ``PendingDeprecationWarning``, ``FutureWarning``) and the ``transformers``/``trl`` loggers'
  records go to ``OUT/run.log`` instead of the terminal (the per-step training logs:
  ``endorm.llm.rl.callbacks``).
"""
from __future__ import annotations

import json
import logging
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path


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

    Raises:
        OSError: the folder cannot be created.
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


def read_jsonl(path: Path, repair: bool = True) -> list:
    """Every complete line of a JSONL run file (``scores.jsonl``, ``samples.jsonl``), parsed.

    A half-written last line (a kill during a write) is ignored, and cut from the file when
    ``repair`` (only for this process's own file: another may still be writing). Blank lines are skipped.

    Args:
        path: the file; a missing file reads as empty.
        repair: truncate the file after its last complete line.

    Returns:
        list of the parsed records, in file order.

    Raises:
        ValueError: a complete line is not JSON (``FILE:7: not valid JSON (...); delete the file to start over``).
    """
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        if repair:
            with open(path, "r+b") as fh:
                fh.truncate(cut)
        data = data[:cut]
    out = []
    for n, line in enumerate(data.decode().splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not valid JSON ({e}); delete the file to start over") from None
    return out


LOCK_NAME = ".endorm.lock"


def refuse_other(out_dir: Path, meta: dict) -> None:
    """Refuse ``out_dir`` unless it is absent, empty, or holds this same run; writes nothing.

    Args:
        out_dir: the run folder.
        meta: the run's identity (``check_run``), with ``"command"`` naming the command that writes it.

    Raises:
        ValueError: ``run.json`` differs (``DIR holds a different run (differs in k1, k2); use another --out or
            delete it``) or is not JSON; or the folder holds files but no ``run.json`` (``DIR is not empty and
            holds no endorm run (no run.json); use an empty or new --out: nothing in it was touched``).
    """
    path = out_dir / "run.json"
    if path.exists():
        old = _read_run_json(path)
        diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k))
        if diff:
            raise ValueError(f"{out_dir} holds a different run (differs in {', '.join(diff)}); use another --out "
                             "or delete it")
        return
    if out_dir.is_dir() and any(p.name != LOCK_NAME for p in out_dir.iterdir()):
        raise ValueError(f"{out_dir} is not empty and holds no endorm run (no run.json); use an empty or new --out: "
                         "nothing in it was touched")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} is a file, not a folder; use another --out")


def _read_run_json(path: Path) -> dict:
    """An existing ``run.json`` as a dict, else a ValueError naming it (not JSON, or not an object)."""
    try:
        old = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"{path}: not valid JSON ({type(e).__name__}); use another --out or delete it") from None
    if not isinstance(old, dict):
        raise ValueError(f"{path} is not an endorm run.json (a JSON {type(old).__name__}); use another --out")
    return old


def check_run(out_dir: Path, meta: dict) -> None:
    """Write ``out_dir/run.json``, or check that the folder holds the same run (else nothing is touched).

    Args:
        out_dir: the run folder (created if needed).
        meta: the run's identity, JSON-serializable: what changes a result without changing its key
            (with ``"command"``, so that one command never writes into another's run).

    Raises:
        ValueError: as ``refuse_other``.
    """
    refuse_other(out_dir, meta)
    path = out_dir / "run.json"
    if path.exists():
        return
    from endorm._io import atomic_write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, meta)


@contextmanager
def run_lock(out_dir: Path):
    """Hold ``out_dir/.endorm.lock`` (an OS file lock, ``filelock``) for the block: one process per run folder.

    The lock is the operating system's (``flock``), so a killed process releases it and never leaves a
    stale lock; the empty lock file may stay and is ignored by ``refuse_other``.

    Raises:
        ValueError: another process holds it (``DIR is in use by another endorm process ...``).
        OSError: the folder cannot be created.
    """
    from filelock import FileLock, Timeout

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out_dir / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ValueError(f"{out_dir} is in use by another endorm process (it holds {out_dir / LOCK_NAME}); wait for "
                         "it to finish or use another --out") from None
    try:
        yield
    finally:
        lock.release()


def claim_output_folder(out_dir, command: str, settings: dict | None = None) -> None:
    """For commands that regenerate a folder (``demo``, ``figures``): refuse one that is not theirs, then mark it.

    A folder is theirs when it is absent, empty, or holds a ``run.json`` whose ``"command"`` is ``command``
    (its files are then regenerated, whatever the settings). Anything else, e.g. the user's own files or
    another command's run, is refused untouched.

    Args:
        out_dir: the output folder. command: e.g. "demo". settings: recorded in ``run.json`` (informational).

    Raises:
        ValueError: ``DIR is not empty and holds no endorm demo output (no run.json); ...`` or ``DIR holds
            the output of endorm bench, not demo; ...``.
    """
    from endorm._io import atomic_write_json

    out_dir = Path(out_dir)
    path = out_dir / "run.json"
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} is a file, not a folder; use another --out")
    if path.exists():
        try:
            what = _read_run_json(path).get("command")
        except ValueError:
            what = None
        if what != command:
            raise ValueError(f"{out_dir} holds {'the output of endorm ' + str(what) if what else 'a run.json'}, "
                             f"not of endorm {command}; use another --out (nothing in it was touched)")
    elif out_dir.is_dir() and any(p.name != LOCK_NAME for p in out_dir.iterdir()):
        raise ValueError(f"{out_dir} is not empty and holds no endorm {command} output (no run.json); use an empty "
                         "or new --out: nothing in it was touched")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"command": command, **(settings or {})})
