"""Tiny local models for tests, examples and benchmarks: nothing is downloaded.

``build_tokenizer`` trains a small byte-level BPE tokenizer on a fixed built-in corpus
(deterministic), with a ChatML chat template; ``tiny_causal_lm`` builds a randomly
initialized GPT-2, Llama or Qwen2 model from a config; ``save_tiny_model`` writes both
to a local Hugging Face model directory that ``from_pretrained`` loads.
"""
from __future__ import annotations

from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = """You are an AI evaluator. Your role is to assess AI-generated text for its quality.
Is 'Response 2' better than 'Response 1'? Respond with only YES or NO. Yes no yes no.
### Query
### Response
### Instruction
Provide a single integer score from 1 to 10: 1 2 3 4 5 6 7 8 9 10.
The quick brown fox jumps over the lazy dog. Hello world! What is 2 + 2? It is 4.
A language model trained by next-token prediction already contains a reward model.
Solve for x: 3x + 5 = 20, so x = 5. The answer is \\boxed{5}.
"""


def build_tokenizer(vocab_size: int = 320, chat_template: bool = True, pad_token: bool = True):
    """A fast byte-level BPE tokenizer (any text encodes, offsets are exact), trained on a built-in corpus.

    Special tokens: ``<|endoftext|>`` (eos), ``<|im_start|>``, ``<|im_end|>`` and, if
    ``pad_token``, ``<|pad|>``.

    Args:
        vocab_size: the most tokens in the vocabulary (specials included).
        chat_template: attach ``CHATML_TEMPLATE``.
        pad_token: add ``<|pad|>`` as the pad token (False: none, to test the eos fallback).

    Returns:
        A ``transformers.PreTrainedTokenizerFast``; deterministic.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + (["<|pad|>"] if pad_token else [])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    kwargs = dict(tokenizer_object=tok, eos_token="<|endoftext|>")
    if pad_token:
        kwargs["pad_token"] = "<|pad|>"
    if chat_template:
        kwargs["chat_template"] = CHATML_TEMPLATE
    return PreTrainedTokenizerFast(**kwargs)


def tiny_causal_lm(arch: str = "gpt2", vocab_size: int = 320, seed: int = 0, max_positions: int = 512,
                   hidden: int = 32, layers: int = 2):
    """A randomly initialized causal LM of the given architecture ("gpt2", "llama", "qwen2").

    Args:
        arch: "gpt2" (tied embeddings) or "llama"/"qwen2" (untied LM head, grouped-query attention).
        vocab_size: the vocabulary size (``len(tokenizer)``).
        seed: ``torch.manual_seed`` before the weights are drawn.
        max_positions: the context in tokens.
        hidden, layers: hidden size and layer count (2 attention heads).

    Returns:
        The model (float32, CPU), in eval mode.

    Raises:
        ValueError: an unknown ``arch`` (``arch must be 'gpt2', 'llama' or 'qwen2', got 'x'``).
    """
    import torch
    from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config,
                              Qwen2ForCausalLM)

    torch.manual_seed(seed)
    if arch == "gpt2":
        cfg = GPT2Config(vocab_size=vocab_size, n_positions=max_positions, n_embd=hidden, n_layer=layers,
                         n_head=2, bos_token_id=None, eos_token_id=None)
        model = GPT2LMHeadModel(cfg)
    elif arch in ("llama", "qwen2"):
        Config, Model = (LlamaConfig, LlamaForCausalLM) if arch == "llama" else (Qwen2Config, Qwen2ForCausalLM)
        cfg = Config(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                     num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1,
                     max_position_embeddings=max_positions, tie_word_embeddings=False)
        model = Model(cfg)
    else:
        raise ValueError(f"arch must be 'gpt2', 'llama' or 'qwen2', got {arch!r}")
    return model.eval()


def save_tiny_model(path, arch: str = "gpt2", seed: int = 0, chat_template: bool = True, pad_token: bool = True,
                    max_positions: int = 512) -> Path:
    """Write a tiny model and its tokenizer to ``path`` (a local Hugging Face model directory).

    The tokenizer is ``build_tokenizer(chat_template=..., pad_token=...)``; the model is
    ``tiny_causal_lm(arch, len(tokenizer), seed, max_positions)`` with the tokenizer's eos/pad ids.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError: an unknown ``arch``.
    """
    tok = build_tokenizer(chat_template=chat_template, pad_token=pad_token)
    model = tiny_causal_lm(arch, len(tok), seed, max_positions)
    model.config.eos_token_id = tok.eos_token_id
    if tok.pad_token_id is not None:
        model.config.pad_token_id = tok.pad_token_id
    path = Path(path)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def word_tokenizer(words, pad_token: str | None = None, eos_token: str | None = None):
    """A whitespace word-level tokenizer whose vocabulary is exactly ``words`` (ids 0..len-1).

    For models with a tiny vocabulary (e.g. 4 tokens) whose whole prefix tree is enumerated.

    Args:
        words: the vocabulary, [vocab] list of str; ``words[0]`` is also the unknown token.
        pad_token, eos_token: optional special tokens (words of the vocabulary).

    Returns:
        A ``transformers.PreTrainedTokenizerFast``.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=words[0]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=pad_token, eos_token=eos_token)


#: Turn markers of the chat templates in ``../shared/tokenizers/templates/`` that the Qwen vocabulary lacks;
#: their own tokenizers have them as special tokens, so ``real_tokenizer(..., markers=True)`` adds them.
TEMPLATE_MARKERS = ("<start_of_turn>", "<end_of_turn>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                    "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "[INST]", "[/INST]")


def real_tokenizer(path, markers: bool = False):
    """A real tokenizer from a local folder (e.g. ``../shared/tokenizers/qwen2.5``), optionally with the turn
    markers of other families' chat templates added as special tokens (``TEMPLATE_MARKERS``).

    Returns:
        the fast tokenizer (``AutoTokenizer``, local files only).

    Raises:
        OSError: the folder holds no tokenizer.
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if markers:
        tok.add_special_tokens({"additional_special_tokens": list(TEMPLATE_MARKERS)})
    return tok


def save_tiny_qwen(path, tokenizer_dir, seed: int = 0, hidden: int = 16, layers: int = 2,
                   max_positions: int = 8192) -> Path:
    """A tiny random Qwen2-architecture model with a real tokenizer (its vocabulary, 151,665 ids for Qwen2.5),
    written to ``path`` as a local Hugging Face model directory.

    Args:
        path: the output folder.
        tokenizer_dir: a folder with a real tokenizer (``real_tokenizer``).
        seed, hidden, layers, max_positions: as ``tiny_causal_lm``.

    Returns:
        ``path`` as a ``Path``.
    """
    tok = real_tokenizer(tokenizer_dir)
    model = tiny_causal_lm("qwen2", len(tok), seed, max_positions, hidden, layers)
    model.config.eos_token_id, model.config.pad_token_id = tok.eos_token_id, tok.pad_token_id
    path = Path(path)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
