"""Token credit maps (endorm.llm.credit): colours, HTML, PNG + JSON, and r* beside r_hat in the token world."""
import html
import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from endorm.llm import credit as C  # noqa: E402
from endorm.llm.reward import EndogenousReward  # noqa: E402
from endorm.llm.templates import encode  # noqa: E402
from endorm.llm.testing import save_tiny_model, tiny_causal_lm, word_tokenizer  # noqa: E402

PROMPTS = ["What is 2 + 2?", "Hi"]
RESPONSES = ["It is <b>4</b> & 'so'\n\tdone", "Hello world"]


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    path = save_tiny_model(tmp_path_factory.mktemp("m") / "tiny", "gpt2", seed=4)
    return EndogenousReward.from_pretrained(path, alpha=0.5, device="cpu")


@pytest.fixture(scope="module")
def records(scorer):
    return C.credit_records(scorer, PROMPTS, RESPONSES, system="Be brief.")


def test_colour_is_neutral_at_zero_and_its_side_follows_the_sign():
    # ColorBrewer RdBu: neutral #f7f7f7 in the middle, #67001f (red) at the low end, #053061 (blue) at the high end
    assert C.token_colour(0.0, 3.0) == C.token_colour(-0.0, 0.1) == "#f7f7f7"
    assert C.token_colour(-3.0, 3.0) == C.token_colour(-50.0, 3.0) == "#67001f"  # clipped at -L
    assert C.token_colour(3.0, 3.0) == C.token_colour(9.0, 3.0) == "#053061"
    for v in (0.2, 1.0, 2.5):
        r, g, b = (int(C.token_colour(v, 3.0)[k:k + 2], 16) for k in (1, 3, 5))
        assert b > r, (v, r, b)  # a gain is blue
        r, g, b = (int(C.token_colour(-v, 3.0)[k:k + 2], 16) for k in (1, 3, 5))
        assert r > b, (v, r, b)  # a loss is red
    # farther from 0 is darker (lower luminance) on either side
    lum = [sum(int(C.token_colour(v, 3.0)[k:k + 2], 16) for k in (1, 3, 5)) for v in (0.0, 1.0, 2.0, 3.0)]
    assert lum == sorted(lum, reverse=True) and len(set(lum)) == 4
    with pytest.raises(ValueError, match="limit must be a positive finite number, got 0"):
        C.token_colour(1.0, 0)
    assert C.colour_limit([[-3.0, 1.0], [2.0]]) == 3.0 and C.colour_limit([[0.0]]) == 1.0


def test_whitespace_is_visible():
    assert C.visible_text("a\nb") == "a↵\nb" and C.visible_text("  ") == "␣␣" and C.visible_text("") == "∅"
    assert C.visible_text("\tx") == "⇥x" and C.visible_text(" word") == " word"


def test_records_are_the_scorers_own_token_rewards(scorer, records):
    ref = scorer.token_rewards(PROMPTS, RESPONSES, system="Be brief.")
    for rec, t in zip(records, ref):
        assert rec["tokens"] == t.tokens and rec["token_ids"] == t.token_ids and rec["n_tokens"] == len(t.tokens)
        np.testing.assert_array_equal(rec["r_hat"], t.rewards)
        np.testing.assert_array_equal(rec["log_pi"], t.log_probs)
        np.testing.assert_array_equal(rec["V"], t.values)
        assert rec["score"] == t.score and rec["sum_r_hat"] == pytest.approx(t.rewards.sum(), abs=1e-12)
        assert rec["special"] == [False] * (len(t.tokens) - 1) + [True]  # the scored <|im_end|>
    assert records[0]["system"] == "Be brief." and records[0]["prompt"] == PROMPTS[0] and records[0]["alpha"] == 0.5


def test_r_hat_equals_a_float64_recomputation_from_the_logits(scorer, records):
    """Eq. 10 by hand from one full forward: r_hat_t = f_t[y_t] - alpha*lse(f_{t+1}/alpha), 0 after the last token."""
    e = encode(scorer.tokenizer, PROMPTS[0], RESPONSES[0], "Be brief.", scorer.template)
    with torch.no_grad():
        f = scorer.model(torch.tensor([e.input_ids])).logits[0].double()
    a = scorer.alpha
    ref = [f[t - 1, e.input_ids[t]].item() - (a * torch.logsumexp(f[t] / a, -1).item() if t < e.end - 1 else 0.0)
           for t in range(e.start, e.end)]
    np.testing.assert_allclose(records[0]["r_hat"], ref, atol=1e-5)


