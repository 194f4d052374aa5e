"""A ground-truth token world for the endogenous reward (``endorm demo``).

``mdp`` (the world, its expert, demonstrations as text), ``lm`` (a tiny Llama trained on them,
sampling and beam search), ``studies`` (measurements against r*), ``rl`` (GRPO on the model's own
reward, Theorem 2), ``demo`` (the whole study, tables and figure).
"""
from .lm import lm_beam, lm_sample, train_lm
from .mdp import (TokenWorld, expert_entropy_rate, make_world, read_demonstrations, sample_expert,
                  write_demonstrations)
from .studies import make_pairs, preference_study, promptable_study, return_study, unigram_baseline

__all__ = ["TokenWorld", "make_world", "sample_expert", "write_demonstrations", "read_demonstrations",
           "expert_entropy_rate", "train_lm", "lm_sample", "lm_beam", "make_pairs", "unigram_baseline",
           "preference_study", "return_study", "promptable_study"]
