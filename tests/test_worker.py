"""The warm worker (cotmask.worker): a job's call runs in a fork of a server that has done the imports.

Every job here is a real separate process (a client script), as a workflow job is: the job's standard
streams, working folder, environment, exit status and signals cross the socket. The clients of one test
module share a folder, named in their environment, hence one server key, so one server (started by a
fixture) serves them; the tests that need a server of their own use another folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cotmask import worker

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux-only")

JOBS = '''
import json, os, sys, time

def describe(out):
    print("child: stdout")
    print("child: stderr", file=sys.stderr)
    with open(out, "w") as handle:
        umask = os.umask(0)
        json.dump({"pid": os.getpid(), "cwd": os.getcwd(), "marker": os.environ.get("MARKER"), "umask": umask},
                  handle)

def faults(out):
    import resource
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        buffer = bytearray(40 << 20)
        del buffer
    with open(out, "w") as handle:
        json.dump({"pid": os.getpid(), "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}, handle)

def touch(megabytes):
    block = b"x" * (int(megabytes) << 20)
    while time.process_time() < 0.5:  # and half a second of CPU
        pass
    return len(block)

def fail():
    print("child: about to fail")
    raise ZeroDivisionError("boom")

def sleep(pid_file):
    Path = __import__("pathlib").Path
    Path(pid_file + ".tmp").write_text(str(os.getpid()))
    os.replace(pid_file + ".tmp", pid_file)
    time.sleep(120)
'''

CLIENT = '''
import json, os, sys
from cotmask.logs import log_to
log_to(sys.argv[1])
from cotmask import worker
os.umask(int(os.environ.get("JOB_UMASK", "22"), 8))
print("client: before")
with open(sys.argv[2], "w") as handle:
    json.dump({"pid": os.getpid()}, handle)
worker.run_job(*json.loads(sys.argv[3]))
print("client: after")
'''

START = '''
import sys
from cotmask import worker
path = worker.socket_path(worker.server_key())
worker.start_server(path, idle_exit_s=float(sys.argv[1]))
sys.exit(0 if worker.wait_for_server(path) else 1)
'''


#: The environment as this module was imported: fixtures that run torch in this process add variables that
#: belong to the server key (TORCHINDUCTOR_CACHE_DIR), and every client of a test must see one key.
BASE_ENV = dict(os.environ)


def _folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "jobs_for_test.py").write_text(textwrap.dedent(JOBS))
    (root / "client.py").write_text(textwrap.dedent(CLIENT))
    (root / "start.py").write_text(textwrap.dedent(START))
    return root


def _env(folder: Path, mode: str = "on", **extra: str) -> dict[str, str]:
    """The clients' environment; ``COTMASK_TEST_SERVER`` (part of the server key, as every ``COTMASK_*``
    variable is) gives the clients of each folder a server of their own."""
    env = {key: value for key, value in BASE_ENV.items() if key != "SLURM_JOB_ID"}
    env.update(COTMASK_WORKER=mode, OMP_NUM_THREADS="1", COTMASK_TEST_SERVER=str(folder), **extra)
    return env


def _client(folder: Path, work: Path, *target_and_args, mode: str = "on", wait: bool = True, **env_extra):
    """Run the client script in ``work`` (its cwd); returns (process, log path, client-pid file)."""
    work.mkdir(parents=True, exist_ok=True)
    log, client_pid = work / "job.log", work / "client.json"
    process = subprocess.Popen(
        [sys.executable, str(folder / "client.py"), str(log), str(client_pid), json.dumps(list(target_and_args))],
        cwd=work, env=_env(folder, mode, **env_extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if wait:
        process.communicate(timeout=300)
    return process, log, client_pid


def _server_path(folder: Path) -> Path:
    """The socket the clients in ``folder`` compute (their key is made in a process like theirs)."""
    code = "from cotmask import worker; print(worker.socket_path(worker.server_key()))"
    script = folder / "key.py"
    script.write_text(code)
    return Path(subprocess.run([sys.executable, str(script)], env=_env(folder), capture_output=True, text=True,
                               check=True).stdout.strip())


def _stop_server(path: Path) -> None:
    lock = path.with_suffix(".lock")
    if lock.exists() and lock.read_text().strip():
        try:
            os.kill(int(lock.read_text().split()[0]), signal.SIGTERM)
        except ProcessLookupError:
            pass


def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _wait_for_file(path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A client folder and its running server (stopped at the end)."""
    folder = _folder(tmp_path_factory.mktemp("worker") / "jobs")
    started = subprocess.run([sys.executable, str(folder / "start.py"), "300"], env=_env(folder), timeout=300)
    assert started.returncode == 0
    path = _server_path(folder)
    assert path.exists()
    yield folder
    _stop_server(path)


