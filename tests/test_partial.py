"""cotmask.partial: the tables of the runs of a workflow config that exist so far."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_tables import _write_eval

from cotmask import cli
from cotmask.partial import build_partial_report
from cotmask.plan import Plan, load_config

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "config" / "smoke.yaml"


def _write_runs(workdir: Path, records: list[dict]) -> None:
    """Synthetic evaluation files at the paths the plan gives (relative to workdir)."""
    rng = np.random.default_rng(0)
    for record in records:
        written = _write_eval(workdir / "scratch", record, np.full(20, 0.5), rng)
        for key in ("path", "summary"):
            target = workdir / record[key]
            target.parent.mkdir(parents=True, exist_ok=True)
            Path(written[key]).replace(target)


def test_only_existing_runs_are_tabulated(tmp_path, capsys):
    plan = Plan(load_config(SMOKE))
    cell = [r for r in plan.index_records if (r["model"], r["train_set"]) == ("llama", "gsm")]
    assert 0 < len(cell) < len(plan.index_records)
    _write_runs(tmp_path, cell)
    out = tmp_path / "partial"
    coverage = build_partial_report(SMOKE, out, tmp_path)
    assert coverage == {"config": str(SMOKE), "seeds": None, "evaluations": len(cell),
                        "evaluations_planned": len(plan.index_records)}
    assert json.loads((out / "partial_run.json").read_text()) == coverage
    cells = pd.read_csv(out / "tables" / "accuracy_cells.csv")
    assert set(zip(cells.model, cells.train_set)) == {("llama", "gsm")}
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == len({(r["method"], r["seed"], r["decoding"]) for r in cell})
    first = cell[0]
    row = runs[(runs.method == first["method"]) & (runs.seed == first["seed"]) & (runs.decoding == first["decoding"])]
    expected = 100 * json.loads((tmp_path / first["summary"]).read_text())["accuracy"]
    assert row.iloc[0][first["benchmark"]] == pytest.approx(expected)
    # the same through the CLI
    assert cli.main(["partial-report", "--config", str(SMOKE), "--out-dir", str(tmp_path / "cli"),
                     "--workdir", str(tmp_path)]) == 0
    assert f'"evaluations": {len(cell)}' in capsys.readouterr().out


def test_no_runs_yet_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no evaluation of"):
        build_partial_report(SMOKE, tmp_path / "out", tmp_path)


def test_seeds_keep_only_those_runs(tmp_path):
    plan = Plan(load_config(SMOKE))
    cell = [r for r in plan.index_records if (r["model"], r["train_set"]) == ("llama", "gsm")]
    _write_runs(tmp_path, cell)
    assert build_partial_report(SMOKE, tmp_path / "a", tmp_path, seeds=[1])["evaluations"] == len(cell)
    with pytest.raises(FileNotFoundError):
        build_partial_report(SMOKE, tmp_path / "b", tmp_path, seeds=[2])  # smoke trains seed 1 only
