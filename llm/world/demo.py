"""``endorm demo``: the ground-truth token-world study (see ``endorm.llm.world``).

Builds a world with a known r*, samples expert demonstrations (written as JSONL text),
trains a tiny Llama on them from scratch (CPU), and measures EndoRM against ground truth:
preference accuracy, Theorem 1 per pair, Theorem 2 returns, and the promptable reward.
Writes ``results.json`` (atomically), ``returns.png`` with the numbers it draws in ``returns.json``
(``write_figure``), and per horizon H ``H<H>/world.json``,
``H<H>/demos.jsonl``, ``H<H>/model/`` and the RL runs ``H<H>/rl_trl<k>/``.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
from pathlib import Path

QUICK = dict(n_domains=3, vocab_size=8, n_automaton=3, horizons=(12,), alpha=0.25, n_demos=3000, steps=250,
             hidden=48, layers=2, pairs_per_domain=100, n_samples=300, beam_width=4,
             rl_steps=30, rl_beta=0.01, n_seeds=1, compounding=False)
FULL = dict(n_domains=4, vocab_size=12, n_automaton=4, horizons=(16, 32), alpha=0.25, n_demos=8000, steps=800,
            hidden=64, layers=2, pairs_per_domain=300, n_samples=1000, beam_width=8,
            rl_steps=60, rl_beta=0.01, n_seeds=3, compounding=True)


def run_demo(quick: bool = True, out_dir="demo_out", seed: int = 0, config: dict | None = None,
             verbose: bool = True) -> dict:
    """The whole token-world study: per horizon H a world, demonstrations, a tiny LM, and (1)-(5) against r*.

    (1) preference accuracy on true-BT-labelled pairs, (2) Theorem 1 per pair: TV(P_r*, P_r_hat)
    <= (alpha/4)(|dlog pi(y)| + |dlog pi(y')|), (3) true returns of the expert, the model and
    beam search, (4) the promptable-reward matrix, (5) Theorem 2: GRPO on the model's own r_hat,
    gap_BC - gap_RL (expected to grow with H).

    Args:
        quick: the ``QUICK`` settings (one horizon, minutes on a CPU) or ``FULL``.
        out_dir: the output folder (see the module docstring).
        seed: the base seed (world, demonstrations, training, sampling, RL).
        config: overrides of ``QUICK``/``FULL`` keys.
        verbose: print each horizon's report (``report_horizon``) and the files written.

    Returns:
        ``{"seed", "quick", "config", "judges" (why the Appendix D judges are not run), "compounding",
        "horizons": {str(H): {"train": {"final_loss" (nats/token, mean of the last 20 steps),
        "expert_entropy_per_token" (nats), "seconds"}, "preferences" (``preference_study``),
        "returns" (``return_study`` and "n_samples"), "returns_by_domain", "promptable" (``promptable_study``),
        "rl", "seconds"}}, "theorem2_gain_grows_with_H" (None with one horizon), "figure" (the PNG's path)}``.
        "returns_by_domain": ``{"domains" (the prompt words), "expert", "optimal_hard", "uniform" (exact, per
        domain, ``reference_returns_by_domain``), "bc_sampled", "rl_sampled" (``sampled_returns_by_domain``:
        "mean", "se", "n" per domain; RL: means over seeds, s.e. of that mean), "delta" (RL - BC per domain)}``. "rl":
        ``rl_return_study``'s keys averaged over ``n_seeds``, ``rl_sampled_seed_std``, ``n_seeds``,
        ``steps``, ``beta``, ``n_samples``, ``bc_sampled_seed_mean``/``_std`` (the BC model's sampled return) and
        the gaps to the expert's return ``gap_bc``, ``gap_rl``, ``gap_beam``, ``gap_bc_minus_gap_rl``.
        Returns are true returns under r* (no entropy term).

    Raises:
        ValueError: bad world settings (``make_world``); OSError: a file cannot be written.
    """
    from endorm._io import atomic_write_json

    cfg = dict(QUICK if quick else FULL)
    cfg.update(config or {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {"seed": seed, "quick": quick, "config": {k: list(v) if isinstance(v, tuple) else v
                                                        for k, v in cfg.items()}, "horizons": {},
               "judges": JUDGES_NOTE,
               "compounding": bool(cfg.get("compounding", False))}
    for H in cfg["horizons"]:
        results["horizons"][str(H)] = study_horizon(H, cfg, seed, out_dir / f"H{H}")
        if verbose:
            print(report_horizon(H, results["horizons"][str(H)]))
    gains = [results["horizons"][str(H)]["rl"]["gap_bc_minus_gap_rl"] for H in cfg["horizons"]]
    results["theorem2_gain_grows_with_H"] = (bool(all(b > a for a, b in zip(gains, gains[1:])))
                                             if len(gains) > 1 else None)
    results["figure"] = str(write_figure(results, out_dir / "returns.png"))  # and returns.json beside it
    atomic_write_json(out_dir / "results.json", results)
    if verbose:
        print(f"\nTheorem 2 gain (gap_BC - gap_RL) grows with H: {results['theorem2_gain_grows_with_H']}")
        print(f"wrote {out_dir / 'results.json'} and {results['figure']}")
    return results


JUDGES_NOTE = ("not applicable: the world's vocabulary has no YES/NO or digit tokens, so the Appendix D "
               "judge prompts cannot be posed to the model")


#: Readable names of the policies in ``returns.png`` (keys of ``return_study`` / ``rl_return_study``).
POLICY_LABELS = {"expert": r"expert $\pi^E$ (exact)", "model_sampled": "BC model, sampled",
                 "rl_sampled": r"RL on own $\hat r$, sampled", "model_greedy": "BC model, greedy",
                 "model_beam": "BC model, beam search", "rl_greedy": r"RL on own $\hat r$, greedy",
                 "uniform": "uniform random (exact)"}
ACCURACY_LABELS = {"endorm": "EndoRM", "unigram": "unigram baseline", "length": "length baseline"}


def figure_numbers(results: dict) -> dict:
    """Every number ``returns.png`` draws (written beside it as ``returns.json``), from ``run_demo``'s results.

    True return per policy per H (exact, or the Monte Carlo mean with its 95% normal interval mean +- 1.96
    s.e.), the hard optimum of r*; preference accuracy with the Wilson 95% interval (``wilson_interval``; score
    ties count 1/2, n = pairs whose true returns differ); Theorem 1's TV and bound; the largest H's promptable matrix.

    Args:
        results: ``run_demo``'s dict (at least "horizons"; ``study_horizon``'s keys per H).

    Returns:
        ``{"horizons": [str H], "returns": {H: {policy: {"value", "interval95" ([lo, hi] or None: exact or
        deterministic), "n"}}}, "optimal_hard": {H: value}, "accuracy": {H: {method: {"value", "wilson95",
        "n"}}}, "theorem1": {H: {"tv_mean", "bound_mean", "tv_max", "bound_max", "violations", "pairs"}},
        "promptable": {"H", "matrix" [D][D] fractions, "n_per_cell" [D]}}`` (returns in reward units under r*).
    """
    from endorm.llm.bench.metrics import wilson_interval

    Hs = list(results["horizons"])
    out = {"horizons": Hs, "returns": {}, "optimal_hard": {}, "accuracy": {}, "theorem1": {}}
    for H in Hs:
        r = results["horizons"][H]
        R, L, p = r["returns"], r["rl"], r["preferences"]
        n_dom = len(r["promptable"]["matrix"])
        ses = {"model_sampled": (R["model_sampled_se"], R.get("n_samples", L.get("n_samples"))),
               "rl_sampled": (L["rl_sampled_se"], L.get("n_samples"))}
        out["returns"][H] = {}
        for k in POLICY_LABELS:
            v = L[k] if k.startswith("rl_") else R[k]
            se, n = ses.get(k, (None, n_dom if k in ("model_greedy", "model_beam", "rl_greedy") else None))
            out["returns"][H][k] = {"value": v, "n": n,
                                    "interval95": None if se is None else [v - 1.959964 * se, v + 1.959964 * se]}
        out["optimal_hard"][H] = R["optimal_hard"]
        n = p.get("n_labelled", p["n_pairs"])
        out["accuracy"][H] = {m: {"value": p[f"accuracy_{m}"], "n": n,
                                  "wilson95": list(wilson_interval(p[f"accuracy_{m}"] * n, n))}
                              for m in ACCURACY_LABELS if p.get(f"accuracy_{m}") is not None}
        out["theorem1"][H] = {k: p["theorem1"][k] for k in ("tv_mean", "bound_mean", "tv_max", "bound_max",
                                                             "violations", "pairs")}
    last = results["horizons"][Hs[-1]]
    out["promptable"] = {"H": Hs[-1], "matrix": last["promptable"]["matrix"],
                         "n_per_cell": [last["preferences"].get("n_by_domain", {}).get(str(e))
                                        for e in range(len(last["promptable"]["matrix"]))]}
    return out


FIGURE_CAPTION = (
    "Ground-truth token world (endorm demo). (a) True return under r* per policy and horizon H: exact "
    "expectations for the expert and uniform play; Monte Carlo means of n samples for the sampled policies, "
    "error bars = 95% normal intervals (mean +- 1.96 s.e.); greedy and beam search: one response per domain, "
    "averaged over domains; dashed line: the hard optimum of r* (the best response). (b) Preference accuracy on "
    "pairs labelled by the sign of R*(y) - R*(y'), error bars = Wilson 95% intervals (score ties count 1/2; n = "
    "pairs whose true returns differ); dotted line: chance 0.5. (c) Theorem 1 per pair: TV(P_r*, P_r_hat) against "
    "its bound (alpha/4)(|dlog pi(y)| + |dlog pi(y')|), mean and max over the pairs. (d) Promptable reward: "
    "accuracy of EndoRM prompted with domain d on domain e's pairs (largest H).")


def write_figure(results: dict, path):
    """``returns.png`` (panels (a)-(d) of ``figure_numbers``) and ``returns.json`` (those numbers) beside it.

    Args:
        results: ``run_demo``'s dict (at least "horizons"); path: the PNG to write (the JSON gets its stem).

    Returns:
        the PNG's path.

    Raises:
        OSError: a file cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from endorm._io import atomic_savefig, atomic_write_json

    nums = figure_numbers(results)
    fig, axes = plt.subplots(2, 2, figsize=(14, 9.5), layout="constrained")
    _returns_panel(axes[0, 0], nums)
    _accuracy_panel(axes[0, 1], nums)
    _theorem1_panel(axes[1, 0], nums)
    _promptable_panel(fig, axes[1, 1], nums)
    fig.suptitle("endorm demo: EndoRM against the ground truth r* of a token world")
    out = atomic_savefig(fig, path, dpi=100)
    plt.close(fig)
    atomic_write_json(Path(path).with_suffix(".json"), {"title": "endorm demo: returns.png", "caption":
                                                        FIGURE_CAPTION, **nums})
    return out


def _bars(ax, groups: list, series: dict, width: float):
    """Grouped bars: ``series`` {label: [(value, [lo, hi] or None)] per group}, with error bars where given."""
    from endorm.paper_figures._common import PALETTE

    for i, (label, vals) in enumerate(series.items()):
        x = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width
        y = np.array([v for v, _ in vals], float)
        err = np.array([[v - iv[0], iv[1] - v] if iv else [0, 0] for v, iv in vals], float).T
        ax.bar(x, y, width, yerr=err if err.any() else None, capsize=3, label=label, color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(np.arange(len(groups)), [f"H = {H}" for H in groups])


def _returns_panel(ax, nums):
    Hs, R = nums["horizons"], nums["returns"]
    w = 0.8 / len(POLICY_LABELS)
    series = {}
    for k, label in POLICY_LABELS.items():
        n = R[Hs[0]][k]["n"]
        tag = "" if n is None else (f", n = {n}" if k.endswith("sampled") else f", mean of {n} domains")
        series[label + tag] = [(R[H][k]["value"], R[H][k]["interval95"]) for H in Hs]
    _bars(ax, Hs, series, w)
    for i, H in enumerate(Hs):
        ax.hlines(nums["optimal_hard"][H], i - 0.45, i + 0.45, colors="k", linestyles="--",
                  label="hard optimum of r* (best response)" if i == 0 else None)
    ax.set_ylabel("true return under r* (reward units)")
    ax.set_title("(a) true return per policy\n(error bars: 95% interval of the Monte Carlo mean)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)


def _accuracy_panel(ax, nums):
    Hs, A = nums["horizons"], nums["accuracy"]
    methods = list(A[Hs[0]])
    n = A[Hs[0]][methods[0]]["n"]
    _bars(ax, Hs, {f"{ACCURACY_LABELS[m]} (n = {n} pairs)": [(A[H][m]["value"], A[H][m]["wilson95"]) for H in Hs]
                   for m in methods}, 0.25)
    ax.axhline(0.5, color="k", ls=":", label="chance (0.5)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("preference accuracy (fraction, true BT labels)")
    ax.set_title("(b) preference accuracy\n(error bars: Wilson 95%)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)


def _theorem1_panel(ax, nums):
    Hs, T = nums["horizons"], nums["theorem1"]
    labels = {"tv_mean": "TV, mean over pairs", "bound_mean": "bound, mean", "tv_max": "TV, max",
              "bound_max": "bound, max"}
    _bars(ax, Hs, {v: [(T[H][k], None) for H in Hs] for k, v in labels.items()}, 0.2)
    ax.set_xticks(range(len(Hs)), [f"H = {H}\nbound violated on {T[H]['violations']} of {T[H]['pairs']} pairs"
                                   for H in Hs])
    ax.set_yscale("log")
    ax.set_ylabel("TV distance of preference probabilities")
    ax.set_title("(c) Theorem 1 per pair: TV(P_r*, P_r_hat)\n<= (alpha/4)(|dlog pi(y)| + |dlog pi(y')|)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)


def _promptable_panel(fig, ax, nums):
    P = np.array(nums["promptable"]["matrix"])
    im = ax.imshow(P, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i in range(len(P)):
        for j in range(len(P)):
            ax.text(j, i, f"{P[i, j]:.2f}", ha="center", va="center", color="w" if P[i, j] < 0.6 else "k")
    ax.set_xticks(range(len(P)))
    ax.set_yticks(range(len(P)))
    n = nums["promptable"]["n_per_cell"]
    ax.set_xlabel(f"data domain e (its true labels; n = {n[0] if len(set(n)) == 1 else n} pairs per column)")
    ax.set_ylabel("prompt domain d of EndoRM")
    ax.set_title(f"(d) promptable reward, H = {nums['promptable']['H']}:\naccuracy of EndoRM prompted with d on e",
                 fontsize=10)
    fig.colorbar(im, ax=ax, label="accuracy (fraction)")


def report_horizon(H: int, r: dict) -> str:
    """One horizon's results as text, lines (1)-(6): preferences, Theorem 1, returns, promptable, Theorem 2, judges.

    Args:
        H: the horizon (response length in tokens); r: ``run_demo``'s ``results["horizons"][str(H)]``.

    Returns:
        the report (losses in nats/token, returns under r*).
    """
    p, t1, R, P = r["preferences"], r["preferences"]["theorem1"], r["returns"], r["promptable"]
    lines = [f"== H = {H} ({r['seconds']:.1f} s; train loss {r['train']['final_loss']:.3f} nats/token, "
             f"expert entropy floor {r['train']['expert_entropy_per_token']:.3f})",
             f"(1) preference accuracy on {p['n_pairs']} true-BT-labelled pairs: EndoRM {p['accuracy_endorm']:.3f}, "
             f"length {p['accuracy_length']:.3f} (all responses have H tokens), unigram {p['accuracy_unigram']:.3f}",
             f"(2) Theorem 1: TV <= (alpha/4)(|dlog pi(y)|+|dlog pi(y')|) violated on {t1['violations']} of "
             f"{t1['pairs']} pairs; mean TV {t1['tv_mean']:.4f} vs mean bound {t1['bound_mean']:.4f} "
             f"(min slack {t1['slack_min']:.2e})",
             f"(3) true return: expert {R['expert']:.3f}, expert MAP {R['expert_map']:.3f}, optimum {R['optimal_hard']:.3f}, "
             f"uniform {R['uniform']:.3f}; model sampled {R['model_sampled']:.3f} ± {R['model_sampled_se']:.3f}, "
             f"greedy {R['model_greedy']:.3f}, beam{R['beam_width']} {R['model_beam']:.3f}",
             f"(4) promptable reward: diagonal {P['diagonal_mean']:.3f} vs off-diagonal {P['off_diagonal_mean']:.3f}; "
             f"diagonal dominates every column: {P['diagonal_dominates']}"]
    L = r.get("rl")
    if L:
        sd = f" (seed std {L['rl_sampled_seed_std']:.3f} over {L['n_seeds']} seeds)" if L["n_seeds"] > 1 else ""
        lines.append(f"(5) Theorem 2, RL on r_hat (GRPO, beta {L['beta']}, {L['steps']} steps): RL sampled "
                     f"{L['rl_sampled']:.3f} ± {L['rl_sampled_se']:.3f}{sd}, RL greedy {L['rl_greedy']:.3f}; "
                     f"gap_BC {L['gap_bc']:.3f}, gap_RL {L['gap_rl']:.3f}, gap_beam {L['gap_beam']:.3f}, "
                     f"gap_BC - gap_RL {L['gap_bc_minus_gap_rl']:.3f}")
    lines.append(f"(6) judges: {JUDGES_NOTE}")
    return "\n".join(lines)


def run_demo_quietly(quick: bool = True, out_dir="demo_out", seed: int = 0) -> dict:
    """``run_demo`` with library warnings and log records sent to ``OUT/run.log`` (``endorm demo``), on one
    torch thread (``one_torch_thread``).

    Returns:
        ``run_demo``'s results dict.
    """
    from ..runs import library_output_to

    with library_output_to(Path(out_dir) / "run.log"), one_torch_thread():
        return run_demo(quick, out_dir, seed)


@contextmanager
def one_torch_thread():
    """Run the block with ``torch.set_num_threads(1)``, restoring the count after.

    The world's models are tiny: OpenMP's thread overhead on their small matrix products makes two or more
    threads several times slower than one (the same numbers either way).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def study_horizon(H: int, cfg: dict, seed: int, sub: Path) -> dict:
    """One horizon of the study: world, demonstrations, training, measurements (1)-(5) against r*.

    Writes ``sub/world.json``, ``sub/demos.jsonl``, ``sub/model/`` and ``sub/rl_trl<k>/``.

    Returns:
        {"train", "preferences", "returns", "promptable", "rl", "seconds"} (see ``run_demo``).
    """
    import torch

    from endorm._io import atomic_write_json

    from ..reward import EndogenousReward
    from . import lm as L
    from . import mdp as W
    from . import studies as S

    t0 = time.perf_counter()
    world = W.make_world(seed, cfg["n_domains"], cfg["vocab_size"], cfg["n_automaton"], H, cfg["alpha"],
                         compounding=bool(cfg.get("compounding", False)))
    atomic_write_json(sub / "world.json", world.to_dict())
    doms, ys = W.sample_expert(world, cfg["n_demos"], seed + 1)
    W.write_demonstrations(world, doms, ys, sub / "demos.jsonl")
    doms, ys = W.read_demonstrations(world, sub / "demos.jsonl")  # train from the text
    model, tok, losses = L.train_lm(world, doms, ys, sub / "model", steps=cfg["steps"], seed=seed,
                                    hidden=cfg["hidden"], layers=cfg["layers"])
    t_train = time.perf_counter() - t0
    scorer = EndogenousReward(model, tok, alpha=world.alpha, batch_size=256, progress=False)
    pairs = S.make_pairs(world, cfg["pairs_per_domain"], seed + 2)
    unigram = S.unigram_baseline(world, doms, ys)
    with torch.no_grad():
        pref = S.preference_study(world, scorer, pairs, unigram)
        rets = dict(S.return_study(world, model, cfg["n_samples"], seed + 3, cfg["beam_width"]),
                    n_samples=cfg["n_samples"])
        prom = S.promptable_study(world, scorer, pairs)
        n_dom = max(2, cfg["n_samples"] // world.n_domains)
        by_dom = {"domains": list(world.domain_words), **S.reference_returns_by_domain(world),
                  "bc_sampled": S.sampled_returns_by_domain(world, model, n_dom, seed + 5)}
    rl = _rl_over_seeds(world, model, cfg, seed, sub, rets, n_dom)
    by_dom["rl_sampled"] = rl.pop("by_domain")
    by_dom["delta"] = [a - b for a, b in zip(by_dom["rl_sampled"]["mean"], by_dom["bc_sampled"]["mean"])]
    return {
        "train": {"final_loss": float(sum(losses[-20:]) / len(losses[-20:])),
                  "expert_entropy_per_token": W.expert_entropy_rate(world), "seconds": t_train},
        "preferences": pref, "returns": rets, "returns_by_domain": by_dom, "promptable": prom, "rl": rl,
        "seconds": time.perf_counter() - t0}


def _rl_over_seeds(world, model, cfg: dict, seed: int, sub: Path, rets: dict, n_dom: int) -> dict:
    """Theorem 2: KL-regularized RL (GRPO, beta) on the model's own endogenous reward, repeated over
    ``n_seeds`` (RL seed and sampling seed); means, seed std, the gaps to the expert and "by_domain" (the
    RL policy's sampled return per domain, ``n_dom`` samples each: mean over seeds, s.e. of that mean)."""
    import torch

    from . import rl as WR
    from . import studies as S

    rl_runs, bc_runs, dom_runs = [], [rets["model_sampled"]], []
    for k in range(cfg["n_seeds"]):
        if k:
            with torch.no_grad():
                bc_runs.append(S.return_study(world, model, cfg["n_samples"], seed + 3 + 100 * k, 1)["model_sampled"])
        policy, _ = WR.rl_finetune(world, sub / "model", sub / f"rl_trl{k}", steps=cfg["rl_steps"],
                                   seed=seed + k, beta=cfg["rl_beta"])
        rl_runs.append(WR.rl_return_study(world, policy, cfg["n_samples"], seed + 4 + 100 * k))
        with torch.no_grad():
            dom_runs.append(S.sampled_returns_by_domain(world, policy, n_dom, seed + 6 + 100 * k))
    rl = {key: float(np.mean([r[key] for r in rl_runs])) for key in rl_runs[0]}
    rl.update(rl_sampled_seed_std=float(np.std([r["rl_sampled"] for r in rl_runs], ddof=1))
              if len(rl_runs) > 1 else None, n_seeds=len(rl_runs), steps=cfg["rl_steps"], beta=cfg["rl_beta"],
              n_samples=cfg["n_samples"],
              by_domain={"mean": np.mean([d["mean"] for d in dom_runs], axis=0).tolist(), "n": n_dom,
                         "se": (np.sqrt(np.square([d["se"] for d in dom_runs]).sum(0)) / len(dom_runs)).tolist()},
              bc_sampled_seed_mean=float(np.mean(bc_runs)),
              bc_sampled_seed_std=float(np.std(bc_runs, ddof=1)) if len(bc_runs) > 1 else None)
    rl["gap_bc"] = rets["expert"] - rl["bc_sampled_seed_mean"]
    rl["gap_rl"] = rets["expert"] - rl["rl_sampled"]
    rl["gap_beam"] = rets["expert"] - rets["model_beam"]
    rl["gap_bc_minus_gap_rl"] = rl["gap_bc"] - rl["gap_rl"]
    return rl
