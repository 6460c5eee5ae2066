"""Tables 3 and 5 counterparts: rows are configured arms (label, training set, method), deltas against
reference arms. Table 3: MFT against the other regularisers; Table 5: robustness to distractors (GSM-IC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cotmask.report.columns import delta_columns
from cotmask.report.formatting import (
    Table,
    delta_text,
    format_accuracy,
    format_number,
    seed_count_text,
)
from cotmask.report.options import Options
from cotmask.report.reference import paper_lookup, paper_model, paper_value
from cotmask.report.roles import POOLED_ROLE, ROLE_LABELS
from cotmask.report.study import Study

TABLE5_ROLES = ("gsm", "ic_2step", "ic_mstep", POOLED_ROLE)
TABLE3_ROLES = ("gsm", POOLED_ROLE)
ARM_COLUMNS = ["model", "decoding", "arm", "train_set", "method", "paper_model", "paper_method"]


def _arm_cells(
    study: Study, model: str, train_set: str, arm: Mapping, roles: Sequence[str], decoding: str
) -> dict[str, dict]:
    """Seed statistics of one arm (a row of Table 3 or 5) on every benchmark role."""
    return {
        role: study.cell_stats(
            (model, train_set, arm["method"], study.benchmark_of(role), decoding)
        )
        for role in roles
    }


def _arm_row(model: str, decoding: str, arm: Mapping, train_set: str, p_model: str | None) -> dict:
    """The identifying columns of an arm's row."""
    return {
        "model": model,
        "decoding": decoding,
        "arm": arm["label"],
        "train_set": train_set,
        "method": arm["method"],
        "paper_model": p_model,
        "paper_method": arm.get("paper_method"),
    }


def _cell_columns(role: str, cell: Mapping) -> dict:
    return {
        f"{role}_mean": cell["mean"],
        f"{role}_sd": cell["sd"],
        f"{role}_n_seeds": cell["n_seeds"],
    }


# Table 5 --------------------------------------------------------------------------------------------


def _table5_columns(roles: Sequence[str], reference: Mapping | None) -> tuple[list[str], list[str]]:
    """(CSV columns, display columns) of Table 5."""
    columns = list(ARM_COLUMNS)
    display = ["Model", "Decoding", "Arm"]
    for role in roles:
        columns += [
            f"{role}_{name}" for name in ("mean", "sd", "n_seeds", "delta", "ci_low", "ci_high")
        ]
        display += [
            ROLE_LABELS[role],
            f"{ROLE_LABELS[role]} Δ vs {reference['label'] if reference else 'SFT'}",
        ]
    return columns + ["paper_gsm", "paper_gsm_ic"], display + [
        "Paper GSM8K",
        "Paper GSM-IC",
        "Seeds",
    ]


def _table5_row(
    study: Study, run: tuple[str, str], arm: Mapping, reference: Mapping, cells: dict, paper: tuple
) -> tuple[dict, dict]:
    """One Table 5 row of ``run`` = (model, decoding); ``paper`` = (paper model, paper rows)."""
    model, decoding = run
    row = _arm_row(model, decoding, arm, arm["train_set"], paper[0])
    shown = {"Model": model, "Decoding": decoding, "Arm": arm["label"]}
    for role, cell in cells.items():
        result = None
        if arm is not reference:
            result = study.compare(
                model,
                study.benchmark_of(role),
                decoding,
                (arm["train_set"], arm["method"]),
                (reference["train_set"], reference["method"]),
            )
        row.update(_cell_columns(role, cell))
        delta = delta_columns(f"{role}_", "delta", result)
        row[f"{role}_delta"] = delta[f"{role}_delta"]
        row[f"{role}_ci_low"] = delta[f"{role}_delta_ci_low"]
        row[f"{role}_ci_high"] = delta[f"{role}_delta_ci_high"]
        shown[ROLE_LABELS[role]] = format_accuracy(cell["mean"], cell["sd"])
        shown[f"{ROLE_LABELS[role]} Δ vs {reference['label']}"] = delta_text(result)
    ref = paper_lookup(paper[1], model=paper[0], method=arm.get("paper_method"))
    row["paper_gsm"], row["paper_gsm_ic"] = paper_value(ref, "gsm"), paper_value(ref, "gsm_ic")
    shown["Paper GSM8K"] = format_number(row["paper_gsm"])
    shown["Paper GSM-IC"] = format_number(row["paper_gsm_ic"])
    shown["Seeds"] = seed_count_text([c["n_seeds"] for c in cells.values()])
    return row, shown


def build_table5(study: Study, opts: Options) -> Table:
    """Table 5 counterpart: GSM test vs GSM-IC 2-step, m-step and pooled; deltas against the SFT arm."""
    roles = [r for r in TABLE5_ROLES if study.benchmark_of(r)]
    arms = opts.table5_arms
    reference = arms[0] if arms else None
    has_ic = any(study.benchmark_of(r) for r in ("ic_2step", "ic_mstep"))
    rows, display_rows = [], []
    for model in study.models() if reference and has_ic else []:
        paper = (paper_model(model, opts.paper_models), opts.paper.get("table5", []))
        for decoding in study.decodings():
            for arm in arms:
                cells = _arm_cells(study, model, arm["train_set"], arm, roles, decoding)
                if not any(c["n_seeds"] for c in cells.values()):
                    continue
                row, shown = _table5_row(study, (model, decoding), arm, reference, cells, paper)
                rows.append(row)
                display_rows.append(shown)
    notes = [
        "Accuracy (%) as mean ± sd over seeds; Δ against the first arm with a paired two-stage bootstrap CI. "
        "The pooled column concatenates the items of both GSM-IC splits. The paper (v1) does not say which "
        "GSM-IC split(s) its single column uses; its number is shown beside ours for orientation only.",
    ]
    if not rows:
        notes.append("No GSM-IC evaluations in this study.")
    columns, display_columns = _table5_columns(roles, reference)
    return Table.from_rows(
        "table5_distractors",
        "Table 5 counterpart: robustness to distractors (GSM-IC)",
        (rows, columns),
        (display_rows, display_columns),
        notes,
    )


