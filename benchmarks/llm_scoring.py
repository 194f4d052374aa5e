"""Benchmark: EndoRM scoring vs a bare forward pass vs naive full-vocabulary scoring.

Usage::

    python benchmarks/llm_scoring.py [--layers 12] [--hidden 768] [--vocab-size 50257]
                                     [--batch-size 8] [--length 512] [--context 16]
                                     [--repeat 3] [--device cpu|cuda] [--dtype float32|bfloat16]
                                     [--seed 0] [--threads N] [--chunk-mb 64] [--quick]
                                     [--json PATH] [--strict] [--quiet]

The model: a randomly initialized GPT-2-shaped causal LM with a realistic vocabulary
(defaults: ``GPT2Config(n_layer=12, n_head=12, n_embd=768, vocab_size=50257,
n_positions=1024)``, i.e. GPT-2 small, 124M parameters, seeded with ``--seed``), in
eval mode, on ``--device`` in ``--dtype``. The input: B x L random token ids (seeded);
item b is the pair (context = its first ``--context`` tokens, response = the rest), so
n = L - context response tokens per item. ``--quick`` is a smoke-test size (2 layers,
hidden 64, vocab 1000, batch 2, length 64); explicit options override it.

What is measured, in one run, on the same model and the same batch:

* ``bare``: ``model(input_ids=ids, use_cache=False).logits``, the forward pass any
  scoring needs, with its full [B, L, V] logits (in the model's dtype). ``use_cache=False``
  as EndoRM passes it: the default ``use_cache=True`` would also keep a KV cache
  (2 * layers * B * L * hidden floats, ~300 MiB for the defaults) and so flatter EndoRM.
* ``endorm``: ``EndogenousReward(model, tokenizer, batch_size=B).token_rewards_from_ids(
  [(context_ids, response_ids), ...])``: the base model's final hidden states, then the
  LM head in float32 chunks of positions (``chunk_mb``) with logsumexp and the target's
  logit per chunk, and the per-item r_hat, log pi, V arrays (``TokenRewards``). The
  tokenizer is ``endorm.llm.testing.build_tokenizer()``; it only supplies the pad id and
  the token strings (ids beyond its 320 entries decode to "").
* ``naive``: ``model(ids).logits.float()``, ``log_softmax`` over the whole [B, L, V]
  tensor, ``gather`` of the response tokens, and ``logsumexp`` at every position for
  r_hat_t = f_t[y_t] - V(s_{t+1}) (V(s_{n+1}) = 0, as EndoRM's default terminal "zero").

Processes and time: each variant lives in its own fresh Python process (this script
with a hidden ``--variant`` flag), which builds the model and the input and then waits
for commands on stdin; only one process computes at a time. Round 0 calls each variant
once, untimed (warm-up); rounds 1..``--repeat`` call each once more, timed, with the
order rotating from round to round, so a change in the machine's load (other jobs on a
shared host) hits all variants alike. The best wall time (``time.perf_counter``, with
``torch.cuda.synchronize`` on CUDA) is kept; the median and every run are in the JSON.
Every call runs under ``torch.inference_mode()``; torch uses ``--threads`` threads
(default: the CPUs this process may run on).

Memory: one variant's allocations, caches or fragmentation never count for another,
since each has its own process. In it, after the model and the input are built,
``gc.collect()`` and glibc's ``malloc_trim(0)`` return freed heap pages to the OS, the
RSS is read (the baseline: model + input + libraries) and the kernel's peak-RSS mark is
reset to it by writing "5" to ``/proc/self/clear_refs`` (Linux >= 4.0). After the
warm-up call and the timed calls, ``VmHWM`` in ``/proc/self/status`` is the peak RSS
over all of them, exact (the kernel updates the mark before it unmaps memory), and
peak memory = VmHWM - baseline (the warm-up call's own peak is recorded too). So the
peak includes whatever the first call allocates and keeps (e.g. EndoRM's float32 copy
of a bfloat16 LM head). Where clear_refs cannot be written, a thread polls VmRSS every
millisecond (it can miss a spike shorter than that); ``memory_method`` in the JSON says
which was used. ``ru_maxrss`` alone would not do: it is a high-water mark since the
process started, which model construction may already have set above the scoring
step's peak. On CUDA: ``torch.cuda.reset_peak_memory_stats()``, then
``max_memory_allocated()`` minus the ``memory_allocated()`` before the calls (tensors
only; the caching allocator's reserve is not counted).

Goals (for the default, realistic sizes):

* time ratio = EndoRM time / bare forward time                      <= 1.10
* memory ratio = EndoRM peak memory / bare forward peak memory       <= 1.00

The naive variant's ratios are shown for information. Agreement (not timed): EndoRM's
per-token log pi equals the naive log_softmax's, its r_hat the naive r_hat, and its
f_t[y_t] (= log pi_t + V(s_t)) the bare forward's logits at the targets; the max abs
differences are printed (float32: ~1e-5; must be < 1e-4; bfloat16: informational, < 0.1).

The script prints a table with the goals and PASS/MISS; ``--json PATH`` also writes
every number (times, memory in MiB, ratios, goals, pass flags, config, versions) as
JSON, atomically. The exit status is 0 unless ``--strict`` is given and a goal or the
agreement check is missed. The default run takes about 2.5 minutes on 2 CPU cores and
needs about 5 GB of memory (three processes of ~0.85 GB each, plus the naive variant's
~2.5 GB peak).
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
from tqdm import tqdm

from endorm._io import atomic_write_json

TIME_RATIO_GOAL = 1.10
MEMORY_RATIO_GOAL = 1.0
VARIANTS = ("bare", "endorm", "naive")
LABELS = {"bare": "bare forward model(ids).logits",
          "endorm": "EndoRM token_rewards_from_ids",
          "naive": "naive full log_softmax scoring"}
DEFAULTS = dict(layers=12, hidden=768, vocab_size=50257, batch_size=8, length=512)
QUICK = dict(layers=2, hidden=64, vocab_size=1000, batch_size=2, length=64)
AGREEMENT_TOL = {"float32": 1e-4, "bfloat16": 1e-1}
MIB = 2.0**20
PAUSE_S = 0.2  # idle time before each call


_cpus = C.cpus


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=None, help="transformer layers (default 12)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size n_embd (default 768)")
    p.add_argument("--heads", type=int, default=None, help="attention heads (default hidden // 64, at least 1)")
    p.add_argument("--vocab-size", type=int, default=None, help="vocabulary size (default 50257)")
    p.add_argument("--batch-size", type=int, default=None, help="B, sequences per batch (default 8)")
    p.add_argument("--length", type=int, default=None, help="L, tokens per sequence (default 512)")
    p.add_argument("--context", type=int, default=None,
                   help="context tokens per item; the rest is the response (default 16, at most length - 1)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per variant, best is kept (default 3)")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda[:i]")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"), help="model dtype")
    p.add_argument("--seed", type=int, default=0, help="seed of the model weights and the token ids (default 0)")
    p.add_argument("--threads", type=int, default=None, help=f"torch threads (default: the CPUs, {_cpus()} here)")
    p.add_argument("--chunk-mb", type=float, default=64.0, help="EndoRM's chunk_mb (default 64, its default)")
    p.add_argument("--head-dtype", default="float32", choices=("float32", "model"),
                   help="EndoRM's head_dtype (default float32; 'model' runs the LM head in the model's dtype)")
    p.add_argument("--quick", action="store_true",
                   help="smoke-test size: 2 layers, hidden 64, vocab 1000, batch 2, length 64")
    C.output_flags(p, "a goal or the agreement is missed")
    # Internal: run one variant in this (fresh) process and write its numbers to a file.
    p.add_argument("--variant", choices=VARIANTS, default=None, help=argparse.SUPPRESS)
    p.add_argument("--result-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    C.fill_defaults(args, QUICK if args.quick else DEFAULTS)
    if args.context is None:
        args.context = max(1, min(16, args.length - 1))
    if args.heads is None:
        args.heads = max(1, args.hidden // 64)
    if args.threads is None:
        args.threads = _cpus()
    for key in ("layers", "hidden", "heads", "vocab_size", "batch_size", "length", "repeat", "threads"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.hidden % args.heads:
        p.error("--hidden must be a multiple of --heads")
    if args.length < 2:
        p.error("--length must be >= 2 (a context token and a response token)")
    if not 1 <= args.context < args.length:
        p.error("--context must be >= 1 and < --length")
    if not (math.isfinite(args.chunk_mb) and args.chunk_mb > 0):
        p.error("--chunk-mb must be > 0")
    if (args.variant is None) != (args.result_file is None):
        p.error("--variant and --result-file go together")
    return args


def _log(msg: str, quiet: bool) -> None:
    C.log("llm_scoring", msg, quiet)


# ---------------------------------------------------------------------- memory probes
def _proc_status_bytes(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise KeyError(field)


def _ru_maxrss_bytes() -> int:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) if sys.platform == "darwin" else int(r) * 1024  # bytes on macOS, KiB on Linux


def _malloc_trim() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class MemoryProbe:
    """Peak memory above a baseline taken at ``start()``; see the module docstring."""

    def __init__(self, device):
        self.device = device
        self.cuda = device.type == "cuda"
        self._thread = None

    def start(self) -> None:
        import torch

        gc.collect()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.method = "cuda max_memory_allocated"
            self.baseline = torch.cuda.memory_allocated(self.device)
            return
        _malloc_trim()
        try:
            self.baseline = _proc_status_bytes("VmRSS")
        except (OSError, KeyError):  # no /proc: ru_maxrss only (a peak below an earlier one is missed)
            self.method, self.baseline = "ru_maxrss", _ru_maxrss_bytes()
            return
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            self.baseline = _proc_status_bytes("VmRSS")
            self.method = "VmHWM after clear_refs reset"
            return
        except OSError:
            pass
        self.method, self._max, self._stop = "VmRSS polled every 1 ms", self.baseline, threading.Event()

        def poll():
            while not self._stop.is_set():
                self._max = max(self._max, _proc_status_bytes("VmRSS"))
                time.sleep(0.001)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()

    def peak(self) -> int:
        """Peak bytes above the baseline since ``start()`` (so far)."""
        import torch

        if self.cuda:
            torch.cuda.synchronize(self.device)
            return max(0, torch.cuda.max_memory_allocated(self.device) - self.baseline)
        if self.method == "ru_maxrss":
            return max(0, _ru_maxrss_bytes() - self.baseline)
        if self._thread is not None:
            return max(0, max(self._max, _proc_status_bytes("VmRSS")) - self.baseline)
        return max(0, _proc_status_bytes("VmHWM") - self.baseline)

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None


# ---------------------------------------------------------------------- one variant (child process)
def build(args):
    """The seeded random GPT-2-shaped model, the token ids [B, L] and the (context, response) pairs."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    cfg = GPT2Config(vocab_size=args.vocab_size, n_positions=max(1024, args.length), n_embd=args.hidden,
                     n_layer=args.layers, n_head=args.heads, bos_token_id=None, eos_token_id=None)
    model = GPT2LMHeadModel(cfg).to(device=device, dtype=getattr(torch, args.dtype)).eval()
    gen = torch.Generator().manual_seed(args.seed + 1)
    ids = torch.randint(0, args.vocab_size, (args.batch_size, args.length), generator=gen)
    pairs = [(row[:args.context], row[args.context:]) for row in ids.tolist()]
    return model, ids.to(device), pairs


