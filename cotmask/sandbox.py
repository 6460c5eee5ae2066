"""Run a model-written Python program in a separate, restricted process and capture what it prints.

Used by hybrid decoding (:mod:`cotmask.hybrid`) to execute program-of-thought answers, as MAmmoTH's
evaluator does (shared/paper.md §4.4: a completion containing ``print(`` is executed with a 5 s timeout).
A generated program is untrusted text, so :func:`run_program` puts several independent layers between it
and the machine:

1. **Static check** in the parent (:func:`check_program`, ``ast``): the program must parse; it may import
   only the modules of :data:`ALLOWED_MODULES` (no relative imports); it may not name ``open``, ``exec``,
   ``eval``, ``compile``, ``__import__``, ``input``, ``globals``, ``getattr`` and the other builtins of
   :data:`FORBIDDEN_NAMES`; no attribute starting with ``_`` (dunders, private members), no frame or
   module-reaching attribute (:data:`FORBIDDEN_ATTRIBUTES`, e.g. ``gi_frame``, ``sys``, ``modules``),
   no other ``__`` name than ``__name__`` and no string holding ``__`` (``getattr`` or ``str.format``
   by name) other than ``"__main__"``. A program that fails the check never runs.
2. **A separate interpreter** (``sys.executable -I -B -X utf8``: no environment variables, no user site,
   no bytecode written) started in a new session (its own process group), with a minimal environment and
   a fresh temporary folder as working directory, deleted afterwards.
3. **Resource limits** set in the child before the program runs (``resource.setrlimit``): CPU seconds
   (``RLIMIT_CPU``, the timeout), address space (``RLIMIT_AS``), no new processes or threads
   (``RLIMIT_NPROC`` 0: a fork bomb's first fork fails), no file data (``RLIMIT_FSIZE`` 0), few file
   descriptors (``RLIMIT_NOFILE``), no core dumps. A child started as root drops to ``nobody`` (the
   kernel does not apply ``RLIMIT_NPROC`` to root) after loading the program's allowed modules.
4. **Runtime guard** in the child: the program runs with a reduced set of builtins (no ``open``, ``exec``,
   ``eval``, ...; ``__import__`` refuses every module outside the allow-list) and under an audit hook
   (``sys.addaudithook``) that ends the process at once with the *forbidden* status on any file opened
   for writing or outside the Python installation, and on every process, socket, ``ctypes``, ``os``
   (except reading directories of the installation), ``shutil``, signal, ``gc`` introspection, frame
   access and similar event (:data:`BLOCKED_EVENT_PREFIXES`) -- an exception the program could catch
   would not be enough.
5. **Parent-side bounds**: a wall-clock deadline (the whole process group is killed at it), stdout read
   up to :attr:`SandboxLimits.max_output_bytes` (more is *output_too_large* and the group is killed),
   stderr capped; the process group is killed after every run, before the child is reaped, so no
   process it started survives, and the temporary folder is removed.

The outcome is a :class:`SandboxResult`: ``ok`` (the program ran to its end) with its ``stdout``, or an
``error`` of :data:`ERROR_KINDS`: ``syntax``, ``forbidden``, ``timeout``, ``memory``,
``output_too_large``, ``exception`` (an uncaught exception, a non-zero ``SystemExit``, a crash).

This is a best-effort sandbox for scoring model outputs, **not a security boundary** against a
determined attacker: the process shares the kernel, the network namespace and the readable file system
of its parent; ``RLIMIT_NPROC`` is per user; the audit-hook and builtins layers are Python-level and
a way around both through an allowed module cannot be ruled out; if the evaluating process itself is
killed with SIGKILL, a running child still ends at its CPU limit but its (empty) folder stays. Run
untrusted models' evaluations in a container or VM if that matters. Linux only (``/proc``, ``waitid``).

Executed as a script (``python -I cotmask/sandbox.py``) this file is the child's side: it reads the
request (JSON) from stdin, sets the limits and guards, and runs the program. Its top level imports only
the standard library; the parent's helpers import ``subprocess`` and friends when called.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import math
import os
import signal
import sys
from dataclasses import asdict, dataclass

#: Modules a program may import (top-level names; submodules of these are allowed too). sympy and numpy
#: are used by MathInstruct-style programs; where they are not installed the import fails as an exception.
ALLOWED_MODULES: tuple[str, ...] = (
    "math", "cmath", "fractions", "decimal", "numbers", "itertools", "functools", "operator", "statistics",
    "collections", "string", "datetime", "calendar", "sympy", "numpy",
)
#: Builtins a program may not name (static check) and that the child's builtins leave out (runtime).
FORBIDDEN_NAMES = frozenset({
    "open", "exec", "eval", "compile", "__import__", "input", "globals", "locals", "vars", "getattr",
    "setattr", "delattr", "hasattr", "breakpoint", "help", "exit", "quit", "memoryview", "dir", "copyright",
    "credits", "license", "__builtins__", "__loader__", "__spec__",
})
#: Attributes a program may not read or write besides those starting with ``_``: frames, code and
#: globals of generators, coroutines and tracebacks, and names through which an allowed module reaches
#: another one (``fractions.sys.modules[...]``).
FORBIDDEN_ATTRIBUTES = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code", "mro",
    "sys", "os", "modules", "builtins", "importlib", "subprocess", "socket", "ctypes", "shutil", "io",
    "pathlib", "system", "popen", "fork", "spawn", "load", "save", "savetxt", "loadtxt", "fromfile",
    "tofile", "ctypeslib", "f2py", "lambdify",
})
#: ``__``-names and ``__``-strings that common programs use and that give nothing away.
ALLOWED_DUNDER_NAMES = frozenset({"__name__"})
ALLOWED_DUNDER_STRINGS = frozenset({"__main__"})

#: Audit events that end the program (prefix match; ``os.listdir``/``os.scandir`` and ``open`` are
#: checked against the installation's folders instead).
BLOCKED_EVENT_PREFIXES: tuple[str, ...] = (
    "os.", "subprocess.", "_posixsubprocess.", "pty.", "socket.", "ctypes.", "shutil.", "tempfile.",
    "glob.", "mmap.", "fcntl.", "resource.", "signal.", "syslog.", "gc.", "sys.", "code.", "function.",
    "pickle.", "cpython.", "setopencodehook", "builtins.input", "webbrowser.",
    "urllib.", "http.", "ftplib.", "smtplib.", "poplib.", "imaplib.", "nntplib.", "telnetlib.", "sqlite3.",
    "msvcrt.", "winreg.", "_winapi.", "winsound.",
)
#: ``sys.`` events the interpreter itself raises when reporting an error; they stay allowed.
ALLOWED_EVENTS = frozenset({"sys.excepthook", "sys.unraisablehook", "os.listdir", "os.scandir"})
#: Audited attribute reads (``object.__getattr__``) that libraries make (sympy reads a function's code and
#: defaults); reads of frames and their globals stay forbidden.
ALLOWED_AUDITED_ATTRIBUTES = frozenset({"__code__", "__defaults__", "__kwdefaults__"})

ERROR_KINDS = ("syntax", "forbidden", "timeout", "memory", "output_too_large", "exception")

# Exit statuses of the child (distinct from Python's own 1 for an uncaught exception in the bootstrap).
EXIT_OK = 0
EXIT_EXCEPTION = 70
EXIT_MEMORY = 71
EXIT_FORBIDDEN = 72
EXIT_SYNTAX = 73
_STATUS_KINDS = {EXIT_EXCEPTION: "exception", EXIT_MEMORY: "memory", EXIT_FORBIDDEN: "forbidden",
                 EXIT_SYNTAX: "syntax"}
#: Signals of the child: the CPU limit (SIGXCPU) is a timeout, a file-size breach (SIGXFSZ) is forbidden.
_SIGNAL_KINDS = {signal.SIGXCPU: "timeout", signal.SIGXFSZ: "forbidden"}

MAX_STDERR_BYTES = 4096
MAX_MESSAGE_CHARS = 300
TEMP_PREFIX = "cotmask-sandbox-"
NOBODY = "nobody"
NOBODY_ID = 65534


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one program run.

    ``timeout_s``: CPU seconds of the program itself (``RLIMIT_CPU``, rounded up to whole seconds; the
    modules it imports are loaded before the clock starts), MAmmoTH's 5 s by default. ``wall_s``: the
    wall-clock deadline of the whole child process (None: ``3 * timeout_s + 5``, generous so that a
    loaded machine does not turn a correct program into a timeout). ``memory_mb``: address space the
    program may add to the interpreter and its imported modules (``RLIMIT_AS``). ``max_output_bytes``:
    stdout beyond this is *output_too_large*. ``max_open_files``: ``RLIMIT_NOFILE``.
    """

    timeout_s: float = 5.0
    wall_s: float | None = None
    memory_mb: int = 512
    max_output_bytes: int = 10_000
    max_open_files: int = 32
    allowed_modules: tuple[str, ...] = ALLOWED_MODULES

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"sandbox timeout_s must be positive, got {self.timeout_s}")
        if self.wall_s is not None and not self.wall_s > 0:
            raise ValueError(f"sandbox wall_s must be positive, got {self.wall_s}")
        if self.memory_mb < 16:
            raise ValueError(f"sandbox memory_mb must be at least 16, got {self.memory_mb}")
        if self.max_output_bytes < 1:
            raise ValueError(f"sandbox max_output_bytes must be positive, got {self.max_output_bytes}")

    @property
    def deadline_s(self) -> float:
        return self.wall_s if self.wall_s is not None else 3 * self.timeout_s + 5

    def child_settings(self) -> dict:
        """What the child needs to set its own limits."""
        return {"cpu_s": math.ceil(self.timeout_s), "memory_mb": self.memory_mb,
                "max_open_files": self.max_open_files}


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one program: ``ok`` with what it printed, or an ``error`` kind and a short message."""

    ok: bool
    stdout: str = ""
    error: str | None = None
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Violation:
    """Why a program failed the static check: ``kind`` (syntax or forbidden) and what was found where."""

    kind: str
    message: str


# ---------------------------------------------------------------------------------------- static check
def _top_module(name: str) -> str:
    return name.split(".", 1)[0]


def imported_modules(tree: ast.AST) -> list[str]:
    """Every module an ``import`` or ``from ... import`` of the program names (full dotted names), in order."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return list(dict.fromkeys(names))


