"""Unique work for ``EndogenousReward``: identical items once, shared prefixes once (KV cache), chosen by cost.

Identical items (the same token ids and response span) are scored once and the result copied.
Shared prefixes (``share_prompt=True``, the default) are found across all items, not only among
items with the same prompt: the unique items are sorted by their token ids and split, as in a
radix tree, where neighbours share the fewest tokens (``prefix_groups``). A group's prefix P is
the longest common prefix of its ids, short of its shortest item by one (every item keeps a
continuation), and may end inside the prompt (e.g. a long system prompt before different
queries) or inside the responses (responses starting alike).

The cost rule (token counts only): a group of k items of T tokens in all, sharing P tokens, takes
the cached path iff the tokens it saves, (k - 1) * P, are at least ``share_min_saved`` (16) and at
least ``share_min_fraction`` (0.05) of T; otherwise its items join the plain batched path. The
cached path batches like the plain one: the distinct prefixes of up to ``batch_size`` groups run in
one right-padded call, then the continuations of all their items in batches of ``batch_size``,
each row continuing its own prefix's KV cache rows (``batch_select_indices``); so it costs one
extra call per job and the prefix rows' padding, and per token about what the plain path costs.
Measured on the GPT-2-shaped model of ``benchmarks/bench_throughput.py`` (6 layers, hidden 512,
vocabulary 50,257; CPU, 2 threads; cached / plain time, best of 5): 8 pairs after ~20-token
prompts (20 tokens and 6% saved per pair) 0.93; 4 x 4 responses of ~100 after ~35 (21%) 0.96;
8 pairs after ~57 tokens (13%) 0.79; 4 systems x 4 responses after ~127 tokens (33%) 0.76.
Nothing smaller was measured, hence the thresholds (16 tokens, 5%). (An earlier cached path ran one group per call on a
repeated cache and lost up to 2.6x on pairs; it needed 512 tokens and 30%.) Splitting a run of
sorted items into sub-groups is preferred when the sub-groups save more tokens than the run's
common prefix would; sharing is not nested (a header common to all, then each group's prompt).

The cached path: the base model runs once on the prefix with ``use_cache=True`` (the cache passed
under the name the model's ``forward`` documents: ``cache_keyword``); its KV cache is repeated over
the batch and only the continuations run, right-padded, with an attention mask over prefix +
continuation and positions counted on from the prefix. Only where the model allows it: if its base
forward returns no ``Cache`` with ``batch_repeat_interleave`` (e.g. Mamba, whose state is not a KV
cache) or raises on the cached call, sharing is turned off for this scorer with one warning and
every item takes the plain path (a library warning raised as an error by the caller's warnings
filter propagates instead: it is never a reason to stop sharing). The first group's cached rows
are also checked once against the plain path (as the LM head is); a mismatch turns sharing off
likewise. The results equal the plain path's to float rounding (~1e-6 in float32).
"""
from __future__ import annotations

import copy
import warnings

from .base import cache_keyword, length_batches


def _lcp(a, b) -> int:
    """The number of leading tokens two id sequences share."""
    n, i = min(len(a), len(b)), 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def prefix_groups(seqs, min_saved: int = 16, min_fraction: float = 0.05):
    """Radix grouping of token-id sequences: which share a prefix, and how long (the module's cost rule).

    Args:
        seqs: the items' token ids, [n] sequences of int (distinct items; duplicates are removed before).
        min_saved: the fewest tokens, (k - 1) * P, a group of k sharing P tokens must save.
        min_fraction: the smallest share of the group's T tokens it must save.

    Returns:
        (groups, alone): groups a list of (sorted indices [k >= 2], P >= 1) with P <= len - 1 for each
        member; alone the sorted other indices. Together a partition of range(n).
    """
    order = sorted(range(len(seqs)), key=lambda i: list(seqs[i]))
    lcps = [_lcp(seqs[a], seqs[b]) for a, b in zip(order, order[1:])]
    groups, alone = [], []
    stack = [(0, len(order))]  # runs [lo, hi) of ``order``, each decided by ``_split_or_share``
    while stack:
        lo, hi = stack.pop()
        share = _split_or_share(seqs, order, lcps, lo, hi, min_saved, min_fraction)
        if share is not None:
            groups.append((sorted(order[lo:hi]), share))
        elif hi - lo == 1:
            alone.append(order[lo])
        else:
            m, start = min(lcps[lo:hi - 1]), lo
            for j in range(lo, hi):  # cut where neighbours share the fewest tokens
                if j == hi - 1 or lcps[j] == m:
                    stack.append((start, j + 1))
                    start = j + 1
    return sorted(groups), sorted(alone)


