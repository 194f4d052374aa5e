"""One prepared device check: every CUDA and bfloat16 path of ``endorm.llm``, exercised and measured.

Usage::

    python benchmarks/gpu_check.py [--device cuda|cpu] [--json PATH] [--budget-s 420] [--quiet]

Run it the moment a GPU is there (one H200 for ~15 minutes in all): one command, one table. With
``--device cpu`` it runs the same steps on small sizes (what the test and a fresh clone verify).
Nothing is downloaded: models are random, built from configs; the real Qwen2.5 tokenizer
(``../shared/tokenizers/qwen2.5``) and real RM-Bench / MATH-500 items (``../shared/data``) are used
when present (``$ENDORM_SHARED`` overrides the folder), else the built-in tokenizer and a few
made-up items. Steps, in order, each timed; each prints ``PASS|FAIL|SKIP name: measured (goal)``:

1. ``correct/*``: per-token log pi, V and r_hat of ``EndogenousReward`` on the device against a
   float64 CPU computation of the same weights: float32; bfloat16 with the float32 head; bfloat16
   with ``head_dtype="model"`` (tolerances below); prompt sharing on and off equal; Gemma-2 soft-capping
   (``final_logit_softcapping``); the three Appendix D judges on the device against the CPU.
2. ``speed/*``: a mid-size random Qwen2 model (cuda: hidden 896, 24 layers, vocabulary 151,665,
   ~0.5B parameters, bfloat16; cpu: hidden 64, 2 layers, float32): EndoRM (``head_dtype="model"``)
   against a bare forward, the model's own ``model(ids).logits`` (time and peak
   ``torch.cuda.max_memory_allocated`` ratios, goals <= 1.10; on the CPU reported, not judged), and
   against the naive full-vocabulary ``log_softmax``; tokens/s.
3. ``bench/*``: ``endorm bench`` (EndoRM and GenRM-Pointwise) on real RM-Bench items through the CLI
   on the device, and the same under ``accelerate launch --num_processes 1``; scores and tables equal to
   a CPU run's (relative 1e-3 in float32 on a GPU: TF32 is off by default in torch).
4. ``rl/*``: one GRPO step through ``endorm rl`` (bf16 on a GPU), whether the shared reference forward
   was kept or fell back; and ``benchmarks/rl_step.py --quick`` on the device for the step-time ratio
   against a constant reward (<= 1.10 on a GPU; on the CPU one timed step is reported, not judged).
5. ``eval-math``: ``endorm eval-math`` generating a few samples on the device: tokens/s.

Budget: before each step the time left is checked against the step's estimate; what does not fit, or
is cut at the budget, is SKIP with the reason. Subprocess steps run under the time left. ``--json PATH``
writes every row and number (atomically). Exit status 0 unless a row FAILs. Never more than one GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = C.shared_dir()
#: tolerances on |log pi|, |V|, |r_hat| against float64 (nats): float32, bfloat16 (a forward in bfloat16 rounds
#: every layer's output to 2^-9 relative), and the device vs the CPU in float32
TOL = {"float32": 1e-4, "bfloat16": 0.25, "share": 1e-5, "judge": 1e-4}


class Check:
    """The rows, the clock and the workspace of one run."""

    def __init__(self, args, work: Path):
        self.args, self.work, self.rows = args, work, []
        self.start = time.perf_counter()
        self.device = args.device
        self.gpu = args.device == "cuda"

    def left(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.start)

    def row(self, status: str, name: str, measured: str, goal: str = "", **numbers) -> None:
        self.rows.append({"status": status, "name": name, "measured": measured, "goal": goal, **numbers})
        line = f"{status} {name}: {measured}" + (f" ({goal})" if goal else "")
        print(line, flush=True)

    def judged(self, name: str, value: float, tol: float, unit: str = "", **numbers) -> None:
        ok = value <= tol
        self.row("PASS" if ok else "FAIL", name, f"{value:.3g}{unit}", f"<= {tol:g}{unit}", value=value, **numbers)

    def run(self, cmd, timeout=None, env=None) -> subprocess.CompletedProcess:
        """A subprocess under the time left; ``TimeoutError`` when the budget cuts it."""
        limit = max(1.0, min(timeout or 1e9, self.left()))
        try:
            return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=limit, cwd=ROOT,
                                  env={**os.environ, **(env or {})})
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"cut at the budget after {limit:.0f} s") from None


# ---------------------------------------------------------------------- inputs
def tokenizer_and_model_dir(chk: Check, name: str, hidden=16, layers=2, seed=0) -> Path:
    """A tiny random Qwen2 model with the real Qwen2.5 tokenizer when present, else the built-in one."""
    from endorm.llm.testing import save_tiny_model, save_tiny_qwen

    path = chk.work / name
    if not path.exists():
        real = SHARED / "tokenizers" / "qwen2.5"
        if real.is_dir():
            save_tiny_qwen(path, real, seed=seed, hidden=hidden, layers=layers)
        else:
            save_tiny_model(path, "qwen2", seed=seed, max_positions=4096)
    return path


def rm_items(n: int = 3) -> list:
    """(prompt, chosen, rejected) triples: real RM-Bench chat items (first response of each side) or made up."""
    f = SHARED / "data" / "rm-bench" / "chat_filtered.json"
    if f.is_file():
        recs = json.loads(f.read_text())[:n]
        return [(r["prompt"], r["chosen"][0][:1500], r["rejected"][0][:1500]) for r in recs]
    return [(f"What is {i} + {i}?", f"It is {2 * i}.", f"It is {2 * i + 1}, I think.") for i in range(n)]


def reference64(model, items) -> list:
    """Per item, float64 CPU (log pi [n], V [n], r_hat [n]) of the response tokens from the model's own logits."""
    import copy

    import torch

    m64 = copy.deepcopy(model).to("cpu", torch.float64)
    out = []
    with torch.no_grad():
        for e in items:
            f = m64(input_ids=torch.tensor([e.input_ids[:e.end]])).logits[0]
            rows = torch.arange(e.start - 1, e.end - 1)
            tgt = torch.tensor(e.input_ids[e.start:e.end])
            v = torch.logsumexp(f[rows], -1)
            sel = f[rows, tgt]
            nxt = torch.cat([v[1:], torch.zeros(1, dtype=v.dtype)])
            out.append(((sel - v).numpy(), v.numpy(), (sel - nxt).numpy()))
    return out


