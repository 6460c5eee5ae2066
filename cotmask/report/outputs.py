"""The fixed set of files :func:`cotmask.report.build_tables` writes (the workflow's rule outputs)."""

from __future__ import annotations

import os
from pathlib import Path

#: Every table build_tables writes as ``tables/{stem}.csv|md|tex`` (the same set whatever the data).
TABLE_STEMS = (
    "table1_main",
    "table2_rft",
    "table5_distractors",
    "table3_regularisers",
    "comparisons",
    "accuracy_cells",
    "fig3_mask_ratio",
    "accuracy_by_steps",
    "accuracy_by_distractor",
)
#: Every figure build_tables draws as ``figures/{name}.png``.
FIGURE_NAMES = ("fig3_mask_ratio", "main_results", "main_results_plain", "accuracy_by_steps")


def output_paths(out_dir: str | os.PathLike, figures: bool = True) -> dict[str, Path]:
    """Every file :func:`cotmask.report.build_tables` writes under ``out_dir`` (name -> path), for rule
    outputs."""
    out = Path(out_dir)
    paths = {}
    for stem in TABLE_STEMS:
        for ext in ("csv", "md", "tex"):
            paths[f"{stem}.{ext}"] = out / "tables" / f"{stem}.{ext}"
    if figures:
        for name in FIGURE_NAMES:
            paths[f"{name}.png"] = out / "figures" / f"{name}.png"
    paths["summary.json"] = out / "summary.json"
    return paths


# the regime map's outputs (cotmask.report.regime_map), here so that the planner lists them without
# importing the plotting code
MAP_FILES = ("tables/regime_map.csv", "tables/regime_map.md", "tables/regime_map.tex",
             "tables/diagnostics.csv", "tables/diagnostics.md", "tables/diagnostics.tex",
             "figures/regime_map.png", "figures/fig2_samples_seen.png")


def regime_map_paths(out_dir: str | os.PathLike) -> dict[str, Path]:
    """Every file :func:`cotmask.report.regime_map.build_regime_map` writes, by its name relative to ``out_dir``."""
    return {name: Path(out_dir) / name for name in MAP_FILES}
