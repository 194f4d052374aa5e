"""``endorm eval-math``: the command line of ``endorm.llm.math``."""
from __future__ import annotations

from pathlib import Path

from endorm.llm.math.data import FORMATS

from ._options import POSITIVE_INT, SEED, ranged


def register(subparsers):
    """Add the ``eval-math`` subcommand to an argparse subparsers object.

    Flags: --model, --data, --out (required), --format, --k, --temperature, --top-p, --max-new-tokens,
    --batch-size, --seed, --template (chat/plain), --limit, --skip-invalid, --workers, --timeout, --dtype, --device,
    --no-progress.

    Returns:
        The subcommand's parser.
    """
    p = subparsers.add_parser("eval-math", help="math benchmarks: sample k solutions, grade \\boxed{} with math-verify")
    p.add_argument("--model", required=True, metavar="DIR", help="local Hugging Face model directory")
    p.add_argument("--data", required=True, metavar="FILE", help="local JSONL (Qwen2.5-Math evaluation layout)")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS, help="default: from keys and file name")
    p.add_argument("--k", type=POSITIVE_INT, default=None, help="samples per problem (default: 32 for aime24/amc, else 1)")
    p.add_argument("--temperature", type=ranged(float, 0.0), default=0.6, help="0 = greedy (default 0.6, the paper's test value)")
    p.add_argument("--top-p", type=ranged(float, 0.0, 1.0, True), default=1.0, help="nucleus sampling mass in (0, 1] (default 1.0: off)")
    p.add_argument("--max-new-tokens", type=POSITIVE_INT, default=1024, help="default 1024 (the paper's response length)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=8, help="sequences per generate call; no effect on results (default 8)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of every sample (default 0)")
    p.add_argument("--template", choices=("chat", "plain"), default="chat",
                   help="chat: the chat template's user turn (default); plain: Problem/Solution text")
    p.add_argument("--limit", type=POSITIVE_INT, help="only the first N problems")
    p.add_argument("--skip-invalid", action="store_true",
                   help="leave malformed lines out (counted, listed in results.json) instead of stopping")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (run.json, samples.jsonl, results.json)")
    p.add_argument("--workers", type=POSITIVE_INT, default=None, help="grading processes (default min(4, CPUs))")
    p.add_argument("--timeout", type=ranged(float, 0.0, None, True), default=5.0, help="grading seconds per answer; past it: wrong (default 5)")
    p.add_argument("--dtype", default=None, help="e.g. bfloat16 (default: the checkpoint's)")
    p.add_argument("--device", default=None, help="default: cuda if available")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="run the model folder's own Python code (auto_map); off by default, and never asked")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    """Build a ``MathEvalConfig`` from the flags, run it, print the table and the results path.

    Returns:
        The exit status, 0 (bad input raises ValueError/TypeError/OSError: ``main`` makes it status 2).
    """
    from endorm.llm.math.run import MathEvalConfig, format_table, run_eval_math

    cfg = MathEvalConfig(**{k: v for k, v in vars(args).items() if k in MathEvalConfig.__dataclass_fields__},
                         progress=not args.no_progress)
    res = run_eval_math(cfg)
    print(format_table(res))
    print(f"results: {Path(cfg.out) / 'results.json'}")
    return 0
