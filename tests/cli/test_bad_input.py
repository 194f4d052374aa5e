"""Bad input and faults (issue 12): each command run on malformed files generated here.

Every case asserts exit status 2, a one-line message naming the flag or ``file:line`` (and the
record id), and that nothing of the user's changed. Cases 2, 11 (rl) and 12 are in tests/llm/rl.
"""
import json
import os
import signal
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm import cli  # noqa: E402
from endorm.llm.testing import save_tiny_model  # noqa: E402

DEEP = '{"prompt": "p", "chosen": "a", "rejected": "b", "x": ' + "[" * 200_000 + "]" * 200_000 + "}"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny", "gpt2", seed=1, max_positions=2048)


@pytest.fixture(scope="module")
def bare_model(tmp_path_factory, model_dir):
    """Config and tokenizer, no weights: an error reported from here was found before the model loads."""
    import shutil

    bare = tmp_path_factory.mktemp("bare") / "tiny"
    shutil.copytree(model_dir, bare)
    for f in bare.glob("*.safetensors"):
        f.unlink()
    return bare


def run(argv, capsys):
    """(exit status, stderr) of ``endorm ARGV``; argparse's SystemExit counts as its status."""
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def jsonl(path, lines):
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


GOOD = [json.dumps({"id": f"g{i}", "prompt": f"Say {i}.", "chosen": f"{i}", "rejected": f"{i + 1}"}) for i in range(3)]
MATH_GOOD = [json.dumps({"unique_id": f"m{i}", "problem": f"What is {i} + 1?", "answer": str(i + 1)}) for i in range(2)]


# 1. a line nested 200,000 levels deep: file:line, exit 2, skippable
def test_case1_deeply_nested_line_is_a_file_line_error(model_dir, tmp_path, capsys):
    data = jsonl(tmp_path / "deep.jsonl", [GOOD[0], DEEP, GOOD[1]])
    code, err = run(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "deep.jsonl:2: invalid JSON: nested too deeply" in err
    code, err = run(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "o"),
                     "--skip-invalid", "--no-progress"], capsys)
    assert code == 0 and "skipped 1 invalid record(s), e.g. deep.jsonl:2: invalid JSON: nested too deeply" in err
    math = jsonl(tmp_path / "math500.jsonl", [MATH_GOOD[0], DEEP.replace('"prompt"', '"problem"'), MATH_GOOD[1]])
    code, err = run(["eval-math", "--model", str(model_dir), "--data", str(math), "--out", str(tmp_path / "m")], capsys)
    assert code == 2 and "math500.jsonl:2: invalid JSON: nested too deeply" in err and not (tmp_path / "m").exists()
    code, err = run(["eval-math", "--model", str(model_dir), "--data", str(math), "--out", str(tmp_path / "m"),
                     "--skip-invalid", "--max-new-tokens", "2", "--workers", "1", "--no-progress"], capsys)
    assert code == 0 and "skipped 1 invalid line(s)" in err
    res = json.loads((tmp_path / "m" / "results.json").read_text())
    assert res["problems"] == 2 and res["skipped"][0].endswith("math500.jsonl:2: invalid JSON: nested too deeply")


# 3. non-positive limits are errors, not "all" or "all but the last"
@pytest.mark.parametrize("command", ["bench", "eval-math"])
@pytest.mark.parametrize("limit", ["0", "-1"])
def test_case3_non_positive_limit(model_dir, tmp_path, capsys, command, limit):
    data = jsonl(tmp_path / ("d.jsonl" if command == "bench" else "math500.jsonl"),
                 GOOD if command == "bench" else MATH_GOOD)
    code, err = run([command, "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "o"),
                     "--limit", limit], capsys)
    assert code == 2 and f"argument --limit: must be >= 1, got {limit}" in err and not (tmp_path / "o").exists()


# 4. an unrelated folder of the user's is never written into
@pytest.mark.parametrize("command", ["bench", "eval-math"])
def test_case4_unrelated_folder_is_refused_untouched(model_dir, tmp_path, capsys, command):
    data = jsonl(tmp_path / ("d.jsonl" if command == "bench" else "math500.jsonl"),
                 GOOD if command == "bench" else MATH_GOOD)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.json").write_text('{"my": "numbers"}')
    (mine / "results.md").write_text("# my notes\n")
    before = snapshot(mine)
    code, err = run([command, "--model", str(model_dir), "--data", str(data), "--out", str(mine)], capsys)
    assert code == 2 and f"{mine} is not empty and holds no endorm run (no run.json)" in err
    assert snapshot(mine) == before
    bench_run = tmp_path / "bench-run"  # a folder of the other command is refused too
    assert run(["bench", "--model", str(model_dir), "--data", str(jsonl(tmp_path / "b.jsonl", GOOD)),
                "--out", str(bench_run), "--no-progress"], capsys)[0] == 0
    if command == "eval-math":
        before = snapshot(bench_run)
        code, err = run([command, "--model", str(model_dir), "--data", str(data), "--out", str(bench_run)], capsys)
        assert code == 2 and "holds a different run (differs in" in err and "command" in err
        assert snapshot(bench_run) == before


