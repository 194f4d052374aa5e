"""The endogenous reward of a logit table (Eq. 10-12 of arXiv 2506.23235) and the Appendix C response score.

Logits f are a layered array [n_h, V]; pi_f = softmax(f / alpha) (Eq. 9). Log-probabilities are in
nats; logits, rewards and values in alpha*nats (MATH.md, "Units"). The same names exist in ``endorm.llm``
for real language models; the per-token formulas are shared with it through ``endorm.formulas``.
"""
from __future__ import annotations

import numpy as np

from endorm.formulas import appendix_c_weights, check_weights

from .mdp import Layered, TokenMDP, all_responses, check_alpha, check_layered, path_sum
from .planning import row_logsumexp


def soft_value(mdp: TokenMDP, logits: Layered, alpha: float) -> Layered:
    """Soft value of the logits, V_f(s) = alpha * logsumexp_a(f(s, a) / alpha) (the normalizer of Eq. 9).

    Args:
        logits: layered f, layer h of shape [n_h, V] (alpha*nats).
        alpha: temperature of pi_f = softmax(f / alpha), > 0.

    Returns:
        List of H float64 arrays [n_h] (alpha*nats).

    Raises:
        TypeError: ``alpha`` is not a number (``alpha must be a number, got 'x'``); ``logits`` is not a list.
        ValueError: ``alpha`` is not finite and > 0 (``alpha must be > 0, got -1.0``); ``logits`` has the
            wrong layers or shapes or a non-finite entry (as ``check_layered``).
    """
    alpha = check_alpha(alpha)
    logits = check_layered(mdp, logits, "logits")
    return [row_logsumexp(f, alpha) for f in logits]


def log_policy(mdp: TokenMDP, logits: Layered, alpha: float) -> Layered:
    """Log-policy of the logits, log pi_f(a|s) = (f(s, a) - V_f(s)) / alpha (Eq. 9).

    Returns:
        Layered float64 log-probabilities [n_h, V] (nats); each row's exp sums to 1.

    Raises:
        TypeError, ValueError: as ``soft_value`` (bad ``alpha`` or ``logits``).
    """
    values = soft_value(mdp, logits, alpha)
    return [(np.asarray(f, float) - v[:, None]) / alpha for f, v in zip(logits, values)]


def policy_logits(mdp: TokenMDP, policy: Layered, alpha: float) -> Layered:
    """Logits alpha * log pi of a full-support policy (the per-state constant chosen as 0).

    Inverse of ``log_policy`` up to that constant: softmax(policy_logits(pi) / alpha) = pi for
    normalized rows; rows are not checked to sum to 1 (only shapes, finiteness and positivity).

    Args:
        policy: layered probabilities [n_h, V], every entry > 0.
        alpha: temperature, > 0.

    Returns:
        Layered float64 logits [n_h, V] (alpha*nats).

    Raises:
        TypeError: bad ``alpha`` (as ``check_alpha``) or ``policy`` not a list of arrays.
        ValueError: bad ``alpha``, layers or shapes (as ``check_alpha`` / ``check_layered``), or an entry
            <= 0 (``policy[0][1, 2] = 0.0: logits need a full-support policy (use behaviour_cloning with
            smoothing > 0)``).
    """
    alpha = check_alpha(alpha)
    policy = check_layered(mdp, policy, "policy")
    for h, p in enumerate(policy):
        if (p <= 0).any():
            s, a = np.argwhere(p <= 0)[0]
            raise ValueError(f"policy[{h}][{s}, {a}] = {float(p[s, a])!r}: logits need a full-support "
                             f"policy (use behaviour_cloning with smoothing > 0)")
    return [alpha * np.log(p) for p in policy]


def endogenous_reward(mdp: TokenMDP, logits: Layered, alpha: float) -> Layered:
    """Inverse soft Bellman operator (Eq. 7) on the logits, Eq. 10: r_hat(s_h, a_h) = f(s_h, a_h) - V_f(s_{h+1}).

    Boundary V_f(s_{H+1}) = 0, so the last step's reward is the logit itself.
    Equivalently (Eq. 11) r_hat = alpha * log pi_f(a|s) + V_f(s) - V_f(s').

    Args:
        logits: layered f, layer h of shape [n_h, V] (alpha*nats).
        alpha: temperature of pi_f = softmax(f / alpha), > 0.

    Returns:
        Layered float64 rewards r_hat [n_h, V] (alpha*nats), new arrays.

    Raises:
        TypeError, ValueError: as ``soft_value``.
    """
    alpha = check_alpha(alpha)
    logits = check_layered(mdp, logits, "logits")
    values = [row_logsumexp(f, alpha) for f in logits]
    out = []
    for h in range(mdp.horizon):
        if h + 1 < mdp.horizon:
            out.append(logits[h] - mdp.successor_values(h, values[h + 1]))
        else:
            out.append(logits[h].copy())
    return out


def _paths(mdp, prompts, responses):
    if responses is None:
        if prompts is not None:
            raise ValueError("give responses together with prompts, or neither (all responses)")
        return all_responses(mdp)
    responses = np.asarray(responses)
    if prompts is None:
        if mdp.layer_sizes[0] != 1:
            raise ValueError(f"prompts is required: the MDP has {mdp.layer_sizes[0]} prompts")
        prompts = np.zeros(responses.shape[0], dtype=np.int64)
    return prompts, responses


