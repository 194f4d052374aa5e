"""The tables and figures of ``endorm bench``: Table 1 (RM-Bench), RewardBench sections, per-subset
accuracy (Figure 1 on Multifaceted-Bench) and the DSP matrix of Table 2 (heatmap + JSON)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import metrics as M
from . import rewardbench as RB
from . import tables as T


def summarize(records, rows, methods, conditions, fmt: str, seed: int = 0) -> dict:
    """Accuracy per method and condition (overall, per subset, and the format's own table).

    Args:
        records: the run's PairRecords (records without a score line are left out).
        rows: the score lines (``runner.merge_scores``).
        methods: method names (``METHODS``); conditions: ``{condition name: system prompt or None}``.
        fmt: the data format; "rm-bench" adds Table 1 (``metrics.rmbench_table``), "rewardbench"
            the section scores (``metrics.rewardbench_sections``).
        seed: seed of the bootstrap intervals.

    Returns:
        ``{method: {condition: {"overall": Accuracy fields, "subsets": {subset: Accuracy fields},
        ["rm-bench": Table 1 row without "per_domain"], ["rewardbench": sections without
        "subset_accuracy"]}}}``; Accuracy fields are fractions, the tables percent. A condition
        without any scored record is absent.

    Raises:
        ValueError: as the ``metrics`` functions (NaN scores, a wrong outcome shape, a subset that
            is not an RM-Bench domain).
    """
    out = {}
    for m in methods:
        out[m] = {}
        for c in conditions:
            wins = M.outcomes_by_id(rows, method=m, condition=c)
            recs = [r for r in records if r.id in wins]
            if not recs:
                continue
            o = [wins[r.id] for r in recs]
            overall = M.pairwise_accuracy([x.wins for x in o], [x.ties for x in o], rng_seed=seed)
            entry = {"overall": vars(overall), "subsets": {s: vars(a) for s, a in
                                                            M.accuracy_by_subset(recs, wins, rng_seed=seed).items()}}
            if fmt == "rm-bench":
                entry["rm-bench"] = {k: v for k, v in M.rmbench_table(recs, wins).items() if k != "per_domain"}
            elif fmt == "rewardbench":
                t = RB.rewardbench_sections(recs, wins)
                entry["rewardbench"] = {k: v for k, v in t.items() if k != "subset_accuracy"}
            out[m][c] = entry
    return out


def _generic_table(summary, condition) -> str:
    subsets = sorted({s for m in summary.values() for s in m.get(condition, {}).get("subsets", {})})
    lines = ["| Method | Overall (95% CI) | ties | " + " | ".join(subsets) + " |",
             "|---|---:|---:|" + "---:|" * len(subsets)]
    for m, by_c in summary.items():
        e = by_c.get(condition)
        if not e:
            continue
        o = e["overall"]
        cells = [f"{100 * e['subsets'][s]['accuracy']:.1f}" if s in e["subsets"] else "" for s in subsets]
        lines.append(f"| {T.METHOD_LABELS.get(m, m)} | {100 * o['accuracy']:.1f} ({100 * o['ci_low']:.1f}-"
                     f"{100 * o['ci_high']:.1f}) | {o['ties']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _rewardbench_table(summary, condition) -> str:
    cols = ["Chat", "Chat Hard", "Safety", "Reasoning", "Score"]
    lines = ["| Method | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for m, by_c in summary.items():
        t = by_c.get(condition, {}).get("rewardbench")
        if t:
            lines.append(f"| {T.METHOD_LABELS.get(m, m)} | " + " | ".join(f"{t[c]:.1f}" for c in cols) + " |")
    return "\n".join(lines)


def _dsp_outputs(summary, conditions, out_dir: Path, compare_paper: bool) -> str:
    """Table 2 matrix per method: Markdown, plus a heatmap PNG and JSON beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from endorm._io import atomic_savefig, atomic_write_json

    text = []
    for m, by_c in summary.items():
        acc = {c: {s: 100 * a["accuracy"] for s, a in by_c.get(c, {}).get("subsets", {}).items()} for c in conditions}
        mat = T.dsp_matrix(acc)
        text += [f"### {T.METHOD_LABELS.get(m, m)}: DSP accuracy (rows: system prompt, columns: data domain)", "",
                 T.format_matrix(mat), ""]
        if compare_paper:
            text += ["Paper diagonal (Table 2): " + ", ".join(f"{k} {v}" for k, v in T.PAPER_TABLE2_DIAGONAL.items()),
                     ""]
        fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=120)
        im = ax.imshow(mat.values, cmap="viridis")
        labels = [T.DSP_LABELS.get(d, d) for d in mat.rows]
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for i in range(len(labels)):
            for j in range(len(labels)):
                if np.isfinite(mat.values[i, j]):
                    ax.text(j, i, f"{mat.values[i, j]:.1f}", ha="center", va="center", color="w", fontsize=8)
        ax.set_xlabel("data domain")
        ax.set_ylabel("system prompt domain")
        ax.set_title(f"{T.METHOD_LABELS.get(m, m)}: DSP accuracy (%)")
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        atomic_savefig(fig, out_dir / f"dsp_matrix_{m}.png")
        plt.close(fig)
        atomic_write_json(out_dir / f"dsp_matrix_{m}.json", {"rows": list(mat.rows), "cols": list(mat.cols),
                                                             "accuracy_percent": mat.values.tolist()})
    return "\n".join(text)


