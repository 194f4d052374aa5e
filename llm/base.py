"""What every reward method of ``endorm.llm`` shares: the protocol, loading, input checks."""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable


@runtime_checkable
class RewardModel(Protocol):
    """One interface for EndoRM and the judge baselines (the benchmark runner treats them alike).

    ``score`` gives one higher-is-better number per (prompt, response); ``compare`` gives,
    per prompt, the probability that ``second`` is better than ``first``. ``isinstance(obj,
    RewardModel)`` checks only that both methods exist (``runtime_checkable``), not their signatures.
    """

    def score(self, prompts: Sequence[str], responses: Sequence[str], system=None) -> list:
        """One float per (prompt, response), higher is better; ``system``: None, a str or one per item."""
        ...

    def compare(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str], system=None) -> list:
        """P(second better than first), a float in [0, 1] per prompt."""
        ...


class PointwiseCompare:
    """Mixin: ``compare`` from ``score``: Bradley-Terry, P(second better) = sigmoid(s2 - s1) (0.5 on ties)."""

    def compare(self, prompts, first, second, system=None) -> list:
        """P(second better than first) = sigmoid(s2 - s1) per prompt, s = ``self.score`` (s2 - s1 clipped to +-700).

        Returns:
            list of float in [0, 1], one per prompt.

        Raises:
            TypeError, ValueError: as ``self.score`` (called on ``first``, then on ``second``).
        """
        s1 = self.score(prompts, first, system)
        s2 = self.score(prompts, second, system)
        return [1.0 / (1.0 + math.exp(min(700.0, max(-700.0, a - b)))) for a, b in zip(s1, s2)]


def as_batch(prompts, responses, system, name: str = "responses"):
    """Normalize (prompts, responses, system) to equal-length lists; a str (or one conversation) is one item.

    Args:
        prompts: a str or a conversation (a list of ``{"role", "content"}`` mappings: one item), or a
            sequence of them (``templates.as_messages`` checks each conversation).
        responses: a str or a sequence of str.
        system: None or a str (repeated for every item), or one str/None per item.
        name: what ``responses`` is called in error messages (e.g. ``"first"``, ``"second"``).

    Returns:
        (prompts, responses, system): three lists of length n.

    Raises:
        ValueError: lengths differ (``prompts and responses must have the same length, got 2 and 3``).
        TypeError: an item is not a str (``item 1: prompt must be a str or a list of chat messages and
            response a str, got str, int``).
    """
    one = isinstance(prompts, str) or (isinstance(prompts, (list, tuple)) and bool(prompts)
                                       and all(hasattr(m, "get") for m in prompts))
    prompts = [prompts] if one else list(prompts)
    responses = [responses] if isinstance(responses, str) else list(responses)
    if len(prompts) != len(responses):
        raise ValueError(f"prompts and {name} must have the same length, got {len(prompts)} and {len(responses)}")
    if system is None or isinstance(system, str):
        system = [system] * len(prompts)
    else:
        system = list(system)
        if len(system) != len(prompts):
            raise ValueError(f"system must be a str, None or one per prompt; got {len(system)} for {len(prompts)}")
        for i, s in enumerate(system):
            if s is not None and not isinstance(s, str):
                raise TypeError(f"item {i}: system (the instruction) must be a str or None, got {type(s).__name__}")
    for i, (p, r) in enumerate(zip(prompts, responses)):
        if not isinstance(p, (str, list, tuple)) or not isinstance(r, str):
            raise TypeError(f"item {i}: prompt must be a str or a list of chat messages and response a str, got "
                            f"{type(p).__name__}, {type(r).__name__}")
    return prompts, responses, system


#: Files a tokenizer folder has (one is enough: a fast ``tokenizer.json``, a config, BPE, SentencePiece or WordPiece files).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "tokenizer.model",
                   "spiece.model", "vocab.txt")


def load_tokenizer(path, trust_remote_code: bool = False):
    """The tokenizer of a local model folder, checked to exist (transformers would build an empty one).

    Args:
        path: a Hugging Face model directory.
        trust_remote_code: run the folder's own tokenizer code (``auto_map``); False (the default)
            never does, and never asks.

    Returns:
        the tokenizer (``AutoTokenizer``, local files only).

    Raises:
        FileNotFoundError: no such directory (``model directory not found: DIR``), or no tokenizer file
            in it (``DIR has no tokenizer files (looked for tokenizer.json, ...)``).
        OSError: a tokenizer file that cannot be read (``DIR: cannot load its tokenizer (...)``), or a chat
            template that does not compile (``DIR: the chat template does not compile (...)``).
    """
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"model directory not found: {path}")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise FileNotFoundError(f"{path} has no tokenizer files (looked for {', '.join(TOKENIZER_FILES)}); copy "
                                "the tokenizer of the model into it")
    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=bool(trust_remote_code))
    except Exception as e:  # noqa: BLE001 -- a corrupt tokenizer.json raises json or tokenizers errors
        raise OSError(f"{path}: cannot load its tokenizer ({type(e).__name__}: {e})") from None
    if getattr(tok, "chat_template", None):
        _check_chat_template(tok, path)
    return tok


