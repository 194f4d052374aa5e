"""Every figure and table of the paper, one module each; ``make_all`` (``endorm figures``) regenerates them.

A figure module defines ``NAME`` (its file stem), ``TITLE`` and ``make(ctx: Context) -> Figure``: it draws
one PNG and writes every number drawn as JSON beside it (``_common.save``), and returns a ``Figure``
whose ``caption`` (Markdown) says what is drawn, on what data, the n, and what to look for. ``make_all``
writes ``index.md``, which shows every figure with its caption. Theory figures are exact
(``endorm.tabular``); the paper's results (Figure 1, Tables 1-3) are drawn from run folders of
``endorm bench`` / ``eval-math`` / ``rl`` (``--from``) or, without them, from the ground-truth token world.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from ._common import Context, Figure  # noqa: F401 (Figure: re-exported, the type make_all returns)

#: The order of ``index.md``: the theory first (Prop. 1, Thm. 1, Thm. 2, Sec. 4.3, shaping), then the paper's results.
ORDER = ("proposition1", "theorem1", "horizon_scaling", "iteration", "shaping",
         "figure1_multifaceted", "table1_rmbench", "table2_dsp", "table3_math")


def figure_modules() -> dict:
    """{name: module} for every figure module in this package, in ``ORDER`` (others after, by name).

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
    rank = {n: i for i, n in enumerate(ORDER)}
    return dict(sorted(mods.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def make_all(out_dir, quick: bool = False, only=None, runs=(), seed: int = 0, progress: bool = False) -> list:
    """Regenerate figures (``endorm figures``) and write ``index.md`` showing them with their captions.

    Args:
        out_dir: folder for the PNG, JSON and ``index.md`` files (created if missing).
        quick: fewer/smaller settings (the whole set in under a minute on 2 CPU cores), for tests and previews.
        only: iterable of figure names to make; None or empty makes all.
        runs: run folders of ``endorm bench`` / ``eval-math`` / ``rl`` (``--from``) for the paper's results;
            empty: those figures are drawn from the ground-truth token world (``Context.world``).
        seed: seed of every random instance and of the token-world run.
        progress: show a tqdm bar over the figures.

    Returns:
        The ``Figure`` of each module made, in ``ORDER``.

    Raises:
        ValueError: an unknown name in ``only`` (``unknown figure(s) ['x']; available: [...]``), or a run folder
            in ``runs`` that no figure can read (``Context.check_runs``); both before anything is written.
        ImportError: matplotlib is not installed; OSError: a file cannot be written.
    """
    from tqdm.auto import tqdm

    from endorm._io import atomic_write_bytes

    mods = figure_modules()
    unknown = sorted(set(only or ()) - set(mods))
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; available: {list(mods)}")
    ctx = Context(Path(out_dir), quick=quick, seed=seed, runs=runs)
    ctx.check_runs()
    chosen = [(n, m) for n, m in mods.items() if not only or n in only]
    made = []
    for name, mod in tqdm(chosen, desc="figures", disable=not progress):
        made.append(mod.make(ctx))
    atomic_write_bytes(ctx.out / "index.md", index_markdown(made, ctx).encode())
    return made


def index_markdown(figures, ctx: Context) -> str:
    """``index.md``: a heading, how it was made, then per figure its title, the image, the caption and the JSON link;
    last, links to the figures in ``ctx.out`` that this run did not remake (``--only`` into an earlier folder).

    Args:
        figures: the ``Figure`` list of ``make_all``; ctx: the ``Context`` they were made in.

    Returns:
        the Markdown text.
    """
    source = (", ".join(str(r) for r in ctx.runs) if ctx.runs else
              "no run folders given (--from): the paper's results are shown on the ground-truth token world")
    lines = ["# endorm figures", "",
             f"Made by `endorm figures{' --quick' if ctx.quick else ''}` (seed {ctx.seed}). "
             f"Runs: {source}.", "",
             "Each figure's numbers are in the JSON file of the same name.", ""]
    for f in figures:
        lines += [f"## {f.title}", "", f"![{f.title}]({f.png.name})", "", f.caption.strip(), "",
                  f"Numbers: [`{f.json.name}`]({f.json.name})", ""]
    made = {f.name for f in figures}
    older = [n for n in figure_modules() if n not in made and (ctx.out / f"{n}.png").is_file()]
    if older:  # a rerun with --only: the other figures stay, from an earlier run with perhaps other settings
        lines += ["## Figures of an earlier run", "", "Not remade by this run (`--only`); each JSON holds its own "
                  "seed, settings and caption: " + ", ".join(f"[`{n}.png`]({n}.png)" for n in older) + ".", ""]
    return "\n".join(lines)
