"""The measurements of the token world against its ground truth r* (see ``endorm.llm.world.mdp``):
preference accuracy and Theorem 1 per pair, true returns (Theorem 2), the promptable reward."""
from __future__ import annotations

import numpy as np

from endorm.tabular import evaluate, hard_optimal
from endorm.tabular.imitation import as_rng

from .lm import lm_beam, lm_sample
from .mdp import TokenWorld


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -700, 700)))


def make_pairs(world: TokenWorld, n_per_domain: int, seed, taus=(1.0, 2.0, 4.0)):
    """Held-out pairs per domain: each response sampled from the expert tempered at a random tau.

    Args:
        world: the token world; n_per_domain: pairs per domain (n); seed: an int or a numpy Generator.
        taus: the temperatures; each response draws one uniformly (pi^E^(1/tau), ``tempered_expert``).

    Returns:
        ``{domain: (responses_a, responses_b)}``, both int64 ``[n, H]``.
    """
    rng = as_rng(seed)
    pols = [world.tempered_expert(t) for t in taus]
    out = {}
    for d in range(world.n_domains):
        ys = []
        for _ in range(2):
            choice = rng.integers(0, len(taus), size=n_per_domain)
            y = np.empty((n_per_domain, world.horizon), dtype=np.int64)
            for k, pol in enumerate(pols):
                m = choice == k
                if m.any():
                    y[m] = _sample_from(world, pol, np.full(int(m.sum()), d), rng)
            ys.append(y)
        out[d] = (ys[0], ys[1])
    return out


def _sample_from(world, policy, domains, rng):
    mdp = world.mdp
    s = world.prompt_state(domains)
    n = len(s)
    y = np.empty((n, world.horizon), dtype=np.int64)
    for h in range(world.horizon):
        cdf = np.cumsum(policy[h][s], axis=1)
        a = np.minimum((rng.random(n)[:, None] * cdf[:, -1:] > cdf).sum(axis=1), world.vocab_size - 1)
        y[:, h] = a
        if h + 1 < world.horizon:
            s = mdp.step(h, s, a)
    return y


def endorm_scores(world: TokenWorld, scorer, context_domain: int, responses):
    """(EndoRM scores, log pi_hat(y)) of responses after the prompt token of ``context_domain``.

    Args:
        scorer: an ``EndogenousReward`` on the world's model; context_domain: the prompt's domain.
        responses: ``[n, H]`` word ids.

    Returns:
        ``(scores, log_probs)``: float64 ``[n]`` each; scores = sum_t r_hat_t (Eq. 12), log_probs =
        sum_t log pi_hat(y_t | s_t) (nats).
    """
    ctx = [world.domain_token(context_domain)]
    tr = scorer.token_rewards_from_ids([(ctx, [int(a) for a in y]) for y in responses])
    return np.array([t.score for t in tr]), np.array([float(np.sum(t.log_policy)) for t in tr])


def unigram_baseline(world: TokenWorld, domains, responses):
    """Score = sum of log marginal frequencies (domain-blind bag of words) of the demonstrations.

    Args:
        domains: unused (the baseline is domain-blind); responses: ``[n, H]`` demonstration word ids.

    Returns:
        ``score(y [m, H]) -> [m]``: sum_t log p(y_t) with add-one smoothed word frequencies (nats).
    """
    counts = np.bincount(np.asarray(responses).ravel(), minlength=world.vocab_size) + 1.0
    logp = np.log(counts / counts.sum())
    return lambda y: logp[np.asarray(y)].sum(axis=1)


def _agree(score_diff, true_diff):
    """Accuracy vs sign(true_diff); score ties count 1/2; pairs with true_diff == 0 are dropped."""
    keep = true_diff != 0
    s, t = score_diff[keep], true_diff[keep]
    return float(np.mean(np.where(s == 0, 0.5, (np.sign(s) == np.sign(t)).astype(float)))) if keep.any() else float("nan")


#: The RM-Bench column names given to the thirds of the pairs by true margin |R*(y) - R*(y')|.
MARGIN_THIRDS = ("Easy", "Normal", "Hard")


