"""``cotmask evaluate``, ``cotmask evaluate-suite`` (a model on benchmarks), ``cotmask score`` (re-score
predictions) and ``cotmask floors`` (answers that need no model).

Each handler imports its library module when it runs: ``score`` and ``floors`` never load torch or
transformers, and ``evaluate`` loads them only once its inputs are checked. ``evaluate`` and
``evaluate-suite`` log to stderr (the template they use, warnings, progress with an ETA).
"""

from __future__ import annotations

import argparse

from cotmask.cli.common import (
    add_command,
    add_decoding,
    add_n_bootstrap,
    add_out,
    add_scoring,
    add_seed,
    add_threads,
    print_json,
)

SUMMARY_KEYS = ("accuracy", "n", "n_correct", "invalid_rate", "ci95")
#: printed too where the scoring has them (gsm8k: lm-eval's flexible score, the last number)
OPTIONAL_SUMMARY_KEYS = ("flexible_accuracy", "n_flexible_correct")


def summary_view(summary: dict, *extra: str) -> dict:
    """The summary keys a command prints: the strict score, the flexible one where present, then ``extra``."""
    keys = (*SUMMARY_KEYS, *(key for key in OPTIONAL_SUMMARY_KEYS if key in summary), *extra)
    return {key: summary[key] for key in keys}


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True,
        help="model folder (save_pretrained, tokenizer inside) or a Hugging Face Hub id (needs a network or the "
        "hub cache)",
    )


def _add_hybrid(parser: argparse.ArgumentParser) -> None:
    """``--hybrid`` (MAmmoTH's program-of-thought-first decoding) and its settings."""
    from cotmask.hybrid import (
        DEFAULT_POT_TRIGGER,
        DEFAULT_PROGRAM_MEMORY_MB,
        DEFAULT_PROGRAM_TIMEOUT_S,
    )

    parser.add_argument(
        "--hybrid", action="store_true",
        help="hybrid decoding (MAmmoTH's): ask with the PoT trigger, run a completion containing print( in a "
        "sandbox and score what it prints; ask again plainly (chain of thought) when that gives no answer",
    )
    parser.add_argument("--pot-trigger", default=DEFAULT_POT_TRIGGER,
                        help="sentence appended to the question in the program pass (default: %(default)s)")
    parser.add_argument("--program-timeout", type=float, default=DEFAULT_PROGRAM_TIMEOUT_S,
                        help="CPU seconds a program may run, MAmmoTH's limit (default: %(default)s)")
    parser.add_argument("--program-memory-mb", type=int, default=DEFAULT_PROGRAM_MEMORY_MB,
                        help="memory a program may allocate, MB (default: %(default)s)")


def _evaluate(args: argparse.Namespace) -> int:
    from cotmask.evaluate import evaluate
    from cotmask.logs import log_to_stderr

    log_to_stderr()
    summary = evaluate(
        args.model, args.benchmark, args.predictions, args.summary,
        scoring=args.scoring, calculator=args.calculator, prompt_template=args.prompt_template,
        batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, threads=args.threads,
        seed=args.seed, limit=args.limit, n_bootstrap=args.n_bootstrap, hybrid=args.hybrid,
        pot_trigger=args.pot_trigger, program_timeout_s=args.program_timeout,
        program_memory_mb=args.program_memory_mb,
    )
    extra = ("fallback_rate", "program_rate") if args.hybrid else ()
    print_json(summary_view(summary, *extra, "problems_per_s"))
    return 0


def _read_runs(path: str) -> list:
    """The runs of an evaluate-suite file: a JSON list, or the ``runs`` of an object."""
    from cotmask.jsonfiles import read_json_file

    runs = read_json_file(path, "runs file")
    if isinstance(runs, dict):
        runs = runs.get("runs")
    if not isinstance(runs, list):
        raise ValueError(f"{path}: expected a JSON list of runs (or an object with key 'runs')")
    return runs


