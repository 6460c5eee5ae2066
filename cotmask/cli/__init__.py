"""The ``cotmask`` command line: one subcommand per pipeline step, all wired here.

Each module of this package registers one group of commands (:data:`GROUPS`) with ``register(subparsers)``;
:mod:`cotmask.cli.common` has the shared help format, argument shapes and error reporting. A handler is a
thin call into one library function, and imports its library module only when it runs: that keeps torch
out of ``cotmask score``, ``floors``, ``tables`` and ``data`` (except ``data rft``), and makes ``--help``
fast. A known command builds only its own group's parser.

An expected error (bad input: ValueError, a missing file, the library's RecordError or TableInputError, a
JSON/YAML parse error) prints ``cotmask <command>: error: <message>`` on one line and exits with status 2,
as argparse does for bad usage; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cotmask.cli.common import CommandParser, is_expected, report_error

#: command group (module of this package) -> its commands
GROUPS = {
    "data": ("data",),
    "models": ("tokenizer", "pretrain", "train"),
    "evaluation": ("evaluate", "evaluate-suite", "score", "floors"),
    "report": ("tables", "partial-report"),
}
#: command -> the group that registers it
COMMAND_GROUPS = {command: group for group, commands in GROUPS.items() for command in commands}


def build_parser(groups: tuple[str, ...] | None = None) -> argparse.ArgumentParser:
    """The parser of the given command groups (every group by default)."""
    parser = CommandParser(
        prog="cotmask",
        description="Masked thought fine-tuning (MFT): data, training, evaluation and tables.",
    )
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
    """Run a parsed command; an expected error becomes one line on stderr and status 2."""
    try:
        return int(args.func(args) or 0)
    except Exception as error:
        if not is_expected(error, args.expected):
            raise
        return report_error(args.prog, error)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_groups_for(argv)).parse_args(argv)
    return run(args)

