"""Snakemake adapter: the dependency case study (cotmask.analysis.case_study).

Rule ``case_study``: ``run_case_study(input.model, input.data, prefix, **params.settings)`` for one fine-tune,
through ``cotmask.worker.run_job`` (in the warm worker when there is one)
(prefix: output.rows without ``.jsonl``; input.data is absent for the paper's own question). Rule
``case_study_table``: ``write_case_study(input, results_dir, **params.settings)`` (results_dir: the folder
above output[0]'s ``tables/``).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from pathlib import Path  # noqa: E402

if snakemake.rule == "case_study":
    from cotmask.worker import run_job

    run_job(
        "cotmask.analysis.case_study:run_case_study",
        snakemake.input.model,
        snakemake.input.get("data"),
        str(snakemake.output.rows)[: -len(".jsonl")],
        threads=snakemake.threads,
        **snakemake.params.settings,
    )
else:
    from cotmask.analysis.case_study import write_case_study

    write_case_study(list(snakemake.input), Path(snakemake.output[0]).parents[1], **snakemake.params.settings)
