"""Benchmark: ``endorm bench`` and ``endorm eval-math`` on every real benchmark file, per file.

Usage::

    python benchmarks/real_files.py [--shared DIR] [--work DIR] [--limit 4] [--max-new-tokens 16]
                                    [--hidden 16] [--layers 2] [--context 8192] [--seed 0] [--device cpu]
                                    [--launch {spawn,fork}] [--parallel 1] [--quick] [--json PATH] [--quiet]

Files, under ``--shared`` (default ``$ENDORM_SHARED``, else ``../shared`` beside the repository; nothing
is copied into the repository): ``data/rm-bench/{chat,code,safety-refuse,safety-response}_filtered.json``,
``data/dsp/{domain_specific_preference,helpful,harmless,webgpt}.test.json``, ``data/math500/test.jsonl``,
``data/qwen25-math-eval/{aime24,amc23,minerva_math,olympiadbench}/test.jsonl`` and the tokenizer
``tokenizers/qwen2.5``. One missing: exit status 2 and one line.

Model: ``endorm.llm.testing.save_tiny_qwen`` (random Qwen2 architecture, ``--hidden``, ``--layers``,
seed ``--seed``; the real Qwen2.5 tokenizer and its 151,665 ids; ``--context`` >= 8192 positions),
float32, in ``--work`` (default: a temporary folder, deleted at the end).

Jobs, each one command of the real CLI (``endorm.cli.main(argv)``) in a process of its own; bench jobs
with ``--methods endorm,verifier,pointwise,pairwise --skip-invalid --truncate``, all with ``--device``:

* RM-Bench: each file on its own (the per-file numbers), then the four in ONE run (``--data`` with
  four files; Table 1's layout: Chat, Math, Code, Safety; Easy, Normal, Hard; Math empty, RM-Bench's
  math file not being here), so RM-Bench's records are scored twice.
* DSP ``domain_specific_preference`` with ``--domain-prompts`` (Table 2's 4x4 matrix); a row of it is
  4 records (one per domain), so its limit is N rounded up to a multiple of 4. The four system
  prompts (``DOMAIN_PROMPTS``) are OUR wording, not the paper's.
* DSP helpful, harmless, webgpt (format "text-score": multi-turn prompts, detected by the CLI).
* ``endorm eval-math --k 1 --max-new-tokens M`` on each math file.

``--limit N``: records per file (the CLI's ``--limit``, which counts per data file; 0 = all). Every
file's full record count and detected format come from ``endorm.llm.bench.loaders.load_records`` and
``endorm.llm.math.data.load_problems``. Measured per job:

* wall s: ``time.perf_counter`` around the job's process, start to exit: imports, length check, model
  load, scoring, report. ``--launch spawn`` (default) starts ``python -c`` per job, as a user's command;
  ``fork`` (``--quick``) forks it from a process that imported torch, transformers and endorm, so the
  imports (~10 s here) are left out; ``--parallel P`` runs P jobs at once (``--quick``: 2; timings then
  share the CPUs: a smoke test, not a measurement).
* after-load s: from ``endorm.llm.base.load_model_and_tokenizer`` returning (timed inside the job) to
  the command's end: scoring (eval-math: generating and grading) and the report.
* peak RSS MB: ``ru_maxrss`` of the job from ``os.wait4`` (the larger of the job's and its waited-for
  children's, e.g. grading workers; not a sum). A launcher started while this process is small starts
  the jobs, since ``ru_maxrss`` carries a parent's resident set across fork and exec.
* items: bench: from ``scores.jsonl``, each response scored by endorm, verifier or pointwise, each
  (chosen, rejected) pair compared by pairwise, under every condition (DSP: 4 system prompts); eval-math:
  samples (problems x k).
* tokens: bench: the length of every sequence a method runs, as ``endorm.llm.bench.lengths`` measures
  it (EndoRM: the chat-template text through the response's end token, at most the context; a judge:
  its rendered prompt; pairwise: both orders), a shared prompt counted with each response; eval-math:
  the completions, re-tokenized (about the tokens generated).
* items/s, tokens/s = items, tokens / wall s (the JSON also has them per after-load s).

Output: a table, one row per job (file, format, records in the file, scored, left out, ties, items,
wall s, after-load s, items/s, tokens/s, peak RSS MB), then the RM-Bench table and the DSP matrices from
the runs' ``results.md``; ``--json PATH`` writes every number, the reports, the settings and the versions,
atomically. Exit status 0, or 1 if a job failed. The default run (``--limit 4``) takes about 4 minutes on
2 idle CPU cores (over 10 with ``--limit 8`` on a busy machine); each job stays under 1 GB.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as C  # noqa: E402

from endorm.llm.bench.records import DSP_DOMAIN_PROMPTS  # noqa: E402
from _jobs import Launcher  # noqa: E402

METHODS = "endorm,verifier,pointwise,pairwise"
RM_BENCH = tuple(f"data/rm-bench/{d}_filtered.json" for d in ("chat", "code", "safety-refuse", "safety-response"))
DSP_DOMAIN = "data/dsp/domain_specific_preference.test.json"
TEXT_SCORE = tuple(f"data/dsp/{n}.test.json" for n in ("helpful", "harmless", "webgpt"))
MATH = ("data/math500/test.jsonl",) + tuple(
    f"data/qwen25-math-eval/{n}/test.jsonl" for n in ("aime24", "amc23", "minerva_math", "olympiadbench"))
TOKENIZER = "tokenizers/qwen2.5"
COMBINED = "rm-bench (4 files, one run)"
#: OUR wording of a system prompt per DSP domain (the paper's prompts are not used here).
DOMAIN_PROMPTS = DSP_DOMAIN_PROMPTS  # our wording, not the paper's (endorm.llm.bench.records)
DEFAULTS = dict(limit=4, max_new_tokens=16, layers=2, launch="spawn", parallel=1)
QUICK = dict(limit=2, max_new_tokens=4, layers=1, launch="fork", parallel=2)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=None, help="the shared folder (default $ENDORM_SHARED or ../shared)")
    p.add_argument("--work", type=Path, default=None, help="keep the model and the runs here (default: a temp dir)")
    p.add_argument("--limit", type=int, default=None, help="records per file, 0 = all (default 4; --quick 2)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="eval-math tokens per answer (default 16)")
    p.add_argument("--hidden", type=int, default=16, help="hidden size of the tiny Qwen2 model (default 16)")
    p.add_argument("--layers", type=int, default=None, help="its layers (default 2; --quick 1)")
    p.add_argument("--context", type=int, default=8192, help="its max_position_embeddings, >= 8192 (default 8192)")
    p.add_argument("--seed", type=int, default=0, help="seed of its weights (default 0)")
    p.add_argument("--device", default="cpu", help="--device of every command (default cpu)")
    p.add_argument("--launch", choices=("spawn", "fork"), default=None,
                   help="spawn: python per job (default); fork: jobs forked after the imports (--quick)")
    p.add_argument("--parallel", type=int, default=None, help="jobs at once (default 1; --quick 2)")
    p.add_argument("--quick", action="store_true", help="smoke-test size: 2 records per file, 4 new tokens, 1 layer")
    C.output_flags(p, None)
    args = p.parse_args(argv)
    C.fill_defaults(args, QUICK if args.quick else DEFAULTS)
    args.shared = args.shared or C.shared_dir()
    args.strict = False
    if args.limit < 0 or min(args.max_new_tokens, args.hidden - 1, args.layers, args.parallel) < 1:
        p.error("--limit must be >= 0; --max-new-tokens, --layers, --parallel >= 1; --hidden >= 2")
    if args.context < 8192:
        p.error("--context must be >= 8192")
    return args


def missing(shared: Path) -> list:
    """The real files (and the tokenizer) absent under ``shared``."""
    return [r for r in (*RM_BENCH, DSP_DOMAIN, *TEXT_SCORE, *MATH, TOKENIZER) if not (shared / r).exists()]


# ---------------------------------------------------------------------- the jobs
def jobs(args, work: Path, model: Path) -> list:
    """Every job: {"name", "kind", "files" (rel. to --shared), "data" (paths), "limit", "argv", "out"}."""
    (work / "domain_prompts.json").write_text(json.dumps(DOMAIN_PROMPTS, indent=1))
    common = ["--model", str(model), "--methods", METHODS, "--skip-invalid", "--truncate", "--device", args.device,
              "--no-progress"]
    specs = [(f, [f], args.limit, []) for f in RM_BENCH] + [(COMBINED, list(RM_BENCH), args.limit, [])]
    specs.append((DSP_DOMAIN, [DSP_DOMAIN], -(-args.limit // 4) * 4,  # whole rows: 4 domains each
                  ["--domain-prompts", str(work / "domain_prompts.json")]))
    specs += [(f, [f], args.limit, []) for f in TEXT_SCORE] + [(f, [f], args.limit, None) for f in MATH]
    out = []
    for i, (name, files, limit, extra) in enumerate(specs):
        d, data = work / "runs" / f"{i:02d}", [str(args.shared / f) for f in files]
        job = {"name": name, "kind": "bench" if extra is not None else "math", "files": files, "data": data,
               "limit": limit or None, "out": str(d)}
        lim = ["--limit", str(limit)] if limit else []
        job["argv"] = ["bench", "--data", *data, "--out", str(d), *common, *lim, *extra] if extra is not None else \
            ["eval-math", "--model", str(model), "--data", data[0], "--out", str(d), "--k", "1", "--max-new-tokens",
             str(args.max_new_tokens), "--device", args.device, "--no-progress", *lim]
        out.append(job)
    return out


def _file_info(shared: Path) -> dict:
    """{file: {"format", "records", "ties", "skipped"}} for every file, read whole."""
    from endorm.llm.bench.loaders import load_records
    from endorm.llm.math.data import load_problems

    out = {}
    for f in (*RM_BENCH, DSP_DOMAIN, *TEXT_SCORE):
        r = load_records(shared / f, skip_invalid=True)
        out[f] = {"format": r.format, "records": len(r.records), "ties": r.ties, "skipped": len(r.skipped)}
    for f in MATH:
        problems, fmt = load_problems(shared / f)
        out[f] = {"format": fmt, "records": len(problems), "ties": 0, "skipped": 0}
    return out


# ---------------------------------------------------------------------- counting what was scored
class Counter:
    """Items and tokens of a finished job (module docstring), with the model's tokenizer."""

    def __init__(self, model: Path, context: int):
        from transformers import AutoTokenizer

        from endorm.llm.base import ensure_pad_token
        from endorm.llm.bench.lengths import LengthChecker
        from endorm.llm.options import RewardOptions

        self.tok = AutoTokenizer.from_pretrained(model, local_files_only=True)
        ensure_pad_token(self.tok)
        self.context = context
        self.checker = LengthChecker(self.tok, context, METHODS.split(","), RewardOptions(truncate=True))

    def _n(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=not self.checker.templated)["input_ids"])

    def sequences(self, method: str, r, system) -> list:
        """Token counts of the sequences ``method`` runs for record ``r`` under ``system``."""
        from endorm.llm.templates import encode

        responses = list(r.chosen) + list(r.rejected)
        if method == "endorm":
            return [min(encode(self.tok, r.prompt, x, system, self.checker.template, True).end, self.context)
                    for x in responses]
        judge = self.checker.judges[method]
        if method == "pairwise":
            return [self._n(judge.render(r.prompt, a, b, system))
                    for c in r.chosen for x in r.rejected for a, b in ((x, c), (c, x))]
        extra = 1 if method == "pointwise" and judge.score_tokens.split else 0
        return [self._n(judge.render(r.prompt, x, system)) + extra for x in responses]

    def bench(self, job: dict) -> dict:
        """{"items", "sequences", "tokens"} of a bench job, from its scores.jsonl and run.json."""
        from endorm.llm.bench.loaders import load_records

        out = Path(job["out"])
        conditions = json.loads((out / "run.json").read_text())["conditions"]
        records = {r.id: r for r in load_records(job["data"], skip_invalid=True, limit=job["limit"]).records}
        items = seqs = tokens = 0
        for line in (out / "scores.jsonl").read_text().splitlines():
            d = json.loads(line)
            r, system = records[d["id"]], conditions[d["condition"]]
            if d["method"] == "pairwise":
                items += sum(len(row) for row in d["prefs"])
            else:
                items += len(d["chosen"]) + len(d["rejected"])
            n = self.sequences(d["method"], r, r.system if system is None else system)
            seqs, tokens = seqs + len(n), tokens + sum(n)
        return {"items": items, "sequences": seqs, "tokens": tokens}

    def math(self, job: dict) -> dict:
        """{"items", "sequences", "tokens"} of an eval-math job: samples, and their re-tokenized completions."""
        rows = [json.loads(s) for s in (Path(job["out"]) / "samples.jsonl").read_text().splitlines() if s.strip()]
        texts = [t for d in rows for t in d["completions"]]
        tokens = sum(len(self.tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
        return {"items": len(texts), "sequences": len(texts), "tokens": tokens}


def _report(job: dict) -> dict:
    """What the job's own output says: records scored, left out, and its report text."""
    out = Path(job["out"])
    res = json.loads((out / "results.json").read_text())
    if job["kind"] == "math":
        return {"scored": res["problems"], "left_out": 0, "report": None, "metrics": {
            k: res[k] for k in ("avg@k", "pass@1", "no_answer", "timeouts", "errors")}}
    return {"scored": res["n_records"], "left_out": len(res["left_out"]), "report": (out / "results.md").read_text()}


def _row(job: dict, stats: dict, info: dict, counter) -> dict:
    """One job's numbers (module docstring)."""
    row = {k: job[k] for k in ("name", "kind", "files", "argv")}
    row.update(rc=stats["rc"], wall_s=stats["wall_s"], peak_rss_mb=stats["peak_rss_mb"],
               load_s=stats.get("loaded_s"), format=info[job["files"][0]]["format"],
               records_in_file=sum(info[f]["records"] for f in job["files"]),
               ties=sum(info[f]["ties"] for f in job["files"]))
    row["after_load_s"] = stats["end_s"] - stats["loaded_s"] if "loaded_s" in stats and "end_s" in stats else None
    if stats["rc"] != 0:
        row["error"] = Path(job["out"] + ".log").read_text()[-3000:]
        return row
    row.update(_report(job))
    row.update(counter.math(job) if job["kind"] == "math" else counter.bench(job))
    for what in ("items", "tokens"):
        row[f"{what}_per_s"] = C.ratio(row[what], row["wall_s"])
        row[f"{what}_per_s_after_load"] = C.ratio(row[what], row["after_load_s"]) if row["after_load_s"] else None
    return row


def run(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="endorm-real-files-") as tmp:
        return _run(args, (args.work or Path(tmp)).resolve())


def _run(args, work: Path) -> dict:
    t0, q = time.perf_counter(), args.quiet
    work.mkdir(parents=True, exist_ok=True)
    launcher, model = Launcher(args.launch, args.parallel), work / "model"
    try:
        build = {"path": str(model), "tokenizer_dir": str(args.shared / TOKENIZER), "seed": args.seed,
                 "hidden": args.hidden, "layers": args.layers, "max_positions": args.context}
        if launcher.run([{"kind": "build", "build": build, "marks": str(work / "build.marks"),
                          "log": str(work / "build.log")}])[0]["rc"]:
            raise RuntimeError(f"building the model failed: {(work / 'build.log').read_text()[-2000:]}")
        shutil.rmtree(work / "runs", ignore_errors=True)  # a bench run in a used folder would resume, not score
        (work / "runs").mkdir()
        todo = [{**j, "marks": j["out"] + ".marks", "log": j["out"] + ".log"} for j in jobs(args, work, model)]
        _log(f"{len(todo)} jobs, {args.parallel} at a time, launch {args.launch}", q)
        launcher.submit(todo)
        info, counter = _file_info(args.shared), Counter(model, args.context)  # while the jobs run
        stats = launcher.collect(todo, lambda j, s: _log(f"{j['name']}: status {s['rc']}, {s['wall_s']:.1f} s", q))
    finally:
        launcher.close()
    rows = [_row(job, st, info, counter) for job, st in zip(todo, stats)]
    combined = next(r for r in rows if r["name"] == COMBINED)
    dsp = next(r for r in rows if r["name"] == DSP_DOMAIN)
    return {"config": {"shared": str(args.shared), "limit": args.limit, "max_new_tokens": args.max_new_tokens,
                       "model": "Qwen2ForCausalLM (random init, save_tiny_qwen)", "hidden": args.hidden,
                       "layers": args.layers, "context": args.context, "seed": args.seed, "device": args.device,
                       "launch": args.launch, "parallel": args.parallel, "quick": args.quick, "methods": METHODS,
                       "domain_prompts": DOMAIN_PROMPTS, "cpus": C.cpus()},
            "files": {f: {**d, "job": next(r["name"] for r in rows if r["files"] == [f])} for f, d in info.items()},
            "jobs": rows, "rm_bench_table": combined.get("report"), "dsp_matrix": dsp.get("report"),
            "ok": all(r["rc"] == 0 for r in rows), "total_wall_s": time.perf_counter() - t0,
            "environment": C.versions()}


def _log(msg: str, quiet: bool) -> None:
    C.log("real_files", msg, quiet)


def _fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def format_table(r: dict) -> str:
    c = r["config"]
    head = ("file", "format", "records", "scored", "left out", "ties", "items", "wall s", "after load s", "items/s",
            "tokens/s", "peak RSS MB")
    rows = [(j["name"], j["format"], str(j["records_in_file"]), _fmt(j.get("scored"), "d"),
             _fmt(j.get("left_out"), "d"), str(j["ties"]), _fmt(j.get("items"), "d"), f"{j['wall_s']:.1f}",
             _fmt(j["after_load_s"], ".1f"), _fmt(j.get("items_per_s"), ".2f"), _fmt(j.get("tokens_per_s"), ",.0f"),
             f"{j['peak_rss_mb']:.0f}" + ("" if j["rc"] == 0 else f"  FAILED (status {j['rc']})")) for j in r["jobs"]]
    w = [max(len(x[i]) for x in rows + [head]) for i in range(len(head))]
    line = lambda x: "  ".join(s.ljust(w[0]) if i == 0 else s.rjust(w[i]) for i, s in enumerate(x))  # noqa: E731
    out = [f"endorm bench ({c['methods']}) and eval-math (k 1, {c['max_new_tokens']} new tokens) on the real files: "
           f"random Qwen2 model (hidden {c['hidden']}, {c['layers']} layers, context {c['context']}, the Qwen2.5 "
           f"tokenizer), {c['device']}, {c['cpus']} CPUs, --limit {c['limit'] or 'all'}, launch {c['launch']}"
           + (f", {c['parallel']} jobs at once" if c["parallel"] > 1 else ""), "",
           line(head), line(["-" * n for n in w]), *map(line, rows), "",
           "items: responses scored (pairwise: pairs), per method and system prompt; eval-math: samples. tokens: "
           "sequence tokens read (eval-math: generated). Rates over wall s (process start to exit).",
           "records and ties (equal-score pairs, left out) are the whole file's; scored: records this run scored.", ""]
    for title, key in (("RM-Bench (the one run over the four files):", "rm_bench_table"),
                       ("DSP domain_specific_preference, OUR four domain prompts:", "dsp_matrix")):
        out += [title, "", (r[key] or "(failed)").strip(), ""]
    out.append(f"total {r['total_wall_s']:.0f} s")
    return "\n".join(out)


def main(argv=None) -> int:
    args = parse_args(argv)
    gone = missing(args.shared)
    if gone:
        print(f"real_files: {args.shared / gone[0]} not found ({len(gone)} of the real files missing; "
              "--shared DIR or ENDORM_SHARED)", file=sys.stderr)
        return 2
    result = run(args)
    C.finish(args, result, format_table(result), "real_files", result["ok"])
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
