"""Section 4.3 figure: three readings of "run RL on the model's own endogenous reward, then repeat".

    python -m endorm.paper_figures.iteration --out figures [--quick] [--seed N]

(that is ``endorm figures --only iteration``)
writes ``iteration.png`` (unregularized: actions changed per iteration; soft RL with the same alpha: distance to
pi_hat; KL-regularized: fitted exponent of pi_hat against (1 + alpha/beta)^k, and the entropy left) and
``iteration.json`` (every number drawn, per instance and iteration).
"""
from __future__ import annotations

import numpy as np

from ._common import COLORS, PALETTE, Context, Figure, pyplot, save

NAME = "iteration"
TITLE = "Section 4.3: iterating RL on the model's own endogenous reward"

#: beta / alpha of the KL-regularized reading; the exponent of pi_hat after k steps is (1 + alpha/beta)^k.
BETA_OVER_ALPHA = (1.0, 2.0)
#: Logit magnitude +-L that encodes a deterministic policy as logits (as ``check_iteration``).
DETERMINISTIC_LOGIT = 30.0


def _entropy(enum, log_p, initial) -> float:
    """E_{x ~ rho} of the entropy of the response distribution (nats), from per-response log-probabilities [N]."""
    lp = enum.by_prompt(log_p)
    p = np.exp(lp)
    return float(initial @ -np.where(p > 0, p * lp, 0.0).sum(axis=1))


def _unregularized(inst, enum, iterations) -> tuple:
    """Fraction of states whose greedy action changes at each extract-then-RL step k = 1..iterations, and the
    number of prompts where the first step's response is not the MAP response of pi_hat (by enumeration)."""
    from endorm.tabular import endogenous_reward, hard_optimal

    mdp, a, logits = inst.mdp, inst.alpha, inst.logits
    acts, out, not_map = [np.argmax(f, axis=1) for f in logits], [], None
    for _ in range(iterations):
        rl = hard_optimal(mdp, endogenous_reward(mdp, logits, a))
        out.append(sum(int((x != y).sum()) for x, y in zip(rl.actions, acts)) / sum(mdp.layer_sizes))
        if not_map is None:
            path = enum.by_prompt(enum.log_prob([np.log(np.maximum(p, 1e-300)) for p in rl.policy])).argmax(axis=1)
            not_map = int((path != enum.by_prompt(enum.log_prob(inst.log_policy)).argmax(axis=1)).sum())
        acts, logits = rl.actions, [DETERMINISTIC_LOGIT * (2 * p - 1) for p in rl.policy]
    return out, not_map


def _soft(inst, iterations) -> list:
    """max |log pi_k - log pi_hat| (nats, every state) after k = 1..iterations soft-RL steps at the same alpha."""
    from endorm.tabular import endogenous_reward, soft_optimal

    mdp, a, logits, out = inst.mdp, inst.alpha, inst.logits, []
    for _ in range(iterations):
        sol = soft_optimal(mdp, endogenous_reward(mdp, logits, a), a)
        out.append(max(float(np.abs(x - y).max()) for x, y in zip(sol.log_policy, inst.log_policy)))
        logits = sol.Q
    return out


def _kl(inst, enum, iterations, beta_over_alpha) -> tuple:
    """Fitted exponent of pi_hat (k = 1..iterations) and entropy (k = 0..iterations) of KL-RL with reference
    the current policy (as ``check_iteration``)."""
    from endorm.tabular import endogenous_reward, kl_regularized_optimal
    from endorm.tabular import fit_exponent

    mdp, a = inst.mdp, inst.alpha
    logits, log_ref, beta = inst.logits, inst.log_policy, beta_over_alpha * a
    base = enum.log_prob(inst.log_policy)
    exps, ent = [], [_entropy(enum, base, mdp.initial)]
    for _ in range(iterations):
        sol = kl_regularized_optimal(mdp, endogenous_reward(mdp, logits, a), None, beta, log_reference=log_ref)
        lp = enum.log_prob(sol.log_policy)
        exps.append(fit_exponent(enum, lp, base))
        ent.append(_entropy(enum, lp, mdp.initial))
        logits, log_ref = [a * x for x in sol.log_policy], sol.log_policy
    return exps, ent


