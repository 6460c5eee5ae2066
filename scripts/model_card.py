"""Snakemake adapter: the model card of one fine-tune with the results of its evaluate job.

Calls ``cotmask.model_card.card_with_results(model_dir, out, eval_dir)`` with the fine-tune's folder
(input.model), the evaluate job's folder (input.evals) and the card's path (output[0]). The card reads only
these inputs (train_metrics.json, the evaluation summaries), so the rule has no params.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from cotmask.model_card import card_with_results  # noqa: E402

card_with_results(snakemake.input.model, snakemake.output[0], snakemake.input.evals)
