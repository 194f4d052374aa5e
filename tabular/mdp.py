"""Finite-horizon token MDPs with deterministic transitions (MATH.md, "Setting"; arXiv 2506.23235).

A ``TokenMDP`` is layered: depth h = 0..H-1 (the paper's h = 1..H) has ``n_h`` states
and every state has the same ``V`` actions (tokens). Every per-state-action quantity
(reward, logits, Q, policy) is a *layered array*: a list of H float64 arrays, layer h
of shape ``[n_h, V]``; per-state quantities (values, potentials) are lists of H arrays
of shape ``[n_h]``. Because depth is part of the state, rewards are per step.

Two constructors:

* ``prefix_tree``: the paper's MDP, states are prefixes. Layer h holds
  ``n_prompts * V**h`` states and the child of state s under token a is ``s*V + a``,
  so no transition table is stored and a layer's successor values are a reshape.
* ``automaton_mdp``: the state is a finite automaton over the prefix (e.g. on-track /
  off-track), so H can reach hundreds; one ``[S, V]`` table serves every depth.

The terminal action: the last action a_H ends the episode and V(s_{H+1}) = 0 after it. On a
real model the same role is played by the response's end-of-turn token (the EOS, or e.g.
``<|im_end|>``), which ``endorm.llm`` scores by default in every command (MATH.md, "The end
token"; ``endorm.llm.templates``), so the two sides compute the same sums.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from endorm.formulas import check_alpha  # noqa: F401 (re-exported: one rule for both sides)

Layered = list  # list[np.ndarray], one array per depth

DEFAULT_MAX_BYTES = 2 * 1024**3
"""Memory budget for one float64 layered array (2 GiB) when building an MDP."""


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_distribution(p, name: str, size: int) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-8:
        raise ValueError(f"{name} must be a probability vector (>= 0, sums to 1), got sum {float(p.sum())!r}")
    return p


@dataclass(frozen=True, eq=False)
class TokenMDP:
    """Layered deterministic token MDP. Build it with ``prefix_tree`` or ``automaton_mdp``.

    Frozen; compared by identity (``eq=False``). Depth h = 0..H-1 here is the paper's h = 1..H.

    Attributes:
        vocab_size: V, the number of actions (tokens) in every state.
        layer_sizes: (n_0, ..., n_{H-1}), the number of states at each depth; H = ``horizon``.
        initial: [n_0] float64 distribution of the first state (the prompt distribution rho).
        transitions: None for a prefix tree (child of s under a is s*V + a), else a tuple of H-1
            int64 arrays [n_h, V] of successor indices into layer h+1 (one shared table for an automaton).
        kind: "tree" or "automaton".
    """

    vocab_size: int
    layer_sizes: tuple
    initial: np.ndarray
    transitions: tuple | None
    kind: str

    @property
    def horizon(self) -> int:
        """H, the number of steps (layers)."""
        return len(self.layer_sizes)

    @property
    def n_state_actions(self) -> int:
        """sum_h n_h * V: the number of entries of one layered array."""
        return sum(self.layer_sizes) * self.vocab_size

    def successor_values(self, h: int, next_values: np.ndarray) -> np.ndarray:
        """Pull a layer-(h+1) per-state quantity back to layer h: x[s, a] = next_values[child(s, a)].

        Args:
            h: depth 0..H-2.
            next_values: [n_{h+1}] per-state quantity (e.g. V(s')).

        Returns:
            [n_h, V] array (a view for a prefix tree).
        """
        if self.transitions is None:
            return next_values.reshape(self.layer_sizes[h], self.vocab_size)
        return next_values[self.transitions[h]]

    def push_forward(self, h: int, mass: np.ndarray) -> np.ndarray:
        """Push a [n_h, V] state-action mass through the transition: [n_{h+1}] state mass at depth h+1.

        Mass reaching the same successor is summed (automaton); a prefix tree just flattens.
        """
        if self.transitions is None:
            return mass.reshape(-1)
        return np.bincount(self.transitions[h].ravel(), weights=mass.ravel(),
                           minlength=self.layer_sizes[h + 1])

    def step(self, h: int, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Successor state indices at depth h+1 of ``states`` [n] at depth h under token ids ``actions`` [n].

        Returns:
            [n] int array of layer-(h+1) state indices. No range checks (see ``rollout_states``).
        """
        if self.transitions is None:
            return states * self.vocab_size + actions
        return self.transitions[h][states, actions]


def prefix_tree(vocab_size: int, horizon: int, n_prompts: int = 1, initial=None,
                max_bytes: int = DEFAULT_MAX_BYTES) -> TokenMDP:
    """The paper's token MDP: states are prompt + prefix, one array per depth.

    ``n_prompts`` prompts (the layer-0 states) are drawn from ``initial`` (uniform by
    default). Layer h holds n_prompts * V**h states; the child of s under token a is s*V + a.
    The size is checked against ``max_bytes`` (for one float64 layered array)
    before anything is allocated.

    Args:
        vocab_size: V >= 1.
        horizon: H >= 1.
        n_prompts: number of layer-0 states, >= 1.
        initial: [n_prompts] probability vector rho; None for uniform.
        max_bytes: budget in bytes for one float64 layered array (default 2 GiB).

    Returns:
        A ``TokenMDP`` with ``kind="tree"`` and ``transitions=None``.

    Raises:
        TypeError: an int argument is not an int (``vocab_size must be an int, got 2.0``).
        ValueError: an int argument is too small (``horizon must be >= 1, got 0``); the tree exceeds
            ``max_bytes`` (``prefix tree with vocab_size=..., ... over max_bytes=...``); ``initial`` has the
            wrong shape (``initial must have shape (2,), got (3,)``) or is not a probability vector
            (``initial must be a probability vector (>= 0, sums to 1), got sum 0.9``).
    """
    V = _check_int(vocab_size, "vocab_size", 1)
    H = _check_int(horizon, "horizon", 1)
    P = _check_int(n_prompts, "n_prompts", 1)
    sizes, total = [], 0
    for h in range(H):
        sizes.append(P * V**h)
        total += sizes[-1] * V
        if total * 8 > max_bytes:
            raise ValueError(
                f"prefix tree with vocab_size={V}, horizon={H}, n_prompts={P} needs more than "
                f"{total:,} state-action pairs ({total * 8 / 2**30:.2f} GiB per float64 array), "
                f"over max_bytes={max_bytes:,}; use automaton_mdp or a smaller tree")
    rho = np.full(P, 1.0 / P) if initial is None else _check_distribution(initial, "initial", P)
    return TokenMDP(V, tuple(sizes), rho, None, "tree")


def automaton_mdp(transition, horizon: int, initial=None, start: int = 0,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> TokenMDP:
    """Aggregated token MDP whose state is a finite automaton over the prefix.

    Every layer has the same S states, so H can reach hundreds or thousands.

    Args:
        transition: [S, V] int array, ``transition[q, a]`` = automaton state after
            token a in state q. The same table is used at every depth.
        horizon: H >= 1.
        initial: [S] distribution of the first automaton state; default: all mass on
            ``start``.
        start: initial automaton state when ``initial`` is None (ignored otherwise).
        max_bytes: budget in bytes for one float64 layered array (H * S * V * 8).

    Returns:
        A ``TokenMDP`` with ``kind="automaton"``, layer sizes (S,) * H and one int64 table shared by all H-1 steps.

    Raises:
        ValueError: ``transition`` is not a non-empty 2-D array (``transition must be a non-empty [S, V]
            array, got shape (3,)``) or has entries outside [0, S); ``horizon`` < 1; the MDP exceeds
            ``max_bytes``; ``start`` out of range (``start must be < S=2, got 5``); bad ``initial``
            (as ``prefix_tree``).
        TypeError: ``transition`` does not hold integers (``transition must hold integers, got dtype
            float64``); ``horizon`` or ``start`` is not an int.
    """
    delta = np.asarray(transition)
    if delta.ndim != 2 or delta.size == 0:
        raise ValueError(f"transition must be a non-empty [S, V] array, got shape {delta.shape}")
    if not np.issubdtype(delta.dtype, np.integer):
        raise TypeError(f"transition must hold integers, got dtype {delta.dtype}")
    S, V = delta.shape
    if delta.min() < 0 or delta.max() >= S:
        raise ValueError(f"transition entries must lie in [0, {S}), got range "
                         f"[{delta.min()}, {delta.max()}]")
    H = _check_int(horizon, "horizon", 1)
    if H * S * V * 8 > max_bytes:
        raise ValueError(f"automaton MDP with S={S}, V={V}, horizon={H} needs {H * S * V:,} "
                         f"state-action pairs, over max_bytes={max_bytes:,}")
    if initial is None:
        _check_int(start, "start", 0)
        if start >= S:
            raise ValueError(f"start must be < S={S}, got {start}")
        initial = np.eye(S)[start]
    rho = _check_distribution(initial, "initial", S)
    delta = delta.astype(np.int64)
    return TokenMDP(V, (S,) * H, rho, (delta,) * (H - 1), "automaton")


# ---------------------------------------------------------------- validation helpers

def check_layered(mdp: TokenMDP, arrays, name: str, per_state: bool = False,
                  allow_neg_inf: bool = False) -> Layered:
    """Validate a layered array against ``mdp`` and return it as float64 arrays.

    Args:
        arrays: a list/tuple of H arrays, layer h of shape [n_h, V] (or [n_h] when ``per_state``).
        name: the argument's name, used in error messages.
        per_state: expect per-state layers [n_h] instead of [n_h, V].
        allow_neg_inf: accept -inf entries (e.g. log-probabilities of zero); NaN and +inf never pass.

    Returns:
        The layers as a new list of float64 numpy arrays (copies only where conversion needs one).

    Raises:
        TypeError: ``arrays`` is an ndarray or not a sequence (``reward must be a list of 3 arrays (one
            per depth), got ndarray``).
        ValueError: wrong number of layers (``reward has 2 layers, the MDP has horizon 3``), wrong shape
            (``reward[1] must have shape (2, 2), got (2, 3)``) or a non-finite entry
            (``reward[0][1, 0] is not finite: nan``).
    """
    if isinstance(arrays, np.ndarray) or not isinstance(arrays, Sequence):
        raise TypeError(f"{name} must be a list of {mdp.horizon} arrays (one per depth), "
                        f"got {type(arrays).__name__}")
    if len(arrays) != mdp.horizon:
        raise ValueError(f"{name} has {len(arrays)} layers, the MDP has horizon {mdp.horizon}")
    out = []
    for h, (x, n) in enumerate(zip(arrays, mdp.layer_sizes)):
        x = np.asarray(x, dtype=np.float64)
        shape = (n,) if per_state else (n, mdp.vocab_size)
        if x.shape != shape:
            raise ValueError(f"{name}[{h}] must have shape {shape}, got {x.shape}")
        bad = np.isnan(x) | (np.isinf(x) & ~(allow_neg_inf & (x < 0)))
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name}[{h}]{list(idx)} is not finite: {float(x[idx])!r}")
        out.append(x)
    return out


def check_policy(mdp: TokenMDP, policy, name: str = "policy", atol: float = 1e-8) -> Layered:
    """Validate a layered policy: entries >= 0 and every row summing to 1 (within ``atol``).

    Args:
        policy: layered probabilities, layer h of shape [n_h, V].
        name: the argument's name, used in error messages.
        atol: tolerance on |row sum - 1|.

    Returns:
        The policy as a list of H float64 arrays [n_h, V].

    Raises:
        TypeError, ValueError: as ``check_layered``.
        ValueError: a negative entry (``policy[0][1, 2] is negative: -0.1``) or a row that does not sum
            to 1 (``policy[1] row 3 sums to 0.9, rows must sum to 1``).
    """
    policy = check_layered(mdp, policy, name)
    for h, p in enumerate(policy):
        if (p < 0).any():
            s, a = np.argwhere(p < 0)[0]
            raise ValueError(f"{name}[{h}][{s}, {a}] is negative: {float(p[s, a])!r}")
        err = np.abs(p.sum(axis=1) - 1.0)
        if (err > atol).any():
            s = int(np.argmax(err))
            raise ValueError(f"{name}[{h}] row {s} sums to {float(p[s].sum())!r}, rows must sum to 1")
    return policy


# ---------------------------------------------------------------- paths

def rollout_states(mdp: TokenMDP, prompts, responses) -> np.ndarray:
    """State index at every depth of each (prompt, response): [n, H] int64.

    Args:
        prompts: [n] layer-0 state indices.
        responses: [n, H] token ids.

    Returns:
        [n, H] int64 array; column h holds s_h (column 0 is ``prompts``).

    Raises:
        ValueError: shapes other than [n] and [n, H] (``prompts must be [n] and responses [n, 3], got
            (4,) and (4, 2)``), a prompt outside [0, n_0) (``prompts must lie in [0, 2), got 5``) or a
            token outside [0, V) (``responses must hold token ids in [0, 3), got -1``).
    """
    prompts = np.asarray(prompts, dtype=np.int64)
    responses = np.asarray(responses, dtype=np.int64)
    n = prompts.shape[0]
    if prompts.ndim != 1 or responses.shape != (n, mdp.horizon):
        raise ValueError(f"prompts must be [n] and responses [n, {mdp.horizon}], got "
                         f"{prompts.shape} and {responses.shape}")
    if n and (prompts.min() < 0 or prompts.max() >= mdp.layer_sizes[0]):
        bad = prompts[(prompts < 0) | (prompts >= mdp.layer_sizes[0])][0]
        raise ValueError(f"prompts must lie in [0, {mdp.layer_sizes[0]}), got {int(bad)}")
    if n and (responses.min() < 0 or responses.max() >= mdp.vocab_size):
        bad = responses[(responses < 0) | (responses >= mdp.vocab_size)][0]
        raise ValueError(f"responses must hold token ids in [0, {mdp.vocab_size}), got {int(bad)}")
    states = np.empty((n, mdp.horizon), dtype=np.int64)
    s = prompts
    for h in range(mdp.horizon):
        states[:, h] = s
        if h + 1 < mdp.horizon:
            s = mdp.step(h, s, responses[:, h])
    return states


def path_sum(mdp: TokenMDP, layered: Layered, prompts, responses) -> np.ndarray:
    """sum_h x_h(s_h, a_h) along each (prompt, response) of a layered array ``layered`` [n_h, V].

    ``layered`` is not validated (callers pass checked arrays). Units are those of ``layered``
    (reward units for rewards, nats for log-probabilities).

    Returns:
        [n] float64 array.

    Raises:
        ValueError: as ``rollout_states`` (shapes or indices of ``prompts`` [n] / ``responses`` [n, H]).
    """
    states = rollout_states(mdp, prompts, responses)
    responses = np.asarray(responses, dtype=np.int64)
    return sum(layered[h][states[:, h], responses[:, h]] for h in range(mdp.horizon))


def all_responses(mdp: TokenMDP, max_responses: int = 2**20):
    """Every (prompt, response) pair, prompt-major: ([N] prompts, [N, H] responses).

    N = n_prompts * V**H, with n_prompts = n_0; responses within a prompt in lexicographic order.

    Returns:
        (prompts [N] int64, responses [N, H] int64).

    Raises:
        ValueError: N > ``max_responses``, before allocating (``enumerating 2 prompts x 3**20 responses
            = ... exceeds max_responses=1,048,576``).
    """
    P, V, H = mdp.layer_sizes[0], mdp.vocab_size, mdp.horizon
    N = P * V**H
    if N > max_responses:
        raise ValueError(f"enumerating {P} prompts x {V}**{H} responses = {N:,} exceeds "
                         f"max_responses={max_responses:,}")
    idx = np.arange(V**H, dtype=np.int64)
    digits = (idx[:, None] // V ** np.arange(H - 1, -1, -1, dtype=np.int64)) % V
    prompts = np.repeat(np.arange(P, dtype=np.int64), V**H)
    return prompts, np.tile(digits, (P, 1))
