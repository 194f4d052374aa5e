"""Multifaceted-Bench (kaist-ai/Multifaceted-Bench): rows hold no pairs; pairs are built from them."""
from __future__ import annotations

from collections import defaultdict

from .files import req_str
from .records import PairRecord

MULTIFACETED_PAIRS = ("other-system",)


def multifaceted_row(d: dict) -> dict:
    """The fields of one Multifaceted-Bench row, checked (``RecordError`` naming a missing or non-str key)."""
    rubric = d.get("rubric", d.get("rubrics"))
    return {"source": req_str(d, "source"), "system": req_str(d, "system"), "prompt": req_str(d, "prompt"),
            "reference_answer": req_str(d, "reference_answer"), "rubric": rubric}


def multifaceted_records(rows: list, how: str = "other-system") -> tuple:
    """Pairs from Multifaceted-Bench rows (kaist-ai/Multifaceted-Bench), which hold no pairs themselves.

    The paper does not say how it formed pairs from this benchmark (REFERENCE.md: uncertain).
    ``"other-system"``: rows are grouped by exact prompt text; each row gives one record with
    id = its key, system = its system message, subset = its source, chosen = (its
    reference_answer,), rejected = the reference answers of the rows on the same prompt whose
    system message differs, in file order. A prompt whose rows all share one system message
    (e.g. a single row) gives no record and counts in ``unpaired``.

    Args:
        rows: ``[(key, where, fields)]``, fields = ``{source, system, prompt, reference_answer,
            rubric}`` as checked by ``load_records``.
        how: the construction, one of ``MULTIFACETED_PAIRS``.

    Returns:
        ``(records, unpaired)``: the ``PairRecord``s in file order (``extra``: ``rubric`` and
        ``rejected_from``, the locations of the rejected rows) and the number of unpaired prompts.

    Raises:
        ValueError: ``multifaceted_pairs must be one of ('other-system',), got 'x'``.
    """
    if how not in MULTIFACETED_PAIRS:
        raise ValueError(f"multifaceted_pairs must be one of {MULTIFACETED_PAIRS}, got {how!r}")
    groups = defaultdict(list)
    for row in rows:
        groups[row[2]["prompt"]].append(row)
    unpaired = sum(len({r[2]["system"] for r in g}) < 2 for g in groups.values())
    records = []
    for key, where, f in rows:
        others = [r for r in groups[f["prompt"]] if r[2]["system"] != f["system"]]
        if others:
            extra = {"rubric": f["rubric"], "rejected_from": tuple(r[1] for r in others)}
            records.append(PairRecord(key, f["source"], f["prompt"], (f["reference_answer"],),
                                      tuple(r[2]["reference_answer"] for r in others), f["system"], where, extra))
    return records, unpaired
