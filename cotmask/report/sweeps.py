"""Fig. 3 data: final accuracy of the mask-ratio sweep, with and without warm-up, and SFT reference rows."""

from __future__ import annotations

import math
from collections import defaultdict

from cotmask.report.formatting import Table, format_accuracy, format_number
from cotmask.report.options import Options
from cotmask.report.study import CellKey, Study

FIG3_COLUMNS = [
    "model",
    "train_set",
    "benchmark",
    "benchmark_label",
    "decoding",
    "setting",
    "method",
    "mask_ratio",
    "mask_warmup_ratio",
    "mean",
    "sd",
    "n_seeds",
    "ci_low",
    "ci_high",
]
FIG3_DISPLAY_COLUMNS = [
    "Model",
    "Train set",
    "Benchmark",
    "Decoding",
    "Setting",
    "Method",
    "Mask ratio",
    "Warm-up",
    "Accuracy",
    "Seeds",
]
Group = tuple[str, str, str, str]  # model, train_set, benchmark, decoding


def sweep_points(study: Study, opts: Options) -> dict[Group, list[tuple[str, CellKey]]]:
    """The sweep cells (index entries with ``sweep: true``, or of ``fig3.include_methods``) that have a
    mask ratio, as (setting, cell key) by (model, train_set, benchmark, decoding)."""
    include = set(opts.fig3.get("include_methods") or [])
    points: dict[Group, list] = defaultdict(list)
    for key, seeds in study.cells.items():
        first = next(iter(seeds.values()))
        if not (first.sweep or key[2] in include) or first.mask_ratio is None:
            continue
        setting = "warmup" if (first.mask_warmup_ratio or 0) > 0 else "no_warmup"
        points[(key[0], key[1], key[3], key[4])].append((setting, key))
    return points


def _fig3_row(study: Study, key: CellKey, setting: str, mask: tuple) -> dict:
    """A row of the Fig. 3 table: a cell's statistics on a curve (``setting``) at ``mask`` =
    (mask_ratio, mask_warmup_ratio), or a reference line."""
    cell = study.cell_stats(key)
    return {
        "model": key[0],
        "train_set": key[1],
        "benchmark": key[3],
        "benchmark_label": study.label(key[3]),
        "decoding": key[4],
        "setting": setting,
        "method": key[2],
        "mask_ratio": mask[0],
        "mask_warmup_ratio": mask[1],
        "mean": cell["mean"],
        "sd": cell["sd"],
        "n_seeds": cell["n_seeds"],
        "ci_low": cell["ci_low"],
        "ci_high": cell["ci_high"],
    }


def _fig3_rows(study: Study, opts: Options) -> list[dict]:
    """Per group: the sweep points by (setting, mask ratio, method), then the reference methods."""
    references = list(opts.fig3.get("reference_methods") or [])
    points = sweep_points(study, opts)
    rows = []
    for group in sorted(points):
        model, train_set, bench, decoding = group

        def first(key: CellKey):
            return next(iter(study.cells[key].values()))

        ordered = sorted(points[group], key=lambda p: (p[0], first(p[1]).mask_ratio, p[1][2]))
        for setting, key in ordered:
            rows.append(
                _fig3_row(study, key, setting, (first(key).mask_ratio, first(key).mask_warmup_ratio))
            )
        for method in references:
            key = (model, train_set, method, bench, decoding)
            if study.has(*key):
                rows.append(_fig3_row(study, key, "reference", (math.nan, math.nan)))
    return rows


def _fig3_display(row: dict, opts: Options) -> dict[str, str]:
    return {
        "Model": row["model"],
        "Train set": row["train_set"],
        "Benchmark": row["benchmark_label"],
        "Decoding": row["decoding"],
        "Setting": row["setting"],
        "Method": opts.method_label(row["method"]),
        "Mask ratio": format_number(row["mask_ratio"], 2),
        "Warm-up": format_number(row["mask_warmup_ratio"], 2),
        "Accuracy": format_accuracy(row["mean"], row["sd"]),
        "Seeds": str(row["n_seeds"]),
    }


def build_fig3(study: Study, opts: Options) -> Table:
    """Fig. 3 data: accuracy vs mask ratio, with ('warmup') and without ('no_warmup') warm-up, + references."""
    rows = _fig3_rows(study, opts)
    notes = [
        "Final accuracy (%) of the mask-ratio sweep, mean ± sd over seeds; 'reference' rows are SFT arms."
    ]
    if not rows:
        notes.append("No mask-ratio sweep runs in this study.")
    return Table.from_rows(
        "fig3_mask_ratio",
        "Fig. 3 counterpart: mask ratio and warm-up",
        (rows, FIG3_COLUMNS),
        ([_fig3_display(r, opts) for r in rows], FIG3_DISPLAY_COLUMNS),
        notes,
    )