# -------------------------------------------------------------------------------------------------- settings
def test_the_mode_comes_from_the_environment_and_a_bad_value_names_the_variable():
    assert worker.worker_mode({}) == "auto"
    assert worker.worker_mode({"COTMASK_WORKER": " OFF "}) == "off"
    with pytest.raises(ValueError, match=r"COTMASK_WORKER='sometimes': expected one of auto, on, off"):
        worker.worker_mode({"COTMASK_WORKER": "sometimes"})
    assert worker.worker_wanted({"COTMASK_WORKER": "auto"}) is sys.platform.startswith("linux")
    assert worker.worker_wanted({"COTMASK_WORKER": "auto", "SLURM_JOB_ID": "17"}) is False
    assert worker.worker_wanted({"COTMASK_WORKER": "on", "SLURM_JOB_ID": "17"}) is True
    assert worker.worker_wanted({"COTMASK_WORKER": "off"}) is False


def test_arguments_are_made_plain_so_a_child_needs_no_snakemake():
    class NamedPath(str):
        pass

    class NamedList(list):
        pass

    made = worker.plain({"paths": NamedList([NamedPath("a"), Path("b")]), NamedPath("k"): (NamedPath("c"), 1)})
    assert made == {"paths": ["a", "b"], "k": ("c", 1)}
    assert type(made["paths"]) is list and type(made["paths"][0]) is str and type(next(iter(made))) is str


