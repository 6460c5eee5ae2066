"""Glue between the config and the rules: schema validation, the plan, and input/param functions.

Included first by the Snakefile. At parse time:

1. ``validate(config, schema)``: JSON schema (types, enums, unknown keys) + schema defaults, errors
   raised as :class:`ConfigError` naming the key (``config: training.epochs: 'ten' is not of type ...``);
2. ``Plan(config)`` (cotmask.plan, no Snakemake): cross-reference checks (a cell naming an unknown
   method, a benchmark naming a missing dataset split, RFT dependency cycles, ...), each a ConfigError
   naming the key (``config: cells[2].methods[1]: unknown method 'mtf'``), then every job's settings,
   the sweep points, the evaluation plans, the index of evaluations and the targets, before any job.

The functions below take ``wildcards`` and look things up in the plan. Every config value a job depends
on reaches the job through ``params:`` (so that editing it reruns exactly the affected jobs); scripts
never read ``snakemake.config``.
"""

from jsonschema import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from cotmask.plan import Plan, schema_error
from cotmask.plan.paths import (
    BASE,
    DATA,
    EVALS,
    FT,
    TOKENIZER,
    alternation,
    base_checkpoint_dir as base_checkpoint_path,
    checkpoint_dir as checkpoint_path,
)

try:
    validate(config, "../config/schema.yaml")
except WorkflowError as error:
    cause = error.__context__
    if not isinstance(cause, ValidationError):
        raise
    raise schema_error(cause) from None

PLAN = Plan(config)
# tables, figures, summary.json (schema default: results)
RESULTS = PLAN.results_dir


wildcard_constraints:
    model=alternation(config["models"]),
    train_set=alternation(config["train_sets"]),
    method=alternation(PLAN.methods),
    seed=r"\d+",


def resource(kind: str, key: str):
    """A value of config['resources'][kind] (threads, mem_mb, runtime, gpu)."""
    return PLAN.resource(kind, key)


def finetune_key(wildcards) -> tuple:
    """(model, train_set, method, seed) of a fine-tune or evaluate job."""
    return (wildcards.model, wildcards.train_set, wildcards.method, wildcards.seed)


# ------------------------------------------------------------------------- datasets


def augment_inputs(wildcards) -> list:
    return PLAN.augment_inputs(wildcards.dataset)


def augment_kind(wildcards) -> str:
    return config["datasets"][wildcards.dataset]["augment"]


def dataset_options(wildcards) -> dict:
    return config["datasets"][wildcards.dataset]["options"]


def rft_inputs(wildcards) -> dict:
    return PLAN.rft_inputs(wildcards.dataset)


def rft_params(wildcards) -> dict:
    return PLAN.rft_settings(wildcards.dataset)


# ---------------------------------------------------------------------- base models


def tokenizer_corpus(wildcards) -> list:
    return PLAN.tokenizer_corpus()


def tokenizer_settings(wildcards) -> dict:
    return PLAN.tokenizer_settings()


def pretrain_corpus(wildcards) -> list:
    return PLAN.pretrain_corpus(wildcards.model)


def base_model_settings(wildcards) -> dict:
    return PLAN.base_model_settings(wildcards.model)


def base_checkpoint_dir(wildcards) -> str:
    return base_checkpoint_path(wildcards.model)


# ------------------------------------------------------------------------ fine-tunes


def finetune_inputs(wildcards) -> dict:
    return PLAN.finetune_inputs(wildcards.model, wildcards.train_set)


def base_model_ref(wildcards) -> str:
    return PLAN.base_model_ref(wildcards.model)


def accelerate_config(wildcards) -> str:
    return PLAN.accelerate_config(wildcards.model)


def finetune_params(wildcards) -> dict:
    return PLAN.finetune_settings(*finetune_key(wildcards))


def checkpoint_dir(wildcards) -> str:
    """Trainer checkpoints of a fine-tune, outside its declared output (a restarted job resumes;
    cotmask.train fingerprints the run and ignores checkpoints of different settings or inputs).
    """
    return checkpoint_path(*finetune_key(wildcards))


# ----------------------------------------------------------------------- evaluations


def evaluation_data(wildcards) -> list:
    return PLAN.evaluation_data(*finetune_key(wildcards))


def evaluation_runs_params(wildcards) -> list:
    return PLAN.evaluation_jobs(*finetune_key(wildcards))


# ----------------------------------------------------------------------- aggregation


def report_table_files() -> list:
    """The aggregation's outputs, CSV tables and PNG figures flagged for `snakemake --report`
    (captions report/table_<stem>.rst and report/figure_<name>.rst)."""
    files = []
    for name, path in PLAN.table_files().items():
        if name == "summary.json":
            continue
        stem, ext = name.rsplit(".", 1)
        if ext == "csv":
            caption, category = f"../report/table_{stem}.rst", "Tables"
        elif ext == "png":
            caption, category = f"../report/figure_{stem}.rst", "Figures"
        else:
            files.append(path)
            continue
        files.append(report(path, caption=caption, category=category))
    return files


# ------------------------------------------------------------------------ regime map


def regime_selection_inputs(wildcards) -> dict:
    return PLAN.regime_selection_inputs()


def regime_selection_settings(wildcards) -> dict:
    return PLAN.regime_selection_settings()


def regime_map_inputs(wildcards) -> dict:
    return {
        "comparisons": PLAN.table_files()["comparisons.csv"],
        "finetunes": [run["dir"] for run in PLAN.regime_map_runs()],
    }


def regime_map_settings(wildcards) -> dict:
    return {"regime": config["regime"], "runs": PLAN.regime_map_runs()}
