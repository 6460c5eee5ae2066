"""One type rule for every setting the library takes from a config file, a mapping or the command line.

:class:`cotmask.train.FinetuneConfig`, :class:`cotmask.masking_config.MaskingConfig` (through
:func:`coerce_fields`, from their dataclass type hints), the data-source and augmentation options of
:mod:`cotmask.data.options` (through :func:`coerce`, from their option table) and the pre-training settings
of :mod:`cotmask.tiny` (through :func:`typed_arguments`, from the functions' type hints) all
check and convert their values here, before any work. Domain checks (ranges, choices, fields that depend on
each other) stay with their owners.

The rule, per kind:

* ``bool``: ``True``/``False``, or the text ``true``/``false`` in any case (``--option flag=True``);
* ``int``: an integer, or a float with an integral value (``3.0`` -> ``3``); never a bool, never text;
* ``float``: a finite number (ints become floats), or text that reads as one: YAML 1.1 reads ``1e-5``
  (no dot) as the string ``"1e-5"``; never a bool, NaN or infinity;
* ``str``: text, or a path (``os.PathLike``, converted with ``os.fspath``);
* ``list`` (``list[str]``): a list or tuple of strings, integers or paths (each becomes a string), or
  text: a JSON list (``["a", "b"]``) or comma-separated names (``a,b``);
* ``dict``: a mapping.

``None`` is accepted only where the hint is ``X | None`` (or the option is nullable). Every error is a
``ValueError`` that names the owner and the key, e.g. ``FinetuneConfig.epochs: expected an integer,
got 'ten'``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

# What each kind is called in an error message ("expected ...").
KIND_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a finite number",
    str: "a string",
    list: "a list of strings (or a comma-separated string)",
    dict: "a mapping",
}


class _Rejected(Exception):
    """A converter's signal that the value is not of its kind (turned into the ValueError by :func:`coerce`)."""


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Rejected


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Rejected
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Rejected


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Rejected
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise _Rejected from None
    else:
        raise _Rejected
    if not math.isfinite(number):
        raise _Rejected
    return number


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise _Rejected


def _to_list(value: Any) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise _Rejected from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (str, int, os.PathLike)) and not isinstance(v, bool) for v in value
    ):
        return [os.fspath(v) if isinstance(v, os.PathLike) else str(v) for v in value]
    raise _Rejected


def _to_dict(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    raise _Rejected


CONVERTERS: dict[type, Callable[[Any], Any]] = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
    list: _to_list,
    dict: _to_dict,
}


def setting_name(owner: str, key: str) -> str:
    """How an error names a setting: ``FinetuneConfig.epochs``."""
    return f"{owner}.{key}"


def coerce(value: Any, kind: type, *, where: str, nullable: bool = False) -> Any:
    """``value`` converted to ``kind`` (a key of :data:`CONVERTERS`) by the module's rule.

    ``where`` names the setting in the error (``FinetuneConfig.epochs``, ``source 'gsm_synth': option
    'n_train'``); ``nullable`` lets ``None`` through. Raises ``ValueError("<where>: expected <kind>, got
    <value>")``.
    """
    if kind not in CONVERTERS:
        raise TypeError(f"{where}: unsupported setting kind {kind!r}")
    if value is None and nullable:
        return None
    try:
        return CONVERTERS[kind](value)
    except _Rejected:
        raise ValueError(f"{where}: expected {KIND_NAMES[kind]}, got {value!r}") from None


def kind_of(hint: Any) -> tuple[type, bool]:
    """(kind, nullable) of a simple type hint: ``int``, ``str | None``, ``dict[str, Any]``, ``list[str]`` ..."""
    nullable = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        nullable = type(None) in args
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"unsupported setting type {hint!r}")
        hint = rest[0]
    kind = typing.get_origin(hint) or hint
    if kind not in CONVERTERS:
        raise TypeError(f"unsupported setting type {hint!r}")
    return kind, nullable


def coerce_values(owner: str, values: Mapping[str, Any], hints: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every key that has a hint converted by it; errors name ``owner.key``."""
    result = dict(values)
    for key, value in values.items():
        if key in hints:
            kind, nullable = kind_of(hints[key])
            result[key] = coerce(value, kind, where=setting_name(owner, key), nullable=nullable)
    return result


def coerce_fields(instance: Any, *, skip: tuple[str, ...] = ()) -> None:
    """Convert every field of a dataclass instance in place by its type hint (except the ``skip`` fields).

    Errors name the class and the field: ``FinetuneConfig.epochs: expected an integer, got 'ten'``.
    """
    cls = type(instance)
    hints = {name: hint for name, hint in _field_hints(cls).items() if name not in skip}
    values = {name: getattr(instance, name) for name in hints}
    for name, value in coerce_values(cls.__name__, values, hints).items():
        setattr(instance, name, value)


@functools.cache
def _field_hints(cls: type) -> dict[str, Any]:
    """The type hint of every dataclass field of ``cls`` (resolved once per class)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def typed_arguments(func: Callable) -> Callable:
    """Decorator: convert the arguments of every call of ``func`` by its type hints, before the call.

    Errors name the function and the parameter: ``build_base_model.hidden_size: expected an integer,
    got '128'``. Every parameter of ``func`` needs a hint of a kind this module knows.
    """
    signature = inspect.signature(func)
    hints = {name: hint for name, hint in typing.get_type_hints(func).items() if name in signature.parameters}
    for hint in hints.values():
        kind_of(hint)  # an unsupported hint fails when the module is imported, not at the first call

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.arguments.update(coerce_values(func.__name__, bound.arguments, hints))
        return func(*bound.args, **bound.kwargs)

    return call
