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
    "cotmask.floors",
    "cotmask.tables",
)

# Which module defines each subcommand. A known command imports only its own module, so that
# e.g. ``cotmask score`` runs without loading torch or transformers.
COMMAND_OWNERS = {
    "data": "cotmask.data.cli",
    "tokenizer": "cotmask.tiny",
    "pretrain": "cotmask.tiny",
    "train": "cotmask.train",
    "evaluate": "cotmask.evaluate",
    "evaluate-suite": "cotmask.evaluate",
    "score": "cotmask.scoring",
    "floors": "cotmask.floors",
    "tables": "cotmask.tables",
}


def build_parser(modules: tuple[str, ...] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cotmask",
        description="Masked thought fine-tuning (MFT): data, training, evaluation and tables.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules or COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register_cli(subparsers)
    return parser


def _modules_for(argv: list[str]) -> tuple[str, ...] | None:
    """Only the owning module for a known command; every module otherwise (help, typos)."""
    if argv and argv[0] in COMMAND_OWNERS and COMMAND_OWNERS[argv[0]] in COMMAND_MODULES:
        return (COMMAND_OWNERS[argv[0]],)
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_modules_for(argv))
    args = parser.parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
