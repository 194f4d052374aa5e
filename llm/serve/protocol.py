"""The request bodies of ``endorm serve``: checked field by field, then laid out as token ids.

No web framework here. ``check_get_reward`` / ``check_score`` take the parsed JSON and check its
fields and types (cheap, no tokenizer) into a ``Pending``, whose ``layout(scorer)`` gives the items
(``Encoded``: chat template, tokens, context length; run by the batcher's worker, which owns the
tokenizer). Both raise ``RequestError`` naming the field and index (``query[3]: ...``);
``parse_get_reward`` / ``parse_score`` do both steps.

``POST /get_reward`` (OpenRLHF's remote reward model, ``--remote_rm_url``): ``{"query": [str],
"prompts": [str], "labels": [...] (optional, ignored)}`` -> ``{"rewards": [float]}``. Each query
is the prompt's text followed by the response's (OpenRLHF decodes prompt + response tokens,
special tokens kept), so the response is ``query[i][len(prompts[i]):]`` once copies of the pad
token's text are stripped from the left of both (a left-padded decode); a query that does not then
start with its prompt is an error (the server's tokenizer and chat template must be the policy's). A prompt already rendered with a chat template (it contains
one of the tokenizer's special tokens, e.g. ``<|im_start|>``) is tokenized as is, without adding
special tokens; any other prompt gets the tokenizer's usual ones (e.g. a BOS), as the ``plain``
layout does. The terminal-token rule is ``score``'s (``endorm.llm.templates``): the response's
tokens run up to and including its first end token (the EOS or a special end-of-turn token such
as ``<|im_end|>``); tokens after it (OpenRLHF's right padding, a trailing newline) are never
scored; a response without one gets the layout's end token appended, as ``score`` does for a
finished response (so a generation cut at its length limit is scored as if it ended there;
``--no-end-token`` scores the content's tokens only).

``POST /score`` (endorm's own): ``{"prompts": [str or [message, ...]], "responses": [str],
"system": null | str | [str or null], "tokens": false}`` -> ``{"scores": [float]}`` and, with
``"tokens": true``, ``"tokens": [{"token_ids", "tokens", "endogenous_reward", "log_policy",
"soft_value"}]`` per response (Eq. 10, Eq. 9; alpha*nats and nats), laid out exactly as
``EndogenousReward.score`` lays them out (its template and options).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..templates import Encoded, _with_end_token, as_messages, encode, end_token_ids


class RequestError(ValueError):
    """A bad request: ``status`` (400 unreadable, 413 too large, 422 well-formed but invalid), the field and index."""

    def __init__(self, message: str, status: int = 422, field: str | None = None, index: int | None = None):
        super().__init__(message)
        self.status, self.field, self.index = status, field, index

    def body(self) -> dict:
        """The JSON error body: ``{"error": message, "field": ..., "index": ...}``."""
        return {"error": str(self), "field": self.field, "index": self.index}


@dataclass
class Parsed:
    """A checked request: its items laid out as ids, and whether per-token values were asked for."""

    items: list
    tokens: bool = False


@dataclass
class Pending:
    """A request whose fields are checked, not yet laid out: ``layout(scorer)`` -> its items (may raise)."""

    fields: dict
    lay_out: object       # callable(fields, scorer) -> list of Encoded
    tokens: bool = False

    def layout(self, scorer) -> list:
        """The items as ``Encoded`` (``RequestError`` naming the field and index if one cannot be laid out)."""
        return self.lay_out(self.fields, scorer)


def _list_of(body: dict, name: str, kinds, what: str, one: str, n: int | None = None, required: bool = True):
    """``body[name]`` as a non-empty list of ``what`` whose elements (each ``one``) are ``kinds`` (``n`` of them)."""
    if name not in body or body[name] is None:
        if required:
            raise RequestError(f"{name}: required (a list of {what})", field=name)
        return None
    value = body[name]
    if not isinstance(value, list):
        raise RequestError(f"{name}: expected a list of {what}, got {type(value).__name__}", field=name)
    if not value:
        raise RequestError(f"{name}: empty list; send at least one item", field=name)
    if n is not None and len(value) != n:
        raise RequestError(f"{name}: {len(value)} items, but query/prompts have {n}", field=name)
    for i, v in enumerate(value):
        if kinds is not None and not isinstance(v, kinds):
            raise RequestError(f"{name}[{i}]: expected {one}, got {type(v).__name__}", field=name, index=i)
    return value


def _lstrip_all(text: str, pad: str) -> str:
    """``text`` without the copies of ``pad`` it starts with (a left-padded decode)."""
    while pad and text.startswith(pad):
        text = text[len(pad):]
    return text


def _check_object(body) -> dict:
    if not isinstance(body, dict):
        raise RequestError(f"the body must be a JSON object, got {type(body).__name__}")
    return body


def _fit(scorer, field: str, i: int, e: Encoded) -> Encoded:
    """The scorer's own length and vocabulary checks, the message naming the field and index."""
    try:
        return scorer._fit(i, e)
    except ValueError as err:
        raise RequestError(f"{field}[{i}]: {str(err).removeprefix(f'item {i}: ')}", field=field, index=i) from None


