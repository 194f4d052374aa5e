"""Table 3 (math before / after RL on the endogenous reward), the paper's numbers beside this run's.

Left panel, "paper": ``PAPER_TABLE3`` (Qwen2.5-Math-7B; AIME24 and AMC avg@32, the others pass@1; percent).
Right panel, "this run": ``endorm eval-math`` runs of the base model and of the RL model, paired by
``_runs.math_stages`` (an eval-math run whose model folder lies inside the given ``endorm rl`` run folder is
"after RL"; one of that rl run's base model is "before RL"), each benchmark's paper metric with a Wilson 95%
interval over problems; or the token world's analogue: the true return under r* per domain of the BC model
sampled before and after GRPO on its own endogenous reward (Monte Carlo means, 95% normal intervals), with
the expert's and the optimum's exact returns.
"""
from __future__ import annotations

import numpy as np

from ._common import COLORS, Context, Figure, draw_bars, pyplot, save, wilson_interval
from ._world import LABEL

NAME = "table3_math"
TITLE = "Table 3: before / after RL on the endogenous reward"
#: The columns of Table 3 and the eval-math data format of each.
COLUMNS = {"AIME24": "aime24", "AMC": "amc", "MATH-500": "math500", "Minerva": "minerva", "Olympiad": "olympiadbench"}
#: The paper's Table 3 (arXiv 2506.23235, Sec. 5.4), Qwen2.5-Math-7B, percent: AIME24 and AMC avg@32, others pass@1.
PAPER_TABLE3 = {"before": {"AIME24": 19.0, "AMC": 42.3, "MATH-500": 63.0, "Minerva": 12.1, "Olympiad": 28.4,
                           "Avg": 33.0},
                "after": {"AIME24": 20.4, "AMC": 49.4, "MATH-500": 67.4, "Minerva": 22.8, "Olympiad": 34.2,
                          "Avg": 38.8}}


def paper_numbers() -> dict:
    """``{"model", "metric", "before", "after", "delta"}`` of the paper's Table 3 (percent; delta = after - before)."""
    b, a = PAPER_TABLE3["before"], PAPER_TABLE3["after"]
    return {"model": "Qwen2.5-Math-7B", "metric": "AIME24, AMC: avg@32; others: pass@1", "before": dict(b),
            "after": dict(a), "delta": {c: round(a[c] - b[c], 6) for c in b}}


def _math_cell(run) -> dict:
    """One eval-math run's paper metric (avg@k for aime24/amc, else pass@1) with a Wilson 95% interval over problems.

    avg@k counts as value x problems successes: the variance of a mean of per-problem fractions in [0, 1] is at
    most that of a binomial over problems, so the interval is not too narrow.
    """
    r = run.results
    value = r["avg@k"] if str(r.get("paper_metric", "")).startswith("avg@") else r["pass@1"]
    lo, hi = wilson_interval(value * r["problems"], r["problems"])
    return {"value": value, "low": lo, "high": hi, "n": r["problems"], "k": r["k"],
            "metric": r.get("paper_metric", "pass@1"), "run": str(run.path)}


def from_runs(stages: dict) -> dict:
    """This run's Table 3 from ``_runs.math_stages``: per benchmark before / after (fractions) and Avg.

    Returns:
        ``{"source": "run", "rl_run", "base_model", "after_model", "prompts", "columns", "before": {column: cell},
        "after": {column: cell}, "delta": {column: after - before}}``; cells ``{"value", "low", "high", "n"
        (problems), "k", "metric", "run"}``; Avg = mean over the benchmarks present in both stages (no interval).
    """
    out = {"source": "run", "rl_run": str(stages["rl"].path), "base_model": stages["base_model"],
           "after_model": stages["after_model"], "prompts": stages["rl"].meta.get("prompts"),
           "before": {}, "after": {}, "delta": {}}
    for col, fmt in COLUMNS.items():
        for stage in ("before", "after"):
            if fmt in stages[stage]:
                out[stage][col] = _math_cell(stages[stage][fmt])
    both = [c for c in COLUMNS if c in out["before"] and c in out["after"]]
    for stage in ("before", "after"):
        if both:
            out[stage]["Avg"] = {"value": float(np.mean([out[stage][c]["value"] for c in both])), "low": None,
                                 "high": None, "n": None}
    out["delta"] = {c: out["after"][c]["value"] - out["before"][c]["value"] for c in both + (["Avg"] if both else [])}
    out["columns"] = [c for c in [*COLUMNS, "Avg"] if c in out["before"] or c in out["after"]]
    out["all_five"] = len(both) == len(COLUMNS)
    return out


def from_world(w: dict) -> dict:
    """The token world's analogue: true return per domain of the BC model before and after RL (reward units).

    Returns:
        ``{"source": "world", "world_source", "columns" (domains + "Avg"), "before", "after": {column: cell},
        "delta", "expert", "optimal_hard": {column: exact return}, "rl"}``; cells ``{"value", "low", "high"
        (mean +- 1.96 s.e.), "n" (samples; Avg: all)}``; Avg = mean over domains (its s.e. from the domains').
    """
    bd, L = w["horizon"]["returns_by_domain"], w["horizon"]["rl"]
    doms = [str(d) for d in w["domains"]]
    out = {"source": "world", "world_source": w["source"], "H": w["H"], "columns": doms + ["Avg"],
           "rl": {k: L[k] for k in ("steps", "beta", "n_seeds")}}
    for stage, key in (("before", "bc_sampled"), ("after", "rl_sampled")):
        m, se, n = bd[key]["mean"], bd[key]["se"], bd[key]["n"]
        avg_se = float(np.sqrt(np.sum(np.square(se))) / len(se))
        out[stage] = {c: {"value": v, "low": v - 1.959964 * s, "high": v + 1.959964 * s, "n": k}
                      for c, v, s, k in zip(out["columns"], list(m) + [float(np.mean(m))], list(se) + [avg_se],
                                            [n] * len(m) + [n * len(m)])}
    out["delta"] = {c: out["after"][c]["value"] - out["before"][c]["value"] for c in out["columns"]}
    for ref in ("expert", "optimal_hard"):
        out[ref] = dict(zip(out["columns"], list(bd[ref]) + [float(np.mean(bd[ref]))]))
    return out


