"""The regime map: MFT − SFT and MFT − SFT-long along each axis, the fine-tunes' overfitting diagnostics,
and accuracy against training samples seen (the paper's Fig. 2 axis).

Inputs are files the workflow already writes: the comparisons table of :func:`cotmask.report.build_tables`
(one row per treatment/control pair, cell, benchmark and decoding, with its paired-bootstrap CI) and each
fine-tune's ``train_metrics.json`` and ``diagnostics.jsonl`` (:mod:`cotmask.diagnostics`). The points come
from the config's ``regime.points`` (axis, value, model, train set), in the config's order.

The diagnostics table is also what :func:`cotmask.report.build_tables` writes for any config with the
diagnostics on (:func:`write_diagnostics_table`), so the default's ``results/tables/`` has it too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from cotmask.diagnostics import read_rows, summarize_diagnostics
from cotmask.report.evaluations import TableInputError
from cotmask.report.formatting import Table, format_accuracy, format_delta, format_number
from cotmask.report.outputs import MAP_FILES, regime_map_paths  # noqa: F401  (MAP_FILES: re-exported)
from cotmask.report.plots import save_figure

DIAGNOSTIC_FIELDS = ("final_train_accuracy", "final_test_accuracy", "accuracy_gap", "final_train_loss",
                     "final_test_loss", "loss_gap", "best_epoch", "best_minus_final")


def map_rows(comparisons: pd.DataFrame, points: Sequence[Mapping[str, Any]], *, treatments: Sequence[str],
             controls: Sequence[str], benchmarks: Sequence[str], decoding: str) -> list[dict]:
    """One row per (point, benchmark, treatment, control) found in the comparisons table, in the points' order."""
    rows = []
    for point in points:
        cell = comparisons[(comparisons["model"] == point["model"]) & (comparisons["train_set"] == point["train_set"])
                           & (comparisons["decoding"] == decoding)]
        for benchmark in benchmarks:
            for treatment in treatments:
                for control in controls:
                    found = cell[(cell["benchmark"] == benchmark) & (cell["treatment"] == treatment)
                                 & (cell["control"] == control)]
                    if not found.empty:
                        rows.append({"axis": point["axis"], "value": str(point["value"]), "model": point["model"],
                                     "train_set": point["train_set"], **found.iloc[0].to_dict()})
    return rows


def map_table(rows: list[dict]) -> Table:
    """The map as a table: treatment and control accuracies and the paired difference with its CI."""
    columns = ["axis", "value", "model", "train_set", "benchmark", "decoding", "treatment", "control",
               "treatment_mean", "treatment_sd", "control_mean", "control_sd", "delta", "ci_low", "ci_high",
               "n_seeds_treatment", "n_seeds_control"]
    display = [{
        "Axis": r["axis"], "Value": r["value"], "Cell": f"{r['model']}/{r['train_set']}", "Benchmark": r["benchmark_label"],
        "Treatment": r["treatment"], "Control": r["control"],
        "Treatment acc.": format_accuracy(r["treatment_mean"], r["treatment_sd"]),
        "Control acc.": format_accuracy(r["control_mean"], r["control_sd"]),
        "Δ [95% CI]": format_delta(r["delta"], r["ci_low"], r["ci_high"]),
        "Seeds": f"{r['n_seeds_treatment']}/{r['n_seeds_control']}",
    } for r in rows]
    return Table.from_rows(
        "regime_map", "Regime map: MFT against SFT and SFT-long at each point",
        ([{c: r.get(c) for c in columns} for r in rows], columns),
        (display, list(display[0]) if display else ["Axis"]),
        ["Accuracy (%) mean ± sd over seeds; Δ in points with a paired two-stage bootstrap 95% CI (seeds, then "
         "template clusters). The centre point appears on every axis."],
    )


