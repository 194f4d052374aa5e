"""``endorm eval-math``: boxed extraction, math-verify grading in processes, pass@k, loaders, runs."""
import argparse
import itertools
import json
import math
import threading
from math import comb

import pytest

pytest.importorskip("math_verify")

from endorm.cli import eval_math as CLI  # noqa: E402
from helpers import hang_on, slow_init  # noqa: E402
from endorm.llm.math import data as D  # noqa: E402
from endorm.llm.math import grading as G  # noqa: E402
from endorm.llm.math import run as R  # noqa: E402
from endorm.llm.math import sampling as S  # noqa: E402


# ----------------------------------------------------------------------------- extraction

@pytest.mark.parametrize("text, want", [
    (r"so \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
    (r"\boxed{\sqrt{\frac{a^{2}}{b}}}", r"\sqrt{\frac{a^{2}}{b}}"),
    (r"first \boxed{3}, then \boxed{4} and finally \boxed{x^{2}+1}", "x^{2}+1"),
    (r"no box here: 5", None),
    ("", None),
    (r"\boxed{\frac{1}{2}", None),  # truncated: the last box is not closed
    (r"\boxed{3} then \boxed{\frac{1", None),  # the last box wins even when it is broken
    (r"\boxed{}", None),
    (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),  # escaped braces are literals
    (r"\boxed{a \} b}", r"a \} b"),
    (r"$\boxed 5$.", "5"),
    (r"answer \boxed 42.", "42"),
    (r"\fbox{7}", "7"),
    (r"\boxedx{7}", None),
])
def test_last_boxed(text, want):
    assert D.last_boxed(text) == want


# ----------------------------------------------------------------------------- grading


@pytest.fixture(scope="module")
def grader():
    with G.Grader(workers=1, timeout=5.0) as g:
        yield g


def test_grading_equivalent_forms_and_wrong_answers(grader):
    pairs = [(r"\frac{1}{2}", "0.5"), (r"\frac{1}{2}", "1/2"), ("0.5", r"\frac{1}{2}"), (r"\frac{1}{2}", r"\dfrac12"),
             ("2x", "x*2"), ("2x", r"x \cdot 2"), ("$27$", "27"), (r"\frac{1}{2}", "0.6"), ("2x", "3x"),
             ("5", None), ("42", r"\text{forty}")]
    got = grader.grade(pairs)
    assert [c for c, _ in got] == [True] * 7 + [False] * 4
    assert [s for _, s in got][:9] == ["graded"] * 9
    assert got[9] == (False, "no_answer")


def test_grading_timeout_counts_as_wrong():
    with G.Grader(workers=1, timeout=1e-6) as g:  # the alarm fires before parsing ends
        assert g.grade([(r"\frac{1}{2}", "0.5"), ("3", "3")]) == [(False, "timeout")] * 2


def test_stuck_worker_is_killed_and_counted_as_timeout():
    """A worker that never answers is killed and its item counted as a timeout; the items after it are graded.

    No clock in this test has to be met by a fast machine: the stall limit (5 s) only bounds a warm
    worker grading "1" (milliseconds), and the fresh pool's start is not on that clock.
    """
    g = G.Grader(workers=1, timeout=5.0, stall=5.0, fn=hang_on)
    with g:
        got = g.grade([("1", "1"), ("4", "hang"), ("2", "3"), ("1/2", "0.5")])
        assert got == [(True, "graded"), (False, "timeout"), (False, "graded"), (True, "graded")]
        assert g.grade([("1", "1")]) == [(True, "graded")]  # the pool was replaced: the next call grades


def test_grader_warms_a_fresh_pool_before_the_stall_clock(monkeypatch):
    """A slow worker start does not count against ``stall``: the pool waits for the initializer first."""
    monkeypatch.setattr(G, "_worker_init", slow_init)
    with G.Grader(workers=1, timeout=5.0, stall=2.0) as g:  # start 3 s > stall 2 s
        assert g.grade([("1", "1")]) == [(True, "graded")]


def test_grader_reports_workers_that_never_start(monkeypatch):
    monkeypatch.setattr(G, "_worker_init", slow_init)
    with pytest.raises(RuntimeError, match="did not start within 0.5 s"):
        G.Grader(workers=1, timeout=5.0, start_timeout=0.5).grade([("1", "1")])


def test_grading_works_from_a_thread(grader):
    from math_verify import parse

    def direct(box):  # control: math-verify's own alarm refuses a non-main thread
        try:
            parse("$1$")
        except ValueError as e:
            box.append(e)

    box, res = [], []
    t = threading.Thread(target=direct, args=(box,))
    t.start()
    t.join()
    assert box and "thread" in str(box[0])
    t = threading.Thread(target=lambda: res.extend(grader.grade([(r"\frac{1}{2}", "0.5"), ("1", "2")])))
    t.start()
    t.join()
    assert res == [(True, "graded"), (False, "graded")]


def test_grader_rejects_bad_settings():
    with pytest.raises(ValueError, match="timeout > 0"):
        G.Grader(timeout=0)
    with pytest.raises(ValueError, match="stall > 0"):
        G.Grader(stall=0)
    with pytest.raises(ValueError, match="workers >= 1"):
        G.Grader(workers=-1)


# ----------------------------------------------------------------------------- pass@k

def test_pass_at_k_matches_enumeration_of_subsets():
    for n in range(1, 9):
        for c in range(n + 1):
            flags = [1] * c + [0] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(flags, k))
                brute = sum(any(s) for s in subsets) / len(subsets)
                assert G.pass_at_k(n, c, k) == pytest.approx(brute, rel=1e-12, abs=1e-12)
                assert G.pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)
    assert G.pass_at_k(1000, 1, 1) == pytest.approx(1e-3, rel=1e-12)  # large n: no overflow
    with pytest.raises(ValueError):
        G.pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        G.pass_at_k(4, 1, 5)


