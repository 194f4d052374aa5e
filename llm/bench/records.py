"""The one record every benchmark loader produces and every metric and runner consumes."""
from __future__ import annotations

from dataclasses import dataclass, field

#: The reward-model methods: EndoRM and the three Appendix D judges.
METHODS = ("endorm", "verifier", "pointwise", "pairwise")
#: DSP's four domains, in the paper's Table 2 order (rows and columns of the matrix).
DSP_DOMAINS = ("academy", "business", "literature", "entertainment")
#: The keys of a DSP item's ``responses``: the domains (the data's alphabetical order) and "normal".
DSP_RESPONSE_KEYS = tuple(sorted(DSP_DOMAINS)) + ("normal",)

#: One system prompt per DSP domain, for ``endorm bench --domain-prompts`` (write it to a JSON file) and the
#: notebooks. OUR wording: the paper uses the prompts of Cheng et al. (2023), Appendix A, which are not in the
#: files at hand; pass your own file to use theirs.
DSP_DOMAIN_PROMPTS = {
    "academy": "You are an academic assistant. Answer as a careful scholar: precise, rigorous and formal.",
    "business": "You are a business consultant. Give practical, concise advice about costs, customers and results.",
    "entertainment": "You are an entertainment guide. Answer in a lively, playful and fun way.",
    "literature": "You are a literary companion. Answer with expressive, imaginative and artful language.",
}


@dataclass(frozen=True)
class PairRecord:
    """One benchmark item: a prompt with chosen and rejected responses (every loader's output).

    Every chosen response is compared with every rejected one: an item gives
    ``[len(chosen), len(rejected)]`` outcomes (``metrics.outcome_matrix``).

    Fields:
        id: unique within a run (scores are keyed by it); int ids in the data become str.
        subset: the subset (RewardBench), domain (RM-Bench, DSP), source (Multifaceted-Bench) or
            file stem (DSP's text-score files: "helpful", "harmless", "webgpt"); "all" by default for
            the "pairs" format.
        prompt: the user turn as a str, or a conversation as a tuple of chat messages
            ``({"role": "system" | "user" | "assistant", "content": str}, ...)`` ending with a user
            turn (DSP's text-score files; "pairs" files whose prompt is a list of messages).
        chosen, rejected: non-empty tuples of str. RM-Bench has 3 of each (styles 0 concise,
            1 detailed plain, 2 detailed markdown), DSP 1 chosen and 4 rejected, Multifaceted-Bench
            1 chosen and >= 1 rejected, RewardBench 1 of each.
        system: the record's own system message (Multifaceted-Bench, "pairs"), or None.
        where: where the record came from, for messages ("file.jsonl:12", "file.json[3]",
            "file.parquet row 3").
        extra: format-specific metadata (RewardBench ``chosen_model``/``rejected_model``, DSP
            ``rejected_domains``, text-score ``scores``/``chosen_index``, Multifaceted
            ``rubric``/``rejected_from``, RM-Bench the row's other keys such as its own ``subset``);
            left out of ``==``.
    """

    id: str
    subset: str
    prompt: str | tuple   # a user turn, or chat messages ending with a user turn
    chosen: tuple
    rejected: tuple
    system: str | None = None
    where: str = ""
    extra: dict = field(default_factory=dict, compare=False)
