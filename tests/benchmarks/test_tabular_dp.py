"""Smoke test of benchmarks/tabular_dp.py on a tiny prefix tree (well under a second)."""
from __future__ import annotations

import json
import math

import pytest
from helpers import load_script



@pytest.fixture(scope="module")
def bench():
    return load_script("tabular_dp")


def test_tabular_dp_benchmark_tiny_tree(bench, tmp_path, capsys):
    out = tmp_path / "sub" / "bench.json"
    rc = bench.main(["--vocab-size", "3", "--horizon", "4", "--repeat", "1", "--seed", "1",
                     "--quiet", "--json", str(out)])
    assert rc == 0  # no --strict: a missed goal on a tiny tree is not an error
    printed = capsys.readouterr().out
    assert "PASS" in printed or "MISS" in printed
    assert "120 state-action pairs" in printed

    assert out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]  # atomic write cleaned up
    r = json.loads(out.read_text())

    # The tree: V + V^2 + V^3 + V^4 = 3 + 9 + 27 + 81 pairs, 1 + 3 + 9 + 27 states.
    assert (r["vocab_size"], r["horizon"], r["seed"], r["repeat"]) == (3, 4, 1, 1)
    assert r["pairs"] == 120 and r["states"] == 40
    assert r["reward_bytes"] == 8 * 120
    assert r["large_enough"] is False

    for key in ("soft_optimal_s", "numpy_logsumexp_s", "scipy_logsumexp_s", "time_ratio",
                "scipy_time_ratio", "peak_extra_bytes", "memory_ratio", "updates_per_s"):
        assert isinstance(r[key], (int, float)) and math.isfinite(r[key]) and r[key] > 0, key
    for key in ("soft_optimal_runs_s", "numpy_logsumexp_runs_s", "scipy_logsumexp_runs_s"):
        assert len(r[key]) == 1 and all(math.isfinite(t) and t > 0 for t in r[key]), key
    assert r["soft_optimal_s"] == min(r["soft_optimal_runs_s"])

    # Derived numbers are consistent with the raw ones.
    assert r["time_ratio"] == pytest.approx(r["soft_optimal_s"] / r["numpy_logsumexp_s"])
    assert r["updates_per_s"] == pytest.approx(r["pairs"] / r["soft_optimal_s"])
    assert r["memory_ratio"] == pytest.approx(r["peak_extra_bytes"] / r["reward_bytes"])

    # Q alone is one reward-sized array and V adds 1/V more: the peak cannot be smaller.
    assert r["returned_Q_ratio"] == 1.0
    assert r["returned_V_ratio"] == pytest.approx(40 / 120)
    assert r["memory_ratio"] >= 1.0
    assert r["memory_ratio"] >= r["returned_Q_ratio"] + r["returned_V_ratio"]

    # V at the last depth is a plain logsumexp of its rewards.
    assert r["last_layer_value_max_abs_err"] <= 1e-12

    assert r["goals"] == {"time_ratio_max": 2.0, "memory_ratio_max": 3.0, "min_pairs": 10**7}
    assert r["passed"]["time_ratio"] == (r["time_ratio"] <= 2.0)
    assert r["passed"]["memory_ratio"] == (r["memory_ratio"] <= 3.0)


def test_strict_exit_status_follows_the_goals(bench, tmp_path, capsys):
    """--strict: exit 1 exactly when a time or memory goal is missed."""
    out = tmp_path / "b.json"
    rc = bench.main(["--vocab-size", "3", "--horizon", "4", "--repeat", "1", "--quiet", "--strict", "--json", str(out)])
    r = json.loads(out.read_text())
    capsys.readouterr()
    assert set(r["passed"]) == {"time_ratio", "memory_ratio"}
    assert rc == (0 if all(r["passed"].values()) else 1)


def test_tabular_dp_benchmark_rejects_bad_arguments(bench):
    with pytest.raises(SystemExit):
        bench.main(["--repeat", "0"])
    with pytest.raises(SystemExit):
        bench.main(["--vocab-size", "0"])
