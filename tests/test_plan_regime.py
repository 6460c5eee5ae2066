"""cotmask.plan: the overfitting diagnostics of each fine-tune and the regime map's selection inputs."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from cotmask.plan import ConfigError, Plan, load_config, validated_config

REPO = Path(__file__).resolve().parents[1]


def raw(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def regime() -> Plan:
    return Plan(load_config(REPO / "config" / "regime.yaml"))


def test_diagnostics_reach_the_fine_tune_only_when_on():
    smoke = Plan(load_config(REPO / "config" / "smoke.yaml"))
    inputs = smoke.finetune_inputs("llama", "gsm")
    assert inputs["diagnostics"] == smoke.benchmark_file("gsm_test")  # the cell's first benchmark
    settings = smoke.finetune_settings("llama", "gsm", "sft", 1)
    assert settings["diagnostics_items"] == 4 and settings["diagnostics_scoring"] == "gsm8k"
    # the former default has them off: no input, no key (its fine-tunes' params are what they were)
    former = Plan(load_config(REPO / "config" / "same-distribution.yaml"))
    assert "diagnostics" not in former.finetune_inputs("llama", "gsm")
    assert not any(key.startswith("diagnostics") for key in former.finetune_settings("llama", "gsm", "sft", 1))


def test_diagnostics_benchmark_can_be_named_and_must_exist():
    cfg = raw("smoke")
    cfg["diagnostics"]["benchmark"] = "math_test"
    plan = Plan(validated_config(cfg))
    assert plan.finetune_settings("llama", "gsm", "sft", 1)["diagnostics_scoring"] == "math"
    cfg["diagnostics"]["benchmark"] = "gsm_tset"
    with pytest.raises(ConfigError, match=r"^config: diagnostics.benchmark: unknown benchmark 'gsm_tset'"):
        Plan(validated_config(cfg))


def test_the_regime_selection_reads_sft_only_runs_of_every_candidate(regime):
    # 12 points on 9 distinct cells (the centre appears on three axes); SFT and SFT-long x 3 seeds each
    assert len(regime.regime_candidates()) == 9
    inputs = regime.regime_selection_inputs()
    assert len(inputs["evals"]) == 9 * 2 * 3 and len(inputs["sft_long"]) == 9 * 3
    assert all("/sft/" in path or "/sft_long/" in path for path in inputs["evals"])
    assert sorted(Path(p).name for p in inputs["base"]) == ["disjoint", "nogsm", "same", "same_big"]
    settings = regime.regime_selection_settings()
    assert {r["method"] for r in settings["records"]} == {"sft", "sft_long"}
    assert {r["benchmark"] for r in settings["records"]} == {"r_test", "r_ic_2step", "r_ic_mstep"}
    assert len(settings["sft_long_runs"]["same/n1000"]) == 3
    assert regime.regime_selection_file() in regime.final_targets()
    # every fine-tune of the map has its diagnostics on the map's test set
    assert regime.finetune_inputs("same", "n125")["diagnostics"] == regime.benchmark_file("r_test")


def test_points_that_are_not_candidates_leave_the_selection_alone(regime):
    """The combination points (``candidate: false``) are mapped but never selected: the selection's params,
    and so its output, are those of the config without them."""
    points = regime.config["regime"]["points"]
    extra = [p for p in points if not p["candidate"]]
    assert {p["axis"] for p in extra} == {"combination"}
    assert {(p["model"], p["train_set"]) for p in extra}.isdisjoint(regime.regime_candidates())
    cfg = raw("regime")
    cfg["regime"]["points"] = [p for p in cfg["regime"]["points"] if p.get("candidate", True)]
    without = Plan(validated_config(cfg))
    assert without.regime_selection_settings() == regime.regime_selection_settings()
    assert without.regime_selection_inputs() == regime.regime_selection_inputs()
    # the map itself reports them
    cells = {(r["model"], r["train_set"]) for r in regime.regime_map_runs()}
    assert {("disjoint_big", "n1000"), ("same_big", "n250"), ("disjoint", "n2000")} <= cells


def test_the_first_stage_is_the_maps_one_factor_points_job_for_job(regime):
    """config/regime-one-factor.yaml (stage 1) runs exactly the map's candidate points, under the same names
    and with the same settings, so that config/regime.yaml (stage 2) run after it adds only the combinations
    and the analyses; and its selection is the map's."""
    stage1 = Plan(load_config(REPO / "config" / "regime-one-factor.yaml"))
    cells = {(cell["model"], cell["train_set"]) for cell in stage1.config["cells"]}
    assert cells == set(regime.regime_candidates())
    assert all(point["candidate"] for point in stage1.config["regime"]["points"])
    assert not stage1.case_study_runs() and not stage1.dependency_runs()
    assert stage1.results_dir == "results/regime/one-factor"
    assert set(stage1.finetunes) < set(regime.finetunes)
    assert set(stage1.datasets) <= set(regime.datasets)
    assert stage1.tokenizer_settings() == regime.tokenizer_settings()
    for dataset in stage1.datasets:
        assert stage1.source_options(dataset) == regime.source_options(dataset), dataset
    for model in stage1.tiny_models_used:
        assert stage1.base_model_settings(model) == regime.base_model_settings(model), model
        assert stage1.pretrain_corpus(model) == regime.pretrain_corpus(model), model
    for model, train_set, method, seed in stage1.finetunes:
        assert stage1.finetune_inputs(model, train_set) == regime.finetune_inputs(model, train_set)
        assert stage1.finetune_settings(model, train_set, method, seed) == regime.finetune_settings(
            model, train_set, method, seed
        ), (model, train_set, method, seed)
        assert stage1.evaluation_jobs(model, train_set, method, seed) == regime.evaluation_jobs(
            model, train_set, method, seed
        )
    assert stage1.regime_selection_settings() == regime.regime_selection_settings()
    assert stage1.regime_selection_inputs() == regime.regime_selection_inputs()


