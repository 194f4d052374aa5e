"""The quantities and bounds of Theorems 1 and 2 (arXiv 2506.23235), and the H-versus-H^2 horizon study.

Values, gaps and bounds are in the units of the true reward r* (reward units); policies are layered arrays [n_h, V].
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from .brute import Enumeration
from .instances import CompoundingFamily, Instance
from .mdp import Layered, TokenMDP, check_layered, check_policy
from .planning import evaluate, hard_optimal, state_distribution
from .rewards import endogenous_reward


def preference_tv(enum: Enumeration, inst: Instance):
    """Theorem 1 on every pair of responses to the same prompt (Bradley-Terry preferences, Eq. 2).

    Returns (tv, middle, outer) for all pairs i < j within each prompt, where
    tv = |sigmoid(R*(y)-R*(y')) - sigmoid(R_hat(y)-R_hat(y'))| with R the summed
    per-step rewards, middle = (alpha/4)(|dlog pi(y)| + |dlog pi(y')|) and
    outer = alpha*H*eps_pi/2 (a scalar). Theorem 1 says tv <= middle <= outer.

    Args:
        enum: ``enumerate_mdp(inst.mdp)`` (not checked to match).
        inst: the instance (r*, expert, f_hat).

    Returns:
        (tv [P*K], middle [P*K], outer float) with K = M(M-1)/2 pairs of the M = V**H responses of
        each of the P prompts, prompt-major.
    """
    R_star = enum.by_prompt(enum.returns(inst.true_reward))
    R_hat = enum.by_prompt(enum.returns(endogenous_reward(inst.mdp, inst.logits, inst.alpha)))
    dlog = enum.by_prompt(np.abs(enum.log_prob(inst.expert.log_policy) - enum.log_prob(inst.log_policy)))
    i, j = np.triu_indices(enum.per_prompt, k=1)
    tv = np.abs(expit(R_star[:, i] - R_star[:, j]) - expit(R_hat[:, i] - R_hat[:, j]))
    middle = inst.alpha / 4 * (dlog[:, i] + dlog[:, j])
    return tv.ravel(), middle.ravel(), inst.alpha * inst.mdp.horizon * inst.eps_pi / 2


def rl_policy(inst: Instance) -> Layered:
    """pi_RL = argmax_pi V^pi_{r_hat}: unregularized RL on the endogenous reward (Theorem 2).

    Returns:
        Layered one-hot policy [n_h, V] (``hard_optimal`` of r_hat = Eq. 10 of ``inst.logits``; ties: lowest id).
    """
    return hard_optimal(inst.mdp, endogenous_reward(inst.mdp, inst.logits, inst.alpha)).policy


def bc_gap_bound(mdp: TokenMDP, expert: Layered, imitation: Layered, reward: Layered):
    """Explicit H^2 bound on |V^{pi^E}_r - V^{pi_hat}_r| (Theorem 2, behaviour cloning).

    Let P_h, P_h' be the laws of (s_h, a_h) under pi^E and pi_hat and span_h =
    max r_h - min r_h. Then |E_P r_h - E_P' r_h| <= span_h TV(P_h, P_h'), and coupling
    the two rollouts step by step (they part at step l with probability at most
    TV(pi^E(.|s_l), pi_hat(.|s_l)) while they agree, s_l ~ d_l^E) gives
    TV(P_h, P_h') <= sum_{l<=h} E_{s~d_l^E} TV_l(s). Hence

        gap_BC <= sum_h span_h sum_{l<=h} E_{d_l^E} TV_l                  (data-dependent)
               <= span * H(H+1)/2 * (e^eps_pi - 1)/2                       (uniform)

    since |pi_hat/pi^E - 1| <= e^eps_pi - 1 pointwise. For r in [0, 1]: span <= 1.

    Args:
        expert, imitation: layered probabilities pi^E and pi_hat [n_h, V].
        reward: layered r [n_h, V] (reward units).

    Returns:
        (data_dependent, uniform) as floats (reward units); uniform is inf when the supports differ.

    Raises:
        TypeError, ValueError: bad ``imitation``, ``reward`` or ``expert`` (as ``check_policy`` /
            ``check_layered``; ``expert`` errors name it ``policy``).
    """
    imitation = check_policy(mdp, imitation, "imitation")
    reward = check_layered(mdp, reward, "reward")
    d = state_distribution(mdp, expert)
    tv = [0.5 * np.abs(p - q).sum(axis=1) for p, q in zip(expert, imitation)]
    cum = np.cumsum([float(dl @ t) for dl, t in zip(d, tv)])
    spans = np.array([r.max() - r.min() for r in reward])
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = max(float(np.nanmax(np.abs(np.log(q) - np.log(p)))) for p, q in zip(expert, imitation))
    H = mdp.horizon
    return float(spans @ cum), float(spans.max() * H * (H + 1) / 2 * np.expm1(eps) / 2)


@dataclass
class Gaps:
    """Exact true returns and the Theorem 2 gaps of one instance (values in reward units of r*).

    Attributes:
        horizon: H.
        eps_pi: the instance's eps_pi (Theorem 1).
        value_expert, value_bc, value_rl: V^pi_{r*} of pi^E, pi_hat and pi_RL.
        bound_rl: 2 * alpha * H * eps_pi, the Theorem 2 bound on gap_rl.
        bound_bc: the uniform H^2 bound on |gap_bc| (``bc_gap_bound``).
        bound_bc_data: the data-dependent H^2 bound on |gap_bc| (``bc_gap_bound``).
    """

    horizon: int
    eps_pi: float
    value_expert: float
    value_bc: float
    value_rl: float
    bound_rl: float          # 2 * alpha * H * eps_pi
    bound_bc: float          # uniform H^2 bound
    bound_bc_data: float     # data-dependent bound

    @property
    def gap_bc(self) -> float:
        """V^{pi^E}_{r*} - V^{pi_hat}_{r*} (float)."""
        return self.value_expert - self.value_bc

    @property
    def gap_rl(self) -> float:
        """V^{pi^E}_{r*} - V^{pi_RL}_{r*} (float; may be negative)."""
        return self.value_expert - self.value_rl


def theorem2_gaps(inst: Instance) -> Gaps:
    """Exact V^pi_{r*} of the expert, pi_hat (BC) and pi_RL, with the Theorem 2 bounds.

    Returns:
        A ``Gaps`` (values by ``evaluate`` with alpha = 0, bounds by ``bc_gap_bound``).
    """
    mdp, r = inst.mdp, inst.true_reward
    pe, pb = inst.expert.policy, inst.policy
    data, uniform = bc_gap_bound(mdp, pe, pb, r)
    return Gaps(mdp.horizon, inst.eps_pi, evaluate(mdp, pe, r), evaluate(mdp, pb, r),
                evaluate(mdp, rl_policy(inst), r), 2 * inst.alpha * mdp.horizon * inst.eps_pi,
                uniform, data)


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y on log x; nan unless every y > 0 and there are >= 2 points.

    Args:
        x, y: equal-length 1-D sequences, x > 0.

    Returns:
        The slope as a float.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or np.any(y <= 0):
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


@dataclass
class HorizonScaling:
    """Exact BC and RL gaps over horizons on one instance family, with log-log slopes.

    Attributes:
        horizons: the H values, in the order given.
        gaps: one ``Gaps`` per horizon.
        family: the ``CompoundingFamily`` used, or None.
    """

    horizons: list
    gaps: list = field(default_factory=list)
    family: CompoundingFamily | None = None

    @property
    def gap_bc(self) -> np.ndarray:
        """[len(horizons)] float64 gap_BC per horizon."""
        return np.array([g.gap_bc for g in self.gaps])

    @property
    def gap_rl(self) -> np.ndarray:
        """[len(horizons)] float64 gap_RL per horizon."""
        return np.array([g.gap_rl for g in self.gaps])

    @property
    def slope_bc(self) -> float:
        """Log-log slope of gap_BC in H (Theorem 2 predicts ~2); nan if a gap is <= 0."""
        return loglog_slope(self.horizons, self.gap_bc)

    @property
    def slope_rl(self) -> float:
        """Log-log slope of gap_RL in H (Theorem 2 predicts <= 1); nan if a gap is <= 0."""
        return loglog_slope(self.horizons, self.gap_rl)

    def to_dict(self) -> dict:
        """JSON-ready dict: horizons, gaps, slopes, the three bounds and eps_pi per H, and the family's fields."""
        return {"horizons": list(self.horizons), "gap_bc": self.gap_bc.tolist(),
                "gap_rl": self.gap_rl.tolist(), "slope_bc": self.slope_bc, "slope_rl": self.slope_rl,
                "bound_rl": [g.bound_rl for g in self.gaps], "bound_bc": [g.bound_bc for g in self.gaps],
                "bound_bc_data": [g.bound_bc_data for g in self.gaps],
                "eps_pi": [g.eps_pi for g in self.gaps],
                "family": None if self.family is None else vars(self.family)}


DEFAULT_HORIZONS = (32, 64, 128, 256, 512)
"""Horizons of the Theorem 2 study in ``horizon_scaling`` and ``check_theorem2``."""


def horizon_scaling(horizons=DEFAULT_HORIZONS, family: CompoundingFamily | None = None) -> HorizonScaling:
    """Exact gap_BC and gap_RL on ``family`` (default ``CompoundingFamily()``) for each H.

    The per-step imitation error is the same at every H, so Theorem 2 predicts
    gap_BC ~ H^2 (slope 2 in log-log) and gap_RL <= 2*alpha*H*eps_pi (slope <= 1).

    Args:
        horizons: at least two ints >= 1.
        family: the instance family; ``CompoundingFamily()`` when None.

    Returns:
        A ``HorizonScaling`` with one ``Gaps`` per horizon.

    Raises:
        ValueError: fewer than two horizons or one < 1 (``horizons must be at least two ints >= 1 (for a
            slope), got [32]``); an invalid family (as ``CompoundingFamily.instance``).
        TypeError: a horizon that is not a number (from ``int``); a family ``alpha`` that is not a number.
    """
    family = CompoundingFamily() if family is None else family
    horizons = [int(h) for h in horizons]
    if len(horizons) < 2 or any(h < 1 for h in horizons):
        raise ValueError(f"horizons must be at least two ints >= 1 (for a slope), got {horizons}")
    return HorizonScaling(horizons, [theorem2_gaps(family.instance(h)) for h in horizons], family)
