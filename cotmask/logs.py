"""Send a job's output to its log file (used by the Snakemake adapters in ``scripts/``)."""

from __future__ import annotations

import logging
import os
import sys

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def log_to(path: str | os.PathLike) -> None:
    """Redirect stdout, stderr (progress bars included) and ``logging`` to ``path``, line-buffered."""
    stream = open(path, "w", buffering=1)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format=LOG_FORMAT, force=True)
