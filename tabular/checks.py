"""Numerical checks of every claim of arXiv 2506.23235; shared by ``endorm verify``, tests, figures, notebooks.

Each ``check_*(seed, n_instances, ...)`` runs on ``random_instances(seed, n_instances)`` and returns a ``CheckReport``:
a list of ``CheckResult`` rows (one per sub-claim, ``<check>.<part>``), ``.holds`` when every row holds. Exact
identities (errors in alpha*nats) are compared at 1e-10 * H * max(1, max|Q|) in float64 (``exact_tol``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from . import brute
from .imitation import Demonstrations, behaviour_cloning, iq_learn_ascent, iq_learn_gradient, iq_learn_objective, sample_demonstrations
from .instances import CompoundingFamily, Instance, random_tree_instance
from .planning import evaluate, hard_optimal, kl_regularized_optimal, soft_optimal
from .rewards import endogenous_reward, outcome_reward, policy_logits, shaped_reward, soft_value
from .theory import DEFAULT_HORIZONS, horizon_scaling, preference_tv, theorem2_gaps


@dataclass(frozen=True)
class CheckResult:
    """One claim: ``measured`` compared with ``expected`` by ``relation`` ("<=", ">=", "~=").

    Attributes:
        name, claim, relation: row id (``theorem2.bc_slope``), claim in words, "<=" / ">=" / "~=" (|m - e| <= tol).
        measured, expected, tolerance: floats; holds: m relation e within tol (or a per-instance verdict), m finite.
    """

    name: str
    claim: str
    measured: float
    expected: float
    relation: str
    tolerance: float
    holds: bool

    def to_dict(self) -> dict:
        """The seven fields as a plain, JSON-ready dict (the rows of ``endorm verify --json``)."""
        return asdict(self)


class CheckReport(list):
    """A list of ``CheckResult`` rows (one check, or several concatenated); ``holds`` when all rows hold."""

    @property
    def holds(self) -> bool:
        """True when every row holds (also for an empty report)."""
        return all(r.holds for r in self)


def _row(name, claim, measured, expected, relation, tol=0.0, holds=None) -> CheckResult:
    """``holds`` overrides the comparison when the tolerance is per instance (``tol`` = the largest)."""
    m, e = float(measured), float(expected)
    ok = {"<=": m <= e + tol, ">=": m >= e - tol, "~=": abs(m - e) <= tol}[relation] if holds is None else holds
    return CheckResult(name, claim, m, e, relation, float(tol), bool(ok and np.isfinite(m)))


def exact_tol(inst: Instance, *extra) -> float:
    """Tolerance (a float, alpha*nats) of an exact identity on ``inst``: 1e-10 * H * max(1, max|Q|, max|f|, *extra)."""
    scale = max([1.0] + [float(np.abs(q).max()) for q in inst.expert.Q + inst.logits] + list(extra))
    return 1e-10 * inst.mdp.horizon * scale


class _Worst:
    """Worst error per quantity over instances, each compared with its own instance's tolerance."""

    def __init__(self, *names):
        self.err = dict.fromkeys(names, 0.0)
        self.ok = dict.fromkeys(names, True)
        self.tol = dict.fromkeys(names, 0.0)

    def add(self, tol: float, **errors):
        """Record one instance's error per quantity (keyword = quantity) against that instance's ``tol``."""
        for k, v in errors.items():
            self.err[k], self.ok[k] = max(self.err[k], v), self.ok[k] and v <= tol
            self.tol[k] = max(self.tol[k], tol)

    def row(self, key, name, claim) -> CheckResult:
        """A "~= 0" ``CheckResult`` of the worst error of ``key``, tolerance the largest one seen."""
        return _row(name, claim, self.err[key], 0.0, "~=", self.tol[key], self.ok[key])


_CONFIGS = [dict(vocab_size=2, horizon=1, alpha=1.0), dict(vocab_size=3, horizon=3, alpha=0.5),
            dict(vocab_size=2, horizon=4, alpha=2.0), dict(vocab_size=4, horizon=2, alpha=0.1),
            dict(vocab_size=3, horizon=4, alpha=5.0), dict(vocab_size=2, horizon=5, alpha=0.05)]


def random_instances(seed: int, n: int):
    """List of n random 2-prompt tree ``Instance``, cycling through edge-case shapes and temperatures."""
    rng = np.random.default_rng(seed)
    return [random_tree_instance(rng, n_prompts=2, **_CONFIGS[i % len(_CONFIGS)]) for i in range(n)]


