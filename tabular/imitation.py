"""Demonstrations, behaviour cloning and the inverse soft-Q objective of Prop. 1 (Eq. 6 of arXiv 2506.23235).

Q and logits are layered arrays [n_h, V] (alpha*nats); demonstrations are ``prompts`` [n] and ``responses`` [n, H].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mdp import Layered, TokenMDP, check_alpha, check_layered, check_policy, rollout_states
from .planning import row_logsumexp


@dataclass(frozen=True)
class Demonstrations:
    """n expert trajectories: ``prompts`` [n] layer-0 states, ``responses`` [n, H] tokens.

    Not validated on construction; ``counts`` checks them against an MDP.

    Attributes:
        prompts: [n] int layer-0 state indices.
        responses: [n, H] int token ids.
    """

    prompts: np.ndarray
    responses: np.ndarray

    @property
    def n(self) -> int:
        """The number of trajectories."""
        return int(self.prompts.shape[0])

    def counts(self, mdp: TokenMDP) -> Layered:
        """N_h(s, a): how often each state-action pair occurs at depth h.

        Returns:
            Layered float64 counts [n_h, V]; every layer sums to n.

        Raises:
            ValueError: shapes or indices that do not fit ``mdp`` (as ``rollout_states``).
        """
        states = rollout_states(mdp, self.prompts, self.responses)
        V = mdp.vocab_size
        return [np.bincount(states[:, h] * V + self.responses[:, h], minlength=n * V)
                .reshape(n, V).astype(np.float64) for h, n in enumerate(mdp.layer_sizes)]


def as_rng(rng) -> np.random.Generator:
    """A numpy Generator from a Generator or a seed (deterministic under a seed).

    Returns:
        ``rng`` itself when it is a ``np.random.Generator`` (its state is shared), else ``default_rng(rng)``.

    Raises:
        TypeError, ValueError: from ``np.random.default_rng`` for an invalid seed (e.g. a negative int).
    """
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def sample_demonstrations(mdp: TokenMDP, policy: Layered, n: int, rng) -> Demonstrations:
    """Sample n trajectories s_1 ~ rho, a_h ~ policy(.|s_h). ``rng``: Generator or seed.

    Args:
        policy: layered probabilities [n_h, V].
        n: number of trajectories, a positive int.

    Returns:
        ``Demonstrations`` with ``prompts`` [n] int64 and ``responses`` [n, H] int64.

    Raises:
        TypeError, ValueError: bad ``policy`` (as ``check_policy``); bad seed (as ``as_rng``).
        ValueError: ``n`` not a positive int (``n must be a positive int, got 0``).
    """
    policy = check_policy(mdp, policy)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    rng = as_rng(rng)
    prompts = rng.choice(mdp.layer_sizes[0], size=n, p=mdp.initial)
    responses = np.empty((n, mdp.horizon), dtype=np.int64)
    s = prompts
    for h in range(mdp.horizon):
        cdf = np.cumsum(policy[h][s], axis=1)
        a = (rng.random(n)[:, None] * cdf[:, -1:] > cdf).sum(axis=1)
        responses[:, h] = np.minimum(a, mdp.vocab_size - 1)
        if h + 1 < mdp.horizon:
            s = mdp.step(h, s, responses[:, h])
    return Demonstrations(prompts.astype(np.int64), responses)


def _weights(mdp: TokenMDP, demonstrations: Demonstrations, smoothing: float) -> Layered:
    smoothing = float(smoothing)
    if not np.isfinite(smoothing) or smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing!r}")
    counts = demonstrations.counts(mdp)
    return [c + smoothing * (c.sum(axis=1, keepdims=True) > 0) for c in counts]


def behaviour_cloning(mdp: TokenMDP, demonstrations: Demonstrations, smoothing: float = 0.0) -> Layered:
    """Next-token-prediction (maximum-likelihood, Eq. 1) policy of the demonstrations.

    pi(a|s) = (N(s,a) + smoothing) / (N(s) + V*smoothing) on visited states (additive
    smoothing = the MLE of the data plus ``smoothing`` pseudo-observations of every
    action there); uniform on states the demonstrations never visit. By Prop. 1 its
    logits alpha * log pi maximize the inverse soft-Q objective J (Eq. 6).

    Returns:
        Layered float64 policy [n_h, V], rows summing to 1.

    Raises:
        ValueError: ``smoothing`` < 0 or not finite (``smoothing must be >= 0, got -1.0``); demonstrations
            that do not fit ``mdp`` (as ``rollout_states``).
    """
    out = []
    for w in _weights(mdp, demonstrations, smoothing):
        tot = w.sum(axis=1, keepdims=True)
        out.append(np.where(tot > 0, w / np.where(tot > 0, tot, 1.0), 1.0 / mdp.vocab_size))
    return out


def iq_learn_objective(mdp: TokenMDP, Q: Layered, demonstrations: Demonstrations, alpha: float,
                       smoothing: float = 0.0) -> float:
    """Inverse soft-Q objective (Eq. 6), for a tabular Q with deterministic transitions:

    J(Q) = (1/n) sum_i sum_h [ Q(s_h^i, a_h^i) - alpha * logsumexp_a Q(s_h^i, a) / alpha ],

    i.e. alpha times the mean log-likelihood of the data under softmax(Q/alpha) (Eq. 8).
    ``smoothing`` adds that many pseudo-observations of every action at visited states,
    so that ``behaviour_cloning(..., smoothing)`` is exactly its maximizer (Prop. 1).

    Args:
        Q: layered Q [n_h, V] (alpha*nats), e.g. logits.
        alpha: temperature, > 0.
        smoothing: pseudo-counts per action at visited states, >= 0 (still divided by n, not n + pseudo).

    Returns:
        J(Q) as a float (alpha*nats per demonstration).

    Raises:
        TypeError: ``alpha`` not a number (``alpha must be a number, got 'x'``); ``Q`` not a list of arrays.
        ValueError: ``alpha`` not finite and > 0 (``alpha must be > 0, got -1.0``); bad ``Q`` layers (as
            ``check_layered``); ``smoothing`` < 0 (``smoothing must be >= 0, got -1.0``); bad demonstrations
            (as ``rollout_states``).
    """
    alpha = check_alpha(alpha)
    Q = check_layered(mdp, Q, "Q")
    total = 0.0
    for q, w in zip(Q, _weights(mdp, demonstrations, smoothing)):
        total += float(np.sum(w * (q - row_logsumexp(q, alpha)[:, None])))
    return total / demonstrations.n


def iq_learn_gradient(mdp: TokenMDP, Q: Layered, demonstrations: Demonstrations, alpha: float,
                      smoothing: float = 0.0) -> Layered:
    """Gradient of the inverse soft-Q objective (Eq. 6) with respect to the table Q.

    dJ/dQ(s, a) = (W(s, a) - W(s) * softmax(Q(s)/alpha)(a)) / n, W the (smoothed) counts.
    Zero exactly at the behaviour-cloning logits on visited states (Prop. 1).

    Returns:
        Layered float64 gradient [n_h, V] (dimensionless: counts per trajectory).

    Raises:
        TypeError, ValueError: as ``iq_learn_objective``.
    """
    alpha = check_alpha(alpha)
    Q = check_layered(mdp, Q, "Q")
    out = []
    for q, w in zip(Q, _weights(mdp, demonstrations, smoothing)):
        pi = np.exp((q - row_logsumexp(q, alpha)[:, None]) / alpha)
        out.append((w - w.sum(axis=1, keepdims=True) * pi) / demonstrations.n)
    return out


def iq_learn_ascent(mdp: TokenMDP, demonstrations: Demonstrations, alpha: float, Q0: Layered,
                    steps: int = 2000, lr: float = 2.0, smoothing: float = 0.0) -> Layered:
    """Gradient ascent on J from ``Q0``, preconditioned per state.

    The step at state s is ``lr * n * alpha / W(s)`` times the gradient, i.e. plain
    gradient ascent on each state's log-likelihood in units of Q/alpha; the Hessian
    there has eigenvalues <= 1/2, so any lr < 4 converges. Unvisited states keep Q0.

    Args:
        Q0: layered starting Q [n_h, V] (alpha*nats); not modified.
        steps: number of ascent steps, an int >= 0.
        lr: step size in (0, 4).
        smoothing: as in ``iq_learn_objective``.

    Returns:
        Layered float64 Q [n_h, V] after ``steps`` steps (new arrays).

    Raises:
        TypeError: ``alpha`` not a number; ``Q0`` not a list of arrays; ``lr`` not a number (from ``float``).
        ValueError: ``lr`` outside (0, 4) (``lr must lie in (0, 4) for convergence, got 5``); ``steps`` not an
            int >= 0 (``steps must be an int >= 0, got -1``); bad ``alpha``, ``Q0``, ``smoothing`` or
            demonstrations (as ``iq_learn_objective``).
    """
    alpha = check_alpha(alpha)
    if not (0.0 < float(lr) < 4.0):
        raise ValueError(f"lr must lie in (0, 4) for convergence, got {lr!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    Q = [q.copy() for q in check_layered(mdp, Q0, "Q0")]
    weights = _weights(mdp, demonstrations, smoothing)
    for q, w in zip(Q, weights):
        tot = w.sum(axis=1, keepdims=True)
        visited = tot[:, 0] > 0
        target = w[visited] / tot[visited]
        qv = q[visited]
        for _ in range(steps):
            qv += lr * alpha * (target - np.exp((qv - row_logsumexp(qv, alpha)[:, None]) / alpha))
        q[visited] = qv
    return Q
