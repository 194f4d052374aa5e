"""The token-world stand-in for the paper's benchmarks: one ``endorm demo``-style study, run once per ``Context``.

Without a usable run folder among ``--from``, the result figures (Figure 1, Tables 1-3) are drawn on the
ground-truth token world of ``endorm.llm.world`` (labelled "token world, not the paper's benchmark"): one
horizon of ``demo.study_horizon`` (world, expert demonstrations, a tiny Llama trained on them, EndoRM against
r*, GRPO on the model's own endogenous reward) in a temporary folder, so that no model file is left in the
user's ``--out``; only the numbers are kept. With an ``endorm demo`` run folder among ``--from`` its
``results.json`` is read instead (its largest horizon).

The analogues: Figure 1 = accuracy per world domain per method (EndoRM, unigram and length baselines);
Table 1 = per-domain columns plus Easy / Normal / Hard = thirds of the pairs by true margin
|R*(y) - R*(y')| (``studies.margin_terciles``); Table 2 = the promptable D x D matrix; Table 3 = true return
per domain of the BC model before and after RL on its own reward.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

#: The quick study (``--quick``): the demo's QUICK world and model; about 20 s on one core.
QUICK = dict(n_domains=3, vocab_size=8, n_automaton=3, horizon=12, alpha=0.25, n_demos=3000, steps=250,
             hidden=48, layers=2, pairs_per_domain=100, n_samples=300, beam_width=4,
             rl_steps=30, rl_beta=0.01, n_seeds=1, compounding=False)
#: The default study: four domains (as the paper's DSP matrix), more data, pairs and samples; a few minutes.
FULL = dict(n_domains=4, vocab_size=12, n_automaton=4, horizon=16, alpha=0.25, n_demos=8000, steps=800,
            hidden=64, layers=2, pairs_per_domain=300, n_samples=1200, beam_width=8,
            rl_steps=60, rl_beta=0.01, n_seeds=1, compounding=False)
#: What every caption of a token-world figure says about its data.
LABEL = "token world, not the paper's benchmark"


def world_results(ctx) -> dict:
    """The token-world study's numbers for the result figures: from a demo run among ``--from``, else run now.

    Args:
        ctx: the ``Context`` (``quick``: the ``QUICK`` config, else ``FULL``; ``seed``; ``runs``).

    Returns:
        ``{"source" (Markdown: where the numbers come from), "demo_dir" (str or None), "H", "seed",
        "config", "domains" (the prompt words, D), "horizon" (``demo.study_horizon``'s dict for H:
        "preferences", "returns", "returns_by_domain", "promptable", "rl", ...), "seconds"}``.

    Raises:
        ValueError: two demo runs among ``--from`` (``_runs.one_run``).
    """
    from ._runs import one_run

    demo = one_run(ctx, "world")
    if demo is not None:
        res = demo.results
        H = max(res["horizons"], key=int)
        horizon = res["horizons"][H]
        return {"source": f"the `endorm demo` run `{demo.path}` (horizon H = {H}, seed {res.get('seed')}; model "
                          f"`{demo.path / f'H{H}' / 'model'}`, demonstrations `{demo.path / f'H{H}' / 'demos.jsonl'}`)",
                "demo_dir": str(demo.path), "H": int(H), "seed": res.get("seed"), "config": res.get("config"),
                "domains": horizon["returns_by_domain"]["domains"], "horizon": horizon,
                "seconds": horizon.get("seconds")}
    cfg = dict(QUICK if ctx.quick else FULL)
    t0 = time.perf_counter()
    horizon = run_study(cfg, ctx.seed)
    return {"source": f"a fresh token-world study (`endorm figures{' --quick' if ctx.quick else ''}`, seed "
                      f"{ctx.seed}: {cfg['n_domains']} domains, H = {cfg['horizon']}, {cfg['n_demos']} expert "
                      f"demonstrations, a {cfg['layers']}-layer Llama of width {cfg['hidden']} trained on them in a "
                      "temporary folder, deleted after)",
            "demo_dir": None, "H": cfg["horizon"], "seed": ctx.seed, "config": cfg,
            "domains": horizon["returns_by_domain"]["domains"], "horizon": horizon,
            "seconds": time.perf_counter() - t0}


def run_study(cfg: dict, seed: int) -> dict:
    """One horizon of ``demo.study_horizon`` in a temporary folder (deleted after), quietly.

    Library warnings and log records go to the temporary ``run.log``; the transformers progress bars are off;
    torch runs on one thread (``demo.one_torch_thread``: several times faster on these tiny models).

    Args:
        cfg: ``QUICK``/``FULL``-style settings (``horizon`` plus the demo's keys); seed: the base seed.

    Returns:
        ``study_horizon``'s dict (numbers only; the model files are gone).
    """
    from transformers.utils import logging as hf_logging

    from endorm.llm.runs import library_output_to
    from endorm.llm.world.demo import one_torch_thread, study_horizon

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with tempfile.TemporaryDirectory(prefix="endorm-world-") as tmp:
            with library_output_to(Path(tmp) / "run.log", announce=False), one_torch_thread():
                return study_horizon(cfg["horizon"], cfg, seed, Path(tmp) / f"H{cfg['horizon']}")
    finally:
        if bars:
            hf_logging.enable_progress_bar()
