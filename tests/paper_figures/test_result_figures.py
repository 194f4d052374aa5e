"""The paper's result figures (Figure 1, Tables 1-3) of `endorm figures`: from run folders (`--from`) of `endorm
bench` / `eval-math` / `rl` / `demo`, the paper's numbers beside them, and the errors for folders they cannot use."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from endorm import cli
from endorm.paper_figures import _runs, make_all
from endorm.paper_figures._common import wilson_interval

scipy_stats = pytest.importorskip("scipy.stats")


# ----------------------------------------------------------------------------- Wilson intervals


@pytest.mark.parametrize("k,n", [(3, 3), (0, 3), (1, 2), (7, 10), (50, 100)])
def test_wilson_interval_matches_scipy(k, n):
    want = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((want.low, want.high), abs=1e-9)


def test_three_of_three_is_not_certainty():
    z = 1.959963984540054
    lo, hi = wilson_interval(3, 3)
    assert hi == 1.0 and lo == pytest.approx(1 / (1 + z * z / 3))  # by hand: p = 1 gives low = 1 / (1 + z^2/n)
    assert lo < 0.45


# ----------------------------------------------------------------------------- --from: what is not a run


def _json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path.parent


@pytest.mark.parametrize("setup,msg", [
    (lambda d: None, "no such folder"),
    (lambda d: _json(d / "notes.json", {}), "not an endorm run folder (no run.json)"),
    (lambda d: _json(d / "run.json", {"command": "figures"}), "holds the output of endorm figures"),
    (lambda d: _json(d / "run.json", {"command": "bench", "format": "rm-bench"}), "without results.json"),
    (lambda d: (_json(d / "run.json", {"command": "bench"}), _json(d / "results.json", {"format": "rewardbench"})),
     "on rewardbench data; no figure draws from it"),
    (lambda d: (_json(d / "run.json", {"command": "bench", "conditions": {"default": None}}),
                _json(d / "results.json", {"format": "dsp"})), "dsp without --domain-prompts"),
    (lambda d: (_json(d / "run.json", {"command": "demo"}), _json(d / "results.json", {"horizons": {"12": {}}})),
     "older endorm demo"),
    (lambda d: (d.parent.mkdir(parents=True, exist_ok=True), d.write_text("x")), "a file, not a run folder"),
    (lambda d: _json(d / "run.json", {"foo": 1}), "its run.json names no command"),
    (lambda d: _json(d / "run.json", {"command": "endorm rl"}), "names no model"),
    (lambda d: (_json(d / "run.json", {"command": "eval-math", "model": "/m"}), _json(d / "results.json", {})),
     "eval-math run on None data"),
    (lambda d: (_json(d / "run.json", {"command": "eval-math", "model": "/m"}),
                _json(d / "results.json", {"format": "amc", "problems": 4, "k": 2, "pass@1": 0.5})), "lacks avg@k"),
    (lambda d: (_json(d / "run.json", {"command": "bench"}), _json(d / "results.json", {"format": "rm-bench"})),
     "holds no scored condition"),
    (lambda d: (_json(d / "run.json", {"command": "bench", "conditions": {"academy": "x"}}),
                _json(d / "results.json", {"format": "dsp", "summary": {"endorm": {"academy": {}}}})),
     "dsp_matrix_endorm.json cannot be read"),
])
def test_describe_names_the_folder_in_one_line(tmp_path, setup, msg):
    d = tmp_path / "run"
    setup(d)
    with pytest.raises(ValueError) as e:
        _runs.describe(d)
    assert msg in str(e.value) and str(d) in str(e.value) and "\n" not in str(e.value)


def test_cli_refuses_a_non_run_folder_before_writing_anything(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "data.txt").write_text("my own file")
    out = tmp_path / "figs"
    assert cli.main(["figures", "--quick", "--out", str(out), "--from", str(tmp_path / "mine")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an endorm run folder" in err[0] and str(tmp_path / "mine") in err[0]
    assert not out.exists()


def test_cli_refuses_a_bench_run_without_its_numbers_before_writing_anything(tmp_path, capsys):
    """A bench run folder without a summary was a KeyError traceback after Figure 1 had been written."""
    run = _json(tmp_path / "rmb" / "run.json", {"command": "bench"})
    _json(run / "results.json", {"format": "rm-bench"})
    out = tmp_path / "figs"
    assert cli.main(["figures", "--quick", "--out", str(out), "--from", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no scored condition" in err[0] and str(run) in err[0]
    assert not out.exists()


def test_module_entry_point_of_a_result_figure_refuses_a_user_folder(tmp_path):
    """``python -m endorm.paper_figures.table1_rmbench`` is ``endorm figures --only table1_rmbench``: the same
    refusal of a folder holding the user's files (it used to do nothing for result figures and to write anywhere
    for theory figures)."""
    (tmp_path / "notes.txt").write_text("mine")
    res = subprocess.run([sys.executable, "-m", "endorm.paper_figures.table1_rmbench", "--out", str(tmp_path),
                          "--quick"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "holds no endorm figures output" in res.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_method_has_one_colour_in_every_panel():
    """Table 1's paper panel lists GenRM-Pairwise before -Pointwise, a bench run the other way round."""
    import matplotlib.colors as mc

    from endorm.paper_figures._common import METHOD_COLORS, draw_bars, pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2)
    cell = {"value": 0.5, "low": None, "high": None, "n": None}
    for ax, order in zip(axes, (["GenRM-Pairwise", "GenRM-Pointwise"], ["GenRM-Pointwise", "GenRM-Pairwise"])):
        draw_bars(ax, ["Chat"], {m: [cell] for m in order})
    colours = [{c.get_label(): c.patches[0].get_facecolor() for c in ax.containers} for ax in axes]
    plt.close(fig)
    assert colours[0] == colours[1]
    assert colours[0]["GenRM-Pairwise"] != colours[0]["GenRM-Pointwise"]
    assert mc.to_hex(colours[0]["GenRM-Pairwise"]) == METHOD_COLORS["GenRM-Pairwise"].lower()


