"""The table of every evaluated cell (model, train_set, method, benchmark, decoding): seed statistics."""

from __future__ import annotations

from cotmask.report.formatting import Table, format_accuracy, format_number
from cotmask.report.options import Options
from cotmask.report.study import CellKey, Study

CELL_COLUMNS = [
    "model",
    "train_set",
    "method",
    "method_kind",
    "sweep",
    "mask_ratio",
    "mask_warmup_ratio",
    "epochs",
    "benchmark",
    "benchmark_label",
    "decoding",
    "mean",
    "sd",
    "n_seeds",
    "seeds",
    "per_seed",
    "ci_low",
    "ci_high",
    "invalid_rate",
    "n_items",
]
CELL_DISPLAY_COLUMNS = [
    "Model",
    "Train set",
    "Method",
    "Benchmark",
    "Decoding",
    "Accuracy",
    "CI",
    "Invalid %",
    "Seeds",
    "Items",
]


def _cell_row(study: Study, key: CellKey, cell: dict) -> dict:
    first = study.cells[key][cell["seeds"][0]]
    return {
        "model": key[0],
        "train_set": key[1],
        "method": key[2],
        "method_kind": first.method_kind,
        "sweep": first.sweep,
        "mask_ratio": first.mask_ratio,
        "mask_warmup_ratio": first.mask_warmup_ratio,
        "epochs": first.epochs,
        "benchmark": key[3],
        "benchmark_label": study.label(key[3]),
        "decoding": key[4],
        "mean": cell["mean"],
        "sd": cell["sd"],
        "n_seeds": cell["n_seeds"],
        "seeds": ";".join(str(s) for s in cell["seeds"]),
        "per_seed": ";".join(f"{v:.4f}" for v in cell["per_seed"]),
        "ci_low": cell["ci_low"],
        "ci_high": cell["ci_high"],
        "invalid_rate": cell["invalid_rate"],
        "n_items": cell["n_items"],
    }


def _cell_display(study: Study, opts: Options, key: CellKey, cell: dict) -> dict[str, str]:
    return {
        "Model": key[0],
        "Train set": key[1],
        "Method": opts.method_label(key[2]),
        "Benchmark": study.label(key[3]),
        "Decoding": key[4],
        "Accuracy": format_accuracy(cell["mean"], cell["sd"]),
        "CI": f"[{cell['ci_low']:.1f}, {cell['ci_high']:.1f}]",
        "Invalid %": format_number(cell["invalid_rate"]),
        "Seeds": str(cell["n_seeds"]),
        "Items": str(cell["n_items"]),
    }


def build_cells(study: Study, opts: Options) -> Table:
    """Every (model, train_set, method, benchmark, decoding) cell: seed statistics and bootstrap CI
    (sorted by the cell's names)."""
    rows, display_rows = [], []
    for key in sorted(study.cells):
        cell = study.cell_stats(key)
        rows.append(_cell_row(study, key, cell))
        display_rows.append(_cell_display(study, opts, key, cell))
    notes = [
        "Every evaluated cell. Accuracy: mean ± sd over seeds (%); CI: two-stage bootstrap of the mean."
    ]
    return Table.from_rows(
        "accuracy_cells",
        "Accuracy of every cell",
        (rows, CELL_COLUMNS),
        (display_rows, CELL_DISPLAY_COLUMNS),
        notes,
    )
