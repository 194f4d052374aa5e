"""Token credit maps: where a response gains or loses endogenous reward, token by token (Eq. 10).

``credit_records`` turns ``EndogenousReward.token_rewards`` into JSON-ready records; ``write_credit_html``
and ``write_credit_png`` draw them (``endorm score --html PATH --png PATH``). ``world_credit`` puts the true
reward r* of the ground-truth token world (``endorm.llm.world``) beside r_hat; ``write_world_credit`` draws it.

Choices: colour is matplotlib's ``"RdBu"`` (ColorBrewer, colour-blind safe) centred at 0 with symmetric
limits +-L, L = max |r_hat| on the page (one scale for every response on it); red: the token loses reward,
blue: it gains; resampled to 257 entries so r_hat = 0 gets the exact neutral ``#f7f7f7``. Units (MATH.md):
r_hat, f, V in alpha*nats, log pi in nats. HTML is self-contained (inline CSS, no script, nothing fetched):
per response the prompt (dim), coloured token spans whose ``title`` (hover) gives index, text, r_hat, log pi,
V; a summary line (score, sum r_hat, n, alpha, end-of-turn note) and a ``<details>`` table; newlines show as
``↵`` and still break the line, tabs ``⇥``, space-only tokens ``␣``, special tokens get a dashed outline.
The PNG wraps boxes into rows with r_hat under each, at most ``MAX_PNG_TOKENS`` per response (the title
says so when cut), its numbers in a JSON of the same stem. World: r* and r_hat as two rows on one shared
scale plus cumulative sums; r_hat equals r* only up to shaping by a per-state potential (MATH.md, "Reward
shaping"), so the shaping-free alpha*log pi is drawn too.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np

CMAP = "RdBu"
MAX_PNG_TOKENS = 200
UNITS = "alpha*nats (nats at alpha = 1)"
_ROW_UNITS = 110  # PNG row width in monospace characters
_EXPERT, _MODEL = "#0072B2", "#D55E00"  # Okabe-Ito blue and vermillion (paper_figures._common.COLORS)


def colour_limit(arrays) -> float:
    """The symmetric colour limit L > 0: max |x| over the finite entries of ``arrays``, a sequence of
    array-likes such as each response's r_hat [n] (1.0 if none is non-zero); in the arrays' units."""
    flat = np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in arrays]) if len(arrays) else np.zeros(0)
    flat = flat[np.isfinite(flat)]
    limit = float(np.abs(flat).max()) if flat.size else 0.0
    return limit if limit > 0 else 1.0


def token_colour(value: float, limit: float) -> str:
    """The background colour of a token with reward ``value`` on the diverging map, centred at 0.

    Args:
        value: r_hat of the token (alpha*nats); clipped to [-limit, limit].
        limit: L > 0, the symmetric limit of the page (``colour_limit``).

    Returns:
        ``"#rrggbb"``: ``#f7f7f7`` at 0, towards red (``#67001f``) at -L and blue (``#053061``) at +L.
    Raises:
        ValueError: ``limit`` is not a positive finite number.
    """
    import matplotlib
    from matplotlib.colors import to_hex

    if not (np.isfinite(limit) and limit > 0):
        raise ValueError(f"limit must be a positive finite number, got {limit!r}")
    x = 0.5 + 0.5 * float(np.clip(value / limit, -1.0, 1.0))
    return to_hex(matplotlib.colormaps[CMAP].resampled(257)(x))  # 257 entries: x = 0.5 is the middle one


def _ink(background: str) -> str:
    """Black or white text, whichever reads on ``background`` (relative luminance threshold 0.4)."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(background)
    return "#000000" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.4 else "#ffffff"


def visible_text(token: str) -> str:
    """A token's text with whitespace made visible: newline ``↵`` (the newline kept after it), tab ``⇥``,
    carriage return ``\\r``, a token of spaces only ``␣`` per space, the empty token ``∅``."""
    if token == "":
        return "∅"
    if set(token) == {" "}:
        return "␣" * len(token)
    return token.replace("\r", "\\r").replace("\t", "⇥").replace("\n", "↵\n")


