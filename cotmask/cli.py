"""The ``cotmask`` command line: one subcommand per pipeline step.

Each module listed in :data:`COMMAND_MODULES` exposes ``register_cli(subparsers)``, which adds its
subcommands and sets ``func`` on them. Modules are imported only when the CLI starts.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "cotmask.data.cli",
    "cotmask.tiny",
    "cotmask.train",
    "cotmask.evaluate",
    "cotmask.scoring",
    "cotmask.tables",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cotmask",
        description="Masked thought fine-tuning (MFT): data, training, evaluation and tables.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
