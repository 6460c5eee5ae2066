"""cotmask.plan: the workflow's planner without Snakemake, on the shipped configs and on broken ones.

Expected numbers are derived by hand from the config files in the comments next to them; the dry-run
tests in test_workflow.py check that Snakemake plans exactly the plan's jobs.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cotmask.data.rft import RFT_OPTIONAL_OPTIONS, RFT_REQUIRED_OPTIONS, rejection_sample
from cotmask.plan import SCHEMA, ConfigError, ConfigFileError, Plan, check_paths, load_config, validated_config
from cotmask.plan.paths import alternation, eval_prefix, number_label, split_ref

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {name: REPO / "config" / f"{name}.yaml" for name in ("config", "same-distribution", "smoke", "full", "paper")}


def raw(name: str) -> dict:
    return yaml.safe_load(CONFIGS[name].read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {name: Plan(load_config(path)) for name, path in CONFIGS.items()}


# ------------------------------------------------------------------ shipped configs


# Per config, the jobs of a run from scratch, derived by hand:
#
# smoke (seeds [1]): cells llama/gsm {sft, mft}, mistral/metamath {sft, mft, sched_sampling}, llama/rft
#   {sft} = 6 fine-tunes; the sweep llama/gsm mft, ratios {0.2, 0.4} x warm-up {0.667}: (0.4, 0.667) is
#   mft's own setting (reused), 0.2 adds mft_p0.2_w0.667 -> 7 fine-tunes, each evaluated -> 7 evaluate.
#   The rft sampler (llama/gsm/sft/1) is a cell fine-tune. Datasets: sources gsm, mathsyn; metamath
#   (augment); gsm_rft (rejection_sample). Both tiny models are fine-tuned: tokenizer + 2 base models.
# config (seeds [1, 2, 3]): 2 cells x 3 methods x 3 seeds = 18; sweep 5 ratios x 1 warm-up = 5 points,
#   (0.4, 0.667) = the cell's mft (noise overridden, ratio and warm-up not) -> 4 x seeds [1, 2] = 8; 26 in
#   all. Datasets gsm, gsm_all (the tokenizer's corpus only), mathsyn; no augmentation, no RFT.
# same-distribution (the former default, seeds [1, 2, 3]): 3 cells x 3 methods x 3 seeds = 27; sweep 5
#   ratios x 2 warm-ups = 10 points, (0.4, 0.667) = the cell's mft -> 9 x 3 seeds = 27; 54 in all.
#   metamath and mammoth are trained on by no cell: no augment job.
# full: cells llama/gsm 8 methods + 9 cells x 3 methods = 35 x 3 seeds = 105, + the same sweep 27 = 132;
#   metamath and mammoth cells -> 2 augment jobs.
# paper (hub models, no tiny ones): llama2-7b 28 (sft, mft and Table 3's other 26 rows) +2+2+2+2+2 = 38,
#   mistral-7b 5 x 2 = 10, llama2-13b 2 x 2 = 4 -> 52 x 3 seeds = 156; sweep 7 ratios x 2 warm-ups = 14
#   points, (0.4, 0.667) reused, 13 x seed 1 -> 169.
#   All 8 source datasets are read; no augment, rft, tokenizer or base model job.
HAND_COUNTS = {
    "smoke": {"data_gsm": 1, "data_mathsyn": 1, "augment": 1, "rejection_sample": 1, "train_tokenizer": 1,
              "base_model": 2, "finetune": 7, "evaluate": 7, "tables": 1, "all": 1,
              "dependency": 3, "dependency_table": 1,  # analyses.dependency: cells with gsm_test
              "case_study": 3, "case_study_table": 1},  # analyses.case_study: the same 3 fine-tunes
    # 26 fine-tunes: 2 shapes x 3 methods x 3 seeds + 4 sweep points x 2 seeds; the analyses measure the
    # cells' 18 (not the sweep), a model card per fine-tune
    "config": {"data_gsm": 1, "data_gsm_all": 1, "data_mathsyn": 1, "train_tokenizer": 1,
               "base_model": 2, "finetune": 26, "evaluate": 26, "tables": 1, "all": 1,
               "dependency": 18, "dependency_table": 1, "case_study": 18, "case_study_table": 1,
               "model_card": 26},
    "same-distribution": {"data_gsm": 1, "data_mathsyn": 1, "rejection_sample": 1, "train_tokenizer": 1,
                          "base_model": 2, "finetune": 54, "evaluate": 54, "tables": 1, "all": 1},
    "full": {"data_gsm": 1, "data_mathsyn": 1, "augment": 2, "rejection_sample": 1, "train_tokenizer": 1,
             "base_model": 2, "finetune": 132, "evaluate": 132, "tables": 1, "all": 1},
    "paper": {**{f"data_{d}": 1 for d in ("gsm8k", "gsm_ic", "math", "mathinstruct", "metamathqa",
                                            "rft100_13b", "rft100_7b", "rft_u33")},
              "finetune": 169, "evaluate": 169, "tables": 1, "all": 1},
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_job_counts_of_the_shipped_configs(plans, name):
    assert plans[name].job_counts() == HAND_COUNTS[name]


# Evaluations (= index records), by hand: smoke: llama/gsm sft and mft on gsm_test {plain, calc} and the
# two ic splits (plain only, the global decodings) = 2 x 4 = 8; mistral/metamath 3 x math_test plain = 3;
# llama/rft sft gsm_test x 2 = 2; the new sweep point on gsm_test calc = 1 -> 14. config: every
# benchmark with the global {plain, calc}: 2 cells x 3 methods x 3 seeds x 3 benchmarks x 2 = 108, plus
# 4 new sweep points x 2 seeds on gsm_test calc = 8 -> 116. same-distribution: 3 cells -> 162, plus 9 new
# sweep points x 3 seeds = 27 -> 189. full: per model, gsm/rft cells 6 pairs (gsm_test and both ic splits x
# {plain, calc}), math 1 (math_test plain), metamath 3 -> llama 3 seeds x (8 x 6 + 3 x 1 + 3 x 6 + 3 x 3 + 3 x 3)
# = 261, mistral 3 x (3 x 6 + 3 + 18 + 9 + 9) = 171, plus 27 sweep points on gsm_test calc = 459; and the
# hybrid decoding of the mammoth cells (hybrid.train_sets): 2 models x 3 methods x 3 seeds x 2 benchmarks = 36
# -> 495.
@pytest.mark.parametrize("name, n_records", [("smoke", 14), ("config", 116), ("same-distribution", 189),
                                             ("full", 495)])
def test_index_records_count_every_evaluation_once(plans, name, n_records):
    plan = plans[name]
    records = plan.index_records
    assert len(records) == n_records
    keys = [tuple(r[k] for k in ("model", "train_set", "method", "seed", "benchmark", "decoding")) for r in records]
    assert len(set(keys)) == len(keys) == len(plan.evaluation_runs)
    assert sum(len(pairs) for pairs in plan.evaluation_plans.values()) == n_records


def test_smoke_index_records_carry_the_merged_settings(plans):
    records = {(r["method"], r["benchmark"], r["decoding"]): r for r in plans["smoke"].index_records
               if (r["model"], r["train_set"]) == ("llama", "gsm")}
    point = records[("mft_p0.2_w0.667", "gsm_test", "calc")]
    # the sweep point: mft (epochs 2) with mask_ratio 0.2
    assert (point["mask_ratio"], point["mask_warmup_ratio"], point["epochs"]) == (0.2, 0.667, 2)
    assert point["method_kind"] == "mft" and point["sweep"] is True
    assert point["path"] == "work/evals/llama/gsm/mft_p0.2_w0.667/seed1/gsm_test.calc.jsonl"
    assert point["summary"] == "work/evals/llama/gsm/mft_p0.2_w0.667/seed1/gsm_test.calc.json"
    # mft's own (0.4, 0.667) is a sweep point on gsm_test/calc only
    assert records[("mft", "gsm_test", "calc")]["sweep"] is True
    assert records[("mft", "gsm_test", "plain")]["sweep"] is False
    sft = records[("sft", "gsm_ic_2step", "plain")]
    assert (sft["mask_ratio"], sft["method_kind"], sft["epochs"], sft["sweep"]) == (0.0, "sft", 1, False)


def test_sweep_points_reuse_the_base_methods_own_setting(plans):
    assert plans["smoke"].sweep_points == {
        "mask_ratio": [
            {"method": "mft_p0.2_w0.667", "mask_ratio": 0.2, "mask_warmup_ratio": 0.667},
            {"method": "mft", "mask_ratio": 0.4, "mask_warmup_ratio": 0.667},
        ]
    }
    assert plans["smoke"].sweep_methods == {"mft_p0.2_w0.667": ("mft", 0.2, 0.667)}
    points = plans["same-distribution"].sweep_points["mask_ratio"]
    assert [p["method"] for p in points[:5]] == ["mft_p0.1_w0.667", "mft_p0.2_w0.667", "mft", "mft_p0.6_w0.667",
                                                 "mft_p0.8_w0.667"]
    assert [p["method"] for p in points[5:]] == [f"mft_p{r}_w0" for r in ("0.1", "0.2", "0.4", "0.6", "0.8")]
    former = plans["same-distribution"].methods
    assert "mft_p0.4_w0" in former and "mft_p0.4_w0.667" not in former
    # the default: warm-up 0.667 only, seeds [1, 2] of the sweep (p = 0.4 is the cell's mft, 3 seeds)
    assert [p["method"] for p in plans["config"].sweep_points["mask_ratio"]] == [
        "mft_p0.1_w0.667", "mft_p0.2_w0.667", "mft", "mft_p0.6_w0.667", "mft_p0.8_w0.667"]


def test_sweep_point_settings_inherit_the_cells_override(plans):
    # same-distribution.yaml: the llama/gsm cell overrides mft's noise to 'random'; its sweep points start
    # from that
    settings = plans["same-distribution"].resolved_settings("llama", "gsm", "mft_p0.1_w0")
    assert (settings["noise"], settings["mask_ratio"], settings["mask_warmup_ratio"], settings["epochs"]) == (
        "random", 0.1, 0.0, 10)
    # methods.mft (noise mask) <- cells[1].overrides.mft (mask_ratio 0.2)
    mistral = plans["config"].resolved_settings("mistral", "gsm", "mft")
    assert mistral["mask_ratio"] == 0.2 and mistral["noise"] == "mask"


def test_evaluation_plans_of_the_smoke_config(plans):
    plan = plans["smoke"]
    assert plan.evaluation_plan("llama", "gsm", "mft", "1") == [
        ("gsm_ic_2step", "plain"), ("gsm_ic_mstep", "plain"), ("gsm_test", "calc"), ("gsm_test", "plain")]
    assert plan.evaluation_plan("llama", "gsm", "mft_p0.2_w0.667", 1) == [("gsm_test", "calc")]
    assert plan.evaluation_plan("mistral", "metamath", "sched_sampling", 1) == [("math_test", "plain")]
    assert plan.evaluation_data("llama", "gsm", "mft", 1) == [
        "work/data/gsm/ic_2step.jsonl", "work/data/gsm/ic_mstep.jsonl", "work/data/gsm/test.jsonl"]
    with pytest.raises(LookupError, match="no evaluation of"):
        plan.evaluation_plan("llama", "gsm", "mft", 2)  # smoke has seed 1 only


def test_evaluation_jobs_carry_each_benchmarks_settings(plans):
    [run] = plans["smoke"].evaluation_jobs("mistral", "metamath", "mft", "1")
    assert run == {
        "name": "math_test.plain",
        "benchmark_file": "work/data/mathsyn/test.jsonl",
        "batch_size": 16, "max_new_tokens": 48, "limit": None, "n_bootstrap": 1000,  # smoke's evaluation + defaults
        "scoring": "math", "calculator": False, "prompt_template": "short", "seed": 1,
    }


def test_finetune_settings_and_the_rft_edge(plans):
    plan = plans["smoke"]
    settings = plan.finetune_settings("llama", "gsm", "mft_p0.2_w0.667", "1")
    assert settings["mask_ratio"] == 0.2 and settings["epochs"] == 2 and settings["learning_rate"] == 3.0e-3
    assert settings["seed"] == 1 and settings["prompt_template"] == "short"
    assert plan.rft_inputs("gsm_rft") == {"train": "work/data/gsm/train.jsonl",
                                          "model": "work/models/ft/llama/gsm/sft/seed1"}
    assert ("llama", "gsm", "sft", 1) in plan.finetunes
    # smoke turns the overfitting diagnostics on: the cell's first benchmark's file is an input too
    assert plan.finetune_inputs("llama", "rft") == {"train": "work/data/gsm_rft/train.jsonl",
                                                    "base": "work/models/base/llama",
                                                    "diagnostics": "work/data/gsm/test.jsonl"}
    assert plans["paper"].finetune_inputs("llama2-7b", "gsm8k") == {"train": "work/data/gsm8k/train.jsonl"}
    assert plans["paper"].base_model_ref("llama2-7b") == "meta-llama/Llama-2-7b-hf"


def test_an_rft_sampler_outside_the_cells_is_fine_tuned_too():
    cfg = raw("smoke")
    cfg["datasets"]["gsm_rft"]["sampler"]["seed"] = 7  # no cell trains llama/gsm/sft with seed 7
    plan = Plan(validated_config(cfg))
    assert ("llama", "gsm", "sft", 7) in plan.finetunes
    assert ("llama", "gsm", "sft", 7) not in plan.evaluation_plans
    assert plan.job_counts()["finetune"] == 8 and plan.job_counts()["evaluate"] == 7


def test_unused_datasets_and_models_get_no_jobs():
    cfg = raw("smoke")
    cfg["cells"] = [c for c in cfg["cells"] if c["model"] == "llama" and c["train_set"] == "gsm"]
    del cfg["sweeps"]
    cfg["tables"]["fig3"] = None
    cfg["analyses"]["case_study"]["enabled"] = False  # its jobs: test_case_study.py
    cfg["analyses"]["dependency"]["enabled"] = False  # its jobs: test_dependency.py
    counts = Plan(validated_config(cfg)).job_counts()
    # llama/gsm {sft, mft}: no metamath, no rft, no mistral
    assert counts == {"data_gsm": 1, "data_mathsyn": 1, "train_tokenizer": 1, "base_model": 1, "finetune": 2,
                      "evaluate": 2, "tables": 1, "all": 1}


def test_targets_and_paths(plans):
    full = plans["full"]
    assert full.results_dir == "results/full"
    assert "results/full/summary.json" in full.final_targets()
    assert all(path.startswith("results/full/") for path in full.final_targets())
    assert len(full.eval_dirs()) == 132
    assert full.source_outputs("gsm")[0].startswith("work/data/gsm/")
    assert split_ref("gsm/train") == ("gsm", "train")
    assert eval_prefix("m", "t", "x", 1, "b", "calc") == "work/evals/m/t/x/seed1/b.calc"
    assert number_label(0.0) == "0" and number_label(0.667) == "0.667"
    assert alternation(["a", "ab"]) == "ab|a" and alternation([]) == "(?!x)x"


def test_the_planner_never_imports_snakemake():
    code = ("import sys; from cotmask.plan import Plan, load_config; Plan(load_config('config/smoke.yaml')); "
            "sys.exit(any(m.split('.')[0] == 'snakemake' for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_the_data_package_and_rft_never_import_torch():
    """cotmask.data.rft (whose option constants the planner reads) and cotmask.scoring keep torch and
    transformers inside the functions that sample or load a model: data jobs start without them."""
    code = ("import sys, cotmask.data, cotmask.data.rft, cotmask.scoring; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'datasets'}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_defaults_match_snakemakes_validate():
    from snakemake.utils import validate

    for path in CONFIGS.values():
        theirs = yaml.safe_load(path.read_text(encoding="utf-8"))
        validate(theirs, str(SCHEMA))
        assert load_config(path) == theirs


def test_rft_option_names_match_rejection_samples_signature():
    params = inspect.signature(rejection_sample).parameters
    workflow_args = {"train_file", "out_dir", "model_dir", "prompt_template", "threads"}
    options = [name for name in params if name not in workflow_args]
    assert list(RFT_REQUIRED_OPTIONS + RFT_OPTIONAL_OPTIONS) == options
    required = [name for name in options if params[name].default is inspect.Parameter.empty]
    assert list(RFT_REQUIRED_OPTIONS) == required


# --------------------------------------------------------------------- broken configs


def _edit(path: str, value):
    """An edit of the smoke config: set the key at ``path`` (dots and [i]) to value; DELETE removes it."""

    def apply(cfg):
        parts = [int(p) if p.isdigit() else p for p in path.replace("[", ".").replace("]", "").split(".")]
        node = cfg
        for part in parts[:-1]:
            node = node[part]
        if value is DELETE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = copy.deepcopy(value)

    return apply


DELETE = object()


def _cycle(cfg):
    # the sampler fine-tunes on the set it samples: gsm_rft needs train set rft = gsm_rft/train
    cfg["datasets"]["gsm_rft"]["sampler"]["train_set"] = "rft"


def _duplicate_cell(cfg):
    cfg["cells"].append({"model": "llama", "train_set": "gsm", "methods": ["sft"], "benchmarks": ["gsm_test"]})


def _generated_name_clash(cfg):
    # a generated name without a dot (ratio 1, warm-up 0) is a valid method name too
    cfg["sweeps"]["mask_ratio"].update(ratios=[1.0], warmup=[0.0])
    cfg["methods"]["mft_p1_w0"] = {"mask_ratio": 1.0}


CROSS_REFERENCE_ERRORS = [
    (_edit("cells[0].methods[1]", "mtf"), "config: cells[0].methods[1]: unknown method 'mtf'"),
    (_edit("cells[1].model", "gpt"), "config: cells[1].model: unknown model 'gpt'"),
    (_edit("cells[2].train_set", "gsm8k"), "config: cells[2].train_set: unknown train set 'gsm8k'"),
    (_edit("cells[1].benchmarks[0]", "mat_test"), "config: cells[1].benchmarks[0]: unknown benchmark 'mat_test'"),
    (_edit("cells[0].overrides", {"sft_long": {"epochs": 3}}),
     "config: cells[0].overrides.sft_long: method 'sft_long' is not among this cell's methods"),
    (_duplicate_cell, "config: cells[3]: (model, train_set) = ('llama', 'gsm') already forms cells[0]"),
    (_edit("benchmarks.math_test.data", "mathsyn/ic_2step"),
     "config: benchmarks.math_test.data: dataset 'mathsyn' has no split 'ic_2step'"),
    (_edit("train_sets.gsm.data", "gsm8k/train"), "config: train_sets.gsm.data: unknown dataset 'gsm8k'"),
    (_edit("tokenizer.corpus[1]", "math/train"), "config: tokenizer.corpus[1]: unknown dataset 'math'"),
    (_edit("datasets.gsm.source", "gsm_synthetic"), "config: datasets.gsm.source: unknown source 'gsm_synthetic'"),
    (_edit("datasets.gsm.options.n_trian", 5), "config: datasets.gsm.options: "),
    (_edit("datasets.gsm.inputs", ["mathsyn/train"]), "config: datasets.gsm.inputs: only augmented datasets"),
    (_edit("datasets.metamath.options.sead", 1), "config: datasets.metamath.options: "),
    (_edit("datasets.metamath.inputs", []), "config: datasets.metamath.inputs: an augmented dataset needs"),
    (_edit("datasets.metamath.sampler", {"model": "llama", "train_set": "gsm", "method": "sft", "seed": 1}),
     "config: datasets.metamath.sampler: only rft datasets take a sampler"),
    (_edit("datasets.metamath.source", "gsm_synth"), "config: datasets.metamath: give exactly one of"),
    (_edit("datasets.gsm_rft.options.kk", 3), "config: datasets.gsm_rft.options: unknown rft option(s) ['kk']"),
    (_edit("datasets.gsm_rft.options.k", DELETE), "config: datasets.gsm_rft.options: rft needs option(s) ['k']"),
    (_edit("datasets.gsm_rft.inputs", ["gsm/train", "mathsyn/train"]),
     "config: datasets.gsm_rft.inputs: rft takes exactly one input split"),
    (_edit("datasets.gsm_rft.sampler", None), "config: datasets.gsm_rft.sampler: rft needs a sampler"),
    (_edit("datasets.gsm_rft.sampler.method", "mtf"), "config: datasets.gsm_rft.sampler.method: unknown method"),
    (_edit("datasets.gsm_rft.sampler.model", "gpt"), "config: datasets.gsm_rft.sampler.model: unknown model"),
    (_cycle, "config: datasets.gsm_rft: dependency cycle: gsm_rft -> gsm_rft"),
    (_edit("models.llama.hub_id", "meta-llama/Llama-2-7b-hf"),
     "config: models.llama: give exactly one of 'tiny', 'hub_id' and 'local_path' (got tiny, hub_id)"),
    (_edit("models.llama.tiny.num_heads", 3), "config: models.llama.tiny.num_heads: must divide hidden_size"),
    (_edit("models.mistral.tiny.num_kv_heads", 3), "config: models.mistral.tiny.num_kv_heads: must divide"),
    (_edit("models.llama.accelerate_config", "config/accelerate/none.yaml"),
     "config: models.llama.accelerate_config: config/accelerate/none.yaml: no such file"),
    (_edit("tokenizer.corpus", []), "config: tokenizer.corpus: tiny models need a tokenizer corpus"),
    (_edit("sweeps.mask_ratio.base_method", "mtf"), "config: sweeps.mask_ratio.base_method: unknown method 'mtf'"),
    (_edit("sweeps.mask_ratio.benchmarks", ["math_test"]),
     "config: sweeps.mask_ratio.decodings: benchmark 'math_test' is evaluated only with ['plain']"),
    (_generated_name_clash, "config: sweeps.mask_ratio: generated method name 'mft_p1_w0' is also a key"),
    (_edit("methods.mft.dropout_q", 0.5), "config: methods.mft: masking: dropout_q applies only to noise='dropout'"),
    (_edit("tables.main_methods", ["sft", "mtf"]), "config: tables.main_methods[1]: unknown method 'mtf'"),
    (_edit("tables.benchmarks.gsm", "gsm"), "config: tables.benchmarks.gsm: unknown benchmark 'gsm'"),
    (_edit("tables.rft_train_set", "rtf"), "config: tables.rft_train_set: unknown train set 'rtf'"),
    (_edit("tables.train_set_order", ["rft", "gsmm"]), "config: tables.train_set_order[1]: unknown train set 'gsmm'"),
    (_edit("tables.comparisons", [{"treatment": "mft", "control": "sft", "control_train_set": "gsm8k"}]),
     "config: tables.comparisons[0].control_train_set: unknown train set 'gsm8k'"),
    (_edit("tables.table3_arms", [{"label": "SFT", "method": "sft", "paper_method": "SFT (7B)"}]),
     "config: tables.table3_arms[0].paper_method: unknown paper row 'SFT (7B)'"),
    (_edit("tables.fig3.include_methods", ["mft_p0.3_w0.667"]),
     "config: tables.fig3.include_methods[0]: unknown method 'mft_p0.3_w0.667'"),
    (_edit("tables.paper_models", {"llama": "Llama2-7B", "lla": "Llama2-13B"}),  # first match would win
     "config: tables.paper_models: keys ['lla', 'llama'] all match model 'llama'; keep one"),
]


@pytest.mark.parametrize("breaker, message", CROSS_REFERENCE_ERRORS, ids=[m.split(":")[1].strip() for _, m in
                                                                         CROSS_REFERENCE_ERRORS])
def test_cross_reference_errors_name_their_key(breaker, message):
    cfg = raw("smoke")
    breaker(cfg)
    config = validated_config(cfg)  # the schema accepts it: only the planner can tell
    with pytest.raises(ConfigError) as error:
        Plan(config)
    assert str(error.value).startswith(message), str(error.value)


# Shapes are the schema's alone: the planner has no check of its own for these (each would otherwise
# reach it as a KeyError or a wrong plan).
SCHEMA_ERRORS = [
    (_edit("training.learnig_rate", 0.1), "config: training: Additional properties are not allowed ('learnig_rate'"),
    (_edit("training.epochs", "ten"), "config: training.epochs: 'ten' is not of type 'integer'"),
    (_edit("cells[1].benchmarks", DELETE), "config: cells[1]: 'benchmarks' is a required property"),
    (_edit("cells[1].methods", []), "config: cells[1].methods: [] should be non-empty"),
    (_edit("datasets.metamath.augment", "mixup"), "config: datasets.metamath.augment: 'mixup' is not one of"),
    (_edit("datasets.gsm_rft.sampler.seed", DELETE), "config: datasets.gsm_rft.sampler: 'seed' is a required"),
    (_edit("datasets.gsm-ic", {"source": "gsm_synth"}), "config: datasets: 'gsm-ic' does not match"),
    (_edit("benchmarks.gsm_test.decodings", ["beam"]), "config: benchmarks.gsm_test.decodings[0]: 'beam' is not one"),
    (_edit("seeds", [1, 1]), "config: seeds: [1, 1] has non-unique elements"),
    (_edit("sweeps.mask_ratio.ratios", [1.5]), "config: sweeps.mask_ratio.ratios[0]: 1.5 is greater than"),
    (_edit("train_sets.gsm.data", "gsm"), "config: train_sets.gsm.data: 'gsm' does not match"),
    (_edit("results_dir", "../elsewhere"), "config: results_dir: '../elsewhere' does not match"),
    (_edit("tables.train_set_order", "rft"), "config: tables.train_set_order: 'rft' is not of type 'array', 'null'"),
]


@pytest.mark.parametrize("breaker, message", SCHEMA_ERRORS, ids=[m.split(":")[1].strip() for _, m in SCHEMA_ERRORS])
def test_shape_errors_are_the_schemas(breaker, message):
    cfg = raw("smoke")
    breaker(cfg)
    with pytest.raises(ConfigError) as error:
        validated_config(cfg)
    assert str(error.value).startswith(message), str(error.value)


# ------------------------------------------------------------- params in canonical form (reruns)


def _reordered(value):
    """``value`` with every mapping's keys in reverse order (what another editor or formatter may write)."""
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(item) for item in value]
    return value


