"""Figures of the study (PNG, Agg, deterministic): the headline forest plot of MFT − SFT and MFT − SFT-long,
Fig. 3 counterpart, main results, accuracy by steps.

Each function takes a frame in the format of the matching CSV written by :mod:`cotmask.report`
(so a figure can be redrawn from ``results/tables/*.csv`` alone) and writes one PNG atomically.
Panels and bar groups follow ``train_set_order`` (the study's order of training sets, from the config);
this module knows nothing of the table builders.
The figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot state)
and saved without a software tag, so equal inputs give byte-identical files.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from cotmask.records import atomic_path

MAIN_ROLES = ("gsm", "math", "ic_2step", "ic_mstep")
ROLE_TITLES = {
    "gsm": "GSM8K",
    "math": "MATH",
    "ic_2step": "GSM-IC 2-step",
    "ic_mstep": "GSM-IC m-step",
}
SETTING_LABELS = {"warmup": "with warm-up", "no_warmup": "no warm-up"}
DPI = 120
#: the text drawn where a cell was never evaluated (instead of a bar or point that would read as a value)
NOT_RUN = "not run"
#: reference lines closer than this (points of accuracy) are drawn as one and labelled together
REFERENCE_MERGE_POINTS = 1.0
#: the widest figure (inches) a grid of panels may make before it wraps into more rows
MAX_FIGURE_WIDTH = 18.0
#: characters of a figure title per inch of figure width (10 pt), before it wraps
TITLE_CHARS_PER_INCH = 12


#: entries per row of a figure-wide legend (more wrap to further rows instead of running off the figure)
LEGEND_COLUMNS = 3


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Render with Agg and write the PNG atomically (tmp file + rename); no timestamp/software tag."""
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return Path(path)


