"""Job processes of the benchmark scripts (a sibling module: the scripts put this folder on sys.path).

``Launcher`` starts a small launcher process that runs jobs, each in a process of its own, and
reports per job its exit status, wall time (``time.perf_counter`` around the process), peak
resident set (``ru_maxrss`` from ``os.wait4``) and two marks from inside the job: seconds until
``endorm.llm.base.load_model_and_tokenizer`` returned and until the job's end. A job is
``{"argv": [...]}`` (``endorm.cli.main(argv)``, the real CLI entry point) or
``{"kind": "build", "build": {...}}`` (``endorm.llm.testing.save_tiny_qwen(**build)``), with
``"log"`` (its stdout and stderr) and ``"marks"`` (a JSON file it writes).

Launch modes: "spawn" runs ``python -c`` per job, as a user's command; "fork" forks each job from
the launcher after it imported ``PREIMPORT`` (no torch op runs before the fork, so no thread pool
is copied), which leaves the imports out of the job's time. The launcher is started while the
caller is small because ``ru_maxrss`` carries a parent's resident set across fork and exec.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import cpus  # noqa: E402

PREIMPORT = ("torch", "transformers", "transformers.models.qwen2.modeling_qwen2", "endorm.cli",
             "endorm.llm.bench.run", "endorm.llm.math.run", "endorm.llm.judges", "endorm.llm.reward", "tqdm")


def _child(job: dict) -> int:
    """Run one job in this (spawned or forked) process; write its marks (seconds to load, to end); the status."""
    t0, marks = time.perf_counter(), {}
    if job.get("kind") == "build":
        from endorm.llm.testing import save_tiny_qwen

        save_tiny_qwen(**job["build"])
        rc = 0
    else:
        import endorm.llm.base as base
        from endorm.cli import main

        load = base.load_model_and_tokenizer

        def timed(*a, **k):
            out = load(*a, **k)
            marks["loaded_s"] = time.perf_counter() - t0
            return out

        base.load_model_and_tokenizer = timed  # run_bench and run_eval_math import it at call time
        try:
            rc = main(job["argv"])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    marks["end_s"] = time.perf_counter() - t0
    Path(job["marks"]).write_text(json.dumps(marks))
    return int(rc or 0)


def _start(job: dict, mode: str) -> int:
    """Start a job process, stdout and stderr to its log: forked from this one, or ``python -c``; its pid."""
    if mode == "spawn":
        code = f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import _jobs as R; " \
               "sys.exit(R._child(json.loads(sys.argv[1])))"
        with open(job["log"], "ab") as log:
            p = subprocess.Popen([sys.executable, "-c", code, json.dumps(job)], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log)
        p.returncode = 0  # reaped by os.wait4, not by Popen
        return p.pid
    pid, rc = os.fork(), 1
    if pid:
        return pid
    try:
        fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(fd, 1), os.dup2(fd, 2), os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        rc = _child(job)
    except BaseException:  # noqa: BLE001 -- the job's traceback goes to its log
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(rc)


def _launcher(mode: str, parallel: int) -> None:
    """The launcher process: batches of jobs (a JSON line each, a blank line ends a batch) run ``parallel``
    at a time; a JSON line of numbers per finished job on stdout."""
    if mode == "fork":
        import importlib

        for name in PREIMPORT:
            importlib.import_module(name)
    batch = []
    for line in sys.stdin:
        if line.strip():
            batch.append(json.loads(line))
            continue
        queue, running = list(enumerate(batch)), {}
        while queue or running:
            while queue and len(running) < parallel:
                i, job = queue.pop(0)
                running[_start(job, mode)] = (i, job, time.perf_counter())
            pid, status, ru = os.wait4(-1, 0)
            i, job, t0 = running.pop(pid)
            wall, marks = time.perf_counter() - t0, Path(job["marks"])
            print(json.dumps({"index": i, "rc": os.waitstatus_to_exitcode(status), "wall_s": wall,
                              "peak_rss_mb": ru.ru_maxrss / 1024,
                              **(json.loads(marks.read_text()) if marks.exists() else {})}), flush=True)
        batch = []


class Launcher:
    """The launcher process, started while this process is small (``ru_maxrss`` survives an exec)."""

    def __init__(self, mode: str, parallel: int):
        code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import _jobs as R; R._launcher({mode!r}, " \
               f"{parallel})"
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, cpus() // parallel))) if parallel > 1 else None
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)

    def submit(self, jobs: list) -> None:
        """Hand ``jobs`` to the launcher (one batch); they start at once, ``parallel`` at a time."""
        self.proc.stdin.write("".join(json.dumps(j) + "\n" for j in jobs) + "\n")
        self.proc.stdin.flush()

    def collect(self, jobs: list, done=lambda job, stats: None) -> list:
        """Wait for the submitted ``jobs``; per job {"rc", "wall_s", "peak_rss_mb", "loaded_s", "end_s"}."""
        out = [None] * len(jobs)
        for _ in jobs:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the launcher process died (status {self.proc.wait()})")
            stats = json.loads(line)
            i = stats.pop("index")
            out[i] = stats
            done(jobs[i], stats)
        return out

    def run(self, jobs: list, done=lambda job, stats: None) -> list:
        """``submit`` then ``collect``: each job in a process of its own."""
        self.submit(jobs)
        return self.collect(jobs, done)

    def close(self) -> None:
        """End the launcher (it exits at the end of its stdin)."""
        self.proc.stdin.close()
        self.proc.wait()
        self.proc.stdout.close()
