"""Table 1 (RM-Bench: Chat, Math, Code, Safety, Easy, Normal, Hard, Avg), the paper's numbers beside this run's.

Left panel, "paper": ``tables.PAPER_TABLE1`` (Qwen2.5-7B-Instruct, percent, as printed). Right panel, "this
run": an ``endorm bench`` run on RM-Bench (``--from``: its ``results.json`` Table 1 row per method, computed
as THU-KEG/RM-Bench's ``compute_accuracy``), or the token world's analogue: one column per world domain, then
Easy / Normal / Hard = the thirds of the labelled pairs by true margin |R*(y) - R*(y')| (Easy: the largest
margins, Hard: the smallest; ``studies.margin_terciles``), and Avg = all labelled pairs pooled, for EndoRM,
the unigram and the length baseline, with Wilson 95% intervals.
"""
from __future__ import annotations

from ._common import COLORS, Context, Figure, draw_bars, pyplot, save, wilson_cell
from ._world import LABEL
from .figure1_multifaceted import WORLD_METHODS

NAME = "table1_rmbench"
TITLE = "Table 1: RM-Bench accuracy"
THIRDS = ("Easy", "Normal", "Hard")


def paper_numbers() -> dict:
    """The paper's Table 1: ``{"model", "columns", "methods": {label: {column: percent}}}``."""
    from endorm.llm.bench import tables as T

    return {"model": "Qwen2.5-7B-Instruct", "columns": list(T.TABLE1_COLUMNS),
            "methods": {T.METHOD_LABELS.get(m, m): dict(row) for m, row in T.PAPER_TABLE1.items()}}


def from_bench(run) -> dict:
    """This run's Table 1 rows from an RM-Bench ``endorm bench`` run (``results.json``, percent as printed).

    Returns:
        ``{"source": "run", "run", "model", "condition", "columns", "methods": {label: {column: cell}},
        "n_items": {domain column: items}, "missing"}``; cells ``{"value" (percent), "low": None, "high": None,
        "n"}`` (n = items of the column's domain; Easy/Normal/Hard/Avg: all items).
    """
    from endorm.llm.bench import tables as T
    from endorm.llm.bench.metrics import RMBENCH_DOMAINS, rmbench_domain

    from ._runs import bench_condition

    summary = run.results["summary"]
    condition = bench_condition(run)
    methods, n_items, missing = {}, {}, []
    for m, by_c in summary.items():
        e = by_c.get(condition)
        if not e:
            continue
        n = {}
        for s, a in e["subsets"].items():
            d = RMBENCH_DOMAINS.get(rmbench_domain(s))
            n[d] = n.get(d, 0) + a["n"]
        row = e["rm-bench"]
        missing, n_items = row.get("missing", []), n_items or n
        methods[T.METHOD_LABELS.get(m, m)] = {c: {"value": row[c], "low": None, "high": None,
                                                  "n": n.get(c, row.get("n"))} for c in T.TABLE1_COLUMNS}
    return {"source": "run", "run": str(run.path), "model": run.model, "condition": condition,
            "columns": list(T.TABLE1_COLUMNS), "methods": methods, "n_items": n_items, "missing": missing}


def from_world(w: dict) -> dict:
    """The token world's Table 1 analogue (fractions): per-domain columns, margin thirds and Avg per method.

    Returns:
        ``{"source": "world", "world_source", "columns", "margin_edges", "methods": {label: {column: cell}}}``,
        cells ``{"value", "low", "high" (Wilson 95%), "n"}``; Avg = the accuracy over all labelled pairs.
    """
    p = w["horizon"]["preferences"]
    doms = [str(d) for d in w["domains"]]
    bm = p["by_margin"]
    methods = {}
    for m, label in WORLD_METHODS.items():
        by = p.get(f"accuracy_{m}_by_domain")
        if not by:
            continue
        row = {doms[int(d)]: wilson_cell(v, p["n_by_domain"][d]) for d, v in by.items()}
        row.update({t: wilson_cell(bm["accuracy"][m][t], bm["n"][t]) for t in THIRDS if bm["n"][t]})
        row["Avg"] = wilson_cell(p[f"accuracy_{m}"], p["n_labelled"])
        methods[label] = row
    return {"source": "world", "world_source": w["source"], "H": w["H"], "columns": doms + list(THIRDS) + ["Avg"],
            "margin_edges": bm["edges"], "methods": methods}