def _node_violation(node: ast.AST, allowed: frozenset[str]) -> str | None:
    """What is forbidden about one AST node, or None."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if _top_module(alias.name) not in allowed:
                return f"import of {alias.name!r} (allowed: {', '.join(sorted(allowed))})"
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            return "relative import"
        if _top_module(node.module or "") not in allowed:
            return f"import from {node.module!r} (allowed: {', '.join(sorted(allowed))})"
    elif isinstance(node, ast.Name):
        if node.id in FORBIDDEN_NAMES:
            return f"name {node.id!r}"
        if node.id.startswith("__") and node.id not in ALLOWED_DUNDER_NAMES:
            return f"name {node.id!r}"
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_") or node.attr in FORBIDDEN_ATTRIBUTES:
            return f"attribute {node.attr!r}"
    elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
        if "__" in text and text not in ALLOWED_DUNDER_STRINGS:
            return f"string {text[:40]!r} (names with '__')"
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
        forbidden = [name for name in node.names if name.startswith("__")]
        if forbidden:
            return f"name {forbidden[0]!r}"
    return None


def check_program(source: str, allowed_modules=ALLOWED_MODULES) -> Violation | None:
    """The static check (module doc, layer 1): None when the program may run, else a :class:`Violation`
    (``syntax`` when it does not parse, ``forbidden`` naming the first forbidden construct and its line)."""
    try:
        tree = ast.parse(source, filename="<program>", mode="exec")
    except (SyntaxError, ValueError) as error:  # ValueError: NUL bytes
        line = getattr(error, "lineno", None)
        where = f" (line {line})" if line else ""
        return Violation("syntax", f"{type(error).__name__}: {getattr(error, 'msg', error)}{where}")
    allowed = frozenset(allowed_modules)
    for node in ast.walk(tree):
        problem = _node_violation(node, allowed)
        if problem is not None:
            return Violation("forbidden", f"{problem} at line {getattr(node, 'lineno', '?')}")
    return None


# ------------------------------------------------------------------------------------------ the parent
def run_program(
    source: str,
    limits: SandboxLimits | None = None,
    *,
    temp_root: str | os.PathLike | None = None,
    static_check: bool = True,
    runtime_guard: bool = True,
) -> SandboxResult:
    """Run ``source`` in a restricted child process (module doc) and return what happened.

    ``temp_root``: where the run's temporary working folder is made (default: the system's temporary
    folder); the folder is removed before this returns. ``static_check`` and ``runtime_guard`` exist so
    that tests can show each layer on its own: turning them off removes two of the five layers; never do
    that for model outputs.
    """
    limits = limits or SandboxLimits()
    preload: list[str] = []
    if static_check:
        violation = check_program(source, limits.allowed_modules)
        if violation is not None:
            return SandboxResult(ok=False, error=violation.kind, message=violation.message)
    try:
        tree = ast.parse(source)
        allowed = set(limits.allowed_modules)
        preload = [name for name in imported_modules(tree) if _top_module(name) in allowed]
    except (SyntaxError, ValueError):
        preload = []  # the child reports the syntax error
    request = {"source": source, "preload": preload, "allowed": list(limits.allowed_modules),
               "limits": limits.child_settings(), "guard": bool(runtime_guard)}
    return _run_child(json.dumps(request).encode("utf-8"), limits, temp_root)


def _child_environment(workdir: str) -> dict[str, str]:
    """A minimal environment: no proxies, tokens or paths of the parent; numeric libraries single-threaded."""
    return {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LC_ALL": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run_child(request: bytes, limits: SandboxLimits, temp_root) -> SandboxResult:
    import shutil
    import subprocess
    import tempfile
    import time

    workdir = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=temp_root)
    process = None
    try:
        deadline = time.monotonic() + limits.deadline_s
        process = subprocess.Popen(
            [sys.executable, "-I", "-B", "-X", "utf8", os.path.abspath(__file__)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=workdir,
            env=_child_environment(workdir), start_new_session=True, close_fds=True,
        )
        try:
            process.stdin.write(request)
            process.stdin.close()
        except BrokenPipeError:
            pass
        stdout, stderr, cut = _collect_output(process, limits.max_output_bytes, deadline)
        exited = cut is None and _wait_exited(process.pid, deadline)
        _kill_group(process.pid)  # before reaping: the group id cannot be reused yet
        returncode = process.wait()
        return _result(returncode, stdout, stderr, cut if cut is not None else (None if exited else "timeout"))
    finally:
        if process is not None and process.returncode is None:
            _kill_group(process.pid)
            process.wait()
        for stream in (process.stdout, process.stderr) if process is not None else ():
            stream.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _collect_output(process, max_output_bytes: int, deadline: float) -> tuple[bytes, bytes, str | None]:
    """Read the child's stdout and stderr until both close; stop early (returning the reason) at the
    deadline or when stdout grows past ``max_output_bytes``. stderr is kept up to MAX_STDERR_BYTES."""
    import selectors
    import time

    out, err = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, "out")
        selector.register(process.stderr, selectors.EVENT_READ, "err")
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bytes(out), bytes(err), "timeout"
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data == "out":
                    out += chunk
                    if len(out) > max_output_bytes:
                        return bytes(out[:max_output_bytes]), bytes(err), "output_too_large"
                elif len(err) < MAX_STDERR_BYTES:
                    err += chunk[: MAX_STDERR_BYTES - len(err)]
    return bytes(out), bytes(err), None


def _wait_exited(pid: int, deadline: float) -> bool:
    """Wait (without reaping) until the child has exited; False at the deadline."""
    import time

    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)


def _kill_group(pid: int) -> None:
    """SIGKILL the child's process group (its session: ``start_new_session``)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _message(stderr: bytes) -> str:
    """The child's last stderr line (its error report), shortened."""
    lines = [line.strip() for line in stderr.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1][:MAX_MESSAGE_CHARS] if lines else ""


