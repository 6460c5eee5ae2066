"""Config errors located by key path, and schema validation with defaults outside Snakemake.

The workflow validates its config with Snakemake's ``validate()`` (rules/common.smk); :func:`validated_config`
does the same (JSON Schema 2020-12, ``default:`` values filled in, the first error raised) for code that
plans without Snakemake (tests, tools), and reports errors in the same form.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


class ConfigError(Exception):
    """An error in the workflow configuration, located by its key path."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"config: {key}: {problem}")
        self.key = key
        self.problem = problem


def key_path(path) -> str:
    """jsonschema's absolute_path -> 'cells[2].methods[1]'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def schema_error(error: ValidationError) -> ConfigError:
    """A schema violation as a ConfigError naming its key."""
    return ConfigError(key_path(error.absolute_path), error.message)


def _with_defaults(validator_class):
    """A validator class that fills in each property's ``default`` before validating it."""
    check_properties = validator_class.VALIDATORS["properties"]

    def fill_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": fill_defaults})


def validated_config(config: dict, schema_path: Path = SCHEMA) -> dict:
    """A copy of ``config`` checked against the schema, defaults filled in; ConfigError on the first violation."""
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    config = copy.deepcopy(config)
    try:
        _with_defaults(Draft202012Validator)(schema).validate(config)
    except ValidationError as error:
        raise schema_error(error) from None
    return config


class ConfigFileError(ValueError):
    """A config file that is not a YAML mapping: the message names the file (and the line of a syntax error)."""


def read_config_file(path) -> dict:
    """The mapping a YAML (or JSON) config file holds; ConfigFileError naming the file, and for a syntax
    error its line and column, when it holds anything else or does not parse."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise ConfigFileError(f"{path}:{line}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or " ".join(str(error).split())
        raise ConfigFileError(f"{where}: YAML syntax error: {problem}") from None
    if data is None:
        raise ConfigFileError(f"{path}: the file is empty (a config is a mapping of keys)")
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: a config is a mapping of keys at the top level, not a {type(data).__name__}")
    return data


def load_config(path, schema_path: Path = SCHEMA) -> dict:
    """Read a config file and return it validated, with defaults (ConfigFileError, ConfigError)."""
    return validated_config(read_config_file(path), schema_path)
