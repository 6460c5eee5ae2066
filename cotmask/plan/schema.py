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


def load_config(path, schema_path: Path = SCHEMA) -> dict:
    """Read a config file and return it validated, with defaults."""
    with open(path, encoding="utf-8") as handle:
        return validated_config(yaml.safe_load(handle) or {}, schema_path)
