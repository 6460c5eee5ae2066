"""profiles/slurm, proven against a real single-node SLURM (tests/slurm_cluster.py).

Every test submits real ``sbatch`` jobs through Snakemake's SLURM executor plugin with the
repository's ``profiles/slurm/profile.yaml`` *unchanged*: the test cluster's partitions are named
after the partitions the profile names (``cpu``, ``gpu``), all holding the one node. Only the
options a cluster without accounting (no slurmdbd) needs are added on the command line
(:data:`TEST_ONLY_OPTIONS`); sizes (threads, memory, runtime, GPUs) come from the config / rules, as
in a real run.

* the workflow's smoke DAG for one SFT and one MFT fine-tune + evaluation runs as SLURM jobs and
  produces the same datasets, tokenizer, models and evaluations as a local run;
* a throw-away workflow (rules named like the real GPU rules) checks ``gpu`` -> ``--gpus`` on a
  fake-GPU node, the profile's retry, and that failed or killed jobs never leave output that looks
  complete.

The tests skip when the slurm/munge binaries are missing or the user is not root; ``.ci/run``
installs the binaries (``.ci/install_slurm.sh``), so in CI they run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from slurm_cluster import SlurmCluster, missing_requirements, slurm_cluster

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

REPO = Path(__file__).resolve().parents[1]
PROFILE_DIR = REPO / "profiles" / "slurm"
WORKFLOW_ITEMS = ("Snakefile", "rules", "scripts", "config", "envs", "profiles", "report")

#: Plugin options for a cluster without slurmdbd; a production cluster uses the profile's defaults.
TEST_ONLY_OPTIONS = (
    "--slurm-status-command", "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks", "2",
    "--slurm-keep-successful-logs",
)

#: Smoke-DAG targets: one SFT and one MFT fine-tune of the tiny Llama on GSM, each evaluated (one
#: evaluate job per fine-tune: its directory, with every benchmark and decoding smoke.yaml asks of it).
SMOKE_TARGETS = (
    "work/evals/llama/gsm/sft/seed1",
    "work/evals/llama/gsm/mft/seed1",
)
#: JSON keys whose values are measurements of time, not results.
TIMING_KEY = re.compile(r"time|_per_s$|per_second|runtime")

SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.")


# ---------------------------------------------------------------------------------------- helpers
def profile_partitions() -> tuple[str, dict[str, str]]:
    """(default partition, {rule: partition}) as profiles/slurm/profile.yaml assigns them."""
    profile = yaml.safe_load((PROFILE_DIR / "profile.yaml").read_text())
    default = profile["default-resources"]["slurm_partition"]
    per_rule = {rule: res["slurm_partition"] for rule, res in (profile.get("set-resources") or {}).items()
                if "slurm_partition" in res}
    return default, per_rule


def expected_partition(rule: str) -> str:
    default, per_rule = profile_partitions()
    return per_rule.get(rule, default)


def base_env(cluster: SlurmCluster | None = None) -> dict[str, str]:
    """Environment for Snakemake: this interpreter's bin dir on PATH (snakemake, cotmask), offline hub."""
    env = cluster.env() if cluster is not None else dict(os.environ)
    parts = env.get("PATH", "").split(os.pathsep)
    insert_at = 1 if cluster is not None else 0  # keep the cluster's client wrappers first
    parts.insert(insert_at, str(Path(sys.executable).parent))
    env["PATH"] = os.pathsep.join(parts)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


def snakemake_cmd(workdir: Path, *args: str, snakefile: Path | None = None, slurm: bool = True) -> list[str]:
    """``python -m snakemake`` in ``workdir``; with ``slurm``, through profiles/slurm + test-only options."""
    cmd = [sys.executable, "-m", "snakemake", "--directory", str(workdir)]
    if snakefile is not None:
        cmd += ["--snakefile", str(snakefile)]
    if slurm:
        cmd += ["--profile", str(PROFILE_DIR), *TEST_ONLY_OPTIONS]
    return cmd + list(args)


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def submissions(output: str) -> list[tuple[str, int]]:
    """(rule, SLURM job id) of every job Snakemake submitted, in order (the log path names the rule)."""
    found = []
    for _, slurm_id, log in SUBMITTED.findall(output):
        rule = re.search(r"/rule_([^/]+)/", log)
        assert rule, f"cannot tell the rule from the SLURM log path {log}"
        found.append((rule.group(1), int(slurm_id)))
    return found


