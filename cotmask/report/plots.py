"""Figures of the study (PNG, Agg, deterministic): Fig. 3 counterpart, main results, accuracy by steps.

Each function takes a frame in the format of the matching CSV written by :mod:`cotmask.report`
(so a figure can be redrawn from ``results/tables/*.csv`` alone) and writes one PNG atomically.
Panels and bar groups follow ``train_set_order`` (the study's order of training sets, from the config);
this module knows nothing of the table builders.
The figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot state)
and saved without a software tag, so equal inputs give byte-identical files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Render with Agg and write the PNG atomically (tmp file + rename); no timestamp/software tag."""
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return Path(path)


def _new_figure(
    n_panels: int, panel_width: float, panel_height: float = 3.4, ncols: int | None = None
):
    ncols = ncols or max(1, n_panels)
    nrows = max(1, math.ceil(max(1, n_panels) / ncols))
    fig = Figure(figsize=(panel_width * ncols, panel_height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes


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
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


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
        fig, axes = _new_figure(
            len(panels), max(3.5, 0.9 * len(groups) + 1.5), ncols=min(2, len(panels))
        )
        for ax, (role, name) in zip(axes, panels):
            panel = data[data["benchmark"] == name]
            for j, method in enumerate(present):
                rows = panel[panel["method"] == method].set_index(["model", "train_set"])
                means = [rows.loc[g, "mean"] if g in rows.index else np.nan for g in groups]
                sds = [rows.loc[g, "sd"] if g in rows.index else np.nan for g in groups]
                x = np.arange(len(groups)) + (j - (len(present) - 1) / 2) * width
                ax.bar(
                    x,
                    _zero_nan(means),
                    width,
                    yerr=_zero_nan(sds),
                    capsize=2,
                    color=colors[method],
                    label=labels.get(method, method),
                    edgecolor="black",
                    linewidth=0.4,
                )
            ax.set_xticks(np.arange(len(groups)))
            ax.set_xticklabels([f"{m}\n{t}" for m, t in groups], fontsize=7)
            ax.set_title(f"{ROLE_TITLES.get(role, name)} ({decoding})")
            ax.set_ylabel("accuracy (%)")
            ax.set_ylim(0, 100)
        axes[0].legend(fontsize=7, loc="upper right")
        fig.suptitle("Accuracy by training set and method (mean ± sd over seeds)", fontsize=10)
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
        fig, axes = _new_figure(len(groups), 4.6, ncols=min(2, len(groups)))
        for ax, group, panel in _group_panels(data, axes, groups):
            for setting in settings:
                line = panel[panel["setting"] == setting].sort_values("mask_ratio")
                _mean_sd_line(ax, line, "mask_ratio", capsize=3, color=colors[setting],
                              label=SETTING_LABELS[setting])
            references = panel[panel["setting"] == "reference"]
            grey = sns.color_palette("Greys", len(references) + 2)[2:]
            for shade, ref in zip(grey, references.itertuples()):
                ax.axhline(
                    ref.mean,
                    linestyle="--",
                    color=shade,
                    linewidth=1.2,
                    label=f"{labels.get(ref.method, ref.method)} ({ref.mean:.1f})",
                )
            ticks = sorted(set(panel["mask_ratio"].dropna()))
            _finish_panel(ax, group, ticks, "mask ratio", f"{benchmark} accuracy (%)")
        fig.suptitle(
            f"Mask ratio and warm-up (Fig. 3 counterpart, {decoding} decoding)", fontsize=10
        )
    return save_figure(fig, path)


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
        fig, axes = _new_figure(len(groups), 4.2, ncols=min(3, len(groups)))
        for ax, group, panel in _group_panels(data, axes, groups):
            for method in methods:
                line = panel[panel["method"] == method].sort_values("n_steps")
                if not line.empty:
                    _mean_sd_line(ax, line, "n_steps", capsize=2, color=colors[method],
                                  label=labels.get(method, method))
            ticks = sorted(set(panel["n_steps"].astype(int)))
            _finish_panel(ax, group, ticks, "reasoning steps of the gold solution", "accuracy (%)")
        fig.suptitle(f"Accuracy by solution length on {benchmark} ({decoding})", fontsize=10)
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
) -> list[Path]:
    """Draw every figure of the study into ``figures_dir``; return the paths written.

    ``fig3_mask_ratio.png`` (benchmark/decoding from ``fig3_spec``), ``main_results.png`` (calc
    decoding), ``main_results_plain.png`` (plain decoding) and ``accuracy_by_steps.png`` (GSM role,
    the Fig. 3 decoding).
    """
    out = Path(figures_dir)
    spec = dict(fig3_spec or {})
    decoding = spec.get("decoding", "calc")
    fig3_bench = _benchmark_name(spec.get("benchmark", "gsm"), benchmarks)
    common = {"method_labels": method_labels, "train_set_order": train_set_order}
    return [
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
