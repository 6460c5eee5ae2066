"""Entry point: :func:`build_tables` aggregates every evaluation into the tables, figures and summary.json."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cotmask import NUMERICS_VERSION
from cotmask.records import write_json
from cotmask.report.arm_tables import build_table3, build_table5
from cotmask.report.breakdowns import build_by_distractor, build_by_steps
from cotmask.report.cells import build_cells
from cotmask.report.comparisons import (
    build_comparison_table,
    build_comparisons,
    headline_spec,
)
from cotmask.report.evaluations import Evaluation, load_evaluations
from cotmask.report.formatting import Table, json_value
from cotmask.report.main_tables import build_table1, build_table2
from cotmask.report.options import Options, resolve_options
from cotmask.report.regime_map import write_diagnostics_table
from cotmask.report.study import Study
from cotmask.report.sweeps import build_fig3

#: the settings of summary.json: options copied as resolved
_SETTING_NAMES = (
    "n_resamples",
    "confidence",
    "bootstrap_seed",
    "cluster_by",
    "comparisons",
    "main_methods",
    "benchmarks",
)
_ARM_SETTING_NAMES = (
    "base_train_set",
    "rft_train_set",
    "table5_arms",
    "table3_arms",
    "fig3",
    "paper_models",
    "paper_train_sets",
    "paper_train_sets_table2",
)


def _input_summary(evaluations: list[Evaluation]) -> dict[str, Any]:
    """How many evaluations of each model, training set, ... and one line per file read."""
    counts = {
        field_name: dict(
            sorted(Counter(str(getattr(ev, field_name)) for ev in evaluations).items())
        )
        for field_name in ("model", "train_set", "method", "benchmark", "decoding", "seed")
    }
    files = [
        {
            "path": ev.path,
            "summary": ev.summary_path,
            "model": ev.model,
            "train_set": ev.train_set,
            "method": ev.method,
            "seed": ev.seed,
            "benchmark": ev.benchmark,
            "decoding": ev.decoding,
            "n_items": len(ev.correct),
            "n_correct": int(sum(ev.correct.values())),
            "accuracy": 100.0 * ev.accuracy,
            "invalid_rate": 100.0 * ev.invalid_rate,
        }
        for ev in evaluations
    ]
    return {"n_evaluations": len(evaluations), "counts": counts, "files": files}


def _settings(opts: Options, study: Study) -> dict[str, Any]:
    """The ``settings`` of summary.json (the resolved options, in a fixed order)."""
    settings = {name: getattr(opts, name) for name in _SETTING_NAMES}
    settings["pooled_benchmark"] = study.pooled_name
    settings.update({name: getattr(opts, name) for name in _ARM_SETTING_NAMES})
    settings["units"] = "accuracies in percent, deltas in percentage points"
    return settings


def build_all(study: Study, opts: Options) -> tuple[list[Table], list[dict]]:
    """Every table, in the order of :data:`~cotmask.report.outputs.TABLE_STEMS`, and the full
    comparison rows. The configured comparisons run first; the tables add their own."""
    build_comparisons(study, opts)
    tables = [build_table1(study, opts), build_table2(study, opts)]
    tables += [build_table5(study, opts), build_table3(study, opts)]
    cells, fig3 = build_cells(study, opts), build_fig3(study, opts)
    steps, distractor = build_by_steps(study, opts), build_by_distractor(study, opts)
    comparison_table, comparison_rows = build_comparison_table(study, opts)
    return tables + [comparison_table, cells, fig3, steps, distractor], comparison_rows


def draw_figures(tables: Sequence[Table], study: Study, opts: Options, figures_dir: Path) -> list[Path]:
    """The PNG figures, drawn from the frames of the comparisons, cells, Fig. 3 and steps tables (the
    headline figure also from the study's panels and the paper's deltas)."""
    from cotmask.report import plots  # matplotlib and seaborn: imported only when drawing (the planner
    # imports this package at every parse)

    frames = {table.stem: table.numeric for table in tables}
    return plots.draw_all(
        frames["accuracy_cells"],
        frames["fig3_mask_ratio"],
        frames["accuracy_by_steps"],
        figures_dir,
        benchmarks=opts.benchmarks,
        main_methods=opts.main_methods,
        method_labels=opts.method_labels,
        fig3_spec=opts.fig3,
        train_set_order=opts.train_set_order,
        comparisons=frames["comparisons"],
        headline=headline_spec(study, opts),
    )


def build_tables(
    index: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    *,
    diagnostics_runs: Sequence[Mapping[str, Any]] = (),
    **options: Any,
) -> dict[str, Any]:
    """Aggregate all evaluations into tables, Fig. 3 data, figures and ``summary.json`` under ``out_dir``.

    Writes ``out_dir/tables/{stem}.csv|md|tex|html`` for every stem of
    :data:`~cotmask.report.outputs.TABLE_STEMS`, ``out_dir/figures/{name}.png`` for
    :data:`~cotmask.report.outputs.FIGURE_NAMES` (unless ``figures=False``) and ``out_dir/summary.json``;
    :func:`~cotmask.report.outputs.output_paths` lists them. Files are always all written (a table
    without data has a header and a note), so the rule's outputs do not depend on the data.

    Args:
        index: one mapping per evaluation with keys ``model, train_set, method, seed, benchmark,
            decoding`` ("plain"|"calc"), ``path`` (per-item JSONL), ``summary`` (summary JSON) and
            optional ``mask_ratio, mask_warmup_ratio, epochs, method_kind, sweep``. Validated in full
            (keys, duplicates, files exist, files parse, item sets agree per benchmark) before any
            statistics; errors name the entry or the file. Its order of training sets is the tables'.
        out_dir: the results folder.
        diagnostics_runs: fine-tunes with overfitting diagnostics (``model, train_set, method, seed,
            dir``: the fine-tune's folder with its ``diagnostics.jsonl``); when given, also
            ``out_dir/tables/diagnostics.*`` (:func:`cotmask.report.regime_map.write_diagnostics_table`;
            ``output_paths(out_dir, diagnostics=True)``). That table comes from training files, not from
            the index: ``summary.json`` does not hold it.
        options: the keywords of :data:`~cotmask.report.options.OPTION_DEFAULTS` (the config's
            ``tables`` section), described in :mod:`cotmask.report.options`; checked before the
            index is read.

    Returns:
        the content of ``summary.json`` (tables as row lists, settings, inputs and their counts).
    """
    opts = resolve_options(index, **options)
    evaluations = load_evaluations(index, opts.cluster_by)
    study = Study(
        evaluations,
        opts.benchmarks,
        n_resamples=opts.n_resamples,
        confidence=opts.confidence,
        bootstrap_seed=opts.bootstrap_seed,
        train_set_order=opts.train_set_order,
    )
    tables, comparison_rows = build_all(study, opts)
    out = Path(out_dir)
    if diagnostics_runs:  # first: a missing diagnostics file stops the job before any other output
        write_diagnostics_table(diagnostics_runs, out / "tables")
    written = [path for table in tables for path in table.write(out / "tables")]
    if opts.figures:
        written += draw_figures(tables, study, opts, out / "figures")
    summary = {
        "numerics_version": NUMERICS_VERSION,
        "settings": _settings(opts, study),
        "tables": {table.stem: table.records() for table in tables},
        "comparisons_detail": [json_value(r) for r in comparison_rows],
        "inputs": _input_summary(evaluations),
        "outputs": sorted(str(p.relative_to(out)) for p in written) + ["summary.json"],
    }
    summary = json_value(summary)
    write_json(summary, out / "summary.json")
    return summary
