"""Snakemake adapter: one SFT/MFT fine-tune.

Builds ``cotmask.train.FinetuneConfig.from_dict(...)`` from params.settings (the merged
hyper-parameters, prompt template and seed), the base model (the tiny model directory given as
input.base, else the hub id / local path in params.base_model), the training file, the output and
checkpoint directories and the job's threads; then calls ``cotmask.train.finetune(cfg)``.

With ``resources.gpu > 1`` (paper scale) the same fine-tune runs as one process per GPU:
``accelerate launch [--config_file <params.accelerate_config> | --multi_gpu] --num_processes N
-m cotmask.cli train --config <log>.config.json`` (FSDP with config/accelerate/fsdp_*.yaml).
"""

import json
import logging
import subprocess
import sys
from pathlib import Path
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

from cotmask.train import FinetuneConfig, finetune  # noqa: E402

config = FinetuneConfig.from_dict(
    {
        **snakemake.params.settings,
        "base_model": snakemake.input.get("base") or snakemake.params.base_model,
        "train_file": snakemake.input.train,
        "output_dir": snakemake.output[0],
        "checkpoint_dir": snakemake.params.checkpoint_dir,
        "threads": snakemake.threads,
    }
)
gpus = int(snakemake.resources.get("gpu", 0) or 0)
if gpus > 1:
    config_file = Path(snakemake.log[0]).with_suffix(".config.json")
    config_file.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if snakemake.params.accelerate_config:
        command += ["--config_file", snakemake.params.accelerate_config]
    else:
        command += ["--multi_gpu"]
    command += ["--num_processes", str(gpus), "-m", "cotmask.cli", "train", "--config", str(config_file)]
    print("launching:", " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True, stdout=sys.stderr, stderr=sys.stderr)
else:
    finetune(config)
