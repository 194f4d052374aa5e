"""Benchmark: EndoRM scoring against the unique-token limit, naive per-item scoring and TRL, in four workload shapes.

Usage::

    python benchmarks/bench_throughput.py [--layers 6] [--hidden 512] [--vocab-size 50257]
                                          [--shapes rmbench,rewardbench,dsp,long] [--batch-size 8]
                                          [--repeat 6] [--dtype float32|bfloat16]
                                          [--head-dtype float32|model] [--seed 0] [--threads N]
                                          [--quick] [--json PATH] [--strict] [--quiet]

The model: a randomly initialized GPT-2-shaped causal LM (defaults: 6 layers, hidden 512,
8 heads, vocabulary 50,257, ``n_positions`` max(1024, the longest text); seeded with
``--seed``), in ``--dtype`` on the CPU, in eval mode. The tokenizer is
``endorm.llm.testing.build_tokenizer()`` (a byte-level BPE of 320 entries with a ChatML chat
template); texts are seeded random words cut to about the stated number of tokens; every item
is laid out with the chat template (``endorm.llm.templates.encode``, the end-of-turn token
scored, as ``EndogenousReward``'s defaults).

The workload shapes (``--shapes``, comma-separated; ``--quick`` shrinks all of them):

* ``rmbench``: 2 prompts of ~200 tokens, each with 3 chosen + 3 rejected responses of ~300
  (0.75-1.25 x) tokens: 12 items.
* ``rewardbench``: 8 prompts of ~40 tokens, each with 2 responses of ~150 tokens: 16 items.
* ``dsp``: 1 query of ~40 tokens with 4 responses of ~150 tokens, each scored under 4 domain
  system prompts of ~60 tokens: 16 items (system, query, response), 4 distinct prefixes.
* ``long``: 2 items of ~2,000 tokens (a 100-token prompt, a ~1,900-token response), nothing shared.

The variants, each returning per item the score (Eq. 12: sum of r_hat, alpha 1, terminal
"zero") and the sum of the response's logits f_t[y_t]:

* ``endorm``: ``EndogenousReward(model, tokenizer, batch_size=--batch-size,
  progress=False).token_rewards(prompts, responses, system)`` with its defaults otherwise
  (``--head-dtype`` is passed only when given); tokenization is inside the timed call.
* ``plain``: the same with ``share_prompt=False`` (identical items still once; whole texts,
  batched): the path the cost rule falls back to, so endorm / plain shows whether sharing paid.
* ``limit``: the floor, not a scorer: one bare transformer forward over the UNIQUE tokens (each
  distinct prefix, the ids before the response, once, all prefixes in one right-padded batch
  with ``use_cache=True``; then each response once, in batches of ``--batch-size``, continuing
  from its prefix's KV cache rows) plus the LM-head matmul over the n response positions
  (in chunks of 64 MiB of logits, keeping only f_t[y_t]; no logsumexp). It gives no score.
* ``naive``: per item, ``model(ids).logits.float()``, a full ``log_softmax``, gather of the
  response tokens; score = sum log pi + logsumexp at the first response position (= V(s_1)).
* ``trl``: right-padded batches of ``--batch-size`` whole texts, ``model(ids, attention_mask,
  logits_to_keep=K)`` (K from the earliest response start), then TRL's own
  ``selective_log_softmax`` (imported from ``trl.trainer.utils``, never copied); score as naive.

Processes, time, memory: each variant lives in its own fresh process (this script with a hidden
``--variant`` flag) that builds the model and all shapes' items and then obeys commands on
stdin; one process computes at a time. Per shape: round 0 calls each variant once (warm-up),
rounds 1..``--repeat`` once more each, timed, the order rotating from round to round. A time
ratio A / B is the MEDIAN over rounds of A's time / B's time in the same round (paired): on
this shared machine a call takes its normal time or up to about 2-3x it, in periods that
slow every variant alike, so pairing calls of the same round cancels the slow drift and the
median drops the spikes; the ratio of the best times and of the median times are printed
beside it, and every run is in the JSON. The tokens
each variant runs through the transformer (``forward_tokens``, padding not counted) are counted
exactly from endorm's plan: the work ratio that no noise moves. Peak memory of a
variant on a shape = peak RSS above the RSS before its warm-up call, measured in that
process as ``benchmarks/llm_scoring.py`` does (``MemoryProbe``: ``VmHWM`` after a
``clear_refs`` reset, reset again before each shape).

Goals (issue 14, for the default sizes): endorm / limit time <= 1.05 (float32) or <= 1.10
(bfloat16); endorm / limit peak memory <= 1.1; max |score endorm - naive| <= 1e-4 (float32;
in bfloat16 the difference is printed, not checked). endorm / naive and endorm / trl are
shown for information; endorm / plain <= 1.05 checks that sharing never loses (issue 14's
"never slower than the plain path"). The limit's f_t[y_t] sums are checked against naive's
the same way.
The table prints PASS/MISS per shape; ``--json PATH`` writes every number atomically. Exit
status 0 unless ``--strict`` and a goal or check is missed.

Changed from the earlier version of this script (one RM-Bench-like shape; naive / batched /
shared items per second): ``--prompts``, ``--per-prompt``, ``--prompt-tokens`` and
``--response-tokens`` are gone (the shapes are fixed; pick them with ``--shapes``); ``--repeat``
now defaults to 6 and paired ratios are reported. Run time: about 5 s per call on 2 CPU cores, so
~35 minutes with the default 6 (4 shapes x 5 variants x (1 + repeat) calls, plus ~5 minutes to
build); memory about 3.5 GB (five processes of ~0.5 GB plus up to ~1.1 GB of logits for naive
and trl).
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
from tqdm import tqdm

VARIANTS = ("limit", "endorm", "plain", "naive", "trl")
LABELS = {"limit": "unique-token limit (bare forward + head matmul)", "endorm": "EndogenousReward defaults",
          "plain": "EndogenousReward(share_prompt=False)", "naive": "naive per-item full log_softmax",
          "trl": "TRL selective_log_softmax, batched"}
TIME_GOAL = {"float32": 1.05, "bfloat16": 1.10}
MEMORY_GOAL = 1.1
SCORE_TOL = 1e-4
PLAIN_SLACK = 0.05  # endorm / plain above 1.05: prompt sharing lost time on this shape
MIB = 2.0**20
HEAD_CHUNK_MB = 64
PAUSE_S = 0.2
# name: (queries, systems per query (0: none), responses per query, query, system, response tokens)
SHAPES = {"rmbench": (2, 0, 6, 200, 0, 300), "rewardbench": (8, 0, 2, 40, 0, 150),
          "dsp": (1, 4, 4, 40, 60, 150), "long": (2, 0, 1, 100, 0, 1900)}
QUICK_SHAPES = {"rmbench": (2, 0, 4, 30, 0, 12), "rewardbench": (3, 0, 2, 10, 0, 12),
                "dsp": (1, 2, 2, 8, 10, 10), "long": (2, 0, 1, 10, 0, 80)}
DEFAULTS = dict(layers=6, hidden=512, vocab_size=50257, repeat=6)
QUICK = dict(layers=2, hidden=64, vocab_size=1000, repeat=2)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=None, help="transformer layers (default 6)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size n_embd (default 512)")
    p.add_argument("--heads", type=int, default=None, help="attention heads (default hidden // 64, at least 1)")
    p.add_argument("--vocab-size", type=int, default=None, help="vocabulary size (default 50257)")
    p.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated subset of {','.join(SHAPES)}")
    p.add_argument("--batch-size", type=int, default=8, help="batch_size of endorm, trl and the limit (default 8)")
    p.add_argument("--repeat", type=int, default=None, help="timed rounds; time ratios are paired medians (default 6)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"), help="model dtype")
    p.add_argument("--head-dtype", default=None, choices=("float32", "model"),
                   help="EndogenousReward's head_dtype (default: not passed, the engine's default)")
    p.add_argument("--seed", type=int, default=0, help="seed of the model weights and the texts (default 0)")
    p.add_argument("--threads", type=int, default=None, help=f"torch threads (default: the CPUs, {C.cpus()} here)")
    p.add_argument("--quick", action="store_true", help="smoke-test size: 2 layers, hidden 64, vocab 1000, tiny shapes")
    C.output_flags(p, "a goal or a check is missed")
    p.add_argument("--variant", choices=VARIANTS, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    C.fill_defaults(args, QUICK if args.quick else DEFAULTS)
    args.heads = args.heads or max(1, args.hidden // 64)
    args.threads = args.threads or C.cpus()
    args.shape_list = [s.strip() for s in args.shapes.split(",") if s.strip()]
    bad = [s for s in args.shape_list if s not in SHAPES]
    if bad or not args.shape_list:
        p.error(f"--shapes must be a comma-separated subset of {','.join(SHAPES)}, got {args.shapes!r}")
    for key in ("layers", "hidden", "heads", "vocab_size", "batch_size", "repeat", "threads"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.hidden % args.heads:
        p.error("--hidden must be a multiple of --heads")
    return args


def _log(msg: str, quiet: bool) -> None:
    C.log("bench_throughput", msg, quiet)


# ---------------------------------------------------------------------- data and model
def _text(tok, rng, words, n_tokens: int) -> str:
    """Seeded random words cut after about ``n_tokens`` tokens (one tokenization with offsets)."""
    text = " ".join(words[i] for i in rng.integers(len(words), size=n_tokens + 1))
    offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return text[:offsets[min(n_tokens, len(offsets)) - 1][1]]


def build_shape(tok, name: str, spec, seed: int) -> dict:
    """One shape's items: lists ``prompts``, ``responses``, ``system`` (str or None per item)."""
    from endorm.llm.testing import _CORPUS

    words = sorted(set(_CORPUS.split()))
    rng = np.random.default_rng([seed, list(SHAPES).index(name)])
    n_q, n_sys, per_q, q_tok, sys_tok, r_tok = spec
    prompts, responses, system = [], [], []
    for _ in range(n_q):
        query = _text(tok, rng, words, q_tok)
        answers = [_text(tok, rng, words, max(1, round(r_tok * rng.uniform(0.75, 1.25)))) for _ in range(per_q)]
        systems = [_text(tok, rng, words, sys_tok) for _ in range(n_sys)] or [None]
        for s in systems:
            for a in answers:
                prompts.append(query), responses.append(a), system.append(s)
    return {"prompts": prompts, "responses": responses, "system": system}