def make_steps(args, model, ids, pairs):
    """The measured step of each variant, and how to reduce its output to small float64 arrays."""
    import torch
    import torch.nn.functional as F

    s, L = args.context, args.length
    tgt = ids[:, s:, None]

    def bare():
        return model(input_ids=ids, use_cache=False).logits

    def bare_arrays(logits):
        sel = logits[:, s - 1:L - 1].float().gather(-1, tgt)[..., 0]
        return {"selected_logits": sel.double().cpu().numpy()}

    def naive():
        logits = model(input_ids=ids, use_cache=False).logits.float()
        logp = F.log_softmax(logits, dim=-1)
        log_probs = logp[:, s - 1:L - 1].gather(-1, tgt)[..., 0]
        sel = logits[:, s - 1:L - 1].gather(-1, tgt)[..., 0]
        values = torch.logsumexp(logits, dim=-1)           # V(s_t) at every position, [B, L]
        next_values = values[:, s:L].clone()
        next_values[:, -1] = 0.0                            # terminal "zero": V(s_{n+1}) = 0
        rewards = sel - next_values
        return log_probs.cpu().numpy(), rewards.cpu().numpy()

    def naive_arrays(out):
        return {"log_probs": out[0].astype(np.float64), "rewards": out[1].astype(np.float64)}

    from endorm.llm.reward import EndogenousReward
    from endorm.llm.testing import build_tokenizer

    rm = EndogenousReward(model, build_tokenizer(), batch_size=args.batch_size, chunk_mb=args.chunk_mb,
                          progress=False, head_dtype=args.head_dtype) if args.variant == "endorm" else None

    def endorm():
        return rm.token_rewards_from_ids(pairs)

    def endorm_arrays(out):
        return {"log_probs": np.stack([t.log_probs for t in out]),
                "rewards": np.stack([t.rewards for t in out]),
                "selected_logits": np.stack([t.log_probs * rm.alpha + t.values for t in out])}

    return {"bare": (bare, bare_arrays), "endorm": (endorm, endorm_arrays), "naive": (naive, naive_arrays)}


