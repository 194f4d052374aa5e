"""Unique work in EndogenousReward: radix grouping of shared prefixes, the cost rule, duplicates once,
and the float32 soft value of bfloat16 logits (``soft_values``) against float64."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm.llm.prefix import prefix_groups  # noqa: E402
from endorm.llm.reward import EndogenousReward, soft_values  # noqa: E402
from endorm.llm.testing import build_tokenizer, tiny_causal_lm  # noqa: E402
from helpers import log_policy_tolerance  # noqa: E402

ARCHS = ("gpt2", "llama", "qwen2")


def _lcp(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _check_partition(seqs, groups, alone, min_saved, min_fraction):
    """Every index once; each group's P is its members' common prefix (capped: each keeps a token) and pays."""
    seen = sorted(alone + [i for g, _ in groups for i in g])
    assert seen == list(range(len(seqs)))
    for g, P in groups:
        common = min(_lcp(seqs[a], seqs[b]) for a, b in itertools.combinations(g, 2))
        assert 1 <= P == min(common, min(len(seqs[i]) for i in g) - 1)
        saved = (len(g) - 1) * P
        assert saved >= min_saved and saved >= min_fraction * sum(len(seqs[i]) for i in g)


def test_radix_groups_by_hand():
    rng = np.random.default_rng(0)

    def ids(n):
        return [int(x) for x in rng.integers(10, 10**6, n)]

    header, query = ids(5), ids(40)
    systems = [ids(60) for _ in range(4)]
    # DSP: 4 systems x 4 responses after one header: four groups of four (header + system + query + turn),
    # better than one group of sixteen sharing only the 5-token header
    dsp = [header + s + query + ids(150) for s in systems for _ in range(4)]
    groups, alone = prefix_groups(dsp)
    assert alone == [] and groups == [([4 * d + j for j in range(4)], 105) for d in range(4)]
    assert prefix_groups(dsp, 512, 0.3) == ([], list(range(16)))  # 315 of ~1,000 tokens a group: a stricter rule
    # RM-Bench: 6 responses after a 200-token prompt share it; a lone item stays alone
    rm = [ids(200)] * 6
    rm = [p + ids(300) for p in rm] + [ids(250)]
    assert prefix_groups(rm) == ([(list(range(6)), 200)], [6])
    # RewardBench: a pair after a 40-token prompt saves 40 of ~380 tokens (10%): shares
    pair = [p + ids(150) for p in [ids(40)] * 2]
    assert prefix_groups(pair) == ([([0, 1], 40)], [])
    # 12 shared tokens save fewer than 16; 40 of 1,000 (4%) less than 5%: the plain path
    assert prefix_groups([p + ids(150) for p in [ids(12)] * 2]) == ([], [0, 1])
    assert prefix_groups([p + ids(460) for p in [ids(40)] * 2]) == ([], [0, 1])
    assert prefix_groups([p + ids(460) for p in [ids(40)] * 2], 0, 0.0) == ([([0, 1], 40)], [])
    # one item a prefix of another: P stops one short of the shorter
    assert prefix_groups([[1, 2, 3, 4], [1, 2, 3]], 0, 0.0) == ([([0, 1], 2)], [])


@pytest.mark.parametrize("seed", range(20))
def test_radix_groups_are_a_valid_partition(seed):
    """Random small-alphabet sequences (many shared prefixes): a partition whose groups each pay for themselves."""
    rng = np.random.default_rng(seed)
    seqs = list({tuple(int(x) for x in rng.integers(0, 3, rng.integers(2, 12))) for _ in range(30)})
    for min_saved, frac in ((0, 0.0), (4, 0.1), (10, 0.3)):
        groups, alone = prefix_groups([list(s) for s in seqs], min_saved, frac)
        _check_partition(seqs, groups, alone, min_saved, frac)
    groups, _ = prefix_groups([list(s) for s in seqs], 0, 0.0)
    assert groups  # 30 sequences over 3 symbols always share something


@pytest.fixture(scope="module")
def scorers():
    tok = build_tokenizer()
    return {arch: tiny_causal_lm(arch, len(tok), seed=3) for arch in ARCHS}, tok


def _assert_same(a, b, atol=1e-5):
    assert [x.token_ids for x in a] == [y.token_ids for y in b]
    for x, y in zip(a, b):
        for key in ("rewards", "log_probs", "values"):
            np.testing.assert_allclose(getattr(x, key), getattr(y, key), atol=atol, rtol=0)
        assert x.score == pytest.approx(y.score, abs=atol)


def _pairs(seed=0):
    """Items sharing a long prefix that ends INSIDE the context (one system, different queries), plus
    duplicates and an item alone: (context, response) pairs of ids < 300."""
    rng = np.random.default_rng(seed)

    def ids(n):
        return [int(x) for x in rng.integers(5, 300, n)]

    system = ids(30)
    ctx = [system + ids(int(n)) for n in (4, 7, 5)]
    pairs = [(ctx[0], ids(6)), (ctx[1], ids(3)), (ctx[2], ids(9)), (ids(12), ids(5)), (ctx[1], ids(4))]
    return pairs + [pairs[2], pairs[0], pairs[2]]  # duplicates: 5 and 7 of 2, 6 of 0


@pytest.mark.parametrize("arch", ARCHS)
def test_a_prefix_ending_inside_the_prompt_and_duplicates(scorers, arch, monkeypatch):
    models, tok = scorers
    kw = dict(alpha=0.7, terminal="model", batch_size=2, progress=False)
    shared = EndogenousReward(models[arch], tok, **kw)
    shared.share_min_saved, shared.share_min_fraction = 60, 0.2  # 3 x 30 tokens saved of ~200: shares
    calls = {"shared": [], "plain": 0}
    inner_rows, inner_fwd = shared._rows_shared, shared._forward

    def rows_shared(items, P):
        calls["shared"].append((len(items), sorted(set(P))))
        return inner_rows(items, P)

    def forward(items, indices):
        calls["plain"] += len(items)
        return inner_fwd(items, indices)

    monkeypatch.setattr(shared, "_rows_shared", rows_shared)
    monkeypatch.setattr(shared, "_forward", forward)
    pairs = _pairs()
    got = shared.token_rewards_from_ids(pairs)
    assert calls["shared"] == [(4, [30])]  # the system prompt's 30 tokens, before every response's start
    assert calls["plain"] == 1  # the lone item (the once-only check of the cached rows is not a _forward)
    ref = EndogenousReward(models[arch], tok, share_prompt=False, **kw).token_rewards_from_ids(pairs)
    _assert_same(got, ref)
    for i, j in ((5, 2), (6, 0), (7, 2)):
        assert got[i] is not got[j]
        _assert_same([got[i]], [got[j]], atol=0)


def test_duplicates_are_scored_once_without_sharing(scorers, monkeypatch):
    models, tok = scorers
    rm = EndogenousReward(models["llama"], tok, share_prompt=False, progress=False)
    n = []
    inner = rm._forward
    monkeypatch.setattr(rm, "_forward", lambda items, idx: n.append(len(items)) or inner(items, idx))
    got = rm.score(["q", "q", "other", "q"], ["same", "same", "same", "different"])
    assert sum(n) == 3 and got[0] == got[1]
    assert got[0] == pytest.approx(rm.score("q", "same")[0], abs=1e-6)


def test_the_cost_rule_on_short_shared_prefixes(scorers, monkeypatch):
    models, tok = scorers
    rm = EndogenousReward(models["qwen2"], tok, progress=False)  # default rule: 16 tokens and 5 %
    sizes = []
    inner = rm._rows_shared
    monkeypatch.setattr(rm, "_rows_shared", lambda items, P: sizes.append(len(items)) or inner(items, P))
    rm.token_rewards_from_ids([([7] * 12, [9] * 150), ([7] * 12, [8] * 150)])
    assert sizes == []  # saves 12 tokens: fewer than 16
    rm.token_rewards_from_ids([([7] * 40, [9] * 460), ([7] * 40, [8] * 460)])
    assert sizes == []  # saves 40 of 1,000 tokens: less than 5 %
    rm.token_rewards_from_ids([([7] * 40, [9] * 150), ([7] * 40, [8] * 150)])
    assert sizes == [2]  # saves 40 of 380 tokens
    many = [([7] * 40 + [k], [9] * 20) for k in range(70)]  # one group of 70 sharing 40: jobs of <= 4 batches
    rm.token_rewards_from_ids(many)
    assert sizes[1:] == [32, 32, 6]


UNIT = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}


@pytest.mark.parametrize("dtype, alpha", [(torch.float32, 1.0), (torch.float32, 0.6), (torch.bfloat16, 1.0),
                                          (torch.bfloat16, 0.6), (torch.float16, 1.3)])
@pytest.mark.parametrize("spread", [0.3, 4.0])
def test_soft_values_against_float64(dtype, alpha, spread):
    """V from the same logits in float64, within the bound of ``soft_values``' docstring.

    float32: each of exp, sum and log adds <= ~1e-7 relative; |dV| <= 2e-5 (1 + |V|) covers a sequential
    float32 sum of 5,000 terms. bfloat16 / float16 (computed in that dtype, summed in float32): per term a
    relative error <= (1 + 2|d_i| / alpha) u, so |dV| <= alpha u (1 + 2 E_pi[|d| / alpha]) + the float32 part;
    and the error is real (more than float32's), so the low-precision steps are really taken."""
    g = torch.Generator().manual_seed(0)
    f = (torch.randn(37, 5000, generator=g) * spread).to(dtype)
    f[3, :] = -float("inf")  # a row of -inf: V = -inf, as torch.logsumexp
    f[5, 17] = 40.0  # one dominant logit
    f64 = f.double()
    ref = alpha * torch.logsumexp(f64 / alpha, dim=1)
    got = soft_values(f.clone(), alpha)
    assert got.dtype == torch.float64 and torch.isneginf(got[3])
    keep = torch.isfinite(ref)
    err = (got[keep] - ref[keep]).abs()
    float32_part = 2e-5 * (1 + ref[keep].abs())
    if dtype == torch.float32:
        assert err.max() <= float32_part.max(), err.max()
        return
    d = (f64[keep] - f64[keep].amax(1, keepdim=True)) / alpha
    pi = torch.softmax(d, dim=1)
    underflow = f.shape[1] * 2.0**-24 if dtype == torch.float16 else 0.0  # float16's exp flushes below e^-17
    bound = alpha * (UNIT[dtype] * (1 + 2 * (pi * d.abs()).sum(1)) + underflow) + float32_part
    assert (err <= bound).all(), (err / bound).max()
    assert err.max() > 1e-6  # not float32's exactness: the low-precision arithmetic is in use


def test_a_bfloat16_head_keeps_its_logits_in_bfloat16(scorers, monkeypatch):
    """head_dtype="model" on a bfloat16 model: the logits chunk stays bfloat16 (soft_values gets it as is);
    log pi matches float64 on the model's own logits within the bound of ``soft_values``, and is not float32's."""
    import endorm.llm.reward as reward

    models, tok = scorers
    model = tiny_causal_lm("llama", len(tok), seed=3).to(torch.bfloat16)
    rm = EndogenousReward(model, tok, head_dtype="model", progress=False)
    seen, inner = [], reward.soft_values
    monkeypatch.setattr(reward, "soft_values", lambda f, a: seen.append(f.dtype) or inner(f, a))
    ctx, resp = list(range(5, 25)), list(range(40, 52))
    got = rm.token_rewards_from_ids([(ctx, resp)])[0]
    assert seen == [torch.bfloat16]
    with torch.no_grad():
        logits = model(torch.tensor([ctx + resp])).logits[0].double()  # the model's own bfloat16 logits
    lp = torch.log_softmax(logits, -1)
    rows = torch.arange(len(ctx) - 1, len(ctx) - 1 + len(resp))
    err = np.abs(got.log_probs - lp[rows, torch.tensor(resp)].numpy())
    assert (err <= log_policy_tolerance(logits[rows], torch.bfloat16).numpy()).all() and err.max() > 1e-6


@pytest.mark.parametrize("dtype, head", [(torch.float32, "float32"), (torch.bfloat16, "model")])
def test_an_lm_head_bias_is_added_as_the_model_adds_it(scorers, dtype, head):
    """The bias goes into the head's one matmul (addmm, as F.linear): the model's own logits (to 1e-5 in float32;
    bfloat16 within the bound of ``soft_values``)."""
    _, tok = scorers
    model = tiny_causal_lm("llama", len(tok), seed=4)
    model.lm_head.bias = torch.nn.Parameter(torch.randn(len(tok), generator=torch.Generator().manual_seed(1)))
    model = model.to(dtype)
    rm = EndogenousReward(model, tok, head_dtype=head, progress=False)
    ctx, resp = list(range(7, 30)), list(range(60, 70))
    got = rm.token_rewards_from_ids([(ctx, resp)])[0]
    with torch.no_grad():
        logits = model(torch.tensor([ctx + resp])).logits[0].double()
    rows = torch.arange(len(ctx) - 1, len(ctx) - 1 + len(resp))
    err = np.abs(got.log_probs - torch.log_softmax(logits, -1)[rows, torch.tensor(resp)].numpy())
    assert (err <= log_policy_tolerance(logits[rows], dtype).numpy()).all()


def test_selecting_cache_rows_leaves_the_prefixes_cache_as_it_was(scorers):
    """``_select_rows``: each continuation batch gets only its rows (repeats allowed); the original is untouched."""
    from endorm.llm.prefix import _select_rows

    models, _ = scorers
    model = models["llama"]
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    with torch.no_grad():
        cache = model.model(input_ids=ids, use_cache=True).past_key_values
    before = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
    kv = _select_rows(cache, torch.tensor([1, 1, 0]), last=False)
    for (k0, v0), layer, new in zip(before, cache.layers, kv.layers):
        assert torch.equal(layer.keys, k0) and torch.equal(layer.values, v0)  # the original: as it was
        assert torch.equal(new.keys, k0[[1, 1, 0]]) and torch.equal(new.values, v0[[1, 1, 0]])