def job_params(plan: Plan) -> dict[str, str]:
    """Job -> the repr of its params (what Snakemake records and compares), for every job of the plan."""
    params = {f"data_{name}": (plan.config["datasets"][name]["source"], plan.source_options(name))
              for name in plan.source_datasets}
    params.update({f"augment_{name}": plan.augment_options(name) for name in plan.augment_datasets})
    params.update({f"rft_{name}": plan.rft_settings(name) for name in plan.rft_datasets})
    params["tokenizer"] = plan.tokenizer_settings()
    params.update({f"base_{model}": plan.base_model_settings(model) for model in plan.tiny_models})
    for key in plan.finetunes:
        params[f"finetune_{key}"] = plan.finetune_settings(*key)
    for key in plan.evaluation_plans:
        params[f"evaluate_{key}"] = plan.evaluation_jobs(*key)
    params["tables"] = (plan.index_records, plan.tables_options())
    if plan.regime_candidates():
        params["regime_selection"] = plan.regime_selection_settings()
    return {job: repr(value) for job, value in params.items()}


@pytest.mark.parametrize("name", ["smoke", "config", "regime", "paper"])
def test_key_order_leaves_every_jobs_params_unchanged(name):
    """Snakemake compares the repr of params; the planner's do not depend on the config's key order."""
    path = REPO / "config" / f"{name}.yaml"
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert job_params(Plan(validated_config(_reordered(cfg)))) == job_params(Plan(validated_config(cfg)))


