"""Hypothesis profiles and shared strategies.

Profiles: "ci" (derandomized, more examples; default when the CI variable is set) and
"dev" (quick, random). Choose one with HYPOTHESIS_PROFILE=ci|dev.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


try:  # tiny models: one thread is far faster than two (OpenMP overhead on tiny matmuls)
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass
