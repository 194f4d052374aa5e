"""``endorm eval-math``: sample k solutions per problem, grade the last \\boxed{} with math-verify.

Output folder, resumable as ``endorm bench``'s (``endorm.llm.runs``): ``run.json`` (model, temperature, top_p, k,
max_new_tokens, seed, template, format, instruction; a rerun with other settings is refused,
nothing touched), ``samples.jsonl`` (one line per problem, flushed as written: id, hash, gold,
completions, answers, correct, status; a rerun skips every (id, hash) on file) and ``results.json``.

Prompt: the problem, a newline and ``INSTRUCTION`` as the chat template's user turn, or
``Problem:\\n...\\n\\nSolution:\\n`` with ``--template plain``. Sample j of a problem is drawn with
its own generator seeded by (seed, problem hash, j) (Gumbel-max), so batch size, --limit and
resumes change no sample (up to padding round-off); the checkpoint's sampling defaults (top_k,
repetition penalty) are not used.

Metrics: avg@k = mean over problems of the fraction of correct samples; pass@1 = the unbiased
estimator with n = k, which equals avg@k (and has the expectation of the paper's one-sample pass@1
at temperature 0.6); ``sample0_accuracy`` = the first sample alone; pass@k = 1 - C(n-c, k)/C(n, k)
(Chen et al. 2021) for k = 1, 2, 4, ... and k itself, averaged over problems.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..runs import check_run, read_jsonl, refuse_other, run_lock
from .data import FORMATS, Problem, last_boxed, load_problems  # noqa: F401 (re-exported)
from .grading import Grader, pass_at_k
from .sampling import INSTRUCTION, build_prompt, generate_completions, sample_seed

PAPER_K = {"aime24": 32, "amc": 32}  # the paper reports avg@32 there, pass@1 elsewhere (k = 1)


def summarize(rows: list, fmt: str = "") -> dict:
    """Metrics over per-problem rows ({"correct": [bool] * n}); every row must have the same n.

    avg@k = sum_i c_i / (n * P) over P problems with c_i correct of n samples; pass@k = mean_i
    of the unbiased 1 - C(n - c_i, k) / C(n, k) (Chen et al. 2021) for k = 1, 2, 4, ... <= n and n.

    Args:
        rows: per-problem dicts (``samples.jsonl`` lines): ``"correct"`` ``[n]`` bools and
            optionally ``"status"`` ``[n]`` str (``Grader.grade``'s).
        fmt: the data format; aime24 and amc report avg@n as the paper's metric, the others pass@1.

    Returns:
        ``{"format", "problems", "k" (= n), "avg@k", "pass@1", "sample0_accuracy" (the first
        sample alone), "pass@k": {str(k): value}, "samples" (= n * problems), "no_answer",
        "timeouts", "errors" (errors and unparsed gold answers), "paper_metric"}``; accuracies are
        fractions in [0, 1], the counts are over samples.

    Raises:
        ValueError: ``no problems to summarize``, or ``every problem needs the same number of
            samples, got [1, 4]``.
        KeyError: a row without ``"correct"``.
    """
    if not rows:
        raise ValueError("no problems to summarize")
    n, *other = {len(r["correct"]) for r in rows}
    if other:
        raise ValueError(f"every problem needs the same number of samples, got {sorted([n, *other])}")
    cs = [sum(map(bool, r["correct"])) for r in rows]
    ks = sorted({2 ** i for i in range(n.bit_length()) if 2 ** i <= n} | {n})
    status = [s for r in rows for s in r.get("status", [])]
    res = {"format": fmt, "problems": len(rows), "k": n,
           "avg@k": sum(cs) / (n * len(rows)),
           "pass@1": sum(pass_at_k(n, c, 1) for c in cs) / len(rows),
           "sample0_accuracy": sum(bool(r["correct"][0]) for r in rows) / len(rows),
           "pass@k": {str(k): sum(pass_at_k(n, c, k) for c in cs) / len(rows) for k in ks},
           "samples": n * len(rows), "no_answer": status.count("no_answer"), "timeouts": status.count("timeout"),
           "errors": sum(s.startswith("error") or s == "gold_unparsed" for s in status)}
    res["paper_metric"] = f"avg@{n}" if fmt in PAPER_K else "pass@1"
    return res


def format_table(res: dict) -> str:
    """The metrics of ``summarize`` as a short text table (percent, two decimals).

    Returns:
        lines for avg@k, pass@1 (with the first sample alone), every other pass@k, and the
        counts of samples without ``\\boxed{}``, grading timeouts and grading errors.
    """
    lines = [f"{res['format'] or 'math'}: {res['problems']} problems, k = {res['k']}",
             f"  avg@{res['k']:<6} {100 * res['avg@k']:6.2f}",
             f"  pass@1    {100 * res['pass@1']:6.2f}   (first sample alone {100 * res['sample0_accuracy']:.2f})"]
    lines += [f"  pass@{k:<5} {100 * v:6.2f}" for k, v in res["pass@k"].items() if k != "1"]
    lines.append(f"  of {res['samples']} samples: {res['no_answer']} without \\boxed{{}}, {res['timeouts']} grading "
                 f"timeouts, {res['errors']} grading errors")
    return "\n".join(lines)


def evaluate_problems(problems, generate, out_dir, meta: dict, k: int, grader: Grader, fmt: str = "",
             batch_size: int = 8, progress: bool = True) -> dict:
    """Generate, grade and store every problem not yet in ``out_dir/samples.jsonl``; return the metrics.

    ``generate(prompts, seeds) -> completions``; ``problems``: [(Problem, prompt)]. Problems go
    in groups of max(1, batch_size // k), so a kill loses at most one group.

    Args:
        problems: ``[(Problem, prompt text)]``.
        generate: ``generate(prompts [m], seeds [m]) -> [m] completion texts``; sample j of a problem
            gets seed ``sample_seed(meta["seed"], problem.hash, j)``.
        out_dir: the run folder; ``meta``: the run's identity (``run.json``; needs ``"seed"``).
        k: samples per problem; grader: an open ``Grader``; fmt: the data format.
        batch_size: sequences per group (``batch_size // k`` problems); progress: show a tqdm bar.

    Returns:
        ``summarize``'s dict over all ``problems`` plus ``"run"`` (= ``meta``), also written to
        ``out_dir/results.json``. Each ``samples.jsonl`` line: {"id", "hash", "gold",
        "completions", "answers", "correct", "status"}, each list ``[k]``.

    Raises:
        ValueError: ``out_dir`` holds a different run (``run.json`` differs), a corrupt line of
            ``samples.jsonl``, or rows on file with another k (``summarize``).
        RuntimeError: from the grader (workers did not start, a worker died).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    check_run(out_dir, meta)
    path = out_dir / "samples.jsonl"
    done = {(d["id"], d["hash"]): d for d in read_jsonl(path)}
    todo = [(p, q) for p, q in problems if (p.id, p.hash) not in done]
    step = max(1, batch_size // k)
    with open(path, "a", encoding="utf-8") as fh, tqdm(total=len(todo), desc="eval-math", unit="problem",
                                                       file=sys.stderr, disable=not progress) as bar:
        for s in range(0, len(todo), step):
            group = todo[s:s + step]
            texts = generate([q for _, q in group for _ in range(k)],
                             [sample_seed(meta["seed"], p.hash, j) for p, _ in group for j in range(k)])
            answers = [last_boxed(t) for t in texts]
            graded = grader.grade([(p.gold, a) for (p, _), a in zip([g for g in group for _ in range(k)], answers)])
            for i, (p, _) in enumerate(group):
                sl = slice(i * k, (i + 1) * k)
                row = {"id": p.id, "hash": p.hash, "gold": p.gold, "completions": texts[sl], "answers": answers[sl],
                       "correct": [c for c, _ in graded[sl]], "status": [st for _, st in graded[sl]]}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                done[(p.id, p.hash)] = row
            fh.flush()
            os.fsync(fh.fileno())
            bar.update(len(group))
    res = summarize([done[(p.id, p.hash)] for p, _ in problems], fmt)
    res["run"] = meta
    from endorm._io import atomic_write_json

    atomic_write_json(out_dir / "results.json", res)
    return res


@dataclass
class MathEvalConfig:
    """Everything ``endorm eval-math`` needs; ``check()`` validates it before anything is loaded or written.

    Fields:
        model: local Hugging Face model directory; data: a JSONL file in Qwen2.5-Math's layout;
            out: the run folder (run.json, samples.jsonl, results.json).
        format: one of ``FORMATS``, or "auto" (from the keys and the file name).
        k: samples per problem; None: ``PAPER_K`` (32 for aime24 and amc), else 1.
        temperature: sampling temperature (0 = greedy; the paper: 0.6); top_p: nucleus mass in (0, 1].
        max_new_tokens: tokens per completion; batch_size: sequences per ``generate`` call (no
            effect on the samples).
        seed: the samples' seed; template: "chat" (the chat template's user turn) or "plain".
        limit: only the first N problems; skip_invalid: leave malformed lines out (listed in
            ``results.json`` as "skipped") instead of stopping; workers: grading processes (default min(4, CPUs));
            timeout: grading seconds per answer.
        dtype, device: for loading the model; progress: show a progress bar; trust_remote_code: run the model
            folder's own code (False: never, and never ask).
    """

    model: str                      # local Hugging Face model directory
    data: str                       # JSONL file in Qwen2.5-Math's layout
    out: str                        # run folder: run.json, samples.jsonl, results.json
    format: str = "auto"            # one of FORMATS, or auto (from keys and file name)
    k: int | None = None            # samples per problem; None: PAPER_K (32 for aime24/amc), else 1
    temperature: float = 0.6        # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 1024      # tokens per completion
    batch_size: int = 8             # sequences per generate call (no effect on results)
    seed: int = 0
    template: str = "chat"          # chat or plain
    limit: int | None = None        # only the first N problems
    skip_invalid: bool = False      # leave malformed lines out (counted, listed in results.json)
    workers: int | None = None      # grading processes (default min(4, CPUs))
    timeout: float = 5.0            # grading seconds per answer
    dtype: str | None = None
    device: str | None = None
    progress: bool = True
    trust_remote_code: bool = False  # run a model folder's own code (never, unless asked)

    def check(self) -> "MathEvalConfig":
        """Validate the settings before anything is loaded or written.

        Returns:
            self.

        Raises:
            ValueError: ``--top-p must be in (0, 1], got 0`` (the flag named; k, temperature,
                top-p, timeout, max-new-tokens, batch-size, limit, workers).
            FileNotFoundError: ``model directory not found or without config.json: <model>``.
        """
        for name, v, ok, want in [
                ("k", self.k, self.k is None or self.k >= 1, ">= 1"),
                ("temperature", self.temperature, self.temperature >= 0, ">= 0"),
                ("top-p", self.top_p, 0 < self.top_p <= 1, "in (0, 1]"),
                ("timeout", self.timeout, self.timeout > 0, "> 0 seconds"),
                ("max-new-tokens", self.max_new_tokens, self.max_new_tokens >= 1, ">= 1"),
                ("batch-size", self.batch_size, self.batch_size >= 1, ">= 1"),
                ("limit", self.limit, self.limit is None or self.limit >= 1, ">= 1"),
                ("workers", self.workers, self.workers is None or self.workers >= 1, ">= 1")]:
            if not ok:
                raise ValueError(f"--{name} must be {want}, got {v}")
        if not (Path(self.model) / "config.json").is_file():
            raise FileNotFoundError(f"model directory not found or without config.json: {self.model}")
        return self


def run_eval_math(cfg: MathEvalConfig) -> dict:
    """``endorm eval-math``: check, refuse a different run, load, sample, grade, summarize.

    Returns:
        the metrics dict written to ``OUT/results.json`` (see ``summarize``), with ``"run"``.

    Raises:
        ValueError / FileNotFoundError: a bad setting or data file (before the model loads), or
            ``--out`` holding a different run (``<out> holds a different run (differs in k); ...``).
        OSError: the model cannot be loaded.
        RuntimeError: the grading workers did not start, or one died (``Grader.grade``).
    """
    cfg.check()
    skipped = [] if cfg.skip_invalid else None
    problems, fmt = load_problems(cfg.data, cfg.format, cfg.limit, skipped)
    k = cfg.k or PAPER_K.get(fmt, 1)
    meta = {"command": "eval-math", "model": str(Path(cfg.model).resolve()), "temperature": cfg.temperature,
            "top_p": cfg.top_p, "k": k,
            "max_new_tokens": cfg.max_new_tokens, "seed": cfg.seed, "template": cfg.template, "format": fmt,
            "instruction": INSTRUCTION, "dtype": cfg.dtype}
    prompts, tok = _checked_prompts(cfg, problems, skipped)
    if skipped:
        print(f"skipped {len(skipped)} invalid line(s), e.g. {skipped[0]}", file=sys.stderr)
    refuse_other(Path(cfg.out), meta)  # a different run or the user's own files: refused before the model loads
    with run_lock(Path(cfg.out)):
        res = _generate_and_grade(cfg, prompts, fmt, k, meta, tok)
    if skipped:
        from endorm._io import atomic_write_json

        res["skipped"] = skipped
        atomic_write_json(Path(cfg.out) / "results.json", res)
    return res


def _checked_prompts(cfg, problems, skipped):
    """([(Problem, prompt text)], the tokenizer), built before the model loads: a problem whose prompt
    cannot be built or tokenized, or whose prompt plus ``max_new_tokens`` exceeds the context, is a ValueError
    naming file:line and id (appended to ``skipped`` instead when it is a list, ``--skip-invalid``)."""
    from types import SimpleNamespace

    from ..base import context_length, load_config, load_tokenizer

    tok = load_tokenizer(cfg.model, cfg.trust_remote_code)
    context = context_length(SimpleNamespace(config=load_config(cfg.model, cfg.trust_remote_code)))
    out = []
    for p in problems:
        try:
            text = build_prompt(p.problem, tok, cfg.template)
            n = len(tok(text, add_special_tokens=cfg.template == "plain")["input_ids"])
            why = None if n + cfg.max_new_tokens <= context else (
                f"the prompt has {n} tokens; with --max-new-tokens {cfg.max_new_tokens} that is longer than the "
                f"model's context of {context}")
        except Exception as e:  # noqa: BLE001 -- e.g. a lone surrogate the tokenizer cannot encode
            why = f"the prompt cannot be built or tokenized ({type(e).__name__}: {e})"
        if why is None:
            out.append((p, text))
        elif skipped is None:
            raise ValueError(f"{p.where} (id {p.id!r}): {why}; pass --skip-invalid to leave such problems out")
        else:
            skipped.append(f"{p.where} (id {p.id!r}): {why}")
    if not out:
        raise ValueError(f"{cfg.data}: no problem left to evaluate (e.g. {skipped[0] if skipped else '?'})")
    return out, tok


def _generate_and_grade(cfg, prompts, fmt, k, meta, tok):
    """Load the model (``tok``: the tokenizer already loaded), then ``evaluate_problems`` with a ``Grader``."""
    from ..base import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(cfg.model, cfg.dtype, cfg.device, cfg.trust_remote_code, tok)

    def generate(texts, seeds):
        return generate_completions(model, tok, texts, seeds, temperature=cfg.temperature, top_p=cfg.top_p,
                                    max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size,
                                    add_special_tokens=cfg.template == "plain")

    with Grader(cfg.workers, cfg.timeout) as grader:
        return evaluate_problems(prompts, generate, cfg.out, meta, k, grader, fmt, cfg.batch_size, cfg.progress)
