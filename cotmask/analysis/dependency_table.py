"""The dependency-distance table and figure from per-run files (:mod:`cotmask.analysis.dependency`).

For each cell (model, train set), panel and distance bin (and all distances together), the dependency
rate of each method is the share of (pair, perturbation) that changed the greedy prediction, averaged over
the method's seeds, with a two-stage bootstrap 95 % CI (:func:`cotmask.stats.bootstrap_mean_ci`: seeds, then
item clusters, the item's ``cluster``, i.e. its template unless the run said otherwise). A comparison
(treatment - control, e.g. MFT - SFT) is paired: both arms have the same items and pairs (one tokenizer,
the same perturbations), so :func:`cotmask.stats.paired_bootstrap_delta` resamples the same clusters for
both. An item's pairs enter as columns of its cluster, so a rate is pair-weighted and its interval resamples
whole items (or templates), never pairs alone.

Imports no torch: it reads only the per-run files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from cotmask import stats
from cotmask.analysis.dependency import PANELS, read_run
from cotmask.report.formatting import MISSING, Table, format_delta
from cotmask.report.plots import save_figure

#: Panel titles (paper figure in brackets).
PANEL_LABELS = {
    "chain": "chain → chain (Fig. 1a)",
    "question": "question → chain (Fig. 1b)",
    "irrelevant": "irrelevant number → chain (GSM-IC distractor)",
    "question_ic": "question → chain, same GSM-IC items",
}
#: The figure's panels; question_ic is drawn dashed inside the irrelevant panel, for scale.
FIGURE_PANELS = ("chain", "question", "irrelevant")
ALL_BINS = "all"
TABLE_STEM = "dependency"


def output_paths(out_dir: str | os.PathLike) -> dict[str, Path]:
    """name -> path of every file :func:`build_dependency_tables` writes under ``out_dir``."""
    from cotmask.report.outputs import TABLE_FORMATS

    out = Path(out_dir)
    paths = {f"{TABLE_STEM}.{ext}": out / "tables" / f"{TABLE_STEM}.{ext}" for ext in TABLE_FORMATS}
    paths[f"{TABLE_STEM}.png"] = out / "figures" / f"{TABLE_STEM}.png"
    return paths


# ------------------------------------------------------------------------------------------------ columns
def _item_key(item: Mapping[str, Any]) -> tuple[str, str]:
    return (str(item["benchmark"]), str(item["id"]))


def cell_counts(run: Mapping[str, Any], panel: str, bin_index: int | None) -> dict[tuple, tuple[int, int, str]]:
    """item key -> (changed, pairs, cluster label) of one run's panel and bin (None: every bin summed);
    items without a pair there are left out."""
    out = {}
    for item in run["items"]:
        cells = item["counts"].get(panel)
        if not cells:
            continue
        chosen = cells if bin_index is None else [cells[bin_index]]
        changed, pairs = sum(c for c, _ in chosen), sum(n for _, n in chosen)
        if pairs:
            out[_item_key(item)] = (changed, pairs, stats.cluster_label(str(item["id"]), item.get("cluster")))
    return out


def pair_matrix(runs: Sequence[Mapping[str, Any]], panel: str, bin_index: int | None) -> tuple[np.ndarray, list[str]]:
    """(seeds x pair columns) 0/1 matrix of one method's runs and each column's cluster label.

    An item with ``n`` pairs gives ``n`` columns of its cluster, the first ``changed`` of them 1 in a seed's
    row: only the per-cluster sums enter the bootstrap, so this is exactly the pair-weighted rate with whole
    items (clusters) resampled. Every run must have the same items and pair counts (ValueError otherwise).
    """
    counts = [cell_counts(run, panel, bin_index) for run in runs]
    reference = {key: value[1] for key, value in counts[0].items()}
    for run, each in zip(runs, counts):
        if {key: value[1] for key, value in each.items()} != reference:
            raise ValueError(f"{run.get('path', run['run'])}: other items or pair counts than "
                             f"{runs[0].get('path', runs[0]['run'])} in panel {panel!r} (different data or settings)")
    keys = sorted(reference)
    clusters = [counts[0][key][2] for key in keys for _ in range(reference[key])]
    matrix = np.zeros((len(runs), len(clusters)))
    for row, each in enumerate(counts):
        column = 0
        for key in keys:
            changed, pairs, _ = each[key]
            matrix[row, column : column + changed] = 1.0
            column += pairs
    return matrix, clusters


# --------------------------------------------------------------------------------------------------- rows
def _cells(runs: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, list[Mapping]]]:
    """(model, train_set) -> method -> runs sorted by seed, in the order the runs come."""
    cells: dict[tuple[str, str], dict[str, list[Mapping]]] = {}
    for run in runs:
        labels = run["run"]
        cells.setdefault((labels["model"], labels["train_set"]), {}).setdefault(labels["method"], []).append(run)
    for methods in cells.values():
        for method_runs in methods.values():
            method_runs.sort(key=lambda run: int(run["run"]["seed"]))
            seeds = [int(run["run"]["seed"]) for run in method_runs]
            if len(set(seeds)) != len(seeds):
                raise ValueError(f"two runs of {method_runs[0]['run']} have the same seed")
    return cells


def _bins_of(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    bins = runs[0]["bins"]
    for run in runs:
        if run["bins"] != bins:
            raise ValueError(f"{run.get('path', run['run'])}: distance bins {run['bins']} differ from {bins}")
    return list(bins)


def dependency_rows(runs: Sequence[Mapping[str, Any]], *, methods: Sequence[str] | None = None,
                    comparisons: Sequence[Mapping[str, str]] = (), n_resamples: int = 2000,
                    seed: int = 0) -> list[dict]:
    """One row per (cell, panel, bin, method) rate and per (cell, panel, bin, comparison) difference, in
    percent, with 95 % CIs. ``methods`` orders (and restricts) the methods; comparisons whose arms a cell
    lacks, and bins without a pair, are left out."""
    if not runs:
        raise ValueError("no dependency runs to tabulate")
    bins = _bins_of(runs)
    rows = []
    for (model, train_set), by_method in _cells(runs).items():
        order = [m for m in (methods or sorted(by_method)) if m in by_method]
        panels = [p for p in PANELS if any(p in item["counts"] for run in by_method[order[0]] for item in run["items"])]
        for panel in panels:
            for bin_index, label in [(None, ALL_BINS), *enumerate(bins)]:
                matrices = {m: pair_matrix(by_method[m], panel, bin_index) for m in order}
                if matrices[order[0]][0].shape[1] == 0:
                    continue  # no pair at this distance (e.g. question -> chain below the question's length)
                base = {"model": model, "train_set": train_set, "panel": panel, "bin": label}
                rows += [_rate_row(base, m, *matrices[m], len(by_method[m]), n_resamples, seed) for m in order]
                for comparison in comparisons:
                    treatment, control = comparison["treatment"], comparison["control"]
                    if treatment in matrices and control in matrices:
                        rows.append(_delta_row(base, treatment, control, matrices, n_resamples, seed))
    return rows


def _counts(matrix: np.ndarray, clusters: list[str]) -> dict:
    return {"n_pairs": int(matrix.shape[1]), "n_clusters": len(set(clusters))}


def _rate_row(base: dict, method: str, matrix: np.ndarray, clusters: list[str], n_seeds: int,
              n_resamples: int, seed: int) -> dict:
    if matrix.shape[1] == 0:
        value, low, high = float("nan"), float("nan"), float("nan")
    else:
        value = float(matrix.mean())
        low, high = stats.bootstrap_mean_ci(matrix, clusters, n_resamples=n_resamples, seed=seed)
    return {**base, "quantity": "rate", "method": method, "control": None, "value": 100 * value,
            "ci_low": 100 * low, "ci_high": 100 * high, "n_seeds": n_seeds, **_counts(matrix, clusters)}


def _delta_row(base: dict, treatment: str, control: str, matrices: Mapping[str, tuple], n_resamples: int,
               seed: int) -> dict:
    (t_matrix, clusters), (c_matrix, _) = matrices[treatment], matrices[control]
    if t_matrix.shape[1] == 0:
        delta = {"delta": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    else:
        delta = stats.paired_bootstrap_delta(t_matrix, c_matrix, clusters, n_resamples=n_resamples,
                                             seed=seed).as_dict()
    return {**base, "quantity": "delta", "method": treatment, "control": control, "value": 100 * delta["delta"],
            "ci_low": 100 * delta["ci_low"], "ci_high": 100 * delta["ci_high"],
            "n_seeds": f"{t_matrix.shape[0]}/{c_matrix.shape[0]}", **_counts(t_matrix, clusters)}


# -------------------------------------------------------------------------------------------------- table
NUMERIC_COLUMNS = ["model", "train_set", "panel", "bin", "quantity", "method", "control", "value", "ci_low",
                   "ci_high", "n_seeds", "n_pairs", "n_clusters"]


def _rate_text(row: Mapping[str, Any]) -> str:
    if not np.isfinite(row["value"]):
        return MISSING
    return f"{row['value']:.1f} [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"


def dependency_table(rows: Sequence[Mapping[str, Any]], labels: Mapping[str, str] | None = None) -> Table:
    """The table: one display row per (cell, panel, bin), a column per method's rate and per comparison."""
    labels = dict(labels or {})
    name = lambda method: labels.get(method, method)  # noqa: E731
    display: dict[tuple, dict] = {}
    for row in rows:
        key = (row["model"], row["train_set"], row["panel"], row["bin"])
        line = display.setdefault(key, {"Cell": f"{row['model']}/{row['train_set']}",
                                        "Panel": PANEL_LABELS[row["panel"]], "Distance": row["bin"]})
        if row["quantity"] == "rate":
            line[name(row["method"])] = _rate_text(row)
            line["Pairs"] = str(row["n_pairs"])
            line["Seeds"] = str(row["n_seeds"]) if "Seeds" not in line else line["Seeds"]
        else:
            line[f"{name(row['method'])} − {name(row['control'])}"] = format_delta(
                row["value"], row["ci_low"], row["ci_high"])
    lines = list(display.values())
    columns = list(dict.fromkeys(column for line in lines for column in line))
    for tail in ("Pairs", "Seeds"):
        if tail in columns:
            columns.remove(tail)
            columns.append(tail)
    lines = [{column: line.get(column, MISSING) for column in columns} for line in lines]  # a method a cell lacks
    return Table.from_rows(
        TABLE_STEM, "Dependency rate against token distance (paper Fig. 1, App. D)",
        ([{c: r.get(c) for c in NUMERIC_COLUMNS} for r in rows], NUMERIC_COLUMNS),
        (lines, columns or ["Cell"]),
        ["Teacher-forced test sequences; a number of the sequence is replaced by another number of the same "
         "length, and a pair (earlier number, later number of the solution) depends when the greedy "
         "prediction of the later number changes. Rate (%) over pairs, mean over seeds, with a two-stage "
         "bootstrap 95% CI (seeds, then item clusters: templates); differences paired (same items and "
         "pairs). Distance in tokens; 'all' pools the bins. The irrelevant panel perturbs the GSM-IC "
         "distractor's number, which the gold solution never uses (the method's calibration); the last "
         "panel is the question's other numbers on the same items."],
    )


