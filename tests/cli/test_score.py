"""`endorm score` end to end on a tiny local model."""
import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm import cli  # noqa: E402
from endorm.llm import EndogenousReward  # noqa: E402
from endorm.llm.testing import save_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny", "gpt2", seed=2, max_positions=2048)


def test_score_matches_the_python_api(model_dir, capsys):
    code = cli.main(["score", "--model", str(model_dir), "--prompt", "What is 2 + 2?", "--response", "It is 4.",
                     "--system", "Be brief.", "--json", "--alpha", "0.5", "--gamma", "0.9", "--device", "cpu"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    ref = EndogenousReward.from_pretrained(model_dir, alpha=0.5, gamma=0.9).score("What is 2 + 2?", "It is 4.",
                                                                                 "Be brief.")
    assert out["method"] == "endorm" and out["scores"][0] == pytest.approx(ref[0], abs=1e-9)


def test_tokens_table(model_dir, capsys):
    assert cli.main(["score", "--model", str(model_dir), "--prompt", "Hi", "--response", "Hello world",
                     "--response", "Bye", "--tokens"]) == 0
    text = capsys.readouterr().out
    assert "score[0] =" in text and "score[1] =" in text and "r_hat" in text and "' w'" in text
    assert cli.main(["score", "--model", str(model_dir), "--prompt", "Hi", "--response", "Hello world", "--tokens",
                     "--json"]) == 0
    tok = json.loads(capsys.readouterr().out)["tokens"][0]
    assert "".join(tok["tokens"]) == "Hello world<|im_end|>"  # the end-of-turn token is scored
    assert len(tok["log_probs"]) == len(tok["values"]) == len(tok["rewards"]) == len(tok["token_ids"])


def test_bad_input_is_one_clear_line(model_dir, tmp_path, capsys):
    assert cli.main(["score", "--model", str(tmp_path / "nope"), "--prompt", "a", "--response", "b"]) == 2
    assert "endorm score: error: model directory not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # the parser checks every numeric flag's range
        cli.main(["score", "--model", str(model_dir), "--prompt", "a", "--response", "b", "--alpha", "0"])
    assert e.value.code == 2 and "argument --alpha: must be > 0.0, got 0" in capsys.readouterr().err
    assert cli.main(["score", "--model", str(model_dir), "--prompt", "a", "--response", "", "--no-end-token"]) == 2
    assert "empty response" in capsys.readouterr().err
    assert cli.main(["score", "--model", str(model_dir), "--prompt", "a", "--response", "b", "--tokens",
                     "--method", "verifier"]) == 2
    assert capsys.readouterr().err == "endorm score: error: --tokens is only available with --method endorm\n"


@pytest.mark.parametrize("method", ["verifier", "pointwise"])
def test_score_with_a_judge(model_dir, capsys, method):
    from endorm.llm import GenerativeVerifier, GenRMPointwise

    code = cli.main(["score", "--model", str(model_dir), "--prompt", "Q?", "--response", "A.", "--method", method,
                     "--json"])
    assert code == 0, capsys.readouterr().err
    got = json.loads(capsys.readouterr().out)["scores"][0]
    cls = GenerativeVerifier if method == "verifier" else GenRMPointwise
    assert got == pytest.approx(cls.from_pretrained(model_dir).score(["Q?"], ["A."])[0], abs=1e-9)
    assert (0 < got < 1) if method == "verifier" else (1 <= got <= 10)


def test_score_pairwise(model_dir, capsys):
    from endorm.llm import GenRMPairwise

    assert cli.main(["score", "--model", str(model_dir), "--prompt", "Q?", "--response", "A.", "--response", "B!",
                     "--method", "pairwise", "--json"]) == 0
    p = json.loads(capsys.readouterr().out)["p_second_better"]
    assert p == pytest.approx(GenRMPairwise.from_pretrained(model_dir).compare(["Q?"], ["A."], ["B!"])[0], abs=1e-9)
    assert cli.main(["score", "--model", str(model_dir), "--prompt", "Q?", "--response", "A.", "--method",
                     "pairwise"]) == 2
    assert "needs exactly two --response" in capsys.readouterr().err


CONVERSATION = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "Name a colour."}]


def test_messages_and_no_end_token_match_the_python_api(model_dir, capsys):
    for extra, kw in (([], {}), (["--no-end-token"], {"end_token": False})):
        assert cli.main(["score", "--model", str(model_dir), "--messages", json.dumps(CONVERSATION), "--response",
                         "Blue.", "--json", "--tokens", *extra]) == 0
        out = json.loads(capsys.readouterr().out)
        ref = EndogenousReward.from_pretrained(model_dir, **kw).token_rewards([CONVERSATION], ["Blue."])[0]
        assert out["scores"][0] == pytest.approx(ref.score, abs=1e-9)
        assert "".join(out["tokens"][0]["tokens"]) == "Blue." + ("" if kw else "<|im_end|>")


@pytest.mark.parametrize("argv, message", [
    (["--messages", "[{"], "--messages: invalid JSON"),
    (["--messages", '{"role": "user"}'], "--messages: expected a JSON list"),
    (["--messages", '[{"role": "assistant", "content": "x"}]'], "--messages: prompt message 0: the conversation must end"),
    (["--messages", '[{"role": "bot", "content": "x"}]'], "--messages: prompt message 0: role must be one of"),
    (["--prompt", "x", "--messages", "[]"], "exactly one of --prompt"),
    ([], "exactly one of --prompt"),
])
def test_bad_messages_are_one_line_errors_before_the_model_loads(tmp_path, capsys, argv, message):
    missing = tmp_path / "no-model"  # never loaded: the error comes first
    assert cli.main(["score", "--model", str(missing), "--response", "r", *argv]) == 2
    assert message in capsys.readouterr().err


