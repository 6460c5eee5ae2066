"""Reruns are exact in both directions, on the smoke DAG: a config edit that leaves every value equal (key
order, comments, layout, an explicit default) reruns nothing, and a changed value reruns exactly the jobs
that depend on it, including an option that changes a rule's outputs.

The fixture records a finished smoke run's metadata without training anything: every output is created
empty and ``snakemake --touch --forceall`` marks each job as done. Snakemake records a touched job's
params, inputs and code exactly as after a real run (``persistence.finished``, the same call), and dry runs
(``snakemake -n``, default ``--rerun-triggers``) then say what a config edit would rerun. The edited config
is written over ``config/smoke.yaml``, because the tables job's params name the config file (a run of
another file reruns it). test_workflow.py checks the same on a real smoke run.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from test_workflow import CONFIGS, SNAKEMAKE, copy_workflow, job_counts, load, planned_jobs, snakemake

SMOKE = "config/smoke.yaml"
DIRECTORY_RULES = {"finetune", "evaluate", "base_model", "train_tokenizer"}


def create_outputs(directory: Path) -> None:
    """Every output of the smoke DAG, empty (a folder for the rules whose output is one)."""
    result = snakemake(directory, "--summary", "--configfile", SMOKE)
    assert result.returncode == 0, result.stdout[-3000:]
    rows = [line.split("\t") for line in result.stdout.splitlines() if line.count("\t") >= 2]
    for path, _date, rule, *_ in rows[1:]:  # rows[0] is the header
        target = directory / path
        if rule in DIRECTORY_RULES:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A workflow folder in which Snakemake has recorded every smoke job as done (see the module docstring)."""
    directory = copy_workflow(tmp_path_factory.mktemp("reruns"))
    create_outputs(directory)
    result = snakemake(directory, "--touch", "--forceall", "-c", "1", "--configfile", SMOKE)
    assert result.returncode == 0, result.stdout[-3000:]
    return directory


def plan_after(directory: Path, text: str) -> list[tuple[str, dict]]:
    """The jobs a dry run plans after ``config/smoke.yaml`` is replaced by ``text`` (restored afterwards)."""
    path = directory / SMOKE
    original = path.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    try:
        result = snakemake(directory, "-n", "--configfile", SMOKE)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode == 0, result.stdout[-3000:]
    if "Nothing to be done" in result.stdout:
        return []
    assert job_counts(result.stdout), result.stdout[-3000:]
    return planned_jobs(result.stdout)


def dump(cfg: dict, **style) -> str:
    return yaml.safe_dump(cfg, **style)


def reversed_keys(value):
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


def with_explicit_defaults(cfg: dict) -> dict:
    """The smoke config with some keys set to the default they had (schema's, a source's, an augmentation's,
    rejection_sample's, the tables library's)."""
    cfg = copy.deepcopy(cfg)
    cfg["datasets"]["gsm"]["options"]["n_pretrain"] = 0
    cfg["datasets"]["metamath"]["options"]["limit"] = None
    cfg["datasets"]["gsm_rft"]["options"]["include_original"] = True
    cfg["training"]["lr_scheduler"] = "cosine"
    cfg["methods"]["mft"]["positions"] = "answer"
    cfg["models"]["llama"]["tiny"]["pretrain"]["seed"] = 0
    cfg["models"]["mistral"]["tiny"]["pretrain"]["compile"] = False
    cfg["training"]["compile"] = False
    cfg["evaluation"]["n_bootstrap"] = 1000
    cfg["tables"]["confidence"] = 0.95
    return cfg


def rules_of(jobs) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rule, _ in jobs:
        counts[rule] = counts.get(rule, 0) + 1
    return counts


def finetunes_of(jobs, rule: str = "finetune") -> set[tuple[str, ...]]:
    return {tuple(w[k] for k in ("model", "train_set", "method", "seed")) for r, w in jobs if r == rule}


# ------------------------------------------------------------------------------------ nothing reruns


