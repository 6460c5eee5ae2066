"""A real, throw-away, single-node SLURM cluster for tests.

:func:`slurm_cluster` starts Debian's ``munged``, ``slurmctld`` and ``slurmd`` (installed by
``.ci/install_slurm.sh``) with their own configuration, key, sockets, state, spool, logs and pid files
in one temporary directory, on free non-default ports, so nothing on the host is touched and two
clusters on one host do not collide. It yields a :class:`SlurmCluster` whose :meth:`SlurmCluster.env`
is the environment in which client commands (``sbatch``, ``squeue``, ``srun``, ...) and Snakemake's
SLURM executor talk to this cluster. Every daemon is stopped by its pid when the context exits,
also on failure, and by an ``atexit`` hook if the interpreter exits first.

Why the client commands are wrapped: Snakemake's job-step plugin removes every ``SLURM_*`` variable
(``SLURM_CONF`` included) before it calls ``srun`` inside a job, so ``SLURM_CONF`` alone would send
that ``srun`` to ``/etc/slurm/slurm.conf``. Instead, :attr:`SlurmCluster.bin_dir` holds one small
wrapper per client command that sets ``SLURM_CONF`` and execs the real binary; the cluster's
environment puts that directory first on ``PATH``, and sbatch exports ``PATH`` to the job.

Facts this relies on (Debian 12, Slurm 22.05.8, munge 0.5.15): there is no slurmdbd, so there is no
accounting (``sacct`` fails) and job status must come from ``squeue``, which keeps finished jobs for
``MinJobAge`` seconds; fake GPUs are declared with ``gres.conf`` ``File=`` lines pointing at empty
regular files (a count-only ``gres.conf`` leaves the node INVALID).

Usage::

    with slurm_cluster() as cluster:
        subprocess.run(["sbatch", "--wrap", "hostname"], env=cluster.env(), check=True)
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Daemons and client commands the harness needs (Debian package in brackets).
REQUIRED_BINARIES = {
    "munged": "munge",
    "mungekey": "munge",
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "slurmstepd": "slurmd",
    "sbatch": "slurm-client",
    "srun": "slurm-client",
    "squeue": "slurm-client",
    "sinfo": "slurm-client",
    "scontrol": "slurm-client",
    "scancel": "slurm-client",
}

#: Client commands wrapped so that they read this cluster's slurm.conf.
CLIENT_COMMANDS = ("sbatch", "srun", "squeue", "sinfo", "scontrol", "scancel", "sacct", "salloc")

PARTITIONS = ("debug",)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
MIN_JOB_AGE_S = 300  # squeue keeps finished jobs this long; the plugin needs >= 120 for squeue status


class SlurmClusterError(RuntimeError):
    """The cluster could not be started; the message carries the daemons' log tails."""


def find_binary(name: str) -> str | None:
    """Absolute path of a SLURM/munge binary, looking in sbin directories that are not always on PATH."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
    return shutil.which(name, path=search)


def missing_requirements() -> list[str]:
    """Human-readable reasons why a cluster cannot be started here (empty list: it can)."""
    reasons = [
        f"{name} (Debian package {package})"
        for name, package in REQUIRED_BINARIES.items()
        if find_binary(name) is None
    ]
    if reasons:
        reasons = ["missing binaries: " + ", ".join(reasons) + "; run .ci/install_slurm.sh"]
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        reasons.append("slurmd must run as root to launch jobs")
    return reasons


def free_port() -> int:
    """A TCP port that is free on this host right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def total_memory_mb() -> int:
    """Physical memory of this machine in MiB (from /proc/meminfo)."""
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise SlurmClusterError("MemTotal not found in /proc/meminfo")


@dataclass
class _Daemon:
    name: str
    process: subprocess.Popen
    log: Path


