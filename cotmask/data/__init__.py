"""Datasets of cotmask: embedded generators, paper-scale loaders and augmented variants.

Rule-facing API (the Snakemake rules call exactly these):

* :data:`SOURCES` and :func:`source_splits` — which ``{split}.jsonl`` files a source writes;
* :func:`build_source` — write ``out_dir/{split}.jsonl`` + ``out_dir/stats.json`` for one source;
* :data:`AUGMENTATIONS` and :func:`build_augmented` — write ``out_dir/train.jsonl`` + ``stats.json``;
* :func:`rejection_sample` — RFT data from a fine-tuned model (``cotmask.data.rft``).

Every record follows :mod:`cotmask.records`. Options are checked (unknown or malformed → ``ValueError``
naming it) before any work; the same options give the same bytes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotmask.data import augment, gsm_symbolic, gsm_synth, hub, math_synth
from cotmask.data.options import Option, resolve_options
from cotmask.data.rft import rejection_sample, select_rft_samples
from cotmask.records import validate_record, write_dataset_dir


@dataclass(frozen=True)
class SourceSpec:
    """A data source: its options, the splits it writes and the module that builds it.

    The module provides ``source_splits(name, options)``, ``check_source_options(name, options)`` and
    ``build_source_records(name, options) -> (records by split, stats)``; heavy dependencies (datasets,
    reasoning-gym) are imported inside those functions only.
    """

    name: str
    module: str
    description: str
    options: dict[str, Option] = field(default_factory=dict)

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        return resolve_options(f"source {self.name!r}", self.options, given)

    def splits(self, resolved: dict[str, Any]) -> list[str]:
        return list(_module(self.module).source_splits(self.name, resolved))


def _module(name: str):
    return importlib.import_module(name)


def _sources() -> dict[str, SourceSpec]:
    specs = [
        SourceSpec("gsm_synth", "cotmask.data.gsm_synth",
                   "procedural GSM-style word problems (train, test, ic_2step, ic_mstep)", gsm_synth.OPTIONS),
        SourceSpec("math_synth", "cotmask.data.math_synth",
                   "procedural MATH-style problems with \\boxed{} answers (train, test; pretrain with n_pretrain)", math_synth.OPTIONS),
        SourceSpec("gsm_symbolic", "cotmask.data.gsm_symbolic",
                   "GSM-Symbolic templates via reasoning-gym (train, test)", gsm_symbolic.OPTIONS),
    ]
    for name, hub_source in hub.HUB_SOURCES.items():
        specs.append(SourceSpec(name, "cotmask.data.hub", hub_source.description, hub_source.options))
    return {s.name: s for s in specs}


SOURCES: dict[str, SourceSpec] = _sources()


def _spec(source: str) -> SourceSpec:
    if source not in SOURCES:
        raise ValueError(f"unknown data source {source!r}; known sources: {', '.join(sorted(SOURCES))}")
    return SOURCES[source]


def source_splits(source: str, options: dict | None = None) -> list[str]:
    """The split files ``build_source(source, ..., **options)`` writes (``{split}.jsonl``)."""
    spec = _spec(source)
    return spec.splits(spec.resolve(dict(options or {})))


def write_dataset(out_dir: str | Path, records: dict[str, list[dict]], stats: dict) -> dict:
    """Validate and write ``{split}.jsonl`` for each split, then ``stats.json``, into a temporary folder that
    becomes ``out_dir`` at the end (:func:`cotmask.records.write_dataset_dir`): an interrupted or failed
    build leaves no folder that looks complete, and no temporary one."""
    out = Path(out_dir)
    for split, rows in records.items():
        seen: set[str] = set()
        for line, record in enumerate(rows, start=1):
            validate_record(record, out / f"{split}.jsonl", line)
            if record["id"] in seen:
                raise ValueError(f"{out / f'{split}.jsonl'}:{line}: duplicate id {record['id']!r}")
            seen.add(record["id"])
    return write_dataset_dir(out, records, stats)


def build_source(source: str, out_dir: str, **options: Any) -> dict:
    """Build one source: ``out_dir/{split}.jsonl`` for each split and ``out_dir/stats.json``.

    Unknown source or option → ValueError before any work. Deterministic for the options (seed).
    Returns the stats dict (also written to stats.json).
    """
    spec = _spec(source)
    resolved = spec.resolve(options)
    module = _module(spec.module)
    module.check_source_options(source, resolved)
    records, stats = module.build_source_records(source, resolved)
    expected = spec.splits(resolved)
    if sorted(records) != sorted(expected):  # pragma: no cover - a bug in a source module
        raise AssertionError(f"source {source}: built splits {sorted(records)}, declared {expected}")
    full = {"source": source, "options": resolved, **stats}
    return write_dataset(out_dir, {s: records[s] for s in expected}, full)


# ---------------------------------------------------------------- augmentations
AUGMENTATIONS: tuple[str, ...] = ("metamath_style", "pot_mix", "concat", "rft")


def build_augmented(kind: str, inputs: list[str], out_dir: str, **options: Any) -> dict:
    """Build an augmented training set from record files: ``out_dir/train.jsonl`` + ``out_dir/stats.json``.

    ``kind``: ``metamath_style``, ``pot_mix``, ``concat`` (see :mod:`cotmask.data.augment`) or ``rft``
    (options = the keyword arguments of :func:`rejection_sample`; exactly one input).
    """
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation kind {kind!r}; known kinds: {', '.join(AUGMENTATIONS)}")
    if isinstance(inputs, (str, Path)):
        inputs = [str(inputs)]
    if not inputs:
        raise ValueError(f"augmentation {kind!r}: no input files")
    missing = [p for p in inputs if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"augmentation {kind!r}: input file(s) not found: {', '.join(map(str, missing))}")
    if kind == "rft":
        if len(inputs) != 1:
            raise ValueError("augmentation 'rft' takes exactly one input (the training file)")
        return rejection_sample(str(inputs[0]), out_dir, **options)
    return augment.build(kind, [str(p) for p in inputs], out_dir, options)



__all__ = [
    "AUGMENTATIONS",
    "SOURCES",
    "SourceSpec",
    "build_augmented",
    "build_source",
    "rejection_sample",
    "select_rft_samples",
    "source_splits",
    "write_dataset",
]
