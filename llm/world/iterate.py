"""Compounding, power sharpening and distillation measured on the token world's transformer.

Used by notebooks 04 and 05. Two groups of helpers:

* *Compounding* (Theorem 2, MATH.md): in a ``make_world(compounding=True)`` world a response
  leaves the track with a derailing word and never comes back. ``off_track_curve`` measures the
  fraction of sampled responses that have left it after h tokens (Monte Carlo, with standard
  errors), ``lm_off_track`` estimates it for a transformer with a much smaller standard error
  (Rao-Blackwellized: the model's own derailing probabilities along on-track samples), and
  ``policy_off_track`` computes it exactly for a tabular policy (the expert).
* *The whole response tree* (Sec. 4.3 and Sec. 7.3): for small V and H every response can be
  enumerated. ``tree_mdp`` is the world's prompts and responses as a ``prefix_tree``,
  ``tree_true_reward`` lays r* out on it, ``tree_logits`` lays a causal LM's logits on it (one
  forward pass per depth), so the exact tabular planners (``kl_regularized_optimal``) apply to
  the trained transformer itself. ``iterate_kl_rl`` iterates "extract r_hat, then KL-regularized
  RL" (pi_k proportional to pi_hat^(((alpha+beta)/beta)^k)); ``best_of_n_log_prob`` is the exact
  response distribution of best-of-n reranking of a sampler by a score (e.g. a teacher's
  endogenous reward).
"""
from __future__ import annotations

import numpy as np

from endorm.tabular import (endogenous_reward, kl_regularized_optimal, prefix_tree, state_distribution)
from endorm.tabular.mdp import check_policy

from .mdp import TokenWorld


# -------------------------------------------------------------------- compounding


def _track(world: TokenWorld):
    """(derailing word ids [k], Q = the number of on-track automaton states) of a compounding world."""
    if not world.derail_tokens:
        raise ValueError("the world has no track: build it with make_world(..., compounding=True)")
    derail = np.asarray(world.derail_tokens, dtype=np.int64)
    # every derailing word sends an on-track state to the first off-track state, whose index is Q
    return derail, int(world.automata[0, 0, derail[0]])


def off_track_curve(world: TokenWorld, responses):
    """Fraction of responses that have left the track within their first h tokens, h = 1..H.

    A response leaves the track with its first derailing word (``world.derail_tokens``) and
    never returns (the off-track states are absorbing), so each response's indicator is
    non-decreasing in h and so is the curve.

    Args:
        world: a compounding ``TokenWorld``; responses: ``[n, H]`` word ids (any prompts).

    Returns:
        ``(fraction, se)``: float64 ``[H]`` each; fraction[h-1] = share of responses off the track
        after h tokens, se its binomial standard error sqrt(p (1 - p) / n) (NaN for n = 1).

    Raises:
        ValueError: the world has no track (``make_world(compounding=False)``), or ``responses`` is
            not ``[n, H]`` with n >= 1.
    """
    derail, _ = _track(world)
    y = np.asarray(responses)
    if y.ndim != 2 or y.shape[1] != world.horizon or y.shape[0] < 1:
        raise ValueError(f"responses must be [n, {world.horizon}] with n >= 1, got shape {y.shape}")
    off = np.logical_or.accumulate(np.isin(y, derail), axis=1).astype(np.float64)
    p = off.mean(axis=0)
    n = y.shape[0]
    se = np.sqrt(p * (1 - p) / n) if n > 1 else np.full_like(p, np.nan)
    return p, se


def policy_off_track(world: TokenWorld, policy=None) -> np.ndarray:
    """Exact probability of having left the track within the first h tokens, h = 1..H, under a policy.

    P(off after h+1 tokens) = P(off after h) + sum_{s on track} d_h(s) pi(derail | s), with d_h
    the policy's state occupancy (``state_distribution``) on the world's automaton MDP.

    Args:
        world: a compounding ``TokenWorld``; policy: layered ``[D * Q_all, V]`` probabilities on
            ``world.mdp`` (default: the exact expert).

    Returns:
        float64 ``[H]``, non-decreasing, in [0, 1].

    Raises:
        ValueError: the world has no track; a bad policy (``check_policy``).
    """
    derail, Q = _track(world)
    pol = world.expert.policy if policy is None else check_policy(world.mdp, policy)
    on = (np.arange(world.mdp.layer_sizes[0]) % world.n_automaton) < Q
    out, total = np.empty(world.horizon), 0.0
    for h, (d, p) in enumerate(zip(state_distribution(world.mdp, pol), pol)):
        total += float((d[on] * p[on][:, derail].sum(axis=1)).sum())
        out[h] = total
    return out