@dataclass
class SlurmCluster:
    """Handle on a running single-node cluster."""

    root: Path
    conf: Path
    hostname: str
    partitions: tuple[str, ...]
    cpus: int
    memory_mb: int
    gpus: int
    ctld_port: int
    slurmd_port: int
    bin_dir: Path
    daemons: list[_Daemon] = field(default_factory=list)

    @property
    def partition(self) -> str:
        """The default partition (the first one)."""
        return self.partitions[0]

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for client commands and Snakemake: wrappers first on PATH, SLURM_CONF set.

        ``SLURM_*``/``SBATCH_*``/``SRUN_*`` variables of an enclosing allocation are dropped so that
        a test run inside a SLURM job does not leak that job's settings into this cluster.
        """
        env = dict(os.environ if base is None else base)
        for key in list(env):
            if key.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_")):
                del env[key]
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", "")])
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a client command (e.g. ``cluster.run("squeue", "-h")``) against this cluster."""
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            env=self.env(),
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def job_info(self, job_id: int | str) -> dict[str, str]:
        """``scontrol -d show job`` as a dict (``JobState``, ``ExitCode``, ``JOB_GRES``, ``Partition``, ...).

        Finished jobs stay visible for ``MinJobAge`` seconds (300 here), long enough for a test.
        """
        out = self.run("scontrol", "-d", "show", "job", "--oneliner", str(job_id)).stdout
        info: dict[str, str] = {}
        for token in out.split():
            key, sep, value = token.partition("=")
            if sep and key not in info:
                info[key] = value
        return info

    def kill_job_processes(self, job_id: int | str) -> list[int]:
        """SIGKILL every process of a running job, as a node crash or the OOM killer would.

        Unlike ``scancel`` (which sends SIGTERM first, so Snakemake inside the job can still delete
        its partial outputs), nothing in the job gets to clean up: all processes are frozen with
        SIGSTOP first (so none can react to another one's death), then killed. Returns the pids.
        """
        frozen: list[int] = []
        for _ in range(3):  # a process may have forked between listing and stopping
            new = [pid for pid in self._job_pids(job_id) if pid not in frozen]
            if not new:
                break
            for pid in new:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            frozen += new
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return frozen

    def _job_pids(self, job_id: int | str) -> list[int]:
        """Pids of a job's processes (``scontrol listpids``; proctrack/linuxproc tracks descendants)."""
        result = self.run("scontrol", "listpids", str(job_id), check=False)
        return [int(line.split()[0]) for line in result.stdout.splitlines()[1:] if line.split()]

    def wait_for_jobs(self, timeout: float = 120) -> None:
        """Block until no job of this cluster is pending or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.run("squeue", "-h", "-o", "%i").stdout.strip():
                return
            time.sleep(0.5)
        raise SlurmClusterError(f"jobs still queued after {timeout} s")

    def log_tails(self, lines: int = 30) -> str:
        """The last lines of every daemon log (for error messages)."""
        parts = []
        for log in sorted((self.root / "log").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name} ---\n" + "\n".join(text))
        return "\n".join(parts)


def _write_wrappers(bin_dir: Path, conf: Path) -> None:
    """One tiny shell script per client command that pins SLURM_CONF to this cluster."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in CLIENT_COMMANDS:
        real = find_binary(name)
        if real is None:
            continue
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{conf}"\nexport SLURM_CONF\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)


def _slurm_conf(cluster: SlurmCluster, munge_socket: Path) -> str:
    """slurm.conf for one node that is controller and compute node at once (no cgroups, no slurmdbd)."""
    root = cluster.root
    lines = [
        "# Written by tests/slurm_cluster.py for a throw-away single-node test cluster.",
        "ClusterName=cotmasktest",
        f"SlurmctldHost={cluster.hostname}(127.0.0.1)",  # no name resolution needed
        f"SlurmctldPort={cluster.ctld_port}",
        f"SlurmdPort={cluster.slurmd_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={munge_socket}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
        f"PlugStackConfig={root / 'plugstack.conf'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "SchedulerType=sched/backfill",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        f"MinJobAge={MIN_JOB_AGE_S}",
        "ReturnToService=2",
        "KillWait=5",
        "InactiveLimit=0",
        "MailProg=/bin/true",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        "GresTypes=gpu",
        # Trust the node line below even where it declares more CPUs than the machine has.
        "SlurmdParameters=config_overrides",
        (
            f"NodeName={cluster.hostname} NodeAddr=127.0.0.1 CPUs={cluster.cpus} "
            f"RealMemory={cluster.memory_mb} Gres=gpu:{cluster.gpus} State=UNKNOWN"
        ),
    ]
    # Every partition holds the one node; the first is the default.
    for index, name in enumerate(cluster.partitions):
        default = "YES" if index == 0 else "NO"
        lines.append(f"PartitionName={name} Nodes=ALL Default={default} MaxTime=INFINITE State=UP")
    return "\n".join(lines) + "\n"


def _gres_conf(cluster: SlurmCluster) -> str:
    """gres.conf with fake GPU "devices": empty regular files, enough for slurmd to count them."""
    devices = cluster.root / "dev"
    devices.mkdir(exist_ok=True)
    for index in range(cluster.gpus):
        (devices / f"nvidia{index}").touch()
    file_spec = f"{devices}/nvidia[0-{cluster.gpus - 1}]" if cluster.gpus > 1 else f"{devices}/nvidia0"
    return f"NodeName={cluster.hostname} Name=gpu File={file_spec}\n"


def _start(name: str, argv: list[str], log: Path, env: dict[str, str]) -> _Daemon:
    """Start one daemon in the foreground as a child in its own session; its output goes to ``log``."""
    handle = open(log, "ab")  # noqa: SIM115 - the child keeps the descriptor
    try:
        process = subprocess.Popen(
            argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )
    finally:
        handle.close()
    return _Daemon(name=name, process=process, log=log)


