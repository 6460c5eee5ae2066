"""Reading one JSON input file (an index, an options file, a list of runs) with errors that name it."""

from __future__ import annotations

import json
import os
from typing import Any


def read_json_file(path: str | os.PathLike, what: str, error: type[ValueError] = ValueError) -> Any:
    """The parsed JSON of ``path``; ``error`` (a ValueError type) naming ``what`` and the file when it is
    missing or is not valid JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except json.JSONDecodeError as problem:
        raise error(f"{path}: invalid JSON ({problem.msg}, line {problem.lineno})") from None
