"""Load local benchmark files as ``PairRecord`` lists (RM-Bench, RewardBench v1, Multifaceted-Bench, DSP).

Files: ``.json`` (a list of objects, or an object holding that list under "data" or under its
only list-valued key), ``.jsonl`` (one object per line, blank lines ignored) and ``.parquet``
(needs pyarrow, imported only here). Nothing is downloaded.

Formats, each normalized to ``PairRecord(id, subset, prompt, chosen, rejected, system, where)``:

* ``"rm-bench"`` (THU-KEG/RM-Bench): ``{id, prompt, chosen: [str], rejected: [str], domain}``;
  subset = domain, system None. Upstream has 3 + 3 (styles concise, detailed, markdown); any
  equal lengths >= 1 are accepted so that hand-made subsets load too.
* ``"rewardbench"`` (allenai/reward-bench v1): ``{id, prompt, chosen: str, chosen_model,
  rejected: str, rejected_model, subset}``; one chosen, one rejected; the models go to ``extra``.
* ``"multifaceted"`` (kaist-ai/Multifaceted-Bench): ``{source, system, prompt, reference_answer,
  [rubric | rubrics]}``. Not a pairs file: pairs are built, see ``multifaceted_records``.
* ``"dsp"`` (Linear95/DSP): ``{query, responses: {academy, business, entertainment, literature,
  normal}}``; one record per (query, domain D): chosen = (responses[D],), rejected = the other
  four in the order of ``DSP_RESPONSE_KEYS``; subset = D, system None (the runner adds the domain's
  system prompt), id ``f"{key}-{D}"``, ``extra["rejected_domains"]`` names the rejected ones.
* ``"pairs"``: ``{prompt, chosen, rejected, [id], [subset], [system]}``; chosen/rejected a str
  or a non-empty list of str; id defaults to the record's key, subset to "all".

Record keys and locations: a ``.jsonl`` record's key is its 1-based line number and its
location ``"file.jsonl:12"``; a ``.json`` record's key is its 0-based index, ``"file.json[3]"``;
a parquet row's key is its 0-based row, ``"file.parquet row 3"``. Ids given as int are turned
into str.

Auto-detection (``format=None``), on the keys of the first record that is a JSON object:
``query`` and ``responses`` -> dsp; else ``reference_answer`` -> multifaceted; else
``chosen_model`` or ``rejected_model`` -> rewardbench; else ``domain`` with prompt/chosen/rejected
-> rm-bench; else prompt, chosen and rejected -> pairs; else ValueError listing the formats.

Bad records (missing key, wrong type, empty list, invalid JSON line) raise ValueError
"<location>: <what>"; with ``skip_invalid=True`` they are left out and listed in
``LoadResult.skipped``. Duplicate ids always raise (results are keyed by id).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .files import read_rows, type_name
from .records import DSP_RESPONSE_KEYS, PairRecord

FORMATS = ("rm-bench", "rewardbench", "multifaceted", "dsp", "pairs")
DSP_DEFAULT_DOMAINS = DSP_RESPONSE_KEYS[:4]  # the data's order (records and their ids follow it)
MULTIFACETED_PAIRS = ("other-system",)


@dataclass
class LoadResult:
    """What ``load_records`` returns.

    Fields:
        records: the ``PairRecord``s in file order (DSP: one per (row, domain), domains in the
            order given; Multifaceted-Bench: one per row that has a pair).
        skipped: "<location>: <what>" per record left out (``skip_invalid=True``), e.g.
            ``"data.jsonl:7: missing key 'chosen'"``; empty otherwise.
        format: the format used (given or detected), one of ``FORMATS``.
        unpaired: Multifaceted-Bench prompts whose rows all share one system message, so that
            no pair could be built (0 for the other formats).
    """

    records: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    format: str = ""
    unpaired: int = 0


class _Bad(ValueError):
    """A malformed record; the message says what is wrong, the caller adds where."""


def _need(d: dict, name: str):
    if name not in d:
        raise _Bad(f"missing key {name!r}")
    return d[name]


def _str(d: dict, name: str) -> str:
    v = _need(d, name)
    if not isinstance(v, str):
        raise _Bad(f"{name!r} must be a str, got {type_name(v)}")
    return v


def _opt_str(d: dict, name: str, default):
    v = d.get(name)
    if v is None:
        return default
    if not isinstance(v, str):
        raise _Bad(f"{name!r} must be a str or null, got {type_name(v)}")
    return v


def _texts(d: dict, name: str, allow_str: bool = False) -> tuple:
    """A non-empty list of str as a tuple (a lone str too when ``allow_str``)."""
    v = _need(d, name)
    if allow_str and isinstance(v, str):
        return (v,)
    if not isinstance(v, list):
        raise _Bad(f"{name!r} must be a {'str or ' if allow_str else ''}list of str, got {type_name(v)}")
    if not v:
        raise _Bad(f"{name!r} must be a non-empty list of str, got an empty list")
    for i, x in enumerate(v):
        if not isinstance(x, str):
            raise _Bad(f"{name!r}[{i}] must be a str, got {type_name(x)}")
    return tuple(v)


def _ident(d: dict, default: str | None = None) -> str:
    if "id" not in d or d["id"] is None:
        if default is None:
            raise _Bad("missing key 'id'")
        return default
    v = d["id"]
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise _Bad(f"'id' must be a str or int, got {type_name(v)}")
    return str(v)


# ---------------------------------------------------------------------- per-format records
def rm_bench_record(d: dict, key: str, where: str) -> list:
    """One RM-Bench row (THU-KEG/RM-Bench) as a ``PairRecord``: subset = domain, system None.

    Args:
        d: ``{id, prompt, chosen: [str], rejected: [str], domain}``; chosen and rejected of equal
            length k >= 1 (upstream k = 3 styles).
        key: the row's key (unused: RM-Bench rows carry their own id).
        where: the row's location, kept in ``PairRecord.where``.

    Returns:
        ``[PairRecord]`` (one record).

    Raises:
        ValueError: (the private subclass ``_Bad``; ``load_records`` prefixes the location) e.g.
            ``missing key 'domain'``, ``'chosen' must be a non-empty list of str, got an empty list``,
            ``'chosen' and 'rejected' must have equal lengths, got 3 and 2``.
    """
    chosen, rejected = _texts(d, "chosen"), _texts(d, "rejected")
    if len(chosen) != len(rejected):
        raise _Bad(f"'chosen' and 'rejected' must have equal lengths, got {len(chosen)} and {len(rejected)}")
    return [PairRecord(_ident(d), _str(d, "domain"), _str(d, "prompt"), chosen, rejected, None, where)]


def rewardbench_record(d: dict, key: str, where: str) -> list:
    """One RewardBench v1 row (allenai/reward-bench) as a ``PairRecord`` with one chosen, one rejected.

    Args:
        d: ``{id, prompt, chosen: str, chosen_model, rejected: str, rejected_model, subset}``; the
            model names are optional and go to ``extra``.
        key: unused (the row has its own id).
        where: the row's location.

    Returns:
        ``[PairRecord]`` (one record), subset = ``d["subset"]``, system None.

    Raises:
        ValueError: (``_Bad``) e.g. ``missing key 'subset'``, ``'chosen' must be a str, got list``,
            ``'chosen_model' must be a str or null, got int``.
    """
    extra = {"chosen_model": _opt_str(d, "chosen_model", None), "rejected_model": _opt_str(d, "rejected_model", None)}
    return [PairRecord(_ident(d), _str(d, "subset"), _str(d, "prompt"), (_str(d, "chosen"),),
                       (_str(d, "rejected"),), None, where, extra)]


def pairs_record(d: dict, key: str, where: str) -> list:
    """One generic row ``{prompt, chosen, rejected, [id], [subset], [system]}`` as a ``PairRecord``.

    ``chosen``/``rejected``: a str or a non-empty list of str. ``id`` defaults to ``key``,
    ``subset`` to "all", ``system`` to None.

    Returns:
        ``[PairRecord]`` (one record).

    Raises:
        ValueError: (``_Bad``) e.g. ``missing key 'prompt'``, ``'rejected' must be a str or list of
            str, got dict``, ``'id' must be a str or int, got float``.
    """
    return [PairRecord(_ident(d, key), _opt_str(d, "subset", "all"), _str(d, "prompt"),
                       _texts(d, "chosen", allow_str=True), _texts(d, "rejected", allow_str=True),
                       _opt_str(d, "system", None), where)]


def dsp_records(d: dict, key: str, where: str, domains=DSP_DEFAULT_DOMAINS) -> list:
    """One DSP row (Linear95/DSP) as one ``PairRecord`` per domain D in ``domains``.

    Args:
        d: ``{query, responses: {academy, business, entertainment, literature, normal: str}}``.
        key: the row's key; record ids are ``f"{key}-{D}"``.
        where: the row's location.
        domains: the data domains to build records for (a subset of ``DSP_RESPONSE_KEYS``).

    Returns:
        ``[PairRecord] * len(domains)``: subset = D, chosen = (responses[D],), rejected = the other
        four responses in ``DSP_RESPONSE_KEYS`` order (named in ``extra["rejected_domains"]``),
        system None (the runner adds the domain's system prompt).

    Raises:
        ValueError: (``_Bad``) e.g. ``missing key 'query'``, ``'responses' must be an object, got
            list``, ``in 'responses': missing key 'normal'``.
    """
    query, responses = _str(d, "query"), _need(d, "responses")
    if not isinstance(responses, dict):
        raise _Bad(f"'responses' must be an object, got {type_name(responses)}")
    try:
        texts = {k: _str(responses, k) for k in DSP_RESPONSE_KEYS}
    except _Bad as e:
        raise _Bad(f"in 'responses': {e}") from None
    out = []
    for dom in domains:
        others = tuple(k for k in DSP_RESPONSE_KEYS if k != dom)
        out.append(PairRecord(f"{key}-{dom}", dom, query, (texts[dom],), tuple(texts[k] for k in others),
                              None, where, {"rejected_domains": others}))
    return out


def _multifaceted_row(d: dict) -> dict:
    rubric = d.get("rubric", d.get("rubrics"))
    return {"source": _str(d, "source"), "system": _str(d, "system"), "prompt": _str(d, "prompt"),
            "reference_answer": _str(d, "reference_answer"), "rubric": rubric}


def multifaceted_records(rows: list, how: str = "other-system") -> tuple:
    """Pairs from Multifaceted-Bench rows (kaist-ai/Multifaceted-Bench), which hold no pairs themselves.

    The paper does not say how it formed pairs from this benchmark (REFERENCE.md: uncertain).
    ``"other-system"``: rows are grouped by exact prompt text; each row gives one record with
    id = its key, system = its system message, subset = its source, chosen = (its
    reference_answer,), rejected = the reference answers of the rows on the same prompt whose
    system message differs, in file order. A prompt whose rows all share one system message
    (e.g. a single row) gives no record and counts in ``unpaired``.

    Args:
        rows: ``[(key, where, fields)]``, fields = ``{source, system, prompt, reference_answer,
            rubric}`` as checked by ``load_records``.
        how: the construction, one of ``MULTIFACETED_PAIRS``.

    Returns:
        ``(records, unpaired)``: the ``PairRecord``s in file order (``extra``: ``rubric`` and
        ``rejected_from``, the locations of the rejected rows) and the number of unpaired prompts.

    Raises:
        ValueError: ``multifaceted_pairs must be one of ('other-system',), got 'x'``.
    """
    if how not in MULTIFACETED_PAIRS:
        raise ValueError(f"multifaceted_pairs must be one of {MULTIFACETED_PAIRS}, got {how!r}")
    groups = defaultdict(list)
    for row in rows:
        groups[row[2]["prompt"]].append(row)
    unpaired = sum(len({r[2]["system"] for r in g}) < 2 for g in groups.values())
    records = []
    for key, where, f in rows:
        others = [r for r in groups[f["prompt"]] if r[2]["system"] != f["system"]]
        if others:
            extra = {"rubric": f["rubric"], "rejected_from": tuple(r[1] for r in others)}
            records.append(PairRecord(key, f["source"], f["prompt"], (f["reference_answer"],),
                                      tuple(r[2]["reference_answer"] for r in others), f["system"], where, extra))
    return records, unpaired


# ---------------------------------------------------------------------- detection and loading
def detect_format(d: dict) -> str | None:
    """The format a record's keys indicate, or None (rules: module docstring, first match wins).

    Args:
        d: one record (a JSON object).

    Returns:
        "dsp", "multifaceted", "rewardbench", "rm-bench", "pairs" or None.
    """
    if "query" in d and "responses" in d:
        return "dsp"
    if "reference_answer" in d:
        return "multifaceted"
    if "chosen_model" in d or "rejected_model" in d:
        return "rewardbench"
    if {"prompt", "chosen", "rejected"} <= d.keys():
        return "rm-bench" if "domain" in d else "pairs"
    return None


def _detect(rows: list, path: Path) -> str:
    first = next((r for r in rows if isinstance(r.data, dict)), None)
    if first is None:
        raise ValueError(f"{path.name}: no JSON object to detect the format from; pass format= one of {FORMATS}")
    fmt = detect_format(first.data)
    if fmt is None:
        raise ValueError(f"{first.where}: cannot detect the format from keys {sorted(first.data)}; "
                         f"pass format= one of {FORMATS} (see endorm.llm.bench.loaders)")
    return fmt


def _check_ids(records: list) -> None:
    seen = {}
    for r in records:
        if r.id in seen:
            raise ValueError(f"duplicate id {r.id!r} at {seen[r.id]} and {r.where}")
        seen[r.id] = r.where


def load_records(path, format: str | None = None, skip_invalid: bool = False,
                 multifaceted_pairs: str = "other-system", dsp_domains=None) -> LoadResult:
    """Read a local benchmark file into PairRecords (formats, detection, errors: module docstring).

    Args:
        path: a ``.json``, ``.jsonl`` or ``.parquet`` file.
        format: one of ``FORMATS``, or None to detect it from the first JSON object.
        skip_invalid: leave bad records out (listed in ``LoadResult.skipped``) instead of raising.
        multifaceted_pairs: the pair construction for Multifaceted-Bench (``multifaceted_records``).
        dsp_domains: the DSP domains to build records for (default ``DSP_DEFAULT_DOMAINS``:
            academy, business, entertainment, literature), no repeats.

    Returns:
        a ``LoadResult`` (records, skipped, format, unpaired).

    Raises:
        FileNotFoundError: ``benchmark file not found: <path>``.
        ImportError: a ``.parquet`` file without pyarrow installed.
        ValueError: a bad argument (``format must be one of (...) or None, got 'x'``); an unknown
            extension; a ``.json`` file that is not valid JSON or holds no list of records; an
            undetectable format (``<location>: cannot detect the format from keys [...]``); a bad
            record, ``"<location>: <what>"`` (e.g. ``data.jsonl:12: missing key 'chosen'``) unless
            ``skip_invalid``; a duplicate id (``duplicate id 'x' at <location> and <location>``,
            always).
    """
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS} or None, got {format!r}")
    domains = tuple(DSP_DEFAULT_DOMAINS if dsp_domains is None else dsp_domains)
    if not domains or len(set(domains)) < len(domains) or any(dom not in DSP_RESPONSE_KEYS for dom in domains):
        raise ValueError(f"dsp_domains must be a non-empty subset (no repeats) of {DSP_RESPONSE_KEYS}, got "
                         f"{dsp_domains!r}")
    if multifaceted_pairs not in MULTIFACETED_PAIRS:
        raise ValueError(f"multifaceted_pairs must be one of {MULTIFACETED_PAIRS}, got {multifaceted_pairs!r}")
    rows = read_rows(path)
    fmt = format or _detect(rows, path)
    convert = {"rm-bench": rm_bench_record, "rewardbench": rewardbench_record, "pairs": pairs_record,
               "dsp": lambda d, k, w: dsp_records(d, k, w, domains),
               "multifaceted": lambda d, k, w: [(k, w, _multifaceted_row(d))]}[fmt]
    out, skipped = [], []
    for row in rows:
        try:
            if row.data is None and row.error:
                raise _Bad(row.error)
            if not isinstance(row.data, dict):
                raise _Bad(f"record must be a JSON object, got {type_name(row.data)}")
            out.extend(convert(row.data, row.key, row.where))
        except _Bad as e:
            if not skip_invalid:
                raise ValueError(f"{row.where}: {e}") from None
            skipped.append(f"{row.where}: {e}")
    unpaired = 0
    if fmt == "multifaceted":
        out, unpaired = multifaceted_records(out, multifaceted_pairs)
    _check_ids(out)
    return LoadResult(out, skipped, fmt, unpaired)