def jobs_of(output: str, rule: str) -> list[int]:
    return [job for name, job in submissions(output) if name == rule]


def executed_rules(output: str) -> Counter:
    """Rules of the jobs a (local) Snakemake run executed, from its 'rule X:' / 'localrule X:' lines."""
    return Counter(re.findall(r"^(?:local)?rule (\w+):$", output, flags=re.M)) - Counter({"all": 10**6})


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for item in WORKFLOW_ITEMS:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, dest / item, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, dest / item)
    return dest


def without_timings(value):
    """A JSON value with every timing entry removed (recursively)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not TIMING_KEY.search(k)}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def result_files(root: Path) -> set[Path]:
    """Files of a run's work/ tree that are results (not checkpoints, pickles or Snakemake markers)."""
    return {
        p.relative_to(root) for p in (root / "work").rglob("*")
        if p.is_file() and "checkpoints" not in p.parts and p.suffix != ".bin" and p.name != ".snakemake_timestamp"
    }


def assert_same_results(local: Path, cluster_run: Path) -> dict[str, int]:
    """Datasets, tokenizers and evaluations byte for byte, weights exactly, metrics without timings."""
    from safetensors.torch import load_file

    files = result_files(local)
    assert files == result_files(cluster_run), files ^ result_files(cluster_run)
    kinds: Counter = Counter()
    for rel in sorted(files):
        a, b = local / rel, cluster_run / rel
        if rel.suffix == ".safetensors":
            wa, wb = load_file(a), load_file(b)
            assert wa.keys() == wb.keys(), rel
            for name in wa:
                assert wa[name].equal(wb[name]), f"{rel}: tensor {name} differs"
            kinds["weights"] += 1
        elif rel.suffix == ".json":
            assert without_timings(json.loads(a.read_text())) == without_timings(json.loads(b.read_text())), rel
            kinds["json"] += 1
        else:
            assert a.read_bytes() == b.read_bytes(), f"{rel} differs"
            kinds["bytes"] += 1
    return dict(kinds)


@pytest.fixture(scope="module")
def cluster():
    problems = missing_requirements()
    if problems:
        pytest.skip("single-node SLURM unavailable: " + "; ".join(problems))
    default, per_rule = profile_partitions()
    # 4 CPUs on a 2-core machine (slurm.conf config_overrides): independent jobs start together.
    with slurm_cluster(cpus=max(4, os.cpu_count() or 1), partitions=(default, *per_rule.values())) as running:
        yield running