def margin_terciles(true_diff, score_diffs: dict) -> dict:
    """Accuracy of each scorer on the thirds of the labelled pairs by true margin |R*(y) - R*(y')|.

    The token world's analogue of RM-Bench's Easy / Normal / Hard columns (which there are set by
    response style): with edges e1 <= e2 the 1/3 and 2/3 quantiles of the margins of the labelled
    pairs (R*(y) != R*(y')), Hard = margin <= e1 (the true preference is weakest), Normal = e1 <
    margin <= e2, Easy = margin > e2. Accuracy as ``preference_study``: sign agreement, a score
    difference of 0 counting 1/2.

    Args:
        true_diff: ``[n]`` R*(y) - R*(y') (reward units); score_diffs: ``{scorer: [n] S(y) - S(y')}``.

    Returns:
        ``{"edges": [e1, e2] (reward units), "n": {third: labelled pairs}, "accuracy": {scorer:
        {third: fraction in [0, 1] (NaN for an empty third)}}}``, thirds in ``MARGIN_THIRDS`` order.

    Raises:
        ValueError: ``no labelled pairs (every pair has R*(y) == R*(y'))``.
    """
    true_diff = np.asarray(true_diff, dtype=np.float64)
    keep = true_diff != 0
    if not keep.any():
        raise ValueError("no labelled pairs (every pair has R*(y) == R*(y'))")
    margin = np.abs(true_diff)
    e1, e2 = (float(e) for e in np.quantile(margin[keep], [1 / 3, 2 / 3]))
    masks = {"Easy": keep & (margin > e2), "Normal": keep & (margin > e1) & (margin <= e2),
             "Hard": keep & (margin <= e1)}
    return {"edges": [e1, e2], "n": {t: int(m.sum()) for t, m in masks.items()},
            "accuracy": {k: {t: _agree(np.asarray(d)[m], true_diff[m]) for t, m in masks.items()}
                         for k, d in score_diffs.items()}}


def preference_study(world: TokenWorld, scorer, pairs, unigram=None, tol: float = 1e-5) -> dict:
    """(1) accuracy of EndoRM vs baselines on true-BT-labelled pairs; (2) Theorem 1 per pair.

    A pair (y, y') is labelled by sign(R*(y) - R*(y')); a score difference of 0 counts 1/2,
    pairs with equal true returns are dropped. Theorem 1: TV(P_r*, P_r_hat) =
    |sigmoid(R*(y) - R*(y')) - sigmoid(S(y) - S(y'))| <= (alpha/4)(|dlog pi(y)| + |dlog pi(y')|),
    dlog pi = log pi^E(y|x) - log pi_hat(y|x), checked per pair up to ``tol``.

    Args:
        scorer: an ``EndogenousReward`` on the world's model; pairs: ``make_pairs``'s dict.
        unigram: ``unigram_baseline``'s scorer, or None.
        tol: slack allowed before a pair counts as a violation.

    Returns:
        ``{"n_pairs", "accuracy_endorm", "accuracy_endorm_by_domain" {str(d): accuracy},
        "accuracy_length" (0.5: all responses have H tokens), "accuracy_unigram" (None without
        ``unigram``), "accuracy_unigram_by_domain", "accuracy_length_by_domain" (as EndoRM's; None
        without ``unigram``), "n_by_domain" {str(d): labelled pairs (true returns differ), the n of
        each domain's accuracy}, "n_labelled" (their sum), "by_margin" (``margin_terciles`` of the
        labelled pairs, all domains pooled), "expected_agreement_endorm", "theorem1": {"pairs",
        "violations", "tolerance", "tv_mean", "tv_max", "bound_mean", "bound_max", "slack_min",
        "ratio_mean", "dlogpi_mean", "dlogpi_max", "H_eps_bound_note"}}``; accuracies are fractions in [0, 1].
    """
    acc_rows, uni_rows, len_rows, n_rows, tv_all, bound_all, viol = {}, {}, {}, {}, [], [], 0
    all_true, all_hat, all_len, all_uni, all_soft = [], [], [], [], []
    dlog_all = []
    for d, (ya, yb) in pairs.items():
        dd = np.full(len(ya), d)
        Ra, Rb = world.true_return(dd, ya), world.true_return(dd, yb)
        Sa, la = endorm_scores(world, scorer, d, ya)
        Sb, lb = endorm_scores(world, scorer, d, yb)
        Ea, Eb = world.expert_log_prob(dd, ya), world.expert_log_prob(dd, yb)
        p_true = _sigmoid(Ra - Rb)
        p_hat = _sigmoid(Sa - Sb)
        tv = np.abs(p_true - p_hat)
        bound = world.alpha / 4 * (np.abs(Ea - la) + np.abs(Eb - lb))
        viol += int((tv > bound + tol).sum())
        tv_all.append(tv)
        bound_all.append(bound)
        dlog_all.append(np.abs(np.concatenate([Ea - la, Eb - lb])))
        all_true.append(Ra - Rb)
        all_hat.append(Sa - Sb)
        all_soft.append(np.abs(p_true - p_hat))
        all_len.append(np.zeros(len(ya)))  # every response has exactly H tokens
        if unigram is not None:
            all_uni.append(unigram(ya) - unigram(yb))
            uni_rows[str(d)] = _agree(all_uni[-1], Ra - Rb)
        acc_rows[str(d)] = _agree(Sa - Sb, Ra - Rb)
        len_rows[str(d)] = _agree(all_len[-1], Ra - Rb)
        n_rows[str(d)] = int(np.count_nonzero(Ra - Rb))
    true_d, hat_d = np.concatenate(all_true), np.concatenate(all_hat)
    diffs = {"endorm": hat_d, "length": np.concatenate(all_len)}
    if all_uni:
        diffs["unigram"] = np.concatenate(all_uni)
    tv, bound = np.concatenate(tv_all), np.concatenate(bound_all)
    dlog = np.concatenate(dlog_all)
    res = {
        "n_pairs": int(len(true_d)),
        "accuracy_endorm": _agree(hat_d, true_d),
        "accuracy_endorm_by_domain": acc_rows,
        "accuracy_length": _agree(np.concatenate(all_len), true_d),
        "accuracy_unigram": _agree(np.concatenate(all_uni), true_d) if all_uni else None,
        "accuracy_unigram_by_domain": uni_rows or None, "accuracy_length_by_domain": len_rows,
        "n_by_domain": n_rows, "n_labelled": int(sum(n_rows.values())),
        "by_margin": margin_terciles(true_d, diffs),
        "expected_agreement_endorm": float(np.mean(_sigmoid(true_d) * _sigmoid(hat_d)
                                                   + _sigmoid(-true_d) * _sigmoid(-hat_d))),
        "theorem1": {"pairs": int(len(tv)), "violations": viol, "tolerance": tol,
                     "tv_mean": float(tv.mean()), "tv_max": float(tv.max()),
                     "bound_mean": float(bound.mean()), "bound_max": float(bound.max()),
                     "slack_min": float((bound - tv).min()),
                     "ratio_mean": float(np.mean(tv / np.maximum(bound, 1e-300))),
                     "dlogpi_mean": float(dlog.mean()), "dlogpi_max": float(dlog.max()),
                     "H_eps_bound_note": "alpha*H/2*eps_pi needs eps_pi over all states; not measured"},
    }
    return res


