"""The Appendix D judge baselines on tiny local models: templates, hand-computed values, padding."""
import warnings
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm.llm.judges import models as J  # noqa: E402
from endorm.llm.base import RewardModel  # noqa: E402
from endorm.llm.judges import GenerativeVerifier, GenRMPairwise, GenRMPointwise  # noqa: E402
from endorm.llm.testing import build_tokenizer, save_tiny_model, tiny_causal_lm, word_tokenizer  # noqa: E402

PROMPTS = ["What is 2 + 2?", "Hello", "Solve for x: 3x + 5 = 20, and explain every step of the algebra to me"]
GOOD = ["It is 4.", " world! The quick brown fox", "x = 5"]
BAD = ["It is 5, or maybe 22.", "Goodbye.", "The answer is \\boxed{7}."]
INSTRUCTION = "Answer like a pirate."

pytestmark = pytest.mark.filterwarnings("ignore:no single-token spelling of YES")


def _sharpen(model, factor=10.0):
    """Scale the LM head so a random tiny model's next-token probabilities differ by a lot between
    prompts (at init they are all ~1/vocab and a wrong formula could pass within 1e-5)."""
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(factor)
    return model


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("judges")
    dirs = {arch: save_tiny_model(root / arch, arch, seed=2, max_positions=1024) for arch in ("gpt2", "llama")}
    for path in dirs.values():
        _sharpen(AutoModelForCausalLM.from_pretrained(path)).save_pretrained(path)
    return dirs


@pytest.fixture(scope="module")
def rich():
    """A larger BPE vocabulary: several single-token YES/NO spellings, " 1".." 10" single, "10" two tokens."""
    tok = build_tokenizer(vocab_size=500)
    return _sharpen(tiny_causal_lm("llama", len(tok), seed=4, max_positions=1024)), tok


def _next_token_probs(model, tok, text, templated=True):
    """Softmax of ``model(input_ids).logits[0, -1]`` for one unpadded text, float64."""
    ids = tok(text, add_special_tokens=not templated)["input_ids"]
    with torch.no_grad():
        return torch.softmax(model(torch.tensor([ids])).logits[0, -1].double(), -1).numpy()


def _single_ids(tok, spellings):
    return sorted({tok.encode(s, add_special_tokens=False)[0] for s in spellings
                   if len(tok.encode(s, add_special_tokens=False)) == 1})


def _p_yes_by_hand(model, tok, text, yes, no):
    p = _next_token_probs(model, tok, text)
    return p[yes].sum() / (p[yes].sum() + p[no].sum())


# ------------------------------------------------------------------ templates
def test_rendered_prompts_carry_the_paper_wording(rich):
    model, tok = rich
    v, pw, pr = GenerativeVerifier(model, tok), GenRMPointwise(model, tok), GenRMPairwise(model, tok)
    cases = [(v.render("Q?", "R.", INSTRUCTION), v.render("Q?", "R.", None),
              "Based on your evaluation, is the answer a good response? Answer with only “YES” or “NO”."),
             (pw.render("Q?", "R.", INSTRUCTION), pw.render("Q?", "R.", "  "),
              "Based on your assessment, provide a single integer score from 1 to 10."),
             (pr.render("Q?", "R1.", "R2.", INSTRUCTION), pr.render("Q?", "R1.", "R2."),
              "Is ‘Response 2’ better than ‘Response 1’?")]
    for with_instr, without, wording in cases:
        for text in (with_instr, without):
            assert wording in text and "### Query\nQ?\n### Response" in text
            assert text.startswith("<|im_start|>system\n" + J.JUDGE_SYSTEM + "<|im_end|>\n<|im_start|>user\n")
            assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
        assert f"### Instruction\n{INSTRUCTION}\n### Query" in with_instr
        assert "**Adherence to Instruction:**" in with_instr
        user = without.split("<|im_start|>user\n")[1]
        assert "Instruction" not in user and INSTRUCTION not in user and "1. **Relevance to Query:**" in user
    assert "### Response 1\nR1.\n### Response 2\nR2.\n**Your Task:**" in cases[2][0]
    assert J.VERIFIER_TEMPLATE.count("\n") == 11 and "“YES” means ‘Response 2’ is clearly better" in J.PAIRWISE_TEMPLATE


def test_plain_and_no_system_role_renderings(model_dirs):
    plain = build_tokenizer(chat_template=False)
    assert J.render_judge(plain, "U") == f"System: {J.JUDGE_SYSTEM}\n\nUser: U\n\nAssistant:"
    strict = build_tokenizer()
    strict.chat_template = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
                            + strict.chat_template)
    assert J.render_judge(strict, "U") == f"<|im_start|>user\n{J.JUDGE_SYSTEM}\n\nU<|im_end|>\n<|im_start|>assistant\n"
    # without a chat template the plain text is scored, with the tokenizer's own special tokens
    v = GenerativeVerifier.from_pretrained(model_dirs["gpt2"])
    v.tokenizer = plain
    text = v.render(PROMPTS[0], GOOD[0], INSTRUCTION)
    want = _p_yes_by_hand(v.model, plain, text, v.yes_ids, v.no_ids)
    assert v.score(PROMPTS[0], GOOD[0], INSTRUCTION)[0] == pytest.approx(want, rel=1e-5)


# ------------------------------------------------------------------ Generative Verifier
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_verifier_fallback_tokens_hand_value_and_padding(model_dirs, arch):
    with pytest.warns(UserWarning, match="first tokens"):
        v = GenerativeVerifier.from_pretrained(model_dirs[arch], batch_size=3)
    tok = v.tokenizer   # vocab 320: no YES/NO spelling is one token, so the first tokens of "YES"/"NO"
    assert v.yes_no_fallback and v.yes_ids == tok.encode("YES")[:1] and v.no_ids == tok.encode("NO")[:1]
    text = v.render(PROMPTS[2], GOOD[2], INSTRUCTION)
    got = v.score(PROMPTS[2], GOOD[2], INSTRUCTION)[0]
    assert 0 < got < 1 and got == pytest.approx(_p_yes_by_hand(v.model, tok, text, v.yes_ids, v.no_ids), rel=1e-5)
    prompts, responses = PROMPTS + PROMPTS[::-1], GOOD + BAD
    system = [INSTRUCTION, None, "Be brief.", None, INSTRUCTION, ""]
    batched = v.score(prompts, responses, system)           # different lengths, left-padded
    one = [v.score(p, r, s)[0] for p, r, s in zip(prompts, responses, system)]
    np.testing.assert_allclose(batched, one, atol=1e-5, rtol=0)
    assert batched == v.score(prompts, responses, system)   # deterministic
    assert len(set(np.round(batched, 8))) > 3               # the values depend on the input


def test_verifier_sums_every_single_token_spelling(rich):
    model, tok = rich
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = GenerativeVerifier(model, tok, batch_size=2)
    yes, no = _single_ids(tok, J.YES_SPELLINGS), _single_ids(tok, J.NO_SPELLINGS)
    assert len(yes) >= 3 and len(no) >= 3 and (v.yes_ids, v.no_ids) == (yes, no) and not v.yes_no_fallback
    scores = v.score(PROMPTS, GOOD)
    for p, r, s in zip(PROMPTS, GOOD, scores):
        assert 0 < s < 1 and s == pytest.approx(_p_yes_by_hand(model, tok, v.render(p, r), yes, no), rel=1e-5)
    # compare is Bradley-Terry on the scores
    s_bad = v.score(PROMPTS, BAD)
    np.testing.assert_allclose(v.compare(PROMPTS, GOOD, BAD), 1 / (1 + np.exp(np.subtract(scores, s_bad))), atol=1e-12)


