"""The tables and the regime map of the runs of a workflow config that exist so far (a partial run).

A long run (the regime map takes hours) can be read before it ends: :func:`build_partial_report` plans
the config (:class:`cotmask.plan.Plan`), keeps the evaluations whose files exist under the working
directory, and writes what :func:`cotmask.report.build_tables` and, for a config with a regime map,
:func:`cotmask.report.regime_map.build_regime_map` make of them, plus ``runs.csv`` (one row per fine-tune and decoding) and ``partial_run.json`` saying how
many of the planned evaluations and fine-tunes it covers. The workflow's own ``tables``/``regime_map``
rules always wait for every run; this never replaces them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from cotmask.plan import Plan, load_config
from cotmask.plan.paths import ft_dir
from cotmask.records import write_json
from cotmask.report import build_tables
from cotmask.report.regime_map import build_regime_map


def build_partial_report(config_path: str | os.PathLike, out_dir: str | os.PathLike,
                         workdir: str | os.PathLike = ".", seeds: list[int] | None = None) -> dict[str, Any]:
    """Write the tables (and regime map) of the existing runs of ``config_path`` into ``out_dir``.

    Paths in the plan are relative to ``workdir`` (the folder Snakemake ran in); ``seeds`` keeps only those
    training seeds (so that every arm of a comparison has the same ones). Returns the coverage.
    """
    plan = Plan(load_config(config_path))
    root = Path(workdir)
    index = [{**r, "path": str(root / r["path"]), "summary": str(root / r["summary"])}
             for r in plan.index_records if (root / r["summary"]).exists() and (root / r["path"]).exists()
             and (seeds is None or r["seed"] in seeds)]
    if not index:
        raise FileNotFoundError(f"{root}: no evaluation of {config_path} exists yet")
    build_tables(index, out_dir, **plan.tables_options())
    coverage = {"config": str(config_path), "seeds": seeds, "evaluations": len(index),
                "evaluations_planned": len(plan.index_records)}
    if plan.config["regime"]["points"]:
        runs = [{**r, "dir": str(root / r["dir"])} for r in plan.regime_map_runs()
                if (root / r["dir"] / "train_metrics.json").exists() and (seeds is None or r["seed"] in seeds)]
        present = {(r["model"], r["train_set"]) for r in index}
        regime = {**plan.config["regime"],
                  "points": [p for p in plan.config["regime"]["points"] if (p["model"], p["train_set"]) in present]}
        build_regime_map(Path(out_dir) / "tables" / "comparisons.csv", runs, regime, out_dir)
        coverage.update({"finetunes": len(runs), "finetunes_planned": len(plan.regime_map_runs())})
    run_rows(index, root).to_csv(Path(out_dir) / "runs.csv", index=False)
    write_json(coverage, Path(out_dir) / "partial_run.json")
    return coverage


def run_rows(index: list[dict], root: Path) -> pd.DataFrame:
    """One row per (fine-tune, decoding): accuracy (%) per benchmark, and the fine-tune's diagnostics summary
    and training time when its ``train_metrics.json`` exists -- the small per-run record the tables are
    rebuilt from."""
    rows: dict[tuple, dict] = {}
    for record in index:
        key = (record["model"], record["train_set"], record["method"], record["seed"], record["decoding"])
        row = rows.setdefault(key, dict(zip(("model", "train_set", "method", "seed", "decoding"), key)))
        row[record["benchmark"]] = round(100 * json.loads(Path(record["summary"]).read_text())["accuracy"], 4)
        metrics_path = root / ft_dir(*key[:4]) / "train_metrics.json"
        if metrics_path.exists() and "train_wall_time_s" not in row:
            metrics = json.loads(metrics_path.read_text())
            row["train_wall_time_s"] = metrics.get("train_wall_time_s")
            row.update({f"diag_{k}": v for k, v in (metrics.get("diagnostics") or {}).items()})
    return pd.DataFrame(list(rows.values()))