def _result(returncode: int, stdout: bytes, stderr: bytes, cut: str | None) -> SandboxResult:
    """Turn the child's exit into a SandboxResult (``cut``: the parent stopped it: timeout or output)."""
    text = stdout.decode("utf-8", errors="replace")
    if cut == "output_too_large":
        return SandboxResult(False, text, cut, "stdout exceeded the output limit")
    if cut == "timeout":
        return SandboxResult(False, text, cut, "wall-clock deadline reached")
    if returncode == EXIT_OK:
        return SandboxResult(True, text)
    if returncode < 0:
        number = -returncode
        kind = _SIGNAL_KINDS.get(number, "exception")
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return SandboxResult(False, text, kind, f"killed by {name}")
    kind = _STATUS_KINDS.get(returncode, "exception")
    return SandboxResult(False, text, kind, _message(stderr) or f"exit status {returncode}")


# ------------------------------------------------------------------------------------------- the child
def _child_exit(status: int, message: str = "") -> None:
    """Report ``message`` on stderr and end the process at once (no cleanup code of the program runs)."""
    if message:
        with contextlib.suppress(OSError):  # the exit status still tells the parent what happened
            os.write(2, (message[:MAX_MESSAGE_CHARS] + "\n").encode("utf-8", errors="replace"))
    os._exit(status)


