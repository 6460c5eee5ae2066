"""The study: evaluations grouped into cells (model, train_set, method, benchmark, decoding) -> seed, with
cached seed statistics and paired comparisons (the statistics of :mod:`cotmask.stats`, in percent).
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cotmask import stats
from cotmask.report.evaluations import Evaluation
from cotmask.report.roles import DECODINGS, POOLED_ROLE, ROLE_LABELS

CellKey = tuple[str, str, str, str, str]  # model, train_set, method, benchmark, decoding
Arm = tuple[str, str]  # train_set, method


def pool_evaluations(first: Evaluation, second: Evaluation, name: str) -> Evaluation:
    """Merge the GSM-IC 2-step and m-step evaluations of one run into one pooled evaluation (item ids
    prefixed with their benchmark)."""
    merged: dict[str, dict] = {
        "correct": {},
        "invalid": {},
        "templates": {},
        "n_steps": {},
        "distractor": {},
    }
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
        mask_warmup_ratio=first.mask_warmup_ratio,
        epochs=first.epochs,
        method_kind=first.method_kind,
        sweep=first.sweep,
        **merged,
    )


def stable_seed(base: int, *parts: Any) -> int:
    """A bootstrap seed that depends only on ``base`` and the comparison's identity."""
    text = "|".join(str(p) for p in parts)
    return (int(base) + zlib.crc32(text.encode("utf-8"))) % (2**32)


def first_appearance(evaluations: Sequence[Evaluation]) -> list[str]:
    """Training sets in the order the evaluations first name them (the index's, i.e. the config's, order)."""
    return list(dict.fromkeys(ev.train_set for ev in evaluations))


class Study:
    """Evaluations grouped by cell (model, train_set, method, benchmark, decoding) -> seed.

    ``train_set_order`` orders the training sets of the tables (default: their first appearance in
    ``evaluations``); training sets it does not list follow alphabetically.
    """

    def __init__(
        self,
        evaluations: list[Evaluation],
        benchmarks: Mapping[str, str],
        *,
        n_resamples: int,
        confidence: float,
        bootstrap_seed: int,
        train_set_order: Sequence[str] | None = None,
    ):
        self.evaluations = evaluations
        self.n_resamples, self.confidence, self.bootstrap_seed = (
            n_resamples,
            confidence,
            bootstrap_seed,
        )
        self.train_set_order = list(
            first_appearance(evaluations) if train_set_order is None else train_set_order
        )
        self.role_of = {name: role for role, name in benchmarks.items()}
        self.cells: dict[CellKey, dict[int, Evaluation]] = defaultdict(dict)
        for ev in evaluations:
            self.cells[(ev.model, ev.train_set, ev.method, ev.benchmark, ev.decoding)][ev.seed] = ev
        self.pooled_name = self._pool_ic(benchmarks.get("ic_2step"), benchmarks.get("ic_mstep"))
        self.comparison_rows: dict[tuple, dict] = {}
        self._cell_cache: dict[CellKey, dict] = {}

    def _pool_ic(self, two: str | None, many: str | None) -> str | None:
        """Add the pooled GSM-IC cells (both splits of one run and seed); return the pooled name."""
        if not (two and many):
            return None
        pooled_name = f"{two}+{many}"
        self.role_of[pooled_name] = POOLED_ROLE
        for (model, ts, method, bench, dec), seeds in list(self.cells.items()):
            if bench != two:
                continue
            other = self.cells.get((model, ts, method, many, dec), {})
            for seed, ev in seeds.items():
                if seed in other:
                    pooled = pool_evaluations(ev, other[seed], pooled_name)
                    self.cells[(model, ts, method, pooled_name, dec)][seed] = pooled
        return pooled_name

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
        """Training sets with evaluations (of ``model``), in :attr:`train_set_order`."""
        found = {k[1] for k in self.cells if model is None or k[0] == model}
        order = self.train_set_order
        return sorted(found, key=lambda t: (order.index(t) if t in order else len(order), t))

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
            seed=stable_seed(self.bootstrap_seed, "cell", *key),
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
        self, model: str, benchmark: str, decoding: str, treatment: Arm, control: Arm
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
        self.comparison_rows[key] = self._comparison_row(key, paired)
        return self.comparison_rows[key]

    def _comparison_row(self, key: tuple, paired: stats.PairedItems) -> dict[str, Any]:
        """Delta with its paired bootstrap CI, arm means and per-seed McNemar of one paired comparison."""
        model, benchmark, decoding, treatment, control = key
        result = stats.paired_bootstrap_delta(
            paired.treatment,
            paired.control,
            paired.clusters,
            n_resamples=self.n_resamples,
            seed=stable_seed(self.bootstrap_seed, "delta", *key),
            confidence=self.confidence,
        )
        mcnemar = stats.mcnemar_per_seed(paired)
        t_summary = stats.seed_summary(paired.treatment.mean(axis=1) * 100.0)
        c_summary = stats.seed_summary(paired.control.mean(axis=1) * 100.0)
        return {
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
