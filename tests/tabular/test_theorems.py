"""Property tests of Theorems 1-2, shaping, Sec. 4.3, and the checks behind `endorm verify`."""
import numpy as np
import pytest
from helpers import maxdiff, tol, tree_instances
from hypothesis import given
from hypothesis import strategies as st

import endorm.tabular as T
from endorm.tabular import brute


@given(tree_instances(max_responses=243))
def test_theorem1_every_pair(inst):
    tv, middle, outer = T.preference_tv(T.enumerate_mdp(inst.mdp), inst)
    assert np.all(tv <= middle + 1e-12)
    assert np.all(middle <= outer + 1e-12)


def test_theorem1_is_tight_to_first_order():
    """For tiny errors the TV approaches the middle bound within sigmoid's slope 1/4 at 0."""
    rng = np.random.default_rng(0)
    inst = T.random_tree_instance(rng, 2, 1, 1, alpha=1.0, noise=1e-4)
    inst.true_reward[0][:] = 0.0  # equal true rewards: sigmoid'(0) = 1/4 exactly
    inst.expert = T.soft_optimal(inst.mdp, inst.true_reward, 1.0)
    inst.logits = [q + np.array([[1e-4, -1e-4]]) for q in inst.expert.Q]
    tv, middle, _ = T.preference_tv(T.enumerate_mdp(inst.mdp), inst)
    assert tv[0] == pytest.approx(middle[0], rel=1e-3)


@given(tree_instances(max_responses=243))
def test_theorem2_bounds(inst):
    g = T.theorem2_gaps(inst)
    assert g.gap_rl <= g.bound_rl + tol(inst)
    assert abs(g.gap_bc) <= g.bound_bc_data + tol(inst)
    assert g.bound_bc_data <= g.bound_bc + tol(inst)
    # RL on r_hat follows the MAP response of pi_hat (not greedy decoding)
    enum = T.enumerate_mdp(inst.mdp)
    lp = enum.by_prompt(enum.log_prob(inst.log_policy))
    rl = T.rl_policy(inst)
    rl_lp = enum.by_prompt(enum.log_prob([np.log(np.maximum(p, 1e-300)) for p in rl]))
    chosen = rl_lp.argmax(axis=1)
    assert np.all(lp[np.arange(lp.shape[0]), chosen] >= lp.max(axis=1) - tol(inst) / inst.alpha)


def test_greedy_decoding_is_not_the_rl_policy():
    """A tree where greedy token decoding and the MAP response differ: RL on r_hat takes the MAP one."""
    mdp = T.prefix_tree(2, 2)
    pol = [np.array([[0.6, 0.4]]), np.array([[0.5, 0.5], [0.99, 0.01]])]
    f = T.policy_logits(mdp, pol, 1.0)
    rl = T.hard_optimal(mdp, T.endogenous_reward(mdp, f, 1.0))
    assert rl.actions[0].tolist() == [1]  # P(1, 0) = 0.396 > P(0, .) = 0.3
    assert rl.actions[1].tolist() == [0, 0]


def test_bc_bound_by_hand():
    """H = 1: gap_BC = sum_a (pi^E - pi_hat) r exactly equals span * TV when r is an indicator."""
    mdp = T.prefix_tree(2, 1)
    pe, pb = [np.array([[0.7, 0.3]])], [np.array([[0.6, 0.4]])]
    r = [np.array([[1.0, 0.0]])]
    data, uniform = T.bc_gap_bound(mdp, pe, pb, r)
    assert data == pytest.approx(0.1, rel=1e-14)
    eps = np.log(0.4 / 0.3)
    assert uniform == pytest.approx(1 * 2 / 2 * np.expm1(eps) / 2, rel=1e-14)
    assert T.evaluate(mdp, pe, r) - T.evaluate(mdp, pb, r) == pytest.approx(data, rel=1e-14)


def test_compounding_family_has_depth_independent_expert():
    fam = T.CompoundingFamily()
    inst = fam.instance(64)
    derail = np.array([p[0, 2:].sum() for p in inst.expert.policy])
    assert np.allclose(derail, fam.p_derail, rtol=1e-9)
    assert all(0 <= x <= 1 for x in fam.rewards())
    assert all(r.min() >= 0 and r.max() <= 1 for r in inst.true_reward)


