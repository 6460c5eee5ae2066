"""Accuracy by item subgroup: by gold-solution step count (Fig. 15 counterpart) and by GSM-IC distractor
type (topic, role, number range), for the main methods."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from cotmask import stats
from cotmask.report.evaluations import DISTRACTOR_FACTORS, Evaluation
from cotmask.report.formatting import Table, format_accuracy
from cotmask.report.options import Options
from cotmask.report.roles import POOLED_ROLE
from cotmask.report.study import Study

# Numeric columns of the subgroup tables: the cell, the subgroup's own columns, then its accuracy.
_SUBGROUP_CELL = ["model", "train_set", "method", "benchmark", "benchmark_label", "decoding"]
_SUBGROUP_ACCURACY = ["n_items", "mean", "sd", "n_seeds"]
STEPS_COLUMNS = [*_SUBGROUP_CELL, "n_steps", *_SUBGROUP_ACCURACY]
DISTRACTOR_COLUMNS = [*_SUBGROUP_CELL, "factor", "value", *_SUBGROUP_ACCURACY]


def _subgroup_rows(
    study: Study,
    opts: Options,
    groups_of: Callable[[Evaluation], dict[tuple, list[str]]],
    fields: Callable[[tuple], dict],
) -> list[dict]:
    """Per main-method cell (the pooled GSM-IC cell left out) and item subgroup: the per-seed accuracy over
    the subgroup's items as mean/sd over seeds. ``groups_of`` maps a cell's first evaluation to ordered
    {group: item ids}; ``fields`` turns a group into the row's descriptive columns."""
    rows = []
    methods = set(opts.main_methods)
    for key in sorted(study.cells):
        if key[2] not in methods or study.role_of.get(key[3]) == POOLED_ROLE:
            continue
        seeds = study.cells[key]
        for group, ids in groups_of(seeds[min(seeds)]).items():
            per_seed = [
                100.0 * float(np.mean([seeds[s].correct[i] for i in ids])) for s in sorted(seeds)
            ]
            rows.append(
                {
                    "model": key[0],
                    "train_set": key[1],
                    "method": key[2],
                    "benchmark": key[3],
                    "benchmark_label": study.label(key[3]),
                    "decoding": key[4],
                    **fields(group),
                    "n_items": len(ids),
                    **stats.seed_summary(per_seed),
                }
            )
    return rows


def items_by_steps(ev: Evaluation) -> dict[tuple, list[str]]:
    """Item ids by gold-solution step count (items without one left out), fewest steps first."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for item_id, steps in ev.n_steps.items():
        if steps is not None:
            groups[(steps,)].append(item_id)
    return {group: groups[group] for group in sorted(groups)}


def items_by_distractor(ev: Evaluation) -> dict[tuple, list[str]]:
    """Item ids by (distractor factor, value), factors in the order of :data:`DISTRACTOR_FACTORS`."""
    groups: dict[tuple, list[str]] = defaultdict(list)
    for item_id, factors in ev.distractor.items():
        for factor, value in factors.items():
            groups[(factor, value)].append(item_id)
    order = sorted(groups, key=lambda fv: (DISTRACTOR_FACTORS.index(fv[0]), fv[1]))
    return {group: groups[group] for group in order}


def _subgroup_display(
    rows: list[dict], opts: Options, group_columns: dict[str, str]
) -> tuple[list[dict], list[str]]:
    """Display rows and columns of a subgroup table; ``group_columns`` maps display label -> row field."""
    display_rows = [
        {
            "Model": r["model"],
            "Train set": r["train_set"],
            "Method": opts.method_label(r["method"]),
            "Benchmark": r["benchmark_label"],
            "Decoding": r["decoding"],
            **{label: str(r[name]) for label, name in group_columns.items()},
            "Items": str(r["n_items"]),
            "Accuracy": format_accuracy(r["mean"], r["sd"]),
            "Seeds": str(r["n_seeds"]),
        }
        for r in rows
    ]
    columns = [
        "Model",
        "Train set",
        "Method",
        "Benchmark",
        "Decoding",
        *group_columns,
        "Items",
        "Accuracy",
        "Seeds",
    ]
    return display_rows, columns


def build_by_steps(study: Study, opts: Options) -> Table:
    """Fig. 15 counterpart: accuracy by gold-solution step count (metadata.n_steps), main methods."""
    rows = _subgroup_rows(study, opts, items_by_steps, lambda group: {"n_steps": group[0]})
    notes = [
        "Accuracy (%) by the number of reasoning steps of the gold solution (metadata.n_steps)."
    ]
    return Table.from_rows(
        "accuracy_by_steps",
        "Accuracy by solution length (Fig. 15 counterpart)",
        (rows, STEPS_COLUMNS),
        _subgroup_display(rows, opts, {"Steps": "n_steps"}),
        notes,
    )


def build_by_distractor(study: Study, opts: Options) -> Table:
    """GSM-IC's breakdown: accuracy by distractor topic, role and number range (item metadata), per
    distractor benchmark and main method; the pooled GSM-IC cell is left out (its splits are listed).
    """
    rows = _subgroup_rows(
        study,
        opts,
        items_by_distractor,
        lambda group: {"factor": group[0].removeprefix("distractor_"), "value": group[1]},
    )
    notes = [
        "Accuracy (%) on the distractor sets by the inserted sentence's topic (in_topic/off_topic), role "
        "(overlapped/nonoverlapped: names a person or item of the question or not) and number range "
        "(in_range/out_range), as GSM-IC reports them; from each item's metadata.distractor_* fields."
    ]
    return Table.from_rows(
        "accuracy_by_distractor",
        "Accuracy by distractor type (GSM-IC breakdown)",
        (rows, DISTRACTOR_COLUMNS),
        _subgroup_display(rows, opts, {"Factor": "factor", "Value": "value"}),
        notes,
    )
