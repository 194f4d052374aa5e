"""The real Qwen2.5 / Qwen3 tokenizers and six families' chat templates on real benchmark items.

A tiny random Qwen2-architecture model with the real vocabulary (151,665 / 151,669 ids) is
built from a config; per-token log pi, V and r_hat of ``EndogenousReward`` must equal a float64
computation from one unpadded forward of the model's own logits, for single- and multi-turn
prompts, with and without a system prompt, with ``<think>`` in the response, end token on and off.
Skipped with the reason when ``../shared`` is absent (a user's clone).
"""
import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import shared_path  # noqa: E402
from endorm.llm import EndogenousReward  # noqa: E402
from endorm.llm.judges import GenerativeVerifier, GenRMPointwise  # noqa: E402
from endorm.llm.judges.prompts import score_token_ids, yes_no_ids  # noqa: E402
from endorm.llm.templates import apply_chat, as_messages, encode, end_token_ids  # noqa: E402
from endorm.llm.testing import real_tokenizer, tiny_causal_lm  # noqa: E402

# template file (or None: the tokenizer's own), chat_template_kwargs, the end-of-turn marker it appends
TEMPLATES = {
    "qwen2.5": ("Qwen-Qwen2.5-7B-Instruct.jinja", {}, "<|im_end|>"),
    "qwen3-thinking": ("Qwen-Qwen3-0.6B.jinja", {}, "<|im_end|>"),
    "qwen3-non-thinking": ("Qwen-Qwen3-0.6B.jinja", {"enable_thinking": False}, "<|im_end|>"),
    "gemma-2": ("google-gemma-2-2b-it.jinja", {}, "<end_of_turn>"),
    "phi-3.5": ("microsoft-Phi-3.5-mini-instruct.jinja", {}, "<|end|>"),
    "llama-3.1": ("meta-llama-Llama-3.1-8B-Instruct.jinja", {}, "<|eot_id|>"),
    "mistral-nemo": ("mistralai-Mistral-Nemo-Instruct-2407.jinja", {}, "<|im_end|>"),  # its eos_token: Qwen's
}
THINK = "<think>\n2 plus 2 is 4.\n</think>\n\nIt is 4."


@pytest.fixture(scope="module")
def qwen3():
    """(model, tokenizer): the Qwen3 tokenizer with the other families' turn markers as special tokens."""
    tok = real_tokenizer(shared_path("tokenizers", "qwen3"), markers=True)
    model = tiny_causal_lm("qwen2", len(tok), seed=3, max_positions=4096, hidden=16)
    return model, tok


@pytest.fixture(scope="module")
def items():
    """Real items: an RM-Bench chat prompt with its first (concise) chosen response, and an Anthropic-HH
    conversation from DSP's helpful.test.json (its turns up to the last assistant turn, which is the response)."""
    rm = json.loads(shared_path("data", "rm-bench", "chat_filtered.json").read_text())[0]
    hh = json.loads(shared_path("data", "dsp", "helpful.test.json").read_text())
    text = next(r["text"][0] for r in hh if r["text"][0].count("\n\nHuman:") >= 2)
    turns = re.split(r"\n\n(Human|Assistant): ", text)[1:]
    msgs = [{"role": "user" if who == "Human" else "assistant", "content": c} for who, c in zip(turns[::2], turns[1::2])]
    return {"single": (rm["prompt"], rm["chosen"][0][:300]), "multi": (msgs[:-1], msgs[-1]["content"][:300]),
            "think": ("What is 2 + 2?", THINK)}


def brute(model, e, alpha=1.0):
    """(log pi, V, r_hat) [n] in float64 from the model's own logits of one unpadded forward (terminal zero)."""
    with torch.no_grad():
        logits = model(torch.tensor([e.input_ids[:e.end]])).logits[0].double()
    v = alpha * torch.logsumexp(logits / alpha, -1)        # v[t]: the value of the state after token t
    ys = torch.tensor(e.input_ids[e.start:e.end])
    f = logits[e.start - 1:e.end - 1].gather(1, ys[:, None])[:, 0]
    values = v[e.start - 1:e.end - 1]
    nxt = torch.cat([v[e.start:e.end - 1], torch.zeros(1, dtype=torch.float64)])
    return ((f - values) / alpha).numpy(), values.numpy(), (f - nxt).numpy()


def _set(tok, name):
    file, kwargs, marker = TEMPLATES[name]
    tok.chat_template = shared_path("tokenizers", "templates", file).read_text()
    return kwargs, marker


@pytest.mark.parametrize("end_token", [True, False])
@pytest.mark.parametrize("case", ["single", "single+system", "multi", "think"])
@pytest.mark.parametrize("name", list(TEMPLATES))
def test_token_quantities_equal_a_float64_forward(qwen3, items, name, case, end_token):
    model, tok = qwen3
    kwargs, marker = _set(tok, name)
    prompt, response = items[case.split("+")[0]]
    system = "Answer as briefly as you can." if case.endswith("+system") else None
    rm = EndogenousReward(model, tok, alpha=0.8, end_token=end_token, chat_template_kwargs=kwargs)
    (out,) = rm.token_rewards([prompt], [response], system)
    e = encode(tok, prompt, response, system, "chat", end_token, kwargs)
    lp, v, r = brute(model, e, alpha=0.8)
    np.testing.assert_allclose(out.log_policy, lp, atol=1e-4, rtol=0)
    np.testing.assert_allclose(out.soft_value, v, atol=1e-4, rtol=0)
    np.testing.assert_allclose(out.endogenous_reward, r, atol=1e-4, rtol=0)
    assert out.token_ids == e.input_ids[e.start:e.end] and abs(out.score - r.sum()) < 1e-3
    # the context is the generation prompt the model sees; the response follows verbatim
    context = apply_chat(tok, as_messages(prompt, system), True, kwargs)
    assert tok.decode(e.input_ids[:e.start]) == context
    if end_token:  # the template's end-of-turn marker is the last scored token; what follows it never is
        assert "".join(out.tokens) == response + marker and out.token_ids[-1] in end_token_ids(tok)
    else:
        assert "".join(out.tokens) == response and out.token_ids[-1] not in end_token_ids(tok)


def test_qwen3_think_block_is_not_doubled(qwen3):
    """The issue's case: a response with its own <think> block gets no extra empty one in front of it."""
    model, tok = qwen3
    _set(tok, "qwen3-thinking")
    e = encode(tok, "What is 2 + 2?", THINK, None, "chat")
    text = tok.decode(e.input_ids)
    assert text.count("<think>") == 1 and text.endswith("<|im_start|>assistant\n" + THINK + "<|im_end|>\n")
    assert tok.decode(e.input_ids[:e.start]) == tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 2?"}], tokenize=False, add_generation_prompt=True)
    assert tok.convert_ids_to_tokens(e.input_ids[e.end - 1]) == "<|im_end|>" and e.end == len(e.input_ids) - 1


def test_gemma_moves_the_system_prompt_into_the_user_turn(qwen3):
    model, tok = qwen3
    _set(tok, "gemma-2")
    e = encode(tok, "Hi", "Hello.", "Be brief.", "chat")
    assert tok.decode(e.input_ids[:e.start]).endswith(
        "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n")


def test_mistral_keeps_the_system_prompt_of_the_last_user_turn(qwen3):
    """Mistral-Nemo puts the system message on the LAST user turn: the context must be the generation prompt."""
    model, tok = qwen3
    _set(tok, "mistral-nemo")
    e = encode(tok, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey."},
                     {"role": "user", "content": "Name a colour."}], "Blue.", "Be brief.", "chat")
    assert tok.decode(e.input_ids[:e.start]) == "[INST]Hi[/INST]Hey.<|im_end|>[INST]Be brief.\n\nName a colour.[/INST]"


def test_llamacpp_reference_ids_pin_the_tokenizer():
    tok = real_tokenizer(shared_path("tokenizers", "qwen2.5"))
    base = shared_path("tokenizers", "llamacpp-vocab-tests")
    inputs = (base / "qwen2.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    outputs = (base / "qwen2.out").read_text(encoding="utf-8").split("\n")
    assert len(inputs) >= 40
    for text, ids in zip(inputs, outputs):
        assert tok.encode(text, add_special_tokens=False) == [int(i) for i in ids.split()], repr(text)


@pytest.fixture(scope="module")
def qwen25():
    tok = real_tokenizer(shared_path("tokenizers", "qwen2.5"))
    return tiny_causal_lm("qwen2", len(tok), seed=5, max_positions=4096, hidden=16), tok


def _next_token_log_probs(model, tok, text, extra=()):
    ids = tok(text, add_special_tokens=False)["input_ids"] + list(extra)
    with torch.no_grad():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].double(), -1).numpy()


def test_judges_on_the_qwen_vocabulary_against_a_hand_computation(qwen25, items):
    model, tok = qwen25
    yes, no, fallback = yes_no_ids(tok)
    assert not fallback and len(yes) == 6 and len(no) == 6  # YES Yes yes and their spaced forms, one token each
    st = score_token_ids(tok)
    assert st.split and all(len(s) >= 1 for s in st.singles[1:9])  # "10" is two tokens in Qwen: the split path
    prompt, response = items["multi"]
    v = GenerativeVerifier(model, tok)
    lp = _next_token_log_probs(model, tok, v.render(prompt, response))
    want = np.exp(lp[yes]).sum() / (np.exp(lp[yes]).sum() + np.exp(lp[no]).sum())
    assert abs(v.score([prompt], [response])[0] - want) < 1e-5
    pw = GenRMPointwise(model, tok)
    text = pw.render(prompt, response)
    p = np.exp(_next_token_log_probs(model, tok, text))
    mass = np.array([p[list(ids)].sum() for ids in st.singles])
    for one in st.split:  # P(10) = P("1") q_0; P(1) += P("1") (1 - sum_d q_d)
        q = np.exp(_next_token_log_probs(model, tok, text, [one]))[list(st.digits)]
        mass[9] += p[one] * q[0]
        mass[0] += p[one] * (1 - q.sum())
    np.testing.assert_allclose(pw.distribution([prompt], [response])[0], mass / mass.sum(), atol=1e-6)
    assert "User: " in text and "Assistant: " in text  # the conversation is embedded as a transcript
