"""The paper's tables as text: Table 1 (RM-Bench) with the paper's rows, and the Table 2 DSP matrix.

Numbers in percent; the paper's own values (arXiv 2506.23235) are here for ``--compare-paper``.
"""
from __future__ import annotations

import math
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from .metrics import Accuracy
from .records import DSP_DOMAINS


TABLE1_COLUMNS = ("Chat", "Math", "Code", "Safety", "Easy", "Normal", "Hard", "Avg")


#: Paper (arXiv 2506.23235) Table 1, RM-Bench, Qwen2.5-7B-Instruct, percent. As printed: the
#: Avg column equals mean(Easy, Normal, Hard) for every row but GenRM-Pointwise (printed 44.2,
#: mean 53.1); it differs from mean(Chat, Math, Code, Safety) for EndoRM, the verifier and pairwise.
PAPER_TABLE1 = {
    "endorm": dict(zip(TABLE1_COLUMNS, (84.7, 56.7, 53.2, 91.2, 86.9, 74.4, 49.4, 70.2))),
    "verifier": dict(zip(TABLE1_COLUMNS, (60.1, 58.5, 36.8, 86.4, 70.7, 65.3, 57.8, 64.6))),
    "pairwise": dict(zip(TABLE1_COLUMNS, (55.1, 50.8, 50.6, 80.4, 70.3, 62.3, 51.7, 61.4))),
    "pointwise": dict(zip(TABLE1_COLUMNS, (42.7, 29.8, 15.5, 75.5, 57.7, 43.8, 57.7, 44.2))),
    "skywork": dict(zip(TABLE1_COLUMNS, (69.5, 60.6, 54.5, 95.7, 89.0, 74.7, 46.6, 70.1))),
}


METHOD_LABELS = {"endorm": "EndoRM", "verifier": "Generative Verifier", "pairwise": "GenRM-Pairwise",
                 "pointwise": "GenRM-Pointwise", "skywork": "Skywork-Reward-Llama-3.1-8B (trained)"}


#: DSP domain labels, and the paper's Table 2 diagonal (percent); DSP_DOMAINS: records.py.
DSP_LABELS = {"academy": "Academy", "business": "Business", "entertainment": "Entertainment",
              "literature": "Literature&Art"}


PAPER_TABLE2_DIAGONAL = {"academy": 76.89, "business": 69.21, "literature": 62.97, "entertainment": 72.09}


def _cell(v, fmt: str) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def format_table1(results: Mapping[str, Mapping], paper: bool = False, fmt: str = "{:.1f}") -> str:
    """Markdown table in the layout of the paper's Table 1 (RM-Bench, percent).

    Args:
        results: ``{method: rmbench_table(...)}``; a method key of METHOD_LABELS is shown by its label.
        paper: add the paper's row (PAPER_TABLE1) beneath each of our rows that has one.
        fmt: format of a cell; a missing or NaN cell shows as "–".

    Returns:
        the Markdown table, columns ``TABLE1_COLUMNS`` (percent).
    """
    lines = ["| Method | " + " | ".join(TABLE1_COLUMNS) + " |", "|---|" + "---:|" * len(TABLE1_COLUMNS)]
    for method, row in results.items():
        label = METHOD_LABELS.get(method, method)
        lines.append(f"| {label} | " + " | ".join(_cell(row.get(c), fmt) for c in TABLE1_COLUMNS) + " |")
        if paper and method in PAPER_TABLE1:
            ref = PAPER_TABLE1[method]
            lines.append(f"| {label} (paper) | " + " | ".join(_cell(ref[c], fmt) for c in TABLE1_COLUMNS) + " |")
    return "\n".join(lines)


class LabelledMatrix(NamedTuple):
    """A square matrix with its labels: values[i, j] for rows[i] (system prompt) x cols[j] (data).

    Fields:
        values: float ``[n_rows, n_cols]`` (percent for the DSP matrix; NaN where not measured).
        rows: the row labels (system-prompt domains), ``n_rows`` str.
        cols: the column labels (data domains), ``n_cols`` str.
    """

    values: np.ndarray
    rows: tuple
    cols: tuple


def dsp_matrix(acc: Mapping[str, Mapping], domains: Sequence[str] = DSP_DOMAINS) -> LabelledMatrix:
    """The DSP matrix of the paper's Table 2: accuracy with the system prompt of one domain on another's data.

    Args:
        acc: ``{prompt_domain: {data_domain: number or Accuracy}}``; numbers are used as given
            (percent here), an ``Accuracy`` becomes 100 * accuracy.
        domains: row and column order (default ``DSP_DOMAINS``, the paper's order).

    Returns:
        a ``LabelledMatrix`` with values ``[len(domains), len(domains)]`` (rows: system-prompt
        domain, cols: data domain), NaN where ``acc`` has no entry.
    """
    values = np.full((len(domains), len(domains)), np.nan)
    for i, p in enumerate(domains):
        for j, d in enumerate(domains):
            v = acc.get(p, {}).get(d)
            if v is not None:
                values[i, j] = 100 * v.accuracy if isinstance(v, Accuracy) else float(v)
    return LabelledMatrix(values, tuple(domains), tuple(domains))


def format_matrix(m: LabelledMatrix, corner: str = "prompt \\ data", fmt: str = "{:.2f}",
                  labels: Mapping[str, str] = DSP_LABELS, bold_row_max: bool = True) -> str:
    """Markdown table of a LabelledMatrix; each row's largest value in bold when ``bold_row_max``.

    Args:
        m: the matrix; ``labels`` maps its row/column keys to display names (default DSP_LABELS).
        corner: the top-left cell.
        fmt: format of a cell; NaN shows as "–".

    Returns:
        the Markdown table (``len(m.rows)`` rows after the header).
    """
    name = lambda k: labels.get(k, k)  # noqa: E731
    lines = [f"| {corner} | " + " | ".join(name(c) for c in m.cols) + " |", "|---|" + "---:|" * len(m.cols)]
    for i, r in enumerate(m.rows):
        row = m.values[i]
        best = np.nanmax(row) if bold_row_max and not np.isnan(row).all() else None
        cells = [(f"**{_cell(v, fmt)}**" if best is not None and v == best else _cell(v, fmt)) for v in row]
        lines.append(f"| {name(r)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
