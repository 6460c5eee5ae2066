"""Declared options of data sources and augmentations, checked before any work is done.

Each source or augmentation declares its options as :class:`Option` objects. :func:`resolve_options`
fills in defaults, converts the given values by the option's kind (the rule of :mod:`cotmask.settings`:
e.g. ``"a,b"`` for a list, ``"1e-3"`` for a float) and raises a ``ValueError`` naming the first unknown or
malformed option.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cotmask.settings import coerce


@dataclass(frozen=True)
class Option:
    """One option: its kind (int, float, bool, str or list: :mod:`cotmask.settings`), default and an optional
    extra check."""

    name: str
    kind: type
    default: Any
    help: str = ""
    check: Callable[[Any], str | None] | None = None  # returns a problem description or None
    choices: tuple[Any, ...] | None = None
    nullable: bool = False


class ProblemSpaceExhausted(ValueError):
    """A generator found no new problem for a split: the options ask for more problems than its templates
    (at these number ranges) give. A user error, named by option."""


#: The option that sets the size of each split of a generator (for :class:`ProblemSpaceExhausted`).
SIZE_OPTIONS = {"train": "n_train", "test": "n_test", "pretrain": "n_pretrain", "ic_2step": "n_ic", "ic_mstep": "n_ic"}


def exhausted(source: str, split: str, drawn: int, detail: str) -> ProblemSpaceExhausted:
    """The error for a split whose problem space ran out after ``drawn`` problems."""
    option = SIZE_OPTIONS.get(split, f"n_{split}")
    return ProblemSpaceExhausted(
        f"{source}: option {option!r}: no new {split} problem after {drawn} ({detail}); the templates give no "
        f"more at these settings: lower {option!r}, or widen the number range or the template set"
    )


def resolve_options(owner: str, declared: Mapping[str, Option], given: Mapping[str, Any]) -> dict[str, Any]:
    """Return the full option dict (defaults filled in); ValueError names any unknown or bad option."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(
            f"{owner}: unknown option(s) {', '.join(map(repr, unknown))}; "
            f"known options: {', '.join(sorted(declared))}"
        )
    resolved: dict[str, Any] = {}
    for name, option in declared.items():
        if name in given:
            value = coerce(given[name], option.kind, where=f"{owner}: option {name!r}", nullable=option.nullable)
        else:
            value = option.default
        if value is not None:
            if option.choices is not None:
                values = value if isinstance(value, list) else [value]
                bad = [v for v in values if v not in option.choices]
                if bad:
                    raise ValueError(
                        f"{owner}: option {name!r} has invalid value {bad[0]!r}; choose from {list(option.choices)}"
                    )
            if option.check is not None:
                problem = option.check(value)
                if problem:
                    raise ValueError(f"{owner}: option {name!r} {problem} (got {value!r})")
        resolved[name] = value
    return resolved


def at_least(minimum: float) -> Callable[[Any], str | None]:
    """A check that a number is >= minimum."""
    return lambda value: None if value >= minimum else f"must be >= {minimum}"


def in_unit_interval(value: float) -> str | None:
    """A check that a number lies in [0, 1]."""
    return None if 0.0 <= value <= 1.0 else "must lie in [0, 1]"


def parse_cli_value(text: str) -> Any:
    """Parse the value part of ``--option key=value``: JSON when it parses (numbers, booleans, lists), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_cli_options(pairs: list[str] | None) -> dict[str, Any]:
    """Turn ``["key=value", ...]`` into a dict; ValueError for an item without '='."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option expects key=value, got {pair!r}")
        options[key.strip()] = parse_cli_value(value)
    return options
