"""`endorm bench` end to end: every format, DSP cross-domain mode, and resume after a real kill."""
import json
import os
import signal
import subprocess
import sys

import pytest
from scipy.stats import binomtest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm import cli  # noqa: E402
from endorm.llm.testing import save_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny", "gpt2", seed=5, max_positions=2048)


def _rmbench(path, n=6):
    doms = ["chat", "math", "code", "safety-refuse", "safety-response", "math"]
    path.write_text(json.dumps([{"id": f"q{i}", "prompt": f"What is {i} + {i}?", "domain": doms[i % 6],
                                 "chosen": [f"It is {2 * i}.", f"{2 * i}", f"**{2 * i}**"],
                                 "rejected": [f"It is {2 * i + 1}.", f"{2 * i + 1}", f"**{2 * i + 1}**"]}
                                for i in range(n)]))
    return path


def _pairs(path, n):
    path.write_text("\n".join(json.dumps({"id": f"p{i}", "prompt": f"Say {i}.", "chosen": f"{i}",
                                          "rejected": f"{i + 1} {i + 2}", "subset": "even" if i % 2 == 0 else "odd"})
                              for i in range(n)) + "\n")
    return path


def test_rmbench_all_methods_table1(model_dir, tmp_path, capsys):
    data = _rmbench(tmp_path / "rmb.json")
    out = tmp_path / "out"
    assert cli.main(["bench", "--model", str(model_dir), "--data", str(data), "--methods",
                     "endorm,verifier,pointwise,pairwise", "--out", str(out), "--compare-paper", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "| Method | Chat | Math | Code | Safety | Easy | Normal | Hard | Avg |" in text
    assert "| EndoRM (paper) | 84.7 | 56.7 | 53.2 | 91.2 | 86.9 | 74.4 | 49.4 | 70.2 |" in text
    res = json.loads((out / "results.json").read_text())
    assert res["format"] == "rm-bench" and res["n_records"] == 6
    assert set(res["summary"]) == {"endorm", "verifier", "pointwise", "pairwise"}
    lines = [json.loads(x) for x in (out / "scores.jsonl").read_text().splitlines()]
    assert len(lines) == 24 and all(len(d.get("chosen", d.get("prefs"))) == 3 for d in lines)
    assert (out / "results.md").read_text().strip() == text.strip()
    # the table is computed from the scores: EndoRM's Normal (diagonal) by hand, per domain as upstream
    dom = {f"q{i}": ["chat", "math", "code", "safety", "safety", "math"][i] for i in range(6)}
    per = {}
    for d in lines:
        if d["method"] == "endorm":
            per.setdefault(dom[d["id"]], []).append(sum(d["chosen"][i] > d["rejected"][i] for i in range(3)) / 3)
    normal = sum(sum(v) / len(v) for v in per.values()) / 4
    assert res["summary"]["endorm"]["default"]["rm-bench"]["Normal"] == pytest.approx(100 * normal, abs=1e-9)


def test_dsp_cross_domain_matrix(model_dir, tmp_path, capsys):
    doms = ["academy", "business", "entertainment", "literature", "normal"]
    data = tmp_path / "dsp.json"
    data.write_text(json.dumps([{"query": f"Tell me about topic {i}.",
                                 "responses": {d: f"A {d} answer to {i}." for d in doms}} for i in range(3)]))
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({d: f"You are an assistant for {d}." for d in doms[:4]}))
    out = tmp_path / "out"
    assert cli.main(["bench", "--model", str(model_dir), "--data", str(data), "--domain-prompts", str(prompts),
                     "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "| prompt \\ data | Academy | Business | Literature&Art | Entertainment |" in text  # paper's order
    mat = json.loads((out / "dsp_matrix_endorm.json").read_text())
    assert len(mat["accuracy_percent"]) == 4 and all(len(r) == 4 for r in mat["accuracy_percent"])
    assert (out / "dsp_matrix_endorm.png").read_bytes()[:4] == b"\x89PNG"
    lines = [json.loads(x) for x in (out / "scores.jsonl").read_text().splitlines()]
    assert len(lines) == 4 * 12  # 4 prompt domains x (3 queries x 4 data domains)


def test_system_prompt_changes_scores_and_skip_invalid(model_dir, tmp_path, capsys):
    data = _pairs(tmp_path / "p.jsonl", 4)
    with open(data, "a") as fh:
        fh.write('{"prompt": "x", "chosen": 3, "rejected": "y"}\n')
    assert cli.main(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "a"),
                     "--no-progress"]) == 2
    assert "p.jsonl:5" in capsys.readouterr().err
    runs = {}
    for name, extra in (("a", []), ("b", ["--system-prompt", "Be a strict grader."])):
        assert cli.main(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / name),
                         "--skip-invalid", "--no-progress", *extra]) == 0
        assert "skipped 1 invalid record(s)" in capsys.readouterr().err
        runs[name] = [json.loads(x)["chosen"][0] for x in (tmp_path / name / "scores.jsonl").read_text().splitlines()]
    assert len(runs["a"]) == 4 and runs["a"] != runs["b"]