def _best_saved(seqs, order, lcps, lo, hi, min_saved, min_fraction):
    """(tokens saved, P or None): the run of sorted items [lo, hi) shared whole (P) or split at its weakest links."""
    if hi - lo < 2:
        return 0, None
    m = min(lcps[lo:hi - 1])
    P = min(m, min(len(seqs[i]) for i in order[lo:hi]) - 1)
    whole = (hi - lo - 1) * P
    if P < 1 or whole < min_saved or whole < min_fraction * sum(len(seqs[i]) for i in order[lo:hi]):
        whole = 0
    start, split = lo, 0
    if any(x != m for x in lcps[lo:hi - 1]):  # else every part is one item: nothing saved
        for j in range(lo, hi):
            if j == hi - 1 or lcps[j] == m:
                split += _best_saved(seqs, order, lcps, start, j + 1, min_saved, min_fraction)[0]
                start = j + 1
    return (whole, P) if whole and whole >= split else (split, None)


def _split_or_share(seqs, order, lcps, lo, hi, min_saved, min_fraction):
    """P if the run [lo, hi) should share its common prefix of P tokens as one group, else None (split it)."""
    return _best_saved(seqs, order, lcps, lo, hi, min_saved, min_fraction)[1]


def _select_rows(cache, rows, last: bool):
    """The KV cache of the prefixes ``rows`` [n] (repeats allowed), for one batch of continuations.

    A ``DynamicCache`` (its ``layers``, each with ``batch_select_indices``) gets new layer objects holding only the
    selected rows, so the prefixes' cache is never copied whole; any other cache is deep-copied first (``last``:
    the final batch may take the original).
    """
    layers = getattr(cache, "layers", None)
    if isinstance(layers, list) and all(hasattr(x, "batch_select_indices") for x in layers):
        kv = copy.copy(cache)
        kv.layers = [copy.copy(x) for x in layers]
    else:
        kv = cache if last else copy.deepcopy(cache)
    kv.batch_select_indices(rows)
    return kv


