"""A warm worker: run a job's library call in a fork of a process that has already imported torch and
transformers, instead of paying those imports again in every job.

A workflow job is a fresh Python process, and before its first step it spends ~6 s importing torch,
transformers (the Trainer, the Llama and Mistral modelling code) and cotmask's job modules
(``benchmarks/bench_startup.py``; docs/speed.md). The default run has ~110 such jobs. :func:`run_job`
hands the call to a **fork server** instead: one long-lived process per (interpreter, cotmask source,
environment) that imports those modules once and forks a child for every job. The child is a copy of
that process made after the imports and before anything else ran in it: it takes the job's working folder,
environment, standard input, output and error (the job's log: the descriptors are passed over the
socket), calls the function and exits with its status, which the job process then takes as its own. So a
job computes exactly what it computes in a process of its own -- the same code, the same seeds, the same
thread count (every job sets torch's itself), bit for bit (``tests/test_worker.py``) -- and only the imports
are skipped.

When no server is running, the job starts one in the background and runs in its own process; the jobs
after it find the server warm. A server leaves when no job has run for :data:`IDLE_EXIT_S` seconds; a job
that runs in its own process holds the server it started until it ends (:func:`hold_server`), so the server
outlives a long first job such as a base model's pre-training. Its
socket is named after a fingerprint of the interpreter, where torch, transformers and cotmask are found,
every cotmask source file (path, size, mtime) and the environment variables libraries read at import time
(:data:`KEY_ENV_PREFIXES`), so an edited source file or a changed ``HF_HOME`` gets a new server and never a
stale one. The child takes the job's ``sys.path`` for whatever it imports later. When the child ends, the
job's log gets the CPU time and peak resident memory it used (the job's ``benchmark:`` file measures the job
process, which only waits).

``COTMASK_WORKER`` chooses: ``auto`` (the default: on Linux outside a SLURM job, where a job runs on a
node of its own and a server would serve one job), ``on``, or ``off`` (every job in its own process, as
before). The setting changes no result, so it is read from the environment and is not a workflow param
(a param would rerun every job when it changes).

Every job that goes through :func:`run_job`, in the worker or not, first sets glibc's allocator to keep and
reuse large freed buffers (:func:`tune_allocator`): a training step of the embedded models otherwise maps
and unmaps its activation buffers every step, with thousands of page faults; the fine-tuning loop runs
~1.2x faster with the same weights bit for bit (docs/speed.md). ``COTMASK_MALLOC=off``, or any of glibc's own
``MALLOC_*_`` variables, leaves the allocator as it is.

Signals reach the job: SIGINT, SIGTERM and SIGHUP sent to the job process are forwarded to its child; if
the job process dies without a word (SIGKILL), the server kills the child; if the server dies, so do its
children (``PR_SET_PDEATHSIG``) and their job processes fail. Nothing of a job is left behind to finish
unseen.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import logging
import os
import pickle
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ENV = "COTMASK_WORKER"
MODES = ("auto", "on", "off")
#: A server with no job running for this long exits.
IDLE_EXIT_S = 120.0
#: What a server imports before it accepts jobs: the modules behind the workflow's many-job rules.
PRELOAD = (
    "torch",
    "transformers",
    "transformers.models.llama.modeling_llama",
    "transformers.models.mistral.modeling_mistral",
    "cotmask.train",
    "cotmask.evaluate",
    "cotmask.tiny",
    "cotmask.analysis.dependency",
    "cotmask.analysis.case_study",
)
#: Environment variables read at import time by the preloaded libraries (or by ours): part of a server's key.
KEY_ENV_PREFIXES = ("COTMASK_", "HF_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "CUDA_", "OMP_", "MKL_",
                    "KMP_", "TOKENIZERS_", "PYTHON", "LD_", "MALLOC_", "GLIBC_TUNABLES")
#: Signals a job process forwards to its child.
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_HEADER = struct.Struct("!Q")
#: What :func:`_start_child` returns for a hold connection (:func:`hold_server`).
_HOLD = -1
_PR_SET_PDEATHSIG = 1
log = logging.getLogger("cotmask.worker")


#: glibc allocator settings for a job (bytes): no fresh mapping below 256 MB, up to 1 GB of freed heap kept,
#: the heap grown 64 MB at a time. A training step's activation buffers are then reused instead of being
#: mapped and unmapped (with thousands of page faults) every step: docs/speed.md.
MALLOC_SETTINGS = {"M_MMAP_THRESHOLD": (-3, 256 << 20), "M_TRIM_THRESHOLD": (-1, 1 << 30), "M_TOP_PAD": (-2, 64 << 20)}
MALLOC_ENV = "COTMASK_MALLOC"


class WorkerJobFailed(RuntimeError):
    """The job's call failed in the worker's child; its traceback is in the job's log above."""


