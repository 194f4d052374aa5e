"""What every figure module shares: the ``Context`` it is made in, the ``Figure`` it returns, ``save``
(PNG + JSON side by side, atomically), a colour-blind-safe palette and the Wilson interval (from
``endorm.llm.bench.metrics``, torch-free)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from endorm.llm.bench.metrics import wilson_interval  # noqa: F401 (re-exported for the figure modules)

#: Okabe & Ito (2008) colour-blind-safe palette, in the order figures use it.
COLORS = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
          "sky": "#56B4E9", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000", "grey": "#999999"}
PALETTE = [COLORS[k] for k in ("blue", "orange", "green", "vermillion", "sky", "purple", "yellow", "black")]


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

    def __post_init__(self):
        self.out = Path(self.out)
        self.runs = tuple(Path(r) for r in self.runs)

    def check_runs(self) -> None:
        """Check every ``--from`` folder before anything is made (``_runs.check_all``: each folder's kind, and the pairings figures need).

        Raises:
            ValueError / FileNotFoundError: a folder that is missing or that no figure can read, naming it.
        """
        if self.runs:
            from ._runs import check_all

            check_all(self.runs)

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
