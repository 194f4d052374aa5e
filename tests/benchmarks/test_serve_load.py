"""Smoke test of benchmarks/serve_load.py at --quick size: a real server, real clients; the counts and the scores."""
from __future__ import annotations

import json

import pytest
from helpers import load_script

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")


def test_serve_load_quick(tmp_path, capsys):
    bench = load_script("serve_load")
    out = tmp_path / "load.json"
    assert bench.main(["--quick", "--quiet", "--json", str(out)]) == 0  # no --strict: the goal is for full size
    printed = capsys.readouterr().out
    assert "served / direct" in printed and ("PASS" in printed or "MISS" in printed)
    r = json.loads(out.read_text())
    c, d, s = r["config"], r["direct"], r["served"]
    n = c["clients"] * c["requests_per_client"] * c["per_prompt"]
    assert (c["clients"], c["requests_per_client"], c["per_prompt"]) == (4, 2, 4)
    assert d["items"] == s["items"] == n and s["requests_unsent"] == 0
    assert r["max_abs_score_diff"] <= 1e-4  # the served scores are the library's
    assert s["mean_items_per_call"] >= c["per_prompt"] and s["max_items_per_call"] >= c["per_prompt"]
    assert s["scoring_calls"] * s["mean_items_per_call"] == pytest.approx(n)
    assert 0 < s["latency_p50_s"] <= s["latency_p99_s"] <= s["seconds"]
    assert r["served_over_direct"] == pytest.approx(s["items_per_s"] / d["items_per_s"])
    assert r["passed"] == (r["served_over_direct"] >= 0.8)


def test_serve_load_refuses_unbounded_loads():
    bench = load_script("serve_load")
    with pytest.raises(SystemExit):
        bench.parse_args(["--clients", "65"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--max-seconds", "0"])
