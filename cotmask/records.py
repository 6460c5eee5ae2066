"""The normalised dataset record and its JSONL files.

Every dataset of the pipeline, whatever its origin, ends as JSONL lines of the form::

    {"id": str, "question": str, "solution": str, "answer": str, "source": str, "metadata": {...}}

Reading validates each line and raises :class:`RecordError` naming the file, line and field; bytes that
are not UTF-8 and lone surrogates (``"\\ud800"`` escapes, which no UTF-8 file can hold) are refused there
too, so that nothing read can fail to be written later. Writing is atomic: a partial file never carries
the final name, and a finished one has the permissions of any file the user creates (the umask), not the
0600 of a temporary file. :func:`write_dataset_dir` writes a whole dataset folder the same way: into a
temporary folder next to it, moved into place at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import statistics
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


def lone_surrogate_field(value: Any, where: str = "") -> str | None:
    """The dotted field (``question``, ``metadata.tags[2]``; ``""`` for a bare string) of the first string
    in ``value`` holding a lone surrogate, or None when there is none."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            found = lone_surrogate_field(key, where) or lone_surrogate_field(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = lone_surrogate_field(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def may_hold_surrogate(raw: str) -> bool:
    """Cheap pre-check: a lone surrogate can only come from a ``\\uD800``-``\\uDFFF`` escape."""
    return "\\ud" in raw or "\\uD" in raw


def decode_line(raw: bytes, path: str | os.PathLike, number: int) -> str:
    """One line of a text file as UTF-8; RecordError naming file, line and column when it is not."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = raw[error.start:error.start + 1].hex()
        problem = f"not UTF-8 (byte 0x{bad} at byte {error.start + 1} of the line)"
        raise RecordError(path, number, None, problem) from None


def decode_text(data: bytes, path: str | os.PathLike) -> str:
    """A whole file's bytes as UTF-8; RecordError naming the file and the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        start = data.rfind(b"\n", 0, error.start) + 1
        end = data.find(b"\n", error.start)
        decode_line(data[start:] if end < 0 else data[start:end], path, data.count(b"\n", 0, error.start) + 1)
        raise  # pragma: no cover - decode_line raised for the same bytes


def check_text(value: Any, path: str | os.PathLike, line: int | None) -> Any:
    """``value`` unchanged, or RecordError (file, line, field) when a string in it holds a lone surrogate."""
    field = lone_surrogate_field(value)
    if field is not None:
        raise RecordError(path, line, field or None, "holds a lone surrogate (a \\ud800-\\udfff escape), not text")
    return value


def parse_json_line(raw: str, path: str | os.PathLike, number: int) -> Any:
    """One JSON value of a JSONL line; RecordError for bad JSON or a lone surrogate."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise RecordError(path, number, None, f"invalid JSON ({error.msg})") from None
    return check_text(value, path, number) if may_hold_surrogate(raw) else value


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each non-blank line; a line that is not UTF-8, not JSON or holds a
    lone surrogate raises RecordError."""
    with open(path, "rb") as handle:
        for number, raw_bytes in enumerate(handle, start=1):
            raw = decode_line(raw_bytes, path, number)
            if not raw.strip():
                continue
            yield number, parse_json_line(raw, path, number)


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


#: Random bytes in a temporary name (``.NAME.<hex>.tmp``).
TEMP_NAME_BYTES = 4


def _fresh_name(folder: Path, prefix: str, suffix: str) -> Path:
    return folder / f"{prefix}{secrets.token_hex(TEMP_NAME_BYTES)}{suffix}"


def stale_temp_dirs(out: Path) -> list[Path]:
    """Temporary folders of ``out`` (``.NAME.<hex>.tmp`` beside it) that a killed process (kill -9, a
    SIGTERM) could not remove."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.[0-9a-f]{{{2 * TEMP_NAME_BYTES}}}\.tmp")
    if not out.parent.is_dir():
        return []
    return sorted(p for p in out.parent.iterdir() if p.is_dir() and pattern.fullmatch(p.name))


def create_temp_file(folder: str | os.PathLike, prefix: str, suffix: str = ".tmp") -> str:
    """Create an empty file with a new name in ``folder`` and return its path. Unlike ``tempfile.mkstemp``
    (mode 0600) the file gets the user's normal permissions: 0666 less the umask, as ``open`` gives."""
    folder = Path(folder)
    while True:
        candidate = _fresh_name(folder, prefix, suffix)
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return str(candidate)


