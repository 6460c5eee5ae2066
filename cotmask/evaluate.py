"""Evaluate a fine-tuned model on benchmark files: prompt, generate, extract, score, summarise.

:func:`evaluate` runs one benchmark with one decoding mode; :func:`evaluate_suite` loads a model once and
runs several (benchmark, settings) pairs with it, as the workflow's one ``evaluate`` job per fine-tune
does. Each pair writes two files, both atomically (a partial file never carries the final name):

* per-item JSONL, one line per problem: ``id, question, gold, generation, extracted, correct, invalid,
  metadata`` (the record's metadata, which carries ``template`` and ``n_steps`` for the clustered
  bootstrap and the per-step-count buckets);
* summary JSON: ``accuracy, n, n_correct, invalid_rate, ci95 [lo, hi], benchmark, scoring, calculator,
  prompt_template, model, max_new_tokens, batch_size, seed, limit, wall_time_s, problems_per_s``.

Both functions check every input (scoring kind, template, benchmark records, gold answers, model folder)
before the model is loaded. The result of a pair does not depend on whether it ran alone or in a suite.

Importing this module is cheap: torch and transformers are imported only inside :func:`evaluate` and
:func:`evaluate_suite`, once the inputs are checked.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cotmask.prompts import format_prompt
from cotmask.records import read_jsonl, write_json, write_jsonl
from cotmask.scoring import SCORING_KINDS, gold_answer, score_item, summarize

logger = logging.getLogger(__name__)


@dataclass
class _Prepared:
    """A benchmark read and checked, with its gold answers and prompts (no model needed)."""

    benchmark_file: str
    records: list[dict]
    golds: list[str]
    prompts: list[str]


def _prepare(
    benchmark_file: str | os.PathLike, *, scoring: str, prompt_template: str, limit: int | None
) -> _Prepared:
    """Check the settings and read the benchmark; every error a run can raise before generation."""
    if scoring not in SCORING_KINDS:
        raise ValueError(f"unknown scoring {scoring!r}; choose one of {list(SCORING_KINDS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    format_prompt("check", prompt_template)  # unknown templates fail here, before any expensive work
    records = read_jsonl(benchmark_file)
    if limit is not None:
        records = records[:limit]
    if not records:
        raise ValueError(f"{benchmark_file}: no records to evaluate")
    golds = [gold_answer(record["answer"], scoring) for record in records]
    prompts = [format_prompt(record["question"], prompt_template) for record in records]
    return _Prepared(str(benchmark_file), records, golds, prompts)


def _check_model_dir(model_dir: str | os.PathLike) -> None:
    if not (Path(model_dir) / "config.json").exists():
        raise FileNotFoundError(f"{model_dir}: not a model folder (no config.json)")


def _run(
    model,
    tokenizer,
    model_dir: str | os.PathLike,
    prepared: _Prepared,
    predictions_out: str | os.PathLike,
    summary_out: str | os.PathLike,
    *,
    scoring: str,
    calculator: bool,
    prompt_template: str,
    batch_size: int,
    max_new_tokens: int,
    seed: int,
    limit: int | None,
    n_bootstrap: int,
) -> dict[str, Any]:
    """Generate with an already-loaded model, score, and write the per-item and summary files."""
    from cotmask.generation import generate

    start = time.perf_counter()
    generations = generate(
        model, tokenizer, prepared.prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
        calculator=calculator, seed=seed,
    )
    wall_time = time.perf_counter() - start

    items = []
    for record, gold, generation in zip(prepared.records, prepared.golds, generations):
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
        "benchmark": prepared.benchmark_file,
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
    prepared = _prepare(benchmark_file, scoring=scoring, prompt_template=prompt_template, limit=limit)
    _check_model_dir(model_dir)

    from cotmask.generation import load_model

    model, tokenizer = load_model(model_dir, threads=threads)
    return _run(
        model, tokenizer, model_dir, prepared, predictions_out, summary_out,
        scoring=scoring, calculator=calculator, prompt_template=prompt_template, batch_size=batch_size,
        max_new_tokens=max_new_tokens, seed=seed, limit=limit, n_bootstrap=n_bootstrap,
    )


#: Keys of one run of :func:`evaluate_suite` besides ``name`` and ``benchmark_file``, with defaults.
RUN_SETTINGS = {
    name: parameter.default
    for name, parameter in inspect.signature(evaluate).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "threads"
}
_RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def _run_settings(index: int, run: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(name, benchmark_file, complete evaluate() keywords) of one suite run, or a ValueError naming it."""
    where = f"runs[{index}]"
    if not isinstance(run, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(run).__name__}")
    for key in ("name", "benchmark_file"):
        if key not in run:
            raise ValueError(f"{where}: {key!r} is missing")
    name = str(run["name"])
    if not _RUN_NAME.match(name) or name.endswith("."):
        raise ValueError(f"{where}: name {name!r} is not a plain file name stem")
    unknown = sorted(set(run) - {"name", "benchmark_file"} - set(RUN_SETTINGS))
    if unknown:
        raise ValueError(f"{where} ({name}): unknown setting(s) {unknown} (known: {', '.join(RUN_SETTINGS)})")
    settings = {**RUN_SETTINGS, **{key: value for key, value in run.items() if key in RUN_SETTINGS}}
    return name, str(run["benchmark_file"]), settings


def evaluate_suite(
    model_dir: str | os.PathLike,
    runs: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    *,
    threads: int = 1,
) -> dict[str, dict[str, Any]]:
    """Evaluate one model on several (benchmark, settings) pairs, loading model and tokenizer once.

    Each run is a mapping with ``name`` (the file stem, e.g. ``gsm_test.calc``), ``benchmark_file`` and
    any keyword of :func:`evaluate` except ``threads`` (:data:`RUN_SETTINGS`; missing ones take
    evaluate()'s defaults). Run ``name`` writes ``out_dir/name.jsonl`` (per item) and ``out_dir/name.json``
    (summary), each atomically, with the same content as ``evaluate(model_dir, benchmark_file, ...)``
    (up to the timings). Every run is checked, and every benchmark read, before the model is loaded.
    Returns ``{name: summary}`` in run order.
    """
    checked = [_run_settings(index, run) for index, run in enumerate(runs)]
    if not checked:
        raise ValueError("evaluate_suite needs at least one run")
    names = [name for name, _, _ in checked]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"run names must be unique; repeated: {duplicates}")
    prepared = {}  # runs of one benchmark file with the same reading settings share one _Prepared
    plan = []
    for name, benchmark_file, settings in checked:
        key = (benchmark_file, settings["scoring"], settings["prompt_template"], settings["limit"])
        if key not in prepared:
            prepared[key] = _prepare(
                benchmark_file, scoring=settings["scoring"], prompt_template=settings["prompt_template"],
                limit=settings["limit"],
            )
        plan.append((name, prepared[key], settings))
    _check_model_dir(model_dir)

    from cotmask.generation import load_model

    model, tokenizer = load_model(model_dir, threads=threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = {}
    for name, benchmark, settings in plan:
        summary = _run(
            model, tokenizer, model_dir, benchmark, out_dir / f"{name}.jsonl", out_dir / f"{name}.json",
            **settings,
        )
        summaries[name] = summary
        logger.info(
            "%s: accuracy %.4f (%d/%d), %.1f s", name, summary["accuracy"], summary["n_correct"], summary["n"],
            summary["wall_time_s"],
        )
    return summaries