def _installation_roots() -> tuple[str, ...]:
    """Folders a program's imports may read: the absolute entries of sys.path (stdlib, site-packages)."""
    roots = {os.path.normpath(entry) for entry in sys.path if entry and os.path.isabs(entry)}
    roots.discard(os.path.normpath(os.getcwd()))
    roots.discard("/")
    return tuple(sorted(roots))


def _limit_resources(settings: dict) -> None:
    """The child's resource limits (module doc, layer 3), soft = hard so that they cannot be raised."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(usage.ru_utime + usage.ru_stime + settings["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    with open("/proc/self/statm", encoding="ascii") as statm:
        current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    address_space = current + settings["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (settings["max_open_files"], settings["max_open_files"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _drop_privileges() -> None:
    """As root, become ``nobody`` (root is exempt from RLIMIT_NPROC and from file permissions)."""
    if os.geteuid() != 0:
        return
    try:
        import pwd

        entry = pwd.getpwnam(NOBODY)
        uid, gid = entry.pw_uid, entry.pw_gid
    except (ImportError, KeyError):
        uid = gid = NOBODY_ID
    try:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    except OSError:
        pass  # no CAP_SETUID (a restricted container): the other layers remain


def _safe_builtins(allowed_modules: list[str]) -> dict:
    """The builtins a program sees: everything but :data:`FORBIDDEN_NAMES`, with an ``__import__`` that
    ends the process on a module outside the allow-list."""
    real_import = builtins.__import__
    allowed = frozenset(allowed_modules)

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level or _top_module(name) not in allowed:
            _child_exit(EXIT_FORBIDDEN, f"forbidden: import of {name!r}")
        return real_import(name, globals, locals, fromlist, level)

    safe = {name: value for name, value in vars(builtins).items()
            if name not in FORBIDDEN_NAMES and not (name.startswith("__") and name != "__build_class__")}
    safe["__import__"] = guarded_import
    return safe


def _audit_hook(roots: tuple[str, ...]):
    """The child's audit hook (module doc, layer 4): forbidden events end the process with EXIT_FORBIDDEN."""
    exit_now, normpath, fsdecode, isabs = _child_exit, os.path.normpath, os.fsdecode, os.path.isabs
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

    def inside(path) -> bool:
        if isinstance(path, int) or path is None:
            return False
        text = normpath(fsdecode(path))
        return isabs(text) and any(text == root or text.startswith(root + os.sep) for root in roots)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            if writes or not inside(path):
                exit_now(EXIT_FORBIDDEN, f"forbidden: open {path!r} mode {mode!r}")
        elif event in ("os.listdir", "os.scandir"):
            if not inside(args[0] if args else None):
                exit_now(EXIT_FORBIDDEN, f"forbidden: {event} {args[:1]!r}")
        elif event == "object.__getattr__":
            if len(args) < 2 or args[1] not in ALLOWED_AUDITED_ATTRIBUTES:
                exit_now(EXIT_FORBIDDEN, f"forbidden: {event} {args[1:2]!r}")
        elif event not in ALLOWED_EVENTS and event.startswith(BLOCKED_EVENT_PREFIXES):
            exit_now(EXIT_FORBIDDEN, f"forbidden: {event}")

    return hook


