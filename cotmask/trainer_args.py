"""The ``training_args`` pass-through of a fine-tuning config, checked without importing torch.

A fine-tuning config may hand extra ``transformers.TrainingArguments`` fields to the Trainer
(``training_args``); cotmask fixes a few of them (:data:`FIXED_TRAINER_ARGS`). The workflow's planner checks
every config's ``training_args`` at parse time, before any job; importing ``transformers.TrainingArguments``
for that would import torch and cost seconds on every ``snakemake -n``. So the field names are read from
the source of the installed ``transformers/training_args.py`` (its ``TrainingArguments`` dataclass's
annotated class attributes), which is what ``dataclasses.fields`` returns (a test compares the two).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path

FIXED_TRAINER_ARGS = {
    "dataloader_num_workers": 0,  # the collator's step bookkeeping lives in the main process
    "remove_unused_columns": False,  # the collator needs prompt_length
    "report_to": "none",
    "include_num_input_tokens_seen": "non_padding",
    "log_level": "warning",
}
#: set by cotmask.train from its own arguments, never by ``training_args``
RESERVED_TRAINER_ARGS = frozenset(FIXED_TRAINER_ARGS) | {"output_dir", "save_strategy"}


@lru_cache(maxsize=1)
def training_argument_fields() -> frozenset[str]:
    """The field names of the installed ``transformers.TrainingArguments``, read from its source."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or spec.origin is None:
        raise ImportError("transformers is not installed")
    source = Path(spec.origin).with_name("training_args.py")
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "TrainingArguments":
            return frozenset(
                item.target.id for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                and not _is_class_var(item.annotation)
            )
    raise ImportError(f"{source}: no TrainingArguments class")


def _is_class_var(annotation: ast.expr) -> bool:
    text = ast.unparse(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def check_training_args(extra: dict) -> None:
    """ValueError naming the config key when ``extra`` holds a field TrainingArguments does not have or one
    cotmask fixes."""
    bad = sorted(set(extra) - training_argument_fields())
    if bad:
        raise ValueError(f"config key 'training_args' has unknown TrainingArguments field(s) {bad}")
    reserved = sorted(set(extra) & RESERVED_TRAINER_ARGS)
    if reserved:
        raise ValueError(f"config key 'training_args' may not set {reserved}: cotmask fixes them")
