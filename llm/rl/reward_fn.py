"""The endogenous reward as a TRL ``GRPOTrainer`` reward function (needs ``endorm[rl]``: trl).

TRL (1.16) calls a reward function once per generation batch as
``fn(prompts=..., completions=..., completion_ids=..., trainer_state=..., log_extra=...,
log_metric=..., **dataset_columns)`` and wants one float (or None) per completion. It does
not pass the prompts' token ids, so ``EndogenousRewardFunction`` re-tokenizes them exactly as
``GRPOTrainer._tokenize_prompts`` does (``tokenize_prompts``): plain prompts with
``tokenizer(text=prompts)["input_ids"]`` (the tokenizer's special tokens added, e.g. a BOS),
chat prompts with ``apply_chat_template(conversation=prompts, tools=None, chat_template=None,
add_generation_prompt=True, tokenize=True, return_dict=True, **chat_template_kwargs)`` (which
tokenizes the rendered text without adding special tokens again). The completion ids are
TRL's own: each is cut after its first EOS and *keeps* that EOS (``__call__`` cuts them the same
way, so any caller gets that rule: tokens after the first EOS are never scored; the attention mask
TRL gives ``reference_log_probs`` is already cut there), and endorm scores the EOS (the
terminal-token rule of ``endorm.llm.templates``, the same as ``score`` and ``bench``: a chat
model's EOS is its end-of-turn token, e.g. ``<|im_end|>``). The EOS is the action that ends the
response, so log pi(EOS | s) is part of log pi(y | x) and the last step's r_hat = f(s_n, EOS)
with V(s_{n+1}) = 0 is Eq. 12's terminal step; a truncated completion (no EOS within
``max_completion_length``) is scored as it stands. ``end_token=False`` (``--no-end-token``)
drops a final end token (``templates.end_token_ids``) before scoring; the reference log-probs
TRL needs still cover every completion token. The score is
``EndogenousReward``'s (Eq. 12 with the defaults; Appendix C's gamma/floor/kind otherwise).

Sharing with the reference model (``EndogenousGRPOTrainer``): with beta > 0 TRL reloads a
frozen reference copy of the policy from ``model.config._name_or_path``. When the reward model
is that same directory (the paper's setting) and ``sync_ref_model`` is off, the reward function
scores with TRL's reference model object (one copy of the weights in memory, not two). If also
alpha == the sampling temperature, the reference's per-token log-probs that TRL needs for the KL
term are exactly the reward's log pi_t, so the trainer takes them from the reward's forward pass
(one frozen forward per step instead of two; prompts shared by the G completions run once, from
a KV cache); the reward function then finds each (prompt, completion) already scored.

Distillation (a reward model that is not the policy): endorm scores the policy's token ids as
they are, without re-tokenizing text, so the two tokenizers must have the same vocabulary and
special tokens (``check_same_tokenizer``; a mismatch is an error naming both directories).
"""
from __future__ import annotations

import warnings

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from trl import GRPOTrainer
from trl.data_utils import is_conversational

from ..reward import EndogenousReward
from ..templates import Encoded, end_token_ids
from .models import check_same_tokenizer, load_reward, load_tokenizer


def tokenize_prompts(tokenizer, prompts: list, chat_template_kwargs=None) -> list:
    """Prompt token ids exactly as ``GRPOTrainer._tokenize_prompts`` builds them (text-only, no tools).

    Args:
        tokenizer: the policy's tokenizer (TRL's ``processing_class``).
        prompts: ``[B]`` prompts, all plain text or all chat messages ``[{"role", "content"}]``
            (the first decides, as ``is_conversational``).
        chat_template_kwargs: extra arguments of ``apply_chat_template`` (``GRPOConfig``'s).

    Returns:
        ``[B]`` lists of token ids (unpadded): plain text with the tokenizer's special tokens,
        chat prompts rendered with the generation prompt.
    """
    if is_conversational({"prompt": prompts[0]}):
        out = tokenizer.apply_chat_template(conversation=prompts, tools=None, chat_template=None,
                                            add_generation_prompt=True, tokenize=True, return_dict=True,
                                            **(chat_template_kwargs or {}))
        return [list(ids) for ids in out["input_ids"]]
    return [list(ids) for ids in tokenizer(text=prompts)["input_ids"]]


