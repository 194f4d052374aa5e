"""Smoke test of benchmarks/bench_throughput.py at --quick size: the numbers it computes are consistent."""
from __future__ import annotations

import json
import math

import pytest
from helpers import load_script

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


# ---------------------------------------------------------------------- benchmarks/bench_throughput.py
def _finite(x, positive=False) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and (x > 0 if positive else x >= 0)


def test_bench_throughput_quick(tmp_path, capsys):
    bench = load_script("bench_throughput")
    out = tmp_path / "sub" / "throughput.json"
    threads = torch.get_num_threads()
    rc = bench.main(["--quick", "--repeat", "1", "--threads", "1", "--quiet", "--json", str(out)])
    assert torch.get_num_threads() == threads
    assert rc == 0  # no --strict: a missed goal at the quick size is not an error
    printed = capsys.readouterr().out
    assert ("PASS" in printed or "MISS" in printed) and "6 items = 2 prompts x 3 responses" in printed
    assert out.exists() and not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    r = json.loads(out.read_text())

    c = r["config"]
    assert (c["layers"], c["hidden"], c["vocab_size"], c["items"], c["repeat"], c["threads"], c["quick"]) == \
        (2, 64, 1000, 6, 1, 1, True)
    assert c["context_tokens_mean"] >= 40 and 1 <= c["response_tokens_min"] <= c["response_tokens_max"]
    for v in ("naive", "batched", "shared"):
        m = r["variants"][v]
        assert _finite(m["time_s"], positive=True) and _finite(m["first_call_s"], positive=True), v
        assert len(m["runs_s"]) == 1 and m["time_s"] == min(m["runs_s"]), v
        assert m["items_per_s"] == pytest.approx(c["items"] / m["time_s"]), v
        assert r[f"{v}_items_per_s"] == m["items_per_s"], v
    a, b, s = r["naive_items_per_s"], r["batched_items_per_s"], r["shared_items_per_s"]
    assert r["batched_speedup"] == pytest.approx(b / a)
    assert r["shared_speedup"] == pytest.approx(s / a)
    assert r["shared_over_batched"] == pytest.approx(s / b)
    assert r["goals"] == {"shared_speedup_min": 1.5}
    assert r["passed"]["shared_speedup"] == (r["shared_speedup"] >= 1.5)
    assert r["shared_path_used"] is True
    ag = r["agreement"]
    assert ag["ok"] is True and ag["shared_max_abs_score_diff"] < 1e-4 and ag["batched_max_abs_score_diff"] < 1e-4
    assert r["environment"]["torch"] and r["environment"]["transformers"]