def serve(args) -> None:
    """Child process: build one variant, then obey one-line commands on stdin.

    ``run``: one call of the step (the first one is the warm-up; the memory window opens
    just before it), answered with its wall time; ``finish``: write the result file
    (times come from the parent), answer and exit. Answers are JSON lines on the
    original stdout; anything else that writes to stdout goes to stderr instead.
    """
    import torch

    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(**msg):
        channel.write(json.dumps(msg) + "\n")
        channel.flush()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    model, ids, pairs = build(args)
    build_s = time.perf_counter() - t0
    step, to_arrays = make_steps(args, model, ids, pairs)[args.variant]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    probe, arrays, first_peak = MemoryProbe(device), None, None
    reply(ready=True)
    try:
        with torch.inference_mode():
            for line in sys.stdin:
                cmd = line.strip()
                if cmd == "run":
                    if arrays is None:
                        probe.start()
                    gc.collect()
                    sync()
                    t0 = time.perf_counter()
                    out = step()
                    sync()
                    elapsed = time.perf_counter() - t0
                    if arrays is None:
                        arrays = to_arrays(out)
                        first_peak = probe.peak()
                    del out
                    reply(time_s=elapsed)
                elif cmd == "finish":
                    if arrays is None:
                        raise RuntimeError("finish before any run")
                    peak = probe.peak()
                    atomic_write_json(args.result_file, {
                        "variant": args.variant,
                        "build_s": build_s,
                        "peak_mib": peak / MIB,
                        "first_call_peak_mib": first_peak / MIB,
                        "baseline_mib": probe.baseline / MIB,
                        "memory_method": probe.method,
                        "params": sum(p.numel() for p in model.parameters()),
                        "attn_implementation": getattr(model.config, "_attn_implementation", None),
                        "torch": {"version": torch.__version__, "threads": torch.get_num_threads(),
                                  "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                                  "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None},
                        "arrays": {k: v.tolist() for k, v in arrays.items()},
                    })
                    reply(done=True)
                    return
                else:
                    raise RuntimeError(f"unknown command {cmd!r}")
    finally:
        probe.stop()


