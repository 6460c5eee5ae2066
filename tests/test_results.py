"""The committed results and the documentation agree: every result row the README or a docs/ page shows is
a row of a table in a committed results folder (results/: the default run; results/full/: config/full.yaml;
results/regime/: the regime map; results/regime/same-distribution/: the former default), and each folder's
tables are the ones its summary.json describes. results/regime/one-factor/ keeps only the CSV tables and the
selection of the map's first stage, run from empty: they must be rows of the map's own tables."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: the pages that show results: the README and every docs/ page (links there are relative to docs/)
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
TABLES = ROOT / "results" / "tables"
DEFAULT, FULL = ROOT / "results", ROOT / "results" / "full"
REGIME, FORMER_DEFAULT = ROOT / "results" / "regime", ROOT / "results" / "regime" / "same-distribution"
STAGE1 = REGIME / "one-factor"
TABLE3 = ROOT / "results" / "table3"
#: every committed results folder (results_dir of config/config.yaml, full.yaml, regime.yaml,
#: same-distribution.yaml, table3.yaml)
RESULT_DIRS = [path for path in (DEFAULT, FULL, REGIME, FORMER_DEFAULT, TABLE3) if (path / "summary.json").exists()]
MODEL_ROW = re.compile(r"^\|\s*(llama|mistral)\s*\|")


def documented_result_rows() -> list[str]:
    """Table rows of the README and docs/ that report a result of an embedded run (rows that start with a
    model name)."""
    return [line.rstrip() for doc in DOCUMENTS for line in doc.read_text().splitlines() if MODEL_ROW.match(line)]


def committed_table_rows() -> set[str]:
    rows = set()
    for path in (p for folder in RESULT_DIRS for p in (folder / "tables").glob("*.md")):
        rows.update(line.rstrip() for line in path.read_text().splitlines() if line.startswith("|"))
    return rows


@pytest.mark.skipif(not TABLES.is_dir(), reason="results/tables not committed")
def test_every_documented_result_row_is_in_results():
    rows = documented_result_rows()
    assert rows, "the README and docs/ show no result rows"
    assert any(MODEL_ROW.match(line) for line in README.read_text().splitlines()), "the README shows no result row"
    committed = committed_table_rows()
    stale = [row for row in rows if row not in committed]
    assert not stale, "documented rows not found in any results folder's tables/*.md (regenerated?):\n" + "\n".join(
        stale)


@pytest.mark.skipif(not TABLES.is_dir(), reason="results/tables not committed")
def test_documents_link_to_existing_results():
    links = set(re.findall(r"\]\((results/[^)\s#]+)", README.read_text()))
    assert links, "the README links to no results file"
    for doc in DOCUMENTS[1:]:
        links |= {link[3:] for link in re.findall(r"\]\((\.\./results/[^)\s#]+)", doc.read_text())}
    missing = sorted(link for link in links if not (ROOT / link).exists())
    assert not missing, f"README or docs/ link to missing results files: {missing}"


@pytest.mark.parametrize("folder", RESULT_DIRS, ids=lambda path: str(path.relative_to(ROOT)))
def test_summary_json_matches_committed_tables(folder):
    """summary.json (written in the same run as the tables) lists files that exist, and its per-cell means are
    those of tables/accuracy_cells.csv: each committed results folder comes from one run."""
    import pandas as pd

    summary = json.loads((folder / "summary.json").read_text())
    missing = [name for name in summary["outputs"] if not (folder / name).exists()]
    assert not missing, f"summary.json lists outputs missing from {folder}: {missing}"
    keys = ["model", "train_set", "method", "benchmark", "decoding"]
    from_json = {tuple(row[k] for k in keys): row["mean"] for row in summary["tables"]["accuracy_cells"]}
    cells = pd.read_csv(folder / "tables" / "accuracy_cells.csv")
    from_csv = {tuple(row[k] for k in keys): row["mean"] for _, row in cells.iterrows()}
    assert from_csv and set(from_csv) == set(from_json)
    assert all(abs(from_csv[key] - from_json[key]) < 1e-9 for key in from_csv)


def numerics_version(folder: Path) -> int:
    """The cotmask.NUMERICS_VERSION a results folder was made with (1 before summary.json recorded it)."""
    return json.loads((folder / "summary.json").read_text()).get("numerics_version", 1)


def test_the_default_results_record_the_current_numerics_version():
    """results/ is the output of this code: its summary.json carries today's numerics version."""
    from cotmask import NUMERICS_VERSION

    assert numerics_version(ROOT / "results") == NUMERICS_VERSION