def test_html_shows_every_token_escaped_with_its_value_and_colour(records):
    page = C.credit_html(records)
    limit = max(abs(r) for rec in records for r in rec["r_hat"])
    assert f"{limit:.4f}" in page and "<script" not in page and "http" not in page  # self-contained
    assert "<b>4" not in page and "</b> &" not in page and "&lt;" in page  # the response's markup is text
    spans = re.findall(r'<span class="([^"]+)" style="background:(#[0-9a-f]{6});color:#[0-9a-f]{6}" '
                       r'title="([^"]*)">([^<]*)</span>', page)
    assert len(spans) == sum(rec["n_tokens"] for rec in records)
    flat = [(rec, i) for rec in records for i in range(rec["n_tokens"])]
    for (cls, bg, title, text), (rec, i) in zip(spans, flat):
        assert text == html.escape(C.visible_text(rec["tokens"][i]))
        assert bg == C.token_colour(rec["r_hat"][i], limit)
        assert f"r_hat = {rec['r_hat'][i]:.4f}" in html.unescape(title)
        assert f"log pi = {rec['log_pi'][i]:.4f}" in html.unescape(title)
        assert ("special" in cls) == rec["special"][i]
    assert "↵\n" in page and "⇥" in page  # the newline is shown and still breaks the line
    assert page.count("<details>") == 2 and f"score = {records[1]['score']:.4f}" in page
    assert "ends the turn and is scored" in page


def test_png_and_its_json(records, tmp_path):
    png, js = C.write_credit_png(tmp_path / "map.png", records, max_tokens=4)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and js == tmp_path / "map.json"
    out = json.loads(js.read_text())
    assert out["max_tokens_drawn"] == 4 and out["colour_limit"] == C.colour_limit([r["r_hat"] for r in records])
    assert out["records"] == json.loads(json.dumps(records))  # every token, drawn or not
    fig = C.credit_figure(records, max_tokens=4)
    assert "first 4 tokens per response drawn" in fig.axes[0].get_title(loc="left")
    with pytest.raises(ValueError, match="must not end in .json"):
        C.write_credit_png(tmp_path / "map.json", records)
    with pytest.raises(ValueError, match="records is empty"):
        C.credit_html([])


def test_world_credit_puts_the_true_reward_beside_r_hat(tmp_path):
    from endorm.llm import world as W

    world = W.make_world(seed=2, n_domains=2, vocab_size=5, n_automaton=3, horizon=6, alpha=0.3)
    model = tiny_causal_lm("llama", len(world.words), seed=1, max_positions=world.horizon + 2)
    scorer = EndogenousReward(model, word_tokenizer(world.words, pad_token=W.mdp.PAD, eos_token=W.mdp.PAD),
                              alpha=world.alpha)
    doms, ys = W.sample_expert(world, 3, seed=0)
    for d, y in zip(doms, ys):
        c = C.world_credit(world, scorer, int(d), y)
        q, r_star = 0, []  # walk domain d's automaton by hand
        for a in y:
            r_star.append(world.rewards[d, q, a])
            q = world.automata[d, q, a]
        np.testing.assert_allclose(c["r_star"], r_star, rtol=0, atol=1e-12)
        assert c["true_return"] == pytest.approx(world.true_return([d], [y])[0], abs=1e-12)
        # Eq. 13: r* = alpha log pi^E + V*(s_t) - V*(s_t+1), V* = 0 after the last token
        v = np.append(c["V_star"], 0.0)
        np.testing.assert_allclose(c["r_star"], np.array(c["alpha_log_pi_expert"]) + v[:-1] - v[1:], atol=1e-10)
        ref = scorer.token_rewards_from_ids([([world.domain_token(int(d))], y.tolist())])[0]
        np.testing.assert_array_equal(c["r_hat"], ref.rewards)
        assert c["words"] == [world.response_words[a] for a in y] and c["score"] == ref.score
    png, js = C.write_world_credit(tmp_path / "world.png", c)
    assert png.stat().st_size > 0 and json.loads(js.read_text())["r_star"] == c["r_star"]
    with pytest.raises(ValueError, match="domain must lie in"):
        C.world_credit(world, scorer, 5, ys[0])
    with pytest.raises(ValueError, match="response must be"):
        C.world_credit(world, scorer, 0, ys[0][:3])