EXPLICIT_DEFAULTS = [
    ("datasets.gsm.options.n_pretrain", 0),
    ("datasets.mathsyn.options.templates", None),
    ("datasets.metamath.options.limit", None),
    ("datasets.gsm_rft.options.include_original", True),
    ("training.lr_scheduler", "cosine"),
    ("training.weight_decay", 0.0),
    ("methods.mft.noise", "mask"),
    ("models.llama.tiny.pretrain.seed", 0),
    ("evaluation.n_bootstrap", 1000),
    ("tables.confidence", 0.95),
]


@pytest.mark.parametrize("path, value", EXPLICIT_DEFAULTS, ids=[p for p, _ in EXPLICIT_DEFAULTS])
def test_an_explicit_default_leaves_every_jobs_params_unchanged(path, value):
    cfg = raw("smoke")
    before = job_params(Plan(validated_config(cfg)))
    _edit(path, value)(cfg)
    assert job_params(Plan(validated_config(cfg))) == before


def test_a_tables_option_at_the_librarys_default_equals_leaving_it_out():
    cfg = raw("smoke")
    del cfg["tables"]["main_methods"]
    before = job_params(Plan(validated_config(cfg)))
    cfg["tables"]["main_methods"] = ["sft", "sft_long", "mft"]  # cotmask.report's DEFAULT_MAIN_METHODS
    assert job_params(Plan(validated_config(cfg))) == before