def test_horizon_scaling_slopes():
    res = T.horizon_scaling((32, 64, 128, 256))
    assert np.all(res.gap_bc > 0) and np.all(res.gap_rl > 0)
    assert abs(res.slope_bc - 2) <= 0.15
    assert res.slope_rl <= 1.0
    assert all(g.gap_rl <= g.bound_rl and g.gap_bc <= g.bound_bc for g in res.gaps)
    # the per-step error is held fixed: eps_pi does not grow with H
    assert np.ptp([g.eps_pi for g in res.gaps]) < 1e-9


def test_compounding_family_rejects_rewards_outside_unit_interval():
    with pytest.raises(ValueError, match="rewards outside"):
        T.CompoundingFamily(alpha=0.5).instance(8)
    with pytest.raises(ValueError, match="vocab_size must be >= 3"):
        T.CompoundingFamily(vocab_size=2).instance(8)


@given(tree_instances(), st.integers(0, 2**31))
def test_shaping_invariance(inst, seed):
    rng = np.random.default_rng(seed)
    mdp, r, a = inst.mdp, inst.true_reward, inst.alpha
    phi = [rng.standard_normal(n) for n in mdp.layer_sizes]
    shaped = [r[h] + phi[h][:, None] - (mdp.successor_values(h, phi[h + 1]) if h + 1 < mdp.horizon else 0)
              for h in range(mdp.horizon)]
    shift = mdp.initial @ phi[0]
    t = tol(inst, 10)
    s0, s1 = T.soft_optimal(mdp, r, a), T.soft_optimal(mdp, shaped, a)
    assert maxdiff(s0.log_policy, s1.log_policy) * a <= t
    assert abs(s1.value - s0.value - shift) <= t
    h0, h1 = T.hard_optimal(mdp, r), T.hard_optimal(mdp, shaped)
    assert abs(h1.value - h0.value - shift) <= t
    assert abs(T.evaluate(mdp, h1.policy, r) - h0.value) <= t  # the shaped optimum is optimal for r
    assert abs(T.evaluate(mdp, inst.policy, shaped, a) - T.evaluate(mdp, inst.policy, r, a) - shift) <= t


@given(tree_instances(max_responses=81, alphas=[0.2, 1.0, 2.0]), st.sampled_from([0.01, 0.1, 1.0]))
def test_kl_regularized_rl_on_r_hat_is_a_power(inst, beta):
    mdp, a = inst.mdp, inst.alpha
    enum = T.enumerate_mdp(mdp)
    sol = T.kl_regularized_optimal(mdp, T.endogenous_reward(mdp, inst.logits, a), None, beta,
                                   log_reference=inst.log_policy)
    z = enum.by_prompt((a + beta) / beta * enum.log_prob(inst.log_policy))
    target = (z - np.logaddexp.reduce(z, axis=1, keepdims=True)).ravel()
    assert np.abs(enum.log_prob(sol.log_policy) - target).max() <= 1e-10 * mdp.horizon * max(1, np.abs(target).max())


@pytest.mark.parametrize("check", [T.check_dynamic_programs, T.check_round_trip, T.check_telescoping,
                                   T.check_theorem1, T.check_shaping, T.check_power_sharpening,
                                   T.check_iteration])
def test_every_check_holds(check):
    report = check(3, 6)
    assert report.holds, [r for r in report if not r.holds]
    assert len(report) >= 1 and all(np.isfinite(r.measured) for r in report)


def test_slow_checks_hold():
    assert T.check_proposition1(3, 2, ascent_steps=1500).holds
    assert T.check_theorem2(3, 4, horizons=(32, 64, 128)).holds


