"""Shared-prompt reuse in EndogenousReward: the KV-cache path equals the plain path, and its fallbacks."""
from __future__ import annotations

import inspect
import warnings
from collections import Counter

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm.llm.reward import EndogenousReward  # noqa: E402
from endorm.llm.templates import encode  # noqa: E402
from endorm.llm.testing import save_tiny_model  # noqa: E402

ARCHS = ("gpt2", "llama", "qwen2")

# Groups of 4, 3 and 2 items (one with a system prompt), interleaved with singletons; responses of
# different lengths, some sharing their first tokens ("The answer is ...") or one a prefix of another.
ITEMS = [
    ("What is 2 + 2?", "It is 4.", None),
    ("Hello world!", "Hi", None),
    ("What is 2 + 2?", "The answer is 4, as everyone knows.", None),
    ("A lonely prompt", "with its own response", None),
    ("What is 2 + 2?", "The answer is 5", None),
    ("Hello world!", "Hello there, my friend. How are you?", None),
    ("What is 2 + 2?", "It is", None),
    ("What is 2 + 2?", "It is 4.", "Be brief."),      # same prompt, other system: another group
    ("Hello world!", "Hey", None),
    ("What is 2 + 2?", "Four!", "Be brief."),
    ("Solve for x: 3x + 5 = 20", "x = 5", None),
]


@pytest.fixture(autouse=True)
def share_every_prefix(monkeypatch):
    """These tiny items save too few tokens for the cost rule (tests/llm/test_unique_work.py): share them anyway."""
    from endorm.llm.prefix import SharedPromptMixin

    monkeypatch.setattr(SharedPromptMixin, "share_min_saved", 0)
    monkeypatch.setattr(SharedPromptMixin, "share_min_fraction", 0.0)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {arch: save_tiny_model(root / arch, arch, seed=2) for arch in ARCHS}


def _score_all(rm):
    prompts, responses, system = zip(*ITEMS)
    return rm.token_rewards(list(prompts), list(responses), list(system))


