"""The paper's per-token formulas on plain arrays, shared by ``endorm.tabular`` and ``endorm.llm``.

For one response y_1..y_n after a context, with f_t[y_t] the logit of the chosen token at the
state s_t before it and V(s_t) = alpha * logsumexp(f_t / alpha) (alpha*nats; log pi in nats):

    log pi(y_t | s_t) = (f_t[y_t] - V(s_t)) / alpha                 Eq. 9 (pi_f = softmax(f / alpha))
    r_hat(s_t, y_t)   = f_t[y_t] - V(s_{t+1})                        Eq. 10 (inverse soft Bellman)
    score             = sum_t max(gamma^(t-1), floor) * x_t          Appendix C; x = r_hat or log pi

V(s_{n+1}) is 0 at the end of an episode (Eq. 12: the last reward is the logit itself) or the
model's own value there (``terminal="model"``). With gamma = 1, floor = 0 and x = r_hat the score
telescopes to alpha * log pi(y | x) + V(s_1) (Eq. 12).

numpy only (float64); no torch, so ``endorm.tabular`` can use it.
"""
from __future__ import annotations

import math

import numpy as np

KINDS = ("reward", "logprob")     # x_t in the score: r_hat or log pi
TERMINALS = ("zero", "model")     # V(s_{n+1}): 0 (Eq. 12) or the model's value after the last token


def check_alpha(alpha, name: str = "alpha") -> float:
    """Check the temperature ``alpha`` of pi_f = softmax(f / alpha) (Eq. 9), or another positive scale.

    Args:
        alpha: the value to check (anything ``float()`` accepts).
        name: the name used in error messages.

    Returns:
        ``alpha`` as a float, finite and > 0.

    Raises:
        TypeError: not a number (``alpha must be a number, got 'x'``).
        ValueError: not finite, or <= 0 (``alpha must be > 0, got -1.0``; also for nan and inf).
    """
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {alpha!r}") from None
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"{name} must be > 0, got {a!r}")
    return a


def check_weights(gamma, floor) -> tuple[float, float]:
    """Check (gamma, floor) of the Appendix C weights w_t = max(gamma^(t-1), floor).

    Returns:
        (gamma, floor) as floats, gamma in (0, 1], floor in [0, 1].

    Raises:
        TypeError: either is not a number (``gamma must be a number, got 'x'``).
        ValueError: out of range (``gamma must lie in (0, 1], got 1.5``, ``floor must lie in [0, 1], got -0.1``).
    """
    out = []
    for name, x in (("gamma", gamma), ("floor", floor)):
        try:
            out.append(float(x))
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number, got {x!r}") from None
    g, f = out
    if not (0.0 < g <= 1.0):
        raise ValueError(f"gamma must lie in (0, 1], got {gamma!r}")
    if not (0.0 <= f <= 1.0):
        raise ValueError(f"floor must lie in [0, 1], got {floor!r}")
    return g, f


def appendix_c_weights(n: int, gamma: float = 1.0, floor: float = 0.0) -> np.ndarray:
    """The Appendix C per-token weights w_t = max(gamma^(t-1), floor), t = 1..n.

    gamma = 1 (the default) gives all ones: the plain sum of Eq. 12.

    Args:
        n: the response length in tokens.
        gamma, floor: as in ``check_weights``.

    Returns:
        float64 [n] (dimensionless).

    Raises:
        TypeError, ValueError: from ``check_weights``.
    """
    gamma, floor = check_weights(gamma, floor)
    return np.maximum(gamma ** np.arange(n, dtype=np.float64), floor)


def token_quantities(selected, values, alpha: float, next_value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-token r_hat (Eq. 10) and log pi (Eq. 9) of one response from its logits.

    Args:
        selected: f_t[y_t], the chosen tokens' logits, [n] (alpha*nats).
        values: V(s_t) = alpha * logsumexp(f_t / alpha) for t = 1..n, [n] (or [n+1]: the extra
            last entry is ignored; pass the value after the last token as ``next_value``).
        alpha: the temperature of pi_f = softmax(f / alpha), > 0.
        next_value: V(s_{n+1}) in alpha*nats; 0.0 for the end of an episode (Eq. 12).

    Returns:
        (rewards [n] in alpha*nats, log_probs [n] in nats), float64: r_hat_t = f_t[y_t] - V(s_{t+1}) and
        log pi_t = (f_t[y_t] - V(s_t)) / alpha.

    Raises:
        TypeError, ValueError: ``alpha`` is not a positive number (``check_alpha``).
    """
    sel = np.asarray(selected, dtype=np.float64)
    n = sel.shape[0]
    v = np.asarray(values, dtype=np.float64)[:n]
    nxt = np.append(v[1:], float(next_value))
    return sel - nxt, (sel - v) / check_alpha(alpha)


def appendix_c_score(x, gamma: float = 1.0, floor: float = 0.0) -> float:
    """The Appendix C score sum_t max(gamma^(t-1), floor) * x_t (Eq. 12 when gamma = 1).

    Args:
        x: per-token r_hat (alpha*nats) or log pi (nats), [n].
        gamma, floor: the Appendix C weights (``appendix_c_weights``).

    Returns:
        The score, a float (in the units of ``x``).

    Raises:
        TypeError, ValueError: from ``check_weights``.
    """
    x = np.asarray(x, dtype=np.float64)
    return float(appendix_c_weights(x.shape[0], gamma, floor) @ x)
