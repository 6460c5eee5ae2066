"""Reading one JSON input file (an index, an options file, a list of runs) with errors that name it."""

from __future__ import annotations

import json
import os
from typing import Any

from cotmask.records import RecordError, check_text, decode_text, may_hold_surrogate


def read_json_file(path: str | os.PathLike, what: str, error: type[ValueError] = ValueError) -> Any:
    """The parsed JSON of ``path``; ``error`` (a ValueError type) naming ``what`` and the file (and line)
    when it is missing, is not UTF-8, is not valid JSON or holds a lone surrogate (``\\ud800``)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    try:
        text = decode_text(data, path)
        value = json.loads(text)
        return check_text(value, path, None) if may_hold_surrogate(text) else value
    except json.JSONDecodeError as problem:
        raise error(f"{path}: invalid JSON ({problem.msg}, line {problem.lineno})") from None
    except RecordError as problem:
        raise error(str(problem)) from None
