"""Snakemake adapter: apply the regime selection rule to the candidates' SFT-only runs.

Calls ``cotmask.regime.select_from_runs`` with the config's ``regime`` section, the evaluation index of the
candidates' SFT and SFT-long runs and their metrics files (params.settings, from cotmask.plan), and writes
the selection with every candidate's numbers to output[0].
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # injected by Snakemake at run time
    from snakemake.script import Snakemake

    snakemake: Snakemake

from cotmask.logs import log_to  # noqa: E402

log_to(snakemake.log[0], job=snakemake)

from cotmask.records import write_json  # noqa: E402
from cotmask.regime import select_from_runs  # noqa: E402

settings = snakemake.params.settings
selection = select_from_runs(
    settings["regime"],
    settings["records"],
    base_metrics=settings["base_metrics"],
    sft_long_runs=settings["sft_long_runs"],
)
write_json(selection, snakemake.output[0])
print(f"regime selection: {selection['chosen']}")
