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
#: The files of each table: ``csv`` (numbers at full precision), ``md``, ``tex`` and ``html`` (rounded for
#: reading; the HTML file is what ``snakemake --report`` shows).
TABLE_FORMATS = ("csv", "md", "tex", "html")
#: Every figure build_tables draws as ``figures/{name}.png``; the first is the headline figure.
FIGURE_NAMES = ("forest_deltas", "fig3_mask_ratio", "main_results", "main_results_plain", "accuracy_by_steps")
#: The format of each table shown in ``snakemake --report`` (its caption: report/table_{stem}.rst).
REPORT_TABLE_FORMAT = "html"
#: The overfitting diagnostics table (train/test accuracy and clean loss at the last epoch, gaps, best
#: epoch; :func:`cotmask.report.regime_map.diagnostics_table`), written by build_tables only when it is given
#: fine-tunes with diagnostics (``diagnostics_runs``): it comes from training files, not from evaluations.
DIAGNOSTICS_STEM = "diagnostics"


def output_paths(out_dir: str | os.PathLike, figures: bool = True, diagnostics: bool = False) -> dict[str, Path]:
    """Every file :func:`cotmask.report.build_tables` writes under ``out_dir`` (name -> path), for rule
    outputs; ``diagnostics``: also the diagnostics table (when build_tables gets ``diagnostics_runs``)."""
    out = Path(out_dir)
    paths = {}
    for stem in TABLE_STEMS + ((DIAGNOSTICS_STEM,) if diagnostics else ()):
        for ext in TABLE_FORMATS:
            paths[f"{stem}.{ext}"] = out / "tables" / f"{stem}.{ext}"
    if figures:
        for name in FIGURE_NAMES:
            paths[f"{name}.png"] = out / "figures" / f"{name}.png"
    paths["summary.json"] = out / "summary.json"
    return paths


def report_entry(name: str) -> tuple[str, str] | None:
    """(caption file name under report/, report category) of an output named as in :func:`output_paths`,
    or None when ``snakemake --report`` does not show it (the CSV, Markdown and LaTeX tables,
    summary.json)."""
    stem, _, ext = name.rpartition(".")
    if ext == REPORT_TABLE_FORMAT and stem in TABLE_STEMS + (DIAGNOSTICS_STEM,):
        return f"table_{stem}.rst", "Tables"
    if ext == "png" and stem in FIGURE_NAMES:
        return f"figure_{stem}.rst", "Figures"
    return None


# the regime map's outputs (cotmask.report.regime_map), here so that the planner lists them without
# importing the plotting code
MAP_FILES = tuple(f"tables/{stem}.{ext}" for stem in ("regime_map", DIAGNOSTICS_STEM) for ext in TABLE_FORMATS) + (
             "figures/regime_map.png", "figures/fig2_samples_seen.png")


def regime_map_paths(out_dir: str | os.PathLike) -> dict[str, Path]:
    """Every file :func:`cotmask.report.regime_map.build_regime_map` writes, by its name relative to ``out_dir``."""
    return {name: Path(out_dir) / name for name in MAP_FILES}
