"""Where a workflow run's job time went: the training or decoding inside each job against the rest.

For every ``base_model``, ``finetune`` and ``evaluate`` job of the last run it joins the job's wall time
(Snakemake's ``benchmark:`` file) with what the job itself measured: ``train_wall_time_s``, ``tokens_per_s``
and ``padding_fraction`` of ``pretrain_metrics.json``/``train_metrics.json``, and the summed ``wall_time_s``
of the evaluation summaries. The remainder is start-up (interpreter, imports, model loading), data
encoding and saving. Prints a Markdown table (the README's profile of the default run), then the run's
compute bound: the shortest wall time these job times allow on ``--cores`` cores, where every job uses one
core (the workflow's jobs run with one thread): all the job time spread over the cores, and never less than
the longest base-model job, which every fine-tune waits for:

    python benchmarks/run_profile.py [--work work] [--rules logs/benchmarks] [--cores 2] [--json out.json]

Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script from anywhere: its sibling module
from rule_times import read_benchmark, rule_times  # noqa: E402


def _job_seconds(path: Path) -> float:
    return float(read_benchmark(path)["s"])


def training_jobs(rules: Path, work: Path, rule: str) -> list[dict]:
    """Per job: wall, training seconds, tokens/s and padding share (base_model or finetune)."""
    rows = []
    for tsv in sorted((rules / rule).rglob("*.tsv")):
        relative = tsv.relative_to(rules / rule).with_suffix("")
        if rule == "base_model":
            metrics_file = work / "models" / "base" / relative / "pretrain_metrics.json"
        else:
            metrics_file = work / "models" / "ft" / relative / "train_metrics.json"
        if not metrics_file.is_file():
            continue
        metrics = json.loads(metrics_file.read_text())
        rows.append({"job": str(relative), "wall_s": _job_seconds(tsv), "train_s": metrics["train_wall_time_s"],
                     "tokens_per_s": metrics["tokens_per_s"], "padding": metrics.get("padding_fraction")})
    return rows


def evaluation_jobs(rules: Path, work: Path) -> list[dict]:
    """Per evaluate job: wall and the summed decoding time of its (benchmark, decoding) runs."""
    rows = []
    for tsv in sorted((rules / "evaluate").rglob("*.tsv")):
        relative = tsv.relative_to(rules / "evaluate").with_suffix("")
        summaries = list((work / "evals" / relative).glob("*.json"))
        if not summaries:
            continue
        decoding = sum(json.loads(path.read_text())["wall_time_s"] for path in summaries)
        rows.append({"job": str(relative), "wall_s": _job_seconds(tsv), "decode_s": decoding})
    return rows


def summarise(rows: list[dict], inner: str) -> dict:
    wall = sum(r["wall_s"] for r in rows)
    inside = sum(r[inner] for r in rows)
    summary = {"jobs": len(rows), "wall_s": round(wall, 1), f"{inner}": round(inside, 1),
               "other_s": round(wall - inside, 1), "other_per_job_s": round((wall - inside) / len(rows), 1)}
    if rows and "tokens_per_s" in rows[0]:
        summary["median_tokens_per_s"] = round(statistics.median(r["tokens_per_s"] for r in rows))
        paddings = [r["padding"] for r in rows if r["padding"] is not None]
        summary["median_padding"] = round(statistics.median(paddings), 4) if paddings else None
    return summary


def wall_bound(longest: float, total_s: float, cores: int) -> dict:
    """The compute bound of a run (seconds): its job time ``total_s`` over ``cores`` one-core jobs, or the
    longest base-model job (``longest``) where that is longer."""
    if cores < 1:
        raise ValueError(f"cores={cores}: expected at least 1")
    return {"cores": cores, "job_s": round(total_s, 1), "base_model_s": round(longest, 1),
            "bound_s": round(max(total_s / cores, longest), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="work", help="the run's work/ folder")
    parser.add_argument("--rules", default="logs/benchmarks", help="the run's Snakemake benchmark files")
    parser.add_argument("--cores", type=int, default=2, help="cores of the run, for its compute bound")
    parser.add_argument("--json", default=None, help="also write the summary as JSON here")
    args = parser.parse_args(argv)
    work, rules = Path(args.work), Path(args.rules)
    if not rules.is_dir():
        print(f"error: {rules}: no benchmark folder (run the workflow first)", file=sys.stderr)
        return 2
    summary = {}
    for rule in ("base_model", "finetune"):
        rows = training_jobs(rules, work, rule)
        if rows:
            summary[rule] = summarise(rows, "train_s")
    rows = evaluation_jobs(rules, work)
    if rows:
        summary["evaluate"] = summarise(rows, "decode_s")
    print("| rule | jobs | job time | training / decoding | rest (start-up, encoding, saving) | rest per job | "
          "median tokens/s | median padding |")
    print("|---|---|---|---|---|---|---|---|")
    for rule, row in summary.items():
        inner = row.get("train_s", row.get("decode_s"))
        tokens = f"{row['median_tokens_per_s']:,}" if "median_tokens_per_s" in row else "–"
        padding = f"{row['median_padding']:.1%}" if row.get("median_padding") is not None else "–"
        print(f"| `{rule}` | {row['jobs']} | {row['wall_s'] / 60:.1f} min | {inner / 60:.1f} min | "
              f"{row['other_s'] / 60:.1f} min | {row['other_per_job_s']:.1f} s | {tokens} | {padding} |")
    per_rule = rule_times(rules)
    longest = next((row["max_s"] for row in per_rule if row["rule"] == "base_model"), 0.0)
    bound = wall_bound(longest, sum(row["total_s"] for row in per_rule), args.cores)
    summary["bound"] = bound
    print(f"\nCompute bound on {bound['cores']} cores: {bound['bound_s'] / 60:.1f} min ({bound['job_s'] / 60:.1f} min "
          f"of job time over {bound['cores']} cores; the longest base model {bound['base_model_s'] / 60:.1f} min)")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
