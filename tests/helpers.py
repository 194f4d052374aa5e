"""Helpers shared by the tests (``from helpers import ...``; tests/ is on the path, see pyproject.toml)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
from hypothesis import strategies as st


ALPHAS = [1e-3, 0.05, 0.2, 1.0, 2.5, 5.0]

#: The real benchmark files and tokenizers: ``../shared`` beside the repository (or $ENDORM_SHARED).
SHARED = Path(os.environ.get("ENDORM_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def shared_path(*parts) -> Path:
    """A path under ``SHARED``; skips the test with the reason when it is absent (e.g. in a user's clone)."""
    import pytest

    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: the real files live in ../shared beside the repository (absent in a "
                    "user's clone); set ENDORM_SHARED to point at a copy")
    return path


@st.composite
def tree_shapes(draw, max_responses: int = 256):
    """(V, H, n_prompts) with n_prompts * V**H <= max_responses; V = 2 and H = 1 included."""
    V = draw(st.integers(2, 4))
    H = draw(st.integers(1, 5))
    P = draw(st.integers(1, 3))
    while P * V**H > max_responses:
        H -= 1
    return V, max(H, 1), P


@st.composite
def tree_instances(draw, max_responses: int = 256, alphas=ALPHAS):
    """A random prefix-tree ``Instance`` (true reward, soft expert, noisy logits)."""
    from endorm.tabular import random_tree_instance

    V, H, P = draw(tree_shapes(max_responses))
    alpha = draw(st.sampled_from(alphas) | st.floats(0.05, 5.0))
    noise = draw(st.sampled_from([0.0, 0.1, 0.5, 2.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return random_tree_instance(np.random.default_rng(seed), V, H, P, alpha=alpha, noise=noise)


def load_script(name: str):
    """Import ``benchmarks/<name>.py`` as a module (the benchmarks are scripts, not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def maxdiff(a, b) -> float:
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b))


def tol(inst, *extra) -> float:
    """Exact-identity tolerance: 1e-10 * H * max(1, max|Q|) (tabular/checks.py::exact_tol)."""
    from endorm.tabular.checks import exact_tol

    return exact_tol(inst, *extra)


# ---- math grading workers (module-level so that spawned worker processes can import them)

def hang(gold, answer, timeout):
    """A worker that no alarm can interrupt (stands for one long C call)."""
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    time.sleep(60)
    return True, "graded"


def hang_on(gold, answer, timeout):
    """Hang (as ``hang``) on the answer "hang", else grade."""
    from endorm.llm.math.grading import grade_one

    return hang(gold, answer, timeout) if answer == "hang" else grade_one(gold, answer, timeout)


def slow_init():
    """A worker start (3 s) slower than a stall limit of 2 s; then the real initializer."""
    from endorm.llm.math.grading import _worker_init

    time.sleep(3.0)
    _worker_init()


def log_policy_tolerance(logits, dtype, alpha=1.0):
    """Per row, the bound on |d log pi| = |dV| / alpha that ``endorm.llm.reward.soft_values`` keeps for logits
    [rows, vocab] (float64 values) held in ``dtype``: 1e-5 in float32, else its docstring's
    u (1 + 2 E_pi[|f - max f| / alpha]) plus the float32 part (u = 2^-8 bfloat16, 2^-11 float16)."""
    import torch

    if dtype == torch.float32:
        return torch.full((logits.shape[0],), 1e-5, dtype=torch.float64)
    unit = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}[dtype]
    d = (logits - logits.amax(1, keepdim=True)) / alpha
    return unit * (1 + 2 * (torch.softmax(d, 1) * d.abs()).sum(1)) + 2e-5 * (1 + logits.abs().amax(1))
