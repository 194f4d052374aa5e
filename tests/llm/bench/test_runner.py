"""The streaming, resumable benchmark runner (scoring, resume, process split, merge)."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm.llm import EndogenousReward, GenRMPairwise  # noqa: E402
from endorm.llm.bench.runner import merge_scores, run_scoring, score_chunk  # noqa: E402
from endorm.llm.bench.records import PairRecord  # noqa: E402
from endorm.llm.runs import check_run, read_jsonl  # noqa: E402
from endorm.llm.testing import save_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny", "gpt2", seed=4, max_positions=2048)


def _records(n=6):
    return [PairRecord(f"r{i}", "chat" if i % 2 else "math", f"Question {i}?", (f"good {i}", f"fine {i}"),
                       (f"bad {i}", f"poor answer {i}"), None) for i in range(n)]


def test_score_chunk_matches_single_calls(model_dir):
    rm = EndogenousReward.from_pretrained(model_dir)
    recs = _records(3)
    out = score_chunk("endorm", rm, recs, lambda r: "sys")
    # other batch shapes, other float32 kernels: equal to float32 rounding (scores ~20; a mix-up would be ~1)
    for r, o in zip(recs, out):
        assert o["chosen"] == pytest.approx(rm.score([r.prompt] * 2, list(r.chosen), "sys"), abs=1e-5)
        assert o["rejected"] == pytest.approx(rm.score([r.prompt] * 2, list(r.rejected), "sys"), abs=1e-5)


def test_pairwise_prefs_are_p_chosen_better(model_dir):
    pw = GenRMPairwise.from_pretrained(model_dir)
    r = _records(1)[0]
    prefs = score_chunk("pairwise", pw, [r], lambda r: None)[0]["prefs"]
    assert len(prefs) == 2 and len(prefs[0]) == 2
    assert prefs[1][0] == pytest.approx(pw.compare([r.prompt], [r.rejected[0]], [r.chosen[1]])[0], abs=1e-6)


def split_for_process(items: list, rank: int, world: int) -> list:
    """The share of process ``rank`` of ``world``, by accelerate's own ``split_between_processes`` (as run_bench)."""
    accelerate = pytest.importorskip("accelerate")
    fake = SimpleNamespace(num_processes=world, process_index=rank)
    with accelerate.PartialState.split_between_processes(fake, items) as mine:
        return list(mine)


def test_the_process_split_covers_every_item_once():
    items = list(range(11))
    for world in (1, 2, 3, 4):
        parts = [split_for_process(items, rank, world) for rank in range(world)]
        assert sum(parts, []) == items  # contiguous shares, every item exactly once
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_resume_after_a_kill_loses_nothing_and_scores_nothing_twice(model_dir, tmp_path):
    rm = EndogenousReward.from_pretrained(model_dir)
    recs = _records(7)
    full = tmp_path / "full.jsonl"
    run_scoring(recs, {"endorm": rm}, full, {"default": None}, chunk=2, progress=False)
    reference = {d["id"]: d for d in read_jsonl(full)}
    # a killed run: three complete lines and a half-written fourth
    part = tmp_path / "part.jsonl"
    lines = full.read_text().splitlines()
    part.write_text("\n".join(lines[:3]) + "\n" + lines[3][:17])
    n = run_scoring(recs, {"endorm": rm}, part, {"default": None}, chunk=2, progress=False)
    assert n == 4  # the half line is dropped and rescored
    got = read_jsonl(part)
    assert sorted(d["id"] for d in got) == sorted(r.id for r in recs)  # each exactly once
    for d in got:
        assert d["chosen"] == pytest.approx(reference[d["id"]]["chosen"], abs=1e-5)  # other chunks: float32
    assert run_scoring(recs, {"endorm": rm}, part, {"default": None}, progress=False) == 0


def test_process_files_merge_to_the_single_process_result(model_dir, tmp_path):
    rm = EndogenousReward.from_pretrained(model_dir)
    recs = _records(5)
    single = tmp_path / "single"
    single.mkdir()
    run_scoring(recs, {"endorm": rm}, single / "scores.jsonl", {"default": None}, progress=False)
    multi = tmp_path / "multi"
    multi.mkdir()
    for rank in range(3):  # simulated process indices
        run_scoring(split_for_process(recs, rank, 3), {"endorm": rm}, multi / f"scores.rank{rank}.jsonl",
                    {"default": None}, progress=False)
    key = lambda d: (d["condition"], d["method"], d["id"])  # noqa: E731
    a, b = sorted(merge_scores(single), key=key), sorted(merge_scores(multi), key=key)
    assert [key(d) for d in a] == [key(d) for d in b]
    assert all(np.allclose(x["chosen"], y["chosen"]) and np.allclose(x["rejected"], y["rejected"])
               for x, y in zip(a, b))


def test_a_folder_with_another_run_is_refused(tmp_path):
    check_run(tmp_path, {"model": "a", "methods": ["endorm"]})
    check_run(tmp_path, {"model": "a", "methods": ["endorm"]})  # same run: fine
    with pytest.raises(ValueError, match="holds a different run \\(differs in methods\\)"):
        check_run(tmp_path, {"model": "a", "methods": ["endorm", "verifier"]})
    assert json.loads((tmp_path / "run.json").read_text())["methods"] == ["endorm"]  # untouched


