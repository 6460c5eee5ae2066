"""The configured paired comparisons (run for every model, training set, benchmark and decoding), the
table of every comparison computed, and what the headline figure (MFT − SFT, MFT − SFT-long) takes
besides that table."""

from __future__ import annotations

from cotmask import stats
from cotmask.report.columns import arms_of
from cotmask.report.formatting import (
    Table,
    format_accuracy,
    format_delta,
    format_p_values,
)
from cotmask.report.options import Options
from cotmask.report.reference import paper_lookup, paper_model
from cotmask.report.roles import POOLED_ROLE
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


# ------------------------------------------------------------------------------ the headline figure

#: the headline figure's benchmarks, by role, in panel order (GSM-IC pooled: the paper's one GSM-IC number)
HEADLINE_ROLES = ("gsm", "math", POOLED_ROLE)


def headline_panels(study: Study, opts: Options) -> list[tuple[str, str]]:
    """(benchmark name, label) of each panel of the headline figure: the benchmarks of
    :data:`HEADLINE_ROLES` that the study evaluated."""
    names = {role: opts.benchmarks.get(role) for role in HEADLINE_ROLES}
    names[POOLED_ROLE] = study.pooled_name
    present = {k[3] for k in study.cells}
    return [(names[role], study.label(names[role])) for role in HEADLINE_ROLES if names[role] in present]


def _paper_difference(row) -> float | None:
    """MFT − SFT of a paper row with both numbers, else None."""
    if row is None or row.get("sft") is None or row.get("mft") is None:
        return None
    return float(row["mft"]) - float(row["sft"])


def paper_deltas(study: Study, opts: Options) -> dict[tuple[str, str, str], float]:
    """The paper's MFT − SFT (points) for each (model, train_set, benchmark) of the study that the paper
    reports: Table 1 for GSM8K and MATH, Table 5 for GSM-IC (GSM8K training, so only the base training
    set). Names are matched as in Tables 1 and 5 (``paper_models``, ``paper_train_sets``)."""
    deltas = {}
    for model in study.models():
        p_model = paper_model(model, opts.paper_models)
        for train_set in study.train_sets(model):
            p_train = opts.paper_train_sets.get(train_set)
            for role in ("gsm", "math"):
                ref = paper_lookup(opts.paper.get("table1", []), model=p_model, train_set=p_train, benchmark=role)
                delta = _paper_difference(ref)
                if delta is not None and opts.benchmarks.get(role):
                    deltas[(model, train_set, opts.benchmarks[role])] = delta
            table5 = opts.paper.get("table5", [])
            if study.pooled_name and train_set == opts.base_train_set:
                sft = paper_lookup(table5, model=p_model, method="SFT")
                mft = paper_lookup(table5, model=p_model, method="MFT")
                if sft and mft and sft.get("gsm_ic") is not None and mft.get("gsm_ic") is not None:
                    deltas[(model, train_set, study.pooled_name)] = float(mft["gsm_ic"]) - float(sft["gsm_ic"])
    return deltas


def headline_spec(study: Study, opts: Options) -> dict:
    """What :func:`cotmask.report.plots.plot_forest` needs besides the comparisons table: the panels, the
    configured comparisons as (treatment, control) pairs, the (model, train_set) rows, the decoding, the
    paper's deltas and the CI level."""
    decodings = study.decodings()
    decoding = opts.fig3.get("decoding", "calc")
    if decoding not in decodings and decodings:
        decoding = decodings[0]
    pairs = [(c["treatment"], c["control"]) for c in opts.comparisons if not c.get("treatment_train_set")]
    return {
        "panels": headline_panels(study, opts),
        "pairs": list(dict.fromkeys(pairs)),
        "groups": [(model, train_set) for model in study.models() for train_set in study.train_sets(model)],
        "decoding": decoding,
        "paper_deltas": paper_deltas(study, opts),
        "confidence": opts.confidence,
    }