def create_temp_dir(folder: str | os.PathLike, prefix: str, suffix: str = ".tmp") -> Path:
    """Create an empty folder with a new name in ``folder`` (0777 less the umask, not mkdtemp's 0700)."""
    folder = Path(folder)
    while True:
        candidate = _fresh_name(folder, prefix, suffix)
        try:
            candidate.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return candidate


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-and-restore
    os.umask(mask)
    return mask


def give_normal_permissions(path: str | os.PathLike) -> None:
    """Set ``path`` (a file, or a folder and everything below it) to the permissions a file or folder the
    user creates gets: 0666 / 0777 less the umask. For outputs that a library writes through its own
    temporary files (0600), e.g. ``model.safetensors``."""
    mask = _umask()
    root = Path(path)
    paths = [root] if not root.is_dir() else [root, *root.rglob("*")]
    for item in paths:
        if item.is_symlink():
            continue
        os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~mask)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary file name next to ``path``; on success it is renamed to ``path``, on error removed.

    A partially written output therefore never carries its final name. The file has the user's normal
    permissions (:func:`create_temp_file`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = create_temp_file(path.parent, prefix=f".{path.name}.")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _unencodable(obj: Any, path: str | os.PathLike, line: int | None) -> RecordError:
    """The error for an output that UTF-8 cannot encode: a lone surrogate, with its field."""
    field = lone_surrogate_field(obj)
    return RecordError(path, line, field or None, "holds a lone surrogate (a \\ud800-\\udfff escape); not written")


def write_jsonl(records: Iterable[dict], path: str | os.PathLike) -> int:
    """Write records atomically (temporary file in the same folder, then rename); return the count.

    A record holding a lone surrogate raises RecordError (output file, line, field) and leaves no file.
    """
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            try:
                handle.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
            except UnicodeEncodeError:
                raise _unencodable(record, path, count + 1) from None
            count += 1
    return count


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write a JSON document atomically, indented and with sorted keys (a lone surrogate: RecordError)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        try:
            json.dump(obj, handle, indent=2, sort_keys=True, ensure_ascii=False)
        except UnicodeEncodeError:
            raise _unencodable(obj, path, None) from None
        handle.write("\n")


#: The file a dataset folder writes last: a folder holding it is complete.
STATS_FILE = "stats.json"


def _old_split_files(out: Path) -> list[str]:
    """The ``{split}.jsonl`` files that the stats file of an earlier build in ``out`` lists (none when it
    cannot be read)."""
    try:
        splits = json.loads((out / STATS_FILE).read_text(encoding="utf-8")).get("splits", {})
    except (OSError, ValueError, AttributeError):
        return []
    return [f"{split}.jsonl" for split in splits if isinstance(split, str) and "/" not in split] \
        if isinstance(splits, dict) else []


def _move_into(staged: Path, out: Path) -> None:
    """Put the staged folder's files at ``out``: one rename when ``out`` is absent or empty; otherwise file by
    file, with ``out``'s old stats file removed first and the new one moved last, so that the folder never
    shows a stats file beside data files of another build. Split files of the earlier build that this one
    does not write are removed (a stale ``pretrain.jsonl`` would look like part of the new dataset); other
    files of ``out`` (the user's) are left alone."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        os.replace(staged, out)
        return
    if not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a folder")
    names = sorted(p.name for p in staged.iterdir())
    stale = [name for name in _old_split_files(out) if name not in names]
    for name in [STATS_FILE, *stale]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out / name)
    for name in [n for n in names if n != STATS_FILE] + [n for n in names if n == STATS_FILE]:
        os.replace(staged / name, out / name)
    staged.rmdir()


def write_dataset_dir(out_dir: str | os.PathLike, splits: dict[str, Iterable[dict]], stats: dict) -> dict:
    """Write a dataset folder: ``{split}.jsonl`` for each split and ``stats.json``, all into a temporary
    folder next to ``out_dir`` that is moved into place at the end. An error or an interrupt (Ctrl-C) on the
    way leaves neither a partial folder nor the temporary one; the temporary folder of a process killed
    outright (kill -9) is removed by the next write of the same folder. Returns ``stats``."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temp_dirs(out):
        shutil.rmtree(stale, ignore_errors=True)
    staged = create_temp_dir(out.parent, prefix=f".{out.name}.")
    try:
        for split, rows in splits.items():
            write_jsonl(rows, staged / f"{split}.jsonl")
        write_json(stats, staged / STATS_FILE)
        _move_into(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return stats


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
