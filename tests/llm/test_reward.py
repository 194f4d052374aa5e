"""EndogenousReward on tiny local models: exact against endorm.tabular, and its edge cases."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm.llm.reward import EndogenousReward  # noqa: E402
from endorm.llm.templates import encode  # noqa: E402
from endorm.llm.testing import save_tiny_model, tiny_causal_lm, word_tokenizer  # noqa: E402
import endorm.tabular as T  # noqa: E402
from helpers import log_policy_tolerance  # noqa: E402

WORDS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {arch: save_tiny_model(root / arch, arch, seed=1) for arch in ("gpt2", "llama", "qwen2")}


def _prefix_tree_logits(model, prompt, V, H):
    """Model logits at every prefix of length 0..H-1 after ``prompt``, as tabular layered logits,
    plus the logits after each full response (for the 'model' terminal): ([H x [V**h, V]], [N, V])."""
    mdp = T.prefix_tree(V, H)
    prompts, responses = T.all_responses(mdp)
    ids = torch.tensor([prompt + list(r) for r in responses])
    with torch.no_grad():
        logits = model(ids).logits.double().numpy()
    states = T.rollout_states(mdp, prompts, responses)
    P = len(prompt)
    layers = []
    for h in range(H):
        layer = np.empty((V**h, V))
        layer[states[:, h]] = logits[:, P - 1 + h]
        layers.append(layer)
    return mdp, responses, layers, logits[:, P - 1 + H]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_token_rewards_equal_the_tabular_simulator(arch, alpha):
    """The whole prefix tree of a 4-token transformer to depth 3: every response, every token, 1e-5."""
    V, H, prompt = 4, 3, [0, 2]
    model = tiny_causal_lm(arch, vocab_size=V, seed=3, max_positions=16)
    tok = word_tokenizer(WORDS, pad_token="d")
    mdp, responses, f, after = _prefix_tree_logits(model, prompt, V, H)
    rm = EndogenousReward(model, tok, alpha=alpha, batch_size=7)
    got = rm.token_rewards_from_ids([(prompt, list(r)) for r in responses])
    r_hat = T.endogenous_reward(mdp, f, alpha)
    states = T.rollout_states(mdp, np.zeros(len(responses), int), responses)
    per_token = np.stack([[r_hat[h][states[i, h], responses[i, h]] for h in range(H)] for i in range(len(responses))])
    np.testing.assert_allclose(np.stack([g.rewards for g in got]), per_token, atol=1e-5)
    lp = T.log_policy(mdp, f, alpha)
    per_lp = np.stack([[lp[h][states[i, h], responses[i, h]] for h in range(H)] for i in range(len(responses))])
    np.testing.assert_allclose(np.stack([g.log_probs for g in got]), per_lp, atol=1e-5)
    np.testing.assert_allclose([g.score for g in got], T.outcome_reward(mdp, f, alpha), atol=1e-5)
    for kind, gamma, floor in (("reward", 0.9, 0.5), ("logprob", 0.8, 0.0), ("logprob", 1.0, 0.0)):
        rm2 = EndogenousReward(model, tok, alpha=alpha, gamma=gamma, floor=floor, kind=kind)
        np.testing.assert_allclose([g.score for g in rm2.token_rewards_from_ids([(prompt, list(r)) for r in responses])],
                                   T.discounted_score(mdp, f, alpha, gamma=gamma, floor=floor, kind=kind), atol=1e-5)
    # terminal "model": the last step subtracts the model's own value after the response
    v_after = alpha * np.logaddexp.reduce(after / alpha, axis=1)
    rm3 = EndogenousReward(model, tok, alpha=alpha, terminal="model")
    got3 = rm3.token_rewards_from_ids([(prompt, list(r)) for r in responses])
    np.testing.assert_allclose([g.score for g in got3], T.outcome_reward(mdp, f, alpha) - v_after, atol=1e-5)
    # round trip, from EndoRM's own rewards: soft-optimal RL on them returns the model's own policy
    r_llm = [np.empty((V**h, V)) for h in range(H)]
    for i, g in enumerate(got):
        for h in range(H):
            r_llm[h][states[i, h], responses[i, h]] = g.rewards[h]
    sol = T.soft_optimal(mdp, r_llm, alpha)
    assert max(np.abs(a - b).max() for a, b in zip(sol.log_policy, lp)) < 1e-5
    # padding: responses of every length 1..H in one batch give the same log-probs
    mixed = [(prompt, list(r[:1 + i % H])) for i, r in enumerate(responses)]
    for i, g in enumerate(rm.token_rewards_from_ids(mixed)):
        np.testing.assert_allclose(g.log_probs, per_lp[i, :len(g.log_probs)], atol=1e-5)


@pytest.mark.parametrize("arch", ["gpt2", "llama", "qwen2"])
def test_log_probs_match_a_full_forward(model_dirs, arch):
    rm = EndogenousReward.from_pretrained(model_dirs[arch], chunk_mb=0.001)  # many tiny chunks
    prompts = ["What is 2 + 2?", "Hello", "Solve for x: 3x + 5 = 20"]
    responses = ["It is 4.", " world! The quick brown fox", "x = 5"]
    out = rm.token_rewards(prompts, responses, system="Be brief.")
    for p, r, o in zip(prompts, responses, out):
        e = encode(rm.tokenizer, p, r, "Be brief.", rm.template)
        with torch.no_grad():
            lp = torch.log_softmax(rm.model(torch.tensor([e.input_ids])).logits[0].double(), -1)
        ref = [lp[t - 1, e.input_ids[t]].item() for t in range(e.start, e.end)]
        np.testing.assert_allclose(o.log_probs, ref, atol=1e-5)
        assert "".join(o.tokens) == r + "<|im_end|>" and o.token_ids == e.input_ids[e.start:e.end]
        # Eq. 11 per token: r_hat = alpha log pi + V(s) - V(s')
        nxt = np.append(o.values[1:], o.next_value)
        np.testing.assert_allclose(o.rewards, o.log_probs + o.values - nxt, atol=1e-9)


def test_batching_and_order_do_not_change_scores(model_dirs):
    rm1 = EndogenousReward.from_pretrained(model_dirs["llama"], batch_size=1)
    rm4 = EndogenousReward.from_pretrained(model_dirs["llama"], batch_size=4)
    prompts = [f"Question {i}: " + "x" * (7 * i % 23) for i in range(9)]
    responses = ["The answer is " + str(i) * (i % 5 + 1) for i in range(9)]
    np.testing.assert_allclose(rm1.score(prompts, responses), rm4.score(prompts, responses), atol=1e-5)
    s = rm4.score(prompts, responses)
    assert s[3] == pytest.approx(rm4.score(prompts[3], responses[3])[0], abs=1e-5)


def test_response_tokens_come_from_the_full_text_not_from_the_response_alone(model_dirs):
    """'Respo' + 'nse 2': the full text has the merged token 'Response'; tokenizing 'nse 2' alone does not."""
    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"], template="plain")
    tok = rm.tokenizer
    e = encode(tok, "Is Respo", "nse 2 better", None, "plain", end_token=False)
    alone = tok("nse 2 better", add_special_tokens=False)["input_ids"]
    assert e.input_ids[e.start:e.end] != alone
    assert tok.decode(e.input_ids[e.start:e.end]).endswith("nse 2 better")
    assert "Response" in tok.convert_ids_to_tokens(e.input_ids[e.start:e.end])  # the straddling token
    naive = tok("Is Respo", add_special_tokens=False)["input_ids"] + alone
    assert naive != e.input_ids  # concatenation is a different token sequence


def test_templates(model_dirs):
    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"])
    assert rm.template == "chat"
    e = encode(rm.tokenizer, "Q?", "Yes.", "sys", "chat", end_token=False)
    text = rm.tokenizer.decode(e.input_ids)
    assert text.startswith("<|im_start|>system\nsys<|im_end|>") and rm.tokenizer.decode(e.input_ids[e.start:e.end]) == "Yes."
    d = encode(rm.tokenizer, "Q?", "Yes.", "sys", "appendix-d")
    assert "### Query\nQ?\n### Response\nYes." in rm.tokenizer.decode(d.input_ids)
    p = encode(rm.tokenizer, "Q?", " Yes.", "sys", "plain", end_token=False)
    assert rm.tokenizer.decode(p.input_ids) == "sys\n\nQ? Yes."
    p = encode(rm.tokenizer, "Q?", " Yes.", "sys", "plain")  # no special token after it: the EOS is appended
    assert rm.tokenizer.decode(p.input_ids) == "sys\n\nQ? Yes.<|endoftext|>" and p.end == len(p.input_ids)
    s = {t: EndogenousReward.from_pretrained(model_dirs["gpt2"], template=t).score("Q?", "Yes.", "sys")[0]
         for t in ("chat", "appendix-d", "plain")}
    assert len({round(v, 6) for v in s.values()}) == 3  # three different contexts


def test_compare_is_bradley_terry(model_dirs):
    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"])
    a, b = rm.score(["Q", "Q"], ["one", "two two"])
    p = rm.compare(["Q"], ["one"], ["two two"])[0]
    assert p == pytest.approx(1 / (1 + np.exp(a - b)), rel=1e-9)


def test_bad_input(model_dirs, tmp_path):
    with pytest.raises(FileNotFoundError, match="model directory not found"):
        EndogenousReward.from_pretrained(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        EndogenousReward.from_pretrained(tmp_path / "empty")
    d = model_dirs["gpt2"]
    for kw, match in ((dict(alpha=0), "alpha must be > 0, got 0"), (dict(alpha=-1.0), "alpha must be > 0"),
                      (dict(gamma=1.5), r"gamma must lie in \(0, 1\], got 1.5"), (dict(gamma=0), r"gamma must lie in \(0, 1\], got 0"),
                      (dict(kind="x"), "kind must be one of"), (dict(terminal="x"), "terminal must be one of")):
        with pytest.raises(ValueError, match=match):
            EndogenousReward.from_pretrained(d, **kw)
    rm = EndogenousReward.from_pretrained(d)
    with pytest.raises(ValueError, match="item 1: empty response"):
        EndogenousReward.from_pretrained(d, end_token=False).score(["a", "b"], ["ok", ""])
    (empty,) = rm.token_rewards(["a"], [""])  # the turn ends at once: its end token alone is scored
    e = encode(rm.tokenizer, "a", "", None, rm.template)
    with torch.no_grad():
        logits = rm.model(torch.tensor([e.input_ids[:e.end]])).logits[0, -2].double()
    assert empty.tokens == ["<|im_end|>"] and e.end == e.start + 1
    assert empty.score == pytest.approx(float(logits[e.input_ids[e.start]]), abs=1e-5)  # r_hat = f(s, EOS) - 0
    with pytest.raises(ValueError, match="same length"):
        rm.score(["a", "b"], ["ok"])
    short = EndogenousReward.from_pretrained(d, max_length=20)
    with pytest.raises(ValueError, match=r"item 0: the text has \d+ tokens, longer than the model's context of 20"):
        short.score("a long prompt " * 5, "and a response")
    trunc = EndogenousReward.from_pretrained(d, max_length=20, truncate=True)
    assert np.isfinite(trunc.score("a long prompt " * 5, "and a response")[0])
    with pytest.raises(ValueError, match="the response alone has"):
        trunc.score("q", "a very long response that cannot fit " * 3)


def test_missing_chat_template_and_pad_token(tmp_path):
    path = save_tiny_model(tmp_path / "base", "gpt2", chat_template=False, pad_token=False)
    with pytest.warns(UserWarning, match="no pad token; using its eos token"):
        rm = EndogenousReward.from_pretrained(path)
    assert rm.template == "plain" and rm.tokenizer.pad_token == "<|endoftext|>"
    assert np.isfinite(rm.score("Hello", " world")[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="no chat template; use template='plain'"):
            EndogenousReward.from_pretrained(path, template="chat")


def test_non_finite_logits_name_the_item(model_dirs):
    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"])
    rm.score("q", "fine")  # builds the cached head
    w, b, cap, scale = rm._head
    w = w.clone()
    w[5] = float("nan")
    rm._head = (w, b, cap, scale)
    with pytest.raises(ValueError, match="item 0: the model produced non-finite logits"):
        rm.score(["q"], ["anything"])


def test_bfloat16_model_accumulates_in_float32(model_dirs):
    fp32 = EndogenousReward.from_pretrained(model_dirs["llama"], dtype="float32")
    bf16 = EndogenousReward.from_pretrained(model_dirs["llama"], dtype="bfloat16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    a = fp32.token_rewards("What is 2 + 2?", "It is 4.")[0]
    b = bf16.token_rewards("What is 2 + 2?", "It is 4.")[0]
    assert b.log_probs.dtype == np.float64 and np.isfinite(b.rewards).all()
    assert bf16._lm_head()[0].dtype == torch.float32
    # reference: the bf16 model's hidden states through the head in float64; a bf16 head or a bf16
    # logsumexp would be off by ~1e-2
    e = encode(bf16.tokenizer, "What is 2 + 2?", "It is 4.", None, bf16.template)
    with torch.no_grad():
        hid = bf16.model.model(torch.tensor([e.input_ids]))[0][0].double()
    lp = torch.log_softmax(hid @ bf16.model.lm_head.weight.double().T, -1)
    ref = [lp[t - 1, e.input_ids[t]].item() for t in range(e.start, e.end)]
    np.testing.assert_allclose(b.log_probs, ref, atol=2e-5)
    assert np.abs(b.log_probs - a.log_probs).max() > 1e-4  # bf16 weights do change the model
    with pytest.raises(ValueError, match="dtype must be a torch dtype name"):
        EndogenousReward.from_pretrained(model_dirs["llama"], dtype="float33")


def test_head_dtype_model_gives_the_models_own_logits(model_dirs):
    bf16 = EndogenousReward.from_pretrained(model_dirs["llama"], dtype="bfloat16", head_dtype="model")
    e = encode(bf16.tokenizer, "What is 2 + 2?", "It is 4.", None, bf16.template)
    with torch.no_grad():
        logits = bf16.model(torch.tensor([e.input_ids])).logits[0].double()  # the model's own bfloat16 logits
    rows = torch.arange(e.start - 1, e.end - 1)
    ref = torch.log_softmax(logits, -1)[rows, torch.tensor(e.input_ids[e.start:e.end])].numpy()
    err = np.abs(bf16.token_rewards("What is 2 + 2?", "It is 4.")[0].log_probs - ref)
    assert (err <= log_policy_tolerance(logits[rows], torch.bfloat16).numpy()).all()  # soft_values' bound
    fp = [EndogenousReward.from_pretrained(model_dirs["llama"], head_dtype=h).score("Q", "A b c")[0]
          for h in ("float32", "model")]
    assert fp[0] == pytest.approx(fp[1], abs=1e-9)  # float32 model: both paths are the same computation
    with pytest.raises(ValueError, match="head_dtype must be 'float32' or 'model'"):
        EndogenousReward.from_pretrained(model_dirs["llama"], head_dtype="fp8")


@pytest.mark.parametrize("attr, value, post", [("final_logit_softcapping", 1.5, lambda x: torch.tanh(x / 1.5) * 1.5),
                                               ("logit_scale", 0.25, lambda x: x * 0.25)])
def test_softcapping_and_logit_scale_are_applied(model_dirs, attr, value, post):
    rm = EndogenousReward.from_pretrained(model_dirs["llama"], alpha=0.7)
    e = encode(rm.tokenizer, "Hi", "there you go", None, rm.template)
    with torch.no_grad():
        raw = rm.model(torch.tensor([e.input_ids])).logits[0].double()
    setattr(rm.model.config, attr, value)
    rm._head, rm._head_checked = None, True  # as a model whose own forward applies the transform
    got = rm.token_rewards("Hi", "there you go")[0]
    lp = torch.log_softmax(post(raw) / 0.7, -1)
    np.testing.assert_allclose(got.log_probs, [lp[t - 1, e.input_ids[t]].item() for t in range(e.start, e.end)],
                               atol=1e-5)


def test_an_unsupported_logit_transform_is_detected(model_dirs):
    """A model whose forward scales its logits (as Granite's logits_scaling does) must not be scored silently."""
    import types

    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"])
    inner = rm.model.forward

    def scaled(self, *args, **kwargs):
        out = inner(*args, **kwargs)
        out.logits = out.logits / 8.0
        return out

    rm.model.forward = types.MethodType(scaled, rm.model)
    with pytest.raises(ValueError, match="transforms its logits after the LM head in a way endorm does not reproduce"):
        rm.score("Q", "A")


def test_multibyte_tokens_keep_their_text(model_dirs):
    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"])
    out = rm.token_rewards("Hi", "é🙂 ok")[0]
    assert "\ufffd" not in "".join(out.tokens) and "é" in out.tokens[0] + out.tokens[1]


def test_response_with_whitespace_or_inside_the_template(model_dirs, tmp_path):
    """Trailing newlines survive a trimming template; a response equal to template text is located exactly."""
    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"])
    tok = rm.tokenizer
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                         "{% if m['role'] == 'assistant' %}<think>\n\n</think>\n\n{% endif %}"
                         "{{ m['content'] | trim }}<|im_end|>\n{% endfor %}")
    for response in ("Hello\n", "im", "end", "think"):
        e = encode(tok, "Q", response, None, "chat", end_token=False)
        assert tok.decode(e.input_ids[e.start:e.end]) == response
        assert tok.decode(e.input_ids[:e.start]).endswith("</think>\n\n")
    assert np.isfinite(rm.score("Q", "Hello\n")[0])


