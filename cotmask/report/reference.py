"""The paper's reference numbers (:data:`PAPER_REFERENCE`, from ``paper_reference.yaml``) and matching
our names to the paper's.

The numbers are package data (pyproject.toml ``[tool.setuptools.package-data]``), so an installed
wheel carries them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import yaml

REFERENCE_FILE = "paper_reference.yaml"
PAPER_TABLES = ("table1", "table2", "table3", "table5")


def load_paper_reference() -> dict[str, list[dict[str, Any]]]:
    """Read the paper's numbers: ``{"table1": [...], "table2": [...], "table3": [...], "table5": [...]}``."""
    text = resources.files(__package__).joinpath(REFERENCE_FILE).read_text(encoding="utf-8")
    reference = yaml.safe_load(text)
    missing = [name for name in PAPER_TABLES if name not in reference]
    if missing:
        raise ValueError(f"{REFERENCE_FILE}: tables {missing} are missing")
    return reference


#: Reference numbers of shared/paper.md (percent). ``benchmark`` is a role; keys sft/mft are methods.
PAPER_REFERENCE: dict[str, list[dict[str, Any]]] = load_paper_reference()


def paper_model(model: str, mapping: Mapping[str, str]) -> str | None:
    """Paper base model of one of ours: the first mapping key contained in our (lower-case) name."""
    lowered = model.lower()
    for needle, name in mapping.items():
        if needle.lower() in lowered:
            return name
    return None


def paper_lookup(rows: Sequence[Mapping], **match: Any) -> Mapping | None:
    """The first paper row whose fields equal ``match``; None when there is none."""
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def paper_value(row: Mapping | None, key: str) -> float:
    """A number of a paper row, NaN when the row or the number is absent."""
    return row.get(key, float("nan")) if row else float("nan")
