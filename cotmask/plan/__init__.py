"""The workflow's planner, without Snakemake: config cross-reference checks, merged fine-tuning settings,
sweep points, evaluation plans, the jobs of a run, the index of evaluations, and output paths.

    config = load_config("config/smoke.yaml")   # schema-validated, defaults filled in
    plan = Plan(config)                         # ConfigError naming the key, or the whole plan
    plan.job_counts()                           # {'data_gsm': 1, ..., 'finetune': 7, ...}
    check_paths(plan)                           # local models and data exist, results_dir writable

or from a shell, the same checks and the job counts of a config, without Snakemake:

    python -m cotmask.plan config/smoke.yaml

rules/common.smk builds one Plan after Snakemake's schema validation; its input and param functions
look things up here.
"""

from cotmask.plan.core import AUGMENT_KINDS, Plan
from cotmask.plan.job_checks import check_paths
from cotmask.plan.params import canonical
from cotmask.plan.schema import (
    SCHEMA,
    ConfigError,
    ConfigFileError,
    key_path,
    load_config,
    read_config_file,
    schema_error,
    validated_config,
)

__all__ = [
    "AUGMENT_KINDS",
    "SCHEMA",
    "ConfigError",
    "ConfigFileError",
    "Plan",
    "canonical",
    "check_paths",
    "key_path",
    "load_config",
    "read_config_file",
    "schema_error",
    "validated_config",
]