def test_summarize_by_hand():
    rows = [{"correct": [0, 0, 0, 0]}, {"correct": [1, 0, 0, 0]}, {"correct": [0, 1, 1, 0]}, {"correct": [1] * 4}]
    res = R.summarize(rows, "aime24")
    assert res["avg@k"] == pytest.approx((0 + 0.25 + 0.5 + 1) / 4)
    assert res["pass@1"] == pytest.approx(res["avg@k"])
    assert res["sample0_accuracy"] == 0.5
    assert res["pass@k"]["2"] == pytest.approx((0 + 0.5 + 5 / 6 + 1) / 4)
    assert res["pass@k"]["4"] == 0.75
    assert list(res["pass@k"]) == ["1", "2", "4"] and res["paper_metric"] == "avg@4"
    assert list(R.summarize([{"correct": [1] * 6}])["pass@k"]) == ["1", "2", "4", "6"]
    with pytest.raises(ValueError, match="same number"):
        R.summarize([{"correct": [1]}, {"correct": [1, 0]}])


# ----------------------------------------------------------------------------- loaders

def _jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_loaders_all_formats(tmp_path):
    cases = {
        "math500": ([{"problem": "P", "answer": r"\frac{1}{2}", "unique_id": "test/algebra/1.json"}],
                    "test/algebra/1.json", r"\frac{1}{2}"),
        "aime24": ([{"idx": 0, "id": 60, "problem": "P", "solution": r"\boxed{204}", "answer": "204"}], "60", "204"),
        "amc": ([{"id": 0, "question": "Q", "answer": 27.0}], "0", "27"),
        "minerva": ([{"problem": "P", "solution": r"So $x=\boxed{3}$, not \boxed{\frac{7}{2}}.", "idx": 5}],
                    "5", r"\frac{7}{2}"),
        "olympiadbench": ([{"id": 1606, "question": "Q", "final_answer": ["$1$", "$2$"]}], "1606", "1, 2"),
    }
    for fmt, (rows, pid, gold) in cases.items():
        path = _jsonl(tmp_path / f"{fmt}_test.jsonl", rows)
        for f in ("auto", fmt):
            probs, got = D.load_problems(path, f)
            assert got == fmt and [(p.id, p.gold) for p in probs] == [(pid, gold)], (fmt, f)
    probs, _ = D.load_problems(_jsonl(tmp_path / "o.jsonl", [{"question": "Q", "final_answer": ["$x$"]}]))
    assert probs[0].gold == "x" and probs[0].id == "1"  # a single answer; id = line number
    (tmp_path / "aime24").mkdir()  # Qwen2.5-Math's layout: the folder names the benchmark
    path = _jsonl(tmp_path / "aime24" / "test.jsonl", [{"problem": "P", "answer": "1"}])
    assert D.load_problems(path)[1] == "aime24" and D.load_problems(path, "math500")[1] == "math500"


