"""``endorm rl``: the command line of ``endorm.llm.rl`` (flags from its ``OPTIONS`` table)."""
from __future__ import annotations

import argparse

from endorm.formulas import KINDS
from endorm.llm.rl.train import OPTION_RANGES as RANGES
from endorm.llm.rl.train import OPTIONS

from ._options import ranged

METAVARS = {"model": "DIR", "prompts": "FILE", "out": "DIR", "reward_model": "DIR"}



def run(args) -> int:
    """Merge defaults < ``--config`` YAML < the flags given, then train.

    Returns:
        The exit status ``train`` returns (0 on success).
    """
    from endorm.llm.rl.train import resolve_options, train

    opts, grpo = resolve_options({k: v for k, v in vars(args).items() if k in OPTIONS}, args.config)
    return train(opts, grpo)


def register(sub) -> None:
    """Add ``endorm rl``: one flag per ``OPTIONS`` entry (default None = not given) and ``--config``."""
    from endorm.llm.rl import train as module

    p = sub.add_parser("rl", help="GRPO fine-tuning with the endogenous reward (TRL)",
                       description=module.__doc__.split("\n\n")[0].replace("``", ""))
    for name, (typ, _, text) in OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if name == "bf16":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif typ is bool:
            p.add_argument(flag, action="store_true", default=None, help=text)
        else:
            required = " (required: a flag or the --config key)" if name in ("model", "prompts", "out") else ""
            kind = ranged(typ, *RANGES[name]) if name in RANGES else typ
            p.add_argument(flag, type=kind, default=None, help=text + required, choices=KINDS if name == "kind" else None,
                           metavar=METAVARS.get(name))
    p.add_argument("--config", metavar="YAML", help="YAML file of option: value (flags given explicitly win)")
    p.set_defaults(func=run)
