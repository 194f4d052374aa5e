"""``endorm bench``: reward-model benchmarks from local files, resumable, with the paper's tables.

One run loads the records (``loaders``), scores every method on every condition
(``runner``, streamed to ``OUT/scores.jsonl``), and summarizes (``metrics``, ``report``):
strict pairwise accuracy with bootstrap intervals per subset. RM-Bench gets the Table 1
layout and RewardBench its section scores. With ``--domain-prompts`` (DSP) the rows of
the Table 2 matrix are the domain system prompts and the columns the data domains.
Files: ``run.json``, ``scores.jsonl``, ``results.json``, ``results.md`` (and figures).

Several GPUs: ``accelerate launch --num_processes N -m endorm.cli bench ...`` (or
``torchrun --nproc_per_node N -m endorm.cli bench ...``, which also runs N CPU processes).
Each process scores its share of the records (accelerate's ``split_between_processes``) into
``scores.rank{k}.jsonl``; the main process merges them and writes the tables.
"""
from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from ..options import RewardOptions
from ..runs import check_run, refuse_other, run_lock
from .loaders import load_records
from .records import DSP_DOMAINS, METHODS
from .report import render, summarize
from .runner import build_method, merge_scores, run_scoring


@dataclass
class BenchConfig:
    """Everything ``endorm bench`` needs (the CLI builds it from the flags; see docs/bench.md).

    Fields:
        model: local Hugging Face model directory (the LM whose logits give the reward).
        data: the benchmark file (.json, .jsonl or .parquet), or a list of files scored as one run (one
            format; ``loaders.load_records``); out: the run folder.
        methods: among ``METHODS`` ("endorm" and the Appendix D judges).
        format: one of ``loaders.FORMATS``, or None to detect it from the first record.
        domain: the RM-Bench domain of every record (``files.RM_BENCH_DOMAINS``); None: each record's
            ``domain`` key, else the file name (``chat_filtered.json`` -> chat).
        reward: the EndoRM options; bench uses alpha, gamma, floor, template, truncate and end_token.
        system_prompt: a system prompt for every item (promptable reward), None: each record's own.
        domain_prompts: a JSON file ``{domain: system prompt}`` (DSP data only): the Table 2 matrix.
        compare_paper: print the paper's numbers beside ours.
        skip_invalid: leave malformed records, and records too long for the model's context, out
            (counted and listed in ``results.json``) instead of raising; checked before the model loads.
        limit: score only the first N records of each data file (None: all; else >= 1).
        multifaceted_pairs: the pair construction of Multifaceted-Bench (``loaders.MULTIFACETED_PAIRS``).
        dsp_domains: the DSP data domains (None: the four of ``loaders.DSP_DEFAULT_DOMAINS``).
        batch_size: sequences per forward pass; chunk: records per scoring call (a kill loses at
            most one chunk).
        dtype, device: for loading the model (None: the checkpoint's dtype; cuda if available).
        seed: seed of the bootstrap intervals; progress: show a progress bar.
        trust_remote_code: run the model folder's own code (``auto_map``); False: never (and never ask).
    """

    model: str                                  # local Hugging Face model directory
    data: str | list                            # .json, .jsonl or .parquet file(s)
    out: str                                    # run folder
    methods: tuple = ("endorm",)                # among METHODS
    format: str | None = None                   # None: detected from the first record
    domain: str | None = None                   # RM-Bench domain of every record (None: key or file name)
    reward: RewardOptions = field(default_factory=RewardOptions)
    system_prompt: str | None = None            # for every item (promptable reward)
    domain_prompts: str | None = None           # JSON {domain: system prompt}: the DSP matrix
    compare_paper: bool = False
    skip_invalid: bool = False
    limit: int | None = None
    multifaceted_pairs: str = "other-system"
    dsp_domains: tuple | None = None
    batch_size: int = 8
    chunk: int = 16                             # records per scoring call (a kill loses at most one)
    dtype: str | None = None
    device: str | None = None
    seed: int = 0                               # of the bootstrap intervals
    progress: bool = True
    trust_remote_code: bool = False             # run a model folder's own code (never, unless asked)

    def check(self) -> "BenchConfig":
        """Validate the methods and the reward options before anything is loaded.

        Returns:
            self.

        Raises:
            ValueError: ``--methods: unknown ['x']; choose from endorm, verifier, pointwise, pairwise``
                (also for an empty tuple), or ``RewardOptions.check``'s (``gamma must lie in (0, 1],
                got 2``; TypeError for a non-number).
        """
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
        for name, low in (("limit", 1), ("batch_size", 1), ("chunk", 1), ("seed", 0)):
            value = getattr(self, name)
            if value is None and name == "limit":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"--{name.replace('_', '-')} must be an integer >= {low}, got {value!r}")
        self.reward.check()
        return self


