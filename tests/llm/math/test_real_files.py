"""``load_problems`` on the real benchmark files in ../shared/data (skipped where they are absent).

The golds named here were read off the files by hand: MATH-500 (BiRM's copy: ``question`` and a
whole worked solution in ``answer``), and Qwen2.5-Math's aime24, amc23, minerva_math and
olympiadbench ``test.jsonl``.
"""
import json
import random
import re

import pytest

from helpers import shared_path
from endorm.llm.math import data as D

FILES = {  # file under shared/data: (format detected, records)
    "math500/test.jsonl": ("math500", 500),
    "qwen25-math-eval/aime24/test.jsonl": ("aime24", 30),
    "qwen25-math-eval/amc23/test.jsonl": ("amc", 40),
    "qwen25-math-eval/minerva_math/test.jsonl": ("minerva", 272),
    "qwen25-math-eval/olympiadbench/test.jsonl": ("olympiadbench", 675),
}

GOLDS = {  # file: {id: (gold, unit)}; MATH-500 has no id key: its ids are line numbers
    "math500/test.jsonl": {
        "1": (r"\left( 3, \frac{\pi}{2} \right)", ""), "2": ("p - q", ""), "5": (r"\text{Evelyn}", ""),
        "8": (r"90^\circ", ""), "243": (r"\$32,\!348", ""),
        "452": (r"\frac{639}{40}", ""),  # two boxes, 15\frac{39}{40} then \frac{639}{40}: the last one
    },
    "qwen25-math-eval/aime24/test.jsonl": {"60": ("204", ""), "67": ("025", ""), "89": ("902", "")},
    "qwen25-math-eval/amc23/test.jsonl": {"0": ("27", ""), "3": ("3159", ""), "17": ("-1", "")},  # 27.0 etc.
    "qwen25-math-eval/minerva_math/test.jsonl": {
        "0": ("1.6", ""), "1": (r"4.5 \times 10^{33}", ""),  # \boxed{4.5e33}: math-verify reads e as Euler's
        "72": (r"x_{0} \cos (\omega t)+ \dot{x}_{0} \sin (\omega t) / \omega", ""),  # a stray "$ $" in the box
    },
    "qwen25-math-eval/olympiadbench/test.jsonl": {
        "1606": ("2", ""), "1664": ("69,84", ""),  # ["$69$,$84$"], is_multiple_answer
        "1970": (r"(-\infty, 0) \cup\{1\}", ""),  # ["$(-\\infty, 0) \\cup\\{1\\}$."]: the full stop dropped
        "2349": ("221,8", ""),  # ["$221,$8$"]: m = 221, n = 8
        "2253": ("45", "minute"), "2419": ("166", "cm^2"), "2426": (r"\frac{600}{7}", "km/h"),
    },
}


def _load(name):
    return D.load_problems(shared_path("data", *name.split("/")))


@pytest.mark.parametrize("name", sorted(FILES))
def test_real_file_format_count_and_named_golds(name):
    problems, fmt = _load(name)
    assert (fmt, len(problems)) == FILES[name]
    by_id = {p.id: p for p in problems}
    assert {i: (by_id[i].gold, by_id[i].unit) for i in GOLDS[name]} == GOLDS[name]
    for p in problems:
        assert p.gold.strip() and p.problem.strip(), p.where
        assert not re.search(r"\\(boxed|fbox)|(?<!\\)\$", p.gold), (p.where, p.gold)


def test_math500_gold_is_the_last_box_not_the_solution():
    problems, _ = _load("math500/test.jsonl")
    rows = [json.loads(line) for line in shared_path("data", "math500", "test.jsonl").read_text().splitlines()]
    assert len(rows) == len(problems) == 500
    for p, row in zip(problems, rows):
        assert p.problem == row["question"] and p.gold != row["answer"] and len(p.gold) < len(row["answer"])
        # BiRM's solutions end with "The answer is: <gold>": an independent copy of the gold
        assert row["answer"].rsplit("The answer is:", 1)[1].strip() == p.gold, p.where


def test_olympiadbench_units_stay_out_of_the_gold():
    problems, _ = _load("qwen25-math-eval/olympiadbench/test.jsonl")
    rows = {str(r["id"]): r for r in map(json.loads, shared_path(
        "data", "qwen25-math-eval", "olympiadbench", "test.jsonl").read_text().splitlines())}
    with_unit = {p.id: p.unit for p in problems if p.unit}
    assert with_unit == {i: r["unit"].replace("$", "") for i, r in rows.items() if r["unit"]}
    assert len(with_unit) == 8 and all(p.unit not in p.gold for p in problems if p.unit and p.unit != "%")


def test_ambiguous_or_unknown_layout_is_an_error_naming_candidates_and_keys(tmp_path):
    (tmp_path / "bench").mkdir()
    path = tmp_path / "bench" / "test.jsonl"
    path.write_text(json.dumps({"id": 1, "problem": "P", "answer": "27", "url": "u"}) + "\n")
    with pytest.raises(ValueError) as e:
        D.load_problems(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith("; pass --format")
    assert "from keys ['answer', 'id', 'problem', 'url']: candidates aime24, amc, math500 (" in msg
    assert D.load_problems(path, "amc")[1] == "amc"  # --format settles it
    path.write_text(json.dumps({"prompt": "P", "chosen": "a", "rejected": "b"}) + "\n")
    with pytest.raises(ValueError, match=r"keys \['chosen', 'prompt', 'rejected'\]: candidates aime24, amc, "
                                         r"math500, minerva, olympiadbench \(none fits"):
        D.load_problems(path)


def _grade(gold, answer):
    from endorm.llm.math.grading import grade_one

    return grade_one(gold, answer, 30.0)  # a generous limit: a loaded machine must not fail this test


def test_every_gold_grades_as_equal_to_itself_boxed():
    pytest.importorskip("math_verify")
    rng = random.Random(0)
    for name, sample in [("math500/test.jsonl", None), ("qwen25-math-eval/aime24/test.jsonl", None),
                         ("qwen25-math-eval/amc23/test.jsonl", None),
                         ("qwen25-math-eval/minerva_math/test.jsonl", 60),
                         ("qwen25-math-eval/olympiadbench/test.jsonl", 60)]:
        problems, _ = _load(name)
        if sample is not None:
            problems = rng.sample(problems, sample)
        bad = [(p.where, p.gold, st) for p in problems for ok, st in [_grade(p.gold, f"\\boxed{{{p.gold}}}")] if not ok]
        assert not bad, bad


def test_real_golds_grade_answers_as_a_reader_would():
    pytest.importorskip("math_verify")
    m5, aime, minerva, olymp = ({p.id: p.gold for p in _load(name)[0]} for name in (
        "math500/test.jsonl", "qwen25-math-eval/aime24/test.jsonl", "qwen25-math-eval/minerva_math/test.jsonl",
        "qwen25-math-eval/olympiadbench/test.jsonl"))
    for gold, answer, want in [(m5["1"], r"(3, \frac{\pi}{2})", True), (m5["1"], r"(3, \pi)", False),
                               (m5["452"], r"\frac{639}{40}", True), (aime["67"], "25", True),
                               (aime["67"], "52", False), (minerva["1"], r"4.5 \times 10^{33}", True),
                               (minerva["1"], r"4.5 \times 10^{32}", False), (olymp["1664"], "84, 69", True),
                               (olymp["1664"], "69", False), (olymp["2253"], "45", True)]:
        assert _grade(gold, answer)[0] is want, (gold, answer)
