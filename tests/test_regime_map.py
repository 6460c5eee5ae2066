"""The regime map's tables and figures (cotmask.report.regime_map) recompute from the evaluation and
diagnostics files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_tables import SEEDS, make_study

from cotmask import report
from cotmask.report.regime_map import MAP_FILES, build_regime_map

REGIME = {
    "points": [
        {"axis": "size", "value": 1000, "model": "tiny-llama", "train_set": "gsm"},
        {"axis": "size", "value": 2000, "model": "tiny-llama", "train_set": "rft"},
        {"axis": "shape", "value": "mistral", "model": "tiny-mistral", "train_set": "gsm"},
    ],
    "in_distribution": "gsm8k",
    "distractor_benchmarks": ["gsm_ic_2step", "gsm_ic_mstep"],
    "decoding": "calc",
}


def _diagnostics(folder, method, seed):
    """Three epochs whose gap grows with the method and seed (known numbers to recompute)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"epoch": float(e), "step": 4 * e, "samples_seen": 64 * e,
             "train_loss": 1.0 / e, "test_loss": 1.0, "train_accuracy": 0.2 * e + 0.01 * seed,
             "test_accuracy": {"sft": 0.3, "sft_long": 0.25, "mft": 0.35}[method] + 0.01 * e}
            for e in (1, 2, 3)]
    (folder / "diagnostics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("regime")
    index = make_study(root / "evals", benchmarks=("gsm8k", "gsm_ic_2step", "gsm_ic_mstep"), decodings=("calc",),
                       sweep=False)
    comparisons = [{"treatment": "mft", "control": "sft"}, {"treatment": "mft", "control": "sft_long"}]
    report.build_tables(index, root / "results", comparisons=comparisons, n_resamples=60, bootstrap_seed=3)
    runs = []
    for point in REGIME["points"]:
        for method in ("sft", "sft_long", "mft"):
            for seed in SEEDS:
                folder = root / "ft" / point["model"] / point["train_set"] / method / f"seed{seed}"
                _diagnostics(folder, method, seed)
                runs.append({"model": point["model"], "train_set": point["train_set"], "method": method,
                             "seed": seed, "dir": str(folder)})
    paths = build_regime_map(root / "results" / "tables" / "comparisons.csv", runs, REGIME, root / "results")
    return root, paths


def test_every_map_file_is_written(built):
    _, paths = built
    assert sorted(paths) == sorted(MAP_FILES)
    assert all(path.exists() and path.stat().st_size > 0 for path in paths.values())


def test_map_rows_are_the_comparisons_of_each_point(built):
    root, paths = built
    rows = pd.read_csv(paths["tables/regime_map.csv"])
    comparisons = pd.read_csv(root / "results" / "tables" / "comparisons.csv")
    # 3 points x (in distribution, pooled GSM-IC) x (MFT vs SFT, MFT vs SFT-long), plus SFT-long vs SFT where
    # build_tables compared them (the overfitting signal)
    assert len(rows[rows.treatment == "mft"]) == 12
    assert set(rows.treatment) <= {"mft", "sft_long"} and set(rows[rows.treatment == "sft_long"].control) <= {"sft"}
    assert list(dict.fromkeys(rows["axis"])) == ["size", "shape"]
    assert set(rows["benchmark"]) == {"gsm8k", "gsm_ic_2step+gsm_ic_mstep"}
    for row in rows.itertuples():
        match = comparisons[(comparisons.model == row.model) & (comparisons.train_set == row.train_set)
                            & (comparisons.benchmark == row.benchmark) & (comparisons.control == row.control)
                            & (comparisons.treatment == row.treatment)
                            & (comparisons.decoding == "calc")]
        assert len(match) == 1
        assert row.delta == pytest.approx(match.iloc[0].delta)
        assert (row.ci_low, row.ci_high) == pytest.approx((match.iloc[0].ci_low, match.iloc[0].ci_high))


def test_diagnostics_table_recomputes_from_the_epoch_files(built):
    _, paths = built
    table = pd.read_csv(paths["tables/diagnostics.csv"])
    assert len(table) == 9 and set(table["n_seeds"]) == {len(SEEDS)}
    sft = table[(table.model == "tiny-llama") & (table.train_set == "gsm") & (table.method == "sft")].iloc[0]
    # final epoch: train 0.6 + 0.01 seed, test 0.33 -> gap (27 + seed) points, mean over seeds
    expected_gap = sum(100 * (0.6 + 0.01 * s - 0.33) for s in SEEDS) / len(SEEDS)
    assert sft.accuracy_gap == pytest.approx(expected_gap)
    assert sft.best_epoch == 3.0 and sft.loss_gap == pytest.approx(1.0 - 1.0 / 3)
    assert "Overfitting diagnostics" in paths["tables/diagnostics.md"].read_text()
