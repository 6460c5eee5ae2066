"""Snakemake adapter: initialise and briefly pre-train one tiny base model.

Calls (through ``cotmask.worker.run_job``: in the warm worker when there is one)
``cotmask.tiny.build_base_model(tokenizer_dir, corpus_files, out_dir, *, threads, checkpoint_dir,
**settings)``; settings = architecture (shape, hidden_size, ...) + pre-training (pretrain_epochs, pretrain_lr,
batch_size, max_length, seed) from params.settings.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from cotmask.worker import run_job  # noqa: E402

run_job(
    "cotmask.tiny:build_base_model",
    snakemake.input.tokenizer,
    list(snakemake.input.corpus),
    snakemake.output[0],
    threads=snakemake.threads,
    checkpoint_dir=snakemake.params.checkpoint_dir,
    **snakemake.params.settings,
)