def grid_shape(n_panels: int, max_cols: int) -> tuple[int, int]:
    """(rows, columns) for ``n_panels`` panels in at most ``max_cols`` columns: as few rows as that allows,
    then as few columns as those rows need (4 panels in 3 columns: 2 x 2, not 2 x 3 with two holes)."""
    n = max(1, n_panels)
    rows = -(-n // max(1, max_cols))
    return rows, -(-n // rows)


def _columns_within(max_width: float, panel_width: float, most: int = 3) -> int:
    """How many panels of ``panel_width`` inches fit side by side in ``max_width`` (1 to ``most``)."""
    return max(1, min(most, int(max_width // panel_width)))


def _new_figure(
    n_panels: int,
    panel_width: float,
    panel_height: float = 3.4,
    max_cols: int | None = None,
    sharey: bool = False,
):
    """A constrained-layout figure of ``n_panels`` axes (unused grid cells removed), axes flattened."""
    nrows, ncols = grid_shape(n_panels, max_cols or max(1, n_panels))
    fig = Figure(figsize=(panel_width * ncols, panel_height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey).ravel()
    for ax in axes[max(1, n_panels):]:
        fig.delaxes(ax)
    return fig, axes[: max(1, n_panels)]


def set_title(fig: Figure, title: str, fontsize: float = 10) -> None:
    """The figure's title, wrapped to the figure's width so that a narrow (one-panel) figure keeps it whole."""
    width = max(10, int(fig.get_figwidth() * TITLE_CHARS_PER_INCH * 10 / fontsize))
    fig.suptitle(textwrap.fill(title, width), fontsize=fontsize)


def _empty(path: str | os.PathLike, message: str) -> Path:
    with matplotlib.rc_context(sns.axes_style("white")):
        fig = Figure(figsize=(5, 2.5))
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return save_figure(fig, path)


def _groups(frame: pd.DataFrame, train_set_order: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(model, train_set) pairs of a frame: models alphabetically, train sets in ``train_set_order``
    (those it does not list last, alphabetically)."""
    order = list(train_set_order)

    def key(pair: tuple[str, str]) -> tuple:
        model, train_set = pair
        rank = order.index(train_set) if train_set in order else len(order)
        return (model, rank, train_set)

    return sorted({(r.model, r.train_set) for r in frame.itertuples()}, key=key)


def _method_colors(methods: Sequence[str]) -> dict[str, tuple]:
    """One colour per method, fixed by the method's position (the same in every figure)."""
    return dict(zip(methods, sns.color_palette("colorblind", max(3, len(methods)))))


def _zero_nan(values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return np.where(np.isfinite(array), array, 0.0)


def _group_panels(data: pd.DataFrame, axes, groups: list[tuple[str, str]]):
    """(axis, (model, train_set), that pair's rows of ``data``) for each panel of a per-group figure."""
    for ax, (model, train_set) in zip(axes, groups):
        yield ax, (model, train_set), data[(data["model"] == model) & (data["train_set"] == train_set)]


def _mean_sd_line(ax, line: pd.DataFrame, x: str, *, capsize: int, color, label: str) -> None:
    """One curve: the ``mean`` column against ``x``, with the ``sd`` as error bars (none where NaN)."""
    ax.errorbar(line[x], line["mean"], yerr=_zero_nan(line["sd"]), marker="o", capsize=capsize, color=color,
                label=label)


def _finish_panel(ax, group: tuple[str, str], ticks: list, xlabel: str, ylabel: str) -> None:
    """Ticks, the (model, train_set) title, axis labels and the legend of a per-group panel."""
    ax.set_xticks(ticks)
    ax.set_title(f"{group[0]} / {group[1]}", fontsize=9)
    ax.set_xlabel(xlabel)
    _first_column_ylabel(ax, ylabel)
    ax.legend(fontsize=7)


def _first_column_ylabel(ax, ylabel: str) -> None:
    """The y label on the first column only (the panels share the y axis)."""
    if ax.get_subplotspec().is_first_col():
        ax.set_ylabel(ylabel)


def plot_main_results(
    cells: pd.DataFrame,
    path: str | os.PathLike,
    *,
    decoding: str = "calc",
    benchmarks: Mapping[str, str] | None = None,
    methods: Sequence[str] = ("sft", "sft_long", "mft"),
    method_labels: Mapping[str, str] | None = None,
    train_set_order: Sequence[str] = (),
) -> Path:
    """Grouped bars of mean accuracy (± sd over seeds): one panel per benchmark, groups (model, train_set).

    ``cells`` has the columns of ``accuracy_cells.csv``; ``benchmarks`` maps role -> name (panels in
    the order gsm, math, ic_2step, ic_mstep, those present only).
    """
    benchmarks = benchmarks or {}
    labels = dict(method_labels or {})
    data = cells[(cells["decoding"] == decoding) & cells["method"].isin(list(methods))]
    panels = [
        (role, benchmarks[role])
        for role in MAIN_ROLES
        if role in benchmarks and (data["benchmark"] == benchmarks[role]).any()
    ]
    if not panels:
        return _empty(path, f"No evaluations with {decoding} decoding on the main benchmarks.")
    present = [m for m in methods if (data["method"] == m).any()]
    groups = _groups(data, train_set_order)
    colors = _method_colors(methods)
    width = 0.8 / max(1, len(present))
    with matplotlib.rc_context(sns.axes_style("whitegrid")):
        panel_width = max(3.5, 0.9 * len(groups) + 1.5)
        fig, axes = _new_figure(len(panels), panel_width, max_cols=_columns_within(MAX_FIGURE_WIDTH, panel_width),
                                sharey=True)
        for ax, (role, name) in zip(axes, panels):
            panel = data[data["benchmark"] == name]
            missing = []
            for j, method in enumerate(present):
                rows = panel[panel["method"] == method].set_index(["model", "train_set"])
                means = np.array([rows.loc[g, "mean"] if g in rows.index else np.nan for g in groups], dtype=float)
                sds = [rows.loc[g, "sd"] if g in rows.index else np.nan for g in groups]
                x = np.arange(len(groups)) + (j - (len(present) - 1) / 2) * width
                run = np.isfinite(means)
                ax.bar(
                    x[run],
                    means[run],
                    width,
                    yerr=_zero_nan(sds)[run],
                    capsize=2,
                    color=colors[method],
                    label=labels.get(method, method),
                    edgecolor="black",
                    linewidth=0.4,
                )
                missing += [(g, x_j) for g, x_j, ok in zip(range(len(groups)), x, run) if not ok]
            _mark_not_run(ax, missing, len(present), width)
            ax.set_xticks(np.arange(len(groups)))
            ax.set_xticklabels([f"{m}\n{t}" for m, t in groups], fontsize=7)
            ax.set_title(f"{ROLE_TITLES.get(role, name)} ({decoding})")
            _first_column_ylabel(ax, "accuracy (%)")
            ax.set_ylim(0, 100)
        axes[0].legend(fontsize=7, loc="upper right")
        set_title(fig, "Accuracy by training set and method (mean ± sd over seeds; gaps: not run)")
    return save_figure(fig, path)


def _mark_not_run(ax, missing: list[tuple[int, float]], n_methods: int, width: float) -> None:
    """Write "not run" where bars are missing: once across a group none of whose methods ran, else
    vertically at each missing bar's place."""
    by_group: dict[int, list[float]] = {}
    for group, x in missing:
        by_group.setdefault(group, []).append(x)
    for group, xs in by_group.items():
        if len(xs) == n_methods:
            ax.text(group, 2, NOT_RUN, ha="center", va="bottom", fontsize=7, color="0.35", style="italic")
            continue
        for x in xs:
            ax.text(x, 2, NOT_RUN, ha="center", va="bottom", rotation=90, fontsize=6, color="0.35",
                    style="italic")


def _pair_label(pair: tuple[str, str], labels: Mapping[str, str]) -> str:
    return f"{labels.get(pair[0], pair[0])} − {labels.get(pair[1], pair[1])}"


def _forest_panel(ax, rows: pd.DataFrame, groups, pairs, colors, paper: Mapping[tuple[str, str], float]) -> None:
    """One benchmark's panel: per (model, train_set) row, each pair's difference with its CI (a point and a
    bar), "not run" where the comparison does not exist, the paper's MFT − SFT as a hollow diamond."""
    step = 0.6 / max(1, len(pairs))
    ax.axvline(0.0, color="0.3", linewidth=0.8)
    beside = ax.get_yaxis_transform()  # x in axes fraction, y in data
    for i, group in enumerate(groups):
        offsets = {pair: i + (j - (len(pairs) - 1) / 2) * step for j, pair in enumerate(pairs)}
        missing = []
        for pair, y in offsets.items():
            match = rows[(rows["model"] == group[0]) & (rows["train_set"] == group[1])
                         & (rows["treatment"] == pair[0]) & (rows["control"] == pair[1])]
            if match.empty or not np.isfinite(float(match["delta"].iloc[0])):
                missing.append(y)
                continue
            row = match.iloc[0]
            ax.errorbar([row["delta"]], [y], xerr=[[row["delta"] - row["ci_low"]], [row["ci_high"] - row["delta"]]],
                        fmt="o", markersize=5, capsize=3, color=colors[pair])
        if len(missing) == len(pairs):
            ax.text(0.5, i, NOT_RUN, transform=beside, ha="center", va="center", fontsize=8, color="0.35",
                    style="italic")
        else:
            for y in missing:
                ax.text(0.98, y, NOT_RUN, transform=beside, ha="right", va="center", fontsize=6, color="0.35",
                        style="italic")
        if group in paper:
            sft_pairs = [y for pair, y in offsets.items() if pair[1] == "sft"]
            ax.plot([paper[group]], [sft_pairs[0] if sft_pairs else i], marker="D", markersize=6,
                    markerfacecolor="none", markeredgecolor="black", linestyle="none")


def _panel_decoding(rows: pd.DataFrame, decoding: str) -> str | None:
    """The decoding a benchmark's panel shows: ``decoding`` where that benchmark was compared with it, else
    the first other decoding it was compared with (e.g. a MATH set evaluated with plain decoding only)."""
    present = list(dict.fromkeys(rows["decoding"]))
    if decoding in present:
        return decoding
    return min(present) if present else None


def plot_forest(
    comparisons: pd.DataFrame,
    path: str | os.PathLike,
    *,
    panels: Sequence[tuple[str, str]],
    pairs: Sequence[tuple[str, str]] = (("mft", "sft"), ("mft", "sft_long")),
    groups: Sequence[tuple[str, str]] = (),
    decoding: str = "calc",
    paper_deltas: Mapping[tuple[str, str, str], float] | None = None,
    confidence: float = 0.95,
    method_labels: Mapping[str, str] | None = None,
) -> Path:
    """The headline figure: MFT − SFT and MFT − SFT-long (``pairs``) with their paired-bootstrap CIs, one
    row per (model, train_set) of ``groups``, one panel per benchmark of ``panels`` ((name, label) pairs).

    ``comparisons`` has the columns of ``comparisons.csv`` (only comparisons within one training set are
    drawn); ``paper_deltas`` maps (model, train_set, benchmark) to the paper's MFT − SFT, drawn as a
    hollow diamond on the MFT − SFT row. A comparison absent from the table is written "not run". A
    benchmark never compared with ``decoding`` is shown with the decoding it was compared with, named in its
    panel title.
    """
    labels = dict(method_labels or {})
    paper = dict(paper_deltas or {})
    within = comparisons[comparisons["train_set"] == comparisons["control_train_set"]]
    wanted = set(map(tuple, pairs))
    pair_rows = within[pd.Series([pair in wanted for pair in zip(within["treatment"], within["control"])],
                                 index=within.index, dtype=bool)]
    drawn = [(name, label, _panel_decoding(pair_rows[pair_rows["benchmark"] == name], decoding))
             for name, label in panels]
    drawn = [(name, label, dec) for name, label, dec in drawn if dec is not None]
    if not drawn:
        return _empty(path, f"No {' / '.join(_pair_label(p, labels) for p in pairs)} comparisons.")
    groups = list(groups) or sorted({(r.model, r.train_set) for r in pair_rows.itertuples()})
    colors = dict(zip(pairs, sns.color_palette("colorblind", max(3, len(pairs)))))
    with matplotlib.rc_context(sns.axes_style("whitegrid")):
        fig, axes = _new_figure(len(drawn), 3.4, panel_height=0.6 * len(groups) + 1.3, sharey=True)
        for ax, (name, label, dec) in zip(axes, drawn):
            rows = pair_rows[(pair_rows["benchmark"] == name) & (pair_rows["decoding"] == dec)]
            _forest_panel(ax, rows, groups, pairs, colors,
                          {(m, t): d for (m, t, b), d in paper.items() if b == name})
            ax.set_title(label if dec == decoding else f"{label} ({dec} decoding)", fontsize=10)
            ax.set_xlabel("difference (points)")
        axes[0].set_yticks(range(len(groups)), [f"{m} / {t}" for m, t in groups])
        axes[0].set_ylim(len(groups) - 0.5, -0.5)
        handles = [Line2D([], [], color=colors[pair], marker="o", label=_pair_label(pair, labels)) for pair in pairs]
        if paper:
            handles.append(Line2D([], [], marker="D", markerfacecolor="none", markeredgecolor="black",
                                  linestyle="none", label="paper: MFT − SFT"))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), LEGEND_COLUMNS), fontsize=8,
                   frameon=False)
        set_title(fig, f"MFT against its controls, {100 * confidence:g} % paired bootstrap CIs ({decoding} decoding)")
    return save_figure(fig, path)


def plot_fig3(
    fig3: pd.DataFrame,
    path: str | os.PathLike,
    *,
    benchmark: str,
    decoding: str = "calc",
    method_labels: Mapping[str, str] | None = None,
    train_set_order: Sequence[str] = (),
) -> Path:
    """Accuracy vs mask ratio, with and without warm-up (error bars: sd over seeds), SFT reference lines.

    ``fig3`` has the columns of ``fig3_mask_ratio.csv``; one panel per (model, train_set).
    """
    labels = dict(method_labels or {})
    data = fig3[(fig3["benchmark"] == benchmark) & (fig3["decoding"] == decoding)]
    sweep = data[data["setting"] != "reference"]
    if sweep.empty:
        return _empty(path, f"No mask-ratio sweep runs evaluated on {benchmark} ({decoding}).")
    groups = _groups(sweep, train_set_order)
    settings = [s for s in ("no_warmup", "warmup") if (sweep["setting"] == s).any()]
    colors = dict(zip(("no_warmup", "warmup"), sns.color_palette("colorblind", 2)))
    with matplotlib.rc_context(sns.axes_style("whitegrid")):
        fig, axes = _new_figure(len(groups), 4.6, max_cols=3, sharey=True)
        for ax, group, panel in _group_panels(data, axes, groups):
            for setting in settings:
                line = panel[panel["setting"] == setting].sort_values("mask_ratio")
                _mean_sd_line(ax, line, "mask_ratio", capsize=3, color=colors[setting],
                              label=SETTING_LABELS[setting])
            _reference_lines(ax, panel[panel["setting"] == "reference"], labels)
            ticks = sorted(set(panel["mask_ratio"].dropna()))
            _finish_panel(ax, group, ticks, "mask ratio", f"{benchmark} accuracy (%)")
        set_title(fig, f"Mask ratio and warm-up (Fig. 3 counterpart, {decoding} decoding)")
    return save_figure(fig, path)


def reference_groups(references: pd.DataFrame, tolerance: float = REFERENCE_MERGE_POINTS) -> list[list]:
    """The reference rows (methods with a ``mean``), sorted by mean and grouped where consecutive means
    differ by less than ``tolerance`` points: lines that would sit on top of each other."""
    rows = sorted(references.itertuples(), key=lambda r: (r.mean, r.method))
    groups: list[list] = []
    for row in rows:
        if groups and row.mean - groups[-1][-1].mean < tolerance:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _reference_label(group: list, labels: Mapping[str, str]) -> str:
    """``SFT (64.9)``; for lines drawn together ``SFT and SFT-long (64.9, 65.3)``."""
    names = " and ".join(labels.get(r.method, r.method) for r in group)
    return f"{names} ({', '.join(f'{r.mean:.1f}' for r in group)})"


def _reference_lines(ax, references: pd.DataFrame, labels: Mapping[str, str]) -> None:
    """Horizontal lines of the reference methods (SFT, SFT-long) at their means. Lines closer than
    :data:`REFERENCE_MERGE_POINTS` share one style and one legend entry naming every method and value,
    so lines that coincide read as what they are; lines apart get their own style and entry."""
    references = references[np.isfinite(references["mean"].astype(float))]
    groups = reference_groups(references)
    shades = sns.color_palette("Greys", len(groups) + 2)[2:]
    styles = ["--", ":", "-."]
    for index, (shade, group) in enumerate(zip(shades, groups)):
        label = _reference_label(group, labels)
        for k, row in enumerate(group):
            ax.axhline(row.mean, linestyle=styles[index % len(styles)], color=shade, linewidth=1.2,
                       label=label if k == 0 else None)


def plot_accuracy_by_steps(
    steps: pd.DataFrame,
    path: str | os.PathLike,
    *,
    benchmark: str,
    decoding: str = "calc",
    methods: Sequence[str] = ("sft", "sft_long", "mft"),
    method_labels: Mapping[str, str] | None = None,
    train_set_order: Sequence[str] = (),
) -> Path:
    """Accuracy vs number of gold reasoning steps per method (Fig. 15 counterpart), panels (model, train_set)."""
    labels = dict(method_labels or {})
    data = steps[(steps["benchmark"] == benchmark) & (steps["decoding"] == decoding)]
    data = data[data["method"].isin(list(methods))]
    if data.empty:
        return _empty(path, f"No per-item step counts for {benchmark} ({decoding}).")
    groups = _groups(data, train_set_order)
    colors = _method_colors(methods)
    with matplotlib.rc_context(sns.axes_style("whitegrid")):
        fig, axes = _new_figure(len(groups), 4.2, max_cols=3, sharey=True)
        for ax, group, panel in _group_panels(data, axes, groups):
            for method in methods:
                line = panel[panel["method"] == method].sort_values("n_steps")
                if not line.empty:
                    _mean_sd_line(ax, line, "n_steps", capsize=2, color=colors[method],
                                  label=labels.get(method, method))
            ticks = sorted(set(panel["n_steps"].astype(int)))
            _finish_panel(ax, group, ticks, "reasoning steps of the gold solution", "accuracy (%)")
        set_title(fig, f"Accuracy by solution length on {benchmark} ({decoding})")
    return save_figure(fig, path)


def _benchmark_name(spec: str, benchmarks: Mapping[str, str]) -> str:
    return benchmarks.get(spec, spec)


def draw_all(
    cells: pd.DataFrame,
    fig3_data: pd.DataFrame,
    steps: pd.DataFrame,
    figures_dir: str | os.PathLike,
    *,
    benchmarks: Mapping[str, str],
    main_methods: Sequence[str] = ("sft", "sft_long", "mft"),
    method_labels: Mapping[str, str] | None = None,
    fig3_spec: Mapping[str, Any] | None = None,
    train_set_order: Sequence[str] = (),
    comparisons: pd.DataFrame | None = None,
    headline: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Draw every figure of the study into ``figures_dir``; return the paths written.

    ``forest_deltas.png`` (the comparisons table and ``headline``, the keywords of :func:`plot_forest`
    that :func:`cotmask.report.comparisons.headline_spec` gives), ``fig3_mask_ratio.png``
    (benchmark/decoding from ``fig3_spec``), ``main_results.png`` (calc decoding),
    ``main_results_plain.png`` (plain decoding) and ``accuracy_by_steps.png`` (GSM role, the Fig. 3
    decoding).
    """
    out = Path(figures_dir)
    spec = dict(fig3_spec or {})
    decoding = spec.get("decoding", "calc")
    fig3_bench = _benchmark_name(spec.get("benchmark", "gsm"), benchmarks)
    common = {"method_labels": method_labels, "train_set_order": train_set_order}
    if comparisons is None:
        comparisons = pd.DataFrame(columns=["model", "train_set", "treatment", "control_train_set", "control",
                                            "benchmark", "decoding", "delta", "ci_low", "ci_high"])
    return [
        plot_forest(comparisons, out / "forest_deltas.png", method_labels=method_labels,
                    **{"panels": [], **dict(headline or {})}),
        plot_fig3(
            fig3_data,
            out / "fig3_mask_ratio.png",
            benchmark=fig3_bench,
            decoding=decoding,
            **common,
        ),
        plot_main_results(
            cells,
            out / "main_results.png",
            decoding="calc",
            benchmarks=benchmarks,
            methods=main_methods,
            **common,
        ),
        plot_main_results(
            cells,
            out / "main_results_plain.png",
            decoding="plain",
            benchmarks=benchmarks,
            methods=main_methods,
            **common,
        ),
        plot_accuracy_by_steps(
            steps,
            out / "accuracy_by_steps.png",
            benchmark=_benchmark_name("gsm", benchmarks),
            decoding=decoding,
            methods=main_methods,
            **common,
        ),
    ]
