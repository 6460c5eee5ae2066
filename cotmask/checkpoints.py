"""Helpers for resumable, atomic training outputs, shared by fine-tuning (:mod:`cotmask.train`) and the
tiny-model pretraining (:mod:`cotmask.tiny`).

* :func:`settings_fingerprint` hashes what determines the trained weights, so that checkpoints left by a
  run with other settings are recognised and not resumed from;
* :func:`file_signature` is the part of that fingerprint that stands for an input file or model folder;
* :func:`replace_dir` puts a finished output folder in place with renames only;
* :func:`model_source` tells a model folder from a hub id before anything is loaded (no torch import).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from cotmask.records import give_normal_permissions


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
    """Move the finished ``tmp`` folder to ``final`` (replacing an old one) with renames only, its files given
    the user's normal permissions first (safetensors writes ``model.safetensors`` as 0600)."""
    give_normal_permissions(tmp)
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


#: A Hugging Face Hub model id: ``name`` or ``owner/name`` (letters, digits, ``-``, ``_``, ``.``).
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def model_source(name: str | os.PathLike) -> str:
    """``"local"`` for a model folder (with ``config.json``), ``"hub"`` for a hub id that is no local path.

    Anything else -- a folder without ``config.json``, a path that does not exist and is no hub id -- is a
    FileNotFoundError naming what is expected. Offline and cheap: whether a hub id exists is known only when
    it is loaded (:func:`cotmask.generation.load_pretrained` explains a failure).
    """
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{name}: not a model folder (no config.json)")
        return "local"
    text = str(name)
    if HUB_ID.match(text) and ".." not in text:
        return "hub"
    raise FileNotFoundError(
        f"{name}: no such model folder (expected a save_pretrained folder with config.json, or a hub id such "
        "as meta-llama/Llama-2-7b-hf)"
    )