def test_the_regime_fine_tuning_sets_are_prefixes_of_one_split(regime):
    limits = {name: spec["finetune"]["limit"] for name, spec in regime.config["train_sets"].items()}
    assert limits == {"n125": 125, "n250": 250, "n500": 500, "n1000": 1000, "n2000": 2000, "n1000_lr_low": 1000}
    assert {spec["data"] for spec in regime.config["train_sets"].values()} == {"rgsm_same/train"}
    same, disjoint = (regime.config["datasets"][name]["options"] for name in ("rgsm_same", "rgsm_disjoint"))
    assert {k: v for k, v in same.items() if k != "pretrain_templates"} == {
        k: v for k, v in disjoint.items() if k != "pretrain_templates"
    }


def test_shared_names_with_the_former_default_are_identical():
    """The map shares the former default's gsm/mathsyn datasets and tokenizer (same jobs in work/), so they
    must be the same settings; every other name is its own."""
    regime_cfg, former = raw("regime"), raw("same-distribution")
    for name in set(regime_cfg["datasets"]) & set(former["datasets"]):
        assert regime_cfg["datasets"][name] == former["datasets"][name], name
    assert regime_cfg["tokenizer"] == former["tokenizer"]
    assert not set(regime_cfg["models"]) & set(former["models"])


def test_the_default_is_the_point_the_rule_chose_job_for_job(regime):
    """config/config.yaml moved to the map's point same/n2000 (results/regime/regime_selection.json): its
    data are the map's rgsm_same, its tokenizer corpus the map's gsm, and its llama/gsm cell has the
    settings of that point's fine-tunes, base model, tokenizer and evaluations (the fine-tuning set is the
    whole 2,000-problem split there and a 2,000-problem prefix of it in the map)."""
    default_cfg, regime_cfg = raw("config"), raw("regime")
    assert default_cfg["datasets"]["gsm"] == regime_cfg["datasets"]["rgsm_same"]
    assert default_cfg["datasets"]["gsm_all"] == regime_cfg["datasets"]["gsm"]
    assert default_cfg["datasets"]["mathsyn"] == regime_cfg["datasets"]["mathsyn"]
    assert default_cfg["tokenizer"]["corpus"] == ["gsm_all/pretrain", "mathsyn/train"]
    assert regime_cfg["tokenizer"]["corpus"] == ["gsm/pretrain", "mathsyn/train"]
    default = Plan(load_config(REPO / "config" / "config.yaml"))
    assert default.tokenizer_settings() == regime.tokenizer_settings()
    assert default.base_model_settings("llama") == regime.base_model_settings("same")
    assert regime.config["train_sets"]["n2000"]["finetune"]["limit"] == 2000
    for method in ("sft", "sft_long", "mft"):
        for seed in (1, 2, 3):
            ours = dict(default.finetune_settings("llama", "gsm", method, seed), limit=2000)
            assert ours == regime.finetune_settings("same", "n2000", method, seed), (method, seed)
    for decoding in ("plain", "calc"):
        assert default.evaluation_settings("gsm_test", decoding, 1) == regime.evaluation_settings(
            "r_test", decoding, 1
        )



def _point_breakers():
    def no_cell(cfg):
        cfg["regime"]["points"][0]["train_set"] = "n4000"

    def no_sft_long(cfg):
        cfg["cells"][0]["methods"] = ["sft", "mft", "mft_mask"]

    def unknown_benchmark(cfg):
        cfg["regime"]["distractor_benchmarks"] = ["r_ic_3step"]

    def no_in_distribution(cfg):
        cfg["regime"]["in_distribution"] = None

    return [
        (no_cell, "config: regime.points[0]: no cell trains model 'same' on train set 'n4000'"),
        (no_sft_long, "config: regime.points[0]: its cell lacks ['sft_long']"),
        (unknown_benchmark, "config: regime.distractor_benchmarks[0]: unknown benchmark 'r_ic_3step'"),
        (no_in_distribution, "config: regime.in_distribution: required"),
    ]


@pytest.mark.parametrize("breaker, message", _point_breakers(), ids=lambda v: getattr(v, "__name__", ""))
def test_regime_errors_name_their_key(breaker, message):
    cfg = copy.deepcopy(raw("regime"))
    breaker(cfg)
    with pytest.raises(ConfigError) as error:
        Plan(validated_config(cfg))
    assert str(error.value).startswith(message), str(error.value)