def encode_shape(tok, shape: dict) -> list:
    """The items as ``endorm.llm.templates.Encoded`` (chat template, end token), cut after the response."""
    from endorm.llm.templates import Encoded, default_template, encode

    template = default_template(tok)
    out = []
    for p, r, s in zip(shape["prompts"], shape["responses"], shape["system"]):
        e = encode(tok, p, r, s, template)
        out.append(Encoded(list(e.input_ids[:e.end]), e.start, e.end))
    return out


def unique_tokens(items) -> int:
    """Tokens the limit runs: each distinct prefix (ids before the response) once, plus every response."""
    return sum(len(p) for p in {tuple(e.input_ids[:e.start]) for e in items}) + sum(e.end - e.start for e in items)


def forward_tokens(rm, items) -> int:
    """Tokens ``rm`` (an ``EndogenousReward``) runs through its transformer for ``items`` by its plan (padding
    not counted): whole texts on the plain path; on the shared path each distinct prefix once per job plus
    every continuation. Deterministic: the work measure beside the noisy times."""
    jobs, _ = rm._plan(items)
    total = 0
    for forward, batch in jobs:
        prefix = getattr(forward, "keywords", {}).get("prefix")
        if prefix is None:
            total += sum(len(items[i].input_ids) for i in batch)
        else:
            seqs = [items[i].input_ids for i in batch]
            total += sum(len(k) for k in {tuple(q[:P]) for q, P in zip(seqs, prefix)})
            total += sum(len(q) - P for q, P in zip(seqs, prefix))
    return total


