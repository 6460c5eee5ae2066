"""``cotmask data ...``: build, augment, rejection-sample, validate and list datasets.

    cotmask data build --source gsm_synth --out work/data/gsm_synth --option n_train=1500 --option seed=0
    cotmask data augment --kind metamath_style --input work/data/gsm_synth/train.jsonl --out DIR
    cotmask data rft --train FILE --out DIR --model-dir MODEL --k 4 --temperature 0.7
    cotmask data validate FILE [FILE ...]
    cotmask data sources

``--option key=value`` values are parsed as JSON when they parse (numbers, true/false, lists), else as
text; a list may also be written ``a,b,c``. Errors (bad option, malformed record) print one line naming
the option or the file:line: field, and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys

from cotmask.data.options import parse_cli_options


def _fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1


def _build(args: argparse.Namespace) -> int:
    from cotmask.data import build_source

    try:
        stats = build_source(args.source, args.out, **parse_cli_options(args.option))
    except (ValueError, FileNotFoundError, ConnectionError, ImportError) as error:
        return _fail(error)
    counts = {split: s["n"] for split, s in stats.get("splits", {}).items()}
    print(f"{args.source}: wrote {counts} to {args.out}")
    return 0


def _augment(args: argparse.Namespace) -> int:
    from cotmask.data import build_augmented

    try:
        stats = build_augmented(args.kind, args.input, args.out, **parse_cli_options(args.option))
    except (ValueError, FileNotFoundError) as error:
        return _fail(error)
    print(f"{args.kind}: wrote {stats['splits']['train']['n']} records to {args.out}/train.jsonl")
    return 0


def _rft(args: argparse.Namespace) -> int:
    from cotmask.data import rejection_sample

    try:
        stats = rejection_sample(
            args.train, args.out, model_dir=args.model_dir, k=args.k, temperature=args.temperature,
            max_new_tokens=args.max_new_tokens, seed=args.seed, prompt_template=args.prompt_template,
            calculator=args.calculator, batch_size=args.batch_size, threads=args.threads,
            include_original=not args.no_original, scoring=args.scoring,
        )
    except (ValueError, FileNotFoundError) as error:
        return _fail(error)
    print(f"rft: {stats['splits']['train']['n']} records, acceptance rate {stats['acceptance_rate']:.3f}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from cotmask.data.validate import validate_file

    status = 0
    for path in args.files:
        try:
            summary = validate_file(path, check_answers=not args.schema_only)
        except (ValueError, FileNotFoundError) as error:
            status = _fail(error)
            continue
        print(f"{path}: {summary['n']} valid records {summary['sources']}")
    return status


def _sources(args: argparse.Namespace) -> int:
    from cotmask.data import SOURCES, source_splits
    from cotmask.data.augment import OPTIONS as AUG_OPTIONS

    listing = {
        "sources": {
            name: {
                "description": spec.description,
                "splits": source_splits(name, {}),
                "options": {o.name: o.default for o in spec.options.values()},
            }
            for name, spec in sorted(SOURCES.items())
        },
        "augmentations": {kind: {o.name: o.default for o in opts.values()} for kind, opts in AUG_OPTIONS.items()},
    }
    print(json.dumps(listing, indent=2, sort_keys=True))
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask data`` and its subcommands."""
    data = subparsers.add_parser("data", help="build, augment, rejection-sample and validate datasets")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")

    build = commands.add_parser("build", help="build a source: OUT/{split}.jsonl + OUT/stats.json")
    build.add_argument("--source", required=True)
    build.add_argument("--out", required=True)
    build.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    build.set_defaults(func=_build)

    augment = commands.add_parser("augment", help="build an augmented training set: OUT/train.jsonl + OUT/stats.json")
    augment.add_argument("--kind", required=True)
    augment.add_argument("--input", required=True, nargs="+")
    augment.add_argument("--out", required=True)
    augment.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    augment.set_defaults(func=_augment)

    rft = commands.add_parser("rft", help="rejection-sampling fine-tuning data (RFT) from a fine-tuned model")
    rft.add_argument("--train", required=True, help="training records (questions and gold answers)")
    rft.add_argument("--out", required=True)
    rft.add_argument("--model-dir", required=True)
    rft.add_argument("--k", type=int, default=4, help="samples per question")
    rft.add_argument("--temperature", type=float, default=0.7)
    rft.add_argument("--max-new-tokens", type=int, default=256)
    rft.add_argument("--seed", type=int, default=0)
    rft.add_argument("--prompt-template", default="short")
    rft.add_argument("--calculator", action=argparse.BooleanOptionalAction, default=True)
    rft.add_argument("--batch-size", type=int, default=16)
    rft.add_argument("--threads", type=int, default=1)
    rft.add_argument("--scoring", default="gsm8k")
    rft.add_argument("--no-original", action="store_true", help="leave the original solutions out")
    rft.set_defaults(func=_rft)

    validate = commands.add_parser("validate", help="check records files (exit 1 with file:line: field)")
    validate.add_argument("files", nargs="+")
    validate.add_argument("--schema-only", action="store_true", help="skip the final-answer check")
    validate.set_defaults(func=_validate)

    sources = commands.add_parser("sources", help="list sources, their splits and default options")
    sources.set_defaults(func=_sources)
