"""Reading benchmark files (.jsonl, .json, .parquet) into rows that remember where they came from.

A row's ``where`` is what an error names: ``file.jsonl:12``, ``file.json[3]`` or ``file.parquet row 3``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
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
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                rows.append(Row(str(n), where, json.loads(line)))
            except json.JSONDecodeError as e:
                rows.append(Row(str(n), where, None, f"invalid JSON: {e.msg} (column {e.colno})"))
    return rows


def read_json_rows(path: Path) -> list:
    """One ``Row`` per element of the JSON list (or of the object's ``data``/only list); ``where`` = ``file[i]``.

    Raises:
        ValueError: not valid JSON, or no list of records in it.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path.name}: invalid JSON at line {e.lineno}: {e.msg} "
                         "(one object per line? name the file .jsonl)") from None
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


# ---------------------------------------------------------------------- field checks
def type_name(v) -> str:
    """The type name used in messages ("None" for None)."""
    return "None" if v is None else type(v).__name__
