"""A ground-truth token world: a known true reward r*, its exact expert, and a real transformer.

The world is an ``endorm.tabular`` automaton MDP (MATH.md, "Setting"). The prompt is one
*domain* token d; the response is H tokens from a small vocabulary of "response words".
Each domain has its own finite automaton over the response prefix (``n_automaton``
states, random transition table) and its own stationary true reward r*_d(q, a) in [0, 1].
The combined automaton state is d * Q + q, so one ``automaton_mdp`` holds every domain
and its initial distribution (uniform over domains, automaton state 0) is the prompt
distribution rho. The expert is the exact soft-optimal policy of r* (``soft_optimal``).

Demonstrations sampled from the expert are written as text (JSONL, one
``{"domain", "prompt", "response"}`` per line, words separated by spaces); a tiny Llama
(transformers, from scratch) is trained on them by next-token prediction and saved with
a word-level tokenizer as a local Hugging Face model directory. The measurements compare
the endogenous reward of that model (``EndogenousReward``) with the ground truth:

* ``preference_study``: accuracy of EndoRM on held-out pairs labelled by the sign of the
  true Bradley-Terry preference under r*, beside a length baseline and a unigram baseline,
  and Theorem 1 per pair: TV(P_r*, P_r_hat) <= (alpha/4)(|dlog pi(y)| + |dlog pi(y')|).
* ``return_study`` (Theorem 2): exact true returns (no entropy) of the expert, the exact
  MAP response of the expert and the hard optimum of r*; the model sampled at
  temperature 1 (Monte Carlo, with standard error) and its greedy and beam-search
  responses (beam search approximates the MAP response argmax_y log pi_hat(y|x), which is
  what unregularized RL on r_hat converges to; it is not guaranteed to find it).
* ``promptable_study``: accuracy of EndoRM conditioned on domain d on the pairs of domain e.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from endorm.tabular import automaton_mdp, path_sum, sample_demonstrations, soft_optimal

PAD = "<pad>"


@dataclass
class TokenWorld:
    """Vocabulary, automata and true rewards of the world, with its exact expert.

    Token ids in the language model: response words 0..V-1 (= MDP actions), then the
    domain words V..V+D-1, then ``<pad>``. The MDP state is d * Q + q (``automaton_mdp`` with
    D * Q states per layer, initial mass 1/D on each q = 0).

    Fields:
        response_words: V str (the MDP's actions); domain_words: D str (the prompts).
        horizon: H, response length in tokens; alpha: the expert's entropy coefficient (> 0).
        automata: int ``[D, Q, V]``, the next automaton state per domain.
        rewards: float ``[D, Q, V]`` in [0, 1], r*_d(q, a) (per token, stationary).
        seed: the seed ``make_world`` used (recorded only).
        derail_tokens, off_track: compounding worlds only: the derailing words and the absorbing
            off-track automaton state (-1: none).
        mdp: (derived) the ``TokenMDP``; reward: (derived) layered r*, H arrays ``[D * Q, V]``;
        expert: (derived) the exact soft-optimal ``SoftSolution`` of r* at ``alpha``.
    """

    response_words: list
    domain_words: list
    horizon: int
    alpha: float
    automata: np.ndarray    # [D, Q, V] int: next automaton state per domain
    rewards: np.ndarray     # [D, Q, V] float in [0, 1]: r*_d(q, a)
    seed: int = 0
    derail_tokens: tuple = ()   # compounding worlds: the response words that leave the track
    off_track: int = -1         # compounding worlds: the absorbing off-track automaton state (-1: none)
    mdp: object = field(init=False, repr=False)
    reward: list = field(init=False, repr=False)     # layered r* on the combined automaton
    expert: object = field(init=False, repr=False)   # SoftSolution

    def __post_init__(self):
        D, Q, V = self.automata.shape
        delta = (np.arange(D)[:, None, None] * Q + self.automata).reshape(D * Q, V).astype(np.int64)
        initial = np.zeros(D * Q)
        initial[np.arange(D) * Q] = 1.0 / D
        self.mdp = automaton_mdp(delta, self.horizon, initial=initial)
        r = self.rewards.reshape(D * Q, V).astype(np.float64)
        self.reward = [r.copy() for _ in range(self.horizon)]
        self.expert = soft_optimal(self.mdp, self.reward, self.alpha)

    # ---------------------------------------------------------------- vocabulary
    @property
    def n_domains(self) -> int:
        """D, the number of domains (prompts)."""
        return self.automata.shape[0]

    @property
    def n_automaton(self) -> int:
        """Q, automaton states per domain (compounding worlds include the off-track states)."""
        return self.automata.shape[1]

    @property
    def vocab_size(self) -> int:
        """V, the number of response words (MDP actions)."""
        return self.automata.shape[2]

    @property
    def words(self) -> list:
        """The language model's vocabulary, in id order."""
        return list(self.response_words) + list(self.domain_words) + [PAD]

    def domain_token(self, d: int) -> int:
        """The language-model token id of domain d's prompt word: V + d."""
        return self.vocab_size + int(d)

    def prompt_state(self, d) -> np.ndarray:
        """Layer-0 MDP state of domain d: d * Q (int64, shape of ``d``)."""
        return np.asarray(d, dtype=np.int64) * self.n_automaton

    def domain_of_state(self, s) -> np.ndarray:
        """The domain of MDP state(s) s: s // Q (int64, shape of ``s``)."""
        return np.asarray(s, dtype=np.int64) // self.n_automaton

    # ---------------------------------------------------------------- ground truth
    def true_return(self, domains, responses) -> np.ndarray:
        """R*(y) = sum_h r*(s_h, a_h), the true return without entropy.

        Args:
            domains: ``[n]`` domain indices; responses: ``[n, H]`` word ids.

        Returns:
            float64 ``[n]``.

        Raises:
            ValueError: shapes or ids out of range (``path_sum``).
        """
        return path_sum(self.mdp, self.reward, self.prompt_state(domains), responses)

    def expert_log_prob(self, domains, responses) -> np.ndarray:
        """log pi^E(y | d) = sum_h log pi^E(a_h | s_h) under the exact expert: float64 [n] (nats).

        Args:
            domains: ``[n]`` domain indices; responses: ``[n, H]`` word ids.
        """
        return path_sum(self.mdp, self.expert.log_policy, self.prompt_state(domains), responses)

    def tempered_expert(self, tau: float) -> list:
        """pi^E(.|s)^(1/tau), renormalized per state (tau > 1 flattens it).

        Returns:
            a layered policy: H float64 arrays ``[D * Q, V]``, rows summing to 1.
        """
        out = []
        for lp in self.expert.log_policy:
            x = lp / tau
            x = np.exp(x - x.max(axis=1, keepdims=True))
            out.append(x / x.sum(axis=1, keepdims=True))
        return out

    def to_dict(self) -> dict:
        """The defining fields as JSON-ready values (``world.json``); the derived ones are left out."""
        return {"response_words": list(self.response_words), "domain_words": list(self.domain_words),
                "horizon": self.horizon, "alpha": self.alpha, "seed": self.seed,
                "automata": self.automata.tolist(), "rewards": self.rewards.tolist(),
                "derail_tokens": [int(a) for a in self.derail_tokens], "off_track": int(self.off_track)}


def make_world(seed: int = 0, n_domains: int = 3, vocab_size: int = 8, n_automaton: int = 3, horizon: int = 16,
               alpha: float = 0.25, compounding: bool = False, n_derail: int = 2, fall: int = 1) -> TokenWorld:
    """A random world (deterministic in ``seed``); sizes D = ``n_domains``, V = ``vocab_size``, Q = ``n_automaton``.

    Every domain's automaton is random; its reward is r*_d(q, a) = U[0, 1]^2 (sparse-ish:
    few high-reward actions per state), so domains disagree about which responses are good.

    ``compounding=True`` (opt-in; the default world is unchanged, the random draws are the
    same) gives an instance family where imitation errors compound (Theorem 2), after
    ``tabular.instances.CompoundingFamily``. The last ``n_derail`` response words become
    *derailing* tokens: from every on-track state 0..Q-1 they lead off the track and pay 0.
    Off the track there are ``fall`` states where every token pays 0 (a one-off penalty,
    which makes the expert derail rarely), then one absorbing off-track state (the last
    automaton state, ``world.off_track``) where every token pays c_d. The on-track
    automaton and rewards of the other tokens are the random ones above. c_d is balanced
    as in ``CompoundingFamily``: c_d = alpha * log(rho_d / V), where rho_d is the spectral
    radius of M_d[q, q'] = sum_{a not derailing, delta(q, a) = q'} exp(r*_d(q, a) / alpha);
    then the off-track soft value grows at the on-track rate alpha * log rho_d, so the
    soft-optimal expert derails with a small probability that hardly depends on the depth
    (about n_derail * exp(-fall * c_d / alpha) / rho_d per step), while a derailed
    response loses alpha * (log V - entropy) > 0 of true reward (no entropy) at every
    remaining step: a per-step imitation error in the derail probability costs O(H^2).
    r* stays in [0, 1] (c_d is clipped to [0, 1]; c_d <= 1 always since r* <= 1).

    Args:
        horizon: H, response length in tokens; alpha: the expert's entropy coefficient.
        compounding, n_derail, fall: the compounding family above (its automaton has Q + fall + 1
            states per domain).

    Returns:
        a ``TokenWorld`` (its exact expert solved).

    Raises:
        ValueError: ``need vocab_size >= 2, n_domains >= 1, n_automaton >= 1, horizon >= 1``, or
            ``need 1 <= n_derail <= vocab_size - 1 and fall >= 0`` (compounding).
    """
    if vocab_size < 2 or n_domains < 1 or n_automaton < 1 or horizon < 1:
        raise ValueError("need vocab_size >= 2, n_domains >= 1, n_automaton >= 1, horizon >= 1")
    rng = np.random.default_rng(seed)
    automata = rng.integers(0, n_automaton, size=(n_domains, n_automaton, vocab_size))
    rewards = rng.random((n_domains, n_automaton, vocab_size)) ** 2
    names = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa", "lam", "mu",
             "nu", "xi", "omi", "pi"]
    response_words = [names[i] if i < len(names) else f"w{i}" for i in range(vocab_size)]
    domain_words = [f"topic{d}" for d in range(n_domains)]
    if not compounding:
        return TokenWorld(response_words, domain_words, horizon, float(alpha), automata, rewards, seed)
    if not 1 <= n_derail <= vocab_size - 1 or fall < 0:
        raise ValueError("need 1 <= n_derail <= vocab_size - 1 and fall >= 0")
    D, Q, V = n_domains, n_automaton, vocab_size
    derail = np.arange(V - n_derail, V)
    keep = np.arange(V - n_derail)
    off = Q + fall                                   # the absorbing off-track state
    auto = np.empty((D, off + 1, V), dtype=np.int64)
    rew = np.zeros((D, off + 1, V))
    auto[:, :Q] = automata
    rew[:, :Q] = rewards
    auto[:, :Q, derail] = Q                          # derail: into the fall (or straight off track)
    rew[:, :Q, derail] = 0.0
    for k in range(fall):
        auto[:, Q + k, :] = Q + k + 1
    auto[:, off, :] = off
    for d in range(D):
        M = np.zeros((Q, Q))
        for q in range(Q):
            np.add.at(M[q], automata[d, q, keep], np.exp(rewards[d, q, keep] / alpha))
        rho = float(np.max(np.abs(np.linalg.eigvals(M))))
        rew[d, off, :] = min(1.0, max(0.0, alpha * math.log(rho / V)))
    return TokenWorld(response_words, domain_words, horizon, float(alpha), auto, rew, seed,
                      derail_tokens=tuple(int(a) for a in derail), off_track=int(off))


