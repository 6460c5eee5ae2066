"""Snakemake adapter: aggregate every evaluation into tables, figures and results/summary.json.

Calls ``cotmask.report.build_tables(index, out_dir, **options)`` with the index of evaluations and the
aggregation options of the config, both from the workflow's planner :mod:`cotmask.plan`
(``Plan.index_records`` as params.index, ``Plan.tables_options()`` as params.options), and the fine-tunes
whose overfitting diagnostics to tabulate (``Plan.tables_diagnostics_runs()`` as params.diagnostics; empty when
they are off); out_dir is the folder of output.summary. (params.config_files is for the report's captions only.)
"""

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from cotmask.report import build_tables  # noqa: E402

build_tables(
    snakemake.params.index,
    os.path.dirname(snakemake.output.summary),
    diagnostics_runs=snakemake.params.diagnostics,
    **snakemake.params.options,
)
