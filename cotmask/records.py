"""The normalised dataset record and its JSONL files.

Every dataset of the pipeline, whatever its origin, ends as JSONL lines of the form::

    {"id": str, "question": str, "solution": str, "answer": str, "source": str, "metadata": {...}}

Reading validates each line and raises :class:`RecordError` naming the file, line and field.
Writing is atomic: a partial file never carries the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

REQUIRED_TEXT_FIELDS = ("id", "question", "solution", "answer", "source")


class RecordError(ValueError):
    """A malformed record, located by file, line and field."""

    def __init__(self, path: str | os.PathLike, line: int | None, field: str | None, problem: str):
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        where = self.path if line is None else f"{self.path}:{line}"
        what = f" field {field!r}" if field else ""
        super().__init__(f"{where}:{what} {problem}")


def validate_record(record: Any, path: str | os.PathLike = "<memory>", line: int | None = None) -> dict:
    """Check one record against the schema; return it unchanged or raise RecordError."""
    if not isinstance(record, dict):
        raise RecordError(path, line, None, f"expected a JSON object, got {type(record).__name__}")
    for field in REQUIRED_TEXT_FIELDS:
        if field not in record:
            raise RecordError(path, line, field, "is missing")
        value = record[field]
        if not isinstance(value, str):
            raise RecordError(path, line, field, f"must be a string, got {type(value).__name__}")
        if not value.strip():
            raise RecordError(path, line, field, "is empty")
    metadata = record.get("metadata", {})
    if not isinstance(metadata, dict):
        raise RecordError(path, line, "metadata", "must be a JSON object")
    return record


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each non-blank line; bad JSON raises RecordError."""
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw)
            except json.JSONDecodeError as error:
                raise RecordError(path, number, None, f"invalid JSON ({error.msg})") from None


def read_jsonl(path: str | os.PathLike, validate: bool = True) -> list[dict]:
    """Read a record file; with ``validate`` every line must satisfy the record schema."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file")
    records = []
    seen: dict[str, int] = {}
    for number, obj in iter_jsonl(path):
        if validate:
            validate_record(obj, path, number)
            if obj["id"] in seen:
                raise RecordError(path, number, "id", f"duplicate id {obj['id']!r} (first on line {seen[obj['id']]})")
            seen[obj["id"]] = number
            obj.setdefault("metadata", {})
        records.append(obj)
    return records


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary file name next to ``path``; on success it is renamed to ``path``, on error removed.

    A partially written output therefore never carries its final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_jsonl(records: Iterable[dict], path: str | os.PathLike) -> int:
    """Write records atomically (temporary file in the same folder, then rename); return the count."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write a JSON document atomically, indented and with sorted keys."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")


def _distribution(values: list[float]) -> dict[str, float]:
    if not values:
        return {"min": 0, "max": 0, "mean": 0.0, "median": 0.0}
    return {
        "min": min(values),
        "max": max(values),
        "mean": round(statistics.fmean(values), 3),
        "median": statistics.median(values),
    }


def dataset_stats(records: list[dict], **extra: Any) -> dict:
    """Counts and length/step distributions of a record list (the per-split part of stats.json)."""
    steps = [r["metadata"]["n_steps"] for r in records if isinstance(r.get("metadata", {}).get("n_steps"), int)]
    stats = {
        "n": len(records),
        "sources": dict(sorted(Counter(r["source"] for r in records).items())),
        "question_words": _distribution([len(r["question"].split()) for r in records]),
        "solution_words": _distribution([len(r["solution"].split()) for r in records]),
        "n_steps": dict(sorted(Counter(steps).items())) if steps else {},
    }
    stats.update(extra)
    return stats