# ------------------------------------------------------------------------------------------- the job side
def _choice(environ: Mapping[str, str] | None, name: str, choices: tuple[str, ...]) -> str:
    """Environment variable ``name`` as one of ``choices`` (the first when unset or empty); a ValueError
    names the variable."""
    value = (os.environ if environ is None else environ).get(name, "").strip().lower() or choices[0]
    if value not in choices:
        expected = f"one of {', '.join(choices)}" if len(choices) > 2 else " or ".join(choices)
        raise ValueError(f"{name}={value!r}: expected {expected}")
    return value


def worker_mode(environ: Mapping[str, str] | None = None) -> str:
    """``COTMASK_WORKER`` as one of :data:`MODES` (``auto`` when unset); a ValueError names the variable."""
    return _choice(environ, ENV, MODES)


def worker_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a job should go to the warm worker: ``on``; or ``auto`` on Linux outside a SLURM job."""
    environ = os.environ if environ is None else environ
    mode = worker_mode(environ)
    if mode == "auto":
        return sys.platform.startswith("linux") and "SLURM_JOB_ID" not in environ
    return mode == "on"


def run_job(target: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``target`` (``"package.module:function"``) with plain arguments, in the warm worker if wanted.

    Arguments must be picklable without Snakemake (paths as ``str``, lists, dicts: see :func:`plain`). In the
    worker the call's return value is not sent back (None is returned); a failure raises
    :class:`WorkerJobFailed` after the child has written its traceback to this process's standard error, and
    a child killed by a signal ends this process with the same signal. Without a usable server (none yet,
    ``COTMASK_WORKER=off``, output that is not a file descriptor) the call runs here, and, where wanted, a
    server is started in the background for the jobs after this one. Either way the job runs with
    :func:`tune_allocator`'s settings.
    """
    args, kwargs = plain(args), plain(kwargs)
    if worker_wanted():
        path = socket_path(server_key())
        status = _run_in_server(path, target, args, kwargs)
        if status is not None:
            return _take_status(target, status)
        start_server(path)
        hold_server(path)
    tune_allocator()
    return resolve(target)(*args, **kwargs)