def test_the_recorded_run_is_up_to_date(recorded):
    assert plan_after(recorded, (recorded / SMOKE).read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("edit", ["sorted-keys", "reversed-keys-block-style", "explicit-defaults"])
def test_an_edit_that_keeps_every_value_reruns_nothing(recorded, edit):
    """The issue's case: the config written back by yaml.safe_dump (keys sorted, comments gone, another
    layout), keys in reverse order, and defaults spelled out."""
    cfg = load(CONFIGS["smoke"])
    text = {
        "sorted-keys": lambda: dump(cfg, sort_keys=True),
        "reversed-keys-block-style": lambda: dump(reversed_keys(cfg), sort_keys=False, default_flow_style=False),
        "explicit-defaults": lambda: dump(with_explicit_defaults(cfg), sort_keys=False),
    }[edit]()
    assert plan_after(recorded, text) == []


# --------------------------------------------------------------- a changed value reruns its jobs only


def test_options_that_add_a_split_rerun_the_data_job(recorded):
    """The issue's case: n_train 48 -> 60 with n_pretrain added (a new split). The data job reruns, and a dry
    run plans what reads its files; the other source dataset stays."""
    cfg = load(CONFIGS["smoke"])
    cfg["datasets"]["gsm"]["options"].update(n_train=60, n_pretrain=100)
    counts = rules_of(plan_after(recorded, dump(cfg, sort_keys=False)))
    assert counts.get("data_gsm") == 1 and "data_mathsyn" not in counts
    assert counts["finetune"] == 7  # every fine-tune reads gsm: its train split, or the tokenizer's corpus


def test_a_new_mask_ratio_in_a_reformatted_config_reruns_only_the_mft_jobs(recorded):
    """The issue's case: sorted keys and one changed value (methods.mft.mask_ratio) rerun the fine-tunes whose
    merged settings hold it, their evaluations and the tables; not the data, the tokenizer, the base
    models or any SFT job. Sweep (0.2, 0.667) is no MFT setting of methods.mft: it stays; (0.4, 0.667)
    is now a sweep point of its own, a new job."""
    cfg = load(CONFIGS["smoke"])
    cfg["methods"]["mft"]["mask_ratio"] = 0.3
    jobs = plan_after(recorded, dump(cfg, sort_keys=True))
    expected = {
        ("llama", "gsm", "mft", "1"),
        ("mistral", "metamath", "mft", "1"),
        ("llama", "gsm", "mft_p0.4_w0.667", "1"),
    }
    assert finetunes_of(jobs) == expected
    assert finetunes_of(jobs, "evaluate") == expected
    assert finetunes_of(jobs, "case_study") == {("llama", "gsm", "mft", "1")}  # the one with gsm_test
    assert finetunes_of(jobs, "dependency") == {("llama", "gsm", "mft", "1")}
    analyses = {"case_study", "case_study_table", "dependency", "dependency_table"}
    assert rules_of(jobs).keys() - analyses == {"finetune", "evaluate", "tables", "all"}


def test_an_augmentation_option_reruns_its_dataset_and_what_trains_on_it(recorded):
    cfg = load(CONFIGS["smoke"])
    cfg["datasets"]["metamath"]["options"]["seed"] = 1
    jobs = plan_after(recorded, dump(cfg, sort_keys=False))
    assert rules_of(jobs).keys() == {"augment", "finetune", "evaluate", "tables", "all"}
    assert {m for m, t, _, _ in finetunes_of(jobs)} == {"mistral"}
    assert {t for _, t, _, _ in finetunes_of(jobs)} == {"metamath"}


def test_compiling_one_base_models_pretraining_reruns_that_model_and_what_trains_on_it(recorded):
    """models.llama.tiny.pretrain.compile (a speed setting: the same function up to rounding, but other
    floating-point results) reruns llama's base model and its descendants; mistral's jobs stay."""
    cfg = load(CONFIGS["smoke"])
    cfg["models"]["llama"]["tiny"]["pretrain"]["compile"] = True
    jobs = plan_after(recorded, dump(cfg, sort_keys=False))
    assert [w["model"] for r, w in jobs if r == "base_model"] == ["llama"]
    assert {m for m, _, _, _ in finetunes_of(jobs)} == {"llama"}
    assert {m for m, _, _, _ in finetunes_of(jobs, "evaluate")} == {"llama"}


def test_a_tables_option_reruns_the_tables_only(recorded):
    cfg = load(CONFIGS["smoke"])
    cfg["tables"]["n_resamples"] = 300
    assert rules_of(plan_after(recorded, dump(cfg, sort_keys=True))) == {"tables": 1, "all": 1}


# ------------------------------------------------------------------------------------- interrupted work


def test_after_a_killed_run_unlock_is_the_one_command_recovery(tmp_path):
    """kill -9 leaves Snakemake's lock: the next run stops with LockException (a dry run only warns);
    `snakemake --unlock` removes it, and the killed job is planned again (its outputs are incomplete)."""
    directory = copy_workflow(tmp_path / "killed")
    command = [SNAKEMAKE, "data_mathsyn", "-c", "1", "--configfile", SMOKE]  # targets before --configfile
    process = subprocess.Popen(command, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    locks = directory / ".snakemake" / "locks"
    try:
        for _ in range(1200):  # until Snakemake has locked the folder (a bound, not a timing assertion)
            if process.poll() is not None or (locks.is_dir() and any(locks.iterdir())):
                break
            time.sleep(0.1)
        assert process.poll() is None, "snakemake ended before it could be killed"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the whole run: Snakemake and its job
        process.wait()
    assert any(locks.iterdir())
    blocked = snakemake(directory, "data_mathsyn", "-c", "1", "--configfile", SMOKE)
    assert blocked.returncode != 0 and "LockException" in blocked.stdout, blocked.stdout[-3000:]
    unlocked = snakemake(directory, "--unlock", "--configfile", SMOKE)
    assert unlocked.returncode == 0, unlocked.stdout[-3000:]
    again = snakemake(directory, "data_mathsyn", "-n", "--configfile", SMOKE)
    assert again.returncode == 0 and "LockException" not in again.stdout
    assert rules_of(planned_jobs(again.stdout)) == {"data_mathsyn": 1}
