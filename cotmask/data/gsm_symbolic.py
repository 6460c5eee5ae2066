"""``gsm_symbolic``: GSM-Symbolic-style problems from reasoning-gym's ``gsm_symbolic`` generators.

reasoning-gym (tested with ``reasoning-gym==0.1.25``; imported only when this source is built) ships ~85
symbolic templates, each made from one GSM8K test problem, whose generators draw names and numbers from
a ``random.Random``; it works offline. We call the generators directly with our own seeded streams
(train and test use separate streams, and a test problem whose question occurs in train is drawn again),
because reasoning-gym's own dataset seeds item ``i`` with ``seed + i`` so that two seeds overlap.

Records: ``question`` (without reasoning-gym's "Give the result as your final answer..." suffix),
``solution`` = its GSM8K-style chain of thought ending ``#### N``, ``answer`` = N,
``metadata.template = "gsm_symbolic_NN"`` (the generator: the cluster unit for the bootstrap). Items whose
chain of thought does not end in the stated answer (a known defect of a few generators) are dropped and
counted under ``filtered``.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from cotmask.answers import exact_number, gsm8k_answer, normalize_number
from cotmask.data.options import Option, at_least, exhausted
from cotmask.records import dataset_stats

SOURCE = "gsm_symbolic"
PIN = "reasoning-gym==0.1.25"
ALL_SPLITS = ("train", "test")
MAX_DRAWS_PER_ITEM = 50

OPTIONS: dict[str, Option] = {
    o.name: o
    for o in [
        Option("seed", int, 0, "random seed"),
        Option("n_train", int, 1000, "number of training problems", at_least(0)),
        Option("n_test", int, 200, "number of test problems", at_least(0)),
        Option("splits", list, list(ALL_SPLITS), "splits to write", choices=ALL_SPLITS),
    ]
}


def _generators() -> tuple[list[int], dict[int, Any]]:
    try:  # here: reasoning-gym is an optional extra (pyproject's gsm-symbolic) and takes 1-2 s to import
        from reasoning_gym.arithmetic.gsm_symbolic import generators_00_49, generators_50_99
        from reasoning_gym.arithmetic.gsm_symbolic.gsm_symbolic import tasks_ok
    except ImportError as error:
        raise ImportError(f"source 'gsm_symbolic' needs reasoning-gym: pip install {PIN} ({error})") from None
    generators = {}
    for module in (generators_00_49, generators_50_99):
        for name in dir(module):
            if name.startswith("generate_"):
                generators[int(name[len("generate_"):])] = getattr(module, name)
    return [t for t in tasks_ok if t in generators], generators


def source_splits(name: str, options: dict[str, Any]) -> list[str]:
    return list(options["splits"])


def check_source_options(name: str, options: dict) -> None:
    _generators()  # fails early, with the pin, when reasoning-gym is missing


def _item(task: int, generator, seed: int) -> dict:
    example = generator(random.Random(seed), 1.0)
    cot = example["metadata"]["answer_cot"].strip()
    return {"question": example["question"].strip(), "solution": cot, "answer": str(example["answer"]).strip()}


def build_source_records(name: str, options: dict) -> tuple[dict[str, list[dict]], dict]:
    tasks, generators = _generators()
    sizes = {"train": options["n_train"], "test": options["n_test"]}
    seen: set[str] = set()
    filtered: Counter = Counter()
    records: dict[str, list[dict]] = {}
    for split in ALL_SPLITS:
        rng = random.Random(f"gsm_symbolic:{options['seed']}:{split}")
        rows: list[dict] = []
        while len(rows) < sizes[split]:
            task = rng.choice(tasks)
            for _ in range(MAX_DRAWS_PER_ITEM):
                seed = rng.getrandbits(40)
                item = _item(task, generators[task], seed)
                answer = normalize_number(item["answer"])
                final = gsm8k_answer(item["solution"])
                if answer is None or final is None or exact_number(final) != exact_number(answer):
                    filtered["answer_mismatch"] += 1
                    continue
                if item["question"] in seen:
                    filtered[f"duplicate_{split}"] += 1
                    continue
                break
            else:
                raise exhausted("gsm_symbolic", split, len(rows), f"generator {task}: no usable new problem in "
                                f"{MAX_DRAWS_PER_ITEM} tries")
            seen.add(item["question"])
            steps = sum(1 for line in item["solution"].split("\n") if "=" in line and not line.startswith("####"))
            rows.append({
                "id": f"gsm_symbolic-{split}-{len(rows):06d}",
                "question": item["question"],
                "solution": item["solution"],
                "answer": answer,
                "source": SOURCE,
                "metadata": {"template": f"gsm_symbolic_{task:02d}", "n_steps": steps, "split": split,
                             "gen": {"task": task, "seed": seed}},
            })
        if split in options["splits"]:
            records[split] = rows
    stats = {
        "splits": {s: dataset_stats(rows, templates=len({r["metadata"]["template"] for r in rows}))
                   for s, rows in records.items()},
        "filtered": dict(sorted(filtered.items())),
        "reasoning_gym": PIN,
    }
    return records, stats
