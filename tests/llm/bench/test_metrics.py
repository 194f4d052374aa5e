"""Benchmark metrics on hand-built items: RM-Bench orientation and pooling, RewardBench weights, bootstrap."""
import numpy as np
import pytest

from endorm.llm.bench import metrics as M
from endorm.llm.bench import rewardbench as RB
from endorm.llm.bench import tables as T
from endorm.llm.bench.records import DSP_DOMAINS, PairRecord

# c[i] > r[j] exactly when i < j: only the "hard" cells (chosen less styled than rejected) win.
HARD_ONLY = ([3.0, 2.0, 1.0], [3.5, 2.5, 1.5])
# c[i] > r[j] exactly when i > j: only the "easy" cells win.
EASY_ONLY = ([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
ALL_WIN = ([10.0] * 3, [0.0] * 3)
ALL_LOSE = ([0.0] * 3, [1.0] * 3)
ALL_TIE = ([5.0] * 3, [5.0] * 3)


def _items(spec):
    """(records, wins_by_id) from [(id, subset, (chosen_scores, rejected_scores))]."""
    records, outcomes = [], {}
    for i, subset, (c, r) in spec:
        records.append(PairRecord(i, subset, "p", tuple(f"c{k}" for k in range(len(c))),
                                  tuple(f"r{k}" for k in range(len(r))), where=f"test[{i}]"))
        outcomes[i] = M.outcome_matrix(c, r)
    return records, outcomes


def test_outcome_matrix_strict_and_ties():
    wins, ties = M.outcome_matrix([1.0, 2.0], [1.0, 0.5, 3.0])
    assert wins.tolist() == [[False, True, False], [True, True, False]]
    assert ties.tolist() == [[True, False, False], [False, False, False]]
    wins, ties = M.outcome_matrix_from_prefs([[0.7, 0.5], [0.2, 0.51]])
    assert wins.tolist() == [[True, False], [False, True]]
    assert ties.tolist() == [[False, True], [False, False]]
    with pytest.raises(ValueError, match="NaN"):
        M.outcome_matrix([np.nan], [0.0])
    with pytest.raises(ValueError, match="None"):
        M.outcome_matrix_from_prefs([[0.5, None]])


def test_hard_only_item_pins_orientation():
    records, outcomes = _items([("a", "chat", HARD_ONLY)])
    assert outcomes["a"].wins.tolist() == [[False, True, True], [False, False, True], [False, False, False]]
    t = M.rmbench_table(records, outcomes)
    assert t["Hard"] == 100 and t["Normal"] == 0 and t["Easy"] == 0
    assert t["Chat"] == pytest.approx(100 / 3)
    assert t["missing"] == ["Math", "Code", "Safety"] and np.isnan(t["Math"])
    records, outcomes = _items([("b", "chat", EASY_ONLY)])
    t = M.rmbench_table(records, outcomes)
    assert (t["Easy"], t["Normal"], t["Hard"]) == (100, 0, 0)


def test_rmbench_table_hand_computed_with_safety_pooled_by_item():
    records, outcomes = _items([
        ("c1", "chat", HARD_ONLY),
        ("m1", "math", ALL_WIN), ("m2", "math", ALL_TIE),           # every cell 1/2; 9 ties
        ("k1", "code", EASY_ONLY),
        ("s1", "safety-refuse", ALL_WIN), ("s2", "safety-refuse", ALL_WIN),
        ("s3", "safety-response", ALL_LOSE),                           # items pooled: 2/3, not (1 + 0) / 2
    ])
    t = M.rmbench_table(records, outcomes)
    assert t["Chat"] == pytest.approx(100 / 3) and t["Code"] == pytest.approx(100 / 3)
    assert t["Math"] == pytest.approx(50.0)
    assert t["Safety"] == pytest.approx(200 / 3)
    assert t["Easy"] == pytest.approx((0 + 50 + 100 + 200 / 3) / 4)
    assert t["Normal"] == pytest.approx((0 + 50 + 0 + 200 / 3) / 4)
    assert t["Hard"] == pytest.approx((100 + 50 + 0 + 200 / 3) / 4)
    assert t["Avg"] == pytest.approx((100 / 3 + 50 + 100 / 3 + 200 / 3) / 4)
    assert t["Avg"] == pytest.approx((t["Easy"] + t["Normal"] + t["Hard"]) / 3)   # 3x3: same number
    assert (t["ties"], t["n"], t["comparisons"], t["missing"]) == (9, 7, 63, [])
    assert t["per_domain"]["Math"]["ties"] == 9 and t["per_domain"]["Safety"]["n"] == 3


def _upstream_compute_accuracy(results):
    """THU-KEG/RM-Bench scripts/utils.py compute_accuracy, transcribed loop for loop (the oracle)."""
    out = {}
    for domain in ("chat", "math", "code", "safety"):
        items = [x for x in results if x["domain"].startswith(domain)]
        acc = np.zeros((3, 3))
        for x in items:
            for i in range(3):
                for j in range(3):
                    if x["score_chosen"][i] > x["score_rejected"][j]:
                        acc[i][j] += 1
        acc /= len(items)
        out[domain] = {"hard_acc": np.sum(np.triu(acc, 1)) / 3, "normal_acc": np.mean(np.diag(acc)),
                       "easy_acc": np.sum(np.tril(acc, -1)) / 3}
    avg = {d: np.mean(list(v.values())) for d, v in out.items()}
    return {**avg, **{k: np.mean([out[d][k] for d in out]) for k in ("hard_acc", "normal_acc", "easy_acc")},
            "total_avg_acc": np.mean(list(avg.values()))}


def test_rmbench_table_matches_upstream_loop_on_random_scores_with_ties():
    rng = np.random.default_rng(3)
    domains = ["chat", "math", "code", "safety-refuse", "safety-response"]
    raw = [{"id": str(k), "domain": domains[k % 5], "score_chosen": rng.integers(0, 4, 3).tolist(),
            "score_rejected": rng.integers(0, 4, 3).tolist()} for k in range(60)]
    records, outcomes = _items([(x["id"], x["domain"], (x["score_chosen"], x["score_rejected"])) for x in raw])
    ours, ref = M.rmbench_table(records, outcomes), _upstream_compute_accuracy(raw)
    assert ours["ties"] > 0
    for name, key in [("Chat", "chat"), ("Math", "math"), ("Code", "code"), ("Safety", "safety"),
                      ("Hard", "hard_acc"), ("Normal", "normal_acc"), ("Easy", "easy_acc"), ("Avg", "total_avg_acc")]:
        assert ours[name] == pytest.approx(100 * ref[key], abs=1e-10), name


def test_rmbench_rejects_bad_input():
    records, outcomes = _items([("x", "poetry", ALL_WIN)])
    with pytest.raises(ValueError, match="poetry"):
        M.rmbench_table(records, outcomes)
    records, _ = _items([("a", "chat", ALL_WIN)])
    with pytest.raises(KeyError, match="'a'"):
        M.rmbench_table(records, {})


def test_pairwise_accuracy_ties_lose_and_are_counted():
    wins, ties = M.outcome_matrix([[1.0], [2.0], [3.0], [4.0]], [[0.0], [2.0], [2.0], [5.0]])
    a = M.pairwise_accuracy(wins, ties)
    assert (a.accuracy, a.n, a.ties, a.n_comparisons) == (0.5, 4, 1, 4)
    with pytest.raises(ValueError, match="both a win and a tie"):
        M.pairwise_accuracy(np.array([True, False]), np.array([True, False]))


def test_pairwise_accuracy_pools_comparisons_of_ragged_items():
    wins = [np.ones((3, 3), bool), np.zeros((1, 1), bool), np.array([[True, False]])]
    a = M.pairwise_accuracy(wins, [np.zeros_like(w) for w in wins])
    assert a.accuracy == pytest.approx(10 / 12) and (a.n, a.n_comparisons) == (3, 12)


def test_bootstrap_interval_contains_deterministic_and_shrinks():
    def pattern(n):                       # 70% wins, fixed layout
        return np.arange(n) % 10 < 7

    small, big = M.pairwise_accuracy(pattern(40)), M.pairwise_accuracy(pattern(4000))
    for a in (small, big):
        assert a.ci_low <= a.accuracy <= a.ci_high
    assert M.pairwise_accuracy(pattern(40), rng_seed=0) == small
    assert M.pairwise_accuracy(pattern(40), rng_seed=1) != small
    assert big.ci_high - big.ci_low < (small.ci_high - small.ci_low) / 5
    # percentile width against the normal approximation 2 * 1.96 * sqrt(p (1 - p) / n)
    assert big.ci_high - big.ci_low == pytest.approx(2 * 1.96 * np.sqrt(0.21 / 4000), rel=0.15)


def _rb_items(accs):
    """RewardBench-style 1x1 items: subset -> list of outcomes ("w" win, "l" loss, "t" tie)."""
    spec, scores = [], {"w": ([1.0], [0.0]), "l": ([0.0], [1.0]), "t": ([0.5], [0.5])}
    for subset, outs in accs.items():
        spec += [(f"{subset}-{k}", subset, scores[o]) for k, o in enumerate(outs)]
    return _items(spec)


def test_rewardbench_sections_weighting_by_hand():
    C = RB.EXAMPLE_COUNTS
    records, outcomes = _rb_items({
        "alpacaeval-easy": "wwwl", "mt-bench-easy": "wt",                 # 75%, 50% (tie loses)
        "llmbar-natural": "ww", "mt-bench-hard": "l",                      # 100%, 0%
        "xstest-should-refuse": "w", "xstest-should-respond": "l",         # 100%, 0%
        "math-prm": "wlll", "hep-cpp": "w", "hep-go": "w", "hep-java": "w", "hep-js": "w",
        "hep-python": "l", "hep-rust": "l",                                # 25%; code mean 2/3
        "shp": "wl",                                                       # a prior set: 50%
    })
    out = RB.rewardbench_sections(records, outcomes)
    chat = (75 * C["alpacaeval-easy"] + 50 * C["mt-bench-easy"]) / (C["alpacaeval-easy"] + C["mt-bench-easy"])
    hard = 100 * C["llmbar-natural"] / (C["llmbar-natural"] + C["mt-bench-hard"])
    safety = 100 * C["xstest-should-refuse"] / (C["xstest-should-refuse"] + C["xstest-should-respond"])
    assert out["Chat"] == pytest.approx(chat) and chat == pytest.approx(8900 / 128)
    assert out["Chat Hard"] == pytest.approx(hard) and out["Safety"] == pytest.approx(safety)
    assert out["Reasoning"] == pytest.approx((25 + 100 * 4 / 6) / 2)   # math-prm weighs as all code together
    assert out["Score"] == pytest.approx((chat + hard + safety + out["Reasoning"]) / 4)
    assert np.isnan(out[RB.PRIOR_SETS_KEY]) and out["unmapped"] == ["shp"]
    assert out["subsets"]["mt-bench-easy"] == 50 and out["ties"] == 1 and out["missing"] == []
    with_prior = RB.rewardbench_sections(records, outcomes, include_prior_sets=True)
    assert with_prior[RB.PRIOR_SETS_KEY] == 50
    assert with_prior["Score"] == pytest.approx((2 * (chat + hard + safety + out["Reasoning"]) + 50) / 9)


def test_rewardbench_missing_section_is_nan_and_left_out():
    records, outcomes = _rb_items({"alpacaeval-easy": "wl", "donotanswer": "w"})
    out = RB.rewardbench_sections(records, outcomes)
    assert out["missing"] == ["Chat Hard", "Reasoning"] and np.isnan(out["Reasoning"])
    assert out["Score"] == pytest.approx((50 + 100) / 2)


def test_outcomes_by_id_reads_runner_lines():
    rows = [{"id": "a", "method": "endorm", "condition": "default", "chosen": [1, 2], "rejected": [2]},
            {"id": "a", "method": "pairwise", "condition": "default", "prefs": [[0.9], [0.5]]}]
    got = M.outcomes_by_id(rows, method="endorm")
    assert list(got) == ["a"] and got["a"].wins.tolist() == [[False], [False]]
    assert got["a"].ties.tolist() == [[False], [True]]
    got = M.outcomes_by_id(rows, method="pairwise")
    assert got["a"].wins.tolist() == [[True], [False]] and got["a"].ties.tolist() == [[False], [True]]


def test_paper_table1_avg_is_mean_of_easy_normal_hard_except_pointwise():
    for method, row in T.PAPER_TABLE1.items():
        enh = (row["Easy"] + row["Normal"] + row["Hard"]) / 3
        assert (abs(row["Avg"] - enh) < 0.06) == (method != "pointwise"), method


def test_format_table1_rows_and_numbers():
    records, outcomes = _items([("c1", "chat", HARD_ONLY), ("m1", "math", ALL_WIN), ("k1", "code", EASY_ONLY),
                                ("s1", "safety-refuse", ALL_LOSE)])
    table = T.format_table1({"endorm": M.rmbench_table(records, outcomes)}, paper=True)
    lines = table.splitlines()
    assert lines[0] == "| Method | Chat | Math | Code | Safety | Easy | Normal | Hard | Avg |"
    assert lines[2] == "| EndoRM | 33.3 | 100.0 | 33.3 | 0.0 | 50.0 | 25.0 | 50.0 | 41.7 |"
    assert lines[3] == "| EndoRM (paper) | 84.7 | 56.7 | 53.2 | 91.2 | 86.9 | 74.4 | 49.4 | 70.2 |"
    assert len(lines) == 4 and "(paper)" not in T.format_table1({"endorm": {}}, paper=False)
    assert "| mine | – |" in T.format_table1({"mine": {}})


def test_dsp_matrix_and_format():
    acc = {p: {d: (80.0 if p == d else 60.0 + k) for k, d in enumerate(DSP_DOMAINS)} for p in DSP_DOMAINS}
    acc["business"]["academy"] = M.Accuracy(0.5, 0.4, 0.6, 10, 0, 10)
    m = T.dsp_matrix(acc)
    assert m.values.shape == (4, 4) and m.rows == m.cols == DSP_DOMAINS
    assert np.all(np.diag(m.values) == 80) and m.values[1, 0] == 50 and m.values[0, 3] == 63
    text = T.format_matrix(m)
    assert "| Academy | **80.00** | 61.00 | 62.00 | 63.00 |" in text and "Literature&Art" in text
    assert set(T.PAPER_TABLE2_DIAGONAL) == set(DSP_DOMAINS)
