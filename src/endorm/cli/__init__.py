"""The ``endorm`` command line: one module per command; only this package imports argparse.

Each command module has ``register(subparsers)`` (its flags) and ``run(args) -> int``, which
builds the library's option or config objects from the flags and calls the library.
"""
from __future__ import annotations

import argparse
import sys

from . import bench, demo, eval_math, figures, rl, score, serve, verify

COMMANDS = (verify, figures, score, bench, eval_math, rl, demo, serve)


def build_parser() -> argparse.ArgumentParser:
    """The ``endorm`` parser with every subcommand (imports no optional dependency).

    Returns:
        An ``argparse.ArgumentParser``; each subcommand sets ``func`` (its module's ``run``).
    """
    p = argparse.ArgumentParser(prog="endorm", description="Endogenous reward models (arXiv 2506.23235).")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


# command: (the extra that installs what it needs, the top-level modules it imports)
EXTRAS = {
    "score": ("llm", ("torch", "transformers")),
    "bench": ("llm", ("torch", "transformers", "accelerate")),
    "eval-math": ("math", ("torch", "transformers", "math_verify")),
    "rl": ("rl", ("torch", "transformers", "trl", "datasets", "yaml")),
    "demo": ("rl", ("torch", "transformers", "trl", "datasets")),
    "serve": ("serve", ("torch", "transformers", "starlette", "uvicorn")),
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
    """Parse ``argv``, check the command's extra, run it; bad input is one line on stderr and exit 2.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: the command's own (0 on success; ``verify``: 1 if a check fails), or 2 after one
        line on stderr for a missing optional dependency or bad input (ValueError, TypeError, OSError).

    Raises:
        SystemExit: argparse on bad flags (status 2), or a command refusing a combination of flags.
        ModuleNotFoundError: a missing module that is not one of the command's optional dependencies.
    """
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