def _check_chat_template(tok, path) -> None:
    """An OSError naming the folder if its chat template does not even compile (a broken file is not a data error)."""
    try:
        tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    except Exception as e:  # noqa: BLE001 -- only syntax errors are the template's own fault
        if type(e).__name__ == "TemplateSyntaxError":
            raise OSError(f"{path}: the chat template does not compile ({type(e).__name__}: {e}); fix "
                          "chat_template.jinja or the chat_template in tokenizer_config.json") from None


def load_config(path, trust_remote_code: bool = False):
    """The model config of a local folder (``AutoConfig``, local files only, no remote code unless asked).

    Raises:
        FileNotFoundError: no such directory, or no ``config.json`` in it.
    """
    from transformers import AutoConfig

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"model directory not found: {path}")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
    try:
        return AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=bool(trust_remote_code))
    except (OSError, ValueError) as e:
        raise type(e)(f"{path}: cannot load config.json ({e})") from None


def load_model_and_tokenizer(path, dtype=None, device=None, trust_remote_code: bool = False, tokenizer=None):
    """Load a causal LM and its tokenizer from a local directory (never from a hub).

    A tokenizer without a pad token gets its eos token as pad, with a warning; float16 on CPU warns.

    Args:
        path: a Hugging Face model directory (with ``config.json``).
        dtype: None/"auto" (the checkpoint's), a torch dtype or its name ("bfloat16").
        device: e.g. "cpu", "cuda:1" (default: "cuda" if available, else "cpu").
        trust_remote_code: run the folder's own model code (``auto_map``); False (default): never, and never
            ask (``--trust-remote-code`` opts in).
        tokenizer: the folder's tokenizer when the caller has loaded it already (``load_tokenizer``, e.g. to
            check its inputs before the weights load); None: loaded here.

    Returns:
        (model, tokenizer): the model on ``device``, in eval mode.

    Raises:
        FileNotFoundError: no such directory (``model directory not found: DIR``), no ``config.json``, or no
            tokenizer files (``load_tokenizer``).
        ValueError: ``dtype`` is not a torch dtype name; the tokenizer has neither a pad nor an eos token.
        OSError: loading failed (``could not load a model and tokenizer from DIR: ErrorType: ...``).
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"model directory not found: {path}")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
    if isinstance(dtype, str) and dtype != "auto":
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"dtype must be a torch dtype name such as 'float32' or 'bfloat16', got {dtype!r}")
        dtype = getattr(torch, dtype)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cpu") and dtype in (torch.float16,):
        warnings.warn("float16 on CPU is slow and inexact; consider float32 or bfloat16")
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(path, trust_remote_code)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype or "auto",
                                                     trust_remote_code=bool(trust_remote_code))
    except Exception as e:  # noqa: BLE001 -- corrupt weights raise library-specific errors
        raise OSError(f"could not load a model and tokenizer from {path}: {type(e).__name__}: {e}") from e
    ensure_pad_token(tokenizer)
    return model.to(device).eval(), tokenizer


class FromPretrained:
    """Mixin: ``cls.from_pretrained(path, dtype=None, device=None, **kwargs)`` for classes of (model, tokenizer)."""

    @classmethod
    def from_pretrained(cls, path, dtype=None, device=None, trust_remote_code=False, **kwargs):
        """Load model and tokenizer from a local directory (no remote code unless asked); ``kwargs`` go to the constructor.

        Returns:
            ``cls(model, tokenizer, **kwargs)``.

        Raises:
            FileNotFoundError, ValueError, OSError: as ``load_model_and_tokenizer``; and the constructor's.
        """
        model, tokenizer = load_model_and_tokenizer(path, dtype, device, trust_remote_code)
        return cls(model, tokenizer, **kwargs)


def context_length(model, max_length=None) -> int:
    """The context length in tokens: ``max_length`` if given, else the model config's.

    Returns:
        ``max_length``, else ``max_position_embeddings`` or ``n_positions``, else 10**9 (none known); an int.
    """
    cfg = model.config
    return int(max_length or getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
               or 10**9)


def length_batches(lengths, batch_size: int) -> list:
    """Indices sorted by decreasing length, cut into batches (less padding per batch).

    Args:
        lengths: the items' lengths in tokens, [n].
        batch_size: the most items per batch, >= 1 (not checked here).

    Returns:
        list of lists of indices into ``lengths``; together a permutation of range(n).
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]


def ensure_pad_token(tokenizer) -> None:
    """Give a tokenizer without a pad token its eos token as pad (in place, with a warning).

    Padding is always masked, so which token pads does not change a score.

    Raises:
        ValueError: the tokenizer has neither a pad nor an eos token.
    """
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has neither a pad nor an eos token; set tokenizer.pad_token")
        tokenizer.pad_token = tokenizer.eos_token
        warnings.warn(f"tokenizer has no pad token; using its eos token {tokenizer.eos_token!r} as pad "
                      "(padding is masked, so scores do not depend on it)")


def cache_keyword(module) -> str:
    """The name under which ``module.forward`` takes and returns its KV cache.

    transformers 5.24 documents ``cache`` (``past_key_values`` still works there but warns, and
    goes in 5.40); older releases only know ``past_key_values``. Read from the forward's
    signature, so neither a deprecation warning nor a removed alias can switch sharing off.

    Args:
        module: a transformers model, e.g. the base model of a causal LM.

    Returns:
        ``"cache"`` or ``"past_key_values"``.
    """
    import inspect

    params = inspect.signature(module.forward).parameters
    return "cache" if "cache" in params or "past_key_values" not in params else "past_key_values"
