"""Summarise a workflow run's job times per rule from Snakemake's ``benchmark:`` files.

Every rule writes ``logs/benchmarks/<rule>/<wildcards>.tsv`` (one line: wall seconds ``s``, peak memory,
CPU time...). This prints, per rule, the number of jobs, the summed and mean wall time, and the largest
peak RSS, as the Markdown table the README shows:

    python benchmarks/rule_times.py [--root logs/benchmarks] [--json out.json]

Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def read_benchmark(path: Path) -> dict:
    """The last data row of one Snakemake benchmark TSV (a repeated benchmark writes several)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        raise ValueError(f"{path}: no benchmark row")
    return rows[-1]


def rule_times(root: Path) -> list[dict]:
    """Per rule: jobs, summed and mean wall time (s), max peak RSS (MB), from ``root/<rule>/**/*.tsv``."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no benchmark folder (run the workflow first)")
    summary = []
    for rule_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        rows = [read_benchmark(path) for path in sorted(rule_dir.rglob("*.tsv"))]
        if not rows:
            continue
        seconds = [float(row["s"]) for row in rows]
        rss = [float(row["max_rss"]) for row in rows if row.get("max_rss") not in (None, "", "-", "NA")]
        summary.append(
            {
                "rule": rule_dir.name,
                "jobs": len(rows),
                "total_s": sum(seconds),
                "mean_s": sum(seconds) / len(seconds),
                "max_s": max(seconds),
                "max_rss_mb": max(rss) if rss else None,
            }
        )
    return sorted(summary, key=lambda row: -row["total_s"])


def markdown(summary: list[dict]) -> str:
    lines = ["| rule | jobs | summed job time | mean per job | longest job |", "|---|---|---|---|---|"]
    for row in summary:
        lines.append(
            f"| `{row['rule']}` | {row['jobs']} | {row['total_s'] / 60:.1f} min | {row['mean_s']:.0f} s | {row['max_s']:.0f} s |"
        )
    total = sum(row["total_s"] for row in summary)
    lines.append(f"| all | {sum(row['jobs'] for row in summary)} | {total / 60:.1f} min | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="logs/benchmarks", help="the workflow's benchmark folder")
    parser.add_argument("--json", default=None, help="also write the summary as JSON here")
    args = parser.parse_args(argv)
    summary = rule_times(Path(args.root))
    print(markdown(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
