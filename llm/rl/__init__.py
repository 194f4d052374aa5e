"""RL with the endogenous reward (TRL GRPO): the reward function, the trainer and ``endorm rl``.

``reward_fn``: ``EndogenousRewardFunction`` (TRL's reward-function protocol) and
``EndogenousGRPOTrainer``; ``train``: options, prompts, run folder and training; ``callbacks``:
per-step logs to a file; ``checkpoints``: a marker in each complete checkpoint, resuming from the
last complete one; ``models``: loading without running a model folder's code unless asked;
``curves``: reward and KL per step. The names below import trl only when first used.
"""
_LAZY = {"EndogenousRewardFunction": "reward_fn", "EndogenousGRPOTrainer": "reward_fn", "tokenize_prompts": "reward_fn",
         "check_same_tokenizer": "reward_fn", "grpo_config": "reward_fn"}


__all__ = list(_LAZY)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