def return_study(world: TokenWorld, model, n_samples: int, seed, beam_width: int = 4) -> dict:
    """(3) Theorem 2: exact true returns (no entropy) of the expert and of its MAP and the hard
    optimum of r*; the model sampled at temperature 1 (Monte Carlo mean and standard error) and
    its greedy / beam-search responses (averaged over domains, uniform prompt distribution).

    Args:
        model: the world's causal LM; n_samples: Monte Carlo samples; seed: an int or a numpy
            Generator; beam_width: beams of ``lm_beam``.

    Returns:
        ``{"expert", "expert_map", "optimal_hard", "uniform", "model_sampled", "model_sampled_se",
        "model_invalid_mass_per_step", "model_greedy", "model_greedy_logpi", "model_beam",
        "model_beam_logpi", "beam_width", "gap_sampled", "gap_beam"}``: true returns under r*
        (expected, exact, for the first four), log pi_hat in nats, gaps = expert - model.
    """
    mdp = world.mdp
    expert_ret = evaluate(mdp, world.expert.policy, world.reward)
    map_expert = hard_optimal(mdp, world.expert.log_policy).policy
    res = {"expert": float(expert_ret),
           "expert_map": float(evaluate(mdp, map_expert, world.reward)),
           "optimal_hard": float(hard_optimal(mdp, world.reward).value),
           "uniform": float(evaluate(mdp, [np.full((n, world.vocab_size), 1.0 / world.vocab_size)
                                           for n in mdp.layer_sizes], world.reward))}
    rng = as_rng(seed)
    doms = rng.integers(0, world.n_domains, size=n_samples)
    ys, invalid = lm_sample(world, model, doms, rng)
    R = world.true_return(doms, ys)
    res["model_sampled"] = float(R.mean())
    res["model_sampled_se"] = float(R.std(ddof=1) / np.sqrt(len(R))) if len(R) > 1 else float("nan")
    res["model_invalid_mass_per_step"] = float(invalid.mean())
    for name, width in (("model_greedy", 1), ("model_beam", beam_width)):
        rets, lps = [], []
        for d in range(world.n_domains):
            y, lp = lm_beam(world, model, d, width)
            rets.append(float(world.true_return([d], y[None])[0]))
            lps.append(lp)
        res[name] = float(np.mean(rets))
        res[name + "_logpi"] = float(np.mean(lps))
    res["beam_width"] = beam_width
    res["gap_sampled"] = res["expert"] - res["model_sampled"]
    res["gap_beam"] = res["expert"] - res["model_beam"]
    return res


