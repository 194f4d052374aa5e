"""The ``endorm`` command line: verify, figures, score, bench, eval-math, rl and demo."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _fmt(x: float) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def cmd_verify(args) -> int:
    from tqdm import tqdm

    from endorm import tabular as T

    from ._io import atomic_write_json

    rows, t0 = [], time.perf_counter()
    plan = T.verify_plan(args.quick)
    for check, kwargs in tqdm(plan, desc="verify", unit="check", file=sys.stderr, disable=args.no_progress):
        rows.extend(check(args.seed, **kwargs))
    width = max(len(r.name) for r in rows)
    print(f"{'check':<{width}}  {'measured':>11}  {'expected':>16}  holds  claim")
    for r in rows:
        exp = f"{r.relation} {_fmt(r.expected)}" + (f" ±{r.tolerance:.2g}" if r.relation == "~=" and r.tolerance else "")
        print(f"{r.name:<{width}}  {_fmt(r.measured):>11}  {exp:>16}  {'yes' if r.holds else 'NO':>5}  {r.claim}")
    failed = [r.name for r in rows if not r.holds]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed ({time.perf_counter() - t0:.1f} s, "
          f"seed {args.seed}{', quick' if args.quick else ''})")
    if args.json:
        atomic_write_json(args.json, {"seed": args.seed, "quick": args.quick,
                                      "checks": [r.to_dict() for r in rows]})
    return 1 if failed else 0


def cmd_figures(args) -> int:
    from endorm import paper_figures

    written = paper_figures.make_all(Path(args.out), quick=args.quick, only=args.only)
    for path in written:
        print(path)
    return 0


METHODS = {"endorm": ("endorm.llm.reward", "EndogenousReward"), "verifier": ("endorm.llm.judges", "GenerativeVerifier"),
           "pointwise": ("endorm.llm.judges", "GenRMPointwise"), "pairwise": ("endorm.llm.judges", "GenRMPairwise")}


def _load_method(args):
    import importlib

    mod = importlib.import_module(METHODS[args.method][0])
    cls = getattr(mod, METHODS[args.method][1])
    kwargs = {}
    if args.method == "endorm":
        kwargs = dict(alpha=args.alpha, gamma=args.gamma, floor=args.floor, kind=args.kind, terminal=args.terminal,
                      template=args.template, truncate=args.truncate)
    return cls.from_pretrained(args.model, dtype=args.dtype, device=args.device, **kwargs)


def cmd_score(args) -> int:
    import json

    if args.tokens and args.method != "endorm":
        raise SystemExit("--tokens is only available with --method endorm")
    if args.method == "pairwise" and len(args.response) != 2:
        raise SystemExit("--method pairwise needs exactly two --response (first, second)")
    rm = _load_method(args)
    n = len(args.response)
    prompts, system = [args.prompt] * n, args.system
    if args.method == "pairwise":
        p = rm.compare(prompts[:1], args.response[:1], args.response[1:], system)[0]
        result = {"method": args.method, "p_second_better": p}
        print(json.dumps(result) if args.json else f"P(second response better) = {p:.6f}")
        return 0
    if args.method == "endorm":
        details = rm.token_rewards(prompts, args.response, system)
        scores = [d.score for d in details]
    else:
        details, scores = None, rm.score(prompts, args.response, system)
    result = {"method": args.method, "scores": scores}
    if args.tokens:
        result["tokens"] = [{"token_ids": d.token_ids, "tokens": d.tokens, "log_probs": d.log_probs.tolist(),
                             "values": d.values.tolist(), "rewards": d.rewards.tolist()} for d in details]
    if args.json:
        print(json.dumps(result))
        return 0
    for i, s in enumerate(scores):
        print(f"score[{i}] = {s:.6f}" if n > 1 else f"score = {s:.6f}")
        if args.tokens:
            d = details[i]
            print(f"  {'token':<16} {'log pi':>10} {'V(s)':>10} {'r_hat':>10}")
            for t, lp, v, r in zip(d.tokens, d.log_probs, d.values, d.rewards):
                print(f"  {t!r:<16} {lp:>10.4f} {v:>10.4f} {r:>10.4f}")
    return 0


def cmd_bench(args) -> int:
    from endorm.llm.bench import run_bench

    return run_bench(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="endorm", description="Endogenous reward models (arXiv 2506.23235).")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check every claim of the paper exactly on token MDPs")
    v.add_argument("--quick", action="store_true", help="fewer random instances (CI smoke run, seconds)")
    v.add_argument("--json", metavar="PATH", help="also write {'checks': [...]} to PATH")
    v.add_argument("--seed", type=int, default=0, help="seed of the random instances (default 0)")
    v.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    v.set_defaults(func=cmd_verify)
    f = sub.add_parser("figures", help="regenerate every figure (PNG + JSON) into --out")
    f.add_argument("--out", default="figures", help="output folder (default ./figures)")
    f.add_argument("--quick", action="store_true", help="smaller settings, for smoke tests")
    f.add_argument("--only", nargs="*", metavar="NAME", help="only these figures (module names)")
    f.set_defaults(func=cmd_figures)
    sc = sub.add_parser("score", help="score responses with a local causal LM (EndoRM or a judge baseline)")
    sc.add_argument("--model", required=True, metavar="DIR", help="local Hugging Face model directory")
    sc.add_argument("--prompt", required=True, metavar="TEXT")
    sc.add_argument("--response", required=True, action="append", metavar="TEXT",
                    help="response to score (repeat for several; pairwise: first, second)")
    sc.add_argument("--system", metavar="TEXT", help="system prompt / instruction")
    sc.add_argument("--method", choices=sorted(METHODS), default="endorm")
    sc.add_argument("--tokens", action="store_true", help="per-token table: token, log pi, V, r_hat (endorm)")
    sc.add_argument("--json", action="store_true", help="print JSON instead of text")
    sc.add_argument("--alpha", type=float, default=1.0)
    sc.add_argument("--gamma", type=float, default=1.0)
    sc.add_argument("--floor", type=float, default=0.0)
    sc.add_argument("--kind", choices=["reward", "logprob"], default="reward")
    sc.add_argument("--terminal", choices=["zero", "model"], default="zero")
    sc.add_argument("--template", choices=["chat", "appendix-d", "plain"], default=None,
                    help="default: chat if the tokenizer has a chat template, else plain")
    sc.add_argument("--truncate", action="store_true", help="drop context from the left if too long")
    sc.add_argument("--dtype", default=None, help="e.g. float32, bfloat16 (default: the checkpoint's)")
    sc.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    sc.set_defaults(func=cmd_score)
    b = sub.add_parser("bench", help="reward-model benchmarks from local files (RM-Bench, RewardBench, ...)")
    b.add_argument("--model", required=True, metavar="DIR", help="local Hugging Face model directory")
    b.add_argument("--data", required=True, metavar="FILE", help="local .json, .jsonl or .parquet file")
    b.add_argument("--format", choices=["rm-bench", "rewardbench", "multifaceted", "dsp", "pairs"],
                   help="data format (default: detected from the first record)")
    b.add_argument("--methods", default="endorm", help="comma-separated: endorm,verifier,pointwise,pairwise")
    b.add_argument("--out", required=True, metavar="DIR", help="output folder (scores.jsonl, results.json/.md)")
    b.add_argument("--system-prompt", metavar="TEXT", help="system prompt for every item (promptable reward)")
    b.add_argument("--domain-prompts", metavar="FILE",
                   help="JSON {domain: system prompt}: DSP cross-domain mode, the 4x4 matrix of Table 2")
    b.add_argument("--compare-paper", action="store_true", help="print the paper's numbers beside ours")
    b.add_argument("--skip-invalid", action="store_true", help="skip malformed records and report the count")
    b.add_argument("--limit", type=int, help="only the first N records")
    b.add_argument("--truncate", action="store_true", help="EndoRM: drop context from the left if too long")
    b.add_argument("--multifaceted-pairs", default="other-system", choices=["other-system"],
                   help="how Multifaceted-Bench rows become pairs (see README)")
    b.add_argument("--dsp-domains", type=lambda s: tuple(x.strip() for x in s.split(",")), default=None,
                   help="DSP data domains, comma-separated (default academy,business,entertainment,literature)")
    b.add_argument("--batch-size", type=int, default=8)
    b.add_argument("--chunk", type=int, default=16, help="records per scoring call (a kill loses at most one)")
    b.add_argument("--alpha", type=float, default=1.0)
    b.add_argument("--gamma", type=float, default=1.0)
    b.add_argument("--floor", type=float, default=0.0)
    b.add_argument("--template", choices=["chat", "appendix-d", "plain"], default=None)
    b.add_argument("--dtype", default=None)
    b.add_argument("--device", default=None)
    b.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals")
    b.add_argument("--no-progress", action="store_true")
    b.set_defaults(func=cmd_bench)
    from endorm.llm.math_eval import register as register_eval_math

    register_eval_math(sub)
    from endorm.llm.rl import register as register_rl

    register_rl(sub)
    from endorm.llm.demo import register as register_demo

    register_demo(sub)
    return p


# command: (the extra that installs what it needs, the top-level modules it imports)
EXTRAS = {
    "score": ("llm", ("torch", "transformers")),
    "bench": ("llm", ("torch", "transformers", "accelerate")),
    "eval-math": ("math", ("torch", "transformers", "math_verify")),
    "rl": ("rl", ("torch", "transformers", "trl", "datasets", "yaml")),
    "demo": ("rl", ("torch", "transformers", "trl", "datasets")),
}
PIP_NAMES = {"math_verify": "math-verify", "yaml": "pyyaml"}


def missing_extra(command: str, name: str | None = None) -> str | None:
    """The one-line error for a command whose optional dependencies are not installed, else None.

    Args:
        command: a subcommand (``EXTRAS`` key; other commands need nothing optional).
        name: a module already known to be missing (from a ``ModuleNotFoundError``), else each of the
            command's modules is looked up (``importlib.util.find_spec``: nothing is imported).

    Returns:
        e.g. ``needs trl, which is not installed: pip install "endorm[rl]"``, or None.
    """
    import importlib.util

    if command not in EXTRAS:
        return None
    extra, modules = EXTRAS[command]
    missing = [name] if name else [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    names = ", ".join(PIP_NAMES.get(m, m) for m in missing)
    return f"needs {names}, which {'is' if len(missing) == 1 else 'are'} not installed: pip install \"endorm[{extra}]\""


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    why = missing_extra(args.command)
    if why:  # before any other check or file: one line, exit 2
        print(f"endorm {args.command}: error: {why}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except ModuleNotFoundError as e:  # an optional module missing deeper down: still one line
        optional = {m for _, mods in EXTRAS.values() for m in mods} | {"pyarrow"}
        top = (e.name or "").split(".")[0]
        if top not in optional or args.command not in EXTRAS:
            raise
        print(f"endorm {args.command}: error: {missing_extra(args.command, top)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as e:  # bad input: one clear line, no traceback
        print(f"endorm {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
