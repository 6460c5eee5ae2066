"""The committed results and the documentation agree: every result row the README or a docs/ page shows is
a row of a table in results/tables/ (the default run) or results/full/tables/ (config/full.yaml), and each
folder's tables are the ones its summary.json describes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: the pages that show results: the README and every docs/ page (links there are relative to docs/)
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
TABLES = ROOT / "results" / "tables"
#: every committed results folder: the default run's and the full study's (results_dir of config/full.yaml)
RESULT_DIRS = [path for path in (ROOT / "results", ROOT / "results" / "full") if (path / "summary.json").exists()]
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
    assert not stale, "documented rows not found in results{,/full}/tables/*.md (regenerated?):\n" + "\n".join(stale)


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


@pytest.mark.skipif(len(RESULT_DIRS) < 2, reason="results/full not committed")
def test_full_study_contains_the_default_run():
    """config/full.yaml shares every job of the default run: each cell of results/ has the same per-seed
    accuracies in results/full/ (same base models, data and fine-tunes, rebuilt from empty) -- when both were
    made with the same numerics version; otherwise docs/results-embedded.md must say that results/full/ is older."""
    import pandas as pd

    versions = [numerics_version(folder) for folder in RESULT_DIRS]
    if versions[0] != versions[1]:
        marker = f"numerics version {versions[1]}"
        results_page = ROOT / "docs" / "results-embedded.md"
        assert marker in results_page.read_text(), f"{results_page.name} must say that results/full/ was made with {marker}"
        pytest.skip(f"results/ (numerics version {versions[0]}) and results/full/ ({versions[1]}) come from "
                    "different code: regenerate results/full/ to compare them seed for seed")
    keys = ["model", "train_set", "method", "benchmark", "decoding"]
    default, full = (pd.read_csv(folder / "tables" / "accuracy_cells.csv") for folder in RESULT_DIRS)
    merged = default.merge(full, on=keys, suffixes=("_default", "_full"), how="left")
    assert len(merged) == len(default)
    assert (merged.per_seed_default == merged.per_seed_full).all(), merged[
        merged.per_seed_default != merged.per_seed_full
    ][keys]