# ------------------------------------------------------------------ GenRM-Pointwise
def _pointwise_by_hand(model, tok, text, spaced):
    """Brute force: one forward for the first token, a second after "1" for "10" (two tokens)."""
    one = lambda s: tok.encode(s, add_special_tokens=False)  # noqa: E731
    assert one("10") == one("1") + one("0")  # "10" is two tokens here
    p = _next_token_probs(model, tok, text)
    ids = tok(text, add_special_tokens=False)["input_ids"] + one("1")
    with torch.no_grad():
        q = torch.softmax(model(torch.tensor([ids])).logits[0, -1].double(), -1).numpy()
    digits = [one(str(d))[0] for d in range(10)]
    mass = np.array([p[one(str(k))[0]] for k in range(1, 10)] + [p[one("1")[0]] * q[digits[0]]])
    mass[0] = p[one("1")[0]] * (1 - q[digits].sum())      # "1" then no digit: a 1 ("11".."19" dropped)
    if spaced:                                            # " 1".." 9" and " 10" are single tokens
        assert all(len(one(f" {k}")) == 1 for k in range(1, 11))
        mass += [p[one(f" {k}")[0]] for k in range(1, 11)]
    prob = mass / mass.sum()
    return prob, prob @ np.arange(1, 11)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_pointwise_two_token_ten_matches_brute_force(model_dirs, arch):
    pw = GenRMPointwise.from_pretrained(model_dirs[arch], batch_size=2)
    st = pw.score_tokens                                  # vocab 320: only the unspaced digits qualify
    assert st.split == tuple(pw.tokenizer.encode("1")) and st.singles[0] == () and st.singles[9] == ()
    prompts, responses = PROMPTS, BAD
    dist = pw.distribution(prompts, responses, INSTRUCTION)
    scores = pw.score(prompts, responses, INSTRUCTION)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        prob, mean = _pointwise_by_hand(pw.model, pw.tokenizer, pw.render(p, r, INSTRUCTION), spaced=False)
        np.testing.assert_allclose(dist[i], prob, atol=1e-6, rtol=0)
        assert abs(scores[i] - mean) < 1e-5 and 1 <= scores[i] <= 10
    np.testing.assert_allclose(scores, [pw.score(p, r, INSTRUCTION)[0] for p, r in zip(prompts, responses)], atol=1e-5)


def test_pointwise_both_branches_with_spaced_scores(rich):
    model, tok = rich
    pw = GenRMPointwise(model, tok, batch_size=2)
    st = pw.score_tokens   # "1".."9": "10" is split; " 1".." 10": single tokens
    assert st.split == tuple(tok.encode("1")) and st.singles[9] == tuple(tok.encode(" 10"))
    scores = pw.score(PROMPTS, GOOD)
    for p, r, s in zip(PROMPTS, GOOD, scores):
        prob, mean = _pointwise_by_hand(model, tok, pw.render(p, r), spaced=True)
        assert abs(s - mean) < 1e-5 and 1 <= s <= 10
    assert pw.distribution([], []).shape == (0, 10)


def test_pointwise_single_token_ten_needs_no_second_forward():
    words = ["<unk>"] + [str(k) for k in range(1, 11)] + ["0", "YES", "NO", "Query", "Response"]
    tok = word_tokenizer(words, pad_token="<unk>", eos_token="<unk>")
    model = tiny_causal_lm("gpt2", len(words), seed=5, max_positions=1024)
    pw = GenRMPointwise(model, tok)
    assert pw.score_tokens.split == () and pw.score_tokens.singles == tuple((k,) for k in range(1, 11))
    calls = []
    pw._log_probs = lambda seqs, cols, desc="", item_of=None: calls.append(len(seqs)) or J._NextTokenJudge._log_probs(pw, seqs, cols)
    text = pw.render("Q", "R")
    p = _next_token_probs(model, tok, text, templated=False)[1:11]
    assert abs(pw.score("Q", "R")[0] - (p / p.sum()) @ np.arange(1, 11)) < 1e-5 and calls == [1]


