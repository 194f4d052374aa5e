"""The five theory figures of ``endorm figures``: each file is written, and every number in its JSON is what the
library gives when recomputed here (independently where the library offers a second route: brute force, hand
formulas)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import endorm.tabular as T
from endorm import paper_figures
from endorm.paper_figures import horizon_scaling as hs
from endorm.tabular import brute
from endorm.tabular import random_instances, shaped_reward

THEORY = ["proposition1", "theorem1", "horizon_scaling", "iteration", "shaping"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(folder, figures) of one quick ``make_all`` of the five theory figures (seed 0)."""
    out = tmp_path_factory.mktemp("figures")
    return out, paper_figures.make_all(out, quick=True, only=THEORY)


def _json(made, name) -> dict:
    return json.loads((made[0] / f"{name}.json").read_text())


def test_make_all_writes_every_file_and_the_index(made):
    out, figures = made
    assert [f.name for f in figures] == THEORY  # index order: Prop. 1, Thm. 1, Thm. 2, Sec. 4.3, shaping
    index = (out / "index.md").read_text()
    for f in figures:
        assert f.png == out / f"{f.name}.png" and f.png.read_bytes()[:8] == PNG
        data = _json(made, f.name)
        assert data["title"] == f.title and data["caption"] == f.caption and data["quick"] is True
        assert f"## {f.title}" in index and f"]({f.name}.png)" in index and f"]({f.name}.json)" in index
    assert [index.index(f"## {f.title}") for f in figures] == sorted(index.index(f"## {f.title}") for f in figures)


def test_theorem1_points_are_preference_tv_on_the_stored_seeds(made):
    d = _json(made, "theorem1")
    assert {r["params"]["noise"] for r in d["instances"]} == set(d["noises"]) and len(d["noises"]) >= 3
    n_pairs = 0
    for r in d["instances"]:
        inst = T.random_tree_instance(np.random.default_rng(r["rng_seed"]), **r["params"])
        tv, middle, outer = T.preference_tv(T.enumerate_mdp(inst.mdp), inst)
        np.testing.assert_allclose(r["tv"], tv, rtol=1e-12, atol=0)
        np.testing.assert_allclose(r["middle"], middle, rtol=1e-12, atol=0)
        assert r["outer"] == pytest.approx(outer, rel=1e-12)
        M = inst.mdp.vocab_size ** inst.mdp.horizon  # every pair of every prompt: P * M(M-1)/2
        assert len(r["tv"]) == r["params"]["n_prompts"] * M * (M - 1) // 2
        assert np.all(tv <= middle + 1e-12) and np.all(middle <= outer + 1e-12)
        n_pairs += len(r["tv"])
    assert d["summary"]["n_pairs"] == n_pairs and f"{n_pairs} pairs" in d["caption"]
    assert d["summary"]["max_tv_minus_middle"] <= 1e-12 and d["summary"]["max_middle_over_outer"] <= 1 + 1e-12


def test_horizon_gaps_are_horizon_scalings(made):
    d = _json(made, "horizon_scaling")
    res = T.horizon_scaling(d["horizons"])
    np.testing.assert_allclose(d["gap_bc"], res.gap_bc, rtol=1e-12)
    np.testing.assert_allclose(d["gap_rl"], res.gap_rl, rtol=1e-12)
    bound_rl = [2 * res.family.alpha * g.horizon * g.eps_pi for g in res.gaps]  # Theorem 2: 2 alpha H eps_pi
    np.testing.assert_allclose(d["bound_rl"], bound_rl, rtol=1e-12)
    H, bc, rl = np.array(d["horizons"], float), np.array(d["gap_bc"]), np.array(d["gap_rl"])
    np.testing.assert_allclose(d["local_slope_bc"], np.log2(bc[1:] / bc[:-1]), rtol=1e-12)  # H doubles
    np.testing.assert_allclose(d["local_slope_rl"], np.log2(rl[1:] / rl[:-1]), rtol=1e-12)
    x = d["crossover_H"]  # RL's gap above BC's below the crossover, below it above
    assert x is not None and np.all(rl[H < x] > bc[H < x]) and np.all(rl[H > x] < bc[H > x])
    assert f"below H ~ {x:.0f}" in d["caption"] and "CompoundingFamily(vocab_size=256" in d["caption"]
    assert "across a bend" in d["caption"]


def test_horizon_helpers_on_hand_values():
    assert hs.local_slopes([1, 2, 4], [1, 4, 8]) == pytest.approx([2.0, 1.0])
    assert hs.crossover([1, 4], [1, 4], [2, 2]) == pytest.approx(2.0)  # log ratio +log 2 -> -log 2: midpoint
    assert hs.crossover([1, 4], [1, 1], [2, 2]) is None


def _hand_J(mdp, demos, policy, alpha, smoothing) -> float:
    """Eq. 6 at logits alpha log pi: alpha * (1/n) * sum over smoothed counts of log pi (Eq. 8)."""
    total = 0.0
    for c, p in zip(demos.counts(mdp), policy):
        w = c + smoothing * (c.sum(axis=1, keepdims=True) > 0)
        total += float((w * np.log(p)).sum())
    return alpha * total / demos.n