def outcome_reward(mdp: TokenMDP, logits: Layered, alpha: float, prompts=None, responses=None) -> np.ndarray:
    """Response-level reward (Eq. 12): sum_h r_hat(s_h, a_h) along each response: [n].

    It telescopes to alpha * log pi_f(y|x) + V_f(s_1); this function sums the per-step
    rewards (the identity is what the tests check). ``prompts`` [n] and ``responses``
    [n, H]; both None enumerates every response of a small tree (``all_responses`` order).
    ``prompts`` alone may be omitted when the MDP has a single prompt.

    Returns:
        [n] float64 outcome rewards (alpha*nats).

    Raises:
        TypeError: bad ``alpha`` or ``logits`` type (as ``endogenous_reward``).
        ValueError: bad ``alpha`` or ``logits``; ``prompts`` without ``responses`` (``give responses
            together with prompts, or neither (all responses)``); ``prompts`` omitted with several prompts
            (``prompts is required: the MDP has 2 prompts``); bad shapes or indices (as
            ``rollout_states``); too many responses to enumerate (as ``all_responses``).
    """
    prompts, responses = _paths(mdp, prompts, responses)
    return path_sum(mdp, endogenous_reward(mdp, logits, alpha), prompts, responses)


def discounted_score(mdp: TokenMDP, logits: Layered, alpha: float, prompts=None, responses=None,
                     gamma: float = 1.0, floor: float = 0.0, kind: str = "reward") -> np.ndarray:
    """Appendix C response score: sum_h w_h * x_h, w_h = max(gamma**(h-1), floor), h = 1..H: [n].

    ``kind="reward"``: x_h = r_hat(s_h, a_h) (Eq. 10); ``kind="logprob"``: x_h = log pi_f(a_h|s_h)
    (Eq. 9). gamma = 1, floor = 0, kind = "reward" is the outcome reward of Eq. 12.
    ``prompts`` / ``responses`` as in ``outcome_reward``.

    Args:
        gamma: discount in (0, 1].
        floor: lower bound of the weights, in [0, 1].
        kind: "reward" or "logprob".

    Returns:
        [n] float64 scores (alpha*nats for "reward", nats for "logprob").

    Raises:
        TypeError: ``gamma`` or ``floor`` not a number (``gamma must be a number, got 'x'``); bad ``alpha``
            or ``logits`` (as ``endogenous_reward``).
        ValueError: ``gamma`` outside (0, 1] (``gamma must lie in (0, 1], got 1.5``), ``floor`` outside
            [0, 1]; unknown ``kind`` (``kind must be 'reward' or 'logprob', got 'x'``); bad ``alpha``,
            ``logits``, ``prompts`` or ``responses`` (as ``outcome_reward``).
    """
    gamma, floor = check_weights(gamma, floor)
    if kind == "reward":
        x = endogenous_reward(mdp, logits, alpha)
    elif kind == "logprob":
        x = log_policy(mdp, logits, alpha)
    else:
        raise ValueError(f"kind must be 'reward' or 'logprob', got {kind!r}")
    w = appendix_c_weights(mdp.horizon, gamma, floor)
    prompts, responses = _paths(mdp, prompts, responses)
    return path_sum(mdp, [wh * xh for wh, xh in zip(w, x)], prompts, responses)


def sequence_log_prob(mdp: TokenMDP, log_pi: Layered, prompts=None, responses=None) -> np.ndarray:
    """Sequence log-probability log pi(y | x) = sum_h log pi(a_h | s_h) for a layered log-policy.

    Args:
        log_pi: layered log-probabilities [n_h, V] (nats); not validated.
        prompts, responses: [n] and [n, H], as in ``outcome_reward`` (both None: every response).

    Returns:
        [n] float64 log-probabilities (nats).

    Raises:
        ValueError: as ``outcome_reward`` for ``prompts`` / ``responses``.
    """
    prompts, responses = _paths(mdp, prompts, responses)
    return path_sum(mdp, log_pi, prompts, responses)


def shaped_reward(mdp: TokenMDP, reward: Layered, potentials) -> Layered:
    """Potential-based shaping (Ng et al., 1999; the remark after Eq. 11): r_h(s,a) + Phi_h(s) - Phi_{h+1}(s').

    Args:
        mdp: the token MDP; reward: layered r [n_h, V]; potentials: H arrays Phi_h [n_h] (reward units);
            Phi_{H+1} = 0 (no state after the last token).

    Returns:
        layered shaped reward [n_h, V] (new arrays). Soft- and hard-optimal policies are unchanged and every
        value shifts by E[Phi_1(s_1)] (``check_shaping``).

    Raises:
        ValueError: ``potentials`` is not H arrays of the layer sizes (``potentials[1] must have shape (4,), got (3,)``).
    """
    check_layered(mdp, reward, "reward")
    if len(potentials) != mdp.horizon:
        raise ValueError(f"potentials must hold {mdp.horizon} arrays (one per depth), got {len(potentials)}")
    phi = [np.asarray(x, dtype=np.float64) for x in potentials]
    for h, (x, n) in enumerate(zip(phi, mdp.layer_sizes)):
        if x.shape != (n,):
            raise ValueError(f"potentials[{h}] must have shape ({n},), got {x.shape}")
    H = mdp.horizon
    return [reward[h] + phi[h][:, None] - (mdp.successor_values(h, phi[h + 1]) if h + 1 < H else 0.0)
            for h in range(H)]