def subset_intervals(summary, condition) -> dict:
    """Per method and subset: strict accuracy with its Wilson 95% interval and the counts behind it.

    The point value is ``metrics.pairwise_accuracy``'s: wins / comparisons, a tie counting as a loss
    (RM-Bench's and RewardBench's rule), so k = wins = accuracy x comparisons and the interval is
    ``wilson_interval(k, comparisons)`` (Wilson 1927), which stays wide for a handful of comparisons (3 of 3
    gives [0.44, 1], not [1, 1]). It treats comparisons as independent: for items with several rejected
    responses (Multifaceted-Bench, DSP) they are not, and the bootstrap over items in ``results.json`` is
    the item-level interval.

    Args:
        summary: from ``summarize``; condition: the condition to read.

    Returns:
        ``{method: {subset: {"accuracy", "ci_low", "ci_high" (fractions in [0, 1]), "wins", "comparisons",
        "items", "ties"}}}``, subsets sorted by name; methods without the condition are absent.
    """
    from endorm.llm.bench.metrics import wilson_interval

    out = {}
    for m in summary:
        if condition not in summary[m]:
            continue
        out[m] = {}
        for s, a in sorted(summary[m][condition]["subsets"].items()):
            wins = int(round(a["accuracy"] * a["n_comparisons"]))
            lo, hi = wilson_interval(wins, a["n_comparisons"])
            out[m][s] = {"accuracy": a["accuracy"], "ci_low": lo, "ci_high": hi, "wins": wins,
                         "comparisons": a["n_comparisons"], "items": a["n"], "ties": a["ties"]}
    return out


