"""Where the workflow's files live: folders, 'dataset/split' references, and the path of every job's output.

Plain string helpers shared by the planner (:mod:`cotmask.plan`) and the rule files (rules/*.smk).
"""

from __future__ import annotations

import re

DATA = "work/data"
BASE = "work/models/base"
TOKENIZER = "work/models/tokenizer"
FT = "work/models/ft"
CKPT = "work/checkpoints"
EVALS = "work/evals"
CARDS = "work/cards"
#: inductor's kernel cache, shared by the compiled training jobs of a run (config keys training.compile and
#: models.*.tiny.pretrain.compile; cotmask.compile)
COMPILE_CACHE = "work/compile-cache"

REF_SEP = "/"


def split_ref(ref: str) -> tuple[str, str]:
    """'dataset/split' -> ('dataset', 'split')."""
    dataset, split = ref.split(REF_SEP)
    return dataset, split


def data_file(ref: str) -> str:
    """'dataset/split' -> work/data/dataset/split.jsonl."""
    dataset, split = split_ref(ref)
    return f"{DATA}/{dataset}/{split}.jsonl"


def ft_dir(model: str, train_set: str, method: str, seed) -> str:
    """Output directory of one fine-tune."""
    return f"{FT}/{model}/{train_set}/{method}/seed{seed}"


def checkpoint_dir(model: str, train_set: str, method: str, seed) -> str:
    """Trainer checkpoints of one fine-tune (outside its declared output, so that a restarted job resumes)."""
    return f"{CKPT}/{model}/{train_set}/{method}/seed{seed}"


def base_checkpoint_dir(model: str) -> str:
    """Pre-training checkpoints of a tiny base model (outside its output directory)."""
    return f"{CKPT}/_base/{model}"


def base_model_dir(model: str) -> str:
    """Output directory of a tiny base model built in the DAG."""
    return f"{BASE}/{model}"


def eval_dir(model: str, train_set: str, method: str, seed) -> str:
    """Output directory of the evaluate job of one fine-tune (every benchmark and decoding)."""
    return f"{EVALS}/{model}/{train_set}/{method}/seed{seed}"


def card_file(model: str, train_set: str, method: str, seed) -> str:
    """Model card with results of one evaluated fine-tune (the model_card rule; config key model_cards)."""
    return f"{CARDS}/{model}/{train_set}/{method}/seed{seed}/README.md"


def eval_name(benchmark: str, decoding: str) -> str:
    """File stem of one evaluation inside its fine-tune's evaluation directory."""
    return f"{benchmark}.{decoding}"


def eval_prefix(model: str, train_set: str, method: str, seed, benchmark: str, decoding: str) -> str:
    """Evaluation outputs without extension (.jsonl per item, .json summary)."""
    return f"{eval_dir(model, train_set, method, seed)}/{eval_name(benchmark, decoding)}"


def alternation(names) -> str:
    """Regex matching exactly one of ``names`` (never matches when empty): a wildcard constraint."""
    names = sorted(set(names), key=lambda n: (-len(n), n))
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def number_label(value: float) -> str:
    """0.2 -> '0.2', 0.0 -> '0', 0.667 -> '0.667' (used in generated method names)."""
    return f"{value:g}"