_STOP_BEFORE_CHUNK = """
import os, signal, sys
import endorm.llm.bench.runner as R
from endorm import cli
inner, calls, stop_at = R.score_chunk, [0], int(sys.argv[1])
def score_chunk(*args, **kwargs):
    calls[0] += 1
    if calls[0] == stop_at:
        os.kill(os.getpid(), signal.SIGSTOP)
    return inner(*args, **kwargs)
R.score_chunk = score_chunk
sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_kill_midway_then_resume(model_dir, tmp_path):
    data = _pairs(tmp_path / "p.jsonl", 40)
    base = [sys.executable, "-m", "endorm.cli", "bench", "--model", str(model_dir), "--data", str(data),
            "--chunk", "1", "--batch-size", "1", "--no-progress"]
    ref = tmp_path / "ref"
    subprocess.run(base + ["--out", str(ref)], check=True, capture_output=True, timeout=300)
    out = tmp_path / "killed"
    # The run stops itself (SIGSTOP) before its 6th chunk, i.e. after exactly 5 lines are on disk; the
    # test waits for that stop, not for a clock, and then kills it.
    proc = subprocess.Popen([sys.executable, "-c", _STOP_BEFORE_CHUNK, "6", *base[3:], "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), status
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    scores = out / "scores.jsonl"
    assert scores.read_text().count("\n") == 5  # killed midway
    with scores.open("a") as fh:  # and as if killed during a write: a half-written last line
        fh.write('{"id": "p5", "method": "end')
    subprocess.run(base + ["--out", str(out)], check=True, capture_output=True, timeout=300)
    lines = [json.loads(x) for x in scores.read_text().splitlines()]
    assert sorted(d["id"] for d in lines) == sorted(f"p{i}" for i in range(40))  # nothing lost, nothing twice
    ref_lines = {d["id"]: d for d in map(json.loads, (ref / "scores.jsonl").read_text().splitlines())}
    assert all(d["chosen"] == pytest.approx(ref_lines[d["id"]]["chosen"], abs=1e-6) for d in lines)
    assert json.loads((out / "results.json").read_text())["summary"] == \
        json.loads((ref / "results.json").read_text())["summary"]


@pytest.mark.slow
def test_two_real_processes_give_the_single_process_table(model_dir, tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun not installed beside this Python")
    data = _pairs(tmp_path / "p.jsonl", 9)
    args = ["-m", "endorm.cli", "bench", "--model", str(model_dir), "--data", str(data), "--no-progress"]
    subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], check=True, capture_output=True,
                   timeout=300)
    res = subprocess.run([torchrun, "--nproc_per_node", "2", *args, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    ids = [[json.loads(x)["id"] for x in (tmp_path / "two" / f"scores.rank{k}.jsonl").read_text().splitlines()]
           for k in range(2)]
    assert len(ids[0]) == 5 and len(ids[1]) == 4 and not set(ids[0]) & set(ids[1])  # accelerate's split
    one = json.loads((tmp_path / "one" / "results.json").read_text())["summary"]
    two = json.loads((tmp_path / "two" / "results.json").read_text())["summary"]
    assert one == two


def test_resume_rules(model_dir, tmp_path, capsys):
    """Edited items are rescored; other methods or a --limit resume; another model's folder is refused."""
    data = _pairs(tmp_path / "p.jsonl", 4)
    out = tmp_path / "out"
    run = ["bench", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--no-progress"]
    assert cli.main(run + ["--limit", "2"]) == 0
    assert cli.main(run) == 0  # the rest of the file
    lines = (out / "scores.jsonl").read_text().splitlines()
    assert len(lines) == 4
    text = data.read_text().replace('"chosen": "0"', '"chosen": "zero"')
    data.write_text(text)
    assert cli.main(run) == 0
    lines = [json.loads(x) for x in (out / "scores.jsonl").read_text().splitlines()]
    assert len(lines) == 5 and [d["id"] for d in lines].count("p0") == 2  # p0 rescored, nothing else
    res = json.loads((out / "results.json").read_text())
    assert res["summary"]["endorm"]["default"]["overall"]["n"] == 4  # the stale p0 line is not counted
    assert cli.main(run + ["--methods", "endorm,verifier"]) == 0  # adding a method resumes
    assert cli.main(run + ["--alpha", "0.5"]) == 2
    assert "holds a different run (differs in alpha)" in capsys.readouterr().err


def test_domain_prompts_are_checked(model_dir, tmp_path, capsys):
    data = tmp_path / "dsp.json"
    doms = ["academy", "business", "entertainment", "literature", "normal"]
    data.write_text(json.dumps([{"query": "q", "responses": {d: d for d in doms}}]))
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"Academy": "x"}))
    args = ["bench", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "o"), "--no-progress"]
    assert cli.main(args + ["--domain-prompts", str(prompts)]) == 2
    assert "unknown domain(s) ['Academy']" in capsys.readouterr().err
    pairs = _pairs(tmp_path / "p.jsonl", 2)
    prompts.write_text(json.dumps({"academy": "x"}))
    assert cli.main(["bench", "--model", str(model_dir), "--data", str(pairs), "--out", str(tmp_path / "o2"),
                     "--domain-prompts", str(prompts)]) == 2
    assert "--domain-prompts needs DSP data" in capsys.readouterr().err