def _maxdiff(a, b) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def check_round_trip(seed: int = 0, n_instances: int = 6) -> CheckReport:
    """Eq. 11 round trip: soft-optimal RL (same alpha) on r_hat returns pi_hat, soft Q = f_hat (``round_trip.*``)."""
    w = _Worst("Q", "policy")
    for inst in random_instances(seed, n_instances):
        sol = soft_optimal(inst.mdp, endogenous_reward(inst.mdp, inst.logits, inst.alpha), inst.alpha)
        w.add(exact_tol(inst), Q=_maxdiff(sol.Q, inst.logits),
              policy=inst.alpha * _maxdiff(sol.log_policy, inst.log_policy))
    return CheckReport([w.row("Q", "round_trip.Q", "soft Q of r_hat equals the logits f_hat (max |dQ|)"),
                        w.row("policy", "round_trip.policy",
                              "soft-optimal policy of r_hat equals pi_hat (max alpha*|dlog pi|)")])


def check_telescoping(seed: int = 0, n_instances: int = 6) -> CheckReport:
    """Eq. 12: sum_h r_hat = alpha log pi_hat(y) + V_f(s_1); Eq. 13: r* is the expert's r_hat (``telescoping.*``)."""
    w = _Worst("eq12", "eq13")
    for inst in random_instances(seed, n_instances):
        enum = brute.enumerate_mdp(inst.mdp)
        lhs = outcome_reward(inst.mdp, inst.logits, inst.alpha)
        v1 = soft_value(inst.mdp, inst.logits, inst.alpha)[0][enum.prompts]
        w.add(exact_tol(inst), eq12=float(np.abs(lhs - (inst.alpha * enum.log_prob(inst.log_policy) + v1)).max()),
              eq13=_maxdiff(endogenous_reward(inst.mdp, inst.expert.Q, inst.alpha), inst.true_reward))
    return CheckReport([
        w.row("eq12", "telescoping.eq12", "outcome reward = alpha log pi_hat(y|x) + V_f(s_1) on every response"),
        w.row("eq13", "telescoping.eq13", "r* = endogenous reward of the expert's soft Q (Eq. 13)")])


def _prop1_one(inst, demos, smoothing, rng, n_perturbations, ascent_steps):
    """(max J gain over perturbations, tolerance, max |grad|, max TV of ascent to BC on visited states)."""
    mdp, a = inst.mdp, inst.alpha
    bc = behaviour_cloning(mdp, demos, smoothing)
    f = [x + rng.standard_normal((x.shape[0], 1)) for x in policy_logits(mdp, bc, a)]
    J = iq_learn_objective(mdp, f, demos, a, smoothing)
    gain = max(iq_learn_objective(mdp, [x + 10.0 ** rng.uniform(-3, 0) * rng.standard_normal(x.shape) for x in f],
                                  demos, a, smoothing) - J for _ in range(n_perturbations))
    grad = max(float(np.abs(x).max()) for x in iq_learn_gradient(mdp, f, demos, a, smoothing))
    Q = iq_learn_ascent(mdp, demos, a, [a * 3 * rng.standard_normal(x.shape) for x in f], steps=ascent_steps,
                        smoothing=smoothing)
    tv = 0.0
    for q, p, c in zip(Q, bc, demos.counts(mdp)):
        visited = c.sum(axis=1) > 0
        z = np.exp((q - q.max(axis=1, keepdims=True)) / a)
        tv = max(tv, float(0.5 * np.abs(z / z.sum(axis=1, keepdims=True) - p)[visited].sum(axis=1).max()))
    return gain, 1e-10 * mdp.horizon * max(1.0, abs(J)), grad, tv


