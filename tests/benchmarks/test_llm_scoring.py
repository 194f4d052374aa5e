"""Smoke test of benchmarks/llm_scoring.py at --quick size (three small processes, ~15 s)."""
from __future__ import annotations

import json
import math

import pytest
from helpers import load_script

pytest.importorskip("torch")
pytest.importorskip("transformers")

VARIANTS = ("bare", "endorm", "naive")


@pytest.fixture(scope="module")
def bench():
    return load_script("llm_scoring")


def _finite(x, positive=False) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and (x > 0 if positive else x >= 0)


def _ratio_ok(ratio, num, den) -> bool:
    if den > 0:
        return ratio == pytest.approx(num / den)
    return math.isnan(ratio) if num == 0 else math.isinf(ratio)


def test_llm_scoring_benchmark_quick(bench, tmp_path, capsys):
    out = tmp_path / "sub" / "llm.json"
    rc = bench.main(["--quick", "--repeat", "1", "--quiet", "--json", str(out)])
    assert rc == 0  # no --strict: a missed goal at the quick size is not an error
    printed = capsys.readouterr().out
    assert "PASS" in printed or "MISS" in printed
    assert "batch 2 x length 64" in printed

    assert out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]  # atomic write cleaned up
    r = json.loads(out.read_text())

    c = r["config"]
    assert (c["layers"], c["hidden"], c["vocab_size"], c["batch_size"], c["length"]) == (2, 64, 1000, 2, 64)
    assert (c["repeat"], c["dtype"], c["device"], c["quick"]) == (1, "float32", "cpu", True)
    assert c["context_tokens"] + c["response_tokens"] == 64
    assert c["params"] > 0 and c["threads"] >= 1

    for v in VARIANTS:
        m = r["variants"][v]
        assert _finite(m["time_s"], positive=True), v
        assert len(m["runs_s"]) == 1 and m["time_s"] == min(m["runs_s"]), v
        assert _finite(m["first_call_s"], positive=True), v
        for key in ("peak_mib", "first_call_peak_mib"):
            assert _finite(m[key]), (v, key)
        assert m["first_call_peak_mib"] <= m["peak_mib"], v
        assert _finite(m["baseline_mib"], positive=True), v
        assert "arrays" not in m
        assert r[f"{v}_s"] == m["time_s"] and r[f"{v}_peak_mib"] == m["peak_mib"]
    assert r["memory_method"]

    # Ratios are consistent with the raw numbers.
    assert _ratio_ok(r["time_ratio"], r["endorm_s"], r["bare_s"])
    assert _ratio_ok(r["naive_time_ratio"], r["naive_s"], r["bare_s"])
    assert _ratio_ok(r["memory_ratio"], r["endorm_peak_mib"], r["bare_peak_mib"])
    assert _ratio_ok(r["naive_memory_ratio"], r["naive_peak_mib"], r["bare_peak_mib"])
    assert r["goals"] == {"time_ratio_max": 1.10, "memory_ratio_max": 1.0}
    assert r["passed"]["time_ratio"] == (r["time_ratio"] <= 1.10)
    assert r["passed"]["memory_ratio"] == (r["memory_ratio"] <= 1.0)

    # EndoRM's chunked float32 head agrees with the naive full log_softmax and the bare logits.
    a = r["agreement"]
    for key in ("log_prob_max_abs_diff", "reward_max_abs_diff", "selected_logit_max_abs_diff"):
        assert _finite(a[key]) and a[key] < 1e-4, key
    assert a["ok"] is True
    assert a["mean_log_prob"] < 0

    env = r["environment"]
    assert env["torch"] and env["transformers"] and env["torch_runtime"]["threads"] == c["threads"]


def test_llm_scoring_benchmark_rejects_bad_arguments(bench):
    for argv in (["--repeat", "0"], ["--length", "1"], ["--quick", "--context", "64"], ["--dtype", "float16"],
                 ["--hidden", "100", "--heads", "3"], ["--chunk-mb", "0"]):
        with pytest.raises(SystemExit):
            bench.main(argv)
