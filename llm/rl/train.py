"""RL fine-tuning with the endogenous reward: ``endorm rl`` (TRL's GRPOTrainer; needs ``endorm[rl]``).

The paper's protocol (MATH.md, "Evaluation and RL protocol"): GRPO, policy and frozen reward
model both the base model, KL coefficient beta = 0.01, prompt and response length 1024,
temperature 1.0. KL-regularized RL on r_hat sharpens the model toward its most likely
responses (Sec. 4.3: the optimum is pi_hat^((alpha + beta) / beta)).

Usage::

    endorm rl --model DIR --prompts FILE --out DIR [--reward-model DIR] [--beta 0.01]
              [--num-generations 8] [--max-prompt-length 1024] [--max-completion-length 1024]
              [--lr 1e-6] [--steps 100] [--seed 0] [--config YAML] ...

    # several GPUs: one process per GPU, each scores its own completions
    accelerate launch --num_processes 8 -m endorm.cli rl --model DIR --prompts FILE --out DIR

* ``--prompts``: JSONL, one ``{"prompt": "text"}`` or ``{"prompt": [{"role": ..., "content":
  ...}, ...]}`` per line (all lines of one kind; chat prompts go through the policy's chat
  template with the generation prompt). A prompt longer than ``--max-prompt-length`` tokens is
  an error (TRL 1.16 has no prompt truncation), as is a malformed line (file:line).
* The reward (``llm/rl/reward_fn.py``): ``EndogenousRewardFunction``, a frozen copy of the policy's
  initial weights (``--reward-model DIR`` for another model with the same tokenizer: distillation).
  With beta > 0 it shares TRL's reference model and, when alpha equals the temperature, its
  forward pass.
* Device: on a machine without a GPU, ``GRPOConfig(use_cpu=True, bf16=False)``; asking for bf16
  there is an error. With a GPU, bf16 is the default (``--no-bf16`` to turn it off).
* Output: ``run.json`` (what the run is), TRL checkpoints ``checkpoint-N/`` every ``--save-steps``
  and at the end, ``final/`` (the trained model and tokenizer), ``curves.json`` and ``curves.png``
  (mean reward and KL per logged step, from the trainer's log history; written atomically). A
  rerun with the same settings resumes from the last *complete* checkpoint (``checkpoints.py``:
  each gets a marker ``endorm-complete.json`` once saved; one cut short by a kill is skipped,
  named on stderr and moved to ``incomplete-checkpoint-N``); a folder that holds a different run
  (or anything else) is refused and left untouched, and so is a folder another ``endorm rl`` is
  training in (``runs.run_lock``: an OS file lock that a killed process releases).
* Model code: every ``from_pretrained`` (the tokenizers, configs, TRL's policy and reference, the
  reward model) gets ``trust_remote_code=False`` unless ``--trust-remote-code`` is given, so a
  model folder's own Python code (``config.json`` ``auto_map``) never runs and transformers never
  asks; a folder that cannot load without it is an error naming the flag (``models.py``).
* ``--config YAML``: keys are the option names (``beta``, ``max-completion-length`` or
  ``max_completion_length``, ...) plus ``grpo: {...}``, passed to ``GRPOConfig`` as is (e.g.
  ``gradient_accumulation_steps``, ``scale_rewards``, ``model_init_kwargs``; not the fields the
  options set, nor ``model_init_kwargs.trust_remote_code``). Precedence: a flag given on the command
  line > the YAML file > the defaults.
  Paths in the file are relative to the working directory.
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

from ..options import RewardOptions
from .curves import CURVES, curves, write_curves  # noqa: F401 -- re-exported


def _reward_option(name: str, typ) -> tuple:
    f = RewardOptions.__dataclass_fields__[name]
    return typ, f.default, "EndoRM " + f.metadata["help"]


# name: (type, default, help). A default of None for model/prompts/out: required, from the flag or the YAML file.
OPTIONS = {
    "model": (str, None, "local Hugging Face model directory of the policy"),
    "prompts": (str, None, "JSONL file of {\"prompt\": text or chat messages}"),
    "out": (str, None, "output folder (checkpoints, final model, curves)"),
    "reward_model": (str, None, "reward model directory (default: the policy's, a frozen copy)"),
    "beta": (float, 0.01, "KL coefficient (default 0.01, the paper's)"),
    "num_generations": (int, 8, "completions per prompt, G (default 8)"),
    "max_prompt_length": (int, 1024, "longest prompt in tokens; a longer one is an error (default 1024)"),
    "max_completion_length": (int, 1024, "longest completion in tokens (default 1024)"),
    "lr": (float, 1e-6, "learning rate (default 1e-6)"),
    "steps": (int, 100, "optimizer steps (default 100)"),
    "seed": (int, 0, "seed of sampling and data order (default 0)"),
    "batch_size": (int, None, "completions per device per step (default: num-generations)"),
    "temperature": (float, 1.0, "sampling temperature (default 1.0)"),
    "alpha": _reward_option("alpha", float),
    "gamma": _reward_option("gamma", float),
    "floor": _reward_option("floor", float),
    "kind": _reward_option("kind", str),
    "reward_batch_size": (int, 8, "EndoRM batch size (default 8)"),
    "save_steps": (int, 50, "checkpoint every N steps (default 50)"),
    "logging_steps": (int, 1, "log every N steps (default 1)"),
    "bf16": (bool, None, "bf16 mixed precision (default: on with a GPU; an error without one)"),
    "no_end_token": (bool, False, "EndoRM: do not score the completion's EOS (its end-of-turn token; scored by "
                                  "default, as in endorm score and bench)"),
    "no_progress": (bool, False, "hide the progress bar"),
    "trust_remote_code": (bool, False, "let the model folders run their own Python code (config.json auto_map) when "
                                       "loaded; default: never"),
}
#: The range of each numeric option (``endorm._checks.check_range``: low, high, low_open, high_open); an option not named here has none.
OPTION_RANGES = {
    "beta": (0.0,), "num_generations": (2,), "max_prompt_length": (1,), "max_completion_length": (1,),
    "lr": (0.0, None, True), "steps": (1,), "seed": (0, 2**32 - 1), "batch_size": (1,),
    "temperature": (0.0, None, True), "alpha": (0.0, None, True), "gamma": (0.0, 1.0, True), "floor": (0.0, 1.0),
    "reward_batch_size": (1,), "save_steps": (1,), "logging_steps": (1,)}
GRPO_FIELDS = {"beta": "beta", "num_generations": "num_generations", "max_completion_length": "max_completion_length",
               "lr": "learning_rate", "steps": "max_steps", "seed": "seed", "batch_size": "per_device_train_batch_size",
               "temperature": "temperature", "save_steps": "save_steps", "logging_steps": "logging_steps",
               "bf16": "bf16", "trust_remote_code": "trust_remote_code"}
# may change between a run and its resume
NOT_IDENTITY = ("out", "save_steps", "logging_steps", "no_progress", "trust_remote_code")


# ---------------------------------------------------------------------- options, prompts, identity
def load_config(path) -> tuple[dict, dict]:
    """(options, grpo extras) from a YAML file; unknown keys and wrong types are errors naming the file.

    Keys are ``OPTIONS`` names (``-`` or ``_``) plus ``grpo: {GRPOConfig field: value}``; an int is
    accepted for a float option.

    Returns:
        ``(options, grpo)``: ``{option: value}`` for the keys present (converted to the option's
        type), and the ``grpo`` mapping as given (empty if absent).

    Raises:
        FileNotFoundError: ``config file not found: <path>``.
        ValueError: ``<path>: not valid YAML (...)``, ``<path>: expected a mapping of option: value,
            got list``, ``<path>: unknown key 'x'; expected one of ...``, ``<path>: beta must be
            float, got 'a'``, ``<path>: 'grpo' must be a mapping ...``, ``<path>: grpo.beta is set
            by an endorm option; use the top-level key instead``.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError, ValueError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e).replace("\n", " ")
        raise ValueError(f"{path}: not valid YAML ({why})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of option: value, got {type(data).__name__}")
    opts, grpo = {}, {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name == "grpo":
            if not isinstance(value, dict):
                raise ValueError(f"{path}: 'grpo' must be a mapping of GRPOConfig fields")
            taken = sorted(set(value) & (set(GRPO_FIELDS.values()) | {"output_dir", "use_cpu"}))
            if "trust_remote_code" in (value.get("model_init_kwargs") or {}):
                taken = ["model_init_kwargs.trust_remote_code"]
            if taken:
                raise ValueError(f"{path}: grpo.{taken[0]} is set by an endorm option; use the top-level key instead")
            grpo = dict(value)
        elif name not in OPTIONS:
            raise ValueError(f"{path}: unknown key {key!r}; expected one of {', '.join(OPTIONS)} or grpo")
        else:
            typ = OPTIONS[name][0]
            ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
            if not ok and not (typ is float and isinstance(value, int) and not isinstance(value, bool)):
                raise ValueError(f"{path}: {key} must be {typ.__name__}, got {value!r}")
            opts[name] = typ(value)
    return opts, grpo


def resolve_options(flags: dict, config=None) -> tuple[dict, dict]:
    """Defaults < the YAML file ``config`` < ``flags`` (option: value, None = not given).

    Returns:
        (options: every name of ``OPTIONS``, grpo extras for ``GRPOConfig``).

    Raises:
        ValueError / FileNotFoundError: a missing required option, an out-of-range value (named as
            its flag), or a bad config file (named).
    """
    opts = {name: default for name, (_, default, _) in OPTIONS.items()}
    yaml_opts, grpo = load_config(config) if config else ({}, {})
    opts.update(yaml_opts)
    opts.update({k: v for k, v in flags.items() if k in OPTIONS and v is not None})
    for name in ("model", "prompts", "out"):
        if opts[name] is None:
            raise ValueError(f"--{name} is required (a flag or the config key {name!r})")
    if opts["batch_size"] is None:
        opts["batch_size"] = opts["num_generations"]
    from endorm._checks import check_range

    for name, bounds in OPTION_RANGES.items():  # flags were checked by the parser; the YAML values are here
        flag = "--" + name.replace("_", "-")
        where = f"{flag} (config key {name!r} of {config})" if name in yaml_opts and flags.get(name) is None else flag
        opts[name] = check_range(opts[name], where, *bounds, kind=OPTIONS[name][0])
    return opts, grpo


def _prompt_lines(path) -> list:
    """(line number, prompt) for every non-blank line; a malformed line is a ValueError naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompts file not found: {path}")
    from endorm._io import parse_json_line

    out, kinds = [], set()
    for n, raw in enumerate(path.read_bytes().split(b"\n"), 1):  # only "\n" ends a line (not U+2028)
        if not raw.strip():
            continue
        try:
            rec = parse_json_line(raw)  # not UTF-8, not JSON, too deep, not Unicode: one message
        except ValueError as e:
            raise ValueError(f"{path}:{n}: {e}") from None
        line = raw.decode("utf-8")
        p = rec.get("prompt") if isinstance(rec, dict) else None
        chat = isinstance(p, list) and len(p) > 0 and all(
            isinstance(m, dict) and set(m) == {"role", "content"} and isinstance(m["role"], str)
            and isinstance(m["content"], str) for m in p)
        if not (chat or (isinstance(p, str) and p.strip())):
            raise ValueError(f"{path}:{n}: expected {{\"prompt\": non-empty text}} or {{\"prompt\": [{{\"role\": str, "
                             f"\"content\": str}}, ...]}}, got {line.strip()[:80]}")
        kinds.add(chat)
        if len(kinds) > 1:
            raise ValueError(f"{path}:{n}: mixes chat-message and plain-text prompts; use one kind per file")
        out.append((n, p))
    if not out:
        raise ValueError(f"{path}: no prompts")
    return out


def check_prompt_lengths(lines, tokenizer, path, max_prompt: int, max_completion: int, contexts: dict) -> None:
    """Every prompt of ``lines`` [(line, prompt)] fits ``max_prompt`` tokens; prompt + completion fits each context.

    Args:
        lines: ``[(line number, prompt)]`` from the prompts file (text or chat messages).
        tokenizer: the policy's tokenizer; prompts are tokenized as TRL does (``tokenize_prompts``).
        path: the prompts file, named in messages.
        max_prompt, max_completion: ``--max-prompt-length`` and ``--max-completion-length`` (tokens).
        contexts: ``{model directory: context length in tokens}``.

    Raises:
        ValueError: ``<path> holds chat prompts but the policy's tokenizer has no chat template``,
            ``<path>:<line>: the prompt has 1100 tokens, more than --max-prompt-length 1024``, or
            ``the longest prompt (900 tokens) + --max-completion-length 1024 exceeds the context of
            1024 tokens of <dir>``.
    """
    from .reward_fn import tokenize_prompts

    if isinstance(lines[0][1], list) and not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{path} holds chat prompts but the policy's tokenizer has no chat template")
    lengths = [len(ids) for ids in tokenize_prompts(tokenizer, [p for _, p in lines])]
    for (n, _), k in zip(lines, lengths):
        if k > max_prompt:
            raise ValueError(f"{path}:{n}: the prompt has {k} tokens, more than --max-prompt-length {max_prompt}")
    for where, ctx in contexts.items():
        if max(lengths) + max_completion > ctx:
            raise ValueError(f"the longest prompt ({max(lengths)} tokens) + --max-completion-length {max_completion} "
                             f"exceeds the context of {ctx} tokens of {where}")


def run_identity(opts: dict, grpo: dict) -> dict:
    """What makes a run this run (run.json): resolved paths, the prompts' content hash, every setting.

    Returns:
        ``{"command": "endorm rl", <every option but NOT_IDENTITY>, "reward_model" (resolved; the
        policy's when not given), "prompts_sha256", "grpo" (JSON-safe copy)}``; model and prompts
        paths resolved.

    Raises:
        OSError: the prompts file cannot be read.
    """
    meta = {"command": "endorm rl"}
    for k, v in opts.items():
        if k not in NOT_IDENTITY:
            meta[k] = str(Path(v).resolve()) if k in ("model", "prompts", "reward_model") and v else v
    meta["reward_model"] = str(Path(opts["reward_model"] or opts["model"]).resolve())
    meta["prompts_sha256"] = hashlib.sha256(Path(opts["prompts"]).read_bytes()).hexdigest()
    meta["grpo"] = json.loads(json.dumps(grpo, default=str))
    return meta


def check_out_dir(out: Path, meta: dict) -> None:
    """Claim ``out`` for this run: new, empty, or holding this same run; otherwise an error (nothing written).

    Writes ``out/run.json`` (``meta``) when the folder is new or empty (hidden files ignored).

    Raises:
        ValueError: ``--out <out> is a file, not a folder``, ``<out> is not empty and holds no endorm
            rl run (no run.json); use another --out``, or ``<out> holds a different run (differs in
            beta); use another --out or delete it``.
    """
    from ..runs import check_run

    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if out.is_dir() and not (out / "run.json").exists() and any(not p.name.startswith(".") for p in out.iterdir()):
        raise ValueError(f"{out} is not empty and holds no endorm rl run (no run.json); use another --out")
    check_run(out, meta)


# ---------------------------------------------------------------------- the command
def train(opts: dict, grpo: dict) -> int:
    """``endorm rl``: validate everything, claim ``out``, then train (resuming) with EndogenousGRPOTrainer.

    Args:
        opts, grpo: from ``resolve_options``.

    Returns:
        0. Prints the reward's first and last logged values and the files written.

    Raises:
        ValueError / FileNotFoundError: bad settings, prompts or model folders (before any write;
            e.g. ``bf16/fp16 training needs a GPU and none is available; ...``, ``GRPOConfig: ...``
            for an unknown grpo field, a tokenizer mismatch, a model folder that needs its own code
            without ``trust_remote_code``), ``out`` holding something else, or ``out`` in use by
            another process (``... is in use by another endorm process ...``).
        OSError: a tokenizer or model that cannot be loaded.
    """
    import torch

    from ..base import context_length, ensure_pad_token
    from .models import load_config as load_model_config, load_tokenizer
    from .reward_fn import EndogenousRewardFunction, check_same_tokenizer

    model_dir, out = Path(opts["model"]), Path(opts["out"])
    reward_dir = Path(opts["reward_model"] or opts["model"])
    for what, d in (("model", model_dir), ("reward model", reward_dir)):
        if not (d / "config.json").is_file():
            raise FileNotFoundError(f"{what} directory not found or not a Hugging Face model (no config.json): {d}")
    gpu = torch.cuda.is_available()
    if (opts["bf16"] or grpo.get("fp16")) and not gpu:
        raise ValueError("bf16/fp16 training needs a GPU and none is available; drop --bf16 (or set bf16: false)")
    opts["bf16"] = (gpu and torch.cuda.is_bf16_supported()) if opts["bf16"] is None else opts["bf16"]
    lines = _prompt_lines(opts["prompts"])
    trust = bool(opts["trust_remote_code"])
    tok = load_tokenizer(model_dir, trust)
    ensure_pad_token(tok)
    if reward_dir.resolve() != model_dir.resolve():
        check_same_tokenizer(tok, load_tokenizer(reward_dir, trust), model_dir, reward_dir)
    contexts = {str(d): context_length(SimpleNamespace(config=load_model_config(d, trust)))
                for d in {model_dir, reward_dir}}
    check_prompt_lengths(lines, tok, opts["prompts"], opts["max_prompt_length"], opts["max_completion_length"],
                         contexts)
    config = _grpo_config(opts, grpo, out, use_cpu=not gpu)
    reward = EndogenousRewardFunction(reward_dir, alpha=opts["alpha"], gamma=opts["gamma"], floor=opts["floor"],
                                      kind=opts["kind"], batch_size=opts["reward_batch_size"],
                                      end_token=not opts["no_end_token"], trust_remote_code=trust)
    check_out_dir(out, run_identity(opts, grpo))  # the first write, after every check

    from ..runs import run_lock

    main = int(os.environ.get("RANK", "0")) == 0  # accelerate launch: one lock per folder, held by the main process
    with run_lock(out) if main else nullcontext():  # a second endorm rl on this folder is refused
        return _train_resuming(out, model_dir, tok, lines, reward, config)


def _train_resuming(out: Path, model_dir: Path, tok, lines, reward, config) -> int:
    """Train from the last complete checkpoint in ``out`` (if any), save ``final/``, write and print the curves."""
    from datasets import Dataset

    from ..runs import library_output_to
    from .callbacks import quiet_trainer
    from .checkpoints import resume_point
    from .reward_fn import EndogenousGRPOTrainer

    with library_output_to(out / "run.log"):  # library deprecations and log records; per-step logs: JSONL
        trainer = EndogenousGRPOTrainer(model=str(model_dir), reward_funcs=reward, args=config,
                                        processing_class=tok,
                                        train_dataset=Dataset.from_list([{"prompt": p} for _, p in lines]))
        quiet_trainer(trainer, out / "trainer_log.jsonl")
        last = resume_point(trainer, out)  # the last complete checkpoint (broken ones skipped, named on stderr)
        trainer.train(resume_from_checkpoint=last)
        trainer.save_model(str(out / "final"))
    if trainer.is_world_process_zero():
        js, png = write_curves(out, trainer.state.log_history)
        c = curves(trainer.state.log_history)
        if c["step"]:
            print(f"reward {c['reward'][0]:.4g} -> {c['reward'][-1]:.4g} over steps {c['step'][0]}..{c['step'][-1]}"
                  f"{'' if last is None else f' (resumed from {Path(last).name})'}; "
                  f"shared reference forward: {reward.shares_forward}")
        print(f"wrote {out / 'final'}, {js}, {png}")
    return 0


def _grpo_config(opts: dict, grpo: dict, out: Path, use_cpu: bool):
    """The run's ``GRPOConfig``: the options' fields, then the YAML ``grpo`` extras (ValueError: unknown field)."""
    from .reward_fn import grpo_config

    kwargs = {field: opts[name] for name, field in GRPO_FIELDS.items()}
    kwargs.update(use_cpu=use_cpu, output_dir=str(out), save_strategy="steps", report_to="none",
                  disable_tqdm=bool(opts["no_progress"]), disable_dropout=True)
    kwargs.update(grpo)
    try:
        return grpo_config(**kwargs)
    except TypeError as e:  # an unknown field in the YAML's grpo section
        raise ValueError(f"GRPOConfig: {e}") from None