def per_seed_cells(folder: Path):
    import pandas as pd

    return pd.read_csv(folder / "tables" / "accuracy_cells.csv")


@pytest.mark.skipif(not (FULL / "summary.json").exists() or not (FORMER_DEFAULT / "summary.json").exists(),
                    reason="results/full or the former default not committed")
def test_full_study_contains_the_former_default_run():
    """config/full.yaml shares every job of the former default (config/same-distribution.yaml): each of its
    cells has the same per-seed accuracies in results/full/ (same base models, data and fine-tunes, rebuilt
    from empty) -- when both were made with the same numerics version; otherwise docs/results-embedded.md must
    say that results/full/ is older."""
    folders = [FORMER_DEFAULT, FULL]
    versions = [numerics_version(folder) for folder in folders]
    if versions[0] != versions[1]:
        marker = f"numerics version {versions[1]}"
        results_page = ROOT / "docs" / "results-embedded.md"
        assert marker in results_page.read_text(), f"{results_page.name} must say that results/full/ was made with {marker}"
        pytest.skip(f"the former default (numerics version {versions[0]}) and results/full/ ({versions[1]}) come "
                    "from different code: regenerate results/full/ to compare them seed for seed")
    keys = ["model", "train_set", "method", "benchmark", "decoding"]
    default, full = (per_seed_cells(folder) for folder in folders)
    merged = default.merge(full, on=keys, suffixes=("_default", "_full"), how="left")
    assert len(merged) == len(default)
    assert (merged.per_seed_default == merged.per_seed_full).all(), merged[
        merged.per_seed_default != merged.per_seed_full
    ][keys]


#: the default's benchmarks and their names in the regime map (same files: tests/test_plan_regime.py)
MAP_BENCHMARKS = {"gsm_test": "r_test", "gsm_ic_2step": "r_ic_2step", "gsm_ic_mstep": "r_ic_mstep"}


@pytest.mark.skipif(not (REGIME / "summary.json").exists(), reason="the regime map is not committed")
def test_the_default_llama_gsm_cell_reproduces_the_maps_chosen_point():
    """config/config.yaml's llama/gsm cell is the map's same/n2000 point job for job, run again from empty in
    another work folder: every per-seed accuracy of its SFT, SFT-long and MFT runs equals the map's."""
    default, regime = per_seed_cells(DEFAULT), per_seed_cells(REGIME)
    ours = default[(default.model == "llama") & (default.train_set == "gsm") & (default.decoding == "calc")
                   & default.benchmark.isin(list(MAP_BENCHMARKS))  # the map decodes with the calculator only
                   & default.method.isin(["sft", "sft_long", "mft"])]
    assert len(ours) == 9
    theirs = regime[(regime.model == "same") & (regime.train_set == "n2000")]
    theirs = {(row.method, row.benchmark): row.per_seed for row in theirs.itertuples()}
    for row in ours.itertuples():
        key = (row.method, MAP_BENCHMARKS[row.benchmark])
        assert theirs[key] == row.per_seed, key


# ------------------------------------------------------------------ the default's overfitting diagnostics
#: the folder the default run (config/config.yaml) ran in, whose work/models/ft/ holds the fine-tunes' epoch
#: files (git-ignored): this checkout unless COTMASK_DEFAULT_RUN names another work folder of the same commit
DEFAULT_RUN = Path(os.environ.get("COTMASK_DEFAULT_RUN", ROOT))
DIAGNOSTICS = DEFAULT / "tables" / "diagnostics.csv"


def default_diagnostics_runs() -> list[dict]:
    """The tables job's diagnostics runs of config/config.yaml, with their folders under DEFAULT_RUN."""
    from cotmask.plan import Plan, load_config

    runs = Plan(load_config(ROOT / "config" / "config.yaml")).tables_diagnostics_runs()
    return [dict(run, dir=str(DEFAULT_RUN / run["dir"])) for run in runs]