def _assert_same(a, b, atol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.token_ids == y.token_ids and x.tokens == y.tokens
        for key in ("rewards", "log_probs", "values"):
            np.testing.assert_allclose(getattr(x, key), getattr(y, key), atol=atol, rtol=0)
        assert x.next_value == pytest.approx(y.next_value, abs=atol)
        assert x.score == pytest.approx(y.score, abs=atol)


def _spy(monkeypatch, rm):
    """Record the group sizes that take the cache path (items per distinct shared prefix)."""
    sizes, inner = [], rm._rows_shared

    def rows_shared(items, P):
        sizes.extend(Counter(tuple(e.input_ids[:p]) for e, p in zip(items, P)).values())
        return inner(items, P)

    monkeypatch.setattr(rm, "_rows_shared", rows_shared)
    return sizes


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("batch_size", [2, 8])
def test_shared_prompt_equals_the_plain_path(model_dirs, arch, batch_size, monkeypatch):
    """alpha != 1, terminal "model"; groups larger than a batch run on copies of the prefix's cache."""
    kw = dict(alpha=0.7, terminal="model", batch_size=batch_size)
    shared = EndogenousReward.from_pretrained(model_dirs[arch], **kw)
    plain = EndogenousReward.from_pretrained(model_dirs[arch], share_prompt=False, **kw)
    sizes = _spy(monkeypatch, shared)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        got = _score_all(shared)
    assert sorted(sizes) == [2, 3, 4] and shared._share_ok and shared._share_checked
    ref = _score_all(plain)
    _assert_same(got, ref)
    # order preserved: item i is (prompt i, response i)
    for (p, r, s), g in zip(ITEMS, got):
        e = encode(shared.tokenizer, p, r, s, shared.template)
        assert g.token_ids == e.input_ids[e.start:e.end] and "".join(g.tokens) == r + "<|im_end|>"  # the end token
    # and each item alone (the plain path) gives the same
    for i in (0, 3, 5):
        p, r, s = ITEMS[i]
        _assert_same([got[i]], shared.token_rewards(p, r, s))


@pytest.mark.parametrize("kind, gamma, floor, terminal", [("reward", 0.9, 0.5, "zero"), ("logprob", 1.0, 0.0, "model")])
def test_shared_prompt_with_other_scores(model_dirs, kind, gamma, floor, terminal):
    kw = dict(alpha=1.3, kind=kind, gamma=gamma, floor=floor, terminal=terminal)
    d = model_dirs["llama"]
    _assert_same(_score_all(EndogenousReward.from_pretrained(d, **kw)),
                 _score_all(EndogenousReward.from_pretrained(d, share_prompt=False, **kw)))


def test_share_prompt_false_never_takes_the_cache_path(model_dirs, monkeypatch):
    plain = EndogenousReward.from_pretrained(model_dirs["qwen2"], share_prompt=False, alpha=0.5)
    sizes = _spy(monkeypatch, plain)
    got = _score_all(plain)
    assert sizes == [] and not plain._share_checked
    _assert_same(got, _score_all(EndogenousReward.from_pretrained(model_dirs["qwen2"], alpha=0.5)))


def test_pretokenized_pairs_are_grouped_by_their_context(model_dirs, monkeypatch):
    """(context_ids, response_ids) pairs: equal contexts share; a response that extends another is fine."""
    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"], terminal="model")
    sizes = _spy(monkeypatch, rm)
    ctx, other = [5, 9, 17, 33, 2, 41, 8], [5, 9, 17]
    pairs = [(ctx, [3, 4]), (other, [7]), (ctx, [3, 4, 5, 6]), (ctx, [3]), (other, [7, 7, 7]), ([1], [2, 3])]
    got = rm.token_rewards_from_ids(pairs)
    assert sorted(sizes) == [2, 3]
    _assert_same(got, EndogenousReward.from_pretrained(model_dirs["gpt2"], terminal="model",
                                                       share_prompt=False).token_rewards_from_ids(pairs))
    assert [g.token_ids for g in got] == [list(r) for _, r in pairs]


def test_a_model_without_a_cache_falls_back_with_one_warning(model_dirs):
    rm = EndogenousReward.from_pretrained(model_dirs["llama"], alpha=0.8)
    base = rm.model.model
    inner = base.forward

    def no_cache(*args, **kwargs):
        if kwargs.get("use_cache"):
            raise TypeError("this model cannot cache")
        return inner(*args, **kwargs)

    base.forward = no_cache
    with pytest.warns(UserWarning, match=r"cannot reuse a shared prompt's KV cache \(TypeError: this model cannot"):
        got = _score_all(rm)
    assert not rm._share_ok
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sharing stays off: no second warning
        again = _score_all(rm)
    del base.forward
    ref = _score_all(EndogenousReward.from_pretrained(model_dirs["llama"], alpha=0.8, share_prompt=False))
    _assert_same(got, ref)
    _assert_same(again, ref)


def test_cache_keyword_is_the_one_the_forward_documents(model_dirs):
    from endorm.llm.base import cache_keyword

    for arch in ARCHS:
        base = EndogenousReward.from_pretrained(model_dirs[arch]).model.base_model
        params = inspect.signature(base.forward).parameters
        assert cache_keyword(base) == ("cache" if "cache" in params else "past_key_values")

    class Old:
        def forward(self, input_ids=None, attention_mask=None, past_key_values=None, use_cache=None):
            pass

    assert cache_keyword(Old()) == "past_key_values"


def test_a_forward_that_only_knows_past_key_values_still_shares(model_dirs, monkeypatch):
    """Older transformers: the keyword and the output field are ``past_key_values``; sharing stays on."""
    from endorm.llm.base import cache_keyword

    class OldOutput(dict):  # a ModelOutput of the old field names (today's ModelOutput renames them)
        def __getitem__(self, k):
            return list(self.values())[k] if isinstance(k, int) else super().__getitem__(k)

        __getattr__ = dict.get  # the outer CausalLM reads today's field names: None

    rm = EndogenousReward.from_pretrained(model_dirs["llama"], alpha=0.8, terminal="model")
    base = rm.model.model
    inner, new_kw = base.forward, cache_keyword(base)

    def old_forward(input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, use_cache=None,
                    **kwargs):  # kwargs: what the outer CausalLM passes on (today's names)
        if past_key_values is not None:
            kwargs[new_kw] = past_key_values
        out = inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                    use_cache=use_cache, **kwargs)
        return OldOutput(last_hidden_state=out[0], past_key_values=out.get(new_kw))

    base.forward = old_forward
    sizes = _spy(monkeypatch, rm)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _score_all(rm)
    del base.forward
    assert sorted(sizes) == [2, 3, 4] and rm._share_ok and rm._share_checked
    _assert_same(got, _score_all(EndogenousReward.from_pretrained(model_dirs["llama"], alpha=0.8, terminal="model",
                                                                  share_prompt=False)))


