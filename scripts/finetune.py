"""Snakemake adapter: one SFT/MFT fine-tune.

Calls ``cotmask.train.run_finetune`` (through ``cotmask.worker.run_job``: in the warm worker when there is
one) with the mapping ``FinetuneConfig.from_dict`` takes: params.settings (the merged hyper-parameters,
prompt template and seed), the base model (the tiny model directory given as input.base, else the hub id /
local path in params.base_model), the training file, the output and checkpoint directories, the job's
threads and the test file of the overfitting diagnostics (input.diagnostics, when the config turns them
on). ``run_finetune`` trains
in this process, or with ``resources.gpu > 1`` (paper scale) as one process per GPU through
``accelerate launch`` (FSDP with the model's ``accelerate_config``, config/accelerate/fsdp_*.yaml).
"""

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from cotmask.worker import run_job  # noqa: E402

run_job(
    "cotmask.train:run_finetune",
    {
        **snakemake.params.settings,
        "base_model": snakemake.input.get("base") or snakemake.params.base_model,
        "train_file": snakemake.input.train,
        "output_dir": snakemake.output[0],
        "checkpoint_dir": snakemake.params.checkpoint_dir,
        "threads": snakemake.threads,
        "diagnostics_test_file": snakemake.input.get("diagnostics"),
    },
    num_processes=int(snakemake.resources.get("gpu", 0) or 0),
    accelerate_config=snakemake.params.accelerate_config,
    config_path=str(Path(snakemake.log[0]).with_suffix(".config.json")),
)
