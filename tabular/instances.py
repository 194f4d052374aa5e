"""Problem instances: random prefix trees and the compounding on-track/off-track family.

An ``Instance`` bundles a true reward r*, its soft-optimal expert pi^E (MATH.md,
"Setting") and imitation logits f_hat whose policy pi_hat = softmax(f_hat/alpha) plays
the model trained by next-token prediction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .imitation import as_rng
from .mdp import Layered, TokenMDP, automaton_mdp, check_alpha, prefix_tree
from .planning import SoftSolution, soft_optimal
from .rewards import log_policy


@dataclass
class Instance:
    """r* (``true_reward``), expert = soft_optimal(r*, alpha), imitation ``logits`` f_hat.

    Attributes:
        mdp: the ``TokenMDP``.
        true_reward: layered r* [n_h, V] (reward units).
        alpha: the temperature of the expert and of pi_hat = softmax(f_hat / alpha).
        expert: ``SoftSolution`` of r* at ``alpha`` (its Q is the expert's logits).
        logits: layered imitation logits f_hat [n_h, V] (alpha*nats).
        name: a label for reports.
    """

    mdp: TokenMDP
    true_reward: Layered
    alpha: float
    expert: SoftSolution
    logits: Layered
    name: str = ""

    @property
    def log_policy(self) -> Layered:
        """log pi_hat = log softmax(f_hat / alpha) (Eq. 9): layered [n_h, V], nats, recomputed on each access."""
        return log_policy(self.mdp, self.logits, self.alpha)

    @property
    def policy(self) -> Layered:
        """pi_hat as layered probabilities [n_h, V]."""
        return [np.exp(lp) for lp in self.log_policy]

    @property
    def eps_pi(self) -> float:
        """eps_pi = max_h max_(s,a) |log pi^E(a|s) - log pi_hat(a|s)| (Theorem 1), over all states: a float, nats."""
        return max(float(np.abs(a - b).max()) for a, b in zip(self.expert.log_policy, self.log_policy))


def random_tree_instance(rng, vocab_size: int = 3, horizon: int = 3, n_prompts: int = 2,
                         alpha: float = 1.0, noise: float = 0.3, state_offset: float = 1.0) -> Instance:
    """Random prefix-tree instance.

    r* ~ U[0, 1) per step and state-action; f_hat = Q* + alpha*noise*N(0, 1) + c(s), where
    c(s) ~ state_offset*N(0, 1) is a per-state constant (logits are only defined up to
    one, so every identity must survive it). Prompt distribution rho ~ Dirichlet(1, ..., 1).

    Args:
        rng: a ``np.random.Generator`` or a seed (see ``as_rng``).
        noise: scale of the logit noise in units of alpha (>= 0; not validated).
        state_offset: scale of the per-state constant c(s) (not validated).

    Returns:
        An ``Instance`` named ``"tree V=.. H=.. P=.."``.

    Raises:
        TypeError: ``alpha`` not a number; ``vocab_size`` or ``horizon`` not an int (as ``prefix_tree``).
        ValueError: ``alpha`` not finite and > 0 (``alpha must be > 0, got -1.0``); sizes too small or the
            tree over the memory budget (as ``prefix_tree``).
    """
    rng = as_rng(rng)
    alpha = check_alpha(alpha)
    rho = rng.dirichlet(np.ones(n_prompts))
    mdp = prefix_tree(vocab_size, horizon, n_prompts, initial=rho)
    V = mdp.vocab_size
    reward = [rng.random((n, V)) for n in mdp.layer_sizes]
    expert = soft_optimal(mdp, reward, alpha)
    logits = [q + alpha * noise * rng.standard_normal(q.shape) + state_offset * rng.standard_normal((q.shape[0], 1))
              for q in expert.Q]
    return Instance(mdp, reward, alpha, expert, logits, f"tree V={V} H={horizon} P={n_prompts}")


@dataclass(frozen=True)
class CompoundingFamily:
    """On-track / off-track token world where imitation errors compound (Theorem 2).

    Automaton states: 0 = on track, 1 = off track (absorbing). On track, token 0 pays 1,
    token 1 pays 1 - alpha*delta (both stay on track) and the other V-2 tokens derail,
    paying r_derail; off track every token pays c. r_derail and c are chosen so that
    the soft values of both states are equal at every depth; then the soft-optimal
    expert derails with the same probability ``p_derail`` at every step, whatever H.

    The imitation policy pi_hat adds ``eps_derail`` to the expert's log-odds of every
    derailing token and ``eps_flip`` to token 1 (eps_flip > delta flips the most likely
    token, which is what RL on r_hat then follows). So its per-step error is fixed as H
    grows: derailing with probability ~ p*e^eps_derail, with p*e^eps_derail*H << 1 for
    the horizons used, so the H^2 regime of behaviour cloning does not saturate.

    Attributes:
        vocab_size: V >= 3 (token 0 best, token 1 alternative, tokens 2..V-1 derail).
        alpha: temperature of the expert and of pi_hat, > 0.
        p_derail: the expert's per-step derail probability p.
        delta: token 1's reward deficit, in units of alpha.
        eps_flip: log-odds added to token 1 by pi_hat (nats).
        eps_derail: log-odds added to every derailing token by pi_hat (nats).
    """

    vocab_size: int = 256
    alpha: float = 0.05
    p_derail: float = 1e-6
    delta: float = 0.01
    eps_flip: float = 0.015
    eps_derail: float = 2.0

    def rewards(self):
        """(r_derail, c): rewards that make the derail probability depth-independent.

        With w = 1 + alpha*log((1 + e^-delta) / (1 - p)) the soft value per step of both states,
        r_derail = w + alpha*log(p / (V-2)) and c = w - alpha*log V. Parameters are not validated here.

        Returns:
            (r_derail, c) as floats (reward units).
        """
        a, V, p = self.alpha, self.vocab_size, self.p_derail
        w = 1.0 + a * np.log((1.0 + np.exp(-self.delta)) / (1.0 - p))  # soft value per step
        return w + a * np.log(p / (V - 2)), w - a * np.log(V)

    def instance(self, horizon: int) -> Instance:
        """The family's ``Instance`` at horizon H on a two-state ``automaton_mdp``.

        Returns:
            An ``Instance`` named ``"compounding H=<horizon>"``.

        Raises:
            TypeError: ``alpha`` not a number; ``horizon`` not an int (as ``automaton_mdp``).
            ValueError: ``alpha`` not finite and > 0; ``vocab_size`` < 3 (``vocab_size must be >= 3 (best,
                alternative, derail), got 2``); rewards outside [0, 1] (``these parameters give rewards
                outside [0, 1] (r_derail=..., c=...); ...``); ``horizon`` < 1 or over the memory budget.
        """
        a, V = check_alpha(self.alpha), self.vocab_size
        if V < 3:
            raise ValueError(f"vocab_size must be >= 3 (best, alternative, derail), got {V}")
        r_derail, c = self.rewards()
        if not (0.0 <= r_derail <= 1.0 and 0.0 <= c <= 1.0):
            raise ValueError(f"these parameters give rewards outside [0, 1] (r_derail={r_derail:.4g}, "
                             f"c={c:.4g}); lower alpha or p_derail, or raise vocab_size")
        delta = np.zeros((2, V), dtype=np.int64)
        delta[0, 2:] = 1
        delta[1, :] = 1
        mdp = automaton_mdp(delta, horizon)
        r = np.empty((2, V))
        r[0, 0], r[0, 1], r[0, 2:], r[1, :] = 1.0, 1.0 - a * self.delta, r_derail, c
        reward = [r.copy() for _ in range(horizon)]
        expert = soft_optimal(mdp, reward, a)
        bump = np.zeros((2, V))
        bump[0, 1], bump[0, 2:] = a * self.eps_flip, a * self.eps_derail
        logits = [q + bump for q in expert.Q]
        return Instance(mdp, reward, a, expert, logits, f"compounding H={horizon}")