def test_multifaceted_run_draws_figure1(model_dir, tmp_path):
    rows = [{"source": src, "system": f"Style {k}", "prompt": f"Topic {t}", "reference_answer": f"{src} {t} {k}",
             "rubric": "r"} for src in ("alpha", "beta") for t in range(2) for k in range(2)]
    data = tmp_path / "mf.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    assert cli.main(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--no-progress"]) == 0
    fig = json.loads((out / "accuracy_by_subset.json").read_text())
    assert set(fig["percent"]["endorm"]) == {"alpha", "beta"}
    res = json.loads((out / "results.json").read_text())["summary"]["endorm"]["default"]["subsets"]
    assert fig["percent"]["endorm"]["alpha"][0] == pytest.approx(100 * res["alpha"]["accuracy"])
    for s in ("alpha", "beta"):  # Wilson 95% over comparisons, ties losing (the point value's rule)
        c = fig["counts"]["endorm"][s]
        # per source: 4 rows, each against the 2 rows of its prompt with another system message
        assert c["comparisons"] == res[s]["n_comparisons"] == 8 and c["items"] == res[s]["n"] == 4
        assert c["wins"] / c["comparisons"] == pytest.approx(res[s]["accuracy"])
        want = binomtest(c["wins"], c["comparisons"]).proportion_ci(method="wilson")
        assert fig["percent"]["endorm"][s][1:] == pytest.approx([100 * want.low, 100 * want.high])
    assert "Wilson" in fig["interval"]
    assert (out / "accuracy_by_subset.png").read_bytes()[:4] == b"\x89PNG"


