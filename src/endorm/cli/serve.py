"""``endorm serve``: the endogenous reward as an HTTP reward server (``endorm.llm.serve``)."""
from __future__ import annotations

from endorm.llm.options import RewardOptions

from ._options import POSITIVE_INT, add_option_flags, ranged


def run(args) -> int:
    """Serve ``--model`` until SIGINT/SIGTERM.

    Returns:
        The exit status, 0 (bad input raises ValueError/OSError: ``main`` makes it status 2).
    """
    from endorm.llm.serve import serve

    return serve(args.model, args.host, args.port, RewardOptions.from_mapping(vars(args)), args.batch_size,
                 args.max_batch_tokens, args.max_wait_ms, args.max_body_mb, args.dtype, args.device,
                 args.trust_remote_code, args.log_level)


def register(sub) -> None:
    """Add ``endorm serve`` to the subparsers ``sub``.

    Flags: --model, --host, --port, every ``RewardOptions`` flag, --batch-size, --max-batch-tokens, --max-wait-ms,
    --max-body-mb, --dtype, --device, --trust-remote-code, --log-level.
    """
    sv = sub.add_parser("serve", help="serve the endogenous reward over HTTP (OpenRLHF's /get_reward, and /score)")
    sv.add_argument("--model", required=True, metavar="DIR", help="local Hugging Face model directory")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)")
    sv.add_argument("--port", type=ranged(int, 0, 65535), default=5000,
                    help="TCP port (default 5000; 0 picks a free one and prints it)")
    add_option_flags(sv, RewardOptions)
    sv.add_argument("--batch-size", type=POSITIVE_INT, default=8, help="items per forward pass (default 8)")
    sv.add_argument("--max-batch-tokens", type=POSITIVE_INT, default=16384,
                    help="dynamic batching: the most tokens pooled from concurrent requests into one scoring call "
                         "(default 16384; a larger request runs alone)")
    sv.add_argument("--max-wait-ms", type=ranged(float, 0.0), default=5.0,
                    help="dynamic batching: how long the oldest request waits for others to join (default 5)")
    sv.add_argument("--max-body-mb", type=ranged(float, 0.0, low_open=True), default=64.0,
                    help="largest request body accepted, in MiB (default 64; larger: HTTP 413)")
    sv.add_argument("--dtype", default=None, help="e.g. float32, bfloat16 (default: the checkpoint's)")
    sv.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    sv.add_argument("--trust-remote-code", action="store_true",
                    help="run the model folder's own Python code (auto_map); off by default, and never asked")
    sv.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"),
                    help="uvicorn's log level (default warning: no line per request)")
    sv.set_defaults(func=run)