def caption(nums: dict, paper: dict) -> str:
    """Table 3's Markdown caption for ``from_runs`` / ``from_world`` numbers."""
    head = (f"Left, **paper**: Table 3 of the paper ({paper['model']} before and after RL with EndoRM; "
            f"{paper['metric']}; percent as printed; the deltas after - before under the columns). ")
    if nums["source"] == "run":
        some = "" if nums["all_five"] else " Not all five benchmarks are present, so Avg is not the paper's Avg."
        return head + (
            f"Right, **this run**: `endorm eval-math` runs of the base model `{nums['base_model']}` (before) and of "
            f"`{nums['after_model']}` (after; inside the `endorm rl` run `{nums['rl_run']}`, prompts "
            f"`{nums['prompts']}`). Before/after is decided by the model folder: inside the rl run folder = after, "
            "the rl run's base model = before. Each benchmark's paper metric (avg@k for AIME24 and AMC, else pass@1) "
            "with a Wilson 95% interval over problems (n above the bars); Avg = mean over the benchmarks present in "
            f"both stages.{some} The data file names are not recorded in the eval-math run folders (its format is). "
            "Look for after > before on every benchmark.")
    return head + (
        f"Right, **this run** ({LABEL}): {nums['world_source']}. True return under r* per world domain of the BC model "
        f"sampled at temperature 1 before and after GRPO on its own endogenous reward ({nums['rl']['steps']} steps, "
        f"beta {nums['rl']['beta']}, {nums['rl']['n_seeds']} seed(s)); Monte Carlo means of n = "
        f"{nums['before'][nums['columns'][0]]['n']} samples per domain and stage (n above the bars), "
        "error bars 95% normal intervals (mean +- 1.96 s.e.); markers: the expert's (x) and the hard optimum's (-) "
        "exact returns; Avg = mean over domains. Units are reward units (not accuracy). Look for after > before "
        "(Theorem 2: RL on r_hat removes the compounding error of imitation).")


def _panel(ax, cols, before, after, delta, scale, n_labels):
    """Before/after bars per column; each tick label carries the column's delta (after - before)."""
    draw_bars(ax, cols, {"before RL": [before.get(c) for c in cols], "after RL": [after.get(c) for c in cols]},
              scale=scale, n_labels=n_labels)
    ax.set_xticks(range(len(cols)), [f"{c}\n\u0394 = {scale * delta[c]:+.1f}" if c in delta else c for c in cols])


def make(ctx: Context) -> Figure:
    """Table 3: the paper's before/after (left) and this run's (right: eval-math + rl runs, else the token world).

    Returns:
        the ``Figure``; JSON: "paper" (``paper_numbers``) and "run" (``from_runs`` / ``from_world``).

    Raises:
        ValueError: eval-math runs among ``--from`` that cannot be told before or after RL (``math_stages``).
    """
    from ._runs import fallback_note, math_stages, runs_for

    stages = math_stages(runs_for(ctx, NAME))
    nums = from_runs(stages) if stages else from_world(ctx.world())
    note = "" if stages else fallback_note(ctx, "eval-math (with its rl)")
    paper = paper_numbers()
    plt = pyplot()
    fig, (axp, axr) = plt.subplots(1, 2, figsize=(16, 5), layout="constrained")
    pc = list(paper["before"])
    cell = lambda v: {"value": v, "low": None, "high": None, "n": None}  # noqa: E731
    _panel(axp, pc, {c: cell(v) for c, v in paper["before"].items()}, {c: cell(v) for c, v in paper["after"].items()},
           paper["delta"], 1.0, False)
    axp.set_title(f"paper: Table 3, {paper['model']} (as printed; \u0394 = after - before)", fontsize=10)
    axp.set_ylabel("accuracy (%)")
    run = nums["source"] == "run"
    _panel(axr, nums["columns"], nums["before"], nums["after"], nums["delta"], 100.0 if run else 1.0, True)
    if run:
        axr.set_ylabel("accuracy (%)")
        axr.set_title("this run: eval-math before / after RL (error bars: Wilson 95%)", fontsize=10)
    else:
        x = np.arange(len(nums["columns"]))
        axr.plot(x, [nums["expert"][c] for c in nums["columns"]], "x", color=COLORS["black"], label="expert (exact)")
        axr.plot(x, [nums["optimal_hard"][c] for c in nums["columns"]], "_", ms=18, color=COLORS["black"],
                 label="hard optimum of r* (exact)")
        axr.set_ylabel("true return under r* (reward units)")
        axr.set_title(f"this run ({LABEL}):\ntrue return per domain (error bars: 95% interval of the mean)",
                      fontsize=10)
    axp.set_xlabel("benchmark")
    axr.set_xlabel("benchmark" if run else "world domain (prompt)")
    for ax in (axp, axr):
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
        ax.margins(y=0.15)
    title = f"{TITLE}: paper vs this run" + ("" if run else f" ({LABEL})")
    fig.suptitle(title)
    return save(fig, ctx, NAME, title, note + caption(nums, paper), {"paper": paper, "run": nums})


if __name__ == "__main__":
    from ._common import module_main

    raise SystemExit(module_main(NAME))
