"""Benchmark loaders on tiny hand-written files: exact records, detection, pair construction, errors."""
import json
import re
import sys

import pytest

from endorm.llm.bench.dialogue import parse_dialogue, split_dialogue
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
    ("pairs", {"prompt": 5, "chosen": "c", "rejected": "r"}, "'prompt' must be a str or a list of messages, got int"),
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


# ---------------------------------------------------------------------- RM-Bench domains, ambiguity
RM_GH = [  # RM-Bench as on GitHub: no domain key, the file's own subset
    {"id": 8, "subset": "alpacaeval", "prompt": "p0", "chosen": ["c0", "c1", "c2"], "rejected": ["r0", "r1", "r2"],
     "error_key": "shoes"},
    {"id": 12, "subset": "alpacaeval", "prompt": "p1", "chosen": ["d0", "d1", "d2"], "rejected": ["s0", "s1", "s2"]},
]


@pytest.mark.parametrize("name,domain", [("chat_filtered.json", "chat"), ("safety-refuse_filtered.json", "safety-refuse"),
                                         ("code.json", "code"), ("math.jsonl", "math"),
                                         ("safety-response_filtered.jsonl", "safety-response")])
def test_rm_bench_domain_from_the_file_name(tmp_path, name, domain):
    path = (write_jsonl if name.endswith("l") else write_json)(tmp_path / name, RM_GH)
    res = load_records(path)
    assert res.format == "rm-bench"
    assert [(r.id, r.subset, r.prompt, r.chosen, r.rejected, r.system) for r in res.records] == [
        ("8", domain, "p0", ("c0", "c1", "c2"), ("r0", "r1", "r2"), None),
        ("12", domain, "p1", ("d0", "d1", "d2"), ("s0", "s1", "s2"), None)]
    assert [r.extra for r in res.records] == [{"subset": "alpacaeval", "error_key": "shoes"}, {"subset": "alpacaeval"}]


def test_rm_bench_domain_argument_settles_and_overrides(tmp_path):
    res = load_records(write_json(tmp_path / "mine.json", RM_GH), domain="code")
    assert (res.format, [r.subset for r in res.records]) == ("rm-bench", ["code", "code"])
    with pytest.raises(ValueError, match=r"--domain math contradicts the file name chat_filtered.json \(domain 'chat'\)"):
        load_records(write_json(tmp_path / "chat_filtered.json", RM_GH), domain="math")  # never silently over the name
    res = load_records(write_json(tmp_path / "chat_filtered.json", RM_GH), domain="chat")
    assert [r.subset for r in res.records] == ["chat", "chat"]
    res = load_records(write_json(tmp_path / "hf.json", RM), domain="code")  # over the records' domain key
    assert [(r.subset, r.extra) for r in res.records] == [("code", {"domain": "chat"}), ("code", {"domain": "safety-refuse"})]
    res = load_records(write_json(tmp_path / "chat.json", [dict(RM_GH[0], domain="safety-response")]))
    assert res.records[0].subset == "safety-response"  # the record's key before the file name
    with pytest.raises(ValueError, match=r"domain must be one of \('chat', 'code', 'math', 'safety-refuse', 'safety-response'\)"):
        load_records(tmp_path / "mine.json", domain="safety")
    with pytest.raises(ValueError, match=r"^p\.json: domain= \(--domain\) is for format 'rm-bench', and this file is 'pairs'$"):
        load_records(write_json(tmp_path / "p.json", [GOOD["pairs"]]), domain="chat")