def credit_records(scorer, prompts, responses, system=None, details=None) -> list:
    """JSON-ready per-token credit of each (prompt, response) under an ``EndogenousReward`` (Eq. 9-12).

    Args:
        scorer: an ``EndogenousReward`` (its tokenizer and options are recorded).
        prompts, responses, system: as ``EndogenousReward.token_rewards``.
        details: the scorer's ``token_rewards`` of these items when already computed (not recomputed).

    Returns:
        list of dicts, one per item: ``prompt`` (text; a conversation as a transcript), ``system``,
        ``response``, per token [n] lists ``tokens``, ``token_ids``, ``special``, ``r_hat`` (alpha*nats),
        ``log_pi`` (nats), ``V`` (V(s_t), alpha*nats); ``next_value``, ``score`` (the scorer's Appendix C
        score), ``sum_r_hat``, ``n_tokens``, ``alpha``, ``kind``, ``gamma``, ``floor``, ``terminal``,
        ``end_token``, ``template``.

    Raises:
        ValueError, TypeError: as ``token_rewards``; ``details`` of another length.
    """
    from .base import as_batch
    from .templates import as_messages, end_token_ids, transcript

    prompts, responses, system = as_batch(prompts, responses, system)
    details = scorer.token_rewards(prompts, responses, system) if details is None else list(details)
    if len(details) != len(prompts):
        raise ValueError(f"details must have one entry per item, got {len(details)} for {len(prompts)}")
    special = set(getattr(scorer.tokenizer, "all_special_ids", None) or []) | end_token_ids(scorer.tokenizer)
    options = {k: getattr(scorer, k) for k in ("alpha", "kind", "gamma", "floor", "terminal", "end_token", "template")}
    out = []
    for p, r, s, d in zip(prompts, responses, system, details):
        msgs = as_messages(p, s)
        sys_text = msgs[0]["content"] if msgs[0]["role"] == "system" else None
        out.append({"prompt": transcript([m for m in msgs if m["role"] != "system"]), "system": sys_text,
                    "response": r, "tokens": list(d.tokens), "token_ids": [int(t) for t in d.token_ids],
                    "special": [int(t) in special for t in d.token_ids], "r_hat": d.endogenous_reward.tolist(),
                    "log_pi": d.log_policy.tolist(), "V": d.soft_value.tolist(), "next_value": float(d.next_value),
                    "score": float(d.score), "sum_r_hat": float(np.sum(d.endogenous_reward)),
                    "n_tokens": len(d.token_ids), **options})
    return out


def _summary(rec: dict) -> str:
    """The per-response line: score, sum r_hat, n tokens, alpha, the end-of-turn note."""
    end = (f"the last token {rec['tokens'][-1]!r} ends the turn and is scored (Eq. 12)" if rec["end_token"]
           else "the end-of-turn token is not scored (--no-end-token)")
    value = "0 (terminal 'zero')" if rec["terminal"] == "zero" else f"{rec['next_value']:.4f} (the model's)"
    return (f"score = {rec['score']:.4f} (Appendix C, kind {rec['kind']!r}, gamma {rec['gamma']:g}, floor "
            f"{rec['floor']:g}); sum r_hat = {rec['sum_r_hat']:.4f}; n = {rec['n_tokens']} tokens; alpha = "
            f"{rec['alpha']:g}; V after the last token = {value}; {end}")


