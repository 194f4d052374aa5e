"""Smoke test of benchmarks/bench_throughput.py at --quick size: the JSON's structure and the values that can be
checked (scores of every variant agree; the unique-token count equals a hand count)."""
from __future__ import annotations

import json
import math

import pytest
from helpers import load_script

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")

VARIANTS = ("limit", "endorm", "plain", "naive", "trl")


def _finite(x, positive=False) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and (x > 0 if positive else x >= 0)


def _hand_unique(items, per_prefix: int) -> int:
    """Whole texts minus the repeated prefixes: items come in runs of ``per_prefix`` sharing their prefix."""
    total = sum(e.end for e in items)
    repeats = sum(e.start for k, e in enumerate(items) if k % per_prefix)
    return total - repeats


def test_bench_throughput_quick(tmp_path, capsys):
    bench = load_script("bench_throughput")
    out = tmp_path / "sub" / "throughput.json"
    rc = bench.main(["--quick", "--repeat", "1", "--threads", "1", "--shapes", "rmbench,dsp", "--quiet",
                     "--json", str(out)])
    assert rc == 0  # no --strict: a missed goal at the quick size is not an error
    printed = capsys.readouterr().out
    assert ("PASS" in printed or "MISS" in printed) and "rmbench (8 items" in printed and "dsp (4 items" in printed
    assert out.exists() and not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    r = json.loads(out.read_text())

    c = r["config"]
    assert (c["layers"], c["hidden"], c["vocab_size"], c["repeat"], c["threads"], c["quick"], c["dtype"]) == \
        (2, 64, 1000, 1, 1, True, "float32")
    assert c["shapes"] == ["rmbench", "dsp"] and set(r["shapes"]) == {"rmbench", "dsp"}
    assert r["goals"] == {"endorm_over_limit_max": 1.05, "memory_endorm_over_limit_max": 1.1,
                          "score_max_abs_diff": 1e-4, "endorm_over_plain_max": 1.05}
    assert r["environment"]["trl"] and r["environment"]["torch"]

    # hand counts of the unique tokens, from the items as the script lays them out
    from endorm.llm.testing import build_tokenizer

    tok = build_tokenizer()
    items = {n: bench.encode_shape(tok, bench.build_shape(tok, n, bench.QUICK_SHAPES[n], 0)) for n in r["shapes"]}
    # rmbench: 2 prompts x 4 responses; dsp: 1 query x 2 systems x 2 responses -> 2 prefixes of 2 items each
    assert len(items["rmbench"]) == 8 and len(items["dsp"]) == 4
    expect = {"rmbench": (_hand_unique(items["rmbench"], 4), 2), "dsp": (_hand_unique(items["dsp"], 2), 2)}
    for name, s in r["shapes"].items():
        cfg = s["config"]
        assert (cfg["unique_tokens"], cfg["distinct_prefixes"]) == expect[name], name
        assert cfg["total_tokens"] == sum(e.end for e in items[name]) > cfg["unique_tokens"], name
        assert cfg["response_tokens_total"] == sum(e.end - e.start for e in items[name]), name

        v = s["variants"]
        for k in VARIANTS:
            m = v[k]
            assert _finite(m["median_s"], positive=True) and _finite(m["first_call_s"], positive=True), (name, k)
            assert len(m["runs_s"]) == 1 and m["median_s"] == m["best_s"] == m["runs_s"][0], (name, k)
            assert _finite(m["peak_mib"]) and m["peak_mib"] >= m["first_call_peak_mib"] >= 0, (name, k)
        k = s["ratios"]
        for other in ("limit", "naive", "trl", "plain"):
            paired = sorted(a / b for a, b in zip(v["endorm"]["runs_s"], v[other]["runs_s"]))
            assert k[f"endorm_over_{other}"] == pytest.approx(paired[len(paired) // 2])  # one round: its ratio
        assert k["endorm_over_limit_best"] == pytest.approx(v["endorm"]["best_s"] / v["limit"]["best_s"])
        assert s["passed"]["time"] == (k["endorm_over_limit"] <= 1.05)
        assert s["passed"]["not_slower_than_plain"] == (k["endorm_over_plain"] <= 1.05)
        # the work counts, by hand: the limit runs the unique tokens, naive every whole text, and endorm's
        # radix plan never runs more than the plain path's whole texts (nor, here, more than the limit)
        assert v["limit"]["forward_tokens"] == cfg["unique_tokens"]
        assert v["naive"]["forward_tokens"] == v["plain"]["forward_tokens"] == cfg["total_tokens"]
        assert v["endorm"]["forward_tokens"] <= cfg["unique_tokens"], name
        assert k["tokens_endorm_over_limit"] == pytest.approx(v["endorm"]["forward_tokens"] / cfg["unique_tokens"])

        # the scores of every variant agree with the naive path (recomputed here, not read from "agreement")
        naive = v["naive"]["scores"]
        assert len(naive) == cfg["items"] and v["limit"]["scores"] is None
        for other in ("endorm", "plain", "trl"):
            assert max(abs(a - b) for a, b in zip(v[other]["scores"], naive)) < 1e-4, (name, other)
        for other in ("endorm", "limit"):
            sums = v[other]["selected_sums"]
            assert max(abs(a - b) for a, b in zip(sums, v["naive"]["selected_sums"])) < 1e-4, (name, other)
        assert s["agreement"]["ok"] is True and s["agreement"]["checked"] is True


def test_unique_tokens_counts_each_prefix_once():
    bench = load_script("bench_throughput")
    from endorm.llm.templates import Encoded

    # prefixes [1, 2] (twice) and [1, 2, 3]: 2 + 3 prefix tokens, responses 2 + 1 + 4 tokens
    items = [Encoded([1, 2, 7, 8], 2, 4), Encoded([1, 2, 9], 2, 3), Encoded([1, 2, 3, 4, 5, 6, 7], 3, 7)]
    assert bench.unique_tokens(items) == 5 + 7
