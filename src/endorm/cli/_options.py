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
        parser.add_argument(flag, type=typ, default=default, choices=meta.get("choices"), help=meta.get("help"))
