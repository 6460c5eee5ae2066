"""Snakemake adapter: evaluate one fine-tuned model on one benchmark with one decoding mode.

Calls ``cotmask.evaluate.evaluate(model_dir, benchmark_file, predictions_out, summary_out, *,
threads, **settings)``; settings (scoring, calculator, prompt_template, batch_size,
max_new_tokens, limit, seed) come from params.settings.
"""

import logging
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

from cotmask.evaluate import evaluate  # noqa: E402

evaluate(
    snakemake.input.model,
    snakemake.input.data,
    snakemake.output.predictions,
    snakemake.output.summary,
    threads=snakemake.threads,
    **snakemake.params.settings,
)
