"""Helpers for resumable, atomic training outputs, shared by fine-tuning (:mod:`cotmask.train`) and the
tiny-model pretraining (:mod:`cotmask.tiny`).

* :func:`settings_fingerprint` hashes what determines the trained weights, so that checkpoints left by a
  run with other settings are recognised and not resumed from;
* :func:`file_signature` is the part of that fingerprint that stands for an input file or model folder;
* :func:`replace_dir` puts a finished output folder in place with renames only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any


def settings_fingerprint(data: dict[str, Any]) -> str:
    """A 16-hex-digit hash of a JSON-serialisable mapping (key order does not matter)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def file_signature(path: str | os.PathLike) -> list:
    """(name, size, mtime_ns) of a file or of every file directly inside a folder; [] if absent."""
    root = Path(path)
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(p for p in root.iterdir() if p.is_file())
    else:
        return []
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def replace_dir(tmp: Path, final: Path) -> None:
    """Move the finished ``tmp`` folder to ``final`` (replacing an old one) with renames only."""
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