def max_err(got, ref) -> float:
    import numpy as np

    return max(float(np.max(np.abs(np.asarray(a) - b))) for g, r in zip(got, ref)
               for a, b in zip((g.log_policy, g.soft_value, g.endogenous_reward), r))


# ---------------------------------------------------------------------- 1. correctness
def step_correct(chk: Check) -> None:
    import copy

    import torch

    from endorm.llm.base import load_model_and_tokenizer
    from endorm.llm.reward import EndogenousReward
    from endorm.llm.templates import encode

    model, tok = load_model_and_tokenizer(tokenizer_and_model_dir(chk, "tiny", hidden=32), "float32", "cpu")
    triples = rm_items()
    prompts = [p for p, _, _ in triples for _ in (0, 1)]
    responses = [x for _, c, r in triples for x in (c, r)]
    template = EndogenousReward(model, tok).template
    items = [encode(tok, p, r, None, template) for p, r in zip(prompts, responses)]
    for label, dtype, head in (("float32", torch.float32, "float32"), ("bfloat16", torch.bfloat16, "float32"),
                               ("bfloat16-head-model", torch.bfloat16, "model")):
        same = copy.deepcopy(model).to(dtype)  # the reference: these weights, in float64 on the CPU
        ref = reference64(same, items)
        rm = EndogenousReward(same.to(chk.device), tok, head_dtype=head, progress=False)
        chk.judged(f"correct/{label}", max_err(rm.token_rewards(prompts, responses), ref),
                   TOL["float32" if dtype == torch.float32 else "bfloat16"], " nats")
    dev = copy.deepcopy(model).to(chk.device)
    shared = EndogenousReward(dev, tok, progress=False)
    shared.share_min_saved, shared.share_min_fraction = 0, 0.0
    plain = EndogenousReward(dev, tok, share_prompt=False, progress=False)
    a, b = shared.token_rewards(prompts, responses), plain.token_rewards(prompts, responses)
    chk.judged("correct/prompt-sharing", max_err(a, [(t.log_policy, t.soft_value, t.endogenous_reward) for t in b]),
               TOL["share"], " nats", cache_path_kept=bool(shared._share_ok))
    _softcap(chk, tok, prompts, responses, items)
    _judges(chk, model, tok, triples)