def parse_get_reward(body, scorer) -> Parsed:
    """OpenRLHF's body -> items (module docstring): ``check_get_reward`` then its layout with ``scorer``.

    Raises:
        RequestError: as ``check_get_reward`` and ``_layout_get_reward`` (a text longer than the model's context).
    """
    return Parsed(check_get_reward(body, scorer.tokenizer.pad_token).layout(scorer))


def check_get_reward(body, pad: str | None = None) -> Pending:
    """OpenRLHF's body, its fields checked (module docstring); ``pad``: the tokenizer's pad token text.

    Raises:
        RequestError: a missing or mistyped field, an empty list, mismatched lengths, a query that does not
            start with its prompt, an empty prompt.
    """
    body = _check_object(body)
    queries = _list_of(body, "query", str, "strings (prompt + response texts)", "a string")
    prompts = _list_of(body, "prompts", str, "strings (the prompts of the queries)", "a string", len(queries))
    if pad:  # a left-padded decode: the pad texts go
        queries, prompts = [_lstrip_all(q, pad) for q in queries], [_lstrip_all(p, pad) for p in prompts]
    labels = body.get("labels")
    if labels is not None and (not isinstance(labels, list) or len(labels) != len(queries)):
        got = f"{len(labels)} items" if isinstance(labels, list) else type(labels).__name__
        raise RequestError(f"labels: expected a list of {len(queries)} (one per query, ignored), got {got}",
                           field="labels")
    for i, (q, p) in enumerate(zip(queries, prompts)):
        if not p:
            raise RequestError(f"prompts[{i}]: empty; the response needs a context", field="prompts", index=i)
        if not q.startswith(p):
            raise RequestError(f"query[{i}]: does not start with its prompt (prompts[{i}]); the response is the "
                               "query's text after its prompt", field="query", index=i)
    return Pending({"query": queries, "prompts": prompts}, _layout_get_reward)


def _layout_get_reward(fields: dict, scorer) -> list:
    end_ids, layout_end = end_token_ids(scorer.tokenizer), layout_end_token(scorer)
    items = []
    for i, (q, p) in enumerate(zip(fields["query"], fields["prompts"])):
        try:
            e = encode_rendered(scorer.tokenizer, p, q[len(p):], scorer.end_token, end_ids, layout_end)
        except ValueError as err:
            raise RequestError(f"query[{i}]: {err}", field="query", index=i) from None
        items.append(_fit(scorer, "query", i, e))
    return items


def layout_end_token(scorer) -> int | None:
    """The id ``scorer`` appends after a response of its layout (``<|im_end|>`` for ChatML, else the EOS); None
    if it appends none (``end_token=False``)."""
    if not scorer.end_token:
        return None
    e = encode(scorer.tokenizer, "Hi", "Hello", None, scorer.template, True, scorer.chat_template_kwargs)
    return int(e.input_ids[e.end - 1])


