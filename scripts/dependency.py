"""Snakemake adapter: the dependency-distance analysis (cotmask.analysis.dependency).

Rule ``dependency``: ``run_dependency(input.model, benchmarks, output[0], **rest)`` for one fine-tune (through
``cotmask.worker.run_job``: in the warm worker when there is one), with
params.settings = {benchmarks, settings, prompt_template, cluster_by, name} (cotmask.plan.analysis). Rule
``dependency_table``: ``build_dependency_tables(input, results_dir, **params.settings)`` (results_dir: the
folder above output[0]'s ``tables/``).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from pathlib import Path  # noqa: E402

if snakemake.rule == "dependency":
    from cotmask.worker import run_job

    settings = dict(snakemake.params.settings)
    run_job(
        "cotmask.analysis.dependency:run_dependency",
        snakemake.input.model,
        settings.pop("benchmarks"),
        snakemake.output[0],
        threads=snakemake.threads,
        **settings,
    )
else:
    from cotmask.analysis.dependency_table import build_dependency_tables

    build_dependency_tables(list(snakemake.input), Path(snakemake.output[0]).parents[1], **snakemake.params.settings)
