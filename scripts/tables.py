"""Snakemake adapter: aggregate every evaluation into tables, figures and results/summary.json.

Calls ``cotmask.tables.build_tables(index, out_dir, **options)`` with the index of evaluations built
in rules/common.smk (params.index) and the aggregation options of the config (params.options);
out_dir is the folder of output.summary.
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

from cotmask.tables import build_tables  # noqa: E402

build_tables(
    snakemake.params.index,
    os.path.dirname(snakemake.output.summary),
    **snakemake.params.options,
)
