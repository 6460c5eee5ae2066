"""Job params in one form for every config that gives the same values.

Snakemake decides whether a job's params changed by comparing the ``repr()`` of each param with the one
it recorded when the job last ran (``.snakemake/metadata``; ``repr`` of a dict lists its keys in insertion
order). The planner's settings come from YAML mappings, so a config rewritten with its keys in another
order (an editor's formatter, ``yaml.safe_dump``) would give every job new params and rerun the whole DAG.
:func:`canonical` removes that order: every mapping with its keys sorted, recursively, and tuples as lists
(what YAML gives). Comments and formatting never reach the planner; defaults are filled in before (the
schema's, and each data source's and augmentation's own), so an explicit default is the same value too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted (recursively) and every tuple a list."""
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value

