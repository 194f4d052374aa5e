"""Loading the rl models and tokenizers: no model folder's own code runs unless asked, and one vocabulary.

Every ``from_pretrained`` of ``endorm rl`` passes ``trust_remote_code`` explicitly: False unless the
user opts in (``--trust-remote-code``), so transformers never asks on a terminal whether to run a
folder's code. With False, transformers 5 ignores a ``config.json`` ``auto_map`` when it knows the
``model_type`` (the built-in class loads, the folder's ``.py`` files are never imported) and refuses
otherwise; ``check_custom_code`` turns that refusal into a message naming the flag, before loading.
"""
from __future__ import annotations

import json
from pathlib import Path


def check_custom_code(path, trust_remote_code: bool) -> None:
    """Refuse a model folder that can only load by running its own code, unless ``trust_remote_code``.

    That is a ``config.json`` with an ``auto_map`` and a ``model_type`` transformers does not know (with a
    known one, transformers loads its built-in class and ignores ``auto_map``). An unreadable config
    is left to transformers to report.

    Raises:
        ValueError: ``<path> needs its own Python code to load (config.json: model_type 'x', which
            transformers does not know; auto_map: custom.Config, ...); endorm runs a model folder's code
            only with --trust-remote-code (trust_remote_code=True): read that code first``.
    """
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if trust_remote_code:
        return
    try:
        cfg = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    auto = cfg.get("auto_map") if isinstance(cfg, dict) else None
    if auto and cfg.get("model_type") not in CONFIG_MAPPING:
        names = ", ".join(sorted({str(v) for v in (auto.values() if isinstance(auto, dict) else [auto])}))
        raise ValueError(f"{path} needs its own Python code to load (config.json: model_type "
                         f"{cfg.get('model_type')!r}, which transformers does not know; auto_map: {names}); endorm "
                         "runs a model folder's code only with --trust-remote-code (trust_remote_code=True): read "
                         "that code first")


def load_tokenizer(path, trust_remote_code: bool = False):
    """``endorm.llm.base.load_tokenizer`` (local files only, tokenizer files checked, ``trust_remote_code``
    explicit), after ``check_custom_code``.

    Raises:
        ValueError: as ``check_custom_code``; FileNotFoundError / OSError: as ``base.load_tokenizer``.
    """
    from ..base import load_tokenizer as load

    check_custom_code(path, trust_remote_code)
    return load(path, trust_remote_code)


def load_config(path, trust_remote_code: bool = False):
    """``endorm.llm.base.load_config`` after ``check_custom_code``.

    Raises:
        ValueError: as ``check_custom_code``; FileNotFoundError / OSError: as ``base.load_config``.
    """
    from ..base import load_config as load

    check_custom_code(path, trust_remote_code)
    return load(path, trust_remote_code)


def load_reward(path, dtype=None, device=None, trust_remote_code: bool = False, **options):
    """A frozen ``EndogenousReward`` from a local model folder (``base.load_model_and_tokenizer``, after
    ``check_custom_code``), its model with ``requires_grad`` off.

    Args:
        path: the model folder. dtype: torch dtype or its name (default: the checkpoint's).
        device: default cuda if available, else cpu. trust_remote_code: run the folder's own code.
        **options: ``EndogenousReward`` options.

    Returns:
        the ``EndogenousReward``, its model in eval mode with ``requires_grad`` off.

    Raises:
        FileNotFoundError: no folder, no ``config.json`` or no tokenizer files. ValueError: as
            ``check_custom_code``; a bad dtype name. OSError: loading failed.
    """
    from ..base import load_model_and_tokenizer
    from ..reward import EndogenousReward

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
    check_custom_code(path, trust_remote_code)
    model, tokenizer = load_model_and_tokenizer(path, dtype, device, trust_remote_code)
    return EndogenousReward(model.requires_grad_(False), tokenizer, **options)


def _specials(tok) -> dict:
    pad = {tok.pad_token}
    return {"bos": tok.bos_token, "eos": tok.eos_token, "unk": tok.unk_token,
            "special": sorted(set(tok.all_special_tokens) - pad)}


def check_same_tokenizer(policy_tok, reward_tok, policy_dir, reward_dir) -> None:
    """Raise ValueError unless both tokenizers have the same vocabulary and special tokens (pad excepted).

    Args:
        policy_tok, reward_tok: the two tokenizers; ``get_vocab()`` ({token: id}) must be equal,
            and so must bos, eos, unk and the other special tokens.
        policy_dir, reward_dir: named in the message.

    Raises:
        ValueError: ``the reward model's tokenizer (<reward_dir>) does not match the policy's
            (<policy_dir>): vocabularies differ (...)`` or ``...: special tokens differ (...)``.
    """
    a, b = policy_tok.get_vocab(), reward_tok.get_vocab()
    why = None
    if a != b:
        only = sorted(set(a) ^ set(b))[:3]
        moved = sorted(t for t in set(a) & set(b) if a[t] != b[t])[:3]
        why = (f"vocabularies differ ({len(a)} vs {len(b)} entries; e.g. tokens in one only: {only}, "
               f"with other ids: {moved})")
    elif _specials(policy_tok) != _specials(reward_tok):
        why = f"special tokens differ ({_specials(policy_tok)} vs {_specials(reward_tok)})"
    if why:
        raise ValueError(f"the reward model's tokenizer ({reward_dir}) does not match the policy's ({policy_dir}): "
                         f"{why}. endorm scores the policy's token ids as they are (no re-tokenization), so the "
                         "reward model must share the policy's vocabulary")
