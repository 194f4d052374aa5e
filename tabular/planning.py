"""Dynamic programs on a ``TokenMDP``: soft, hard and KL-regularized optimality, evaluation.

All are backward inductions from V(s_{H+1}) = 0 (MATH.md, "Setting"). Layers are
processed in row chunks so that the peak extra memory stays close to the size of
the returned Q (see ``benchmarks/tabular_dp.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import xlogy

from .mdp import Layered, TokenMDP, check_alpha, check_layered, check_policy

_CHUNK = 2**18  # elements per temporary block in the row-wise logsumexp


def row_logsumexp(x: np.ndarray, temperature: float = 1.0, out: np.ndarray | None = None) -> np.ndarray:
    """temperature * logsumexp(x / temperature) over the last axis of a [n, V] array.

    Computed in row blocks of about 2**18 elements (one temporary block at a time).
    Entries may be -inf as long as every row has a finite entry (an all -inf row gives NaN).

    Args:
        x: [n, V] float array; not modified.
        temperature: > 0; not validated (0 raises ZeroDivisionError).
        out: optional [n] float64 array to write into.

    Returns:
        [n] float64 array (``out`` when given), in the units of ``x``.
    """
    n, V = x.shape
    out = np.empty(n) if out is None else out
    rows = max(1, _CHUNK // max(V, 1))
    inv = 1.0 / temperature
    for i in range(0, n, rows):
        blk = x[i:i + rows]
        m = blk.max(axis=1)
        t = np.subtract(blk, m[:, None])
        if inv != 1.0:
            t *= inv
        np.exp(t, out=t)
        out[i:i + rows] = m + temperature * np.log(t.sum(axis=1))
    return out


@dataclass
class SoftSolution:
    """Soft-optimal Q [n_h, V] and V [n_h] per depth (reward units); the policy is derived on demand.

    ``log_prior`` is None for entropy-regularized RL (uniform prior) and log pi_ref for
    KL-regularized RL; then pi = exp(log_prior + (Q - V) / temperature).
    Unpacks as ``Q, V, policy``.

    Attributes:
        mdp: the ``TokenMDP`` it was solved on.
        Q: layered soft Q-values [n_h, V].
        V: list of H soft values [n_h].
        temperature: alpha (``soft_optimal``) or beta (``kl_regularized_optimal``).
        log_prior: None, or layered log pi_ref [n_h, V] (entries may be -inf).
    """

    mdp: TokenMDP
    Q: Layered
    V: Layered
    temperature: float
    log_prior: Layered | None = None
    _log_policy: Layered | None = field(default=None, repr=False)

    @property
    def log_policy(self) -> Layered:
        """Layered log pi [n_h, V] (nats), computed once and cached."""
        if self._log_policy is None:
            lp = [(q - v[:, None]) / self.temperature for q, v in zip(self.Q, self.V)]
            if self.log_prior is not None:
                lp = [a + b for a, b in zip(lp, self.log_prior)]
            self._log_policy = lp
        return self._log_policy

    @property
    def policy(self) -> Layered:
        """Layered probabilities pi = exp(log_policy) [n_h, V] (a new list on every access)."""
        return [np.exp(lp) for lp in self.log_policy]

    @property
    def value(self) -> float:
        """E_{s_1 ~ rho} V(s_1): the optimal regularized objective (reward units)."""
        return float(self.mdp.initial @ self.V[0])

    def __iter__(self):
        """``Q, V, policy = soft_optimal(...)``."""
        return iter((self.Q, self.V, self.policy))


@dataclass
class HardSolution:
    """Unregularized optimum: Q, V per depth, greedy ``actions`` [n_h] (ties: lowest id).

    Unpacks as ``Q, V, policy``.

    Attributes:
        mdp: the ``TokenMDP`` it was solved on.
        Q: layered optimal Q-values [n_h, V] (reward units).
        V: list of H optimal values [n_h] (reward units), V = max_a Q.
        actions: list of H int arrays [n_h], the argmax token of each state.
    """

    mdp: TokenMDP
    Q: Layered
    V: Layered
    actions: Layered

    @property
    def policy(self) -> Layered:
        """The deterministic greedy policy as layered one-hot probabilities [n_h, V]."""
        out = []
        for a in self.actions:
            p = np.zeros((a.shape[0], self.mdp.vocab_size))
            p[np.arange(a.shape[0]), a] = 1.0
            out.append(p)
        return out

    @property
    def value(self) -> float:
        """E_{s_1 ~ rho} V(s_1): the optimal expected return (reward units)."""
        return float(self.mdp.initial @ self.V[0])

    def __iter__(self):
        """``Q, V, policy = hard_optimal(...)``."""
        return iter((self.Q, self.V, self.policy))


def _backward(mdp: TokenMDP, reward: Layered, temperature: float, log_prior: Layered | None):
    Q, Vs = [None] * mdp.horizon, [None] * mdp.horizon
    nxt = None
    for h in range(mdp.horizon - 1, -1, -1):
        q = reward[h].copy() if nxt is None else np.add(reward[h], mdp.successor_values(h, nxt))
        Q[h] = q
        if log_prior is None:
            nxt = row_logsumexp(q, temperature)
        else:
            nxt = row_logsumexp(q + temperature * log_prior[h], temperature)
        Vs[h] = nxt
    return Q, Vs


def soft_optimal(mdp: TokenMDP, reward: Layered, alpha: float) -> SoftSolution:
    """Entropy-regularized optimum: Q = r + V(s'), V = alpha*logsumexp(Q/alpha), V(s_{H+1}) = 0.

    The inner problem of Eq. 5 (MATH.md, "Setting"); Eq. 7/10 invert it: ``endogenous_reward(mdp, Q, alpha)``
    gives ``reward`` back (Eq. 13).

    Args:
        reward: layered r [n_h, V] (reward units).
        alpha: entropy coefficient (temperature), > 0.

    Returns:
        A ``SoftSolution`` with ``Q``, ``V``, ``policy`` = softmax(Q/alpha) and ``temperature`` = alpha.

    Raises:
        TypeError: ``alpha`` not a number (``alpha must be a number, got 'x'``); ``reward`` not a list.
        ValueError: ``alpha`` not finite and > 0 (``alpha must be > 0, got -1.0``); bad ``reward`` layers
            (as ``check_layered``: ``reward[1] must have shape (2, 2), got (2, 3)``).
    """
    alpha = check_alpha(alpha)
    reward = check_layered(mdp, reward, "reward")
    return SoftSolution(mdp, *_backward(mdp, reward, alpha, None), alpha)


def kl_regularized_optimal(mdp: TokenMDP, reward: Layered, reference: Layered | None, beta: float, *,
                           log_reference: Layered | None = None) -> SoftSolution:
    """argmax_pi E[sum r] - beta * KL(pi || reference) (Eq. 4), by backward induction.

    Q = r + V(s'), V(s) = beta*log sum_a ref(a|s) exp(Q(s,a)/beta), pi = ref*exp((Q - V)/beta).
    Give the reference as probabilities, or as ``log_reference`` (log-probabilities, rows
    normalized) when it has entries that would underflow.

    Args:
        reward: layered r [n_h, V] (reward units).
        reference: layered probabilities [n_h, V] (zeros allowed), or None with ``log_reference``.
        beta: KL coefficient, > 0.
        log_reference: layered log-probabilities [n_h, V] (nats; -inf allowed), |logsumexp(row)| <= 1e-8.

    Returns:
        A ``SoftSolution`` with ``temperature`` = beta and ``log_prior`` = log reference.

    Raises:
        TypeError: ``beta`` not a number (``beta must be a number, got 'x'``); a layered argument not a list.
        ValueError: ``beta`` not finite and > 0 (``beta must be > 0, got 0.0``); both or neither reference
            given (``give exactly one of reference (probabilities) and log_reference``); bad layers (as
            ``check_layered`` / ``check_policy``); a ``log_reference`` row not normalized
            (``log_reference[0] row 1 is not normalized (logsumexp = 0.1)``).
    """
    beta = check_alpha(beta, "beta")
    reward = check_layered(mdp, reward, "reward")
    if (reference is None) == (log_reference is None):
        raise ValueError("give exactly one of reference (probabilities) and log_reference")
    if reference is not None:
        reference = check_policy(mdp, reference, "reference")
        with np.errstate(divide="ignore"):
            log_ref = [np.log(p) for p in reference]
    else:
        log_ref = check_layered(mdp, log_reference, "log_reference", allow_neg_inf=True)
        for h, lp in enumerate(log_ref):
            err = np.abs(row_logsumexp(lp))
            if (err > 1e-8).any():
                raise ValueError(f"log_reference[{h}] row {int(err.argmax())} is not normalized "
                                 f"(logsumexp = {float(row_logsumexp(lp)[err.argmax()])!r})")
    return SoftSolution(mdp, *_backward(mdp, reward, beta, log_ref), beta, log_ref)


def hard_optimal(mdp: TokenMDP, reward: Layered) -> HardSolution:
    """Unregularized optimum (plain RL): Q = r + max_a' Q(s', a'); deterministic argmax policy.

    Ties go to the lowest token id. On r_hat this is the MAP-response policy of pi_hat (Sec. 4.3).

    Args:
        reward: layered r [n_h, V] (reward units).

    Returns:
        A ``HardSolution`` (``Q``, ``V``, ``actions`` [n_h], one-hot ``policy``).

    Raises:
        TypeError, ValueError: bad ``reward`` (as ``check_layered``).
    """
    reward = check_layered(mdp, reward, "reward")
    Q, Vs, acts = [None] * mdp.horizon, [None] * mdp.horizon, [None] * mdp.horizon
    nxt = None
    for h in range(mdp.horizon - 1, -1, -1):
        q = reward[h].copy() if nxt is None else reward[h] + mdp.successor_values(h, nxt)
        acts[h] = np.argmax(q, axis=1)
        nxt = q[np.arange(q.shape[0]), acts[h]]
        Q[h], Vs[h] = q, nxt
    return HardSolution(mdp, Q, Vs, acts)


def evaluate(mdp: TokenMDP, policy: Layered, reward: Layered, alpha: float = 0.0) -> float:
    """E_pi[ sum_h r(s_h, a_h) - alpha * log pi(a_h | s_h) ] from s_1 ~ rho, exactly (backward induction).

    alpha = 0 gives the plain expected return V^pi_r of MATH.md; alpha > 0 adds the
    entropy bonus (the inner objective of Eq. 5; the soft-optimal policy maximizes it).

    Args:
        policy: layered probabilities [n_h, V] (zeros allowed: 0 * log 0 = 0).
        reward: layered r [n_h, V] (reward units).
        alpha: entropy coefficient, >= 0.

    Returns:
        The value as a float (reward units).

    Raises:
        TypeError: ``alpha`` not a number (``alpha must be a number, got 'x'``); a layered argument not a list.
        ValueError: ``alpha`` negative or not finite (``alpha must be >= 0, got -1.0``); bad ``policy`` or
            ``reward`` (as ``check_policy`` / ``check_layered``).
    """
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"alpha must be a number, got {alpha!r}") from None
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")
    policy = check_policy(mdp, policy)
    reward = check_layered(mdp, reward, "reward")
    nxt = None
    for h in range(mdp.horizon - 1, -1, -1):
        x = reward[h] if nxt is None else reward[h] + mdp.successor_values(h, nxt)
        # xlogy(0, 0) = 0: actions with pi = 0 contribute nothing, whatever their reward.
        nxt = np.einsum("sa,sa->s", policy[h], x) - alpha * xlogy(policy[h], policy[h]).sum(axis=1)
    return float(mdp.initial @ nxt)


def state_distribution(mdp: TokenMDP, policy: Layered) -> Layered:
    """Occupancy d_h(s) = P_pi(s_h = s) for each depth, from s_1 ~ rho.

    Returns:
        List of H float64 arrays [n_h], each summing to 1 (layer 0 is ``mdp.initial`` itself).

    Raises:
        TypeError, ValueError: bad ``policy`` [n_h, V] (as ``check_policy``).
    """
    policy = check_policy(mdp, policy)
    d = [mdp.initial]
    for h in range(mdp.horizon - 1):
        d.append(mdp.push_forward(h, d[-1][:, None] * policy[h]))
    return d
