"""Load local benchmark files as ``PairRecord`` lists (RM-Bench, RewardBench v1, Multifaceted-Bench, DSP).

Files: ``.json`` (a list of objects, or an object holding it under "data" or its only list-valued
key), ``.jsonl`` (one object per line, blank lines ignored), ``.parquet`` (needs pyarrow). Nothing is
downloaded. Formats (``FORMATS``; each one's function documents its fields and its records):

* ``"rm-bench"`` (THU-KEG/RM-Bench, ``rm_bench_record``): subset = the domain, from ``domain=``, else
  the record's ``domain`` (Hugging Face ``total_dataset.json``), else the file name (GitHub's
  ``chat_filtered.json`` -> "chat", ``rm_bench_domain_from_name``).
* ``"rewardbench"`` (allenai/reward-bench v1, ``rewardbench_record``).
* ``"multifaceted"`` (kaist-ai/Multifaceted-Bench): pairs are built, see ``multifaceted_records``.
* ``"dsp"`` (Linear95/DSP ``domain_specific_preference``, ``dsp_records``): one record per (query, domain).
* ``"text-score"`` (Linear95/DSP ``helpful``/``harmless``/``webgpt``, ``dialogue.text_score_record``):
  ``{text: [dialogue, dialogue], score: [s, s]}``; prompt = the shared turns as chat messages, the
  higher score chosen, subset = the file's stem (``files.file_stem``), id = the row index. Ties (equal
  scores) are left out, as reward-model accuracies do, and counted in ``LoadResult.ties``.
* ``"pairs"`` (``pairs_record``): ``{prompt, chosen, rejected, [id], [subset], [system]}``; prompt a str
  or a list of chat messages.

Locations: a ``.jsonl`` record's key is its 1-based line and it is named ``"file.jsonl:12"``; a
``.json`` record's key is its 0-based index, ``"file.json[3]"``; parquet ``"file.parquet row 3"``.

Detection (``format=None``): per file, on its first JSON object, by keys and value types
(``candidate_formats``). RM-Bench-shaped rows (chosen and rejected lists of 3) without a ``domain``
are rm-bench if the file name or ``domain=`` gives a domain, else a ValueError ("ambiguous layout")
naming the candidates, the keys and the flags that settle it; no fit: a ValueError listing the
formats and the keys. Never a silent fallback.

Several files (``load_records([a, b])``): each is detected on its own; all must give one format. If an
id occurs in two files, every id becomes ``"<file stem>/<id>"`` (e.g. ``"chat_filtered/8"``).

Bad records raise ValueError ``"<location>: <what>"``; with ``skip_invalid=True`` they are left out and
listed in ``LoadResult.skipped``. Duplicate ids always raise (results are keyed by id).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .dialogue import text_score_record
from .multifaceted import MULTIFACETED_PAIRS, multifaceted_records, multifaceted_row
from .files import (RM_BENCH_DOMAINS, RecordError, chat_messages, file_stem, ident, need, opt_str, prefix_ids,
                    read_rows, req_str, rm_bench_domain_from_name, texts, type_name)
from .records import DSP_RESPONSE_KEYS, PairRecord

FORMATS = ("rm-bench", "rewardbench", "multifaceted", "dsp", "text-score", "pairs")
DSP_DEFAULT_DOMAINS = DSP_RESPONSE_KEYS[:4]  # the data's order (records and their ids follow it)


@dataclass
class LoadResult:
    """What ``load_records`` returns.

    Fields:
        records: the ``PairRecord``s in file order (files in the order given).
        skipped: "<location>: <what>" per record left out (``skip_invalid=True``), e.g.
            ``"data.jsonl:7: missing key 'chosen'"``; empty otherwise.
        format: the format used (given or detected), one of ``FORMATS``.
        unpaired: Multifaceted-Bench prompts whose rows all share one system message, so that
            no pair could be built (0 for the other formats).
        ties: "text-score" rows left out because both dialogues have the same score (0 otherwise).
    """

    records: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    format: str = ""
    unpaired: int = 0
    ties: int = 0


# ---------------------------------------------------------------------- per-format records
def rm_bench_record(d: dict, key: str, where: str, domain: str | None = None,
                    default_domain: str | None = None) -> list:
    """One RM-Bench row (THU-KEG/RM-Bench) as a ``PairRecord``: subset = its domain, system None.

    Args:
        d: ``{id, prompt, chosen: [str], rejected: [str], [domain]}``; chosen and rejected of equal
            length k >= 1 (upstream k = 3 styles). Other keys go to ``extra`` (GitHub's ``subset``
            "alpacaeval" as ``extra["subset"]``; the row's own ``domain`` when ``domain`` overrides it).
        key: the row's key (unused: RM-Bench rows carry their own id).
        where: the row's location, kept in ``PairRecord.where``.
        domain: the domain for every row (``--domain``), overriding the row's.
        default_domain: the domain of a row without one (from the file name).

    Returns:
        ``[PairRecord]`` (one record).

    Raises:
        ValueError: (``RecordError``; ``load_records`` prefixes the location) e.g. ``missing key
            'domain' (...)``, ``'chosen' must be a non-empty list of str, got an empty list``,
            ``'chosen' and 'rejected' must have equal lengths, got 3 and 2``.
    """
    chosen, rejected = texts(d, "chosen"), texts(d, "rejected")
    if len(chosen) != len(rejected):
        raise RecordError(f"'chosen' and 'rejected' must have equal lengths, got {len(chosen)} and {len(rejected)}")
    rid, own = ident(d), opt_str(d, "domain", None)
    dom = domain or own or default_domain
    if dom is None:
        raise RecordError(f"missing key 'domain' (and the file name names none of {RM_BENCH_DOMAINS}: pass "
                          "domain= / --domain)")
    extra = {k: v for k, v in d.items() if k not in ("id", "prompt", "chosen", "rejected", "domain")}
    if domain and own is not None and own != domain:
        extra["domain"] = own
    return [PairRecord(rid, dom, req_str(d, "prompt"), chosen, rejected, None, where, extra)]


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
        ValueError: (``RecordError``) e.g. ``missing key 'subset'``, ``'chosen' must be a str, got list``,
            ``'chosen_model' must be a str or null, got int``.
    """
    extra = {"chosen_model": opt_str(d, "chosen_model", None), "rejected_model": opt_str(d, "rejected_model", None)}
    return [PairRecord(ident(d), req_str(d, "subset"), req_str(d, "prompt"), (req_str(d, "chosen"),),
                       (req_str(d, "rejected"),), None, where, extra)]


def pairs_record(d: dict, key: str, where: str) -> list:
    """One generic row ``{prompt, chosen, rejected, [id], [subset], [system]}`` as a ``PairRecord``.

    ``prompt``: a str, or a list of chat messages (``files.chat_messages``: roles system/user/assistant,
    str content, the last a user turn), kept as a tuple of ``{"role", "content"}`` dicts.
    ``chosen``/``rejected``: a str or a non-empty list of str. ``id`` defaults to ``key``, ``subset``
    to "all", ``system`` to None.

    Returns:
        ``[PairRecord]`` (one record).

    Raises:
        ValueError: (``RecordError``) e.g. ``missing key 'prompt'``, ``'rejected' must be a str or list
            of str, got dict``, ``'prompt'[1]: role must be one of (...), got 'bot'``, ``'system' is
            given both as a key and as a system message in 'prompt'``.
    """
    prompt, system = need(d, "prompt"), opt_str(d, "system", None)
    if isinstance(prompt, list):
        prompt = chat_messages(prompt, "prompt")
        if system is not None and any(m["role"] == "system" for m in prompt):
            raise RecordError("'system' is given both as a key and as a system message in 'prompt'")
    elif not isinstance(prompt, str):
        raise RecordError(f"'prompt' must be a str or a list of messages, got {type_name(prompt)}")
    return [PairRecord(ident(d, key), opt_str(d, "subset", "all"), prompt, texts(d, "chosen", allow_str=True),
                       texts(d, "rejected", allow_str=True), system, where)]


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
        ValueError: (``RecordError``) e.g. ``missing key 'query'``, ``'responses' must be an object, got
            list``, ``in 'responses': missing key 'normal'``.
    """
    query, responses = req_str(d, "query"), need(d, "responses")
    if not isinstance(responses, dict):
        raise RecordError(f"'responses' must be an object, got {type_name(responses)}")
    try:
        by_key = {k: req_str(responses, k) for k in DSP_RESPONSE_KEYS}
    except RecordError as e:
        raise RecordError(f"in 'responses': {e}") from None
    out = []
    for dom in domains:
        others = tuple(k for k in DSP_RESPONSE_KEYS if k != dom)
        out.append(PairRecord(f"{key}-{dom}", dom, query, (by_key[dom],), tuple(by_key[k] for k in others),
                              None, where, {"rejected_domains": others}))
    return out


# ---------------------------------------------------------------------- detection and loading
def candidate_formats(d: dict) -> tuple:
    """The formats one record fits, by its keys and value types; the first rule that matches wins.

    ``query`` and ``responses`` -> dsp; ``reference_answer`` -> multifaceted; ``chosen_model`` or
    ``rejected_model`` -> rewardbench; ``text`` and ``score`` -> text-score if they are lists of 2 str
    and 2 numbers, else none; prompt/chosen/rejected -> rm-bench with a non-null ``domain``, both
    formats with chosen and rejected lists of 3, else pairs.

    Args:
        d: one record (a JSON object).

    Returns:
        one format; ``("rm-bench", "pairs")`` for prompt/chosen/rejected with chosen and rejected
        lists of 3 and no ``domain`` (``load_records`` settles it by the file name or ``domain=``);
        or ``()`` when none fits.
    """
    if "query" in d and "responses" in d:
        return ("dsp",)
    if "reference_answer" in d:
        return ("multifaceted",)
    if "chosen_model" in d or "rejected_model" in d:
        return ("rewardbench",)
    if "text" in d and "score" in d:
        t, s = d["text"], d["score"]
        ok = (isinstance(t, list) and len(t) == 2 and all(isinstance(x, str) for x in t) and isinstance(s, list)
              and len(s) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in s))
        return ("text-score",) if ok else ()
    if {"prompt", "chosen", "rejected"} <= d.keys():
        if d.get("domain") is not None:
            return ("rm-bench",)
        c, r = d["chosen"], d["rejected"]
        return ("rm-bench", "pairs") if isinstance(c, list) and isinstance(r, list) and len(c) == len(r) == 3 \
            else ("pairs",)
    return ()


def _detect(rows: list, path: Path, domain: str | None) -> str:
    first = next((r for r in rows if isinstance(r.data, dict)), None)
    if first is None:
        bad = next((r for r in rows if r.error), None)  # the real problem, not "cannot detect"
        raise ValueError(f"{bad.where}: {bad.error}" if bad else f"{path.name}: no JSON object to detect the format "
                         f"from (the file holds no records); pass format= (--format) one of {FORMATS}")
    found, keys = candidate_formats(first.data), sorted(first.data)
    if not found:
        hint = (" ('text-score' needs 'text' a list of 2 str and 'score' a list of 2 numbers)"
                if {"text", "score"} <= first.data.keys() else "")
        raise ValueError(f"{first.where}: cannot detect the format from keys {keys}{hint}; pass format= (--format) "
                         f"one of {FORMATS}")
    if len(found) == 1 or domain or rm_bench_domain_from_name(path):
        return found[0]
    raise ValueError(f"{first.where}: ambiguous layout: keys {keys} with 3 chosen and 3 rejected fit formats "
                     f"{list(found)}; rm-bench needs a domain (no 'domain' key, and the file name names none of "
                     f"{RM_BENCH_DOMAINS}): pass domain= (--domain) for rm-bench, or format= (--format) 'pairs'")


def _check_ids(records: list) -> None:
    seen = {}
    for r in records:
        if r.id in seen:
            raise ValueError(f"duplicate id {r.id!r} at {seen[r.id]} and {r.where}")
        seen[r.id] = r.where


def _check_args(paths: list, format, dsp_domains, multifaceted_pairs: str, domain) -> tuple:
    """The DSP domains as a tuple, after checking every argument."""
    if not paths:
        raise ValueError("no benchmark file given")
    resolved = [p.resolve() for p in paths]
    twice = next((p for i, p in enumerate(paths) if resolved[i] in resolved[:i]), None)
    if twice is not None:
        raise ValueError(f"{twice} is given twice")
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS} or None, got {format!r}")
    if domain is not None and domain not in RM_BENCH_DOMAINS:
        raise ValueError(f"domain must be one of {RM_BENCH_DOMAINS} or None, got {domain!r}")
    domains = tuple(DSP_DEFAULT_DOMAINS if dsp_domains is None else dsp_domains)
    if not domains or len(set(domains)) < len(domains) or any(dom not in DSP_RESPONSE_KEYS for dom in domains):
        raise ValueError(f"dsp_domains must be a non-empty subset (no repeats) of {DSP_RESPONSE_KEYS}, got "
                         f"{dsp_domains!r}")
    if multifaceted_pairs not in MULTIFACETED_PAIRS:
        raise ValueError(f"multifaceted_pairs must be one of {MULTIFACETED_PAIRS}, got {multifaceted_pairs!r}")
    return domains


def _load_file(path: Path, rows: list, fmt: str, skip_invalid: bool, opts: dict) -> LoadResult:
    """One file's records (``opts``: dsp_domains, domain, multifaceted_pairs)."""
    name_domain, subset = rm_bench_domain_from_name(path), file_stem(path)
    convert = {"rm-bench": lambda d, k, w: rm_bench_record(d, k, w, opts["domain"], name_domain),
               "rewardbench": rewardbench_record, "pairs": pairs_record,
               "dsp": lambda d, k, w: dsp_records(d, k, w, opts["dsp_domains"]),
               "text-score": lambda d, k, w: text_score_record(d, k, w, subset),
               "multifaceted": lambda d, k, w: [(k, w, multifaceted_row(d))]}[fmt]
    out, skipped, ties = [], [], 0
    for row in rows:
        try:
            if row.data is None and row.error:
                raise RecordError(row.error)
            if not isinstance(row.data, dict):
                raise RecordError(f"record must be a JSON object, got {type_name(row.data)}")
            got = convert(row.data, row.key, row.where)
        except RecordError as e:
            if not skip_invalid:
                raise ValueError(f"{row.where}: {e}") from None
            skipped.append(f"{row.where}: {e}")
            continue
        ties += not got  # only a text-score tie gives no record
        out.extend(got)
    unpaired = 0
    if fmt == "multifaceted":
        out, unpaired = multifaceted_records(out, opts["multifaceted_pairs"])
    _check_ids(out)
    return LoadResult(out, skipped, fmt, unpaired, ties)


def _merge(paths: list, results: list) -> LoadResult:
    """Several files' results as one (ids: ``files.prefix_ids``)."""
    records = prefix_ids([(p, res.records) for p, res in zip(paths, results)])
    _check_ids(records)
    return LoadResult(records, [s for res in results for s in res.skipped], results[0].format,
                      sum(res.unpaired for res in results), sum(res.ties for res in results))


def load_records(path, format: str | None = None, skip_invalid: bool = False,
                 multifaceted_pairs: str = "other-system", dsp_domains=None, domain: str | None = None,
                 limit: int | None = None) -> LoadResult:
    """Read local benchmark files into PairRecords (formats, detection, errors: module docstring).

    Args:
        path: a ``.json``, ``.jsonl`` or ``.parquet`` file, or a list of them (one run over all: each
            detected on its own, all of one format; ids prefixed ``"<stem>/"`` if two files share one).
        format: one of ``FORMATS``, or None to detect it per file from its first JSON object.
        skip_invalid: leave bad records out (listed in ``LoadResult.skipped``) instead of raising.
        multifaceted_pairs: the pair construction for Multifaceted-Bench (``multifaceted_records``).
        dsp_domains: the DSP domains to build records for (default ``DSP_DEFAULT_DOMAINS``:
            academy, business, entertainment, literature), no repeats.
        domain: the RM-Bench domain of every record (one of ``RM_BENCH_DOMAINS``; overrides the
            records' own); only for format "rm-bench" (it also settles detection). A file whose name
            names another domain is an error.
        limit: keep the first ``limit`` records of each file (None: all); with several files every
            file contributes, so a limited RM-Bench run still fills every domain of the table.

    Returns:
        a ``LoadResult`` (records, skipped, format, unpaired, ties).

    Raises:
        FileNotFoundError: ``benchmark file not found: <path>``.
        ImportError: a ``.parquet`` file without pyarrow installed.
        ValueError: a bad argument (``format must be one of (...) or None, got 'x'``, ``domain must
            be one of ...``, a file given twice, no file); an unknown extension; a ``.json`` file that
            is not valid JSON or holds no list of records; an undetectable format (``<location>:
            cannot detect the format from keys [...]``) or an ambiguous one (``<location>: ambiguous
            layout: ...``); ``domain=`` with another format; files of different formats (``a.json is
            format 'pairs' but b.json is 'rm-bench' ...``); a bad record, ``"<location>: <what>"``
            (e.g. ``data.jsonl:12: missing key 'chosen'``) unless ``skip_invalid``; a duplicate id
            (``duplicate id 'x' at <location> and <location>``, always).
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be None or an integer >= 1, got {limit!r}")
    paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    opts = {"dsp_domains": _check_args(paths, format, dsp_domains, multifaceted_pairs, domain),
            "domain": domain, "multifaceted_pairs": multifaceted_pairs}
    files = []
    for p in paths:
        rows = read_rows(p)
        fmt = format or _detect(rows, p, domain)
        if domain is not None and fmt != "rm-bench":
            raise ValueError(f"{p.name}: domain= (--domain) is for format 'rm-bench', and this file is {fmt!r}")
        if domain is not None and rm_bench_domain_from_name(p) not in (None, domain):
            raise ValueError(f"--domain {domain} contradicts the file name {p.name} (domain "
                             f"{rm_bench_domain_from_name(p)!r}); leave --domain out for files named by domain")
        if files and fmt != files[0][2]:
            raise ValueError(f"{files[0][0].name} is format {files[0][2]!r} but {p.name} is {fmt!r}: files loaded "
                             "together must have one format")
        files.append((p, rows, fmt))
    results = [_load_file(p, rows, fmt, skip_invalid, opts) for p, rows, fmt in files]
    if limit is not None:
        for res in results:
            res.records = res.records[:limit]
    return results[0] if len(results) == 1 else _merge(paths, results)
