"""Checks of values that a job would otherwise reject only when it starts, after Snakemake has removed the
job's previous outputs: each raises a ConfigError naming the key, at parse time.

:func:`check_job_settings` (run by :class:`~cotmask.plan.Plan`) covers the config alone: a grid with
nothing to run, ``training_args`` that ``transformers.TrainingArguments`` does not know (or that cotmask
sets itself), and lengths beyond a tiny model's ``max_position_embeddings``. ``lr_scheduler`` is the
schema's (an enum kept equal to ``cotmask.train.LR_SCHEDULERS`` by a test). :func:`check_paths` (run by
rules/common.smk and ``python -m cotmask.plan``, not by tools that only read a plan) covers the files
a config names: local base models and local data, and a results folder that can be written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cotmask.plan.schema import ConfigError

if TYPE_CHECKING:  # only for the type hints: core imports this module
    from cotmask.plan.core import Plan


# ----------------------------------------------------------------------------------- the config alone


def check_job_settings(plan: Plan) -> None:
    check_grid(plan.config)
    check_training_args(plan.config)
    check_positions(plan)


def check_grid(config: dict) -> None:
    """A config with neither cells nor sweeps has nothing to train or evaluate (the tables would fail)."""
    if not config["cells"] and not config["sweeps"]:
        raise ConfigError("cells", "empty and there are no sweeps: the config trains and evaluates nothing")


def finetune_layers(config: dict) -> list[tuple[str, dict]]:
    """(key, settings) of every place that sets fine-tuning settings, most general first."""
    layers = [("training", config["training"])]
    layers += [(f"models.{name}.finetune", spec["finetune"]) for name, spec in config["models"].items()]
    layers += [(f"train_sets.{name}.finetune", spec["finetune"]) for name, spec in config["train_sets"].items()]
    layers += [(f"methods.{name}", settings) for name, settings in config["methods"].items()]
    layers += [
        (f"cells[{c}].overrides.{method}", settings)
        for c, cell in enumerate(config["cells"])
        for method, settings in cell["overrides"].items()
    ]
    return layers


def check_training_args(config: dict) -> None:
    """``training_args`` keys are TrainingArguments fields that cotmask does not fix (the fine-tune's own
    check, :mod:`cotmask.trainer_args`, which reads the field names without importing torch)."""
    from cotmask.trainer_args import check_training_args as check_one

    for key, extra in [(key, layer["training_args"]) for key, layer in finetune_layers(config)
                       if layer.get("training_args")]:
        try:
            check_one(extra)
        except ValueError as error:
            raise ConfigError(f"{key}.training_args", str(error).replace("config key 'training_args' ", "")) from None


def setting_key(config: dict, model: str, train_set: str, method: str, name: str) -> str:
    """The key that sets fine-tuning setting ``name`` for (model, train_set, method): the most specific
    layer that gives it (a sweep point's method: its base method's layers)."""
    layers = [
        ("training", config["training"]),
        (f"models.{model}.finetune", config["models"][model]["finetune"]),
        (f"train_sets.{train_set}.finetune", config["train_sets"][train_set]["finetune"]),
    ]
    if method in config["methods"]:
        layers.append((f"methods.{method}", config["methods"][method]))
    for c, cell in enumerate(config["cells"]):
        if (cell["model"], cell["train_set"]) == (model, train_set) and method in cell["overrides"]:
            layers.append((f"cells[{c}].overrides.{method}", cell["overrides"][method]))
    return next(f"{key}.{name}" for key, settings in reversed(layers) if name in settings)


def check_positions(plan: Plan) -> None:
    """Sequences of a tiny model fit its max_position_embeddings: pre-training and fine-tuning max_length, and
    every generation's max_new_tokens (the prompt takes at least one more position)."""
    config = plan.config
    for model in plan.tiny_models:
        tiny = config["models"][model]["tiny"]
        limit = tiny["max_position_embeddings"]
        key = f"models.{model}.tiny.pretrain.max_length"
        _at_most(key, tiny["pretrain"]["max_length"], limit, model, "pre-training")
    for model, train_set, method, _seed in plan.finetunes:
        tiny = config["models"][model]["tiny"]
        if tiny is None:
            continue
        limit = tiny["max_position_embeddings"]
        settings = plan.resolved_settings(model, train_set, method)
        key = setting_key(config, model, train_set, _base_method(plan, method), "max_length")
        _at_most(key, settings["max_length"], limit, model, f"fine-tune {model}/{train_set}/{method}")
        if plan.diagnostics_benchmark(model, train_set) is not None:
            value = config["diagnostics"]["max_new_tokens"]
            _below("diagnostics.max_new_tokens", value, limit, model, "diagnostics")
    for model, _train_set, _method, _seed, benchmark, _decoding in plan.evaluation_runs:
        tiny = config["models"][model]["tiny"]
        if tiny is None:
            continue
        own = config["benchmarks"][benchmark]["evaluation"]
        key = "evaluation.max_new_tokens"
        if "max_new_tokens" in own:
            key = f"benchmarks.{benchmark}.evaluation.max_new_tokens"
        value = own.get("max_new_tokens", config["evaluation"]["max_new_tokens"])
        _below(key, value, tiny["max_position_embeddings"], model, f"evaluation on {benchmark}")
    for name in plan.rft_datasets:
        if name not in plan.datasets:
            continue
        model = plan.rft_sampler(name)[0]
        tiny = config["models"][model]["tiny"]
        if tiny is not None:
            value = config["datasets"][name]["options"]["max_new_tokens"]
            _below(f"datasets.{name}.options.max_new_tokens", value, tiny["max_position_embeddings"], model, "sampling")


def _base_method(plan: Plan, method: str) -> str:
    return plan.sweep_methods[method][0] if method in plan.sweep_methods else method


def _at_most(key: str, value: int, limit: int, model: str, use: str) -> None:
    if value > limit:
        raise ConfigError(
            key, f"{value} is more than models.{model}.tiny.max_position_embeddings ({limit}), for {use}"
        )


def _below(key: str, value: int, limit: int, model: str, use: str) -> None:
    if value >= limit:
        raise ConfigError(
            key,
            f"{value} leaves no position for the prompt: "
            f"models.{model}.tiny.max_position_embeddings is {limit} ({use})",
        )


# ------------------------------------------------------------------------------------- the file system


def check_paths(plan: Plan) -> None:
    """Files the config names exist, and the results folder can be written (relative paths: from the
    current folder, the workflow's working directory)."""
    config = plan.config
    for name, spec in config["models"].items():
        path = spec["local_path"]
        if path is not None and not Path(path).is_dir():
            raise ConfigError(f"models.{name}.local_path", f"{path}: no such folder (a save_pretrained model)")
    for name in plan.source_datasets:
        path = plan.source_options(name).get("local_path")
        if path is not None and not Path(path).exists():
            raise ConfigError(f"datasets.{name}.options.local_path", f"{path}: no such file or folder")
    check_writable("results_dir", config["results_dir"])


def check_writable(key: str, folder: str) -> None:
    """``folder`` (which may not exist yet) can be created and written: its nearest existing ancestor is a
    folder that this user may write."""
    path = Path(folder)
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise ConfigError(key, f"{folder}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" ({existing} is read-only)"
        raise ConfigError(key, f"{folder}: not writable{where}; give a results_dir this user may write")