def test_the_default_writes_its_diagnostics_table():
    """config/config.yaml has the diagnostics on, so its tables job writes tables/diagnostics.* (committed)."""
    from cotmask.plan import Plan, load_config

    files = Plan(load_config(ROOT / "config" / "config.yaml")).table_files()
    assert {f"diagnostics.{ext}" for ext in ("csv", "md", "tex", "html")} <= set(files)
    assert all((ROOT / files[f"diagnostics.{ext}"]).is_file() for ext in ("csv", "md", "tex", "html"))


def test_the_default_diagnostics_table_recomputes_from_the_epoch_files(tmp_path):
    """results/tables/diagnostics.* is what cotmask.report writes from the default run's diagnostics.jsonl
    files, byte for byte (skipped where that run's work/ folder is absent: set COTMASK_DEFAULT_RUN)."""
    from cotmask.report.regime_map import write_diagnostics_table

    runs = default_diagnostics_runs()
    missing = [run["dir"] for run in runs if not (Path(run["dir"]) / "diagnostics.jsonl").is_file()]
    if missing:
        pytest.skip(f"the default run's fine-tunes are not in {DEFAULT_RUN}/work (COTMASK_DEFAULT_RUN): {missing[0]}")
    for path in write_diagnostics_table(runs, tmp_path):
        assert path.read_bytes() == (DEFAULT / "tables" / path.name).read_bytes(), path.name


@pytest.mark.skipif(not (REGIME / "tables" / "diagnostics.csv").exists(), reason="the regime map is not committed")
def test_the_default_diagnostics_equal_the_maps_chosen_point():
    """The default's llama/gsm fine-tunes are the map's same/n2000 point run again (per-seed accuracies and
    weights equal, above): their diagnostics rows are the map's too, to the last digit."""
    import pandas as pd

    ours, theirs = pd.read_csv(DIAGNOSTICS), pd.read_csv(REGIME / "tables" / "diagnostics.csv")
    ours = ours[(ours.model == "llama") & (ours.train_set == "gsm") & ours.method.isin(["sft", "sft_long", "mft"])]
    theirs = theirs[(theirs.model == "same") & (theirs.train_set == "n2000")]
    assert len(ours) == 3 and list(ours.method) == list(theirs.method)
    columns = [c for c in ours.columns if c not in ("model", "train_set")]
    assert ours[columns].reset_index(drop=True).equals(theirs[columns].reset_index(drop=True))


def test_one_rule_writes_each_diagnostics_table():
    """The tables job writes tables/diagnostics.* where the diagnostics are on; with a regime map that table
    is the regime_map job's (results/regime/); with them off there is none (results/full/, the former
    default)."""
    from cotmask.plan import Plan, load_config

    plans = {name: Plan(load_config(ROOT / "config" / f"{name}.yaml"))
             for name in ("config", "smoke", "regime", "full", "same-distribution")}
    has_table = {name: "diagnostics.csv" in plan.table_files() for name, plan in plans.items()}
    assert has_table == {"config": True, "smoke": True, "regime": False, "full": False, "same-distribution": False}
    assert "results/regime/tables/diagnostics.csv" in plans["regime"].regime_map_files()
    assert len(plans["config"].tables_diagnostics_runs()) == len(plans["config"].finetunes) == 26


@pytest.mark.skipif(not (STAGE1 / "regime_selection.json").exists(),
                    reason="results/regime/one-factor not committed")
def test_the_maps_first_stage_reproduces_the_maps_rows():
    """results/regime/one-factor/ comes from a from-empty run of config/regime-one-factor.yaml; the map's
    results/regime/ from runs over three sessions. The nine points are the same jobs (tests/test_plan_regime.py),
    so every row of every stage-1 CSV table must be a row, byte for byte, of the map's table of that name
    (the bootstrap of a comparison does not depend on the other points), and the selection must be the same."""
    tables = sorted((STAGE1 / "tables").glob("*.csv"))
    assert any(path.name == "regime_map.csv" for path in tables)
    for path in tables:
        ours = path.read_text().splitlines()
        theirs = (REGIME / "tables" / path.name).read_text().splitlines()
        assert ours[0] == theirs[0], path.name
        rows = set(theirs[1:])
        missing = [row for row in ours[1:] if row not in rows]
        assert not missing, f"{path.name}: stage-1 rows not in the map's table: {missing[:3]}"
    selection = json.loads((STAGE1 / "regime_selection.json").read_text())
    assert selection == json.loads((REGIME / "regime_selection.json").read_text())

