"""Evaluate a fine-tuned model on benchmark files: prompt, generate, extract, score, summarise.

:func:`evaluate` runs one benchmark with one decoding mode; :func:`evaluate_suite` loads a model once and
runs several (benchmark, settings) pairs with it, as the workflow's one ``evaluate`` job per fine-tune
does. Each pair writes two files, both atomically (a partial file never carries the final name):

* per-item JSONL, one line per problem: ``id, question, gold, generation, extracted, correct, invalid,
  metadata``; for gsm8k scoring also lm-eval's flexible score, ``flexible_extracted, flexible_correct``
  (the last number of the generation; the summary then has ``flexible_accuracy``). The metadata is the
  record's, which carries ``template`` and ``n_steps`` for the clustered bootstrap and the per-step-count
  buckets;
* summary JSON: ``accuracy, n, n_correct, invalid_rate, ci95 [lo, hi], benchmark, scoring, calculator,
  prompt_template, model, max_new_tokens, batch_size, seed, limit, wall_time_s, problems_per_s``.

Hybrid decoding (``hybrid=True``; :mod:`cotmask.hybrid`, MAmmoTH's evaluation of MathInstruct-trained
models): each question is first asked with the PoT trigger appended (``pot_trigger``); a completion that
contains ``print(`` is run in :mod:`cotmask.sandbox` (``program_timeout_s`` CPU seconds,
``program_memory_mb``) and its printed value is the answer; a question without an answer from that pass
is asked again plainly (the chain-of-thought fallback). Its per-item lines add ``answer_source``
(``program``, ``pot_text`` or ``cot``), ``prediction`` (the text scored, which ``cotmask score`` reads
first), ``pot_generation`` and ``program`` (the sandbox outcome: ``ok, stdout, error, message, answer``;
null when the completion is no program); its summary adds ``hybrid``, ``pot_trigger``,
``program_timeout_s``, ``program_memory_mb``, ``answer_sources``, ``program_rate``, ``fallback_rate`` and
``programs`` (written, ran, errors by kind). Runs without it write exactly the fields above.

Both functions check every input (scoring kind, template, benchmark records, gold answers, model folder)
before the model is loaded. The result of a pair does not depend on whether it ran alone or in a suite.

Training-time settings. A model fine-tuned by :mod:`cotmask.train` records its settings in
``train_metrics.json`` (:func:`training_settings`). Without an explicit ``prompt_template`` the prompt is the
one the model was fine-tuned with (``alpaca``, the paper's, for any other model); an explicit template that
differs from the recorded one is used as asked, with a warning (a model prompted in another format than it
learned scores near zero). Prompts as long as the fine-tuning ``max_length`` or longer -- no training answer
started that late -- are counted in a warning too.

Progress. Each call logs ``done/total prompts, rate, ETA`` lines (:class:`cotmask.logs.Progress`) through
the ``logging`` module at least every 30 seconds while it generates, over all runs of a suite.

Importing this module is cheap: torch and transformers are imported only inside :func:`evaluate` and
:func:`evaluate_suite`, once the inputs are checked.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cotmask.checkpoints import model_source
from cotmask.hybrid import (
    DEFAULT_POT_TRIGGER,
    DEFAULT_PROGRAM_MEMORY_MB,
    DEFAULT_PROGRAM_TIMEOUT_S,
    hybrid_decode,
    hybrid_summary,
    pot_question,
)
from cotmask.logs import Progress
from cotmask.prompts import format_prompt
from cotmask.records import read_jsonl, write_json, write_jsonl
from cotmask.sandbox import SandboxLimits
from cotmask.scoring import SCORING_KINDS, gold_answer, score_item, summarize

logger = logging.getLogger(__name__)

#: The prompt template of a model that records none (not fine-tuned by cotmask): the paper's.
DEFAULT_PROMPT_TEMPLATE = "alpaca"
#: The file of a cotmask fine-tune that records its settings (``config``), next to the weights.
TRAINING_METRICS_FILE = "train_metrics.json"
#: per-item keys of the flexible GSM8K score (cotmask.scoring), copied where the scoring kind has them
FLEXIBLE_KEYS = ("flexible_extracted", "flexible_correct")
#: per-item keys that hybrid decoding adds (cotmask.hybrid.hybrid_decode)
HYBRID_ITEM_KEYS = ("answer_source", "prediction", "pot_generation", "program")


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
    """A model folder with config.json, or a hub id (:func:`cotmask.checkpoints.model_source`, no torch)."""
    model_source(model_dir)


def training_settings(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The fine-tuning settings a cotmask fine-tune records (``train_metrics.json``'s ``config``); ``{}``
    for any other model (a hub id, a base model, a file that cannot be read)."""
    path = Path(model_dir) / TRAINING_METRICS_FILE
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8")).get("config")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        logger.warning("%s: cannot read the training settings (%s); using the defaults", path, error)
        return {}
    return config if isinstance(config, dict) else {}