def malloc_mode(environ: Mapping[str, str] | None = None) -> str:
    """``COTMASK_MALLOC`` as ``on`` (the default) or ``off``; a ValueError names the variable."""
    return _choice(environ, MALLOC_ENV, ("on", "off"))


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Both variables of this module valid, or a ValueError naming the bad one (the workflow's parse-time check)."""
    worker_mode(environ)
    malloc_mode(environ)


def tune_allocator(environ: Mapping[str, str] | None = None) -> bool:
    """Apply :data:`MALLOC_SETTINGS` with glibc's ``mallopt`` (True when applied).

    Not where ``COTMASK_MALLOC=off``, where the user set any ``MALLOC_*_`` variable of glibc's own (theirs
    stand), or without glibc. The settings change where memory comes from, never a computed value.
    """
    environ = os.environ if environ is None else environ
    if malloc_mode(environ) == "off" or any(name.startswith("MALLOC_") and name.endswith("_") for name in environ):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return all(libc.mallopt(option, size) == 1 for option, size in MALLOC_SETTINGS.values())


def plain(value: Any) -> Any:
    """``value`` with str, list, tuple and dict subclasses (Snakemake's named lists, paths) made plain."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def resolve(target: str) -> Callable[..., Any]:
    """The function named ``"package.module:function"``."""
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"job target {target!r}: expected 'package.module:function'")
    return getattr(importlib.import_module(module), name)


def server_key(environ: Mapping[str, str] | None = None) -> str:
    """What a server's imports depend on, hashed: the interpreter, where torch, transformers and cotmask are
    found, cotmask's source files and the import-time environment. (Not ``sys.path`` itself: Snakemake adds a
    folder of its own to it on every invocation; a job's ``sys.path`` goes to its child with the request.)"""
    environ = os.environ if environ is None else environ
    digest = hashlib.sha256()
    digest.update(repr((sys.executable, sys.version, _package_origins())).encode())
    package = Path(__file__).resolve().parent
    for source in sorted(package.rglob("*.py")):
        stat = source.stat()
        digest.update(f"{source.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    for name in sorted(environ):
        if name.startswith(KEY_ENV_PREFIXES) and name not in (ENV, MALLOC_ENV):
            digest.update(f"{name}={environ[name]}\n".encode())
    return digest.hexdigest()[:20]


def _package_origins() -> list[str | None]:
    """Where the preloaded top-level packages would be imported from (found without importing them)."""
    import importlib.util

    names = sorted({module.split(".")[0] for module in PRELOAD})
    return [getattr(importlib.util.find_spec(name), "origin", None) for name in names]


def socket_path(key: str) -> Path:
    """The server's socket: ``$TMPDIR/cotmask-worker-UID/KEY.sock`` (a Unix socket path must be short)."""
    folder = Path(tempfile.gettempdir()) / f"cotmask-worker-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{key}.sock"


def start_server(path: Path, *, idle_exit_s: float = IDLE_EXIT_S) -> subprocess.Popen:
    """Start a server for ``path`` in the background (its own session; output to ``path`` + ``.log``), with
    this process's interpreter and ``sys.path``.

    Two jobs may both start one: the second finds the first's lock and exits at once.
    """
    launch = f"import sys; sys.path[:] = {sys.path!r}; from cotmask.worker import main; sys.exit(main())"
    with open(path.with_suffix(".log"), "ab") as server_log:
        return subprocess.Popen(
            [sys.executable, "-c", launch, "--socket", str(path), "--idle-exit", str(idle_exit_s)],
            stdin=subprocess.DEVNULL, stdout=server_log, stderr=server_log, start_new_session=True,
        )


#: Connections that keep a server from idling out while this process runs a job of its own (closed at exit).
_HOLDS: list[socket.socket] = []


def hold_server(path: Path, timeout_s: float = 120.0) -> threading.Thread:
    """Keep the server at ``path`` from idling out for as long as this process lives.

    A job that runs in its own process (the first of a run, which starts the server) may take longer than
    :data:`IDLE_EXIT_S`: a base model's pre-training takes ~13 min. Without a hold the server it started
    would leave before the jobs after it. A background thread waits for the server and connects with an
    empty request; the server counts the open connection as a running job until this process exits.
    """

    def hold() -> None:
        if not wait_for_server(path, timeout_s):
            return
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(path))
            conn.sendall(_HEADER.pack(0))
        except OSError:
            conn.close()
            return
        _HOLDS.append(conn)

    thread = threading.Thread(target=hold, name="cotmask-worker-hold", daemon=True)
    thread.start()
    return thread


def wait_for_server(path: Path, timeout_s: float = 120.0) -> bool:
    """Wait until a server accepts connections at ``path`` (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(str(path))
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _standard_fds() -> list[int] | None:
    """This process's standard input, output and error as descriptors (None where one is not a file)."""
    try:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        return [sys.stdin.fileno() if sys.stdin else os.open(os.devnull, os.O_RDONLY),
                sys.stdout.fileno(), sys.stderr.fileno()]
    except (AttributeError, OSError, ValueError):
        return None


def _run_in_server(path: Path, target: str, args: tuple, kwargs: dict) -> int | None:
    """The child's wait status, or None when no server took the job (then it has not started)."""
    fds = _standard_fds()
    if fds is None:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        umask = os.umask(0o022)
        os.umask(umask)
        request = pickle.dumps({"target": target, "args": args, "kwargs": kwargs, "cwd": os.getcwd(),
                                "env": dict(os.environ), "argv": list(sys.argv), "path": list(sys.path),
                                "umask": umask})
        socket.send_fds(conn, [_HEADER.pack(len(request))], fds)
        conn.sendall(request)
        reader = conn.makefile("rb")
        started = reader.readline()
    except OSError:
        conn.close()
        return None
    if not started.startswith(b"PID "):
        conn.close()
        return None
    log.info("running %s in the warm worker (child %s)", target, started.split()[1].decode())
    return _wait_for_child(conn, reader)


def _wait_for_child(conn: socket.socket, reader) -> int:
    """Forward signals to the child until the server reports its wait status."""

    def forward(signum, _frame):
        try:
            conn.sendall(f"SIG {signum}\n".encode())
        except OSError:
            pass

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED_SIGNALS}
    try:
        while True:
            try:
                line = reader.readline()
                break
            except InterruptedError:
                continue
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        conn.close()
    if not line.startswith(b"EXIT "):
        raise WorkerJobFailed("the warm worker went away while the job ran (its child was killed with it)")
    fields = line.split()
    if len(fields) == 5:
        user_s, system_s, peak_kb = float(fields[2]), float(fields[3]), int(fields[4])
        log.info("the child used %.1f s of CPU (user %.1f s, system %.1f s), peak resident memory %.0f MB",
                 user_s + system_s, user_s, system_s, peak_kb / 1024)
    return int(fields[1])