_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:64em;color:#222;padding:0 1em}
section{border-top:1px solid #ccc;margin-top:1.2em}
.prompt{color:#888;white-space:pre-wrap;font-size:90%;border-left:3px solid #ddd;padding-left:.6em}
.tokens{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;line-height:2;word-break:break-all}
.tok{padding:2px 0;border-radius:2px}.special{outline:1px dashed #000;font-style:italic}
.meta{font-size:90%}.bar{display:inline-block;width:16em;height:1em;vertical-align:middle;border:1px solid #999}
table{border-collapse:collapse;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:85%}
td,th{padding:1px .7em;text-align:right;border-bottom:1px solid #eee}td:nth-child(2),th:nth-child(2){text-align:left}"""


def _token_span(i: int, token: str, r: float, lp: float, v: float, special: bool, limit: float) -> str:
    """One coloured ``<span>`` with its hover text (index, text, r_hat, log pi, V)."""
    bg = token_colour(r, limit)
    tip = f"#{i + 1} {token!r}{' (special)' if special else ''}\nr_hat = {r:.4f}\nlog pi = {lp:.4f}\nV(s) = {v:.4f}"
    cls = "tok special" if special else "tok"
    return (f'<span class="{cls}" style="background:{bg};color:{_ink(bg)}" title="{html.escape(tip)}">'
            f"{html.escape(visible_text(token))}</span>")


def _html_block(k: int, rec: dict, limit: float) -> str:
    """One response's ``<section>``: prompt, summary line, coloured tokens, table toggle."""
    rows = list(enumerate(zip(rec["tokens"], rec["r_hat"], rec["log_pi"], rec["V"], rec["special"])))
    spans = "".join(_token_span(i, *row, limit) for i, row in rows)
    table = "".join(f"<tr><td>{i + 1}</td><td>{html.escape(repr(t))}{' *' if s else ''}</td><td>{r:.4f}</td>"
                    f"<td>{lp:.4f}</td><td>{v:.4f}</td></tr>" for i, (t, r, lp, v, s) in rows)
    system = f"[system] {rec['system']}\n\n" if rec["system"] else ""
    return (f"<section><h2>Response {k + 1}</h2>\n<div class=\"prompt\">{html.escape(system + rec['prompt'])}</div>\n"
            f"<p class=\"meta\">{html.escape(_summary(rec))}</p>\n<div class=\"tokens\">{spans}</div>\n"
            "<details><summary>table: token, r_hat, log pi, V (* special token)</summary><table><tr><th>t</th>"
            "<th>token</th><th>r_hat</th><th>log pi</th><th>V(s_t)</th></tr>"
            f"{table}</table></details></section>")


def credit_html(records, title: str = "Token credit map") -> str:
    """A self-contained HTML page of ``credit_records`` (module docstring: layout, colours, units).

    Args: records: ``credit_records``'s list (one block per response); title: the page's heading.
    Returns: the page, a str (UTF-8 when written); every text escaped with ``html.escape``.
    Raises: ValueError: no records.
    """
    if not records:
        raise ValueError("records is empty: nothing to draw")
    limit = colour_limit([r["r_hat"] for r in records])
    stops = ", ".join(token_colour(x, limit) for x in np.linspace(-limit, limit, 11))
    legend = (f'<p class="meta">colour = r_hat (Eq. 10), in {UNITS}: <b>{-limit:.4f}</b> <span class="bar" '
              f'style="background:linear-gradient(to right, {stops})"></span> <b>+{limit:.4f}</b> (RdBu, '
              "centred at 0; symmetric limits = max |r_hat| on this page). Red: the token loses reward, blue: "
              "it gains. Hover a token for r_hat, log pi (nats) and V(s_t); dashed outline: special token; "
              "↵ newline, ⇥ tab, ␣ spaces.</p>")
    body = "\n".join(_html_block(k, rec, limit) for k, rec in enumerate(records))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head>\n<body><h1>{html.escape(title)}</h1>\n{legend}\n{body}\n</body></html>\n")


def write_credit_html(path, records, title: str = "Token credit map") -> Path:
    """Write ``credit_html(records, title)`` to ``path`` atomically (``endorm._io``); returns ``path`` as a ``Path``.

    Raises: ValueError: no records; OSError: the file cannot be written."""
    from endorm._io import atomic_write_bytes

    return atomic_write_bytes(path, credit_html(records, title).encode("utf-8"))


def _wrap(labels, width: float) -> list:
    """Token boxes in rows: [[(token index, x, box width), ...], ...], a box = max(len, 6) + 1 characters."""
    rows, row, x = [], [], 0.0
    for i, label in enumerate(labels):
        w = max(len(label), 6) + 1.0
        if row and x + w > width:
            rows.append(row)
            row, x = [], 0.0
        row.append((i, x, w))
        x += w
    return rows + [row] if row else rows


def _png_label(token: str) -> str:
    """A token's box label: visible whitespace on one line, cut to fit a row."""
    text = visible_text(token).replace("\n", "")
    return text if len(text) <= _ROW_UNITS - 8 else text[:_ROW_UNITS - 9] + "…"


def _draw_block(ax, rec: dict, y: float, limit: float, max_tokens: int) -> float:
    """Draw one response (header, wrapped boxes, values) from line ``y`` down; returns the next free line."""
    from matplotlib.patches import Rectangle

    n = min(rec["n_tokens"], max_tokens)
    shown = "" if n == rec["n_tokens"] else f"; first {n} of {rec['n_tokens']} tokens drawn"
    head = (f"score = {rec['score']:.4f} ({rec['kind']}), sum r_hat = {rec['sum_r_hat']:.4f}, n = "
            f"{rec['n_tokens']} tokens, alpha = {rec['alpha']:g}{shown}")
    ax.text(0, y + 0.6, head, fontsize=9, weight="bold", va="center", parse_math=False)
    y += 1.4
    labels = [_png_label(t) for t in rec["tokens"][:n]]
    for row in _wrap(labels, _ROW_UNITS):
        for i, x, w in row:
            bg, special = token_colour(rec["r_hat"][i], limit), rec["special"][i]
            ax.add_patch(Rectangle((x, y), w - 0.4, 1.0, facecolor=bg, edgecolor="black" if special else bg,
                                   linestyle="--" if special else "-", linewidth=0.8))
            ax.text(x + (w - 0.4) / 2, y + 0.5, labels[i], ha="center", va="center", fontsize=8,
                    family="monospace", color=_ink(bg), parse_math=False)
            ax.text(x + (w - 0.4) / 2, y + 1.45, f"{rec['r_hat'][i]:+.2f}", ha="center", va="center",
                    fontsize=6.5, color="#333333")
        y += 2.2
    return y + 0.6


def credit_figure(records, max_tokens: int = MAX_PNG_TOKENS):
    """A matplotlib figure of ``credit_records``: each response's tokens as boxes coloured by r_hat.

    Boxes run left to right and wrap into rows (no axes: position carries no quantity); r_hat is printed
    under each box; a colour bar gives the scale in ``UNITS``; special tokens have a dashed edge.

    Args:
        records: ``credit_records``'s list.
        max_tokens: the most tokens drawn per response (beyond ~200 the page is no longer readable); the
            title and the response's header say when fewer than all are drawn.

    Returns:
        a ``matplotlib.figure.Figure`` (built without pyplot: nothing to close).
    Raises:
        ValueError: no records, or ``max_tokens`` < 1.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    if not records:
        raise ValueError("records is empty: nothing to draw")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    limit = colour_limit([r["r_hat"] for r in records])
    lines = sum(2.0 + 2.2 * len(_wrap([_png_label(t) for t in r["tokens"][:max_tokens]], _ROW_UNITS))
                for r in records)
    fig = Figure(figsize=(13, 1.6 + 0.28 * lines))  # no pyplot: no global state, nothing to close
    ax = fig.add_subplot(xlim=(0, _ROW_UNITS), ylim=(lines, 0))
    ax.axis("off")
    y = 0.0
    for rec in records:
        y = _draw_block(ax, rec, y, limit, max_tokens)
    cut = any(r["n_tokens"] > max_tokens for r in records)
    p = records[0]["prompt"]
    prompt = "several prompts" if {r["prompt"] for r in records} != {p} else \
        f"prompt: {p if len(p) <= 80 else p[:79] + '…'!r}"
    ax.set_title(f"Token credit r_hat (Eq. 10), n = {len(records)} response(s); {prompt}"
                 + (f"\nfirst {max_tokens} tokens per response drawn (more would not be readable); all in the "
                    "JSON" if cut else ""), fontsize=10, loc="left", parse_math=False)
    bar = fig.colorbar(ScalarMappable(Normalize(-limit, limit), CMAP), ax=ax, fraction=0.025, pad=0.01,
                       shrink=min(1.0, 4.0 / (0.28 * lines + 0.5)))
    bar.set_label(f"r_hat, {UNITS}; limits ±max|r_hat|", fontsize=8)
    return fig


def _save(path, fig, numbers: dict) -> tuple:
    """Write ``numbers`` to the ``.json`` beside ``path`` and ``fig`` to ``path`` (PNG), atomically; a ValueError
    if ``path`` ends in ``.json`` (its numbers would overwrite it)."""
    from endorm._io import atomic_savefig, atomic_write_json

    if Path(path).suffix.lower() == ".json":
        raise ValueError(f"the PNG path must not end in .json (the numbers go there), got {str(path)!r}")
    png = atomic_savefig(fig, path, dpi=120, bbox_inches="tight")  # tight: no empty margins on short maps
    return png, atomic_write_json(Path(path).with_suffix(".json"), numbers)


def write_credit_png(path, records, max_tokens: int = MAX_PNG_TOKENS) -> tuple:
    """Write ``credit_figure(records)`` to ``path`` (PNG) and the numbers to the ``.json`` of the same stem.

    Returns:
        ``(png, json)`` paths; the JSON holds ``what``, ``units``, ``colour_map``, ``colour_limit``,
        ``max_tokens_drawn`` and ``records`` (every token, drawn or not).
    Raises:
        ValueError: ``path`` ends in ``.json``; as ``credit_figure``. OSError: a file cannot be written.
    """
    numbers = {"what": "per-token endogenous reward r_hat (Eq. 10), log pi (Eq. 9) and V(s_t)",
               "units": {"r_hat": UNITS, "V": UNITS, "log_pi": "nats"}, "colour_map": CMAP,
               "colour_limit": colour_limit([r["r_hat"] for r in records]), "max_tokens_drawn": max_tokens,
               "records": list(records)}
    return _save(path, credit_figure(records, max_tokens), numbers)


def world_credit(world, scorer, domain: int, response) -> dict:
    """r* beside r_hat for one response of the token world (``endorm.llm.world.TokenWorld``).

    r*_t = r*(s_t, y_t) is the world's true reward per step (``TokenWorld.reward``; their sum is
    ``true_return``); r_hat_t is ``scorer``'s (an ``EndogenousReward`` on the world's model) after the
    domain's prompt token. Also the shaping-free parts: alpha*log pi^E (expert) and alpha*log pi_hat (model);
    r* = alpha*log pi^E + V*(s_t) - V*(s_{t+1}) (Eq. 13), r_hat = alpha*log pi_hat + V(s_t) - V(s_{t+1}) (Eq. 11).

    Args:
        world: a ``TokenWorld``; scorer: an ``EndogenousReward`` on a model over ``world.words``.
        domain: the prompt's domain index d in [0, D); response: [H] word ids (MDP actions).

    Returns:
        JSON-ready dict, [H] lists per token: ``words``, ``token_ids``, ``r_star``, ``r_hat``, ``alpha_log_pi_expert``,
        ``alpha_log_pi_model``, ``V_star``, ``V_model``, ``cum_r_star``, ``cum_r_hat``; and ``domain``, ``prompt_word``,
        ``true_return``, ``score``, ``alpha`` (world's), ``scorer_alpha``, ``units``, ``caption``.

    Raises:
        ValueError: ``domain`` out of range, ``response`` not [H] ids in [0, V) (``rollout_states``).
    """
    from endorm.tabular import rollout_states

    if not 0 <= int(domain) < world.n_domains:
        raise ValueError(f"domain must lie in [0, {world.n_domains}), got {domain!r}")
    y = np.asarray(response, dtype=np.int64)
    if y.shape != (world.horizon,):
        raise ValueError(f"response must be [{world.horizon}] word ids, got shape {y.shape}")
    s = rollout_states(world.mdp, world.prompt_state([int(domain)]), y[None])[0]
    t = range(world.horizon)
    r_star = np.array([world.reward[h][s[h], y[h]] for h in t])
    lp_e = np.array([world.expert.log_policy[h][s[h], y[h]] for h in t])
    tr = scorer.token_rewards_from_ids([([world.domain_token(int(domain))], y.tolist())])[0]
    a = float(scorer.alpha)
    caption = ("Top: true reward r* (Eq. 13) and EndoRM's r_hat (Eq. 10) per response token, one shared symmetric "
               "RdBu scale. Bottom: cumulative sums. r_hat equals r* only up to potential-based shaping (MATH.md, "
               "Reward shaping): per token they may differ by V(s_t) - V(s_t+1) terms; the shaping-free parts "
               "alpha*log pi^E and alpha*log pi_hat (dashed) agree when the model imitates the expert, and the "
               "totals then differ by the constant V(s_1) - V*(s_1).")
    return {"domain": int(domain), "prompt_word": world.domain_words[int(domain)],
            "words": [world.response_words[int(k)] for k in y], "token_ids": y.tolist(), "r_star": r_star.tolist(),
            "r_hat": tr.endogenous_reward.tolist(), "alpha_log_pi_expert": (world.alpha * lp_e).tolist(),
            "alpha_log_pi_model": (a * tr.log_policy).tolist(),
            "V_star": [float(world.expert.V[h][s[h]]) for h in t], "V_model": tr.soft_value.tolist(),
            "cum_r_star": np.cumsum(r_star).tolist(), "cum_r_hat": np.cumsum(tr.endogenous_reward).tolist(),
            "true_return": float(r_star.sum()), "score": float(tr.score), "alpha": float(world.alpha),
            "scorer_alpha": a, "units": "reward units = alpha*nats", "caption": caption}


def world_credit_figure(credit: dict):
    """Draw ``world_credit``: r* and r_hat as two rows of coloured boxes (values inside), cumulative sums below;
    returns a ``matplotlib.figure.Figure`` (built without pyplot: nothing to close)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    H, limit = len(credit["words"]), colour_limit([credit["r_star"], credit["r_hat"]])
    fig = Figure(figsize=(max(8.0, 0.7 * H + 4), 6.4))
    top, bot = fig.subplots(2, 1, height_ratios=[1, 1.5])
    for row, key in enumerate(("r_star", "r_hat")):
        for t, v in enumerate(credit[key]):
            bg = token_colour(v, limit)
            top.add_patch(Rectangle((t, row), 0.94, 0.9, facecolor=bg))
            top.text(t + 0.47, row + 0.45, f"{v:+.2f}", ha="center", va="center", fontsize=7, color=_ink(bg))
    top.set(xlim=(0, H), ylim=(2, 0), xlabel="response token t: word", yticks=[0.45, 1.45],
            yticklabels=["r* (true)", "r_hat (model)"])
    top.set_xticks(np.arange(H) + 0.47, [f"{t + 1}: {w}" for t, w in enumerate(credit["words"])], rotation=45,
                   ha="right", fontsize=7)
    fig.colorbar(ScalarMappable(Normalize(-limit, limit), CMAP), ax=top, pad=0.01,
                 label="r* and r_hat (alpha*nats)")
    x = np.arange(1, H + 1)
    for key, colour, style, name in (("r_star", _EXPERT, "-", "sum r*"), ("r_hat", _MODEL, "-", "sum r_hat"),
                                     ("alpha_log_pi_expert", _EXPERT, "--", "sum alpha log pi^E"),
                                     ("alpha_log_pi_model", _MODEL, "--", "sum alpha log pi_hat")):
        bot.plot(x, np.cumsum(credit[key]), style, color=colour, marker="o", ms=3, label=name)
    bot.axhline(0, color="#999999", lw=0.6)
    bot.set(xlabel="response token t", ylabel="cumulative up to t (alpha*nats)", xlim=(0.5, H + 0.5))
    bot.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.suptitle(f"r* vs r_hat per token, prompt {credit['prompt_word']!r}, H = {H} tokens (n = 1 response): "
                 f"R*(y) = {credit['true_return']:.3f}, R_hat(y) = {credit['score']:.3f}\nr_hat = r* only up to "
                 "shaping by a per-state potential; dashed: the shaping-free alpha*log pi", fontsize=9)
    fig.tight_layout()
    return fig


def write_world_credit(path, credit: dict) -> tuple:
    """Write ``world_credit_figure(credit)`` to ``path`` (PNG) and ``credit`` to the ``.json`` of the same stem.

    Returns: ``(png, json)`` paths. Raises: ValueError: ``path`` ends in ``.json``; OSError: a write fails.
    """
    return _save(path, world_credit_figure(credit), credit)
