"""``endorm eval-math``: sample k solutions per problem, grade the last \\boxed{} with math-verify.

Output folder, resumable as ``bench_runner``'s: ``run.json`` (model, temperature, top_p, k,
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

import hashlib
import json
import math
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

from .bench_runner import check_run, read_scores
from .math_data import FORMATS, Problem, detect_format, last_boxed, load_problems  # noqa: F401 (re-exported)

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
PAPER_K = {"aime24": 32, "amc": 32}  # the paper reports avg@32 there, pass@1 elsewhere (k = 1)


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so that math-verify's ``except Exception`` lets it pass."""


def _alarm(signum, frame):
    raise _Timeout()


def grade_one(gold: str, answer: str, timeout: float) -> tuple:
    """(correct, status) for one answer: math-verify ``verify(parse(gold), parse(answer))``, gold first.

    Runs in a worker process: the alarm (``setitimer``, any float of seconds) needs the main thread.
    math-verify's own int-second alarms are disabled so as not to reset ours.
    Status: "graded", "timeout", "gold_unparsed" or "error: <type>".
    """
    from math_verify import parse, verify

    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        # math-verify reads LaTeX between $...$; strings already in $...$ are not wrapped twice
        g, a = (parse(f"${x.strip().strip('$')}$", parsing_timeout=None) for x in (gold, answer))
        return (bool(verify(g, a, timeout_seconds=None)), "graded") if g else (False, "gold_unparsed")
    except _Timeout:
        return False, "timeout"
    except Exception as e:  # noqa: BLE001 -- a grading failure counts as wrong and is reported
        return False, f"error: {type(e).__name__}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _worker_init():
    import logging

    from math_verify import parse

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout disabled": ours is on
    parse("$1$")  # the first parse imports the LaTeX parser: not on the first answer's clock


def _ready() -> int:
    """A no-op task: returns once a worker has run its initializer (the pool is warm)."""
    return os.getpid()


class Grader:
    """Grade (gold, answer) pairs in worker processes (math-verify's alarms fail in threads).

    ``timeout``: seconds per answer (parse gold, parse answer, verify); past it the answer is wrong,
    status "timeout". A worker stuck where no signal reaches it (one long C call, e.g. a huge
    integer power) is caught by ``stall``: if no answer completes for that long, the pool is killed,
    the answers then in a worker count as timeouts, and the rest go to a fresh pool.

    The stall clock never includes a worker's start: a new pool is warmed first (every worker has
    imported math-verify, waited for up to ``start_timeout`` seconds), and at most ``workers``
    answers are in flight at once, so an answer is only ever timed while a worker holds it.

    Raises:
        ValueError: ``timeout`` or ``stall`` <= 0, or ``workers`` < 1.
        RuntimeError: the workers did not start within ``start_timeout`` seconds.
    """

    def __init__(self, workers: int | None = None, timeout: float = 5.0, stall: float | None = None, fn=grade_one,
                 start_timeout: float = 300.0):
        if timeout <= 0 or (workers is not None and workers < 1) or (stall is not None and stall <= 0):
            raise ValueError(f"need timeout > 0 seconds, stall > 0 seconds and workers >= 1, got timeout={timeout}, "
                             f"stall={stall}, workers={workers}")
        self.workers, self.timeout, self.fn = workers or min(4, os.cpu_count() or 1), float(timeout), fn
        self.stall = 2 * self.timeout + 30 if stall is None else stall  # 30 s: margin for a loaded machine
        self.start_timeout = float(start_timeout)
        self._ex = None

    def _pool(self):
        if self._ex is None:  # spawn: the parent may hold CUDA and OpenMP threads, which fork does not survive
            self._ex = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_worker_init)
            _, cold = wait([self._ex.submit(_ready) for _ in range(self.workers)], timeout=self.start_timeout)
            if cold:
                self._kill()
                raise RuntimeError(f"the {self.workers} grading worker(s) did not start within "
                                   f"{self.start_timeout:g} s")
        return self._ex

    def _kill(self):
        for p in list((getattr(self._ex, "_processes", None) or {}).values()):
            p.kill()
        self._ex.shutdown(wait=False, cancel_futures=True)
        self._ex = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._ex is not None:
            self._ex.shutdown()
            self._ex = None

    def grade(self, pairs) -> list:
        """Grade every pair.

        Args:
            pairs: [(gold, answer or None)], LaTeX strings as ``grade_one`` takes them.

        Returns:
            [(correct, status)], one per pair in order; a None answer gives (False, "no_answer").
        """
        out = [(False, "no_answer") if a is None else None for _, a in pairs]
        queue = [i for i, r in enumerate(out) if r is None]
        while queue:
            ex, futs = self._pool(), {}
            while queue or futs:
                while queue and len(futs) < self.workers:  # only what a worker holds is in flight
                    i = queue.pop(0)
                    futs[ex.submit(self.fn, pairs[i][0], pairs[i][1], self.timeout)] = i
                done, _ = wait(futs, timeout=self.stall, return_when=FIRST_COMPLETED)
                for f in done:
                    e = f.exception()
                    out[futs.pop(f)] = f.result() if e is None else (
                        (False, "timeout") if isinstance(e, _Timeout) else (False, f"error: {type(e).__name__}"))
                if not done:  # no answer for `stall` seconds: the workers are stuck
                    for i in futs.values():
                        out[i] = (False, "timeout")
                    self._kill()
                    break
        return out


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 - C(n-c, k)/C(n, k) from n samples with c correct, as the stable product
    1 - prod_{i=n-c+1}^{n} (1 - k/i) (Chen et al. 2021, Codex)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def summarize(rows: list, fmt: str = "") -> dict:
    """Metrics over per-problem rows ({"correct": [bool] * n}); every row must have the same n."""
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
    lines = [f"{res['format'] or 'math'}: {res['problems']} problems, k = {res['k']}",
             f"  avg@{res['k']:<6} {100 * res['avg@k']:6.2f}",
             f"  pass@1    {100 * res['pass@1']:6.2f}   (first sample alone {100 * res['sample0_accuracy']:.2f})"]
    lines += [f"  pass@{k:<5} {100 * v:6.2f}" for k, v in res["pass@k"].items() if k != "1"]
    lines.append(f"  of {res['samples']} samples: {res['no_answer']} without \\boxed{{}}, {res['timeouts']} grading "
                 f"timeouts, {res['errors']} grading errors")
    return "\n".join(lines)


