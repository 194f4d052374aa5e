"""Lay out (system, prompt, response) as model text and find the response's tokens.

Prompts: a str (one user turn) or a conversation, a sequence of chat messages
``{"role": "system" | "user" | "assistant", "content": str}`` that ends with a user turn
(``as_messages``); the response is the next assistant turn, the only one scored.

Templates:

* ``"chat"``: system = instruction, the conversation, then the response as the assistant's
  turn, through the tokenizer's chat template (the default when it has one). The context is
  exactly what ``apply_chat_template(messages, add_generation_prompt=True)`` gives, the text
  the model sees when it writes the response (a template that ignores ``add_generation_prompt``
  gives the text its assistant turn has before the content instead, when that text begins with
  the conversation's rendering); the response follows verbatim, then what the
  template appends after an assistant turn's content (its end-of-turn marker). So a template
  that adds, strips or rewrites text around the assistant's content (Qwen3's empty
  ``<think>`` block, Llama-3's ``trim``, Mistral's system message on the last user turn) cannot
  change the context or the response.
* ``"appendix-d"``: the paper's Appendix D layout, query and response inside the user turn:
  ``"### Query\n{query}\n### Response\n{response}"`` (system = instruction).
* ``"plain"``: ``system + "\n\n" + prompt + response``, for base models.

Outside a chat template a conversation is written as a transcript (``transcript``):
``"User: ...\n\nAssistant: ...\n\nUser: ..."``; a single user turn is its bare text, so a str
prompt and ``[{"role": "user", "content": prompt}]`` give the same text everywhere. The
plain layout of a conversation ends with ``"\n\nAssistant: "`` before the response.

The end token (``end_token=True``, the default of every command): the response ends with its
end-of-turn token, the first special token (the EOS or an added special token such as
``<|im_end|>``, ``<|eot_id|>``, ``<end_of_turn>``) that the layout puts after the response, and
that token is scored: it is the action that ends the response (Eq. 12's terminal step; what
``endorm rl`` scores as the completion's EOS). Tokens between the content and that marker are
scored too; tokens after it (Qwen's trailing ``"\n"``) never are. Where the layout puts no
special token after the response (``"plain"``, or a chat template without one) the tokenizer's
EOS is appended, as generation would end. ``end_token=False`` stops before it.

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


def apply_chat(tokenizer, messages, generation_prompt: bool, chat_template_kwargs=None) -> str:
    """Chat-template text; a template that refuses a system role gets it prepended to the first user turn.

    Args:
        tokenizer: a tokenizer with a chat template.
        messages: list of ``{"role": ..., "content": ...}`` dicts.
        generation_prompt: append the assistant header (``add_generation_prompt``).
        chat_template_kwargs: extra variables of the template (e.g. Qwen3's ``{"enable_thinking": False}``).

    Returns:
        The text (str, not tokenized); the system text joins the first user turn after a blank line.

    Raises:
        ValueError: the template refuses the conversation (jinja's ``TemplateError``, e.g. Gemma's
            ``Conversation roles must alternate user/assistant/user/assistant/...``), when there is no
            leading system message to move, or again without it: ``the chat template refuses this
            conversation: ...``.
    """
    kw = dict(chat_template_kwargs or {}, tokenize=False, add_generation_prompt=generation_prompt)
    try:
        return tokenizer.apply_chat_template(messages, **kw)
    except Exception as e:  # noqa: BLE001 -- jinja raises TemplateError subclasses for "no system role"
        if not messages or messages[0]["role"] != "system":
            raise ValueError(f"the chat template refuses this conversation: {e}") from None
        sys_text, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
        rest[0]["content"] = f"{sys_text}\n\n{rest[0]['content']}"
        try:
            return tokenizer.apply_chat_template(rest, **kw)
        except Exception as e2:  # noqa: BLE001
            raise ValueError(f"the chat template refuses this conversation: {e2}") from None


ROLES = ("system", "user", "assistant")


def as_messages(prompt, system=None) -> list:
    """The conversation of a prompt as chat messages, the system message (if any) first.

    Args:
        prompt: a str (one user turn) or a sequence of ``{"role", "content"}`` mappings, roles
            among ``ROLES``, a system message only first, ending with a user turn.
        system: a system prompt; it replaces the conversation's own system message. None or
            blank: the conversation's own (or none).

    Returns:
        a new list of ``{"role": str, "content": str}`` dicts.

    Raises:
        TypeError: ``prompt`` is neither a str nor a sequence of mappings (``prompt must be a str or a list
            of chat messages, got int``), a message without str role/content.
        ValueError: an empty conversation, an unknown role, a system message after the first, a conversation
            that does not end with a user turn (each message named by its index).
    """
    if isinstance(prompt, str):
        msgs = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, (list, tuple)):
        msgs = [_message(i, m) for i, m in enumerate(prompt)]
    else:
        raise TypeError(f"prompt must be a str or a list of chat messages, got {type(prompt).__name__}")
    if not msgs:
        raise ValueError("prompt: an empty conversation; give at least one user message")
    for i, m in enumerate(msgs):
        if m["role"] == "system" and i > 0:
            raise ValueError(f"prompt message {i}: a system message must come first")
    if msgs[-1]["role"] != "user":
        raise ValueError(f"prompt message {len(msgs) - 1}: the conversation must end with a user turn (the "
                         f"response is the next assistant turn), got role {msgs[-1]['role']!r}")
    if system is not None and not isinstance(system, str):
        raise TypeError(f"system must be a str or None, got {type(system).__name__}")
    own = msgs[1:] if msgs[0]["role"] == "system" else msgs
    if system and system.strip():
        return [{"role": "system", "content": system}] + own
    return msgs if len(own) < len(msgs) and msgs[0]["content"].strip() else own


def _message(i: int, m) -> dict:
    if not hasattr(m, "get"):
        raise TypeError(f"prompt message {i} must be a mapping with 'role' and 'content', got {type(m).__name__}")
    role, content = m.get("role"), m.get("content")
    if role not in ROLES:
        raise ValueError(f"prompt message {i}: role must be one of {ROLES}, got {role!r}")
    if not isinstance(content, str):
        raise TypeError(f"prompt message {i}: content must be a str, got {type(content).__name__}")
    return {"role": role, "content": content}


def transcript(messages) -> str:
    """A conversation as plain text: ``"User: ...\n\nAssistant: ...\n\nUser: ..."``; one user turn is its bare text.

    Args:
        messages: chat messages without a system message (``as_messages``'s, system dropped).

    Returns:
        the text, a str.
    """
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def _fill_slot(layout: str, response: str):
    """Put the response verbatim where the placeholder was: (text, (char_start, char_end))."""
    if layout.count(_SLOT) != 1:
        raise ValueError("the chat template duplicated or dropped the response, so its tokens cannot be "
                         "located; use the plain layout (template='plain', --template plain)")
    i = layout.index(_SLOT)
    return layout[:i] + response + layout[i + len(_SLOT):], (i, i + len(response))


def render(tokenizer, prompt, response: str, system, template: str, chat_template_kwargs=None):
    """Lay out one item as text (module docstring: the prompts, the three templates).

    Chat layouts are rendered with a placeholder in the response's place: the text after it is
    what the template appends after the content (the end-of-turn marker). For ``"chat"`` the
    context is the generation prompt's text; the response is never searched for in the text.

    Args:
        prompt: a str or a conversation (``as_messages``).
        template: one of ``TEMPLATES`` (not checked here: any other name gives the "plain" layout).
        chat_template_kwargs: extra variables of the chat template (``apply_chat``).

    Returns:
        (text, (char_start, char_end) of the response in text, whether the text came from a chat
        template and so carries its own special tokens).

    Raises:
        ValueError, TypeError: a bad conversation (``as_messages``); the chat template dropped or duplicated
            the response (``...; use template='plain'``).
    """
    msgs = as_messages(prompt, system)
    sys_msg, turns = (msgs[:1], msgs[1:]) if msgs[0]["role"] == "system" else ([], msgs)
    chat = bool(getattr(tokenizer, "chat_template", None))
    if template == "chat":
        kw = chat_template_kwargs
        layout = apply_chat(tokenizer, msgs + [{"role": "assistant", "content": _SLOT}], False, kw)
        _fill_slot(layout, "")  # checks that the placeholder appears exactly once
        context, suffix = _chat_context(tokenizer, msgs, layout[:layout.index(_SLOT)], kw), \
            layout[layout.index(_SLOT) + len(_SLOT):]
        return context + response + suffix, (len(context), len(context) + len(response)), True
    sys_text = sys_msg[0]["content"] + "\n\n" if sys_msg else ""
    if template == "appendix-d":
        head = f"### Query\n{transcript(turns)}\n### Response\n"
        if chat:
            layout = apply_chat(tokenizer, sys_msg + [{"role": "user", "content": head + _SLOT}], False,
                                chat_template_kwargs)
            return (*_fill_slot(layout, response), True)
        prefix = sys_text + head
        return prefix + response, (len(prefix), len(prefix) + len(response)), False
    prefix = sys_text + transcript(turns) + ("" if len(turns) == 1 else "\n\nAssistant: ")
    return prefix + response, (len(prefix), len(prefix) + len(response)), False


def _chat_context(tokenizer, msgs, before_slot: str, kw) -> str:
    """The text before the response: the generation prompt's, unless the template ignores
    ``add_generation_prompt`` (then the conversation as rendered before the placeholder)."""
    gen, plain = apply_chat(tokenizer, msgs, True, kw), apply_chat(tokenizer, msgs, False, kw)
    if gen == plain and before_slot.startswith(plain):
        return before_slot
    return gen


def end_token_ids(tokenizer) -> set:
    """The ids that end a response: the EOS and every added token marked special (``<|im_end|>``, ``<|eot_id|>``).

    Returns:
        a set of int (empty if the tokenizer has neither).
    """
    ids = {i for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items() if getattr(t, "special", False)}
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def encode(tokenizer, prompt, response: str, system=None, template: str = "chat", end_token: bool = True,
           chat_template_kwargs=None) -> Encoded:
    """Tokenize the laid-out text once, with offsets; locate the response's tokens and its end token.

    Chat-templated text carries its own special tokens (no extra ones are added); plain
    text gets the tokenizer's usual ones (e.g. a BOS). A token that straddles the
    prompt/response boundary counts as a response token. If the response starts the text,
    the BOS (else EOS) id is prepended so the first response token has a context.

    Args:
        tokenizer: a fast tokenizer (character offsets are needed).
        prompt: a str (the user turn) or a conversation ending with a user turn (``as_messages``).
        response: the response's text; an empty one is its end token alone (an error with ``end_token=False``).
        system: the system prompt / instruction; None or blank means none (or the conversation's own).
        template: one of ``TEMPLATES``.
        end_token: the response's range ends with its end-of-turn token (module docstring); False:
            the content's tokens only.
        chat_template_kwargs: extra variables of the chat template (``apply_chat``).

    Returns:
        ``Encoded``: ids [length], the response's range [start, end) with start >= 1, its tokens' text [n].

    Raises:
        ValueError: empty response with ``end_token=False``; no end token to score (no special token after the
            response and no EOS); a chat template that refuses the conversation; a slow tokenizer (``... gives no character offsets; load a fast
            tokenizer``); no token of the response found; the response starts the text and there is no
            BOS/EOS; a chat template that drops or duplicates the response; a bad conversation.
        TypeError: a prompt that is neither a str nor a list of messages.
    """
    if not response and not end_token:
        raise ValueError("empty response: there is nothing to score (with the end token off)")
    text, (c0, c1), templated = render(tokenizer, prompt, response, system, template, chat_template_kwargs)
    try:
        enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=not templated)
    except NotImplementedError:
        raise ValueError(f"{type(tokenizer).__name__} gives no character offsets; load a fast tokenizer "
                         "(use_fast=True) so the response's tokens can be located") from None
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    inside = [i for i, (a, b) in enumerate(offsets) if b > a and a < c1 and b > c0]
    if response and not inside:
        raise ValueError(f"no token of the response {response[:40]!r} was found in the encoded text")
    if inside:
        start, end = inside[0], inside[-1] + 1
    else:  # an empty response: only its end token is scored (the turn ends at once)
        start = end = next((i for i, (a, b) in enumerate(offsets) if b > a and a >= c0), len(ids))
    token_text = [text[a:b] for a, b in offsets[start:end]]
    if end_token:
        ids, end, token_text = _with_end_token(tokenizer, ids, offsets, text, end, token_text)
    if start == 0:
        bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if bos is None:
            raise ValueError("the response starts the text and the tokenizer has no BOS/EOS token to condition "
                             "on; give a non-empty prompt")
        ids, start, end = [bos] + ids, 1, end + 1
    return Encoded(ids, start, end, tuple(token_text))


def _with_end_token(tokenizer, ids, offsets, text, end, token_text):
    """(ids, end, token texts) with the end-of-turn token inside the range: the first end id after the
    response (tokens before it included), else the EOS appended; a ValueError if there is neither."""
    enders = end_token_ids(tokenizer)
    j = next((k for k in range(end, len(ids)) if ids[k] in enders), None)
    if j is not None:
        extra = [text[a:b] if b > a else tokenizer.convert_ids_to_tokens(ids[k])
                 for k, (a, b) in zip(range(end, j + 1), offsets[end:j + 1])]
        return ids, j + 1, token_text + extra
    if tokenizer.eos_token_id is None:
        raise ValueError("nothing ends the response: the layout puts no special token after it and the tokenizer "
                         "has no EOS token; score without it (end_token=False, --no-end-token)")
    return ids[:end] + [int(tokenizer.eos_token_id)], end + 1, token_text + [tokenizer.eos_token]