def lm_off_track(world: TokenWorld, model, domains, seed):
    """Probability that a causal LM's response has left the track within h tokens, h = 1..H (Rao-Blackwellized).

    P(on track after h tokens) = E'[prod_{t <= h} (1 - q_t)], where q_t is the model's probability
    of a derailing word at step t (renormalized over the response words, as ``lm_sample``) and E'
    samples on-track continuations only (each step drawn from the model restricted to the
    non-derailing words). Unbiased, like counting derailed samples (``off_track_curve``), but the
    smooth per-step probabilities replace the rare 0/1 events, so the standard error is far smaller.

    Args:
        world: a compounding ``TokenWorld``; model: a causal LM over ``world.words``.
        domains: ``[n]`` domain indices (n >= 2); seed: an int or a ``numpy.random.Generator``.

    Returns:
        ``(probability, se)``: float64 ``[H]`` each, the Monte Carlo mean over the n prompts and its
        standard error.

    Raises:
        ValueError: the world has no track, or fewer than 2 prompts.
    """
    from endorm.tabular.imitation import as_rng

    from .lm import _next_log_probs

    derail, _ = _track(world)
    rng, doms = as_rng(seed), np.asarray(domains, dtype=np.int64)
    if doms.ndim != 1 or len(doms) < 2:
        raise ValueError(f"domains must be [n] with n >= 2, got shape {doms.shape}")
    V = world.vocab_size
    ids = (V + doms)[:, None]
    stay, off = np.ones(len(doms)), np.empty((len(doms), world.horizon))
    for h in range(world.horizon):
        p = np.exp(_next_log_probs(model, ids)[:, :V])
        p /= p.sum(axis=1, keepdims=True)
        stay *= 1.0 - p[:, derail].sum(axis=1)
        off[:, h] = 1.0 - stay
        p[:, derail] = 0.0
        cdf = np.cumsum(p, axis=1)
        a = np.minimum((rng.random(len(doms))[:, None] * cdf[:, -1:] > cdf).sum(axis=1), V - 1)
        ids = np.concatenate([ids, a[:, None]], axis=1)
    return off.mean(axis=0), off.std(axis=0, ddof=1) / np.sqrt(len(doms))


# -------------------------------------------------------------------- the whole response tree


def tree_mdp(world: TokenWorld):
    """The world's prompts and responses as the paper's prefix tree: ``prefix_tree(V, H, n_prompts=D)``.

    Layer h holds D * V^h prefixes; prefix s of domain d = s // V^h; uniform prompts, like the world.

    Returns:
        a ``TokenMDP`` (kind "tree") whose responses are the world's, in ``all_responses`` order.

    Raises:
        ValueError: the tree is too large (``prefix_tree``'s memory budget).
    """
    return prefix_tree(world.vocab_size, world.horizon, n_prompts=world.n_domains)


def _tree_automaton_states(world: TokenWorld) -> list:
    """The world's automaton state (a ``world.mdp`` state index) of every prefix, per depth: H int64 arrays."""
    V = world.vocab_size
    states = [world.prompt_state(np.arange(world.n_domains))]
    for h in range(world.horizon - 1):
        s = np.repeat(states[-1], V)
        states.append(world.mdp.step(h, s, np.tile(np.arange(V), len(states[-1]))))
    return states


def tree_true_reward(world: TokenWorld) -> list:
    """r* laid out on ``tree_mdp(world)``: layer h row s is r*(automaton state of prefix s, .).

    Returns:
        layered float64 ``[D * V^h, V]`` (reward units); its path sums are ``world.true_return``.
    """
    return [world.reward[h][q] for h, q in enumerate(_tree_automaton_states(world))]


