"""Smoke test of benchmarks/real_files.py at --quick size on the real files (../shared beside the repository):
every file is read whole with its detected format, every job runs through the CLI, the tables have their layout."""
from __future__ import annotations

import json
import math
import re

import pytest
from helpers import load_script, shared_path

pytest.importorskip("torch")
pytest.importorskip("transformers")

#: file -> (detected format, records in the whole file, ties left out)
FILES = {
    "data/rm-bench/chat_filtered.json": ("rm-bench", 129, 0),
    "data/rm-bench/code_filtered.json": ("rm-bench", 228, 0),
    "data/rm-bench/safety-refuse_filtered.json": ("rm-bench", 284, 0),
    "data/rm-bench/safety-response_filtered.json": ("rm-bench", 157, 0),
    "data/dsp/domain_specific_preference.test.json": ("dsp", 2644, 0),  # 661 rows x 4 domains
    "data/dsp/helpful.test.json": ("text-score", 2352, 0),
    "data/dsp/harmless.test.json": ("text-score", 2312, 0),
    "data/dsp/webgpt.test.json": ("text-score", 656, 245),
    "data/math500/test.jsonl": ("math500", 500, 0),
    "data/qwen25-math-eval/aime24/test.jsonl": ("aime24", 30, 0),
    "data/qwen25-math-eval/amc23/test.jsonl": ("amc", 40, 0),
    "data/qwen25-math-eval/minerva_math/test.jsonl": ("minerva", 272, 0),
    "data/qwen25-math-eval/olympiadbench/test.jsonl": ("olympiadbench", 675, 0),
}
COMBINED = "rm-bench (4 files, one run)"
RM_HEADER = "| Method | Chat | Math | Code | Safety | Easy | Normal | Hard | Avg |"
DSP_HEADER = "| prompt \\ data | Academy | Business | Literature&Art | Entertainment |"
JUDGES = ("EndoRM", "Generative Verifier", "GenRM-Pointwise", "GenRM-Pairwise")
NUM = r"\**\d+\.\d+\**"


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def _items(name: str) -> int:
    """Scored items at --quick (2 records per file; DSP one whole row = 4 records under 4 system prompts)."""
    if name.startswith("data/rm-bench"):
        return 2 * (6 + 6 + 6 + 9)  # 3 chosen + 3 rejected, 3 x 3 pairs
    if name == COMBINED:
        return 4 * _items("data/rm-bench/")
    if name.endswith("domain_specific_preference.test.json"):
        return 4 * 4 * (5 + 5 + 5 + 4)  # 1 chosen + 4 rejected, 4 pairs
    if name.startswith("data/dsp"):
        return 2 * (2 + 2 + 2 + 1)
    return 2  # eval-math: 2 problems x k = 1


def _check_rm_bench(table: str) -> None:
    lines = table.splitlines()
    assert RM_HEADER in lines
    for method in JUDGES:
        row = next(x for x in lines if x.startswith(f"| {method} |"))
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        assert cells[1] == "–", row  # no RM-Bench math file among the real files
        assert all(re.fullmatch(r"\d+\.\d", c) for i, c in enumerate(cells) if i != 1), row


def _check_dsp(text: str) -> None:
    """Four matrices (one per method), each 4 system prompts x 4 data domains, every cell a number."""
    blocks = text.split("### ")[1:]
    assert [b.split(":")[0] for b in blocks] == list(JUDGES)
    for b in blocks:
        lines = b.splitlines()
        rows = [[c.strip() for c in x.strip("|").split("|")] for x in lines[lines.index(DSP_HEADER) + 2:][:4]]
        assert [x[0] for x in rows] == ["Academy", "Business", "Literature&Art", "Entertainment"], b
        assert all(len(x) == 5 and all(re.fullmatch(NUM, c) for c in x[1:]) for x in rows), b


def test_real_files_quick(tmp_path, capsys):
    shared = shared_path("data").parent
    shared_path("tokenizers", "qwen2.5")
    bench = load_script("real_files")
    out = tmp_path / "sub" / "real_files.json"
    rc = bench.main(["--quick", "--shared", str(shared), "--work", str(tmp_path / "work"), "--hidden", "16",
                     "--quiet", "--json", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    r = json.loads(out.read_text())
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]

    assert {f: (d["format"], d["records"], d["ties"]) for f, d in r["files"].items()} == FILES
    jobs = {j["name"]: j for j in r["jobs"]}
    assert set(jobs) == set(FILES) | {COMBINED}
    for name, j in jobs.items():
        assert j["rc"] == 0 and j["format"] == (FILES.get(name) or ("rm-bench",))[0], name
        assert j["scored"] == {COMBINED: 8, "data/dsp/domain_specific_preference.test.json": 4}.get(name, 2), name
        assert j["left_out"] == 0 and j["items"] == _items(name), name
        assert all(_positive(j[k]) for k in ("wall_s", "after_load_s", "load_s", "items_per_s", "tokens_per_s",
                                             "peak_rss_mb", "tokens")), name
        assert j["after_load_s"] < j["wall_s"] and j["items_per_s"] == pytest.approx(j["items"] / j["wall_s"])
        assert j["peak_rss_mb"] < 8000 and name in printed, name
    assert jobs[COMBINED]["records_in_file"] == 129 + 228 + 284 + 157
    assert jobs["data/dsp/webgpt.test.json"]["ties"] == 245
    # eval-math: 4 new tokens per sample, re-tokenized (random tokens do not always come back as themselves)
    assert all(j["tokens"] <= 2 * 4 * j["items"] for j in jobs.values() if j["kind"] == "math")

    _check_rm_bench(r["rm_bench_table"])
    _check_dsp(r["dsp_matrix"])
    assert RM_HEADER in printed and DSP_HEADER in printed and "OUR four domain prompts" in printed
    c = r["config"]
    assert (c["quick"], c["limit"], c["context"], c["launch"]) == (True, 2, 8192, "fork")
    assert set(c["domain_prompts"]) == {"academy", "business", "entertainment", "literature"}
    assert r["environment"]["torch"] and r["environment"]["transformers"]


def test_real_files_without_the_shared_folder(tmp_path, capsys):
    bench = load_script("real_files")
    assert bench.main(["--quick", "--shared", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not found" in err and "--shared DIR or ENDORM_SHARED" in err
