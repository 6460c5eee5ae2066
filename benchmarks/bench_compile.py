"""What ``compile`` (cotmask.compile) costs and buys in a real workflow job: a fine-tune and a pre-training.

Each run is a fresh ``python -m cotmask.cli`` process, as a workflow job is, with the settings of a finished job
of a run folder (``--root``): the fine-tune's ``train_metrics.json`` config (optionally fewer epochs) and the
base model's ``pretrain_metrics.json`` settings (optionally fewer pre-training epochs). Per job kind, in this
order: eager, compiled with an empty kernel cache (``cold``), compiled again with the cache the cold run
filled (``warm``: every job of a workflow run after the first), eager again, warm again. Reported per run:
the process's wall time, the training loop's wall time, the compile time dynamo accounts for, tokens/s; and
the ratios eager ÷ warm (job wall, and training loop without the compile time).

    python benchmarks/bench_compile.py --root /path/to/run --finetune work/models/ft/llama/gsm/mft/seed1 \\
        --finetune-epochs 3 --base work/models/base/llama --pretrain-epochs 1 --out benchmarks/results/bench_compile.json

Not a test: it asserts nothing; it prints Markdown tables (and writes the numbers as JSON with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # profile_job, beside this script

ORDER = ("eager", "cold", "warm", "eager", "warm")


def finetune_command(root: Path, model_dir: str, scratch: Path, epochs: int | None) -> tuple[list[str], Path]:
    """``cotmask train`` with the recorded config of a finished fine-tune (profile_job's), into ``scratch``."""
    from profile_job import job_config  # the same config a profiled job reruns

    path = scratch.parent / f"{scratch.name}.json"
    path.write_text(json.dumps(job_config(root / model_dir, root, scratch, epochs).to_dict()))
    return [sys.executable, "-m", "cotmask.cli", "train", "--config", str(path)], scratch / "model" / "train_metrics.json"


def pretrain_command(root: Path, base_dir: str, scratch: Path, epochs: int | None) -> tuple[list[str], Path]:
    """``cotmask pretrain`` with the recorded settings of a finished base model, into ``scratch``."""
    s = json.loads((root / base_dir / "pretrain_metrics.json").read_text())["settings"]
    command = [sys.executable, "-m", "cotmask.cli", "pretrain", "--tokenizer", str(root / s["tokenizer_dir"]),
               "--corpus", *[str(root / f) for f in s["corpus_files"]], "--out", str(scratch / "model"),
               "--shape", s["shape"], "--hidden-size", str(s["hidden_size"]), "--num-layers", str(s["num_layers"]),
               "--num-heads", str(s["num_heads"]), "--num-kv-heads", str(s["num_kv_heads"]),
               "--intermediate-size", str(s["intermediate_size"]),
               "--max-position-embeddings", str(s["max_position_embeddings"]),
               "--epochs", str(epochs if epochs is not None else s["pretrain_epochs"]), "--lr", str(s["pretrain_lr"]),
               "--batch-size", str(s["batch_size"]), "--max-length", str(s["max_length"]), "--seed", str(s["seed"]),
               "--threads", "1", "--length-buckets", str(s["length_buckets"])]
    if s.get("sliding_window") is not None:
        command += ["--sliding-window", str(s["sliding_window"])]
    if not s["label_logits_only"]:
        command.append("--full-logits")
    return command, scratch / "model" / "pretrain_metrics.json"


def compile_arguments(kind: str, job: str, cache: Path) -> list[str]:
    """The command-line switch of ``compile`` and its cache for one job kind (nothing for eager)."""
    if kind == "eager":
        return []
    if job == "finetune":
        return ["--set", "compile=true", "--set", f"compile_cache_dir={cache}"]
    return ["--compile", "--compile-cache-dir", str(cache)]


def run_once(job: str, build, kind: str, cache: Path, work: Path, index: int) -> dict:
    scratch = work / f"{job}-{index}-{kind}"
    command, metrics_file = build(scratch)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run(command + compile_arguments(kind, job, cache), check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    metrics = json.loads(metrics_file.read_text())
    shutil.rmtree(scratch, ignore_errors=True)
    row = {"job": job, "kind": kind, "job_wall_s": round(wall, 2), "train_wall_s": metrics["train_wall_time_s"],
           "compile_s": metrics.get("compile_time_s", 0.0), "tokens_per_s": metrics["tokens_per_s"],
           "compiled": metrics.get("compiled", False), "optimizer_steps": metrics["optimizer_steps"]}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def summary(rows: list[dict]) -> dict:
    """Medians of the eager and warm runs, the cold run, and the ratios eager ÷ warm."""
    def median(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["kind"] == kind)

    eager_loop = median("eager", "train_wall_s")
    warm_loop = median("warm", "train_wall_s") - median("warm", "compile_s")
    cold = next(r for r in rows if r["kind"] == "cold")
    return {
        "eager_job_s": median("eager", "job_wall_s"), "warm_job_s": median("warm", "job_wall_s"),
        "cold_job_s": cold["job_wall_s"], "cold_compile_s": cold["compile_s"],
        "warm_compile_s": median("warm", "compile_s"),
        "job_ratio_eager_over_warm": round(median("eager", "job_wall_s") / median("warm", "job_wall_s"), 3),
        "loop_ratio_eager_over_warm_without_compile": round(eager_loop / warm_loop, 3),
        "break_even_loop_s": round(median("warm", "compile_s") / (1 - warm_loop / eager_loop), 1)
        if warm_loop < eager_loop else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."), help="the run folder the recorded paths are relative to")
    parser.add_argument("--finetune", help="a finished fine-tune's folder (relative to --root)")
    parser.add_argument("--finetune-epochs", type=int, default=None, help="override its epochs")
    parser.add_argument("--base", help="a finished base model's folder (relative to --root)")
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="override its pre-training epochs")
    parser.add_argument("--out", type=Path, default=None, help="write the rows and summaries here (JSON)")
    args = parser.parse_args(argv)
    jobs = []
    if args.finetune:
        jobs.append(("finetune", lambda s: finetune_command(args.root.resolve(), args.finetune, s, args.finetune_epochs)))
    if args.base:
        jobs.append(("pretrain", lambda s: pretrain_command(args.root.resolve(), args.base, s, args.pretrain_epochs)))
    if not jobs:
        parser.error("name --finetune and/or --base")
    results = {"settings": {k: str(v) for k, v in vars(args).items()}, "order": ORDER, "rows": [], "summary": {}}
    with tempfile.TemporaryDirectory(prefix="cotmask-bench-compile-") as tmp:
        work = Path(tmp)
        for job, build in jobs:
            cache = work / f"cache-{job}"  # empty for the cold run, filled by it for the warm ones
            rows = [run_once(job, build, kind, cache, work, i) for i, kind in enumerate(ORDER)]
            results["rows"] += rows
            results["summary"][job] = summary(rows)
    print("| job | run | job wall (s) | training loop (s) | compile (s) | tokens/s |")
    print("|---|---|---|---|---|---|")
    for r in results["rows"]:
        print(f"| {r['job']} | {r['kind']} | {r['job_wall_s']} | {r['train_wall_s']} | {r['compile_s']} | {r['tokens_per_s']} |")
    print()
    for job, s in results["summary"].items():
        print(f"{job}: " + ", ".join(f"{k} {v}" for k, v in s.items()))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
