"""The workflow's planner, without Snakemake: config cross-reference checks, merged fine-tuning settings,
sweep points, evaluation plans, the jobs of a run, the index of evaluations, and output paths.

    config = load_config("config/smoke.yaml")   # schema-validated, defaults filled in
    plan = Plan(config)                         # ConfigError naming the key, or the whole plan
    plan.job_counts()                           # {'data_gsm': 1, ..., 'finetune': 7, ...}
    check_paths(plan)                           # local models and data exist, results_dir writable

or from a shell, the same checks and the job counts of a config, without Snakemake:

    python -m cotmask.plan config/smoke.yaml        # = cotmask plan config/smoke.yaml; both: plan_config_file

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



def plan_config_file(path) -> Plan:
    """The plan of a config file with every parse-time check, as the workflow runs them (schema, cross
    references, job settings, then :func:`check_paths` from the current folder). A ConfigError keeps its key
    and names the file; a file that is no YAML mapping is a ConfigFileError naming its line."""
    try:
        plan = Plan(load_config(path))
        check_paths(plan)
    except ConfigError as error:
        raise ConfigError(error.key, f"{error.problem} (in {path})") from None
    return plan


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
    "plan_config_file",
    "read_config_file",
    "schema_error",
    "validated_config",
]
