"""``cotmask data ...``: build, augment, rejection-sample, validate and list datasets.

    cotmask data build --source gsm_synth --out work/data/gsm_synth --option n_train=1500 --option seed=0
    cotmask data augment --kind metamath_style --input work/data/gsm_synth/train.jsonl --out DIR
    cotmask data rft --train FILE --out DIR --model-dir MODEL --k 4 --temperature 0.7
    cotmask data validate FILE [FILE ...]
    cotmask data sources

``--option key=value`` values are parsed as JSON when they parse (numbers, true/false, lists), else as
text; a list may also be written ``a,b,c``. Errors (bad option, malformed record) print one line naming
the option or the file:line: field, and exit with status 2.

Each handler imports its library module when it runs (torch only for ``data rft``).
"""

from __future__ import annotations

import argparse

from cotmask.cli.common import (
    add_command,
    add_decoding,
    add_key_values,
    add_out,
    add_prompt_template,
    add_scoring,
    add_seed,
    add_threads,
    one_line,
    print_json,
)

OPTION_HELP = "a source/augmentation option; `cotmask data sources` lists them with their defaults"


def _build(args: argparse.Namespace) -> int:
    from cotmask.data import build_source
    from cotmask.data.options import parse_cli_options

    stats = build_source(args.source, args.out, **parse_cli_options(args.option))
    counts = {split: s["n"] for split, s in stats.get("splits", {}).items()}
    print(f"{args.source}: wrote {counts} to {args.out}")
    return 0


def _augment(args: argparse.Namespace) -> int:
    from cotmask.data import build_augmented
    from cotmask.data.options import parse_cli_options

    stats = build_augmented(args.kind, args.input, args.out, **parse_cli_options(args.option))
    print(f"{args.kind}: wrote {stats['splits']['train']['n']} records to {args.out}/train.jsonl")
    return 0


def _rft(args: argparse.Namespace) -> int:
    from cotmask.data import rejection_sample

    stats = rejection_sample(
        args.train, args.out, model_dir=args.model_dir, k=args.k, temperature=args.temperature,
        max_new_tokens=args.max_new_tokens, seed=args.seed, prompt_template=args.prompt_template,
        calculator=args.calculator, batch_size=args.batch_size, threads=args.threads,
        include_original=not args.no_original, scoring=args.scoring,
    )
    print(f"rft: {stats['splits']['train']['n']} records, acceptance rate {stats['acceptance_rate']:.3f}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Every file is checked; each bad one prints its error line, and the status is 2 if any was bad."""
    from cotmask.data.validate import validate_file

    status = 0
    for path in args.files:
        try:
            summary = validate_file(path, check_answers=not args.schema_only)
        except Exception as error:
            status = one_line(args, error)
            continue
        duplicates = f", {summary['duplicate_rows']} repeating an earlier question and solution" \
            if summary["duplicate_rows"] else ""
        print(f"{path}: {summary['n']} valid records {summary['sources']}{duplicates}")
    return status


def _sources(args: argparse.Namespace) -> int:
    from cotmask.data.listing import sources_listing

    print_json(sources_listing(), indent=2, sort_keys=True)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask data`` and its subcommands."""
    data = add_command(subparsers, "data", None, help="build, augment, rejection-sample and validate datasets")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")

    build = add_command(
        commands, "build", _build, help="build a source: OUT/{split}.jsonl + OUT/stats.json",
        expected=(ImportError,),  # a hub source whose optional package is missing says which one
    )
    build.add_argument("--source", required=True, help="source name (`cotmask data sources` lists them)")
    add_out(build, "output folder")
    add_key_values(build, "--option", OPTION_HELP)

    augment = add_command(
        commands, "augment", _augment, help="build an augmented training set: OUT/train.jsonl + OUT/stats.json"
    )
    augment.add_argument("--kind", required=True, help="augmentation kind (metamath_style, pot_mix, concat, rft)")
    augment.add_argument("--input", required=True, nargs="+", help="input records JSONL file(s)")
    add_out(augment, "output folder")
    add_key_values(augment, "--option", OPTION_HELP)

    rft = add_command(commands, "rft", _rft, help="rejection-sampling fine-tuning data (RFT) from a fine-tuned model")
    rft.add_argument("--train", required=True, help="training records (questions and gold answers)")
    add_out(rft, "output folder (train.jsonl, stats.json)")
    rft.add_argument("--model-dir", required=True, help="the fine-tuned model that samples the solutions")
    rft.add_argument("--k", type=int, default=4, help="samples per question")
    rft.add_argument("--temperature", type=float, default=0.7, help="sampling temperature")
    add_decoding(rft, batch_size=16)
    add_seed(rft, help="seed of the first sampling round (round r uses seed + r)")
    add_prompt_template(rft, default="short")
    rft.add_argument("--calculator", action=argparse.BooleanOptionalAction, default=True,
                     help="calculator-assisted decoding of <<expr=>>")
    add_threads(rft)
    add_scoring(rft, help="answer comparison that accepts a sample")
    rft.add_argument("--no-original", action="store_true", help="leave the original solutions out")

    validate = add_command(commands, "validate", _validate, help="check records files (one error line per bad file)")
    validate.add_argument("files", nargs="+", help="records JSONL files")
    validate.add_argument("--schema-only", action="store_true", help="skip the final-answer check")

    add_command(commands, "sources", _sources, help="list sources, their splits and default options (JSON)")
