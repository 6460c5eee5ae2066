"""Which regime the embedded default studies: a rule on SFT-only results, written down before MFT runs.

MFT is a regulariser; the paper's condition is a model that can overfit a small fine-tuning set and
still solves a fair share of it. The rule below picks the default regime from candidate regimes
using **SFT and SFT-long runs only** (no MFT arm is needed, so the choice cannot favour MFT):

1. *SFT overfits*: SFT-long (MFT's epochs, no noise) is at least ``min_long_drop`` points below SFT
   in distribution, **or** the train-test accuracy gap of SFT-long's final epoch (the fine-tune's
   diagnostics, :mod:`cotmask.diagnostics`) is at least ``min_accuracy_gap`` points;
2. *SFT is competent*: SFT's in-distribution accuracy is at least ``min_sft_accuracy`` and its
   accuracy on the distractor (GSM-IC) benchmarks is at least ``min_ic_accuracy`` (off the floor);
3. among the candidates meeting both, the one of lowest ``cost`` (training compute) is chosen; ties go
   to the candidate listed first. When none qualifies, nothing is chosen and the reasons are reported.

Accuracies are percentages, means over seeds, with the decoding the study reports (calculator).
The thresholds live in ``config/regime.yaml`` (``selection:``) and default to the values above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cotmask.jsonfiles import read_json_file


@dataclass(frozen=True)
class SelectionRule:
    """Thresholds of the rule (percentage points)."""

    min_sft_accuracy: float = 40.0
    min_ic_accuracy: float = 10.0
    min_long_drop: float = 2.0
    min_accuracy_gap: float = 15.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SelectionRule:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"selection: unknown key(s) {unknown}; known: {sorted(known)}")
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"selection.{key}: expected a number, got {value!r}")
        return cls(**{key: float(value) for key, value in data.items()})


@dataclass(frozen=True)
class CandidateResult:
    """SFT-only results of one candidate regime (percentages, means over seeds)."""

    name: str
    cost: float
    sft_accuracy: float
    sft_long_accuracy: float
    ic_accuracy: float
    accuracy_gap: float | None = None  # SFT-long: train - test subset accuracy at the final epoch
    n_seeds: int = 0


@dataclass
class Assessment:
    """What the rule says of one candidate, with the reasons in words."""

    name: str
    cost: float
    overfits: bool
    competent: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def qualifies(self) -> bool:
        return self.overfits and self.competent


@dataclass
class Selection:
    """The chosen candidate (None when none qualifies) and every assessment, in the listed order."""

    chosen: str | None
    assessments: list[Assessment]

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen,
                "assessments": [{**asdict(a), "qualifies": a.qualifies} for a in self.assessments]}


def assess(candidate: CandidateResult, rule: SelectionRule) -> Assessment:
    """Apply conditions 1 and 2 of the rule to one candidate."""
    drop = candidate.sft_accuracy - candidate.sft_long_accuracy
    gap = candidate.accuracy_gap
    long_below = drop >= rule.min_long_drop
    gap_wide = gap is not None and gap >= rule.min_accuracy_gap
    reasons = [
        f"SFT - SFT-long = {drop:+.1f} points ({'>=' if long_below else '<'} {rule.min_long_drop:g})",
        "train-test gap " + (f"{gap:.1f} points ({'>=' if gap_wide else '<'} {rule.min_accuracy_gap:g})"
                             if gap is not None else "not measured"),
    ]
    accurate = candidate.sft_accuracy >= rule.min_sft_accuracy
    off_floor = candidate.ic_accuracy >= rule.min_ic_accuracy
    reasons.append(f"SFT {candidate.sft_accuracy:.1f} % ({'>=' if accurate else '<'} {rule.min_sft_accuracy:g})")
    reasons.append(f"SFT on GSM-IC {candidate.ic_accuracy:.1f} % ({'>=' if off_floor else '<'} {rule.min_ic_accuracy:g})")
    return Assessment(candidate.name, candidate.cost, long_below or gap_wide, accurate and off_floor, reasons)


def select_regime(candidates: Sequence[CandidateResult], rule: SelectionRule | None = None) -> Selection:
    """Conditions 1-3: the cheapest candidate where SFT overfits and is competent (None if none)."""
    rule = rule or SelectionRule()
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise ValueError(f"candidate names must be distinct: {names}")
    assessments = [assess(candidate, rule) for candidate in candidates]
    qualifying = [(a.cost, index, a.name) for index, a in enumerate(assessments) if a.qualifies]
    chosen = min(qualifying)[2] if qualifying else None
    return Selection(chosen, assessments)


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no values to average")
    return sum(values) / len(values)


def candidate_from_runs(
    name: str,
    cost: float,
    accuracies: Mapping[tuple[str, str], Sequence[float]],
    *,
    in_distribution: str,
    distractor_benchmarks: Sequence[str],
    accuracy_gaps: Sequence[float] = (),
) -> CandidateResult:
    """A candidate's result from per-seed accuracies keyed by (method, benchmark), methods ``sft`` and
    ``sft_long``; ``accuracy_gaps`` are SFT-long's per-seed train-test gaps (points)."""
    for key in [("sft", in_distribution), ("sft_long", in_distribution),
                *[("sft", b) for b in distractor_benchmarks]]:
        if not accuracies.get(key):
            raise ValueError(f"candidate {name!r}: no accuracies for method {key[0]!r} on {key[1]!r}")
    seeds = len(accuracies[("sft", in_distribution)])
    ic = mean([mean(accuracies[("sft", b)]) for b in distractor_benchmarks]) if distractor_benchmarks else 0.0
    return CandidateResult(
        name=name,
        cost=float(cost),
        sft_accuracy=mean(accuracies[("sft", in_distribution)]),
        sft_long_accuracy=mean(accuracies[("sft_long", in_distribution)]),
        ic_accuracy=ic,
        accuracy_gap=mean(list(accuracy_gaps)) if accuracy_gaps else None,
        n_seeds=seeds,
    )


