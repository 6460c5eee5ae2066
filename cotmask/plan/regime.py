"""The regime map in the plan (config key ``regime``; cotmask.regime, cotmask.report.regime_map): the
selection rule's SFT-only inputs and the map's fine-tunes and outputs.

A mixin of :class:`cotmask.plan.Plan`: it reads ``self.config``, ``self.seeds_of``, ``self.index_records``.
"""

from __future__ import annotations

from cotmask.plan.params import canonical
from cotmask.plan.paths import base_model_dir, eval_dir, ft_dir
from cotmask.plan.settings import cell_for
from cotmask.report.outputs import regime_map_paths


class RegimeMapPlan:
    """The regime map's jobs: the selection (SFT and SFT-long runs only) and the map's tables and figures."""

    config: dict
    index_records: list[dict]

    def regime_candidates(self) -> list[tuple[str, str]]:
        """(model, train_set) of every candidate point of the regime map, each once, in config order."""
        points = self.config["regime"]["points"]
        return list(dict.fromkeys((p["model"], p["train_set"]) for p in points if p["candidate"]))

    def regime_selection_file(self) -> str:
        return f"{self.config['results_dir']}/regime_selection.json"

    def _regime_runs(self, methods=("sft", "sft_long")) -> list[tuple[str, str, str, int]]:
        """The candidates' SFT-only fine-tunes (the rule never reads an MFT run)."""
        return [
            (model, train_set, method, seed)
            for model, train_set in self.regime_candidates()
            for method in methods
            for seed in self.seeds_of(cell_for(self.config, model, train_set))
        ]

    def regime_selection_inputs(self) -> dict[str, list[str]]:
        """What the selection reads: the candidates' SFT and SFT-long evaluations, SFT-long fine-tunes and
        base models."""
        runs = self._regime_runs()
        return {
            "evals": [eval_dir(*run) for run in runs],
            "sft_long": [ft_dir(*run) for run in runs if run[2] == "sft_long"],
            "base": sorted({base_model_dir(model) for model, *_ in runs}),
        }

    def regime_map_runs(self) -> list[dict]:
        """Every fine-tune of the map's cells (all their methods and seeds) with its folder."""
        cells = [cell_for(self.config, p["model"], p["train_set"]) for p in self.config["regime"]["points"]]
        return [
            {"model": cell["model"], "train_set": cell["train_set"], "method": method, "seed": seed,
             "dir": ft_dir(cell["model"], cell["train_set"], method, seed)}
            for cell in {id(cell): cell for cell in cells}.values()
            for method in cell["methods"]
            for seed in self.seeds_of(cell)
        ]

    def regime_map_files(self) -> list[str]:
        return [str(path) for path in regime_map_paths(self.config["results_dir"]).values()]

    def regime_selection_settings(self) -> dict:
        """The rule's params: the config's regime section with its candidate points only (a point added
        with ``candidate: false`` does not rerun the selection), the index records it reads, the metrics
        files."""
        runs = set(self._regime_runs())
        records = [r for r in self.index_records if (r["model"], r["train_set"], r["method"], r["seed"]) in runs]
        sft_long: dict[str, list[str]] = {}
        for model, train_set, method, seed in self._regime_runs(("sft_long",)):
            sft_long.setdefault(f"{model}/{train_set}", []).append(ft_dir(model, train_set, method, seed))
        models = sorted({model for model, _ in self.regime_candidates()})
        regime = self.config["regime"]
        return canonical(
            {
                "regime": {**regime, "points": [point for point in regime["points"] if point["candidate"]]},
                "records": records,
                "base_metrics": {model: f"{base_model_dir(model)}/pretrain_metrics.json" for model in models},
                "sft_long_runs": sft_long,
            }
        )