CHANGED_VALUES = [
    ("datasets.gsm.options.n_train", 60, {"data_gsm"}),
    ("datasets.metamath.options.seed", 1, {"augment_metamath"}),
    ("tokenizer.vocab_size", 401, {"tokenizer"}),
    ("tables.n_resamples", 300, {"tables"}),
    ("cells[1].overrides", {"mft": {"mask_ratio": 0.3}},
     {"finetune_('mistral', 'metamath', 'mft', 1)", "tables"}),  # the index records carry the mask ratio
]


@pytest.mark.parametrize("path, value, changed", CHANGED_VALUES, ids=[p for p, _, _ in CHANGED_VALUES])
def test_a_changed_value_changes_exactly_the_params_of_the_jobs_using_it(path, value, changed):
    cfg = raw("smoke")
    before = job_params(Plan(validated_config(cfg)))
    _edit(path, value)(cfg)
    after = job_params(Plan(validated_config(cfg)))
    assert {job for job in before if after.get(job) != before[job]} == changed


def test_data_jobs_get_the_resolved_options_the_builder_accepts_unchanged():
    from cotmask.data import SOURCES

    for name in ("smoke", "config", "paper", "regime"):
        plan = Plan(load_config(REPO / "config" / f"{name}.yaml"))
        for dataset in plan.source_datasets:
            options = plan.source_options(dataset)
            assert SOURCES[plan.config["datasets"][dataset]["source"]].resolve(options) == options