# 5. bytes that are not UTF-8 on line 3: named, and skippable
def test_case5_non_utf8_line(model_dir, tmp_path, capsys):
    data = jsonl(tmp_path / "bytes.jsonl", [GOOD[0], GOOD[1], b'{"prompt": "caf\xff", "chosen": "a", "rejected": "b"}'])
    code, err = run(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "bytes.jsonl:3: not valid UTF-8: byte 0xff at column 16" in err
    code, err = run(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "o"),
                     "--skip-invalid", "--no-progress"], capsys)
    assert code == 0 and json.loads((tmp_path / "o" / "results.json").read_text())["n_records"] == 2


# 6. per-record problems: file:line and id, before the model loads, skippable
def test_case6_record_problems_named_before_the_model_loads(bare_model, tmp_path, capsys):
    data = jsonl(tmp_path / "d.jsonl", [GOOD[0], GOOD[1], json.dumps({"id": "er", "prompt": "p", "chosen": "",
                                                                      "rejected": ""})])
    code, err = run(["bench", "--model", str(bare_model), "--data", str(data), "--out", str(tmp_path / "o"),
                     "--no-end-token"], capsys)
    assert code == 2 and "d.jsonl:3 (id 'er'): endorm: empty response" in err and "--skip-invalid" in err
    assert not (tmp_path / "o").exists()  # found with the tokenizer alone: the bare folder has no weights
    long = jsonl(tmp_path / "long.jsonl", GOOD[:2] + [json.dumps({"id": "lj", "prompt": "word " * 900, "chosen": "a",
                                                                  "rejected": "b"})])
    code, err = run(["bench", "--model", str(bare_model), "--data", str(long), "--out", str(tmp_path / "o"),
                     "--methods", "verifier"], capsys)
    assert code == 2 and "long.jsonl:3 (id 'lj'): verifier: the judge prompt of chosen[0] has" in err


# 7. every argument checked before anything is written: the corrected rerun in the same folder works
def test_case7_bad_alpha_writes_nothing(model_dir, tmp_path, capsys):
    data, out = jsonl(tmp_path / "d.jsonl", GOOD), tmp_path / "o"
    code, err = run(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--alpha", "0"], capsys)
    assert code == 2 and "argument --alpha: must be > 0.0, got 0" in err and not out.exists()
    assert run(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--alpha", "1",
                "--no-progress"], capsys)[0] == 0


# 8. every numeric flag has a range checked by the parser, naming the flag
@pytest.mark.parametrize("argv, message", [
    (["bench", "--chunk", "0"], "argument --chunk: must be >= 1, got 0"),
    (["bench", "--batch-size", "-2"], "argument --batch-size: must be >= 1, got -2"),
    (["bench", "--gamma", "1.5"], "argument --gamma: must be <= 1.0, got 1.5"),
    (["bench", "--floor", "nan"], "argument --floor: must be a finite number, got 'nan'"),
    (["eval-math", "--workers", "0"], "argument --workers: must be >= 1, got 0"),
    (["score", "--alpha", "-1"], "argument --alpha: must be > 0.0, got -1"),
    (["rl", "--num-generations", "1"], "argument --num-generations: must be >= 2, got 1"),
    (["verify", "--seed", "-1"], "argument --seed: must be >= 0, got -1"),
])
def test_case8_numeric_flags(tmp_path, capsys, argv, message):
    base = {"bench": ["--model", "m", "--data", "d.jsonl", "--out", "o"], "eval-math": ["--model", "m", "--data", "d",
            "--out", "o"], "score": ["--model", "m", "--prompt", "p", "--response", "r"],
            "rl": ["--model", "m", "--prompts", "p", "--out", "o"], "verify": []}[argv[0]]
    code, err = run([argv[0], *base, *argv[1:]], capsys)
    assert code == 2 and message in err