def _evaluate_suite(args: argparse.Namespace) -> int:
    from cotmask.evaluate import evaluate_suite
    from cotmask.logs import log_to_stderr

    log_to_stderr()
    summaries = evaluate_suite(args.model, _read_runs(args.runs), args.out_dir, threads=args.threads)
    print_json({name: summary_view(summary, "problems_per_s") for name, summary in summaries.items()})
    return 0


def _score(args: argparse.Namespace) -> int:
    from cotmask.scoring import score_file

    summary = score_file(args.predictions, args.out, args.benchmark, args.items, n_bootstrap=args.n_bootstrap)
    print_json(summary_view(summary))
    return 0


def _floors(args: argparse.Namespace) -> int:
    from cotmask.floors import answer_floors
    from cotmask.records import read_jsonl

    print_json({path: answer_floors(read_jsonl(path), args.scoring) for path in args.data}, indent=1)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask evaluate``, ``evaluate-suite``, ``score`` and ``floors``."""
    evaluate = add_command(
        subparsers, "evaluate", _evaluate, help="generate answers for a benchmark with a model and score them",
        description="Greedy (optionally calculator-assisted, or hybrid: program of thought run in a sandbox, "
        "chain of thought as the fallback) evaluation of a model on a benchmark JSONL.",
    )
    _add_model(evaluate)
    evaluate.add_argument("--benchmark", required=True, help="benchmark record JSONL")
    evaluate.add_argument("--predictions", required=True, help="per-item JSONL to write")
    evaluate.add_argument("--summary", required=True, help="summary JSON to write")
    add_scoring(evaluate)
    evaluate.add_argument("--calculator", action="store_true", help="calculator-assisted decoding of <<expr=>>")
    from cotmask.prompts import TEMPLATES  # a dict of strings

    evaluate.add_argument(
        "--prompt-template", default=None, choices=list(TEMPLATES),
        help="prompt template (default: the one the model was fine-tuned with, from its train_metrics.json; "
        "alpaca for other models; a different one is used with a warning)",
    )
    _add_hybrid(evaluate)
    add_decoding(evaluate, batch_size=32)
    add_threads(evaluate)
    add_seed(evaluate)
    evaluate.add_argument("--limit", type=int, default=None, help="evaluate only the first N records (default: all)")
    add_n_bootstrap(evaluate)

    suite = add_command(
        subparsers, "evaluate-suite", _evaluate_suite,
        help="evaluate one model on several benchmarks / decodings, loading it once",
        description="Runs every entry of a JSON list of runs ({name, benchmark_file, scoring, calculator, ...}: "
        "the keywords of `cotmask evaluate`) with one model; run NAME writes OUT_DIR/NAME.jsonl and NAME.json. "
        "A run without prompt_template uses the model's fine-tuning one.",
    )
    _add_model(suite)
    suite.add_argument("--runs", required=True, help="JSON file: a list of runs (or an object with key 'runs')")
    add_out(suite, "folder for the per-item JSONL and summary JSON of each run", flag="--out-dir")
    add_threads(suite)

    score = add_command(
        subparsers, "score", _score,
        help="score a predictions JSONL (fields prediction, answer) without loading a model",
        description="Extract final answers from generations and score them against gold answers.",
    )
    add_scoring(score, flag="--benchmark", required=True, help="scoring kind")
    score.add_argument("--predictions", required=True, help="JSONL with 'prediction' and 'answer' per line")
    add_out(score, "summary JSON to write")
    score.add_argument("--items", default=None, help="per-item JSONL to write (default: none)")
    add_n_bootstrap(score)

    floors = add_command(
        subparsers, "floors", _floors,
        help="accuracy of question-only heuristics (no model) on benchmark records",
        description="Score answers that need no model (a number of the question, their sum, the most "
        "common gold answer) on records files, to tell a model's accuracy from the floor.",
    )
    floors.add_argument("--data", nargs="+", required=True, help="records JSONL files (question, answer)")
    add_scoring(floors)