@pytest.mark.parametrize("category", [FutureWarning, DeprecationWarning])
def test_a_library_warning_never_turns_sharing_off(model_dirs, category):
    """Only the numerical check decides: a deprecation warning passes through; raised as an error, it propagates."""
    rm = EndogenousReward.from_pretrained(model_dirs["qwen2"], alpha=0.7)
    rm.model.model.forward = _warns_with(rm.model.model, category)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = _score_all(rm)
    assert rm._share_ok and rm._share_checked
    assert {w.category for w in seen} == {category}  # no "cannot reuse" UserWarning
    rm2 = EndogenousReward.from_pretrained(model_dirs["qwen2"], alpha=0.7)
    rm2.model.model.forward = _warns_with(rm2.model.model, category)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(category, match="deprecated"):
            _score_all(rm2)
    assert rm2._share_ok
    _assert_same(got, _score_all(EndogenousReward.from_pretrained(model_dirs["qwen2"], alpha=0.7,
                                                                  share_prompt=False)))


def _warns_with(base, category):
    inner = base.forward

    def forward(*args, **kwargs):
        if kwargs.get("use_cache"):
            warnings.warn("this argument is deprecated", category)
        return inner(*args, **kwargs)

    return forward


def test_a_wrong_cached_continuation_is_caught_once(model_dirs, monkeypatch):
    """The first group is checked against the whole texts; a mismatch turns sharing off."""
    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"])
    inner = rm._rows_shared

    def shifted(items, P):
        h, pre, hp = inner(items, P)
        return h + 0.5, pre, hp

    monkeypatch.setattr(rm, "_rows_shared", shifted)
    with pytest.warns(UserWarning, match="its cached continuation differs from the whole text"):
        got = _score_all(rm)
    assert not rm._share_ok
    _assert_same(got, _score_all(EndogenousReward.from_pretrained(model_dirs["gpt2"], share_prompt=False)))


def test_non_finite_logits_are_not_a_reason_to_fall_back(model_dirs):
    rm = EndogenousReward.from_pretrained(model_dirs["gpt2"])
    rm.score(["q", "q"], ["fine", "also fine"])  # builds the head and passes the one-time checks
    w, b, cap, scale = rm._head
    w = w.clone()
    w[5] = float("nan")
    rm._head = (w, b, cap, scale)
    with pytest.raises(ValueError, match="item 0: the model produced non-finite logits"):
        rm.score(["q", "q"], ["one", "two"])
    assert rm._share_ok


def test_bfloat16_shares_the_prompt(model_dirs):
    bf16 = EndogenousReward.from_pretrained(model_dirs["llama"], dtype="bfloat16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _score_all(bf16)
    assert bf16._share_ok and bf16._share_checked
    ref = _score_all(EndogenousReward.from_pretrained(model_dirs["llama"], dtype="bfloat16", share_prompt=False))
    assert max(abs(a.score - b.score) for a, b in zip(got, ref)) < 0.05  # bf16 rounding of other batch shapes