def _softcap(chk, tok, prompts, responses, items) -> None:
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from endorm.llm.reward import EndogenousReward

    torch.manual_seed(0)
    cfg = Gemma2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=4096,
                       final_logit_softcapping=2.0, pad_token_id=tok.pad_token_id)
    g = Gemma2ForCausalLM(cfg).eval()
    ref = reference64(g, items)
    rm = EndogenousReward(g.to(chk.device), tok, progress=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a hybrid (sliding-window) cache may turn prompt sharing off, with a warning
        got = rm.token_rewards(prompts, responses)
    chk.judged("correct/gemma2-softcapping", max_err(got, ref), TOL["float32"], " nats")


def _judges(chk, model, tok, triples) -> None:
    import copy

    import numpy as np

    from endorm.llm.bench.runner import build_method

    prompts, first, second = [p for p, _, _ in triples], [c for _, c, _ in triples], [r for _, _, r in triples]
    dev = copy.deepcopy(model).to(chk.device)
    worst = 0.0
    for name in ("verifier", "pointwise", "pairwise"):
        cpu_j, dev_j = build_method(name, model, tok, progress=False), build_method(name, dev, tok, progress=False)
        if name == "pairwise":
            a, b = cpu_j.compare(prompts, first, second), dev_j.compare(prompts, first, second)
        else:
            a, b = cpu_j.score(prompts, first), dev_j.score(prompts, first)
        worst = max(worst, float(np.max(np.abs(np.subtract(a, b)))))
    chk.judged("correct/judges-device-vs-cpu", worst, TOL["judge"])


# ---------------------------------------------------------------------- 2. speed and memory
def step_speed(chk: Check) -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from endorm.llm.reward import EndogenousReward
    from endorm.llm.testing import build_tokenizer

    gpu = chk.gpu
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=151665, hidden_size=896 if gpu else 64, intermediate_size=4864 if gpu else 128,
                      num_hidden_layers=24 if gpu else 2, num_attention_heads=14 if gpu else 2,
                      num_key_value_heads=2 if gpu else 1, max_position_embeddings=4096, tie_word_embeddings=True)
    dtype = torch.bfloat16 if gpu else torch.float32
    model = Qwen2ForCausalLM(cfg).to(chk.device, dtype).eval()
    tok = build_tokenizer()
    g = torch.Generator().manual_seed(0)
    n_p, per, lp, lr = (4, 6, 200, 300) if gpu else (2, 3, 40, 60)
    pairs = []
    for _ in range(n_p):
        ctx = torch.randint(400, 151000, (lp,), generator=g).tolist()
        pairs += [(ctx, torch.randint(400, 151000, (lr,), generator=g).tolist()) for _ in range(per)]
    texts = [c + r for c, r in pairs]
    rm = EndogenousReward(model, tok, head_dtype="model", batch_size=8, progress=False)
    sync = torch.cuda.synchronize if gpu else (lambda: None)

    def batches():
        for k in range(0, len(texts), 8):
            yield torch.tensor(texts[k:k + 8], device=chk.device)  # equal lengths: no padding

    def bare():  # the model's own forward, logits included (as benchmarks/llm_scoring.py's "bare forward")
        for ids in batches():
            model(input_ids=ids).logits

    def naive():
        for ids in batches():
            lp_ = torch.log_softmax(model(input_ids=ids).logits.float(), -1)
            lp_[:, :-1].gather(-1, ids[:, 1:, None])

    def endorm():
        rm.token_rewards_from_ids(pairs)

    res = {}
    with torch.inference_mode():
        for name, fn in (("bare", bare), ("endorm", endorm), ("naive", naive)):
            fn()
            sync()
            best, peak = 1e9, None
            for _ in range(3):
                if gpu:
                    torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                fn()
                sync()
                best = min(best, time.perf_counter() - t0)
                peak = torch.cuda.max_memory_allocated() if gpu else None
            res[name] = (best, peak)
    tokens = sum(map(len, texts))
    t_ratio = res["endorm"][0] / res["bare"][0]
    params = sum(p.numel() for p in model.parameters()) / 1e6
    # the goals are a GPU's; a CPU run reports the numbers (its tiny model is all LM head)
    verdict = ("PASS" if t_ratio <= 1.10 else "FAIL") if gpu else "PASS"
    chk.row(verdict, "speed/endorm-over-bare-forward", f"{t_ratio:.2f}x time", "<= 1.10" if gpu else
            "information on the CPU", ratio=t_ratio, params_m=params, tokens=tokens, dtype=str(dtype).split(".")[-1],
            seconds={k: v[0] for k, v in res.items()})
    if gpu:
        m_ratio = res["endorm"][1] / res["bare"][1]
        chk.row("PASS" if m_ratio <= 1.10 else "FAIL", "speed/endorm-peak-memory-over-bare", f"{m_ratio:.2f}x",
                "<= 1.10", ratio=m_ratio, peak_bytes={k: v[1] for k, v in res.items()})
    else:
        chk.row("SKIP", "speed/endorm-peak-memory-over-bare", "no CUDA memory counter on the CPU")
    chk.row("PASS", "speed/endorm-tokens-per-s", f"{tokens / res['endorm'][0]:,.0f} tokens/s "
            f"({params:.0f}M parameters, {str(dtype).split('.')[-1]}); naive log_softmax "
            f"{res['naive'][0] / res['endorm'][0]:.2f}x endorm's time", "information",
            tokens_per_s=tokens / res["endorm"][0], naive_over_endorm=res["naive"][0] / res["endorm"][0])