RENAMED_FIELDS = {"gradient_checkpointing": "activation_checkpointing",
                  "gradient_checkpointing_kwargs": "activation_checkpointing_kwargs"}


def grpo_config(**kwargs):
    """``trl.GRPOConfig(**kwargs)`` under today's field names, so that building it warns of nothing.

    transformers 5.24 renames ``gradient_checkpointing*`` to ``activation_checkpointing*`` and warns
    (FutureWarning) whenever only the old name is set, which TRL's own default does. Where the new
    field exists, an old name given here moves to it, and if neither is given the new field takes
    the old one's default (TRL: on), so the behaviour is the same as ``GRPOConfig(**kwargs)``.

    Returns:
        a ``GRPOConfig``.

    Raises:
        TypeError: a field ``GRPOConfig`` does not have (as ``GRPOConfig`` itself).
    """
    import dataclasses

    from trl import GRPOConfig

    fields = {f.name: f for f in dataclasses.fields(GRPOConfig)}
    kwargs = dict(kwargs)
    for old, new in RENAMED_FIELDS.items():
        if new not in fields or old not in fields:
            continue
        if old in kwargs and new not in kwargs:
            kwargs[new] = kwargs.pop(old)
        elif new not in kwargs:
            kwargs[new] = fields[old].default
    return GRPOConfig(**kwargs)