def test_items_are_checked_with_the_tokenizer_before_the_model_loads(model_dir, tmp_path, capsys):
    """A folder with config and tokenizer but no weights: every item error still comes first (not a load error)."""
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(model_dir, bare)
    for f in bare.glob("*.safetensors"):
        f.unlink()
    cases = [(["--prompt", "word " * 3000, "--response", "r"], "--response 1: endorm: the text has"),
             (["--prompt", "a", "--response", "ok", "--response", "", "--no-end-token"], "--response 2: endorm: empty response"),
             (["--prompt", "a", "--response", "r", "--method", "verifier", "--no-end-token"],
              "--no-end-token is only used by --method endorm"),
             (["--prompt", "word " * 3000, "--response", "r", "--method", "pairwise", "--response", "s"],
              "the responses: pairwise: the judge prompt has")]
    for argv, message in cases:
        assert cli.main(["score", "--model", str(bare), *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def test_a_conversation_the_template_refuses_is_a_one_line_error(model_dir, tmp_path, capsys):
    from endorm.llm.templates import encode
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.chat_template = ("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                         "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
                         "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    two_users = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(ValueError, match="the chat template refuses this conversation: Conversation roles must"):
        encode(tok, two_users, "r")
    d = tmp_path / "strict"
    import shutil

    shutil.copytree(model_dir, d)
    tok.save_pretrained(d)
    assert cli.main(["score", "--model", str(d), "--messages", json.dumps(two_users), "--response", "r"]) == 2
    err = capsys.readouterr().err
    assert "--response 1: endorm: the chat template refuses this conversation" in err and "Traceback" not in err


def test_no_eos_and_no_end_marker_is_an_error_unless_the_end_token_is_off():
    from endorm.llm.templates import encode
    from endorm.llm.testing import word_tokenizer

    tok = word_tokenizer(["<unk>", "a", "b", "c"])  # no EOS, no chat template
    with pytest.raises(ValueError, match="nothing ends the response.*--no-end-token"):
        encode(tok, "a ", "b", None, "plain")
    e = encode(tok, "a ", "b c", None, "plain", end_token=False)
    assert e.end - e.start == 2


def test_html_and_png_credit_maps_end_to_end(model_dir, tmp_path, capsys):
    """``--html``/``--png``: the page and the figure's JSON hold the scorer's own token rewards; stdout is unchanged."""
    import html

    from endorm.llm.credit import token_colour

    html_path, png_path = tmp_path / "out.html", tmp_path / "out.png"
    responses = ["It is <4> & 5", "Bye"]
    argv = ["score", "--model", str(model_dir), "--prompt", "What is 2 + 2?", "--alpha", "0.5", "--json",
            "--tokens", "--device", "cpu"] + [x for r in responses for x in ("--response", r)]
    assert cli.main(argv + ["--html", str(html_path), "--png", str(png_path)]) == 0
    io = capsys.readouterr()
    out = json.loads(io.out)  # stdout is still the JSON result alone
    assert f"wrote {html_path}, {png_path}, {tmp_path / 'out.json'}" in io.err
    ref = EndogenousReward.from_pretrained(model_dir, alpha=0.5).token_rewards(["What is 2 + 2?"] * 2, responses)
    numbers = json.loads((tmp_path / "out.json").read_text())
    page = html_path.read_text()
    limit = max(abs(x) for t in ref for x in t.rewards)
    assert numbers["colour_limit"] == pytest.approx(limit, abs=1e-12)
    for rec, t, printed in zip(numbers["records"], ref, out["tokens"]):
        np.testing.assert_allclose(rec["r_hat"], t.rewards, atol=1e-9)
        np.testing.assert_allclose(rec["r_hat"], printed["rewards"], atol=0)  # the same run as --tokens
        assert rec["tokens"] == t.tokens and rec["score"] == pytest.approx(t.score, abs=1e-9)
        for tok, r in zip(t.tokens, t.rewards):
            assert html.escape(f"{tok!r}") in page and f"r_hat = {r:.4f}" in page
            assert f"background:{token_colour(r, limit)}" in page
    assert png_path.read_bytes()[:4] == b"\x89PNG" and "<4>" not in page


@pytest.mark.parametrize("flag, path, message", [
    ("--html", "{tmp}/no-such-folder/out.html", "--html: '{tmp}/no-such-folder' is not an existing folder"),
    ("--png", "{tmp}/out.jpg", "--png must name a .png file, got '{tmp}/out.jpg'"),
    ("--html", "{tmp}/out.txt", "--html must name a .html file"),
    ("--png", "{tmp}/taken.png", "--png: '{tmp}/taken.png' is a folder; name a file"),
    ("--png", "{tmp}/beside.png", "--png: '{tmp}/beside.json' is a folder; name a file"),
])
def test_bad_map_paths_are_one_line_errors_before_the_model_loads(tmp_path, capsys, flag, path, message):
    (tmp_path / "taken.png").mkdir()
    (tmp_path / "beside.json").mkdir()
    missing = tmp_path / "no-model"  # never loaded: the path error comes first
    argv = ["score", "--model", str(missing), "--prompt", "a", "--response", "b", flag, path.format(tmp=tmp_path)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"endorm score: error: {message.format(tmp=tmp_path)}")
    assert err.count("\n") == 1 and "Traceback" not in err and "model directory" not in err
    assert cli.main(["score", "--model", str(missing), "--prompt", "a", "--response", "b", "--method", "verifier",
                     "--html", str(tmp_path / "x.html")]) == 2
    assert capsys.readouterr().err == "endorm score: error: --html is only available with --method endorm\n"
