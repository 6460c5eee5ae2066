"""Snakemake adapter: initialise and briefly pre-train one tiny base model.

Calls ``cotmask.tiny.build_base_model(tokenizer_dir, corpus_files, out_dir, *, threads,
checkpoint_dir, **settings)``; settings = architecture (shape, hidden_size, ...) + pre-training
(pretrain_epochs, pretrain_lr, batch_size, max_length, seed) from params.settings.
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

from cotmask.tiny import build_base_model  # noqa: E402

build_base_model(
    snakemake.input.tokenizer,
    list(snakemake.input.corpus),
    snakemake.output[0],
    threads=snakemake.threads,
    checkpoint_dir=snakemake.params.checkpoint_dir,
    **snakemake.params.settings,
)