def _process_state():
    """(state or None, rank, world): accelerate's PartialState when launched with several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch
        from accelerate import PartialState

        state = PartialState(cpu=not torch.cuda.is_available())  # CPU-only: a gloo process group
        if state.num_processes != world:
            raise RuntimeError(f"WORLD_SIZE={world} but accelerate set up {state.num_processes} process(es); "
                               "launch with accelerate launch or torchrun")
        return state, state.process_index, state.num_processes
    return None, 0, 1


def conditions_for(cfg: "BenchConfig", fmt: str) -> dict:
    """{condition name: system prompt or None}: "default" (``system_prompt``), or the DSP domain prompts.

    Args:
        cfg: the run's settings (``system_prompt``, ``domain_prompts``).
        fmt: the data format (``--domain-prompts`` needs "dsp").

    Returns:
        ``{"default": cfg.system_prompt}`` (None: each record's own system message), or with
        ``domain_prompts`` the file's ``{domain: system prompt}``.

    Raises:
        ValueError: ``--domain-prompts`` unreadable, not {domain: text}, an unknown domain, or non-DSP data.
    """
    if cfg.domain_prompts:
        if fmt != "dsp":
            raise ValueError(f"--domain-prompts needs DSP data (format 'dsp'), got format {fmt!r}")
        path = Path(cfg.domain_prompts)
        from endorm._io import read_json_file

        try:
            prompts = read_json_file(path)
        except (OSError, ValueError) as e:
            raise ValueError(f"--domain-prompts {path}: {e}") from None
        if not isinstance(prompts, dict) or not all(isinstance(v, str) for v in prompts.values()):
            raise ValueError(f"--domain-prompts {path}: must be a JSON object {{domain: system prompt}}")
        bad = sorted(set(prompts) - set(DSP_DOMAINS))
        if bad:
            raise ValueError(f"--domain-prompts {path}: unknown domain(s) {bad}; use {', '.join(DSP_DOMAINS)}")
        return dict(prompts)
    return {"default": cfg.system_prompt}


def run_bench(cfg: BenchConfig) -> str | None:
    """``endorm bench``: load, refuse a different run, score (resuming), and write the tables.

    Writes ``out/run.json`` (the run's identity), ``scores.jsonl`` (or ``scores.rank{k}.jsonl``),
    ``results.json`` ({"format", "n_records", "skipped" (count of malformed records), "invalid" (their
    locations and what), "left_out" (records that could not be scored, e.g. longer than the context,
    ``lengths.check_records``), "equal_score_pairs_left_out" (text-score rows whose two scores
    are equal, in the whole files read), "summary": ``report.summarize``'s
    dict}) and ``results.md`` (the report).

    Returns:
        the printed report (tables as text), or None on a process other than the main one.

    Raises:
        ValueError / OSError / FileNotFoundError: bad settings or data (before the model loads;
            e.g. ``<data>: no records to score``), ``out`` holding a different run (``<out> holds
            a different run (differs in model); use another --out or delete it``), or a model
            folder that cannot be loaded.
        RuntimeError: ``WORLD_SIZE=N but accelerate set up M process(es); ...`` (multi-process launch).
    """
    cfg.check()
    loaded = load_records(cfg.data, cfg.format, skip_invalid=cfg.skip_invalid,
                          multifaceted_pairs=cfg.multifaceted_pairs, dsp_domains=cfg.dsp_domains, domain=cfg.domain,
                          limit=cfg.limit)
    if loaded.skipped:
        print(f"skipped {len(loaded.skipped)} invalid record(s), e.g. {loaded.skipped[0]}", file=sys.stderr)
    if getattr(loaded, "unpaired", 0):
        print(f"{loaded.unpaired} prompt(s) gave no pair (one system message only)", file=sys.stderr)
    if getattr(loaded, "ties", 0):
        print(f"left out {loaded.ties} pair(s) of the data files whose two scores are equal (text-score data)",
              file=sys.stderr)
    records = loaded.records
    if not records:
        raise ValueError(f"{cfg.data}: no records to score")
    conditions = conditions_for(cfg, loaded.format)
    records, left_out, tokenizer = _check_lengths(cfg, records, conditions)
    if left_out:
        print(f"left out {len(left_out)} record(s) that cannot be scored, e.g. {left_out[0]}", file=sys.stderr)
    if not records:
        raise ValueError(f"{cfg.data}: no records left to score ({len(left_out)} left out: {left_out[0]})")
    out_dir = Path(cfg.out)
    meta = _run_meta(cfg, conditions, loaded.format)
    refuse_other(out_dir, meta)  # a different run, or the user's own files: refused before anything is written
    main = int(os.environ.get("RANK", "0")) == 0  # one lock per folder, held by the main process
    with run_lock(out_dir) if main else nullcontext():
        if not _score_everything(cfg, records, conditions, meta, out_dir, tokenizer):
            return None
        return _write_results(cfg, loaded, records, left_out, conditions, out_dir)


def _write_results(cfg: BenchConfig, loaded, records, left_out, conditions, out_dir: Path) -> str:
    """Summarize the scores on file; write ``results.json`` and ``results.md``; the report text."""
    from endorm._io import atomic_write_bytes, atomic_write_json

    summary = summarize(records, merge_scores(out_dir, records), list(cfg.methods), conditions, loaded.format,
                        cfg.seed)
    text = render(summary, conditions, loaded.format, cfg.compare_paper, out_dir, bool(cfg.domain_prompts))
    if left_out:
        text += (f"\n\nLeft out {len(left_out)} record(s) that cannot be scored (--skip-invalid), e.g. too long "
                 "for the model's context:\n" + "\n".join(f"- {line}" for line in left_out))
    atomic_write_json(out_dir / "results.json", {"format": loaded.format, "n_records": len(records),
                                                 "skipped": len(loaded.skipped), "invalid": loaded.skipped,
                                                 "left_out": left_out, "equal_score_pairs_left_out": loaded.ties,
                                                 "summary": summary})
    atomic_write_bytes(out_dir / "results.md", (text + "\n").encode())
    return text


def _run_meta(cfg: BenchConfig, conditions, fmt) -> dict:
    """What changes a score without changing its key (condition, method, id, record hash): a rerun with other
    methods, a --limit or an edited data file resumes; one with another model does not."""
    r = cfg.reward
    return {"command": "bench", "model": str(Path(cfg.model).resolve()), "dtype": cfg.dtype, "format": fmt,
            "conditions": conditions, "alpha": r.alpha, "gamma": r.gamma, "floor": r.floor,
            "template": r.template, "truncate": r.truncate, "end_token": r.end_token}


def _check_lengths(cfg: BenchConfig, records, conditions):
    """(records every method can score, "<where> (id 'x'): <what>" per other record, the tokenizer); no weights.

    Raises:
        ValueError: an invalid record without ``skip_invalid`` (``lengths.check_records``); FileNotFoundError:
            no model directory.
    """
    from types import SimpleNamespace

    from ..base import context_length, ensure_pad_token, load_config, load_tokenizer
    from .lengths import LengthChecker, check_records

    tok = load_tokenizer(cfg.model, cfg.trust_remote_code)
    ensure_pad_token(tok)
    context = context_length(SimpleNamespace(config=load_config(cfg.model, cfg.trust_remote_code)))
    checker = LengthChecker(tok, context, cfg.methods, cfg.reward)
    return (*check_records(records, checker, conditions, cfg.skip_invalid, cfg.progress), tok)


def _score_everything(cfg: BenchConfig, records, conditions, meta: dict, out_dir: Path, tokenizer) -> bool:
    """Claim ``out_dir`` (run.json) and score this process's share (``tokenizer``: the one already loaded for
    the length check); True on the main process."""
    from ..base import load_model_and_tokenizer

    r = cfg.reward
    state, rank, world = _process_state()
    if rank == 0:
        check_run(out_dir, meta)
    if state is not None:
        state.wait_for_everyone()
        check_run(out_dir, meta)
    model, tokenizer = load_model_and_tokenizer(cfg.model, cfg.dtype, state.device if state else cfg.device,
                                                cfg.trust_remote_code, tokenizer)
    kw = dict(r.kwargs("alpha", "gamma", "floor", "template", "truncate", "end_token"), batch_size=cfg.batch_size)
    rms = {m: build_method(m, model, tokenizer, **kw) for m in cfg.methods}
    if state is not None:
        with state.split_between_processes(records) as mine:
            mine = list(mine)
        path = out_dir / f"scores.rank{rank}.jsonl"
    else:
        mine, path = records, out_dir / "scores.jsonl"
    run_scoring(mine, rms, path, conditions, chunk=cfg.chunk, progress=cfg.progress)
    if state is not None:
        state.wait_for_everyone()
    return rank == 0