def test_the_key_follows_the_sources_and_the_environment_the_imports_read(tmp_path, monkeypatch):
    base = {"HF_HOME": "/a", "PATH": "/bin"}
    key = worker.server_key(base)
    assert worker.server_key({**base, "HF_HOME": "/b"}) != key
    assert worker.server_key({**base, "OMP_NUM_THREADS": "1"}) != key
    assert worker.server_key({**base, "MALLOC_ARENA_MAX": "2"}) != key  # glibc reads these at process start
    assert worker.server_key({**base, "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}) != key
    assert worker.server_key({**base, "COTMASK_WORKER": "on", "COTMASK_MALLOC": "off", "PATH": "/usr/bin",
                              "SNAKEMAKE_X": "1"}) == key
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "module.py").write_text("x = 1\n")
    monkeypatch.setattr(worker, "__file__", str(package / "worker.py"))
    before = worker.server_key(base)
    (package / "module.py").write_text("x = 22\n")
    assert worker.server_key(base) != before
    with pytest.raises(ValueError, match="package.module:function"):
        worker.resolve("json.dumps")


def test_the_allocator_setting_comes_from_the_environment_and_leaves_glibcs_own_variables_alone():
    with pytest.raises(ValueError, match=r"COTMASK_MALLOC='fast': expected on or off"):
        worker.check_environment({"COTMASK_MALLOC": "fast"})
    with pytest.raises(ValueError, match="COTMASK_WORKER"):
        worker.check_environment({"COTMASK_WORKER": "maybe"})
    worker.check_environment({})
    assert worker.tune_allocator({"COTMASK_MALLOC": "off"}) is False
    assert worker.tune_allocator({"MALLOC_ARENA_MAX_": "2"}) is False


@pytest.mark.parametrize("mode", ["off", "on"])
def test_a_job_reuses_large_freed_buffers_instead_of_faulting_them_in_again(served, tmp_path, mode):
    """20 buffers of 40 MB allocated and freed: with glibc's defaults each is a fresh mapping (~10,000 page
    faults apiece); with the job's allocator settings, in its own process or in the worker, the first one's
    memory is reused."""
    counts = {}
    for malloc in ("off", "on"):
        out = tmp_path / f"{malloc}.json"
        process, log, client_pid = _client(served, tmp_path / malloc, "jobs_for_test:faults", str(out), mode=mode,
                                           COTMASK_MALLOC=malloc)
        assert process.returncode == 0, process.stdout
        seen = json.loads(out.read_text())
        assert (seen["pid"] != json.loads(client_pid.read_text())["pid"]) is (mode == "on")
        counts[malloc] = seen["faults"]
    assert counts["off"] > 15 * 10_240  # ~every buffer's 10,240 pages
    assert counts["on"] < 3 * 10_240  # the first buffer's


# --------------------------------------------------------------------------------------------- jobs in it
def test_a_job_runs_in_a_child_with_the_jobs_folder_umask_environment_and_log(served, tmp_path):
    process, log, client_pid = _client(served, tmp_path / "run", "jobs_for_test:describe", str(tmp_path / "seen.json"),
                                       MARKER="job-17", JOB_UMASK="027")
    assert process.returncode == 0, process.stdout
    seen, client = json.loads((tmp_path / "seen.json").read_text()), json.loads(client_pid.read_text())
    assert seen["pid"] != client["pid"]
    assert seen["cwd"] == str(tmp_path / "run") and seen["marker"] == "job-17" and seen["umask"] == 0o027
    lines = [line.split(" INFO ")[-1] for line in log.read_text().splitlines()]
    order = [lines.index(text) for text in ("client: before", "child: stdout", "child: stderr", "client: after")]
    assert order == sorted(order), lines
    assert any(line.startswith(f"running jobs_for_test:describe in the warm worker (child {seen['pid']})")
               for line in lines)


def _reported_usage(log: Path) -> tuple[float, float]:
    """(CPU s, peak MB) from the job log's line about its child."""
    import re

    found = re.search(r"the child used ([0-9.]+) s of CPU .* peak resident memory ([0-9]+) MB", log.read_text())
    assert found, log.read_text()
    return float(found.group(1)), float(found.group(2))


def test_the_job_log_gets_the_childs_cpu_time_and_peak_memory(served, tmp_path):
    """A job's benchmark file measures the job process, not the child that did the work: the log says what
    the child used. A job that touches 400 MB and spins 0.5 s of CPU shows both, its peak against a job that
    touches nothing."""
    cpu, peaks = {}, {}
    for target, args in (("jobs_for_test:touch", ["400"]), ("jobs_for_test:describe", [str(tmp_path / "d.json")])):
        process, log, _ = _client(served, tmp_path / target.split(":")[1], target, *args)
        assert process.returncode == 0, process.stdout
        cpu[target], peaks[target] = _reported_usage(log)
    assert cpu["jobs_for_test:touch"] >= 0.5
    assert peaks["jobs_for_test:touch"] - peaks["jobs_for_test:describe"] > 350


def test_a_failing_job_fails_its_process_with_the_traceback_in_its_log(served, tmp_path):
    process, log, _ = _client(served, tmp_path, "jobs_for_test:fail")
    assert process.returncode == 1
    text = log.read_text()
    assert "child: about to fail" in text and "ZeroDivisionError: boom" in text
    assert "WorkerJobFailed: jobs_for_test:fail failed in the warm worker with exit status 1" in text
    assert "client: after" not in text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_job_process_ends_the_child_and_then_the_job(served, tmp_path, signum):
    pid_file = tmp_path / "child.pid"
    process, _, _ = _client(served, tmp_path, "jobs_for_test:sleep", str(pid_file), wait=False)
    _wait_for_file(pid_file)
    child = int(pid_file.read_text())
    process.send_signal(signum)
    process.communicate(timeout=30)
    assert process.returncode == -signum
    assert _gone(child)


def test_a_killed_job_process_takes_its_child_with_it(served, tmp_path):
    pid_file = tmp_path / "child.pid"
    process, _, _ = _client(served, tmp_path, "jobs_for_test:sleep", str(pid_file), wait=False)
    _wait_for_file(pid_file)
    child = int(pid_file.read_text())
    process.kill()
    process.communicate(timeout=30)
    assert _gone(child)


def test_off_runs_the_job_in_its_own_process(served, tmp_path):
    process, _, client_pid = _client(served, tmp_path, "jobs_for_test:describe", str(tmp_path / "seen.json"),
                                     mode="off")
    assert process.returncode == 0, process.stdout
    assert json.loads((tmp_path / "seen.json").read_text())["pid"] == json.loads(client_pid.read_text())["pid"]


def _digest(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.glob("*.safetensors"))}


