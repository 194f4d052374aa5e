"""Table 2 (DSP, the promptable reward): accuracy with one domain's system prompt on each domain's data.

Left heatmap, "paper": ``PAPER_TABLE2``, the paper's full 4 x 4 matrix (Qwen2.5-7B-Instruct; rows: the
system-prompt domain of EndoRM, columns: the data domain). Right heatmap, "this run": the DSP matrix of an
``endorm bench`` run with ``--domain-prompts`` (its ``dsp_matrix_endorm.json``), or the token world's
``promptable_study`` matrix (EndoRM prompted with domain d, scored on domain e's pairs labelled by r*).
"""
from __future__ import annotations

import numpy as np

from ._common import Context, Figure, pyplot, save, wilson_interval
from ._world import LABEL

NAME = "table2_dsp"
TITLE = "Table 2: promptable reward (DSP)"

#: The paper's Table 2 (arXiv 2506.23235, Sec. 5.3), percent, rows = system-prompt domain (EndoRM-<row>),
#: columns = data domain, both in ``records.DSP_DOMAINS`` order (academy, business, literature, entertainment).
#: ``tables.PAPER_TABLE2_DIAGONAL`` is its diagonal.
PAPER_TABLE2 = {"academy": (76.89, 67.17, 57.45, 52.57), "business": (65.09, 69.21, 51.44, 51.17),
                "literature": (32.00, 32.94, 62.97, 36.12), "entertainment": (30.41, 38.65, 38.69, 72.09)}


def paper_numbers() -> dict:
    """``{"model", "rows", "cols", "labels", "percent" [4][4]}`` of the paper's Table 2."""
    from endorm.llm.bench import tables as T
    from endorm.llm.bench.records import DSP_DOMAINS

    return {"model": "Qwen2.5-7B-Instruct", "rows": list(DSP_DOMAINS), "cols": list(DSP_DOMAINS),
            "labels": [T.DSP_LABELS[d] for d in DSP_DOMAINS], "percent": [list(PAPER_TABLE2[d]) for d in DSP_DOMAINS]}


def _half_width(value: float, n: int) -> float:
    """The larger half of the Wilson 95% interval of a proportion ``value`` over n (fraction)."""
    lo, hi = wilson_interval(value * n, n)
    return max(value - lo, hi - value)


def from_bench(run) -> dict:
    """This run's matrix from a DSP ``endorm bench`` run with ``--domain-prompts`` (EndoRM's, else the first method).

    Returns:
        ``{"source": "run", "run", "model", "method", "rows", "cols", "labels", "percent" [R][C] (the run's
        ``dsp_matrix_<method>.json``, NaN where absent), "n_items" [R][C], "wilson95_half_width" [R][C]
        (percent, over comparisons)}``.
    """
    from endorm.llm.bench import tables as T

    from ._runs import dsp_method, read_run_file

    summary = run.results["summary"]
    method = dsp_method(summary)
    mat = read_run_file(run.path / f"dsp_matrix_{method}.json", run.path, f"dsp_matrix_{method}.json")
    subsets = lambda c: summary[method].get(c, {}).get("subsets", {})  # noqa: E731
    cells = [[subsets(r).get(c) for c in mat["cols"]] for r in mat["rows"]]
    return {"source": "run", "run": str(run.path), "model": run.model, "method": T.METHOD_LABELS.get(method, method),
            "rows": mat["rows"], "cols": mat["cols"], "labels": [T.DSP_LABELS.get(d, d) for d in mat["cols"]],
            "percent": mat["accuracy_percent"],
            "n_items": [[a["n"] if a else 0 for a in row] for row in cells],
            "wilson95_half_width": [[100 * _half_width(a["accuracy"], a["n_comparisons"]) if a else None
                                     for a in row] for row in cells]}


def from_world(w: dict) -> dict:
    """The token world's promptable matrix in percent, with n (labelled pairs of the data domain) per cell.

    Returns:
        ``{"source": "world", "world_source", "rows", "cols", "labels", "percent" [D][D], "n_items" [D][D],
        "wilson95_half_width" [D][D] (percent; score ties count 1/2)}``.
    """
    P = w["horizon"]["promptable"]["matrix"]
    n = w["horizon"]["preferences"]["n_by_domain"]
    doms = [str(d) for d in w["domains"]]
    return {"source": "world", "world_source": w["source"], "H": w["H"], "rows": doms, "cols": doms, "labels": doms,
            "percent": [[100 * v for v in row] for row in P],
            "n_items": [[n[str(e)] for e in range(len(P))] for _ in P],
            "wilson95_half_width": [[100 * _half_width(v, n[str(e)]) for e, v in enumerate(row)] for row in P]}


