"""``endorm demo``: the ground-truth token-world study (``endorm.llm.world``)."""
from __future__ import annotations

from ._options import SEED


def run(args) -> int:
    """Run the study; tables to stdout, results.json and returns.png to ``--out``.

    Returns:
        The exit status, 0.
    """
    from endorm.llm.runs import claim_output_folder
    from endorm.llm.world.demo import run_demo_quietly

    claim_output_folder(args.out, "demo", {"quick": args.quick, "seed": args.seed})  # never the user's own folder
    run_demo_quietly(args.quick, args.out, args.seed)
    return 0


def register(sub) -> None:
    """Add ``endorm demo`` to the subparsers ``sub``: flags --quick, --out (default demo_out), --seed."""
    p = sub.add_parser("demo", help="ground-truth token-world study of the endogenous reward")
    p.add_argument("--quick", action="store_true", help="small world, under a minute on CPU")
    p.add_argument("--out", default="demo_out", help="output directory (default demo_out)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the worlds, training and sampling (default 0)")
    p.set_defaults(func=run)
