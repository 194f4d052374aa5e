"""Every dynamic program against brute-force enumeration of all V^H responses."""
import numpy as np
import pytest
from helpers import ALPHAS, tol, tree_instances, tree_shapes
from hypothesis import given
from hypothesis import strategies as st

from endorm.tabular import (automaton_mdp, enumerate_mdp, evaluate, hard_optimal, kl_regularized_optimal,
                            prefix_tree, soft_optimal, state_distribution)
from endorm.tabular import brute


@given(tree_instances(max_responses=1024))
def test_soft_optimal_matches_enumeration(inst):
    enum = enumerate_mdp(inst.mdp)
    lp, v = brute.soft_optimal_bf(enum, inst.true_reward, inst.alpha)
    assert np.abs(inst.expert.V[0] - v).max() <= tol(inst)
    assert np.abs(enum.log_prob(inst.expert.log_policy) - lp).max() * inst.alpha <= tol(inst)
    # the DP's value is also the entropy-regularized return of its own policy
    assert abs(evaluate(inst.mdp, inst.expert.policy, inst.true_reward, inst.alpha) - inst.expert.value) <= tol(inst)


@given(tree_instances(max_responses=1024))
def test_hard_optimal_matches_enumeration(inst):
    enum = enumerate_mdp(inst.mdp)
    best, value = brute.hard_optimal_bf(enum, inst.true_reward)
    sol = hard_optimal(inst.mdp, inst.true_reward)
    assert np.abs(sol.V[0] - value).max() <= tol(inst)
    # the greedy policy attains the optimum and no response beats it
    assert abs(evaluate(inst.mdp, sol.policy, inst.true_reward) - inst.mdp.initial @ value) <= tol(inst)


@given(tree_instances(max_responses=1024), st.sampled_from([0.01, 0.3, 1.0, 4.0]))
def test_kl_regularized_matches_enumeration(inst, beta):
    enum = enumerate_mdp(inst.mdp)
    sol = kl_regularized_optimal(inst.mdp, inst.true_reward, None, beta, log_reference=inst.log_policy)
    lp, v = brute.kl_optimal_bf(enum, inst.true_reward, enum.log_prob(inst.log_policy), beta)
    t = tol(inst) + 1e-10 * np.abs(v).max()
    assert np.abs(sol.V[0] - v).max() <= t
    assert np.abs(enum.log_prob(sol.log_policy) - lp).max() * beta <= t
    if min(p.min() for p in inst.policy) > 1e-200:  # probabilities as the reference: same answer
        sol_p = kl_regularized_optimal(inst.mdp, inst.true_reward, inst.policy, beta)
        assert np.abs(sol_p.V[0] - v).max() <= t + 1e-12 * beta


@given(tree_instances(max_responses=1024), st.sampled_from([0.0, 0.1, 1.0]))
def test_evaluate_matches_enumeration(inst, alpha):
    enum = enumerate_mdp(inst.mdp)
    got = evaluate(inst.mdp, inst.policy, inst.true_reward, alpha)
    assert abs(got - brute.evaluate_bf(enum, inst.log_policy, inst.true_reward, alpha)) <= tol(inst)


@given(st.integers(2, 4), st.integers(1, 4), st.integers(0, 2**31), st.sampled_from(ALPHAS))
def test_automaton_dp_matches_enumeration(S, H, seed, alpha):
    rng = np.random.default_rng(seed)
    V = 3
    mdp = automaton_mdp(rng.integers(0, S, size=(S, V)), H, initial=rng.dirichlet(np.ones(S)))
    reward = [rng.random((S, V)) for _ in range(H)]
    enum = enumerate_mdp(mdp)
    sol = soft_optimal(mdp, reward, alpha)
    lp, v = brute.soft_optimal_bf(enum, reward, alpha)
    assert np.abs(sol.V[0] - v).max() <= 1e-10 * H * (1 + np.abs(v).max())
    assert np.abs(enum.log_prob(sol.log_policy) - lp).max() * alpha <= 1e-10 * H * (1 + np.abs(v).max())
    assert np.abs(hard_optimal(mdp, reward).V[0] - brute.hard_optimal_bf(enum, reward)[1]).max() <= 1e-12 * H


@given(tree_shapes(1024), st.integers(0, 2**31))
def test_state_distribution_sums_response_probabilities(shape, seed):
    V, H, P = shape
    rng = np.random.default_rng(seed)
    mdp = prefix_tree(V, H, P, initial=rng.dirichlet(np.ones(P)))
    pol = [rng.dirichlet(np.ones(V), size=n) for n in mdp.layer_sizes]
    d = state_distribution(mdp, pol)
    enum = enumerate_mdp(mdp)
    p_resp = np.exp(enum.log_prob([np.log(p) for p in pol])) * mdp.initial[enum.prompts]
    assert p_resp.sum() == pytest.approx(1.0, abs=1e-12)
    # mass of the last layer's states = sum of probabilities of their V-response continuations
    assert np.allclose(np.add.reduceat(p_resp, np.arange(0, p_resp.size, V)), d[-1], atol=1e-14)


