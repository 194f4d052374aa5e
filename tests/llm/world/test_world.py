"""The ground-truth token world (endorm.llm.world) and the quick demo study (endorm.llm.world.demo)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from endorm.tabular import automaton_mdp, evaluate, soft_optimal
from endorm.tabular.rewards import endogenous_reward

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm.llm import world as W  # noqa: E402


def test_expert_is_the_exact_soft_optimum():
    world = W.make_world(seed=3, n_domains=2, vocab_size=5, n_automaton=3, horizon=7, alpha=0.3)
    D, Q, V = world.automata.shape
    # an independent construction of the same MDP: domain d's automaton on states d*Q..d*Q+Q-1
    delta = np.zeros((D * Q, V), dtype=np.int64)
    r = np.zeros((D * Q, V))
    for d in range(D):
        for q in range(Q):
            delta[d * Q + q] = d * Q + world.automata[d, q]
            r[d * Q + q] = world.rewards[d, q]
    rho = np.zeros(D * Q)
    rho[[0, Q]] = 0.5
    mdp = automaton_mdp(delta, 7, initial=rho)
    sol = soft_optimal(mdp, [r] * 7, 0.3)
    for a, b in zip(sol.log_policy, world.expert.log_policy):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert np.all((world.rewards >= 0) & (world.rewards <= 1))
    # Eq. 13: r* is the endogenous reward of the expert's soft Q (its logits), exactly
    rhat = endogenous_reward(world.mdp, world.expert.Q, world.alpha)
    for a, b in zip(rhat, world.reward):
        np.testing.assert_allclose(a, b, atol=1e-10)
    # the true return of a response equals the path sum, and alpha*log pi^E differences match R* differences
    doms, ys = W.sample_expert(world, 50, seed=0)
    same = doms == doms[0]
    dR = world.true_return(doms, ys)[same] - world.true_return(doms, ys)[same][0]
    dL = world.alpha * (world.expert_log_prob(doms, ys)[same] - world.expert_log_prob(doms, ys)[same][0])
    np.testing.assert_allclose(dR, dL, atol=1e-10)
    assert evaluate(world.mdp, world.expert.policy, world.reward) > 0


def test_demonstrations_round_trip_through_text(tmp_path):
    world = W.make_world(seed=1, n_domains=3, vocab_size=8, horizon=10)
    doms, ys = W.sample_expert(world, 200, seed=5)
    assert set(doms.tolist()) == {0, 1, 2}
    path = W.write_demonstrations(world, doms, ys, tmp_path / "demos.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == 200
    row = json.loads(lines[0])
    assert row["prompt"] == world.domain_words[row["domain"]] and len(row["response"].split()) == 10
    d2, y2 = W.read_demonstrations(world, path)
    np.testing.assert_array_equal(d2, doms)
    np.testing.assert_array_equal(y2, ys)
    # seeded: the same seed gives the same demonstrations
    d3, y3 = W.sample_expert(world, 200, seed=5)
    np.testing.assert_array_equal(y3, ys)
    (tmp_path / "bad.jsonl").write_text(json.dumps({"domain": 0, "prompt": "topic0", "response": "nope"}) + "\n")
    with pytest.raises(ValueError, match="unknown word"):
        W.read_demonstrations(world, tmp_path / "bad.jsonl")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``endorm demo --quick`` as a user runs it: (results.json, out folder, stdout, stderr)."""
    import contextlib
    import io

    from endorm import cli

    out, stdout, stderr = tmp_path_factory.mktemp("demo"), io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        assert cli.main(["demo", "--quick", "--out", str(out)]) == 0
    return json.loads((out / "results.json").read_text()), out, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def quick_results(quick_run):
    return quick_run[:2]


def test_quick_demo_is_quiet(quick_run):
    """The terminal shows the result table; TRL's per-step logs and library deprecations go to files."""
    res, out, stdout, stderr = quick_run
    assert "== H = 12" in stdout and "(5) Theorem 2, RL on r_hat" in stdout and "wrote" in stdout
    assert "{'loss'" not in stdout and "'reward'" not in stdout  # no per-step log dictionaries
    for text in (stdout, stderr):
        assert "FutureWarning" not in text and "DeprecationWarning" not in text
    steps = res["config"]["rl_steps"]
    log = [json.loads(x) for x in (out / "H12" / "rl_trl0" / "trainer_log.jsonl").read_text().splitlines()]
    assert [d["step"] for d in log if "reward" in d] == list(range(1, steps + 1))


