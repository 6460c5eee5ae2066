"""Snakemake adapter: RFT data by rejection sampling from a fine-tuned model.

Calls (through ``cotmask.worker.run_job``: in the warm worker when there is one)
``cotmask.data.rejection_sample(train_file, out_dir, *, model_dir, threads, **settings)``; settings (k,
temperature, max_new_tokens, seed, prompt_template, calculator, batch_size, include_original) come from
params.settings.
"""

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from cotmask.worker import run_job  # noqa: E402

run_job(
    "cotmask.data:rejection_sample",
    snakemake.input.train,
    os.path.dirname(snakemake.output.stats),
    model_dir=snakemake.input.model,
    threads=snakemake.threads,
    **snakemake.params.settings,
)
