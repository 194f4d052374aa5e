"""Theorem 2 in the token world: KL-regularized RL of the BC model on its own endogenous reward.

``rl_finetune`` runs GRPO (``EndogenousGRPOTrainer`` + ``EndogenousRewardFunction``, the reward
being the endogenous reward of the frozen BC model itself, alpha = the world's alpha) on the
world's prompts, one per domain, with a KL penalty beta to the BC model, seeded, on CPU.
``rl_return_study`` measures the true return under r* of the resulting policy (sampled,
Monte Carlo +- s.e., and greedy), beside the numbers of ``world.return_study``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .lm import lm_beam, lm_sample
from .mdp import TokenWorld
from endorm.tabular.imitation import as_rng


def rl_finetune(world: TokenWorld, model_dir, out_dir, steps: int = 30, seed: int = 0, beta: float = 0.01,
                num_generations: int = 8, learning_rate: float = 1e-3, temperature: float = 1.0):
    """GRPO of the model in ``model_dir`` on r_hat of the same (frozen) model; returns (policy, log_history).

    KL-regularized RL on the endogenous reward (Theorem 2): one prompt per domain,
    ``num_generations`` completions each, exactly H response words per completion (the other
    tokens, EOS included, suppressed), r_hat at alpha = ``world.alpha``, KL coefficient ``beta``
    to the frozen model, on CPU, seeded.

    Args:
        world: the token world; model_dir: the BC model (``train_lm``'s directory); out_dir: the
            trainer's folder (``trainer_log.jsonl``; no checkpoints).
        steps: optimizer steps; seed: torch and TRL seed; beta: KL coefficient (> 0 shares the
            reference model with the reward).
        num_generations: completions per prompt (G); learning_rate; temperature: sampling temperature.

    Returns:
        ``(policy, log_history)``: the trained model in eval mode and ``trainer.state.log_history``.
    """
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer

    from ..rl.callbacks import quiet_trainer
    from ..rl.reward_fn import EndogenousGRPOTrainer, EndogenousRewardFunction, grpo_config

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True, trust_remote_code=False)
    if tok.eos_token is None:  # TRL passes the tokenizer's eos to generate(); <pad> never occurs in demos
        tok.eos_token = tok.pad_token
    prompts = [{"prompt": w} for w in world.domain_words]
    fn = EndogenousRewardFunction(str(model_dir), alpha=world.alpha, batch_size=256)
    args = grpo_config(output_dir=str(Path(out_dir)), use_cpu=True, bf16=False, max_steps=steps,
                       num_generations=num_generations, per_device_train_batch_size=num_generations * len(prompts),
                       max_completion_length=world.horizon, report_to="none", logging_steps=1, beta=beta,
                       learning_rate=learning_rate, temperature=temperature, gradient_checkpointing=False,
                       generation_kwargs={"suppress_tokens": list(range(world.vocab_size, len(world.words))),
                                          "min_new_tokens": world.horizon},
                       save_strategy="no", disable_dropout=True, disable_tqdm=True, seed=seed)
    trainer = EndogenousGRPOTrainer(model=str(model_dir), reward_funcs=fn, args=args, processing_class=tok,
                                    train_dataset=Dataset.from_list(prompts))
    quiet_trainer(trainer, Path(out_dir) / "trainer_log.jsonl")
    trainer.train()
    return trainer.model.eval(), list(trainer.state.log_history)


def rl_return_study(world: TokenWorld, policy, n_samples: int, seed) -> dict:
    """True return (no entropy) of the RL policy: sampled at temperature 1 (MC mean, s.e.) and greedy.

    Args:
        world: the token world; policy: a causal LM over ``world.words``.
        n_samples: Monte Carlo samples (domains ~ uniform); seed: an int or a numpy Generator.

    Returns:
        ``{"rl_sampled" (mean true return under r*), "rl_sampled_se" (its standard error; NaN for
        one sample), "rl_invalid_mass_per_step" (mean probability on non-response tokens),
        "rl_greedy" (greedy return, mean over domains), "rl_distinct_responses" (distinct sampled
        responses)}``.
    """
    import torch

    rng = as_rng(seed)
    doms = rng.integers(0, world.n_domains, size=n_samples)
    with torch.no_grad():
        ys, invalid = lm_sample(world, policy, doms, rng)
        greedy = [lm_beam(world, policy, d, 1)[0] for d in range(world.n_domains)]
    R = world.true_return(doms, ys)
    g = [float(world.true_return([d], y[None])[0]) for d, y in enumerate(greedy)]
    return {"rl_sampled": float(R.mean()),
            "rl_sampled_se": float(R.std(ddof=1) / np.sqrt(len(R))) if len(R) > 1 else float("nan"),
            "rl_invalid_mass_per_step": float(invalid.mean()), "rl_greedy": float(np.mean(g)),
            "rl_distinct_responses": int(len({tuple(y) for y in ys.tolist()}))}
