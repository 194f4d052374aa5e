"""What every figure module shares: the ``Context`` it is made in, the ``Figure`` it returns, ``save``
(PNG + JSON side by side, atomically), a colour-blind-safe palette (one colour per method), the Wilson interval
(from ``endorm.llm.bench.metrics``, torch-free), the grouped bars of the result figures and ``module_main``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from endorm.llm.bench.metrics import wilson_interval  # also imported from here by the figure modules

#: Okabe & Ito (2008) colour-blind-safe palette, in the order figures use it.
COLORS = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
          "sky": "#56B4E9", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000", "grey": "#999999"}
PALETTE = [COLORS[k] for k in ("blue", "orange", "green", "vermillion", "sky", "purple", "yellow", "black")]
#: One colour per method label wherever it is drawn, so that the paper's panel and this run's agree (the bench's
#: method order differs from the paper's: pointwise before pairwise).
METHOD_COLORS = {"EndoRM": COLORS["blue"], "Generative Verifier": COLORS["orange"], "GenRM-Pairwise": COLORS["green"],
                 "GenRM-Pointwise": COLORS["vermillion"], "Skywork-Reward-Llama-3.1-8B (trained)": COLORS["sky"],
                 "unigram baseline": COLORS["purple"], "length baseline": COLORS["grey"]}


@dataclass
class Figure:
    """One figure made by a module: its name (file stem), title, Markdown caption and the two files written."""

    name: str
    title: str
    caption: str
    png: Path
    json: Path


@dataclass
class Context:
    """What a figure module is made in: the output folder, ``quick``, the seed and the run folders (``--from``).

    ``world()`` runs the ground-truth token-world study once (lazily, cached) for the result figures that
    have no run folder to draw from.
    """

    out: Path
    quick: bool = False
    seed: int = 0
    runs: tuple = ()
    _world: dict | None = field(default=None, repr=False)
    _described: list | None = field(default=None, repr=False)

    def __post_init__(self):
        self.out = Path(self.out)
        self.runs = tuple(Path(r) for r in self.runs)

    def check_runs(self) -> list:
        """Check every ``--from`` folder before anything is made (``_runs.check_all``: each folder's kind, what
        its figure reads, and the pairings figures need), once per ``Context``.

        Returns:
            the ``_runs.Run`` of each ``--from`` folder, in order (kept: the figures read them from here).

        Raises:
            ValueError: a folder that is missing or that no figure can read, naming it; two runs for one figure;
                eval-math runs Table 3 cannot place.
        """
        if self._described is None:
            from ._runs import check_all

            self._described = check_all(self.runs) if self.runs else []
        return self._described

    def world(self) -> dict:
        """The token-world study's results (``_world.world_results``), run once per ``Context``.

        Returns:
            the dict of ``_world.world_results``.
        """
        if self._world is None:
            from ._world import world_results

            self._world = world_results(self)
        return self._world


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, ctx: Context, name: str, title: str, caption: str, numbers: dict) -> Figure:
    """Write ``<name>.png`` and ``<name>.json`` into ``ctx.out`` atomically and close ``fig``.

    Args:
        fig: the matplotlib figure (already titled and labelled).
        ctx: the ``Context``; name: the file stem; title: the figure's title (also in ``index.md``).
        caption: Markdown: what is drawn, on what data, the n, intervals, what to look for.
        numbers: every number drawn (JSON-serializable); saved with ``title`` and ``caption``.

    Returns:
        the ``Figure``.

    Raises:
        TypeError: ``numbers`` holds something JSON cannot encode (nothing is written); OSError: a file cannot be
            written.
    """
    from endorm._io import atomic_savefig, atomic_write_json

    plt = pyplot()
    js = atomic_write_json(ctx.out / f"{name}.json", {"name": name, "title": title, "caption": caption,
                                                       "quick": ctx.quick, "seed": ctx.seed, **numbers})
    png = atomic_savefig(fig, ctx.out / f"{name}.png", dpi=120)
    plt.close(fig)
    return Figure(name, title, caption, png, js)


def draw_bars(ax, groups: list, series: dict, width: float | None = None, scale: float = 1.0,
              n_labels: bool = True) -> None:
    """Grouped bars with asymmetric intervals and an "n=" label above each bar (shared by the result figures).

    Args:
        ax: the matplotlib axes; groups: the x tick labels, G str.
        series: ``{label: [cell or None] * G}``, a cell ``{"value", "low", "high" (None: no interval), "n"}``;
            None draws no bar. A method label has its ``METHOD_COLORS`` colour, any other label ``PALETTE[k]``.
        width: bar width (default 0.8 / len(series)); scale: multiplies every value (100: percent).
        n_labels: print ``n=<n>`` above each bar that has an n.
    """
    width = width or 0.8 / max(len(series), 1)
    for k, (label, cells) in enumerate(series.items()):
        x = np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width
        y = np.array([scale * c["value"] if c else np.nan for c in cells], float)
        err = np.array([[scale * (c["value"] - c["low"]), scale * (c["high"] - c["value"])]
                        if c and c.get("low") is not None else [0.0, 0.0] for c in cells], float).T
        color = METHOD_COLORS.get(label, PALETTE[k % len(PALETTE)])
        ax.bar(x, y, width, yerr=err if err.any() else None, capsize=2, label=label, color=color)
        for xi, yi, c in zip(x, y, cells):
            if n_labels and c and c.get("n") is not None and np.isfinite(yi):
                top = scale * c["high"] if c.get("high") is not None else yi
                ax.annotate(f"n={c['n']}", (xi, top), xytext=(0, 3), textcoords="offset points", ha="center",
                            va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(range(len(groups)), groups, rotation=15 if len(groups) > 4 else 0)


def wilson_cell(value: float, n: int) -> dict:
    """``{"value", "low", "high", "n"}``: a proportion and its Wilson 95% interval (k = value x n, may be fractional)."""
    lo, hi = wilson_interval(value * n, n)
    return {"value": value, "low": lo, "high": hi, "n": n}


def module_main(name: str, argv=None) -> int:
    """``python -m endorm.paper_figures.<name> [--out DIR] [--quick] [--seed N] [--from RUN_DIR ...]``.

    The same as ``endorm figures --only <name>`` (it is that command): the same checks before anything is
    written (a folder holding other files is refused, ``--from`` folders are checked), ``run.json`` and an
    ``index.md`` showing this one figure.

    Args:
        name: the figure module's ``NAME``; argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        the exit status of ``endorm figures`` (0; 2 with one line on stderr for bad input).
    """
    import sys

    from endorm.cli import main

    return main(["figures", *(sys.argv[1:] if argv is None else argv), "--only", name])