def test_checks_catch_a_wrong_boundary(monkeypatch):
    """With the wrong terminal convention (V(s_{H+1}) = V_f(s_H)), the round trip must fail."""
    import endorm.tabular.checks as C

    def wrong(mdp, logits, alpha):
        good = T.endogenous_reward(mdp, logits, alpha)
        good[-1] = good[-1] - T.soft_value(mdp, logits, alpha)[-1][:, None]
        return good

    monkeypatch.setattr(C, "endogenous_reward", wrong)
    assert not C.check_round_trip(0, 3).holds
    assert not C.check_telescoping(0, 3).holds


def test_checks_catch_a_wrong_alpha(monkeypatch):
    import endorm.tabular.checks as C

    real = C.soft_optimal
    monkeypatch.setattr(C, "soft_optimal", lambda mdp, r, alpha: real(mdp, r, 1.1 * alpha))
    assert not C.check_round_trip(0, 3).holds
    assert not C.check_iteration(0, 3).holds


def test_brute_force_oracle_by_hand():
    """The oracle itself on H = 1: softmax over the V rewards."""
    mdp = T.prefix_tree(3, 1)
    r = [np.array([[0.0, 1.0, 2.0]])]
    lp, v = brute.soft_optimal_bf(T.enumerate_mdp(mdp), r, 1.0)
    assert v[0] == pytest.approx(np.log(1 + np.e + np.e**2), rel=1e-15)
    assert np.exp(lp).sum() == pytest.approx(1.0, rel=1e-15)


def test_theorem2_check_with_a_perfect_model():
    """noise = 0: pi_hat = pi^E, every gap and bound is 0; the check must still hold (0/0 is no error)."""
    from endorm.tabular.checks import _ratio

    inst = T.random_tree_instance(np.random.default_rng(0), 2, 3, 1, alpha=0.5, noise=0.0)
    g = T.theorem2_gaps(inst)
    assert abs(g.gap_bc) < 1e-12 and g.bound_bc_data < 1e-12
    assert _ratio(abs(g.gap_bc), g.bound_bc_data) <= 1e-3 and _ratio(1e-6, 0.0) >= 1e6
    assert _ratio(g.gap_rl, g.bound_rl) <= 1.0  # gap_RL < 0 here: the MAP policy beats the soft expert


def _per_step_sum(mdp, expert, imitation, reward):
    """A WRONG (linear-in-H) 'bound': sum_h span_h E_{d_h^E} TV_h, without the accumulation over l <= h."""
    d = T.state_distribution(mdp, expert)
    return sum((r.max() - r.min()) * float(dh @ (0.5 * np.abs(p - q).sum(axis=1)))
               for dh, p, q, r in zip(d, expert, imitation, reward))


def test_bc_bound_needs_the_accumulation_on_the_compounding_family():
    inst = T.CompoundingFamily(eps_flip=0.0).instance(512)
    g = T.theorem2_gaps(inst)
    wrong = _per_step_sum(inst.mdp, inst.expert.policy, inst.policy, inst.true_reward)
    assert wrong < g.gap_bc <= g.bound_bc_data  # measured: 0.0031 < 0.2055 <= 0.78


def test_check_theorem2_catches_a_linear_bc_bound(monkeypatch):
    import endorm.tabular.theory as th

    monkeypatch.setattr(th, "bc_gap_bound", lambda mdp, e, i, r: (_per_step_sum(mdp, e, i, r), np.inf))
    rows = {r.name: r for r in T.check_theorem2(0, 2, horizons=(64, 128, 512))}
    assert not rows["theorem2.bc_bound_family"].holds


def test_hard_policy_is_one_hot_without_a_v_by_v_matrix():
    mdp = T.automaton_mdp(np.zeros((1, 5000), dtype=np.int64), 2)
    sol = T.hard_optimal(mdp, [np.arange(5000.0)[None, :]] * 2)
    assert sol.policy[0].shape == (1, 5000) and sol.policy[0][0, 4999] == 1.0 and sol.policy[0].sum() == 1.0


def test_horizon_scaling_needs_two_horizons():
    with pytest.raises(ValueError, match="horizons must be at least two ints >= 1"):
        T.horizon_scaling(())
    with pytest.raises(ValueError, match="horizons must be at least two ints >= 1"):
        T.horizon_scaling((0, 8))
