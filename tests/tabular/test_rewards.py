"""The endogenous reward (Eq. 10-12), its identities and the Appendix C score."""
import numpy as np
import pytest
from helpers import maxdiff, tol, tree_instances
from hypothesis import given
from hypothesis import strategies as st

from endorm.tabular import (discounted_score, endogenous_reward, enumerate_mdp, evaluate, hard_optimal, log_policy,
                            outcome_reward, policy_logits, prefix_tree, sequence_log_prob, soft_optimal, soft_value)


def test_endogenous_reward_by_hand():
    """V = 2, H = 2, alpha = 1: r_hat(root, a) = f(root, a) - log(e^f(a,0) + e^f(a,1)); last step = f."""
    mdp = prefix_tree(2, 2)
    f = [np.array([[0.5, -1.0]]), np.array([[1.0, 2.0], [0.0, 0.0]])]
    r = endogenous_reward(mdp, f, 1.0)
    assert r[0][0, 0] == pytest.approx(0.5 - np.log(np.e + np.e**2), rel=1e-15)
    assert r[0][0, 1] == pytest.approx(-1.0 - np.log(2.0), rel=1e-15)
    assert r[1].tolist() == f[1].tolist()
    # alpha = 2: V_f(s) = 2 log sum exp(f/2)
    r2 = endogenous_reward(mdp, f, 2.0)
    assert r2[0][0, 0] == pytest.approx(0.5 - 2 * np.log(np.exp(0.5) + np.exp(1.0)), rel=1e-15)


def test_discounted_score_by_hand():
    """w_h = max(gamma^(h-1), floor): H = 3, gamma = 0.5, floor = 0.3 -> w = (1, 0.5, 0.3)."""
    mdp = prefix_tree(2, 3)
    f = [np.zeros((n, 2)) for n in mdp.layer_sizes]  # uniform policy: log pi = -log 2 everywhere
    s = discounted_score(mdp, f, 1.0, [0], [[0, 1, 1]], gamma=0.5, floor=0.3, kind="logprob")
    assert s[0] == pytest.approx(-(1 + 0.5 + 0.3) * np.log(2), rel=1e-15)
    # with zero logits r_hat = 0 - log 2 at steps 1, 2 and 0 at the last step (boundary V = 0)
    s = discounted_score(mdp, f, 1.0, [0], [[0, 1, 1]], gamma=0.5, floor=0.3)
    assert s[0] == pytest.approx(-(1 + 0.5) * np.log(2), rel=1e-15)


@given(tree_instances())
def test_round_trip_soft_rl_returns_the_model(inst):
    """Identity 1: soft-optimal RL on r_hat with the same alpha gives pi_hat and soft Q = f."""
    sol = soft_optimal(inst.mdp, endogenous_reward(inst.mdp, inst.logits, inst.alpha), inst.alpha)
    assert maxdiff(sol.Q, inst.logits) <= tol(inst)
    assert maxdiff(sol.log_policy, inst.log_policy) * inst.alpha <= tol(inst)


@given(tree_instances())
def test_telescoping_eq12(inst):
    enum = enumerate_mdp(inst.mdp)
    total = outcome_reward(inst.mdp, inst.logits, inst.alpha)
    v1 = soft_value(inst.mdp, inst.logits, inst.alpha)[0][enum.prompts]
    telescoped = inst.alpha * sequence_log_prob(inst.mdp, inst.log_policy) + v1
    assert np.abs(total - telescoped).max() <= tol(inst)
    # gamma = 1, floor = 0 is Eq. 12 itself
    assert np.abs(discounted_score(inst.mdp, inst.logits, inst.alpha) - total).max() <= tol(inst)
    # within a prompt, ranking by outcome reward = ranking by log-likelihood
    by = enum.by_prompt
    order_r = np.argsort(by(total), axis=1, kind="stable")
    lp = by(sequence_log_prob(inst.mdp, inst.log_policy))
    assert np.all(np.diff(np.take_along_axis(lp, order_r, axis=1), axis=1) >= -tol(inst) / inst.alpha)


@given(tree_instances())
def test_true_reward_is_the_experts_endogenous_reward_eq13(inst):
    mdp, a = inst.mdp, inst.alpha
    r = endogenous_reward(mdp, inst.expert.Q, a)
    assert maxdiff(r, inst.true_reward) <= tol(inst)
    # written out: alpha log pi^E + V*(s) - V*(s')
    for h in range(mdp.horizon):
        nxt = mdp.successor_values(h, inst.expert.V[h + 1]) if h + 1 < mdp.horizon else 0.0
        explicit = a * inst.expert.log_policy[h] + inst.expert.V[h][:, None] - nxt
        assert np.abs(explicit - inst.true_reward[h]).max() <= tol(inst)


@given(tree_instances(), st.integers(0, 2**31))
def test_per_state_constant_changes_nothing_that_matters(inst, seed):
    """f + c(s): same policy; r_hat changes by a potential-based shaping, so response rankings stay."""
    rng = np.random.default_rng(seed)
    shifted = [f + 5 * rng.standard_normal((f.shape[0], 1)) for f in inst.logits]
    assert maxdiff(log_policy(inst.mdp, shifted, inst.alpha), inst.log_policy) * inst.alpha <= tol(inst, 20)
    enum = enumerate_mdp(inst.mdp)
    a = enum.by_prompt(outcome_reward(inst.mdp, inst.logits, inst.alpha))
    b = enum.by_prompt(outcome_reward(inst.mdp, shifted, inst.alpha))
    # the difference is V(s_1) - V'(s_1): constant per prompt
    d = b - a
    assert np.abs(d - d[:, :1]).max() <= tol(inst, 20)


