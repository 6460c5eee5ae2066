"""Tables 1 and 2 counterparts: MFT vs SFT per (model, training set), and the RFT training set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cotmask.report.columns import NO_CELL, arms_of, delta_columns, method_columns
from cotmask.report.formatting import (
    Table,
    delta_text,
    format_accuracy,
    format_number,
    seed_count_text,
)
from cotmask.report.options import Options
from cotmask.report.reference import paper_lookup, paper_model, paper_value
from cotmask.report.roles import ROLE_LABELS
from cotmask.report.study import Study

TABLE1_ROLES = ("gsm", "math")


def present_methods(study: Study, opts: Options) -> list[str]:
    """The main methods with at least one evaluation, in the configured order."""
    return [m for m in opts.main_methods if any(k[2] == m for k in study.cells)]


def _table1_columns(
    roles: Sequence[str], methods: Sequence[str], simple: Sequence[dict], opts: Options
) -> tuple[list[str], list[str]]:
    """(CSV columns, display columns) of Table 1."""
    columns = ["model", "train_set", "decoding", "paper_model", "paper_train_set"]
    display = ["Model", "Train set", "Decoding"]
    for role in roles:
        label = ROLE_LABELS[role]
        for method in methods:
            columns += list(method_columns(f"{role}_", method, NO_CELL))
        for comparison in simple:
            columns += list(delta_columns(f"{role}_", opts.comparison_name(comparison)[0], None))
        columns += [f"{role}_paper_sft", f"{role}_paper_mft"]
        display += [f"{label} {opts.method_label(m)}" for m in methods]
        display += [f"{label} {opts.comparison_name(c)[1]}" for c in simple]
        display += [f"{label} paper SFT", f"{label} paper MFT"]
    return columns, display + ["Seeds"]


def _table1_role(
    study: Study, opts: Options, run: tuple[str, str, str], role: str, paper: tuple
) -> tuple[dict, dict, list[int]]:
    """One benchmark role's part of a Table 1 row: (numeric columns, display columns, seed counts).

    ``run`` is (model, train_set, decoding); ``paper`` the (paper model, paper training set)."""
    model, train_set, decoding = run
    bench, label = study.benchmark_of(role), ROLE_LABELS[role]
    row, shown, counts = {}, {}, []
    for method in present_methods(study, opts):
        cell = study.cell_stats((model, train_set, method, bench, decoding))
        counts.append(cell["n_seeds"])
        row.update(method_columns(f"{role}_", method, cell))
        shown[f"{label} {opts.method_label(method)}"] = format_accuracy(cell["mean"], cell["sd"])
    for comparison in opts.simple_comparisons():
        key, name = opts.comparison_name(comparison)
        result = study.compare(model, bench, decoding, *arms_of(comparison, train_set))
        row.update(delta_columns(f"{role}_", key, result))
        shown[f"{label} {name}"] = delta_text(result)
    ref = paper_lookup(
        opts.paper.get("table1", []), model=paper[0], train_set=paper[1], benchmark=role
    )
    row[f"{role}_paper_sft"], row[f"{role}_paper_mft"] = paper_value(ref, "sft"), paper_value(
        ref, "mft"
    )
    shown[f"{label} paper SFT"] = format_number(row[f"{role}_paper_sft"])
    shown[f"{label} paper MFT"] = format_number(row[f"{role}_paper_mft"])
    return row, shown, counts


def _has_main_runs(
    study: Study, model: str, train_set: str, methods: Sequence[str], roles: Sequence[str]
) -> bool:
    benches = [study.benchmark_of(r) for r in roles]
    return any(
        study.has(model, train_set, m, b, d)
        for m in methods
        for b in benches
        for d in study.decodings()
    )


def build_table1(study: Study, opts: Options) -> Table:
    """Table 1 counterpart: rows (model, train_set, decoding); GSM8K and MATH column groups."""
    roles = [r for r in TABLE1_ROLES if study.benchmark_of(r)]
    methods = present_methods(study, opts)
    rows, display_rows = [], []
    for model in study.models():
        p_model = paper_model(model, opts.paper_models)
        for train_set in study.train_sets(model):
            if not _has_main_runs(study, model, train_set, methods, roles):
                continue
            p_train = opts.paper_train_sets.get(train_set)
            for decoding in study.decodings():
                row = {"model": model, "train_set": train_set, "decoding": decoding}
                row.update(paper_model=p_model, paper_train_set=p_train)
                shown = {"Model": model, "Train set": train_set, "Decoding": decoding}
                seed_counts = []
                for role in roles:
                    part, part_shown, counts = _table1_role(
                        study, opts, (model, train_set, decoding), role, (p_model, p_train)
                    )
                    row.update(part)
                    shown.update(part_shown)
                    seed_counts += counts
                if not any(c > 0 for c in seed_counts):
                    continue
                shown["Seeds"] = seed_count_text(seed_counts)
                rows.append(row)
                display_rows.append(shown)
    notes = [
        "Accuracy (%) as mean ± sd over seeds; deltas in percentage points with a paired two-stage "
        f"bootstrap {round(100 * study.confidence)}% CI (seeds, then item clusters). Paper numbers "
        "(Llama2-7B / Mistral-7B, 3-seed means) are matched by model shape and training set.",
    ]
    columns, display_columns = _table1_columns(roles, methods, opts.simple_comparisons(), opts)
    return Table.from_rows(
        "table1_main",
        "Table 1 counterpart: MFT vs SFT",
        (rows, columns),
        (display_rows, display_columns),
        notes,
    )


def cross_comparison(opts: Options) -> dict[str, Any]:
    """MFT on the base training set against SFT on the RFT set (the paper's Table 2 claim)."""
    return {
        "treatment": "mft",
        "control": "sft",
        "treatment_train_set": opts.base_train_set,
        "control_train_set": opts.rft_train_set,
    }


def _table2_columns(methods: Sequence[str], opts: Options) -> tuple[list[str], list[str]]:
    """(CSV columns, display columns) of Table 2."""
    simple = opts.simple_comparisons()
    cross_key, cross_label = opts.comparison_name(cross_comparison(opts))
    columns = ["model", "train_set", "decoding", "paper_model", "paper_train_set"]
    for method in methods:
        columns += list(method_columns("", method, NO_CELL))
    for comparison in simple:
        columns += list(delta_columns("", opts.comparison_name(comparison)[0], None))
    columns += list(delta_columns("", cross_key, None)) + ["paper_sft", "paper_mft"]
    display = ["Model", "Train set", "Decoding"] + [opts.method_label(m) for m in methods]
    display += [opts.comparison_name(c)[1] for c in simple]
    return columns, display + [cross_label, "Paper SFT", "Paper MFT", "Seeds"]


def _table2_row(
    study: Study,
    opts: Options,
    run: tuple[str, str, str],
    cells: dict[str, dict],
    p_model: str | None,
) -> tuple[dict, dict]:
    """One Table 2 row of ``run`` = (model, train_set, decoding) from its method cells."""
    model, train_set, decoding = run
    bench = study.benchmark_of("gsm")
    p_train = opts.paper_train_sets_table2.get(train_set)
    row = {"model": model, "train_set": train_set, "decoding": decoding}
    row.update(paper_model=p_model, paper_train_set=p_train)
    shown = {"Model": model, "Train set": train_set, "Decoding": decoding}
    for method, cell in cells.items():
        row.update(method_columns("", method, cell))
        shown[opts.method_label(method)] = format_accuracy(cell["mean"], cell["sd"])
    for comparison in opts.simple_comparisons():
        key, name = opts.comparison_name(comparison)
        result = study.compare(model, bench, decoding, *arms_of(comparison, train_set))
        row.update(delta_columns("", key, result))
        shown[name] = delta_text(result)
    cross = cross_comparison(opts)
    cross_key, cross_label = opts.comparison_name(cross)
    result = None
    if train_set == opts.base_train_set:
        result = study.compare(model, bench, decoding, *arms_of(cross, train_set))
    row.update(delta_columns("", cross_key, result))
    shown[cross_label] = delta_text(result)
    ref = paper_lookup(opts.paper.get("table2", []), model=p_model, train_set=p_train)
    row["paper_sft"], row["paper_mft"] = paper_value(ref, "sft"), paper_value(ref, "mft")
    shown["Paper SFT"], shown["Paper MFT"] = format_number(row["paper_sft"]), format_number(
        row["paper_mft"]
    )
    shown["Seeds"] = seed_count_text([c["n_seeds"] for c in cells.values()])
    return row, shown


def _table2_notes(opts: Options, empty: bool) -> list[str]:
    _, cross_label = opts.comparison_name(cross_comparison(opts))
    if opts.rft_train_set is None:
        return [
            "GSM8K-style test only: the base training set against its RFT augmentation. No RFT training "
            "set (rft_train_set) is given, so the table is empty."
        ]
    notes = [
        f"GSM8K-style test only. Rows: the base training set ({opts.base_train_set}) and the self-sampled "
        f"RFT set ({opts.rft_train_set}); the paper's Table 2 uses GSM8K-RFT-100. "
        f"'{cross_label}' tests the paper's claim that MFT on the small set matches SFT on RFT data.",
    ]
    if empty:
        notes.append(f"No runs on the '{opts.rft_train_set}' training set in this study.")
    return notes


def build_table2(study: Study, opts: Options) -> Table:
    """Table 2 counterpart: base vs RFT training sets on the GSM test, SFT / MFT (+ MFT(base) - SFT(rft))."""
    bench = study.benchmark_of("gsm")
    methods = present_methods(study, opts)
    rows, display_rows = [], []
    for model in study.models() if bench and opts.rft_train_set else []:
        if opts.rft_train_set not in study.train_sets(model):
            continue
        p_model = paper_model(model, opts.paper_models)
        for decoding in study.decodings():
            for train_set in (opts.base_train_set, opts.rft_train_set):
                cells = {
                    m: study.cell_stats((model, train_set, m, bench, decoding)) for m in methods
                }
                if not any(c["n_seeds"] for c in cells.values()):
                    continue
                row, shown = _table2_row(study, opts, (model, train_set, decoding), cells, p_model)
                rows.append(row)
                display_rows.append(shown)
    columns, display_columns = _table2_columns(methods, opts)
    return Table.from_rows(
        "table2_rft",
        "Table 2 counterpart: RFT vs MFT",
        (rows, columns),
        (display_rows, display_columns),
        _table2_notes(opts, not rows),
    )