def test_auto_detection_by_keys_and_file_name():
    assert D.detect_format({"problem", "answer", "unique_id"}) == "math500"
    assert D.detect_format({"question": "Q", "answer": r"so \boxed{3}."}) == "math500"  # a worked solution
    assert D.detect_format({"question", "answer"}, "math500/test.jsonl") == "math500"
    assert D.detect_format({"problem", "answer"}, "aime24.jsonl") == "aime24"
    assert D.detect_format({"problem", "answer"}, "AMC23-test.jsonl") == "amc"
    assert D.detect_format({"question", "answer"}, "amc23/test.jsonl") == "amc"
    assert D.detect_format({"problem", "solution"}) == "minerva"
    assert D.detect_format({"question", "final_answer"}) == "olympiadbench"
    for keys, name, msg in [
            ({"prompt", "chosen"}, "", r"keys \['chosen', 'prompt'\]: candidates aime24, amc, math500, minerva, "
             r"olympiadbench \(none fits; expected question \+ final_answer: olympiadbench; .*\); pass --format$"),
            ({"problem", "answer"}, "", r"keys \['answer', 'problem'\]: candidates aime24, amc, math500 \(.*\); "
             r"pass --format$"),
            ({"question": "Q", "answer": "27"}, "x/test.jsonl", r"candidates aime24, amc, math500"),
            ({"question", "final_answer"}, "aime24/test.jsonl", r"candidates olympiadbench \(the name "
             r"'aime24/test.jsonl' says aime24\)"),
            ({"problem", "answer"}, "aime_amc/test.jsonl", r"candidates aime24, amc \(")]:
        with pytest.raises(ValueError, match=msg):
            D.detect_format(keys, name)


def test_loader_errors_name_file_and_line(tmp_path):
    good = json.dumps({"problem": "P", "answer": "1", "unique_id": "u0"})  # unique_id: the MATH-500 layout
    path = _jsonl(tmp_path / "bad.jsonl", [good, "", "{not json"])
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: invalid JSON"):
        D.load_problems(path)
    for rows, msg in [([good, "[1, 2]"], r":2: expected a JSON object"),
                      ([good, json.dumps({"problem": "P2"})], r":2: a math500 record needs problem or question and"),
                      ([good, json.dumps({"problem": "P2", "answer": ""})], r":2: 'answer' must be a non-empty"),
                      ([json.dumps({"problem": "P", "solution": "no box"})], r":1: minerva solution has no"),
                      ([json.dumps({"question": "Q", "final_answer": []})], r":1: final_answer is an empty"),
                      ([json.dumps({"unique_id": 1, "problem": "P", "answer": 1})] * 2, r":2: duplicate id '1'")]:
        with pytest.raises(ValueError, match=msg):
            D.load_problems(_jsonl(tmp_path / "bad.jsonl", rows))
    with pytest.raises(FileNotFoundError):
        D.load_problems(tmp_path / "missing.jsonl")
    assert len(D.load_problems(_jsonl(tmp_path / "ok.jsonl", [good] * 1 + [
        json.dumps({"problem": f"P{i}", "answer": "1"}) for i in range(5)]), limit=3)[0]) == 3


# ----------------------------------------------------------------------------- sampling

def test_row_sampler_draws_from_softmax_and_respects_top_p():
    torch = pytest.importorskip("torch")
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, -3.0])
    n, T = 4000, 0.7
    proc = S._RowSampler(range(n), T, 1.0, "cpu")
    picks = proc(None, logits.expand(n, -1)).argmax(-1)
    freq = torch.bincount(picks, minlength=5).double() / n
    p = torch.softmax(logits.double() / T, -1)
    assert (freq - p).abs().max() < 5 * math.sqrt(0.25 / n)
    picks = S._RowSampler(range(n), 1.0, 0.8, "cpu")(None, logits.expand(n, -1)).argmax(-1)
    assert set(picks.tolist()) == {0, 1}  # softmax(logits) = .64, .24, .09, ...: the 0.8 nucleus is {0, 1}
    assert torch.equal(S._RowSampler([1, 2], 0.0, 1.0, "cpu")(None, logits.expand(2, -1)), logits.expand(2, -1))


