"""Reading benchmark files (.jsonl, .json, .parquet) into rows that remember where they came from,
what file names say (stems, RM-Bench domains, id prefixes across files), and the field checks every
record parser uses (``RecordError`` says what is wrong with one record).

A row's ``where`` is what an error names: ``file.jsonl:12``, ``file.json[3]`` or ``file.parquet row 3``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One record as read: ``key`` (line number or index), ``where`` (for messages), the parsed ``data``
    (None if the line was not valid JSON) and the parse ``error``."""

    key: str
    where: str
    data: object  # the parsed object, or None when the line was not valid JSON
    error: str = ""


# ---------------------------------------------------------------------- reading files
def read_rows(path: Path) -> list:
    """Every record of a benchmark file as ``Row``s, by extension.

    Raises:
        FileNotFoundError: no such file. ValueError: an unknown extension, or a .json file that is not a
            list of records (or an object holding one).
    """
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give the files in it (e.g. {path}/*.json)")
    if not path.is_file():
        raise FileNotFoundError(f"benchmark file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl_rows(path)
    if suffix == ".json":
        return read_json_rows(path)
    if suffix == ".parquet":
        return read_parquet_rows(path)
    raise ValueError(f"{path}: unknown extension {path.suffix!r}; expected .json, .jsonl or .parquet")


def read_jsonl_rows(path: Path) -> list:
    """One ``Row`` per non-blank line (``where`` = ``file:line``); an invalid line keeps its error."""
    from endorm._io import parse_json_line

    rows = []
    with path.open("rb") as f:  # bytes: a line that is not UTF-8 is that line's error, not the file's
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                rows.append(Row(str(n), where, parse_json_line(line)))
            except ValueError as e:  # not UTF-8, not JSON, nested too deeply: skippable like any bad record
                rows.append(Row(str(n), where, None, str(e)))
    return rows


def read_json_rows(path: Path) -> list:
    """One ``Row`` per element of the JSON list (or of the object's ``data``/only list); ``where`` = ``file[i]``.

    Raises:
        ValueError: not valid JSON, or no list of records in it.
    """
    from endorm._io import read_json_file

    data = read_json_file(path)
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list)]
        key = "data" if isinstance(data.get("data"), list) else (lists[0] if len(lists) == 1 else None)
        if key is None:
            raise ValueError(f"{path.name}: a JSON object must hold the records as a list under 'data' "
                             f"or under its only list-valued key; list-valued keys: {lists}")
        data = data[key]
    if not isinstance(data, list):
        raise ValueError(f"{path.name}: expected a JSON list of records, got {type_name(data)}")
    return [Row(str(i), f"{path.name}[{i}]", d) for i, d in enumerate(data)]


def read_parquet_rows(path: Path) -> list:
    """One ``Row`` per table row (``where`` = ``file row i``).

    Raises:
        ImportError: pyarrow is not installed.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError(f"reading {path.name} needs pyarrow: pip install pyarrow") from e
    table = pq.read_table(path)
    return [Row(str(i), f"{path.name} row {i}", d) for i, d in enumerate(table.to_pylist())]


def file_stem(path) -> str:
    """A file's name up to its first dot: ``helpful.test.json`` -> "helpful", ``chat_filtered.json`` -> "chat_filtered".

    Args:
        path: a path (str or ``Path``).

    Returns:
        the stem (used as DSP text-score subsets and as id prefixes when files' ids collide).
    """
    return Path(path).name.split(".", 1)[0]


#: RM-Bench's domains (its file names ``<domain>_filtered.json`` and its ``domain`` values).
RM_BENCH_DOMAINS = ("chat", "code", "math", "safety-refuse", "safety-response")


def rm_bench_domain_from_name(path) -> str | None:
    """The RM-Bench domain a file name gives: its stem (``file_stem``) less a trailing "_filtered".

    Args:
        path: a path; ``chat_filtered.json``, ``code.jsonl``, ``safety-refuse_filtered.parquet`` name
            a domain (one of ``RM_BENCH_DOMAINS``, case as written there); ``data.json`` none.

    Returns:
        the domain, or None.
    """
    stem = file_stem(path)
    stem = stem[:-len("_filtered")] if stem.endswith("_filtered") else stem
    return stem if stem in RM_BENCH_DOMAINS else None


def prefix_ids(files: list) -> list:
    """Several files' records as one list, ids made unique across files.

    If an id occurs in two files, every record's id becomes ``"<file stem>/<id>"`` (``file_stem``:
    ``chat_filtered.json`` id 8 -> ``"chat_filtered/8"``); otherwise the ids are kept.

    Args:
        files: ``[(path, records)]``, each file's ``PairRecord``s (ids unique within a file).

    Returns:
        the records in the order given (new records where ids change).
    """
    owner, clash = {}, False
    for i, (_, records) in enumerate(files):
        for r in records:
            clash = clash or owner.setdefault(r.id, i) != i
    return [replace(r, id=f"{file_stem(p)}/{r.id}") if clash else r for p, records in files for r in records]


# ---------------------------------------------------------------------- field checks
MESSAGE_ROLES = ("system", "user", "assistant")


class RecordError(ValueError):
    """A malformed record: the message says what is wrong, ``load_records`` adds where (``file.json[3]: ...``)."""


def type_name(v) -> str:
    """The type name used in messages ("None" for None)."""
    return "None" if v is None else type(v).__name__


def need(d: dict, name: str):
    """``d[name]``.

    Args:
        d: a record. name: the key.

    Returns:
        the value.

    Raises:
        RecordError: ``missing key 'name'``.
    """
    if name not in d:
        raise RecordError(f"missing key {name!r}")
    return d[name]


def req_str(d: dict, name: str) -> str:
    """``d[name]``, which must be a str.

    Args:
        d: a record. name: the key.

    Returns:
        the str.

    Raises:
        RecordError: ``missing key 'name'``; ``'name' must be a str, got int``.
    """
    v = need(d, name)
    if not isinstance(v, str):
        raise RecordError(f"{name!r} must be a str, got {type_name(v)}")
    return v


def opt_str(d: dict, name: str, default):
    """``d[name]`` if it is a str, ``default`` if it is absent or null.

    Args:
        d: a record. name: the key. default: the value for an absent or null key.

    Returns:
        the str or ``default``.

    Raises:
        RecordError: ``'name' must be a str or null, got int``.
    """
    v = d.get(name)
    if v is None:
        return default
    if not isinstance(v, str):
        raise RecordError(f"{name!r} must be a str or null, got {type_name(v)}")
    return v


def texts(d: dict, name: str, allow_str: bool = False) -> tuple:
    """``d[name]``, a non-empty list of str (or a lone str when ``allow_str``), as a tuple.

    Args:
        d: a record. name: the key. allow_str: accept a str as a 1-tuple.

    Returns:
        a non-empty tuple of str.

    Raises:
        RecordError: ``missing key``; ``'chosen' must be a list of str, got str``; ``... got an empty
            list``; ``'chosen'[1] must be a str, got None``.
    """
    v = need(d, name)
    if allow_str and isinstance(v, str):
        return (v,)
    if not isinstance(v, list):
        raise RecordError(f"{name!r} must be a {'str or ' if allow_str else ''}list of str, got {type_name(v)}")
    if not v:
        raise RecordError(f"{name!r} must be a non-empty list of str, got an empty list")
    for i, x in enumerate(v):
        if not isinstance(x, str):
            raise RecordError(f"{name!r}[{i}] must be a str, got {type_name(x)}")
    return tuple(v)


def ident(d: dict, default: str | None = None) -> str:
    """The record's ``id`` as a str (int ids too), or ``default`` when it is absent or null.

    Args:
        d: a record. default: the id of a record without one; None: the id is required.

    Returns:
        the id.

    Raises:
        RecordError: ``missing key 'id'`` (no default); ``'id' must be a str or int, got float``.
    """
    if "id" not in d or d["id"] is None:
        if default is None:
            raise RecordError("missing key 'id'")
        return default
    v = d["id"]
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise RecordError(f"'id' must be a str or int, got {type_name(v)}")
    return str(v)


def chat_messages(v, name: str = "prompt") -> tuple:
    """A chat prompt given as a list of messages, checked and frozen as a tuple of dicts.

    Args:
        v: ``[{"role": "system" | "user" | "assistant", "content": str}, ...]``, non-empty, the last
            one a user turn; a message has no other keys.
        name: the field's name, for messages.

    Returns:
        a tuple of ``{"role", "content"}`` dicts (new dicts; the input is not kept).

    Raises:
        RecordError: e.g. ``'prompt' must be a non-empty list of messages, got an empty list``,
            ``'prompt'[1] must be an object {"role", "content"}, got str``, ``'prompt'[0]: role must
            be one of ('system', 'user', 'assistant'), got 'bot'``, ``'prompt'[2]: 'content' must be
            a str, got None``, ``'prompt'[0]: unexpected key 'name'``, ``'prompt' must end with a user
            message, got 'assistant' last``.
    """
    if not isinstance(v, list) or not v:
        raise RecordError(f"{name!r} must be a non-empty list of messages, got "
                          f"{'an empty list' if isinstance(v, list) else type_name(v)}")
    out = []
    for i, m in enumerate(v):
        if not isinstance(m, dict):
            raise RecordError(f'{name!r}[{i}] must be an object {{"role", "content"}}, got {type_name(m)}')
        extra = sorted(set(m) - {"role", "content"})
        if extra:
            raise RecordError(f"{name!r}[{i}]: unexpected key {extra[0]!r} (a message has 'role' and 'content')")
        role = need_in(m, "role", f"{name!r}[{i}]")
        if role not in MESSAGE_ROLES:
            raise RecordError(f"{name!r}[{i}]: role must be one of {MESSAGE_ROLES}, got {role!r}")
        content = need_in(m, "content", f"{name!r}[{i}]")
        if not isinstance(content, str):
            raise RecordError(f"{name!r}[{i}]: 'content' must be a str, got {type_name(content)}")
        out.append({"role": role, "content": content})
    if out[-1]["role"] != "user":
        raise RecordError(f"{name!r} must end with a user message, got {out[-1]['role']!r} last")
    return tuple(out)


def need_in(d: dict, name: str, inside: str):
    """``d[name]`` where ``d`` is nested in a record (the error names ``inside``).

    Args:
        d: a nested object. name: the key. inside: where ``d`` is, e.g. ``'prompt'[2]``.

    Returns:
        the value.

    Raises:
        RecordError: ``'prompt'[2]: missing key 'role'``.
    """
    if name not in d:
        raise RecordError(f"{inside}: missing key {name!r}")
    return d[name]