def caption(nums: dict, paper: dict) -> str:
    """Table 1's Markdown caption for ``from_bench`` / ``from_world`` numbers."""
    head = (f"Left, **paper**: the paper's Table 1 (RM-Bench, {paper['model']}, percent as printed; the paper's "
            "Avg equals mean(Easy, Normal, Hard) except for GenRM-Pointwise). ")
    if nums["source"] == "run":
        miss = (f" Domains without items: {', '.join(nums['missing'])} (left out of Easy/Normal/Hard/Avg, which are "
                "then not comparable with the paper's)." if nums["missing"] else "")
        return head + (
            f"Right, **this run**: the `endorm bench` run `{nums['run']}` (model `{nums['model']}`; RM-Bench data, "
            f"the file names are not recorded in the run folder), computed as THU-KEG/RM-Bench's compute_accuracy: "
            f"each item's 3 chosen x 3 rejected style matrix; a domain = mean of its Hard, Normal, Easy; ties lose. "
            f"Items per domain: {', '.join(f'{d} {n}' for d, n in nums['n_items'].items())} (n above the bars). "
            "No interval is drawn: a cell averages "
            f"correlated comparisons of the same items.{miss} Dotted line: chance (50%). Look for the same ordering "
            "of the columns as the paper (Easy > Normal > Hard).")
    e1, e2 = nums["margin_edges"]
    return head + (
        f"Right, **this run** ({LABEL}): {nums['world_source']}. Columns: one per world domain, then Easy / Normal / "
        f"Hard = the thirds of the labelled pairs by true margin |R*(y) - R*(y')| (Hard <= {e1:.3g} < Normal <= "
        f"{e2:.3g} < Easy, reward units; the world's analogue of RM-Bench's style-based split), Avg = all labelled "
        "pairs pooled. Accuracy: sign agreement with R*, score ties count 1/2; error bars: Wilson 95%; n above the "
        "bars. The length baseline is exactly 50% (all responses have H tokens). Dotted line: chance (50%). Look "
        "for EndoRM above the baselines, and Easy > Normal > Hard as in the paper.")


def make(ctx: Context) -> Figure:
    """Table 1: the paper's rows (left) and this run's (right: an RM-Bench bench run, else the token world).

    Returns:
        the ``Figure``; its JSON holds "paper" (``paper_numbers``) and "run" (``from_bench`` / ``from_world``).

    Raises:
        ValueError: two RM-Bench runs among ``--from``.
    """
    from ._runs import run_or_world

    run, nums, note = run_or_world(ctx, NAME, from_bench, from_world, "RM-Bench bench")
    paper = paper_numbers()
    plt = pyplot()
    fig, (axp, axr) = plt.subplots(1, 2, figsize=(17, 5), layout="constrained")
    cols = paper["columns"]
    draw_bars(axp, cols, {m: [{"value": row[c], "low": None, "high": None, "n": None} for c in cols]
                          for m, row in paper["methods"].items()})
    axp.set_title(f"paper: Table 1, RM-Bench, {paper['model']} (as printed)", fontsize=10)
    scale = 1.0 if run else 100.0
    draw_bars(axr, nums["columns"], {m: [row.get(c) for c in nums["columns"]] for m, row in nums["methods"].items()},
              scale=scale)
    where = "RM-Bench" if run else LABEL
    axr.set_title(f"this run: {where}" + ("" if run else "; error bars Wilson 95%"), fontsize=10)
    for ax in (axp, axr):
        ax.axhline(50, color=COLORS["black"], ls=":", lw=1, label="chance (50%)")
        ax.set_ylim(0, 112)
        ax.set_ylabel("accuracy (%)")
        ax.set_xlabel("column of Table 1" if ax is axp or run else "world domain / margin third / Avg")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    title = f"{TITLE}: paper vs this run" + ("" if run else f" ({LABEL})")
    fig.suptitle(title)
    return save(fig, ctx, NAME, title, note + caption(nums, paper), {"paper": paper, "run": nums})


if __name__ == "__main__":
    from ._common import module_main

    raise SystemExit(module_main(NAME))
