"""A job's log: where its output goes, what it read and wrote, and how far along a long loop is.

* :func:`log_to` sends a Snakemake job's output to its log file (used by the adapters in ``scripts/``); given
  the job's ``snakemake`` object it also logs what the job reads (inputs with their size and line count, the
  params) and, when the process ends, what it wrote and how long it took -- so that no rule's log is empty.
* :func:`log_to_stderr` is the same ``logging`` set-up for the command line.
* :class:`Progress` logs ``done/total, rate, ETA`` lines for a long loop (evaluation, rejection sampling):
  one every ``every_s`` seconds, and at the end.

Nothing here imports Snakemake: the job object is read through its attributes only.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
#: Files whose line count is worth reporting (one record or row per line).
LINE_FILES = (".jsonl", ".csv", ".tsv", ".txt", ".md", ".tex")
#: Longest shown value of one param (a list of evaluation runs or an index can be long).
PARAM_CHARS = 1200

job_logger = logging.getLogger("cotmask.job")


def log_to(path: str | os.PathLike, job: Any = None) -> None:
    """Redirect stdout, stderr (progress bars included) and ``logging`` to ``path``, line-buffered.

    With ``job`` (a Snakemake script's ``snakemake`` object: ``rule``, ``input``, ``output``, ``params``) the
    log starts with what the job reads and ends with what it wrote, its wall time and whether it failed.
    """
    stream = open(path, "w", buffering=1)
    sys.stdout = sys.stderr = stream
    log_to_stream(stream)
    if job is not None:
        _log_job_start(job)


def log_to_stream(stream) -> None:
    """``logging`` to ``stream`` at INFO with the log-file format, replacing any earlier set-up (a job's log;
    also the warm worker's child, whose standard error is the job's log)."""
    logging.basicConfig(stream=stream, level=logging.INFO, format=LOG_FORMAT, force=True)


def log_to_stderr(level: int = logging.INFO) -> None:
    """``logging`` to stderr with the log-file format (the command line's progress and warnings), unless
    the program has set up logging already."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(stream=sys.stderr, level=level, format=LOG_FORMAT)


# ------------------------------------------------------------------------------------------- job start/end
def describe_path(path: str | os.PathLike) -> str:
    """``path (N lines, S)`` for a file, ``path/ (N files, S)`` for a folder, ``path (missing)``."""
    target = Path(path)
    if target.is_dir():
        files = [p for p in target.rglob("*") if p.is_file()]
        return f"{path}/ ({len(files)} files, {_size(sum(p.stat().st_size for p in files))})"
    if target.is_file():
        size = target.stat().st_size
        if target.suffix in LINE_FILES:
            return f"{path} ({_count_lines(target)} lines, {_size(size)})"
        return f"{path} ({_size(size)})"
    return f"{path} (missing)"


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _size(n_bytes: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= PARAM_CHARS else f"{text[:PARAM_CHARS]}... ({len(text)} characters)"


def _named(container: Any) -> list[tuple[str, Any]]:
    """(name, value) pairs of a Snakemake named list; unnamed entries get their position."""
    if container is None:
        return []
    names = list(container.keys()) if hasattr(container, "keys") else []
    if names:
        return [(name, container[name] if isinstance(container, dict) else getattr(container, name))
                for name in names]
    return [(str(index), value) for index, value in enumerate(container)]


def _paths(container: Any) -> list[str]:
    return [str(item) for item in (container or []) if isinstance(item, (str, os.PathLike))]


def _log_job_start(job: Any) -> None:
    rule = getattr(job, "rule", None) or "job"
    wildcards = _named(getattr(job, "wildcards", None))
    where = ", ".join(f"{name}={value}" for name, value in wildcards if not name.isdigit())
    job_logger.info("rule %s%s started (threads: %s)", rule, f" [{where}]" if where else "",
                    getattr(job, "threads", "?"))
    for path in _paths(getattr(job, "input", None)):
        job_logger.info("reads %s", describe_path(path))
    for name, value in _named(getattr(job, "params", None)):
        job_logger.info("param %s = %s", name, _shown(value))
    _watch_exit(rule, _paths(getattr(job, "output", None)))


def _watch_exit(rule: str, outputs: Iterable[str]) -> None:
    """At exit: the outputs (as they are then), the wall time, and whether an exception ended the job."""
    started = time.perf_counter()
    failed: list[BaseException] = []
    previous_hook = sys.excepthook

    def remember_failure(kind, error, traceback):
        failed.append(error)
        previous_hook(kind, error, traceback)

    def report() -> None:
        elapsed = time.perf_counter() - started
        if failed:
            job_logger.error("rule %s failed after %.1f s: %s", rule, elapsed, type(failed[0]).__name__)
            return
        for path in outputs:
            job_logger.info("wrote %s", describe_path(path))
        job_logger.info("rule %s done in %.1f s", rule, elapsed)

    sys.excepthook = remember_failure
    atexit.register(report)


# ---------------------------------------------------------------------------------------------- progress
class Progress:
    """``label: done/total (percent), rate/s, elapsed, ETA`` lines through ``logger`` for a long loop.

    Call :meth:`advance` with the number of items just finished; a line is logged when ``every_s`` seconds
    have passed since the last one, and when the loop completes (with ``quiet_if_quick``: only if a line was
    logged before, so that a loop shorter than ``every_s`` logs nothing). ``unit`` names the items.
    """

    def __init__(self, total: int, label: str, *, unit: str = "items", every_s: float = 30.0,
                 logger: logging.Logger | None = None, quiet_if_quick: bool = False, clock=time.monotonic) -> None:
        self.total, self.label, self.unit, self.every_s = int(total), label, unit, float(every_s)
        self.logger = logger or logging.getLogger("cotmask.progress")
        self.quiet_if_quick = quiet_if_quick
        self.clock = clock
        self.done = 0
        self.lines = 0
        self.started = clock()
        self.last_line = self.started

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items done; log a line if it is time (or the loop is complete)."""
        self.done += int(n)
        now = self.clock()
        complete = self.done >= self.total
        if now - self.last_line >= self.every_s or (complete and (self.lines or not self.quiet_if_quick)):
            self.last_line = now
            self.lines += 1
            self.logger.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        """The progress line as of ``now``."""
        now = self.clock() if now is None else now
        elapsed = max(now - self.started, 0.0)
        rate = self.done / elapsed if elapsed > 0 else 0.0
        percent = 100.0 * self.done / self.total if self.total else 100.0
        text = (f"{self.label}: {self.done}/{self.total} {self.unit} ({percent:.0f} %), "
                f"{rate:.2f} {self.unit}/s, elapsed {format_duration(elapsed)}")
        if self.done >= self.total:
            return text + ", done"
        eta = (self.total - self.done) / rate if rate > 0 else None
        return text + f", ETA {format_duration(eta) if eta is not None else 'unknown'}"


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
