"""Snakemake adapter: train the word-level tokenizer shared by the tiny models.

Calls ``cotmask.tiny.train_tokenizer(corpus_files, out_dir, *, vocab_size, seed)``.
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

from cotmask.tiny import train_tokenizer  # noqa: E402

train_tokenizer(list(snakemake.input), snakemake.output[0], **snakemake.params.settings)