def build_prompt(problem: str, tokenizer, template: str = "chat") -> str:
    """The problem and ``INSTRUCTION`` as the chat template's user turn, or plain text."""
    if template == "plain":
        return f"Problem:\n{problem}\n{INSTRUCTION}\n\nSolution:\n"
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("the tokenizer has no chat template; use --template plain")
    msgs = [{"role": "user", "content": f"{problem}\n{INSTRUCTION}"}]
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def sample_seed(seed: int, problem_hash: str, j: int) -> int:
    """Seed of sample j of a problem: independent of batching, --limit and resumes."""
    return int(hashlib.sha256(f"{seed}:{problem_hash}:{j}".encode()).hexdigest()[:15], 16)


class _RowSampler:
    """Logits processor sampling each row with its own generator (Gumbel-max: the argmax of
    logits/T + Gumbel noise is a softmax(logits/T) sample; top-p keeps the smallest nucleus)."""

    def __init__(self, seeds, temperature: float, top_p: float, device):
        import torch

        self.gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        self.temperature, self.top_p = temperature, top_p

    def __call__(self, input_ids, scores):
        import torch

        if self.temperature == 0:
            return scores  # greedy
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            p, order = torch.softmax(logits, -1).sort(-1, descending=True)
            drop = (p.cumsum(-1) - p) >= self.top_p  # mass before this token already reaches top_p
            logits = logits.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))
        u = torch.stack([torch.rand(logits.shape[-1], generator=g, device=logits.device) for g in self.gens])
        return logits - torch.log(-torch.log(u.clamp_min(1e-20)))


def generate_completions(model, tokenizer, prompts, seeds, *, temperature, top_p, max_new_tokens, batch_size,
                         add_special_tokens=False) -> list:
    """One sampled completion per (prompt, seed), generated in batches of ``batch_size`` rows."""
    import torch

    tokenizer.padding_side = "left"
    out = []
    for s in range(0, len(prompts), batch_size):
        enc = tokenizer(prompts[s:s + batch_size], return_tensors="pt", padding=True,
                        add_special_tokens=add_special_tokens).to(model.device)
        proc = _RowSampler(seeds[s:s + batch_size], temperature, top_p, model.device)
        with torch.no_grad():
            ids = model.generate(**enc, logits_processor=[proc], do_sample=False, num_beams=1,
                                 max_new_tokens=max_new_tokens, repetition_penalty=1.0,
                                 pad_token_id=tokenizer.pad_token_id)
        out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return out


