"""endorm.llm.world.iterate: off-track curves, the world's prefix tree, iterated KL-regularized RL, best-of-n.

Each helper is checked against an independent computation: enumeration of every response, a
hand-made response set, a brute-force oracle of ``endorm.tabular``, or Monte Carlo sampling.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from endorm.tabular import enumerate_mdp, log_policy, random_tree_instance
from endorm.tabular.brute import kl_optimal_bf

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm.llm import world as W  # noqa: E402
from endorm.llm.world import iterate as IT  # noqa: E402


@pytest.fixture(scope="module")
def small_compounding():
    return W.make_world(seed=2, n_domains=2, vocab_size=3, n_automaton=2, horizon=4, alpha=0.5, compounding=True,
                        n_derail=1)


def test_off_track_curve_by_hand(small_compounding):
    world = small_compounding
    bad = world.derail_tokens[0]
    assert bad == 2
    ys = np.array([[0, 1, 0, 1],       # never derails
                   [0, bad, 0, 0],     # derails at token 2 and stays off
                   [bad, 0, 1, 0],     # derails at token 1
                   [1, 1, 0, bad]])    # derails at the last token
    p, se = IT.off_track_curve(world, ys)
    np.testing.assert_allclose(p, [0.25, 0.5, 0.5, 0.75])
    np.testing.assert_allclose(se, np.sqrt(p * (1 - p) / 4))
    with pytest.raises(ValueError, match="responses must be"):
        IT.off_track_curve(world, ys[:, :3])
    flat = W.make_world(seed=2, n_domains=2, vocab_size=3, n_automaton=2, horizon=4)
    with pytest.raises(ValueError, match="compounding=True"):
        IT.off_track_curve(flat, ys)


def test_policy_off_track_equals_enumeration_and_sampling(small_compounding):
    world = small_compounding
    exact = IT.policy_off_track(world)
    # enumeration: every response of every domain, weighted by the expert's exact probability
    V, H, D = world.vocab_size, world.horizon, world.n_domains
    ys = np.array(list(itertools.product(range(V), repeat=H)))
    want = np.zeros(H)
    for d in range(D):
        p = np.exp(world.expert_log_prob(np.full(len(ys), d), ys)) / D
        off = np.logical_or.accumulate(ys == world.derail_tokens[0], axis=1)
        want += p @ off
    np.testing.assert_allclose(exact, want, rtol=0, atol=1e-12)
    assert np.all(np.diff(exact) >= 0) and 0 < exact[-1] < 1
    # Monte Carlo from the expert agrees at 5 standard errors
    _, sampled = W.sample_expert(world, 20000, seed=1)
    p, se = IT.off_track_curve(world, sampled)
    assert np.all(np.abs(p - exact) <= 5 * np.maximum(se, 1e-3))


def test_tree_true_reward_path_sums_are_true_returns(small_compounding):
    world = small_compounding
    tree = IT.tree_mdp(world)
    enum = enumerate_mdp(tree)
    R_tree = enum.returns(IT.tree_true_reward(world))
    np.testing.assert_allclose(R_tree, world.true_return(enum.prompts, enum.responses), rtol=0, atol=1e-12)
    # prefix ids: the prompt word, then the response words in tree order (child of s under a is s*V + a)
    ids = IT.tree_prefixes(world, 2)
    assert ids.shape == (world.n_domains * world.vocab_size**2, 3)
    assert ids[0].tolist() == [world.domain_token(0), 0, 0] and ids[-1].tolist() == [world.domain_token(1), 2, 2]
    assert ids[5].tolist() == [world.domain_token(0), 1, 2]


def test_tree_logits_match_full_sequence_forward():
    from endorm.llm.testing import tiny_causal_lm

    world = W.make_world(seed=0, n_domains=2, vocab_size=3, n_automaton=2, horizon=3)
    model = tiny_causal_lm("llama", len(world.words), seed=0, max_positions=8, hidden=16, layers=1)
    tree = IT.tree_mdp(world)
    enum = enumerate_mdp(tree)
    f = IT.tree_logits(world, model, batch_size=5)
    got = enum.log_prob(log_policy(tree, f, 1.0))
    # independent: one forward pass over every whole sequence, log-softmax over the response words
    ids = np.concatenate([world.vocab_size + enum.prompts[:, None], enum.responses], axis=1)
    with torch.no_grad():
        logits = model(input_ids=torch.as_tensor(ids)).logits[:, :-1, :world.vocab_size].double()
    lp = torch.log_softmax(logits, dim=-1).gather(2, torch.as_tensor(enum.responses)[..., None])[..., 0].sum(1)
    np.testing.assert_allclose(got, lp.numpy(), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="over max_prefixes=8"):
        IT.tree_logits(world, model, max_prefixes=8)       # 2 * 3**2 = 18 prefixes at the last depth


def test_lm_off_track_equals_the_exact_tree_probability():
    from endorm.llm.testing import tiny_causal_lm

    world = W.make_world(seed=1, n_domains=2, vocab_size=4, n_automaton=2, horizon=3, compounding=True)
    model = tiny_causal_lm("llama", len(world.words), seed=3, max_positions=8, hidden=16, layers=1)
    tree = IT.tree_mdp(world)
    enum = enumerate_mdp(tree)
    p = np.exp(enum.log_prob(log_policy(tree, IT.tree_logits(world, model), 1.0))) / world.n_domains
    exact = p @ np.logical_or.accumulate(np.isin(enum.responses, world.derail_tokens), axis=1)
    doms = np.arange(4000) % world.n_domains
    rb, rb_se = IT.lm_off_track(world, model, doms, seed=0)
    assert 0.2 < exact[-1] < 0.9                      # a random model derails often: a real test
    assert np.all(np.abs(rb - exact) <= 5 * rb_se)
    # the plain 0/1 estimate is unbiased too, with a larger standard error
    from endorm.llm.world.lm import lm_sample

    ys, _ = lm_sample(world, model, doms, seed=1)
    naive, naive_se = IT.off_track_curve(world, ys)
    assert np.all(np.abs(naive - exact) <= 5 * naive_se) and np.all(rb_se < naive_se)
    with pytest.raises(ValueError, match="n >= 2"):
        IT.lm_off_track(world, model, [0], seed=0)


def test_iterate_kl_rl_raises_the_power():
    inst = random_tree_instance(3, vocab_size=3, horizon=3, n_prompts=2, alpha=0.5, noise=0.5)
    enum = enumerate_mdp(inst.mdp)
    alpha, beta = inst.alpha, 0.3
    pols = IT.iterate_kl_rl(inst.mdp, inst.logits, alpha, beta, rounds=3)
    base = enum.log_prob(pols[0])
    np.testing.assert_allclose(base, enum.log_prob(log_policy(inst.mdp, inst.logits, alpha)), atol=1e-12)
    for k, lp in enumerate(pols):
        z = enum.by_prompt(((alpha + beta) / beta) ** k * base)
        want = (z - np.logaddexp.reduce(z, axis=1, keepdims=True)).ravel()
        np.testing.assert_allclose(enum.log_prob(lp), want, rtol=0, atol=1e-9)
    # round 1 is the brute-force KL optimum with r_hat of pi_hat and reference pi_hat (Eq. 4)
    from endorm.tabular import endogenous_reward

    bf, _ = kl_optimal_bf(enum, endogenous_reward(inst.mdp, inst.logits, alpha), base, beta)
    np.testing.assert_allclose(enum.log_prob(pols[1]), bf, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="rounds must be >= 0"):
        IT.iterate_kl_rl(inst.mdp, inst.logits, alpha, beta, rounds=-1)


def test_best_of_n_equals_enumeration_of_draws():
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    score = np.array([[2.0, 1.0, 3.0], [0.0, 1.0, 1.0]])   # prompt 1 has a tie between responses 1 and 2
    for n in (1, 2, 3):
        got = np.exp(IT.best_of_n_log_prob(np.log(p), score, n))
        want = np.zeros_like(p)
        for i in range(2):
            for draw in itertools.product(range(3), repeat=n):
                w = np.prod(p[i, list(draw)])
                top = max(score[i, j] for j in draw)
                winners = [j for j in draw if score[i, j] == top]
                for j in winners:                     # a uniformly random tie-break among the n draws
                    want[i, j] += w / len(winners)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(IT.best_of_n_log_prob(np.log(p), score, 1), np.log(p), atol=1e-12)
    with pytest.raises(ValueError, match="n must be >= 1"):
        IT.best_of_n_log_prob(np.log(p), score, 0)
    with pytest.raises(ValueError, match="must both be"):
        IT.best_of_n_log_prob(np.log(p), score[:, :2], 2)
