"""Benchmark: one GRPO step (TRL GRPOTrainer) with the endogenous reward vs a constant reward.

Usage::

    python benchmarks/rl_step.py [--layers 4] [--hidden 256] [--vocab-size 50257] [--prompts 2]
                                 [--num-generations 8] [--prompt-tokens 32] [--completion-tokens 48]
                                 [--beta 0.01] [--steps 2] [--repeat 3] [--device cpu|cuda] [--seed 0]
                                 [--threads N] [--quick] [--json PATH] [--strict] [--quiet]

The model: a randomly initialized GPT-2-shaped causal LM (defaults: 4 layers, hidden 256,
4 heads, vocabulary 50,257; 16M parameters, seeded with ``--seed``), float32, saved to a
temporary directory with a word-level tokenizer whose vocabulary is the model's (``w0`` is
EOS and pad). The data: ``--prompts`` prompts of ``--prompt-tokens`` random words; each step
samples ``--num-generations`` completions of exactly ``--completion-tokens`` tokens per prompt
(``min_new_tokens`` = ``max_completion_length``, so every variant does the same work), all
prompts in one generation batch (``per_device_train_batch_size`` = prompts x generations).
``--quick`` is a smoke-test size (2 layers, hidden 64, vocab 1000, 2 x 4 completions of 8
tokens after 8); explicit options override it.

GRPO settings shared by all variants: beta ``--beta`` (0.01, the paper's; so TRL keeps a
frozen reference model and runs it every step for the KL term), temperature 1, learning rate
1e-6, dropout disabled, gradient checkpointing off (TRL's default is on; off makes the common
part of the step smaller, so the ratios below are, if anything, pessimistic).

Variants, each a fresh trainer loaded from the same directory, same seed:

* ``constant``: ``GRPOTrainer`` with a reward function returning 0.0 for every completion
  (no scoring at all; the baseline).
* ``endorm``: ``EndogenousGRPOTrainer`` with ``EndogenousRewardFunction(model_dir)``: the reward
  model is TRL's own reference model object, and the reference log-probs for the KL term come
  from the reward's forward pass (one frozen forward per step, as in ``constant``).
* ``unshared``: the same trainer with ``EndogenousRewardFunction(EndogenousReward.from_pretrained(
  model_dir))``, a second frozen copy scored by a second forward pass (what a plain
  integration costs; for information).

Time: one step = ``on_step_begin`` to ``on_step_end`` of a trainer callback (generation,
reference forward, reward, policy forward and backward, optimizer step). Each round builds each
variant's trainer anew (the order rotating from round to round) and trains it for 1 + ``--steps``
steps; the first step is a warm-up and is dropped. The median of the ``--repeat`` x ``--steps``
timed steps is kept (best and every step are in the JSON). torch uses ``--threads`` threads.

Goal: step time ratio endorm / constant <= 1.10. Agreement (not timed): at step 1 the
completions of all variants are the same (same seed and weights), so the mean reward logged by
``endorm`` and by ``unshared`` must agree (< 1e-3), and ``endorm`` must report that every
completion was scored by the shared forward pass.

Measured (2 CPU cores, defaults): constant 4.71 s, endorm 4.38 s, unshared 4.72 s per step
(medians of 6): ratio 0.93 (best-step 0.95), separate copy 1.00 (an earlier run: 0.90 and 1.09).
EndoRM's step is *faster* than the constant reward's on a CPU because it replaces TRL's
reference forward, whose fused LM head scores every prompt position too when Triton is
unavailable, with EndoRM's, which runs each prompt once for its G completions (KV cache) and
applies the head to response positions only. On a GPU TRL scores only the completion
positions, so expect a ratio near 1 there (not measured: no GPU was available).

The script prints a table with the goal and PASS/MISS; ``--json PATH`` also writes every number
as JSON, atomically. The exit status is 0 unless ``--strict`` is given and the goal or the
agreement check is missed. The default run takes about 5 minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

TIME_RATIO_GOAL = 1.10
VARIANTS = ("constant", "endorm", "unshared")
LABELS = {"constant": "constant reward", "endorm": "EndoRM (shared reference forward)",
          "unshared": "EndoRM, separate frozen copy"}
DEFAULTS = dict(layers=4, hidden=256, vocab_size=50257, prompts=2, num_generations=8, prompt_tokens=32,
                completion_tokens=48)
QUICK = dict(layers=2, hidden=64, vocab_size=1000, prompts=2, num_generations=4, prompt_tokens=8,
             completion_tokens=8)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, text in [("layers", "transformer layers (default 4)"), ("hidden", "hidden size (default 256)"),
                       ("vocab-size", "vocabulary size (default 50257)"), ("prompts", "prompts per step (default 2)"),
                       ("num-generations", "completions per prompt, G (default 8)"),
                       ("prompt-tokens", "words per prompt (default 32)"),
                       ("completion-tokens", "tokens per completion (default 48)")]:
        p.add_argument(f"--{name}", type=int, default=None, help=text)
    p.add_argument("--beta", type=float, default=0.01, help="KL coefficient (default 0.01; > 0 keeps a reference)")
    p.add_argument("--steps", type=int, default=2, help="timed steps per variant and round (default 2)")
    p.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cpu (default) or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, prompts and sampling (default 0)")
    p.add_argument("--threads", type=int, default=None, help=f"torch threads (default: the CPUs, {C.cpus()} here)")
    p.add_argument("--quick", action="store_true", help="smoke-test size")
    C.output_flags(p, "the goal or the agreement is missed")
    args = p.parse_args(argv)
    C.fill_defaults(args, QUICK if args.quick else DEFAULTS)
    if args.num_generations < 2:
        p.error("--num-generations must be >= 2 (GRPO compares completions of one prompt)")
    for k in ("layers", "hidden", "vocab_size", "prompts", "prompt_tokens", "completion_tokens", "steps", "repeat"):
        if getattr(args, k) < 1:
            p.error(f"--{k.replace('_', '-')} must be >= 1")
    if args.beta <= 0:
        p.error("--beta must be > 0: the comparison is about the reference model's forward pass")
    args.threads = args.threads or C.cpus()
    return args


def build(args, folder: Path):
    """The model directory (random GPT-2 + word tokenizer over its whole vocabulary) and the prompts."""
    import numpy as np
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from endorm.llm.testing import word_tokenizer

    torch.manual_seed(args.seed)
    heads = max(1, args.hidden // 64)
    cfg = GPT2Config(vocab_size=args.vocab_size, n_positions=args.prompt_tokens + args.completion_tokens + 8,
                     n_embd=args.hidden, n_layer=args.layers, n_head=heads, bos_token_id=0, eos_token_id=0,
                     pad_token_id=0)
    model = GPT2LMHeadModel(cfg)
    tok = word_tokenizer([f"w{i}" for i in range(args.vocab_size)], pad_token="w0", eos_token="w0")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    rng = np.random.default_rng(args.seed)
    prompts = [" ".join(f"w{i}" for i in rng.integers(1, args.vocab_size, args.prompt_tokens))
               for _ in range(args.prompts)]
    return folder, prompts, sum(p.numel() for p in model.parameters()), heads


def zero_reward(prompts, **kwargs):
    return [0.0] * len(prompts)


def run_variant(variant: str, args, model_dir: Path, prompts, out: Path) -> dict:
    """Train a fresh trainer of ``variant`` for 1 + steps steps; per-step wall times and the log history."""
    from datasets import Dataset
    from transformers import AutoTokenizer, PrinterCallback, TrainerCallback
    from trl import GRPOTrainer

    from endorm.llm import EndogenousReward
    from endorm.llm.rl.reward_fn import EndogenousGRPOTrainer, EndogenousRewardFunction, grpo_config

    class Timer(TrainerCallback):
        def __init__(self):
            self.times, self.t0 = [], None

        def on_step_begin(self, *a, **kw):
            self._sync()
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **kw):
            self._sync()
            self.times.append(time.perf_counter() - self.t0)

        def _sync(self):
            if args.device == "cuda":
                import torch

                torch.cuda.synchronize()

    n = args.prompts * args.num_generations
    cfg = grpo_config(output_dir=str(out), use_cpu=args.device == "cpu", bf16=False, max_steps=1 + args.steps,
                      per_device_train_batch_size=n, num_generations=args.num_generations,
                      max_completion_length=args.completion_tokens,
                      generation_kwargs={"min_new_tokens": args.completion_tokens}, beta=args.beta, learning_rate=1e-6,
                      report_to="none", logging_steps=1, save_strategy="no", disable_dropout=True,
                      gradient_checkpointing=False, disable_tqdm=True, seed=args.seed, shuffle_dataset=False)
    if variant == "constant":
        cls, reward = GRPOTrainer, zero_reward
    elif variant == "endorm":
        cls, reward = EndogenousGRPOTrainer, EndogenousRewardFunction(model_dir)
    else:
        cls, reward = EndogenousGRPOTrainer, EndogenousRewardFunction(
            EndogenousReward.from_pretrained(model_dir, device=args.device, progress=False))
    timer = Timer()
    trainer = cls(model=str(model_dir), reward_funcs=reward, args=cfg, callbacks=[timer],
                  processing_class=AutoTokenizer.from_pretrained(model_dir),
                  train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]))
    trainer.remove_callback(PrinterCallback)  # no log dicts on stdout
    trainer.train()
    history = [h for h in trainer.state.log_history if "reward" in h]
    del trainer
    gc.collect()
    return {"times": timer.times, "history": history}


def run(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="endorm-rl-step-") as tmp:
        model_dir, prompts, params, heads = build(args, Path(tmp) / "model")
        steps = {v: [] for v in VARIANTS}
        first = {}
        for r in range(args.repeat):
            for v in VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]:
                C.log("rl_step", f"round {r + 1}/{args.repeat}: {v}", args.quiet)
                got = run_variant(v, args, model_dir, prompts, Path(tmp) / f"out-{v}")
                steps[v] += got["times"][1:]  # the first step is a warm-up
                first.setdefault(v, got["history"])
    variants = {v: {"median_s": statistics.median(t), "best_s": min(t), "step_times_s": t} for v, t in steps.items()}
    ratio = C.ratio(variants["endorm"]["median_s"], variants["constant"]["median_s"])
    shared = [h.get("endorm/shared_forward") for h in first["endorm"]]
    diff = abs(first["endorm"][0]["reward"] - first["unshared"][0]["reward"])
    agreement = {"step1_reward_endorm": first["endorm"][0]["reward"],
                 "step1_reward_unshared": first["unshared"][0]["reward"], "step1_reward_abs_diff": diff,
                 "shared_forward": shared, "ok": diff < 1e-3 and all(s == 1.0 for s in shared)}
    return {
        "config": {**{k: getattr(args, k) for k in ("layers", "hidden", "vocab_size", "prompts", "num_generations",
                                                    "prompt_tokens", "completion_tokens", "beta", "steps", "repeat",
                                                    "device", "seed", "threads", "quick")},
                   "heads": heads, "params": params},
        "versions": {**C.versions(), "trl": C.version("trl")},
        "variants": variants,
        "time_ratio": ratio,
        "unshared_time_ratio": C.ratio(variants["unshared"]["median_s"], variants["constant"]["median_s"]),
        "best_time_ratio": C.ratio(variants["endorm"]["best_s"], variants["constant"]["best_s"]),
        "goals": {"time_ratio_max": TIME_RATIO_GOAL},
        "passed": {"time_ratio": ratio <= TIME_RATIO_GOAL},
        "agreement": agreement,
    }




def format_table(r: dict) -> str:
    c, v, a = r["config"], r["variants"], r["agreement"]
    n = c["repeat"] * c["steps"]
    rows = [(f"{LABELS[k]} step", f"{v[k]['median_s']:.3f} s", f"median of {n}", "") for k in VARIANTS]
    rows += [
        ("step time ratio EndoRM / constant", f"{r['time_ratio']:.3f}", f"<= {TIME_RATIO_GOAL:g}",
         "PASS" if r["passed"]["time_ratio"] else "MISS"),
        ("  (best-step ratio, info)", f"{r['best_time_ratio']:.3f}", "", ""),
        ("  (separate copy / constant, info)", f"{r['unshared_time_ratio']:.3f}", "", ""),
        ("check: step-1 reward shared vs separate", f"{a['step1_reward_abs_diff']:.1e}", "< 1e-3",
         "ok" if a["step1_reward_abs_diff"] < 1e-3 else "FAIL"),
        ("check: scored by the shared forward", f"{min(s or 0 for s in a['shared_forward']):.2f}", "= 1",
         "ok" if all(s == 1.0 for s in a["shared_forward"]) else "FAIL"),
    ]
    lines = C.table(
        f"GRPO step benchmark: random GPT-2-shaped model ({c['layers']} layers, hidden {c['hidden']}, vocab "
        f"{c['vocab_size']:,}; {c['params'] / 1e6:.1f}M parameters), float32 on {c['device']}, {c['threads']} threads; "
        f"{c['prompts']} prompts x {c['num_generations']} completions of {c['completion_tokens']} tokens after "
        f"{c['prompt_tokens']}, beta {c['beta']:g}, seed {c['seed']}", rows, goal_width=12)
    lines += ["", "A step: generation, reference forward, reward, policy forward/backward, optimizer step (TRL 1.16)."]
    if c["quick"]:
        lines.append("NOTE: --quick size; the goal is meant for the default sizes.")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    ok = result["passed"]["time_ratio"] and result["agreement"]["ok"]
    return C.finish(args, result, format_table(result), "rl_step", ok)


if __name__ == "__main__":
    sys.exit(main())
