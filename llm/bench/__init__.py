"""``endorm bench``: reward-model benchmarks from local files, resumable, with the paper's tables.

``records`` (PairRecord, METHODS, DSP_DOMAINS) <- ``loaders`` (RM-Bench, RewardBench, Multifaceted,
DSP, pairs) -> ``runner`` (scores streamed to JSONL) -> ``metrics`` (upstream accuracies) ->
``report`` (tables, figures); ``run`` ties them together (``BenchConfig``, ``run_bench``).
"""
from .records import DSP_DOMAINS, METHODS, PairRecord

__all__ = ["PairRecord", "METHODS", "DSP_DOMAINS"]
