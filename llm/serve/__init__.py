"""``endorm serve``: the endogenous reward as an HTTP reward server (OpenRLHF's ``/get_reward``, endorm's ``/score``).

``serve(model, ...)`` loads one model copy, binds the address (before loading, so a taken port is a
one-line error at once), prints where it listens, and runs uvicorn until SIGINT/SIGTERM. Several GPUs:
run one process per GPU (``--device cuda:K``, its own ``--port``);
OpenRLHF's ``--remote_rm_url`` takes them comma-separated and spreads its queries over them.
Modules: ``protocol`` (request bodies), ``batcher`` (dynamic batching, metrics), ``app`` (routes).
"""
from __future__ import annotations

import errno
import signal
import socket
import sys

from .app import build_app, read_json
from .batcher import DynamicBatcher, Metrics
from .protocol import RequestError, check_get_reward, check_score, encode_rendered, parse_get_reward, parse_score

__all__ = ["serve", "bind", "build_app", "read_json", "DynamicBatcher", "Metrics", "RequestError", "check_get_reward",
           "check_score", "encode_rendered", "parse_get_reward", "parse_score"]


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening (port 0: a free port; ``getsockname()`` tells it).

    Raises:
        ValueError: the address cannot be bound (``--port 5000: cannot listen on 127.0.0.1:5000: address in use``).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        why = "address in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        raise ValueError(f"--port {port}: cannot listen on {host}:{port}: {why}") from None
    sock.set_inheritable(True)
    return sock


def serve(model, host: str = "127.0.0.1", port: int = 5000, reward=None, batch_size: int = 8,
          max_batch_tokens: int = 16384, max_wait_ms: float = 5.0, max_body_mb: float = 64.0, dtype=None,
          device=None, trust_remote_code: bool = False, log_level: str = "warning") -> int:
    """Serve the endogenous reward of the causal LM in ``model`` until SIGINT/SIGTERM (graceful: in-flight
    requests finish).

    Args:
        model: a local Hugging Face model directory.
        host, port: where to listen (default loopback only; port 0 picks a free one, printed at start).
        reward: ``RewardOptions`` (default: its defaults), as ``endorm score``.
        batch_size: items per forward pass inside a pool.
        max_batch_tokens, max_wait_ms: the dynamic batcher's limits (``batcher.DynamicBatcher``).
        max_body_mb: the largest request body accepted, in MiB (413 above).
        dtype, device, trust_remote_code: as ``endorm.llm.base.load_model_and_tokenizer``.
        log_level: uvicorn's ("warning": no line per request).

    Returns:
        0 after a clean shutdown.

    Raises:
        ValueError: a limit out of range, the address cannot be bound; and as ``load_model_and_tokenizer``.
    """
    import uvicorn

    import endorm
    from endorm.llm.options import RewardOptions
    from endorm.llm.reward import EndogenousReward

    from endorm._checks import check_range

    batch_size, max_batch_tokens = (check_range(v, n, 1, kind=int) for v, n in
                                    ((batch_size, "--batch-size"), (max_batch_tokens, "--max-batch-tokens")))
    max_wait_ms = check_range(max_wait_ms, "--max-wait-ms", 0.0)
    max_body_mb = check_range(max_body_mb, "--max-body-mb", 0.0, low_open=True)
    reward = (reward or RewardOptions()).check()
    sock = bind(host, port)
    try:
        rm = EndogenousReward.from_pretrained(model, dtype=dtype, device=device, trust_remote_code=trust_remote_code,
                                              batch_size=batch_size, progress=False, **reward.kwargs())
        param = next(rm.model.parameters())
        info = {"model": str(model), "options": reward.kwargs() | {"template": rm.template},
                "version": endorm.__version__, "device": str(param.device), "dtype": str(param.dtype).split(".")[-1],
                "context_tokens": rm.max_length, "batch_size": batch_size}
        app = build_app(rm, info, max_batch_tokens, max_wait_ms, int(max_body_mb * 2**20))
        bound = sock.getsockname()[1]
        scope = ("loopback only: other machines cannot connect; --host 0.0.0.0 to accept them"
                 if host in ("127.0.0.1", "localhost", "::1") else "reachable from other machines")
        sock.listen(2048)  # connections wait from now on (uvicorn accepts them once it runs)
        shown = f"[{host}]" if ":" in host else host
        print(f"endorm serve: listening on http://{shown}:{bound} ({scope}); POST /get_reward, POST /score, "
              "GET /health, GET /metrics", flush=True)
        server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=None,
                                               lifespan="on"))
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler it found:
        # a no-op one here, so that the process ends with status 0 after saying so
        previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run(sockets=[sock])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        sock.close()
    print("endorm serve: stopped", file=sys.stderr, flush=True)
    return 0
