"""The world's language model: a tiny Llama trained from scratch on the demonstrations, and its decoding
(sampling, greedy and beam search over the response words)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from endorm.tabular.imitation import as_rng

from .mdp import PAD, TokenWorld


def train_lm(world: TokenWorld, domains, responses, out_dir, steps: int = 300, seed: int = 0, hidden: int = 64,
             layers: int = 2, batch_size: int = 64, lr: float = 3e-3, arch: str = "llama"):
    """Train a tiny causal LM from scratch on "<domain> y_1 .. y_H" by next-token prediction.

    The loss covers the response tokens only (the prompt is given). AdamW with linear
    warm-up and cosine decay; seeded (torch and the batch order). Saves the model and a
    word-level tokenizer to ``out_dir`` (``save_pretrained``) and returns (model, tokenizer, losses).
    The tokenizer's vocabulary is ``world.words``; ``<pad>`` serves as pad and EOS.

    Args:
        world: the token world; domains: ``[n]`` domain indices; responses: ``[n, H]`` word ids.
        out_dir: the model directory to write.
        steps: optimizer steps; batch_size: sequences per step (sampled with replacement).
        hidden, layers: the model's width and depth; lr: peak learning rate; arch: "llama",
            "gpt2" or "qwen2" (``endorm.llm.testing.tiny_causal_lm``).

    Returns:
        ``(model, tokenizer, losses)``: the model in eval mode, its tokenizer, and ``[steps]``
        training losses (nats per response token).
    """
    import torch

    from ..testing import tiny_causal_lm, word_tokenizer

    torch.manual_seed(seed)
    words = world.words
    model = tiny_causal_lm(arch, len(words), seed, max_positions=world.horizon + 2, hidden=hidden, layers=layers)
    tok = word_tokenizer(words, pad_token=PAD, eos_token=PAD)  # an EOS for TRL; <pad> never occurs in demos
    model.config.pad_token_id = model.config.eos_token_id = words.index(PAD)
    model.generation_config.pad_token_id = model.generation_config.eos_token_id = words.index(PAD)
    domains = np.asarray(domains, dtype=np.int64)
    ids = torch.as_tensor(np.concatenate([world.vocab_size + domains[:, None], np.asarray(responses)], axis=1))
    labels = ids.clone()
    labels[:, 0] = -100
    n = ids.shape[0]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: min(1.0, (t + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(t, steps) / steps)))
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=gen)
        out = model(input_ids=ids[idx], labels=labels[idx])
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(out.loss.item())
    model.eval()
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return model, tok, losses


def _next_log_probs(model, ids: np.ndarray) -> np.ndarray:
    """Full-vocabulary log-softmax of the next token after each row of ``ids``: [n, vocab] float64."""
    import torch

    with torch.no_grad():
        logits = model(input_ids=torch.as_tensor(ids, dtype=torch.long)).logits[:, -1].double()
    return torch.log_softmax(logits, dim=-1).numpy()


def lm_sample(world: TokenWorld, model, domains, seed, temperature: float = 1.0):
    """Sample responses from the model; the sampling is restricted to response words.

    Returns (responses [n, H], invalid_mass [n]) where invalid_mass is the mean per-step
    probability the model put on non-response tokens (renormalized away).

    Args:
        world: the token world; model: a causal LM over ``world.words``.
        domains: ``[n]`` domain indices (the prompt of each row).
        seed: an int seed or a ``numpy.random.Generator`` (advanced in place).
        temperature: > 0; the response-word probabilities are raised to 1/temperature.

    Returns:
        ``(responses, invalid_mass)``: int64 ``[n, H]`` word ids, float64 ``[n]`` in [0, 1].
    """
    rng = as_rng(seed)
    domains = np.asarray(domains, dtype=np.int64)
    ids = (world.vocab_size + domains)[:, None]
    invalid = np.zeros(len(domains))
    V = world.vocab_size
    for _ in range(world.horizon):
        lp = _next_log_probs(model, ids)
        p = np.exp(lp[:, :V] / temperature) if temperature != 1.0 else np.exp(lp[:, :V])
        invalid += 1.0 - np.exp(lp[:, :V]).sum(axis=1)
        cdf = np.cumsum(p, axis=1)
        a = np.minimum((rng.random(len(domains))[:, None] * cdf[:, -1:] > cdf).sum(axis=1), V - 1)
        ids = np.concatenate([ids, a[:, None]], axis=1)
    return ids[:, 1:], invalid / world.horizon


def lm_beam(world: TokenWorld, model, domain: int, width: int = 1):
    """Beam search over response words for the most likely response (width 1 = greedy).

    Returns (response [H], log pi_hat(response)) with the model's full-vocabulary log-probs.

    Args:
        world: the token world; model: a causal LM over ``world.words``.
        domain: the prompt's domain index; width: beams kept per step (1 = greedy).

    Returns:
        ``(response, log_prob)``: int64 ``[H]`` word ids of the best beam and its log pi_hat(y | x)
        (nats, under the full vocabulary, so non-response mass counts against it).
    """
    V = world.vocab_size
    beams = np.array([[world.domain_token(domain)]], dtype=np.int64)
    scores = np.zeros(1)
    for _ in range(world.horizon):
        lp = _next_log_probs(model, beams)[:, :V]
        cand = (scores[:, None] + lp).ravel()
        top = np.argsort(-cand, kind="stable")[:width]
        beams = np.concatenate([beams[top // V], (top % V)[:, None]], axis=1)
        scores = cand[top]
    return beams[0, 1:], float(scores[0])
