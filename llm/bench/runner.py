"""Score benchmark records with every method, streaming to JSONL so that a killed run resumes.

Layout of an output folder::

    run.json                  what this run is (model, data, methods, options); a rerun with
                              other settings is refused instead of mixing results
    scores.jsonl              one line per (condition, method, item), flushed as written
    scores.rank{k}.jsonl      the same per process under ``accelerate launch`` (merged at the end)

A line is ``{"id", "method", "condition", "chosen": [...], "rejected": [...]}`` for
methods that score single responses, or ``{"id", "method", "condition", "prefs": [[...]]}``
with prefs[i][j] = P(chosen i better than rejected j) for the pairwise judge. The
``condition`` is the system prompt's name ("default", or a DSP domain prompt).
Records are scored in chunks; a chunk's lines are written when it is done, so a kill
loses at most the chunk in progress and a rerun skips every (condition, method, id)
already on file. A trailing half-written line (a kill during a write) is dropped.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..runs import read_jsonl
from .records import METHODS


def build_method(name: str, model, tokenizer, **endorm_kwargs):
    """A ``RewardModel`` for ``name`` sharing one loaded model and tokenizer.

    Args:
        name: "endorm" (``EndogenousReward``) or an Appendix D judge: "verifier"
            (``GenerativeVerifier``), "pointwise" (``GenRMPointwise``), "pairwise" (``GenRMPairwise``).
        model, tokenizer: the loaded causal LM and its tokenizer.
        **endorm_kwargs: ``EndogenousReward`` options (alpha, gamma, floor, template, truncate,
            batch_size, ...); the judges take only ``batch_size`` (default 8) and ``progress``.

    Returns:
        the reward model (``score`` for pointwise methods, ``compare`` for "pairwise").

    Raises:
        ValueError: ``unknown method 'x'; choose from endorm, verifier, pointwise, pairwise``, or
            a bad ``EndogenousReward`` option.
    """
    from ..judges import GenerativeVerifier, GenRMPairwise, GenRMPointwise
    from ..reward import EndogenousReward

    endorm_kwargs = {"progress": False, **endorm_kwargs}  # the runner shows its own progress bar
    if name == "endorm":
        return EndogenousReward(model, tokenizer, **endorm_kwargs)
    batch = {"batch_size": endorm_kwargs.get("batch_size", 8), "progress": endorm_kwargs["progress"]}
    cls = {"verifier": GenerativeVerifier, "pointwise": GenRMPointwise, "pairwise": GenRMPairwise}.get(name)
    if cls is None:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return cls(model, tokenizer, **batch)


def score_chunk(method: str, rm, records, system, cache=None) -> list:
    """Score every response of ``records`` in one batched call; one result dict per record.

    Each distinct (system, prompt, response) -- for "pairwise" each distinct (system, prompt, first,
    second) -- is scored once, and not at all when ``cache`` already holds it.

    Args:
        method: the method's name; "pairwise" calls ``rm.compare`` on every (chosen i, rejected j)
            pair with the rejected response shown first, the others ``rm.score`` on every response.
        rm: the reward model (``build_method``).
        records: the PairRecords of the chunk.
        system: ``system(record) -> system prompt or None``.
        cache: None, or a dict {item digest: score} kept across chunks (filled here); the digest is
            the SHA-1 of JSON [system, prompt, response(s)].

    Returns:
        ``[{"chosen": [n_chosen], "rejected": [n_rejected]}]`` (scores, floats) or, for "pairwise",
        ``[{"prefs": [n_chosen][n_rejected]}]`` with prefs[i][j] = P(chosen i better than rejected j).
    """
    cache = {} if cache is None else cache
    if method == "pairwise":  # (system, prompt, first = rejected j, second = chosen i)
        items = [(system(r), r.prompt, x, c) for r in records for c in r.chosen for x in r.rejected]
    else:
        items = [(system(r), r.prompt, x) for r in records for x in r.chosen + r.rejected]
    keys = [hashlib.sha1(json.dumps(it, ensure_ascii=False).encode()).digest() for it in items]
    new = {}
    for k, it in zip(keys, items):
        if k not in cache:
            new.setdefault(k, it)
    if new:
        s, p, *rest = zip(*new.values())
        s, p, rest = list(s), list(p), [list(x) for x in rest]
        got = rm.compare(p, rest[0], rest[1], s) if method == "pairwise" else rm.score(p, rest[0], s)
        cache.update(zip(new, (float(v) for v in got)))
    scores, out, k = [cache[key] for key in keys], [], 0
    for r in records:
        n, m = len(r.chosen), len(r.rejected)
        if method == "pairwise":
            out.append({"prefs": [scores[k + i * m:k + (i + 1) * m] for i in range(n)]})
            k += n * m
        else:
            out.append({"chosen": scores[k:k + n], "rejected": scores[k + n:k + n + m]})
            k += n + m
    return out


def record_hash(r) -> str:
    """Content hash of a record: a score line counts only while its record is unchanged.

    Returns:
        the first 16 hex digits of the SHA-256 of JSON [prompt, system, chosen, rejected].
    """
    blob = json.dumps([r.prompt, r.system, list(r.chosen), list(r.rejected)], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _system_of(sys_prompt):
    """``system(record)``: the condition's system prompt, or the record's own where it is None."""
    return lambda r: r.system if sys_prompt is None else sys_prompt


def run_scoring(records, methods: dict, out_path: Path, conditions: dict, chunk: int = 16, progress=True) -> int:
    """Score every (condition, method, record) not yet in ``out_path``; return how many were scored.

    Only unique work runs: across all conditions and records, each distinct (system, prompt, response)
    is scored once per method (``score_chunk``'s cache) and each distinct judge prompt runs once (the
    judges' ``memo``, set for the run); the lines on file are as if every record were scored alone.

    Args:
        records: the ``PairRecord``s this process scores.
        methods: {name: RewardModel}.
        out_path: this process's JSONL file (appended to, flushed and fsynced per chunk); the
            ``scores*.jsonl`` files beside it count as done too.
        conditions: {condition name: system prompt or None}; None keeps each record's own
            system message.
        chunk: records per scoring call (a kill loses at most one chunk).
        progress: show a tqdm bar.

    Returns:
        the number of (condition, method, record) items scored now.

    Raises:
        ValueError: a line of a scores file that is not valid JSON (``<path>:<line>: not valid
            JSON ...``), or ``chunk`` < 1 (``range()`` step).
        OSError: the file cannot be written.
    """
    from tqdm import tqdm

    done = {(d["condition"], d["method"], d["id"], d.get("hash")) for d in read_jsonl(out_path)}
    for other in out_path.parent.glob("scores*.jsonl"):  # other processes' files (a resume may change N)
        if other != out_path:
            done |= {(d["condition"], d["method"], d["id"], d.get("hash")) for d in read_jsonl(other, repair=False)}
    hashes = {r.id: record_hash(r) for r in records}
    todo = [(c, m, r) for c in conditions for m in methods for r in records if (c, m, r.id, hashes[r.id]) not in done]
    bar = tqdm(total=len(todo), desc="bench", unit="item", disable=not progress)
    caches = {m: {} for m in methods}  # unique work: each item of a method is scored once in the run
    memos = {m: rm for m, rm in methods.items() if getattr(rm, "memo", 0) is None}  # judges: each prompt once
    for rm in memos.values():
        rm.memo = {}
    try:
        with open(out_path, "a", encoding="utf-8") as fh:
            for c, m in ((c, m) for c in conditions for m in methods):
                mine = [r for (cc, mm, r) in todo if cc == c and mm == m]
                for k in range(0, len(mine), chunk):
                    part = mine[k:k + chunk]
                    res = score_chunk(m, methods[m], part, _system_of(conditions[c]), caches[m])
                    fh.writelines(json.dumps({"id": r.id, "method": m, "condition": c, "hash": hashes[r.id], **d})
                                  + "\n" for r, d in zip(part, res))
                    fh.flush()
                    os.fsync(fh.fileno())
                    bar.update(len(part))
    finally:
        for rm in memos.values():
            rm.memo = None
    bar.close()
    return len(todo)


def merge_scores(out_dir: Path, records=None) -> list:
    """All score lines of a folder (scores.jsonl and every scores.rank*.jsonl), one per key.

    With ``records``, only lines whose record is unchanged (same content hash) are kept. A
    (condition, method, id) on several lines keeps the last in sorted file order.

    Returns:
        the score lines (dicts as written by ``run_scoring``).

    Raises:
        ValueError: a line that is not valid JSON (``<path>:<line>: not valid JSON ...``).
    """
    want = None if records is None else {r.id: record_hash(r) for r in records}
    lines = {}
    for path in sorted(out_dir.glob("scores*.jsonl")):
        for d in read_jsonl(path, repair=False):
            if want is None or want.get(d["id"]) == d.get("hash"):
                lines[(d["condition"], d["method"], d["id"])] = d
    return list(lines.values())
