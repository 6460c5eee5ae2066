"""The committed results/ and the README agree: every result row the README shows is a row of a table in
results/tables/, and the committed tables are the ones the committed summary.json describes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TABLES = ROOT / "results" / "tables"
MODEL_ROW = re.compile(r"^\|\s*(llama|mistral)\s*\|")


def readme_result_rows() -> list[str]:
    """README table rows that report a result of the embedded run (rows that start with a model name)."""
    return [line.rstrip() for line in README.read_text().splitlines() if MODEL_ROW.match(line)]


def committed_table_rows() -> set[str]:
    rows = set()
    for path in TABLES.glob("*.md"):
        rows.update(line.rstrip() for line in path.read_text().splitlines() if line.startswith("|"))
    return rows


@pytest.mark.skipif(not TABLES.is_dir(), reason="results/tables not committed")
def test_every_readme_result_row_is_in_results():
    rows = readme_result_rows()
    assert rows, "the README shows no result rows"
    committed = committed_table_rows()
    stale = [row for row in rows if row not in committed]
    assert not stale, "README rows not found in results/tables/*.md (regenerated results?):\n" + "\n".join(stale)


@pytest.mark.skipif(not TABLES.is_dir(), reason="results/tables not committed")
def test_readme_links_to_existing_results():
    links = set(re.findall(r"\]\((results/[^)\s]+)\)", README.read_text()))
    assert links
    missing = sorted(link for link in links if not (ROOT / link).exists())
    assert not missing, f"README links to missing results files: {missing}"


@pytest.mark.skipif(not (ROOT / "results" / "summary.json").exists(), reason="results/summary.json not committed")
def test_summary_json_matches_committed_tables():
    """summary.json (written in the same run as the tables) lists files that exist, and its per-cell means are
    those of results/tables/accuracy_cells.csv: the committed results come from one run."""
    import pandas as pd

    summary = json.loads((ROOT / "results" / "summary.json").read_text())
    missing = [name for name in summary["outputs"] if not (ROOT / "results" / name).exists()]
    assert not missing, f"summary.json lists outputs missing from results/: {missing}"
    keys = ["model", "train_set", "method", "benchmark", "decoding"]
    from_json = {tuple(row[k] for k in keys): row["mean"] for row in summary["tables"]["accuracy_cells"]}
    cells = pd.read_csv(TABLES / "accuracy_cells.csv")
    from_csv = {tuple(row[k] for k in keys): row["mean"] for _, row in cells.iterrows()}
    assert from_csv and set(from_csv) == set(from_json)
    assert all(abs(from_csv[key] - from_json[key]) < 1e-9 for key in from_csv)