# ---------------------------------------------------------------------- 3. endorm bench through the CLI
def _bench_data(chk: Check) -> Path:
    f = SHARED / "data" / "rm-bench" / "chat_filtered.json"
    if f.is_file():
        return f
    path = chk.work / "rmbench.json"
    path.write_text(json.dumps([{"id": f"q{i}", "prompt": p, "domain": "chat", "chosen": [c] * 3,
                                 "rejected": [r] * 3} for i, (p, c, r) in enumerate(rm_items())]))
    return path


def _bench_scores(folder: Path) -> dict:
    out = {}
    for line in (folder / "scores.jsonl").read_text().splitlines():
        d = json.loads(line)
        out[(d["id"], d["method"], d["condition"])] = d.get("chosen", []) + d.get("rejected", [])
    return out


def _compare_runs(a: Path, b: Path) -> tuple:
    """(max relative score difference, whether results.json's summaries are equal)."""
    import numpy as np

    sa, sb = _bench_scores(a), _bench_scores(b)
    if set(sa) != set(sb):
        return float("inf"), False
    rel = max((float(np.max(np.abs(np.subtract(sa[k], sb[k])) / (1 + np.abs(sa[k])))) for k in sa if sa[k]),
              default=0.0)
    summary = [json.dumps(json.loads((f / "results.json").read_text())["summary"], sort_keys=True) for f in (a, b)]
    return rel, summary[0] == summary[1]