def diagnostics_rows(runs: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Per fine-tune: its diagnostics summary recomputed from ``diagnostics.jsonl`` (``runs``: model,
    train_set, method, seed, dir)."""
    rows = []
    for run in runs:
        epochs = read_rows(Path(run["dir"]) / "diagnostics.jsonl")
        if epochs:
            summary = summarize_diagnostics(epochs)
            rows.append({k: run[k] for k in ("model", "train_set", "method", "seed")}
                        | {k: summary[k] for k in DIAGNOSTIC_FIELDS})
    return rows


def subset_size(runs: Sequence[Mapping[str, Any]]) -> int | None:
    """The problems in each diagnostics subset, when every run measured on the same number (the
    ``settings.n_items`` of its epoch rows); None when they differ or are not recorded."""
    sizes = {row.get("settings", {}).get("n_items") for run in runs
             for row in read_rows(Path(run["dir"]) / "diagnostics.jsonl")}
    return sizes.pop() if len(sizes) == 1 else None


def diagnostics_table(rows: list[dict], items: int | None = 100) -> Table:
    """Means over seeds of each cell and method's final accuracies, gaps and best epoch (``items``: problems
    in each subset, for the note)."""
    frame = pd.DataFrame(rows, columns=["model", "train_set", "method", "seed", *DIAGNOSTIC_FIELDS])
    grouped = frame.groupby(["model", "train_set", "method"], sort=False)
    numeric = grouped[list(DIAGNOSTIC_FIELDS)].mean().reset_index()
    numeric["n_seeds"] = grouped.size().values
    display = [{
        "Cell": f"{r.model}/{r.train_set}", "Method": r.method,
        "Train acc.": format_number(r.final_train_accuracy), "Test acc.": format_number(r.final_test_accuracy),
        "Acc. gap": format_number(r.accuracy_gap), "Train loss": format_number(r.final_train_loss, 3),
        "Test loss": format_number(r.final_test_loss, 3), "Best epoch": format_number(r.best_epoch),
        "Best − final": format_number(r.best_minus_final), "Seeds": str(r.n_seeds),
    } for r in numeric.itertuples()]
    return Table(
        "diagnostics", "Overfitting diagnostics of every fine-tune (means over seeds)", numeric,
        pd.DataFrame(display, columns=list(display[0]) if display else ["Cell"]),
        ["Greedy plain-decoding accuracy (%) and clean (unmasked) teacher-forced loss on fixed "
         + (f"{items}-problem " if items else "") + "subsets of the training set and of the test set at the "
         "last epoch; gap = train − test accuracy (points) and test − train loss; best epoch by test-subset "
         "accuracy (cotmask.diagnostics)."],
    )


def write_diagnostics_table(runs: Sequence[Mapping[str, Any]], tables_dir: str | os.PathLike) -> list[Path]:
    """The diagnostics table of ``runs`` (model, train_set, method, seed, dir) as ``tables_dir/diagnostics.*``,
    the one :func:`cotmask.report.build_tables` writes for a config with diagnostics on; every run must have
    its ``diagnostics.jsonl`` (a fine-tune made without diagnostics is named, not left out)."""
    missing = [str(Path(run["dir"]) / "diagnostics.jsonl") for run in runs
               if not (Path(run["dir"]) / "diagnostics.jsonl").is_file()]
    if missing:
        raise TableInputError(f"{missing[0]}: no overfitting diagnostics (fine-tuned with diagnostics off?)"
                              + (f"; {len(missing) - 1} more runs lack theirs" if len(missing) > 1 else ""))
    return diagnostics_table(diagnostics_rows(runs), subset_size(runs)).write(Path(tables_dir))


def plot_map(rows: list[dict], path: str | os.PathLike, *, title: str) -> None:
    """One panel per axis (columns) and benchmark (rows: in distribution, then the pooled distractor sets):
    each treatment − control difference (MFT − SFT, MFT − SFT-long, SFT-long − SFT) with its 95 % CI, a zero
    line, the axis' values in config order; one legend below the panels."""
    frame = pd.DataFrame(rows)
    axes_names = list(dict.fromkeys(frame["axis"])) if not frame.empty else ["(no data)"]
    benchmarks = list(dict.fromkeys(frame["benchmark_label"])) if not frame.empty else [""]
    figure = Figure(figsize=(3.0 * len(axes_names) + 0.8, 3.2 * len(benchmarks) + 0.6), layout="constrained")
    panels = figure.subplots(len(benchmarks), len(axes_names), sharey="row", squeeze=False)
    styles = {key: color for key, color in zip(sorted({(r["treatment"], r["control"]) for r in rows}),
                                                 sns.color_palette("colorblind"))}
    for row, benchmark in zip(panels, benchmarks):
        for panel, axis in zip(row, axes_names):
            _plot_axis(panel, [r for r in rows if r["axis"] == axis and r["benchmark_label"] == benchmark], styles)
            panel.set_title(f"{axis}: {benchmark}" if benchmark else axis)
        row[0].set_ylabel("treatment − control (points, 95% CI)")
    if styles:
        legend = {}
        for panel in panels.ravel():
            for handle, label in zip(*panel.get_legend_handles_labels()):
                legend.setdefault(label, handle)
        figure.legend(list(legend.values()), list(legend), loc="outside lower center", ncols=len(legend),
                      fontsize="small")
    figure.suptitle(title)
    save_figure(figure, path)