# 9. a model folder without tokenizer files says so
@pytest.mark.parametrize("command", ["score", "bench", "eval-math", "rl"])
def test_case9_missing_tokenizer_files(model_dir, tmp_path, capsys, command):
    import shutil

    folder = tmp_path / "no-tokenizer"
    shutil.copytree(model_dir, folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"):
        (folder / name).unlink(missing_ok=True)
    argv = {"score": ["--prompt", "hi", "--response", "hello"],
            "bench": ["--data", str(jsonl(tmp_path / "d.jsonl", GOOD)), "--out", str(tmp_path / "o")],
            "eval-math": ["--data", str(jsonl(tmp_path / "math500.jsonl", MATH_GOOD)), "--out", str(tmp_path / "o")],
            "rl": ["--prompts", str(jsonl(tmp_path / "p.jsonl", ['{"prompt": "hi"}'])), "--out", str(tmp_path / "o")],
            }[command]
    code, err = run([command, "--model", str(folder), *argv], capsys)
    assert code == 2 and f"{folder} has no tokenizer files (looked for tokenizer.json, tokenizer_config.json" in err


# 10. one process per run folder; a killed holder leaves no stale lock
def test_case10_a_folder_in_use_is_refused(model_dir, tmp_path, capsys):
    data, out = jsonl(tmp_path / "d.jsonl", GOOD), tmp_path / "o"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
        "print('locked', flush=True); time.sleep(600)"), str(out / ".endorm.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, err = run(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--no-progress"],
                        capsys)
        assert code == 2 and f"{out} is in use by another endorm process" in err
        assert not (out / "scores.jsonl").exists()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert run(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--no-progress"],
               capsys)[0] == 0  # the killed holder's lock went with it


# 11. no model folder's own code runs unless --trust-remote-code
def test_case11_trust_remote_code_is_always_explicit(model_dir, tmp_path, capsys, monkeypatch):
    import transformers

    seen = []
    for cls in (transformers.AutoTokenizer, transformers.AutoConfig, transformers.AutoModelForCausalLM):
        original = cls.from_pretrained.__func__

        def spy(klass, *a, _original=original, **kw):
            seen.append((klass.__name__, kw.get("trust_remote_code", "not passed")))
            return _original(klass, *a, **kw)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    assert run(["score", "--model", str(model_dir), "--prompt", "hi", "--response", "hello"], capsys)[0] == 0
    assert seen and all(v is False for _, v in seen), seen
    seen.clear()
    assert run(["score", "--model", str(model_dir), "--prompt", "hi", "--response", "hello", "--trust-remote-code"],
               capsys)[0] == 0
    assert seen and all(v is True for _, v in seen), seen