def step_bench(chk: Check) -> None:
    model = tokenizer_and_model_dir(chk, "tiny", hidden=32)
    args = ["bench", "--model", model, "--data", _bench_data(chk), "--limit", 3, "--methods", "endorm,pointwise",
            "--no-progress"]
    runs = {}
    for name, prefix, device in (("cpu", [sys.executable, "-m", "endorm.cli"], "cpu"),
                                 ("device", [sys.executable, "-m", "endorm.cli"], chk.device),
                                 ("accelerate", [sys.executable, "-m", "accelerate.commands.launch",
                                                 "--num_processes", "1", "--num_machines", "1",
                                                 "--mixed_precision", "no", "--dynamo_backend", "no",
                                                 *([] if chk.gpu else ["--cpu"]), "-m", "endorm.cli"], chk.device)):
        out = chk.work / f"bench-{name}"
        t0 = time.perf_counter()
        r = chk.run([*prefix, *args, "--device", device, "--out", out])
        if r.returncode != 0:
            chk.row("FAIL", f"bench/{name}", f"exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1]}")
            return
        runs[name] = (out, time.perf_counter() - t0)
    for name in ("device", "accelerate"):
        rel, same = _compare_runs(runs["cpu"][0], runs[name][0])
        ok = rel <= 1e-3 and same
        chk.row("PASS" if ok else "FAIL", f"bench/{name}-vs-cpu",
                f"max relative score difference {rel:.2g}, tables {'equal' if same else 'DIFFER'} "
                f"({runs[name][1]:.0f} s)", "<= 1e-3, equal", rel=rel, tables_equal=same, seconds=runs[name][1])


# ---------------------------------------------------------------------- 4. one GRPO step
def step_rl(chk: Check) -> None:
    model = tokenizer_and_model_dir(chk, "tiny", hidden=32)
    prompts = chk.work / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p, _, _ in rm_items(2)))
    cfg = chk.work / "fast.yaml"
    cfg.write_text("grpo:\n  gradient_checkpointing: false\n")
    r = chk.run([sys.executable, "-m", "endorm.cli", "rl", "--model", model, "--prompts", prompts, "--out",
                 chk.work / "rl", "--steps", 1, "--num-generations", 2, "--batch-size", 2,
                 "--max-completion-length", 8, "--max-prompt-length", 4096, "--save-steps", 1, "--no-progress",
                 "--config", cfg, "--bf16" if chk.gpu else "--no-bf16"],
                env={} if chk.gpu else {"CUDA_VISIBLE_DEVICES": ""})
    if r.returncode != 0:
        chk.row("FAIL", "rl/endorm-rl-step", f"exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1]}")
        return
    kept = "shared reference forward: True" in r.stdout
    chk.row("PASS", "rl/endorm-rl-step", f"one step, {'bf16' if chk.gpu else 'float32'}; shared reference forward "
            f"{'kept' if kept else 'FELL BACK (a second frozen forward)'}", "runs; sharing reported",
            shared_reference_forward=kept)
    out = chk.work / "rl_step.json"
    r = chk.run([sys.executable, ROOT / "benchmarks" / "rl_step.py", "--quick", "--device", chk.device, "--repeat",
                 1, "--steps", 1, "--quiet", "--json", out])
    if r.returncode != 0:
        chk.row("FAIL", "rl/step-time-ratio", f"exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1]}")
        return
    d = json.loads(out.read_text())
    ratio, agree = d["time_ratio"], d["agreement"]["ok"]
    ok = agree and (ratio <= 1.10 or not chk.gpu)  # one timed step on a shared CPU is noise: reported, not judged
    chk.row("PASS" if ok else "FAIL", "rl/step-time-endorm-over-constant",
            f"{ratio:.2f}x (rl_step.py --quick, 1 timed step); rewards agree and every completion shared: {agree}",
            "<= 1.10, agree" if chk.gpu else "agree; the time on the CPU for information", ratio=ratio, agreement=agree)


