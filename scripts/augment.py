"""Snakemake adapter: build an augmented training set (metamath_style, pot_mix or concat).

Calls ``cotmask.data.build_augmented(kind, inputs, out_dir, **options)``, writing
out_dir/train.jsonl and out_dir/stats.json.
"""

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from cotmask.data import build_augmented  # noqa: E402

build_augmented(
    snakemake.params.kind,
    list(snakemake.input),
    os.path.dirname(snakemake.output.stats),
    **snakemake.params.options,
)
