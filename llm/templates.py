"""Lay out (system, prompt, response) as model text and find the response's tokens.

Templates:

* ``"chat"``: system = instruction, user = query, assistant = response, through the
  tokenizer's chat template (the default when it has one; what public
  reimplementations of the paper score).
* ``"appendix-d"``: the paper's Appendix D layout, query and response inside the user
  turn: ``"### Query\\n{query}\\n### Response\\n{response}"`` (system = instruction).
* ``"plain"``: ``system + "\\n\\n" + prompt + response``, for base models.

The full text is tokenized once with character offsets; the response's tokens are
those whose character span overlaps the response's span. Tokenizing the response
alone and concatenating would differ wherever a token merges across the boundary.
"""
from __future__ import annotations

from dataclasses import dataclass

TEMPLATES = ("chat", "appendix-d", "plain")


@dataclass(frozen=True)
class Encoded:
    """Token ids of the full text and the half-open token range [start, end) of the response.

    Fields (n = end - start, the response's length in tokens):
        input_ids: token ids of the whole laid-out text, [length] list of int.
        start, end: the response's tokens are ``input_ids[start:end]``; ``encode`` gives start >= 1.
        token_text: the text of each response token, [n] tuple of str, cut from the encoded text by
            its character offsets (so a multi-byte character split over tokens is not garbled);
            None if unknown (the scorer then decodes each id).
    """

    input_ids: list
    start: int
    end: int
    token_text: tuple | None = None


def default_template(tokenizer) -> str:
    """The default layout: ``"chat"`` if the tokenizer has a chat template, else ``"plain"``."""
    return "chat" if getattr(tokenizer, "chat_template", None) else "plain"


def check_template(tokenizer, template: str) -> str:
    """Check a template name against the tokenizer.

    Returns:
        ``template``, unchanged.

    Raises:
        ValueError: not one of ``TEMPLATES`` (``template must be one of (...), got 'x'``), or ``"chat"``
            with a tokenizer that has no chat template.
    """
    if template not in TEMPLATES:
        raise ValueError(f"template must be one of {TEMPLATES}, got {template!r}")
    if template == "chat" and not getattr(tokenizer, "chat_template", None):
        raise ValueError("template='chat' but the tokenizer has no chat template; use template='plain' for a "
                         "base model (or 'appendix-d')")
    return template


_SLOT = "\u2063endorm-response-slot\u2063"  # no whitespace: no template trims or splits it


def apply_chat(tokenizer, messages, generation_prompt: bool) -> str:
    """Chat-template text; a template that refuses a system role gets it prepended to the first user turn.

    Args:
        tokenizer: a tokenizer with a chat template.
        messages: list of ``{"role": ..., "content": ...}`` dicts.
        generation_prompt: append the assistant header (``add_generation_prompt``).

    Returns:
        The text (str, not tokenized); the system text joins the first user turn after a blank line.

    Raises:
        Exception: what ``apply_chat_template`` raises (e.g. jinja's ``TemplateError``) when there is no
            leading system message to move, or again without it.
    """
    kw = dict(tokenize=False, add_generation_prompt=generation_prompt)
    try:
        return tokenizer.apply_chat_template(messages, **kw)
    except Exception:  # noqa: BLE001 -- jinja raises TemplateError subclasses for "no system role"
        if not messages or messages[0]["role"] != "system":
            raise
        sys_text, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
        rest[0]["content"] = f"{sys_text}\n\n{rest[0]['content']}"
        return tokenizer.apply_chat_template(rest, **kw)


def _fill_slot(layout: str, response: str):
    """Put the response verbatim where the placeholder was: (text, (char_start, char_end))."""
    if layout.count(_SLOT) != 1:
        raise ValueError("the chat template duplicated or dropped the response, so its tokens cannot be "
                         "located; use template='plain'")
    i = layout.index(_SLOT)
    return layout[:i] + response + layout[i + len(_SLOT):], (i, i + len(response))


def render(tokenizer, prompt: str, response: str, system, template: str):
    """Lay out one item as text (module docstring: the three templates).

    Chat layouts are rendered with a placeholder in the response's place, which is then
    replaced by the response verbatim: the response is never searched for in the text, and
    a template that trims or rewrites message content cannot move or change it. A system
    prompt that is None or blank means no system message.

    Args:
        template: one of ``TEMPLATES`` (not checked here: any other name gives the "plain" layout).

    Returns:
        (text, (char_start, char_end) of the response in text, whether the text came from a chat
        template and so carries its own special tokens).

    Raises:
        ValueError: the chat template dropped or duplicated the response (``...; use template='plain'``).
    """
    sys_msg = [{"role": "system", "content": system}] if system and system.strip() else []
    chat = bool(getattr(tokenizer, "chat_template", None))
    if template == "chat":
        msgs = sys_msg + [{"role": "user", "content": prompt}, {"role": "assistant", "content": _SLOT}]
        return (*_fill_slot(apply_chat(tokenizer, msgs, False), response), True)
    if template == "appendix-d":
        head = f"### Query\n{prompt}\n### Response\n"
        if chat:
            layout = apply_chat(tokenizer, sys_msg + [{"role": "user", "content": head + _SLOT}], False)
            return (*_fill_slot(layout, response), True)
        prefix = (system + "\n\n" if sys_msg else "") + head
        return prefix + response, (len(prefix), len(prefix) + len(response)), False
    prefix = (system + "\n\n" if sys_msg else "") + prompt
    return prefix + response, (len(prefix), len(prefix) + len(response)), False


def encode(tokenizer, prompt: str, response: str, system=None, template: str = "chat") -> Encoded:
    """Tokenize the laid-out text once, with offsets; locate the response's tokens.

    Chat-templated text carries its own special tokens (no extra ones are added); plain
    text gets the tokenizer's usual ones (e.g. a BOS). A token that straddles the
    prompt/response boundary counts as a response token. If the response starts the text,
    the BOS (else EOS) id is prepended so the first response token has a context.

    Args:
        tokenizer: a fast tokenizer (character offsets are needed).
        prompt, response: the item's texts; ``response`` must not be empty.
        system: the system prompt / instruction; None or blank means none.
        template: one of ``TEMPLATES``.

    Returns:
        ``Encoded``: ids [length], the response's range [start, end) with start >= 1, its tokens' text [n].

    Raises:
        ValueError: empty response; a slow tokenizer (``... gives no character offsets; load a fast
            tokenizer``); no token of the response found; the response starts the text and there is no
            BOS/EOS; a chat template that drops or duplicates the response.
    """
    if not response:
        raise ValueError("empty response: there is nothing to score")
    text, (c0, c1), templated = render(tokenizer, prompt, response, system, template)
    try:
        enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=not templated)
    except NotImplementedError:
        raise ValueError(f"{type(tokenizer).__name__} gives no character offsets; load a fast tokenizer "
                         "(use_fast=True) so the response's tokens can be located") from None
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    inside = [i for i, (a, b) in enumerate(offsets) if b > a and a < c1 and b > c0]
    if not inside:
        raise ValueError(f"no token of the response {response[:40]!r} was found in the encoded text")
    start, end = inside[0], inside[-1] + 1
    token_text = tuple(text[a:b] for a, b in offsets[start:end])
    if start == 0:
        bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if bos is None:
            raise ValueError("the response starts the text and the tokenizer has no BOS/EOS token to condition "
                             "on; give a non-empty prompt")
        ids, start, end = [bos] + list(ids), 1, end + 1
    return Encoded(list(ids), start, end, token_text)
