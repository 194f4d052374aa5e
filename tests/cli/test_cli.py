"""`endorm verify` and `endorm figures` end to end."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from endorm import cli


def test_verify_quick_writes_json_and_passes(tmp_path, capsys):
    out = tmp_path / "sub" / "verify.json"
    assert cli.main(["verify", "--quick", "--no-progress", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "passed, 0 failed" in text and "theorem2.bc_slope" in text
    data = json.loads(out.read_text())
    names = {c["name"] for c in data["checks"]}
    for required in ("round_trip.Q", "telescoping.eq12", "telescoping.eq13", "prop1.maximizer", "prop1.gradient",
                     "prop1.ascent", "theorem1.pairwise", "theorem1.uniform", "theorem2.rl_bound",
                     "theorem2.bc_bound", "theorem2.bc_slope", "theorem2.rl_slope", "shaping.hard_policy",
                     "shaping.soft_policy", "shaping.values", "iteration.unregularized_fixed_point",
                     "iteration.soft_same_alpha", "power_sharpening", "iteration.kl_exponent.k1", "iteration.kl_exponent.k3",
                     "iteration.kl_not_fixed", "dp_vs_bruteforce.soft"):
        assert required in names
    assert all(set(c) >= {"name", "measured", "expected", "holds"} for c in data["checks"])
    assert all(c["holds"] for c in data["checks"])
    slope = next(c for c in data["checks"] if c["name"] == "theorem2.bc_slope")
    assert 1.85 <= slope["measured"] <= 2.15
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_verify_exits_1_when_a_check_fails(monkeypatch, tmp_path, capsys):
    import endorm.tabular.checks as C

    real = C.check_round_trip

    def broken(seed, **kw):
        rows = real(seed, **kw)
        r = rows[0]
        rows[0] = C.CheckResult(r.name, r.claim, 1.0, r.expected, r.relation, r.tolerance, False)
        return rows

    plan = C.verify_plan

    monkeypatch.setattr(C, "verify_plan", lambda quick=False: [(broken if c is real else c, k)
                                                               for c, k in plan(quick)])
    monkeypatch.setattr("endorm.tabular.verify_plan", C.verify_plan)
    code = cli.main(["verify", "--quick", "--no-progress", "--json", str(tmp_path / "v.json")])
    assert code == 1
    assert "1 failed" in capsys.readouterr().out
    data = json.loads((tmp_path / "v.json").read_text())
    assert [c["name"] for c in data["checks"] if not c["holds"]] == ["round_trip.Q"]


def test_figures_quick(tmp_path):
    """`endorm figures --quick` makes all nine figures (PNG + JSON + caption) and index.md; the result figures come
    from a fresh token-world study (no --from) that leaves no model file behind."""
    from endorm.paper_figures import ORDER

    out = tmp_path / "figs"
    assert cli.main(["figures", "--quick", "--no-progress", "--out", str(out)]) == 0
    index = (out / "index.md").read_text()
    assert len(ORDER) == 9
    for name in ORDER:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        data = json.loads((out / f"{name}.json").read_text())
        assert data["name"] == name and data["quick"] is True and data["caption"].strip(), name
        assert f"![{data['title']}]({name}.png)" in index and f"]({name}.json)" in index, name
    assert index.index("## " + json.loads((out / "proposition1.json").read_text())["title"]) < \
        index.index("## " + json.loads((out / "table3_math.json").read_text())["title"])  # in ORDER
    for name in ORDER[5:]:  # the paper's results, on the token world
        data = json.loads((out / f"{name}.json").read_text())
        assert "token world, not the paper's benchmark" in data["title"] and "fresh token-world" in data["caption"]
    t2 = json.loads((out / "table2_dsp.json").read_text())["run"]
    f1 = json.loads((out / "figure1_multifaceted.json").read_text())["methods"]["EndoRM"]
    assert np.diag(t2["percent"]).tolist() == pytest.approx([100 * f1[d]["value"] for d in t2["cols"]])  # same pairs
    assert {p.name for p in out.iterdir()} == {f"{n}.{x}" for n in ORDER for x in ("png", "json")} | {"index.md",
                                                                                                      "run.json"}


def test_figures_unknown_name(tmp_path, capsys):
    assert cli.main(["figures", "--out", str(tmp_path), "--only", "nope"]) == 2
    assert "endorm figures: error: unknown figure(s) ['nope']" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before anything was written


def _console_script():
    beside = Path(sys.executable).parent / "endorm"
    return str(beside) if beside.exists() else shutil.which("endorm")


@pytest.mark.slow
@pytest.mark.skipif(_console_script() is None, reason="console script not installed")
def test_console_script(tmp_path):
    res = subprocess.run([_console_script(), "verify", "--quick", "--no-progress"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "0 failed" in res.stdout
    res = subprocess.run([sys.executable, "-m", "endorm.cli", "verify", "--bogus"], capture_output=True, text=True)
    assert res.returncode == 2 and "unrecognized arguments: --bogus" in res.stderr


@pytest.mark.parametrize("argv, module, pip_name, extra", [
    (["score", "--model", "m", "--prompt", "p", "--response", "r"], "transformers", "transformers", "llm"),
    (["bench", "--model", "m", "--data", "d.jsonl", "--out", "OUT"], "accelerate", "accelerate", "llm"),
    (["eval-math", "--model", "m", "--data", "d.jsonl", "--out", "OUT"], "math_verify", "math-verify", "math"),
    (["rl", "--model", "m", "--prompts", "p.jsonl", "--out", "OUT"], "trl", "trl", "rl"),
    (["demo", "--quick", "--out", "OUT"], "trl", "trl", "rl"),
])
def test_a_command_without_its_extra_names_what_to_install(argv, module, pip_name, extra, tmp_path, monkeypatch,
                                                            capsys):
    """One line, exit 2, before any other check or output: never a ModuleNotFoundError traceback."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: find_spec and import both fail
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err == f'endorm {argv[0]}: error: needs {pip_name}, which is not installed: pip install "endorm[{extra}]"\n'
    assert not (tmp_path / "OUT").exists()


def test_a_module_missing_deeper_down_is_still_one_line(monkeypatch, capsys):
    def reads_parquet(args):  # as the loader does for a .parquet file without pyarrow installed
        raise ModuleNotFoundError("No module named 'pyarrow'", name="pyarrow")

    def needs_pyarrow(args):
        import pyarrow_not_here  # noqa: F401

    monkeypatch.setattr(cli.bench, "run", reads_parquet)
    assert cli.main(["bench", "--model", "m", "--data", "d.parquet", "--out", "o"]) == 2
    assert capsys.readouterr().err == ('endorm bench: error: needs pyarrow, which is not installed: '
                                       'pip install "endorm[llm]"\n')
    monkeypatch.setattr(cli.bench, "run", needs_pyarrow)  # not an optional dependency of ours: a real bug
    with pytest.raises(ModuleNotFoundError, match="pyarrow_not_here"):
        cli.main(["bench", "--model", "m", "--data", "d.parquet", "--out", "o"])


def test_the_missing_extra_check_imports_nothing(monkeypatch):
    import importlib.util

    looked = []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: looked.append(name) or object())
    assert cli.missing_extra("rl") is None and cli.missing_extra("verify") is None
    assert looked == ["torch", "transformers", "trl", "datasets", "yaml"]