# ---------------------------------------------------------------------- parent: all variants, table
class Child:
    """One variant in its own fresh process (this script with ``--variant``), driven over pipes."""

    def __init__(self, args, variant: str, folder: Path):
        self.variant, self.result_file = variant, folder / f"{variant}.json"
        argv = [sys.executable, str(Path(__file__).resolve()),
                "--layers", str(args.layers), "--hidden", str(args.hidden), "--heads", str(args.heads),
                "--vocab-size", str(args.vocab_size), "--batch-size", str(args.batch_size),
                "--length", str(args.length), "--context", str(args.context), "--repeat", str(args.repeat),
                "--device", args.device, "--dtype", args.dtype, "--seed", str(args.seed),
                "--threads", str(args.threads), "--chunk-mb", repr(args.chunk_mb), "--head-dtype", args.head_dtype,
                "--variant", variant, "--result-file", str(self.result_file)]
        # When quiet, the child's stderr (warnings, a traceback) is kept in a file for an error message.
        self.log = open(folder / f"{variant}.stderr", "w+") if args.quiet else None
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, bufsize=1)

    def receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            rc = self.proc.wait()
            err = ""
            if self.log is not None:
                self.log.seek(0)
                err = ":\n" + self.log.read()[-4000:]
            raise RuntimeError(f"variant {self.variant!r} failed (exit status {rc}){err}")
        return json.loads(line)

    def call(self, cmd: str) -> dict:
        try:
            self.proc.stdin.write(cmd + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the child is gone; receive() reports it
        return self.receive()

    def result(self) -> dict:
        self.call("finish")
        self.proc.wait()
        return json.loads(self.result_file.read_text())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fh in (self.proc.stdin, self.proc.stdout, self.log):
            if fh is not None:
                fh.close()


def measure(args) -> dict:
    """All variants, each in its own process; the calls are interleaved round by round.

    Round 0 is the warm-up (one call each); rounds 1..repeat are timed. The order rotates
    from round to round, and only one process computes at a time, so a change in the
    machine's load affects all variants alike.
    """
    q = args.quiet
    measured = {}
    with tempfile.TemporaryDirectory(prefix="llm_scoring.") as folder:
        children = []
        try:
            _log(f"starting {len(VARIANTS)} processes (one per variant) and building the model in each", q)
            t0 = time.perf_counter()
            for v in VARIANTS:
                children.append(Child(args, v, Path(folder)))
            for c in children:
                c.receive()
            _log(f"built in {time.perf_counter() - t0:.1f} s", q)
            runs = {v: [] for v in VARIANTS}
            rounds = 1 + args.repeat
            with tqdm(total=rounds * len(children), desc="calls", unit="call", file=sys.stderr, disable=q) as bar:
                for r in range(rounds):
                    for c in children[r % len(children):] + children[:r % len(children)]:
                        bar.set_postfix_str(f"{'warm-up' if r == 0 else f'round {r}/{args.repeat}'}: {c.variant}")
                        time.sleep(PAUSE_S)  # let the previous process's threads go idle
                        runs[c.variant].append(c.call("run")["time_s"])
                        bar.update()
            for c in children:
                times = runs[c.variant]
                measured[c.variant] = {"time_s": min(times[1:]), "median_s": float(np.median(times[1:])),
                                       "runs_s": times[1:], "first_call_s": times[0], **c.result()}
        finally:
            for c in children:
                c.close()
    return measured


def _max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


_ratio = C.ratio


_versions = C.versions


def run(args) -> dict:
    B, L, V, s = args.batch_size, args.length, args.vocab_size, args.context
    q = args.quiet
    _log(f"GPT-2-shaped model: {args.layers} layers, hidden {args.hidden}, vocab {V:,}; "
         f"batch {B} x length {L}; {args.dtype} on {args.device}, {args.threads} threads", q)
    measured = measure(args)
    for k in VARIANTS:
        m = measured[k]
        _log(f"{k}: best {m['time_s']:.3f} s, peak +{m['peak_mib']:.1f} MiB", q)

    arrays = {k: v.pop("arrays") for k, v in measured.items()}
    tol = AGREEMENT_TOL[args.dtype]
    agreement = {
        "log_prob_max_abs_diff": _max_abs(arrays["endorm"]["log_probs"], arrays["naive"]["log_probs"]),
        "reward_max_abs_diff": _max_abs(arrays["endorm"]["rewards"], arrays["naive"]["rewards"]),
        "selected_logit_max_abs_diff": _max_abs(arrays["endorm"]["selected_logits"],
                                                arrays["bare"]["selected_logits"]),
        "tolerance": tol,
        "mean_log_prob": float(np.mean(arrays["endorm"]["log_probs"])),
    }
    agreement["ok"] = max(agreement[k] for k in ("log_prob_max_abs_diff", "reward_max_abs_diff",
                                                 "selected_logit_max_abs_diff")) < tol

    bare, endo, naive = measured["bare"], measured["endorm"], measured["naive"]
    time_ratio = _ratio(endo["time_s"], bare["time_s"])
    memory_ratio = _ratio(endo["peak_mib"], bare["peak_mib"])
    itemsize = 2 if args.dtype == "bfloat16" else 4
    head_rows = B * (L - s + 1)
    chunk_rows = max(1, int(args.chunk_mb * 2**20 // (4 * V)))
    return {
        "config": {"model": "GPT2LMHeadModel (random init)", "layers": args.layers, "hidden": args.hidden,
                   "heads": args.heads, "vocab_size": V, "n_positions": max(1024, L), "params": bare["params"],
                   "batch_size": B, "length": L, "context_tokens": s, "response_tokens": L - s,
                   "repeat": args.repeat, "device": args.device, "dtype": args.dtype, "seed": args.seed,
                   "threads": args.threads, "chunk_mb": args.chunk_mb, "head_dtype": args.head_dtype, "quick": args.quick,
                   "attn_implementation": bare["attn_implementation"],
                   "logits_mib": B * L * V * itemsize / MIB, "logits_float32_mib": B * L * V * 4 / MIB,
                   # EndoRM's LM head: one row per response token plus one (the value after it), in
                   # chunks of chunk_mb MiB of float32 logits (as llm/reward.py computes them)
                   "endorm_head_rows": head_rows, "endorm_chunk_rows": chunk_rows,
                   "endorm_chunks": -(-head_rows // chunk_rows)},
        "memory_method": bare["memory_method"],
        "variants": measured,
        "bare_s": bare["time_s"], "endorm_s": endo["time_s"], "naive_s": naive["time_s"],
        "bare_peak_mib": bare["peak_mib"], "endorm_peak_mib": endo["peak_mib"], "naive_peak_mib": naive["peak_mib"],
        "time_ratio": time_ratio,
        "memory_ratio": memory_ratio,
        "naive_time_ratio": _ratio(naive["time_s"], bare["time_s"]),
        "naive_memory_ratio": _ratio(naive["peak_mib"], bare["peak_mib"]),
        "endorm_tokens_per_s": B * L / endo["time_s"],
        "agreement": agreement,
        "goals": {"time_ratio_max": TIME_RATIO_GOAL, "memory_ratio_max": MEMORY_RATIO_GOAL},
        "passed": {"time_ratio": bool(time_ratio <= TIME_RATIO_GOAL),
                   "memory_ratio": bool(memory_ratio <= MEMORY_RATIO_GOAL)},
        "environment": {**_versions(), "torch_runtime": bare["torch"]},
    }


def format_table(r: dict) -> str:
    def status(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    c, v, a, n = r["config"], r["variants"], r["agreement"], r["config"]["repeat"]
    rows = [(f"{LABELS[k]} time", f"{v[k]['time_s']:.3f} s", f"best of {n}", "") for k in VARIANTS]
    rows += [
        ("time ratio EndoRM / bare", f"{r['time_ratio']:.3f}", f"<= {TIME_RATIO_GOAL:g}",
         status(r["passed"]["time_ratio"])),
        ("  (naive / bare, info)", f"{r['naive_time_ratio']:.3f}", "", ""),
    ]
    rows += [(f"{LABELS[k]} peak memory", f"{v[k]['peak_mib']:.1f} MiB", "", "") for k in VARIANTS]
    rows += [
        ("memory ratio EndoRM / bare", f"{r['memory_ratio']:.3f}", f"<= {MEMORY_RATIO_GOAL:g}",
         status(r["passed"]["memory_ratio"])),
        ("  (naive / bare, info)", f"{r['naive_memory_ratio']:.3f}", "", ""),
        ("check: |log pi EndoRM - naive| max", f"{a['log_prob_max_abs_diff']:.1e}", f"< {a['tolerance']:g}",
         "ok" if a["log_prob_max_abs_diff"] < a["tolerance"] else "FAIL"),
        ("check: |r_hat EndoRM - naive| max", f"{a['reward_max_abs_diff']:.1e}", f"< {a['tolerance']:g}",
         "ok" if a["reward_max_abs_diff"] < a["tolerance"] else "FAIL"),
        ("check: |f[y] EndoRM - bare logits| max", f"{a['selected_logit_max_abs_diff']:.1e}",
         f"< {a['tolerance']:g}", "ok" if a["selected_logit_max_abs_diff"] < a["tolerance"] else "FAIL"),
    ]
    lines = C.table(
        f"LLM scoring benchmark: random GPT-2-shaped model ({c['layers']} layers, hidden {c['hidden']}, "
        f"{c['heads']} head{'s' if c['heads'] > 1 else ''}, vocab {c['vocab_size']:,}; {c['params'] / 1e6:.1f}M parameters), {c['dtype']} on "
        f"{c['device']}, {c['threads']} threads; batch {c['batch_size']} x length {c['length']} "
        f"(context {c['context_tokens']} + response {c['response_tokens']}), seed {c['seed']}", rows)
    lines += [
        "",
        "Each variant ran in its own process, one call at a time, interleaved round by round after a warm-up;",
        f"peak memory = peak above that process's RSS with model and input built ({r['memory_method']}).",
        f"Full logits [B, L, V] take {c['logits_mib']:.1f} MiB in {c['dtype']}; EndoRM applies the LM head "
        f"in chunks of {c['chunk_mb']:g} MiB of float32 logits (head_dtype={c.get('head_dtype', 'float32')}).",
    ]
    if c["quick"]:
        lines.append("NOTE: --quick size; the goals are meant for the default, realistic sizes.")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.variant is not None:  # internal: one variant in this fresh process
        serve(args)
        return 0
    result = run(args)
    ok = (all(result["passed"].values()) and result["agreement"]["ok"])
    return C.finish(args, result, format_table(result), "llm_scoring", ok)


if __name__ == "__main__":
    sys.exit(main())
