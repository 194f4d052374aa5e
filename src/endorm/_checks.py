"""One range rule for every numeric option, used by the command-line parser and the library's config checks."""
from __future__ import annotations

import math


def check_range(value, name: str, low=None, high=None, low_open: bool = False, high_open: bool = False,
                kind=float):
    """``value`` as ``kind`` (int or float), finite and within the bounds, else a ValueError naming ``name``.

    Args:
        value: the value (a str from the command line, or a number from a config file).
        name: what the message calls it, e.g. ``"--lr"``.
        low, high: the bounds (None: unbounded); ``low_open``/``high_open`` exclude them.
        kind: ``int`` or ``float``; an int option refuses 1.5 and True, a float one accepts ints.

    Returns:
        the value converted to ``kind``.

    Raises:
        ValueError: ``--lr must be a finite number, got 'nan'``; ``--steps must be >= 1, got 0``;
            ``--steps must be an integer, got '1.5'``.
    """
    what = "an integer" if kind is int else "a finite number"
    if isinstance(value, bool):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    try:
        number = kind(value) if isinstance(value, str) or kind is float else value
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    if kind is int and not isinstance(number, int):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if kind is float and not (isinstance(number, float) and math.isfinite(number)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    shown = value if isinstance(value, str) else number
    if low is not None and (number < low or (low_open and number == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {shown}")
    if high is not None and (number > high or (high_open and number == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {shown}")
    return number