def test_quick_demo_writes_outputs(quick_results):
    res, out = quick_results
    assert list(res["horizons"]) == [str(h) for h in res["config"]["horizons"]]
    H = res["config"]["horizons"][0]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out / f"H{H}" / "model")
    tok = AutoTokenizer.from_pretrained(out / f"H{H}" / "model")
    assert tok.convert_ids_to_tokens(tok("topic1 alpha beta")["input_ids"]) == ["topic1", "alpha", "beta"]
    assert model.config.vocab_size == len(tok)


def test_quick_demo_endorm_beats_baselines_and_theorem1_holds(quick_results):
    res, _ = quick_results
    for r in res["horizons"].values():
        p = r["preferences"]
        assert p["accuracy_endorm"] > 0.75
        assert p["accuracy_endorm"] > p["accuracy_length"] + 0.2
        assert p["accuracy_endorm"] > p["accuracy_unigram"] + 0.1
        t1 = p["theorem1"]
        assert t1["pairs"] == p["n_pairs"] and t1["violations"] == 0 and t1["slack_min"] > -1e-5
        # the model learnt something: its cross-entropy is near the expert's entropy floor
        assert r["train"]["final_loss"] < r["train"]["expert_entropy_per_token"] + 0.25


def test_quick_demo_returns_and_promptable_reward(quick_results):
    res, _ = quick_results
    for r in res["horizons"].values():
        R = r["returns"]
        assert R["optimal_hard"] >= R["expert_map"] - 1e-9 and R["optimal_hard"] >= R["expert"]
        assert R["expert"] > R["uniform"]
        # the sampled model is close to (and, up to noise, not better than) the expert
        assert R["uniform"] < R["model_sampled"] < R["expert"] + 3 * R["model_sampled_se"]
        # Theorem 2 direction: the model's most likely responses beat sampling it
        assert R["model_beam"] > R["model_sampled"]
        P = np.array(r["promptable"]["matrix"])
        assert np.diag(P).mean() > P[~np.eye(len(P), dtype=bool)].mean() + 0.2


def test_register_adds_demo_subcommand(tmp_path, monkeypatch):
    import argparse

    from endorm.cli import demo as demo_cli
    from endorm.llm.world import demo

    calls = []
    monkeypatch.setattr(demo, "run_demo", lambda quick, out, seed: calls.append((quick, out, seed)) or {})
    parser = argparse.ArgumentParser()
    demo_cli.register(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["demo", "--quick", "--out", str(tmp_path), "--seed", "7"])
    assert args.func(args) == 0 and calls == [(True, str(tmp_path), 7)]


def test_quick_demo_theorem2_rl_figure_and_judges(quick_results):
    """KL-regularized RL on the model's own r_hat raises the true return of samples above BC sampling."""
    res, out = quick_results
    for r in res["horizons"].values():
        L, R = r["rl"], r["returns"]
        for k in ("rl_sampled", "rl_sampled_se", "rl_greedy", "gap_bc", "gap_rl", "gap_beam", "gap_bc_minus_gap_rl"):
            assert np.isfinite(L[k]), k
        assert L["n_seeds"] >= 1 and L["steps"] > 0 and L["beta"] > 0
        assert L["rl_sampled"] > R["model_sampled"] + 2 * max(L["rl_sampled_se"], R["model_sampled_se"])
        assert L["rl_sampled"] < R["optimal_hard"] + 1e-9
        assert abs(L["gap_bc"] - L["gap_rl"] - L["gap_bc_minus_gap_rl"]) < 1e-9
    saved = json.loads((out / "results.json").read_text())
    assert "not applicable" in saved["judges"] and "rl" in next(iter(saved["horizons"].values()))
    png = out / "returns.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = json.loads((out / "returns.json").read_text())
    H = fig["horizons"][0]
    assert fig["returns"][H]["rl_sampled"]["value"] == res["horizons"][H]["rl"]["rl_sampled"]
    assert fig["optimal_hard"][H] == res["horizons"][H]["returns"]["optimal_hard"]
    assert fig["promptable"]["matrix"] == res["horizons"][H]["promptable"]["matrix"]


