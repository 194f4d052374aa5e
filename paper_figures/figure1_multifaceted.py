"""Figure 1: pairwise accuracy per domain and method on Multifaceted-Bench, or per domain of the token world.

From an ``endorm bench`` run on Multifaceted-Bench (``--from``): per source (domain) and method, strict
accuracy (ties lose) with a Wilson 95% interval over comparisons (``report.subset_intervals``, the numbers of
the run's ``accuracy_by_subset.json``). Without one: accuracy per world domain of EndoRM, the unigram and
the length baseline on pairs labelled by the true r* (ties in score count 1/2), Wilson 95% over the pairs.
The paper prints no numbers for Figure 1 (it is a plot only), so only this run is drawn.
"""
from __future__ import annotations

from ._common import COLORS, Context, Figure, draw_bars, pyplot, save, wilson_cell
from ._world import LABEL as LABEL_WORLD

NAME = "figure1_multifaceted"
TITLE = "Figure 1: accuracy per domain and method"
PAPER_NOTE = ("The paper prints no numbers for Figure 1 (it is a plot only), so only this run is drawn; "
              "compare its shape (EndoRM against the other methods, per domain) with the paper's plot.")
WORLD_METHODS = {"endorm": "EndoRM", "unigram": "unigram baseline", "length": "length baseline"}


def from_bench(run) -> dict:
    """Figure 1's numbers from a Multifaceted-Bench ``endorm bench`` run (``report.subset_intervals``).

    Returns:
        ``{"source": "run", "run", "model", "condition", "domains", "methods": {label: {domain: cell}}}``
        with cells ``{"value", "low", "high" (fractions), "n" (comparisons), "items", "ties"}``.
    """
    from endorm.llm.bench import tables as T
    from endorm.llm.bench.report import subset_intervals

    from ._runs import bench_condition

    summary = run.results["summary"]
    condition = bench_condition(run)
    cells = subset_intervals(summary, condition)
    domains = sorted({s for by_s in cells.values() for s in by_s})
    methods = {T.METHOD_LABELS.get(m, m): {s: {"value": e["accuracy"], "low": e["ci_low"], "high": e["ci_high"],
                                               "n": e["comparisons"], "items": e["items"], "ties": e["ties"]}
                                           for s, e in by_s.items()} for m, by_s in cells.items()}
    return {"source": "run", "run": str(run.path), "model": run.model, "condition": condition,
            "n_records": run.results.get("n_records"), "domains": domains, "methods": methods}


def from_world(w: dict) -> dict:
    """Figure 1's numbers from the token world (``_world.world_results``): accuracy per domain per method.

    Returns:
        ``{"source": "world", "world_source", "domains", "methods": {label: {domain: cell}}}``, cells
        ``{"value", "low", "high", "n"}`` (n = labelled pairs of the domain; Wilson 95%, ties count 1/2).
    """
    p = w["horizon"]["preferences"]
    domains = [str(d) for d in w["domains"]]
    methods = {}
    for m, label in WORLD_METHODS.items():
        by = p.get(f"accuracy_{m}_by_domain")
        if by:
            methods[label] = {domains[int(d)]: wilson_cell(v, p["n_by_domain"][d]) for d, v in by.items()}
    return {"source": "world", "world_source": w["source"], "H": w["H"], "domains": domains, "methods": methods}


def caption(nums: dict) -> str:
    """Figure 1's Markdown caption for ``from_bench`` / ``from_world`` numbers."""
    if nums["source"] == "run":
        data = (f"the `endorm bench` run `{nums['run']}` on Multifaceted-Bench (model `{nums['model']}`; "
                f"{nums['n_records']} records, condition {nums['condition']}; the data file is not recorded in the "
                "run folder). Pairs: a row's reference answer (chosen) against the answers for other system "
                "messages on the same prompt. Bars: strict accuracy (a tie loses) per source; error bars: "
                "Wilson 95% intervals over comparisons; n = comparisons per bar.")
    else:
        data = (f"the {LABEL_WORLD}: {nums['world_source']}. Domains are the world's prompts; pairs are labelled "
                "by the sign of R*(y) - R*(y'); score ties count 1/2; n = labelled pairs per domain; error bars: "
                "Wilson 95% intervals. The length baseline is exactly 0.5 (every response has H tokens).")
    return (f"Pairwise accuracy per domain and method on {data} Dotted line: chance (50%). {PAPER_NOTE} "
            "Look for EndoRM above chance and above the baselines in every domain.")


def make(ctx: Context) -> Figure:
    """Figure 1 from the Multifaceted-Bench bench run among ``--from``, else from the token world.

    Returns:
        the ``Figure`` (``figure1_multifaceted.png`` + ``.json``: the numbers of ``from_bench`` / ``from_world``,
        fractions, plus "paper": None and "paper_note").

    Raises:
        ValueError: two Multifaceted-Bench runs among ``--from``.
    """
    from ._runs import run_or_world

    run, nums, note = run_or_world(ctx, NAME, from_bench, from_world, "Multifaceted-Bench bench")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4 + 1.3 * len(nums["domains"]) + 2.5, 4.6), layout="constrained")
    draw_bars(ax, nums["domains"], {m: [by.get(d) for d in nums["domains"]] for m, by in nums["methods"].items()},
              scale=100)
    ax.axhline(50, color=COLORS["black"], ls=":", lw=1, label="chance (50%)")
    ax.set_ylim(0, 112)
    ax.set_xlabel("Multifaceted-Bench source (domain)" if run else "token-world domain (prompt)")
    ax.set_ylabel("pairwise accuracy (%)")
    where = "this run" if run else f"this run ({LABEL_WORLD})"
    title = f"{TITLE} — {where}"
    ax.set_title(title + "\nerror bars: Wilson 95%; the paper prints no numbers for Figure 1", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    return save(fig, ctx, NAME, title, note + caption(nums), {**nums, "paper": None, "paper_note": PAPER_NOTE})


if __name__ == "__main__":
    from ._common import module_main

    raise SystemExit(module_main(NAME))