# ------------------------------------------------------------------------------------------------- figure
def plot_dependency(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, *,
                    labels: Mapping[str, str] | None = None) -> Path:
    """Rate against distance bin: a row of panels per cell (chain → chain, question → chain, irrelevant),
    a line per method with its 95 % CI band; the irrelevant panel also shows the question → chain rate of the
    same GSM-IC items, dashed."""
    labels = dict(labels or {})
    frame = pd.DataFrame([r for r in rows if r["quantity"] == "rate" and r["bin"] != ALL_BINS])
    cells = list(dict.fromkeys(zip(frame["model"], frame["train_set"]))) if not frame.empty else []
    methods = list(dict.fromkeys(frame["method"])) if not frame.empty else []
    colors = dict(zip(methods, sns.color_palette("colorblind", max(3, len(methods)))))
    figure = Figure(figsize=(4.2 * len(FIGURE_PANELS), 3.2 * max(1, len(cells))), layout="constrained")
    axes = figure.subplots(max(1, len(cells)), len(FIGURE_PANELS), squeeze=False, sharey="row")
    for row_axes, cell in zip(axes, cells or [None]):
        for ax, panel in zip(row_axes, FIGURE_PANELS):
            ax.set_title(f"{cell[0]}/{cell[1]}: {PANEL_LABELS[panel]}" if cell else PANEL_LABELS[panel], fontsize=8)
            ax.set_xlabel("token distance")
            if cell is None:
                continue
            part = frame[(frame["model"] == cell[0]) & (frame["train_set"] == cell[1])]
            _draw_panel(ax, part, panel, methods, colors, labels)
        row_axes[0].set_ylabel("dependency rate (%)")
    legend = {}  # every line of every panel, once by label (a cell may lack a method)
    for ax in axes.ravel():
        for handle, name in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(name, handle)
    if legend:
        figure.legend(list(legend.values()), list(legend), loc="outside lower center", ncols=min(4, len(legend)),
                      fontsize="small")
    figure.suptitle("Dependency rate against token distance (95% CI bands)", fontsize=10)
    return save_figure(figure, path)


