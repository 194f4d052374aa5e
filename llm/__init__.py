"""endorm.llm: the endogenous reward of Hugging Face causal language models (torch/transformers).

The same estimators as ``endorm.tabular`` on real models: ``EndogenousReward`` (token
rewards r_hat of Eq. 10, log pi of Eq. 9, the Eq. 12 score with Appendix C weighting; its
options in ``options.RewardOptions``), the judge baselines of Appendix D
(``GenerativeVerifier``, ``GenRMPointwise``, ``GenRMPairwise``), all behind one
``RewardModel`` protocol. Everything loads from local directories; torch and
transformers are imported only when a model is built (``pip install 'endorm[llm]'``).
"""
from .base import PointwiseCompare, RewardModel, load_model_and_tokenizer
from .judges import GenerativeVerifier, GenRMPairwise, GenRMPointwise
from .reward import EndogenousReward, TokenRewards
from .templates import TEMPLATES, Encoded, encode

__all__ = ["EndogenousReward", "TokenRewards", "GenerativeVerifier", "GenRMPointwise", "GenRMPairwise", "RewardModel", "PointwiseCompare", "load_model_and_tokenizer",
           "TEMPLATES", "Encoded", "encode"]
