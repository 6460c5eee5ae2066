"""Snakemake adapter: write one source dataset (all its splits + stats.json).

Calls ``cotmask.data.build_source(source, out_dir, **options)``; values come only from the
``snakemake`` object (params.source, params.options, output.splits, output.stats). The rule declares
every split the source can write (a fixed list, rules/data.smk); a declared split that these options do
not build is written as an empty file, and stats.json lists the splits that were built.
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from cotmask.data import build_source  # noqa: E402

build_source(
    snakemake.params.source,
    os.path.dirname(snakemake.output.stats),
    **snakemake.params.options,
)
for path in map(Path, snakemake.output.splits):
    if not path.exists():
        print(f"{path}: not built with these options (an empty placeholder of the rule's fixed outputs)")
        path.touch()
