"""Brute-force oracles: every quantity by enumerating all V**H responses of each prompt.

These share no dynamic programming with ``planning``: on a deterministic token MDP
the soft-optimal response distribution is pi(y|x) = exp((R(y) - V(x)) / alpha) with
V(x) = alpha * logsumexp_y R(y) / alpha, the KL-regularized one is
pi(y|x) proportional to ref(y|x) exp(R(y)/beta), and the hard optimum is argmax_y R(y).
Only for small instances (``max_responses``); used by the tests and ``endorm verify``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, xlogy

from .mdp import Layered, TokenMDP, all_responses, path_sum


@dataclass(frozen=True)
class Enumeration:
    """All responses of a small MDP: ``prompts`` [N], ``responses`` [N, H], prompt-major.

    Build it with ``enumerate_mdp``. N = n_prompts * V**H; per-response arrays are [N] and
    ``by_prompt`` views them as [n_prompts, V**H].

    Attributes:
        mdp: the enumerated ``TokenMDP``.
        prompts: [N] int64 layer-0 state of each response.
        responses: [N, H] int64 token ids, lexicographic within each prompt.
    """

    mdp: TokenMDP
    prompts: np.ndarray
    responses: np.ndarray

    @property
    def per_prompt(self) -> int:
        """V**H, the number of responses of each prompt."""
        return self.mdp.vocab_size ** self.mdp.horizon

    def returns(self, reward: Layered) -> np.ndarray:
        """R(y) = sum_h r(s_h, a_h) for every response of a layered ``reward`` [n_h, V]: [N] (reward units)."""
        return path_sum(self.mdp, reward, self.prompts, self.responses)

    def by_prompt(self, x: np.ndarray) -> np.ndarray:
        """Reshape an [N] per-response array to [n_prompts, V**H] (a view when ``x`` is contiguous)."""
        return x.reshape(self.mdp.layer_sizes[0], self.per_prompt)

    def log_prob(self, log_pi: Layered) -> np.ndarray:
        """log pi(y|x) of every response under a layered log-policy [n_h, V]: [N] (nats)."""
        return path_sum(self.mdp, log_pi, self.prompts, self.responses)


def enumerate_mdp(mdp: TokenMDP, max_responses: int = 2**20) -> Enumeration:
    """Every (prompt, response) of a small MDP (n_prompts * V**H <= ``max_responses``).

    Returns:
        An ``Enumeration`` (prompt-major, as ``all_responses``).

    Raises:
        ValueError: n_prompts * V**H > ``max_responses`` (as ``all_responses``).
    """
    return Enumeration(mdp, *all_responses(mdp, max_responses))


def soft_optimal_bf(enum: Enumeration, reward: Layered, alpha: float):
    """Entropy-regularized optimum by enumeration: pi(y|x) = exp((R(y) - V(x)) / alpha).

    V(x) = alpha * logsumexp_y R(y) / alpha; ``alpha`` > 0 is not validated.

    Returns:
        (log pi(y|x) [N] in nats, V(x) [n_prompts] in reward units), float64.
    """
    R = enum.by_prompt(enum.returns(reward))
    V = alpha * logsumexp(R / alpha, axis=1)
    return ((R - V[:, None]) / alpha).ravel(), V


def kl_optimal_bf(enum: Enumeration, reward: Layered, ref_log_prob: np.ndarray, beta: float):
    """argmax E[R] - beta KL(pi || ref) (Eq. 4) by enumeration: pi(y|x) proportional to ref(y|x) e^(R(y)/beta).

    Args:
        ref_log_prob: [N] log ref(y|x) of every response (nats), e.g. ``enum.log_prob(log_ref)``.
        beta: KL coefficient, > 0 (not validated).

    Returns:
        (log pi(y|x) [N], V(x) [n_prompts]) with V(x) = beta * log sum_y ref(y|x) e^(R(y)/beta) (reward units).
    """
    R = enum.by_prompt(enum.returns(reward))
    z = enum.by_prompt(ref_log_prob) + R / beta
    V = beta * logsumexp(z, axis=1)
    return (z - V[:, None] / beta).ravel(), V


def hard_optimal_bf(enum: Enumeration, reward: Layered):
    """Unregularized optimum by enumeration: argmax_y R(y) per prompt (ties: first in lexicographic order).

    Returns:
        (best response index within each prompt [n_prompts] int, best return [n_prompts] float, reward units).
    """
    R = enum.by_prompt(enum.returns(reward))
    return R.argmax(axis=1), R.max(axis=1)


def evaluate_bf(enum: Enumeration, log_pi: Layered, reward: Layered, alpha: float = 0.0) -> float:
    """E_{x~rho} E_{y~pi} [R(y) - alpha log pi(y|x)] by summing over every response.

    Args:
        log_pi: layered log-policy [n_h, V] (nats; -inf allowed for zero probabilities).
        reward: layered r [n_h, V] (reward units).
        alpha: entropy coefficient, >= 0 (not validated).

    Returns:
        The value as a float (reward units); equals ``planning.evaluate`` on exp(log_pi).
    """
    lp = enum.by_prompt(enum.log_prob(log_pi))
    p = np.exp(lp)
    R = enum.by_prompt(enum.returns(reward))
    per_prompt = (p * R).sum(axis=1) - alpha * xlogy(p, p).sum(axis=1)
    return float(enum.mdp.initial @ per_prompt)


def fit_exponent(enum: Enumeration, log_p, log_ref) -> float:
    """Least-squares e in log p(y|x) = e * log ref(y|x) + c(x) over all responses (power sharpening, Sec. 4.3).

    Args:
        enum: the enumeration; log_p, log_ref: sequence log-probabilities [n_responses] in ``enum``'s order (nats).

    Returns:
        the fitted exponent e (KL-regularized RL on the own reward gives (alpha + beta) / beta; MATH.md).
    """
    x, y = enum.by_prompt(np.asarray(log_ref, float)), enum.by_prompt(np.asarray(log_p, float))
    x, y = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    return float((x * y).sum() / (x * x).sum())

