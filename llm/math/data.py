"""Math benchmark files (MATH-500, AIME24, AMC, Minerva, OlympiadBench) and the boxed answer.

Used by ``endorm.llm.math.run`` (``endorm eval-math``).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("math500", "aime24", "amc", "minerva", "olympiadbench")


@dataclass(frozen=True)
class Problem:
    """One math problem with its gold answer.

    Fields:
        id: unique within the file (``unique_id``, ``id`` or ``idx``, else the line number), str.
        problem: the problem text (LaTeX).
        gold: the gold final answer as text (LaTeX, without ``\\boxed``), graded by math-verify.
        where: ``"file.jsonl:12"``, for messages.
    """

    id: str
    problem: str
    gold: str
    where: str = ""  # "file.jsonl:12"

    @property
    def hash(self) -> str:
        """Content hash: a stored result counts only while its problem and gold are unchanged."""
        return hashlib.sha256(json.dumps([self.problem, self.gold]).encode()).hexdigest()[:16]


_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) of ``text``, None if absent.

    Braces are matched with nesting (``\\boxed{\\frac{1}{2}}`` -> ``\\frac{1}{2}``); escaped
    ``\\{``, ``\\}`` are literals. An unclosed last box (a truncated generation) gives None, as in
    Hendrycks et al.'s ``last_boxed_only_string``; so does an empty box. Without braces,
    ``\\boxed 5`` gives the text up to the next space or ``$`` (trailing "." dropped).

    Returns:
        the box's content, stripped, or None (no box, an unclosed or empty last box).
    """
    hits = list(_BOX.finditer(text or ""))
    if not hits:
        return None
    i = hits[-1].end()
    if text[i:i + 1] != "{":
        m = re.match(r"\s+([^\s$]+)", text[i:])
        return (m.group(1).rstrip(".") or None) if m else None
    depth, j = 0, i
    while j < len(text):
        depth += (text[j] == "{") - (text[j] == "}")
        if depth == 0:
            return text[i + 1:j].strip() or None
        j += 2 if text[j] == "\\" else 1  # \{ and \} are literals
    return None


def _text(v, where: str, key: str) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(int(v) if float(v).is_integer() else v)  # amc23 stores 27.0
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"{where}: {key!r} must be a non-empty string or a number, got {v!r}")
    return v


def detect_format(keys, name: str = "") -> str:
    """Format from a record's keys; ``name`` ("aime24/test.jsonl") tells aime24 and amc from math500.

    Rules, first match: ``final_answer`` -> olympiadbench; ``solution`` without ``answer`` ->
    minerva; ``answer`` with ``problem`` or ``question`` -> aime24 if "aime" is in ``name``, amc
    if "amc" is in it or there is no ``problem`` key, else math500.

    Args:
        keys: the keys of one record (a dict works).
        name: the file's "<folder>/<name>" as in Qwen2.5-Math's ``evaluation/data`` layout.

    Returns:
        one of ``FORMATS``.

    Raises:
        ValueError: ``cannot tell the format from the keys [...]; expected ...; or pass --format``.
    """
    keys, name = set(keys), name.lower()
    if "final_answer" in keys:
        return "olympiadbench"
    if "answer" not in keys and "solution" in keys:
        return "minerva"
    if "answer" in keys and keys & {"problem", "question"}:
        if "aime" in name:
            return "aime24"
        if "amc" in name or "problem" not in keys:
            return "amc"
        return "math500"
    raise ValueError(f"cannot tell the format from the keys {sorted(keys)}; expected problem|question + answer, "
                     "problem + solution (minerva) or question + final_answer (olympiadbench); or pass --format")


def _record(d: dict, fmt: str, where: str) -> tuple:
    """(problem text, gold answer) of one record."""
    qkeys = {"math500": ("problem",), "minerva": ("problem",), "olympiadbench": ("question",)}.get(
        fmt, ("problem", "question"))
    gkey = {"minerva": "solution", "olympiadbench": "final_answer"}.get(fmt, "answer")
    q = next((k for k in qkeys if k in d), None)
    if q is None or gkey not in d:
        raise ValueError(f"{where}: a {fmt} record needs {' or '.join(qkeys)} and {gkey}, got keys {sorted(d)}")
    g = d[gkey]
    if fmt == "minerva":
        g = last_boxed(_text(g, where, gkey))
        if g is None:
            raise ValueError(f"{where}: minerva solution has no \\boxed{{}} answer")
    elif fmt == "olympiadbench" and isinstance(g, list):
        if not g:
            raise ValueError(f"{where}: final_answer is an empty list")
        g = ", ".join(_text(x, where, gkey).strip().strip("$").strip() for x in g)
    return _text(d[q], where, q), _text(g, where, gkey)


def load_problems(path, fmt: str = "auto", limit: int | None = None) -> tuple:
    """(problems, format) from a local JSONL file (Qwen2.5-Math evaluation/data/*/test.jsonl layout).

    Gold answers: ``answer`` (math500, aime24, amc); the last \\boxed{} of ``solution`` (minerva);
    ``final_answer`` (olympiadbench), a list being joined with ", " (math-verify reads "a, b" as a
    tuple, so multi-answer items need all parts). Ids: ``unique_id``, ``id`` or ``idx``, else the
    line number. Blank lines are skipped; a bad line raises ValueError "file:line: what".

    Args:
        path: the JSONL file.
        fmt: one of ``FORMATS``, or "auto" (``detect_format`` on the first record and the file's
            "<folder>/<name>").
        limit: stop after this many problems (None: all).

    Returns:
        ``(problems, format)``: ``[Problem]`` in file order and the format used.

    Raises:
        FileNotFoundError: ``data file not found: <path>``.
        ValueError: ``format must be 'auto' or one of ..., got 'x'``; ``<path>:<line>: not valid
            JSON (...)``, ``...: expected a JSON object, got list``, ``...: a math500 record needs
            problem and answer, got keys [...]``, ``...: minerva solution has no \\boxed{} answer``,
            ``...: duplicate id '7' (first at line 3)``; ``<path>: no records``; or ``detect_format``'s.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {', '.join(FORMATS)}, got {fmt!r}")
    problems, seen = [], {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e})") from None
            if not isinstance(d, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(d).__name__}")
            if fmt == "auto":
                fmt = detect_format(d, f"{path.parent.name}/{path.name}")  # Qwen's layout: aime24/test.jsonl
            pid = next((str(d[k]) for k in ("unique_id", "id", "idx") if d.get(k) is not None), str(n))
            if pid in seen:
                raise ValueError(f"{where}: duplicate id {pid!r} (first at line {seen[pid]})")
            seen[pid] = n
            problems.append(Problem(pid, *_record(d, fmt, where), where))
            if limit is not None and len(problems) >= limit:
                break
    if not problems:
        raise ValueError(f"{path}: no records")
    return problems, fmt