def compute(ctx: Context) -> dict:
    """The three readings on ``random_instances(ctx.seed, n)`` (n = 6 quick, 24 by default), k = 1..4 (quick 3).

    Returns:
        dict with ``iterations``, ``instances`` (names, alphas), ``unregularized_changed`` and ``soft_distance``
        ([n][K]), ``unregularized_not_map`` ([n] prompts whose step-1 response is not pi_hat's MAP response),
        and per beta/alpha ``kl[str(b)]`` = {"target": [(1 + 1/b)^k], "exponent": [n][K],
        "entropy": [n][K + 1] (k = 0..K, nats)}.
    """
    from endorm.tabular import enumerate_mdp
    from endorm.tabular import random_instances

    K, insts = (3, random_instances(ctx.seed, 6)) if ctx.quick else (4, random_instances(ctx.seed, 24))
    enums = [enumerate_mdp(i.mdp) for i in insts]
    kl = {}
    for b in BETA_OVER_ALPHA:
        runs = [_kl(i, e, K, b) for i, e in zip(insts, enums)]
        kl[str(b)] = {"target": ((1 + 1 / b) ** np.arange(1, K + 1)).tolist(),
                      "exponent": [r[0] for r in runs], "entropy": [r[1] for r in runs]}
    unreg = [_unregularized(i, e, K) for i, e in zip(insts, enums)]
    return {"seed": ctx.seed, "iterations": K, "instances": [i.name for i in insts],
            "alphas": [i.alpha for i in insts], "vocab_sizes": [i.mdp.vocab_size for i in insts],
            "horizons": [i.mdp.horizon for i in insts], "unregularized_changed": [u[0] for u in unreg],
            "unregularized_not_map": [u[1] for u in unreg], "soft_distance": [_soft(i, K) for i in insts],
            "kl": kl}


FLOOR = 1e-17  # log axes: exact zeros are drawn here


def _ranges(r) -> str:
    """'V = a..b, H = c..d, alpha = e..f' of the instances in ``r``, for the caption."""
    return ", ".join(f"{k} = {min(r[x]):g}..{max(r[x]):g}" for k, x in
                     (("V", "vocab_sizes"), ("H", "horizons"), ("alpha", "alphas")))


def _draw(r):
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.9))
    K, n = r["iterations"], len(r["instances"])
    k = np.arange(1, K + 1)
    ch = np.array(r["unregularized_changed"])
    axes[0].bar(k, ch.mean(axis=0), color=COLORS["blue"], width=0.6)
    for x, y, c in zip(k, ch.mean(axis=0), (ch > 0).sum(axis=0)):
        axes[0].text(x, y, f"{c}/{n}\ninstances", ha="center", va="bottom", fontsize=7)
    axes[0].set(title="(a) unregularized RL:\nfixed point after one step",
                ylabel="fraction of states whose action changed",
                ylim=(0, max(0.05, ch.mean(axis=0).max() * 1.4)))
    sd = np.maximum(np.array(r["soft_distance"]), FLOOR)
    for i, row in enumerate(sd):
        axes[1].plot(k + np.linspace(-0.15, 0.15, n)[i], row, ".", color=COLORS["green"], alpha=0.7)
    axes[1].set(yscale="log", ylim=(FLOOR / 3, 1), title="(b) soft RL, same alpha:\nreturns pi_hat",
                ylabel=r"max $|\log\pi_k - \log\hat\pi|$ (nats, every state)")
    for j, (b, d) in enumerate(r["kl"].items()):
        c = PALETTE[j]
        axes[2].plot(k, d["target"], "-", color=c, lw=1, label=f"(1 + alpha/beta)^k, beta = {b} alpha")
        for e in d["exponent"]:
            axes[2].plot(k, e, "o", color=c, ms=5, mfc="none", alpha=0.6)
        ent = np.array(d["entropy"]) / np.array(d["entropy"])[:, :1]
        axes[3].plot(np.arange(K + 1), ent.mean(axis=0), "o-", color=c, label=f"beta = {b} alpha (mean)")
        axes[3].fill_between(np.arange(K + 1), ent.min(axis=0), ent.max(axis=0), color=c, alpha=0.15,
                             label=f"beta = {b} alpha (min-max)")
    ticks = sorted({t for d in r["kl"].values() for t in d["target"]})
    axes[2].set(yscale="log", title="(c) KL-regularized RL:\npi_k = pi_hat^e, normalized",
                ylabel="fitted exponent e (circles: instances)")
    axes[2].set_yticks(ticks, [f"{t:.3g}" for t in ticks])
    axes[2].yaxis.set_minor_formatter(plt.NullFormatter())
    axes[2].legend(fontsize=7, loc="upper left")
    axes[3].set(title="(c') KL-regularized RL:\nthe entropy shrinks", ylabel="entropy of pi_k / entropy of pi_hat",
                ylim=(0, 1.05))
    axes[3].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    for ax in axes:
        ax.set_xlabel("iteration k (extract r_hat, then RL)")
        ax.set_xticks(np.arange(0 if ax is axes[3] else 1, K + 1))
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{TITLE} (n = {n} random prefix-tree instances, exact)", fontsize=10)
    fig.tight_layout()
    return fig


