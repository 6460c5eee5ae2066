"""Snakemake adapter: evaluate one fine-tuned model on one benchmark with one decoding mode.

Calls ``cotmask.evaluate.evaluate(model_dir, benchmark_file, predictions_out, summary_out, *,
threads, **settings)``; settings (scoring, calculator, prompt_template, batch_size,
max_new_tokens, limit, seed) come from params.settings.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0])

from cotmask.evaluate import evaluate  # noqa: E402

evaluate(
    snakemake.input.model,
    snakemake.input.data,
    snakemake.output.predictions,
    snakemake.output.summary,
    threads=snakemake.threads,
    **snakemake.params.settings,
)
