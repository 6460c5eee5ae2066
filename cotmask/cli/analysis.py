"""``cotmask dependency run`` (one fine-tune's dependency counts) and ``cotmask dependency table`` (the table
and figure of many runs): the dependency-distance analysis of :mod:`cotmask.analysis.dependency`.

    cotmask dependency run --model work/models/ft/llama/gsm/mft/seed1 --test gsm_test=work/data/gsm/test.jsonl \\
        --control gsm_ic_2step=work/data/gsm/ic_2step.jsonl --out dep/llama/gsm/mft/seed1.json
    cotmask dependency table --runs dep/*/*/*/*.json --out-dir results --comparison mft:sft

``run`` imports torch when it runs; ``table`` only pandas and matplotlib.
"""

from __future__ import annotations

import argparse
import json

from cotmask.cli.common import add_command, add_n_bootstrap, add_out, add_seed, add_threads


def _named_files(values: list[str], flag: str) -> dict[str, str]:
    """``NAME=FILE`` values as a mapping (a bad one is a one-line error naming the flag)."""
    named = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"{flag} {value!r}: write NAME=FILE")
        named[name] = path
    return named


def _bin_edges(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--bins {text!r}: write increasing integers separated by commas, e.g. 1,2,4,8") from None


def _run(args: argparse.Namespace) -> int:
    from cotmask.analysis.dependency import DependencySettings, run_dependency
    from cotmask.logs import log_to_stderr

    log_to_stderr()
    benchmarks = {name: {"file": path, "role": "test"} for name, path in _named_files(args.test, "--test").items()}
    benchmarks.update({name: {"file": path, "role": "control"}
                       for name, path in _named_files(args.control, "--control").items()})
    settings = DependencySettings(items=args.items or None, perturbations=args.perturbations, seed=args.seed,
                                  bin_edges=_bin_edges(args.bins), batch_size=args.batch_size)
    run = run_dependency(args.model, benchmarks, args.out, settings=settings, prompt_template=args.prompt_template,
                         cluster_by=args.cluster_by or None, threads=args.threads, name=args.name)
    print(json.dumps({"items": len(run["items"]), **run["cost"]}))
    return 0


def _table(args: argparse.Namespace) -> int:
    from cotmask.analysis.dependency_table import build_dependency_tables

    comparisons = []
    for value in args.comparison:
        treatment, sep, control = value.partition(":")
        if not sep or not treatment or not control:
            raise ValueError(f"--comparison {value!r}: write TREATMENT:CONTROL")
        comparisons.append({"treatment": treatment, "control": control})
    paths = build_dependency_tables(args.runs, args.out_dir, methods=args.methods,
                                    labels=_named_files(args.label, "--label"), comparisons=comparisons,
                                    n_resamples=args.n_bootstrap, seed=args.seed)
    print(f"tabulated {len(args.runs)} dependency runs into {', '.join(str(p) for p in paths.values())}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask dependency`` and its subcommands ``run`` and ``table``."""
    group = add_command(subparsers, "dependency", None,
                        help="dependency rate against token distance (paper Fig. 1): measure and tabulate")
    commands = group.add_subparsers(dest="dependency_command", required=True, metavar="DEPENDENCY_COMMAND")

    run = add_command(
        commands, "run", _run, help="measure one fine-tuned model: per-item dependency counts (JSON)",
        description="Feed the test records teacher-forced, replace each number in turn by another number of the "
        "same length, and count per item, panel and distance bin the later solution numbers whose greedy "
        "prediction changes (chain→chain, question→chain; on --control GSM-IC files the distractor's number).",
    )
    run.add_argument("--model", required=True, help="fine-tuned model folder (save_pretrained, tokenizer inside)")
    run.add_argument("--test", action="append", default=[], metavar="NAME=FILE",
                     help="test records for the chain and question panels (repeatable)")
    run.add_argument("--control", action="append", default=[], metavar="NAME=FILE",
                     help="GSM-IC records (metadata.distractor) for the irrelevant-number control (repeatable)")
    add_out(run, "output JSON file (per-item counts)")
    run.add_argument("--items", type=int, default=100, help="records per file, in file order (0: all)")
    run.add_argument("--perturbations", type=int, default=1, help="replacement draws per perturbed number")
    add_seed(run, help="seed of the replacement draws")
    run.add_argument("--bins", default="1,2,4,8,16,32,64", help="lower edges of the token-distance bins")
    run.add_argument("--batch-size", type=int, default=64, help="sequences per forward pass")
    run.add_argument("--prompt-template", default=None,
                     help="prompt template (default: the one the model was fine-tuned with)")
    run.add_argument("--cluster-by", default="template",
                     help="record metadata key of the bootstrap cluster ('' : every item its own)")
    run.add_argument("--name", default=None,
                     help="MODEL/TRAIN_SET/METHOD/SEED of the run (default: from a .../M/T/METHOD/seedN folder)")
    add_threads(run)

    table = add_command(commands, "table", _table,
                        help="table (csv, md, tex, html) and figure of dependency runs with bootstrap CIs")
    table.add_argument("--runs", nargs="+", required=True, help="per-run JSON files of `cotmask dependency run`")
    add_out(table, "output folder (tables/dependency.*, figures/dependency.png)", flag="--out-dir")
    table.add_argument("--methods", nargs="+", default=None, help="methods in column order (default: all, sorted)")
    table.add_argument("--comparison", action="append", default=[], metavar="TREATMENT:CONTROL",
                       help="a paired difference column (repeatable)")
    table.add_argument("--label", action="append", default=[], metavar="METHOD=LABEL",
                       help="display name of a method (repeatable)")
    add_n_bootstrap(table, default=2000)
    add_seed(table, help="bootstrap seed")
