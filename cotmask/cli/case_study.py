"""``cotmask case-study run`` (one fine-tune: forced chain prefixes, greedy continuation, the operand it
writes) and ``cotmask case-study table`` (the Table 4 counterpart from the runs' files);
:mod:`cotmask.analysis.case_study`.

``run`` imports torch only once its items are checked; ``table`` never imports it.
"""

from __future__ import annotations

import argparse

from cotmask.cli.common import (
    add_command,
    add_key_values,
    add_model,
    add_n_bootstrap,
    add_seed,
    add_threads,
    print_json,
)


def _labels(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a mapping (a pair without ``=`` is an error naming it)."""
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--label {pair!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def _run(args: argparse.Namespace) -> int:
    from cotmask.analysis.case_study import run_case_study
    from cotmask.logs import log_to_stderr

    log_to_stderr()
    summary = run_case_study(
        args.model, args.data, args.out, items=args.items, variants=args.variants, seed=args.seed,
        source=args.source, prompt_template=args.prompt_template, max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size, threads=args.threads, labels=_labels(args.label),
    )
    print_json({key: summary[key] for key in ("n_items", "n_prompts", "fractions", "wall_time_s")})
    return 0


def _table(args: argparse.Namespace) -> int:
    from cotmask.analysis.case_study import write_case_study

    rows = write_case_study(args.runs, args.out_dir, control=args.control, n_resamples=args.n_bootstrap,
                            seed=args.bootstrap_seed)
    print(f"wrote the case-study table of {len(rows)} methods from {len(args.runs)} runs into {args.out_dir}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask case-study run`` and ``cotmask case-study table``."""
    from cotmask.analysis.case_study import SOURCES  # no torch at import

    group = add_command(subparsers, "case-study", None,
                        help="the dependency case study (the paper's Table 4, Figs. 4-5)")
    commands = group.add_subparsers(dest="case_study_command", required=True, metavar="CASE_STUDY_COMMAND")
    run = add_command(
        commands, "run", _run, help="force chain prefixes with a varied operand or question number; record what "
        "the model writes",
        description="For held-out two-step problems (or the paper's Janet's-ducks question), force the chain up to "
        "the first operand after the first operator, vary that operand (Fig. 4) or the question's number (Fig. 5), "
        "decode greedily and record the operand the model writes. Writes OUT.jsonl (one row per prompt) and "
        "OUT.json (summary).",
    )
    add_model(run)
    run.add_argument("--data", default=None, help="test split (records JSONL) to draw two-step problems from")
    run.add_argument("--out", required=True, help="output path prefix: writes OUT.jsonl and OUT.json")
    run.add_argument("--source", default="synthetic", choices=SOURCES,
                     help="held-out problems of --data, or the paper's own question (janet)")
    run.add_argument("--items", type=int, default=50, help="two-step problems (the first that fit, in file order)")
    run.add_argument("--variants", type=int, default=9, help="variants per item and figure (digit class)")
    add_seed(run, help="seed of the variants drawn per item")
    run.add_argument("--prompt-template", default=None,
                     help="prompt template (default: the one the model was fine-tuned with)")
    run.add_argument("--max-new-tokens", type=int, default=24, help="continuation length limit")
    run.add_argument("--batch-size", type=int, default=64, help="prompts generated together")
    add_threads(run)
    add_key_values(run, "--label", "a label of the run for the table: model=, train_set=, method=, seed=")
    table = add_command(
        commands, "table", _table, help="the Table 4 counterpart from case-study runs",
        description="Recompute every fraction from the runs' rows and write tables/table4_case_study.{csv,md,tex,"
        "html} and figures/table4_case_study.png under --out-dir, next to the paper's Table 4.",
    )
    table.add_argument("--runs", nargs="+", required=True, help="the runs' summary files (OUT.json of run)")
    table.add_argument("--out-dir", required=True, help="results folder (tables/ and figures/ inside)")
    table.add_argument("--control", default="sft", help="the method every other one is compared with")
    add_n_bootstrap(table)
    table.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap")