def evaluate(problems, generate, out_dir, meta: dict, k: int, grader: Grader, fmt: str = "",
             batch_size: int = 8, progress: bool = True) -> dict:
    """Generate, grade and store every problem not yet in ``out_dir/samples.jsonl``; return the metrics.

    ``generate(prompts, seeds) -> completions``; ``problems``: [(Problem, prompt)]. Problems go
    in groups of max(1, batch_size // k), so a kill loses at most one group.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    check_run(out_dir, meta)
    path = out_dir / "samples.jsonl"
    done = {(d["id"], d["hash"]): d for d in read_scores(path)}
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


def _check_args(a):
    for name, v, ok, want in [
            ("k", a.k, a.k is None or a.k >= 1, ">= 1"), ("temperature", a.temperature, a.temperature >= 0, ">= 0"),
            ("top-p", a.top_p, 0 < a.top_p <= 1, "in (0, 1]"), ("timeout", a.timeout, a.timeout > 0, "> 0 seconds"),
            ("max-new-tokens", a.max_new_tokens, a.max_new_tokens >= 1, ">= 1"),
            ("batch-size", a.batch_size, a.batch_size >= 1, ">= 1"),
            ("limit", a.limit, a.limit is None or a.limit >= 1, ">= 1"),
            ("workers", a.workers, a.workers is None or a.workers >= 1, ">= 1")]:
        if not ok:
            raise ValueError(f"--{name} must be {want}, got {v}")
    if not (Path(a.model) / "config.json").is_file():
        raise FileNotFoundError(f"model directory not found or without config.json: {a.model}")


def cmd_eval_math(args) -> int:
    """``endorm eval-math``: see the module docstring."""
    _check_args(args)
    problems, fmt = load_problems(args.data, args.format, args.limit)
    k = args.k or PAPER_K.get(fmt, 1)
    meta = {"model": str(Path(args.model).resolve()), "temperature": args.temperature, "top_p": args.top_p, "k": k,
            "max_new_tokens": args.max_new_tokens, "seed": args.seed, "template": args.template, "format": fmt,
            "instruction": INSTRUCTION, "dtype": args.dtype}
    if (Path(args.out) / "run.json").exists():
        check_run(Path(args.out), meta)  # refuse a different run before loading the model; evaluate writes it
    from .base import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(args.model, args.dtype, args.device)
    prompts = [(p, build_prompt(p.problem, tok, args.template)) for p in problems]

    def generate(texts, seeds):
        return generate_completions(model, tok, texts, seeds, temperature=args.temperature, top_p=args.top_p,
                                    max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                                    add_special_tokens=args.template == "plain")

    with Grader(args.workers, args.timeout) as grader:
        res = evaluate(prompts, generate, args.out, meta, k, grader, fmt, args.batch_size, not args.no_progress)
    print(format_table(res))
    print(f"results: {Path(args.out) / 'results.json'}")
    return 0


def register(subparsers):
    """Add the ``eval-math`` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser("eval-math", help="math benchmarks: sample k solutions, grade \\boxed{} with math-verify")
    p.add_argument("--model", required=True, metavar="DIR", help="local Hugging Face model directory")
    p.add_argument("--data", required=True, metavar="FILE", help="local JSONL (Qwen2.5-Math evaluation layout)")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS, help="default: from keys and file name")
    p.add_argument("--k", type=int, default=None, help="samples per problem (default: 32 for aime24/amc, else 1)")
    p.add_argument("--temperature", type=float, default=0.6, help="0 = greedy (default 0.6, the paper's test value)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=1024, help="default 1024 (the paper's response length)")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per generate call (no effect on results)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--template", choices=("chat", "plain"), default="chat")
    p.add_argument("--limit", type=int, help="only the first N problems")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (run.json, samples.jsonl, results.json)")
    p.add_argument("--workers", type=int, default=None, help="grading processes (default min(4, CPUs))")
    p.add_argument("--timeout", type=float, default=5.0, help="grading seconds per answer; past it: wrong")
    p.add_argument("--dtype", default=None, help="e.g. bfloat16 (default: the checkpoint's)")
    p.add_argument("--device", default=None, help="default: cuda if available")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_eval_math)
    return p
