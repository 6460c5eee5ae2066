"""The ``cotmask`` command line: one subcommand per pipeline step, all wired here.

Each module of this package registers one group of commands (:data:`GROUPS`) with ``register(subparsers)``;
:mod:`cotmask.cli.common` has the shared help format, argument shapes and error reporting. A handler is a
thin call into one library function, and imports its library module only when it runs: that keeps torch
out of ``cotmask score``, ``floors``, ``tables`` and ``data`` (except ``data rft``), and makes ``--help``
fast. A known command builds only its own group's parser.

An expected error (bad input: ValueError, an OSError such as a missing file or a full disk, the library's
RecordError or TableInputError, a JSON/YAML parse error) prints ``cotmask <command>: error: <message>`` on
one line and exits with status 2, as argparse does for bad usage; Ctrl-C prints one such line too and exits
with 130. Any other exception is a bug and keeps its traceback; ``--debug`` (or ``COTMASK_DEBUG=1``) shows
the traceback of every error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cotmask.cli.common import DEBUG_ENV, DEBUG_FLAG, CommandParser, debug_requested, one_line

#: command group (module of this package) -> its commands
GROUPS = {
    "data": ("data",),
    "models": ("tokenizer", "pretrain", "train"),
    "evaluation": ("evaluate", "evaluate-suite", "score", "floors"),
    "model_card": ("model-card",),
    "report": ("plan", "tables", "partial-report"),
    "analysis": ("dependency",),
    "case_study": ("case-study",),
}
#: command -> the group that registers it
COMMAND_GROUPS = {command: group for group, commands in GROUPS.items() for command in commands}


def build_parser(groups: tuple[str, ...] | None = None) -> argparse.ArgumentParser:
    """The parser of the given command groups (every group by default)."""
    parser = CommandParser(
        prog="cotmask",
        description="Masked thought fine-tuning (MFT): data, training, evaluation and tables.",
    )
    parser.add_argument(DEBUG_FLAG, action="store_true",
                        help=f"show the traceback of an error (also after the command, or with {DEBUG_ENV}=1)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in groups or tuple(GROUPS):
        importlib.import_module(f"cotmask.cli.{group}").register(subparsers)
    return parser


def _groups_for(argv: list[str]) -> tuple[str, ...] | None:
    """Only the group of a known command; every group otherwise (top-level help, typos)."""
    if argv and argv[0] in COMMAND_GROUPS:
        return (COMMAND_GROUPS[argv[0]],)
    return None


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; an expected error becomes one line on stderr and status 2, Ctrl-C one line and
    status 130 (both a traceback with ``args.debug``)."""
    try:
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt) as error:
        return one_line(args, error)


def main(argv: list[str] | None = None) -> int:
    debug, argv = debug_requested(list(sys.argv[1:] if argv is None else argv))
    args = build_parser(_groups_for(argv)).parse_args(argv)
    args.debug = debug
    return run(args)