def _run_code(code, namespace: dict) -> None:
    """Execute the program; exit with its status (module doc: ERROR_KINDS)."""
    status, message = EXIT_OK, ""
    try:
        exec(code, namespace)  # noqa: S102 - the program, inside the guards above
    except SystemExit as stop:
        if stop.code not in (None, 0):
            status, message = EXIT_EXCEPTION, f"SystemExit: {stop.code!r}"
    except MemoryError:
        _child_exit(EXIT_MEMORY, "MemoryError")
    except RecursionError:
        status, message = EXIT_EXCEPTION, "RecursionError: maximum recursion depth exceeded"
    except BaseException as error:  # noqa: BLE001 - every failure of the program is reported
        try:
            message = f"{type(error).__name__}: {error}"
        except BaseException:  # noqa: BLE001 - a broken __str__
            message = type(error).__name__
        status = EXIT_EXCEPTION
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001, S110 - a program that broke stdout gets what reached the pipe
        pass
    _child_exit(status, message)


def _child_main() -> None:
    """The child: read the request, load the allowed modules the program imports, set the limits, drop
    root, install the guard, run the program."""
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    try:
        code = compile(request["source"], "<program>", "exec")
    except (SyntaxError, ValueError) as error:
        _child_exit(EXIT_SYNTAX, f"{type(error).__name__}: {getattr(error, 'msg', error)}")
    import importlib

    for name in request["preload"]:
        with contextlib.suppress(Exception):  # the program's own import reports it
            importlib.import_module(name)
    roots = _installation_roots()
    _limit_resources(request["limits"])
    _drop_privileges()
    namespace = {"__name__": "__main__"}
    if request["guard"]:
        namespace["__builtins__"] = _safe_builtins(request["allowed"])
        sys.addaudithook(_audit_hook(roots))
    else:
        namespace["__builtins__"] = builtins
    _run_code(code, namespace)


if __name__ == "__main__":
    _child_main()
