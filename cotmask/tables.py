"""Aggregate evaluations into the study's tables (Tables 1, 2, 5 counterparts), Fig. 3 data and figures.

Entry point: :func:`build_tables` (called by the workflow's aggregate rule and by ``cotmask tables``).
All accuracies in the outputs are percentages (0-100); deltas are percentage points. The statistics
(seed mean/sd, paired two-stage bootstrap CIs, McNemar) are those of :mod:`cotmask.stats`.
docs/results.md describes every output file and column.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import tempfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cotmask import NUMERICS_VERSION, stats
from cotmask.records import RecordError, iter_jsonl, write_json

# --------------------------------------------------------------------------------------------------
# Defaults (every one of them is a keyword argument of build_tables)
# --------------------------------------------------------------------------------------------------

#: benchmark role -> benchmark name as it appears in the index (``{benchmark}`` of the eval paths).
DEFAULT_BENCHMARKS: dict[str, str] = {
    "gsm": "gsm8k",
    "math": "math",
    "ic_2step": "gsm_ic_2step",
    "ic_mstep": "gsm_ic_mstep",
}
#: the pseudo-benchmark made of both GSM-IC splits (items pooled).
POOLED_ROLE = "ic_pooled"
ROLE_LABELS: dict[str, str] = {
    "gsm": "GSM8K",
    "math": "MATH",
    "ic_2step": "GSM-IC 2-step",
    "ic_mstep": "GSM-IC m-step",
    POOLED_ROLE: "GSM-IC pooled",
}
DEFAULT_COMPARISONS: tuple[dict[str, str], ...] = (
    {"treatment": "mft", "control": "sft"},
    {"treatment": "mft", "control": "sft_long"},
)
DEFAULT_MAIN_METHODS: tuple[str, ...] = ("sft", "sft_long", "mft")
DEFAULT_METHOD_LABELS: dict[str, str] = {"sft": "SFT", "sft_long": "SFT-long", "mft": "MFT"}
DECODINGS: tuple[str, ...] = ("plain", "calc")
#: substring of our model name (lower case) -> paper base model
DEFAULT_PAPER_MODELS: dict[str, str] = {"llama": "Llama2-7B", "mistral": "Mistral-7B"}
#: our train_set -> paper training set of Table 1 (exact match)
DEFAULT_PAPER_TRAIN_SETS: dict[str, str] = {
    "base": "GSM8K",
    "rft": "GSM8K-RFT-U33",
    "metamath": "MetaMath",
    "mathinstruct": "MAmmoTH",
    "pot": "MAmmoTH",
    "math": "MATH",
}
#: our train_set -> paper training set of Table 2 (self-sampled RFT-100)
DEFAULT_PAPER_TRAIN_SETS_TABLE2: dict[str, str] = {"base": "GSM8K", "rft": "GSM8K-RFT-100"}
DEFAULT_FIG3: dict[str, Any] = {
    "benchmark": "gsm",  # role (or benchmark name) plotted
    "decoding": "calc",
    "reference_methods": ["sft", "sft_long"],  # horizontal reference lines
    "include_methods": [],  # non-sweep methods whose runs join the curves by (mask_ratio, mask_warmup)
}
#: rows of the Table 3 counterpart when none are configured (the regularisers are methods of the config).
DEFAULT_TABLE3_ARMS: tuple[dict[str, Any], ...] = (
    {"label": "SFT", "method": "sft", "paper_method": "SFT", "control": True},
    {"label": "SFT-long", "method": "sft_long", "paper_method": None, "control": True},
    {"label": "MFT", "method": "mft", "paper_method": "MFT, random token (r=1)", "control": False},
)
TRAIN_SET_ORDER = ("base", "rft", "math", "metamath", "mathinstruct", "pot")

#: Reference numbers of shared/paper.md (percent). ``benchmark`` is a role; keys sft/mft are methods.
PAPER_REFERENCE: dict[str, list[dict[str, Any]]] = {
    "table1": [
        {"model": "Llama2-7B", "train_set": "GSM8K", "benchmark": "gsm", "sft": 41.6, "mft": 47.1},
        {"model": "Llama2-7B", "train_set": "MATH", "benchmark": "math", "sft": 7.6, "mft": 8.9},
        {
            "model": "Llama2-7B",
            "train_set": "GSM8K-RFT-U33",
            "benchmark": "gsm",
            "sft": 51.9,
            "mft": 54.5,
        },
        {
            "model": "Llama2-7B",
            "train_set": "MAmmoTH",
            "benchmark": "gsm",
            "sft": 56.2,
            "mft": 59.8,
        },
        {
            "model": "Llama2-7B",
            "train_set": "MAmmoTH",
            "benchmark": "math",
            "sft": 28.8,
            "mft": 30.4,
        },
        {
            "model": "Llama2-7B",
            "train_set": "MetaMath",
            "benchmark": "gsm",
            "sft": 66.5,
            "mft": 69.0,
        },
        {
            "model": "Llama2-7B",
            "train_set": "MetaMath",
            "benchmark": "math",
            "sft": 19.8,
            "mft": 20.8,
        },
        {"model": "Mistral-7B", "train_set": "GSM8K", "benchmark": "gsm", "sft": 60.9, "mft": 64.0},
        {"model": "Mistral-7B", "train_set": "MATH", "benchmark": "math", "sft": 16.6, "mft": 17.4},
        {
            "model": "Mistral-7B",
            "train_set": "GSM8K-RFT-U33",
            "benchmark": "gsm",
            "sft": 62.9,
            "mft": 65.4,
        },
        {
            "model": "Mistral-7B",
            "train_set": "MAmmoTH",
            "benchmark": "gsm",
            "sft": 74.9,
            "mft": 77.0,
        },
        {
            "model": "Mistral-7B",
            "train_set": "MAmmoTH",
            "benchmark": "math",
            "sft": 39.6,
            "mft": 41.0,
        },
        {
            "model": "Mistral-7B",
            "train_set": "MetaMath",
            "benchmark": "gsm",
            "sft": 78.0,
            "mft": 79.5,
        },
        {
            "model": "Mistral-7B",
            "train_set": "MetaMath",
            "benchmark": "math",
            "sft": 28.2,
            "mft": 29.0,
        },
    ],
    "table2": [
        {"model": "Llama2-7B", "train_set": "GSM8K", "sft": 41.6, "mft": 47.1},
        {"model": "Llama2-7B", "train_set": "GSM8K-RFT-100", "sft": 47.6, "mft": 51.4},
        {"model": "Llama2-13B", "train_set": "GSM8K", "sft": 52.7, "mft": 56.2},
        {"model": "Llama2-13B", "train_set": "GSM8K-RFT-100", "sft": 55.2, "mft": 60.4},
    ],
    # Table 3 (Llama-2-7B, GSM8K-7K, GSM8K test): the rows with a Bernoulli p = 0.4 on answer tokens,
    # the question-masking row (p = 0.2) and SFT. ``method`` names the paper's row.
    "table3": [
        {"model": "Llama2-7B", "method": "SFT", "gsm": 41.6},
        {"model": "Llama2-7B", "method": "MFT, random token (r=1)", "gsm": 47.1},
        {"model": "Llama2-7B", "method": "MFT, [mask] (m=1)", "gsm": 46.7},
        {"model": "Llama2-7B", "method": "Dropout on answer tokens (q=1)", "gsm": 46.5},
        {"model": "Llama2-7B", "method": "NEFTune on answer tokens (alpha=1000)", "gsm": 47.2},
        {"model": "Llama2-7B", "method": "Scheduled sampling (tau=100)", "gsm": 47.1},
        {"model": "Llama2-7B", "method": "Dropout on question tokens (q=1, p=0.2)", "gsm": 36.3},
    ],
    "table5": [
        {"model": "Llama2-7B", "method": "SFT", "gsm": 41.6, "gsm_ic": 48.0},
        {"model": "Llama2-7B", "method": "RFT-100", "gsm": 47.6, "gsm_ic": 52.2},
        {"model": "Llama2-7B", "method": "MFT", "gsm": 47.1, "gsm_ic": 59.2},
        {"model": "Llama2-13B", "method": "SFT", "gsm": 52.7, "gsm_ic": 58.8},
        {"model": "Llama2-13B", "method": "RFT-100", "gsm": 55.2, "gsm_ic": 63.3},
        {"model": "Llama2-13B", "method": "MFT", "gsm": 56.2, "gsm_ic": 69.1},
    ],
}

#: Every file build_tables writes, relative to out_dir (the same set whatever the data).
TABLE_STEMS = (
    "table1_main",
    "table2_rft",
    "table5_distractors",
    "table3_regularisers",
    "comparisons",
    "accuracy_cells",
    "fig3_mask_ratio",
    "accuracy_by_steps",
    "accuracy_by_distractor",
)
FIGURE_NAMES = ("fig3_mask_ratio", "main_results", "main_results_plain", "accuracy_by_steps")
MISSING = "–"
#: GSM-IC's distractor factors, read from each item's metadata (GSM-IC reports accuracy by each).
DISTRACTOR_FACTORS = ("distractor_topic", "distractor_role", "distractor_range")


class TableInputError(ValueError):
    """An index entry, evaluation file or summary file is missing or malformed."""


def output_paths(out_dir: str | os.PathLike, figures: bool = True) -> dict[str, Path]:
    """Every file :func:`build_tables` writes under ``out_dir`` (name -> path), for rule outputs."""
    out = Path(out_dir)
    paths = {}
    for stem in TABLE_STEMS:
        for ext in ("csv", "md", "tex"):
            paths[f"{stem}.{ext}"] = out / "tables" / f"{stem}.{ext}"
    if figures:
        for name in FIGURE_NAMES:
            paths[f"{name}.png"] = out / "figures" / f"{name}.png"
    paths["summary.json"] = out / "summary.json"
    return paths


# --------------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------------

KEY_FIELDS = ("model", "train_set", "method", "seed", "benchmark", "decoding")


@dataclass
class Evaluation:
    """One evaluation (per-item file + summary) of one fine-tune on one benchmark and decoding."""

    model: str
    train_set: str
    method: str
    seed: int
    benchmark: str
    decoding: str
    path: str
    summary_path: str
    correct: dict[str, bool]
    invalid: dict[str, bool]
    templates: dict[str, str | None]
    n_steps: dict[str, int | None]
    summary: dict = field(default_factory=dict)
    distractor: dict[str, dict[str, str]] = field(default_factory=dict)  # item id -> factor -> value
    mask_ratio: float | None = None
    mask_warmup: float | None = None
    epochs: int | None = None
    method_kind: str | None = None
    sweep: bool = False

    @property
    def accuracy(self) -> float:
        return sum(self.correct.values()) / len(self.correct)

    @property
    def invalid_rate(self) -> float:
        return sum(self.invalid.values()) / len(self.invalid)


def _entry_error(number: int, entry: Any, problem: str) -> TableInputError:
    where = ""
    if isinstance(entry, Mapping):
        where = " (" + "/".join(str(entry.get(k, "?")) for k in KEY_FIELDS) + ")"
    return TableInputError(f"index entry {number}{where}: {problem}")


def _validate_entry(number: int, entry: Any) -> dict:
    """Check one index entry's keys and types; return a normalised copy (seed as int)."""
    if not isinstance(entry, Mapping):
        raise _entry_error(number, entry, f"expected a mapping, got {type(entry).__name__}")
    for key in ("model", "train_set", "method", "benchmark", "decoding", "path", "summary"):
        value = entry.get(key)
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            raise _entry_error(number, entry, f"key {key!r} is missing or not a non-empty string")
    seed = entry.get("seed")
    if isinstance(seed, str) and seed.strip().lstrip("-").isdigit():
        seed = int(seed)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _entry_error(
            number, entry, f"key 'seed' must be an integer, got {entry.get('seed')!r}"
        )
    normal = dict(entry)
    normal["seed"] = seed
    for key in ("model", "train_set", "method", "benchmark", "decoding", "path", "summary"):
        normal[key] = str(entry[key])
    for key in ("mask_ratio", "mask_warmup"):
        value = entry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _entry_error(number, entry, f"key {key!r} must be a number, got {value!r}")
    for key, kind in (("path", "per-item file"), ("summary", "summary file")):
        if not Path(normal[key]).is_file():
            raise _entry_error(number, entry, f"{kind} {normal[key]} does not exist")
    return normal