def _plot_axis(panel: Any, rows: list[dict], styles: Mapping[tuple, Any]) -> None:
    values = list(dict.fromkeys(r["value"] for r in rows))
    width = 0.7 / max(1, len(styles))
    for offset, (key, color) in enumerate(styles.items()):
        part = [r for r in rows if (r["treatment"], r["control"]) == key]
        xs = [values.index(r["value"]) + (offset - (len(styles) - 1) / 2) * width for r in part]
        deltas = [r["delta"] for r in part]
        errors = [[r["delta"] - r["ci_low"] for r in part], [r["ci_high"] - r["delta"] for r in part]]
        panel.errorbar(xs, deltas, yerr=errors, fmt="o", capsize=3, color=color, label=f"{key[0]} − {key[1]}")
    panel.axhline(0.0, color="0.4", linewidth=0.8)
    panel.set_xticks(range(len(values)), values, rotation=30)


def plot_samples_seen(runs: Sequence[Mapping[str, Any]], path: str | os.PathLike, *, title: str) -> None:
    """Test-subset accuracy against training samples seen, one panel per cell, one line per method (mean
    over seeds): the counterpart of the paper's Fig. 2."""
    rows = [{"cell": f"{run['model']}/{run['train_set']}", "method": run["method"], "seed": run["seed"],
             "samples_seen": e["samples_seen"], "accuracy": 100 * e["test_accuracy"]}
            for run in runs for e in read_rows(Path(run["dir"]) / "diagnostics.jsonl")]
    frame = pd.DataFrame(rows, columns=["cell", "method", "seed", "samples_seen", "accuracy"])
    cells = list(dict.fromkeys(frame["cell"])) or ["(no data)"]
    columns = min(3, len(cells))
    figure = Figure(figsize=(3.4 * columns, 3.0 * -(-len(cells) // columns)), layout="constrained")
    panels = figure.subplots(-(-len(cells) // columns), columns, sharey=True, squeeze=False).ravel()
    for panel, cell in zip(panels, cells):
        part = frame[frame["cell"] == cell]
        if not part.empty:
            sns.lineplot(part, x="samples_seen", y="accuracy", hue="method", errorbar=None, marker="o", ax=panel)
        panel.set_title(cell)
        panel.set_xlabel("training samples seen")
        panel.set_ylabel("test-subset accuracy (%)")
    for panel in panels[len(cells):]:
        figure.delaxes(panel)
    figure.suptitle(title)
    save_figure(figure, path)


def build_regime_map(comparisons_csv: str | os.PathLike, runs: Sequence[Mapping[str, Any]],
                     regime: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the map's tables and figures into ``out_dir`` (``regime``: the config's regime section;
    ``runs``: every fine-tune of the map with its folder). Returns :func:`regime_map_paths`."""
    paths = regime_map_paths(out_dir)
    comparisons = pd.read_csv(comparisons_csv)
    in_distribution = regime["in_distribution"]
    pooled = "+".join(regime["distractor_benchmarks"])
    rows = map_rows(comparisons, regime["points"], treatments=sorted(set(comparisons["treatment"])),
                    controls=["sft", "sft_long"], benchmarks=[in_distribution, pooled], decoding=regime["decoding"])
    map_table(rows).write(Path(out_dir) / "tables")
    diagnostics_table(diagnostics_rows(runs), subset_size(runs)).write(Path(out_dir) / "tables")
    plot_map(rows, paths["figures/regime_map.png"],
             title=f"Paired differences at each point of the map ({regime['decoding']} decoding)")
    plot_samples_seen(runs, paths["figures/fig2_samples_seen.png"],
                      title="Accuracy on a fixed test subset against training samples seen")
    return paths