def test_quick_demo_returns_by_domain(quick_results):
    """Per-domain returns: the exact ones average to the overall ones (prompts are uniform over domains)."""
    res, _ = quick_results
    for r in res["horizons"].values():
        bd, R = r["returns_by_domain"], r["returns"]
        for key in ("expert", "optimal_hard", "uniform"):
            assert np.mean(bd[key]) == pytest.approx(R[key], rel=1e-12), key
        D = len(bd["domains"])
        for stage in ("bc_sampled", "rl_sampled"):
            assert len(bd[stage]["mean"]) == D and all(s > 0 for s in bd[stage]["se"])
            assert all(m <= o + 1e-9 for m, o in zip(bd[stage]["mean"], bd["optimal_hard"]))  # no response beats it
        assert bd["delta"] == pytest.approx(np.subtract(bd["rl_sampled"]["mean"], bd["bc_sampled"]["mean"]).tolist())
        assert np.mean(bd["delta"]) > 0  # RL on the model's own reward raises the true return (Theorem 2)
        p = r["preferences"]
        assert sum(p["n_by_domain"].values()) == p["n_labelled"] <= p["n_pairs"]
        assert np.average(list(p["accuracy_endorm_by_domain"].values()), weights=list(p["n_by_domain"].values())) \
            == pytest.approx(p["accuracy_endorm"])
        assert set(p["accuracy_unigram_by_domain"]) == set(p["accuracy_endorm_by_domain"])
        assert all(v == 0.5 for v in p["accuracy_length_by_domain"].values())  # every pair ties in length
        assert sum(p["by_margin"]["n"].values()) == p["n_labelled"]


def _synthetic_results():
    """A results dict of run_demo's shape, with round numbers (no model needed)."""
    pref = {"n_pairs": 60, "n_labelled": 50, "n_by_domain": {"0": 25, "1": 25}, "accuracy_endorm": 0.8,
            "accuracy_unigram": 0.6, "accuracy_length": 0.5,
            "theorem1": {"tv_mean": 0.1, "bound_mean": 1.0, "tv_max": 0.4, "bound_max": 3.0, "violations": 0,
                         "pairs": 60}}
    rets = {"expert": 5.0, "uniform": 2.0, "optimal_hard": 7.0, "model_sampled": 4.0, "model_sampled_se": 0.1,
            "model_greedy": 6.0, "model_beam": 6.5, "n_samples": 200}
    rl = {"rl_sampled": 5.5, "rl_sampled_se": 0.2, "rl_greedy": 6.8, "n_samples": 200}
    return {"horizons": {"8": {"preferences": pref, "returns": rets, "rl": rl,
                               "promptable": {"matrix": [[0.9, 0.3], [0.4, 0.8]]}}}}