def test_rm_bench_shape_without_domain_is_ambiguous(tmp_path):
    path = write_json(tmp_path / "rows.json", RM_GH)
    with pytest.raises(ValueError) as e:
        load_records(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("rows.json[0]: ambiguous layout: keys ['chosen', 'error_key', 'id', 'prompt', 'rejected', "
                          "'subset'] with 3 chosen and 3 rejected fit formats ['rm-bench', 'pairs']; ")
    assert "--domain" in msg and "--format" in msg and "safety-refuse" in msg
    assert [r.subset for r in load_records(path, format="pairs").records] == ["alpacaeval", "alpacaeval"]
    with pytest.raises(ValueError, match=r"^rows\.json\[0\]: missing key 'domain' \(and the file name names none of"):
        load_records(path, format="rm-bench")
    # not the RM-Bench shape (lists of 2, or a str): generic pairs, no question asked
    two = [dict(RM_GH[1], chosen=["a", "b"], rejected=["c", "d"])]
    assert load_records(write_json(tmp_path / "two.json", two)).format == "pairs"
    assert load_records(write_json(tmp_path / "code2.json", [dict(RM_GH[1], chosen="a")])).format == "pairs"


# ---------------------------------------------------------------------- pairs with chat-message prompts
def test_pairs_prompt_as_messages(tmp_path):
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"}, {"role": "user", "content": "bye?"}]
    res = load_records(write_jsonl(tmp_path / "m.jsonl", [{"prompt": msgs, "chosen": "c", "rejected": "r"}]))
    assert res.format == "pairs"
    assert res.records == [PairRecord("1", "all", tuple(msgs), ("c",), ("r",), None, "m.jsonl:1")]
    assert isinstance(res.records[0].prompt, tuple)


BAD_MESSAGES = [
    ([], "'prompt' must be a non-empty list of messages, got an empty list"),
    (["hi"], "'prompt'[0] must be an object {\"role\", \"content\"}, got str"),
    ([{"role": "bot", "content": "x"}], "'prompt'[0]: role must be one of ('system', 'user', 'assistant'), got 'bot'"),
    ([{"role": "user", "content": "a"}, {"role": "user"}], "'prompt'[1]: missing key 'content'"),
    ([{"content": "a"}], "'prompt'[0]: missing key 'role'"),
    ([{"role": "user", "content": None}], "'prompt'[0]: 'content' must be a str, got None"),
    ([{"role": "user", "content": "a", "name": "x"}], "'prompt'[0]: unexpected key 'name' (a message has 'role' and 'content')"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
     "'prompt' must end with a user message, got 'assistant' last"),
]


@pytest.mark.parametrize("prompt,msg", BAD_MESSAGES)
def test_pairs_bad_message_prompt_names_record_and_message(tmp_path, prompt, msg):
    path = write_json(tmp_path / "m.json", [GOOD["pairs"], {"prompt": prompt, "chosen": "c", "rejected": "r"}])
    with pytest.raises(ValueError) as e:
        load_records(path)
    assert str(e.value) == f"m.json[1]: {msg}"


def test_pairs_system_twice_is_an_error(tmp_path):
    row = {"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "chosen": "c",
           "rejected": "r", "system": "s2"}
    with pytest.raises(ValueError, match=r"^m\.json\[0\]: 'system' is given both as a key and as a system message"):
        load_records(write_json(tmp_path / "m.json", [row]))


# ---------------------------------------------------------------------- several files
def test_several_files_ids_prefixed_only_on_collision(tmp_path):
    a = write_json(tmp_path / "chat_filtered.json", RM_GH)
    b = write_json(tmp_path / "code_filtered.json", [dict(RM_GH[0], id=9), dict(RM_GH[1], id=12)])
    c = write_json(tmp_path / "math.json", [dict(RM_GH[0], id=100)])
    res = load_records([a, str(b)])
    assert res.format == "rm-bench"
    assert [(r.id, r.subset, r.where) for r in res.records] == [
        ("chat_filtered/8", "chat", "chat_filtered.json[0]"), ("chat_filtered/12", "chat", "chat_filtered.json[1]"),
        ("code_filtered/9", "code", "code_filtered.json[0]"), ("code_filtered/12", "code", "code_filtered.json[1]")]
    assert [r.id for r in load_records([a, c]).records] == ["8", "12", "100"]  # no collision: ids kept
    assert [r.id for r in load_records([a]).records] == ["8", "12"]


def test_several_files_must_share_one_format(tmp_path):
    a = write_json(tmp_path / "chat_filtered.json", RM_GH)
    p = write_jsonl(tmp_path / "p.jsonl", [GOOD["pairs"]])
    with pytest.raises(ValueError) as e:
        load_records([a, p])
    assert str(e.value) == ("chat_filtered.json is format 'rm-bench' but p.jsonl is 'pairs': files loaded together "
                            "must have one format")
    with pytest.raises(ValueError, match=r"chat_filtered\.json is given twice"):
        load_records([a, tmp_path / "." / "chat_filtered.json"])
    with pytest.raises(ValueError, match="no benchmark file given"):
        load_records([])
    with pytest.raises(ValueError, match=r"^duplicate id 'x/1' at x\.json\[0\] and x\.jsonl:1$"):  # same stem
        load_records([write_json(tmp_path / "x.json", [dict(GOOD["pairs"], id=1)]),
                      write_jsonl(tmp_path / "x.jsonl", [GOOD["pairs"]])])


# ---------------------------------------------------------------------- dialogues and text-score files
HH_A = "\n\nHuman: Hi there\n\nAssistant:  Hello!  \n\nHuman: What is 2+2?\n\nAssistant: 4, as\n\nyou know."
HH_B = "\n\nHuman: Hi there\n\nAssistant:  Hello!  \n\nHuman: What is 2+2?\n\nAssistant: Five."
MD_A = "## Human:\nWhy?\n\nBody text.\n\n\n\n## Assistant:\n Because [1].  \n"
MD_B = "## Human:\nWhy?\n\nBody text.\n\n\n\n## Assistant:\nNo idea."
SHARED = ({"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"},
          {"role": "user", "content": "What is 2+2?"})


def test_parse_dialogue_both_marker_styles():
    assert parse_dialogue(HH_A) == list(SHARED) + [{"role": "assistant", "content": "4, as\n\nyou know."}]
    assert parse_dialogue(MD_A) == [{"role": "user", "content": "Why?\n\nBody text."},
                                    {"role": "assistant", "content": "Because [1]."}]
    assert parse_dialogue("Human: a\n\nAssistant:") == [{"role": "user", "content": "a"},
                                                        {"role": "assistant", "content": ""}]
    # "Human:" not after a blank line is text; consecutive assistant turns stay separate
    text = "\n\nHuman: x  Human: y\nAssistant: z\n\nAssistant: w\n\nAssistant: v"
    assert parse_dialogue(text) == [{"role": "user", "content": "x  Human: y\nAssistant: z"},
                                    {"role": "assistant", "content": "w"}, {"role": "assistant", "content": "v"}]
    assert parse_dialogue("## Human:\nq\n\nHuman: inside\n## Assistant:\na") == [
        {"role": "user", "content": "q\n\nHuman: inside"}, {"role": "assistant", "content": "a"}]


@pytest.mark.parametrize("text,msg", [
    ("just some text", "no 'Human:'/'Assistant:' turn markers"),
    ("Question\n\nHuman: hi\n\nAssistant: yo", "text before the first turn marker: 'Question'"),
    (["a"], "a dialogue must be a str, got list"),
])
def test_parse_dialogue_errors(text, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        parse_dialogue(text)


def test_split_dialogue_keeps_a_marker_inside_the_final_response():
    prompt, response = split_dialogue("\n\nHuman: cost?\n\nAssistant: Umm...\n\nAssistant: $50.")
    assert (prompt, response) == (({"role": "user", "content": "cost?"},), "Umm...\n\nAssistant: $50.")
    assert split_dialogue(HH_B) == (SHARED, "Five.")
    for text, msg in [("\n\nAssistant: a", "no Human turn"), ("\n\nHuman: a\n\nAssistant: b\n\nHuman: c",
                                                              "no assistant turn after the last Human turn")]:
        with pytest.raises(ValueError, match=msg):
            split_dialogue(text)


def test_text_score_records_higher_score_chosen_ties_left_out(tmp_path):
    rows = [{"text": [HH_A, HH_B], "score": [1.0, 0.0]},
            {"text": [MD_A, MD_B], "score": [0.5, 1.5]},
            {"text": [HH_B, HH_A], "score": [1, 1]},  # a tie
            {"text": [MD_B, MD_A], "score": [2, 0]}]
    res = load_records(write_json(tmp_path / "helpful.test.json", rows))
    assert (res.format, res.ties, res.skipped) == ("text-score", 1, [])
    md_prompt = ({"role": "user", "content": "Why?\n\nBody text."},)
    assert res.records == [
        PairRecord("0", "helpful", SHARED, ("4, as\n\nyou know.",), ("Five.",), None, "helpful.test.json[0]"),
        PairRecord("1", "helpful", md_prompt, ("No idea.",), ("Because [1].",), None, "helpful.test.json[1]"),
        PairRecord("3", "helpful", md_prompt, ("No idea.",), ("Because [1].",), None, "helpful.test.json[3]")]
    assert [r.extra for r in res.records] == [{"scores": (1.0, 0.0), "chosen_index": 0},
                                              {"scores": (1.5, 0.5), "chosen_index": 1},
                                              {"scores": (2, 0), "chosen_index": 0}]
    only_ties = load_records(write_json(tmp_path / "t.json", [rows[2], rows[2]]))
    assert (only_ties.records, only_ties.ties, only_ties.format) == ([], 2, "text-score")


BAD_TEXT_SCORE = [
    ({"text": [HH_A, HH_B.replace("What is 2+2?", "What is 3+3?")], "score": [1, 0]},
     "'text'[0] and 'text'[1] differ before their final responses (at message 3 of 3 and 3)"),
    ({"text": [HH_A, "\n\nHuman: Hi there\n\nAssistant: Five."], "score": [1, 0]},
     "'text'[0] and 'text'[1] differ before their final responses (at message 2 of 3 and 1)"),
    ({"text": [HH_A, "no markers"], "score": [1, 0]}, "'text'[1]: no 'Human:'/'Assistant:' turn markers"),
    ({"text": [HH_A, HH_B + "\n\nHuman: more?"], "score": [1, 0]},
     "'text'[1]: no assistant turn after the last Human turn"),
    ({"text": [HH_A, HH_B, HH_B], "score": [1, 0]}, "'text' must be a list of 2 dialogues, got a list of 3"),
    ({"text": [HH_A, HH_B], "score": [1, "0"]}, "'score'[1] must be a number, got str"),
    ({"text": [HH_A, HH_B], "score": [True, 0]}, "'score'[0] must be a number, got bool"),
    ({"text": [HH_A, HH_B], "score": 1}, "'score' must be a list of 2 numbers, got int"),
    ({"text": [HH_A, HH_B]}, "missing key 'score'"),
]


@pytest.mark.parametrize("bad,msg", BAD_TEXT_SCORE)
def test_text_score_bad_row_named_or_skipped(tmp_path, bad, msg):
    good = {"text": [HH_A, HH_B], "score": [0, 1]}
    path = write_json(tmp_path / "harmless.test.json", [good, bad, good])
    with pytest.raises(ValueError) as e:
        load_records(path)
    assert str(e.value).startswith(f"harmless.test.json[1]: {msg}")
    res = load_records(path, skip_invalid=True)
    assert [r.id for r in res.records] == ["0", "2"]
    assert len(res.skipped) == 1 and res.skipped[0].startswith(f"harmless.test.json[1]: {msg}")
    assert all(r.chosen == ("Five.",) and r.subset == "harmless" for r in res.records)


def test_text_score_detection_looks_at_value_types(tmp_path):
    with pytest.raises(ValueError) as e:
        load_records(write_json(tmp_path / "w.json", [{"text": "one dialogue", "score": 1.0}]))
    assert str(e.value).startswith("w.json[0]: cannot detect the format from keys ['score', 'text'] ('text-score' "
                                   "needs 'text' a list of 2 str and 'score' a list of 2 numbers); pass format=")
    assert all(f in str(e.value) for f in FORMATS)