def _take_status(target: str, status: int) -> None:
    """Make the child's end this process's: nothing on success, the same signal, or WorkerJobFailed."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise WorkerJobFailed(f"{target} failed in the warm worker with exit status {code} (traceback above)")
    return None


# ---------------------------------------------------------------------------------------- the server side
def serve(path: Path, *, idle_exit_s: float = IDLE_EXIT_S, preload: tuple[str, ...] = PRELOAD) -> int:
    """Import ``preload``, then fork a child for every job that connects to ``path``, until idle.

    The server holds ``path`` + ``.lock`` (its pid inside) for its life; SIGTERM ends it like the idle exit
    (the socket removed; running children are killed with it, and their jobs fail).
    """
    import fcntl

    lock = open(path.with_suffix(".lock"), "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"{path}: a server holds the lock already", file=sys.stderr)
        return 0
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # leave through the cleanup below
    started = time.perf_counter()
    for module in preload:
        importlib.import_module(module)
    print(f"{path}: imported {len(preload)} modules in {time.perf_counter() - started:.1f} s", file=sys.stderr,
          flush=True)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    served = 0
    try:
        served = _serve_loop(listener, idle_exit_s)
    finally:
        path.unlink(missing_ok=True)
        path.with_suffix(".lock").unlink(missing_ok=True)
        listener.close()
        print(f"{path}: served {served} jobs; leaving", file=sys.stderr, flush=True)
    return 0


def _serve_loop(listener: socket.socket, idle_exit_s: float) -> int:
    """Accept jobs until none has run for ``idle_exit_s`` seconds; the number of jobs served."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    holds: set[socket.socket] = set()
    served = 0
    last_busy = time.monotonic()
    while True:
        for key, _ in selector.select(timeout=0.1):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                pid = _start_child(conn, listener)
                if pid == _HOLD:
                    holds.add(conn)
                    selector.register(conn, selectors.EVENT_READ, _HOLD)
                elif pid is not None:
                    served += 1
                    children[pid] = conn
                    selector.register(conn, selectors.EVENT_READ, pid)
            elif key.data == _HOLD:
                _read_hold(key.fileobj, holds, selector)
            else:
                _read_client(key.fileobj, key.data)
        _reap(children, selector)
        if children or holds:
            last_busy = time.monotonic()
        elif time.monotonic() - last_busy > idle_exit_s:
            return served


