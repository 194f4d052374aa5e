"""The training curves of ``endorm rl``: mean reward and KL per logged step, from the trainer's log history."""
from __future__ import annotations

from pathlib import Path

CURVES = {"reward": "reward", "reward_std": "reward_std", "kl": "kl",
          "token_reward_mean": "endorm/token_reward_mean", "completion_length": "completions/mean_length"}


def curves(log_history: list) -> dict:
    """Per logged step: mean reward, its std, KL, mean per-token r_hat and completion length (None if not logged).

    Args:
        log_history: ``trainer.state.log_history``; entries with "reward" and "step" are kept.

    Returns:
        ``{"step", "reward", "reward_std", "kl", "token_reward_mean", "completion_length"}``, each
        a list with one entry per kept step (TRL's keys: see ``CURVES``).
    """
    rows = [h for h in log_history if "reward" in h and "step" in h]
    out = {"step": [int(h["step"]) for h in rows]}
    out.update({k: [h.get(src) for h in rows] for k, src in CURVES.items()})
    return out


def write_curves(out_dir: Path, log_history: list) -> tuple[Path, Path]:
    """curves.json and curves.png (reward and KL against step), both written atomically.

    Returns:
        ``(json path, png path)`` in ``out_dir``.

    Raises:
        OSError: a file cannot be written.
    """
    from matplotlib.figure import Figure

    from endorm._io import atomic_savefig, atomic_write_json

    c = curves(log_history)
    js = atomic_write_json(out_dir / "curves.json", c)
    fig = Figure(figsize=(9, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    for ax, key, label in ((ax1, "reward", "mean endogenous reward"), (ax2, "kl", "KL(policy || reference)")):
        pts = [(s, v) for s, v in zip(c["step"], c[key]) if v is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=2)
        ax.set_xlabel("step")
        ax.set_title(label)
    fig.tight_layout()
    return js, atomic_savefig(fig, out_dir / "curves.png", dpi=120)
