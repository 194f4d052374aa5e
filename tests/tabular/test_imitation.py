"""Demonstrations, behaviour cloning and Proposition 1 (the logits solve offline IRL)."""
import numpy as np
import pytest
from helpers import tree_instances
from hypothesis import given
from hypothesis import strategies as st

from endorm.tabular import (Demonstrations, behaviour_cloning, iq_learn_ascent, iq_learn_gradient,
                            iq_learn_objective, policy_logits, prefix_tree, sample_demonstrations,
                            state_distribution)


def test_sampling_frequencies_match_the_policy():
    """Monte Carlo within 5 standard errors: occupancy of every state-action at every depth."""
    mdp = prefix_tree(3, 3, n_prompts=2, initial=[0.3, 0.7])
    rng = np.random.default_rng(0)
    pol = [rng.dirichlet(np.ones(3), size=n) for n in mdp.layer_sizes]
    n = 20000
    demos = sample_demonstrations(mdp, pol, n, rng=1)
    for c, d, p in zip(demos.counts(mdp), state_distribution(mdp, pol), pol):
        expected = d[:, None] * p
        se = np.sqrt(expected * (1 - expected) / n)
        assert np.all(np.abs(c / n - expected) <= 5 * se + 1e-12)
    again = sample_demonstrations(mdp, pol, n, rng=1)
    assert np.array_equal(demos.responses, again.responses)  # deterministic under a seed


def test_behaviour_cloning_by_hand():
    mdp = prefix_tree(2, 2)
    demos = Demonstrations(np.zeros(4, int), np.array([[0, 1], [0, 1], [0, 0], [1, 1]]))
    bc = behaviour_cloning(mdp, demos)
    assert bc[0].tolist() == [[0.75, 0.25]]
    assert bc[1].tolist() == [[1 / 3, 2 / 3], [0.0, 1.0]]
    sm = behaviour_cloning(mdp, demos, smoothing=1.0)
    assert sm[0].tolist() == [[4 / 6, 2 / 6]]
    assert sm[1][1].tolist() == [1 / 3, 2 / 3]
    unvisited = behaviour_cloning(prefix_tree(2, 2, n_prompts=2), demos, smoothing=1.0)
    assert unvisited[0][1].tolist() == [0.5, 0.5] and unvisited[1][2:].tolist() == [[0.5, 0.5]] * 2


def test_objective_is_alpha_times_log_likelihood():
    mdp = prefix_tree(2, 2)
    demos = Demonstrations(np.zeros(3, int), np.array([[0, 1], [1, 1], [0, 0]]))
    Q = [np.array([[0.3, -0.2]]), np.array([[1.0, 0.0], [0.5, 0.7]])]
    alpha = 0.7
    lse = lambda x: alpha * np.log(np.exp(np.asarray(x) / alpha).sum())
    by_hand = ((0.3 - lse([0.3, -0.2])) + (0.0 - lse([1.0, 0.0]))
               + (-0.2 - lse([0.3, -0.2])) + (0.7 - lse([0.5, 0.7]))
               + (0.3 - lse([0.3, -0.2])) + (1.0 - lse([1.0, 0.0]))) / 3
    assert iq_learn_objective(mdp, Q, demos, alpha) == pytest.approx(by_hand, rel=1e-14)


@st.composite
def demo_problems(draw):
    inst = draw(tree_instances(max_responses=128, alphas=[0.05, 0.3, 1.0, 3.0]))
    n = draw(st.integers(1, 60))
    seed = draw(st.integers(0, 2**31))
    smoothing = draw(st.sampled_from([0.1, 1.0]))
    demos = sample_demonstrations(inst.mdp, inst.expert.policy, n, seed)
    return inst, demos, smoothing, np.random.default_rng(seed + 1)


@given(demo_problems())
def test_prop1_bc_logits_maximize_the_objective(problem):
    inst, demos, s, rng = problem
    mdp, a = inst.mdp, inst.alpha
    f = [x + rng.standard_normal((x.shape[0], 1)) for x in policy_logits(mdp, behaviour_cloning(mdp, demos, s), a)]
    J = iq_learn_objective(mdp, f, demos, a, s)
    for scale in (1e-4, 1e-2, 1.0):
        g = iq_learn_objective(mdp, [x + scale * rng.standard_normal(x.shape) for x in f], demos, a, s)
        assert g <= J + 1e-10 * mdp.horizon * max(1, abs(J))
    assert max(np.abs(x).max() for x in iq_learn_gradient(mdp, f, demos, a, s)) <= 1e-12