def test_a_fine_tune_in_the_worker_is_bit_identical_to_one_in_its_own_process(
        served, tmp_path, tiny_model_dir, tiny_records_file):
    outputs = {}
    for mode in ("off", "on"):
        settings = dict(
            base_model=tiny_model_dir, train_file=tiny_records_file, output_dir=str(tmp_path / mode / "model"),
            checkpoint_dir=str(tmp_path / mode / "checkpoints"), prompt_template="short", max_length=96,
            learning_rate=2e-3, epochs=2, per_device_batch_size=8, lr_warmup_ratio=0.1, logging_steps=1, seed=5,
            limit=32, mask_ratio=0.3, noise="random", threads=1,
        )
        process, log, _ = _client(served, tmp_path / mode, "cotmask.train:run_finetune", settings, mode=mode)
        assert process.returncode == 0, log.read_text()[-3000:]
        assert ("in the warm worker" in log.read_text()) is (mode == "on")
        metrics = json.loads((tmp_path / mode / "model" / "train_metrics.json").read_text())
        outputs[mode] = (_digest(tmp_path / mode / "model"), metrics["loss_curve"], metrics["train_loss"])
    assert outputs["on"][0] and outputs["on"] == outputs["off"]


# ------------------------------------------------------------------------------------------ the server's life
def test_without_a_server_a_job_runs_in_its_own_process_and_starts_one(tmp_path):
    folder = _folder(tmp_path / "jobs")
    path = _server_path(folder)
    try:
        first, _, first_pid = _client(folder, tmp_path / "a", "jobs_for_test:describe", str(tmp_path / "a.json"))
        assert first.returncode == 0, first.stdout
        assert json.loads((tmp_path / "a.json").read_text())["pid"] == json.loads(first_pid.read_text())["pid"]
        assert worker.wait_for_server(path, timeout_s=120)
        second, _, second_pid = _client(folder, tmp_path / "b", "jobs_for_test:describe", str(tmp_path / "b.json"))
        assert second.returncode == 0, second.stdout
        assert json.loads((tmp_path / "b.json").read_text())["pid"] != json.loads(second_pid.read_text())["pid"]
    finally:
        _stop_server(path)


def _bare_server(path: Path) -> str:
    """Python code that serves ``path`` with nothing preloaded and a one-second idle exit."""
    return f"from pathlib import Path; from cotmask.worker import serve; serve(Path({str(path)!r}), idle_exit_s=1, preload=())"


def test_a_job_in_its_own_process_holds_the_server_until_it_ends(tmp_path):
    """The first job of a run starts the server and runs in its own process, maybe for longer than the idle
    time (a base model's pre-training): its hold keeps the server up until the job process ends."""
    path = tmp_path / "held.sock"
    server = subprocess.Popen([sys.executable, "-c", _bare_server(path)], env=_env(tmp_path))
    try:
        worker.hold_server(path, timeout_s=60).join(timeout=90)
        assert len(worker._HOLDS) == 1
        time.sleep(4)  # four idle times
        assert server.poll() is None
        worker._HOLDS.pop().close()
        assert server.wait(timeout=30) == 0
        assert not path.exists()
    finally:
        for conn in worker._HOLDS:
            conn.close()
        worker._HOLDS.clear()
        if server.poll() is None:
            server.kill()


def test_an_idle_server_leaves_and_removes_its_socket(tmp_path):
    path = tmp_path / "idle.sock"
    code = _bare_server(path)
    server = subprocess.Popen([sys.executable, "-c", code], env=_env(tmp_path))
    assert worker.wait_for_server(path, timeout_s=60)
    assert server.wait(timeout=30) == 0
    assert not path.exists()
    second = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), timeout=60)
    assert second.returncode == 0 and not path.exists()