def _read_items(path: str, cluster_by: str | None = "template") -> tuple[dict, dict, dict, dict, dict]:
    """Parse a per-item JSONL file: (correct, invalid, cluster, n_steps, distractor factors), each keyed by
    item id (the factors: the :data:`DISTRACTOR_FACTORS` present in the item's metadata, as strings).

    The cluster of an item is ``metadata[cluster_by]`` (None when absent or ``cluster_by`` is None).
    """
    correct, invalid, templates, n_steps, distractor = {}, {}, {}, {}, {}
    try:
        lines = list(iter_jsonl(path))
    except RecordError as error:
        raise TableInputError(str(error)) from None
    for number, item in lines:
        where = f"{path}:{number}"
        if not isinstance(item, dict):
            raise TableInputError(f"{where}: expected a JSON object")
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise TableInputError(f"{where}: field 'id' is missing or not a non-empty string")
        if item_id in correct:
            raise TableInputError(f"{where}: duplicate item id {item_id!r}")
        for key in ("correct", "invalid"):
            if not isinstance(item.get(key), bool):
                raise TableInputError(
                    f"{where}: field {key!r} must be true or false, got {item.get(key)!r}"
                )
        metadata = item.get("metadata", {})
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise TableInputError(f"{where}: field 'metadata' must be an object")
        correct[item_id] = item["correct"]
        invalid[item_id] = item["invalid"]
        template = metadata.get(cluster_by) if cluster_by else None
        templates[item_id] = str(template) if template not in (None, "") else None
        steps = metadata.get("n_steps")
        n_steps[item_id] = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
        factors = {k: str(metadata[k]) for k in DISTRACTOR_FACTORS if metadata.get(k) not in (None, "")}
        if factors:
            distractor[item_id] = factors
    if not correct:
        raise TableInputError(f"{path}: no items")
    return correct, invalid, templates, n_steps, distractor