# Table 3 --------------------------------------------------------------------------------------------


def _table3_columns(
    roles: Sequence[str], controls: Sequence[Mapping]
) -> tuple[list[str], list[str]]:
    """(CSV columns, display columns) of Table 3."""
    columns = list(ARM_COLUMNS)
    display = ["Model", "Decoding", "Arm"]
    for role in roles:
        columns += [f"{role}_mean", f"{role}_sd", f"{role}_n_seeds"]
        display.append(ROLE_LABELS[role])
        for control in controls:
            columns += list(delta_columns(f"{role}_", f"minus_{control['method']}", None))
            display.append(f"{ROLE_LABELS[role]} Δ vs {control['label']}")
    return columns + ["paper_gsm", "paper_text"], display + ["Paper GSM8K", "Seeds"]


def _table3_row(
    study: Study,
    opts: Options,
    run: tuple[str, str],
    arm: Mapping,
    cells: dict,
    p_model: str | None,
) -> tuple[dict, dict]:
    """One Table 3 row of ``run`` = (model, decoding): a control's delta only for the arms after it."""
    model, decoding = run
    train_set, arms = opts.base_train_set, opts.table3_arms
    row = _arm_row(model, decoding, arm, train_set, p_model)
    shown = {"Model": model, "Decoding": decoding, "Arm": arm["label"]}
    for role, cell in cells.items():
        row.update(_cell_columns(role, cell))
        shown[ROLE_LABELS[role]] = format_accuracy(cell["mean"], cell["sd"])
        for control in (a for a in arms if a.get("control")):
            result = None
            if arms.index(control) < arms.index(arm):  # a control only against later arms
                result = study.compare(
                    model,
                    study.benchmark_of(role),
                    decoding,
                    (train_set, arm["method"]),
                    (train_set, control["method"]),
                )
            row.update(delta_columns(f"{role}_", f"minus_{control['method']}", result))
            shown[f"{ROLE_LABELS[role]} Δ vs {control['label']}"] = delta_text(result)
    ref = paper_lookup(opts.paper.get("table3", []), model=p_model, method=arm.get("paper_method"))
    row["paper_gsm"] = paper_value(ref, "gsm")
    row["paper_text"] = ref.get("text") if ref else None
    shown["Paper GSM8K"] = row["paper_text"] or format_number(row["paper_gsm"])
    shown["Seeds"] = seed_count_text([c["n_seeds"] for c in cells.values()])
    return row, shown


def _paper_rows_without_arm(opts: Options, models: Sequence[str]) -> str | None:
    """A note naming the paper's Table 3 rows (of the study's paper models) that no configured arm shows,
    each with its number, so that the counterpart accounts for every row of the paper's table."""
    paper_models = {paper_model(model, opts.paper_models) for model in models} - {None}
    shown = {arm.get("paper_method") for arm in opts.table3_arms}
    missing = [
        f"{row['method']} {row['gsm'] if 'gsm' in row else row.get('text', '–')}"
        for row in opts.paper.get("table3", [])
        if row.get("model") in paper_models and row["method"] not in shown
    ]
    if not missing:
        return None
    return "Paper rows without an arm here (GSM8K): " + "; ".join(missing) + "."


def build_table3(study: Study, opts: Options) -> Table:
    """Table 3 counterpart: MFT against the other regularisers on the base training set.

    One row per (model, decoding, arm) with runs; columns: GSM8K-style accuracy and, when the study has
    GSM-IC, the pooled GSM-IC accuracy, each with a delta (paired bootstrap CI) against every control arm.
    """
    roles = [r for r in TABLE3_ROLES if study.benchmark_of(r)]
    arms = opts.table3_arms
    rows, display_rows = [], []
    for model in study.models():
        p_model = paper_model(model, opts.paper_models)
        for decoding in study.decodings():
            for arm in arms:
                cells = _arm_cells(study, model, opts.base_train_set, arm, roles, decoding)
                if not any(c["n_seeds"] for c in cells.values()):
                    continue
                row, shown = _table3_row(study, opts, (model, decoding), arm, cells, p_model)
                rows.append(row)
                display_rows.append(shown)
    notes = [
        f"Training set {opts.base_train_set!r}. Accuracy (%) as mean ± sd over seeds; Δ against each control "
        "arm with a paired two-stage bootstrap CI. The paper's Table 3 (Llama-2-7B, GSM8K) has no GSM-IC "
        "column and no equal-compute control; its numbers are shown for the matching row.",
    ]
    absent = [arm["label"] for arm in arms if arm["method"] not in {row["method"] for row in rows}]
    if absent:
        notes.append("Arms without runs in this study: " + "; ".join(absent) + ".")
    unshown = _paper_rows_without_arm(opts, study.models())
    if unshown:
        notes.append(unshown)
    columns, display_columns = _table3_columns(roles, [arm for arm in arms if arm.get("control")])
    return Table.from_rows(
        "table3_regularisers",
        "Table 3 counterpart: MFT vs other regularisers",
        (rows, columns),
        (display_rows, display_columns),
        notes,
    )
