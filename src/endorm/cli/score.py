"""``endorm score``: score responses with a local causal LM (EndoRM or an Appendix D judge)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from endorm.llm.bench.records import METHODS
from endorm.llm.options import RewardOptions

from ._options import add_option_flags


def _load_method(args, tok):
    """The method's ``RewardModel`` on the loaded model (one registry: ``bench.runner.build_method``); ``tok``:
    the tokenizer ``_precheck`` loaded."""
    from endorm.llm.base import load_model_and_tokenizer
    from endorm.llm.bench.runner import build_method

    opts = RewardOptions.from_mapping(vars(args)) if args.method == "endorm" else RewardOptions()
    model, tok = load_model_and_tokenizer(args.model, args.dtype, args.device, args.trust_remote_code, tok)
    return build_method(args.method, model, tok, progress=None, **opts.kwargs())


def _prompt(args):
    """``--prompt`` text, or the ``--messages`` conversation (JSON), checked before the model loads."""
    from endorm.llm.templates import as_messages

    if (args.prompt is None) == (args.messages is None):
        raise ValueError("give exactly one of --prompt TEXT and --messages JSON")
    if args.prompt is not None:
        return args.prompt
    from endorm._io import parse_json_line

    try:
        msgs = parse_json_line(args.messages)
    except ValueError as e:
        raise ValueError(f"--messages: {e}") from None
    if not isinstance(msgs, list):
        raise ValueError(f"--messages: expected a JSON list of {{role, content}} messages, got {type(msgs).__name__}")
    try:
        as_messages(msgs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"--messages: {e}") from None
    return msgs


def _precheck(args, prompt):
    """Lay out and measure every item with the tokenizer alone, before the model loads (``bench.lengths``).

    Returns:
        the tokenizer (for ``_load_method``: loaded once).

    Raises:
        FileNotFoundError: no model directory. ValueError: ``--no-end-token`` with a judge; an item that
            cannot be laid out or is longer than the context (``--response 2: endorm: the text has 9000
            tokens, longer than the model's context of 8192``).
    """
    from types import SimpleNamespace

    from endorm.llm.base import context_length, load_config, load_tokenizer
    from endorm.llm.bench.lengths import LengthChecker
    from endorm.llm.bench.records import PairRecord

    if args.method != "endorm" and not args.end_token:
        raise ValueError("--no-end-token is only used by --method endorm (a judge reads the response as text)")
    tok = load_tokenizer(args.model, args.trust_remote_code)
    context = context_length(SimpleNamespace(config=load_config(args.model, args.trust_remote_code)))
    opts = RewardOptions.from_mapping(vars(args)) if args.method == "endorm" else RewardOptions()
    checker = LengthChecker(tok, context, [args.method], opts)
    pairs = [(args.response[1:], args.response[:1])] if args.method == "pairwise" else \
        [((r,), ()) for r in args.response]
    for i, (chosen, rejected) in enumerate(pairs):
        why = checker.problem(PairRecord(str(i), "", prompt, chosen, rejected), args.system)
        if why is not None:
            where = "the responses" if args.method == "pairwise" else f"--response {i + 1}"
            why = why.replace(" of chosen[0] vs rejected[0]", "").replace("chosen[0]", "the text")
            raise ValueError(f"{where}: {why}")
    return tok


MAPS = (("html", ".html"), ("png", ".png"))  # --html PATH, --png PATH: the token credit maps (endorm.llm.credit)


def _check_maps(args) -> None:
    """``--html``/``--png``: endorm only, the suffix, an existing folder, not a folder itself; before the model loads.

    An existing file is replaced (atomically, ``endorm._io``); so is the ``.json`` beside the PNG.

    Raises:
        ValueError: ``--png must name a .png file, got 'out.jpg'``; ``--html: 'x' is not an existing folder;
            create it first``; ``--png: 'out.png' is a folder; name a file``; ``--html is only available with
            --method endorm``.
    """
    for name, suffix in MAPS:
        raw = getattr(args, name)
        if raw is None:
            continue
        path, flag = Path(raw), f"--{name}"
        if args.method != "endorm":
            raise ValueError(f"{flag} is only available with --method endorm")
        if path.suffix.lower() != suffix:
            raise ValueError(f"{flag} must name a {suffix} file, got {raw!r}")
        if not path.parent.is_dir():
            raise ValueError(f"{flag}: {str(path.parent)!r} is not an existing folder; create it first")
        for p in (path, path.with_suffix(".json")) if name == "png" else (path,):
            if p.is_dir():
                raise ValueError(f"{flag}: {str(p)!r} is a folder; name a file")


def _write_maps(args, rm, prompts, details) -> None:
    """Write the ``--html`` page and the ``--png`` figure (with its ``.json``) of the scored responses."""
    from endorm.llm.credit import credit_records, write_credit_html, write_credit_png

    records = credit_records(rm, prompts, args.response, args.system, details)
    written = []
    if args.html:
        written.append(write_credit_html(args.html, records))
    if args.png:
        written.extend(write_credit_png(args.png, records))
    print("endorm score: wrote " + ", ".join(str(p) for p in written), file=sys.stderr)  # stdout stays the result


def run(args) -> int:
    """Score ``--response`` (one or more) after ``--prompt``; print scores, per-token rewards or JSON; write the
    ``--html``/``--png`` token credit maps (``endorm.llm.credit``).

    ``--method pairwise`` prints P(second response better) for exactly two responses.

    Returns:
        The exit status, 0 (bad input raises ValueError/TypeError/OSError: ``main`` makes it status 2).

    Raises:
        SystemExit: ``--tokens`` without ``--method endorm``, or ``pairwise`` without exactly two responses.
    """
    if args.tokens and args.method != "endorm":
        raise ValueError("--tokens is only available with --method endorm")
    if args.method == "pairwise" and len(args.response) != 2:
        raise ValueError("--method pairwise needs exactly two --response (first, second)")
    _check_maps(args)
    prompt = _prompt(args)
    rm = _load_method(args, _precheck(args, prompt))
    n = len(args.response)
    prompts, system = [prompt] * n, args.system
    if args.method == "pairwise":
        p = rm.compare(prompts[:1], args.response[:1], args.response[1:], system)[0]
        result = {"method": args.method, "p_second_better": p}
        print(json.dumps(result) if args.json else f"P(second response better) = {p:.6f}")
        return 0
    if args.method == "endorm":
        details = rm.token_rewards(prompts, args.response, system)
        scores = [d.score for d in details]
    else:
        details, scores = None, rm.score(prompts, args.response, system)
    if args.html or args.png:
        _write_maps(args, rm, prompts, details)
    result = {"method": args.method, "scores": scores}
    if args.tokens:
        result["tokens"] = [{"token_ids": d.token_ids, "tokens": d.tokens, "log_probs": d.log_probs.tolist(),
                             "values": d.values.tolist(), "rewards": d.rewards.tolist()} for d in details]
    if args.json:
        print(json.dumps(result))
        return 0
    for i, s in enumerate(scores):
        print(f"score[{i}] = {s:.6f}" if n > 1 else f"score = {s:.6f}")
        if args.tokens:
            d = details[i]
            print(f"  {'token':<16} {'log pi':>10} {'V(s)':>10} {'r_hat':>10}")
            for t, lp, v, r in zip(d.tokens, d.log_probs, d.values, d.rewards):
                print(f"  {t!r:<16} {lp:>10.4f} {v:>10.4f} {r:>10.4f}")
    return 0


def register(sub) -> None:
    """Add ``endorm score`` to the subparsers ``sub``.

    Flags: --model, --prompt or --messages, --response (required; repeat for several), --system, --method,
    --tokens, --json, --html PATH and --png PATH (token credit maps), every ``RewardOptions`` flag (--alpha
    --gamma --floor --kind --terminal --template --truncate --no-end-token), --dtype, --device.
    """
    sc = sub.add_parser("score", help="score responses with a local causal LM (EndoRM or a judge baseline)")
    sc.add_argument("--model", required=True, metavar="DIR", help="local Hugging Face model directory")
    sc.add_argument("--prompt", metavar="TEXT", help="the prompt (one user turn)")
    sc.add_argument("--messages", metavar="JSON",
                    help='instead of --prompt, a conversation: [{"role": "user", "content": ...}, {"role": '
                         '"assistant", ...}, ..., {"role": "user", ...}]; the response is the next assistant turn')
    sc.add_argument("--response", required=True, action="append", metavar="TEXT",
                    help="response to score (repeat for several; pairwise: first, second)")
    sc.add_argument("--system", metavar="TEXT", help="system prompt / instruction")
    sc.add_argument("--method", choices=sorted(METHODS), default="endorm",
                    help="endorm (the endogenous reward, default) or an Appendix D judge")
    sc.add_argument("--tokens", action="store_true", help="per-token table: token, log pi, V, r_hat (endorm)")
    sc.add_argument("--json", action="store_true", help="print JSON instead of text")
    sc.add_argument("--html", metavar="PATH", help="write a token credit map (tokens coloured by r_hat, hover for "
                    "r_hat, log pi, V) as a self-contained HTML page (endorm)")
    sc.add_argument("--png", metavar="PATH", help="write the token credit map as a PNG, and its numbers as JSON "
                    "beside it (same stem; endorm)")
    add_option_flags(sc, RewardOptions)
    sc.add_argument("--dtype", default=None, help="e.g. float32, bfloat16 (default: the checkpoint's)")
    sc.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    sc.add_argument("--trust-remote-code", action="store_true",
                    help="run the model folder's own Python code (auto_map); off by default, and never asked")
    sc.set_defaults(func=run)