def make(ctx: Context) -> Figure:
    """Draw and save the Section 4.3 figure (``iteration.png`` / ``.json``) into ``ctx.out``.

    Returns:
        the ``Figure``; its JSON is ``compute(ctx)`` plus ``max_exponent_rel_error`` (over instances, k, beta).

    Raises:
        OSError: a file cannot be written.
    """
    r = compute(ctx)
    r["max_exponent_rel_error"] = max(abs(e - t) / t for d in r["kl"].values()
                                      for row in d["exponent"] for e, t in zip(row, d["target"]))
    ch, n = np.array(r["unregularized_changed"]), len(r["instances"])
    ent_left = {b: float(np.mean([row[-1] / row[0] for row in d["entropy"]])) for b, d in r["kl"].items()}
    caption = (
        f"Three readings of 'RL on the model's own endogenous reward, then extract again', on {n} random "
        f"prefix trees (`endorm.tabular.random_instances(seed={ctx.seed})`: 2 prompts, {_ranges(r)}), "
        f"k = 1..{r['iterations']} iterations, exact (no sampling, no intervals). (a) Unregularized "
        f"RL (argmax; its policy is re-encoded as logits +-{DETERMINISTIC_LOGIT:g}): step 1 moves to the MAP "
        f"response of pi_hat ({sum(r['unregularized_not_map'])} prompts where it does not; it changes the action "
        f"at {ch[:, 0].mean():.0%} of states on average); later steps change "
        + ("no action" if not ch[:, 1:].any() else f"actions in {int((ch[:, 1:] > 0).sum())} instance-steps")
        + f": a fixed point after one step. (b) Soft RL with the same "
        f"alpha returns pi_hat itself: the largest |log pi_k - log pi_hat| is {np.max(r['soft_distance']):.1e} "
        f"nats (exact zeros drawn at {FLOOR:g}). (c) KL-regularized RL with coefficient beta and the current "
        f"policy as reference: pi_k is pi_hat^e normalized, with e fitted by least squares over every response "
        f"(circles) equal to (1 + alpha/beta)^k (lines; max relative error {r['max_exponent_rel_error']:.1e}); "
        f"(c') so the entropy of the response distribution shrinks every step (mean fraction left after "
        f"{r['iterations']} steps: " + ", ".join(f"{v:.2f} at beta = {b} alpha" for b, v in ent_left.items())
        + "): no fixed point, it sharpens towards the MAP response.")
    return save(_draw(r), ctx, NAME, TITLE, caption, r)


if __name__ == "__main__":
    from ._common import module_main

    raise SystemExit(module_main(NAME))