# ----------------------------------------------------------------------------- end to end

GOLDS = [r"\frac{1}{2}", "7", "2x", "12"]
CORRECT = [[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1]]  # per problem, per sample
RIGHT = [["0.5", "1/2", r"\frac12", r"\dfrac{1}{2}"], ["7"] * 4, ["x*2", "2 x", r"2\cdot x", "2x"], ["12.0"] * 4]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from endorm.llm.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny", "gpt2", max_positions=2048)


@pytest.fixture
def data(tmp_path):
    return _jsonl(tmp_path / "math.jsonl", [{"problem": f"Problem number {i}?", "answer": g, "unique_id": f"p{i}"}
                                            for i, g in enumerate(GOLDS)])


def _args(model, data, out, *extra):
    ap = argparse.ArgumentParser()
    CLI.register(ap.add_subparsers())
    return ap.parse_args(["eval-math", "--model", str(model), "--data", str(data), "--out", str(out), "--workers", "1",
                          "--no-progress", *extra])


class FakeGenerate:
    """Known completions: sample j of problem i is right iff CORRECT[i][j] (in some equivalent form)."""

    def __init__(self):
        self.rows, self.seen = 0, {}

    def __call__(self, model, tokenizer, prompts, seeds, **kw):
        out = []
        for q in prompts:
            i = next(i for i in range(len(GOLDS)) if f"Problem number {i}?" in q)
            j = self.seen[q] = self.seen.get(q, -1) + 1
            box = RIGHT[i][j] if CORRECT[i][j] else ("wrong" if j % 2 else "-99")
            out.append(f"Reasoning... \\boxed{{{box}}}" if (i, j) != (0, 3) else "no box")
        self.rows += len(prompts)
        return out


