"""Benchmark: ``endorm serve`` under N concurrent clients against direct in-process batched scoring.

Usage::

    python benchmarks/serve_load.py [--clients 16] [--requests-per-client 3] [--max-seconds 600]
                                    [--layers 4] [--hidden 256] [--vocab-size 32000]
                                    [--prompt-tokens 200] [--response-tokens 300] [--per-prompt 6]
                                    [--max-wait-ms 20] [--max-batch-tokens 16384] [--batch-size 8]
                                    [--seed 0] [--quick] [--json PATH] [--strict] [--quiet]

The model: a randomly initialized GPT-2-shaped causal LM (``--layers``, ``--hidden``,
``--vocab-size``) with ``endorm.llm.testing.build_tokenizer()``'s ChatML tokenizer, written to a
temporary folder. The workload is RM-Bench-shaped: each request is one prompt of about
``--prompt-tokens`` tokens with ``--per-prompt`` responses (3 chosen + 3 rejected) of about
``--response-tokens`` tokens (seeded random words, 0.75-1.25x), sent as endorm's ``POST /score``
(``{"prompts": [p] * 6, "responses": [...]}``); every request has its own prompt.

Two measurements of the same items, one after the other on this machine:

* ``direct``: ``EndogenousReward(model, tok, batch_size=--batch-size).score`` on all the
  requests' items in one call, in this process (the batched library, prompt sharing on): timed
  once before the served run and once after it (a warm-up first); the mean of the two is the
  reference, so a slow period of this shared machine weighs on both sides alike.
* ``served``: ``endorm serve --port 0 --max-wait-ms M --max-batch-tokens N`` in a subprocess
  (loopback only), then ``--clients`` threads, each with its own ``httpx.Client``, sending its
  ``--requests-per-client`` requests one after the other (a client waits for its answer); the
  wall time from the first send to the last answer, after one warm-up request. Sending stops
  after ``--max-seconds`` (what was not sent is counted and reported).

Printed: items/s of both, their ratio (goal: served / direct >= 0.8 with 16 clients), the
latency p50/p99 of the requests (client side, seconds), and the mean and max items per scoring
call the server reached (its ``GET /metrics``). Scores of the served run are checked against
the direct ones (max |difference|, tolerance 1e-4). ``--json PATH`` writes every number.
Run time with the defaults: about 3-5 minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

RATIO_GOAL = 0.8
SCORE_TOL = 1e-4
DEFAULTS = dict(clients=16, requests_per_client=3, layers=4, hidden=256, vocab_size=32000, prompt_tokens=200,
                response_tokens=300, per_prompt=6)
QUICK = dict(clients=4, requests_per_client=2, layers=2, hidden=64, vocab_size=1000, prompt_tokens=20,
             response_tokens=12, per_prompt=4)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, help_ in (("clients", "concurrent clients (default 16, at most 64)"),
                        ("requests_per_client", "requests each client sends, one after the other (default 3)"),
                        ("layers", "transformer layers (default 4)"), ("hidden", "hidden size (default 256)"),
                        ("vocab_size", "vocabulary size (default 32000)"),
                        ("prompt_tokens", "tokens per prompt (default 200)"),
                        ("response_tokens", "tokens per response (default 300, 0.75-1.25x)"),
                        ("per_prompt", "responses per request (default 6: RM-Bench's 3 chosen + 3 rejected)")):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=None, help=help_)
    p.add_argument("--max-seconds", type=float, default=600.0, help="stop sending after this long (default 600)")
    p.add_argument("--max-wait-ms", type=float, default=20.0, help="the server's --max-wait-ms (default 20)")
    p.add_argument("--max-batch-tokens", type=int, default=16384, help="the server's --max-batch-tokens")
    p.add_argument("--batch-size", type=int, default=8, help="items per forward, server and direct (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the texts (default 0)")
    p.add_argument("--quick", action="store_true", help="smoke-test size (seconds)")
    C.output_flags(p, "the goal or the check is missed")
    args = p.parse_args(argv)
    C.fill_defaults(args, QUICK if args.quick else DEFAULTS)
    for key in list(DEFAULTS) + ["batch_size", "max_batch_tokens"]:
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.clients > 64:
        p.error("--clients must be <= 64 (a bounded load on loopback)")
    if not args.max_seconds > 0 or args.max_wait_ms < 0:
        p.error("--max-seconds must be > 0 and --max-wait-ms >= 0")
    return args


def build_model(args, folder: Path) -> Path:
    """The seeded random GPT-2-shaped model and the ChatML tokenizer, saved to ``folder``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from endorm.llm.testing import build_tokenizer

    tok = build_tokenizer()
    torch.manual_seed(args.seed)
    cfg = GPT2Config(vocab_size=max(args.vocab_size, len(tok)), n_positions=1024, n_embd=args.hidden,
                     n_layer=args.layers, n_head=max(1, args.hidden // 64), bos_token_id=None,
                     eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def requests_of(args, tok) -> list:
    """The requests' bodies: one prompt, ``per_prompt`` responses each (seeded random words cut to about the
    stated number of tokens, as ``bench_throughput.py`` makes them)."""
    from bench_throughput import _text

    from endorm.llm.testing import _CORPUS

    words = sorted(set(_CORPUS.split()))
    rng = np.random.default_rng(args.seed)
    out = []
    for _ in range(args.clients * args.requests_per_client):
        prompt = _text(tok, rng, words, args.prompt_tokens)
        responses = [_text(tok, rng, words, max(1, round(args.response_tokens * rng.uniform(0.75, 1.25))))
                     for _ in range(args.per_prompt)]
        out.append({"prompts": [prompt] * args.per_prompt, "responses": responses})
    return out


class Direct:
    """All items in one ``score`` call in this process (``time()``: one timed call; a warm-up at the start)."""

    def __init__(self, args, folder: Path, bodies):
        from endorm.llm.reward import EndogenousReward

        self.rm = EndogenousReward.from_pretrained(folder, batch_size=args.batch_size, progress=False)
        self.prompts = [p for b in bodies for p in b["prompts"]]
        self.responses = [r for b in bodies for r in b["responses"]]
        self.rm.score(self.prompts[:2], self.responses[:2])
        self.runs, self.scores = [], None

    def time(self) -> None:
        t0 = time.perf_counter()
        self.scores = self.rm.score(self.prompts, self.responses)
        self.runs.append(time.perf_counter() - t0)

    def result(self) -> dict:
        return {"seconds": float(np.mean(self.runs)), "runs_s": self.runs, "items": len(self.prompts),
                "scores": self.scores}


class Server:
    def __init__(self, args, folder: Path):
        cmd = [sys.executable, "-m", "endorm.cli", "serve", "--model", str(folder), "--port", "0",
               "--max-wait-ms", str(args.max_wait_ms), "--max-batch-tokens", str(args.max_batch_tokens),
               "--batch-size", str(args.batch_size)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if "listening on http://127.0.0.1:" not in line:
            self.proc.kill()
            raise RuntimeError(f"endorm serve did not start (exit {self.proc.wait()}): {line!r}")
        self.url = "http://127.0.0.1:" + line.split("http://127.0.0.1:")[1].split(" ")[0]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def served(args, folder: Path, bodies) -> dict:
    """``--clients`` threads sending their requests to ``endorm serve``; throughput, latency, batch sizes."""
    import httpx
    from tqdm import tqdm

    server = Server(args, folder)
    try:
        with httpx.Client(base_url=server.url, timeout=600) as c:
            c.post("/score", json=bodies[0]).raise_for_status()  # warm-up
            before = c.get("/metrics").json()
        scores, latency, unsent = [None] * len(bodies), [], [0]
        lock = threading.Lock()
        bar = tqdm(total=len(bodies), desc="requests", unit="req", file=sys.stderr, disable=args.quiet)
        t0 = time.perf_counter()

        def client(k):
            with httpx.Client(base_url=server.url, timeout=600) as c:
                for j in range(args.requests_per_client):
                    i = k * args.requests_per_client + j
                    if time.perf_counter() - t0 > args.max_seconds:
                        with lock:
                            unsent[0] += args.requests_per_client - j
                        return
                    s = time.perf_counter()
                    r = c.post("/score", json=bodies[i])
                    r.raise_for_status()
                    with lock:
                        latency.append(time.perf_counter() - s)
                        scores[i] = r.json()["scores"]
                        bar.update()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        bar.close()
        with httpx.Client(base_url=server.url, timeout=60) as c:
            after = c.get("/metrics").json()
    finally:
        server.stop()
    batches = after["batches"] - before["batches"]
    items = after["items"] - before["items"]
    return {"seconds": wall, "items": sum(len(s) for s in scores if s is not None), "requests_unsent": unsent[0],
            "latency_p50_s": float(np.percentile(latency, 50)), "latency_p99_s": float(np.percentile(latency, 99)),
            "scoring_calls": batches, "mean_items_per_call": items / max(1, batches),
            "server_scoring_s": after["scoring_s"] - before["scoring_s"],
            "max_items_per_call": after["batch_items"]["max"], "scores": scores}


def run(args) -> dict:
    from endorm.llm.testing import build_tokenizer

    with tempfile.TemporaryDirectory(prefix="serve_load.") as tmp:
        folder = build_model(args, Path(tmp) / "model")
        bodies = requests_of(args, build_tokenizer())
        C.log("serve_load", f"{len(bodies)} requests x {args.per_prompt} items; direct scoring ...", args.quiet)
        direct = Direct(args, folder, bodies)
        direct.time()
        C.log("serve_load", f"{args.clients} clients against endorm serve ...", args.quiet)
        s = served(args, folder, bodies)
        C.log("serve_load", "direct scoring again ...", args.quiet)
        direct.time()
        d = direct.result()
    sent = [(i, x) for i, x in enumerate(s["scores"]) if x is not None]
    flat_served = [v for _, x in sent for v in x]
    flat_direct = [d["scores"][i * args.per_prompt + k] for i, x in sent for k in range(len(x))]
    diff = float(np.max(np.abs(np.subtract(flat_served, flat_direct)))) if sent else float("nan")
    ratio = C.ratio(s["items"] / s["seconds"], d["items"] / d["seconds"])
    return {"config": {k: getattr(args, k) for k in list(DEFAULTS) + ["max_wait_ms", "max_batch_tokens",
                                                                       "batch_size", "seed", "quick", "max_seconds"]},
            "direct": {k: v for k, v in d.items() if k != "scores"} | {"items_per_s": d["items"] / d["seconds"]},
            "served": {k: v for k, v in s.items() if k != "scores"} | {"items_per_s": s["items"] / s["seconds"]},
            "served_over_direct": ratio, "max_abs_score_diff": diff, "goal": RATIO_GOAL,
            "passed": bool(ratio >= RATIO_GOAL and diff <= SCORE_TOL),
            "environment": {**C.versions(), "cpus": C.cpus()}}


def format_table(r: dict) -> str:
    c, d, s = r["config"], r["direct"], r["served"]
    mark = "PASS" if r["served_over_direct"] >= r["goal"] else "MISS"
    lines = [f"endorm serve under load: GPT-2-shaped random model ({c['layers']} layers, hidden {c['hidden']}, vocab "
             f"{c['vocab_size']:,}), {c['clients']} clients x {c['requests_per_client']} requests of 1 prompt "
             f"(~{c['prompt_tokens']} tokens) + {c['per_prompt']} responses (~{c['response_tokens']}); "
             f"--max-wait-ms {c['max_wait_ms']:g}, --max-batch-tokens {c['max_batch_tokens']}, batch_size "
             f"{c['batch_size']}", "",
             f"  direct (one in-process score call, before and after): {d['items']} items in {d['seconds']:.2f} s "
             f"(runs {', '.join(f'{x:.1f}' for x in d['runs_s'])}) = {d['items_per_s']:.1f} items/s",
             f"  served ({c['clients']} concurrent clients):     {s['items']} items in {s['seconds']:.2f} s = "
             f"{s['items_per_s']:.1f} items/s",
             f"  served / direct = {r['served_over_direct']:.2f} {mark} (goal >= {r['goal']:g})",
             f"  latency per request: p50 {s['latency_p50_s']:.2f} s, p99 {s['latency_p99_s']:.2f} s",
             f"  items per scoring call: mean {s['mean_items_per_call']:.1f}, max {s['max_items_per_call']} "
             f"({s['scoring_calls']} calls, {s['server_scoring_s']:.1f} s of scoring in the server)",
             f"  max |score served - direct| = {r['max_abs_score_diff']:.1e} (tolerance {SCORE_TOL:g})"]
    if s["requests_unsent"]:
        lines.append(f"  NOTE: {s['requests_unsent']} requests were not sent (--max-seconds {c['max_seconds']:g})")
    if c["quick"]:
        lines.append("NOTE: --quick size; the goal is meant for the default sizes.")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    return C.finish(args, result, format_table(result), "serve_load", result["passed"])


if __name__ == "__main__":
    sys.exit(main())
