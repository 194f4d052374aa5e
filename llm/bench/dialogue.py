"""Human/Assistant dialogues as chat messages, and DSP's "text-score" comparison files built from them.

Two marker styles (both in Linear95/DSP's test files):

* Anthropic HH (``helpful.test.json``, ``harmless.test.json``): ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``;
  a marker is ``Human:`` or ``Assistant:`` at the very start of the text or right after a blank line
  (``"\\n\\n"``). ``Human:`` elsewhere (mid-line, after one newline, after ``"\\n\\n "``) is text.
* Markdown (``webgpt.test.json``): ``"## Human:\\n...\\n\\n\\n\\n## Assistant:\\n ..."``; a marker is
  ``## Human:`` or ``## Assistant:`` at the start of the text or of a line.

A text is read in the Markdown style if it holds a Markdown marker, else in the HH style.
"""
from __future__ import annotations

import re

from .files import RecordError, type_name
from .records import PairRecord

HH_MARKER = re.compile(r"(?:\A|\n\n)(Human|Assistant):")
MARKDOWN_MARKER = re.compile(r"(?:\A|\n)## (Human|Assistant):")
ROLE_OF = {"Human": "user", "Assistant": "assistant"}


def _turns(text: str) -> list:
    """``[(role, content_start, content_end)]`` of every marked turn; see ``parse_dialogue``."""
    if not isinstance(text, str):
        raise RecordError(f"a dialogue must be a str, got {type_name(text)}")
    marker = MARKDOWN_MARKER if MARKDOWN_MARKER.search(text) else HH_MARKER
    found = list(marker.finditer(text))
    if not found:
        raise RecordError("no 'Human:'/'Assistant:' turn markers (expected '\\n\\nHuman: ...' or '## Human:')")
    if text[:found[0].start()].strip():
        raise RecordError(f"text before the first turn marker: {text[:found[0].start()].strip()[:40]!r}")
    ends = [m.start() for m in found[1:]] + [len(text)]
    return [(ROLE_OF[m.group(1)], m.end(), end) for m, end in zip(found, ends)]


def parse_dialogue(text: str) -> list:
    """A Human/Assistant dialogue as chat messages, in order.

    Markers: the module docstring (Anthropic HH ``"\\n\\nHuman:"``/``"\\n\\nAssistant:"``, or Markdown
    ``"## Human:"``/``"## Assistant:"`` at a line start). Human -> role "user", Assistant -> role
    "assistant". A turn's content is the text between its marker and the next marker with leading and
    trailing whitespace removed (``str.strip()``: spaces, tabs, newlines, other Unicode whitespace);
    nothing inside it is changed, and an empty turn gives content "". Consecutive turns of one role
    stay separate messages (HH has such turns).

    Args:
        text: the dialogue; only whitespace may precede its first marker.

    Returns:
        ``[{"role": "user" | "assistant", "content": str}, ...]`` (at least one message).

    Raises:
        ValueError: (``RecordError``) ``no 'Human:'/'Assistant:' turn markers (...)``; ``text before
            the first turn marker: '...'``; ``a dialogue must be a str, got list``.
    """
    return [{"role": role, "content": text[a:b].strip()} for role, a, b in _turns(text)]