def test_soft_optimal_by_hand():
    """H = 1, V = 2: V = alpha log(e^{r0/alpha} + e^{r1/alpha}), pi = softmax(r/alpha)."""
    mdp = prefix_tree(2, 1)
    sol = soft_optimal(mdp, [np.array([[1.0, 0.0]])], 0.5)
    assert sol.V[0][0] == pytest.approx(0.5 * np.log(np.exp(2.0) + 1.0), rel=1e-15)
    assert sol.policy[0][0, 0] == pytest.approx(1 / (1 + np.exp(-2.0)), rel=1e-15)
    two = prefix_tree(2, 2)
    # r = 1 only on the path (1, 1): V(root) = alpha*log(3 + e^{1/alpha}) for alpha = 1 -> log(3 + e)
    r = [np.zeros((1, 2)), np.array([[0.0, 0.0], [0.0, 1.0]])]
    assert soft_optimal(two, r, 1.0).value == pytest.approx(np.log(3 + np.e), rel=1e-15)
    assert hard_optimal(two, r).actions[0].tolist() == [1]


@pytest.mark.parametrize("alpha", [1e-3, 0.05, 5.0])
def test_small_alpha_and_extreme_rewards_stay_finite(alpha):
    mdp = prefix_tree(3, 4)
    rng = np.random.default_rng(1)
    reward = [30.0 * np.sign(rng.standard_normal((n, 3))) for n in mdp.layer_sizes]
    sol = soft_optimal(mdp, reward, alpha)
    assert all(np.isfinite(q).all() for q in sol.Q) and all(np.isfinite(lp).all() for lp in sol.log_policy)
    assert all(np.allclose(p.sum(axis=1), 1.0) for p in sol.policy)
    # alpha -> 0: the soft value approaches the hard value (within alpha * H * log V)
    hard = hard_optimal(mdp, reward).value
    assert hard <= sol.value <= hard + alpha * 4 * np.log(3) + 1e-9


def test_bad_input_errors_name_the_argument():
    mdp = prefix_tree(2, 2)
    r = [np.zeros((1, 2)), np.zeros((2, 2))]
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="alpha must be > 0"):
            soft_optimal(mdp, r, bad)
    with pytest.raises(ValueError, match="beta must be > 0, got -0.5"):
        kl_regularized_optimal(mdp, r, [np.full((1, 2), 0.5), np.full((2, 2), 0.5)], -0.5)
    with pytest.raises(ValueError, match=r"reward\[1\] must have shape \(2, 2\), got \(2, 3\)"):
        soft_optimal(mdp, [np.zeros((1, 2)), np.zeros((2, 3))], 1.0)
    with pytest.raises(ValueError, match="reward has 1 layers, the MDP has horizon 2"):
        hard_optimal(mdp, [np.zeros((1, 2))])
    with pytest.raises(ValueError, match=r"policy\[1\] row 1 sums to 0.9"):
        evaluate(mdp, [np.full((1, 2), 0.5), np.array([[0.5, 0.5], [0.5, 0.4]])], r)
    with pytest.raises(ValueError, match=r"reference\[0\]\[0, 1\] is negative"):
        kl_regularized_optimal(mdp, r, [np.array([[1.5, -0.5]]), np.full((2, 2), 0.5)], 1.0)
    with pytest.raises(ValueError, match="log_reference\\[1\\] row 0 is not normalized"):
        kl_regularized_optimal(mdp, r, None, 1.0, log_reference=[np.log(np.full((1, 2), 0.5)), np.zeros((2, 2))])
    with pytest.raises(ValueError, match=r"reward\[0\]\[0, 1\] is not finite"):
        soft_optimal(mdp, [np.array([[0.0, np.inf]]), np.zeros((2, 2))], 1.0)
    with pytest.raises(ValueError, match="alpha must be >= 0, got -1.0"):
        evaluate(mdp, [np.full((1, 2), 0.5), np.full((2, 2), 0.5)], r, alpha=-1)
    with pytest.raises(TypeError, match="alpha must be a number, got 'x'"):
        evaluate(mdp, [np.full((1, 2), 0.5), np.full((2, 2), 0.5)], r, alpha="x")


def test_solutions_unpack_as_q_v_policy():
    mdp = prefix_tree(2, 2)
    r = [np.array([[0.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 2.0]])]
    Q, V, policy = soft_optimal(mdp, r, 1.0)
    assert V[0][0] == pytest.approx(np.log(np.exp(np.log(np.e + 1)) + np.exp(1 + np.log(1 + np.e**2))), rel=1e-14)
    Qh, Vh, ph = hard_optimal(mdp, r)
    assert Vh[0][0] == 3.0 and ph[0].tolist() == [[0.0, 1.0]]
