"""Benchmark: workflow jobs in their own processes against the same jobs in the warm worker (cotmask.worker).

Reruns finished jobs of a run folder (a checkout whose ``work/`` holds a finished run) with Snakemake, as a
user's run does, forcing just the given targets (``-f``; ``--rerun-triggers mtime`` so that nothing
upstream reruns), one job at a time, alternately with ``COTMASK_WORKER=off`` and ``on``, and reads each
job's wall time from its ``benchmark:`` file. A round with ``on`` finds the server that the round before
left (the first ``on`` round starts it: its first job runs in its own process and is left out of the
summary). The summary gives per rule the medians of what each job measured of its own work (a fine-tune's
training loop, ``train_wall_time_s``; an evaluation's decoding, its summaries' ``wall_time_s``) and of the
rest of its wall time (start-up, loading, encoding, saving), in its own process and in the worker.
A fine-tune target's checkpoints (``work/checkpoints/…``) are removed before each round, so that it trains
from the start instead of resuming its finished run. Reruns rewrite the targets with what they held (the jobs
are deterministic; the run's tables are not touched).

    python benchmarks/bench_worker.py --root RUN --rounds 3 \\
        --target work/evals/llama/gsm/sft/seed1 --target work/models/ft/llama/gsm/sft/seed1 ...

Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script from anywhere: its sibling module
from rule_times import read_benchmark  # noqa: E402

RULE_FOLDERS = {"work/evals/": "evaluate", "work/models/ft/": "finetune"}


def rule_of(target: str) -> tuple[str, str]:
    """(rule, wildcard path) of an evaluate or finetune output."""
    for prefix, rule in RULE_FOLDERS.items():
        if target.startswith(prefix):
            return rule, target[len(prefix):]
    raise SystemExit(f"--target {target}: expected a folder under {' or '.join(RULE_FOLDERS)}")


def job_seconds(root: Path, target: str) -> float:
    rule, wildcards = rule_of(target)
    return float(read_benchmark(root / "logs" / "benchmarks" / rule / f"{wildcards}.tsv")["s"])


def inside_seconds(root: Path, target: str) -> float:
    """What the job measured of its own work: a fine-tune's training loop, an evaluation's decoding."""
    folder = root / target
    if rule_of(target)[0] == "finetune":
        return float(json.loads((folder / "train_metrics.json").read_text())["train_wall_time_s"])
    return sum(float(json.loads(path.read_text()).get("wall_time_s", 0.0)) for path in folder.glob("*.json"))


def in_worker(root: Path, target: str) -> bool:
    rule, wildcards = rule_of(target)
    return "in the warm worker" in (root / "logs" / rule / f"{wildcards}.log").read_text()


def clear_checkpoints(root: Path, targets: list[str]) -> None:
    """A forced fine-tune would resume from its last checkpoint (and only save): remove them first."""
    for target in targets:
        rule, wildcards = rule_of(target)
        if rule == "finetune":
            shutil.rmtree(root / "work" / "checkpoints" / wildcards, ignore_errors=True)


def run_round(root: Path, targets: list[str], mode: str, snakemake: str) -> list[dict]:
    clear_checkpoints(root, targets)
    env = {**os.environ, "COTMASK_WORKER": mode, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run([snakemake, "-c", "1", "-f", *targets, "--rerun-triggers", "mtime", "-q"], cwd=root, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return [{"mode": mode, "target": target, "rule": rule_of(target)[0], "s": job_seconds(root, target),
             "inside_s": round(inside_seconds(root, target), 2), "in_worker": in_worker(root, target),
             "round_wall_s": round(wall, 2)} for target in targets]


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    for rule in sorted({row["rule"] for row in rows}):
        own = [row for row in rows if row["rule"] == rule and row["mode"] == "off"]
        warm = [row for row in rows if row["rule"] == rule and row["mode"] == "on" and row["in_worker"]]
        if own and warm:
            rest_own = [row["s"] - row["inside_s"] for row in own]
            rest_warm = [row["s"] - row["inside_s"] for row in warm]
            table.append({"rule": rule, "jobs_own": len(own), "jobs_worker": len(warm),
                          "inside_own_s": round(statistics.median(row["inside_s"] for row in own), 2),
                          "inside_worker_s": round(statistics.median(row["inside_s"] for row in warm), 2),
                          "rest_own_s": round(statistics.median(rest_own), 2),
                          "rest_worker_s": round(statistics.median(rest_warm), 2)})
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="a checkout whose work/ holds a finished run")
    parser.add_argument("--target", action="append", required=True, help="an evaluate or finetune output folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--snakemake", default=str(Path(sys.executable).with_name("snakemake")))
    parser.add_argument("--out", type=Path, help="write the rows and the summary as JSON")
    options = parser.parse_args(argv)
    rows = []
    for round_index in range(options.rounds):
        modes = ("off", "on") if round_index % 2 == 0 else ("on", "off")
        for mode in modes:
            rows += run_round(options.root, options.target, mode, options.snakemake)
            print(f"round {round_index + 1} {mode}: " + ", ".join(f"{row['s']:.1f}" for row in rows[-len(options.target):]),
                  flush=True)
    summary = summarise(rows)
    print("| rule | jobs (own / worker) | inside the job, own process | in the worker | rest of the job, own process "
          "| in the worker |\n|---|---|---|---|---|---|")
    for line in summary:
        print(f"| `{line['rule']}` | {line['jobs_own']} / {line['jobs_worker']} | {line['inside_own_s']:.2f} s "
              f"| {line['inside_worker_s']:.2f} s | {line['rest_own_s']:.2f} s | {line['rest_worker_s']:.2f} s |")
    if options.out:
        options.out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
