"""``endorm figures``: regenerate every figure (``endorm.paper_figures``)."""
from __future__ import annotations

from pathlib import Path


def run(args) -> int:
    """Regenerate the figures into ``--out`` and print their paths.

    Returns:
        The exit status, 0.

    Raises:
        ValueError: an unknown name in ``--only`` (``unknown figure(s) [...]; available: [...]``); an ``--out``
            folder that holds other files (``runs.claim_output_folder``).
    """
    from endorm import paper_figures
    from endorm.llm.runs import claim_output_folder

    unknown = sorted(set(args.only or ()) - set(paper_figures.figure_modules()))
    if unknown:  # every argument checked before anything is written
        raise ValueError(f"unknown figure(s) {unknown}; available: {sorted(paper_figures.figure_modules())}")
    claim_output_folder(args.out, "figures", {"quick": args.quick})  # never the user's own folder
    written = paper_figures.make_all(Path(args.out), quick=args.quick, only=args.only)
    for path in written:
        print(path)
    return 0


def register(sub) -> None:
    """Add ``endorm figures`` to the subparsers ``sub``: flags --out (default figures), --quick, --only NAME..."""
    f = sub.add_parser("figures", help="regenerate every figure (PNG + JSON) into --out")
    f.add_argument("--out", default="figures", help="output folder (default ./figures)")
    f.add_argument("--quick", action="store_true", help="smaller settings, for smoke tests")
    import pkgutil

    from endorm import paper_figures

    names = sorted(m.name for m in pkgutil.iter_modules(paper_figures.__path__) if not m.name.startswith("_"))
    f.add_argument("--only", nargs="*", metavar="NAME", help=f"only these figures, among: {', '.join(names)}")
    f.set_defaults(func=run)
