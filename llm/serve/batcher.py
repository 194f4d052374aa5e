"""Dynamic batching for ``endorm serve``: concurrent requests pooled into one scoring call.

One worker thread owns the model and the tokenizer (one copy per process). Requests wait in a
queue as soon as their JSON is checked; the worker takes the oldest, lays it out (chat template,
tokens: a request that fails here gets its own error), then keeps adding the next ones while
their tokens fit in ``max_batch_tokens`` and ``max_wait_ms`` has not passed since that oldest one
arrived; then it scores the pool with one
``EndogenousReward.token_rewards_from_ids`` call, so identical items and shared prompts (the KV
cache of ``endorm.llm.prefix``) are found across requests too, and hands each request its
results. A request larger than the budget is scored alone, never split. A request that does not
fit the current pool opens the next one (arrival order is kept).
"""
from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

_STOP = object()


@dataclass
class _Job:
    prepare: object       # callable() -> list of Encoded (the layout; may raise), run on the worker thread
    done: object          # callable(results, error) run on the worker thread
    arrived: float = field(default_factory=time.perf_counter)
    items: list = None
    tokens: int = 0


class Metrics:
    """Counters and recent latencies of the server (``GET /metrics``); thread-safe.

    Latency percentiles are over the last ``window`` requests (seconds from the body read to the answer).
    """

    def __init__(self, window: int = 10000):
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests, self.errors, self.items, self.tokens, self.batches, self.busy = {}, {}, 0, 0, 0, 0.0
        self._latency, self._batch_items = deque(maxlen=window), deque(maxlen=window)
        self.batch_items_max = 0

    def request(self, route: str, status: int, seconds: float | None = None) -> None:
        """Count one answered request (``route``, HTTP ``status``); ``seconds``: its latency (successes only)."""
        with self._lock:
            key = f"{route} {status}"
            self.requests[key] = self.requests.get(key, 0) + 1
            if status >= 400:
                self.errors[str(status)] = self.errors.get(str(status), 0) + 1
            if seconds is not None and status < 400:
                self._latency.append(seconds)

    def batch(self, items: int, tokens: int, seconds: float = 0.0) -> None:
        """Count one scoring call of ``items`` items and ``tokens`` tokens (whole texts) that took ``seconds``."""
        with self._lock:
            self.batches += 1
            self.busy += seconds
            self.items += items
            self.tokens += tokens
            self._batch_items.append(items)
            self.batch_items_max = max(self.batch_items_max, items)

    def snapshot(self, queue_depth: int) -> dict:
        """The JSON of ``GET /metrics``: counts, queue depth, batch sizes (items), latency percentiles (s)."""
        with self._lock:
            lat = np.asarray(self._latency, dtype=float)
            sizes = np.asarray(self._batch_items, dtype=float)
            pct = {f"p{q}": float(np.percentile(lat, q)) for q in (50, 90, 99)} if len(lat) else {}
            return {"uptime_s": time.time() - self.started, "requests": dict(self.requests),
                    "errors": dict(self.errors), "items": self.items, "tokens": self.tokens, "batches": self.batches,
                    "scoring_s": self.busy,
                    "queue_depth": queue_depth,
                    "batch_items": {"mean": float(sizes.mean()) if len(sizes) else 0.0,
                                    "max": self.batch_items_max, "last": int(sizes[-1]) if len(sizes) else 0},
                    "latency_s": {"n": int(len(lat)), **pct}}


class DynamicBatcher:
    """Pools requests into scoring calls on one worker thread (module docstring).

    Args:
        score: callable(list of ``Encoded``) -> list of results (``EndogenousReward.token_rewards_from_ids``).
        max_batch_tokens: the token budget of one pool (whole texts, before prompt sharing), >= 1.
        max_wait_ms: how long the oldest waiting request may wait for others to join, >= 0.
        metrics: a ``Metrics`` (a new one if None).
    """

    def __init__(self, score, max_batch_tokens: int = 16384, max_wait_ms: float = 5.0, metrics=None):
        self._score, self.max_batch_tokens, self.max_wait = score, int(max_batch_tokens), float(max_wait_ms) / 1e3
        self.metrics = metrics or Metrics()
        self._queue, self._held = queue.Queue(), None
        self._thread = threading.Thread(target=self._run, name="endorm-batcher", daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Score what is queued, then end the worker (after the server stopped taking requests)."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def alive(self) -> bool:
        """Whether the worker thread runs."""
        return self._thread.is_alive()

    def depth(self) -> int:
        """Requests waiting (not yet in a scoring call)."""
        return self._queue.qsize() + (self._held is not None)

    def submit(self, prepare, done) -> None:
        """Queue a request: ``prepare()`` -> its items (``Encoded``; it may raise: that error is the request's),
        run on the worker; ``done(results, error)`` is called on the worker thread when it is scored."""
        self._queue.put(_Job(prepare, done))

    async def score(self, prepare) -> list:
        """Queue a request (``submit``) and wait for its results (from an asyncio handler)."""
        import asyncio

        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def done(results, error):
            def settle():
                if fut.cancelled():
                    return
                fut.set_exception(error) if error is not None else fut.set_result(results)
            loop.call_soon_threadsafe(settle)

        self.submit(prepare, done)
        return await fut

    def _next(self, timeout=None):
        """The next laid-out job (or ``_STOP``); a job whose layout fails is answered with its error and skipped."""
        while True:
            if self._held is not None:
                job, self._held = self._held, None
                return job
            job = self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
            if job is _STOP:
                return job
            try:
                job.items = list(job.prepare())
            except Exception as e:  # noqa: BLE001 -- the request's own error (e.g. a 422), never the worker's
                job.done(None, e)
                continue
            job.tokens = sum(len(e.input_ids) for e in job.items)
            return job

    def _run(self) -> None:
        while True:
            try:
                if self._pool_once():
                    return
            except Exception:  # noqa: BLE001 -- a bug here must not end the worker: every later request would hang
                import traceback

                traceback.print_exc()

    def _pool_once(self) -> bool:
        """Take one pool and score it; True when the stop was reached."""
        first = self._next()
        if first is _STOP:
            return True
        pool, tokens, stop = [first], first.tokens, False
        while tokens < self.max_batch_tokens:
            try:
                job = self._next(first.arrived + self.max_wait - time.perf_counter())
            except queue.Empty:
                break
            if job is _STOP:
                stop = True
                break
            if tokens + job.tokens > self.max_batch_tokens:
                self._held = job  # opens the next pool
                break
            pool.append(job)
            tokens += job.tokens
        self._run_pool(pool, tokens)
        return stop  # at the stop nothing else waits: the server has finished taking requests

    def _run_pool(self, pool, tokens: int) -> None:
        items, t0 = [e for job in pool for e in job.items], time.perf_counter()
        try:
            results, error = self._score(items), None
        except Exception as e:  # noqa: BLE001 -- handed to the requests; the worker keeps serving
            results, error = None, e
        self.metrics.batch(len(items), tokens, time.perf_counter() - t0)
        if error is not None and len(pool) > 1:  # find whose it is: each request alone, its own item indices
            for job in pool:
                self._run_pool([job], job.tokens)
            return
        k = 0
        for job in pool:
            n = len(job.items)
            try:
                job.done(None if error else results[k:k + n], error)
            except RuntimeError:  # the request's event loop is closed (shut down): nobody waits for it
                pass
            k += n