def tree_prefixes(world: TokenWorld, h: int) -> np.ndarray:
    """Token ids of every depth-h prefix of the tree, in tree order: int64 ``[D * V^h, 1 + h]``.

    Column 0 is the domain's prompt token (``world.domain_token``), then the h response words;
    row s is tree state s of layer h (the child of s under word a is s * V + a).

    Args:
        world: the token world; h: the depth, 0..H-1 (prefixes of h response words).

    Returns:
        int64 ``[D * V^h, 1 + h]`` language-model token ids.
    """
    V, D = world.vocab_size, world.n_domains
    rows = np.arange(D * V**h)
    cols = [world.vocab_size + rows // V**h]
    cols += [(rows // V**(h - 1 - k)) % V for k in range(h)]
    return np.stack(cols, axis=1).astype(np.int64)


def tree_logits(world: TokenWorld, model, batch_size: int = 4096, max_prefixes: int = 2**20) -> list:
    """A causal LM's next-token logits over the response words at every prefix of ``tree_mdp(world)``.

    The non-response tokens (domain words, ``<pad>``) are dropped, so softmax of a row is the
    model's next-word distribution renormalized over the response words, which is what
    ``lm_sample`` samples. The logits keep the model's per-state constant.

    Args:
        world: the token world (small: D * V^(H-1) forward rows); model: a causal LM over ``world.words``.
        batch_size: prefixes per forward pass; max_prefixes: the most prefixes of one depth allowed.

    Returns:
        layered float64 ``[D * V^h, V]``: raw logits (nats at temperature 1); the paper's f_hat with
        pi_hat = softmax(f_hat / alpha) is alpha times them.

    Raises:
        ValueError: ``the prefix tree has D * V^(H-1) = ... prefixes at its last depth, over max_prefixes=...``.
    """
    import torch

    last = world.n_domains * world.vocab_size ** (world.horizon - 1)
    if last > max_prefixes:
        raise ValueError(f"the prefix tree has D * V^(H-1) = {last:,} prefixes at its last depth, "
                         f"over max_prefixes={max_prefixes:,}; use a smaller world")

    out = []
    for h in range(world.horizon):
        ids = tree_prefixes(world, h)
        rows = []
        with torch.no_grad():
            for k in range(0, len(ids), batch_size):
                x = torch.as_tensor(ids[k:k + batch_size])
                rows.append(model(input_ids=x).logits[:, -1, :world.vocab_size].double().numpy())
        out.append(np.concatenate(rows))
    return out


def iterate_kl_rl(mdp, logits: list, alpha: float, beta: float, rounds: int) -> list:
    """Iterate Sec. 4.3: extract r_hat of the current policy, then KL-regularized RL (Eq. 4) on it.

    Round 0 is pi_hat = softmax(logits / alpha). Round k+1 solves argmax_pi E[sum r_hat_k] -
    beta KL(pi || pi_k) exactly (``kl_regularized_optimal``), with r_hat_k the endogenous reward
    (Eq. 10) of pi_k's logits alpha log pi_k. On a prefix tree pi_k(y|x) is proportional to
    pi_hat(y|x)^(((alpha + beta) / beta)^k) (MATH.md, Sec. 4.3).

    Args:
        mdp: a ``TokenMDP`` (a prefix tree for the closed form); logits: layered ``[n_h, V]`` (alpha*nats).
        alpha: the temperature of pi_hat and of r_hat, > 0; beta: KL coefficient, > 0; rounds: k >= 0.

    Returns:
        ``rounds + 1`` layered log-policies (nats), round 0 first.

    Raises:
        ValueError: alpha or beta not > 0, ``rounds`` < 0, or bad layers (as the tabular functions).
    """
    from endorm.tabular import log_policy

    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    out = [log_policy(mdp, logits, alpha)]
    for _ in range(rounds):
        f_k = [alpha * lp for lp in out[-1]]
        sol = kl_regularized_optimal(mdp, endogenous_reward(mdp, f_k, alpha), None, beta, log_reference=out[-1])
        out.append(sol.log_policy)
    return out


def best_of_n_log_prob(log_prob, score, n: int) -> np.ndarray:
    """Exact log-probability of each response under best-of-n: draw n from p, keep the highest score.

    For one prompt with responses sorted by score, P(best = y) = F(y)^n - F(y-)^n, where F is the
    cumulative probability of p in score order (F(y-) excludes y). Tied scores share their group's
    mass in proportion to p (a uniformly random tie-break among the n draws).

    Args:
        log_prob: ``[P, N]`` log p(y|x) of every response of each of P prompts (rows normalized; nats).
        score: ``[P, N]`` the reranking score (any units; higher wins).
        n: draws per prompt, >= 1 (n = 1 returns ``log_prob``).

    Returns:
        float64 ``[P, N]`` log-probabilities (nats; -inf where impossible).

    Raises:
        ValueError: shapes differ or are not 2-D, or n < 1.
    """
    lp, sc = np.asarray(log_prob, dtype=np.float64), np.asarray(score, dtype=np.float64)
    if lp.ndim != 2 or lp.shape != sc.shape:
        raise ValueError(f"log_prob and score must both be [P, N], got {lp.shape} and {sc.shape}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = np.empty_like(lp)
    for i in range(lp.shape[0]):
        order = np.argsort(sc[i], kind="stable")
        p = np.exp(lp[i, order])
        _, start = np.unique(sc[i, order], return_index=True)
        group_mass = np.add.reduceat(p, start)
        upper = np.minimum(np.cumsum(group_mass), 1.0)
        best = upper**n - np.concatenate([[0.0], upper[:-1]])**n    # P(best score is group g)
        sizes = np.diff(np.append(start, len(p)))
        share = np.divide(p, np.repeat(group_mass, sizes), out=np.zeros_like(p), where=p > 0)
        with np.errstate(divide="ignore"):
            out[i, order] = np.log(np.repeat(best, sizes) * share)
    return out
