"""The workflow's planner, without Snakemake: config cross-reference checks, merged fine-tuning settings,
sweep points, evaluation plans, the jobs of a run, the index of evaluations, and output paths.

    config = load_config("config/smoke.yaml")   # schema-validated, defaults filled in
    plan = Plan(config)                         # ConfigError naming the key, or the whole plan
    plan.job_counts()                           # {'data_gsm': 1, ..., 'finetune': 7, ...}

rules/common.smk builds one Plan after Snakemake's schema validation; its input and param functions
look things up here.
"""

from cotmask.plan.core import AUGMENT_KINDS, Plan
from cotmask.plan.schema import SCHEMA, ConfigError, key_path, load_config, schema_error, validated_config

__all__ = [
    "AUGMENT_KINDS",
    "SCHEMA",
    "ConfigError",
    "Plan",
    "key_path",
    "load_config",
    "schema_error",
    "validated_config",
]
