"""One module per figure; ``make_all`` (``endorm figures``) regenerates every one.

A figure module defines ``NAME`` and ``make(out_dir, quick=False) -> list[Path]``, and
writes a PNG plus the numbers behind it as JSON, side by side.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path


def figure_modules() -> dict:
    """{name: module} for every figure module in this package.

    Imports every non-underscore submodule; those without a ``make`` function are skipped.

    Returns:
        A dict from module name (e.g. ``"horizon_scaling"``) to the imported module.
    """
    mods = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            mod = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(mod, "make"):
                mods[info.name] = mod
    return mods


def make_all(out_dir, quick: bool = False, only=None) -> list:
    """Regenerate figures (``endorm figures``): each module's ``make(out_dir, quick)``, in name order.

    Args:
        out_dir: folder for the PNG and JSON files (created if missing).
        quick: fewer/smaller settings, for tests and previews.
        only: iterable of figure names to make; None or empty makes all.

    Returns:
        List of the ``Path`` objects written (PNG and JSON per figure).

    Raises:
        ValueError: an unknown name in ``only`` (``unknown figure(s) ['x']; available: ['horizon_scaling']``).
        ImportError: matplotlib is not installed; OSError: a file cannot be written.
    """
    mods = figure_modules()
    unknown = sorted(set(only or ()) - set(mods))
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; available: {sorted(mods)}")
    written = []
    for name, mod in sorted(mods.items()):
        if not only or name in only:
            written += mod.make(Path(out_dir), quick=quick)
    return written