def build(args):
    """The seeded model, the tokenizer, and per shape its items (texts) and encoded items."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from endorm.llm.testing import build_tokenizer

    tok = build_tokenizer()
    if args.vocab_size < len(tok):
        raise ValueError(f"--vocab-size must be >= {len(tok)} (the tokenizer's size), got {args.vocab_size}")
    specs = QUICK_SHAPES if args.quick else SHAPES
    shapes = {n: build_shape(tok, n, specs[n], args.seed) for n in args.shape_list}
    encoded = {n: encode_shape(tok, s) for n, s in shapes.items()}
    longest = max(len(e.input_ids) for items in encoded.values() for e in items)
    torch.manual_seed(args.seed)
    cfg = GPT2Config(vocab_size=args.vocab_size, n_positions=max(1024, longest + 8), n_embd=args.hidden,
                     n_layer=args.layers, n_head=args.heads, bos_token_id=None, eos_token_id=None)
    model = GPT2LMHeadModel(cfg).to(getattr(torch, args.dtype)).eval()
    return model, tok, shapes, encoded


# ---------------------------------------------------------------------- the variants
def _padded(rows, pad: int):
    """Right-padded ids [B, L] and mask [B, L] (long) from lists of ids."""
    import torch

    ids = torch.full((len(rows), max(map(len, rows))), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, r in enumerate(rows):
        ids[b, :len(r)], mask[b, :len(r)] = torch.tensor(r), 1
    return ids, mask


def _head_selected(model, h, targets):
    """f_t[y_t] for rows ``h`` [N, hidden] and ``targets`` [N]: the LM-head matmul in 64 MiB chunks."""
    import torch

    w = model.lm_head.weight
    step = max(1, int(HEAD_CHUNK_MB * MIB // (w.element_size() * w.shape[0])))
    out = torch.empty(len(targets), dtype=torch.float64)
    for k in range(0, len(targets), step):
        out[k:k + step] = (h[k:k + step] @ w.T).gather(1, targets[k:k + step, None])[:, 0].double()
    return out


def limit_step(model, items, batch_size: int, pad: int) -> list:
    """The floor: unique tokens through the bare transformer, the head matmul on the response rows.

    Returns per item the sum of f_t[y_t] over its response (float).
    """
    import torch

    from endorm.llm.base import cache_keyword

    base, kw = model.transformer, cache_keyword(model.transformer)
    keys = [tuple(e.input_ids[:e.start]) for e in items]
    prefixes = list(dict.fromkeys(keys))
    group = torch.tensor([prefixes.index(k) for k in keys])
    pre_ids, pre_mask = _padded([list(p) for p in prefixes], pad)
    out = base(input_ids=pre_ids, attention_mask=pre_mask, use_cache=True)
    plen = pre_mask.sum(1)
    h_last = out.last_hidden_state[torch.arange(len(prefixes)), plen - 1]     # predicts each first response token
    cache, sums = out[kw], [0.0] * len(items)
    order = sorted(range(len(items)), key=lambda i: -(items[i].end - items[i].start))
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        resp = [items[i].input_ids[items[i].start:items[i].end] for i in idx]
        ids, mask = _padded(resp, pad)
        g = group[idx]
        kv = copy.deepcopy(cache)
        kv.batch_select_indices(g)
        pos = plen[g][:, None] + torch.arange(ids.shape[1])[None]
        h = base(input_ids=ids, attention_mask=torch.cat([pre_mask[g], mask], 1), position_ids=pos,
                 use_cache=True, **{kw: kv}).last_hidden_state
        rows, tgts, owner = [], [], []
        for b, (i, r) in enumerate(zip(idx, resp)):
            rows += [h_last[g[b]][None], h[b, :len(r) - 1]]
            tgts += r
            owner += [i] * len(r)
        sel = _head_selected(model, torch.cat(rows), torch.tensor(tgts))
        for i, v in zip(owner, sel.tolist()):
            sums[i] += v
    return sums


def naive_step(model, items) -> list:
    """Per item, one forward and a full log_softmax: (score, sum f_t[y_t]) per item."""
    import torch
    import torch.nn.functional as F

    out = []
    for e in items:
        logits = model(input_ids=torch.tensor([e.input_ids]), use_cache=False).logits[0].float()
        logp = F.log_softmax(logits, dim=-1)
        tgt = torch.tensor(e.input_ids[e.start:e.end])[:, None]
        lp = logp[e.start - 1:e.end - 1].gather(1, tgt)
        v1 = torch.logsumexp(logits[e.start - 1], dim=-1)
        out.append((float(lp.double().sum() + v1.double()),
                    float(logits[e.start - 1:e.end - 1].gather(1, tgt).double().sum())))
    return out


def trl_step(model, items, batch_size: int, pad: int) -> list:
    """Batched whole texts and TRL's ``selective_log_softmax``: (score, None) per item."""
    import torch
    from trl.trainer.utils import selective_log_softmax

    out = [None] * len(items)
    order = sorted(range(len(items)), key=lambda i: -len(items[i].input_ids))
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        ids, mask = _padded([items[i].input_ids for i in idx], pad)
        first = min(items[i].start for i in idx) - 1                 # earliest position predicting a response token
        keep = ids.shape[1] - first
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=keep).logits
        logps = selective_log_softmax(logits[:, :-1], ids[:, first + 1:])  # [B, keep - 1]: log pi of ids[t + 1]
        for b, i in enumerate(idx):
            e = items[i]
            lp = logps[b, e.start - 1 - first:e.end - 1 - first].double().sum()
            v1 = torch.logsumexp(logits[b, e.start - 1 - first].float(), dim=-1).double()
            out[i] = (float(lp + v1), None)
    return out


