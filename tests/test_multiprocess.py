"""Multi-process (data-parallel) fine-tuning under ``accelerate launch``, and the accelerate configs.

The claim tested: ``cotmask train`` under ``accelerate launch --num_processes 2`` (DDP, gloo on CPU)
with per-device batch b trains the same model as one process with batch 2b (same global batch, seed
and data), up to floating-point reduction order.

Why the runs are comparable (checked in the installed transformers 5 / accelerate 1.x sources):
* data order: the Trainer's ``RandomSampler`` is replaced by accelerate's ``SeedableRandomSampler``
  seeded with the training seed (+ epoch) in every process, so every process draws the same
  permutation; ``BatchSamplerShard`` then hands micro-batch k of size b to process ``k mod 2``. The
  two processes' micro-batches of one optimizer step are therefore exactly the single process's
  batch of 2b. (The number of examples must be a multiple of 2b: otherwise accelerate's
  ``even_batches`` pads the last step with repeated examples and the runs differ there.)
* loss: with ``average_tokens_across_devices`` (default True) each process divides its summed token
  loss by the token count of the *global* batch and multiplies by the world size; DDP averages the
  gradients over processes. Gradient and logged loss are then the global per-token mean, the same as
  in one process. Without masking noise (mask_ratio 0) nothing else differs.
* not bit-identical: the processes pad their micro-batches to different lengths than the joint batch
  and the gradient is summed per process and then all-reduced, so floating-point sums run in another
  order. Measured on this machine: per-step losses differ by <= 1e-6 and weights by < 1e-8 after 8
  steps; the tolerances below leave room for other CPUs/BLAS builds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = REPO / "config" / "accelerate"
CPU_DDP = ACCELERATE_CONFIGS / "cpu_ddp.yaml"

#: Largest allowed |loss(1 process, batch 2b) - loss(2 processes, batch b)| at any optimizer step.
LOSS_ATOL = 1e-4
#: Largest allowed absolute difference of any trained weight.
WEIGHT_ATOL = 1e-5

PER_DEVICE_BATCH = 4
N_EXAMPLES = 32  # a multiple of the global batch 2 x 4 = 8: 4 optimizer steps per epoch
EPOCHS = 2


def train_command(config: dict, run_dir: Path, batch: int, processes: int) -> list[str]:
    """``cotmask train`` as the workflow launches it: plain for 1 process, otherwise the library's own
    ``accelerate launch`` command (:func:`cotmask.train.accelerate_command`, used by ``run_finetune``)."""
    from cotmask.train import accelerate_command

    config_file = run_dir.parent / f"{run_dir.name}.yaml"
    config_file.write_text(yaml.safe_dump({**config, "output_dir": str(run_dir), "per_device_batch_size": batch}))
    if processes == 1:
        return [sys.executable, "-m", "cotmask.cli", "train", "--config", str(config_file)]
    return accelerate_command(str(config_file), num_processes=processes, accelerate_config=str(CPU_DDP))


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
    return env


def load_weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    weights: dict = {}
    for shard in sorted(model_dir.glob("*.safetensors")):
        weights.update(load_file(shard))
    assert weights, f"no safetensors weights in {model_dir}"
    return weights


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path, tiny_model_dir, tiny_records_file):
    config = dict(
        base_model=str(tiny_model_dir), train_file=str(tiny_records_file),
        prompt_template="short", max_length=96, learning_rate=2e-3, epochs=EPOCHS, lr_warmup_ratio=0.1,
        lr_scheduler="cosine", logging_steps=1, seed=5, limit=N_EXAMPLES, mask_ratio=0.0,
        save_every_epoch=False, threads=1,
    )
    runs = {1: tmp_path / "one_process", 2: tmp_path / "two_processes"}
    # Both launches at once: 3 single-threaded processes on the CI's 2 cores.
    procs = {
        n: subprocess.Popen(train_command(config, out, PER_DEVICE_BATCH * 2 // n, n), env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for n, out in runs.items()
    }
    logs = {n: proc.communicate(timeout=600)[0] for n, proc in procs.items()}
    for n, proc in procs.items():
        assert proc.returncode == 0, f"{n}-process run failed:\n{logs[n][-4000:]}"

    metrics = {n: json.loads((out / "train_metrics.json").read_text()) for n, out in runs.items()}
    assert metrics[1]["world_size"] == 1 and metrics[2]["world_size"] == 2, "the launch was not distributed"
    steps = N_EXAMPLES // (2 * PER_DEVICE_BATCH) * EPOCHS
    for n in runs:
        assert metrics[n]["optimizer_steps"] == steps
        assert [e["step"] for e in metrics[n]["loss_curve"]] == list(range(1, steps + 1))
    # Same examples overall (token counts are summed over processes) and the same LR schedule.
    assert metrics[1]["train_tokens_this_run"] == metrics[2]["train_tokens_this_run"]
    lr = {n: [e["learning_rate"] for e in metrics[n]["loss_curve"]] for n in runs}
    assert lr[1] == pytest.approx(lr[2], rel=1e-9)

    one = [e["loss"] for e in metrics[1]["loss_curve"]]
    two = [e["loss"] for e in metrics[2]["loss_curve"]]
    assert one[-1] < one[0] - 0.1, f"training did not learn anything, the comparison would be vacuous: {one}"
    diffs = [abs(a - b) for a, b in zip(one, two)]
    assert max(diffs) <= LOSS_ATOL, f"per-step loss differences {diffs}\n1 process: {one}\n2 processes: {two}"

    w1, w2 = load_weights(runs[1]), load_weights(runs[2])
    assert w1.keys() == w2.keys()
    worst = max(float((w1[k].float() - w2[k].float()).abs().max()) for k in w1)
    assert worst <= WEIGHT_ATOL, f"largest weight difference {worst}"
    # ... and training moved the weights far more than that (the comparison is not between two base models).
    base = load_weights(Path(tiny_model_dir))
    moved = max(float((w1[k].float() - base[k].float()).abs().max()) for k in base if k in w1
                and w1[k].shape == base[k].shape)
    assert moved > 100 * WEIGHT_ATOL


@pytest.mark.parametrize("name, layer", [("fsdp_llama", "LlamaDecoderLayer"), ("fsdp_mistral", "MistralDecoderLayer")])
def test_fsdp_configs_resolve_to_full_shard_bf16_with_the_decoder_layer(name, layer):
    """What ``accelerate launch --config_file`` makes of each FSDP file (the GPU run itself needs GPUs)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env
    from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig

    args = launch_command_parser().parse_args(
        ["--config_file", str(ACCELERATE_CONFIGS / f"{name}.yaml"), "-m", "cotmask.cli", "train"]
    )
    args, _, _ = _validate_launch_command(args)
    assert args.use_fsdp and args.num_processes == 8 and args.mixed_precision == "bf16"
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_USE_FSDP"] == "true"
    assert env["FSDP_VERSION"] == "1"
    assert env["FSDP_RESHARD_AFTER_FORWARD"].upper() == "FULL_SHARD"
    assert env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    assert env["FSDP_TRANSFORMER_CLS_TO_WRAP"] == layer
    assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"  # save_model() must write a loadable model
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    # The wrapped class exists in a model of that family (accelerate looks it up by name).
    config_class = LlamaConfig if "llama" in name else MistralConfig
    tiny = config_class(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                        num_key_value_heads=1, vocab_size=64)
    model = AutoModelForCausalLM.from_config(tiny)
    assert layer in {type(module).__name__ for module in model.modules()}
    assert layer in model._no_split_modules


@pytest.mark.parametrize("name", ["cpu_ddp", "ddp_gpu"])
def test_ddp_configs_use_the_torchrun_launcher(name):
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args = launch_command_parser().parse_args(
        ["--config_file", str(ACCELERATE_CONFIGS / f"{name}.yaml"), "-m", "cotmask.cli", "train"]
    )
    args, _, _ = _validate_launch_command(args)
    # multi_gpu (torchrun) and not cpu: `cpu`/MULTI_CPU would start a single process without mpirun.
    assert args.multi_gpu and not args.cpu and not args.use_fsdp
    assert args.num_processes >= 2 and args.main_process_port == 0
