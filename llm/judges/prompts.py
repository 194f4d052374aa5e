"""The judges' inputs and answers: the Appendix D prompt filled and rendered with the chat template, and
the token ids of the answers (YES/NO spellings, the ratings 1-10) in a tokenizer's vocabulary."""
from __future__ import annotations

from dataclasses import dataclass

from ..templates import apply_chat, as_messages, transcript
from .templates import JUDGE_SYSTEM, NO_SPELLINGS, YES_SPELLINGS


# ---------------------------------------------------------------------- rendering
def fill(template: str, no_instruction: str, instruction, **fields) -> str:
    """The judge's user turn (Appendix D): ``template`` with the instruction, or ``no_instruction`` without one.

    A conversation as ``query`` (chat messages ending with a user turn, ``templates.as_messages``)
    fills ``{query}`` with its transcript (``templates.transcript``: ``"User: ...\n\nAssistant: ...\n\nUser:
    ..."``; one user turn is its bare text), and its own system message is the instruction when
    ``instruction`` is None or blank. The responses fill their slots as they are.

    Args:
        template, no_instruction: an Appendix D template and its no-instruction variant (``str.format``).
        instruction: the per-item instruction (the ``system`` argument); None or blank picks ``no_instruction``.
        **fields: the other placeholders (``query`` and ``response``, or ``response1``/``response2``).

    Returns:
        The user turn, a str.

    Raises:
        TypeError: ``instruction`` is neither a str nor None; a malformed conversation.
        ValueError: a malformed conversation (``prompt message 2: ...``).
        KeyError: a placeholder of the template is missing from ``fields``.
    """
    if instruction is not None and not isinstance(instruction, str):
        raise TypeError(f"system (the instruction) must be a str or None, got {type(instruction).__name__}")
    if not isinstance(fields.get("query", ""), str):
        msgs = as_messages(fields["query"], instruction)
        if msgs[0]["role"] == "system":
            instruction, msgs = msgs[0]["content"], msgs[1:]
        fields = {**fields, "query": transcript(msgs)}
    if instruction is None or not instruction.strip():
        return no_instruction.format(**fields)
    return template.format(instruction=instruction, **fields)


def render_judge(tokenizer, user: str, system: str = JUDGE_SYSTEM) -> str:
    """The text the judge reads; it ends where the judge's answer starts (see module doc).

    With a chat template: system + user turns and the generation prompt (``apply_chat``); without:
    ``"System: {system}\\n\\nUser: {user}\\n\\nAssistant:"``.

    Returns:
        The text, a str (not tokenized).
    """
    if not getattr(tokenizer, "chat_template", None):
        return f"System: {system}\n\nUser: {user}\n\nAssistant:"
    return apply_chat(tokenizer, [{"role": "system", "content": system}, {"role": "user", "content": user}], True)


# ---------------------------------------------------------------------- answer tokens
def single_token_id(tokenizer, text: str):
    """The id of ``text`` if it encodes to exactly one token (no special tokens, not unk), else None.

    Returns:
        int or None.
    """
    ids = tokenizer.encode(text, add_special_tokens=False)
    return ids[0] if len(ids) == 1 and ids[0] != tokenizer.unk_token_id else None


def yes_no_ids(tokenizer):
    """The answer tokens of the YES/NO judges: the distinct single-token ids of ``YES_SPELLINGS``/``NO_SPELLINGS``.

    If no YES spelling or no NO spelling is a single token, both sides fall back to the
    first token of "YES" and of "NO" (``fallback`` = True).

    Returns:
        (yes ids, no ids, fallback): two sorted lists of int and a bool.

    Raises:
        ValueError: the YES and NO ids overlap (``the YES and NO answers share token ids [...]; ...``).
    """
    yes = sorted({i for s in YES_SPELLINGS if (i := single_token_id(tokenizer, s)) is not None})
    no = sorted({i for s in NO_SPELLINGS if (i := single_token_id(tokenizer, s)) is not None})
    fallback = not yes or not no
    if fallback:
        yes = [tokenizer.encode("YES", add_special_tokens=False)[0]]
        no = [tokenizer.encode("NO", add_special_tokens=False)[0]]
    if set(yes) & set(no):
        raise ValueError(f"the YES and NO answers share token ids {sorted(set(yes) & set(no))}; "
                         "this tokenizer cannot tell them apart")
    return yes, no, fallback


@dataclass(frozen=True)
class ScoreTokens:
    """Token ids of the answers "1".."10" (and " 1".." 10" where those are single tokens).

    Fields:
        singles: [10] tuple of tuples of ids; ``singles[k-1]``: ids whose probability is score k.
        split: ids of a "1" whose "10" is two tokens; its mass is split by a second forward.
        digits: [10] ids of "0".."9" (the continuations looked at after a split "1"; ``digits[0]``
            is "0"); empty when nothing is split.
    """

    singles: tuple
    split: tuple
    digits: tuple


def score_token_ids(tokenizer) -> ScoreTokens:
    """Find the answer tokens of GenRM-Pointwise: spellings "k" and " k"; one is used only if all of 1..9 are single.

    A used spelling's "10" is one token (into ``singles[9]``) or split: its "1" goes to ``split``.

    Returns:
        ``ScoreTokens``.

    Raises:
        ValueError: no spelling of 1..9 is one token each; or a "10" is split and "0".."9" are not all
            single tokens.
    """
    singles, split = [set() for _ in range(10)], set()
    for pre in ("", " "):
        ids = [single_token_id(tokenizer, f"{pre}{k}") for k in range(1, 10)]
        if None in ids:
            continue
        for k, i in enumerate(ids):
            singles[k].add(i)
        ten = single_token_id(tokenizer, f"{pre}10")
        if ten is None:
            split.add(ids[0])
        else:
            singles[9].add(ten)
    if not singles[1]:
        raise ValueError('no spelling of the scores ("1".."9" or " 1".." 9") is one token each in this tokenizer')
    singles[0] -= split
    digits = tuple(single_token_id(tokenizer, str(d)) for d in range(10))
    if split and None in digits:
        raise ValueError('"10" is not one token and the digits "0".."9" are not single tokens either')
    return ScoreTokens(tuple(tuple(sorted(s)) for s in singles), tuple(sorted(split)), digits if split else ())
