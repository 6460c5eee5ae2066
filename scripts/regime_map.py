"""Snakemake adapter: the regime map's tables and figures.

Calls ``cotmask.report.regime_map.build_regime_map`` with the comparisons table of the ``tables`` rule
(input.comparisons), the map's fine-tunes and the config's regime section (params.settings, from
cotmask.plan), writing into the results folder (output[0] is its tables/regime_map.csv).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from pathlib import Path  # noqa: E402

from cotmask.report.regime_map import build_regime_map  # noqa: E402

build_regime_map(
    snakemake.input.comparisons,
    snakemake.params.settings["runs"],
    snakemake.params.settings["regime"],
    Path(snakemake.output[0]).parents[1],
)