def make_step(args, model, tok, shapes, encoded, variant: str):
    """shape name -> (the measured call, its output -> {"scores": [...] or None, "selected_sums": [...] or None})."""
    pad = int(tok.pad_token_id if tok.pad_token_id is not None else 0)
    if variant in ("endorm", "plain"):
        from endorm.llm.reward import EndogenousReward

        kw = {} if args.head_dtype is None else {"head_dtype": args.head_dtype}
        rm = EndogenousReward(model, tok, batch_size=args.batch_size, progress=False,
                              share_prompt=variant == "endorm", **kw)

        def call(n):
            s = shapes[n]
            return rm.token_rewards(s["prompts"], s["responses"], s["system"])

        def reduce(n, out):
            return {"scores": [t.score for t in out],
                    "selected_sums": [float(np.sum(t.log_probs * rm.alpha + t.values)) for t in out],
                    "forward_tokens": forward_tokens(rm, encoded[n])}
        return call, reduce
    if variant == "limit":
        return (lambda n: limit_step(model, encoded[n], args.batch_size, pad),
                lambda n, out: {"scores": None, "selected_sums": out, "forward_tokens": unique_tokens(encoded[n])})
    fn = naive_step if variant == "naive" else (lambda m, it: trl_step(m, it, args.batch_size, pad))
    return (lambda n: fn(model, encoded[n]),
            lambda n, out: {"scores": [o[0] for o in out],
                            "selected_sums": None if out[0][1] is None else [o[1] for o in out],
                            "forward_tokens": sum(len(e.input_ids) for e in encoded[n])})


