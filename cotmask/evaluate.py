"""Evaluate a fine-tuned model on a benchmark file: prompt, generate, extract, score, summarise.

``evaluate`` writes two files, both atomically:

* per-item JSONL, one line per problem: ``id, question, gold, generation, extracted, correct, invalid,
  metadata`` (the record's metadata, which carries ``template`` and ``n_steps`` for the clustered
  bootstrap and the per-step-count buckets);
* summary JSON: ``accuracy, n, n_correct, invalid_rate, ci95 [lo, hi], benchmark, scoring, calculator,
  prompt_template, model, max_new_tokens, batch_size, seed, limit, wall_time_s, problems_per_s``.

This module is imported by the ``cotmask`` CLI at start-up, so torch and transformers are imported only
inside :func:`evaluate`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from cotmask.prompts import format_prompt
from cotmask.records import read_jsonl, write_json, write_jsonl
from cotmask.scoring import SCORING_KINDS, gold_answer, score_item, summarize


def evaluate(
    model_dir: str | os.PathLike,
    benchmark_file: str | os.PathLike,
    predictions_out: str | os.PathLike,
    summary_out: str | os.PathLike,
    *,
    scoring: str = "gsm8k",
    calculator: bool = False,
    prompt_template: str = "alpaca",
    batch_size: int = 32,
    max_new_tokens: int = 256,
    threads: int = 1,
    seed: int = 0,
    limit: int | None = None,
    n_bootstrap: int = 1000,
) -> dict[str, Any]:
    """Greedy-decode every benchmark question with the model in ``model_dir`` and score the answers.

    Inputs are checked (scoring kind, template, benchmark records, gold answers, model folder) before the
    model is loaded. Returns the summary dict that is written to ``summary_out``.
    """
    if scoring not in SCORING_KINDS:
        raise ValueError(f"unknown scoring {scoring!r}; choose one of {list(SCORING_KINDS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    format_prompt("check", prompt_template)  # unknown templates fail here, before any expensive work
    if not (Path(model_dir) / "config.json").exists():
        raise FileNotFoundError(f"{model_dir}: not a model folder (no config.json)")
    records = read_jsonl(benchmark_file)
    if limit is not None:
        records = records[:limit]
    if not records:
        raise ValueError(f"{benchmark_file}: no records to evaluate")
    golds = [gold_answer(record["answer"], scoring) for record in records]
    prompts = [format_prompt(record["question"], prompt_template) for record in records]

    from cotmask.generation import generate, load_model

    model, tokenizer = load_model(model_dir, threads=threads)
    start = time.perf_counter()
    generations = generate(
        model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
        calculator=calculator, seed=seed,
    )
    wall_time = time.perf_counter() - start

    items = []
    for record, gold, generation in zip(records, golds, generations):
        scored = score_item(generation, gold, scoring)
        items.append({
            "id": record["id"],
            "question": record["question"],
            "gold": scored["gold"],
            "generation": generation,
            "extracted": scored["extracted"],
            "correct": scored["correct"],
            "invalid": scored["invalid"],
            "metadata": record.get("metadata", {}),
        })
    summary = summarize(items, n_bootstrap=n_bootstrap, seed=seed)
    summary.update({
        "benchmark": str(benchmark_file),
        "model": str(model_dir),
        "scoring": scoring,
        "calculator": bool(calculator),
        "prompt_template": prompt_template,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        "seed": seed,
        "limit": limit,
        "wall_time_s": round(wall_time, 3),
        "problems_per_s": round(len(items) / wall_time, 3) if wall_time > 0 else None,
    })
    write_jsonl(items, predictions_out)
    write_json(summary, summary_out)
    return summary


def _evaluate_command(args: argparse.Namespace) -> int:
    summary = evaluate(
        args.model, args.benchmark, args.predictions, args.summary,
        scoring=args.scoring, calculator=args.calculator, prompt_template=args.prompt_template,
        batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, threads=args.threads,
        seed=args.seed, limit=args.limit, n_bootstrap=args.n_bootstrap,
    )
    keys = ("accuracy", "n", "n_correct", "invalid_rate", "ci95", "problems_per_s")
    print(json.dumps({key: summary[key] for key in keys}))
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask evaluate``."""
    parser = subparsers.add_parser(
        "evaluate",
        help="generate answers for a benchmark with a model and score them",
        description="Greedy (optionally calculator-assisted) evaluation of a model on a benchmark JSONL.",
    )
    parser.add_argument("--model", required=True, help="model folder (save_pretrained, tokenizer inside)")
    parser.add_argument("--benchmark", required=True, help="benchmark record JSONL")
    parser.add_argument("--predictions", required=True, help="per-item JSONL to write")
    parser.add_argument("--summary", required=True, help="summary JSON to write")
    parser.add_argument("--scoring", default="gsm8k", choices=SCORING_KINDS)
    parser.add_argument("--calculator", action="store_true", help="calculator-assisted decoding of <<expr=>>")
    parser.add_argument("--prompt-template", default="alpaca", help="prompt template (alpaca, short)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N records")
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.set_defaults(func=_evaluate_command)
