"""Theorem 2 figure: exact gap_BC ~ H^2 versus gap_RL ~ H on the compounding family.

    python -m endorm.paper_figures.horizon_scaling --out figures

writes ``horizon_scaling.png`` (log-log gaps, c*H and c*H^2 guides, slopes in the legend)
and ``horizon_scaling.json`` (every number in the plot).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

NAME = "horizon_scaling"


def make(out_dir, quick: bool = False) -> list:
    """Theorem 2 figure: exact gap_BC and gap_RL of ``horizon_scaling`` on ``CompoundingFamily()``, log-log.

    Args:
        out_dir: folder for ``horizon_scaling.png`` and ``horizon_scaling.json`` (created if missing).
        quick: H = 32..256 instead of 16..1024 (powers of 2).

    Returns:
        [png path, json path] (``Path``); the JSON is ``HorizonScaling.to_dict()`` (gaps in reward units).

    Raises:
        ImportError: matplotlib is not installed; OSError: a file cannot be written (as ``atomic_write_bytes``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from endorm._io import atomic_savefig, atomic_write_json
    from endorm.tabular import horizon_scaling

    horizons = (32, 64, 128, 256) if quick else (16, 32, 64, 128, 256, 512, 1024)
    res = horizon_scaling(horizons)
    H, bc, rl = np.array(res.horizons, float), res.gap_bc, res.gap_rl
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=120)
    ax.loglog(H, bc, "o-", color="C3", label=f"behaviour cloning (slope {res.slope_bc:.2f})")
    ax.loglog(H, rl, "s-", color="C0", label=f"RL on endogenous reward (slope {res.slope_rl:.2f})")
    ax.loglog(H, bc[-1] * (H / H[-1]) ** 2, ":", color="C3", alpha=0.6, label=r"$c\,H^2$")
    ax.loglog(H, rl[0] * (H / H[0]), ":", color="C0", alpha=0.6, label=r"$c\,H$")
    ax.set_xlabel("horizon H")
    ax.set_ylabel(r"$V^{\pi^E}_{r^*} - V^{\pi}_{r^*}$ (exact)")
    ax.set_title("Theorem 2: imitation compounds, RL on $\\hat r$ does not")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    out = Path(out_dir)
    png = atomic_savefig(fig, out / f"{NAME}.png")
    plt.close(fig)
    js = atomic_write_json(out / f"{NAME}.json", res.to_dict())
    return [png, js]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="figures")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    print(*make(a.out, a.quick), sep="\n")