def test_corrupt_scores_file_names_the_line(tmp_path):
    p = tmp_path / "scores.jsonl"
    p.write_text('{"id": 1}\nnot json\n')
    with pytest.raises(ValueError, match="scores.jsonl:2: not valid JSON"):
        read_jsonl(p)


def test_resume_reads_every_process_file(model_dir, tmp_path):
    """After a 2-process run, a 3-process (or single-process) rerun scores nothing again."""
    rm = EndogenousReward.from_pretrained(model_dir)
    recs = _records(6)
    for rank in range(2):
        run_scoring(split_for_process(recs, rank, 2), {"endorm": rm}, tmp_path / f"scores.rank{rank}.jsonl",
                    {"default": None}, progress=False)
    for rank in range(3):
        assert run_scoring(split_for_process(recs, rank, 3), {"endorm": rm}, tmp_path / f"scores.rank{rank}.jsonl",
                           {"default": None}, progress=False) == 0
    assert run_scoring(recs, {"endorm": rm}, tmp_path / "scores.jsonl", {"default": None}, progress=False) == 0
    assert len(merge_scores(tmp_path, recs)) == 6


# ------------------------------------------------------------------ unique work across the run
def _dsp_run_records(rows=2):
    """DSP-shaped records (4 per row, each scoring all 5 responses) plus an RM-Bench-style repeat of
    one record under another id: the same (prompt, response) pairs recur across records."""
    from endorm.llm.bench.loaders import dsp_records
    from endorm.llm.bench.records import DSP_RESPONSE_KEYS

    recs = []
    for i in range(rows):
        d = {"query": f"Tell me about topic {i}.", "responses": {k: f"A {k} answer on {i}." for k in DSP_RESPONSE_KEYS}}
        recs += dsp_records(d, f"q{i}", f"row {i}")
    return recs + [PairRecord("copy", recs[0].subset, recs[0].prompt, recs[0].chosen, recs[0].rejected, None)]


def _old_rows(records, methods, conditions):
    """The behaviour before unique work: every (condition, method, record) scored on its own."""
    from endorm.llm.bench.runner import _system_of

    return [{"id": r.id, "method": m, "condition": c, **score_chunk(m, rm, [r], _system_of(s))[0]}
            for c, s in conditions.items() for m, rm in methods.items() for r in records]


def test_a_run_with_duplicates_scores_unique_work_and_gives_the_same_results(model_dir, tmp_path):
    from endorm.llm.bench.report import summarize

    rm, pw = EndogenousReward.from_pretrained(model_dir), GenRMPairwise.from_pretrained(model_dir, batch_size=16)
    recs, conditions = _dsp_run_records(), {"academy": "Be scholarly.", "business": "Be brief."}
    methods = {"endorm": rm, "pairwise": pw}
    want = _old_rows(recs, methods, conditions)
    seen, texts, forward = [], [], pw.model.forward
    rm_score = rm.score
    rm.score = lambda p, r, s=None: seen.extend(zip(s, p, r)) or rm_score(p, r, s)
    pw.model.forward = lambda **kw: texts.extend(  # the judge model's input rows, padding dropped
        tuple(i[m.bool()].tolist()) for i, m in zip(kw["input_ids"], kw["attention_mask"])) or forward(**kw)
    n = run_scoring(recs, methods, tmp_path / "scores.jsonl", conditions, chunk=3, progress=False)
    assert n == 2 * 2 * len(recs) and pw.memo is None  # the judge's memo lasts for the run only
    # endorm: 2 conditions x 2 queries x 5 distinct responses, each once (the old path: 2 x 9 x 5 = 90)
    assert len(seen) == len(set(seen)) == 2 * 2 * 5
    # pairwise: the 20 ordered (Response 1, Response 2) pairs per query and condition, each prompt once
    # (the old path ran 2 x 9 x 4 x 2 = 144 prompts)
    assert len(texts) == len(set(texts)) == 2 * 2 * 20
    got = merge_scores(tmp_path, recs)
    key = lambda d: (d["condition"], d["method"], d["id"])  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, want))
    old = {key(d): d for d in want}
    for d in got:  # the same numbers (other batches: float32 rounding) ...
        for f in ("chosen", "rejected", "prefs"):
            if f in d:
                np.testing.assert_allclose(d[f], old[key(d)][f], atol=1e-5, rtol=0)
    # ... and exactly the same tables
    assert summarize(recs, got, list(methods), conditions, "dsp") == summarize(recs, want, list(methods),
                                                                                 conditions, "dsp")
    # records repeated under other ids get the same scores bit for bit
    lines = {key(d): d for d in got}
    assert lines[("academy", "endorm", "copy")]["chosen"] == lines[("academy", "endorm", recs[0].id)]["chosen"]


def test_a_chunk_scores_only_what_the_cache_lacks(model_dir):
    rm = EndogenousReward.from_pretrained(model_dir)
    recs, cache, calls = _records(2), {}, []
    score = rm.score
    rm.score = lambda p, r, s=None: calls.append(len(p)) or score(p, r, s)
    first = score_chunk("endorm", rm, recs + recs, lambda r: None, cache)
    assert calls == [8] and len(cache) == 8 and first[:2] == first[2:]
    assert score_chunk("endorm", rm, recs[::-1], lambda r: None, cache) == first[:2][::-1] and calls == [8]
    score_chunk("endorm", rm, recs, lambda r: "other system", cache)   # another system prompt: new items
    assert calls == [8, 8]
