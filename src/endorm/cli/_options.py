"""Flags built from the library's option objects, so that each default and rule lives in one place."""
from __future__ import annotations

import argparse
from dataclasses import MISSING, fields


def add_option_flags(parser: argparse.ArgumentParser, cls, names=None, defaults: bool = True) -> None:
    """Add ``--name`` flags for the fields ``names`` (default: all) of the dataclass ``cls``.

    Each field's metadata gives the help text and choices; booleans become ``store_true`` (``--name``),
    or ``store_false`` (``--no-name``) for those whose default is True.
    With ``defaults=False`` every flag defaults to None ("not given"), for commands that merge
    flags over a config file.

    Args:
        parser: the (sub)command's parser.
        cls: a dataclass whose fields carry ``metadata`` "help" and "choices" (e.g. ``RewardOptions``).
        names: the fields to add, an iterable of names (default: all).
        defaults: use the fields' defaults (True) or None.
    """
    for f in fields(cls):
        if names is not None and f.name not in names:
            continue
        flag, meta = "--" + f.name.replace("_", "-"), f.metadata
        default = f.default if (defaults and f.default is not MISSING) else None
        if f.type in (bool, "bool") and f.default is True:
            parser.add_argument("--no-" + flag[2:], dest=f.name, action="store_false",
                                default=True if defaults else None, help=meta.get("help"))
            continue
        if f.type in (bool, "bool"):
            parser.add_argument(flag, action="store_true", default=default, help=meta.get("help"))
            continue
        typ = {"float": float, "int": int}.get(str(f.type).split(" ")[0], str)
        if meta.get("range"):
            typ = ranged(typ, *meta["range"])
        parser.add_argument(flag, type=typ, default=default, choices=meta.get("choices"), help=meta.get("help"))


def ranged(kind, low=None, high=None, low_open: bool = False, high_open: bool = False):
    """An argparse ``type`` that parses ``kind`` (int or float) and checks its range (``endorm._checks.check_range``).

    argparse prefixes the flag: ``endorm bench: error: argument --chunk: must be >= 1, got 0`` (exit 2).
    Floats must be finite (nan and inf are refused).

    Args:
        kind: ``int`` or ``float``.
        low, high: the bounds (None: unbounded); ``low_open``/``high_open`` exclude them.

    Returns:
        a callable str -> kind that raises ``argparse.ArgumentTypeError`` out of range.
    """
    from endorm._checks import check_range

    def parse(text: str):
        try:
            return check_range(text, "", low, high, low_open, high_open, kind)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e).lstrip()) from None

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


POSITIVE_INT = ranged(int, 1)
NONNEGATIVE_INT = ranged(int, 0)
SEED = ranged(int, 0, 2**32 - 1)  # numpy and torch seeds
