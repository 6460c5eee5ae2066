"""Snakemake adapter: write one source dataset (all its splits + stats.json).

Calls ``cotmask.data.build_source(source, out_dir, **options)``; values come only from the
``snakemake`` object (params.source, params.options, output.stats).
"""

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0])

from cotmask.data import build_source  # noqa: E402

build_source(
    snakemake.params.source,
    os.path.dirname(snakemake.output.stats),
    **snakemake.params.options,
)
