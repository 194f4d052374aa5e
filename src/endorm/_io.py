"""Atomic file output: write to a temporary file in the same folder, then rename.

A reader never sees a half-written file, and a failed write leaves the old file (if any) in
place and no temporary file behind. The file gets the mode any new file of the user gets
(0666 minus the umask, e.g. 0644 under umask 022), not ``mkstemp``'s private 0600.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask (reading it means setting it; the lock keeps threads of this module apart)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then ``os.replace``).

    Creates missing parent folders; the file gets mode 0666 & ~umask. The temporary file
    ``.<name>.<random>.tmp`` is removed on any failure (KeyboardInterrupt included), so an existing
    ``path`` then keeps its old contents.

    Args:
        path: destination file (str or path-like); an existing file is replaced.
        data: the complete new contents.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OSError: the folder cannot be created or written; no temporary file is left behind.
        TypeError: ``data`` is not bytes-like (from the binary write).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path, obj) -> Path:
    """Write ``obj`` as JSON (indent 2, trailing newline) atomically via ``atomic_write_bytes``.

    NaN and infinities are written as the non-standard ``NaN`` / ``Infinity`` tokens (``allow_nan=True``).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        TypeError: ``obj`` holds something ``json`` cannot encode (``Object of type ndarray is not JSON
            serializable``); nothing is written.
        ValueError: ``obj`` contains a circular reference.
        OSError: as ``atomic_write_bytes``.
    """
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=True) + "\n").encode())


def atomic_savefig(fig, path, **kwargs) -> Path:
    """Save a matplotlib figure as PNG atomically: render into memory, then ``atomic_write_bytes``.

    Args:
        fig: a ``matplotlib.figure.Figure``.
        path: destination; always PNG, whatever its suffix.
        **kwargs: passed to ``fig.savefig`` (e.g. ``dpi``); ``format`` is fixed to ``"png"`` and may not be given.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        TypeError: ``format`` given in ``kwargs`` (``got multiple values for keyword argument 'format'``).
        OSError: as ``atomic_write_bytes``; errors of ``fig.savefig`` propagate before any file is touched.
    """
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", **kwargs)
    return atomic_write_bytes(path, buf.getvalue())


def parse_json_line(raw):
    """One JSONL line (bytes or str) parsed, or a ValueError whose message says what is wrong (the caller adds
    ``file:line``): not UTF-8 (``not valid UTF-8: byte 0xff at column 376``), not JSON (``invalid JSON:
    Expecting value (column 3)``), nested too deeply or a number too long for Python (``invalid JSON: nested
    too deeply``), or text that is not Unicode (``invalid text: a lone surrogate \\ud800``).

    Returns:
        the parsed object.

    Raises:
        ValueError: as above; never a ``UnicodeDecodeError`` or ``RecursionError``.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"not valid UTF-8: byte 0x{raw[e.start]:02x} at column {e.start + 1}") from None
    else:
        text = raw
    obj = _loads(text, "invalid JSON: ")
    _check_unicode(obj)
    return obj


def _loads(text: str, prefix: str):
    """``json.loads`` whose every failure is a ValueError starting with ``prefix``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{prefix}{e.msg} (line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise ValueError(f"{prefix}nested too deeply") from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise ValueError(f"{prefix}{e}") from None


def _check_unicode(obj) -> None:
    """A ValueError if a string in ``obj`` holds a lone surrogate (valid JSON, not Unicode text)."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"invalid text: a lone surrogate {e.object[e.start:e.end]!a} is not Unicode") from None
    except (RecursionError, ValueError):
        raise ValueError("invalid JSON: nested too deeply") from None


def read_json_file(path):
    """A whole ``.json`` file parsed; errors name the file (and the line for bad JSON).

    Raises:
        ValueError: ``data.json: not valid UTF-8 (byte 0xff at line 3)``, ``data.json: invalid JSON (line 4,
            column 2): ...``, ``data.json: invalid JSON: nested too deeply``, ``data.json: invalid text: ...``.
    """
    raw = Path(path).read_bytes()
    name = Path(path).name
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{name}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at line {line})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{name}: invalid JSON at line {e.lineno}: {e.msg} "
                         "(one object per line? name the file .jsonl)") from None
    except (RecursionError, ValueError):
        obj = None
    try:
        obj = _loads(text, "invalid JSON: ") if obj is None else obj
        _check_unicode(obj)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    return obj
