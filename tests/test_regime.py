"""The rule that picks the embedded default's regime from SFT-only results (cotmask.regime)."""

from __future__ import annotations

import json

import pytest

from cotmask.regime import CandidateResult, SelectionRule, candidate_from_runs, select_from_runs, select_regime


def candidate(name, cost, sft=50.0, sft_long=50.0, ic=30.0, gap=None):
    return CandidateResult(name, cost, sft, sft_long, ic, gap, n_seeds=3)


def test_the_cheapest_candidate_where_sft_overfits_and_is_competent_is_chosen():
    candidates = [
        candidate("pretrained_on_task", 1.0, sft=65, sft_long=65, gap=2.0),    # no overfitting
        candidate("tiny_set", 0.5, sft=30, sft_long=20, gap=40.0),             # overfits, below 40 %
        candidate("floor_on_ic", 0.7, sft=45, sft_long=40, ic=3.0),            # GSM-IC on the floor
        candidate("disjoint_big", 4.0, sft=55, sft_long=50),                   # qualifies (SFT-long below)
        candidate("disjoint", 2.0, sft=48, sft_long=47.5, gap=20.0),           # qualifies (gap), cheaper
    ]
    selection = select_regime(candidates)
    assert selection.chosen == "disjoint"
    verdicts = {a.name: (a.overfits, a.competent) for a in selection.assessments}
    assert verdicts == {
        "pretrained_on_task": (False, True),
        "tiny_set": (True, False),
        "floor_on_ic": (True, False),
        "disjoint_big": (True, True),
        "disjoint": (True, True),
    }
    assert [a.name for a in selection.assessments] == [c.name for c in candidates]


def test_no_candidate_qualifies_and_nothing_is_chosen():
    selection = select_regime([candidate("a", 1.0), candidate("b", 2.0, sft=30, sft_long=10)])
    assert selection.chosen is None
    assert not any(a.qualifies for a in selection.assessments)
    assert "not measured" in " ".join(selection.assessments[0].reasons)


def test_ties_in_cost_go_to_the_candidate_listed_first_and_thresholds_are_inclusive():
    rule = SelectionRule(min_long_drop=2.0, min_sft_accuracy=40.0, min_ic_accuracy=10.0)
    first = candidate("first", 1.0, sft=40.0, sft_long=38.0, ic=10.0)
    second = candidate("second", 1.0, sft=60.0, sft_long=50.0)
    assert select_regime([first, second], rule).chosen == "first"
    assert select_regime([second, first], rule).chosen == "second"


def test_the_thresholds_come_from_the_config_and_bad_keys_are_named():
    strict = SelectionRule.from_dict({"min_sft_accuracy": 70})
    assert select_regime([candidate("a", 1.0, sft=60, sft_long=50)], strict).chosen is None
    assert select_regime([candidate("a", 1.0, sft=60, sft_long=50)]).chosen == "a"
    with pytest.raises(ValueError, match="min_sft_acc"):
        SelectionRule.from_dict({"min_sft_acc": 1})
    with pytest.raises(ValueError, match="selection.min_ic_accuracy"):
        SelectionRule.from_dict({"min_ic_accuracy": "ten"})
    with pytest.raises(ValueError, match="distinct"):
        select_regime([candidate("a", 1.0), candidate("a", 2.0)])


def test_candidate_from_runs_averages_seeds_and_distractor_benchmarks():
    result = candidate_from_runs(
        "c", 3.0,
        {("sft", "gsm_test"): [40.0, 50.0], ("sft_long", "gsm_test"): [30.0, 34.0],
         ("sft", "ic_a"): [10.0, 20.0], ("sft", "ic_b"): [30.0, 40.0]},
        in_distribution="gsm_test", distractor_benchmarks=["ic_a", "ic_b"], accuracy_gaps=[10.0, 30.0],
    )
    assert (result.sft_accuracy, result.sft_long_accuracy, result.ic_accuracy) == (45.0, 32.0, 25.0)
    assert result.accuracy_gap == 20.0 and result.n_seeds == 2
    with pytest.raises(ValueError, match="sft_long"):
        candidate_from_runs("c", 1.0, {("sft", "gsm_test"): [1.0]}, in_distribution="gsm_test",
                            distractor_benchmarks=[])


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return str(path)


def test_the_rule_reads_the_runs_files(tmp_path):
    """Candidates recompute from evaluation summaries and training metrics; the cost is parameters x tokens."""
    records = []
    accuracy = {("a", "sft"): [0.5, 0.6], ("a", "sft_long"): [0.4, 0.44], ("b", "sft"): [0.7, 0.7],
                ("b", "sft_long"): [0.7, 0.7]}
    for (train_set, method), values in accuracy.items():
        for seed, value in enumerate(values, start=1):
            for benchmark, shift in (("test", 0.0), ("ic", -0.4)):
                summary = _write(tmp_path / train_set / method / f"{seed}.{benchmark}.json", {"accuracy": value + shift})
                records.append({"model": "m", "train_set": train_set, "method": method, "seed": seed,
                                "benchmark": benchmark, "decoding": "calc", "summary": summary})
    base = _write(tmp_path / "base.json", {"n_parameters": 10, "train_tokens_this_run": 50, "steps_this_run": 5,
                                          "max_steps": 10})
    runs = {}
    for train_set, tokens, gap in (("a", 30, 20.0), ("b", 10, 1.0)):
        folder = tmp_path / "ft" / train_set
        _write(folder / "train_metrics.json", {"train_tokens_this_run": tokens, "steps_this_run": 3, "max_steps": 3,
                                               "diagnostics": {"accuracy_gap": gap}})
        runs[f"m/{train_set}"] = [str(folder)]
    regime = {"points": [{"axis": "size", "value": 1, "model": "m", "train_set": "a"},
                         {"axis": "size", "value": 2, "model": "m", "train_set": "b"}],
              "in_distribution": "test", "distractor_benchmarks": ["ic"], "decoding": "calc",
              "selection": {"min_sft_accuracy": 40.0}}
    result = select_from_runs(regime, records, base_metrics={"m": base}, sft_long_runs=runs)
    by_name = {c["name"]: c for c in result["candidates"]}
    assert by_name["m/a"]["sft_accuracy"] == pytest.approx(55.0)
    assert by_name["m/a"]["sft_long_accuracy"] == pytest.approx(42.0)
    assert by_name["m/a"]["ic_accuracy"] == pytest.approx(15.0)
    assert by_name["m/a"]["cost"] == pytest.approx(10 * (100 + 30))  # pre-training resumed: 50 tokens in 5 of 10 steps
    assert by_name["m/a"]["accuracy_gap"] == 20.0
    assert result["chosen"] == "m/a"  # m/b is cheaper but does not overfit (SFT-long = SFT, gap 1)
    assert result["rule"]["min_sft_accuracy"] == 40.0