def promptable_study(world: TokenWorld, scorer, pairs) -> dict:
    """(4) acc[d][e] = accuracy of EndoRM conditioned on domain d on domain e's true labels.

    Args:
        scorer: an ``EndogenousReward`` on the world's model; pairs: ``make_pairs``'s dict.

    Returns:
        ``{"matrix": [D][D] fractions, "diagonal_mean", "off_diagonal_mean" (NaN for D = 1),
        "diagonal_dominates" (each column's maximum is on the diagonal)}``.
    """
    D = world.n_domains
    acc = np.zeros((D, D))
    for e, (ya, yb) in pairs.items():
        de = np.full(len(ya), e)
        true_d = world.true_return(de, ya) - world.true_return(de, yb)
        for d in range(D):
            Sa, _ = endorm_scores(world, scorer, d, ya)
            Sb, _ = endorm_scores(world, scorer, d, yb)
            acc[d, e] = _agree(Sa - Sb, true_d)
    diag = float(np.mean(np.diag(acc)))
    off = float(acc[~np.eye(D, dtype=bool)].mean()) if D > 1 else float("nan")
    return {"matrix": acc.tolist(), "diagonal_mean": diag, "off_diagonal_mean": off,
            "diagonal_dominates": bool(all(acc[e, e] >= acc[:, e].max() for e in range(D)))}


def state_values(world: TokenWorld, policy) -> list:
    """Exact expected true return-to-go under r* (no entropy) of a layered policy, per state and depth.

    V_H = 0; V_h(s) = sum_a pi_h(a|s) (r*(s, a) + V_{h+1}(next(s, a))) (backward induction).

    Args:
        world: the token world (an automaton MDP); policy: H arrays ``[D * Q, V]`` of probabilities.

    Returns:
        H float64 arrays ``[D * Q]`` (reward units); ``V[0][world.prompt_state(d)]`` is domain d's return.
    """
    mdp, H = world.mdp, world.horizon
    V, nxt = [None] * H, np.zeros(mdp.layer_sizes[-1])
    for h in reversed(range(H)):
        cont = 0.0 if h == H - 1 else nxt[mdp.transitions[h]]
        V[h] = np.sum(np.asarray(policy[h]) * (world.reward[h] + cont), axis=1)
        nxt = V[h]
    return V


def reference_returns_by_domain(world: TokenWorld) -> dict:
    """Exact true returns per domain (prompt) of the expert, of the hard optimum of r* and of uniform play.

    Returns:
        ``{"expert", "optimal_hard", "uniform"}``: each a list of D floats (reward units, no entropy).
    """
    starts = world.prompt_state(np.arange(world.n_domains))
    uniform = [np.full((n, world.vocab_size), 1.0 / world.vocab_size) for n in world.mdp.layer_sizes]
    return {"expert": state_values(world, world.expert.policy)[0][starts].tolist(),
            "optimal_hard": hard_optimal(world.mdp, world.reward).V[0][starts].tolist(),
            "uniform": state_values(world, uniform)[0][starts].tolist()}


def sampled_returns_by_domain(world: TokenWorld, model, n_per_domain: int, seed) -> dict:
    """True return under r* of a model sampled at temperature 1, per domain: Monte Carlo mean and s.e.

    Args:
        world: the token world; model: a causal LM over ``world.words`` (the BC model or the RL policy).
        n_per_domain: samples per domain (>= 2); seed: an int or a numpy Generator.

    Returns:
        ``{"mean": [D], "se": [D] (standard error of the mean), "n": n_per_domain}`` (reward units).

    Raises:
        ValueError: ``n_per_domain must be >= 2, got 1``.
    """
    if n_per_domain < 2:
        raise ValueError(f"n_per_domain must be >= 2, got {n_per_domain}")
    doms = np.repeat(np.arange(world.n_domains), n_per_domain)
    ys, _ = lm_sample(world, model, doms, as_rng(seed))
    R = world.true_return(doms, ys).reshape(world.n_domains, n_per_domain)
    return {"mean": R.mean(axis=1).tolist(), "se": (R.std(axis=1, ddof=1) / np.sqrt(n_per_domain)).tolist(),
            "n": int(n_per_domain)}