# 6, eval-math: a prompt that cannot fit with its new tokens, or cannot be tokenized: file:line, before loading
def test_case6_eval_math_prompts_are_checked_before_the_model_loads(bare_model, model_dir, tmp_path, capsys):
    data = jsonl(tmp_path / "math500.jsonl", MATH_GOOD + [json.dumps({"unique_id": "big", "problem": "word " * 1500,
                                                                      "answer": "1"}),
                                                          json.dumps({"unique_id": "sur", "problem": "x\ud800",
                                                                      "answer": "1"})])
    code, err = run(["eval-math", "--model", str(bare_model), "--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "math500.jsonl:4: invalid text: a lone surrogate '\\ud800' is not Unicode" in err
    data.write_text("\n".join(data.read_text().splitlines()[:3]) + "\n")
    code, err = run(["eval-math", "--model", str(bare_model), "--data", str(data), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "math500.jsonl:3 (id 'big'): the prompt has" in err and "--max-new-tokens 1024" in err
    assert not (tmp_path / "o").exists()
    data.write_text(data.read_text() + json.dumps({"unique_id": "sur", "problem": "x\ud800", "answer": "1"}) + "\n")
    code, err = run(["eval-math", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "o"),
                     "--skip-invalid", "--max-new-tokens", "2", "--workers", "1", "--no-progress"], capsys)
    assert code == 0 and "skipped 2 invalid line(s)" in err
    skipped = json.loads((tmp_path / "o" / "results.json").read_text())["skipped"]
    assert "math500.jsonl:4: invalid text" in skipped[0] and "(id 'big'): the prompt has" in skipped[1]


# the same kinds, found again by a hostile review: every parser of the user's JSON/YAML, and the public functions
def test_kind1_every_reader_turns_parse_failures_into_one_line(model_dir, tmp_path, capsys):
    deep = "[" * 100_000 + "]" * 100_000
    prompts = jsonl(tmp_path / "p.jsonl", ['{"prompt": "hi"}', '{"prompt": ' + deep + "}"])
    code, err = run(["rl", "--model", str(model_dir), "--prompts", str(prompts), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "p.jsonl:2: invalid JSON: nested too deeply" in err and not (tmp_path / "r").exists()
    utf = jsonl(tmp_path / "u.jsonl", ['{"prompt": "hi"}', b'{"prompt": "\xff"}'])
    code, err = run(["rl", "--model", str(model_dir), "--prompts", str(utf), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "u.jsonl:2: not valid UTF-8: byte 0xff" in err
    code, err = run(["score", "--model", str(model_dir), "--messages", deep, "--response", "x"], capsys)
    assert code == 2 and "--messages: invalid JSON: nested too deeply" in err
    dsp = jsonl(tmp_path / "dsp.jsonl", [json.dumps({"query": "q", "responses": {k: k for k in (
        "academy", "business", "entertainment", "literature", "normal")}})])
    (tmp_path / "dp.json").write_text(deep)
    code, err = run(["bench", "--model", str(model_dir), "--data", str(dsp), "--domain-prompts",
                     str(tmp_path / "dp.json"), "--out", str(tmp_path / "b")], capsys)
    assert code == 2 and "dp.json: invalid JSON: nested too deeply" in err
    (tmp_path / "c.yaml").write_text("model: " + "[" * 50_000 + "]" * 50_000 + "\n")
    code, err = run(["rl", "--config", str(tmp_path / "c.yaml")], capsys)
    assert code == 2 and "c.yaml: not valid YAML (nested too deeply)" in err
    math = jsonl(tmp_path / "math500.jsonl", [json.dumps({"unique_id": "a", "problem": "p", "answer": 1e308 * 10})])
    code, err = run(["eval-math", "--model", str(model_dir), "--data", str(math), "--out", str(tmp_path / "m")], capsys)
    assert code == 2 and "math500.jsonl:1: 'answer' must be a finite number, got inf" in err
    only_bad = jsonl(tmp_path / "bad.jsonl", [b"\xef\xbb\xbf" + GOOD[0].encode()])  # a BOM: the real error, shown
    code, err = run(["bench", "--model", str(model_dir), "--data", str(only_bad), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "bad.jsonl:1: invalid JSON" in err and "detect" not in err


def test_kind4_and_9_broken_run_json_and_tokenizer_files(model_dir, tmp_path, capsys):
    import shutil

    data = jsonl(tmp_path / "d.jsonl", GOOD)
    out = tmp_path / "o"
    out.mkdir()
    (out / "run.json").write_text("[1, 2]")
    code, err = run(["bench", "--model", str(model_dir), "--data", str(data), "--out", str(out)], capsys)
    assert code == 2 and "run.json is not an endorm run.json (a JSON list)" in err
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "tokenizer.json").write_text('{"version": ')
    code, err = run(["score", "--model", str(broken), "--prompt", "hi", "--response", "x"], capsys)
    assert code == 2 and f"{broken}: cannot load its tokenizer" in err


def test_kind12_public_functions_keep_their_contracts(model_dir, tmp_path):
    from endorm.llm import EndogenousReward
    from endorm.llm.bench.loaders import load_records
    from endorm.llm.math.data import load_problems
    from endorm.llm.rl.reward_fn import EndogenousRewardFunction

    data = jsonl(tmp_path / "d.jsonl", GOOD)
    for limit in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="limit must be None or an integer >= 1"):
            load_records(data, limit=limit)
        with pytest.raises(ValueError, match="limit must be None or an integer >= 1"):
            load_problems(jsonl(tmp_path / "math500.jsonl", MATH_GOOD), limit=limit)
    rm = EndogenousReward.from_pretrained(model_dir)
    with pytest.raises(ValueError, match="item 0: token id 99999 is outside the model's vocabulary of"):
        rm.token_rewards_from_ids([([1, 2], [99999])])
    with pytest.raises(ValueError, match="max_length must be None or an integer >= 1"):
        EndogenousReward(rm.model, rm.tokenizer, max_length=0)
    fn = EndogenousRewardFunction(rm, rm.tokenizer)
    with pytest.raises(ValueError, match="one prompt per completion"):
        fn(prompts=["p"], completion_ids=[[5], [6]])
    with pytest.raises(ValueError, match="one prompt per completion"):
        fn(prompts="pp", completion_ids=[[5], [6]])


@pytest.mark.parametrize("command", ["figures", "demo"])
def test_kind4_regenerating_commands_never_write_into_the_users_folder(tmp_path, capsys, command):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.json").write_text('{"mine": 1}')
    before = snapshot(mine)
    code, err = run([command, "--out", str(mine), "--quick"], capsys)
    assert code == 2 and f"{mine} is not empty and holds no endorm {command} output (no run.json)" in err
    assert snapshot(mine) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "run.json").write_text('{"command": "bench"}')
    code, err = run([command, "--out", str(other), "--quick"], capsys)
    assert code == 2 and f"holds the output of endorm bench, not of endorm {command}" in err
