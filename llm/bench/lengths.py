"""Every record checked against the model's context before the model loads (``endorm bench``).

For each record, condition (system prompt) and method, the longest sequence the method will
run is measured with the tokenizer alone:

* ``endorm``: each response laid out as ``EndogenousReward`` does (``templates.encode``, the
  end token included unless ``end_token=False``), up to the response's end; with ``truncate``
  only the response plus one context token must fit (the context is then cut from the left).
* the judges: each rendered judge prompt (``verifier``, ``pointwise`` plus the "1" of a split
  "10", ``pairwise`` in both orders), tokenized as the judge tokenizes it.

A record that cannot be laid out (an empty response, a malformed conversation) or whose
sequence is longer than the context is *invalid*: with ``skip_invalid`` it is left out and
listed (file location, id, what); otherwise the first one is a ValueError naming the flags that
settle it. Nothing here needs the model's weights, so a long file fails in seconds, not after
the model has loaded.
"""
from __future__ import annotations

from types import SimpleNamespace

from ..templates import encode


def _render_only(cls, tokenizer, context: int):
    """A judge whose model is a stand-in: rendering and tokenizing need only the tokenizer."""
    stub = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=context),
                           forward=lambda input_ids=None, attention_mask=None: None)
    return cls(stub, tokenizer)


class LengthChecker:
    """Measures records for the methods of one run (module docstring).

    Args:
        tokenizer: the model's tokenizer.
        context: the model's context in tokens.
        methods: the run's methods (``records.METHODS``).
        options: the run's ``RewardOptions`` (template, truncate, end_token).
    """

    def __init__(self, tokenizer, context: int, methods, options):
        import warnings

        from ..judges import GenerativeVerifier, GenRMPairwise, GenRMPointwise
        from ..templates import check_template, default_template

        self.tokenizer, self.context, self.options = tokenizer, int(context), options
        self.template = check_template(tokenizer, options.template or default_template(tokenizer))
        self.templated = bool(getattr(tokenizer, "chat_template", None))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the judges' own construction warns again when the model loads
            classes = {"verifier": GenerativeVerifier, "pointwise": GenRMPointwise, "pairwise": GenRMPairwise}
            self.judges = {m: _render_only(classes[m], tokenizer, context) for m in methods if m in classes}
        self.methods = tuple(methods)

    def problem(self, record, system) -> str | None:
        """What makes ``record`` unusable under ``system`` (None: it fits every method).

        Returns:
            e.g. ``"endorm: chosen[1] has 9000 tokens, longer than the model's context of 8192"``, or None.
        """
        for m in self.methods:
            try:
                what, n = self._longest(m, record, system)
            except (ValueError, TypeError) as e:
                return f"{m}: {e}"
            if n > self.context:
                hint = " (the response and one context token, with --truncate)" if m == "endorm" and \
                    self.options.truncate else ""
                return f"{m}: {what} has {n} tokens{hint}, longer than the model's context of {self.context}"
        return None

    def _longest(self, method, r, system):
        """(what, tokens) of the longest sequence ``method`` runs for record ``r``."""
        pairs = [(f"chosen[{i}]", x) for i, x in enumerate(r.chosen)] + \
            [(f"rejected[{j}]", x) for j, x in enumerate(r.rejected)]
        if method == "endorm":
            o = self.options
            out = []
            for what, x in pairs:
                e = encode(self.tokenizer, r.prompt, x, system, self.template, o.end_token)
                out.append((what, e.end - e.start + 1 if o.truncate else e.end))
            return max(out, key=lambda t: t[1])
        judge = self.judges[method]
        if method == "pairwise":
            texts = [(f"the judge prompt of chosen[{i}] vs rejected[{j}]", judge.render(r.prompt, a, b, system))
                     for i, c in enumerate(r.chosen) for j, x in enumerate(r.rejected) for a, b in ((x, c), (c, x))]
        else:
            texts = [(f"the judge prompt of {what}", judge.render(r.prompt, x, system)) for what, x in pairs]
        extra = 1 if method == "pointwise" and judge.score_tokens.split else 0
        lengths = [(what, len(self.tokenizer(t, add_special_tokens=not self.templated)["input_ids"]) + extra)
                   for what, t in texts]
        return max(lengths, key=lambda t: t[1])


def check_records(records, checker: LengthChecker, conditions: dict, skip_invalid: bool, progress: bool = False):
    """Split ``records`` into those every method can score under every condition, and the others.

    Args:
        records: the run's ``PairRecord``s.
        checker: a ``LengthChecker`` for the run.
        conditions: {condition: system prompt or None (the record's own)}.
        skip_invalid: leave invalid records out (listed) instead of raising.
        progress: show a tqdm bar.

    Returns:
        (kept records in order, ``["<where> (id 'x'): <what>"]`` for the left-out ones).

    Raises:
        ValueError: the first invalid record, unless ``skip_invalid`` (``<where> (id 'x'): endorm: chosen[0]
            has 9000 tokens, longer than the model's context of 8192; pass --skip-invalid to leave such
            records out (or --truncate ...)``).
    """
    from tqdm import tqdm

    kept, left_out = [], []
    for r in tqdm(records, desc="checking lengths", unit="record", disable=not progress):
        why = next((w for s in conditions.values()
                    if (w := checker.problem(r, r.system if s is None else s)) is not None), None)
        if why is None:
            kept.append(r)
            continue
        line = f"{r.where or 'record'} (id {r.id!r}): {why}"
        if not skip_invalid:
            fixable = why.startswith("endorm") and "longer than" in why and not checker.options.truncate
            hint = "; pass --skip-invalid to leave such records out" + (
                ", or --truncate to drop EndoRM's context from the left" if fixable else "")
            raise ValueError(line + hint)
        left_out.append(line)
    return kept, left_out