def subset_figure(summary, condition, out_dir: Path) -> Path:
    """Grouped bars of per-subset accuracy per method with Wilson 95% intervals (Figure 1 on Multifaceted-Bench).

    Each bar is ``subset_intervals``' accuracy (ties count as losses) with its Wilson interval and its n
    (comparisons) printed above it; a dotted line marks chance (50%); the legend sits outside the axes.

    Args:
        summary: from ``summarize``; condition: the condition to plot.
        out_dir: where ``accuracy_by_subset.png`` and ``accuracy_by_subset.json`` are written. The JSON:
            ``{"condition", "interval", "columns": ["accuracy", "ci_low", "ci_high"], "percent": {method:
            {subset: [accuracy, ci_low, ci_high]}} (percent), "counts": {method: {subset: {"wins",
            "comparisons", "items", "ties"}}}}``.

    Returns:
        the path of the PNG.

    Raises:
        OSError: the files cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from endorm._io import atomic_savefig, atomic_write_json
    from endorm.paper_figures._common import PALETTE

    cells = subset_intervals(summary, condition)
    subsets = sorted({s for by_s in cells.values() for s in by_s})
    width = 0.8 / max(len(cells), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(subsets) + 2) + 2.5, 4.2), dpi=120, layout="constrained")
    for k, (m, by_s) in enumerate(cells.items()):
        x = np.arange(len(subsets)) + (k - (len(cells) - 1) / 2) * width
        c = [by_s.get(s) for s in subsets]
        y = np.array([100 * e["accuracy"] if e else np.nan for e in c])
        err = np.array([[100 * (e["accuracy"] - e["ci_low"]), 100 * (e["ci_high"] - e["accuracy"])] if e else
                        [np.nan, np.nan] for e in c]).T
        ax.bar(x, y, width, yerr=err, capsize=2, label=T.METHOD_LABELS.get(m, m), color=PALETTE[k % len(PALETTE)])
        for xi, e in zip(x, c):
            if e:
                ax.text(xi, 100 * e["ci_high"] + 1, f"n={e['comparisons']}", ha="center", va="bottom", fontsize=6)
    ax.axhline(50, color="k", ls=":", lw=1, label="chance (50%)")
    ax.set_xticks(range(len(subsets)), subsets, rotation=20, ha="right")
    ax.set_xlabel("subset")
    ax.set_ylabel("pairwise accuracy (%)")
    ax.set_ylim(0, 110)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    ax.set_title(f"accuracy per subset (condition {condition})\nerror bars: Wilson 95%; n = comparisons; a tie loses",
                 fontsize=10)
    png = atomic_savefig(fig, out_dir / "accuracy_by_subset.png")
    plt.close(fig)
    atomic_write_json(out_dir / "accuracy_by_subset.json", {
        "condition": condition, "interval": "Wilson 95% over comparisons; a tie counts as a loss (as the accuracy)",
        "columns": ["accuracy", "ci_low", "ci_high"],
        "percent": {m: {s: [100 * e["accuracy"], 100 * e["ci_low"], 100 * e["ci_high"]] for s, e in by_s.items()}
                    for m, by_s in cells.items()},
        "counts": {m: {s: {k: e[k] for k in ("wins", "comparisons", "items", "ties")} for s, e in by_s.items()}
                   for m, by_s in cells.items()}})
    return png


def render(summary, conditions, fmt: str, compare_paper: bool, out_dir: Path, dsp: bool) -> str:
    """The report of a run as Markdown text, writing its figures beside it.

    Per condition: the paper's Table 1 layout (RM-Bench), the RewardBench sections (Chat, Chat
    Hard, Safety, Reasoning, Score), or a per-subset table with 95% bootstrap intervals and
    ``accuracy_by_subset.png`` (other formats; Wilson intervals, ``subset_figure``). With ``dsp`` the Table 2
    matrix per method instead, with ``dsp_matrix_<method>.png`` and ``.json``. All numbers in percent.

    Args:
        summary: from ``summarize``; conditions: ``{name: system prompt or None}``.
        fmt: the data format; compare_paper: add the paper's numbers (Table 1 rows, Table 2 diagonal).
        out_dir: the run folder (figures and JSON go there).
        dsp: True for a DSP run with ``--domain-prompts`` (conditions = system-prompt domains).

    Returns:
        the report text (conditions separated by blank lines).

    Raises:
        OSError: a figure or JSON file cannot be written.
    """
    if dsp:
        return _dsp_outputs(summary, conditions, out_dir, compare_paper)
    parts = []
    for c in conditions:
        title = "" if len(conditions) == 1 else f"### condition {c}\n\n"
        if fmt == "rm-bench":
            rows = {m: by_c[c]["rm-bench"] for m, by_c in summary.items() if c in by_c}
            table = T.format_table1(rows, paper=compare_paper)
            missing = next(iter(rows.values()), {}).get("missing")
            if missing:
                table += (f"\n\n{', '.join(missing)}: no items in this run, so Easy, Normal, Hard and Avg are means "
                          "over the other domains only (not comparable with the paper's Avg).")
        elif fmt == "rewardbench":
            table = _rewardbench_table(summary, c)
        else:
            table = _generic_table(summary, c)
            subset_figure(summary, c, out_dir)
        parts.append(title + table)
    return "\n\n".join(parts)
