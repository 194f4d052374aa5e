"""``endorm verify``: every claim of the paper checked exactly on token MDPs (``endorm.tabular``)."""
from __future__ import annotations

import sys
import time

from ._options import SEED


def _fmt(x: float) -> str:
    """A float to 4 significant digits; anything else as ``str``."""
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def run(args) -> int:
    """Run every check, print one row per claim, write ``--json``; 1 if any check fails.

    Returns:
        The exit status: 0 if every check holds, else 1.
    """
    from tqdm import tqdm

    from endorm import tabular as T

    from endorm._io import atomic_write_json

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


def register(sub) -> None:
    """Add ``endorm verify`` to the subparsers ``sub``: flags --quick, --json PATH, --seed, --no-progress."""
    v = sub.add_parser("verify", help="check every claim of the paper exactly on token MDPs")
    v.add_argument("--quick", action="store_true", help="fewer random instances (CI smoke run, seconds)")
    v.add_argument("--json", metavar="PATH", help='also write {"checks": [...]} to PATH (JSON)')
    v.add_argument("--seed", type=SEED, default=0, help="seed of the random instances (default 0)")
    v.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    v.set_defaults(func=run)