def serve(args) -> None:
    """Child process: one variant. Commands (JSON lines on stdin): run SHAPE (the first call per shape opens
    the memory window), result SHAPE (peak memory and the first call's outputs), exit."""
    import torch
    from llm_scoring import MemoryProbe

    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    torch.set_num_threads(args.threads)
    model, tok, shapes, encoded = build(args)
    call, reduce = make_step(args, model, tok, shapes, encoded, args.variant)
    probe, first, reduced = MemoryProbe(torch.device("cpu")), {}, {}
    channel.write(json.dumps({"ready": True, "params": sum(p.numel() for p in model.parameters())}) + "\n")
    with torch.inference_mode():
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["cmd"] == "exit":
                return
            shape = cmd["shape"]
            if cmd["cmd"] == "run":
                if shape not in reduced:
                    probe.start()
                gc.collect()
                t0 = time.perf_counter()
                out = call(shape)
                elapsed = time.perf_counter() - t0
                if shape not in reduced:
                    reduced[shape], first[shape] = reduce(shape, out), probe.peak()
                del out
                msg = {"time_s": elapsed}
            else:
                peak = probe.peak()
                probe.stop()
                msg = {"peak_mib": peak / MIB, "first_call_peak_mib": first[shape] / MIB,
                       "memory_method": probe.method, **reduced[shape]}
            channel.write(json.dumps(msg) + "\n")


