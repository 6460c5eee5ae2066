""":func:`~cotmask.report.build_tables` from files: a JSON index of evaluations and a JSON options file.

This is what ``cotmask tables`` runs. The index is a JSON list of evaluation entries, or an object with key
``evaluations``; the options file is a JSON object of ``build_tables`` keyword arguments (the keys of
:data:`~cotmask.report.options.OPTION_DEFAULTS`). Every problem with either file raises
:class:`~cotmask.report.evaluations.TableInputError` naming the file.
"""

from __future__ import annotations

import os
from typing import Any

from cotmask.jsonfiles import read_json_file
from cotmask.report.build import build_tables
from cotmask.report.evaluations import TableInputError
from cotmask.report.options import OPTION_DEFAULTS


def load_json_file(path: str | os.PathLike, what: str) -> Any:
    """The parsed JSON of ``path``; TableInputError (naming ``what`` and the path) when missing or malformed."""
    return read_json_file(path, what, TableInputError)


def load_index(path: str | os.PathLike) -> Any:
    """The evaluation entries of an index file (a list, or the ``evaluations`` of an object)."""
    index = load_json_file(path, "index file")
    if isinstance(index, dict) and "evaluations" in index:
        index = index["evaluations"]
    return index


def load_options(path: str | os.PathLike | None, **overrides: Any) -> dict[str, Any]:
    """The options file's keywords (checked against the known options; none without a file), with the
    ``overrides`` that are not None on top."""
    options = load_json_file(path, "options file") if path else {}
    if not isinstance(options, dict):
        raise TableInputError(f"{path}: expected a JSON object of build_tables keyword arguments")
    unknown = set(options) - set(OPTION_DEFAULTS)
    if unknown:
        raise TableInputError(f"{path}: unknown keys {sorted(unknown)}")
    return {**options, **{key: value for key, value in overrides.items() if value is not None}}


def build_tables_from_files(
    index_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    options_path: str | os.PathLike | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Run :func:`build_tables` on an index file with the options of ``options_path`` and ``overrides``
    (keyword arguments of build_tables; None leaves the file's value or the default). Returns the summary."""
    index = load_index(index_path)
    return build_tables(index, out_dir, **load_options(options_path, **overrides))
