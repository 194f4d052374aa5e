"""The Appendix D judges: the same model asked, in the paper's verbatim templates, to judge.

``GenerativeVerifier`` (P(YES)), ``GenRMPointwise`` (expected 1-10 score) and ``GenRMPairwise``
(P(second better), both orders averaged) in ``models``, with the answer tokens they read
(``yes_no_ids``, ``score_token_ids`` -> ``ScoreTokens``); the verbatim templates in ``templates``.
"""
from .models import GenerativeVerifier, GenRMPairwise, GenRMPointwise, ScoreTokens, score_token_ids, yes_no_ids

__all__ = ["GenerativeVerifier", "GenRMPointwise", "GenRMPairwise", "ScoreTokens", "score_token_ids", "yes_no_ids"]