# ---------------------------------------------------------------------- parent
class Child:
    """One variant in its own fresh process (this script with ``--variant``), driven over pipes."""

    def __init__(self, args, variant: str, argv: list, folder: Path):
        self.variant = variant
        self.log = open(folder / f"{variant}.stderr", "w+") if args.quiet else None
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *argv, "--variant", variant],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     bufsize=1)

    def receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            rc, err = self.proc.wait(), ""
            if self.log is not None:
                self.log.seek(0)
                err = ":\n" + self.log.read()[-4000:]
            raise RuntimeError(f"variant {self.variant!r} failed (exit status {rc}){err}")
        return json.loads(line)

    def call(self, **cmd) -> dict:
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the child is gone; receive() reports it
        return self.receive()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait()
        for fh in (self.proc.stdout, self.log):
            if fh is not None:
                fh.close()


def _child_argv(args) -> list:
    argv = ["--layers", str(args.layers), "--hidden", str(args.hidden), "--heads", str(args.heads),
            "--vocab-size", str(args.vocab_size), "--shapes", ",".join(args.shape_list),
            "--batch-size", str(args.batch_size), "--repeat", str(args.repeat), "--dtype", args.dtype,
            "--seed", str(args.seed), "--threads", str(args.threads)]
    argv += ["--head-dtype", args.head_dtype] if args.head_dtype else []
    return argv + (["--quick"] if args.quick else [])


def measure(args) -> tuple:
    """All variants in their own processes; per shape, rounds interleaved. (measured per shape, params)."""
    q, measured = args.quiet, {}
    with tempfile.TemporaryDirectory(prefix="bench_throughput.") as folder:
        children = []
        try:
            t0 = time.perf_counter()
            for v in VARIANTS:
                children.append(Child(args, v, _child_argv(args), Path(folder)))
            params = [c.receive() for c in children][0]["params"]
            _log(f"{len(children)} processes built the model and the items in {time.perf_counter() - t0:.1f} s", q)
            rounds = 1 + args.repeat
            total = rounds * len(children) * len(args.shape_list)
            with tqdm(total=total, desc="calls", unit="call", file=sys.stderr, disable=q) as bar:
                for shape in args.shape_list:
                    runs = {v: [] for v in VARIANTS}
                    for r in range(rounds):
                        for c in children[r % len(children):] + children[:r % len(children)]:
                            bar.set_postfix_str(f"{shape} {'warm-up' if r == 0 else f'round {r}'}: {c.variant}")
                            time.sleep(PAUSE_S)  # let the previous process's threads go idle
                            runs[c.variant].append(c.call(cmd="run", shape=shape)["time_s"])
                            bar.update()
                    measured[shape] = {c.variant: {"median_s": float(np.median(runs[c.variant][1:])),
                                                   "best_s": min(runs[c.variant][1:]), "runs_s": runs[c.variant][1:],
                                                   "first_call_s": runs[c.variant][0],
                                                   **c.call(cmd="result", shape=shape)} for c in children}
        finally:
            for c in children:
                c.close()
    return measured, params