def test_a_source_datasets_outputs_are_a_fixed_list_covering_every_option():
    """A data rule declares every split its source can write, whatever the options (rules/data.smk)."""
    from cotmask.data import SOURCES, source_splits
    from cotmask.plan.core import possible_splits

    cfg = raw("smoke")
    for options in ({}, {"n_pretrain": 100}, {"n_train": 60, "n_pretrain": 100}):
        edited = copy.deepcopy(cfg)
        edited["datasets"]["gsm"]["options"].update(options)
        assert Plan(validated_config(edited)).source_outputs("gsm") == [
            f"work/data/gsm/{split}.jsonl" for split in ("train", "test", "ic_2step", "ic_mstep", "pretrain")
        ]
    for source, spec in SOURCES.items():
        universe = set(possible_splits(source))
        for split in spec.options["splits"].choices:
            given = {"splits": [split], **({"n_pretrain": 5} if "n_pretrain" in spec.options else {})}
            assert set(source_splits(source, given)) <= universe, source


# ------------------------------------------------- checks of what a job would reject only when it starts


def test_lr_scheduler_names_are_the_ones_training_accepts():
    from transformers import SchedulerType

    from cotmask.train import LR_SCHEDULERS

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    names = schema["$defs"]["finetune_settings"]["properties"]["lr_scheduler"]["enum"]
    assert names == list(LR_SCHEDULERS)
    assert set(names) <= {kind.value for kind in SchedulerType}