def test_truncation_scores_the_truncated_ids(model_dirs):
    d = model_dirs["llama"]
    trunc = EndogenousReward.from_pretrained(d, max_length=20, truncate=True)
    e = encode(trunc.tokenizer, "a long prompt " * 5, "and a response", None, trunc.template)
    ids = e.input_ids[:e.end][-20:]
    start = e.start - (e.end - 20)
    ref = EndogenousReward.from_pretrained(d).token_rewards_from_ids([(ids[:start], ids[start:])])[0]
    got = trunc.token_rewards("a long prompt " * 5, "and a response")[0]
    np.testing.assert_allclose(got.rewards, ref.rewards, atol=1e-9)
    assert got.token_ids == ids[start:]


def test_corrupt_weights_are_one_clear_error(tmp_path, capsys):
    from endorm import cli

    path = save_tiny_model(tmp_path / "m", "gpt2")
    (path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(OSError, match="could not load a model and tokenizer from"):
        EndogenousReward.from_pretrained(path)
    assert cli.main(["score", "--model", str(path), "--prompt", "a", "--response", "b"]) == 2
    assert "endorm score: error: could not load" in capsys.readouterr().err


def test_template_without_a_system_role(model_dirs):
    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"])
    rm.tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")
    e = encode(rm.tokenizer, "Q?", "A.", "Be brief.", "chat", end_token=False)
    assert rm.tokenizer.decode(e.input_ids).startswith("<|im_start|>user\nBe brief.\n\nQ?<|im_end|>")
    assert rm.tokenizer.decode(e.input_ids[e.start:e.end]) == "A."
    assert encode(rm.tokenizer, "Q?", "A.", "   ", "chat") == encode(rm.tokenizer, "Q?", "A.", None, "chat")
