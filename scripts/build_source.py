"""Snakemake adapter: write one source dataset (all its splits + stats.json).

Calls ``cotmask.data.build_source(source, out_dir, **options)``; values come only from the
``snakemake`` object (params.source, params.options, output.stats).
"""

import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(
    stream=sys.stderr,
    level=logging.INFO,
    format="%(asctime)s %(name)s %(levelname)s %(message)s",
    force=True,
)

from cotmask.data import build_source  # noqa: E402

build_source(
    snakemake.params.source,
    os.path.dirname(snakemake.output.stats),
    **snakemake.params.options,
)