@given(demo_problems())
def test_gradient_matches_finite_differences(problem):
    inst, demos, s, rng = problem
    mdp, a = inst.mdp, inst.alpha
    Q = [a * rng.standard_normal((n, mdp.vocab_size)) for n in mdp.layer_sizes]
    grad = iq_learn_gradient(mdp, Q, demos, a, s)
    h = int(rng.integers(mdp.horizon))
    i, j = int(rng.integers(mdp.layer_sizes[h])), int(rng.integers(mdp.vocab_size))
    step = 1e-6 * max(a, 1e-2)
    plus = [q.copy() for q in Q]; plus[h][i, j] += step
    minus = [q.copy() for q in Q]; minus[h][i, j] -= step
    fd = (iq_learn_objective(mdp, plus, demos, a, s) - iq_learn_objective(mdp, minus, demos, a, s)) / (2 * step)
    assert fd == pytest.approx(grad[h][i, j], abs=1e-6 * (1 + abs(grad[h][i, j])))


@given(demo_problems())
def test_gradient_ascent_reaches_bc_on_visited_states(problem):
    inst, demos, s, rng = problem
    mdp, a = inst.mdp, inst.alpha
    bc = behaviour_cloning(mdp, demos, s)
    Q0 = [3 * a * rng.standard_normal((n, mdp.vocab_size)) for n in mdp.layer_sizes]
    Q = iq_learn_ascent(mdp, demos, a, Q0, steps=3000, smoothing=s)
    for q, q0, p, c in zip(Q, Q0, bc, demos.counts(mdp)):
        visited = c.sum(axis=1) > 0
        z = np.exp((q - q.max(axis=1, keepdims=True)) / a)
        assert np.abs(z / z.sum(axis=1, keepdims=True) - p)[visited].max() <= 1e-6
        assert np.array_equal(q[~visited], q0[~visited])  # unvisited states: J does not see them


@given(tree_instances(max_responses=81, alphas=[0.1, 1.0]), st.integers(0, 2**31))
def test_prop1_unsmoothed_when_every_action_is_observed(inst, seed):
    """The plain J of Eq. 6 (no pseudo-counts): every response 1-5 times, so BC has full support."""
    from endorm.tabular import enumerate_mdp

    rng = np.random.default_rng(seed)
    enum = enumerate_mdp(inst.mdp)
    idx = np.repeat(np.arange(enum.prompts.size), rng.integers(1, 6, enum.prompts.size))
    demos = Demonstrations(enum.prompts[idx], enum.responses[idx])
    mdp, a = inst.mdp, inst.alpha
    f = policy_logits(mdp, behaviour_cloning(mdp, demos, 0.0), a)
    J = iq_learn_objective(mdp, f, demos, a)
    for scale in (1e-3, 1.0):
        assert iq_learn_objective(mdp, [x + scale * rng.standard_normal(x.shape) for x in f], demos, a) <= J + 1e-10
    assert max(np.abs(x).max() for x in iq_learn_gradient(mdp, f, demos, a)) <= 1e-12


def test_bad_input():
    mdp = prefix_tree(2, 2)
    pol = [np.full((1, 2), 0.5), np.full((2, 2), 0.5)]
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        sample_demonstrations(mdp, pol, 0, 0)
    demos = sample_demonstrations(mdp, pol, 5, 0)
    with pytest.raises(ValueError, match="smoothing must be >= 0, got -1.0"):
        behaviour_cloning(mdp, demos, -1.0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        iq_learn_objective(mdp, [np.zeros((1, 2)), np.zeros((2, 2))], demos, 0.0)
    Q0 = [np.zeros((1, 2)), np.zeros((2, 2))]
    with pytest.raises(ValueError, match="lr must lie in \\(0, 4\\) for convergence, got 100"):
        iq_learn_ascent(mdp, demos, 1.0, Q0, lr=100)
    with pytest.raises(ValueError, match="steps must be an int >= 0, got -1"):
        iq_learn_ascent(mdp, demos, 1.0, Q0, steps=-1)
    with pytest.raises(ValueError, match=r"policy\[1\] row 0 sums to 0.5"):
        sample_demonstrations(mdp, [np.full((1, 2), 0.5), np.array([[0.25, 0.25], [0.5, 0.5]])], 3, 0)