def _draw_panel(ax: Any, part: pd.DataFrame, panel: str, methods: Sequence[str], colors: Mapping,
                labels: Mapping[str, str]) -> None:
    bins = list(dict.fromkeys(part["bin"]))
    ax.set_xticks(np.arange(len(bins)), bins, fontsize=7)
    ax.set_xlim(-0.5, len(bins) - 0.5)
    if part[part["panel"] == panel]["value"].notna().sum() == 0:
        ax.text(0.5, 0.5, "no pairs (no GSM-IC benchmark)" if panel == "irrelevant" else "no pairs",
                ha="center", va="center", transform=ax.transAxes, fontsize=8, color="0.4")
    for method in methods:
        line = part[(part["panel"] == panel) & (part["method"] == method)]
        if line.empty:
            continue
        xs = np.array([bins.index(b) for b in line["bin"]])
        ax.plot(xs, line["value"], marker="o", color=colors[method], label=labels.get(method, method))
        ax.fill_between(xs, line["ci_low"], line["ci_high"], color=colors[method], alpha=0.2, linewidth=0)
        if panel == "irrelevant":
            scale = part[(part["panel"] == "question_ic") & (part["method"] == method)]
            if not scale.empty:
                ax.plot([bins.index(b) for b in scale["bin"]], scale["value"], linestyle="--", color=colors[method],
                        alpha=0.7, label=f"{labels.get(method, method)}: question → chain (same items)")


# ------------------------------------------------------------------------------------------------ all files
def build_dependency_tables(run_files: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                            methods: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
                            comparisons: Sequence[Mapping[str, str]] = (), n_resamples: int = 2000,
                            seed: int = 0) -> dict[str, Path]:
    """Read every per-run file and write ``tables/dependency.{csv,md,tex,html}`` and
    ``figures/dependency.png`` under ``out_dir``; returns :func:`output_paths`."""
    runs = []
    for path in run_files:
        run = read_run(path)
        run["path"] = str(path)
        runs.append(run)
    rows = dependency_rows(runs, methods=methods, comparisons=comparisons, n_resamples=n_resamples, seed=seed)
    paths = output_paths(out_dir)
    dependency_table(rows, labels).write(Path(out_dir) / "tables")
    plot_dependency(rows, paths[f"{TABLE_STEM}.png"], labels=labels)
    return paths
