"""The reward options, declared once: the CLI, ``bench``, ``rl`` and the TRL reward function use them.

``RewardOptions`` holds what changes an endogenous-reward score (the paper's alpha, the Appendix C
gamma and floor, the score kind, the terminal value, the prompt template, truncation, the end token). Each field's
metadata carries its help text and choices, from which ``endorm.cli`` builds the flags, so a
default or a rule lives in one place; ``check()`` validates with the same rules as
``endorm.tabular`` (``endorm.formulas``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from endorm.formulas import KINDS, TERMINALS, check_alpha, check_weights

from .templates import TEMPLATES as TEMPLATE_NAMES


def _opt(default, help: str, choices=None, range=None):
    """A field whose metadata carries the flag's help, choices and range (low, high, low_open, high_open)."""
    return field(default=default, metadata={"help": help, "choices": choices, "range": range})


@dataclass(frozen=True)
class RewardOptions:
    """Options of ``EndogenousReward`` that change a score (see ``endorm.formulas``); frozen.

    Fields (each one's ``metadata`` "help" and "choices" become a CLI flag: ``endorm.cli._options``):
        alpha: the temperature of pi_f = softmax(f / alpha), > 0 (Eq. 9; 1.0 = the raw logits).
        gamma, floor: Appendix C weights w_t = max(gamma^(t-1), floor); gamma in (0, 1], floor in [0, 1].
        kind: "reward" (the score sums r_hat, Eq. 10) or "logprob" (it sums log pi, Eq. 9).
        terminal: V(s_{n+1}): "zero" (Eq. 12) or "model" (the model's value after the last token).
        template: "chat", "appendix-d", "plain" or None (chat if the tokenizer has a chat template).
        truncate: drop context tokens from the left when a text is longer than the model's context.
        end_token: score the response's end-of-turn token (``endorm.llm.templates``); the flag is
            ``--no-end-token``.
    """

    alpha: float = _opt(1.0, "alpha, the temperature of pi_f = softmax(f / alpha) (default 1.0: the raw logits)",
                        range=(0.0, None, True))
    gamma: float = _opt(1.0, "Appendix C discount gamma in (0, 1] (default 1.0)", range=(0.0, 1.0, True))
    floor: float = _opt(0.0, "Appendix C weight floor in [0, 1]: w_t = max(gamma^(t-1), floor) (default 0.0)",
                        range=(0.0, 1.0))
    kind: str = _opt("reward", "score: reward (sum of r_hat) or logprob (sum of log pi) (default reward)", KINDS)
    terminal: str = _opt("zero", "V after the last token: zero (Eq. 12) or model (default zero)", TERMINALS)
    template: str | None = _opt(None, "prompt layout: chat, appendix-d or plain (default: chat if the tokenizer "
                                      "has a chat template, else plain)", TEMPLATE_NAMES)
    truncate: bool = _opt(False, "drop context from the left if a text is longer than the model's context")
    end_token: bool = _opt(True, "do not score the response's end-of-turn token (scored by default: the first "
                                 "special token after the response, e.g. <|im_end|>, else the EOS)")

    def check(self) -> "RewardOptions":
        """Validate every option with the rules of ``endorm.formulas``.

        Returns:
            self, so that ``RewardOptions(...).check()`` chains.

        Raises:
            TypeError: alpha, gamma or floor is not a number (``alpha must be a number, got 'x'``).
            ValueError: an option out of range or not among its choices (``gamma must lie in (0, 1], got 2``).
        """
        check_alpha(self.alpha)
        check_weights(self.gamma, self.floor)
        for name, allowed in (("kind", KINDS), ("terminal", TERMINALS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.template is not None and self.template not in TEMPLATE_NAMES:
            raise ValueError(f"template must be one of {TEMPLATE_NAMES}, got {self.template!r}")
        return self

    def kwargs(self, *names) -> dict:
        """The options as keyword arguments of ``EndogenousReward`` (only ``names`` if given).

        Returns:
            dict of field name to value.

        Raises:
            KeyError: a name that is not a field.
        """
        d = asdict(self)
        return {k: d[k] for k in names} if names else d

    @classmethod
    def from_mapping(cls, values: dict) -> "RewardOptions":
        """The options found in ``values`` (e.g. ``vars(args)``; None means the default), checked.

        Args:
            values: a mapping; keys that are not fields are ignored.

        Returns:
            A checked ``RewardOptions``.

        Raises:
            TypeError, ValueError: as ``check``.
        """
        return cls(**{f.name: values[f.name] for f in fields(cls)
                      if values.get(f.name) is not None}).check()
