"""TokenMDP constructors, path utilities and bad-input errors."""
import numpy as np
import pytest

from endorm.tabular import (all_responses, automaton_mdp, evaluate, path_sum, prefix_tree, rollout_states,
                            soft_optimal)


def test_prefix_tree_layout_and_children():
    mdp = prefix_tree(3, 3, n_prompts=2)
    assert mdp.layer_sizes == (2, 6, 18)
    assert mdp.n_state_actions == (2 + 6 + 18) * 3
    # child of state 4 (prompt 1, first token 1) under token 2 is 4*3 + 2 = 14
    assert mdp.step(1, np.array([4]), np.array([2]))[0] == 14
    nxt = np.arange(18.0)
    assert mdp.successor_values(1, nxt)[4, 2] == 14.0


def test_rollout_and_path_sum_by_hand():
    mdp = prefix_tree(2, 3)
    states = rollout_states(mdp, [0, 0], [[1, 0, 1], [0, 0, 0]])
    assert states.tolist() == [[0, 1, 2], [0, 0, 0]]
    layered = [np.array([[1.0, 2.0]]), np.array([[10.0, 20.0], [30.0, 40.0]]),
               np.arange(8.0).reshape(4, 2) * 100]
    # path 1,0,1: 2 + 30 + layered[2][2, 1] = 2 + 30 + 500
    assert path_sum(mdp, layered, [0, 0], [[1, 0, 1], [0, 0, 0]]).tolist() == [532.0, 11.0]


def test_all_responses_enumerates_prompt_major():
    mdp = prefix_tree(2, 2, n_prompts=2)
    prompts, responses = all_responses(mdp)
    assert prompts.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert responses[:4].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    with pytest.raises(ValueError, match="max_responses"):
        all_responses(prefix_tree(4, 6), max_responses=1000)


def test_automaton_matches_tree_when_state_is_last_token():
    """An automaton that remembers the last token, with a reward depending on it,
    has the same soft value as the prefix tree with that reward."""
    V, H, alpha = 3, 4, 0.7
    rng = np.random.default_rng(0)
    table = rng.random((H, V + 1, V))  # reward[h, last token (V = none), a]
    delta = np.tile(np.arange(V), (V + 1, 1))  # next state = token just emitted
    auto = automaton_mdp(delta, H, start=V)
    r_auto = [table[h] for h in range(H)]
    tree = prefix_tree(V, H)
    r_tree = []
    for h, n in enumerate(tree.layer_sizes):
        last = np.full(n, V) if h == 0 else np.arange(n) % V
        r_tree.append(table[h][last])
    va = soft_optimal(auto, r_auto, alpha).value
    vt = soft_optimal(tree, r_tree, alpha).value
    assert va == pytest.approx(vt, rel=1e-12)
    pol_a = soft_optimal(auto, r_auto, alpha).policy
    assert evaluate(auto, pol_a, r_auto, alpha) == pytest.approx(va, rel=1e-12)


def test_automaton_long_horizon_is_cheap():
    mdp = automaton_mdp(np.array([[0, 1], [1, 1]]), 500)
    assert mdp.n_state_actions == 500 * 2 * 2
    sol = soft_optimal(mdp, [np.array([[1.0, 0.0], [0.0, 0.0]])] * 500, 0.1)
    assert np.isfinite(sol.value) and sol.value > 500 * 1.0  # reward 1 per step plus entropy


@pytest.mark.parametrize("kwargs, match", [
    (dict(vocab_size=2, horizon=0), "horizon must be >= 1, got 0"),
    (dict(vocab_size=0, horizon=2), "vocab_size must be >= 1, got 0"),
    (dict(vocab_size=2, horizon=2, n_prompts=0), "n_prompts must be >= 1"),
    (dict(vocab_size=2, horizon=2, n_prompts=2, initial=[0.2, 0.3]), "initial must be a probability vector"),
    (dict(vocab_size=2, horizon=2, n_prompts=2, initial=[1.0]), r"initial must have shape \(2,\)"),
])
def test_prefix_tree_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        prefix_tree(**kwargs)


def test_prefix_tree_memory_budget_is_checked_before_allocating():
    # 50k**10 state-action pairs could never be allocated: the error must come at once.
    with pytest.raises(ValueError, match=r"vocab_size=50000, horizon=10.*over max_bytes"):
        prefix_tree(50_000, 10)
    with pytest.raises(ValueError, match="over max_bytes=1,000"):
        prefix_tree(2, 8, max_bytes=1000)


def test_automaton_bad_input():
    with pytest.raises(ValueError, match=r"transition entries must lie in \[0, 2\)"):
        automaton_mdp(np.array([[0, 2], [1, 1]]), 3)
    with pytest.raises(TypeError, match="transition must hold integers"):
        automaton_mdp(np.array([[0.0, 1.0], [1.0, 1.0]]), 3)
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        automaton_mdp(np.array([[0, 1], [1, 1]]), 0)
    with pytest.raises(TypeError, match="horizon must be an int"):
        automaton_mdp(np.array([[0, 1], [1, 1]]), 2.5)


def test_rollout_bad_input():
    mdp = prefix_tree(2, 3)
    with pytest.raises(ValueError, match=r"responses \[n, 3\]"):
        rollout_states(mdp, [0], [[0, 1]])
    with pytest.raises(ValueError, match=r"prompts must lie in \[0, 1\), got 3"):
        rollout_states(mdp, [3], [[0, 1, 1]])
    with pytest.raises(ValueError, match=r"token ids in \[0, 2\), got 2"):
        rollout_states(mdp, [0], [[0, 1, 2]])
