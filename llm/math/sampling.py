"""Prompts and seeded sampling for the math benchmarks: each sample has its own generator."""
from __future__ import annotations

import hashlib


INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def build_prompt(problem: str, tokenizer, template: str = "chat") -> str:
    """The problem and ``INSTRUCTION`` as the chat template's user turn, or plain text.

    Args:
        problem: the problem text; tokenizer: the model's tokenizer (for its chat template).
        template: "plain" (``"Problem:\\n{problem}\\n{INSTRUCTION}\\n\\nSolution:\\n"``); anything
            else uses the chat template with the generation prompt added.

    Returns:
        the prompt text (to be tokenized without special tokens for "chat", with them for "plain").

    Raises:
        ValueError: ``the tokenizer has no chat template; use --template plain``.
    """
    if template == "plain":
        return f"Problem:\n{problem}\n{INSTRUCTION}\n\nSolution:\n"
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("the tokenizer has no chat template; use --template plain")
    msgs = [{"role": "user", "content": f"{problem}\n{INSTRUCTION}"}]
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def sample_seed(seed: int, problem_hash: str, j: int) -> int:
    """Seed of sample j of a problem: independent of batching, --limit and resumes.

    Returns:
        the first 15 hex digits (60 bits) of SHA-256("{seed}:{problem_hash}:{j}") as an int.
    """
    return int(hashlib.sha256(f"{seed}:{problem_hash}:{j}".encode()).hexdigest()[:15], 16)


class _RowSampler:
    """Logits processor sampling each row with its own generator (Gumbel-max: the argmax of
    logits/T + Gumbel noise is a softmax(logits/T) sample; top-p keeps the smallest nucleus)."""

    def __init__(self, seeds, temperature: float, top_p: float, device):
        import torch

        self.gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        self.temperature, self.top_p = temperature, top_p

    def __call__(self, input_ids, scores):
        import torch

        if self.temperature == 0:
            return scores  # greedy
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            p, order = torch.softmax(logits, -1).sort(-1, descending=True)
            drop = (p.cumsum(-1) - p) >= self.top_p  # mass before this token already reaches top_p
            logits = logits.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))
        u = torch.stack([torch.rand(logits.shape[-1], generator=g, device=logits.device) for g in self.gens])
        return logits - torch.log(-torch.log(u.clamp_min(1e-20)))


def generate_completions(model, tokenizer, prompts, seeds, *, temperature, top_p, max_new_tokens, batch_size,
                         add_special_tokens=False) -> list:
    """One sampled completion per (prompt, seed), generated in batches of ``batch_size`` rows.

    Each row is sampled with its own ``torch.Generator`` seeded by its seed (Gumbel-max on
    logits / temperature, then top-p), so a sample does not depend on its batch; temperature 0
    is greedy. The checkpoint's generation defaults (top_k, repetition penalty) are overridden.

    Args:
        model, tokenizer: the causal LM and its tokenizer (set to left padding).
        prompts: ``[m]`` prompt texts; seeds: ``[m]`` ints (``sample_seed``).
        temperature: >= 0; top_p: in (0, 1]; max_new_tokens: tokens per completion.
        batch_size: rows per ``generate`` call.
        add_special_tokens: tokenize the prompts with the tokenizer's special tokens (plain template).

    Returns:
        ``[m]`` completion texts (special tokens skipped), in the order of ``prompts``.
    """
    import torch

    tokenizer.padding_side = "left"
    out = []
    for s in range(0, len(prompts), batch_size):
        enc = tokenizer(prompts[s:s + batch_size], return_tensors="pt", padding=True,
                        add_special_tokens=add_special_tokens).to(model.device)
        proc = _RowSampler(seeds[s:s + batch_size], temperature, top_p, model.device)
        with torch.no_grad():
            ids = model.generate(**enc, logits_processor=[proc], do_sample=False, num_beams=1,
                                 max_new_tokens=max_new_tokens, repetition_penalty=1.0,
                                 pad_token_id=tokenizer.pad_token_id)
        out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return out
