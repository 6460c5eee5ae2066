"""Snakemake adapter: build an augmented training set (metamath_style, pot_mix or concat).

Calls ``cotmask.data.build_augmented(kind, inputs, out_dir, **options)``, writing
out_dir/train.jsonl and out_dir/stats.json.
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

from cotmask.data import build_augmented  # noqa: E402

build_augmented(
    snakemake.params.kind,
    list(snakemake.input),
    os.path.dirname(snakemake.output.stats),
    **snakemake.params.options,
)
