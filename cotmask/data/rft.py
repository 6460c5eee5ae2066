"""Rejection-sampling fine-tuning data (RFT; Yuan et al. 2023, the paper's GSM8K-RFT baseline).

For each training question, ``k`` solutions are sampled from a fine-tuned model; the correct ones whose
*reasoning path* is new are kept, together with the original solution. As in RFT, two paths are the
same when they have the same sequence of equations: the list of calculator annotations ``<<expr=res>>``
with spaces removed (RFT compared the lists of equations of GSM8K solutions). A solution without
annotations (e.g. MATH-style text) is compared by its normalised text (lower case, whitespace collapsed).

The pieces are separate so that the selection can be tested without a model:

* :func:`collect_samples` asks a *sampler* (``sampler(prompts, round) -> list[str]``) for ``k`` rounds of
  samples;
* :func:`select_rft_samples` is the pure selection (correctness, de-duplication, originals);
* :func:`rejection_sample` wires :func:`cotmask.generation.generate` in as the sampler and writes
  ``train.jsonl`` + ``stats.json`` (acceptance rate, distinct paths per question).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cotmask.prompts import format_prompt
from cotmask.records import dataset_stats, read_jsonl, write_dataset_dir
from cotmask.scoring import score_item

Sampler = Callable[[list[str], int], list[str]]
Judge = Callable[[str, dict], bool]

_ANNOTATION = re.compile(r"<<([^<>]*)>>")
_FINAL_LINES = (re.compile(r"^####"), re.compile(r"^[Tt]he answer is"))


def path_key(solution: str) -> tuple[str, ...]:
    """The reasoning path of a solution: its equations, or its normalised text when it has none."""
    equations = tuple(e.replace(" ", "") for e in _ANNOTATION.findall(solution))
    if equations:
        return ("equations",) + equations
    return ("text", " ".join(solution.lower().split()))


def clean_sample(text: str) -> str:
    """A sampled continuation cut after its final-answer line (``#### N`` or ``The answer is ...``)."""
    lines = text.strip().split("\n")
    for index, line in enumerate(lines):
        if any(p.match(line.strip()) for p in _FINAL_LINES):
            return "\n".join(lines[: index + 1]).strip()
    return text.strip()


def scoring_judge(scoring: str) -> Judge:
    """A correctness check by :func:`cotmask.scoring.score_item` against the record's gold answer."""

    def judge(sample: str, record: dict) -> bool:
        return bool(score_item(sample, record["answer"], scoring)["correct"])

    return judge


def collect_samples(records: list[dict], sampler: Sampler, k: int, prompt_template: str) -> list[list[str]]:
    """``k`` samples per record: round r calls ``sampler(prompts, r)`` once for all prompts."""
    if k < 1:
        raise ValueError("k must be >= 1")
    prompts = [format_prompt(r["question"], prompt_template) for r in records]
    samples: list[list[str]] = [[] for _ in records]
    for round_index in range(k):
        outputs = sampler(prompts, round_index)
        if len(outputs) != len(prompts):
            raise ValueError(f"sampler returned {len(outputs)} outputs for {len(prompts)} prompts")
        for bucket, output in zip(samples, outputs):
            bucket.append(output)
    return samples


def _select(
    records: list[dict], samples_per_record: list[list[str]], judge: Judge, include_original: bool
) -> tuple[list[dict], Counter, list[int]]:
    if len(records) != len(samples_per_record):
        raise ValueError(f"{len(records)} records but {len(samples_per_record)} sample lists")
    out: list[dict] = []
    counts: Counter = Counter()
    distinct: list[int] = []
    for record, samples in zip(records, samples_per_record):
        seen: set[tuple[str, ...]] = set()
        if include_original:
            out.append({**record, "metadata": {**record.get("metadata", {}), "rft": {"origin": "original"}}})
            seen.add(path_key(record["solution"]))
        new_paths = 0
        for index, raw in enumerate(samples):
            counts["samples"] += 1
            sample = clean_sample(raw or "")
            if not sample:
                counts["rejected_empty"] += 1
                continue
            if not judge(sample, record):
                counts["rejected_incorrect"] += 1
                continue
            counts["correct"] += 1
            key = path_key(sample)
            if key in seen:
                counts["rejected_duplicate_path"] += 1
                continue
            seen.add(key)
            new_paths += 1
            counts["accepted"] += 1
            out.append({
                **record,
                "id": f"{record['id']}-rft{index}",
                "solution": sample,
                "metadata": {**record.get("metadata", {}), "rft": {"origin": "sample", "sample": index}},
            })
        distinct.append(new_paths)
    return out, counts, distinct


def select_rft_samples(
    records: list[dict],
    samples_per_record: list[list[str]],
    *,
    judge: Judge | None = None,
    scoring: str = "gsm8k",
    include_original: bool = True,
) -> list[dict]:
    """RFT selection: for each record its original (optional) and every correct sample with a new path.

    ``judge(sample, record) -> bool`` decides correctness (default: :func:`scoring_judge` with ``scoring``).
    Pure: the output depends only on the arguments. Sample ids are ``{id}-rft{index}``.
    """
    selected, _, _ = _select(records, samples_per_record, judge or scoring_judge(scoring), include_original)
    return selected


def rft_stats(records: list[dict], samples_per_record: list[list[str]], counts: Counter, distinct: list[int]) -> dict:
    n_samples = counts.get("samples", 0)
    return {
        "questions": len(records),
        "samples": n_samples,
        "acceptance_rate": round(counts.get("accepted", 0) / n_samples, 6) if n_samples else 0.0,
        "correct_rate": round(counts.get("correct", 0) / n_samples, 6) if n_samples else 0.0,
        "filtered": {k: v for k, v in sorted(counts.items()) if k.startswith("rejected_")},
        "distinct_new_paths_per_question": {
            "mean": round(sum(distinct) / len(distinct), 4) if distinct else 0.0,
            "histogram": {str(k): v for k, v in sorted(Counter(distinct).items())},
        },
        "questions_with_new_path": sum(1 for d in distinct if d > 0),
    }


def build_rft_dataset(
    records: list[dict],
    sampler: Sampler,
    out_dir: str | Path,
    *,
    k: int,
    prompt_template: str,
    judge: Judge,
    include_original: bool = True,
    extra_stats: dict | None = None,
) -> dict:
    """Sample, select and write ``train.jsonl`` + ``stats.json``; returns the stats."""
    samples = collect_samples(records, sampler, k, prompt_template)
    selected, counts, distinct = _select(records, samples, judge, include_original)
    stats = {"kind": "rft", **(extra_stats or {}), **rft_stats(records, samples, counts, distinct),
             "splits": {"train": dataset_stats(selected)}}
    return write_dataset_dir(out_dir, {"train": selected}, stats)


# The keywords of rejection_sample() that an rft dataset's `options:` give (the workflow supplies the
# others: train_file, out_dir, model_dir, prompt_template, threads), in signature order. The workflow's
# planner (cotmask.plan) checks a config's rft options against these; keep them in step with the signature.
RFT_REQUIRED_OPTIONS = ("k", "temperature", "max_new_tokens", "seed", "calculator", "batch_size")
RFT_OPTIONAL_OPTIONS = ("include_original", "scoring")


def rejection_sample(
    train_file: str,
    out_dir: str,
    *,
    model_dir: str,
    k: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    prompt_template: str,
    calculator: bool,
    batch_size: int,
    threads: int,
    include_original: bool = True,
    scoring: str = "gsm8k",
) -> dict:
    """RFT data from a fine-tuned model: sample ``k`` solutions per training question (round r uses seed
    ``seed + r``), keep the correct ones with a new equation path, plus the originals.

    Writes ``out_dir/train.jsonl`` and ``out_dir/stats.json`` (acceptance rate, distinct paths per
    question, counts of rejected samples by reason).
    """
    if k < 1 or max_new_tokens < 1 or batch_size < 1 or threads < 1:
        raise ValueError("rejection_sample: k, max_new_tokens, batch_size and threads must be >= 1")
    if temperature <= 0:
        raise ValueError("rejection_sample: temperature must be > 0 (sampling)")
    format_prompt("check", prompt_template)  # unknown template → ValueError before loading anything
    judge = scoring_judge(scoring)
    records = read_jsonl(train_file)
    if not Path(model_dir, "config.json").exists():
        raise FileNotFoundError(f"{model_dir}: not a model folder (no config.json)")

    # torch and transformers load here, not at module level: the workflow's parse-time planner
    # (cotmask.plan) and every data job import this module for its options only.
    from cotmask.generation import generate, load_model
    from cotmask.logs import Progress

    model, tokenizer = load_model(model_dir, threads=threads)
    progress = Progress(k * len(records), f"rejection sampling ({k} rounds)", unit="samples")

    def sampler(prompts: list[str], round_index: int) -> list[str]:
        return generate(
            model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
            calculator=calculator, do_sample=True, temperature=temperature, seed=seed + round_index,
            progress=progress,
        )

    options: dict[str, Any] = {
        "model_dir": str(model_dir), "k": k, "temperature": temperature, "max_new_tokens": max_new_tokens,
        "seed": seed, "prompt_template": prompt_template, "calculator": calculator, "batch_size": batch_size,
        "include_original": include_original, "scoring": scoring,
    }
    return build_rft_dataset(
        records, sampler, out_dir, k=k, prompt_template=prompt_template, judge=judge,
        include_original=include_original, extra_stats={"inputs": [str(train_file)], "options": options},
    )
