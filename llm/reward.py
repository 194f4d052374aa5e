"""The endogenous reward of a Hugging Face causal LM (Eq. 10-12, Appendix C).

For response tokens y_1..y_n after a context, with logits f_t (the model's output at
the position before y_t) and V(s_t) = alpha * logsumexp(f_t / alpha):

    log pi_t = (f_t[y_t] - V(s_t)) / alpha
    r_hat_t  = f_t[y_t] - V(s_{t+1}),   V(s_{n+1}) = 0 ("zero", Eq. 12) or the model's own
                                         value after the last token ("model")
    score    = sum_t max(gamma^(t-1), floor) * x_t,  x = r_hat ("reward") or log pi ("logprob")

The same quantities as ``endorm.tabular`` (``endogenous_reward``, ``outcome_reward``,
``discounted_score``); tests check them against it on a tiny model's whole prefix tree.

Memory: the LM head runs on the final hidden states in chunks of positions, in float32 (its weight
cast once) or, ``head_dtype="model"``, in the model's dtype; V is a logsumexp in place in the chunk,
summed in float32 (``soft_values``), so no [batch, length, vocab] tensor, nor a float32 copy of a
bfloat16 chunk, exists. ``final_logit_softcapping`` and ``logit_scale`` are applied as the model does.
Identical items once, shared prefixes once (``share_prompt``): see ``endorm.llm.prefix``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from endorm.formulas import appendix_c_score, check_alpha, check_weights, token_quantities

from .base import FromPretrained, PointwiseCompare, as_batch, context_length, ensure_pad_token
from .options import RewardOptions
from .prefix import SharedPromptMixin
from .templates import Encoded, check_template, default_template, encode

@dataclass
class TokenRewards:
    """Per-token quantities of one response (Eq. 10-12), as ``EndogenousReward.token_rewards`` gives them.

    Fields (n = the response's length in tokens; log pi in nats, f, V and r_hat in alpha*nats), named as in ``endorm.tabular``:
        token_ids: the response's token ids y_1..y_n, [n] list of int.
        tokens: each token's text, [n] list of str (cut from the text by character offsets when known).
        endogenous_reward: r_hat_t = f_t[y_t] - V(s_{t+1}) (Eq. 10), float64 [n]; alias ``rewards``.
        log_policy: log pi(y_t | s_t) = (f_t[y_t] - V(s_t)) / alpha (Eq. 9), float64 [n]; alias ``log_probs``.
        soft_value: V(s_t) = alpha * logsumexp(f_t / alpha), the value before each token, float64 [n];
            alias ``values``.
        next_value: V(s_{n+1}) used at the last step: 0.0 for terminal "zero" (Eq. 12), else the model's.
        score: the Appendix C sum of r_hat (kind "reward") or of log pi (kind "logprob").
    """

    token_ids: list
    tokens: list
    endogenous_reward: np.ndarray   # r_hat_t (tabular: endogenous_reward)
    log_policy: np.ndarray          # log pi(y_t | s_t) (tabular: log_policy)
    soft_value: np.ndarray          # V(s_t) (tabular: soft_value)
    next_value: float               # V(s_{n+1}) used at the last step (0.0 for terminal "zero")
    score: float

    @property
    def rewards(self) -> np.ndarray:
        """Alias of ``endogenous_reward`` (r_hat_t, [n])."""
        return self.endogenous_reward

    @property
    def log_probs(self) -> np.ndarray:
        """Alias of ``log_policy`` (log pi(y_t | s_t), [n])."""
        return self.log_policy

    @property
    def values(self) -> np.ndarray:
        """Alias of ``soft_value`` (V(s_t), [n])."""
        return self.soft_value


class EndogenousReward(SharedPromptMixin, FromPretrained, PointwiseCompare):
    """Score responses with the reward inside a causal LM (``score``, ``token_rewards``, ``compare``).

    Args:
        model, tokenizer: a transformers causal LM and its (fast) tokenizer.
        alpha: softmax temperature / entropy coefficient (1.0 = raw logits).
        gamma, floor: Appendix C weights w_t = max(gamma^(t-1), floor); gamma in (0, 1].
        kind: "reward" (sum of r_hat, default) or "logprob" (sum of log pi).
        terminal: "zero" (V after the last token is 0, Eq. 12) or "model".
        template: "chat", "appendix-d" or "plain"; default "chat" if the tokenizer has a
            chat template, else "plain".
        batch_size: items per forward pass (items are sorted by length first).
        truncate: if True, drop context tokens from the left when the text is longer than
            the model's context; if False (default), raise.
        max_length: the context in tokens (default: the config's ``max_position_embeddings``
            or ``n_positions``).
        chunk_mb: size of the float32 logits buffer (one chunk of positions) in MiB.
        head_dtype: "float32" (default): the LM head runs in float32 on the model's hidden
            states; "model": it runs in the model's dtype (the same logits the model itself
            produces, faster for bfloat16 on hardware with native bfloat16, and no float32
            copy of the head's weight), then the logsumexp in that dtype, summed in float32
            (``soft_values``: |dV| <= ~alpha * 2^-8 * (1 + 2 E_pi|f - max f| / alpha) in bfloat16).
        progress: show a progress bar (default: when there are more than 4 batches).
        share_prompt: run a prompt shared by several items once and reuse its KV cache
            (default True; see the module docstring); False scores every item's full text.
        end_token: score the response's end-of-turn token (default True: the first special token the
            layout puts after the response, else the EOS appended; ``endorm.llm.templates``); False: only
            the content's tokens.
        chat_template_kwargs: extra variables of the chat template, e.g. Qwen3's ``{"enable_thinking": False}``.

    Raises:
        TypeError: alpha, gamma or floor is not a number.
        ValueError: an option out of range or not among its choices (``kind must be one of ('reward',
            'logprob'), got 'x'``; likewise terminal, batch_size, head_dtype, template, alpha, gamma,
            floor); ``template="chat"`` without a chat template; a tokenizer with neither pad nor eos token.
    """

    def __init__(self, model, tokenizer, alpha=1.0, gamma=1.0, floor=0.0, kind="reward", terminal="zero",
                 template=None, batch_size=8, truncate=False, max_length=None, chunk_mb=64, progress=None,
                 head_dtype="float32", share_prompt=True, end_token=True, chat_template_kwargs=None):
        RewardOptions(alpha=alpha, gamma=gamma, floor=floor, kind=kind, terminal=terminal).check()  # one rule set
        self.alpha = check_alpha(alpha, "alpha")
        self.gamma, self.floor = check_weights(gamma, floor)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.kind, self.terminal, self.batch_size = kind, terminal, int(batch_size)
        self.model, self.tokenizer = model, tokenizer
        ensure_pad_token(tokenizer)
        self.template = check_template(tokenizer, template or default_template(tokenizer))
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                       or max_length < 1):
            raise ValueError(f"max_length must be None or an integer >= 1, got {max_length!r}")
        self.max_length = context_length(model, max_length)
        if head_dtype not in ("float32", "model"):
            raise ValueError(f"head_dtype must be 'float32' or 'model', got {head_dtype!r}")
        self.truncate, self.chunk_mb, self.progress = bool(truncate), float(chunk_mb), progress
        self.head_dtype = head_dtype
        self._head, self._head_checked = None, False
        self.share_prompt, self.end_token = bool(share_prompt), bool(end_token)
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self._share_ok, self._share_checked = True, False  # cleared if the model cannot share a prompt

    # ------------------------------------------------------------------ public API
    def score(self, prompts, responses, system=None) -> list:
        """One score per (prompt, response): the Appendix C sum (Eq. 12 with the defaults).

        Args:
            prompts: a str or a conversation (a list of ``{"role", "content"}`` messages ending with a user
                turn; only the response, the next assistant turn, is scored), or a sequence of them.
            responses: a str (one item) or a sequence of str, as many as prompts.
            system: the system prompt / instruction: None, one str for every item, or one str/None per
                item; it replaces a conversation's own system message.

        Returns:
            list of float, one per item (alpha*nats for kind "reward", nats for "logprob"); higher is better.

        Raises:
            TypeError, ValueError: as ``token_rewards``.
        """
        return [t.score for t in self.token_rewards(prompts, responses, system)]

    def token_rewards(self, prompts, responses, system=None) -> list:
        """Per-token r_hat (Eq. 10), log pi (Eq. 9) and V for each (prompt, response), with token strings.

        Each item is laid out with ``self.template`` and tokenized once (``templates.encode``), then
        scored as by ``token_rewards_from_ids``. Args as for ``score``.

        Returns:
            list of ``TokenRewards``, one per item, in input order.

        Raises:
            TypeError: an item of the wrong type (``item 1: prompt must be a str or a list of chat messages and
                response a str, got str, int``; ``item 0: prompt message 1: content must be a str, ...``).
            ValueError: lengths differ; an item cannot be encoded (``item 2: empty response: ...``; ``item 0:
                prompt message 2: the conversation must end with a user turn ...``); or as
                ``token_rewards_from_ids``.
        """
        prompts, responses, system = as_batch(prompts, responses, system)
        encoded = []
        for i, (p, r, s) in enumerate(zip(prompts, responses, system)):
            try:
                encoded.append(encode(self.tokenizer, p, r, s, self.template, self.end_token,
                                      self.chat_template_kwargs))
            except (ValueError, TypeError) as e:
                raise type(e)(f"item {i}: {e}") from None
        return self.token_rewards_from_ids(encoded)

    def token_rewards_from_ids(self, encoded) -> list:
        """Like ``token_rewards`` for pre-tokenized items: ``Encoded`` or (context_ids, response_ids).

        Identical items are scored once; items sharing a long enough prefix of ids run it once
        (``share_prompt``; the cost rule of ``endorm.llm.prefix``); the others are sorted by length into
        batches of ``batch_size``. Tokens after the response are dropped.

        Args:
            encoded: a sequence of ``Encoded`` (``input_ids`` [length], response ``[start, end)``) or of
                pairs (context ids [m], response ids [n]) with m >= 1 and n >= 1.

        Returns:
            list of ``TokenRewards``, one per item, in input order.

        Raises:
            ValueError: ``item i: empty response``; no context token before the response; a token id outside
                the vocabulary (``item i: token id 999 is outside the model's vocabulary of 320``); the text is longer
                than ``max_length`` tokens (with ``truncate``: the response plus one context token is);
                non-finite logits (``item i: the model produced non-finite logits (at response token t)``);
                the model transforms its logits after the LM head in a way not reproduced here.
        """
        items = [e if isinstance(e, Encoded) else
                 Encoded(list(e[0]) + list(e[1]), len(e[0]), len(e[0]) + len(e[1])) for e in encoded]
        items = [self._fit(i, e) for i, e in enumerate(items)]
        jobs, rep = self._plan(items)
        show = self.progress if self.progress is not None else len(jobs) > 4
        stats = [None] * len(items)
        from tqdm import tqdm

        for forward, batch in tqdm(jobs, desc="scoring", unit="batch", disable=not show):
            for i, s in zip(batch, forward([items[i] for i in batch], batch)):
                stats[i] = s
        return [self._finish(e, *stats[rep[i]]) for i, e in enumerate(items)]

    # ------------------------------------------------------------------ internals
    def _fit(self, i: int, e: Encoded) -> Encoded:
        """Drop tokens after the response (never needed); check or truncate the length."""
        if e.end <= e.start:
            raise ValueError(f"item {i}: empty response")
        if e.start < 1:
            raise ValueError(f"item {i}: the response needs at least one context token before it")
        head = self.model.get_output_embeddings() if hasattr(self.model, "get_output_embeddings") else None
        vocab = int(head.weight.shape[0]) if head is not None else int(self.model.config.vocab_size)
        bad = next((t for t in e.input_ids[:e.end] if not 0 <= int(t) < vocab), None)
        if bad is not None:
            raise ValueError(f"item {i}: token id {bad} is outside the model's vocabulary of {vocab}")
        ids = e.input_ids[:e.end]
        if len(ids) <= self.max_length:
            return Encoded(ids, e.start, e.end, e.token_text)
        if not self.truncate:
            raise ValueError(f"item {i}: the text has {len(ids)} tokens, longer than the model's context of "
                             f"{self.max_length}; shorten it, or drop context from the left with truncate=True "
                             "(--truncate)")
        if e.end - e.start + 1 > self.max_length:
            raise ValueError(f"item {i}: the response alone has {e.end - e.start} tokens, longer than the model's "
                             f"context of {self.max_length} (with one context token)")
        drop = len(ids) - self.max_length
        return Encoded(ids[drop:], e.start - drop, e.end - drop, e.token_text)

    def _lm_head(self):
        """(weight [vocab, hidden], bias [vocab] or None, final_logit_softcapping, logit_scale); built once.

        The weight is cast to float32 (``head_dtype="float32"``) or kept in the model's dtype ("model").
        """
        import torch

        if self._head is None:
            head = self.model.get_output_embeddings()
            dtype = torch.float32 if self.head_dtype == "float32" else head.weight.dtype
            w = head.weight.detach().to(dtype)
            b = None if getattr(head, "bias", None) is None else head.bias.detach().to(dtype)
            cfg = self.model.config
            self._head = (w, b, getattr(cfg, "final_logit_softcapping", None), getattr(cfg, "logit_scale", None))
        return self._head

    def _head_into(self, hk, buf):
        """Logits [rows, vocab] of hidden states ``hk`` [rows, hidden] in the head's dtype, into ``buf[:rows]``.

        Bias, ``logit_scale`` and ``final_logit_softcapping`` applied as the model does. Returns the view.
        """
        import torch

        w, bias, softcap, scale = self._lm_head()
        out = buf[:hk.shape[0]]
        torch.mm(hk.to(w.dtype), w.t(), out=out) if bias is None else torch.addmm(bias, hk.to(w.dtype), w.t(), out=out)
        if scale is not None:
            out.mul_(scale)
        if softcap is not None:
            out.div_(softcap).tanh_().mul_(softcap)
        return out

    def _check_head(self, ids, hidden):
        """Once: our head on the hidden states must give the model's own logits (first <= 64 tokens).

        Catches output transforms this class does not reproduce (e.g. a ``logits_scaling``). ``ids`` [1, length],
        ``hidden`` [length', hidden] (length' >= length).

        Raises:
            ValueError: max |difference| above 1e-3 (float32) or 5e-2 (lower precision) times (1 + max |logit|).
        """
        import torch

        n = ids.shape[1]
        ref = self.model(input_ids=ids, use_cache=False).logits[0, :n].to(torch.float32)
        ours = self._head_into(hidden[:n], torch.empty_like(ref, dtype=self._lm_head()[0].dtype)).float()
        exact = next(self.model.parameters()).dtype == torch.float32 or self.head_dtype == "model"
        tol = (1e-3 if exact else 5e-2) * (1.0 + float(ref.abs().max()))
        err = float((ours - ref).abs().max())
        if not err <= tol:
            raise ValueError(f"{type(self.model).__name__} transforms its logits after the LM head in a way endorm "
                             f"does not reproduce (max |difference| {err:.3g} from the model's own logits); "
                             "supported: final_logit_softcapping and logit_scale")
        self._head_checked = True

    def _forward(self, items, indices):
        """Per item: (selected logits f_t[y_t] [n], values V(s_t) [n+1]), float64 alpha*nats; whole texts, batched."""
        import torch

        with torch.inference_mode():
            h, ids, hidden = self._rows_plain(items)
            if not self._head_checked:
                self._check_head(ids[:1, :min(len(items[0].input_ids), 64)], hidden[0])
            return self._stats(h, items, indices)

    def _rows_plain(self, items):
        """Final hidden states at rows start-1 .. end-1 of each item, concatenated [sum(n+1), hidden]; right padding.

        Also returns the padded ids [batch, length] and the hidden states [batch, length, hidden] (head check).
        """
        import torch

        device = next(self.model.parameters()).device
        B, L = len(items), max(len(e.input_ids) for e in items)
        ids = torch.full((B, L), int(self.tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros((B, L), dtype=torch.long)
        rows_b, rows_q = [], []
        for b, e in enumerate(items):
            ids[b, :len(e.input_ids)] = torch.tensor(e.input_ids)
            mask[b, :len(e.input_ids)] = 1
            q = list(range(e.start - 1, e.end))            # n + 1 positions: before each token, and after
            rows_b += [b] * len(q)
            rows_q += q
        ids = ids.to(device)
        hidden = self._base()(input_ids=ids, attention_mask=mask.to(device), use_cache=False)[0]
        h = hidden[torch.tensor(rows_b, device=device), torch.tensor(rows_q, device=device)]
        return h, ids, hidden

    def _base(self):
        """The base model (``model.<base_model_prefix>``): final hidden states, no LM head."""
        return getattr(self.model, self.model.base_model_prefix)

    def _stats(self, h, items, indices):
        """Per item: (f_t[y_t] [n], V(s_t) [n+1]), float64 alpha*nats, from its rows of ``h`` [sum(n+1), hidden].

        The head runs on chunks of rows into one buffer [chunk, vocab] of ``chunk_mb`` MiB in the head's dtype;
        V in float32 (``soft_values``).

        Raises:
            ValueError: non-finite logits (``item i: the model produced non-finite logits (at response token t)``).
        """
        import torch

        device = h.device
        targets = [t for e in items for t in list(e.input_ids[e.start:e.end]) + [-1]]
        w = self._lm_head()[0]
        tgt = torch.tensor(targets, device=device)
        lse, sel = (torch.empty(len(targets), dtype=torch.float64, device=device) for _ in range(2))
        step = max(1, int(self.chunk_mb * 2**20 // (4 * w.shape[0])))  # rows of a float32 chunk_mb, any dtype
        buf = torch.empty((min(step, len(targets)), w.shape[0]), dtype=w.dtype, device=device)
        for k in range(0, len(targets), step):
            out = self._head_into(h[k:k + step], buf)  # one reused buffer: no [batch, length, vocab]
            sel[k:k + step] = out.gather(1, tgt[k:k + step].clamp(min=0)[:, None])[:, 0].double()
            lse[k:k + step] = soft_values(out, self.alpha)
        lse, sel = lse.cpu().numpy(), sel.cpu().numpy()
        bad = ~(np.isfinite(lse) & np.isfinite(sel))
        out, k = [], 0
        for b, e in enumerate(items):
            n = e.end - e.start
            if bad[k:k + n + 1].any():
                raise ValueError(f"item {indices[b]}: the model produced non-finite logits "
                                 f"(at response token {int(np.argmax(bad[k:k + n + 1]))})")
            out.append((sel[k:k + n], lse[k:k + n + 1]))
            k += n + 1
        return out

    def _finish(self, e: Encoded, sel: np.ndarray, values: np.ndarray) -> TokenRewards:
        """One item's ``TokenRewards`` (Eq. 10, Eq. 9, Appendix C) from f_t[y_t] ``sel`` [n], V(s_t) ``values`` [n+1]."""
        n = e.end - e.start
        next_value = float(values[n]) if self.terminal == "model" else 0.0
        rewards, log_probs = token_quantities(sel, values, self.alpha, next_value)  # Eq. 10, Eq. 9
        score = appendix_c_score(rewards if self.kind == "reward" else log_probs, self.gamma, self.floor)
        ids = e.input_ids[e.start:e.end]
        tokens = list(e.token_text) if e.token_text else [self.tokenizer.decode([t]) for t in ids]
        return TokenRewards(list(ids), tokens, rewards, log_probs, values[:n].copy(), next_value, score)


def soft_values(logits, alpha: float):
    """V = alpha * logsumexp(f / alpha) per row (Eq. 9), accumulated in float32, in place: overwrites ``logits``.

    float32 logits: m = max f, V = m + alpha * log sum exp((f - m) / alpha), all in float32 (exact to float32
    rounding, ~1e-6 relative). Lower precision (bfloat16, float16): the same steps in the logits' own dtype
    (no float32 copy of the chunk), the sum accumulated in float32 (``sum(dtype=float32)``: one fused
    cast-and-reduce kernel on CUDA; on CPU torch casts inside the sum). Each term exp(d_i / alpha), d_i =
    f_i - m, then carries a relative error of at most about (1 + 2|d_i| / alpha) * u (u = 2^-8 for bfloat16,
    2^-11 for float16: rounding d_i, d_i / alpha and the exp), so |dV| <= alpha * u * (1 + 2 E_pi[|d| / alpha])
    (tested; ~5e-4 on random bfloat16 logits of spread 3), below the bfloat16 logits' own rounding (u/2 * |f|).
    float16 adds up to alpha * vocab * 2^-24 (its exp underflows below e^-17).

    Args:
        logits: f [rows, vocab] (alpha*nats), float32 or the model's dtype; alpha: the temperature, > 0.
    Returns:
        float64 [rows]; -inf for a row of -inf (as ``torch.logsumexp``).
    """
    import torch

    mx = logits.amax(dim=1, keepdim=True)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))  # as torch.logsumexp does
    d = logits.sub_(mx)
    if alpha != 1.0:
        d.div_(alpha)
    total = d.exp_().sum(dim=1, dtype=torch.float32)
    return mx[:, 0].double() + alpha * total.log().double()