# ----------------------------------------------------------------------------- bench runs -> Figure 1, Tables 1-2


@pytest.fixture(scope="module")
def bench_runs(tmp_path_factory):
    """Three real `endorm bench` runs on a tiny model: RM-Bench, Multifaceted-Bench and DSP with domain prompts."""
    pytest.importorskip("transformers")
    from endorm.llm.testing import save_tiny_model

    tmp = tmp_path_factory.mktemp("bench")
    model = save_tiny_model(tmp / "tiny", "gpt2", seed=5, max_positions=2048)
    doms = ["chat", "math", "code", "safety-refuse", "safety-response", "math"]
    (tmp / "rmb.json").write_text(json.dumps([{"id": f"q{i}", "prompt": f"What is {i} + {i}?", "domain": doms[i % 6],
                                               "chosen": [f"It is {2 * i}.", f"{2 * i}", f"**{2 * i}**"],
                                               "rejected": [f"It is {2 * i + 1}.", f"{2 * i + 1}", f"**{2 * i + 1}**"]}
                                              for i in range(6)]))
    rows = [{"source": src, "system": f"Style {k}", "prompt": f"Topic {t}", "reference_answer": f"{src} {t} {k}",
             "rubric": "r"} for src in ("alpha", "beta") for t in range(2) for k in range(3)]
    (tmp / "mf.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    dd = ["academy", "business", "entertainment", "literature", "normal"]
    (tmp / "dsp.json").write_text(json.dumps([{"query": f"Tell me about topic {i}.", "responses": {
        d: f"A {d} answer to {i}." for d in dd}} for i in range(3)]))
    (tmp / "prompts.json").write_text(json.dumps({d: f"You are an assistant for {d}." for d in dd[:4]}))
    runs = {}
    for name, extra in (("rmb", ["--data", str(tmp / "rmb.json")]), ("mf", ["--data", str(tmp / "mf.jsonl")]),
                        ("dsp", ["--data", str(tmp / "dsp.json"), "--domain-prompts", str(tmp / "prompts.json")])):
        runs[name] = tmp / name
        assert cli.main(["bench", "--model", str(model), "--out", str(runs[name]), "--no-progress", *extra]) == 0
    runs["model"] = model
    return runs


@pytest.fixture(scope="module")
def bench_figures(bench_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("figs")
    made = make_all(out, quick=True, only=["figure1_multifaceted", "table1_rmbench", "table2_dsp"],
                    runs=[bench_runs["rmb"], bench_runs["mf"], bench_runs["dsp"]])
    return out, {f.name: json.loads(f.json.read_text()) for f in made}


def test_describe_identifies_each_bench_run(bench_runs):
    figs = {k: _runs.describe(bench_runs[k]).figure for k in ("rmb", "mf", "dsp")}
    assert figs == {"rmb": "table1_rmbench", "mf": "figure1_multifaceted", "dsp": "table2_dsp"}


def test_figure1_from_a_multifaceted_run_equals_its_subset_figure(bench_runs, bench_figures):
    out, js = bench_figures
    fig = js["figure1_multifaceted"]
    sub = json.loads((bench_runs["mf"] / "accuracy_by_subset.json").read_text())
    res = json.loads((bench_runs["mf"] / "results.json").read_text())["summary"]["endorm"]["default"]["subsets"]
    assert fig["source"] == "run" and fig["paper"] is None and "no numbers for Figure 1" in fig["caption"]
    for s in ("alpha", "beta"):
        cell = fig["methods"]["EndoRM"][s]
        assert 100 * cell["value"] == pytest.approx(sub["percent"]["endorm"][s][0])
        assert cell["value"] == pytest.approx(res[s]["accuracy"]) and cell["n"] == res[s]["n_comparisons"]
        wins = round(res[s]["accuracy"] * res[s]["n_comparisons"])
        want = scipy_stats.binomtest(wins, res[s]["n_comparisons"]).proportion_ci(method="wilson")
        assert (cell["low"], cell["high"]) == pytest.approx((want.low, want.high))
    assert str(bench_runs["mf"]) in fig["caption"] and str(bench_runs["model"].resolve()) in fig["caption"]


def test_table1_from_an_rmbench_run_beside_the_paper(bench_runs, bench_figures):
    from endorm.llm.bench.tables import PAPER_TABLE1, TABLE1_COLUMNS

    t = bench_figures[1]["table1_rmbench"]
    row = json.loads((bench_runs["rmb"] / "results.json").read_text())["summary"]["endorm"]["default"]["rm-bench"]
    assert t["run"]["source"] == "run"
    assert {c: t["run"]["methods"]["EndoRM"][c]["value"] for c in TABLE1_COLUMNS} == pytest.approx(
        {c: row[c] for c in TABLE1_COLUMNS})
    assert t["paper"]["methods"]["EndoRM"] == PAPER_TABLE1["endorm"]
    assert t["run"]["n_items"] == {"Chat": 1, "Math": 2, "Code": 1, "Safety": 2}
    assert "**paper**" in t["caption"] and "**this run**" in t["caption"]


def test_table2_from_a_dsp_run_equals_its_matrix_json(bench_runs, bench_figures):
    from endorm.llm.bench.tables import PAPER_TABLE2_DIAGONAL

    t = bench_figures[1]["table2_dsp"]
    mat = json.loads((bench_runs["dsp"] / "dsp_matrix_endorm.json").read_text())
    assert t["run"]["percent"] == mat["accuracy_percent"] and t["run"]["rows"] == mat["rows"]
    P = np.array(t["paper"]["percent"])
    assert dict(zip(t["paper"]["rows"], np.diag(P))) == PAPER_TABLE2_DIAGONAL
    assert P[0].tolist() == [76.89, 67.17, 57.45, 52.57] and P[3].tolist() == [30.41, 38.65, 38.69, 72.09]
    assert t["paper"]["diagonal_is_column_max"] == [True] * 4 and t["run"]["n_items"] == [[3] * 4] * 4


def test_index_and_png_files(bench_figures):
    out, js = bench_figures
    text = (out / "index.md").read_text()
    for name in js:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({name}.png)" in text
    assert not any(p.suffix not in (".png", ".json", ".md") for p in out.iterdir())


def test_two_runs_for_one_figure_are_refused(bench_runs, tmp_path):
    other = tmp_path / "rmb2"
    shutil.copytree(bench_runs["rmb"], other)
    with pytest.raises(ValueError, match="table1_rmbench draws one run; got 2"):
        make_all(tmp_path / "o", quick=True, only=["table1_rmbench"], runs=[bench_runs["rmb"], other])


# ----------------------------------------------------------------------------- eval-math + rl -> Table 3

GOLDS = [r"\frac{1}{2}", "7", "2x", "12"]


def _fake_generate(right):
    """generate_completions stand-in: sample j of problem i answers correctly iff right[i][j]."""
    seen = {}

    def generate(model, tokenizer, prompts, seeds, **kw):
        out = []
        for q in prompts:
            i = next(i for i in range(len(GOLDS)) if f"Problem number {i}?" in q)
            j = seen[q] = seen.get(q, -1) + 1
            out.append(f"so \\boxed{{{GOLDS[i] if right[i][j] else '-99'}}}")
        return out
    return generate


@pytest.fixture(scope="module")
def math_runs(tmp_path_factory):
    """eval-math runs (k = 2) of a base model and of the RL model in an rl run folder's final/, plus a stray one."""
    pytest.importorskip("math_verify")
    from endorm.llm.math import run as R
    from endorm.llm.testing import save_tiny_model

    tmp = tmp_path_factory.mktemp("math")
    base = save_tiny_model(tmp / "base", "gpt2", max_positions=2048)
    shutil.copytree(base, tmp / "rl" / "final")
    (tmp / "rl" / "run.json").write_text(json.dumps({"command": "endorm rl", "model": str(base.resolve()),
                                                     "prompts": str(tmp / "prompts.jsonl")}))
    data = tmp / "math500.jsonl"
    data.write_text("".join(json.dumps({"problem": f"Problem number {i}?", "answer": g, "unique_id": f"p{i}"}) + "\n"
                            for i, g in enumerate(GOLDS)))
    shutil.copytree(base, tmp / "elsewhere")
    mp = pytest.MonkeyPatch()
    runs = {}
    for name, model, right in (("before", base, [[0, 0], [1, 0], [1, 1], [0, 0]]),
                               ("after", tmp / "rl" / "final", [[1, 0], [1, 1], [1, 1], [1, 0]]),
                               ("stray", tmp / "elsewhere", [[1, 1]] * 4)):
        mp.setattr(R, "generate_completions", _fake_generate(right))
        runs[name] = tmp / f"eval_{name}"
        assert cli.main(["eval-math", "--model", str(model), "--data", str(data), "--out", str(runs[name]), "--k", "2",
                         "--workers", "1", "--no-progress"]) == 0
    mp.undo()
    runs["rl"] = tmp / "rl"
    return runs


def test_table3_pairs_eval_math_runs_by_the_rl_folder(math_runs, tmp_path):
    made = make_all(tmp_path, quick=True, only=["table3_math"],
                    runs=[math_runs["after"], math_runs["rl"], math_runs["before"]])
    t = json.loads(made[0].json.read_text())
    run = t["run"]
    before = json.loads((math_runs["before"] / "results.json").read_text())
    after = json.loads((math_runs["after"] / "results.json").read_text())
    assert run["source"] == "run" and run["columns"] == ["MATH-500", "Avg"]
    assert run["before"]["MATH-500"]["value"] == before["pass@1"] == pytest.approx(3 / 8)
    assert run["after"]["MATH-500"]["value"] == after["pass@1"] == pytest.approx(6 / 8)
    assert run["delta"]["MATH-500"] == pytest.approx(3 / 8) and run["delta"]["Avg"] == pytest.approx(3 / 8)
    lo, hi = wilson_interval(3 / 8 * 4, 4)
    assert (run["before"]["MATH-500"]["low"], run["before"]["MATH-500"]["high"]) == pytest.approx((lo, hi))
    assert t["paper"]["before"]["MATH-500"] == 63.0 and t["paper"]["delta"]["Minerva"] == pytest.approx(10.7)
    assert "Not all five benchmarks" in t["caption"] and str(math_runs["rl"]) in t["caption"]


@pytest.mark.parametrize("which,msg", [
    (["before", "after"], "needs exactly one endorm rl run folder"),
    (["rl", "before", "stray"], "neither the rl run's base model"),
    (["rl", "before", "before"], "two eval-math runs of math500 before RL"),
])
def test_table3_refuses_runs_it_cannot_tell_apart(math_runs, tmp_path, which, msg):
    runs = [math_runs[w] for w in which]
    with pytest.raises(ValueError, match=msg):
        _runs.check_all(runs)  # all at once, before any figure is drawn
    with pytest.raises(ValueError, match=msg):
        make_all(tmp_path, quick=True, only=["table3_math"], runs=runs)
    assert [r.figure for r in _runs.check_all([math_runs["rl"], math_runs["after"]])] == ["table3_math"] * 2


# ----------------------------------------------------------------------------- the token world (a demo folder)

TINY = dict(n_domains=3, vocab_size=6, n_automaton=2, alpha=0.25, n_demos=400, steps=40, hidden=16, layers=1,
            pairs_per_domain=30, n_samples=60, beam_width=2, rl_steps=2, rl_beta=0.01, n_seeds=1, compounding=False)


@pytest.fixture(scope="module")
def world_demo(tmp_path_factory):
    """One tiny horizon of the demo's study (its model kept) and a demo run folder holding its results."""
    pytest.importorskip("trl")
    from endorm.llm.world.demo import study_horizon

    tmp = tmp_path_factory.mktemp("world")
    horizon = study_horizon(6, TINY, 3, tmp / "H6")
    demo = tmp / "demo"
    _json(demo / "run.json", {"command": "demo", "quick": True, "seed": 3})
    _json(demo / "results.json", {"seed": 3, "config": TINY, "horizons": {"6": horizon}})
    return tmp, horizon, demo


def test_world_promptable_matrix_is_what_promptable_study_measures(world_demo):
    """The study's matrix, recomputed independently from the saved model and the same pairs."""
    import torch

    from endorm.llm.reward import EndogenousReward
    from endorm.llm.world import mdp as W, studies as S
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp, horizon, _ = world_demo
    world = W.make_world(3, 3, 6, 2, 6, 0.25)
    model = AutoModelForCausalLM.from_pretrained(tmp / "H6" / "model").eval()
    scorer = EndogenousReward(model, AutoTokenizer.from_pretrained(tmp / "H6" / "model"), alpha=0.25, progress=False)
    with torch.no_grad():
        want = S.promptable_study(world, scorer, S.make_pairs(world, 30, 5))["matrix"]
    np.testing.assert_allclose(horizon["promptable"]["matrix"], want)


def test_result_figures_from_a_demo_folder(world_demo, tmp_path):
    _, h, demo = world_demo
    made = {f.name: json.loads(f.json.read_text()) for f in make_all(
        tmp_path, quick=True, only=["figure1_multifaceted", "table1_rmbench", "table2_dsp", "table3_math"],
        runs=[demo])}
    p, bd = h["preferences"], h["returns_by_domain"]
    t2 = made["table2_dsp"]["run"]
    np.testing.assert_allclose(t2["percent"], 100 * np.array(h["promptable"]["matrix"]))
    f1 = made["figure1_multifaceted"]["methods"]["EndoRM"]
    assert [f1[w]["value"] for w in bd["domains"]] == [p["accuracy_endorm_by_domain"][str(d)] for d in range(3)]
    t1 = made["table1_rmbench"]["run"]["methods"]["EndoRM"]
    assert t1["Avg"]["value"] == p["accuracy_endorm"] and t1["Avg"]["n"] == sum(p["n_by_domain"].values())
    assert t1["Hard"]["value"] == p["by_margin"]["accuracy"]["endorm"]["Hard"]
    t3 = made["table3_math"]["run"]
    assert [t3["after"][w]["value"] - t3["before"][w]["value"] for w in bd["domains"]] == pytest.approx(bd["delta"])
    assert t3["expert"]["Avg"] == pytest.approx(h["returns"]["expert"])  # uniform prompts: mean over domains
    for name, js in made.items():
        assert "token world, not the paper's benchmark" in js["title"] + js["caption"], name
        assert str(demo) in js["caption"], name
        assert "run among --from, so this figure falls back to the token world" in js["caption"], name