def encode_rendered(tokenizer, prompt: str, response: str, end_token: bool = True, end_ids=None,
                    layout_end: int | None = None) -> Encoded:
    """Ids of ``prompt + response`` with the response's range, for a prompt given as model text (module docstring).

    The whole text is tokenized once with character offsets (as ``templates.encode``); the response's tokens
    are those overlapping its characters, cut after the first end token among them (``end_ids``, default
    ``templates.end_token_ids``). A response without one gets ``layout_end`` appended (``layout_end_token``;
    default: the EOS, ``templates``' rule for a layout with no end-of-turn marker).

    Returns:
        ``Encoded`` with start >= 1 (the prompt is non-empty).

    Raises:
        ValueError: the response has no token (empty, with ``end_token=False``); nothing ends it (no EOS).
    """
    end_ids = end_token_ids(tokenizer) if end_ids is None else end_ids
    specials = [t for t in getattr(tokenizer, "all_special_tokens", []) if t]
    rendered = any(t in prompt for t in specials)
    text = prompt + response
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=not rendered)
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    c0 = len(prompt)
    inside = [k for k, (a, b) in enumerate(offsets) if b > a and b > c0]
    start = inside[0] if inside else len(ids)
    start = max(start, 1)
    stop = next((k + 1 for k in range(start, len(ids)) if ids[k] in end_ids), None)
    if stop is not None:  # the response's own end token: scored; what follows never is
        end = stop if end_token else stop - 1
        token_text = [text[a:b] if b > a else tokenizer.convert_ids_to_tokens(ids[k])
                      for k, (a, b) in zip(range(start, end), offsets[start:end])]
        if end <= start:
            raise ValueError("the response is its end token alone: nothing to score with the end token off")
        return Encoded(ids[:end], start, end, tuple(token_text))
    end = inside[-1] + 1 if inside else start
    token_text = [text[a:b] for a, b in offsets[start:end]]
    if end_token and layout_end is not None:
        ids, end = ids[:end] + [int(layout_end)], end + 1
        token_text = token_text + [tokenizer.convert_ids_to_tokens(int(layout_end))]
    elif end_token:
        ids, end, token_text = _with_end_token(tokenizer, ids, offsets, text, end, token_text)
    elif end <= start:
        raise ValueError("empty response: there is nothing to score (with the end token off)")
    return Encoded(ids[:end], start, end, tuple(token_text))


def parse_score(body, scorer) -> Parsed:
    """endorm's ``/score`` body -> items laid out as ``EndogenousReward.score`` does: ``check_score``, then layout.

    Raises:
        RequestError: as ``check_score``; a bad conversation, a text longer than the model's context.
    """
    pending = check_score(body)
    return Parsed(pending.layout(scorer), pending.tokens)


def check_score(body, pad: str | None = None) -> Pending:
    """endorm's ``/score`` body, its fields checked (module docstring); ``pad`` is not used.

    Raises:
        RequestError: a missing or mistyped field, an empty list, mismatched lengths.
    """
    body = _check_object(body)
    prompts = _list_of(body, "prompts", (str, list), "strings or message lists", "a string or a message list")
    responses = _list_of(body, "responses", str, "strings", "a string", len(prompts))
    system = body.get("system")
    if isinstance(system, list):
        if len(system) != len(prompts):
            raise RequestError(f"system: {len(system)} items, but prompts has {len(prompts)}", field="system")
        bad = next((i for i, s in enumerate(system) if s is not None and not isinstance(s, str)), None)
        if bad is not None:
            raise RequestError(f"system[{bad}]: expected a string or null, got {type(system[bad]).__name__}",
                               field="system", index=bad)
    elif system is not None and not isinstance(system, str):
        raise RequestError(f"system: expected null, a string or a list, got {type(system).__name__}", field="system")
    tokens = body.get("tokens", False)
    if not isinstance(tokens, bool):
        raise RequestError(f"tokens: expected true or false, got {type(tokens).__name__}", field="tokens")
    systems = system if isinstance(system, list) else [system] * len(prompts)
    return Pending({"prompts": prompts, "responses": responses, "system": systems}, _layout_score, tokens)


def _layout_score(fields: dict, scorer) -> list:
    items = []
    for i, (p, r, s) in enumerate(zip(fields["prompts"], fields["responses"], fields["system"])):
        try:
            if isinstance(p, list):
                as_messages(p)
            e = encode(scorer.tokenizer, p, r, s, scorer.template, scorer.end_token, scorer.chat_template_kwargs)
        except (TypeError, ValueError) as err:
            field = "responses" if "response" in str(err) and "prompt message" not in str(err) else "prompts"
            raise RequestError(f"{field}[{i}]: {err}", field=field, index=i) from None
        items.append(_fit(scorer, "prompts", i, e))
    return items


def token_rows(details) -> list:
    """Per response, its per-token values as JSON-ready lists (``/score`` with ``"tokens": true``)."""
    return [{"token_ids": list(d.token_ids), "tokens": list(d.tokens),
             "endogenous_reward": d.endogenous_reward.tolist(), "log_policy": d.log_policy.tolist(),
             "soft_value": d.soft_value.tolist()} for d in details]