def test_subset_intervals_of_tiny_n_are_not_certain():
    """3 wins of 3 comparisons: 100% with a Wilson interval from 43.9% (z^2/(n + z^2) below), not [100, 100]; a tie
    loses, as in the accuracy."""
    from endorm.llm.bench.report import subset_intervals

    acc = lambda a, n, t: {"accuracy": a, "ci_low": a, "ci_high": a, "n": n, "ties": t, "n_comparisons": n}  # noqa
    summary = {"endorm": {"default": {"subsets": {"a": acc(1.0, 3, 0), "b": acc(2 / 4, 4, 1)}}}}
    cells = subset_intervals(summary, "default")["endorm"]
    z2 = 1.959963984540054 ** 2
    assert cells["a"]["ci_low"] == pytest.approx(3 / (3 + z2)) and cells["a"]["ci_high"] == 1.0
    assert cells["b"]["wins"] == 2 and cells["b"]["ties"] == 1
    want = binomtest(2, 4).proportion_ci(method="wilson")
    assert (cells["b"]["ci_low"], cells["b"]["ci_high"]) == pytest.approx((want.low, want.high))


@pytest.fixture(scope="module")
def short_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("short") / "tiny", "gpt2", seed=6, max_positions=64)


def test_items_longer_than_the_context_are_found_before_the_model_loads(short_model, tmp_path, capsys):
    """Item 5 of issue 11: long items never stop a run under --skip-invalid; --truncate scores them for EndoRM."""
    data = tmp_path / "long.jsonl"
    rows = [{"id": "ok", "prompt": "Hi", "chosen": "yes", "rejected": "no"},
            {"id": "long-prompt", "prompt": "word " * 80, "chosen": "yes", "rejected": "no"},
            {"id": "long-response", "prompt": "Hi", "chosen": "word " * 80, "rejected": "no"},
            {"id": "empty", "prompt": "Hi", "chosen": "", "rejected": "no"}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    base = ["bench", "--model", str(short_model), "--data", str(data), "--no-progress"]
    assert cli.main(base + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "long.jsonl:2 (id 'long-prompt'): endorm: chosen[0] has" in err and "longer than the model's context of 64" in err
    assert "--skip-invalid" in err and "--truncate" in err and "truncate=True" not in err
    assert not out.exists()  # found before anything was written or loaded
    assert cli.main(base + ["--out", str(out), "--skip-invalid"]) == 0
    res = json.loads((out / "results.json").read_text())  # an empty response is its end token alone: scored
    assert res["n_records"] == 2 and [x.split(" ")[0] for x in res["left_out"]] == ["long.jsonl:2", "long.jsonl:3"]
    assert "Left out 2 record(s)" in (out / "results.md").read_text()
    out2 = tmp_path / "out2"  # --truncate: the long prompt is cut from the left, the long response still cannot fit
    assert cli.main(base + ["--out", str(out2), "--skip-invalid", "--truncate"]) == 0
    res = json.loads((out2 / "results.json").read_text())
    assert res["n_records"] == 3 and len(res["left_out"]) == 1 and "with --truncate" in res["left_out"][0]
    out4 = tmp_path / "out4"  # without the end token an empty response has nothing to score
    assert cli.main(base + ["--out", str(out4), "--skip-invalid", "--no-end-token"]) == 0
    left = json.loads((out4 / "results.json").read_text())["left_out"]
    assert len(left) == 3 and "long.jsonl:4 (id 'empty'): endorm: empty response" in left[2]
    out3 = tmp_path / "out3"  # a judge cannot truncate: its prompt (489 tokens here) must fit
    capsys.readouterr()
    assert cli.main(base + ["--out", str(out3), "--skip-invalid", "--methods", "verifier"]) == 2
    err = capsys.readouterr().err
    assert "no records left to score (4 left out: long.jsonl:1 (id 'ok'): verifier: the judge prompt of chosen[0]" in err
    assert not out3.exists()


def test_domain_flag_settles_an_ambiguous_file(model_dir, tmp_path, capsys):
    data = tmp_path / "rows.json"
    data.write_text(json.dumps([{"id": "1", "prompt": "Hi", "chosen": ["a", "b", "c"], "rejected": ["d", "e", "f"]}]))
    base = ["bench", "--model", str(model_dir), "--data", str(data), "--no-progress"]
    assert cli.main(base + ["--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "ambiguous layout" in err and "--domain" in err and "--format" in err
    assert cli.main(base + ["--out", str(tmp_path / "b"), "--domain", "code"]) == 0
    assert "| EndoRM | – | – |" in capsys.readouterr().out  # one Code record: Chat and Math empty


def test_real_rmbench_files_limit_per_file_and_domain_must_agree_with_the_file_name(model_dir, tmp_path, capsys):
    """The four RM-Bench files as published on GitHub, one run, no --format: the Table 1 layout, every
    domain but Math filled (--limit is per file)."""
    from helpers import shared_path

    base = shared_path("data", "rm-bench")
    files = [str(base / f"{d}_filtered.json") for d in ("chat", "code", "safety-refuse", "safety-response")]
    out = tmp_path / "out"
    assert cli.main(["bench", "--model", str(model_dir), "--data", *files, "--limit", "3", "--out", str(out),
                     "--no-progress", "--skip-invalid", "--truncate"]) == 0
    assert "| Method | Chat | Math | Code | Safety | Easy | Normal | Hard | Avg |" in capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    table = res["summary"]["endorm"]["default"]["rm-bench"]
    assert res["format"] == "rm-bench" and res["n_records"] + len(res["left_out"]) == 12  # --limit is per file
    assert table["n"] + len(res["left_out"]) == 12 and table["missing"] == ["Math"]  # Chat, Code, Safety filled
    capsys.readouterr()
    assert cli.main(["bench", "--model", str(model_dir), "--data", files[0], "--domain", "code", "--out",
                     str(tmp_path / "o2")]) == 2
    assert "--domain code contradicts the file name chat_filtered.json" in capsys.readouterr().err
    assert cli.main(["bench", "--model", str(model_dir), "--data", str(base), "--out", str(tmp_path / "o3")]) == 2
    assert "is a directory; give the files in it" in capsys.readouterr().err


def test_a_conversation_the_template_refuses_is_left_out_under_skip_invalid(model_dir, tmp_path, capsys):
    import shutil

    from transformers import AutoTokenizer

    d = tmp_path / "strict"
    shutil.copytree(model_dir, d)
    tok = AutoTokenizer.from_pretrained(d)
    tok.chat_template = ("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                         "{{ raise_exception('roles must alternate') }}{% endif %}<|im_start|>{{ m['role'] }}\n"
                         "{{ m['content'] }}<|im_end|>\n{% endfor %}"
                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tok.save_pretrained(d)
    data = tmp_path / "conv.jsonl"
    good = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}, {"role": "user", "content": "?"}]
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    data.write_text("\n".join(json.dumps({"id": i, "prompt": p, "chosen": "x", "rejected": "y"})
                              for i, p in (("good", good), ("bad", bad))) + "\n")
    base = ["bench", "--model", str(d), "--data", str(data), "--no-progress", "--methods", "endorm,verifier"]
    assert cli.main(base + ["--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "conv.jsonl:2 (id 'bad'): endorm: the chat template refuses this conversation: roles must alternate" in err
    assert cli.main(base + ["--out", str(tmp_path / "b"), "--skip-invalid"]) == 0
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    assert res["n_records"] == 1 and len(res["left_out"]) == 1


def test_table1_says_when_a_domain_is_missing(model_dir, tmp_path, capsys):
    data = _rmbench(tmp_path / "rmb.json", n=3)  # chat, math, code: no safety item
    assert cli.main(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "o"),
                     "--no-progress"]) == 0
    assert "Safety: no items in this run, so Easy, Normal, Hard and Avg are means over the other domains only" in \
        capsys.readouterr().out