def _stop(daemon: _Daemon) -> None:
    """SIGTERM the daemon by pid, wait, then SIGKILL if it did not exit."""
    process = daemon.process
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def _wait_until(predicate, timeout: float, what: str, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for daemon in cluster.daemons:
            if daemon.process.poll() is not None:
                raise SlurmClusterError(
                    f"{daemon.name} exited with {daemon.process.returncode} while waiting for {what}\n"
                    + cluster.log_tails()
                )
        if predicate():
            return
        time.sleep(0.25)
    raise SlurmClusterError(f"timed out after {timeout} s waiting for {what}\n" + cluster.log_tails())


def _node_states(cluster: SlurmCluster) -> set[str]:
    """States of the node, one per partition it is in (e.g. {"idle"})."""
    result = cluster.run("sinfo", "-h", "-N", "-o", "%T", check=False, timeout=10)
    return set(result.stdout.lower().split()) if result.returncode == 0 else set()


def stop_cluster(cluster: SlurmCluster) -> None:
    """Cancel remaining jobs, then stop slurmd, slurmctld and munged (reverse start order) by pid."""
    if any(d.name == "slurmctld" and d.process.poll() is None for d in cluster.daemons):
        with contextlib.suppress(Exception):
            jobs = cluster.run("squeue", "-h", "-o", "%i", check=False, timeout=10).stdout.split()
            if jobs:
                cluster.run("scancel", "--full", *jobs, check=False, timeout=10)
    for daemon in reversed(cluster.daemons):
        _stop(daemon)


@contextlib.contextmanager
def slurm_cluster(
    root: Path | str | None = None,
    *,
    cpus: int | None = None,
    memory_mb: int | None = None,
    gpus: int = 2,
    partitions: tuple[str, ...] | list[str] = PARTITIONS,
    keep: bool = False,
) -> Iterator[SlurmCluster]:
    """Start a single-node SLURM cluster under ``root`` (a new temporary directory if None).

    ``cpus`` defaults to this machine's CPU count (more is allowed: jobs then share cores),
    ``memory_mb`` to 90% of its memory, ``gpus`` fake GPUs back ``--gpus``/``--gres`` requests, and
    each name in ``partitions`` becomes a partition holding the node (the first is the default). Raises
    :class:`SlurmClusterError` (with the daemon logs) if the node does not become idle within
    60 s. The temporary directory is removed at the end unless ``keep`` or ``root`` was given.
    """
    problems = missing_requirements()
    if problems:
        raise SlurmClusterError("; ".join(problems))
    owns_root = root is None
    # A short path: the munge socket path must stay below the 108-byte limit of AF_UNIX.
    root_path = Path(tempfile.mkdtemp(prefix="cotmask-slurm-")) if root is None else Path(root)
    root_path.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "run", "log", "munge"):
        (root_path / sub).mkdir(exist_ok=True)
    (root_path / "munge").chmod(0o700)
    machine_mb = total_memory_mb()
    cluster = SlurmCluster(
        root=root_path,
        conf=root_path / "slurm.conf",
        hostname=socket.gethostname().split(".")[0],
        partitions=tuple(dict.fromkeys(partitions)),
        cpus=cpus or os.cpu_count() or 1,
        memory_mb=min(memory_mb or machine_mb * 9 // 10, machine_mb),
        gpus=gpus,
        ctld_port=free_port(),
        slurmd_port=free_port(),
        bin_dir=root_path / "bin",
    )
    while cluster.slurmd_port == cluster.ctld_port:
        cluster.slurmd_port = free_port()
    munge_dir = root_path / "munge"
    munge_socket = munge_dir / "munge.socket"
    key = munge_dir / "munge.key"
    cluster.conf.write_text(_slurm_conf(cluster, munge_socket))
    (root_path / "gres.conf").write_text(_gres_conf(cluster))
    (root_path / "plugstack.conf").write_text("")
    _write_wrappers(cluster.bin_dir, cluster.conf)
    env = cluster.env()
    stopper = functools.partial(stop_cluster, cluster)
    atexit.register(stopper)
    try:
        subprocess.run(
            [find_binary("mungekey"), "--create", "--keyfile", str(key)],
            check=True, capture_output=True, env=env,
        )
        key.chmod(0o400)
        cluster.daemons.append(_start("munged", [
            find_binary("munged"), "--foreground", "--force",
            f"--socket={munge_socket}", f"--key-file={key}",
            f"--pid-file={munge_dir / 'munged.pid'}", f"--seed-file={munge_dir / 'munged.seed'}",
            f"--log-file={root_path / 'log' / 'munged.log'}",
        ], root_path / "log" / "munged.out", env))
        _wait_until(munge_socket.exists, START_TIMEOUT_S, "the munge socket", cluster)
        cluster.daemons.append(_start("slurmctld", [
            find_binary("slurmctld"), "-D", "-c", "-f", str(cluster.conf),
        ], root_path / "log" / "slurmctld.out", env))
        cluster.daemons.append(_start("slurmd", [
            find_binary("slurmd"), "-D", "-f", str(cluster.conf), "-N", cluster.hostname,
            "-d", find_binary("slurmstepd"),
        ], root_path / "log" / "slurmd.out", env))
        _wait_until(lambda: _node_states(cluster) == {"idle"}, START_TIMEOUT_S, "the node to be idle", cluster)
        yield cluster
    finally:
        stop_cluster(cluster)
        atexit.unregister(stopper)
        if owns_root and not keep:
            shutil.rmtree(root_path, ignore_errors=True)
