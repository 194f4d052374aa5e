"""benchmarks/gpu_check.py on the CPU with the budget of the issue (so the script cannot rot): every step has a row,
nothing FAILs, the numbers that can be checked are checked; and a missing GPU is one line."""
from __future__ import annotations

import json

import pytest
from helpers import load_script

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("accelerate")


@pytest.mark.slow
def test_gpu_check_on_the_cpu_writes_every_step(tmp_path, capsys):
    check = load_script("gpu_check")
    out = tmp_path / "gpu.json"
    assert check.main(["--device", "cpu", "--budget-s", "120", "--json", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    r = json.loads(out.read_text())
    assert r["device"] == "cpu" and r["passed"] and r["budget_s"] == 120
    rows = {x["name"]: x for x in r["rows"]}
    for step, _, _, _ in check.STEPS:  # a row per step: its checks, or one SKIP naming the budget
        mine = [x for name, x in rows.items() if name == step or name.startswith(step + "/")]
        assert mine, step
        assert all(x["status"] in ("PASS", "SKIP") for x in mine), mine
        assert all("budget" in x["measured"] for x in mine if x["status"] == "SKIP" and x["name"] == step)
        assert f" {mine[0]['name']}: " in printed
    # the first steps always fit: their numbers are real
    assert rows["correct/float32"]["value"] < 1e-4 and rows["correct/prompt-sharing"]["value"] < 1e-5
    assert 1e-6 < rows["correct/bfloat16-head-model"]["value"] < 0.25  # bfloat16 rounding shows, within bound
    assert rows["speed/endorm-over-bare-forward"]["ratio"] > 0


def test_gpu_check_without_a_gpu_is_one_line():
    check = load_script("gpu_check")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SystemExit, match="torch sees no CUDA device; use --device cpu"):
        check.run(check.parse_args(["--device", "cuda"]))
    with pytest.raises(SystemExit):
        check.parse_args(["--budget-s", "0"])