def split_dialogue(text: str) -> tuple:
    """A dialogue as (the conversation up to its last user turn, the final response).

    The final response is everything after the marker of the turn that follows the last Human turn,
    stripped as in ``parse_dialogue``: if a response itself holds an Assistant marker (14 rows of
    DSP's HH test files, e.g. ``"Umm. Just a second...\\n\\nAssistant: A solar panel ..."``), the marker
    stays in the response text, as the rater saw it, instead of splitting it into two turns.

    Args:
        text: a dialogue (``parse_dialogue``) with a Human turn followed by an Assistant turn.

    Returns:
        ``(prompt, response)``: prompt a tuple of ``{"role", "content"}`` dicts ending with the last
        user turn; response a str.

    Raises:
        ValueError: (``RecordError``) ``parse_dialogue``'s errors; ``no Human turn``; ``no assistant
            turn after the last Human turn``.
    """
    turns = _turns(text)
    users = [i for i, t in enumerate(turns) if t[0] == "user"]
    if not users:
        raise RecordError("no Human turn")
    last = users[-1]
    if last == len(turns) - 1:
        raise RecordError("no assistant turn after the last Human turn")
    prompt = tuple({"role": role, "content": text[a:b].strip()} for role, a, b in turns[:last + 1])
    return prompt, text[turns[last + 1][1]:].strip()


def _pair(d: dict) -> tuple:
    """``(texts, scores)`` of a text-score row, checked."""
    if "text" not in d or "score" not in d:
        raise RecordError(f"missing key {'text' if 'text' not in d else 'score'!r}")
    texts, scores = d["text"], d["score"]
    if not isinstance(texts, list) or len(texts) != 2:
        raise RecordError(f"'text' must be a list of 2 dialogues, got {_shape(texts)}")
    if not isinstance(scores, list) or len(scores) != 2:
        raise RecordError(f"'score' must be a list of 2 numbers, got {_shape(scores)}")
    for i, s in enumerate(scores):
        if isinstance(s, bool) or not isinstance(s, (int, float)) or s != s:
            raise RecordError(f"'score'[{i}] must be a number, got {'NaN' if s != s else type_name(s)}")
    return texts, scores


def _shape(v) -> str:
    return f"a list of {len(v)}" if isinstance(v, list) else type_name(v)


def text_score_record(d: dict, key: str, where: str, subset: str) -> list:
    """One DSP comparison row ``{text: [dialogue_a, dialogue_b], score: [s_a, s_b]}`` as a ``PairRecord``.

    The two dialogues must share every turn up to and including the last Human turn
    (``split_dialogue``); they differ in the final response. The higher score is chosen. Equal scores
    (a tie: no preference) give no record, as reward-model accuracies leave ties out
    (``load_records`` counts them in ``LoadResult.ties``).

    Args:
        d: the row; ``score`` values int or float (not bool, not NaN).
        key: the row's key (its 0-based index in a .json file): the record's id.
        where: the row's location.
        subset: the record's subset (``load_records``: the file's stem, e.g. "helpful").

    Returns:
        ``[PairRecord(key, subset, prompt messages, (chosen response,), (rejected response,), None,
        where)]`` with ``extra = {"scores": (chosen score, rejected score), "chosen_index": 0 | 1}``;
        ``[]`` for a tie.

    Raises:
        ValueError: (``RecordError``) e.g. ``'text' must be a list of 2 dialogues, got a list of 3``,
            ``'score'[1] must be a number, got str``, ``'text'[1]: no Human turn``, ``'text'[0] and
            'text'[1] differ before their final responses (at message 3 of 5 and 5)``.
    """
    texts, scores = _pair(d)
    split = []
    for i, t in enumerate(texts):
        try:
            split.append(split_dialogue(t))
        except RecordError as e:
            raise RecordError(f"'text'[{i}]: {e}") from None
    (pa, ra), (pb, rb) = split
    if pa != pb:
        at = next((i for i, (x, y) in enumerate(zip(pa, pb)) if x != y), min(len(pa), len(pb)))
        raise RecordError(f"'text'[0] and 'text'[1] differ before their final responses (at message {at + 1} "
                          f"of {len(pa)} and {len(pb)})")
    if scores[0] == scores[1]:
        return []
    c = 0 if scores[0] > scores[1] else 1
    chosen, rejected = (ra, rb) if c == 0 else (rb, ra)
    return [PairRecord(key, subset, pa, (chosen,), (rejected,), None, where,
                       {"scores": (scores[c], scores[1 - c]), "chosen_index": c})]