def check_proposition1(seed: int = 0, n_instances: int = 4, n_demos: int = 200, smoothing: float = 1.0,
                       n_perturbations: int = 50, ascent_steps: int = 2000) -> CheckReport:
    """Prop. 1: the behaviour-cloning logits maximize the inverse soft-Q objective J (Eq. 6).

    Odd instances: ``n_demos`` sampled demonstrations with ``smoothing`` pseudo-counts (every visited action
    gets a finite logit); even ones, unsmoothed (the plain J of Eq. 6): every response held 1-5 times, so every
    action is observed. ``n_perturbations`` random deltas; ``ascent_steps`` of ``iq_learn_ascent`` from a random Q.

    Returns:
        ``CheckReport`` rows ``prop1.maximizer``, ``prop1.gradient``, ``prop1.ascent``.

    Raises:
        ValueError: ``n_demos`` < 1, ``smoothing`` < 0, ``ascent_steps`` < 0 or ``n_perturbations`` < 1.
    """
    rng = np.random.default_rng(seed + 1)
    gain, ok_gain, grad, tv, tmax = -np.inf, True, 0.0, 0.0, 0.0
    for i, inst in enumerate(random_instances(seed, n_instances)):
        if i % 2:
            demos, s = sample_demonstrations(inst.mdp, inst.expert.policy, n_demos, rng), smoothing
        else:
            enum = brute.enumerate_mdp(inst.mdp)
            idx = np.repeat(np.arange(enum.prompts.size), rng.integers(1, 6, enum.prompts.size))
            demos, s = Demonstrations(enum.prompts[idx], enum.responses[idx]), 0.0
        g, t, gr, d = _prop1_one(inst, demos, s, rng, n_perturbations, ascent_steps)
        gain, ok_gain, tmax = max(gain, g), ok_gain and g <= t, max(tmax, t)
        grad, tv = max(grad, gr), max(tv, d)
    return CheckReport([
        _row("prop1.maximizer", "J(f_hat + delta) - J(f_hat) over random delta (max; smoothed and unsmoothed data)",
             gain, 0.0, "<=", tmax, ok_gain),
        _row("prop1.gradient", "max |grad J(f_hat)|", grad, 0.0, "~=", 1e-12),
        _row("prop1.ascent", "gradient ascent from random Q: max TV to pi_BC on visited states",
             tv, 0.0, "~=", 1e-6)])


def check_theorem1(seed: int = 0, n_instances: int = 6) -> CheckReport:
    """Theorem 1 on every pair: TV <= (alpha/4)(|dlog pi(y)| + |dlog pi(y')|) <= alpha H eps_pi / 2 (``theorem1.*``)."""
    excess, ratio, n_pairs = -np.inf, 0.0, 0
    for inst in random_instances(seed, n_instances):
        tv, mid, outer = preference_tv(brute.enumerate_mdp(inst.mdp), inst)
        if tv.size == 0:
            continue
        n_pairs += tv.size
        excess = max(excess, float((tv - mid).max()))
        ratio = max(ratio, float(mid.max() / outer) if outer > 0 else 0.0)
    return CheckReport([
        _row("theorem1.pairwise", f"max over {n_pairs} pairs of TV - (alpha/4)(|dlog pi(y)|+|dlog pi(y')|)",
             excess, 0.0, "<=", 1e-12),
        _row("theorem1.uniform", "max (alpha/4)(|dlog pi(y)|+|dlog pi(y')|) / (alpha H eps_pi / 2)",
             ratio, 1.0, "<=", 1e-12)])


def _ratio(x: float, bound: float, atol: float = 1e-12) -> float:
    """x / max(bound, atol): a bound at rounding level (pi_hat = pi^E) does not blow the ratio up."""
    return x / max(bound, atol)


