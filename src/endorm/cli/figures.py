"""``endorm figures``: regenerate every figure and table of the paper (``endorm.paper_figures``)."""
from __future__ import annotations

from pathlib import Path

from ._options import SEED


def run(args) -> int:
    """Regenerate the figures into ``--out``, write ``index.md`` and print the paths.

    Returns:
        The exit status, 0.

    Raises:
        ValueError: an unknown name in ``--only`` (``unknown figure(s) [...]; available: [...]``); a ``--from``
            folder that is missing or is not a run of ``endorm bench`` / ``eval-math`` / ``rl`` / ``demo``; an
            ``--out`` folder that holds other files (``runs.claim_output_folder``). All before anything is written.
    """
    from endorm import paper_figures
    from endorm.paper_figures._common import Context
    from endorm.llm.runs import claim_output_folder

    unknown = sorted(set(args.only or ()) - set(paper_figures.figure_modules()))
    if unknown:  # every argument checked before anything is written
        raise ValueError(f"unknown figure(s) {unknown}; available: {list(paper_figures.figure_modules())}")
    runs = tuple(args.runs or ())
    Context(Path(args.out), quick=args.quick, seed=args.seed, runs=runs).check_runs()
    claim_output_folder(args.out, "figures", {"quick": args.quick, "seed": args.seed,
                                              "from": [str(r) for r in runs]})  # never the user's own folder
    made = paper_figures.make_all(Path(args.out), quick=args.quick, only=args.only, runs=runs, seed=args.seed,
                                  progress=not args.no_progress)
    for f in made:
        print(f.png)
    print(Path(args.out) / "index.md")
    return 0


def register(sub) -> None:
    """Add ``endorm figures`` to the subparsers ``sub``: --out, --from RUN_DIR..., --quick, --only NAME..., --seed,
    --no-progress."""
    import pkgutil

    from endorm import paper_figures

    f = sub.add_parser("figures", help="regenerate every figure and table (PNG + JSON + index.md) into --out")
    f.add_argument("--out", default="figures", help="output folder (default ./figures)")
    f.add_argument("--from", dest="runs", nargs="+", metavar="RUN_DIR",
                   help="run folders of endorm bench / eval-math / rl / demo to draw the paper's results from "
                        "(default: a run on the ground-truth token world)")
    f.add_argument("--quick", action="store_true", help="smaller settings: the whole set in under a minute")
    f.add_argument("--seed", type=SEED, default=0, help="seed of the random instances and the token world (default 0)")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    names = sorted(m.name for m in pkgutil.iter_modules(paper_figures.__path__) if not m.name.startswith("_"))
    f.add_argument("--only", nargs="+", metavar="NAME", help=f"only these figures, among: {', '.join(names)}")
    f.set_defaults(func=run)