# ------------------------------------------------------------------------------ from the run's files


def trained_tokens(metrics: Mapping[str, Any]) -> float:
    """Tokens a training run processed in all (``train_metrics.json``/``pretrain_metrics.json``), scaled up
    to the whole run when it was resumed (the counter covers the last ``train()`` call only)."""
    steps, total = metrics.get("steps_this_run") or 0, metrics.get("max_steps") or 0
    tokens = float(metrics.get("train_tokens_this_run") or 0)
    return tokens * total / steps if steps else 0.0


def training_cost(base_metrics: Mapping[str, Any], finetune_metrics: Mapping[str, Any]) -> float:
    """Parameters x tokens of pre-training and of one fine-tune (the rule's compute measure)."""
    return float(base_metrics["n_parameters"]) * (trained_tokens(base_metrics) + trained_tokens(finetune_metrics))


def seed_accuracies(
    records: Sequence[Mapping[str, Any]], model: str, train_set: str, methods: Sequence[str],
    benchmarks: Sequence[str], decoding: str,
) -> dict[tuple[str, str], list[float]]:
    """Per-seed accuracies (%) keyed by (method, benchmark), from the evaluation summaries the index names."""
    accuracies: dict[tuple[str, str], list[float]] = {}
    for record in sorted(records, key=lambda r: r["seed"]):
        if (record["model"], record["train_set"], record["decoding"]) != (model, train_set, decoding):
            continue
        if record["method"] in methods and record["benchmark"] in benchmarks:
            summary = read_json_file(record["summary"], "evaluation summary")
            accuracies.setdefault((record["method"], record["benchmark"]), []).append(100 * summary["accuracy"])
    return accuracies


def candidates_from_runs(
    points: Sequence[Mapping[str, Any]],
    records: Sequence[Mapping[str, Any]],
    *,
    in_distribution: str,
    distractor_benchmarks: Sequence[str],
    decoding: str,
    base_metrics: Mapping[str, str],
    sft_long_runs: Mapping[str, Sequence[str]],
) -> list[CandidateResult]:
    """The rule's inputs for every candidate point, read from the workflow's files.

    ``records``: the evaluation index (``cotmask.plan.Plan.index_records``: model, train_set, method, seed,
    benchmark, decoding, summary path); ``base_metrics``: model -> its ``pretrain_metrics.json``;
    ``sft_long_runs``: "model/train_set" -> the SFT-long fine-tune folders (their ``train_metrics.json`` give
    the cost and the diagnostics' train-test gap). Points sharing a cell are one candidate.
    """
    candidates, seen = [], set()
    for point in points:
        key = (point["model"], point["train_set"])
        if not point.get("candidate", True) or key in seen:
            continue
        seen.add(key)
        accuracies = seed_accuracies(records, *key, ("sft", "sft_long"), [in_distribution, *distractor_benchmarks],
                                     decoding)
        runs = [read_json_file(Path(folder) / "train_metrics.json", "training metrics")
                for folder in sft_long_runs["/".join(key)]]
        gaps = [run["diagnostics"]["accuracy_gap"] for run in runs if run.get("diagnostics")]
        cost = training_cost(read_json_file(base_metrics[point["model"]], "pre-training metrics"), runs[0])
        candidates.append(candidate_from_runs(
            f"{key[0]}/{key[1]}", cost, accuracies, in_distribution=in_distribution,
            distractor_benchmarks=distractor_benchmarks, accuracy_gaps=gaps,
        ))
    return candidates


def select_from_runs(regime: Mapping[str, Any], records: Sequence[Mapping[str, Any]], *,
                     base_metrics: Mapping[str, str], sft_long_runs: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The rule applied to a run: ``regime`` is the config's ``regime`` section. Returns the selection with
    every candidate's inputs (what ``regime_selection.json`` holds)."""
    candidates = candidates_from_runs(
        regime["points"], records, in_distribution=regime["in_distribution"],
        distractor_benchmarks=regime["distractor_benchmarks"], decoding=regime["decoding"],
        base_metrics=base_metrics, sft_long_runs=sft_long_runs,
    )
    rule = SelectionRule.from_dict(regime["selection"])
    selection = select_regime(candidates, rule)
    return {"rule": asdict(rule), "candidates": [asdict(c) for c in candidates], **selection.to_dict()}
