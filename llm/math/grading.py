"""Grading with math-verify in worker processes, and the unbiased pass@k estimator."""
from __future__ import annotations

import math
import os
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so that math-verify's ``except Exception`` lets it pass."""


def _alarm(signum, frame):
    raise _Timeout()


def grade_one(gold: str, answer: str, timeout: float) -> tuple:
    """(correct, status) for one answer: math-verify ``verify(parse(gold), parse(answer))``, gold first.

    Runs in a worker process: the alarm (``setitimer``, any float of seconds) needs the main thread.
    math-verify's own int-second alarms are disabled so as not to reset ours. Both strings are
    wrapped in ``$...$`` (outer ``$`` stripped first) so that math-verify reads them as LaTeX.

    Args:
        gold: the gold answer (LaTeX); answer: the extracted answer (``last_boxed``).
        timeout: seconds for parsing both and verifying, together.

    Returns:
        ``(correct, status)``: bool, and "graded", "timeout", "gold_unparsed" (correct False) or
        "error: <exception type>" (any exception is caught and counts as wrong).
    """
    from math_verify import parse, verify

    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        # math-verify reads LaTeX between $...$; strings already in $...$ are not wrapped twice
        g, a = (parse(f"${x.strip().strip('$')}$", parsing_timeout=None) for x in (gold, answer))
        return (bool(verify(g, a, timeout_seconds=None)), "graded") if g else (False, "gold_unparsed")
    except _Timeout:
        return False, "timeout"
    except Exception as e:  # noqa: BLE001 -- a grading failure counts as wrong and is reported
        return False, f"error: {type(e).__name__}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _worker_init():
    import logging

    from math_verify import parse

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout disabled": ours is on
    parse("$1$")  # the first parse imports the LaTeX parser: not on the first answer's clock


def _ready() -> int:
    """A no-op task: returns once a worker has run its initializer (the pool is warm)."""
    return os.getpid()


class Grader:
    """Grade (gold, answer) pairs in worker processes (math-verify's alarms fail in threads).

    ``timeout``: seconds per answer (parse gold, parse answer, verify); past it the answer is wrong,
    status "timeout". A worker stuck where no signal reaches it (one long C call, e.g. a huge
    integer power) is caught by ``stall``: if no answer completes for that long, the pool is killed,
    the answers then in a worker count as timeouts, and the rest go to a fresh pool.

    The stall clock never includes a worker's start: a new pool is warmed first (every worker has
    imported math-verify, waited for up to ``start_timeout`` seconds), and at most ``workers``
    answers are in flight at once, so an answer is only ever timed while a worker holds it.
    Use as a context manager (``with Grader(...) as g``) so that the pool is shut down.

    Args:
        workers: worker processes (default min(4, CPUs)); spawned, not forked.
        timeout: seconds per answer (default 5).
        stall: seconds without any completed answer before the pool is killed (default
            2 * timeout + 30).
        fn: the grading function, ``fn(gold, answer, timeout) -> (correct, status)``; a picklable
            module-level function (default ``grade_one``).
        start_timeout: seconds for a fresh pool to start and import math-verify (default 300).

    Raises:
        ValueError: ``need timeout > 0 seconds, stall > 0 seconds and workers >= 1, got ...``.
        RuntimeError: ``the N grading worker(s) did not start within S s`` (from ``grade``).
    """

    def __init__(self, workers: int | None = None, timeout: float = 5.0, stall: float | None = None, fn=grade_one,
                 start_timeout: float = 300.0):
        if timeout <= 0 or (workers is not None and workers < 1) or (stall is not None and stall <= 0):
            raise ValueError(f"need timeout > 0 seconds, stall > 0 seconds and workers >= 1, got timeout={timeout}, "
                             f"stall={stall}, workers={workers}")
        self.workers, self.timeout, self.fn = workers or min(4, os.cpu_count() or 1), float(timeout), fn
        self.stall = 2 * self.timeout + 30 if stall is None else stall  # 30 s: margin for a loaded machine
        self.start_timeout = float(start_timeout)
        self._ex = None

    def _pool(self):
        if self._ex is None:  # spawn: the parent may hold CUDA and OpenMP threads, which fork does not survive
            self._ex = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_worker_init)
            _, cold = wait([self._ex.submit(_ready) for _ in range(self.workers)], timeout=self.start_timeout)
            if cold:
                self._kill()
                raise RuntimeError(f"the {self.workers} grading worker(s) did not start within "
                                   f"{self.start_timeout:g} s")
        return self._ex

    def _kill(self):
        for p in list((getattr(self._ex, "_processes", None) or {}).values()):
            p.kill()
        self._ex.shutdown(wait=False, cancel_futures=True)
        self._ex = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._ex is not None:
            self._ex.shutdown()
            self._ex = None

    def grade(self, pairs) -> list:
        """Grade every pair.

        Args:
            pairs: [(gold, answer or None)], LaTeX strings as ``grade_one`` takes them.

        Returns:
            [(correct, status)], one per pair in order; a None answer gives (False, "no_answer"),
            an answer held by a stalled pool (False, "timeout"), a worker-side exception
            (False, "error: <type>").

        Raises:
            RuntimeError: ``the N grading worker(s) did not start within S s``; also
                ``BrokenProcessPool`` (a RuntimeError) when a worker process dies (e.g. killed for
                memory) while answers remain to be submitted.
        """
        out = [(False, "no_answer") if a is None else None for _, a in pairs]
        queue = [i for i, r in enumerate(out) if r is None]
        while queue:
            ex, futs = self._pool(), {}
            while queue or futs:
                while queue and len(futs) < self.workers:  # only what a worker holds is in flight
                    i = queue.pop(0)
                    futs[ex.submit(self.fn, pairs[i][0], pairs[i][1], self.timeout)] = i
                done, _ = wait(futs, timeout=self.stall, return_when=FIRST_COMPLETED)
                for f in done:
                    e = f.exception()
                    out[futs.pop(f)] = f.result() if e is None else (
                        (False, "timeout") if isinstance(e, _Timeout) else (False, f"error: {type(e).__name__}"))
                if not done:  # no answer for `stall` seconds: the workers are stuck
                    for i in futs.values():
                        out[i] = (False, "timeout")
                    self._kill()
                    break
        return out


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 - C(n-c, k)/C(n, k) from n samples with c correct, as the stable product
    1 - prod_{i=n-c+1}^{n} (1 - k/i) (Chen et al. 2021, Codex, ``pass_at_k`` of human-eval).

    Args:
        n: samples of the problem; c: correct samples, 0 <= c <= n; k: 1 <= k <= n.

    Returns:
        the probability that at least one of k samples drawn without replacement is correct, in
        [0, 1] (1.0 when n - c < k). With k = 1 it is c / n.

    Raises:
        ValueError: ``need 0 <= c <= n and 1 <= k <= n, got n=4, c=5, k=1``.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))