def _start_child(conn: socket.socket, listener: socket.socket) -> int | None:
    """Read one request and fork its child; tell the client the child's pid. :data:`_HOLD` for a hold
    (:func:`hold_server`), None for a probe or a bad request."""
    try:
        conn.settimeout(30)
        header, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
        if not header:  # a probe (wait_for_server)
            conn.close()
            return None
        size = _HEADER.unpack(header)[0] if len(header) == _HEADER.size else 0
        if len(header) == _HEADER.size and not size and not fds:
            conn.settimeout(None)
            return _HOLD
        payload = b""
        while len(payload) < size:
            chunk = conn.recv(size - len(payload))
            if not chunk:
                break
            payload += chunk
        if len(fds) != 3 or len(payload) != size or not size:
            raise OSError("incomplete request")
        request = pickle.loads(payload)
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        print(f"dropped a request: {error}", file=sys.stderr, flush=True)
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:  # the child: never returns
        listener.close()
        conn.close()
        _run_child(request, fds)
    for fd in fds:
        os.close(fd)
    conn.settimeout(None)
    conn.sendall(f"PID {pid}\n".encode())
    return pid


def _receive(conn: socket.socket) -> bytes:
    """What a job process sent; empty when it has closed its end (or the connection broke)."""
    try:
        return conn.recv(256)
    except OSError:
        return b""


def _read_hold(conn: socket.socket, holds: set[socket.socket], selector: selectors.BaseSelector) -> None:
    """A held connection closed (its job process ended) or sent something (ignored)."""
    if not _receive(conn):
        holds.discard(conn)
        selector.unregister(conn)
        conn.close()


def _read_client(conn: socket.socket, pid: int) -> None:
    """A message from a job process: a signal to forward, or its end (then the child is killed)."""
    data = _receive(conn)
    if not data:
        _kill(pid, signal.SIGKILL)
        return
    for line in data.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "SIG" and parts[1].isdigit():
            _kill(pid, int(parts[1]))


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reap(children: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    """Send each finished child's wait status and resource use (CPU seconds, peak resident memory in kB)
    to its job process."""
    for pid in list(children):
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if not done:
            continue
        conn = children.pop(pid)
        selector.unregister(conn)
        try:
            conn.sendall(f"EXIT {status} {usage.ru_utime:.3f} {usage.ru_stime:.3f} {usage.ru_maxrss}\n".encode())
        except OSError:
            pass
        conn.close()


def _run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the job (folder, umask, environment, temporary folder, standard streams)
    and run its call."""
    code = 1
    try:
        _die_with_parent()
        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # found again from the job's TMPDIR
        tune_allocator()
        sys.argv = request["argv"]
        sys.path[:] = request["path"]
        for number, fd in enumerate(fds):
            os.dup2(fd, number)
            os.close(fd)
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True)
        from cotmask.logs import log_to_stream

        log_to_stream(sys.stderr)
        resolve(request["target"])(*request["args"], **request["kwargs"])
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        traceback.print_exc()
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:  # noqa: BLE001 - the job's failure, reported in its log
        traceback.print_exc()
    finally:
        _flush()
        os._exit(code)


def _flush() -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _die_with_parent() -> None:
    """Ask Linux to kill this child if the server dies (no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the server died before the request above
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cotmask.worker",
                                     description="The warm worker's fork server (started by the jobs themselves).")
    parser.add_argument("--socket", required=True, type=Path, help="the socket to serve on")
    parser.add_argument("--idle-exit", type=float, default=IDLE_EXIT_S, help="seconds without a job before exiting")
    options = parser.parse_args(argv)
    return serve(options.socket, idle_exit_s=options.idle_exit)


if __name__ == "__main__":
    sys.exit(main())