class EndogenousRewardFunction:
    """A TRL reward function: each completion's endogenous-reward score (Eq. 12 / Appendix C) under a frozen LM.

    Args:
        reward: an ``EndogenousReward``, or a local model directory, loaded frozen on first use (or by
            ``EndogenousGRPOTrainer``, which shares TRL's reference model when it is the policy's directory).
        tokenizer: the policy's tokenizer (TRL's ``processing_class``) for re-tokenizing prompts; default: the
            trainer's when bound, else the reward model's own.
        alpha, gamma, floor, kind, terminal, batch_size: ``EndogenousReward`` options (when ``reward`` is a path).
        end_token: score the completion's final EOS / end-of-turn token (default True; module docstring).
        chat_template_kwargs: as ``GRPOConfig.chat_template_kwargs`` (taken from the trainer when bound).
        dtype, device: for loading ``reward`` from a path (default: the checkpoint's dtype; cuda if available).
        trust_remote_code: let a ``reward`` folder run its own code when loaded (default False: never; ``models``).

    Each completion is cut after its first end-of-completion token, which is kept (as TRL does: the
    bound trainer's ``eos_token_ids``; unbound, the tokenizer's ``eos_token_id`` and the reward model's
    ``generation_config.eos_token_id``), so tokens after it are never scored, whoever calls.

    After each call, ``last_token_rewards`` holds the batch's ``TokenRewards`` (per-token r_hat, log pi, V;
    None for an empty completion) and ``last_shared_fraction`` the share scored by the reference's forward
    pass. Through TRL's ``log_metric`` it logs ``endorm/token_reward_mean`` (mean r_hat over the batch's
    tokens) and ``endorm/shared_forward``.

    Raises:
        ValueError / TypeError: a bad ``EndogenousReward`` option (checked at construction).
    """

    def __init__(self, reward, tokenizer=None, *, alpha=1.0, gamma=1.0, floor=0.0, kind="reward", terminal="zero",
                 batch_size=8, chat_template_kwargs=None, dtype=None, device=None, name="endogenous_reward",
                 end_token=True, trust_remote_code=False):
        self.__name__ = name  # TRL logs rewards/<__name__>/mean
        self.options = dict(alpha=alpha, gamma=gamma, floor=floor, kind=kind, terminal=terminal,
                            batch_size=batch_size, progress=False)
        if isinstance(reward, EndogenousReward):
            self.reward, self.path = reward, getattr(reward.model.config, "_name_or_path", None)
        else:
            stub = SimpleNamespace(config=None), SimpleNamespace(pad_token="<pad>", chat_template=None)
            EndogenousReward(*stub, max_length=1, **self.options)  # check the options now, not at step 1
            self.reward, self.path = None, Path(reward)
        self.tokenizer, self.chat_template_kwargs = tokenizer, dict(chat_template_kwargs or {})
        self.dtype, self.device, self.trust_remote_code = dtype, device, bool(trust_remote_code)
        self.eos_ids = None  # the trainer's end-of-completion ids, once bound
        self.shares_reference = self.shares_forward = False
        self.end_token = bool(end_token)
        self.last_token_rewards, self.last_shared_fraction = [], 0.0
        self._cache, self._checked = {}, None  # _checked: the tokenizer the reward model's was checked against
        self._warned_unbound = False

    # ------------------------------------------------------------------ TRL's protocol
    def __call__(self, prompts, completions=None, completion_ids=None, log_metric=None, **kwargs) -> list:
        """TRL's reward-function call: one endogenous-reward score per completion.

        Args:
            prompts: ``[B]`` prompts as in the dataset (text or chat messages), re-tokenized with
                ``tokenize_prompts``.
            completions: unused (the token ids are scored, not the text).
            completion_ids: ``[B]`` lists of completion token ids; each is cut here after its first
                EOS, which is kept and scored (TRL's are already cut).
            log_metric: TRL's ``log_metric(name, value)``, or None.
            **kwargs: the other arguments TRL passes (trainer_state, log_extra, dataset columns); ignored.

        Returns:
            ``[B]`` floats, ``TokenRewards.score`` (the Eq. 12 sum of r_hat with the defaults; the
            Appendix C weighted sum or sum of log pi otherwise), or None for an empty completion.

        Raises:
            TypeError: ``EndogenousRewardFunction needs completion_ids (GRPOTrainer passes them)``.
            ValueError / FileNotFoundError: on first use, a reward model whose tokenizer does not
                match the policy's, or a missing reward directory (``_reward``).
        """
        if completion_ids is None:
            raise TypeError("EndogenousRewardFunction needs completion_ids (GRPOTrainer passes them)")
        if isinstance(prompts, str) or len(prompts) != len(completion_ids):
            raise ValueError("EndogenousRewardFunction needs one prompt per completion (a list), got "
                             f"{'a str' if isinstance(prompts, str) else len(prompts)} for {len(completion_ids)}")
        reward = self._reward()
        if self.tokenizer is None and not self._warned_unbound:
            self._warned_unbound = True
            warnings.warn("EndogenousRewardFunction is not bound to a trainer: prompts are re-tokenized with the "
                          "reward model's tokenizer and chat template, which must then be the policy's. Use "
                          "EndogenousGRPOTrainer, or pass tokenizer= (the policy's)")
        prompt_ids = tokenize_prompts(self.tokenizer or reward.tokenizer, list(prompts), self.chat_template_kwargs)
        eos = self._eos_ids(reward)
        completion_ids = [cut_after_first(c, eos) for c in completion_ids]
        out, todo = [None] * len(prompt_ids), []
        if not self.end_token:  # the reward's items stop before a final end token (never found in the cache)
            enders = end_token_ids(self.tokenizer or reward.tokenizer)
            completion_ids = [c[:-1] if c and c[-1] in enders else c for c in completion_ids]
        for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
            if len(c):
                out[i] = self._cache.get((tuple(p), tuple(c)))
                if out[i] is None:
                    todo.append(i)
        hits = sum(t is not None for t in out)
        if todo:
            for i, t in zip(todo, reward.token_rewards_from_ids([self._encode(prompt_ids[i], completion_ids[i])
                                                                for i in todo])):
                out[i] = t
        self._cache.clear()
        self.last_token_rewards = out
        scored = [t for t in out if t is not None]
        self.last_shared_fraction = hits / max(1, len(scored))
        if log_metric is not None and scored:
            log_metric("endorm/token_reward_mean", float(np.concatenate([t.endogenous_reward for t in scored]).mean()))
            log_metric("endorm/shared_forward", self.last_shared_fraction)
        return [None if t is None else float(t.score) for t in out]

    # ------------------------------------------------------------------ the trainer's side
    def bind(self, trainer) -> None:
        """Take the trainer's tokenizer and chat options; share its reference model when it is the reward model.

        Sharing needs no loaded reward yet, ``trainer.ref_model`` (beta > 0), ``sync_ref_model``
        off and the reward path equal to the policy's ``_name_or_path``; the forward pass is shared
        too when alpha == ``trainer.temperature``. Otherwise the reward model is loaded now.

        Raises:
            ValueError: the trainer uses tools or environments, or the tokenizers differ
                (``check_same_tokenizer``).
            FileNotFoundError: ``reward model directory not found: <path>``.
        """
        if getattr(trainer, "tools", None) or getattr(trainer, "environment_factories", None):
            raise ValueError("EndogenousRewardFunction does not support tools or environments (their output would be "
                             "scored as if the model had written it)")
        self.tokenizer = trainer.processing_class
        self.eos_ids = {int(i) for i in getattr(trainer, "eos_token_ids", None) or [self.tokenizer.eos_token_id]
                        if i is not None}
        self.chat_template_kwargs = dict(trainer.chat_template_kwargs or {})
        policy_dir = getattr(trainer.model.config, "_name_or_path", None)
        ref = trainer.ref_model
        if (self.reward is None and ref is not None and not trainer.args.sync_ref_model and policy_dir
                and hasattr(ref, "get_output_embeddings") and _same_dir(self.path, policy_dir)):
            self.reward = EndogenousReward(ref, trainer.processing_class, **self.options)
            self.shares_reference = True
            self.shares_forward = self.reward.alpha == float(trainer.temperature)
        self._reward(trainer.accelerator.device, trainer.model.dtype, policy_dir)

    def reference_log_probs(self, input_ids, attention_mask, logits_to_keep: int):
        """TRL's reference per-token log-probs [B, logits_to_keep] from this reward's forward pass (results cached).

        log pi_t = log softmax(f / alpha) of each completion token, which is TRL's reference
        log-prob when alpha equals the sampling temperature. Each row's ``TokenRewards`` is cached
        so that the next ``__call__`` on the same (prompt, completion) does not score it again.

        Args:
            input_ids: ``[B, P + C]`` left-padded prompts then right-padded completions, as TRL builds them.
            attention_mask: ``[B, P + C]``, 1 on real tokens (the completion mask on the completion part).
            logits_to_keep: C, the completion length.

        Returns:
            float32 ``[B, C]`` on ``input_ids.device``, in nats; 0 on padding and on rows without a
            prompt or completion token.
        """
        P = input_ids.shape[1] - logits_to_keep
        ids, mask = input_ids.tolist(), attention_mask.bool().tolist()
        rows, items = [], []
        for b, (x, m) in enumerate(zip(ids, mask)):
            prompt = [t for t, k in zip(x[:P], m[:P]) if k]
            comp = [t for t, k in zip(x[P:], m[P:]) if k]
            if prompt and comp:  # a truncated completion masked by TRL is all padding: nothing to score
                rows.append(b)
                items.append(self._encode(prompt, comp))
        out = torch.zeros(len(ids), logits_to_keep, dtype=torch.float32)
        for b, e, t in zip(rows, items, self._reward().token_rewards_from_ids(items)):
            self._cache[(tuple(e.input_ids[:e.start]), tuple(e.input_ids[e.start:e.end]))] = t
            out[b, :len(t.log_policy)] = torch.from_numpy(t.log_policy)
        return out.to(input_ids.device)

    # ------------------------------------------------------------------ internals
    def _eos_ids(self, reward) -> set:
        """The ids that end a completion: the bound trainer's, else the tokenizer's eos and the generation config's."""
        if self.eos_ids is not None:
            return self.eos_ids
        gen = getattr(getattr(reward.model, "generation_config", None), "eos_token_id", None)
        ids = [(self.tokenizer or reward.tokenizer).eos_token_id, *([gen] if isinstance(gen, int) else gen or [])]
        return {int(i) for i in ids if i is not None}

    def _encode(self, prompt_ids, completion_ids) -> Encoded:
        p, c = list(prompt_ids), list(completion_ids)
        tok = self.tokenizer or self.reward.tokenizer
        text = tuple(s or "" for s in tok.convert_ids_to_tokens(c))  # one call, not a decode per token
        return Encoded(p + c, len(p), len(p) + len(c), text)

    def _reward(self, device=None, dtype=None, policy_dir=None) -> EndogenousReward:
        """The scorer, loaded (frozen) from ``path`` on first use; its tokenizer checked once against the policy's."""
        where = policy_dir or getattr(self.tokenizer, "name_or_path", None)
        if self.reward is None:
            if self.tokenizer is not None:
                if not Path(self.path).is_dir():
                    raise FileNotFoundError(f"reward model directory not found: {self.path}")
                check_same_tokenizer(self.tokenizer, load_tokenizer(self.path, self.trust_remote_code), where,
                                     self.path)
                self._checked = self.tokenizer
            self.reward = load_reward(self.path, self.dtype or dtype, self.device or device, self.trust_remote_code,
                                      **self.options)
        if self.tokenizer is not None and self._checked is not self.tokenizer:
            if self.reward.tokenizer is not self.tokenizer:
                check_same_tokenizer(self.tokenizer, self.reward.tokenizer, where, self.path)
            self._checked = self.tokenizer
        return self.reward


