"""Loading the index of evaluations: validate every entry, read and check every per-item and summary file.

An index entry names one evaluation (one fine-tune on one benchmark with one decoding) and the paths of
its per-item JSONL file and summary JSON; :func:`load_evaluations` turns the index into
:class:`Evaluation` objects, in index order.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotmask import stats
from cotmask.jsonfiles import read_json_file
from cotmask.records import RecordError, iter_jsonl

KEY_FIELDS = ("model", "train_set", "method", "seed", "benchmark", "decoding")
_STRING_FIELDS = ("model", "train_set", "method", "benchmark", "decoding", "path", "summary")
#: GSM-IC's distractor factors, read from each item's metadata (GSM-IC reports accuracy by each).
DISTRACTOR_FACTORS = ("distractor_topic", "distractor_role", "distractor_range")


class TableInputError(ValueError):
    """An index entry, evaluation file, summary file or option is missing or malformed."""


@dataclass
class Evaluation:
    """One evaluation (per-item file + summary) of one fine-tune on one benchmark and decoding."""

    model: str
    train_set: str
    method: str
    seed: int
    benchmark: str
    decoding: str
    path: str
    summary_path: str
    correct: dict[str, bool]
    invalid: dict[str, bool]
    templates: dict[str, str | None]
    n_steps: dict[str, int | None]
    summary: dict = field(default_factory=dict)
    distractor: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # item id -> factor -> value
    mask_ratio: float | None = None
    mask_warmup_ratio: float | None = None
    epochs: int | None = None
    method_kind: str | None = None
    sweep: bool = False

    @property
    def accuracy(self) -> float:
        return sum(self.correct.values()) / len(self.correct)

    @property
    def invalid_rate(self) -> float:
        return sum(self.invalid.values()) / len(self.invalid)


def index_train_sets(index: Any) -> list[str]:
    """The training sets of an index in order of first appearance (the workflow lists runs in the
    config's order). Entries that are not mappings with a string ``train_set`` are skipped here:
    :func:`load_evaluations` reports them."""
    if isinstance(index, (str, bytes, os.PathLike)) or not isinstance(index, Sequence):
        return []
    names = [e.get("train_set") for e in index if isinstance(e, Mapping)]
    return list(
        dict.fromkeys(str(name) for name in names if isinstance(name, str) and name.strip())
    )


def _entry_error(number: int, entry: Any, problem: str) -> TableInputError:
    where = ""
    if isinstance(entry, Mapping):
        where = " (" + "/".join(str(entry.get(k, "?")) for k in KEY_FIELDS) + ")"
    return TableInputError(f"index entry {number}{where}: {problem}")


def _entry_seed(number: int, entry: Mapping) -> int:
    seed = entry.get("seed")
    if isinstance(seed, str) and seed.strip().lstrip("-").isdigit():
        seed = int(seed)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise _entry_error(
            number, entry, f"key 'seed' must be an integer, got {entry.get('seed')!r}"
        )
    return seed


def _validate_entry(number: int, entry: Any) -> dict:
    """Check one index entry's keys and types; return a normalised copy (seed as int)."""
    if not isinstance(entry, Mapping):
        raise _entry_error(number, entry, f"expected a mapping, got {type(entry).__name__}")
    for key in _STRING_FIELDS:
        value = entry.get(key)
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            raise _entry_error(number, entry, f"key {key!r} is missing or not a non-empty string")
    normal = dict(entry)
    normal["seed"] = _entry_seed(number, entry)
    for key in _STRING_FIELDS:
        normal[key] = str(entry[key])
    for key in ("mask_ratio", "mask_warmup_ratio"):
        value = entry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _entry_error(number, entry, f"key {key!r} must be a number, got {value!r}")
    for key, kind in (("path", "per-item file"), ("summary", "summary file")):
        if not Path(normal[key]).is_file():
            raise _entry_error(number, entry, f"{kind} {normal[key]} does not exist")
    return normal


def _item_metadata(item: dict, where: str, seen: Mapping[str, bool]) -> dict:
    """Check one per-item record's id (new: not in ``seen``), correct/invalid flags and metadata;
    return the metadata."""
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise TableInputError(f"{where}: field 'id' is missing or not a non-empty string")
    if item_id in seen:
        raise TableInputError(f"{where}: duplicate item id {item_id!r}")
    for key in ("correct", "invalid"):
        if not isinstance(item.get(key), bool):
            raise TableInputError(
                f"{where}: field {key!r} must be true or false, got {item.get(key)!r}"
            )
    metadata = item.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise TableInputError(f"{where}: field 'metadata' must be an object")
    return metadata


def _read_items(
    path: str, cluster_by: str | None = "template"
) -> tuple[dict, dict, dict, dict, dict]:
    """Parse a per-item JSONL file: (correct, invalid, cluster, n_steps, distractor factors), each keyed by
    item id (the factors: the :data:`DISTRACTOR_FACTORS` present in the item's metadata, as strings).

    The cluster of an item is ``metadata[cluster_by]`` (None when absent or ``cluster_by`` is None).
    """
    correct, invalid, templates, n_steps, distractor = {}, {}, {}, {}, {}
    try:
        lines = list(iter_jsonl(path))
    except RecordError as error:
        raise TableInputError(str(error)) from None
    for number, item in lines:
        where = f"{path}:{number}"
        if not isinstance(item, dict):
            raise TableInputError(f"{where}: expected a JSON object")
        metadata = _item_metadata(item, where, correct)
        item_id = item["id"]
        correct[item_id] = item["correct"]
        invalid[item_id] = item["invalid"]
        template = metadata.get(cluster_by) if cluster_by else None
        templates[item_id] = str(template) if template not in (None, "") else None
        steps = metadata.get("n_steps")
        n_steps[item_id] = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
        factors = {
            k: str(metadata[k]) for k in DISTRACTOR_FACTORS if metadata.get(k) not in (None, "")
        }
        if factors:
            distractor[item_id] = factors
    if not correct:
        raise TableInputError(f"{path}: no items")
    return correct, invalid, templates, n_steps, distractor


def _read_summary(path: str, correct: dict[str, bool], items_path: str) -> dict:
    """Parse a summary JSON and check it against its per-item file."""
    summary = read_json_file(path, "evaluation summary", TableInputError)
    if not isinstance(summary, dict):
        raise TableInputError(f"{path}: expected a JSON object")
    for key in ("accuracy", "n"):
        if key not in summary:
            raise TableInputError(f"{path}: key {key!r} is missing")
    accuracy, n = summary["accuracy"], summary["n"]
    if not isinstance(n, int) or n != len(correct):
        raise TableInputError(f"{path}: n = {n!r} but {items_path} has {len(correct)} items")
    if not isinstance(accuracy, (int, float)):
        raise TableInputError(f"{path}: accuracy must be a number, got {accuracy!r}")
    observed = sum(correct.values()) / len(correct)
    scaled = accuracy / 100.0 if accuracy > 1.0 else accuracy
    if abs(scaled - observed) > 1e-6:
        raise TableInputError(
            f"{path}: accuracy {accuracy} disagrees with {items_path} ({observed:.6f} correct)"
        )
    return summary


def _validate_index(index: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Every entry checked (keys, types, files exist) and no two entries for one evaluation."""
    if isinstance(index, (str, bytes, os.PathLike)) or not isinstance(index, Sequence):
        raise TableInputError("index must be a list of evaluation entries")
    if not index:
        raise TableInputError("index is empty: no evaluations to aggregate")
    entries, seen = [], {}
    for number, entry in enumerate(index):
        normal = _validate_entry(number, entry)
        key = tuple(normal[k] for k in KEY_FIELDS)
        if key in seen:
            raise _entry_error(number, entry, f"duplicate of index entry {seen[key]}")
        seen[key] = number
        entries.append(normal)
    return entries


def _read_evaluation(normal: Mapping[str, Any], cluster_by: str | None) -> Evaluation:
    """Read one validated entry's files into an :class:`Evaluation`."""
    correct, invalid, templates, n_steps, distractor = _read_items(normal["path"], cluster_by)
    summary = _read_summary(normal["summary"], correct, normal["path"])
    return Evaluation(
        **{k: normal[k] for k in KEY_FIELDS},
        path=normal["path"],
        summary_path=normal["summary"],
        correct=correct,
        invalid=invalid,
        templates=templates,
        n_steps=n_steps,
        summary=summary,
        distractor=distractor,
        mask_ratio=normal.get("mask_ratio"),
        mask_warmup_ratio=normal.get("mask_warmup_ratio"),
        epochs=normal.get("epochs"),
        method_kind=normal.get("method_kind"),
        sweep=bool(normal.get("sweep", False)),
    )


def load_evaluations(
    index: Sequence[Mapping[str, Any]], cluster_by: str | None = "template"
) -> list[Evaluation]:
    """Validate the whole index (keys, duplicates, file existence), then read and check every file.

    Raises :class:`TableInputError` naming the index entry or the file (and line) at fault, and
    :class:`cotmask.stats.ItemMismatchError` (naming the files) when two evaluations of one
    benchmark do not cover the same item ids.
    """
    evaluations = [_read_evaluation(normal, cluster_by) for normal in _validate_index(index)]
    by_benchmark: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for ev in evaluations:
        by_benchmark[ev.benchmark][ev.path] = list(ev.correct)
    for item_sets in by_benchmark.values():
        stats.check_item_sets(item_sets)
    return evaluations
