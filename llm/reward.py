"""The endogenous reward of a Hugging Face causal LM (Eq. 10-12, Appendix C).

For response tokens y_1..y_n after a context, with logits f_t (the model's output at
the position before y_t) and V(s_t) = alpha * logsumexp(f_t / alpha):

    log pi_t = (f_t[y_t] - V(s_t)) / alpha
    r_hat_t  = f_t[y_t] - V(s_{t+1}),   V(s_{n+1}) = 0 ("zero", Eq. 12) or the model's own
                                         value after the last token ("model")
    score    = sum_t max(gamma^(t-1), floor) * x_t,  x = r_hat ("reward") or log pi ("logprob")

The same quantities as ``endorm.tabular`` (``endogenous_reward``, ``outcome_reward``,
``discounted_score``); tests check them against it on a tiny model's whole prefix tree.

Memory: the LM head is applied to the final hidden states in chunks of positions, in
float32 (the head's weight is cast to float32 once), so no [batch, length, vocab]
float32 tensor ever exists. Logit soft-capping (``final_logit_softcapping``) and
``logit_scale`` in the model config are applied as the model itself would.

Shared prompts (``share_prompt=True``, the default): items whose token ids before the
response start are identical (the same prompt and system, e.g. RM-Bench's 3 chosen + 3
rejected responses) form a group. The base model runs once on the group's longest common
token prefix with ``use_cache=True`` (the cache passed under the name the model's ``forward``
documents: ``cache_keyword``); its KV cache is repeated over the batch and only
the continuations run, right-padded, with an attention mask over prefix + continuation
and positions counted on from the prefix. The hidden states of the prefix's last rows
give the logits of the first response tokens. Items with a prompt of their own take the
plain path (the whole text, batched). Only where the model allows it: if its base forward
returns no ``Cache`` with ``batch_repeat_interleave`` (e.g. Mamba, whose state is not a KV
cache) or raises on the cached call, sharing is turned off for this scorer with one
warning and every item takes the plain path (a library warning raised as an error by the
caller's warnings filter propagates instead: it is never a reason to stop sharing). The
first group's cached rows are also checked once against the plain path (as the LM head is);
a mismatch turns sharing off likewise. The results equal the plain path's to float rounding (~1e-6 in float32).
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np

from endorm.tabular.mdp import check_alpha

from .base import FromPretrained, PointwiseCompare, as_batch, context_length, ensure_pad_token, length_batches
from .templates import Encoded, check_template, default_template, encode

KINDS = ("reward", "logprob")


def cache_keyword(module) -> str:
    """The name under which ``module.forward`` takes and returns its KV cache.

    transformers 5.24 documents ``cache`` (``past_key_values`` still works there but warns, and
    goes in 5.40); older releases only know ``past_key_values``. Read from the forward's
    signature, so neither a deprecation warning nor a removed alias can switch sharing off.

    Returns:
        ``"cache"`` or ``"past_key_values"``.
    """
    import inspect

    params = inspect.signature(module.forward).parameters
    return "cache" if "cache" in params or "past_key_values" not in params else "past_key_values"
TERMINALS = ("zero", "model")


@dataclass
class TokenRewards:
    """Per-token quantities of one response; arrays have one entry per response token."""

    token_ids: list
    tokens: list
    rewards: np.ndarray      # r_hat_t
    log_probs: np.ndarray    # log pi(y_t | s_t)
    values: np.ndarray       # V(s_t)
    next_value: float        # V(s_{n+1}) used at the last step (0.0 for terminal "zero")
    score: float


class EndogenousReward(FromPretrained, PointwiseCompare):
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
        chunk_mb: size of the float32 logits buffer (one chunk of positions) in MiB.
        head_dtype: "float32" (default): the LM head runs in float32 on the model's hidden
            states; "model": it runs in the model's dtype (the same logits the model itself
            produces, faster for bfloat16 on hardware with native bfloat16, and no float32
            copy of the head's weight), then logsumexp in float32.
        progress: show a progress bar (default: when there are more than 4 batches).
        share_prompt: run a prompt shared by several items once and reuse its KV cache
            (default True; see the module docstring); False scores every item's full text.
    """

    def __init__(self, model, tokenizer, alpha=1.0, gamma=1.0, floor=0.0, kind="reward", terminal="zero",
                 template=None, batch_size=8, truncate=False, max_length=None, chunk_mb=64, progress=None,
                 head_dtype="float32", share_prompt=True):
        self.alpha = check_alpha(alpha, "alpha")
        self.gamma = check_alpha(gamma, "gamma")
        if self.gamma > 1:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma!r}")
        self.floor = float(floor)
        if not 0.0 <= self.floor <= 1.0:
            raise ValueError(f"floor must lie in [0, 1], got {floor!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if terminal not in TERMINALS:
            raise ValueError(f"terminal must be one of {TERMINALS}, got {terminal!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.kind, self.terminal, self.batch_size = kind, terminal, int(batch_size)
        self.model, self.tokenizer = model, tokenizer
        ensure_pad_token(tokenizer)
        self.template = check_template(tokenizer, template or default_template(tokenizer))
        self.max_length = context_length(model, max_length)
        if head_dtype not in ("float32", "model"):
            raise ValueError(f"head_dtype must be 'float32' or 'model', got {head_dtype!r}")
        self.truncate, self.chunk_mb, self.progress = bool(truncate), float(chunk_mb), progress
        self.head_dtype = head_dtype
        self._head, self._head_checked = None, False
        self.share_prompt = bool(share_prompt)
        self._share_ok, self._share_checked = True, False  # cleared if the model cannot share a prompt

    # ------------------------------------------------------------------ public API
    def score(self, prompts, responses, system=None) -> list:
        """One score per (prompt, response): the Appendix C sum (Eq. 12 with the defaults)."""
        return [t.score for t in self.token_rewards(prompts, responses, system)]

    def token_rewards(self, prompts, responses, system=None) -> list:
        """Per-token r_hat, log pi and V for each (prompt, response), with token strings."""
        prompts, responses, system = as_batch(prompts, responses, system)
        encoded = []
        for i, (p, r, s) in enumerate(zip(prompts, responses, system)):
            try:
                encoded.append(encode(self.tokenizer, p, r, s, self.template))
            except ValueError as e:
                raise ValueError(f"item {i}: {e}") from None
        return self.token_rewards_from_ids(encoded)

    def token_rewards_from_ids(self, encoded) -> list:
        """Like ``token_rewards`` for pre-tokenized items: ``Encoded`` or (context_ids, response_ids)."""
        items = [e if isinstance(e, Encoded) else
                 Encoded(list(e[0]) + list(e[1]), len(e[0]), len(e[0]) + len(e[1])) for e in encoded]
        items = [self._fit(i, e) for i, e in enumerate(items)]
        groups, alone = self._prompt_groups(items)
        batches = [[alone[k] for k in b] for b in length_batches([len(items[i].input_ids) for i in alone],
                                                                   self.batch_size)]
        jobs = [(self._forward, b) for b in batches] + [(self._forward_shared, g) for g in groups]
        show = self.progress if self.progress is not None else len(jobs) > 4
        out = [None] * len(items)
        from tqdm import tqdm

        for forward, batch in tqdm(jobs, desc="scoring", unit="batch", disable=not show):
            for i, stats in zip(batch, forward([items[i] for i in batch], batch)):
                out[i] = self._finish(items[i], *stats)
        return out

    # ------------------------------------------------------------------ internals
    def _fit(self, i: int, e: Encoded) -> Encoded:
        """Drop tokens after the response (never needed); check or truncate the length."""
        if e.end <= e.start:
            raise ValueError(f"item {i}: empty response")
        if e.start < 1:
            raise ValueError(f"item {i}: the response needs at least one context token before it")
        ids = e.input_ids[:e.end]
        if len(ids) <= self.max_length:
            return Encoded(ids, e.start, e.end, e.token_text)
        if not self.truncate:
            raise ValueError(f"item {i}: the text has {len(ids)} tokens, longer than the model's context of "
                             f"{self.max_length}; shorten it or pass truncate=True to drop context from the left")
        if e.end - e.start + 1 > self.max_length:
            raise ValueError(f"item {i}: the response alone has {e.end - e.start} tokens, longer than the model's "
                             f"context of {self.max_length} (with one context token)")
        drop = len(ids) - self.max_length
        return Encoded(ids[drop:], e.start - drop, e.end - drop, e.token_text)

    def _lm_head(self):
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
        """float32 logits of hidden states ``hk`` [m, D] written into ``buf[:m]``, transformed as the model does."""
        import torch
        import torch.nn.functional as F

        w, bias, softcap, scale = self._lm_head()
        out = buf[:hk.shape[0]]
        if w.dtype == torch.float32:
            torch.mm(hk.to(torch.float32), w.t(), out=out)
            if bias is not None:
                out += bias
        else:
            out.copy_(F.linear(hk.to(w.dtype), w, bias))
        if scale is not None:
            out.mul_(scale)
        if softcap is not None:
            out.div_(softcap).tanh_().mul_(softcap)
        return out

    def _check_head(self, ids, hidden):
        """Once: our head on the hidden states must give the model's own logits (first <= 64 tokens).

        Catches output transforms this class does not reproduce (e.g. a ``logits_scaling``).
        """
        import torch

        n = ids.shape[1]
        ref = self.model(input_ids=ids, use_cache=False).logits[0, :n].to(torch.float32)
        ours = self._head_into(hidden[:n], torch.empty_like(ref))
        exact = next(self.model.parameters()).dtype == torch.float32 or self.head_dtype == "model"
        tol = (1e-3 if exact else 5e-2) * (1.0 + float(ref.abs().max()))
        err = float((ours - ref).abs().max())
        if not err <= tol:
            raise ValueError(f"{type(self.model).__name__} transforms its logits after the LM head in a way endorm "
                             f"does not reproduce (max |difference| {err:.3g} from the model's own logits); "
                             "supported: final_logit_softcapping and logit_scale")
        self._head_checked = True

    def _forward(self, items, indices):
        """Per item: (selected logits f_t[y_t] [n], values V(s_t) [n+1]) as float64 numpy; whole texts, batched."""
        import torch

        with torch.inference_mode():
            h, ids, hidden = self._rows_plain(items)
            if not self._head_checked:
                self._check_head(ids[:1, :min(len(items[0].input_ids), 64)], hidden[0])
            return self._stats(h, items, indices)

    def _rows_plain(self, items):
        """Final hidden states at rows start-1 .. end-1 of each item, concatenated [sum(n+1), D]; right padding.

        Also returns the padded ids [B, L] and the hidden states [B, L, D] (for the head check).
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
        return getattr(self.model, self.model.base_model_prefix)

    # ------------------------------------------------------------------ shared prompts
    def _prompt_groups(self, items):
        """(groups of >= 2 indices whose ids before the response are identical, the other indices)."""
        if not (self.share_prompt and self._share_ok):
            return [], list(range(len(items)))
        by_prefix = {}
        for i, e in enumerate(items):
            by_prefix.setdefault(tuple(e.input_ids[:e.start]), []).append(i)
        groups = [g for g in by_prefix.values() if len(g) > 1]
        return groups, sorted(i for g in by_prefix.values() if len(g) == 1 for i in g)

    def _forward_shared(self, items, indices):
        """As ``_forward`` for a group sharing its ids before the response: the prefix runs once (KV cache)."""
        import torch

        if not self._share_ok:
            return self._forward_batched(items, indices)
        with torch.inference_mode():
            try:
                h, pre, hp = self._rows_shared(items)
            except (torch.OutOfMemoryError, Warning):  # a warning raised as an error is the caller's filter,
                raise                                   # never a reason to turn sharing off
            except Exception as e:  # noqa: BLE001 -- any model that cannot continue from a cache: plain path
                return self._stop_sharing(f"{type(e).__name__}: {e}", items, indices)
            if not self._head_checked:
                self._check_head(pre[:, :64], hp)
            if not self._share_checked:
                err = self._check_shared(items, h)
                if err is not None:
                    return self._stop_sharing(f"its cached continuation differs from the whole text by {err:.3g}",
                                              items, indices)
            return self._stats(h, items, indices)

    def _check_shared(self, items, h):
        """Once: the cached rows of (up to) two items against their whole texts; the error if too large, else None."""
        import torch

        ref = self._rows_plain(items[:2])[0].to(torch.float32)
        err = float((h[:ref.shape[0]].to(torch.float32) - ref).abs().max())
        exact = next(self.model.parameters()).dtype == torch.float32
        if not err <= (1e-3 if exact else 5e-2) * (1.0 + float(ref.abs().max())):
            return err
        self._share_checked = True
        return None

    def _stop_sharing(self, why, items, indices):
        self._share_ok = False
        warnings.warn(f"{type(self.model).__name__} cannot reuse a shared prompt's KV cache ({why}); "
                      "scoring every item's whole text instead", stacklevel=4)
        return self._forward_batched(items, indices)

    def _forward_batched(self, items, indices):
        """``_forward`` in length-sorted batches of ``batch_size`` (a group can be larger than a batch)."""
        out = [None] * len(items)
        for batch in length_batches([len(e.input_ids) for e in items], self.batch_size):
            for i, stats in zip(batch, self._forward([items[i] for i in batch], [indices[i] for i in batch])):
                out[i] = stats
        return out

    def _rows_shared(self, items):
        """``_rows_plain``'s rows for items with identical ids before the response, the prefix run once.

        The prefix is the longest common prefix of the ids, short of the shortest item by one
        (every item keeps a continuation). Rows before it come from the prefix's hidden states;
        the continuations run in batches on copies of its KV cache. Returns (rows [sum(n+1), D],
        prefix ids [1, P], prefix hidden states [P, D]).
        """
        import torch

        device = next(self.model.parameters()).device
        seqs = [e.input_ids for e in items]
        P = items[0].start
        while P < min(map(len, seqs)) - 1 and all(s[P] == seqs[0][P] for s in seqs):
            P += 1
        base, pad = self._base(), int(self.tokenizer.pad_token_id)
        pre = torch.tensor([seqs[0][:P]], device=device)
        cache_kw = cache_keyword(base)
        out = base(input_ids=pre, attention_mask=torch.ones_like(pre), use_cache=True)
        cache, hp = out.get(cache_kw), out[0][0]
        if not hasattr(cache, "batch_repeat_interleave"):
            raise TypeError(f"the base model returned {type(cache).__name__}, not a KV cache that can be repeated")
        rows = [None] * len(items)
        order = sorted(range(len(items)), key=lambda b: -len(seqs[b]))
        for k in range(0, len(order), self.batch_size):
            sub = order[k:k + self.batch_size]
            n, Lc = len(sub), max(len(seqs[b]) for b in sub) - P
            ids = torch.full((n, Lc), pad, dtype=torch.long)
            mask = torch.zeros((n, P + Lc), dtype=torch.long)
            mask[:, :P] = 1
            for j, b in enumerate(sub):
                ids[j, :len(seqs[b]) - P] = torch.tensor(seqs[b][P:])
                mask[j, P:len(seqs[b])] = 1
            kv = cache if k + self.batch_size >= len(order) else copy.deepcopy(cache)  # the last batch takes it
            kv.batch_repeat_interleave(n)
            pos = torch.arange(P, P + Lc, device=device).expand(n, Lc)
            hc = base(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos, use_cache=True,
                      **{cache_kw: kv})[0]
            for j, b in enumerate(sub):  # rows start-1 .. end-1: from the prefix up to P-1, then the continuation
                rows[b] = torch.cat([hp[items[b].start - 1:P], hc[j, :len(seqs[b]) - P]])
            del kv, hc
        return torch.cat(rows), pre, hp

    # ------------------------------------------------------------------ the LM head on the rows
    def _stats(self, h, items, indices):
        """Per item: (f_t[y_t] [n], V(s_t) [n+1]) as float64 numpy, from its rows of hidden states ``h``."""
        import torch

        device = h.device
        targets = []
        for e in items:
            targets += e.input_ids[e.start:e.end] + [-1]
        w = self._lm_head()[0]
        tgt = torch.tensor(targets, device=device)
        lse = torch.empty(len(targets), dtype=torch.float64, device=device)
        sel = torch.empty(len(targets), dtype=torch.float64, device=device)
        step = max(1, int(self.chunk_mb * 2**20 // (4 * w.shape[0])))
        buf = torch.empty((min(step, len(targets)), w.shape[0]), dtype=torch.float32, device=device)
        for k in range(0, len(targets), step):
            out = self._head_into(h[k:k + step], buf)  # one reused buffer: no [batch, length, vocab]
            sel[k:k + step] = out.gather(1, tgt[k:k + step].clamp(min=0)[:, None])[:, 0].double()
            if self.alpha != 1.0:
                out.div_(self.alpha)
            mx = out.amax(dim=1, keepdim=True)
            mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))  # as torch.logsumexp does
            lse[k:k + step] = self.alpha * (mx[:, 0] + out.sub_(mx).exp_().sum(dim=1).log()).double()
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
        n = e.end - e.start
        next_value = float(values[n]) if self.terminal == "model" else 0.0
        nxt = np.append(values[1:n], next_value)
        rewards = sel - nxt
        log_probs = (sel - values[:n]) / self.alpha
        w = np.maximum(self.gamma ** np.arange(n), self.floor)
        score = float(w @ (rewards if self.kind == "reward" else log_probs))
        ids = e.input_ids[e.start:e.end]
        tokens = list(e.token_text) if e.token_text else [self.tokenizer.decode([t]) for t in ids]
        return TokenRewards(list(ids), tokens, rewards, log_probs, values[:n].copy(), next_value, score)
