"""Snakemake adapter: train the BPE tokenizer shared by the tiny models.

Calls ``cotmask.tiny.train_tokenizer(corpus_files, out_dir, *, vocab_size, seed, split_digits)``.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from cotmask.tiny import train_tokenizer  # noqa: E402

train_tokenizer(list(snakemake.input), snakemake.output[0], **snakemake.params.settings)
