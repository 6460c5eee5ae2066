"""Snakemake adapter: evaluate one fine-tuned model on every benchmark and decoding asked of it.

Calls (through ``cotmask.worker.run_job``: in the warm worker when there is one)
``cotmask.evaluate.evaluate_suite(model_dir, runs, out_dir, *, threads)``, which loads the model once;
params.runs lists one entry per (benchmark, decoding): ``name`` (the file stem ``{benchmark}.{decoding}``),
``benchmark_file`` and the settings (scoring, calculator, prompt_template, batch_size, max_new_tokens, limit,
n_bootstrap, seed).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from cotmask.worker import run_job  # noqa: E402

run_job(
    "cotmask.evaluate:evaluate_suite",
    snakemake.input.model,
    snakemake.params.runs,
    snakemake.output[0],
    threads=snakemake.threads,
)
