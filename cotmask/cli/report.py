"""``cotmask tables``: the tables, figures and summary.json from an index file of evaluations;
``cotmask partial-report``: the same (and the regime map) from the runs of a config that exist so far;
``cotmask plan``: a workflow config checked without Snakemake (:func:`cotmask.plan.plan_config_file`).

The handler imports :mod:`cotmask.report` when it runs (pandas, matplotlib; never torch).
"""

from __future__ import annotations

import argparse
import json

from cotmask.cli.common import add_command, add_out


def _tables(args: argparse.Namespace) -> int:
    from cotmask.report import build_tables_from_files

    summary = build_tables_from_files(
        args.index, args.out_dir, options_path=args.options, n_resamples=args.n_resamples,
        bootstrap_seed=args.bootstrap_seed, figures=False if args.no_figures else None,
    )
    print(f"aggregated {summary['inputs']['n_evaluations']} evaluations into {args.out_dir}")
    return 0


def _partial_report(args: argparse.Namespace) -> int:
    from cotmask.partial import build_partial_report
    from cotmask.plan.schema import ConfigError

    try:
        coverage = build_partial_report(args.config, args.out_dir, args.workdir, seeds=args.seeds)
    except ConfigError as error:  # a config error (not a ValueError): one line naming the file
        raise ValueError(f"{args.config}: {error}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{args.config}: not UTF-8 (byte {error.start + 1})") from None
    print(json.dumps(coverage, sort_keys=True))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from cotmask.plan import ConfigError, plan_config_file

    try:
        plan = plan_config_file(args.config)
    except ConfigError as error:  # not a ValueError: make it the CLI's one-line error
        raise ValueError(str(error)) from None
    print(json.dumps(plan.job_counts(), indent=1))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask plan``, ``cotmask tables`` and ``cotmask partial-report``."""
    plan = add_command(
        subparsers, "plan", _plan,
        help="check a workflow config without Snakemake and print the jobs of a run from scratch",
        description="Read a workflow config (a YAML error names its line), validate it against "
        "config/schema.yaml, plan every job, check local paths and results_dir from the current folder, and "
        "print the number of jobs per rule of a run from scratch as JSON (= python -m cotmask.plan).",
    )
    plan.add_argument("config", help="the workflow config file (e.g. config/smoke.yaml)")
    partial = add_command(
        subparsers, "partial-report", _partial_report,
        help="tables (and regime map) of the runs of a workflow config that exist so far",
        description="Plan a workflow config, keep the evaluations whose files exist, and write their tables "
        "(and, with a regime map, its tables and figures) plus partial_run.json (coverage).",
    )
    partial.add_argument("--config", required=True, help="the workflow config file (e.g. config/regime.yaml)")
    add_out(partial, "output folder (tables/, figures/, summary.json, partial_run.json)", flag="--out-dir")
    partial.add_argument("--workdir", default=".", help="the folder the workflow ran in (work/ lies below it)")
    partial.add_argument("--seeds", type=int, nargs="+", default=None,
                         help="keep only these training seeds (default: every seed that exists)")
    parser = add_command(
        subparsers, "tables", _tables,
        help="aggregate evaluations into tables, figures and summary.json",
        description="Build Tables 1/2/5 counterparts, comparisons, Fig. 3 data and figures from an index "
        "of evaluations (JSON list, or an object with key 'evaluations').",
    )
    parser.add_argument("--index", required=True, help="JSON file: list of evaluation entries")
    add_out(parser, "output folder (tables/, figures/, summary.json)", flag="--out-dir")
    parser.add_argument("--options", default=None,
                        help="JSON file with build_tables keyword arguments (default: none, the defaults)")
    parser.add_argument("--n-resamples", type=int, default=None,
                        help="bootstrap resamples (default: the options file's, else 2000)")
    parser.add_argument("--bootstrap-seed", type=int, default=None,
                        help="bootstrap seed (default: the options file's, else 0)")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