def check_theorem2(seed: int = 0, n_instances: int = 6, horizons=DEFAULT_HORIZONS,
                   family: CompoundingFamily | None = None) -> CheckReport:
    """Theorem 2: exact gaps on random trees and the H vs H^2 slopes on the compounding family.

    The BC bound is also checked on ``family`` (default ``CompoundingFamily()``) at ``horizons``, where only the H^2
    form holds: on its flip-free variant sum_h E_{d_h^E} TV_h is below the gap (tests/tabular/test_theorems.py shows it).

    Returns:
        ``CheckReport`` of nine ``theorem2.*`` rows (bounds, slopes, family regime, RL gap per step).

    Raises:
        ValueError: bad ``horizons`` or ``family`` (as ``horizon_scaling`` / ``CompoundingFamily.instance``).
    """
    rl_ratio, bc_ratio, data_ratio = -np.inf, -np.inf, -np.inf
    for inst in random_instances(seed, n_instances):
        g = theorem2_gaps(inst)
        rl_ratio = max(rl_ratio, _ratio(g.gap_rl, g.bound_rl))
        bc_ratio = max(bc_ratio, _ratio(abs(g.gap_bc), g.bound_bc_data))
        data_ratio = max(data_ratio, _ratio(g.bound_bc_data, g.bound_bc))
    family = CompoundingFamily() if family is None else family
    scaling = horizon_scaling(horizons, family)
    H = np.array(scaling.horizons, float)
    flipless = theorem2_gaps(replace(family, eps_flip=0.0).instance(int(H.max())))
    top = family.instance(int(H.max()))
    excess = H.max() * (top.policy[0][0, 2:].sum() - top.expert.policy[0][0, 2:].sum())
    per_h = scaling.gap_rl / H
    return CheckReport([
        _row("theorem2.rl_bound", "max gap_RL / (2 alpha H eps_pi) on random trees", rl_ratio, 1.0, "<=", 1e-12),
        _row("theorem2.bc_bound", "max |gap_BC| / data-dependent H^2 bound on random trees", bc_ratio, 1.0, "<=",
             1e-12),
        _row("theorem2.bc_bound_uniform", "data-dependent / uniform H(H+1)/4 (e^eps - 1) bound", data_ratio, 1.0,
             "<=", 1e-12),
        _row("theorem2.rl_bound_family", f"max gap_RL / (2 alpha H eps_pi) on the compounding family, "
             f"H={scaling.horizons[0]}..{scaling.horizons[-1]}",
             max(g.gap_rl / g.bound_rl for g in scaling.gaps), 1.0, "<=", 1e-12),
        _row("theorem2.bc_bound_family", "max gap_BC / data-dependent H^2 bound on the compounding family "
             "(and its flip-free variant)", max(g.gap_bc / g.bound_bc_data for g in scaling.gaps + [flipless]),
             1.0, "<=", 1e-12),
        _row("theorem2.family_regime", "H_max * (BC derail prob - expert derail prob): imitation does not "
             "saturate", excess, 0.1, "<=", 0.0),
        _row("theorem2.bc_slope", "log-log slope of gap_BC in H (compounding family)", scaling.slope_bc, 2.0, "~=",
             0.15),
        _row("theorem2.rl_slope", "log-log slope of gap_RL in H (compounding family, gap_RL > 0)",
             scaling.slope_rl, 1.0, "<=", 0.0),
        _row("theorem2.rl_per_step", "max over H of gap_RL(H')/H' / (gap_RL(H)/H), H' > H: RL gap per step "
             "never grows", float((per_h[1:] / per_h[:-1]).max()), 1.0, "<=", 1e-9)])


def check_shaping(seed: int = 0, n_instances: int = 6) -> CheckReport:
    """Potential shaping r + Phi(s) - Phi(s') (remark after Eq. 11): same policies, values shift by E[Phi(s_1)]."""
    rng = np.random.default_rng(seed + 2)
    flips, w = 0, _Worst("soft_policy", "values")
    for inst in random_instances(seed, n_instances):
        mdp, r, a = inst.mdp, inst.true_reward, inst.alpha
        phi = [3.0 * rng.standard_normal(n) for n in mdp.layer_sizes]
        shaped = shaped_reward(mdp, r, phi)
        shift = float(mdp.initial @ phi[0])
        h0, h1 = hard_optimal(mdp, r), hard_optimal(mdp, shaped)
        for q, a0, a1 in zip(h0.Q, h0.actions, h1.actions):
            top2 = np.sort(q, axis=1)[:, -2:] if q.shape[1] > 1 else np.hstack([q, q - 1])
            clear = (top2[:, 1] - top2[:, 0]) > 1e-9 * (1 + np.abs(q).max())
            flips += int((a0 != a1)[clear].sum())
        s0, s1 = soft_optimal(mdp, r, a), soft_optimal(mdp, shaped, a)
        pol = inst.policy
        w.add(exact_tol(inst, 3.0 * max(float(np.abs(p).max()) for p in phi)),
              soft_policy=a * _maxdiff(s0.log_policy, s1.log_policy),
              values=max(abs(s1.value - s0.value - shift), abs(h1.value - h0.value - shift),
                         abs(evaluate(mdp, pol, shaped) - evaluate(mdp, pol, r) - shift)))
    return CheckReport([
        _row("shaping.hard_policy", "hard-optimal actions that change under shaping (clear argmax)", flips, 0, "~=", 0),
        w.row("soft_policy", "shaping.soft_policy", "max alpha*|dlog pi| of soft-optimal policies under shaping"),
        w.row("values", "shaping.values", "max |value shift - E[Phi(s_1)]| (soft, hard, any fixed policy)")])


