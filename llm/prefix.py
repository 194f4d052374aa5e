"""Prompt sharing for ``EndogenousReward``: a prompt common to several items runs once (KV cache).

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

from .base import cache_keyword, length_batches


class SharedPromptMixin:
    """The KV-cache path of ``EndogenousReward`` (needs its ``_forward``, ``_rows_plain``, ``_stats``,
    ``_check_head``, ``_base``, ``model``, ``tokenizer``, ``batch_size`` and ``share_prompt``)."""

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
            except (torch.cuda.OutOfMemoryError, Warning):  # a warning raised as an error is the caller's filter,
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
        """Turn prompt sharing off for this scorer (one warning) and score ``items`` on the plain path."""
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
        the continuations run in batches on copies of its KV cache. Returns (rows [sum(n+1), hidden],
        prefix ids [1, P], prefix hidden states [P, hidden]).

        Raises:
            TypeError: the base model returns no cache with ``batch_repeat_interleave`` (e.g. Mamba).
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
