"""Benchmark loaders on tiny hand-written files: exact records, detection, pair construction, errors."""
import json
import sys

import pytest

from endorm.llm.bench.loaders import FORMATS, LoadResult, load_records
from endorm.llm.bench.records import DSP_RESPONSE_KEYS as DSP_DOMAINS
from endorm.llm.bench.records import PairRecord

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:  # only the parquet tests need it
    pa = pq = None
needs_pyarrow = pytest.mark.skipif(pa is None, reason="pyarrow is not installed: parquet files cannot be written or read")


def write_json(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def write_jsonl(path, lines):
    """``lines``: objects (dumped) or raw strings (written as is, for blank and broken lines)."""
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def write_parquet(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


RM = [
    {"id": 7, "prompt": "p0", "chosen": ["c0", "c1", "c2"], "rejected": ["r0", "r1", "r2"], "domain": "chat"},
    {"id": "s-1", "prompt": "p1", "chosen": ["a"], "rejected": ["b"], "domain": "safety-refuse"},
]
RM_EXPECTED = [
    PairRecord("7", "chat", "p0", ("c0", "c1", "c2"), ("r0", "r1", "r2"), None, "rm.json[0]"),
    PairRecord("s-1", "safety-refuse", "p1", ("a",), ("b",), None, "rm.json[1]"),
]
RB = [
    {"prompt": "q0", "chosen": "good", "chosen_model": "m1", "rejected": "bad", "rejected_model": "m2",
     "subset": "alpacaeval-easy", "id": 30},
    {"prompt": "q1", "chosen": "yes", "chosen_model": "human", "rejected": "no", "rejected_model": None,
     "subset": "hep-python", "id": 31},
]
DSP_ITEM = {d: f"{d[:3]}{{}}" for d in DSP_DOMAINS}  # "aca{}" etc., filled per query


def dsp_rows(n=2):
    return [{"query": f"q{i}", "responses": {d: t.format(i) for d, t in DSP_ITEM.items()}} for i in range(n)]


# ---------------------------------------------------------------------- each format, exact records
def test_rm_bench_json_exact(tmp_path):
    res = load_records(write_json(tmp_path / "rm.json", RM))
    assert isinstance(res, LoadResult)
    assert (res.format, res.skipped, res.unpaired) == ("rm-bench", [], 0)
    assert res.records == RM_EXPECTED
    assert [r.where for r in res.records] == ["rm.json[0]", "rm.json[1]"]


def test_rewardbench_jsonl_exact_and_models_in_extra(tmp_path):
    res = load_records(write_jsonl(tmp_path / "rb.jsonl", RB))
    assert res.format == "rewardbench"
    assert res.records == [
        PairRecord("30", "alpacaeval-easy", "q0", ("good",), ("bad",), None, "rb.jsonl:1"),
        PairRecord("31", "hep-python", "q1", ("yes",), ("no",), None, "rb.jsonl:2"),
    ]
    assert [r.extra for r in res.records] == [{"chosen_model": "m1", "rejected_model": "m2"},
                                              {"chosen_model": "human", "rejected_model": None}]


def test_pairs_jsonl_defaults_use_line_numbers(tmp_path):
    lines = [
        {"prompt": "p", "chosen": "c", "rejected": ["r1", "r2"]},
        "",
        "   ",
        {"prompt": "p2", "chosen": ["c1", "c2"], "rejected": "r", "id": "x", "subset": "s", "system": "be brief"},
        {"prompt": "p3", "chosen": "c", "rejected": "r", "subset": None, "system": None},
    ]
    res = load_records(write_jsonl(tmp_path / "pairs.jsonl", lines))
    assert res.format == "pairs"
    assert res.records == [
        PairRecord("1", "all", "p", ("c",), ("r1", "r2"), None, "pairs.jsonl:1"),
        PairRecord("x", "s", "p2", ("c1", "c2"), ("r",), "be brief", "pairs.jsonl:4"),
        PairRecord("5", "all", "p3", ("c",), ("r",), None, "pairs.jsonl:5"),
    ]


@pytest.mark.parametrize("wrapper", [lambda rows: {"data": rows, "meta": [1]}, lambda rows: {"version": 2, "rows": rows}])
def test_json_object_holding_the_list(tmp_path, wrapper):
    rows = [{"prompt": "p", "chosen": "c", "rejected": "r"}, {"prompt": "q", "chosen": "d", "rejected": "s"}]
    res = load_records(write_json(tmp_path / "w.json", wrapper(rows)))
    assert [(r.id, r.prompt, r.where) for r in res.records] == [("0", "p", "w.json[0]"), ("1", "q", "w.json[1]")]


def test_json_object_with_ambiguous_lists_raises(tmp_path):
    with pytest.raises(ValueError, match=r"w\.json: .*'a', 'b'"):
        load_records(write_json(tmp_path / "w.json", {"a": [], "b": []}))
    with pytest.raises(ValueError, match=r"w2\.json: expected a JSON list of records, got int"):
        load_records(write_json(tmp_path / "w2.json", 3))


def test_dsp_four_pairs_per_query_and_domain(tmp_path):
    res = load_records(write_json(tmp_path / "dsp.json", dsp_rows(2)))
    assert res.format == "dsp"
    assert [r.id for r in res.records] == ["0-academy", "0-business", "0-entertainment", "0-literature",
                                           "1-academy", "1-business", "1-entertainment", "1-literature"]
    bus1 = res.records[5]
    assert bus1 == PairRecord("1-business", "business", "q1", ("bus1",), ("aca1", "ent1", "lit1", "nor1"), None, "dsp.json[1]")
    assert bus1.extra == {"rejected_domains": ("academy", "entertainment", "literature", "normal")}
    for r in res.records:
        assert r.subset == r.id.split("-")[1] and r.system is None
        assert len(r.chosen) == 1 and len(r.rejected) == 4 and r.chosen[0] not in r.rejected
        assert len(r.chosen) * len(r.rejected) == 4


def test_dsp_domain_selection(tmp_path):
    path = write_json(tmp_path / "dsp.json", dsp_rows(1))
    res = load_records(path, dsp_domains=["literature", "normal"])
    assert [(r.id, r.chosen, r.rejected) for r in res.records] == [
        ("0-literature", ("lit0",), ("aca0", "bus0", "ent0", "nor0")),
        ("0-normal", ("nor0",), ("aca0", "bus0", "ent0", "lit0")),
    ]
    for bad in (["law"], [], ["academy", "academy"], "academy"):
        with pytest.raises(ValueError, match="dsp_domains must be a non-empty subset"):
            load_records(path, dsp_domains=bad)


# ---------------------------------------------------------------------- Multifaceted pair construction
MF = [  # prompt A: three systems; prompt B: one row; prompt C: two rows with the same system
    {"source": "mix", "system": "sA1", "prompt": "A", "reference_answer": "ansA1", "rubric": "ruA1"},
    {"source": "mix", "system": "sB", "prompt": "B", "reference_answer": "ansB", "rubric": "ruB"},
    {"source": "alpaca", "system": "sA2", "prompt": "A", "reference_answer": "ansA2", "rubric": "ruA2"},
    {"source": "mix", "system": "sC", "prompt": "C", "reference_answer": "ansC1", "rubric": None},
    {"source": "mix", "system": "sC", "prompt": "C", "reference_answer": "ansC2", "rubric": None},
    {"source": "mix", "system": "sA3", "prompt": "A", "reference_answer": "ansA3", "rubric": "ruA3"},
]


def test_multifaceted_other_system_pairs(tmp_path):
    res = load_records(write_jsonl(tmp_path / "mf.jsonl", MF))
    assert (res.format, res.unpaired, res.skipped) == ("multifaceted", 2, [])  # prompts B and C
    assert res.records == [
        PairRecord("1", "mix", "A", ("ansA1",), ("ansA2", "ansA3"), "sA1", "mf.jsonl:1"),
        PairRecord("3", "alpaca", "A", ("ansA2",), ("ansA1", "ansA3"), "sA2", "mf.jsonl:3"),
        PairRecord("6", "mix", "A", ("ansA3",), ("ansA1", "ansA2"), "sA3", "mf.jsonl:6"),
    ]
    assert res.records[1].extra == {"rubric": "ruA2", "rejected_from": ("mf.jsonl:1", "mf.jsonl:6")}


def test_multifaceted_two_prompts_rubrics_key_and_shared_system(tmp_path):
    rows = [  # prompt P: systems x, x, y -> the two x rows reject only y's answer, y rejects both
        {"source": "s", "system": "x", "prompt": "P", "reference_answer": "a1", "rubrics": ["r"]},
        {"source": "s", "system": "x", "prompt": "P", "reference_answer": "a2", "rubrics": ["r"]},
        {"source": "s", "system": "y", "prompt": "P", "reference_answer": "b", "rubrics": ["r"]},
        {"source": "t", "system": "x", "prompt": "Q", "reference_answer": "q1", "rubrics": []},
        {"source": "t", "system": "z", "prompt": "Q", "reference_answer": "q2", "rubrics": []},
    ]
    res = load_records(write_json(tmp_path / "mf.json", rows))
    assert res.unpaired == 0
    assert [(r.id, r.subset, r.system, r.chosen, r.rejected) for r in res.records] == [
        ("0", "s", "x", ("a1",), ("b",)), ("1", "s", "x", ("a2",), ("b",)), ("2", "s", "y", ("b",), ("a1", "a2")),
        ("3", "t", "x", ("q1",), ("q2",)), ("4", "t", "z", ("q2",), ("q1",)),
    ]
    assert res.records[0].extra["rubric"] == ["r"]
    with pytest.raises(ValueError, match="multifaceted_pairs must be one of"):
        load_records(tmp_path / "mf.json", multifaceted_pairs="random")


# ---------------------------------------------------------------------- detection
@pytest.mark.parametrize("fmt,row", [
    ("rm-bench", RM[0]), ("rewardbench", RB[0]), ("multifaceted", MF[0]), ("dsp", dsp_rows(1)[0]),
    ("pairs", {"prompt": "p", "chosen": "c", "rejected": "r"}),
])
def test_detection_of_every_format(tmp_path, fmt, row):
    assert load_records(write_jsonl(tmp_path / "d.jsonl", ["not json", row]), skip_invalid=True).format == fmt


def test_detection_failure_lists_formats(tmp_path):
    with pytest.raises(ValueError, match=r"u\.jsonl:1: cannot detect the format from keys \['answer', 'question'\]") as e:
        load_records(write_jsonl(tmp_path / "u.jsonl", [{"question": "q", "answer": "a"}]))
    assert all(f in str(e.value) for f in FORMATS)
    with pytest.raises(ValueError, match=r"e\.jsonl: no JSON object to detect the format from"):
        load_records(write_jsonl(tmp_path / "e.jsonl", [""]))
    assert load_records(tmp_path / "e.jsonl", format="pairs").records == []


def test_explicit_format_overrides_detection(tmp_path):
    res = load_records(write_json(tmp_path / "rm.json", RM), format="pairs")
    assert res.format == "pairs"
    assert [(r.id, r.subset, r.chosen) for r in res.records] == [("7", "all", ("c0", "c1", "c2")), ("s-1", "all", ("a",))]
    with pytest.raises(ValueError, match="format must be one of"):
        load_records(tmp_path / "rm.json", format="rmbench")


# ---------------------------------------------------------------------- bad input
BAD = [  # (format, bad record, message)
    ("pairs", {"prompt": "p", "rejected": "r"}, "missing key 'chosen'"),
    ("pairs", {"prompt": "p", "chosen": "c", "rejected": 3}, "'rejected' must be a str or list of str, got int"),
    ("pairs", {"prompt": "p", "chosen": [], "rejected": "r"}, "'chosen' must be a non-empty list of str, got an empty list"),
    ("pairs", {"prompt": "p", "chosen": ["c", None], "rejected": "r"}, "'chosen'[1] must be a str, got None"),
    ("pairs", {"prompt": 5, "chosen": "c", "rejected": "r"}, "'prompt' must be a str, got int"),
    ("pairs", {"prompt": "p", "chosen": "c", "rejected": "r", "id": 1.5}, "'id' must be a str or int, got float"),
    ("pairs", ["p", "c", "r"], "record must be a JSON object, got list"),
    ("rm-bench", {"id": 1, "prompt": "p", "chosen": "c", "rejected": ["r"], "domain": "chat"},
     "'chosen' must be a list of str, got str"),
    ("rm-bench", {"id": 1, "prompt": "p", "chosen": ["a", "b"], "rejected": ["r"], "domain": "chat"},
     "'chosen' and 'rejected' must have equal lengths, got 2 and 1"),
    ("rm-bench", {"prompt": "p", "chosen": ["a"], "rejected": ["r"], "domain": "chat"}, "missing key 'id'"),
    ("rewardbench", dict(RB[0], chosen=["good"]), "'chosen' must be a str, got list"),
    ("rewardbench", dict(RB[0], chosen_model=3), "'chosen_model' must be a str or null, got int"),
    ("dsp", {"query": "q", "responses": ["a"]}, "'responses' must be an object, got list"),
    ("dsp", {"query": "q", "responses": {d: "x" for d in DSP_DOMAINS[:4]}}, "in 'responses': missing key 'normal'"),
    ("multifaceted", dict(MF[0], system=None), "'system' must be a str, got None"),
    ("multifaceted", {k: v for k, v in MF[0].items() if k != "reference_answer"}, "missing key 'reference_answer'"),
]
GOOD = {"pairs": {"prompt": "p", "chosen": "c", "rejected": "r"}, "rm-bench": RM[1], "rewardbench": RB[1],
        "dsp": dsp_rows(1)[0], "multifaceted": MF[0]}


@pytest.mark.parametrize("fmt,bad,msg", BAD)
def test_bad_record_jsonl_names_line(tmp_path, fmt, bad, msg):
    path = write_jsonl(tmp_path / "b.jsonl", [GOOD[fmt], "", bad])
    with pytest.raises(ValueError) as e:
        load_records(path, format=fmt)
    assert str(e.value) == f"b.jsonl:3: {msg}"


@pytest.mark.parametrize("fmt,bad,msg", BAD[:3] + BAD[7:9])
def test_bad_record_json_names_index(tmp_path, fmt, bad, msg):
    with pytest.raises(ValueError) as e:
        load_records(write_json(tmp_path / "b.json", [GOOD[fmt], GOOD[fmt], bad]), format=fmt)
    assert str(e.value) == f"b.json[2]: {msg}"


def test_invalid_json_line_and_invalid_json_file(tmp_path):
    with pytest.raises(ValueError, match=r"^j\.jsonl:2: invalid JSON: "):
        load_records(write_jsonl(tmp_path / "j.jsonl", [GOOD["pairs"], '{"prompt": "p",']))
    with pytest.raises(ValueError) as e:  # a JSONL file named .json: the whole file is invalid
        load_records(write_jsonl(tmp_path / "j.json", [GOOD["pairs"], GOOD["pairs"]]))
    assert str(e.value) == "j.json: invalid JSON at line 2: Extra data (one object per line? name the file .jsonl)"


def test_skip_invalid_reports_each_skipped_record(tmp_path):
    lines = [GOOD["pairs"], "{oops", {"prompt": "p"}, "", dict(GOOD["pairs"], id="z"), 17]
    path = write_jsonl(tmp_path / "s.jsonl", lines)
    res = load_records(path, skip_invalid=True)
    assert [r.id for r in res.records] == ["1", "z"]
    assert len(res.skipped) == 3
    assert res.skipped[0].startswith("s.jsonl:2: invalid JSON: ")
    assert res.skipped[1:] == ["s.jsonl:3: missing key 'chosen'", "s.jsonl:6: record must be a JSON object, got int"]
    with pytest.raises(ValueError, match=r"^s\.jsonl:2: invalid JSON"):
        load_records(path)


def test_skip_invalid_multifaceted_drops_row_before_pairing(tmp_path):
    rows = MF[:3] + [dict(MF[5], reference_answer=None)]
    res = load_records(write_jsonl(tmp_path / "mf.jsonl", rows), skip_invalid=True)
    assert res.skipped == ["mf.jsonl:4: 'reference_answer' must be a str, got None"]
    assert [(r.id, r.rejected) for r in res.records] == [("1", ("ansA2",)), ("3", ("ansA1",))]
    assert res.unpaired == 1


def test_duplicate_ids_name_both_locations(tmp_path):
    rows = [RM[0], RM[1], dict(RM[1], prompt="other")]
    with pytest.raises(ValueError, match=r"^duplicate id 's-1' at dup\.json\[1\] and dup\.json\[2\]$"):
        load_records(write_json(tmp_path / "dup.json", rows))
    with pytest.raises(ValueError, match=r"duplicate id '3' at dup\.jsonl:1 and dup\.jsonl:3"):  # explicit id meets default
        load_records(write_jsonl(tmp_path / "dup.jsonl", [dict(GOOD["pairs"], id=3), GOOD["pairs"], GOOD["pairs"]]),
                     skip_invalid=True)


def test_missing_file_and_unknown_extension(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_records(missing)
    (tmp_path / "data.csv").write_text("prompt,chosen,rejected\n")
    with pytest.raises(ValueError, match=r"data\.csv: unknown extension '\.csv'"):
        load_records(tmp_path / "data.csv")


# ---------------------------------------------------------------------- parquet
@needs_pyarrow
def test_parquet_rm_bench_and_dsp(tmp_path):
    res = load_records(write_parquet(tmp_path / "rm.parquet", [dict(r, id=str(r["id"])) for r in RM]))
    assert res.format == "rm-bench"
    assert res.records == [PairRecord(r.id, r.subset, r.prompt, r.chosen, r.rejected, None, f"rm.parquet row {i}")
                           for i, r in enumerate(RM_EXPECTED)]
    res = load_records(write_parquet(tmp_path / "dsp.parquet", dsp_rows(2)), dsp_domains=["academy"])
    assert [(r.id, r.chosen, r.rejected, r.where) for r in res.records] == [
        ("0-academy", ("aca0",), ("bus0", "ent0", "lit0", "nor0"), "dsp.parquet row 0"),
        ("1-academy", ("aca1",), ("bus1", "ent1", "lit1", "nor1"), "dsp.parquet row 1"),
    ]


@needs_pyarrow
def test_parquet_multifaceted_and_bad_row(tmp_path):
    res = load_records(write_parquet(tmp_path / "mf.parquet", MF))
    assert (res.format, res.unpaired) == ("multifaceted", 2)
    assert [(r.id, r.rejected, r.where) for r in res.records] == [
        ("0", ("ansA2", "ansA3"), "mf.parquet row 0"), ("2", ("ansA1", "ansA3"), "mf.parquet row 2"),
        ("5", ("ansA1", "ansA2"), "mf.parquet row 5")]
    rows = [RB[0], dict(RB[1], chosen=None)]
    with pytest.raises(ValueError) as e:
        load_records(write_parquet(tmp_path / "rb.parquet", rows))
    assert str(e.value) == "rb.parquet row 1: 'chosen' must be a str, got None"


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"x\.parquet needs pyarrow: pip install pyarrow"):
        load_records(tmp_path / "x.parquet")
