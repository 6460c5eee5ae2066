"""The Snakemake workflow: dry runs of every config, config errors, lint and format, the rule graph,
a real smoke run, partial reruns after it, and the report.

Snakemake always runs in a temporary copy of the workflow files (never in the repository). The
dry runs must plan exactly the jobs of the planner (cotmask.plan.Plan, unit-tested in test_plan.py);
the smoke config's job counts are also written out by hand below.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from cotmask.plan import Plan, validated_config

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_ITEMS = ("Snakefile", "rules", "scripts", "config", "envs", "profiles", "report")
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake") if (BIN / "snakemake").exists() else shutil.which("snakemake")
SNAKEFMT = str(BIN / "snakefmt") if (BIN / "snakefmt").exists() else shutil.which("snakefmt")
CONFIGS = {
    "default": REPO / "config" / "config.yaml",
    "smoke": REPO / "config" / "smoke.yaml",
    "full": REPO / "config" / "full.yaml",
    "paper": REPO / "config" / "paper.yaml",
}


# --------------------------------------------------------------------------------- helpers


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow files (not the library, not results) into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in WORKFLOW_ITEMS:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, dest / item)
        else:
            shutil.copy2(source, dest / item)
    return dest


def snakemake(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the venv's snakemake in cwd; stdout and stderr merged into .stdout."""
    return subprocess.run(
        [SNAKEMAKE, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    """The first 'Job stats' table of a snakemake run: rule -> count (without 'total')."""
    lines = output.splitlines()
    start = lines.index("Job stats:") + 3  # header, column names, dashes
    counts = {}
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def planned_jobs(output: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs, current = [], None
    for line in output.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):$", line.strip())
        if match:
            current = (match.group(1), {})
            jobs.append(current)
        elif current is not None and line.strip().startswith("wildcards:"):
            for pair in line.strip()[len("wildcards:") :].split(","):
                key, value = pair.strip().split("=", 1)
                current[1][key] = value
    return jobs


def load(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def write(cfg: dict, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(cfg, handle, sort_keys=False)
    return path


# ------------------------------------------------------------------- the plan of a config


def plan_of(cfg: dict) -> Plan:
    """The planner's view of a config (schema defaults filled in, as the workflow does)."""
    return Plan(validated_config(cfg))


def evaluation_runs_of(plan: Plan) -> list[tuple]:
    """(model, train_set, method, seed, benchmark, decoding) of every evaluation of the plan."""
    return plan.evaluation_runs


def evaluated_finetunes(plan: Plan) -> set[tuple]:
    """(model, train_set, method, seed) of every evaluate job."""
    return set(plan.evaluation_plans)


def configfile_args(name: str) -> list[str]:
    return [] if name == "default" else ["--configfile", f"config/{CONFIGS[name].name}"]


# ------------------------------------------------------------------------- fast tests


@pytest.fixture(scope="module")
def workflow_dir(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("workflow"))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_dry_run_job_counts(workflow_dir, name):
    """Snakemake plans exactly the planner's jobs for every config (no hub access)."""
    result = snakemake(workflow_dir, "-n", "--quiet", "rules", *configfile_args(name))
    assert result.returncode == 0, result.stdout[-3000:]
    assert job_counts(result.stdout) == plan_of(load(CONFIGS[name])).job_counts()


def test_dry_run_of_the_smoke_config_by_hand(workflow_dir):
    """The smoke config's jobs, counted by hand from config/smoke.yaml (seeds [1]):

    fine-tunes: cells llama/gsm {sft, mft} + mistral/metamath {sft, mft, sched_sampling} + llama/rft {sft}
    = 6; the sweep (llama/gsm, base mft, ratios 0.2 and 0.4 at warm-up 0.667) adds mft_p0.2_w0.667 only,
    since (0.4, 0.667) is mft's own setting -> 7, each with one evaluate job. The rft sampler llama/gsm/sft
    seed 1 is a cell fine-tune. Datasets: sources gsm and mathsyn, metamath (augment), gsm_rft
    (rejection_sample); both tiny models are used: one tokenizer, two base models. analyses.dependency:
    one job per fine-tune of the cells with gsm_test (llama/gsm sft and mft, llama/rft sft) = 3, one table;
    analyses.case_study: the same 3 fine-tunes, one table.
    """
    result = snakemake(workflow_dir, "-n", "--quiet", "rules", *configfile_args("smoke"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert job_counts(result.stdout) == {
        "data_gsm": 1, "data_mathsyn": 1, "augment": 1, "rejection_sample": 1, "train_tokenizer": 1,
        "base_model": 2, "finetune": 7, "evaluate": 7, "tables": 1, "all": 1,
        "dependency": 3, "dependency_table": 1, "case_study": 3, "case_study_table": 1,
    }


def test_configfile_replaces_default_config(workflow_dir):
    """--configfile does not inherit the default config's dicts (its sweep here)."""
    cfg = load(CONFIGS["smoke"])
    del cfg["sweeps"]
    cfg["tables"]["fig3"] = None
    write(cfg, workflow_dir / "no_sweep.yaml")
    result = snakemake(workflow_dir, "-n", "--quiet", "rules", "--configfile", "no_sweep.yaml")
    assert result.returncode == 0, result.stdout[-3000:]
    counts = job_counts(result.stdout)
    assert counts == plan_of(cfg).job_counts()
    assert counts["finetune"] == 6  # the smoke config's 7 without its sweep point mft_p0.2_w0.667


def test_results_dir_moves_the_aggregated_outputs(workflow_dir):
    """results_dir sets where tables, figures and summary.json go: full.yaml keeps results/ intact."""
    result = snakemake(workflow_dir, "-n", "--configfile", "config/full.yaml")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "results/full/summary.json" in result.stdout
    assert "results/full/tables/table3_regularisers.csv" in result.stdout
    assert " results/summary.json" not in result.stdout
    assert load(CONFIGS["default"])["results_dir"] == "results"


def _break_unknown_key(cfg):
    cfg["training"]["learnig_rate"] = 0.1


def _break_type(cfg):
    cfg["training"]["epochs"] = "ten"


def _break_missing(cfg):
    del cfg["cells"][1]["benchmarks"]


def _break_method(cfg):
    cfg["cells"][0]["methods"][1] = "mtf"


def _break_split(cfg):
    cfg["benchmarks"]["math_test"]["data"] = "mathsyn/ic_2step"


def _break_option(cfg):
    cfg["datasets"]["gsm"]["options"]["n_trian"] = 5


def _break_masking(cfg):
    cfg["methods"]["mft"]["dropout_q"] = 0.5  # the schema allows the key; it needs noise 'dropout'


def _break_table3_paper_row(cfg):
    cfg["tables"]["table3_arms"] = [
        {"label": "SFT", "method": "sft", "paper_method": "SFT (7B)", "control": True}
    ]


def _break_results_dir(cfg):
    cfg["results_dir"] = "../elsewhere"


def _break_dataset_name(cfg):
    cfg["datasets"]["gsm-ic"] = {"source": "gsm_synth"}  # a dataset name is part of a rule name: no '-'


def _break_cycle(cfg):
    cfg["datasets"]["gsm_rft"]["sampler"]["train_set"] = "rft"  # samples with a model trained on itself


def _break_table3_arm(cfg):
    cfg["tables"]["table3_arms"] = [
        {"label": "SFT", "method": "sft", "control": True},
        {"label": "Dropout", "method": "dropuot"},
    ]


def _break_scheduler(cfg):
    cfg["training"]["lr_scheduler"] = "cosinee"


def _break_training_args(cfg):
    cfg["methods"]["mft"]["training_args"] = {"tf33": True}


def _break_positions(cfg):
    cfg["training"]["max_length"] = 300  # the smoke models have 256 positions


def _break_empty_grid(cfg):
    cfg["cells"], cfg["sweeps"], cfg["tables"] = [], {}, {}


@pytest.mark.parametrize(
    "breaker, message",
    [
        (_break_unknown_key, "config: training: Additional properties are not allowed ('learnig_rate'"),
        (_break_type, "config: training.epochs: 'ten' is not of type 'integer'"),
        (_break_missing, "config: cells[1]: 'benchmarks' is a required property"),
        (_break_method, "config: cells[0].methods[1]: unknown method 'mtf'"),
        (_break_split, "config: benchmarks.math_test.data: dataset 'mathsyn' has no split 'ic_2step'"),
        (_break_option, "config: datasets.gsm.options:"),
        (_break_masking, "config: methods.mft: masking: dropout_q applies only to noise='dropout'"),
        (_break_table3_arm, "config: tables.table3_arms[1].method: unknown method 'dropuot'"),
        (_break_results_dir, "config: results_dir: '../elsewhere' does not match"),
        (_break_table3_paper_row, "config: tables.table3_arms[0].paper_method: unknown paper row 'SFT (7B)'"),
        (_break_dataset_name, "config: datasets: 'gsm-ic' does not match"),
        (_break_cycle, "config: datasets.gsm_rft: dependency cycle: gsm_rft -> gsm_rft"),
        (_break_scheduler, "config: training.lr_scheduler: 'cosinee' is not one of"),
        (_break_training_args, "config: methods.mft.training_args: has unknown TrainingArguments field(s) ['tf33']"),
        (_break_positions, "config: training.max_length: 300 is more than models.llama.tiny.max_position_embeddings"),
        (_break_empty_grid, "config: cells: empty and there are no sweeps"),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "missing-key",
        "unknown-method",
        "unknown-split",
        "bad-option",
        "bad-masking",
        "bad-table3-arm",
        "bad-results-dir",
        "bad-table3-paper-row",
        "bad-dataset-name",
        "rft-cycle",
        "unknown-scheduler",
        "unknown-training-arg",
        "longer-than-positions",
        "empty-grid",
    ],
)
def test_bad_config_fails_before_any_job(workflow_dir, breaker, message):
    cfg = copy.deepcopy(load(CONFIGS["smoke"]))
    breaker(cfg)
    write(cfg, workflow_dir / "bad.yaml")
    result = snakemake(workflow_dir, "-n", "--configfile", "bad.yaml")
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]
    assert "Job stats" not in result.stdout
    assert not (workflow_dir / "work").exists()


@pytest.mark.parametrize("text", ["scale: embedded\nseeds: [1\n", "", "- scale\n"], ids=["syntax", "empty", "list"])
def test_a_config_file_snakemake_cannot_read_fails_before_any_job(workflow_dir, text):
    """Snakemake reads --configfile before the workflow's code runs, with its own message (no file, no line:
    docs/workflow.md says to run `python -m cotmask.plan FILE`, test_plan.py tests it); nothing is written."""
    (workflow_dir / "unreadable.yaml").write_text(text, encoding="utf-8")
    result = snakemake(workflow_dir, "-n", "--configfile", "unreadable.yaml")
    assert result.returncode != 0
    assert "Config file" in result.stdout and "Job stats" not in result.stdout, result.stdout[-3000:]
    assert not (workflow_dir / "work").exists()


def test_lint_passes(workflow_dir):
    result = snakemake(workflow_dir, "--lint", "--configfile", "config/smoke.yaml")
    assert result.returncode == 0, result.stdout[-3000:]


def test_snakefmt_clean():
    result = subprocess.run(
        [SNAKEFMT, "--check", "."], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_rulegraph_has_every_stage_and_the_rft_edge(workflow_dir):
    result = snakemake(workflow_dir, "--rulegraph", "--configfile", "config/smoke.yaml")
    assert result.returncode == 0, result.stdout[-3000:]
    dot = result.stdout[result.stdout.index("digraph") :]
    labels = dict(re.findall(r"^\s*(\d+)\[label = \"(\w+)\"", dot, flags=re.M))
    edges = {(labels[a], labels[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M)}
    expected_rules = set(plan_of(load(CONFIGS["smoke"])).job_counts())
    assert set(labels.values()) == expected_rules
    # the paper's DAG edge from a fine-tune to a dataset, and the chain to the tables
    assert ("finetune", "rejection_sample") in edges
    assert ("rejection_sample", "finetune") in edges
    for edge in [("base_model", "finetune"), ("finetune", "evaluate"), ("evaluate", "tables"), ("tables", "all")]:
        assert edge in edges


# -------------------------------------------------------------- a real smoke run (slow)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """Run the smoke config end to end once; later tests reuse its directory and metadata."""
    directory = copy_workflow(tmp_path_factory.mktemp("smoke"))
    start = time.monotonic()
    result = snakemake(directory, "-c", "2", "--configfile", "config/smoke.yaml", timeout=900)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        pytest.fail(f"smoke run failed after {elapsed:.0f} s:\n{result.stdout[-6000:]}")
    print(f"\nsmoke run: {elapsed:.0f} s wall on 2 cores")
    return directory


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs git and a checkout")
def test_the_smoke_run_leaves_a_clone_clean(smoke_run):
    """What `git status` would show after the README's smoke command in a clone: every file the run wrote
    (outside the copied workflow files) is one git ignores and none is a committed file -- the smoke config
    writes its tables to results/smoke/, not over the committed results/."""
    written = sorted(
        str(path.relative_to(smoke_run)) for path in smoke_run.rglob("*")
        if path.is_file() and path.relative_to(smoke_run).parts[0] not in WORKFLOW_ITEMS
    )
    assert any(name.startswith("results/smoke/tables/") for name in written), "no smoke tables written"
    tracked = set(subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                                 check=True).stdout.splitlines())
    assert not tracked & set(written), sorted(tracked & set(written))[:10]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=REPO, input="\n".join(written),
                             capture_output=True, text=True).stdout.splitlines()
    assert sorted(set(written) - set(ignored)) == []


@pytest.mark.slow
def test_smoke_run_produces_every_output(smoke_run):
    plan = plan_of(load(CONFIGS["smoke"]))
    runs = evaluation_runs_of(plan)
    for model, train_set, method, seed, bench, dec in runs:
        prefix = smoke_run / "work" / "evals" / model / train_set / method / f"seed{seed}" / f"{bench}.{dec}"
        assert Path(f"{prefix}.jsonl").is_file()
        summary = json.loads(Path(f"{prefix}.json").read_text())
        assert summary["n"] > 0 and 0.0 <= summary["accuracy"] <= 1.0
        assert summary["calculator"] == (dec == "calc")
    # one evaluate job per fine-tune wrote exactly that fine-tune's (benchmark, decoding) files
    for model, train_set, method, seed in evaluated_finetunes(plan):
        directory = smoke_run / "work" / "evals" / model / train_set / method / f"seed{seed}"
        written = {p.name for p in directory.iterdir() if p.name != ".snakemake_timestamp"}
        pairs = {f"{b}.{d}" for m, t, x, s, b, d in runs if (m, t, x, s) == (model, train_set, method, seed)}
        assert written == {f"{pair}.{ext}" for pair in pairs for ext in ("jsonl", "json")}, directory
    summary = json.loads((smoke_run / "results" / "smoke" / "summary.json").read_text())
    assert summary["inputs"]["n_evaluations"] == len(runs) == 14  # test_plan.py derives the 14
    assert (smoke_run / "results" / "smoke" / "figures" / "fig3_mask_ratio.png").stat().st_size > 0
    # fine-tunes keep their Trainer checkpoints outside the declared output
    for model, train_set, method, seed in plan.finetunes:
        out = smoke_run / "work" / "models" / "ft" / model / train_set / method / f"seed{seed}"
        assert (out / "train_metrics.json").is_file()
        assert (smoke_run / "work" / "checkpoints" / model / train_set / method / f"seed{seed}").is_dir()
    rerun = snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml")
    assert rerun.returncode == 0 and "Nothing to be done" in rerun.stdout, rerun.stdout[-3000:]


@pytest.mark.slow
def test_smoke_run_dependency_table_recomputes_from_its_run_files(smoke_run, tmp_path):
    """analyses.dependency at toy size: one run file per planned fine-tune, and the committed-style table is
    exactly what the per-run files give again (cotmask dependency table with the rule's settings)."""
    from cotmask.analysis.dependency_table import build_dependency_tables

    plan = plan_of(load(CONFIGS["smoke"]))
    files = [smoke_run / path for path in plan.dependency_files()]
    assert files and all(path.is_file() for path in files)
    again = build_dependency_tables(files, tmp_path, **plan.dependency_table_settings())
    table = smoke_run / "results" / "smoke" / "tables" / "dependency.csv"
    assert again["dependency.csv"].read_text() == table.read_text()


@pytest.mark.slow
def test_smoke_run_trains_a_table3_regulariser(smoke_run):
    """A method with model-level noise (scheduled sampling) goes through the DAG like MFT: its settings reach
    the fine-tune, the noise is applied, and it is evaluated and tabulated."""
    run = smoke_run / "work" / "models" / "ft" / "mistral" / "metamath" / "sched_sampling" / "seed1"
    metrics = json.loads((run / "train_metrics.json").read_text())
    assert metrics["config"]["mask"]["noise"] == "sampled"
    assert metrics["config"]["mask"]["sample_temperature"] == 100.0
    assert max(metrics["observed_noise_fraction_per_step"].values()) > 0.1
    cells = (smoke_run / "results" / "smoke" / "tables" / "accuracy_cells.csv").read_text()
    assert "sched_sampling" in cells


def planned_jobs_after_param_change(workdir: Path, cfg: dict, name: str) -> list:
    """Dry-run the finished smoke run with an edited config; the jobs Snakemake would rerun."""
    write(cfg, workdir / name)
    result = snakemake(workdir, "-n", "--configfile", name)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Params have changed" in result.stdout
    return planned_jobs(result.stdout)


def finetune_keys(jobs: list, rule: str) -> set:
    """(model, train_set, method, seed) of the planned jobs of one rule."""
    return {tuple(w[k] for k in ("model", "train_set", "method", "seed")) for r, w in jobs if r == rule}


@pytest.mark.slow
def test_changed_mask_ratio_reruns_exactly_the_affected_jobs(smoke_run):
    cfg = load(CONFIGS["smoke"])
    cell = next(c for c in cfg["cells"] if (c["model"], c["train_set"]) == ("mistral", "metamath"))
    cell.setdefault("overrides", {})["mft"] = {"mask_ratio": 0.3}
    jobs = planned_jobs_after_param_change(smoke_run, cfg, "changed_ratio.yaml")
    finetunes = finetune_keys(jobs, "finetune")
    assert finetunes == {("mistral", "metamath", "mft", "1")}
    evaluations = finetune_keys(jobs, "evaluate")
    expected = {
        tuple(map(str, ft)) for ft in evaluated_finetunes(plan_of(cfg)) if ft[:3] == ("mistral", "metamath", "mft")
    }
    assert evaluations == expected
    assert {r for r, _ in jobs} == {"finetune", "evaluate", "tables", "all"}


@pytest.mark.slow
def test_changed_benchmark_setting_reruns_only_its_evaluations(smoke_run):
    """An evaluation setting of one benchmark reruns the evaluate jobs of the fine-tunes evaluated on
    it (each loads its model once and redoes all its pairs) and tables; no fine-tune."""
    cfg = load(CONFIGS["smoke"])
    cfg["benchmarks"]["math_test"].setdefault("evaluation", {})["max_new_tokens"] = 17
    jobs = planned_jobs_after_param_change(smoke_run, cfg, "changed_benchmark.yaml")
    evaluations = finetune_keys(jobs, "evaluate")
    expected = {tuple(map(str, run[:4])) for run in evaluation_runs_of(plan_of(cfg)) if run[4] == "math_test"}
    assert evaluations == expected and expected
    assert {r for r, _ in jobs} == {"evaluate", "tables", "all"}


@pytest.mark.slow
def test_a_reformatted_config_reruns_nothing_and_a_new_split_reruns_its_data_job(smoke_run):
    """After a real run (test_reruns.py checks many more cases on recorded metadata): the config written back
    with sorted keys and no comments reruns nothing; n_train changed together with a new split (n_pretrain)
    reruns the data job. Written over config/smoke.yaml: the tables job's params name the config file."""
    path = smoke_run / "config" / "smoke.yaml"
    original = path.read_text(encoding="utf-8")
    cfg = load(CONFIGS["smoke"])
    try:
        path.write_text(yaml.safe_dump(cfg, sort_keys=True), encoding="utf-8")
        same = snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml")
        cfg["datasets"]["gsm"]["options"].update(n_train=60, n_pretrain=100)
        path.write_text(yaml.safe_dump(cfg, sort_keys=True), encoding="utf-8")
        new_split = snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml")
    finally:
        path.write_text(original, encoding="utf-8")
    assert same.returncode == 0 and "Nothing to be done" in same.stdout, same.stdout[-3000:]
    assert new_split.returncode == 0 and job_counts(new_split.stdout).get("data_gsm") == 1, new_split.stdout[-3000:]
    assert (smoke_run / "work" / "data" / "gsm" / "pretrain.jsonl").stat().st_size == 0  # the fixed outputs


def case_study_keys(plan) -> set:
    """(model, train_set, method, seed) of the plan's case-study jobs, as wildcard strings."""
    return {(r["model"], r["train_set"], r["method"], str(r["seed"])) for r in plan.case_study_runs()}


def dependency_keys(plan) -> set:
    """(model, train_set, method, seed) of the plan's dependency jobs, as wildcard strings."""
    return {(r["model"], r["train_set"], r["method"], str(r["seed"])) for r in plan.dependency_runs()}


@pytest.mark.slow
def test_new_seed_runs_only_the_new_jobs(smoke_run):
    old = load(CONFIGS["smoke"])
    new = copy.deepcopy(old)
    new["seeds"] = old["seeds"] + [max(old["seeds"]) + 1]
    write(new, smoke_run / "new_seed.yaml")
    result = snakemake(smoke_run, "-n", "--configfile", "new_seed.yaml")
    assert result.returncode == 0, result.stdout[-3000:]
    jobs = planned_jobs(result.stdout)
    finetunes = {tuple(w[k] for k in ("model", "train_set", "method", "seed")) for r, w in jobs if r == "finetune"}
    assert finetunes == {tuple(map(str, f)) for f in set(plan_of(new).finetunes) - set(plan_of(old).finetunes)}
    evaluations = {tuple(w[k] for k in ("model", "train_set", "method", "seed")) for r, w in jobs if r == "evaluate"}
    assert evaluations == {
        tuple(map(str, f)) for f in evaluated_finetunes(plan_of(new)) - evaluated_finetunes(plan_of(old))
    }
    case_studies = {tuple(w[k] for k in ("model", "train_set", "method", "seed")) for r, w in jobs if r == "case_study"}
    assert case_studies == case_study_keys(plan_of(new)) - case_study_keys(plan_of(old)) != set()
    dependencies = {tuple(w[k] for k in ("model", "train_set", "method", "seed")) for r, w in jobs if r == "dependency"}
    assert dependencies == dependency_keys(plan_of(new)) - dependency_keys(plan_of(old)) != set()
    assert {r for r, _ in jobs} - {"case_study", "case_study_table", "dependency", "dependency_table"} == {
        "finetune", "evaluate", "tables", "all"}


@pytest.mark.slow
def test_report_after_smoke_run(smoke_run):
    result = snakemake(smoke_run, "--report", "report.zip", "--configfile", "config/smoke.yaml")
    assert result.returncode == 0, result.stdout[-3000:]
    with zipfile.ZipFile(smoke_run / "report.zip") as archive:
        names = archive.namelist()
    assert any(name.endswith("fig3_mask_ratio.png") for name in names)
    assert any(name.endswith("table1_main.html") for name in names)