JOB_SETTING_ERRORS = [
    (_edit("training.lr_scheduler", "cosinee"), "config: training.lr_scheduler: 'cosinee' is not one of"),
    (_edit("methods.mft.lr_scheduler", "linaer"), "config: methods.mft.lr_scheduler: 'linaer' is not one of"),
    (_edit("training.training_args", {"tf33": True}),
     "config: training.training_args: has unknown TrainingArguments field(s) ['tf33']"),
    (_edit("cells[0].overrides", {"mft": {"training_args": {"report_to": "wandb"}}}),
     "config: cells[0].overrides.mft.training_args: may not set ['report_to']"),
    (_edit("training.max_length", 300),
     "config: training.max_length: 300 is more than models.llama.tiny.max_position_embeddings (256)"),
    (_edit("cells[0].overrides", {"mft": {"max_length": 512}}),
     "config: cells[0].overrides.mft.max_length: 512 is more than models.llama.tiny.max_position_embeddings"),
    (_edit("models.mistral.tiny.pretrain.max_length", 257),
     "config: models.mistral.tiny.pretrain.max_length: 257 is more than"),
    (_edit("evaluation.max_new_tokens", 256), "config: evaluation.max_new_tokens: 256 leaves no position"),
    (_edit("benchmarks.math_test.evaluation", {"max_new_tokens": 300}),
     "config: benchmarks.math_test.evaluation.max_new_tokens: 300 leaves no position"),
    (_edit("datasets.gsm_rft.options.max_new_tokens", 400),
     "config: datasets.gsm_rft.options.max_new_tokens: 400 leaves no position"),
    (_edit("cells", []), "config: cells: empty and there are no sweeps"),
]