@given(tree_instances(), st.floats(0.5, 1.0), st.floats(0.0, 0.5))
def test_discounted_score_weights(inst, gamma, floor):
    enum = enumerate_mdp(inst.mdp)
    w = np.maximum(gamma ** np.arange(inst.mdp.horizon), floor)
    r = endogenous_reward(inst.mdp, inst.logits, inst.alpha)
    states_sum = sum(w[h] * r[h][_states(enum, h), enum.responses[:, h]] for h in range(inst.mdp.horizon))
    got = discounted_score(inst.mdp, inst.logits, inst.alpha, enum.prompts, enum.responses, gamma, floor)
    assert np.abs(got - states_sum).max() <= tol(inst)


def _states(enum, h):
    from endorm.tabular import rollout_states

    return rollout_states(enum.mdp, enum.prompts, enum.responses)[:, h]


def test_near_deterministic_logits_stay_finite():
    mdp = prefix_tree(2, 6)
    rng = np.random.default_rng(3)
    f = [30.0 * np.sign(rng.standard_normal((n, 2))) for n in mdp.layer_sizes]
    for alpha in (1e-3, 1.0):
        r = endogenous_reward(mdp, f, alpha)
        assert all(np.isfinite(x).all() for x in r)
        assert np.isfinite(outcome_reward(mdp, f, alpha)).all()
        sol = soft_optimal(mdp, r, alpha)
        assert maxdiff(sol.Q, f) <= 1e-10 * 6 * 30
    # the MAP response of the model is the hard-optimal response of its own reward
    lp = log_policy(mdp, f, 1.0)
    best = hard_optimal(mdp, endogenous_reward(mdp, f, 1.0)).policy
    assert evaluate(mdp, best, lp) == pytest.approx(sequence_log_prob(mdp, lp).max(), abs=1e-9)


def test_bad_input():
    mdp = prefix_tree(2, 2)
    f = [np.zeros((1, 2)), np.zeros((2, 2))]
    with pytest.raises(ValueError, match="alpha must be > 0, got -1.0"):
        endogenous_reward(mdp, f, -1.0)
    for g in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match="gamma must lie in"):
            discounted_score(mdp, f, 1.0, gamma=g)
    with pytest.raises(TypeError, match="gamma must be a number, got 'x'"):
        discounted_score(mdp, f, 1.0, gamma="x")
    two = prefix_tree(2, 2, n_prompts=2)
    with pytest.raises(ValueError, match="prompts is required: the MDP has 2 prompts"):
        outcome_reward(two, [np.zeros((2, 2)), np.zeros((4, 2))], 1.0, responses=[[0, 1]])
    with pytest.raises(ValueError, match="kind must be 'reward' or 'logprob', got 'probs'"):
        discounted_score(mdp, f, 1.0, kind="probs")
    with pytest.raises(ValueError, match=r"logits\[1\] must have shape \(2, 2\), got \(1, 2\)"):
        endogenous_reward(mdp, [np.zeros((1, 2)), np.zeros((1, 2))], 1.0)
    with pytest.raises(TypeError, match="logits must be a list of 2 arrays"):
        endogenous_reward(mdp, np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match=r"policy\[0\]\[0, 1\] = 0.0: logits need a full-support policy"):
        policy_logits(mdp, [np.array([[1.0, 0.0]]), np.full((2, 2), 0.5)], 1.0)


def test_shaped_reward_moves_every_return_by_its_prompts_potential():
    from endorm.tabular import random_instances, shaped_reward

    for inst in random_instances(3, 4):
        mdp = inst.mdp
        rng = np.random.default_rng(0)
        phi = [rng.standard_normal(n) for n in mdp.layer_sizes]
        enum = enumerate_mdp(mdp)
        shaped = shaped_reward(mdp, inst.true_reward, phi)
        # brute force: walk every response, sum r + Phi(s) - Phi(s') with Phi after the last token = 0
        for resp, prompt in zip(enum.responses, enum.prompts):
            s, total, total0 = int(prompt), 0.0, 0.0
            for h, a in enumerate(resp):
                total += shaped[h][s, a]
                total0 += inst.true_reward[h][s, a]
                if h + 1 < mdp.horizon:
                    s = int(mdp.step(h, np.array([s]), np.array([a]))[0])
            assert total - total0 == pytest.approx(phi[0][int(prompt)], abs=1e-12)


def test_shaped_reward_rejects_wrong_potentials():
    from endorm.tabular import random_instances, shaped_reward

    inst = random_instances(0, 1)[0]
    with pytest.raises(ValueError, match=r"potentials\[0\] must have shape"):
        shaped_reward(inst.mdp, inst.true_reward, [np.zeros(99)] + [np.zeros(n) for n in inst.mdp.layer_sizes[1:]])
    with pytest.raises(ValueError, match="one per depth"):
        shaped_reward(inst.mdp, inst.true_reward, [])


def test_fit_exponent_recovers_a_power():
    from endorm.tabular import fit_exponent, random_instances

    inst = random_instances(1, 1)[0]
    enum = enumerate_mdp(inst.mdp)
    lp = enum.log_prob(inst.log_policy)
    by = enum.by_prompt(3.5 * lp)
    shifted = (by - by.max(axis=1, keepdims=True) + 7.0).ravel()  # a per-prompt constant does not matter
    assert fit_exponent(enum, shifted, lp) == pytest.approx(3.5, rel=1e-12)
