"""``endorm bench``: the command line of ``endorm.llm.bench``."""
from __future__ import annotations

from endorm.llm.bench.files import RM_BENCH_DOMAINS
from endorm.llm.bench.loaders import FORMATS, MULTIFACETED_PAIRS
from endorm.llm.options import RewardOptions

from ._options import POSITIVE_INT, SEED, add_option_flags


def run(args) -> int:
    """Build a ``BenchConfig`` from the flags, run it and print the report.

    Returns:
        The exit status, 0 (bad input raises ValueError/TypeError/OSError: ``main`` makes it status 2).
    """
    from endorm.llm.bench.run import BenchConfig, run_bench

    cfg = BenchConfig(
        model=args.model, data=args.data if len(args.data) > 1 else args.data[0], out=args.out, format=args.format,
        domain=args.domain,
        methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()),
        reward=RewardOptions.from_mapping(vars(args)), system_prompt=args.system_prompt,
        domain_prompts=args.domain_prompts, compare_paper=args.compare_paper, skip_invalid=args.skip_invalid,
        limit=args.limit, multifaceted_pairs=args.multifaceted_pairs, dsp_domains=args.dsp_domains,
        batch_size=args.batch_size, chunk=args.chunk, dtype=args.dtype, device=args.device, seed=args.seed,
        progress=not args.no_progress, trust_remote_code=args.trust_remote_code)
    text = run_bench(cfg)
    if text is not None:
        print(text)
    return 0


def register(sub) -> None:
    """Add ``endorm bench`` to the subparsers ``sub``.

    Flags: --model, --data (one or more files), --out (required), --format, --domain, --methods, --system-prompt, --domain-prompts,
    --compare-paper, --skip-invalid, --limit, --multifaceted-pairs, --dsp-domains, --batch-size, --chunk,
    the reward options --alpha --gamma --floor --template --truncate --no-end-token, --dtype, --device, --seed, --no-progress.
    """
    b = sub.add_parser("bench", help="reward-model benchmarks from local files (RM-Bench, RewardBench, ...)")
    b.add_argument("--model", required=True, metavar="DIR", help="local Hugging Face model directory")
    b.add_argument("--data", required=True, nargs="+", metavar="FILE",
                   help="local .json, .jsonl or .parquet file(s), scored as one run (e.g. the four RM-Bench files)")
    b.add_argument("--format", choices=FORMATS, help="data format (default: detected from each file's records and name)")
    b.add_argument("--domain", choices=RM_BENCH_DOMAINS,
                   help="RM-Bench domain of every record (default: the record's 'domain' key, else the file name, "
                        "e.g. chat_filtered.json -> chat)")
    b.add_argument("--methods", default="endorm", help="comma-separated: endorm,verifier,pointwise,pairwise (default endorm)")
    b.add_argument("--out", required=True, metavar="DIR", help="output folder (scores.jsonl, results.json/.md)")
    b.add_argument("--system-prompt", metavar="TEXT", help="system prompt for every item (promptable reward)")
    b.add_argument("--domain-prompts", metavar="FILE",
                   help="JSON {domain: system prompt}: DSP cross-domain mode, the 4x4 matrix of Table 2")
    b.add_argument("--compare-paper", action="store_true", help="print the paper's numbers beside ours")
    b.add_argument("--skip-invalid", action="store_true", help="skip malformed records and report the count")
    b.add_argument("--limit", type=POSITIVE_INT, help="only the first N records of each data file")
    b.add_argument("--multifaceted-pairs", default="other-system", choices=MULTIFACETED_PAIRS,
                   help="how Multifaceted-Bench rows become pairs (see docs/bench.md)")
    b.add_argument("--dsp-domains", type=lambda s: tuple(x.strip() for x in s.split(",")), default=None,
                   help="DSP data domains, comma-separated (default academy,business,entertainment,literature)")
    b.add_argument("--batch-size", type=POSITIVE_INT, default=8, help="items per forward pass (default 8)")
    b.add_argument("--chunk", type=POSITIVE_INT, default=16, help="records per scoring call; a kill loses at most one (default 16)")
    add_option_flags(b, RewardOptions, ("alpha", "gamma", "floor", "template", "truncate", "end_token"))
    b.add_argument("--dtype", default=None, help="e.g. float32, bfloat16 (default: the checkpoint's)")
    b.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    b.add_argument("--trust-remote-code", action="store_true",
                   help="run the model folder's own Python code (auto_map); off by default, and never asked")
    b.add_argument("--seed", type=SEED, default=0, help="seed of the bootstrap intervals (default 0)")
    b.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    b.set_defaults(func=run)
