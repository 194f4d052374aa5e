"""``endorm serve``: the endogenous reward as an HTTP service (needs ``endorm[serve]``: starlette, uvicorn).

Routes (bodies: ``endorm.llm.serve.protocol``):

* ``POST /get_reward``: OpenRLHF's remote reward model protocol (``--remote_rm_url http://HOST:PORT/get_reward``):
  ``{"query", "prompts", "labels"}`` -> ``{"rewards"}``.
* ``POST /score``: ``{"prompts", "responses", "system", "tokens"}`` -> ``{"scores"}`` (+ ``"tokens"``).
* ``GET /health``: model, options, version, limits. ``GET /metrics``: requests, items, tokens, queue depth,
  batch sizes, latency percentiles.

Why Starlette and uvicorn: OpenRLHF's own ``serve_rm`` runs FastAPI on uvicorn; FastAPI is Starlette plus
pydantic models, and here every body is checked by hand (``protocol``) to give one-line errors naming the
field and index, and read as a stream so that a too-large body is refused before it is parsed. Starlette
alone does both with one dependency less; uvicorn gives graceful shutdown (SIGTERM: stop accepting, finish
what is in flight, then the lifespan ends and the batcher's worker stops).

Bad requests never take the server down: every error is a 4xx JSON body ``{"error", "field", "index"}``
(400 unreadable JSON or non-UTF-8 bytes, 413 a body over ``max_body_bytes``, 422 a well-formed but invalid
request); an unexpected failure while scoring is a 500 for the requests of that pool only.
"""
from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager

from .batcher import DynamicBatcher, Metrics
from .protocol import RequestError, check_get_reward, check_score, token_rows

DRAIN_FACTOR = 4  # a too-large body is read and dropped up to 4x the limit before the 413 (then the socket closes)


async def read_json(request, max_body_bytes: int):
    """The request's JSON body, read as a stream and refused past ``max_body_bytes``.

    Raises:
        RequestError: 413 (too large, by Content-Length or while reading), 400 (not UTF-8: the byte offset;
            malformed JSON: line and column).
    """
    declared = request.headers.get("content-length")
    chunks, size, why = [], 0, None
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        why = f"the body has {int(declared):,} bytes, more than the server's limit of {max_body_bytes:,} (--max-body-mb)"
    async for chunk in request.stream():
        size += len(chunk)
        if why is None and size > max_body_bytes:
            why = f"the body is longer than the server's limit of {max_body_bytes:,} bytes (--max-body-mb)"
        if why is None:
            chunks.append(chunk)
        elif size > DRAIN_FACTOR * max_body_bytes:
            break  # stop reading; the connection closes after the answer
    if why is not None:  # the rest was read and dropped, so that the client, still sending, gets the answer
        raise RequestError(why, status=413)
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RequestError(f"the body is not UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r})", status=400) from None
    if not text.strip():
        raise RequestError("empty body; send a JSON object", status=400)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RequestError(f"malformed JSON: {e.msg} (line {e.lineno}, column {e.colno})", status=400) from None
    except RecursionError:
        raise RequestError("malformed JSON: nested too deeply", status=400) from None


class RewardService:
    """The routes' handlers around one scorer: its batcher (which also lays requests out), metrics, limits."""

    def __init__(self, scorer, info: dict, max_batch_tokens: int, max_wait_ms: float, max_body_bytes: int):
        self.pad = getattr(scorer.tokenizer, "pad_token", None)
        self.scorer, self.info, self.max_body_bytes = scorer, info, max_body_bytes
        self.limits = {"max_batch_tokens": max_batch_tokens, "max_wait_ms": max_wait_ms,
                       "max_body_bytes": max_body_bytes}
        self.metrics = Metrics()
        self.batcher = DynamicBatcher(scorer.token_rewards_from_ids, max_batch_tokens, max_wait_ms, self.metrics)

    async def handle(self, request, route: str, parse, answer):
        """Read and check the body (``parse``), lay it out and score it in a pool (the batcher's worker), answer
        (``answer``) or a JSON error."""
        from starlette.responses import JSONResponse

        t0 = time.perf_counter()
        try:
            body = await read_json(request, self.max_body_bytes)
            pending = parse(body, self.pad)  # the fields and types: cheap, no tokenizer
            out = answer(await self.batcher.score(lambda: pending.layout(self.scorer)), pending)
        except RequestError as e:
            self.metrics.request(route, e.status)
            return JSONResponse(e.body(), status_code=e.status)
        except Exception as e:  # noqa: BLE001 -- one failed pool answers 500; the server keeps serving
            self.metrics.request(route, 500)
            return JSONResponse({"error": f"{type(e).__name__}: {e}", "field": None, "index": None}, status_code=500)
        self.metrics.request(route, 200, time.perf_counter() - t0)
        return JSONResponse(out)

    async def get_reward(self, request):
        """``POST /get_reward`` (OpenRLHF)."""
        return await self.handle(request, "/get_reward", check_get_reward,
                                 lambda details, parsed: {"rewards": [float(d.score) for d in details]})

    async def score(self, request):
        """``POST /score`` (endorm's shape; per-token values on request)."""
        def answer(details, parsed):
            out = {"scores": [float(d.score) for d in details]}
            if parsed.tokens:
                out["tokens"] = token_rows(details)
            return out
        return await self.handle(request, "/score", check_score, answer)

    async def health(self, request):
        """``GET /health``: 200 and "ok" while the batcher's worker runs, else 503 and "down"."""
        from starlette.responses import JSONResponse

        alive = self.batcher.alive()
        return JSONResponse({"status": "ok" if alive else "down", **self.info, **self.limits},
                            status_code=200 if alive else 503)

    async def metrics_route(self, request):
        """``GET /metrics``."""
        from starlette.responses import JSONResponse

        return JSONResponse(self.metrics.snapshot(self.batcher.depth()))

    @asynccontextmanager
    async def lifespan(self, app):
        """Start the batcher; at shutdown (uvicorn has finished the requests in flight) stop it."""
        self.batcher.start()
        try:
            yield
        finally:
            self.batcher.stop(timeout=60)


async def _not_found(request, exc):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": f"{request.method} {request.url.path}: {exc.detail}", "field": None,
                         "index": None}, status_code=exc.status_code)


def build_app(scorer, info: dict, max_batch_tokens: int = 16384, max_wait_ms: float = 5.0,
              max_body_bytes: int = 64 * 2**20):
    """The Starlette app serving ``scorer`` (an ``EndogenousReward``), with its batcher started by the lifespan.

    Args:
        scorer: the ``EndogenousReward`` (its template and options lay out every request).
        info: what ``GET /health`` reports besides the status (model, options, version, device, dtype).
        max_batch_tokens, max_wait_ms: the batcher's pool limits (``DynamicBatcher``).
        max_body_bytes: the largest request body accepted (413 above it).

    Returns:
        a ``starlette.applications.Starlette``; ``app.state.service`` is its ``RewardService``.
    """
    from starlette.applications import Starlette
    from starlette.routing import Route

    svc = RewardService(scorer, info, max_batch_tokens, max_wait_ms, max_body_bytes)
    app = Starlette(routes=[Route("/get_reward", svc.get_reward, methods=["POST"]),
                            Route("/score", svc.score, methods=["POST"]),
                            Route("/health", svc.health, methods=["GET"]),
                            Route("/metrics", svc.metrics_route, methods=["GET"])],
                    lifespan=svc.lifespan, exception_handlers={404: _not_found, 405: _not_found})
    app.state.service = svc
    return app