def _read_summary(path: str, correct: dict[str, bool], items_path: str) -> dict:
    """Parse a summary JSON and check it against its per-item file."""
    try:
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
    except json.JSONDecodeError as error:
        raise TableInputError(f"{path}: invalid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(summary, dict):
        raise TableInputError(f"{path}: expected a JSON object")
    for key in ("accuracy", "n"):
        if key not in summary:
            raise TableInputError(f"{path}: key {key!r} is missing")
    accuracy, n = summary["accuracy"], summary["n"]
    if not isinstance(n, int) or n != len(correct):
        raise TableInputError(f"{path}: n = {n!r} but {items_path} has {len(correct)} items")
    if not isinstance(accuracy, (int, float)):
        raise TableInputError(f"{path}: accuracy must be a number, got {accuracy!r}")
    observed = sum(correct.values()) / len(correct)
    scaled = accuracy / 100.0 if accuracy > 1.0 else accuracy
    if abs(scaled - observed) > 1e-6:
        raise TableInputError(
            f"{path}: accuracy {accuracy} disagrees with {items_path} ({observed:.6f} correct)"
        )
    return summary


def load_evaluations(
    index: Sequence[Mapping[str, Any]], cluster_by: str | None = "template"
) -> list[Evaluation]:
    """Validate the whole index (keys, duplicates, file existence), then read and check every file.

    Raises :class:`TableInputError` naming the index entry or the file (and line) at fault, and
    :class:`cotmask.stats.ItemMismatchError` (naming the files) when two evaluations of one
    benchmark do not cover the same item ids.
    """
    if isinstance(index, (str, bytes, os.PathLike)) or not isinstance(index, Sequence):
        raise TableInputError("index must be a list of evaluation entries")
    if not index:
        raise TableInputError("index is empty: no evaluations to aggregate")
    entries, seen = [], {}
    for number, entry in enumerate(index):
        normal = _validate_entry(number, entry)
        key = tuple(normal[k] for k in KEY_FIELDS)
        if key in seen:
            raise _entry_error(number, entry, f"duplicate of index entry {seen[key]}")
        seen[key] = number
        entries.append(normal)
    evaluations = []
    for normal in entries:
        correct, invalid, templates, n_steps, distractor = _read_items(normal["path"], cluster_by)
        summary = _read_summary(normal["summary"], correct, normal["path"])
        evaluations.append(
            Evaluation(
                **{k: normal[k] for k in KEY_FIELDS},
                path=normal["path"],
                summary_path=normal["summary"],
                correct=correct,
                invalid=invalid,
                templates=templates,
                n_steps=n_steps,
                summary=summary,
                distractor=distractor,
                mask_ratio=normal.get("mask_ratio"),
                mask_warmup=normal.get("mask_warmup"),
                epochs=normal.get("epochs"),
                method_kind=normal.get("method_kind"),
                sweep=bool(normal.get("sweep", False)),
            )
        )
    by_benchmark: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for ev in evaluations:
        by_benchmark[ev.benchmark][ev.path] = list(ev.correct)
    for item_sets in by_benchmark.values():
        stats.check_item_sets(item_sets)
    return evaluations


# --------------------------------------------------------------------------------------------------
# The study: evaluations grouped into seed sets, cached statistics
# --------------------------------------------------------------------------------------------------

CellKey = tuple[str, str, str, str, str]  # model, train_set, method, benchmark, decoding


def _pool(first: Evaluation, second: Evaluation, name: str) -> Evaluation:
    """Merge the GSM-IC 2-step and m-step evaluations of one run into one pooled evaluation."""
    merged: dict[str, dict] = {"correct": {}, "invalid": {}, "templates": {}, "n_steps": {}, "distractor": {}}
    for ev in (first, second):
        for item_id in ev.correct:
            key = f"{ev.benchmark}:{item_id}"
            merged["correct"][key] = ev.correct[item_id]
            merged["invalid"][key] = ev.invalid[item_id]
            merged["templates"][key] = ev.templates[item_id]
            merged["n_steps"][key] = ev.n_steps[item_id]
            if item_id in ev.distractor:
                merged["distractor"][key] = ev.distractor[item_id]
    return Evaluation(
        model=first.model,
        train_set=first.train_set,
        method=first.method,
        seed=first.seed,
        benchmark=name,
        decoding=first.decoding,
        path=f"{first.path}+{second.path}",
        summary_path=f"{first.summary_path}+{second.summary_path}",
        mask_ratio=first.mask_ratio,
        mask_warmup=first.mask_warmup,
        epochs=first.epochs,
        method_kind=first.method_kind,
        sweep=first.sweep,
        **merged,
    )


def _stable_seed(base: int, *parts: Any) -> int:
    """A bootstrap seed that depends only on ``base`` and the comparison's identity."""
    text = "|".join(str(p) for p in parts)
    return (int(base) + zlib.crc32(text.encode("utf-8"))) % (2**32)


class Study:
    """Evaluations grouped by cell (model, train_set, method, benchmark, decoding) -> seed."""

    def __init__(
        self,
        evaluations: list[Evaluation],
        benchmarks: Mapping[str, str],
        *,
        n_resamples: int,
        confidence: float,
        bootstrap_seed: int,
    ):
        self.evaluations = evaluations
        self.n_resamples, self.confidence, self.bootstrap_seed = (
            n_resamples,
            confidence,
            bootstrap_seed,
        )
        self.role_of = {name: role for role, name in benchmarks.items()}
        self.cells: dict[CellKey, dict[int, Evaluation]] = defaultdict(dict)
        for ev in evaluations:
            self.cells[(ev.model, ev.train_set, ev.method, ev.benchmark, ev.decoding)][ev.seed] = ev
        self.pooled_name = None
        two, many = benchmarks.get("ic_2step"), benchmarks.get("ic_mstep")
        if two and many:
            self.pooled_name = f"{two}+{many}"
            self.role_of[self.pooled_name] = POOLED_ROLE
            for (model, ts, method, bench, dec), seeds in list(self.cells.items()):
                if bench != two:
                    continue
                other = self.cells.get((model, ts, method, many, dec), {})
                for seed, ev in seeds.items():
                    if seed in other:
                        pooled = _pool(ev, other[seed], self.pooled_name)
                        self.cells[(model, ts, method, self.pooled_name, dec)][seed] = pooled
        self.comparison_rows: dict[tuple, dict] = {}
        self._cell_cache: dict[CellKey, dict] = {}

    # names and labels ----------------------------------------------------------------------------
    def benchmark_of(self, role: str) -> str | None:
        """Benchmark name of a role, if any evaluation of it exists."""
        for name, r in self.role_of.items():
            if r == role and any(k[3] == name for k in self.cells):
                return name
        return None

    def label(self, benchmark: str) -> str:
        role = self.role_of.get(benchmark)
        return ROLE_LABELS.get(role, benchmark) if role else benchmark

    def models(self) -> list[str]:
        return sorted({k[0] for k in self.cells})

    def train_sets(self, model: str | None = None) -> list[str]:
        found = {k[1] for k in self.cells if model is None or k[0] == model}
        return sorted(
            found, key=lambda t: (TRAIN_SET_ORDER.index(t) if t in TRAIN_SET_ORDER else 99, t)
        )

    def decodings(self) -> list[str]:
        found = {k[4] for k in self.cells}
        return [d for d in DECODINGS if d in found] + sorted(found - set(DECODINGS))

    def has(self, model, train_set, method, benchmark, decoding) -> bool:
        return bool(self.cells.get((model, train_set, method, benchmark, decoding)))

    # statistics ----------------------------------------------------------------------------------
    def cell_stats(self, key: CellKey) -> dict[str, Any]:
        """Mean/sd over seeds (percent), per-seed accuracies, invalid rate, two-stage bootstrap CI."""
        if key in self._cell_cache:
            return self._cell_cache[key]
        seeds = self.cells.get(key, {})
        if not seeds:
            return {"mean": math.nan, "sd": math.nan, "n_seeds": 0}
        order = sorted(seeds)
        per_seed = [100.0 * seeds[s].accuracy for s in order]
        summary = stats.seed_summary(per_seed)
        ids = sorted(seeds[order[0]].correct)
        matrix = np.array([[seeds[s].correct[i] for i in ids] for s in order], dtype=float)
        clusters = [stats.cluster_label(i, seeds[order[0]].templates.get(i)) for i in ids]
        low, high = stats.bootstrap_mean_ci(
            matrix,
            clusters,
            n_resamples=self.n_resamples,
            seed=_stable_seed(self.bootstrap_seed, "cell", *key),
            confidence=self.confidence,
        )
        summary.update(
            seeds=order,
            per_seed=per_seed,
            ci_low=100.0 * low,
            ci_high=100.0 * high,
            invalid_rate=100.0 * float(np.mean([seeds[s].invalid_rate for s in order])),
            n_items=len(ids),
        )
        self._cell_cache[key] = summary
        return summary

    def compare(
        self,
        model: str,
        benchmark: str,
        decoding: str,
        treatment: tuple[str, str],
        control: tuple[str, str],
    ) -> dict[str, Any] | None:
        """Paired comparison of two arms ((train_set, method) each); None if an arm is absent."""
        key = (model, benchmark, decoding, treatment, control)
        if key in self.comparison_rows:
            return self.comparison_rows[key]
        t_runs = self.cells.get((model, treatment[0], treatment[1], benchmark, decoding), {})
        c_runs = self.cells.get((model, control[0], control[1], benchmark, decoding), {})
        if not t_runs or not c_runs:
            return None
        templates: dict[str, str | None] = {}
        for ev in list(t_runs.values()) + list(c_runs.values()):
            for item_id, template in ev.templates.items():
                if templates.get(item_id) is None:
                    templates[item_id] = template
        paired = stats.pair_items(
            {s: ev.correct for s, ev in t_runs.items()},
            {s: ev.correct for s, ev in c_runs.items()},
            templates,
            labels=(f"{model}/{treatment[0]}/{treatment[1]}", f"{model}/{control[0]}/{control[1]}"),
        )
        result = stats.paired_bootstrap_delta(
            paired.treatment,
            paired.control,
            paired.clusters,
            n_resamples=self.n_resamples,
            seed=_stable_seed(self.bootstrap_seed, "delta", *key),
            confidence=self.confidence,
        )
        mcnemar = stats.mcnemar_per_seed(paired)
        t_summary = stats.seed_summary(paired.treatment.mean(axis=1) * 100.0)
        c_summary = stats.seed_summary(paired.control.mean(axis=1) * 100.0)
        row = {
            "model": model,
            "train_set": treatment[0],
            "treatment": treatment[1],
            "control_train_set": control[0],
            "control": control[1],
            "benchmark": benchmark,
            "benchmark_label": self.label(benchmark),
            "decoding": decoding,
            "treatment_mean": t_summary["mean"],
            "treatment_sd": t_summary["sd"],
            "control_mean": c_summary["mean"],
            "control_sd": c_summary["sd"],
            "delta": 100.0 * result.delta,
            "ci_low": 100.0 * result.ci_low,
            "ci_high": 100.0 * result.ci_high,
            "n_items": result.n_items,
            "n_clusters": result.n_clusters,
            "n_seeds_treatment": result.n_seeds_treatment,
            "n_seeds_control": result.n_seeds_control,
            "mcnemar_p": {int(s): r.p_value for s, r in sorted(mcnemar.items())},
            "mcnemar": {int(s): r.as_dict() for s, r in sorted(mcnemar.items())},
        }
        self.comparison_rows[key] = row
        return row


# --------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(float(value))


def _signed(value: float, digits: int) -> str:
    """``+1.5`` / ``-0.3``; values that round to zero print as ``+0.0`` (never ``-0.0``)."""
    rounded = round(float(value), digits)
    return f"{rounded + 0.0 if rounded != 0 else 0.0:+.{digits}f}"


def format_accuracy(mean: float, sd: float, digits: int = 1) -> str:
    """``"47.1 ± 1.2"`` (no ± for a single seed), ``"–"`` when missing."""
    if not _finite(mean):
        return MISSING
    if not _finite(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def format_delta(delta: float, low: float, high: float, digits: int = 1) -> str:
    """``"+5.5 [+2.1, +8.9]"``, ``"–"`` when missing."""
    if not _finite(delta):
        return MISSING
    return f"{_signed(delta, digits)} [{_signed(low, digits)}, {_signed(high, digits)}]"


def _delta_text(result: Mapping | None) -> str:
    """Formatted delta of a comparison row, ``"–"`` when the comparison is absent."""
    if result is None:
        return MISSING
    return format_delta(result["delta"], result["ci_low"], result["ci_high"])


def format_number(value: Any, digits: int = 1) -> str:
    if not _finite(value):
        return MISSING
    return f"{float(value):.{digits}f}"


def format_p_values(p_values: Mapping[int, float]) -> str:
    """``"0:0.031; 1:0.52"`` (seed:p), ``"–"`` when none."""
    if not p_values:
        return MISSING
    return "; ".join(f"{seed}:{p:.3g}" for seed, p in sorted(p_values.items()))


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "−": r"$-$",
    "–": "--",
    "Δ": r"$\Delta$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map ±, −, –, Δ to math/ASCII forms."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def to_latex(display: pd.DataFrame, caption: str, label: str) -> str:
    """A ``table`` environment of the (string) display frame (needs booktabs and graphicx)."""
    spec = "l" * len(display.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{tab:{label}}}",
        r"\resizebox{\linewidth}{!}{%",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in display.columns) + r" \\",
        r"\midrule",
    ]
    for row in display.itertuples(index=False):
        lines.append(" & ".join(latex_escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(lines)


def to_markdown(display: pd.DataFrame, title: str, notes: Sequence[str] = ()) -> str:
    """``## title``, the notes as paragraphs, then a pipe table of the display frame."""
    parts = [f"## {title}", ""]
    for note in notes:
        parts += [note, ""]
    if display.empty:
        parts += ["_No data for this table in this study._", ""]
    parts.append(display.to_markdown(index=False, disable_numparse=True))
    parts.append("")
    return "\n".join(parts)


def _write_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass
class Table:
    """A numeric frame (CSV, summary.json) and its string rendering (Markdown, LaTeX)."""

    stem: str
    title: str
    numeric: pd.DataFrame
    display: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def write(self, tables_dir: Path) -> list[Path]:
        paths = [tables_dir / f"{self.stem}.{ext}" for ext in ("csv", "md", "tex")]
        _write_text(self.numeric.to_csv(index=False), paths[0])
        _write_text(to_markdown(self.display, self.title, self.notes), paths[1])
        _write_text(to_latex(self.display, self.title, f"cotmask-{self.stem}"), paths[2])
        return paths

    def records(self) -> list[dict]:
        return [
            {k: _json_value(v) for k, v in row.items()}
            for row in self.numeric.to_dict(orient="records")
        ]


def _json_value(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return stats.finite_or_none(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    return frame


# --------------------------------------------------------------------------------------------------
# Paper matching
# --------------------------------------------------------------------------------------------------


def paper_model(model: str, mapping: Mapping[str, str]) -> str | None:
    """Paper base model of one of ours: the first mapping key contained in our (lower-case) name."""
    lowered = model.lower()
    for needle, name in mapping.items():
        if needle.lower() in lowered:
            return name
    return None


def _paper_lookup(rows: Sequence[Mapping], **match: Any) -> Mapping | None:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


# --------------------------------------------------------------------------------------------------
# Table builders
# --------------------------------------------------------------------------------------------------


@dataclass
class Options:
    """The resolved keyword arguments of build_tables."""

    comparisons: list[dict[str, str]]
    main_methods: list[str]
    method_labels: dict[str, str]
    benchmarks: dict[str, str]
    base_train_set: str
    rft_train_set: str
    table5_arms: list[dict[str, str]]
    table3_arms: list[dict[str, Any]]
    fig3: dict[str, Any]
    paper: dict[str, list]
    paper_models: dict[str, str]
    paper_train_sets: dict[str, str]
    paper_train_sets_table2: dict[str, str]

    def method_label(self, method: str) -> str:
        return self.method_labels.get(method, method)

    def comparison_name(self, comparison: Mapping[str, str]) -> tuple[str, str]:
        """(csv key, display label) of a comparison, e.g. ("mft_minus_sft", "MFT - SFT").

        A fixed training set is appended to its arm: ``mft_base_minus_rft_sft``, "MFT (base) - SFT (rft)".
        """
        t, c = comparison["treatment"], comparison["control"]
        t_set, c_set = comparison.get("treatment_train_set"), comparison.get("control_train_set")
        key = t + (f"_{t_set}" if t_set else "") + "_minus_" + (f"{c_set}_" if c_set else "") + c
        label = self.method_label(t) + (f" ({t_set})" if t_set else "")
        label += " - " + self.method_label(c) + (f" ({c_set})" if c_set else "")
        return key, label


def _arms_of(
    comparison: Mapping[str, str], train_set: str
) -> tuple[tuple[str, str], tuple[str, str]]:
    treatment = (comparison.get("treatment_train_set") or train_set, comparison["treatment"])
    control = (comparison.get("control_train_set") or train_set, comparison["control"])
    return treatment, control


def build_comparisons(study: Study, opts: Options) -> None:
    """Run every configured comparison for every (model, train_set, benchmark, decoding) present."""
    benchmarks = sorted({k[3] for k in study.cells})
    for model in study.models():
        for train_set in study.train_sets(model):
            for comparison in opts.comparisons:
                fixed = comparison.get("treatment_train_set")
                if fixed and fixed != train_set:
                    continue
                treatment, control = _arms_of(comparison, train_set)
                for benchmark in benchmarks:
                    for decoding in study.decodings():
                        study.compare(model, benchmark, decoding, treatment, control)


def _method_columns(prefix: str, method: str, cell: Mapping) -> dict[str, Any]:
    return {
        f"{prefix}{method}_mean": cell["mean"],
        f"{prefix}{method}_sd": cell["sd"],
        f"{prefix}{method}_n_seeds": cell["n_seeds"],
    }


def _delta_columns(prefix: str, key: str, row: Mapping | None) -> dict[str, Any]:
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


def _seed_count_text(counts: Sequence[int]) -> str:
    present = sorted({c for c in counts if c})
    if not present:
        return MISSING
    return str(present[0]) if len(present) == 1 else f"{present[0]}-{present[-1]}"


def build_table1(study: Study, opts: Options) -> Table:
    """Table 1 counterpart: rows (model, train_set, decoding); GSM8K and MATH column groups."""
    roles = [r for r in ("gsm", "math") if study.benchmark_of(r)]
    methods = [m for m in opts.main_methods if any(k[2] == m for k in study.cells)]
    simple = [
        c
        for c in opts.comparisons
        if not c.get("treatment_train_set") and not c.get("control_train_set")
    ]
    columns = ["model", "train_set", "decoding", "paper_model", "paper_train_set"]
    for role in roles:
        for method in methods:
            columns += list(_method_columns(f"{role}_", method, {"mean": 0, "sd": 0, "n_seeds": 0}))
        for comparison in simple:
            columns += list(_delta_columns(f"{role}_", opts.comparison_name(comparison)[0], None))
        columns += [f"{role}_paper_sft", f"{role}_paper_mft"]
    rows, display_rows = [], []
    for model in study.models():
        p_model = paper_model(model, opts.paper_models)
        for train_set in study.train_sets(model):
            if not any(
                study.has(model, train_set, m, b, d)
                for m in methods
                for b in [study.benchmark_of(r) for r in roles]
                for d in study.decodings()
            ):
                continue
            p_train = opts.paper_train_sets.get(train_set)
            for decoding in study.decodings():
                row = {
                    "model": model,
                    "train_set": train_set,
                    "decoding": decoding,
                    "paper_model": p_model,
                    "paper_train_set": p_train,
                }
                shown = {"Model": model, "Train set": train_set, "Decoding": decoding}
                seed_counts = []
                any_data = False
                for role in roles:
                    bench = study.benchmark_of(role)
                    label = ROLE_LABELS[role]
                    for method in methods:
                        cell = study.cell_stats((model, train_set, method, bench, decoding))
                        any_data |= cell["n_seeds"] > 0
                        seed_counts.append(cell["n_seeds"])
                        row.update(_method_columns(f"{role}_", method, cell))
                        shown[f"{label} {opts.method_label(method)}"] = format_accuracy(
                            cell["mean"], cell["sd"]
                        )
                    for comparison in simple:
                        key, name = opts.comparison_name(comparison)
                        treatment, control = _arms_of(comparison, train_set)
                        result = study.compare(model, bench, decoding, treatment, control)
                        row.update(_delta_columns(f"{role}_", key, result))
                        shown[f"{label} {name}"] = _delta_text(result)
                    ref = _paper_lookup(
                        opts.paper.get("table1", []),
                        model=p_model,
                        train_set=p_train,
                        benchmark=role,
                    )
                    row[f"{role}_paper_sft"] = ref.get("sft", math.nan) if ref else math.nan
                    row[f"{role}_paper_mft"] = ref.get("mft", math.nan) if ref else math.nan
                    shown[f"{label} paper SFT"] = format_number(row[f"{role}_paper_sft"])
                    shown[f"{label} paper MFT"] = format_number(row[f"{role}_paper_mft"])
                if not any_data:
                    continue
                shown["Seeds"] = _seed_count_text(seed_counts)
                rows.append(row)
                display_rows.append(shown)
    display_columns = ["Model", "Train set", "Decoding"]
    for role in roles:
        label = ROLE_LABELS[role]
        display_columns += [f"{label} {opts.method_label(m)}" for m in methods]
        display_columns += [f"{label} {opts.comparison_name(c)[1]}" for c in simple]
        display_columns += [f"{label} paper SFT", f"{label} paper MFT"]
    display_columns.append("Seeds")
    notes = [
        "Accuracy (%) as mean ± sd over seeds; deltas in percentage points with a paired two-stage "
        f"bootstrap {round(100 * study.confidence)}% CI (seeds, then item clusters). Paper numbers "
        "(Llama2-7B / Mistral-7B, 3-seed means) are matched by model shape and training set.",
    ]
    return Table(
        "table1_main",
        "Table 1 counterpart: MFT vs SFT",
        _frame(rows, columns),
        _frame(display_rows, display_columns),
        notes,
    )


def build_table2(study: Study, opts: Options) -> Table:
    """Table 2 counterpart: base vs RFT training sets on the GSM test, SFT / MFT (+ MFT(base) - SFT(rft))."""
    bench = study.benchmark_of("gsm")
    methods = [m for m in opts.main_methods if any(k[2] == m for k in study.cells)]
    simple = [
        c
        for c in opts.comparisons
        if not c.get("treatment_train_set") and not c.get("control_train_set")
    ]
    cross = {
        "treatment": "mft",
        "control": "sft",
        "treatment_train_set": opts.base_train_set,
        "control_train_set": opts.rft_train_set,
    }
    cross_key, cross_label = opts.comparison_name(cross)
    columns = ["model", "train_set", "decoding", "paper_model", "paper_train_set"]
    for method in methods:
        columns += list(_method_columns("", method, {"mean": 0, "sd": 0, "n_seeds": 0}))
    for comparison in simple:
        columns += list(_delta_columns("", opts.comparison_name(comparison)[0], None))
    columns += list(_delta_columns("", cross_key, None)) + ["paper_sft", "paper_mft"]
    display_columns = ["Model", "Train set", "Decoding"] + [opts.method_label(m) for m in methods]
    display_columns += [opts.comparison_name(c)[1] for c in simple] + [
        cross_label,
        "Paper SFT",
        "Paper MFT",
        "Seeds",
    ]
    rows, display_rows = [], []
    if bench:
        for model in study.models():
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
                    p_train = opts.paper_train_sets_table2.get(train_set)
                    row = {
                        "model": model,
                        "train_set": train_set,
                        "decoding": decoding,
                        "paper_model": p_model,
                        "paper_train_set": p_train,
                    }
                    shown = {"Model": model, "Train set": train_set, "Decoding": decoding}
                    for method, cell in cells.items():
                        row.update(_method_columns("", method, cell))
                        shown[opts.method_label(method)] = format_accuracy(cell["mean"], cell["sd"])
                    for comparison in simple:
                        key, name = opts.comparison_name(comparison)
                        result = study.compare(
                            model, bench, decoding, *_arms_of(comparison, train_set)
                        )
                        row.update(_delta_columns("", key, result))
                        shown[name] = _delta_text(result)
                    result = None
                    if train_set == opts.base_train_set:
                        result = study.compare(model, bench, decoding, *_arms_of(cross, train_set))
                    row.update(_delta_columns("", cross_key, result))
                    shown[cross_label] = _delta_text(result)
                    ref = _paper_lookup(
                        opts.paper.get("table2", []), model=p_model, train_set=p_train
                    )
                    row["paper_sft"] = ref.get("sft", math.nan) if ref else math.nan
                    row["paper_mft"] = ref.get("mft", math.nan) if ref else math.nan
                    shown["Paper SFT"], shown["Paper MFT"] = format_number(
                        row["paper_sft"]
                    ), format_number(row["paper_mft"])
                    shown["Seeds"] = _seed_count_text([c["n_seeds"] for c in cells.values()])
                    rows.append(row)
                    display_rows.append(shown)
    notes = [
        f"GSM8K-style test only. Rows: the base training set ({opts.base_train_set}) and the self-sampled "
        f"RFT set ({opts.rft_train_set}); the paper's Table 2 uses GSM8K-RFT-100. "
        f"'{cross_label}' tests the paper's claim that MFT on the small set matches SFT on RFT data.",
    ]
    if not rows:
        notes.append(f"No runs on the '{opts.rft_train_set}' training set in this study.")
    return Table(
        "table2_rft",
        "Table 2 counterpart: RFT vs MFT",
        _frame(rows, columns),
        _frame(display_rows, display_columns),
        notes,
    )


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


def build_table5(study: Study, opts: Options) -> Table:
    """Table 5 counterpart: GSM test vs GSM-IC 2-step, m-step and pooled; deltas against the SFT arm."""
    roles = [r for r in ("gsm", "ic_2step", "ic_mstep", POOLED_ROLE) if study.benchmark_of(r)]
    arms = opts.table5_arms
    reference = arms[0] if arms else None
    columns = ["model", "decoding", "arm", "train_set", "method", "paper_model", "paper_method"]
    for role in roles:
        columns += [
            f"{role}_mean",
            f"{role}_sd",
            f"{role}_n_seeds",
            f"{role}_delta",
            f"{role}_ci_low",
            f"{role}_ci_high",
        ]
    columns += ["paper_gsm", "paper_gsm_ic"]
    display_columns = ["Model", "Decoding", "Arm"]
    for role in roles:
        display_columns += [
            ROLE_LABELS[role],
            f"{ROLE_LABELS[role]} Δ vs {reference['label'] if reference else 'SFT'}",
        ]
    display_columns += ["Paper GSM8K", "Paper GSM-IC", "Seeds"]
    rows, display_rows = [], []
    has_ic = any(study.benchmark_of(r) for r in ("ic_2step", "ic_mstep"))
    if reference and has_ic:
        for model in study.models():
            p_model = paper_model(model, opts.paper_models)
            for decoding in study.decodings():
                for arm in arms:
                    cells = _arm_cells(study, model, arm["train_set"], arm, roles, decoding)
                    if not any(c["n_seeds"] for c in cells.values()):
                        continue
                    row = _arm_row(model, decoding, arm, arm["train_set"], p_model)
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
                        row.update(
                            {
                                f"{role}_mean": cell["mean"],
                                f"{role}_sd": cell["sd"],
                                f"{role}_n_seeds": cell["n_seeds"],
                            }
                        )
                        delta = _delta_columns(f"{role}_", "delta", result)
                        row[f"{role}_delta"] = delta[f"{role}_delta"]
                        row[f"{role}_ci_low"] = delta[f"{role}_delta_ci_low"]
                        row[f"{role}_ci_high"] = delta[f"{role}_delta_ci_high"]
                        shown[ROLE_LABELS[role]] = format_accuracy(cell["mean"], cell["sd"])
                        label = f"{ROLE_LABELS[role]} Δ vs {reference['label']}"
                        shown[label] = _delta_text(result)
                    ref = _paper_lookup(
                        opts.paper.get("table5", []), model=p_model, method=arm.get("paper_method")
                    )
                    row["paper_gsm"] = ref.get("gsm", math.nan) if ref else math.nan
                    row["paper_gsm_ic"] = ref.get("gsm_ic", math.nan) if ref else math.nan
                    shown["Paper GSM8K"] = format_number(row["paper_gsm"])
                    shown["Paper GSM-IC"] = format_number(row["paper_gsm_ic"])
                    shown["Seeds"] = _seed_count_text([c["n_seeds"] for c in cells.values()])
                    rows.append(row)
                    display_rows.append(shown)
    notes = [
        "Accuracy (%) as mean ± sd over seeds; Δ against the first arm with a paired two-stage bootstrap CI. "
        "The pooled column concatenates the items of both GSM-IC splits. The paper (v1) does not say which "
        "GSM-IC split(s) its single column uses; its number is shown beside ours for orientation only.",
    ]
    if not rows:
        notes.append("No GSM-IC evaluations in this study.")
    return Table(
        "table5_distractors",
        "Table 5 counterpart: robustness to distractors (GSM-IC)",
        _frame(rows, columns),
        _frame(display_rows, display_columns),
        notes,
    )


def build_table3(study: Study, opts: Options) -> Table:
    """Table 3 counterpart: MFT against the other regularisers on the base training set.

    One row per (model, decoding, arm) with runs; columns: GSM8K-style accuracy and, when the study has
    GSM-IC, the pooled GSM-IC accuracy, each with a delta (paired bootstrap CI) against every control arm.
    """
    roles = [r for r in ("gsm", POOLED_ROLE) if study.benchmark_of(r)]
    arms = opts.table3_arms
    controls = [arm for arm in arms if arm.get("control")]
    train_set = opts.base_train_set
    columns = ["model", "decoding", "arm", "train_set", "method", "paper_model", "paper_method"]
    display_columns = ["Model", "Decoding", "Arm"]
    for role in roles:
        columns += [f"{role}_mean", f"{role}_sd", f"{role}_n_seeds"]
        display_columns.append(ROLE_LABELS[role])
        for control in controls:
            columns += list(_delta_columns(f"{role}_", f"minus_{control['method']}", None))
            display_columns.append(f"{ROLE_LABELS[role]} Δ vs {control['label']}")
    columns.append("paper_gsm")
    display_columns += ["Paper GSM8K", "Seeds"]
    rows, display_rows = [], []
    for model in study.models():
        p_model = paper_model(model, opts.paper_models)
        for decoding in study.decodings():
            for arm in arms:
                cells = _arm_cells(study, model, train_set, arm, roles, decoding)
                if not any(c["n_seeds"] for c in cells.values()):
                    continue
                row = _arm_row(model, decoding, arm, train_set, p_model)
                shown = {"Model": model, "Decoding": decoding, "Arm": arm["label"]}
                for role, cell in cells.items():
                    row.update(
                        {
                            f"{role}_mean": cell["mean"],
                            f"{role}_sd": cell["sd"],
                            f"{role}_n_seeds": cell["n_seeds"],
                        }
                    )
                    shown[ROLE_LABELS[role]] = format_accuracy(cell["mean"], cell["sd"])
                    for control in controls:
                        result = None
                        if arms.index(control) < arms.index(arm):  # a control only against later arms
                            result = study.compare(
                                model,
                                study.benchmark_of(role),
                                decoding,
                                (train_set, arm["method"]),
                                (train_set, control["method"]),
                            )
                        row.update(_delta_columns(f"{role}_", f"minus_{control['method']}", result))
                        shown[f"{ROLE_LABELS[role]} Δ vs {control['label']}"] = _delta_text(result)
                ref = _paper_lookup(
                    opts.paper.get("table3", []), model=p_model, method=arm.get("paper_method")
                )
                row["paper_gsm"] = ref.get("gsm", math.nan) if ref else math.nan
                shown["Paper GSM8K"] = format_number(row["paper_gsm"])
                shown["Seeds"] = _seed_count_text([c["n_seeds"] for c in cells.values()])
                rows.append(row)
                display_rows.append(shown)
    notes = [
        f"Training set {train_set!r}. Accuracy (%) as mean ± sd over seeds; Δ against each control arm "
        "with a paired two-stage bootstrap CI. The paper's Table 3 (Llama-2-7B, GSM8K) has no GSM-IC "
        "column and no equal-compute control; its numbers are shown for the matching row.",
    ]
    absent = [arm["label"] for arm in arms if arm["method"] not in {row["method"] for row in rows}]
    if absent:
        notes.append("Arms without runs in this study: " + "; ".join(absent) + ".")
    return Table(
        "table3_regularisers",
        "Table 3 counterpart: MFT vs other regularisers",
        _frame(rows, columns),
        _frame(display_rows, display_columns),
        notes,
    )


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


def build_comparison_table(study: Study, opts: Options) -> tuple[Table, list[dict]]:
    """Every comparison computed (configured ones and those of Tables 2 and 5), one row each."""
    full = sorted(
        study.comparison_rows.values(),
        key=lambda r: (
            r["model"],
            r["train_set"],
            r["benchmark"],
            r["decoding"],
            r["treatment"],
            r["control_train_set"],
            r["control"],
        ),
    )
    rows = [
        {
            **{k: r[k] for k in COMPARISON_COLUMNS if k != "mcnemar_p"},
            "mcnemar_p": format_p_values(r["mcnemar_p"]),
        }
        for r in full
    ]
    display_rows = [
        {
            "Model": r["model"],
            "Treatment": f"{opts.method_label(r['treatment'])} ({r['train_set']})",
            "Control": f"{opts.method_label(r['control'])} ({r['control_train_set']})",
            "Benchmark": r["benchmark_label"],
            "Decoding": r["decoding"],
            "Treatment acc.": format_accuracy(r["treatment_mean"], r["treatment_sd"]),
            "Control acc.": format_accuracy(r["control_mean"], r["control_sd"]),
            "Delta [CI]": format_delta(r["delta"], r["ci_low"], r["ci_high"]),
            "McNemar p (seed:p)": format_p_values(r["mcnemar_p"]),
            "Items": str(r["n_items"]),
            "Clusters": str(r["n_clusters"]),
            "Seeds": f"{r['n_seeds_treatment']}/{r['n_seeds_control']}",
        }
        for r in full
    ]
    display_columns = [
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
    notes = [
        "Delta = treatment − control accuracy (percentage points); CI: paired two-stage bootstrap "
        f"({study.n_resamples} resamples; seeds resampled per arm, item clusters shared by both arms). "
        "McNemar: per seed present in both arms (exact binomial when fewer than "
        f"{stats.MCNEMAR_EXACT_BELOW} discordant pairs, else chi-square with continuity correction).",
    ]
    table = Table(
        "comparisons",
        "All paired comparisons",
        _frame(rows, COMPARISON_COLUMNS),
        _frame(display_rows, display_columns),
        notes,
    )
    return table, full


CELL_COLUMNS = [
    "model",
    "train_set",
    "method",
    "method_kind",
    "sweep",
    "mask_ratio",
    "mask_warmup",
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


def build_cells(study: Study, opts: Options) -> Table:
    """Every (model, train_set, method, benchmark, decoding) cell: seed statistics and bootstrap CI."""
    rows, display_rows = [], []
    for key in sorted(study.cells, key=lambda k: (k[0], k[1], k[2], k[3], k[4])):
        cell = study.cell_stats(key)
        first = study.cells[key][cell["seeds"][0]]
        rows.append(
            {
                "model": key[0],
                "train_set": key[1],
                "method": key[2],
                "method_kind": first.method_kind,
                "sweep": first.sweep,
                "mask_ratio": first.mask_ratio,
                "mask_warmup": first.mask_warmup,
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
        )
        display_rows.append(
            {
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
        )
    display_columns = [
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
    notes = [
        "Every evaluated cell. Accuracy: mean ± sd over seeds (%); CI: two-stage bootstrap of the mean."
    ]
    return Table(
        "accuracy_cells",
        "Accuracy of every cell",
        _frame(rows, CELL_COLUMNS),
        _frame(display_rows, display_columns),
        notes,
    )


FIG3_COLUMNS = [
    "model",
    "train_set",
    "benchmark",
    "benchmark_label",
    "decoding",
    "setting",
    "method",
    "mask_ratio",
    "mask_warmup",
    "mean",
    "sd",
    "n_seeds",
    "ci_low",
    "ci_high",
]


def build_fig3(study: Study, opts: Options) -> Table:
    """Fig. 3 data: accuracy vs mask ratio, with ('warmup') and without ('no_warmup') warm-up, + references."""
    include = set(opts.fig3.get("include_methods") or [])
    references = list(opts.fig3.get("reference_methods") or [])
    points: dict[tuple, list] = defaultdict(list)
    for key, seeds in study.cells.items():
        first = next(iter(seeds.values()))
        if not (first.sweep or key[2] in include) or first.mask_ratio is None:
            continue
        setting = "warmup" if (first.mask_warmup or 0) > 0 else "no_warmup"
        points[(key[0], key[1], key[3], key[4])].append((setting, key))
    rows = []
    for group in sorted(points):
        model, train_set, bench, decoding = group

        def order(point: tuple[str, CellKey]) -> tuple:
            setting, key = point
            return (setting, next(iter(study.cells[key].values())).mask_ratio, key[2])

        for setting, key in sorted(points[group], key=order):
            first = next(iter(study.cells[key].values()))
            cell = study.cell_stats(key)
            rows.append(
                {
                    "model": model,
                    "train_set": train_set,
                    "benchmark": bench,
                    "benchmark_label": study.label(bench),
                    "decoding": decoding,
                    "setting": setting,
                    "method": key[2],
                    "mask_ratio": first.mask_ratio,
                    "mask_warmup": first.mask_warmup,
                    "mean": cell["mean"],
                    "sd": cell["sd"],
                    "n_seeds": cell["n_seeds"],
                    "ci_low": cell["ci_low"],
                    "ci_high": cell["ci_high"],
                }
            )
        for method in references:
            key = (model, train_set, method, bench, decoding)
            if study.has(*key):
                cell = study.cell_stats(key)
                rows.append(
                    {
                        "model": model,
                        "train_set": train_set,
                        "benchmark": bench,
                        "benchmark_label": study.label(bench),
                        "decoding": decoding,
                        "setting": "reference",
                        "method": method,
                        "mask_ratio": math.nan,
                        "mask_warmup": math.nan,
                        "mean": cell["mean"],
                        "sd": cell["sd"],
                        "n_seeds": cell["n_seeds"],
                        "ci_low": cell["ci_low"],
                        "ci_high": cell["ci_high"],
                    }
                )
    display_rows = [
        {
            "Model": r["model"],
            "Train set": r["train_set"],
            "Benchmark": r["benchmark_label"],
            "Decoding": r["decoding"],
            "Setting": r["setting"],
            "Method": opts.method_label(r["method"]),
            "Mask ratio": format_number(r["mask_ratio"], 2),
            "Warm-up": format_number(r["mask_warmup"], 2),
            "Accuracy": format_accuracy(r["mean"], r["sd"]),
            "Seeds": str(r["n_seeds"]),
        }
        for r in rows
    ]
    display_columns = [
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
    notes = [
        "Final accuracy (%) of the mask-ratio sweep, mean ± sd over seeds; 'reference' rows are SFT arms."
    ]
    if not rows:
        notes.append("No mask-ratio sweep runs in this study.")
    return Table(
        "fig3_mask_ratio",
        "Fig. 3 counterpart: mask ratio and warm-up",
        _frame(rows, FIG3_COLUMNS),
        _frame(display_rows, display_columns),
        notes,
    )


# Numeric columns of the subgroup tables: the cell, the subgroup's own columns, then its accuracy.
_SUBGROUP_CELL = ["model", "train_set", "method", "benchmark", "benchmark_label", "decoding"]
_SUBGROUP_ACCURACY = ["n_items", "mean", "sd", "n_seeds"]
STEPS_COLUMNS = [*_SUBGROUP_CELL, "n_steps", *_SUBGROUP_ACCURACY]


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
            per_seed = [100.0 * float(np.mean([seeds[s].correct[i] for i in ids])) for s in sorted(seeds)]
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


def _items_by_steps(ev: Evaluation) -> dict[tuple, list[str]]:
    groups: dict[tuple, list[str]] = defaultdict(list)
    for item_id, steps in ev.n_steps.items():
        if steps is not None:
            groups[(steps,)].append(item_id)
    return {group: groups[group] for group in sorted(groups)}


def _items_by_distractor(ev: Evaluation) -> dict[tuple, list[str]]:
    groups: dict[tuple, list[str]] = defaultdict(list)
    for item_id, factors in ev.distractor.items():
        for factor, value in factors.items():
            groups[(factor, value)].append(item_id)
    order = sorted(groups, key=lambda fv: (DISTRACTOR_FACTORS.index(fv[0]), fv[1]))
    return {group: groups[group] for group in order}


def _subgroup_display(rows: list[dict], opts: Options, group_columns: dict[str, str]) -> tuple[list[dict], list[str]]:
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
    columns = ["Model", "Train set", "Method", "Benchmark", "Decoding", *group_columns, "Items", "Accuracy", "Seeds"]
    return display_rows, columns


def build_by_steps(study: Study, opts: Options) -> Table:
    """Fig. 15 counterpart: accuracy by gold-solution step count (metadata.n_steps), main methods."""
    rows = _subgroup_rows(study, opts, _items_by_steps, lambda group: {"n_steps": group[0]})
    display_rows, display_columns = _subgroup_display(rows, opts, {"Steps": "n_steps"})
    notes = [
        "Accuracy (%) by the number of reasoning steps of the gold solution (metadata.n_steps)."
    ]
    return Table(
        "accuracy_by_steps",
        "Accuracy by solution length (Fig. 15 counterpart)",
        _frame(rows, STEPS_COLUMNS),
        _frame(display_rows, display_columns),
        notes,
    )


DISTRACTOR_COLUMNS = [*_SUBGROUP_CELL, "factor", "value", *_SUBGROUP_ACCURACY]


def build_by_distractor(study: Study, opts: Options) -> Table:
    """GSM-IC's breakdown: accuracy by distractor topic, role and number range (item metadata), per
    distractor benchmark and main method; the pooled GSM-IC cell is left out (its splits are listed)."""
    rows = _subgroup_rows(
        study,
        opts,
        _items_by_distractor,
        lambda group: {"factor": group[0].removeprefix("distractor_"), "value": group[1]},
    )
    display_rows, columns = _subgroup_display(rows, opts, {"Factor": "factor", "Value": "value"})
    notes = [
        "Accuracy (%) on the distractor sets by the inserted sentence's topic (in_topic/off_topic), role "
        "(overlapped/nonoverlapped: names a person or item of the question or not) and number range "
        "(in_range/out_range), as GSM-IC reports them; from each item's metadata.distractor_* fields."
    ]
    return Table(
        "accuracy_by_distractor",
        "Accuracy by distractor type (GSM-IC breakdown)",
        _frame(rows, DISTRACTOR_COLUMNS),
        _frame(display_rows, columns),
        notes,
    )


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def _resolve_options(
    comparisons,
    main_methods,
    method_labels,
    benchmarks,
    base_train_set,
    rft_train_set,
    table5_arms,
    table3_arms,
    fig3,
    paper,
    paper_models,
    paper_train_sets,
    paper_train_sets_table2,
) -> Options:
    comparisons = [dict(c) for c in (DEFAULT_COMPARISONS if comparisons is None else comparisons)]
    for number, comparison in enumerate(comparisons):
        for key in ("treatment", "control"):
            if not isinstance(comparison.get(key), str) or not comparison[key]:
                raise TableInputError(
                    f"comparisons[{number}]: key {key!r} is missing or not a string"
                )
        unknown = set(comparison) - {
            "treatment",
            "control",
            "treatment_train_set",
            "control_train_set",
        }
        if unknown:
            raise TableInputError(f"comparisons[{number}]: unknown keys {sorted(unknown)}")
    fig3_spec = {**DEFAULT_FIG3, **(fig3 or {})}
    unknown = set(fig3_spec) - set(DEFAULT_FIG3)
    if unknown:
        raise TableInputError(
            f"fig3: unknown keys {sorted(unknown)} (known: {sorted(DEFAULT_FIG3)})"
        )
    if table5_arms is None:
        table5_arms = [
            {"label": "SFT", "train_set": base_train_set, "method": "sft", "paper_method": "SFT"},
            {
                "label": "SFT-long",
                "train_set": base_train_set,
                "method": "sft_long",
                "paper_method": None,
            },
            {
                "label": "RFT",
                "train_set": rft_train_set,
                "method": "sft",
                "paper_method": "RFT-100",
            },
            {"label": "MFT", "train_set": base_train_set, "method": "mft", "paper_method": "MFT"},
        ]
    for number, arm in enumerate(table5_arms):
        for key in ("label", "train_set", "method"):
            if not isinstance(arm.get(key), str) or not arm[key]:
                raise TableInputError(
                    f"table5_arms[{number}]: key {key!r} is missing or not a string"
                )
    if table3_arms is None:
        table3_arms = DEFAULT_TABLE3_ARMS
    table3_arms = [dict(a) for a in table3_arms]
    paper_rows = (PAPER_REFERENCE if paper is None else paper).get("table3", [])
    known_rows = {row.get("method") for row in paper_rows}
    for number, arm in enumerate(table3_arms):
        for key in ("label", "method"):
            if not isinstance(arm.get(key), str) or not arm[key]:
                raise TableInputError(
                    f"table3_arms[{number}]: key {key!r} is missing or not a string"
                )
        unknown = set(arm) - {"label", "method", "paper_method", "control"}
        if unknown:
            raise TableInputError(f"table3_arms[{number}]: unknown keys {sorted(unknown)}")
        if not isinstance(arm.get("control", False), bool):
            raise TableInputError(f"table3_arms[{number}]: 'control' must be true or false")
        if arm.get("paper_method") is not None and arm["paper_method"] not in known_rows:
            raise TableInputError(
                f"table3_arms[{number}].paper_method: no paper row {arm['paper_method']!r} "
                f"(rows: {', '.join(sorted(map(str, known_rows)))})"
            )
    if table3_arms and not any(arm.get("control") for arm in table3_arms):
        raise TableInputError("table3_arms: no arm is marked 'control: true' (the deltas' reference)")
    return Options(
        comparisons=comparisons,
        main_methods=list(main_methods),
        method_labels={**DEFAULT_METHOD_LABELS, **(method_labels or {})},
        benchmarks=dict(DEFAULT_BENCHMARKS if benchmarks is None else benchmarks),
        base_train_set=base_train_set,
        rft_train_set=rft_train_set,
        table5_arms=[dict(a) for a in table5_arms],
        table3_arms=table3_arms,
        fig3=fig3_spec,
        paper=dict(PAPER_REFERENCE if paper is None else paper),
        paper_models=dict(DEFAULT_PAPER_MODELS if paper_models is None else paper_models),
        paper_train_sets=dict(
            DEFAULT_PAPER_TRAIN_SETS if paper_train_sets is None else paper_train_sets
        ),
        paper_train_sets_table2=dict(
            DEFAULT_PAPER_TRAIN_SETS_TABLE2
            if paper_train_sets_table2 is None
            else paper_train_sets_table2
        ),
    )


def _input_summary(evaluations: list[Evaluation]) -> dict[str, Any]:
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


def build_tables(
    index: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    *,
    comparisons: Sequence[Mapping[str, str]] | None = None,
    main_methods: Sequence[str] = DEFAULT_MAIN_METHODS,
    method_labels: Mapping[str, str] | None = None,
    benchmarks: Mapping[str, str] | None = None,
    base_train_set: str = "base",
    rft_train_set: str = "rft",
    table5_arms: Sequence[Mapping[str, str]] | None = None,
    table3_arms: Sequence[Mapping[str, Any]] | None = None,
    fig3: Mapping[str, Any] | None = None,
    paper: Mapping[str, list] | None = None,
    paper_models: Mapping[str, str] | None = None,
    paper_train_sets: Mapping[str, str] | None = None,
    paper_train_sets_table2: Mapping[str, str] | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    bootstrap_seed: int = 0,
    cluster_by: str | None = "template",
    figures: bool = True,
) -> dict[str, Any]:
    """Aggregate all evaluations into tables, Fig. 3 data, figures and ``summary.json`` under ``out_dir``.

    Writes ``out_dir/tables/{stem}.csv|md|tex`` for every stem of :data:`TABLE_STEMS`,
    ``out_dir/figures/{name}.png`` for :data:`FIGURE_NAMES` (unless ``figures=False``) and
    ``out_dir/summary.json``; :func:`output_paths` lists them. Files are always all written (a table
    without data has a header and a note), so the rule's outputs do not depend on the data.

    Args:
        index: one mapping per evaluation with keys ``model, train_set, method, seed, benchmark,
            decoding`` ("plain"|"calc"), ``path`` (per-item JSONL), ``summary`` (summary JSON) and
            optional ``mask_ratio, mask_warmup, epochs, method_kind, sweep``. Validated in full
            (keys, duplicates, files exist, files parse, item sets agree per benchmark) before any
            statistics; errors name the entry or the file.
        comparisons: paired comparisons run within every (model, train_set) for every benchmark and
            decoding, each ``{"treatment": method, "control": method}``; optional
            ``treatment_train_set`` / ``control_train_set`` fix an arm's training set (cross-set
            comparison, run only for that treatment training set). Default: MFT vs SFT and MFT vs
            SFT-long (:data:`DEFAULT_COMPARISONS`). Table 1 shows the comparisons without train-set keys.
        main_methods: the method columns of Tables 1 and 2 and of ``main_results.png`` (in order).
        method_labels: display names of methods (merged over :data:`DEFAULT_METHOD_LABELS`).
        benchmarks: role -> benchmark name, roles ``gsm`` (Table 1 "GSM8K"), ``math`` (Table 1 "MATH"),
            ``ic_2step`` and ``ic_mstep`` (Table 5; both present -> pooled pseudo-benchmark
            ``"{ic_2step}+{ic_mstep}"``). Default :data:`DEFAULT_BENCHMARKS`. Benchmarks of the index
            without a role still get cells and comparisons.
        base_train_set, rft_train_set: the small GSM training set and its RFT augmentation (Tables 2, 5).
        table5_arms: rows of Table 5, each ``{"label", "train_set", "method", "paper_method"}``; the
            first is the reference of the deltas. Default: SFT, SFT-long, RFT (= sft on rft_train_set), MFT.
        table3_arms: rows of Table 3 (MFT against the other regularisers, on ``base_train_set``), each
            ``{"label", "method", "paper_method", "control"}``; every arm with ``control: true`` gets a
            delta column (paired bootstrap CI), filled for the arms listed after it. Default :data:`DEFAULT_TABLE3_ARMS`
            (SFT and SFT-long as controls, MFT); arms without runs are left out.
        fig3: sweep spec merged over :data:`DEFAULT_FIG3`: ``benchmark`` (role or name) and ``decoding``
            of the plot, ``reference_methods`` (SFT lines), ``include_methods`` (non-sweep methods
            added to the curves). Sweep points are index entries with ``sweep: true`` and a
            ``mask_ratio``; ``mask_warmup > 0`` puts a point on the warm-up curve.
        paper: reference numbers ``{"table1": [...], "table2": [...], "table3": [...], "table5": [...]}`` in the format
            of :data:`PAPER_REFERENCE` (the default); ``{}`` leaves the paper columns empty.
        paper_models: substring of our model name -> paper model (:data:`DEFAULT_PAPER_MODELS`).
        paper_train_sets, paper_train_sets_table2: our train_set -> paper training set for Table 1 and
            for Table 2 / the RFT arm (:data:`DEFAULT_PAPER_TRAIN_SETS`, ``..._TABLE2``).
        n_resamples, confidence, bootstrap_seed: the bootstrap (each comparison's generator is seeded
            from ``bootstrap_seed`` and the comparison's identity, so results do not depend on order).
        cluster_by: the per-item metadata key whose value is the bootstrap cluster (default
            ``template``); items without it, or all items when None, are their own cluster.
        figures: also draw the PNG figures.

    Returns:
        the content of ``summary.json`` (tables as row lists, settings, inputs and their counts).
    """
    opts = _resolve_options(
        comparisons,
        main_methods,
        method_labels,
        benchmarks,
        base_train_set,
        rft_train_set,
        table5_arms,
        table3_arms,
        fig3,
        paper,
        paper_models,
        paper_train_sets,
        paper_train_sets_table2,
    )
    if n_resamples < 1:
        raise TableInputError(f"n_resamples must be positive, got {n_resamples}")
    evaluations = load_evaluations(index, cluster_by)
    study = Study(
        evaluations,
        opts.benchmarks,
        n_resamples=n_resamples,
        confidence=confidence,
        bootstrap_seed=bootstrap_seed,
    )
    build_comparisons(study, opts)
    tables = [
        build_table1(study, opts),
        build_table2(study, opts),
        build_table5(study, opts),
        build_table3(study, opts),
    ]
    cells = build_cells(study, opts)
    fig3_table = build_fig3(study, opts)
    steps_table = build_by_steps(study, opts)
    distractor_table = build_by_distractor(study, opts)
    comparison_table, comparison_rows = build_comparison_table(study, opts)
    tables += [comparison_table, cells, fig3_table, steps_table, distractor_table]

    out = Path(out_dir)
    written = []
    for table in tables:
        written += table.write(out / "tables")
    if figures:
        from cotmask import plots

        written += plots.draw_all(
            cells.numeric,
            fig3_table.numeric,
            steps_table.numeric,
            out / "figures",
            benchmarks=opts.benchmarks,
            main_methods=opts.main_methods,
            method_labels=opts.method_labels,
            fig3_spec=opts.fig3,
        )
    summary = {
        "numerics_version": NUMERICS_VERSION,
        "settings": {
            "n_resamples": n_resamples,
            "confidence": confidence,
            "bootstrap_seed": bootstrap_seed,
            "cluster_by": cluster_by,
            "comparisons": opts.comparisons,
            "main_methods": opts.main_methods,
            "benchmarks": opts.benchmarks,
            "pooled_benchmark": study.pooled_name,
            "base_train_set": opts.base_train_set,
            "rft_train_set": opts.rft_train_set,
            "table5_arms": opts.table5_arms,
            "table3_arms": opts.table3_arms,
            "fig3": opts.fig3,
            "paper_models": opts.paper_models,
            "paper_train_sets": opts.paper_train_sets,
            "paper_train_sets_table2": opts.paper_train_sets_table2,
            "units": "accuracies in percent, deltas in percentage points",
        },
        "tables": {table.stem: table.records() for table in tables},
        "comparisons_detail": [_json_value(r) for r in comparison_rows],
        "inputs": _input_summary(evaluations),
        "outputs": sorted(str(p.relative_to(out)) for p in written) + ["summary.json"],
    }
    summary = _json_value(summary)
    write_json(summary, out / "summary.json")
    return summary


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def _load_json(path: str, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise TableInputError(f"{what} {path} does not exist") from None
    except json.JSONDecodeError as error:
        raise TableInputError(f"{path}: invalid JSON ({error.msg}, line {error.lineno})") from None


def _run_cli(args: argparse.Namespace) -> int:
    index = _load_json(args.index, "index file")
    if isinstance(index, dict) and "evaluations" in index:
        index = index["evaluations"]
    options = _load_json(args.options, "options file") if args.options else {}
    if not isinstance(options, dict):
        raise TableInputError(
            f"{args.options}: expected a JSON object of build_tables keyword arguments"
        )
    allowed = set(inspect.signature(build_tables).parameters) - {"index", "out_dir"}
    unknown = set(options) - allowed
    if unknown:
        raise TableInputError(f"{args.options}: unknown keys {sorted(unknown)}")
    if args.n_resamples is not None:
        options["n_resamples"] = args.n_resamples
    if args.bootstrap_seed is not None:
        options["bootstrap_seed"] = args.bootstrap_seed
    if args.no_figures:
        options["figures"] = False
    summary = build_tables(index, args.out_dir, **options)
    print(f"aggregated {summary['inputs']['n_evaluations']} evaluations into {args.out_dir}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask tables``."""
    parser = subparsers.add_parser(
        "tables",
        help="aggregate evaluations into tables, figures and summary.json",
        description="Build Tables 1/2/5 counterparts, comparisons, Fig. 3 data and figures from an index "
        "of evaluations (JSON list, or an object with key 'evaluations').",
    )
    parser.add_argument("--index", required=True, help="JSON file: list of evaluation entries")
    parser.add_argument(
        "--out-dir", required=True, help="output folder (tables/, figures/, summary.json)"
    )
    parser.add_argument("--options", help="JSON file with build_tables keyword arguments")
    parser.add_argument(
        "--n-resamples", type=int, default=None, help="bootstrap resamples (default 2000)"
    )
    parser.add_argument(
        "--bootstrap-seed", type=int, default=None, help="bootstrap seed (default 0)"
    )
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.set_defaults(func=_run_cli)