def diagonal_summary(percent) -> dict:
    """``{"diagonal_mean", "off_diagonal_mean", "diagonal_is_row_max", "diagonal_is_column_max"}`` of a matrix."""
    M = np.array(percent, float)
    off = ~np.eye(len(M), dtype=bool)
    return {"diagonal_mean": float(np.nanmean(np.diag(M))), "off_diagonal_mean": float(np.nanmean(M[off])),
            "diagonal_is_row_max": [bool(M[i, i] >= np.nanmax(M[i])) for i in range(len(M))],
            "diagonal_is_column_max": [bool(M[j, j] >= np.nanmax(M[:, j])) for j in range(len(M))]}


def _heatmap(fig, ax, M, labels, title: str, xlabel: str, ylabel: str, fmt: str = "{:.1f}") -> None:
    M = np.array(M, float)
    im = ax.imshow(M, vmin=0, vmax=100, cmap="viridis")
    for i in range(len(M)):
        for j in range(M.shape[1]):
            if np.isfinite(M[i, j]):
                ax.text(j, i, fmt.format(M[i, j]), ha="center", va="center", fontsize=9,
                        color="w" if M[i, j] < 60 else "k", fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(M.shape[1]), labels, rotation=25, ha="right")
    ax.set_yticks(range(len(M)), labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="accuracy (%)", shrink=0.8)


def _n_text(nums: dict) -> str:
    """The n per cell as text: "3", or "2-3" when the cells differ."""
    n = sorted({v for row in nums["n_items"] for v in row})
    return str(n[0]) if len(n) == 1 else f"{n[0]}-{n[-1]}"


def caption(nums: dict, paper: dict) -> str:
    """Table 2's Markdown caption for ``from_bench`` / ``from_world`` numbers."""
    hw = max(v for row in nums["wilson95_half_width"] for v in row if v is not None)
    head = (f"Left, **paper**: Table 2 of the paper (DSP, {paper['model']}, percent as printed; rows: the domain of "
            "EndoRM's system prompt, columns: the data domain). ")
    if nums["source"] == "run":
        body = (f"Right, **this run**: {nums['method']} in the `endorm bench` run `{nums['run']}` (model "
                f"`{nums['model']}`; DSP data with --domain-prompts; the file names are not recorded in the run "
                f"folder), its `dsp_matrix` JSON; n = {_n_text(nums)} items per cell. ")
    else:
        body = (f"Right, **this run** ({LABEL}): {nums['world_source']}. Cell (d, e) = accuracy of EndoRM prompted "
                f"with domain d on domain e's pairs labelled by r* (score ties count 1/2); n = {_n_text(nums)} "
                "labelled pairs per cell. ")
    return head + body + (f"No interval is drawn; the Wilson 95% half-widths are at most {hw:.1f} points (in the "
                          "JSON). Chance is 50%. Look for the diagonal: each prompt's best column is its own domain.")


def make(ctx: Context) -> Figure:
    """Table 2: the paper's matrix (left) and this run's (right: a DSP bench run, else the token world).

    Returns:
        the ``Figure``; JSON: "paper" (``paper_numbers`` + ``diagonal_summary``) and "run" (likewise).

    Raises:
        ValueError: two DSP runs among ``--from``; a run folder without its ``dsp_matrix`` JSON.
    """
    from ._runs import run_or_world

    run, nums, note = run_or_world(ctx, NAME, from_bench, from_world, "DSP bench (with --domain-prompts)")
    paper = paper_numbers()
    plt = pyplot()
    fig, (axp, axr) = plt.subplots(1, 2, figsize=(12.5, 5.2), layout="constrained")
    _heatmap(fig, axp, paper["percent"], paper["labels"], f"paper: Table 2, {paper['model']} (as printed)",
             "data domain", "system-prompt domain (EndoRM-<row>)", "{:.2f}")
    where = "DSP" if run else LABEL
    _heatmap(fig, axr, nums["percent"], nums["labels"], f"this run: {where}\n(n = {_n_text(nums)} "
             f"{'items' if run else 'labelled pairs'} per cell)", "data domain",
             "system-prompt domain" if run else "prompt domain d of EndoRM")
    title = f"{TITLE}: paper vs this run" + ("" if run else f" ({LABEL})")
    fig.suptitle(title + "; bold: the diagonal; chance 50%")
    numbers = {"paper": {**paper, **diagonal_summary(paper["percent"])},
               "run": {**nums, **diagonal_summary(nums["percent"])}}
    return save(fig, ctx, NAME, title, note + caption(nums, paper), numbers)


if __name__ == "__main__":
    from ._common import module_main

    raise SystemExit(module_main(NAME))
