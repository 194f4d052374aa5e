"""Helpers shared by the benchmark scripts (a sibling module: the scripts put this folder on sys.path)."""
from __future__ import annotations

import os
import platform
import sys


def cpus() -> int:
    """CPUs this process may use (the affinity mask on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def shared_dir():
    """The real benchmark files and tokenizers: ``$ENDORM_SHARED``, else ``../shared`` beside the repository."""
    from pathlib import Path

    return Path(os.environ.get("ENDORM_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def output_flags(parser, strict: str | None = "a goal is missed",
                 json_help: str = "also write the numbers as JSON") -> None:
    """Add the flags every benchmark shares: ``--json PATH``, ``--strict`` (unless ``strict`` is None; its help
    reads "exit with status 1 if <strict>") and ``--quiet``."""
    from pathlib import Path

    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help=json_help)
    if strict is not None:
        parser.add_argument("--strict", action="store_true", help=f"exit with status 1 if {strict}")
    parser.add_argument("--quiet", action="store_true", help="no progress output on stderr")


def fill_defaults(args, values: dict) -> None:
    """Set each option of ``values`` (the script's DEFAULTS, or QUICK with --quick) that the user left at None."""
    for key, value in values.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def log(tag: str, msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[{tag}] {msg}", file=sys.stderr, flush=True)


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def version(name: str):
    """An installed distribution's version, or None."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _v

    try:
        return _v(name)
    except PackageNotFoundError:
        return None


def versions() -> dict:
    """Python, package versions and the machine (torch is not imported here)."""
    import numpy as np

    v = version
    return {"python": platform.python_version(), "numpy": np.__version__, "torch": v("torch"),
            "transformers": v("transformers"), "endorm": v("endorm"), "machine": platform.machine(),
            "processor": platform.processor(), "cpu_count": os.cpu_count(), "cpus_usable": cpus()}


def table(title: str, rows, goal_width: int = 10) -> list:
    """Lines of a metric / value / goal / status table under ``title``; rows are 4-tuples of str."""
    w = max(len(r[0]) for r in rows)
    return [title, "", f"{'metric':<{w}}  {'value':>12}  {'goal':<{goal_width}}  status",
            f"{'-' * w}  {'-' * 12}  {'-' * goal_width}  ------"] + \
        [f"{a:<{w}}  {b:>12}  {c:<{goal_width}}  {d}".rstrip() for a, b, c, d in rows]


def finish(args, result: dict, table: str, tag: str, ok: bool) -> int:
    """Print the table, write --json atomically, and return the exit status (1 if --strict and a goal missed)."""
    from endorm._io import atomic_write_json

    print(table)
    if args.json is not None:
        atomic_write_json(args.json, result)
        log(tag, f"wrote {args.json}", args.quiet)
    return 1 if (args.strict and not ok) else 0