def resolve_prompt_template(
    model_dir: str | os.PathLike, requested: str | None, training: Mapping[str, Any] | None = None
) -> str:
    """The prompt template to evaluate with: ``requested`` when given (a warning if the model was fine-tuned
    with another), else the model's own, else :data:`DEFAULT_PROMPT_TEMPLATE`."""
    training = training_settings(model_dir) if training is None else training
    recorded = training.get("prompt_template")
    if requested is None:
        if recorded:
            logger.info("%s: prompt template %r, as fine-tuned (%s)", model_dir, recorded, TRAINING_METRICS_FILE)
            return str(recorded)
        logger.info("%s: no recorded prompt template; using %r", model_dir, DEFAULT_PROMPT_TEMPLATE)
        return DEFAULT_PROMPT_TEMPLATE
    if recorded and recorded != requested:
        logger.warning(
            "%s was fine-tuned with prompt template %r but is evaluated with %r as asked; a model prompted "
            "in another format scores near zero (leave the template unset to use the fine-tuning one)",
            model_dir, recorded, requested,
        )
    return requested


def _warn_long_prompts(tokenizer, prompts: Sequence[str], training: Mapping[str, Any], name: str) -> None:
    """Warn when prompts reach the fine-tuning max_length (those examples had no answer tokens in training)."""
    max_length = training.get("max_length")
    if not isinstance(max_length, int) or max_length < 1:
        return
    lengths = [len(ids) for ids in tokenizer(list(prompts), add_special_tokens=True)["input_ids"]]
    too_long = sum(1 for length in lengths if length >= max_length)
    if too_long:
        logger.warning(
            "%s: %d of %d prompts have at least the fine-tuning max_length (%d tokens; longest %d): the model "
            "never learned an answer that starts this late", name, too_long, len(lengths), max_length, max(lengths),
        )


def _program_limits(timeout_s: float, memory_mb: int) -> SandboxLimits:
    """The sandbox limits of hybrid decoding's programs (a ValueError names a bad setting)."""
    return SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb)


def _item(record: dict, generation: str, scored: dict) -> dict[str, Any]:
    """One per-item line: the record's id, question and metadata, the generation and its score."""
    return {
        "id": record["id"],
        "question": record["question"],
        "gold": scored["gold"],
        "generation": generation,
        "extracted": scored["extracted"],
        "correct": scored["correct"],
        "invalid": scored["invalid"],
        **{key: scored[key] for key in FLEXIBLE_KEYS if key in scored},
        "metadata": record.get("metadata", {}),
    }


