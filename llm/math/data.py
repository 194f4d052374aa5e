"""Math benchmark files (MATH-500, AIME24, AMC, Minerva, OlympiadBench) and the boxed answer.

Used by ``endorm.llm.math.run`` (``endorm eval-math``).
"""
from __future__ import annotations

import hashlib
import json
import math
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
        unit: the answer's unit where the file states it apart (OlympiadBench's ``unit``, e.g.
            "km/h", ``$`` dropped), else "". It is kept out of ``gold``: OlympiadBench's
            ``final_answer`` holds the bare number (``45`` with unit "minute"), math-verify compares
            values, and Qwen2.5-Math's evaluation grades against ``final_answer`` alone too. It is
            not part of ``hash`` (it does not change the grading).
    """

    id: str
    problem: str
    gold: str
    where: str = ""  # "file.jsonl:12"
    unit: str = ""

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
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{where}: {key!r} must be a finite number, got {v!r}")
        return str(int(v) if v.is_integer() else v)  # amc23 stores 27.0
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"{where}: {key!r} must be a non-empty string or a number, got {v!r}")
    return v


#: Formats a file name names: "<folder>/<name>" is searched (lower case) for these.
_NAME_HINTS = {"math500": r"math[-_ ]?500", "aime24": r"aime", "amc": r"amc", "minerva": r"minerva",
               "olympiadbench": r"olympiad"}
#: The layouts the keys can fit, for messages.
_NEEDS = ("none fits; expected question + final_answer: olympiadbench; problem|question + answer: aime24, amc, "
          "math500; problem + solution without answer: minerva")


def _by_keys(keys: set) -> tuple:
    """The formats whose layout the keys fit (the gold key decides; see ``detect_format``)."""
    if "final_answer" in keys and "question" in keys:
        return ("olympiadbench",)
    if "answer" in keys and keys & {"problem", "question"}:
        return ("math500", "aime24", "amc")
    if "problem" in keys and "solution" in keys:
        return ("minerva",)
    return ()


def detect_format(keys, name: str = "") -> str:
    """Format of a file from its first record and its "<folder>/<name>"; never a guess.

    Rules, in order:

    1. The keys give the candidates: ``question`` + ``final_answer`` -> olympiadbench;
       ``answer`` with ``problem`` or ``question`` -> math500, aime24 or amc; ``problem`` +
       ``solution`` without ``answer`` -> minerva; anything else -> no candidate (an error).
    2. The name narrows them: it names a format when it contains "math500" (also "math-500",
       "math_500"), "aime", "amc", "minerva" or "olympiad" (Qwen2.5-Math's layout:
       ``aime24/test.jsonl``). A single named candidate wins; a name naming formats none or
       several of which are candidates is an error.
    3. Without a name, a single candidate wins; among math500, aime24 and amc, math500 wins when
       the record has ``unique_id`` (the MATH-500 layout of prm800k and Hugging Face) or its
       ``answer`` is a worked solution (holds ``\\boxed``; e.g. BiRM's math500 copy). Otherwise
       it is an error: AIME and AMC files with the same keys exist in many layouts.

    Args:
        keys: one record (a dict; rule 3's ``\\boxed`` test needs its values) or its keys.
        name: the file's "<folder>/<name>" as in Qwen2.5-Math's ``evaluation/data`` layout.

    Returns:
        one of ``FORMATS``.

    Raises:
        ValueError: ``cannot tell the format from keys [...]: candidates aime24, amc, math500
            (why); pass --format`` (one line; the candidates are those of the keys, all formats
            with the keys each needs when none fits).
    """
    record = keys if isinstance(keys, dict) else {}
    keys, low = set(keys), name.lower()
    cands = _by_keys(keys)
    named = tuple(f for f, pat in _NAME_HINTS.items() if re.search(pat, low))
    if named:
        both = tuple(f for f in cands if f in named)
        if len(both) == 1:
            return both[0]
        cands = both or cands
        why = f"the name {name!r} says {', '.join(named)}"
    elif len(cands) == 1:
        return cands[0]
    elif cands:
        ans = record.get("answer")
        if "unique_id" in keys or (isinstance(ans, str) and _BOX.search(ans)):
            return "math500"
        why = "answer with problem or question: no file name names one, no unique_id or \\boxed answer picks math500"
    else:
        why = ""
    if not cands:
        cands, why = FORMATS, _NEEDS + (f"; {why}" if why else "")
    raise ValueError(f"cannot tell the format from keys {sorted(keys)}: candidates {', '.join(sorted(cands))} "
                     f"({why}); pass --format")


_ENOTE = re.compile(r"([-+]?\d+(?:\.\d+)?)[eE]([-+]?\d+)")


def _gold(v, where: str, key: str) -> str:
    """The gold answer text: a worked solution gives its last box; ``$`` delimiters are dropped; a
    number in e-notation becomes LaTeX (``4.5e33`` -> ``4.5 \\times 10^{33}``)."""
    g = _text(v, where, key)
    if _BOX.search(g):
        g = last_boxed(g)
        if g is None:
            raise ValueError(f"{where}: {key!r} holds a \\boxed whose last box is empty or unclosed")
    g = re.sub(r"(?<!\\)\$", "", g).strip()  # math delimiters, not content (\$ is a dollar sign)
    g = re.sub(r"(?<!\.)\.$", "", g).strip()  # a sentence's full stop: "$(-\infty, 0)$."
    if not g:
        raise ValueError(f"{where}: {key!r} has no answer once its $ delimiters are dropped, got {v!r}")
    m = _ENOTE.fullmatch(g)  # math-verify reads 4.5e33 as 4.5 * e * 33 (Euler's e): Minerva's golds
    return f"{m[1]} \\times 10^{{{int(m[2])}}}" if m else g


def _record(d: dict, fmt: str, where: str) -> tuple:
    """(problem text, gold answer, unit) of one record."""
    qkeys = {"minerva": ("problem",), "olympiadbench": ("question",)}.get(fmt, ("problem", "question"))
    gkey = {"minerva": "solution", "olympiadbench": "final_answer"}.get(fmt, "answer")
    q = next((k for k in qkeys if k in d), None)
    if q is None or gkey not in d:
        raise ValueError(f"{where}: a {fmt} record needs {' or '.join(qkeys)} and {gkey}, got keys {sorted(d)}")
    g = d[gkey]
    if fmt == "minerva" and not _BOX.search(_text(g, where, gkey)):
        raise ValueError(f"{where}: minerva solution has no \\boxed{{}} answer")
    if isinstance(g, list):
        if not g:
            raise ValueError(f"{where}: {gkey} is an empty list")
        g = ", ".join(_gold(x, where, gkey) for x in g)
    unit = d.get("unit") if fmt == "olympiadbench" else None
    unit = unit.replace("$", "").strip() if isinstance(unit, str) else ""
    return _text(d[q], where, q), _gold(g, where, gkey), unit


def _problem(line: bytes, n: int, path: Path, fmt: str, seen: dict):
    """(Problem, format) of line ``n``; ``seen`` maps ids to their lines. Raises ValueError "file:line: what"."""
    from endorm._io import parse_json_line

    where = f"{path}:{n}"
    try:
        d = parse_json_line(line)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(d).__name__}")
    if fmt == "auto":
        try:
            fmt = detect_format(d, f"{path.parent.name}/{path.name}")  # Qwen's layout: aime24/test.jsonl
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    pid = next((str(d[k]) for k in ("unique_id", "id", "idx") if d.get(k) is not None), str(n))
    if pid in seen:
        raise ValueError(f"{where}: duplicate id {pid!r} (first at line {seen[pid]})")
    q, gold, unit = _record(d, fmt, where)
    seen[pid] = n
    return Problem(pid, q, gold, where, unit), fmt


def load_problems(path, fmt: str = "auto", limit: int | None = None, skipped: list | None = None) -> tuple:
    """(problems, format) from a local JSONL file (Qwen2.5-Math evaluation/data/*/test.jsonl layout).

    Gold answers: ``answer`` (math500, aime24, amc; a number such as amc23's ``27.0`` gives "27");
    the last \\boxed{} of ``solution`` (minerva); ``final_answer`` (olympiadbench), a list being
    joined with ", " (math-verify reads "a, b" as a tuple, so multi-answer items need all parts).
    Any gold that holds a worked solution (a ``\\boxed``, as in BiRM's MATH-500 copy, whose
    ``answer`` is the whole solution) gives its last box (``last_boxed``). Unescaped ``$``
    delimiters are dropped (``$69$,$84$`` -> ``69,84``; ``\\$`` stays) and so is one final full
    stop. OlympiadBench's ``unit`` goes to ``Problem.unit``, not into the gold. Ids: ``unique_id``,
    ``id`` or ``idx``, else the line number. Blank lines are skipped; a bad line raises ValueError
    "file:line: what".

    Args:
        path: the JSONL file.
        fmt: one of ``FORMATS``, or "auto" (``detect_format`` on the first record and the file's
            "<folder>/<name>").
        limit: stop after this many problems (None: all).
        skipped: if a list, bad lines are appended to it ("file:line: what") and left out instead of
            raising (``--skip-invalid``); a layout no format fits still raises.

    Returns:
        ``(problems, format)``: ``[Problem]`` in file order and the format used.

    Raises:
        FileNotFoundError: ``data file not found: <path>``.
        ValueError: ``format must be 'auto' or one of ..., got 'x'``; ``<path>:<line>: not valid
            JSON ...``, ``...: not valid UTF-8: byte 0xff at column 3``, ``...: invalid JSON: nested too
            deeply``, ``...: expected a JSON object, got list``, ``...: a math500 record needs
            problem or question and answer, got keys [...]``, ``...: minerva solution has no
            \\boxed{} answer``, ``...: 'answer' holds a \\boxed whose last box is empty or
            unclosed``, ``...: duplicate id '7' (first at line 3)``; ``<path>: no records``; or
            ``detect_format``'s (with the file's path in front).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {', '.join(FORMATS)}, got {fmt!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be None or an integer >= 1, got {limit!r}")
    problems, seen = [], {}
    with open(path, "rb") as fh:  # bytes: a line that is not UTF-8 is that line's error
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                problem, fmt = _problem(line, n, path, fmt, seen)
            except ValueError as e:
                if skipped is None or str(e).startswith(f"{path}: cannot tell"):
                    raise
                skipped.append(str(e))
                continue
            problems.append(problem)
            if limit is not None and len(problems) >= limit:
                break
    if not problems:
        raise ValueError(f"{path}: no records")
    return problems, fmt