def _max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def shape_result(args, name: str, items, m: dict) -> dict:
    """One shape's config, variants, ratios, checks and pass flags."""
    spec = (QUICK_SHAPES if args.quick else SHAPES)[name]
    resp = [e.end - e.start for e in items]
    ratio = C.ratio
    def paired(v):  # the median over rounds of endorm's time / v's time in the same round
        return float(np.median(np.divide(m["endorm"]["runs_s"], m[v]["runs_s"])))

    ratios = {"endorm_over_limit": paired("limit"), "endorm_over_naive": paired("naive"),
              "endorm_over_trl": paired("trl"), "endorm_over_plain": paired("plain"),
              "endorm_over_limit_median": ratio(m["endorm"]["median_s"], m["limit"]["median_s"]),
              "endorm_over_limit_best": ratio(m["endorm"]["best_s"], m["limit"]["best_s"]),
              "tokens_endorm_over_limit": ratio(m["endorm"]["forward_tokens"], m["limit"]["forward_tokens"]),
              "tokens_plain_over_limit": ratio(m["plain"]["forward_tokens"], m["limit"]["forward_tokens"]),
              "memory_endorm_over_limit": ratio(m["endorm"]["peak_mib"], m["limit"]["peak_mib"]),
              "memory_naive_over_limit": ratio(m["naive"]["peak_mib"], m["limit"]["peak_mib"]),
              "memory_trl_over_limit": ratio(m["trl"]["peak_mib"], m["limit"]["peak_mib"])}
    ref = m["naive"]
    agreement = {"endorm_max_abs_score_diff": _max_abs(m["endorm"]["scores"], ref["scores"]),
                 "plain_max_abs_score_diff": _max_abs(m["plain"]["scores"], ref["scores"]),
                 "trl_max_abs_score_diff": _max_abs(m["trl"]["scores"], ref["scores"]),
                 "endorm_max_abs_selected_sum_diff": _max_abs(m["endorm"]["selected_sums"], ref["selected_sums"]),
                 "limit_max_abs_selected_sum_diff": _max_abs(m["limit"]["selected_sums"], ref["selected_sums"]),
                 "tolerance": SCORE_TOL, "checked": args.dtype == "float32",
                 "mean_score": float(np.mean(ref["scores"]))}
    agreement["ok"] = (not agreement["checked"]) or max(
        v for k, v in agreement.items() if k.endswith("_diff")) <= SCORE_TOL
    passed = {"time": bool(ratios["endorm_over_limit"] <= TIME_GOAL[args.dtype]),
              "not_slower_than_plain": bool(ratios["endorm_over_plain"] <= 1.0 + PLAIN_SLACK),
              "memory": bool(ratios["memory_endorm_over_limit"] <= MEMORY_GOAL)}
    return {"config": {"queries": spec[0], "systems_per_query": spec[1], "responses_per_query": spec[2],
                       "query_tokens": spec[3], "system_tokens": spec[4], "response_tokens": spec[5],
                       "items": len(items), "distinct_prefixes": len({tuple(e.input_ids[:e.start]) for e in items}),
                       "total_tokens": int(sum(e.end for e in items)), "unique_tokens": unique_tokens(items),
                       "response_tokens_total": int(sum(resp)), "context_tokens_mean": float(np.mean(
                           [e.start for e in items])), "response_tokens_mean": float(np.mean(resp))},
            "variants": m, "ratios": ratios, "agreement": agreement, "passed": passed}


def run(args) -> dict:
    """Measure every shape and variant; the full result dict (also what ``--json`` writes)."""
    from endorm.llm.testing import build_tokenizer

    _log(f"GPT-2-shaped model: {args.layers} layers, hidden {args.hidden}, vocab {args.vocab_size:,}; {args.dtype}, "
         f"{args.threads} threads; shapes {','.join(args.shape_list)}; {args.repeat} rounds", args.quiet)
    tok = build_tokenizer()
    specs = QUICK_SHAPES if args.quick else SHAPES
    encoded = {n: encode_shape(tok, build_shape(tok, n, specs[n], args.seed)) for n in args.shape_list}
    measured, params = measure(args)
    shapes = {n: shape_result(args, n, encoded[n], measured[n]) for n in args.shape_list}
    method = measured[args.shape_list[0]]["limit"]["memory_method"]
    import torch
    return {"config": {"model": "GPT2LMHeadModel (random init)", "layers": args.layers, "hidden": args.hidden,
                       "heads": args.heads, "vocab_size": args.vocab_size, "params": params, "dtype": args.dtype,
                       "head_dtype": args.head_dtype or "engine default", "batch_size": args.batch_size,
                       "repeat": args.repeat, "seed": args.seed, "threads": args.threads, "quick": args.quick,
                       "shapes": args.shape_list},
            "memory_method": method, "shapes": shapes,
            "goals": {"endorm_over_limit_max": TIME_GOAL[args.dtype], "memory_endorm_over_limit_max": MEMORY_GOAL,
                      "score_max_abs_diff": SCORE_TOL, "endorm_over_plain_max": 1.0 + PLAIN_SLACK},
            "passed": {n: bool(all(s["passed"].values()) and s["agreement"]["ok"]) for n, s in shapes.items()},
            "environment": {**C.versions(), "trl": C.version("trl"), "torch_threads": args.threads,
                            "cpu_capability": torch.backends.cpu.get_cpu_capability()}}