# -------------------------------------------------------------------- demonstrations as text

def sample_expert(world: TokenWorld, n: int, seed, policy=None):
    """(domains [n], responses [n, H]) sampled from the expert (or ``policy``).

    Args:
        n: demonstrations; seed: an int or a ``numpy.random.Generator``.
        policy: a layered policy (H arrays ``[D * Q, V]``); default the exact expert.

    Returns:
        ``(domains, responses)``: int64 ``[n]`` domain indices (prompts ~ uniform) and int64 ``[n, H]``.
    """
    demos = sample_demonstrations(world.mdp, world.expert.policy if policy is None else policy, n, seed)
    return world.domain_of_state(demos.prompts), demos.responses


def write_demonstrations(world: TokenWorld, domains, responses, path) -> Path:
    """One JSON line per demonstration: {"domain": d, "prompt": word, "response": " w w w ..."}.

    The response starts with a space, so that prompt + response (the "plain" template of
    ``endorm.llm``) reads as separate words.

    Args:
        domains: ``[n]`` domain indices; responses: ``[n, H]`` word ids; path: the JSONL file.

    Returns:
        ``path`` as a ``Path`` (written atomically).
    """
    from endorm._io import atomic_write_bytes

    lines = []
    for d, y in zip(np.asarray(domains), np.asarray(responses)):
        lines.append(json.dumps({"domain": int(d), "prompt": world.domain_words[int(d)],
                                 "response": "".join(" " + world.response_words[int(a)] for a in y)}))
    return atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def read_demonstrations(world: TokenWorld, path):
    """Inverse of ``write_demonstrations``: (domains [n], responses [n, H]); checks every line.

    Returns:
        int64 ``[n]`` domain indices and int64 ``[n, H]`` word ids (blank lines skipped).

    Raises:
        ValueError: ``<path>:<line>: unknown word 'x'`` (also for a missing "prompt"/"response"
            key, named as the word), ``<path>:<line>: response has 5 words, the horizon is 12``,
            or invalid JSON (``json.JSONDecodeError``, without the location).
        OSError: the file cannot be read.
    """
    dom_id = {w: i for i, w in enumerate(world.domain_words)}
    word_id = {w: i for i, w in enumerate(world.response_words)}
    domains, responses = [], []
    for k, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        try:
            d = dom_id[row["prompt"]]
            y = [word_id[w] for w in row["response"].split()]
        except KeyError as e:
            raise ValueError(f"{path}:{k}: unknown word {e}") from None
        if len(y) != world.horizon:
            raise ValueError(f"{path}:{k}: response has {len(y)} words, the horizon is {world.horizon}")
        domains.append(d)
        responses.append(y)
    return np.asarray(domains, dtype=np.int64), np.asarray(responses, dtype=np.int64).reshape(-1, world.horizon)


# -------------------------------------------------------------------- the language model


def expert_entropy_rate(world: TokenWorld) -> float:
    """Per-token cross-entropy floor: the expert's entropy per token under its own occupancy (nats).

    (1/H) sum_h sum_s d_h(s) H(pi^E(.|s)), d_h the expert's state occupancy: the lowest mean
    next-token loss a model of the demonstrations can reach (``train_lm``'s losses approach it).

    Returns:
        nats per token, >= 0.
    """
    from endorm.tabular import state_distribution

    d = state_distribution(world.mdp, world.expert.policy)
    ent = 0.0
    for dh, p, lp in zip(d, world.expert.policy, world.expert.log_policy):
        ent -= float(dh @ (p * lp).sum(axis=1))
    return ent / world.horizon


# -------------------------------------------------------------------- measurements