def _no_grid(cfg):
    cfg["cells"] = []
    cfg["sweeps"] = {}
    cfg["tables"] = {}


JOB_SETTING_ERRORS[-1] = (_no_grid, "config: cells: empty and there are no sweeps")


@pytest.mark.parametrize("breaker, message", JOB_SETTING_ERRORS, ids=[m.split(":")[1].strip() for _, m in
                                                                     JOB_SETTING_ERRORS])
def test_settings_a_job_would_reject_are_config_errors(breaker, message):
    cfg = raw("smoke")
    breaker(cfg)
    with pytest.raises(ConfigError) as error:
        Plan(validated_config(cfg))
    assert str(error.value).startswith(message), str(error.value)


def test_cells_may_be_empty_when_a_sweep_remains():
    cfg = raw("smoke")
    cfg["cells"] = []
    cfg["tables"] = {"fig3": {"benchmark": "gsm_test", "decoding": "calc", "reference_methods": []}}
    cfg["datasets"]["gsm_rft"]["sampler"]["method"] = "mft"
    cfg["train_sets"].pop("rft")
    cfg["analyses"]["dependency"]["enabled"] = False  # enabled without a cell: an error naming the key
    assert Plan(validated_config(cfg)).job_counts()["finetune"] == 2  # the sweep's two points