# ---------------------------------------------------------------------- 5. eval-math generation
def step_eval_math(chk: Check) -> None:
    from transformers import AutoTokenizer

    model = tokenizer_and_model_dir(chk, "tiny", hidden=32)
    f = SHARED / "data" / "math500" / "test.jsonl"
    if not f.is_file():
        f = chk.work / "math500.jsonl"
        f.write_text("".join(json.dumps({"problem": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n"
                             for i in range(4)))
    out, n_new = chk.work / "eval-math", 64
    t0 = time.perf_counter()
    r = chk.run([sys.executable, "-m", "endorm.cli", "eval-math", "--model", model, "--data", f, "--format",
                 "math500", "--limit", 4, "--k", 1, "--temperature", 0, "--max-new-tokens", n_new, "--out", out,
                 "--device", chk.device, "--workers", 1, "--no-progress"])
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        chk.row("FAIL", "eval-math", f"exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1]}")
        return
    tok = AutoTokenizer.from_pretrained(model, local_files_only=True)
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    tokens = sum(len(tok(c, add_special_tokens=False)["input_ids"]) for s in samples for c in s["completions"])
    chk.row("PASS", "eval-math", f"{len(samples)} samples, {tokens} tokens in {wall:.1f} s = {tokens / wall:.1f} "
            "tokens/s (whole command: load, generate, grade)", "information", samples=len(samples), tokens=tokens,
            seconds=wall)


# ---------------------------------------------------------------------- driver
#: (name, function, estimated seconds on cpu, on cuda)
STEPS = (("correct", step_correct, 25, 40), ("speed", step_speed, 15, 60), ("bench", step_bench, 50, 90),
         ("rl", step_rl, 35, 120), ("eval-math", step_eval_math, 15, 60))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="where to run (default cuda)")
    p.add_argument("--budget-s", type=float, default=420.0, help="stop starting steps past this many seconds "
                   "(default 420); what does not fit is SKIP")
    C.output_flags(p, None, json_help="also write every row as JSON")
    args = p.parse_args(argv)
    if not args.budget_s > 0:
        p.error("--budget-s must be > 0")
    return args


def run(args) -> dict:
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: error: --device cuda, but torch sees no CUDA device; use --device cpu")
    with tempfile.TemporaryDirectory(prefix="gpu_check.") as work:
        chk = Check(args, Path(work))
        for name, fn, est_cpu, est_gpu in STEPS:
            est = est_gpu if chk.gpu else est_cpu
            if chk.left() < est:
                chk.row("SKIP", name, f"{max(0.0, chk.left()):.0f} s of the budget left, the step needs ~{est} s")
                continue
            C.log("gpu_check", f"{name} ({chk.left():.0f} s left)", args.quiet)
            t0 = time.perf_counter()
            try:
                fn(chk)
            except TimeoutError as e:
                chk.row("SKIP", name, str(e))
            except Exception as e:  # noqa: BLE001 -- one failed step is a FAIL row; the others still run
                chk.row("FAIL", name, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            chk.rows.append({"status": "TIME", "name": name, "seconds": time.perf_counter() - t0})
    rows = [r for r in chk.rows if r["status"] != "TIME"]
    times = {r["name"]: r["seconds"] for r in chk.rows if r["status"] == "TIME"}
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else None
    return {"device": args.device, "gpu": gpu, "budget_s": args.budget_s, "rows": rows, "step_seconds": times,
            "shared_inputs": SHARED.is_dir(), "passed": not any(r["status"] == "FAIL" for r in rows),
            "environment": {**C.versions(), "cuda": torch.version.cuda}}


def format_table(r: dict) -> str:
    counts = {s: sum(x["status"] == s for x in r["rows"]) for s in ("PASS", "FAIL", "SKIP")}
    head = f"gpu_check on {r['gpu'] or r['device']}: {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP"
    lines = [head] + [f"  {x['status']} {x['name']}: {x['measured']}" + (f" ({x['goal']})" if x.get("goal") else "")
                      for x in r["rows"]]
    lines.append("  step seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in r["step_seconds"].items()))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    args.strict = True
    return C.finish(args, result, format_table(result), "gpu_check", result["passed"])


if __name__ == "__main__":
    sys.exit(main())
