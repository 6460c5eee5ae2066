"""Glue between the config and the rules: schema validation, the plan, and input/param functions.

Included first by the Snakefile. At parse time:

1. ``validate(config, schema)``: JSON schema (types, enums, unknown keys) + schema defaults, errors
   raised as :class:`ConfigError` naming the key (``config: training.epochs: 'ten' is not of type ...``);
2. ``Plan(config)`` (cotmask.plan, no Snakemake): cross-reference checks (a cell naming an unknown
   method, a benchmark naming a missing dataset split, RFT dependency cycles, ...), each a ConfigError
   naming the key (``config: cells[2].methods[1]: unknown method 'mtf'``), then every job's settings,
   the sweep points, the evaluation plans, the index of evaluations and the targets, and the checks of
   values a job would reject only when it starts (training_args, lengths against a tiny model's
   positions, an empty grid), before any job;
3. ``check_paths(PLAN)``: local base models and data exist, results_dir can be written.

All of this runs before Snakemake builds the DAG, so a bad config never costs an output. (A config file
that is not YAML, or not a mapping, is rejected by Snakemake itself before this file runs, with its own
message: ``python -m cotmask.plan FILE`` names the line; docs/workflow.md.)

The functions below take ``wildcards`` and look things up in the plan. Every config value a job depends
on reaches the job through ``params:`` (so that editing it reruns exactly the affected jobs); scripts
never read ``snakemake.config``. The planner returns params in canonical form (cotmask.plan.params:
mappings with sorted keys, defaults filled in), so a config that gives the same values in another key
order, layout or with an explicit default reruns nothing.
"""

from jsonschema import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from cotmask.plan import Plan, canonical, check_paths, schema_error
from cotmask.report.outputs import report_entry
from cotmask.worker import check_environment
from cotmask.plan.case_study import CASE_STUDY
from cotmask.plan.analysis import DEPENDENCY
from cotmask.plan.paths import (
    BASE,
    CARDS,
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
check_paths(PLAN)
# COTMASK_WORKER and COTMASK_MALLOC (cotmask.worker): a bad value stops here, before any job
check_environment()
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


def augment_options(wildcards) -> dict:
    return PLAN.augment_options(wildcards.dataset)


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
    """The aggregation's outputs; the HTML tables and PNG figures flagged for `snakemake --report`
    (captions and categories: cotmask.report.outputs.report_entry)."""
    files = []
    for name, path in PLAN.table_files().items():
        if name == "summary.json":  # the rule's named output
            continue
        entry = report_entry(name)
        if entry is None:
            files.append(path)
            continue
        caption, category = entry
        files.append(report(path, caption=f"../report/{caption}", category=category))
    return files


def report_analysis_files(paths: list) -> list:
    """An analysis aggregation's outputs (dependency_table, case_study_table), its HTML table
    and PNG figure flagged for `snakemake --report` (captions report/table_<stem>.rst and
    report/figure_<stem>.rst)."""
    shown = {".html": ("table", "Tables"), ".png": ("figure", "Figures")}
    files = []
    for path in paths:
        stem, ext = os.path.splitext(os.path.basename(path))
        if ext not in shown:
            files.append(path)
            continue
        kind, category = shown[ext]
        caption = f"../report/{kind}_{stem}.rst"
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
    return canonical({"regime": config["regime"], "runs": PLAN.regime_map_runs()})


# ----------------------------------------------------------------------- case study


def case_study_inputs(wildcards) -> dict:
    return PLAN.case_study_inputs(*finetune_key(wildcards))


def case_study_settings(wildcards) -> dict:
    return PLAN.case_study_settings(*finetune_key(wildcards))


# ------------------------------------------------------------------- dependency analysis


def dependency_data(wildcards) -> list:
    return PLAN.dependency_data(*finetune_key(wildcards))


def dependency_settings(wildcards) -> dict:
    return PLAN.dependency_settings(*finetune_key(wildcards))