# ------------------------------------------------------------------------------------ smoke DAG
def test_smoke_dag_runs_as_slurm_jobs_with_the_same_results_as_a_local_run(cluster: SlurmCluster, tmp_path):
    local_dir = copy_workflow(tmp_path / "local")
    slurm_dir = copy_workflow(tmp_path / "slurm")
    config = ("--configfile", "config/smoke.yaml")  # after the targets: --configfile takes several values
    # The local reference run overlaps with the SLURM run (which mostly waits on status polls).
    local = subprocess.Popen(
        snakemake_cmd(local_dir, *SMOKE_TARGETS, "--cores", "2", *config, slurm=False),
        env=base_env(), cwd=local_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    started = time.monotonic()
    on_cluster = run(snakemake_cmd(slurm_dir, *SMOKE_TARGETS, *config), base_env(cluster), slurm_dir)
    slurm_seconds = time.monotonic() - started
    local_out = local.communicate(timeout=600)[0]
    assert local.returncode == 0, local_out[-5000:]
    assert on_cluster.returncode == 0, on_cluster.stdout[-8000:]

    # Every job of the DAG was a SLURM job (none ran on the submit host), in the profile's partition,
    # and finished with exit code 0.
    submitted = submissions(on_cluster.stdout)
    assert Counter(rule for rule, _ in submitted) == executed_rules(local_out), on_cluster.stdout[-5000:]
    assert {"finetune", "evaluate"} <= {rule for rule, _ in submitted}
    for rule, job_id in submitted:
        info = cluster.job_info(job_id)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (rule, info)
        assert info["Partition"] == expected_partition(rule), (rule, info)
        assert f"rule_{rule}" in info["Comment"], (rule, info)
    assert not re.search(r"^localrule (?!all:)", on_cluster.stdout, flags=re.M)

    kinds = assert_same_results(local_dir, slurm_dir)
    assert kinds.get("weights", 0) >= 3, kinds  # base model + SFT + MFT fine-tunes
    print(f"SLURM smoke run: {len(submitted)} jobs (ids {[j for _, j in submitted]}) in {slurm_seconds:.0f} s; "
          f"compared {kinds}")


# ----------------------------------------------------------------------- throw-away workflow
# GPU rules named like the real ones, so that the profile's set-resources apply to them exactly as to
# rules/finetune.smk and rules/evaluate.smk; sizes declared in the rules, as the real rules take them
# from the config's `resources:`.
TOY_SNAKEFILE = textwrap.dedent(
    r'''
    localrules: all

    rule all:
        input: "out/finetune.txt", "out/evaluate.txt", "out/flaky.txt"

    rule finetune:
        output: "out/finetune.txt"
        resources: gpu=1, mem_mb=200, runtime=5
        shell: 'echo "job=$SLURM_JOB_ID gpus=${{SLURM_GPUS_ON_NODE:-none}}" > {output}'

    rule evaluate:
        output: "out/evaluate.txt"
        resources: gpu=1, mem_mb=200, runtime=5
        shell: 'echo "job=$SLURM_JOB_ID gpus=${{SLURM_GPUS_ON_NODE:-none}}" > {output}'

    # Writes its output, then fails on the first attempt: the retry must start from a clean slate.
    rule flaky:
        output: "out/flaky.txt"
        resources: mem_mb=200, runtime=5, attempt_no=lambda wildcards, attempt: attempt
        shell: 'echo "job=$SLURM_JOB_ID attempt={resources.attempt_no} gpus=${{SLURM_GPUS_ON_NODE:-none}}" > {output}; test {resources.attempt_no} -ge 2'

    # Always fails after writing a partial output.
    rule broken:
        output: "out/broken.txt"
        resources: mem_mb=200, runtime=5
        shell: 'echo partial > {output}; exit 3'

    # Writes half its output, then waits for a release file (the test kills the run meanwhile).
    rule slow:
        output: "out/slow.txt"
        resources: mem_mb=200, runtime=5
        shell: 'echo partial > {output}; while [ ! -e release ]; do sleep 0.2; done; echo done >> {output}'
    '''
)


@pytest.fixture()
def toy(tmp_path: Path) -> tuple[Path, Path]:
    """(work directory, Snakefile) of the throw-away workflow."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(TOY_SNAKEFILE)
    return workdir, snakefile


def job_id_in(path: Path) -> int:
    match = re.search(r"job=(\d+)", path.read_text())
    assert match, f"{path} does not hold a SLURM job id: {path.read_text()!r}"
    return int(match.group(1))


def test_profile_names_existing_rules_and_keeps_sizes_in_the_config():
    profile = yaml.safe_load((PROFILE_DIR / "profile.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1 and profile["rerun-incomplete"] is True
    defined = set()
    for smk in (REPO / "rules").glob("*.smk"):
        defined |= set(re.findall(r"^rule (\w+):", smk.read_text(), flags=re.M))
    assert set(profile["set-resources"]) <= defined, set(profile["set-resources"]) - defined
    # The GPU counts come from the config's resources (8 per fine-tune at paper scale); the profile
    # must not pin them, or a CPU-scale run would ask for GPUs.
    for rule, resources in profile["set-resources"].items():
        assert not {"gpu", "gres", "mem_mb", "runtime"} & set(resources), (rule, resources)
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["resources"]
    assert paper["finetune"]["gpu"] == 8 and paper["evaluate"]["gpu"] == 1


def test_jobs_run_on_slurm_with_gpus_retries_and_clean_failures(cluster: SlurmCluster, toy):
    workdir, snakefile = toy
    env = base_env(cluster)
    result = run(snakemake_cmd(workdir, "all", "out/broken.txt", snakefile=snakefile), env, workdir)
    log = result.stdout
    # `broken` fails on both attempts, so the run fails; keep-going (profile) lets everything else finish.
    assert result.returncode != 0, log

    # Every job ran as its own SLURM job, in the partition the profile names for its rule, and completed.
    ids = {name: job_id_in(workdir / "out" / f"{name}.txt") for name in ("finetune", "evaluate", "flaky")}
    assert len(set(ids.values())) == 3, ids
    for name, job_id in ids.items():
        info = cluster.job_info(job_id)
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (name, info)
        assert info["Partition"] == expected_partition(name), (name, info)
        assert f"rule_{name}" in info["Comment"], (name, info)
        assert jobs_of(log, name)[-1] == job_id, log
    assert expected_partition("finetune") != expected_partition("flaky")  # the per-rule mapping is exercised

    # `gpu=1` became `--gpus=1`: SLURM allocated one (fake) GPU, visible inside the job step that ran
    # the rule; a job without a GPU request got none.
    for name in ("finetune", "evaluate"):
        info = cluster.job_info(ids[name])
        assert info.get("TresPerJob") == "gres:gpu:1" and info.get("JOB_GRES") == "gpu:1", info
        assert "gpus=1" in (workdir / "out" / f"{name}.txt").read_text()
    assert cluster.job_info(ids["flaky"]).get("JOB_GRES", "(null)") == "(null)"
    assert "gpus=none" in (workdir / "out" / "flaky.txt").read_text()

    # Retry (profile: retries: 1): attempt 1 failed as a SLURM job, attempt 2 succeeded; the output
    # attempt 1 had written was removed, the file holds attempt 2's content only.
    flaky = jobs_of(log, "flaky")
    assert len(flaky) == 2, log
    assert cluster.job_info(flaky[0])["JobState"] == "FAILED"
    assert (workdir / "out" / "flaky.txt").read_text().split()[:2] == [f"job={flaky[1]}", "attempt=2"]

    # A job that fails on every attempt leaves no output behind, although it wrote one ...
    broken = jobs_of(log, "broken")
    assert len(broken) == 2, log
    assert all(cluster.job_info(j)["JobState"] == "FAILED" for j in broken)
    assert not (workdir / "out" / "broken.txt").exists()
    # ... so Snakemake still plans to make it, while everything else is up to date.
    dry = run(snakemake_cmd(workdir, "-n", "all", "out/broken.txt", snakefile=snakefile, slurm=False), env, workdir)
    assert dry.returncode == 0, dry.stdout
    assert set(re.findall(r"^rule (\w+):", dry.stdout, flags=re.M)) == {"broken"}, dry.stdout


def test_killed_run_leaves_incomplete_output_that_is_rerun(cluster: SlurmCluster, toy):
    workdir, snakefile = toy
    env = base_env(cluster)
    output = workdir / "out" / "slow.txt"
    cmd = snakemake_cmd(workdir, "out/slow.txt", snakefile=snakefile)
    driver = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not output.exists() and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.2)
        assert output.exists(), "the SLURM job never started writing its output"
        running = cluster.run("squeue", "-h", "-o", "%i").stdout.split()
        assert len(running) == 1, running
    finally:
        # The submit host dies (SIGKILL: no clean-up, the lock stays) ...
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    # ... then the job's node: SIGKILL to every process of the job, as a crash or the OOM killer
    # (scancel sends SIGTERM first, on which Snakemake in the job deletes the partial output itself).
    assert cluster.kill_job_processes(running[0])
    cluster.wait_for_jobs(60)
    assert output.read_text() == "partial\n"  # a partial file is on disk ...

    # ... but Snakemake knows it is incomplete: without --rerun-incomplete it refuses to go on,
    plain = run(snakemake_cmd(workdir, "-n", "out/slow.txt", snakefile=snakefile, slurm=False), env, workdir)
    assert plain.returncode != 0
    assert "IncompleteFilesException" in plain.stdout and "out/slow.txt" in plain.stdout, plain.stdout

    # and after `--unlock` (the killed run left its lock, as after any crash of the submit host)
    # the profile (rerun-incomplete: true) submits it again, which now completes.
    unlock = run(snakemake_cmd(workdir, "--unlock", snakefile=snakefile, slurm=False), env, workdir)
    assert unlock.returncode == 0, unlock.stdout
    (workdir / "release").touch()
    again = run(cmd, env, workdir)
    assert again.returncode == 0, again.stdout
    assert output.read_text() == "partial\ndone\n"
    (rerun,) = jobs_of(again.stdout, "slow")
    assert cluster.job_info(rerun)["JobState"] == "COMPLETED"
    assert str(rerun) != running[0]