def check_power_sharpening(seed: int = 0, n_instances: int = 6, beta: float = 0.01) -> CheckReport:
    """Sec. 4.3: KL-regularized RL on r_hat with reference pi_hat is pi_hat^((alpha+beta)/beta), normalized.

    Checked against brute-force enumeration; returns a ``CheckReport`` with one row, ``power_sharpening`` (nats).

    Raises:
        TypeError, ValueError: ``beta`` not a number / not finite and > 0 (``beta must be > 0, got 0.0``).
    """
    w = _Worst("power")
    for inst in random_instances(seed, n_instances):
        mdp, a = inst.mdp, inst.alpha
        enum = brute.enumerate_mdp(mdp)
        sol = kl_regularized_optimal(mdp, endogenous_reward(mdp, inst.logits, a), None, beta,
                                     log_reference=inst.log_policy)
        e = (a + beta) / beta
        z = enum.by_prompt(e * enum.log_prob(inst.log_policy))
        target = (z - np.logaddexp.reduce(z, axis=1, keepdims=True)).ravel()
        w.add(1e-10 * mdp.horizon * max(1.0, float(np.abs(target).max())),
              power=float(np.abs(enum.log_prob(sol.log_policy) - target).max()))
    return CheckReport([w.row("power", "power_sharpening", f"max |log pi_KL(y) - log normalized "
                              f"pi_hat(y)^((alpha+beta)/beta)| (beta={beta}, brute force)")])


def check_iteration(seed: int = 0, n_instances: int = 6, beta_over_alpha: float = 1.0, iterations: int = 3,
                    deterministic_logit: float = 30.0) -> CheckReport:
    """Sec. 4.3 in three readings of "RL": extract r_hat, run RL, extract again, ...

    * unregularized: pi_RL is the MAP policy of pi_hat; its own reward (near-deterministic
      logits +-``deterministic_logit``) gives pi_RL back: a fixed point after one step;
    * soft RL with the same alpha: returns pi_hat itself;
    * KL-regularized with coefficient beta = ``beta_over_alpha`` * alpha and reference = current policy,
      k = 1..``iterations``: the exponent of pi_hat grows as ((alpha+beta)/beta)^k, so one step is no fixed point.

    Returns:
        ``CheckReport`` rows ``iteration.*``: unregularized (MAP, fixed point), soft, KL exponent per k, KL moving.

    Raises:
        ZeroDivisionError, ValueError: ``beta_over_alpha`` == 0 / < 0 (``beta must be > 0, ...``); iterations < 1.
    """
    moved, map_err, w = 0, 0, _Worst("soft")
    fitted, moves = [[] for _ in range(iterations)], np.zeros(iterations)
    target = (1.0 + 1.0 / beta_over_alpha) ** np.arange(1, iterations + 1)
    for inst in random_instances(seed, n_instances):
        mdp, a = inst.mdp, inst.alpha
        enum = brute.enumerate_mdp(mdp)
        rl = hard_optimal(mdp, endogenous_reward(mdp, inst.logits, a))
        best, _ = brute.hard_optimal_bf(enum, [lp * 1.0 for lp in inst.log_policy])
        rl_path = enum.by_prompt(enum.log_prob([np.log(np.maximum(p, 1e-300)) for p in rl.policy])).argmax(axis=1)
        map_err += int((best != rl_path).sum())
        f1 = [deterministic_logit * (2 * p - 1) for p in rl.policy]
        again = hard_optimal(mdp, endogenous_reward(mdp, f1, a))
        moved += sum(int((x != y).sum()) for x, y in zip(again.actions, rl.actions))
        soft = soft_optimal(mdp, endogenous_reward(mdp, inst.logits, a), a)
        w.add(exact_tol(inst), soft=a * _maxdiff(soft.log_policy, inst.log_policy))
        logits, log_ref, beta = inst.logits, inst.log_policy, beta_over_alpha * a
        for k in range(1, iterations + 1):
            sol = kl_regularized_optimal(mdp, endogenous_reward(mdp, logits, a), None, beta, log_reference=log_ref)
            e = brute.fit_exponent(enum, enum.log_prob(sol.log_policy), enum.log_prob(inst.log_policy))
            fitted[k - 1].append(e)
            d = enum.by_prompt(np.abs(np.exp(enum.log_prob(sol.log_policy)) - np.exp(enum.log_prob(log_ref))))
            moves[k - 1] = max(moves[k - 1], float(0.5 * d.sum(axis=1).max()))
            logits, log_ref = [a * lp for lp in sol.log_policy], sol.log_policy
    worst = [max(f, key=lambda e, t=t: abs(e - t)) for f, t in zip(fitted, target)]
    return CheckReport([
        _row("iteration.unregularized_map", "responses where pi_RL differs from the MAP response of pi_hat",
             map_err, 0, "~=", 0),
        _row("iteration.unregularized_fixed_point", "actions changed by a second extract-then-RL step",
             moved, 0, "~=", 0),
        w.row("soft", "iteration.soft_same_alpha", "soft RL (same alpha) on r_hat: max alpha*|dlog pi| to pi_hat"),
        *[_row(f"iteration.kl_exponent.k{k}", f"KL-RL iterated {k}x (beta={beta_over_alpha}*alpha): fitted exponent "
               f"of pi_hat, worst instance", worst[k - 1], target[k - 1], "~=", 1e-9 * target[k - 1])
          for k in range(1, iterations + 1)],
        _row("iteration.kl_not_fixed", f"min over steps k=1..{iterations} of the largest TV(pi_k, pi_(k-1)): "
             "KL-RL keeps moving", moves.min(), 1e-3, ">=", 0.0)])


