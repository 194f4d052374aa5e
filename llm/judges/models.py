"""LLM-as-a-judge baselines of the paper (Appendix D): Generative Verifier, GenRM-Pointwise/Pairwise.

Each judge reads ONE next-token distribution per rendered prompt (a forward with
``logits_to_keep=1`` on a left-padded batch, log-softmax in float32):

* ``GenerativeVerifier.score`` = P(YES) / (P(YES) + P(NO)), each side summed over its spellings.
* ``GenRMPointwise.score``     = E[k] under P(k) / sum_j P(j), k = 1..10 (in [1, 10]).
* ``GenRMPairwise.compare``    = P(YES) to "Is 'Response 2' better than 'Response 1'?",
  averaged with the swapped order by default (cancels position bias).

Templates. The user turns below are the paper's text verbatim (its curly quotes, its line
breaks; the typeset figure's blank lines, if any, are not in the text and not guessed).
The judge's system message is always ``JUDGE_SYSTEM``; the ``system`` argument of
``score``/``compare`` is the per-item *instruction* that fills ``{instruction}``. Without
one (None or blank, as in RM-Bench) Appendix D removes "the instructions in the User part";
the ``*_NO_INSTRUCTION`` templates drop exactly:

1. the block ``### Instruction\\n{instruction}\\n``;
2. the clause naming the instruction in the first sentence (", based on the standards set by
   the 'Instruction'" / " and a 'Instruction'" / ", based on the 'Instruction'");
3. criterion 1, "**Adherence to Instruction:** ...", renumbering criteria 2-3 as 1-2.

Everything else (system prompt, scoring guide, rules) is unchanged. The user turn is laid
out with the tokenizer's chat template (system + user, ``add_generation_prompt=True``; a
template that refuses a system role gets ``JUDGE_SYSTEM + "\\n\\n"`` prepended to the user
turn instead); without a chat template, as plain text
``"System: {system}\\n\\nUser: {user}\\n\\nAssistant:"`` with the tokenizer's special tokens.

Conversations. A prompt may be a list of chat messages (``endorm.llm.templates.as_messages``);
its transcript fills ``{query}`` (``"User: ...\\n\\nAssistant: ...\\n\\nUser: ..."``, one user turn
being its bare text), its own system message is the instruction unless ``system`` is given, and
the response(s) to judge are the next assistant turn (``prompts.fill``). The end-token rule of
EndoRM (``endorm.llm.templates``) concerns the scored response's own turn; a judge reads the
response as text inside its own prompt, which ends with the generation prompt where its answer
token starts.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import warnings

import numpy as np
from scipy.special import logsumexp

from ..base import (FromPretrained, PointwiseCompare, as_batch, cache_keyword, context_length, ensure_pad_token,
                    length_batches)

from .prompts import ScoreTokens, fill, render_judge, score_token_ids, single_token_id, yes_no_ids  # noqa: F401
from .templates import (  # noqa: F401 (re-exported)
    JUDGE_SYSTEM, NO_SPELLINGS, PAIRWISE_TEMPLATE, PAIRWISE_TEMPLATE_NO_INSTRUCTION, POINTWISE_TEMPLATE,
    POINTWISE_TEMPLATE_NO_INSTRUCTION, VERIFIER_TEMPLATE, VERIFIER_TEMPLATE_NO_INSTRUCTION, YES_SPELLINGS)


# ---------------------------------------------------------------------- shared machinery
class _NextTokenJudge(FromPretrained):
    """Render, tokenize and read the next-token log-probabilities of a batch of judge prompts.

    ``memo``: None (default), or a dict that keeps every judge prompt's log-probabilities so that an
    identical prompt is never run twice (``endorm bench`` sets one for the run; clear it if the model changes).
    """

    def __init__(self, model, tokenizer, batch_size=8, max_length=None, progress=None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.model, self.tokenizer, self.batch_size, self.progress = model, tokenizer, int(batch_size), progress
        ensure_pad_token(tokenizer)
        self.max_length = context_length(model, max_length)
        params = inspect.signature(model.forward).parameters
        self._keep, self._positions = "logits_to_keep" in params, "position_ids" in params
        self.memo = None  # {digest of (token ids, columns): log-prob row}: judge prompts already run

    def _encode(self, texts, extra: int = 0) -> list:
        """Token ids of each prompt; ``extra`` tokens will be appended later (the "1" of a split "10")."""
        templated = bool(getattr(self.tokenizer, "chat_template", None))  # the template has its own specials
        out = []
        for i, t in enumerate(texts):
            ids = self.tokenizer(t, add_special_tokens=not templated)["input_ids"]
            if len(ids) + extra > self.max_length:
                raise ValueError(f"item {i}: the judge prompt has {len(ids)} tokens (+{extra} appended), longer "
                                 f"than the model's context of {self.max_length}; shorten the query or responses")
            out.append(list(ids))
        return out

    def _log_probs(self, sequences, columns, desc="judging", item_of=None, then=(), then_columns=()):
        """log p(next token = c | sequence) for c in ``columns``: [len(sequences), len(columns)] float64.

        With ``then`` (tokens t, e.g. the "1" of a split "10") the pair (that array, ``lq``) is returned,
        lq[j, k, d] = log p(next = then_columns[d] | sequence j + [then[k]]), read by one more step on
        the prompt's KV cache (no second full forward). Identical sequences run once per call, and once
        per run while ``memo`` is a dict (the bench runner sets one). ``item_of(j)``: the caller's item
        number of sequence j, for error messages.
        """
        columns, then, then_columns = list(columns), list(then), list(then_columns)
        tag = repr((columns, then, then_columns)).encode()
        keys = [hashlib.sha1(np.asarray(s, dtype=np.int64).tobytes() + tag).digest() for s in sequences]
        memo = self.memo if self.memo is not None else {}
        first = {}
        for j, k in enumerate(keys):
            if k not in memo:
                first.setdefault(k, j)
        todo = list(first.values())
        rows = self._run([sequences[j] for j in todo], columns, then, then_columns, desc,
                         lambda i: item_of(todo[i]) if item_of else todo[i])
        for j, row in zip(todo, rows):
            memo[keys[j]] = row
        out = np.stack([memo[k] for k in keys]) if keys else np.empty((0, len(columns) * (1 + len(then))))
        if not then:
            return out[:, :len(columns)]
        return out[:, :len(columns)], out[:, len(columns):].reshape(len(sequences), len(then), len(then_columns))

    def _run(self, sequences, columns, then, then_columns, desc, item_of) -> np.ndarray:
        """The forwards of ``_log_probs``: [len(sequences), len(columns) + len(then) * len(then_columns)]."""
        from tqdm import tqdm

        batches = length_batches([len(s) for s in sequences], self.batch_size)
        show = self.progress if self.progress is not None else len(batches) > 4
        out = np.empty((len(sequences), len(columns) + len(then) * len(then_columns)))
        for batch in tqdm(batches, desc=desc, unit="batch", disable=not show):
            lp = self._batch_rows([sequences[i] for i in batch], columns, then, then_columns)
            bad = (np.isnan(lp) | np.isposinf(lp)).any(axis=1)
            if bad.any():
                raise ValueError(f"item {item_of(batch[int(np.argmax(bad))])}: the model produced non-finite logits")
            out[batch] = lp
        return out

    def _batch_rows(self, seqs, columns, then, then_columns) -> np.ndarray:
        """One left-padded forward over ``seqs`` (+ one cached step per token of ``then``); float64 rows."""
        import torch

        device = next(self.model.parameters()).device
        L = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), L), int(self.tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros((len(seqs), L), dtype=torch.long)
        for b, s in enumerate(seqs):  # left padding: every row's last real token is at L - 1
            ids[b, L - len(s):] = torch.tensor(s)
            mask[b, L - len(s):] = 1
        mask = mask.to(device)
        kw = dict(input_ids=ids.to(device), attention_mask=mask, use_cache=bool(then))
        if self._positions:  # positions count real tokens only, as in an unpadded forward
            kw["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        if self._keep:
            kw["logits_to_keep"] = 1
        with torch.inference_mode():
            out = self.model(**kw)
            kv = out.get(cache_keyword(self.model)) if then else None
            parts = [torch.log_softmax(out.logits[:, -1].to(torch.float32), dim=-1)[:, columns]]
            for k, t in enumerate(then):  # the cache grows by the step: copy it for all but the last token
                cache = kv if k == len(then) - 1 else copy.deepcopy(kv)
                parts.append(self._step(cache, mask, t)[:, then_columns])
            return torch.cat(parts, dim=1).double().cpu().numpy()

    def _step(self, cache, mask, token: int):
        """log-softmax [B, V] (float32) of the next token after appending ``token`` to every row, from ``cache``."""
        import torch

        B = mask.shape[0]
        kw = dict(input_ids=torch.full((B, 1), int(token), dtype=torch.long, device=mask.device),
                  attention_mask=torch.cat([mask, torch.ones((B, 1), dtype=mask.dtype, device=mask.device)], dim=1),
                  use_cache=True, **{cache_keyword(self.model): cache})
        if self._positions:
            kw["position_ids"] = mask.sum(-1, keepdim=True)  # the next position after each row's last real token
        logits = self.model(**kw).logits[:, -1].to(torch.float32)
        return torch.log_softmax(logits, dim=-1)

    def _p_yes(self, texts, item_of=None) -> list:
        """P(YES) / (P(YES) + P(NO)) of the next token after each text."""
        yes, no = self.yes_ids, self.no_ids
        lp = self._log_probs(self._encode(texts), yes + no, item_of=item_of)
        log_yes, log_no = logsumexp(lp[:, :len(yes)], axis=1), logsumexp(lp[:, len(yes):], axis=1)
        return [float(v) for v in 1.0 / (1.0 + np.exp(log_no - log_yes))]

    def _init_yes_no(self):
        """Set ``yes_ids``, ``no_ids`` and ``yes_no_fallback`` (``yes_no_ids``); warn on the fallback."""
        self.yes_ids, self.no_ids, self.yes_no_fallback = yes_no_ids(self.tokenizer)
        if self.yes_no_fallback:
            warnings.warn('no single-token spelling of YES or of NO in this tokenizer; using the first tokens of '
                          f'"YES" and "NO" (ids {self.yes_ids} and {self.no_ids})')


# ---------------------------------------------------------------------- the three judges
class GenerativeVerifier(_NextTokenJudge, PointwiseCompare):
    """Generative Verifier (Appendix D): score = P(YES) / (P(YES) + P(NO)) in (0, 1).

    P(YES) sums the next-token probabilities of the distinct single-token ids among "YES",
    "Yes", "yes", " YES", " Yes", " yes" (P(NO) likewise). If none of the YES or none of the
    NO spellings is a single token, the first tokens of "YES" and "NO" are used instead
    (with a warning; ``yes_no_fallback`` is then True). ``compare`` is Bradley-Terry on the
    scores (``PointwiseCompare``).

    Args:
        model, tokenizer: a transformers causal LM and its tokenizer.
        batch_size: prompts per forward pass (sorted by length first).
        max_length: longest prompt in tokens (default: the model's context); longer raises.
        progress: show a progress bar (default: when there are more than 4 batches).

    Raises:
        ValueError: batch_size < 1; the YES and NO ids overlap; a tokenizer with neither pad nor eos token.
    """

    def __init__(self, model, tokenizer, batch_size=8, max_length=None, progress=None):
        super().__init__(model, tokenizer, batch_size, max_length, progress)
        self._init_yes_no()

    def render(self, prompt: str, response: str, system=None) -> str:
        """The judge's input text; ``system`` is the instruction (None: the no-instruction template).

        Returns:
            The text (``render_judge``), a str.

        Raises:
            TypeError: ``system`` is neither a str nor None.
        """
        user = fill(VERIFIER_TEMPLATE, VERIFIER_TEMPLATE_NO_INSTRUCTION, system, query=prompt, response=response)
        return render_judge(self.tokenizer, user)

    def score(self, prompts, responses, system=None) -> list:
        """P(YES) / (P(YES) + P(NO)) per (prompt, response); higher is better.

        Args:
            prompts, responses: a str (one item) or equal-length sequences of str.
            system: the instruction: None, one str for every item, or one str/None per item.

        Returns:
            list of float in [0, 1], one per item.

        Raises:
            TypeError: an item is not a str.
            ValueError: lengths differ; a judge prompt longer than ``max_length`` tokens; non-finite logits.
        """
        prompts, responses, system = as_batch(prompts, responses, system)
        if not prompts:
            return []
        return self._p_yes([self.render(p, r, s) for p, r, s in zip(prompts, responses, system)])


class GenRMPointwise(_NextTokenJudge, PointwiseCompare):
    """GenRM-Pointwise (Appendix D): score = expected rating sum_k k P(k) / sum_j P(j), k = 1..10.

    P(k) is the next-token probability of "k" plus that of " k" (the latter only where all
    of " 1".." 9" are single tokens). Where "10" is not one token, its first token "1" is
    followed by one more step on the prompt's KV cache (prompt + "1", no second full forward):
    with q_d = P(digit d next),
    P(10) = P("1") q_0 and P(1) = P("1") (1 - q_0 - ... - q_9); a "1" followed by another
    digit ("11".."19", not a valid score) is dropped, like any other non-score answer, by
    the normalization. Multi-digit continuation tokens ("00") are not looked at (they count
    as score 1). ``compare`` is Bradley-Terry on the expected scores. Args as for
    ``GenerativeVerifier``.

    Raises:
        ValueError: batch_size < 1; the tokenizer has no single-token ratings (``score_token_ids``).
    """

    def __init__(self, model, tokenizer, batch_size=8, max_length=None, progress=None):
        super().__init__(model, tokenizer, batch_size, max_length, progress)
        self.score_tokens = score_token_ids(tokenizer)

    def render(self, prompt: str, response: str, system=None) -> str:
        """As ``GenerativeVerifier.render``, with the pointwise template: the judge's input text (str)."""
        user = fill(POINTWISE_TEMPLATE, POINTWISE_TEMPLATE_NO_INSTRUCTION, system, query=prompt, response=response)
        return render_judge(self.tokenizer, user)

    def score(self, prompts, responses, system=None) -> list:
        """Expected rating sum_k k P(k), in [1, 10], per (prompt, response); higher is better.

        Args as for ``GenerativeVerifier.score``.

        Returns:
            list of float in [1, 10], one per item.

        Raises:
            TypeError, ValueError: as ``distribution``.
        """
        probs = self.distribution(prompts, responses, system)
        return [float(v) for v in probs @ np.arange(1, 11)]

    def distribution(self, prompts, responses, system=None) -> np.ndarray:
        """P(rating = k), k = 1..10, normalized over the ten ratings.

        Args as for ``GenerativeVerifier.score``.

        Returns:
            float64 [n, 10]; each row sums to 1 (column k-1 is rating k).

        Raises:
            TypeError: an item is not a str.
            ValueError: lengths differ; a judge prompt longer than ``max_length`` tokens; non-finite logits;
                ``item i: the model gives no probability to any rating token``.
        """
        prompts, responses, system = as_batch(prompts, responses, system)
        if not prompts:
            return np.zeros((0, 10))
        st = self.score_tokens
        ctx = self._encode([self.render(p, r, s) for p, r, s in zip(prompts, responses, system)],
                           extra=1 if st.split else 0)
        cols = sorted({i for ids in st.singles for i in ids} | set(st.split))
        where = {c: j for j, c in enumerate(cols)}
        if st.split:
            lp, lq = self._log_probs(ctx, cols, then=st.split, then_columns=st.digits)   # lq: [n, S, 10]
        else:
            lp = self._log_probs(ctx, cols)
        log_mass = np.stack([logsumexp(lp[:, [where[i] for i in ids]], axis=1) if ids else np.full(len(ctx), -np.inf)
                             for ids in st.singles], axis=1)
        if st.split:
            lp_one = lp[:, [where[one] for one in st.split]]                     # [n, S]
            with np.errstate(divide="ignore"):
                log_rest = np.log(np.clip(1.0 - np.exp(lq).sum(axis=2), 0.0, 1.0))  # log(1 - sum_d q_d)
            log_mass[:, 9] = np.logaddexp(log_mass[:, 9], logsumexp(lp_one + lq[:, :, 0], axis=1))
            log_mass[:, 0] = np.logaddexp(log_mass[:, 0], logsumexp(lp_one + log_rest, axis=1))
        total = logsumexp(log_mass, axis=1, keepdims=True)
        if not np.isfinite(total).all():
            bad = int(np.argmin(np.isfinite(total[:, 0])))
            raise ValueError(f"item {bad}: the model gives no probability to any rating token")
        return np.exp(log_mass - total)


class GenRMPairwise(_NextTokenJudge):
    """GenRM-Pairwise (Appendix D): compare = P(YES to "Is 'Response 2' better than 'Response 1'?").

    ``first`` is Response 1 and ``second`` Response 2. With ``both_orders`` (default) the
    judge also sees the swapped pair and compare = 0.5 (P(2 > 1 | a, b) + 1 - P(2 > 1 | b, a)),
    so swapping ``first`` and ``second`` gives 1 - compare. YES/NO as in ``GenerativeVerifier``.
    ``score`` raises NotImplementedError: a pairwise judge has no single-response score.

    Args:
        both_orders: also judge the swapped pair and average (default True); other args as for
            ``GenerativeVerifier``.

    Raises:
        ValueError: batch_size < 1; the YES and NO ids overlap; a tokenizer with neither pad nor eos token.
    """

    def __init__(self, model, tokenizer, both_orders=True, batch_size=8, max_length=None, progress=None):
        super().__init__(model, tokenizer, batch_size, max_length, progress)
        self.both_orders = bool(both_orders)
        self._init_yes_no()

    def render(self, prompt: str, response1: str, response2: str, system=None) -> str:
        """The judge's input text for Response 1 and Response 2; ``system`` is the instruction (None: none).

        Returns:
            The text (``render_judge``), a str.

        Raises:
            TypeError: ``system`` is neither a str nor None.
        """
        user = fill(PAIRWISE_TEMPLATE, PAIRWISE_TEMPLATE_NO_INSTRUCTION, system, query=prompt,
                    response1=response1, response2=response2)
        return render_judge(self.tokenizer, user)

    def score(self, prompts, responses, system=None) -> list:
        """Not available: a pairwise judge has no single-response score; use ``compare``.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError("GenRMPairwise judges pairs of responses and has no single-response score; "
                                  "use compare(prompts, first, second, system)")

    def compare(self, prompts, first, second, system=None) -> list:
        """P(second better than first) per prompt: P(YES) / (P(YES) + P(NO)), both orders averaged by default.

        Args:
            prompts, first, second: a str (one item) or equal-length sequences of str.
            system: the instruction: None, one str for every item, or one str/None per item.

        Returns:
            list of float in [0, 1], one per prompt. Raises as ``GenerativeVerifier.score``.
        """
        prompts, first, system = as_batch(prompts, first, system, "first")
        _, second, _ = as_batch(prompts, second, system, "second")
        if not prompts:
            return []
        items = list(zip(prompts, first, second, system))
        texts = [self.render(p, a, b, s) for p, a, b, s in items]
        if self.both_orders:
            texts += [self.render(p, b, a, s) for p, a, b, s in items]
        n = len(items)
        p = self._p_yes(texts, item_of=lambda j: j % n)
        if not self.both_orders:
            return p
        return [0.5 * (p[i] + (1.0 - p[n + i])) for i in range(n)]