def _hybrid_items(
    prepared: _Prepared, decode, *, scoring: str, prompt_template: str, pot_trigger: str, limits: SandboxLimits,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Hybrid decoding of a benchmark (cotmask.hybrid): per-item lines with the program outcome."""
    passes = []

    def generate_pass(prompts: list[str]) -> list[str]:
        if passes:  # the fallback pass: its prompts were not in the progress total
            progress.total += len(prompts)
        passes.append(len(prompts))
        return decode(prompts)

    answers = hybrid_decode(
        [record["question"] for record in prepared.records], prepared.golds, generate_pass,
        lambda question: format_prompt(question, prompt_template), scoring=scoring, trigger=pot_trigger,
        limits=limits,
    )
    return [
        {**_item(record, answer["generation"], answer["scored"]), **{key: answer[key] for key in HYBRID_ITEM_KEYS}}
        for record, answer in zip(prepared.records, answers)
    ]


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
    hybrid: bool,
    pot_trigger: str,
    program_timeout_s: float,
    program_memory_mb: int,
    training: Mapping[str, Any],
    progress: Progress,
) -> dict[str, Any]:
    """Generate with an already-loaded model, score, and write the per-item and summary files."""
    from cotmask.generation import generate

    def decode(prompts: list[str]) -> list[str]:
        return generate(
            model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
            calculator=calculator, seed=seed, progress=progress,
        )

    if hybrid:
        pot_prompts = [format_prompt(pot_question(record["question"], pot_trigger), prompt_template)
                       for record in prepared.records]
        _warn_long_prompts(tokenizer, pot_prompts, training, Path(summary_out).stem)
    else:
        _warn_long_prompts(tokenizer, prepared.prompts, training, Path(summary_out).stem)
    start = time.perf_counter()
    if hybrid:
        limits = _program_limits(program_timeout_s, program_memory_mb)
        items = _hybrid_items(prepared, decode, scoring=scoring, prompt_template=prompt_template,
                              pot_trigger=pot_trigger, limits=limits, progress=progress)
    else:
        generations = decode(prepared.prompts)
        items = [_item(record, generation, score_item(generation, gold, scoring))
                 for record, gold, generation in zip(prepared.records, prepared.golds, generations)]
    wall_time = time.perf_counter() - start

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
    if hybrid:
        summary.update({"hybrid": True, "pot_trigger": pot_trigger, "program_timeout_s": program_timeout_s,
                        "program_memory_mb": program_memory_mb, **hybrid_summary(items)})
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
    prompt_template: str | None = None,
    batch_size: int = 32,
    max_new_tokens: int = 256,
    threads: int = 1,
    seed: int = 0,
    limit: int | None = None,
    n_bootstrap: int = 1000,
    hybrid: bool = False,
    pot_trigger: str = DEFAULT_POT_TRIGGER,
    program_timeout_s: float = DEFAULT_PROGRAM_TIMEOUT_S,
    program_memory_mb: int = DEFAULT_PROGRAM_MEMORY_MB,
) -> dict[str, Any]:
    """Greedy-decode every benchmark question with the model in ``model_dir`` and score the answers.

    ``model_dir`` is a ``save_pretrained`` folder or a hub id. ``prompt_template`` None: the one the model
    was fine-tuned with (module doc). ``hybrid``: MAmmoTH's hybrid decoding with ``pot_trigger`` and the
    programs' sandbox limits (module doc). Inputs are checked (model folder, scoring kind, template,
    benchmark records, gold answers, sandbox limits) before the model is loaded. Returns the summary dict
    that is written to ``summary_out``.
    """
    _program_limits(program_timeout_s, program_memory_mb)
    _check_model_dir(model_dir)
    training = training_settings(model_dir)
    prompt_template = resolve_prompt_template(model_dir, prompt_template, training)
    prepared = _prepare(benchmark_file, scoring=scoring, prompt_template=prompt_template, limit=limit)

    from cotmask.generation import load_model

    model, tokenizer = load_model(model_dir, threads=threads)
    progress = Progress(len(prepared.prompts), f"evaluate {Path(summary_out).stem}", unit="prompts", logger=logger)
    return _run(
        model, tokenizer, model_dir, prepared, predictions_out, summary_out,
        scoring=scoring, calculator=calculator, prompt_template=prompt_template, batch_size=batch_size,
        max_new_tokens=max_new_tokens, seed=seed, limit=limit, n_bootstrap=n_bootstrap, hybrid=hybrid,
        pot_trigger=pot_trigger, program_timeout_s=program_timeout_s, program_memory_mb=program_memory_mb,
        training=training, progress=progress,
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
    A run without ``prompt_template`` uses the model's fine-tuning one (module doc). Returns
    ``{name: summary}`` in run order.
    """
    checked = [_run_settings(index, run) for index, run in enumerate(runs)]
    if not checked:
        raise ValueError("evaluate_suite needs at least one run")
    names = [name for name, _, _ in checked]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"run names must be unique; repeated: {duplicates}")
    _check_model_dir(model_dir)
    training = training_settings(model_dir)
    prepared = {}  # runs of one benchmark file with the same reading settings share one _Prepared
    plan = []
    for name, benchmark_file, settings in checked:
        try:
            _program_limits(settings["program_timeout_s"], settings["program_memory_mb"])
        except ValueError as error:
            raise ValueError(f"run {name!r}: {error}") from None
        settings["prompt_template"] = resolve_prompt_template(model_dir, settings["prompt_template"], training)
        key = (benchmark_file, settings["scoring"], settings["prompt_template"], settings["limit"])
        if key not in prepared:
            prepared[key] = _prepare(
                benchmark_file, scoring=settings["scoring"], prompt_template=settings["prompt_template"],
                limit=settings["limit"],
            )
        plan.append((name, prepared[key], settings))

    from cotmask.generation import load_model

    model, tokenizer = load_model(model_dir, threads=threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    total = sum(len(benchmark.prompts) for _, benchmark, _ in plan)
    progress = Progress(total, f"evaluate {len(plan)} runs", unit="prompts", logger=logger)
    logger.info("%s: %d runs, %d prompts in all", model_dir, len(plan), total)
    summaries = {}
    for name, benchmark, settings in plan:
        summary = _run(
            model, tokenizer, model_dir, benchmark, out_dir / f"{name}.jsonl", out_dir / f"{name}.json",
            **settings, training=training, progress=progress,
        )
        summaries[name] = summary
        logger.info(
            "%s: accuracy %.4f (%d/%d), %.1f s", name, summary["accuracy"], summary["n_correct"], summary["n"],
            summary["wall_time_s"],
        )
    return summaries
