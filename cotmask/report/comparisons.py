"""The configured paired comparisons (run for every model, training set, benchmark and decoding) and the
table of every comparison computed."""

from __future__ import annotations

from cotmask import stats
from cotmask.report.columns import arms_of
from cotmask.report.formatting import Table, format_accuracy, format_delta, format_p_values
from cotmask.report.options import Options
from cotmask.report.study import Study

COMPARISON_COLUMNS = [
    "model",
    "train_set",
    "treatment",
    "control_train_set",
    "control",
    "benchmark",
    "benchmark_label",
    "decoding",
    "treatment_mean",
    "treatment_sd",
    "control_mean",
    "control_sd",
    "delta",
    "ci_low",
    "ci_high",
    "n_items",
    "n_clusters",
    "n_seeds_treatment",
    "n_seeds_control",
    "mcnemar_p",
]
COMPARISON_DISPLAY_COLUMNS = [
    "Model",
    "Treatment",
    "Control",
    "Benchmark",
    "Decoding",
    "Treatment acc.",
    "Control acc.",
    "Delta [CI]",
    "McNemar p (seed:p)",
    "Items",
    "Clusters",
    "Seeds",
]


def build_comparisons(study: Study, opts: Options) -> None:
    """Run every configured comparison for every (model, train_set, benchmark, decoding) present."""
    benchmarks = sorted({k[3] for k in study.cells})
    for model in study.models():
        for train_set in study.train_sets(model):
            for comparison in opts.comparisons:
                fixed = comparison.get("treatment_train_set")
                if fixed and fixed != train_set:
                    continue
                treatment, control = arms_of(comparison, train_set)
                for benchmark in benchmarks:
                    for decoding in study.decodings():
                        study.compare(model, benchmark, decoding, treatment, control)


def _comparison_order(row: dict) -> tuple:
    return (
        row["model"],
        row["train_set"],
        row["benchmark"],
        row["decoding"],
        row["treatment"],
        row["control_train_set"],
        row["control"],
    )


def _display_row(row: dict, opts: Options) -> dict[str, str]:
    return {
        "Model": row["model"],
        "Treatment": f"{opts.method_label(row['treatment'])} ({row['train_set']})",
        "Control": f"{opts.method_label(row['control'])} ({row['control_train_set']})",
        "Benchmark": row["benchmark_label"],
        "Decoding": row["decoding"],
        "Treatment acc.": format_accuracy(row["treatment_mean"], row["treatment_sd"]),
        "Control acc.": format_accuracy(row["control_mean"], row["control_sd"]),
        "Delta [CI]": format_delta(row["delta"], row["ci_low"], row["ci_high"]),
        "McNemar p (seed:p)": format_p_values(row["mcnemar_p"]),
        "Items": str(row["n_items"]),
        "Clusters": str(row["n_clusters"]),
        "Seeds": f"{row['n_seeds_treatment']}/{row['n_seeds_control']}",
    }


def build_comparison_table(study: Study, opts: Options) -> tuple[Table, list[dict]]:
    """Every comparison computed (configured ones and those of Tables 2, 3 and 5), one row each; also
    the full rows (with McNemar details) in the table's order."""
    full = sorted(study.comparison_rows.values(), key=_comparison_order)
    rows = [
        {
            **{k: r[k] for k in COMPARISON_COLUMNS if k != "mcnemar_p"},
            "mcnemar_p": format_p_values(r["mcnemar_p"]),
        }
        for r in full
    ]
    notes = [
        "Delta = treatment − control accuracy (percentage points); CI: paired two-stage bootstrap "
        f"({study.n_resamples} resamples; seeds resampled per arm, item clusters shared by both arms). "
        "McNemar: per seed present in both arms (exact binomial when fewer than "
        f"{stats.MCNEMAR_EXACT_BELOW} discordant pairs, else chi-square with continuity correction).",
    ]
    table = Table.from_rows(
        "comparisons",
        "All paired comparisons",
        (rows, COMPARISON_COLUMNS),
        ([_display_row(r, opts) for r in full], COMPARISON_DISPLAY_COLUMNS),
        notes,
    )
    return table, full
