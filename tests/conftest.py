"""Shared fixtures: a small generated GSM-style corpus, a tiny tokenizer and a tiny random Llama model.

``tiny_records_file`` is a records JSONL (cotmask.records schema) of simple two-step word problems with
``<<a+b=c>>`` annotations and ``#### N`` answers. ``tiny_model_dir`` is a ``save_pretrained`` directory
(LlamaForCausalLM + tokenizer trained on that corpus, hidden 32, 2 layers, one short pretraining epoch),
loadable with ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained``. Both are
session-scoped and read-only: copy before modifying.
"""

from __future__ import annotations

import random

import pytest

from cotmask.records import write_jsonl

NAMES = ["Natalia", "Tom", "Ava", "Liam", "Mia", "Omar", "Zoe", "Ben"]
ITEMS = ["clips", "apples", "cards", "books", "eggs", "pens"]
TINY_MODEL_SETTINGS = dict(
    shape="llama", hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64,
    max_position_embeddings=128, pretrain_epochs=1, pretrain_lr=3e-3, batch_size=16, max_length=96, seed=0,
)


def make_tiny_records(n: int, seed: int = 0, split: str = "train") -> list[dict]:
    """Generate ``n`` two-step addition/subtraction problems as cotmask records."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        a, b, c = rng.randint(2, 60), rng.randint(2, 40), rng.randint(1, 20)
        first = a + b
        final = first - c if first > c else first + c
        op = "-" if first > c else "+"
        question = (
            f"{name} had {a} {item} and bought {b} more. Then {name} "
            f"{'gave away' if op == '-' else 'found'} {c} {item}. How many {item} does {name} have now?"
        )
        solution = (
            f"{name} had {a}+{b} = <<{a}+{b}={first}>>{first} {item}.\n"
            f"Now {name} has {first}{op}{c} = <<{first}{op}{c}={final}>>{final} {item}.\n#### {final}"
        )
        records.append({
            "id": f"tiny-{split}-{i:04d}", "question": question, "solution": solution, "answer": str(final),
            "source": "tiny_test", "metadata": {"n_steps": 2, "template": f"t{i % 4:02d}", "split": split},
        })
    return records


@pytest.fixture(scope="session")
def tiny_records_file(tmp_path_factory) -> str:
    """A records JSONL with 64 generated training problems."""
    path = tmp_path_factory.mktemp("tiny_data") / "train.jsonl"
    write_jsonl(make_tiny_records(64), path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory, tiny_records_file) -> str:
    """A tiny BPE tokenizer (vocab 200) trained on ``tiny_records_file``."""
    from cotmask.tiny import train_tokenizer

    out = tmp_path_factory.mktemp("tiny_tok") / "tokenizer"
    train_tokenizer([tiny_records_file], str(out), vocab_size=200)
    return str(out)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_records_file, tiny_tokenizer_dir) -> str:
    """A tiny Llama base model (+ its tokenizer) pretrained for one short epoch on the generated corpus."""
    from cotmask.tiny import build_base_model

    out = tmp_path_factory.mktemp("tiny_model") / "base"
    build_base_model(tiny_tokenizer_dir, [tiny_records_file], str(out), threads=1, **TINY_MODEL_SETTINGS)
    return str(out)
