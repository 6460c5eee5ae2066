"""Shared pieces of the ``cotmask`` command line: the help format, command registration, the argument
shapes several commands take, and the one-line reporting of expected errors.

Nothing here imports a heavy library module; the constants some arguments need (scoring kinds, prompt
templates) come from light modules.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

#: Exit status of a command that stopped on an expected error (argparse uses the same for bad usage).
ERROR_STATUS = 2
#: Exit status after Ctrl-C (128 + SIGINT, what a shell reports for a process killed by it).
INTERRUPTED_STATUS = 130

#: Errors that mean "bad input" or a problem of the machine rather than of cotmask, reported as one line
#: without a traceback: the library's own error types (RecordError, TableInputError, ...) and JSON parse
#: errors are ValueErrors; OSError covers a missing or unreadable file, a full disk, a read-only folder and
#: an unreachable hub; YAML parse errors are checked by :func:`is_expected`. Anything else is a bug and
#: keeps its traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)

#: ``cotmask --debug COMMAND ...`` (the flag may also follow the command) or this environment variable set
#: to 1 shows the traceback of an expected error or an interrupt too.
DEBUG_FLAG = "--debug"
DEBUG_ENV = "COTMASK_DEBUG"

Handler = Callable[[argparse.Namespace], "int | None"]


# ---------------------------------------------------------------------------------------------- help format
class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: X)`` after the help of every option that is not required; a default of None or an empty
    list shows as ``(default: none)`` unless the help already says what leaving the option out means."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.required or not action.option_strings or action.default is argparse.SUPPRESS:
            return text
        if action.default is None or action.default == []:
            return text if "(default" in text else f"{text} (default: none)"
        return super()._get_help_string(action)


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser with :class:`HelpFormatter` and an optional ``reference``: a function returning
    pre-formatted text printed after the help. It is called only when the help is shown, so it may import
    what the command itself needs (building the parser imports nothing heavy)."""

    def __init__(self, *args: Any, reference: Callable[[], str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.reference = reference

    def format_help(self) -> str:
        text = super().format_help()
        if self.reference is not None:
            text += "\n" + self.reference().rstrip("\n") + "\n"
        return text


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    handler: Handler | None,
    *,
    help: str,
    description: str | None = None,
    reference: Callable[[], str] | None = None,
    expected: tuple[type[BaseException], ...] = (),
) -> CommandParser:
    """Add subcommand ``name``; ``handler(args)`` runs it (None for a group of subcommands). ``expected``
    adds error types that this command reports in one line besides :data:`EXPECTED_ERRORS`."""
    parser = subparsers.add_parser(name, help=help, description=description or help, reference=reference)
    if handler is not None:
        parser.set_defaults(func=handler, prog=parser.prog, expected=expected)
    return parser


# ----------------------------------------------------------------------------------------- argument shapes
def add_out(parser: argparse.ArgumentParser, help: str, flag: str = "--out") -> None:
    """The required output path (file or folder)."""
    parser.add_argument(flag, required=True, help=help)


def add_model(parser: argparse.ArgumentParser, flag: str = "--model") -> None:
    """The required model folder."""
    parser.add_argument(flag, required=True, help="model folder (save_pretrained, tokenizer inside)")


def add_corpus(parser: argparse.ArgumentParser) -> None:
    """The required corpus files of the tiny tokenizer and pre-training."""
    parser.add_argument("--corpus", nargs="+", required=True, help="records JSONL or plain-text files")


def add_key_values(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    """A repeatable ``FLAG KEY=VALUE`` (collected into a list)."""
    parser.add_argument(flag, action="append", default=[], metavar="KEY=VALUE", help=f"{help} (repeatable)")


def add_scoring(parser: argparse.ArgumentParser, *, flag: str = "--scoring", required: bool = False,
                help: str = "answer extraction and comparison") -> None:
    """The scoring kind of :mod:`cotmask.scoring`."""
    from cotmask.scoring import SCORING_KINDS  # light: no torch, no numpy at import

    default = None if required else "gsm8k"
    parser.add_argument(flag, required=required, default=default, choices=SCORING_KINDS, help=help)


def add_prompt_template(parser: argparse.ArgumentParser, default: str) -> None:
    """The prompt template (checked by the library, which names the known ones)."""
    from cotmask.prompts import TEMPLATES  # a dict of strings

    parser.add_argument("--prompt-template", default=default, help=f"prompt template ({', '.join(TEMPLATES)})")


def add_decoding(parser: argparse.ArgumentParser, *, batch_size: int, max_new_tokens: int = 256) -> None:
    """Batched generation: ``--batch-size`` and ``--max-new-tokens``."""
    parser.add_argument("--batch-size", type=int, default=batch_size, help="prompts generated together")
    parser.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help="generation length limit")


def add_seed(parser: argparse.ArgumentParser, default: int = 0, help: str = "random seed") -> None:
    parser.add_argument("--seed", type=int, default=default, help=help)


def add_threads(parser: argparse.ArgumentParser, default: int = 1) -> None:
    parser.add_argument("--threads", type=int, default=default, help="torch CPU threads")


def add_n_bootstrap(parser: argparse.ArgumentParser, default: int = 1000) -> None:
    parser.add_argument("--n-bootstrap", type=int, default=default, help="bootstrap resamples for the 95 %% CI")


# ------------------------------------------------------------------------------------------------ output
def print_json(data: Any, **kwargs: Any) -> None:
    """A command's result on stdout, as JSON."""
    print(json.dumps(data, **kwargs))


# ----------------------------------------------------------------------------------------------- errors
def is_expected(error: BaseException, extra: tuple[type[BaseException], ...] = ()) -> bool:
    """Whether ``error`` is bad input (one line) rather than a bug (traceback)."""
    if isinstance(error, EXPECTED_ERRORS + tuple(extra)):
        return True
    yaml = sys.modules.get("yaml")  # a YAML error can only come from a module that imported yaml
    return yaml is not None and isinstance(error, yaml.YAMLError)


def error_message(error: BaseException) -> str:
    """The error as one line: an OSError from ``open`` as ``FILE: reason``, else its text."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    text = " ".join(str(error).split()) or type(error).__name__
    return text


def report_error(prog: str, error: BaseException) -> int:
    """Print ``PROG: error: MESSAGE`` to stderr; return :data:`ERROR_STATUS` (:data:`INTERRUPTED_STATUS`
    for Ctrl-C)."""
    if isinstance(error, KeyboardInterrupt):
        print(f"{prog}: error: interrupted (Ctrl-C)", file=sys.stderr)
        return INTERRUPTED_STATUS
    print(f"{prog}: error: {error_message(error)}", file=sys.stderr)
    return ERROR_STATUS


def debug_requested(argv: list[str]) -> tuple[bool, list[str]]:
    """Whether ``--debug`` (anywhere before a ``--``) or ``COTMASK_DEBUG=1`` asks for tracebacks, and the
    arguments without the flag."""
    end = argv.index("--") if "--" in argv else len(argv)
    flagged = DEBUG_FLAG in argv[:end]
    rest = [arg for arg in argv[:end] if arg != DEBUG_FLAG] + argv[end:]
    from_env = os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    return flagged or from_env, rest


def one_line(args: argparse.Namespace, error: BaseException) -> int:
    """Report an expected error (or Ctrl-C) of command ``args`` in one line and return the exit status;
    re-raise it (traceback) when it is a bug or when ``--debug`` was given."""
    if getattr(args, "debug", False):
        raise error
    if not isinstance(error, KeyboardInterrupt) and not is_expected(error, getattr(args, "expected", ())):
        raise error
    return report_error(args.prog, error)