# ------------------------------------------------------------------ GenRM-Pairwise
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_pairwise_hand_value_and_order_averaging(model_dirs, arch):
    one_way = GenRMPairwise.from_pretrained(model_dirs[arch], both_orders=False, batch_size=2)
    both = GenRMPairwise(one_way.model, one_way.tokenizer, batch_size=4)
    tok, yes, no = one_way.tokenizer, one_way.yes_ids, one_way.no_ids
    system = [INSTRUCTION, None, None]
    ab = one_way.compare(PROMPTS, GOOD, BAD, system)
    ba = one_way.compare(PROMPTS, BAD, GOOD, system)
    for i in range(3):  # first is Response 1, second is Response 2
        text = one_way.render(PROMPTS[i], GOOD[i], BAD[i], system[i])
        assert f"### Response 1\n{GOOD[i]}\n### Response 2\n{BAD[i]}\n" in text
        assert ab[i] == pytest.approx(_p_yes_by_hand(one_way.model, tok, text, yes, no), rel=1e-5)
    got = both.compare(PROMPTS, GOOD, BAD, system)
    np.testing.assert_allclose(got, 0.5 * (np.array(ab) + 1 - np.array(ba)), atol=1e-5, rtol=0)
    swapped = both.compare(PROMPTS, BAD, GOOD, system)
    np.testing.assert_allclose(np.add(got, swapped), 1.0, atol=1e-6, rtol=0)
    assert both.compare(PROMPTS[0], GOOD[0], GOOD[0], INSTRUCTION) == [0.5]
    with pytest.raises(NotImplementedError, match="compare"):
        both.score(PROMPTS, GOOD)


def test_pairwise_order_logic_with_a_stub_judge(rich):
    """With P(YES) replaced by a hash of the judge's text, the order bookkeeping is checked exactly
    (a tiny random model barely tells the two orders apart)."""
    pr = GenRMPairwise(*rich)
    pr._p_yes = fake = lambda texts, item_of=None: [0.05 + 0.9 * zlib.crc32(t.encode()) / 2**32 for t in texts]  # noqa: E731
    got = pr.compare(PROMPTS, GOOD, BAD, INSTRUCTION)
    want = [0.5 * (fake([pr.render(p, a, b, INSTRUCTION)])[0] + 1 - fake([pr.render(p, b, a, INSTRUCTION)])[0])
            for p, a, b in zip(PROMPTS, GOOD, BAD)]
    np.testing.assert_allclose(got, want, atol=1e-15, rtol=0)
    assert max(abs(g - 0.5) for g in got) > 0.05
    np.testing.assert_allclose(np.add(got, pr.compare(PROMPTS, BAD, GOOD, INSTRUCTION)), 1.0, atol=1e-15, rtol=0)
    pr.both_orders = False
    assert pr.compare(PROMPTS, GOOD, BAD) == fake([pr.render(p, a, b) for p, a, b in zip(PROMPTS, GOOD, BAD)])


# ------------------------------------------------------------------ protocol and errors
def test_protocol_and_bad_input(rich):
    model, tok = rich
    judges = [GenerativeVerifier(model, tok), GenRMPointwise(model, tok), GenRMPairwise(model, tok)]
    for j in judges:
        assert isinstance(j, RewardModel)
        assert j.compare([], [], []) == []
        with pytest.raises(ValueError, match="same length"):
            j.compare(["a", "b"], ["x"], ["y", "z"])
        with pytest.raises(TypeError, match="response a str, got str, int"):
            j.compare(["a"], [3], ["y"])
        with pytest.raises(ValueError, match="one per prompt"):
            j.compare(["a"], ["x"], ["y"], system=["s", "t"])
    v, pw, pr = judges
    for j in (v, pw):
        assert j.score([], []) == []
        with pytest.raises(ValueError, match="same length"):
            j.score(["a", "b"], ["x"])
        with pytest.raises(TypeError, match="response a str, got str, NoneType"):
            j.score(["a"], [None])
    with pytest.raises(TypeError, match="instruction"):
        v.score(["a"], ["x"], system=[3])
    with pytest.raises(ValueError, match="second must have the same length"):
        pr.compare(["a"], ["x"], ["y", "z"])
    with pytest.raises(ValueError, match="longer than the model's context of 50"):
        GenerativeVerifier(model, tok, max_length=50).score("Q", "R")
    with pytest.raises(ValueError, match="batch_size"):
        GenRMPointwise(model, tok, batch_size=0)


# ------------------------------------------------------------------ unique work: KV-cached "10", memo
@pytest.fixture(scope="module")
def qwen_judge(tmp_path_factory):
    """A tiny random Qwen2 model with the real Qwen2.5 tokenizer, where "10" is the two tokens "1" "0"."""
    from helpers import shared_path
    from transformers import AutoModelForCausalLM

    from endorm.llm.testing import save_tiny_qwen

    path = save_tiny_qwen(tmp_path_factory.mktemp("qwen") / "tiny", shared_path("tokenizers", "qwen2.5"), seed=3)
    _sharpen(AutoModelForCausalLM.from_pretrained(path)).save_pretrained(path)
    return GenRMPointwise.from_pretrained(path, batch_size=2)


