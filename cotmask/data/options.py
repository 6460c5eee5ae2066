"""Declared options of data sources and augmentations, checked before any work is done.

Each source or augmentation declares its options as :class:`Option` objects. :func:`resolve_options`
fills in defaults, coerces values given as strings (the CLI's ``--option key=value``) and raises a
``ValueError`` naming the first unknown or malformed option.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    """One option: its type (int, float, bool, str or list), default and an optional extra check."""

    name: str
    kind: type
    default: Any
    help: str = ""
    check: Callable[[Any], str | None] | None = None  # returns a problem description or None
    choices: tuple[Any, ...] | None = None
    nullable: bool = False


def _coerce(option: Option, value: Any, owner: str) -> Any:
    where = f"{owner}: option {option.name!r}"
    if value is None:
        if option.nullable:
            return None
        raise ValueError(f"{where} must not be null")
    kind = option.kind
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "on"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"false", "0", "no", "off"}:
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError(f"{where} must be a boolean, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValueError(f"{where} must be an integer, got {value!r}")
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(f"{where} must be a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ValueError(f"{where} must be a number, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{where} must be a string, got {value!r}")
    if kind is list:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    raise ValueError(f"{where}: cannot parse list {value!r}") from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int)) for v in value):
            return [str(v) for v in value]
        raise ValueError(f"{where} must be a list of strings (or a comma-separated string), got {value!r}")
    raise TypeError(f"unsupported option kind {kind!r}")


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
            value = _coerce(option, given[name], owner)
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