def _local_model(cfg):
    cfg["models"]["llama"] = {"local_path": "no/such/model"}


def _local_data(cfg):
    cfg["datasets"]["extra"] = {"source": "gsm8k", "options": {"local_path": "no/such/gsm8k.jsonl", "splits": ["test"]}}


@pytest.mark.parametrize("breaker, message", [
    (_local_model, "config: models.llama.local_path: no/such/model: no such folder"),
    (_local_data, "config: datasets.extra.options.local_path: no/such/gsm8k.jsonl: no such file or folder"),
], ids=["model", "data"])
def test_local_paths_must_exist(breaker, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = raw("smoke")
    breaker(cfg)
    plan = Plan(validated_config(cfg))
    with pytest.raises(ConfigError) as error:
        check_paths(plan)
    assert str(error.value).startswith(message), str(error.value)
    (tmp_path / "no" / "such" / "model").mkdir(parents=True)
    (tmp_path / "no" / "such" / "gsm8k.jsonl").write_text("", encoding="utf-8")
    check_paths(plan)


def test_a_read_only_results_dir_is_a_config_error(tmp_path, monkeypatch):
    """The nearest existing folder of results_dir must be writable (simulated: the tests may run as root,
    who can write any folder that is not on a read-only file system)."""
    from cotmask.plan import job_checks

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    plan = Plan(load_config(CONFIGS["smoke"]))
    check_paths(plan)  # results/smoke does not exist yet: results/ is what must be writable
    real_access = os.access
    monkeypatch.setattr(job_checks.os, "access", lambda path, mode: Path(path) != Path("results")
                        and real_access(path, mode))
    with pytest.raises(ConfigError) as error:
        check_paths(plan)
    assert str(error.value) == ("config: results_dir: results/smoke: not writable (results is read-only); "
                                "give a results_dir this user may write")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a folder without write permission")
def test_a_results_dir_without_write_permission_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir(mode=0o555)
    with pytest.raises(ConfigError, match="config: results_dir: results/smoke: not writable"):
        check_paths(Plan(load_config(CONFIGS["smoke"])))


# ----------------------------------------------------------------------------------- config files


@pytest.mark.parametrize("text, message", [
    ("scale: embedded\ndatasets:\n  gsm: {source: gsm_synth\n", "bad.yaml:4:1: YAML syntax error: "),
    ("scale: embedded\n\tseeds: [1]\n", "bad.yaml:2:1: YAML syntax error: found character '\\t'"),
    ("", "bad.yaml: the file is empty"),
    ("# only a comment\n", "bad.yaml: the file is empty"),
    ("- scale\n- seeds\n", "bad.yaml: a config is a mapping of keys at the top level, not a list"),
], ids=["unclosed-flow", "tab", "empty", "comment-only", "list"])
def test_a_config_file_that_is_no_mapping_is_named_with_its_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{tmp_path}/{message}"), str(error.value)


def test_a_config_file_that_is_not_utf8_is_named_with_its_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"scale: embedded\nresults_dir: r\xe9sultats\n")
    with pytest.raises(ConfigFileError, match=r"bad.yaml:2: not UTF-8 text"):
        load_config(path)


def test_the_plan_command_checks_a_config_file(tmp_path):
    good = subprocess.run([sys.executable, "-m", "cotmask.plan", "config/smoke.yaml"], cwd=REPO,
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == HAND_COUNTS["smoke"]
    (tmp_path / "bad.yaml").write_text("scale: embedded\nseeds: [1\n", encoding="utf-8")
    cfg = raw("smoke")
    cfg["training"]["lr_scheduler"] = "cosinee"
    (tmp_path / "scheduler.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    for name, message in (("bad.yaml", "bad.yaml:3:1: YAML syntax error"),
                          ("scheduler.yaml", "config: training.lr_scheduler: 'cosinee' is not one of")):
        bad = subprocess.run([sys.executable, "-m", "cotmask.plan", str(tmp_path / name)], cwd=REPO,
                             capture_output=True, text=True)
        assert bad.returncode == 2 and bad.stdout == ""
        [line] = bad.stderr.splitlines()
        assert line.startswith("python -m cotmask.plan: error: ") and message in line, line


def test_cotmask_plan_is_the_same_check(tmp_path):
    """``cotmask plan`` (the CLI) prints the same job counts and the same one-line errors."""
    good = subprocess.run([sys.executable, "-m", "cotmask.cli", "plan", "config/smoke.yaml"], cwd=REPO,
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == HAND_COUNTS["smoke"]
    (tmp_path / "bad.yaml").write_text("scale: embedded\nseeds: [1\n", encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "cotmask.cli", "plan", str(tmp_path / "bad.yaml")], cwd=REPO,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    [line] = bad.stderr.splitlines()
    assert line.startswith("cotmask plan: error: ") and "bad.yaml:3:1: YAML syntax error" in line, line
