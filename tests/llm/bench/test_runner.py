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