def cut_after_first(ids, eos_ids) -> list:
    """``ids`` (as ints) up to and including the first one in ``eos_ids``; all of them if none is."""
    ids = [int(t) for t in ids]
    for k, t in enumerate(ids):
        if t in eos_ids:
            return ids[:k + 1]
    return ids


def _same_dir(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (TypeError, OSError):
        return False


class EndogenousGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` that binds its ``EndogenousRewardFunction``s and shares the reference model with one.

    Same arguments as ``GRPOTrainer``. With beta > 0, a reward directory equal to the policy's and alpha
    equal to ``args.temperature``, the reference log-probs for the KL term come from the reward's forward
    pass (see the module docstring); everything else is TRL's.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._shared_reward, self._shared_checked = None, False
        for f in self.reward_funcs:
            if isinstance(f, EndogenousRewardFunction):
                f.bind(self)
                if f.shares_forward and self._shared_reward is None:
                    self._shared_reward = f

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **kwargs):
        """TRL's per-token log-probs; for the reference model, from the shared reward forward when possible.

        The first shared batch is checked against TRL's own computation (max abs difference
        <= 1e-3 on completion tokens); a larger one warns and turns sharing off for the run.
        Returns ``(log-probs [B, logits_to_keep], None, None)`` on the shared path.
        """
        f = self._shared_reward
        if (f is None or model is not self.ref_model or compute_entropy or compute_aux_loss
                or any(v is not None for v in kwargs.values())):  # images etc.: TRL's own path
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **kwargs)
        ours = f.reference_log_probs(input_ids, attention_mask, logits_to_keep)
        if not self._shared_checked:  # once: TRL's own reference log-probs on this batch must agree
            trls = super()._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep,
                                                              batch_size=batch_size)[0]
            m = attention_mask[:, -logits_to_keep:].bool()
            err = float((ours[m] - trls[m].float()).abs().max()) if m.any() else 0.0
            if not err <= 1e-3:
                # e.g. absolute position embeddings (GPT-2): TRL's left padding shifts positions, ours do not
                warnings.warn(f"the shared reference forward differs from TRL's by {err:.3g} (left padding and "
                              "position embeddings); computing the reference log-probs TRL's way instead")
                self._shared_reward, f.shares_forward = None, False
                return trls, None, None
            self._shared_checked = True
        return ours, None, None