def check_dynamic_programs(seed: int = 0, n_instances: int = 6) -> CheckReport:
    """Every DP against brute-force enumeration of all responses (soft, hard, KL, evaluate): ``dp_vs_bruteforce.*``."""
    w, wrong_actions = _Worst("soft", "hard", "kl", "evaluate"), 0
    for inst in random_instances(seed, n_instances):
        mdp, r, a = inst.mdp, inst.true_reward, inst.alpha
        enum = brute.enumerate_mdp(mdp)
        lp_bf, v_bf = brute.soft_optimal_bf(enum, r, a)
        hard = hard_optimal(mdp, r)
        best, v_hard = brute.hard_optimal_bf(enum, r)
        greedy = enum.by_prompt(enum.log_prob([np.log(np.maximum(p, 1e-300)) for p in hard.policy])).argmax(axis=1)
        wrong_actions += int((greedy != best).sum())
        kl = kl_regularized_optimal(mdp, r, None, a, log_reference=inst.log_policy)
        lp_kl, _ = brute.kl_optimal_bf(enum, r, enum.log_prob(inst.log_policy), a)
        w.add(exact_tol(inst),
              soft=max(a * float(np.abs(enum.log_prob(inst.expert.log_policy) - lp_bf).max()),
                       float(np.abs(inst.expert.V[0] - v_bf).max())),
              hard=float(np.abs(hard.V[0] - v_hard).max()),
              kl=a * float(np.abs(enum.log_prob(kl.log_policy) - lp_kl).max()),
              evaluate=max(abs(evaluate(mdp, inst.policy, r, x) - brute.evaluate_bf(enum, inst.log_policy, r, x))
                           for x in (0.0, a)))
    rows = [w.row(k, f"dp_vs_bruteforce.{k}", f"{k}: max |DP - enumeration of all V^H responses|") for k in w.err]
    rows.append(_row("dp_vs_bruteforce.hard_response", "prompts where the greedy DP response is not the best "
                     "enumerated response", wrong_actions, 0, "~=", 0))
    return CheckReport(rows)


def verify_plan(quick: bool = False):
    """[(check, kwargs)] in ``endorm verify`` order; ``quick``: 6 instances, not 120 (Prop. 1: 3, not 24)."""
    n = 6 if quick else 120
    plan = [(c, {"n_instances": n}) for c in (check_dynamic_programs, check_round_trip, check_telescoping)]
    plan.append((check_proposition1, {"n_instances": 3 if quick else 24, "ascent_steps": 1500 if quick else 3000}))
    plan += [(c, {"n_instances": n}) for c in (check_theorem1, check_theorem2, check_shaping,
                                               check_power_sharpening, check_iteration)]
    return plan


def run_all(quick: bool = False, seed: int = 0) -> CheckReport:
    """One ``CheckReport``: every check of ``verify_plan`` at ``seed``, rows concatenated (34 rows)."""
    rows = CheckReport()
    for check, kwargs in verify_plan(quick):
        rows.extend(check(seed, **kwargs))
    return rows