def test_proposition1_ascent_reaches_the_bc_maximum(made):
    d = _json(made, "proposition1")
    inst = T.random_tree_instance(np.random.default_rng(d["instance_rng"]), **d["instance"])
    rng = np.random.default_rng(d["demos_rng"])
    demos = T.sample_demonstrations(inst.mdp, inst.expert.policy, d["n_demos"], rng)
    bc = T.behaviour_cloning(inst.mdp, demos, d["smoothing"])
    assert d["J_bc"] == pytest.approx(_hand_J(inst.mdp, demos, bc, inst.alpha, d["smoothing"]), rel=1e-12)
    J = np.array(d["J"])
    assert J.shape == (d["n_starts"], len(d["checkpoints"])) and d["n_starts"] >= 3
    assert np.all(np.diff(J, axis=1) >= -1e-12)  # lr = 2 < 2 / (Hessian bound 1/2): J never decreases
    assert np.all(J <= d["J_bc"] + 1e-12)  # f_BC is the maximum
    assert J[:, 0].max() < d["J_bc"] - 1.0 and d["J_bc"] - J[:, -1].min() < 1e-12
    tv = np.array(d["tv"])
    assert tv[:, 0].min() > 0.1 and tv[:, -1].max() < 1e-10 and d["final_tv"] == tv[:, -1].max()


def _entropy(enum, log_p, initial) -> float:
    p = np.exp(enum.by_prompt(log_p))
    return float(initial @ -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1))


def test_iteration_numbers(made):
    d = _json(made, "iteration")
    K = d["iterations"]
    insts = random_instances(0, len(d["instances"]))
    assert [i.name for i in insts] == d["instances"]
    changed = np.array(d["unregularized_changed"])
    assert np.all(changed[:, 1:] == 0) and d["unregularized_not_map"] == [0] * len(insts)
    for inst, ch in zip(insts, changed[:, 0]):  # step 1: pi_RL (``rl_policy``) against pi_hat's greedy actions
        moved = sum(int((p.argmax(axis=1) != f.argmax(axis=1)).sum()) for p, f in zip(T.rl_policy(inst), inst.logits))
        assert ch == moved / sum(inst.mdp.layer_sizes)
    assert np.max(d["soft_distance"]) < 1e-10
    for b, kl in d["kl"].items():
        target = (1 + 1 / float(b)) ** np.arange(1, K + 1)
        np.testing.assert_allclose(kl["target"], target, rtol=1e-15)
        np.testing.assert_allclose(kl["exponent"], np.broadcast_to(target, (len(insts), K)), rtol=1e-9)
        for inst, ent in zip(insts[:3], kl["entropy"]):  # k = 0, 1 by brute-force enumeration
            enum = T.enumerate_mdp(inst.mdp)
            base = enum.log_prob(inst.log_policy)
            r_hat = T.endogenous_reward(inst.mdp, inst.logits, inst.alpha)
            lp1, _ = brute.kl_optimal_bf(enum, r_hat, base, float(b) * inst.alpha)
            assert ent[0] == pytest.approx(_entropy(enum, base, inst.mdp.initial), rel=1e-9, abs=1e-12)
            assert ent[1] == pytest.approx(_entropy(enum, lp1, inst.mdp.initial), rel=1e-9, abs=1e-12)
        assert np.all(np.diff(kl["entropy"], axis=1) <= 1e-12)


def test_shaping_shift_is_the_expected_potential(made):
    d = _json(made, "shaping")
    rng = np.random.default_rng(d["potentials_rng"])
    cases = iter(d["cases"])
    for inst in random_instances(d["seed"], len({c["instance"] for c in d["cases"]})):
        enum = T.enumerate_mdp(inst.mdp)
        for scale in d["scales"]:
            c = next(cases)
            phi = [scale * rng.standard_normal(n) for n in inst.mdp.layer_sizes]
            assert c["name"] == inst.name and c["scale"] == scale
            assert c["predicted"] == pytest.approx(float(inst.mdp.initial @ phi[0]), rel=1e-12, abs=1e-15)
            shaped = shaped_reward(inst.mdp, inst.true_reward, phi)
            # telescoping by enumeration: every response's return moves by Phi(s_1) of its prompt
            np.testing.assert_allclose(enum.returns(shaped) - enum.returns(inst.true_reward), phi[0][enum.prompts],
                                       rtol=0, atol=1e-12 * (1 + scale))
            for key in ("soft", "hard", "fixed"):
                assert c[key] == pytest.approx(c["predicted"], abs=1e-11 * (1 + scale))
            assert c["hard_flips"] == 0 and c["dlog_soft"] < 1e-10
    assert next(cases, None) is None


def test_module_entry_point(tmp_path):
    res = subprocess.run([sys.executable, "-m", "endorm.paper_figures.shaping", "--out", str(tmp_path), "--quick"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "shaping.png").read_bytes()[:8] == PNG
    assert json.loads((tmp_path / "shaping.json").read_text())["quick"] is True


def test_a_rerun_with_only_keeps_the_other_figures_in_the_index(made, tmp_path):
    out = tmp_path / "figs"
    shutil.copytree(made[0], out)
    paper_figures.make_all(out, quick=True, only=["horizon_scaling"], seed=1)
    index = (out / "index.md").read_text()
    assert "(seed 1)" in index and index.count("![") == 1
    older = index.split("## Figures of an earlier run", 1)[1]
    assert all(f"]({n}.png)" in older for n in THEORY if n != "horizon_scaling") and "horizon_scaling" not in older