def test_end_to_end_metrics_exact(model_dir, data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(R, "generate_completions", fake := FakeGenerate())
    assert CLI.run(_args(model_dir, data, tmp_path / "o", "--k", "4", "--batch-size", "8")) == 0
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["avg@k"] == pytest.approx(7 / 16) and res["pass@1"] == pytest.approx(7 / 16)
    assert res["pass@k"] == pytest.approx({"1": 7 / 16, "2": (0 + 0.5 + 5 / 6 + 1) / 4, "4": 0.75})
    assert res["sample0_accuracy"] == 0.5 and res["no_answer"] == 1 and res["timeouts"] == 0
    assert res["problems"] == 4 and res["k"] == 4 and res["format"] == "math500" and fake.rows == 16
    rows = [json.loads(line) for line in (tmp_path / "o" / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["p0", "p1", "p2", "p3"]
    assert [[int(c) for c in r["correct"]] for r in rows] == CORRECT
    assert rows[0]["answers"][3] is None and rows[0]["status"][3] == "no_answer" and rows[2]["answers"][1] == "2 x"
    assert "avg@4" in capsys.readouterr().out


def test_resume_gives_the_same_results_and_scores_nothing_twice(model_dir, data, tmp_path, monkeypatch):
    full = FakeGenerate()
    monkeypatch.setattr(R, "generate_completions", full)
    CLI.run(_args(model_dir, data, tmp_path / "one", "--k", "4"))
    monkeypatch.setattr(R, "generate_completions", part := FakeGenerate())
    CLI.run(_args(model_dir, data, tmp_path / "two", "--k", "4", "--limit", "2"))
    assert part.rows == 8
    samples = tmp_path / "two" / "samples.jsonl"
    with open(samples, "a") as fh:  # a kill during a write leaves half a line
        fh.write('{"id": "p2", "hash"')
    CLI.run(_args(model_dir, data, tmp_path / "two", "--k", "4", "--batch-size", "3"))
    assert part.rows == 16  # only p2 and p3 were generated on the rerun
    assert samples.read_text() == (tmp_path / "one" / "samples.jsonl").read_text()
    one, two = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert one == two
    CLI.run(_args(model_dir, data, tmp_path / "two", "--k", "4"))
    assert part.rows == 16  # all done: nothing generated


def test_a_different_run_in_the_same_folder_is_refused(model_dir, data, tmp_path, monkeypatch):
    monkeypatch.setattr(R, "generate_completions", FakeGenerate())
    CLI.run(_args(model_dir, data, tmp_path / "o", "--k", "2"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "o").iterdir()}
    for extra in (["--k", "4"], ["--k", "2", "--temperature", "1.0"], ["--k", "2", "--seed", "1"],
                  ["--k", "2", "--template", "plain"], ["--k", "2", "--max-new-tokens", "9"]):
        with pytest.raises(ValueError, match="holds a different run"):
            CLI.run(_args(model_dir, data, tmp_path / "o", *extra))
    assert {p.name: p.read_bytes() for p in (tmp_path / "o").iterdir()} == before


def test_no_chat_template_refused_before_anything_is_written(tmp_path, monkeypatch, data):
    from endorm.llm.testing import save_tiny_model

    plain = save_tiny_model(tmp_path / "plain_model", "gpt2", chat_template=False, max_positions=2048)
    with pytest.raises(ValueError, match="--template plain"):
        CLI.run(_args(plain, data, tmp_path / "o", "--k", "2"))
    assert not (tmp_path / "o" / "run.json").exists()
    monkeypatch.setattr(R, "generate_completions", FakeGenerate())
    assert CLI.run(_args(plain, data, tmp_path / "o", "--k", "2", "--template", "plain")) == 0


def test_real_generation_is_deterministic_and_independent_of_batching(model_dir, data, tmp_path):
    outs = []
    for b in ("1", "8"):
        CLI.run(_args(model_dir, data, tmp_path / b, "--k", "3", "--max-new-tokens", "6", "--batch-size", b,
                              "--limit", "3"))
        outs.append([json.loads(x)["completions"] for x in (tmp_path / b / "samples.jsonl").read_text().splitlines()])
    assert outs[0] == outs[1] and len(outs[0]) == 3
    assert all(len(set(c)) == 3 for c in outs[0])  # k distinct samples per problem


@pytest.mark.parametrize("extra, msg", [
    (["--k", "0"], "argument --k: must be >= 1, got 0"),
    (["--temperature", "-0.1"], "argument --temperature: must be >= 0.0, got -0.1"),
    (["--top-p", "0"], "argument --top-p: must be > 0.0, got 0"),
    (["--timeout", "0"], "argument --timeout: must be > 0.0, got 0"),
    (["--limit", "0"], "argument --limit: must be >= 1, got 0"),
    (["--max-new-tokens", "-1"], "argument --max-new-tokens: must be >= 1, got -1"),
])
def test_cli_bad_arguments(model_dir, data, tmp_path, capsys, extra, msg):
    """Every numeric flag's range is checked by the parser, naming the flag (issue 12, case 8)."""
    with pytest.raises(SystemExit) as e:
        CLI.run(_args(model_dir, data, tmp_path / "o", *extra))
    assert e.value.code == 2 and msg in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_missing_inputs(model_dir, data, tmp_path):
    with pytest.raises(FileNotFoundError, match="model directory"):
        CLI.run(_args(tmp_path / "nope", data, tmp_path / "o"))
    with pytest.raises(FileNotFoundError, match="data file"):
        CLI.run(_args(model_dir, tmp_path / "nope.jsonl", tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_build_prompt(model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    chat = S.build_prompt("What is 1+1?", tok, "chat")
    assert chat.startswith("<|im_start|>user\nWhat is 1+1?\n" + S.INSTRUCTION) and chat.endswith("assistant\n")
    assert S.build_prompt("Q", tok, "plain") == f"Problem:\nQ\n{S.INSTRUCTION}\n\nSolution:\n"
    tok.chat_template = None
    with pytest.raises(ValueError, match="--template plain"):
        S.build_prompt("Q", tok, "chat")
