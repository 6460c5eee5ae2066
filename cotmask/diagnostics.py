"""Overfitting diagnostics of a fine-tune: the settings, the fixed subsets, the per-epoch rows and their summary.

A regulariser such as MFT can only help where supervised fine-tuning overfits. To see whether it does,
:class:`cotmask.epoch_diagnostics.EpochDiagnostics` (a ``TrainerCallback``) measures at the end of every
epoch, on a fixed subset of the training set and of a test set, the **clean loss** (teacher-forced
cross-entropy over the answer tokens with the original, unmasked inputs, weighted by token) and the
**greedy accuracy** (plain decoding, the benchmark's scoring rule). Rows go to ``diagnostics.jsonl``;
:func:`summarize_diagnostics` gives the train-test gaps and the best epoch. Accuracy against the number of
training samples seen is the counterpart of the paper's Fig. 2.

This module is light (no torch): the workflow's planner and the report read rows and summaries through it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cotmask.records import iter_jsonl

DIAGNOSTICS_FILE = "diagnostics.jsonl"
SUBSETS = ("train", "test")


@dataclass(frozen=True)
class DiagnosticsSettings:
    """What to measure: subset size, decoding budget, scoring; the files come separately."""

    n_items: int = 100
    max_new_tokens: int = 160
    batch_size: int = 128
    scoring: str = "gsm8k"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_items < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("diagnostics: n_items, max_new_tokens and batch_size must be positive")


def fixed_subset(records: Sequence[dict], n_items: int, seed: int = 0) -> list[dict]:
    """``n_items`` records chosen by a hash of (seed, id): the same items for every run and epoch,
    independent of the file's order; all records when there are fewer."""
    def rank(record: dict) -> str:
        return hashlib.sha256(f"{seed}:{record['id']}".encode()).hexdigest()

    chosen = sorted(records, key=rank)[:n_items]
    return sorted(chosen, key=lambda record: str(record["id"]))


def read_rows(path: str | os.PathLike) -> list[dict]:
    """The rows of a diagnostics file (empty when it does not exist); written with
    :func:`cotmask.records.write_jsonl` (atomic)."""
    if not Path(path).exists():
        return []
    return [row for _, row in iter_jsonl(path)]


def summarize_diagnostics(rows: Sequence[Mapping]) -> dict[str, Any]:
    """Final clean losses and accuracies, their train-test gaps, and the best epoch by test accuracy.

    ``loss_gap`` = test − train clean loss and ``accuracy_gap`` = train − test accuracy (points), both at
    the last epoch: positive when the model fits its training set better than unseen problems. The best
    epoch is the earliest one with the highest test-subset accuracy; ``best_minus_final`` is that accuracy
    minus the final one (points; > 0 when training past the best epoch lost accuracy).
    """
    if not rows:
        raise ValueError("no diagnostics rows")
    final = rows[-1]
    best = max(rows, key=lambda row: (row["test_accuracy"], -row["epoch"]))
    return {
        "epochs_measured": len(rows),
        "final_train_loss": final["train_loss"],
        "final_test_loss": final["test_loss"],
        "loss_gap": round(final["test_loss"] - final["train_loss"], 6),
        "final_train_accuracy": round(100 * final["train_accuracy"], 4),
        "final_test_accuracy": round(100 * final["test_accuracy"], 4),
        "accuracy_gap": round(100 * (final["train_accuracy"] - final["test_accuracy"]), 4),
        "best_epoch": best["epoch"],
        "best_test_accuracy": round(100 * best["test_accuracy"], 4),
        "best_minus_final": round(100 * (best["test_accuracy"] - final["test_accuracy"]), 4),
    }
