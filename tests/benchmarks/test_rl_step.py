"""Smoke test of benchmarks/rl_step.py at --quick size (one GRPO step per variant)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")


def test_rl_step_benchmark_smoke(tmp_path, capsys):
    from helpers import load_script

    bench = load_script("rl_step")
    out = tmp_path / "sub" / "bench.json"
    assert bench.main(["--quick", "--repeat", "1", "--steps", "1", "--quiet", "--json", str(out)]) == 0
    assert "step time ratio EndoRM / constant" in capsys.readouterr().out  # PASS or MISS: no --strict
    r = json.loads(out.read_text())
    assert set(r["variants"]) == {"constant", "endorm", "unshared"} and r["agreement"]["ok"]
    assert all(len(v["step_times_s"]) == 1 and v["median_s"] > 0 for v in r["variants"].values())
    assert r["time_ratio"] == pytest.approx(r["variants"]["endorm"]["median_s"] / r["variants"]["constant"]["median_s"])
    assert r["passed"]["time_ratio"] == (r["time_ratio"] <= 1.10)
    with pytest.raises(SystemExit):
        bench.main(["--num-generations", "1"])
