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

import inspect
import warnings

import numpy as np
from scipy.special import logsumexp

from ..base import FromPretrained, PointwiseCompare, as_batch, context_length, ensure_pad_token, length_batches

from .prompts import ScoreTokens, fill, render_judge, score_token_ids, single_token_id, yes_no_ids  # noqa: F401
from .templates import (  # noqa: F401 (re-exported)
    JUDGE_SYSTEM, NO_SPELLINGS, PAIRWISE_TEMPLATE, PAIRWISE_TEMPLATE_NO_INSTRUCTION, POINTWISE_TEMPLATE,
    POINTWISE_TEMPLATE_NO_INSTRUCTION, VERIFIER_TEMPLATE, VERIFIER_TEMPLATE_NO_INSTRUCTION, YES_SPELLINGS)


# ---------------------------------------------------------------------- shared machinery
class _NextTokenJudge(FromPretrained):
    """Render, tokenize and read the next-token log-probabilities of a batch of judge prompts."""

    def __init__(self, model, tokenizer, batch_size=8, max_length=None, progress=None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.model, self.tokenizer, self.batch_size, self.progress = model, tokenizer, int(batch_size), progress
        ensure_pad_token(tokenizer)
        self.max_length = context_length(model, max_length)
        params = inspect.signature(model.forward).parameters
        self._keep, self._positions = "logits_to_keep" in params, "position_ids" in params

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

    def _log_probs(self, sequences, columns, desc="judging", item_of=None) -> np.ndarray:
        """log p(next token = c | sequence) for c in ``columns``: [len(sequences), len(columns)] float64.

        ``item_of(j)``: the caller's item number of sequence j, for error messages.
        """
        import torch
        from tqdm import tqdm

        device = next(self.model.parameters()).device
        cols = torch.tensor(list(columns), dtype=torch.long, device=device)
        batches = length_batches([len(s) for s in sequences], self.batch_size)
        show = self.progress if self.progress is not None else len(batches) > 4
        out = np.empty((len(sequences), len(columns)))
        for batch in tqdm(batches, desc=desc, unit="batch", disable=not show):
            L = max(len(sequences[i]) for i in batch)
            ids = torch.full((len(batch), L), int(self.tokenizer.pad_token_id), dtype=torch.long)
            mask = torch.zeros((len(batch), L), dtype=torch.long)
            for b, i in enumerate(batch):  # left padding: every row's last real token is at L - 1
                ids[b, L - len(sequences[i]):] = torch.tensor(sequences[i])
                mask[b, L - len(sequences[i]):] = 1
            kw = dict(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
            if self._positions:  # positions count real tokens only, as in an unpadded forward
                kw["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0).to(device)
            if self._keep:
                kw["logits_to_keep"] = 1
            with torch.inference_mode():
                logits = self.model(**kw).logits[:, -1].to(torch.float32)
                lp = torch.log_softmax(logits, dim=-1)[:, cols].double().cpu().numpy()
            bad = (np.isnan(lp) | np.isposinf(lp)).any(axis=1)
            if bad.any():
                j = batch[int(np.argmax(bad))]
                raise ValueError(f"item {item_of(j) if item_of else j}: the model produced non-finite logits")
            out[batch] = lp
        return out

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
    followed by a second forward on (prompt + "1"): with q_d = P(digit d next),
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
        lp = self._log_probs(ctx, cols)
        log_mass = np.stack([logsumexp(lp[:, [where[i] for i in ids]], axis=1) if ids else np.full(len(ctx), -np.inf)
                             for ids in st.singles], axis=1)
        if st.split:
            S = len(st.split)
            lq = self._log_probs([c + [one] for c in ctx for one in st.split], st.digits, desc="judging 10",
                                 item_of=lambda j, S=S: j // S)
            lq = lq.reshape(len(ctx), S, 10)
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
