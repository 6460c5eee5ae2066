"""Column helpers shared by the table builders: a method's seed statistics and a comparison's delta."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cotmask.report.study import Arm

#: a cell without runs, for building the column names of a table
NO_CELL = {"mean": 0, "sd": 0, "n_seeds": 0}


def method_columns(prefix: str, method: str, cell: Mapping) -> dict[str, Any]:
    """``{prefix}{method}_mean``, ``_sd`` and ``_n_seeds`` of a cell's seed statistics."""
    return {
        f"{prefix}{method}_mean": cell["mean"],
        f"{prefix}{method}_sd": cell["sd"],
        f"{prefix}{method}_n_seeds": cell["n_seeds"],
    }


def delta_columns(prefix: str, key: str, row: Mapping | None) -> dict[str, Any]:
    """``{prefix}{key}`` and its ``_ci_low`` / ``_ci_high`` of a comparison row (NaN when absent)."""
    if row is None:
        return {
            f"{prefix}{key}": math.nan,
            f"{prefix}{key}_ci_low": math.nan,
            f"{prefix}{key}_ci_high": math.nan,
        }
    return {
        f"{prefix}{key}": row["delta"],
        f"{prefix}{key}_ci_low": row["ci_low"],
        f"{prefix}{key}_ci_high": row["ci_high"],
    }


def arms_of(comparison: Mapping[str, str], train_set: str) -> tuple[Arm, Arm]:
    """(treatment, control) arms of a comparison run within ``train_set`` (fixed training sets kept)."""
    treatment = (comparison.get("treatment_train_set") or train_set, comparison["treatment"])
    control = (comparison.get("control_train_set") or train_set, comparison["control"])
    return treatment, control