def test_write_figure_writes_the_numbers_it_draws(tmp_path):
    from scipy.stats import binomtest

    from endorm.llm.world import demo

    png = demo.write_figure(_synthetic_results(), tmp_path / "returns.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = json.loads((tmp_path / "returns.json").read_text())
    R, A = fig["returns"]["8"], fig["accuracy"]["8"]
    assert R["model_sampled"]["interval95"] == pytest.approx([4.0 - 1.96 * 0.1, 4.0 + 1.96 * 0.1], abs=1e-4)
    assert R["rl_sampled"]["n"] == 200 and R["expert"]["interval95"] is None and R["model_greedy"]["n"] == 2
    want = binomtest(40, 50).proportion_ci(method="wilson")  # EndoRM: 0.8 of the 50 labelled pairs
    assert A["endorm"]["wilson95"] == pytest.approx([want.low, want.high]) and A["endorm"]["n"] == 50
    assert A["length"]["wilson95"][0] < 0.5 < A["length"]["wilson95"][1]
    assert fig["optimal_hard"]["8"] == 7.0 and fig["promptable"]["n_per_cell"] == [25, 25]
    assert "error bars" in fig["caption"] and "chance 0.5" in fig["caption"]
    assert not any("_" in label for label in demo.POLICY_LABELS.values())  # readable names, not code names


def test_the_saved_world_model_works_with_bench_and_rl_unchanged(tmp_path):
    """The world's model directory and demonstrations are what `endorm bench` and `endorm rl` take."""
    import json as _json

    from endorm import cli
    from endorm.llm import world as W

    world = W.make_world(0, horizon=6)
    domains, responses = W.sample_expert(world, 64, 0)
    path = W.write_demonstrations(world, domains, responses, tmp_path / "demos.jsonl")
    W.train_lm(world, domains, responses, tmp_path / "model", steps=5, seed=0)
    rows = [_json.loads(x) for x in path.read_text().splitlines()][:4]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(_json.dumps({"id": f"w{i}", "prompt": r["prompt"], "chosen": r["response"],
                                            "rejected": " " + " ".join(reversed(r["response"].split()))})
                               for i, r in enumerate(rows)) + "\n")
    assert cli.main(["bench", "--model", str(tmp_path / "model"), "--data", str(pairs), "--out", str(tmp_path / "b"),
                     "--template", "plain", "--no-progress"]) == 0
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(_json.dumps({"prompt": r["prompt"]}) for r in rows[:2]) + "\n")
    assert cli.main(["rl", "--model", str(tmp_path / "model"), "--prompts", str(prompts), "--out", str(tmp_path / "r"),
                     "--steps", "1", "--num-generations", "2", "--max-completion-length", "6"]) == 0
    assert (tmp_path / "r" / "curves.json").exists()


def test_compounding_world_expert_absorbing_and_superlinear_loss():
    """compounding=True: exact soft-optimal expert, r* in [0, 1], absorbing off-track state, O(H^2) loss."""
    from endorm.tabular import state_distribution

    def world_and_loss(H):
        world = W.make_world(0, n_domains=3, vocab_size=12, n_automaton=3, horizon=H, compounding=True)
        D, Qt, V = world.automata.shape
        on = (np.arange(D * Qt) % Qt) < 3
        bumped = []
        for lp in world.expert.log_policy:   # the expert with derail logits +1 on the track
            x = lp.copy()
            x[np.ix_(on, list(world.derail_tokens))] += 1.0
            x = np.exp(x - x.max(axis=1, keepdims=True))
            bumped.append(x / x.sum(axis=1, keepdims=True))
        loss = evaluate(world.mdp, world.expert.policy, world.reward) - evaluate(world.mdp, bumped, world.reward)
        return world, loss

    world, loss8 = world_and_loss(8)
    D, Qt, V = world.automata.shape
    assert world.derail_tokens == (10, 11) and world.off_track == Qt - 1
    assert np.all((world.rewards >= 0) & (world.rewards <= 1))
    assert np.all(world.automata[:, world.off_track, :] == world.off_track)       # absorbing
    assert np.all(world.automata[:, :3][:, :, [10, 11]] >= 3)                      # derail leaves the track
    # the expert is still exactly soft-optimal for r* (independent solve on the same MDP)
    sol = soft_optimal(world.mdp, world.reward, world.alpha)
    for a, b in zip(sol.log_policy, world.expert.log_policy):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    rhat = endogenous_reward(world.mdp, world.expert.Q, world.alpha)
    for a, b in zip(rhat, world.reward):
        np.testing.assert_allclose(a, b, atol=1e-10)
    world32, loss32 = world_and_loss(32)
    # the expert derails rarely
    last = state_distribution(world32.mdp, world32.expert.policy)[-1].reshape(D, Qt)
    assert last[:, 3:].sum() < 0.1
    # a slightly-more-derailing imitator loses clearly super-linearly in H (linear would be 4x)
    assert loss8 > 0 and loss32 / loss8 > 5.0
    # the default world is unchanged by the option's existence
    plain = W.make_world(0, n_domains=3, vocab_size=12, n_automaton=3, horizon=8)
    assert plain.off_track == -1 and plain.automata.shape == (3, 3, 12)
    np.testing.assert_array_equal(plain.automata[:, :, :10], world.automata[:, :3, :10])
    np.testing.assert_array_equal(plain.rewards[:, :, :10], world.rewards[:, :3, :10])