def format_table(r: dict) -> str:
    """The printed table: one row per shape, ratios with PASS/MISS."""
    c, goal = r["config"], r["goals"]

    def mark(ok):
        return "PASS" if ok else "MISS"

    rows = []
    for name, s in r["shapes"].items():
        k, a, cfg, ok = s["ratios"], s["agreement"], s["config"], s["passed"]
        diff = max(a["endorm_max_abs_score_diff"], a["plain_max_abs_score_diff"], a["trl_max_abs_score_diff"])
        rows.append((f"{name} ({cfg['items']} items, {cfg['unique_tokens']}/{cfg['total_tokens']} unique tok)",
                     f"{k['endorm_over_limit']:.2f} {mark(ok['time'])}", f"{k['endorm_over_limit_best']:.2f}",
                     f"{k['endorm_over_limit_median']:.2f}",
                     f"{k['tokens_endorm_over_limit']:.3f}",
                     f"{k['endorm_over_plain']:.2f} {mark(ok['not_slower_than_plain'])}",
                     f"{k['endorm_over_naive']:.2f}", f"{k['endorm_over_trl']:.2f}",
                     f"{k['memory_endorm_over_limit']:.2f} {mark(ok['memory'])}",
                     f"{diff:.1e} {('ok' if a['ok'] else 'FAIL') if a['checked'] else 'info'}",
                     f"{s['variants']['limit']['best_s']:.3f}"))
    head = ("workload", "endorm/limit", "(best)", "(medians)", "tokens endorm/limit", "endorm/plain", "endorm/naive",
            "endorm/trl", "mem endorm/limit", "max|score diff|", "limit s")
    w = [max(len(x[i]) for x in rows + [head]) for i in range(len(head))]
    lines = [f"EndoRM throughput: random GPT-2-shaped model ({c['layers']} layers, hidden {c['hidden']}, vocab "
             f"{c['vocab_size']:,}; {c['params'] / 1e6:.1f}M parameters), {c['dtype']} on cpu, {c['threads']} threads, "
             f"head_dtype {c['head_dtype']}, batch_size {c['batch_size']}; time ratios: the median over "
             f"{c['repeat']} interleaved rounds of the two variants' times in the same round (the ratio of the best "
             "times and of the median times beside it)",
             "", "  ".join(h.ljust(w[i]) for i, h in enumerate(head)), "  ".join("-" * x for x in w)]
    lines += ["  ".join(x.ljust(w[i]) for i, x in enumerate(row)).rstrip() for row in rows]
    lines += ["", f"Goals: endorm/limit <= {goal['endorm_over_limit_max']:g} (time), peak memory endorm/limit <= "
              f"{goal['memory_endorm_over_limit_max']:g}, endorm/plain <= {goal['endorm_over_plain_max']:g} "
              f"(sharing never loses), |score endorm, plain or trl - naive| <= {goal['score_max_abs_diff']:g} "
              "(float32 only). tokens: what each runs through the transformer, padding not counted (exact, "
              f"not timed). Each variant in its own process; peak memory above its RSS before the shape's "
              f"first call ({r['memory_method']})."]
    if c["quick"]:
        lines.append("NOTE: --quick size; the goals are meant for the default, realistic sizes.")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.variant is not None:  # internal: one variant in this fresh process
        serve(args)
        return 0
    result = run(args)
    ok = all(result["passed"].values())
    return C.finish(args, result, format_table(result), "bench_throughput", ok)


if __name__ == "__main__":
    sys.exit(main())