def _count_rows(judge):
    """Record the shape of every forward's input_ids (prompt forwards are wide, cached steps are 1 token);
    ``del judge.model.forward`` undoes it (the model may be a shared fixture)."""
    calls, forward = [], judge.model.forward
    judge.model.forward = lambda **kw: calls.append(tuple(kw["input_ids"].shape)) or forward(**kw)
    return calls


def test_pointwise_ten_from_the_kv_cache_equals_two_forwards_on_qwen(qwen_judge):
    pw = qwen_judge
    one = lambda s: pw.tokenizer.encode(s, add_special_tokens=False)  # noqa: E731
    assert one("10") == one("1") + one("0") and pw.score_tokens.split == tuple(one("1"))
    calls = _count_rows(pw)
    dist = pw.distribution(PROMPTS, BAD, [INSTRUCTION, None, "Be brief."])
    # 3 prompts, batches of 2 and 1: per batch one prompt forward, then one 1-token step on its KV cache
    assert [c[0] for c in calls] == [2, 2, 1, 1] and [c[1] > 1 for c in calls] == [True, False, True, False]
    del pw.model.forward
    for i, (p, r, s) in enumerate(zip(PROMPTS, BAD, [INSTRUCTION, None, "Be brief."])):
        prob, _ = _pointwise_by_hand(pw.model, pw.tokenizer, pw.render(p, r, s), spaced=False)  # two full forwards
        np.testing.assert_allclose(dist[i], prob, atol=1e-6, rtol=0)
        # P(10) = P("1") q_0 is small here (~1e-6): checked relatively, so a wrong continuation would show
        np.testing.assert_allclose(dist[i, [0, 9]], prob[[0, 9]], rtol=1e-4)


def test_identical_judge_prompts_run_once(rich):
    model, tok = rich
    pr, v = GenRMPairwise(model, tok, batch_size=8), GenerativeVerifier(model, tok, batch_size=8)
    calls = _count_rows(pr)
    # the two orders of (a, a) are one prompt; the repeated item is the same two prompts again
    got = pr.compare(["Q", "Q", "Q"], ["a", "a", "a"], ["a", "b", "b"])
    assert calls == [(3, calls[0][1])] and got[0] == 0.5 and got[1] == got[2]
    pr.memo = {}
    first = pr.compare(PROMPTS, GOOD, BAD)
    n = len(calls)
    swapped = pr.compare(PROMPTS[::-1], BAD[::-1], GOOD[::-1])  # both orders are in the memo already
    np.testing.assert_allclose(swapped, [1 - x for x in first[::-1]], atol=1e-15, rtol=0)
    assert len(calls) == n and len(pr.memo) == 2 * len(PROMPTS)
    del model.forward
    want = v.score(PROMPTS, GOOD)
    v.memo = {}
    assert v.score(PROMPTS + PROMPTS, GOOD + GOOD) == want + want and len(v.memo) == len(PROMPTS)


def test_several_appended_tokens_each_continue_the_prompt_alone(rich):
    """``then`` with two tokens: each step starts from the prompt's cache, not from the other token."""
    model, tok = rich
    pw = GenRMPointwise(model, tok, batch_size=2)
    seqs = pw._encode([pw.render(p, r) for p, r in zip(PROMPTS, GOOD)], extra=1)
    then, cols = [tok.encode("1")[0], tok.encode("2")[0]], list(pw.score_tokens.digits)
    lp, lq = pw._log_probs(seqs, [5, 7], then=then, then_columns=cols)
    for j, s in enumerate(seqs):
        for k, t in enumerate(then):
            with torch.no_grad():
                want = torch.log_softmax(model(torch.tensor([s + [t]])).logits[0, -1].double(), -1).numpy()[cols]
            np.testing.assert_allclose(lq[j, k], want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(lp, pw._log_probs(seqs, [5, 7]), atol=1e-6, rtol=0)
