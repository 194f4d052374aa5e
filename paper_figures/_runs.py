"""The run folders of ``endorm figures --from``: what each is (``describe``) and which figure draws from it.

A run folder is identified by its ``run.json`` ``"command"``: ``bench`` (with ``results.json``; its data
format picks the figure: Multifaceted-Bench -> Figure 1, RM-Bench -> Table 1, DSP with
``--domain-prompts`` -> Table 2), ``eval-math`` (with ``results.json``) and ``endorm rl`` -> Table 3, and
``demo`` (with ``results.json``) -> the token-world results every result figure falls back to. Anything
else is a one-line ``ValueError`` naming the folder, raised before any figure is drawn.

Table 3's before/after rule (``math_stages``): an ``eval-math`` run whose model folder lies inside the
given ``endorm rl`` run folder (``final/`` or a ``checkpoint-N/``) is *after RL*; one whose model folder
is that rl run's base model (its ``run.json`` ``"model"``) is *before RL*; any other is an error, as are
eval-math runs without exactly one rl run folder among ``--from``, and two runs of one benchmark and stage.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: The figure module each bench data format feeds.
BENCH_FIGURES = {"multifaceted": "figure1_multifaceted", "rm-bench": "table1_rmbench", "dsp": "table2_dsp"}
#: The keys a demo run's per-horizon results need for the figures (made by this version of endorm demo).
DEMO_KEYS = ("preferences", "returns", "returns_by_domain", "promptable", "rl")


@dataclass(frozen=True)
class Run:
    """One ``--from`` folder, read.

    Fields:
        path: the folder; command: "bench", "eval-math", "rl" or "demo".
        figure: the figure module it feeds ("figure1_multifaceted", "table1_rmbench", "table2_dsp",
            "table3_math") or "world" (a demo run: the token-world results).
        meta: its ``run.json``; results: its ``results.json`` (None for an rl run).
    """

    path: Path
    command: str
    figure: str
    meta: dict = field(repr=False)
    results: dict | None = field(default=None, repr=False)

    @property
    def model(self) -> str:
        """The model folder the run used (resolved path, from run.json), or "" (demo)."""
        return str(self.meta.get("model", ""))


def read_run_file(path: Path, folder: Path, what: str) -> dict:
    """A JSON object file of a run folder (e.g. ``run.json``), read.

    Args:
        path: the file; folder: its run folder (named in errors); what: the file's name in errors.

    Returns:
        the parsed object.

    Raises:
        ValueError: ``--from FOLDER: WHAT cannot be read (...)`` or ``... is not a JSON object``.
    """
    from endorm._io import read_json_file

    try:
        data = read_json_file(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"--from {folder}: {what} cannot be read ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--from {folder}: {what} is not a JSON object")
    return data


def describe(path) -> Run:
    """Identify a ``--from`` folder by its ``run.json`` and read what the figures need.

    Args:
        path: a run folder of ``endorm bench`` / ``eval-math`` / ``rl`` / ``demo``.

    Returns:
        a ``Run`` (see its fields).

    Raises:
        ValueError: one line naming the folder: missing, a file, no ``run.json``, another command's folder, an
            rl or eval-math run whose ``run.json`` names no model, an unfinished run (no ``results.json``), a
            bench run no figure draws from (e.g. RewardBench data, or DSP without ``--domain-prompts``) or
            without what its figure reads (a scored condition; Table 2's ``dsp_matrix`` JSON), an eval-math run
            on data Table 3 does not draw or without its numbers, or a demo run from an older endorm without
            the keys needed.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--from {folder}: a file, not a run folder")
    if not folder.is_dir():
        raise ValueError(f"--from {folder}: no such folder")
    if not (folder / "run.json").is_file():
        raise ValueError(f"--from {folder}: not an endorm run folder (no run.json)")
    meta = read_run_file(folder / "run.json", folder, "run.json")
    command = {"endorm rl": "rl"}.get(meta.get("command"), meta.get("command"))
    if command not in ("bench", "eval-math", "rl", "demo"):
        what = f"holds the output of endorm {command}" if command else "its run.json names no command"
        raise ValueError(f"--from {folder}: {what}, not a run of endorm bench, eval-math, rl or demo")
    if command in ("rl", "eval-math") and not meta.get("model"):
        raise ValueError(f"--from {folder}: the run.json of this endorm {command} run names no model")
    if command == "rl":
        return Run(folder, "rl", "table3_math", meta)
    if not (folder / "results.json").is_file():
        raise ValueError(f"--from {folder}: an endorm {command} run without results.json (unfinished? run the "
                         f"same endorm {command} again to finish it)")
    results = read_run_file(folder / "results.json", folder, "results.json")
    if command == "eval-math":
        _check_math_results(folder, results)
        return Run(folder, command, "table3_math", meta, results)
    if command == "demo":
        horizons = results.get("horizons")
        if not isinstance(horizons, dict) or not horizons or any(
                k not in h for h in horizons.values() for k in DEMO_KEYS):
            raise ValueError(f"--from {folder}: results.json of an older endorm demo (without "
                             f"{', '.join(DEMO_KEYS)} per horizon); run endorm demo again")
        return Run(folder, command, "world", meta, results)
    return Run(folder, command, _bench_figure(folder, meta, results), meta, results)


def _check_math_results(folder: Path, results: dict) -> None:
    """An eval-math ``results.json`` has a Table 3 format and the numbers ``table3_math`` draws, else a ValueError."""
    from .table3_math import COLUMNS

    fmt = results.get("format")
    if fmt not in COLUMNS.values():
        raise ValueError(f"--from {folder}: an endorm eval-math run on {fmt} data; Table 3 draws "
                         f"{', '.join(COLUMNS.values())}")
    lost = [k for k in ("problems", "k", "pass@1", "avg@k") if not isinstance(results.get(k), (int, float))]
    if lost or not results["problems"]:
        raise ValueError(f"--from {folder}: results.json lacks {', '.join(lost) or 'problems (0 problems)'}")


def _bench_figure(folder: Path, meta: dict, results: dict) -> str:
    """The figure a bench run feeds, from its data format (and, for DSP, its domain-prompt conditions).

    Also checks what that figure reads: a scored condition in ``results.json``'s ``summary`` and, for Table 2,
    the run's ``dsp_matrix_<method>.json`` (``dsp_method``).
    """
    fmt = results.get("format", meta.get("format"))
    conditions = meta.get("conditions") or {}
    if fmt == "dsp" and set(conditions) == {"default"}:
        fmt = "dsp without --domain-prompts"
    if fmt not in BENCH_FIGURES:
        raise ValueError(f"--from {folder}: an endorm bench run on {fmt} data; no figure draws from it (Figure 1: "
                         "multifaceted, Table 1: rm-bench, Table 2: dsp with --domain-prompts)")
    run = Run(folder, "bench", BENCH_FIGURES[fmt], meta, results)
    bench_condition(run)
    if run.figure == "table2_dsp":
        name = f"dsp_matrix_{dsp_method(results['summary'])}.json"
        read_run_file(folder / name, folder, name)
    return run.figure


def dsp_method(summary: dict) -> str:
    """The method whose DSP matrix Table 2 draws: "endorm" when the bench run scored it, else its first method."""
    return "endorm" if "endorm" in summary else next(iter(summary))


def runs_for(ctx, figure: str) -> list:
    """The ``--from`` runs that feed ``figure`` (a module name, or "world"), in the order given (described once,
    by ``Context.check_runs``)."""
    return [r for r in ctx.check_runs() if r.figure == figure]


def _single(runs: list, figure: str):
    """The one run of ``runs`` (all feeding ``figure``), None for none; a ValueError for two or more."""
    if len(runs) > 1:
        raise ValueError(f"{figure} draws one run; got {len(runs)} among --from: "
                         f"{', '.join(str(r.path) for r in runs)}")
    return runs[0] if runs else None


def one_run(ctx, figure: str):
    """The single ``--from`` run that feeds ``figure``, or None.

    Raises:
        ValueError: two or more feed it (``table1_rmbench draws one run; got 2 among --from: a, b``).
    """
    return _single(runs_for(ctx, figure), figure)


def check_all(paths) -> list:
    """Every check the result figures make of ``--from``, at once: each folder (``describe``), at most one run per
    figure (``one_run``) and Table 3's pairing (``math_stages``); for ``Context.check_runs``, before any drawing.

    Args:
        paths: the ``--from`` folders.

    Returns:
        their ``Run``s, in order.

    Raises:
        ValueError: as ``describe``, ``one_run`` and ``math_stages``.
    """
    runs = [describe(p) for p in paths]
    for figure in (*BENCH_FIGURES.values(), "world"):
        _single([r for r in runs if r.figure == figure], figure)
    math_stages([r for r in runs if r.figure == "table3_math"])
    return runs


def run_or_world(ctx, figure: str, from_bench, from_world, what: str):
    """What a result figure draws: its one ``--from`` run, else the token world (with the caption's fallback note).

    Args:
        ctx: the ``Context``; figure: the module name; from_bench(run) / from_world(world results): the figure's
            two readers; what: the kind of run it wanted, for ``fallback_note`` (e.g. "RM-Bench bench").

    Returns:
        ``(run or None, numbers, note)``.

    Raises:
        ValueError: as ``one_run`` (two runs feed the figure) and the readers.
    """
    run = one_run(ctx, figure)
    if run:
        return run, from_bench(run), ""
    return None, from_world(ctx.world()), fallback_note(ctx, what)


def fallback_note(ctx, what: str) -> str:
    """The caption's first words when ``--from`` was given but no run in it feeds this figure ("" without ``--from``).

    Args:
        ctx: the ``Context``; what: the kind of run the figure wanted, e.g. "RM-Bench bench".
    """
    return (f"No {what} run among --from, so this figure falls back to the token world. " if ctx.runs else "")


def bench_condition(run) -> str:
    """The condition a bench run's figure draws: the first that any method has (e.g. "default").

    Raises:
        ValueError: ``results.json`` has no ``summary`` object, or no method in it has a scored condition.
    """
    summary = run.results.get("summary")
    for by_c in (summary.values() if isinstance(summary, dict) else ()):
        for c in (by_c if isinstance(by_c, dict) else ()):
            return c
    raise ValueError(f"--from {run.path}: results.json holds no scored condition")


def _inside(model: Path, folder: Path) -> bool:
    return model == folder or folder in model.parents


def math_stages(runs: list) -> dict | None:
    """Pair Table 3's eval-math runs into before / after RL by their model folders (the module's rule).

    Args:
        runs: ``Run``s of commands "eval-math" and "rl" (``runs_for(ctx, "table3_math")``).

    Returns:
        None when there is no eval-math run; else ``{"rl": Run, "base_model": str, "after_model": str or
        None, "before": {format: Run}, "after": {format: Run}}``.

    Raises:
        ValueError: eval-math runs without exactly one rl run; an eval-math run whose model is neither the rl
            run's base model nor inside its folder (named, with both paths); two runs of one format and stage;
            after-RL runs of different checkpoints.
    """
    evals = [r for r in runs if r.command == "eval-math"]
    rls = [r for r in runs if r.command == "rl"]
    if not evals:
        return None
    if len(rls) != 1:
        raise ValueError(f"Table 3 needs exactly one endorm rl run folder among --from to tell before from after "
                         f"RL, got {len(rls)}{': ' + ', '.join(str(r.path) for r in rls) if rls else ''}")
    rl = rls[0]
    base, home = Path(rl.model).resolve(), rl.path.resolve()
    out = {"rl": rl, "base_model": str(base), "after_model": None, "before": {}, "after": {}}
    for r in evals:
        model = Path(r.model).resolve()
        stage = "after" if _inside(model, home) else "before" if model == base else None
        if stage is None:
            raise ValueError(f"--from {r.path}: eval-math of {model}, which is neither the rl run's base model "
                             f"{base} nor inside the rl run folder {home}")
        fmt = r.results.get("format") or r.meta.get("format")
        if fmt in out[stage]:
            raise ValueError(f"Table 3: two eval-math runs of {fmt} {stage} RL: {out[stage][fmt].path}, {r.path}")
        if stage == "after" and out["after_model"] not in (None, str(model)):
            raise ValueError(f"Table 3: after-RL eval-math runs of different models: {out['after_model']}, {model}")
        out[stage][fmt] = r
        out["after_model"] = str(model) if stage == "after" else out["after_model"]
    return out