class SharedPromptMixin:
    """Unique work for ``EndogenousReward`` (needs its ``_forward``, ``_rows_plain``, ``_stats``,
    ``_check_head``, ``_base``, ``model``, ``tokenizer``, ``batch_size`` and ``share_prompt``)."""

    #: the cost rule's thresholds (module docstring); per instance, e.g. 0 and 0.0 to share every common prefix
    share_min_saved, share_min_fraction = 16, 0.05
    #: a shared job holds at most this many batches' items (a larger group runs its prefix once per part)
    share_job_items = 4

    def _plan(self, items):
        """(jobs [(forward, indices)], rep): identical items once, shared prefixes by the cost rule.

        ``rep[i]`` is the index of the item whose result item i copies (itself when it is the first).
        """
        from functools import partial

        first, rep = {}, []
        for i, e in enumerate(items):
            rep.append(first.setdefault((tuple(e.input_ids), e.start), i))
        uniq = sorted(first.values())
        groups, alone = [], list(range(len(uniq)))
        if self.share_prompt and self._share_ok:
            groups, alone = prefix_groups([items[i].input_ids for i in uniq], self.share_min_saved,
                                          self.share_min_fraction)
        alone = [uniq[k] for k in alone]
        jobs = [(self._forward, [alone[k] for k in b])
                for b in length_batches([len(items[i].input_ids) for i in alone], self.batch_size)]
        cap = self.share_job_items * self.batch_size  # bounds the rows a job holds
        parts = sorted((P, [uniq[k] for k in g[j:j + cap]]) for g, P in groups for j in range(0, len(g), cap))
        job, n = [], 0
        for P, members in parts + [(None, None)]:  # by prefix length: similar prefixes pad little
            if job and (members is None or len(job) == self.batch_size or n + len(members) > cap):
                jobs.append((partial(self._forward_shared, prefix=[q for q, m in job for _ in m]),
                             [i for _, m in job for i in m]))
                job, n = [], 0
            if members is not None:
                job.append((P, members))
                n += len(members)
        return jobs, rep

    def _forward_shared(self, items, indices, prefix):
        """As ``_forward`` for items sharing prefixes: item b's first ``prefix[b]`` ids run once per distinct prefix."""
        import torch

        if not self._share_ok:
            return self._forward_batched(items, indices)
        with torch.inference_mode():
            try:
                h, pre, hp = self._rows_shared(items, prefix)
            except (torch.cuda.OutOfMemoryError, Warning):  # a warning raised as an error is the caller's filter,
                raise                                   # never a reason to turn sharing off
            except Exception as e:  # noqa: BLE001 -- any model that cannot continue from a cache: plain path
                return self._stop_sharing(f"{type(e).__name__}: {e}", items, indices)
            if not self._head_checked:
                self._check_head(pre, hp)
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

    def _rows_shared(self, items, prefix):
        """``_rows_plain``'s rows for items whose first ``prefix[b]`` ids are a prefix they share: each distinct
        prefix runs once, all of them in one right-padded batch; the continuations run in batches of
        ``batch_size`` (items of different prefixes mixed) on the rows of its KV cache they continue.

        ``prefix[b]`` >= 1 is at most item b's length minus one (every item keeps a continuation). Rows before
        it come from the prefix's hidden states. Returns (rows [sum(n+1), hidden], the first prefix's ids
        [1, <= 64], its hidden states [max P, hidden], padded after P_0).

        Raises:
            TypeError: the base model returns no cache with ``batch_select_indices`` (e.g. Mamba).
        """
        import torch

        device = next(self.model.parameters()).device
        seqs = [e.input_ids for e in items]
        base, pad = self._base(), int(self.tokenizer.pad_token_id)
        gid = {}
        for s, P in zip(seqs, prefix):
            gid.setdefault(tuple(s[:P]), len(gid))
        group = [gid[tuple(s[:P])] for s, P in zip(seqs, prefix)]
        plen = torch.tensor([len(k) for k in gid])
        pre = torch.full((len(gid), int(plen.max())), pad, dtype=torch.long)
        pre_mask = torch.zeros_like(pre)
        for k, g in gid.items():
            pre[g, :len(k)], pre_mask[g, :len(k)] = torch.tensor(k), 1
        pre, pre_mask, plen = pre.to(device), pre_mask.to(device), plen.to(device)
        cache_kw = cache_keyword(base)
        out = base(input_ids=pre, attention_mask=pre_mask, use_cache=True)
        cache, hp = out.get(cache_kw), out[0]
        if not hasattr(cache, "batch_select_indices"):
            raise TypeError(f"the base model returned {type(cache).__name__}, not a KV cache whose rows can be selected")
        rows = [None] * len(items)
        order = sorted(range(len(items)), key=lambda b: -(len(seqs[b]) - prefix[b]))
        for k in range(0, len(order), self.batch_size):
            sub = order[k:k + self.batch_size]
            n, Lc = len(sub), max(len(seqs[b]) - prefix[b] for b in sub)
            ids = torch.full((n, Lc), pad, dtype=torch.long)
            mask = torch.zeros((n, Lc), dtype=torch.long)
            for j, b in enumerate(sub):
                ids[j, :len(seqs[b]) - prefix[b]] = torch.tensor(seqs[b][prefix[b]:])
                mask[j, :len(seqs[b]) - prefix[b]] = 1
            g = torch.tensor([group[b] for b in sub], device=device)
            kv = _select_rows(cache, g, last=k + self.batch_size >= len(order))
            pos = plen[g][:, None] + torch.arange(Lc, device=device)[None]
            hc = base(input_ids=ids.to(device), attention_mask=torch.cat([pre_mask[g], mask.to(device)], 1),
                      position_ids=pos, use_cache=True, **{cache_kw: kv})[0]
            for j, b in enumerate(sub):  # rows start-1 .. end-1: from the prefix up to P-1, then the continuation
                s, P = items[b].start - 1, prefix[b]
                rows[b] = torch.cat([hp[group[b], s:P], hc[j, max(0, s - P):len(seqs[b]) - P]])
            del kv, hc
        return torch.cat(rows), pre[:1, :min(64, int(plen[0]))], hp[0]
