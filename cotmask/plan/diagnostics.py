"""The overfitting diagnostics of each fine-tune in the plan (config key ``diagnostics``; cotmask.diagnostics).

A mixin of :class:`cotmask.plan.Plan`: it reads ``self.config``, ``self.benchmark_file`` and ``self.finetunes``.
"""

from __future__ import annotations

from cotmask.plan.params import canonical
from cotmask.plan.paths import ft_dir


class DiagnosticsPlan:
    """Which test file and settings the diagnostics of a fine-tune get (none when they are off)."""

    config: dict

    def diagnostics_benchmark(self, model: str, train_set: str) -> str | None:
        """The benchmark whose data is the diagnostics' test subset for fine-tunes of (model, train_set):
        ``diagnostics.benchmark``, else the first benchmark of the first cell (then sweep) of that pair;
        None when the diagnostics are off or no cell or sweep names the pair (an RFT sampler outside them)."""
        diagnostics = self.config["diagnostics"]
        if diagnostics["items"] == 0:
            return None
        if diagnostics["benchmark"] is not None:
            return diagnostics["benchmark"]
        entries = [*self.config["cells"], *self.config["sweeps"].values()]
        for entry in entries:
            if (entry["model"], entry["train_set"]) == (model, train_set) and entry["benchmarks"]:
                return entry["benchmarks"][0]
        return None

    def diagnostics_settings(self, model: str, train_set: str) -> dict:
        """FinetuneConfig's diagnostics keys (empty when they are off for this pair, so that the params
        of a config without diagnostics stay what they were)."""
        benchmark = self.diagnostics_benchmark(model, train_set)
        if benchmark is None:
            return {}
        diagnostics = self.config["diagnostics"]
        return {
            "diagnostics_items": diagnostics["items"],
            "diagnostics_max_new_tokens": diagnostics["max_new_tokens"],
            "diagnostics_batch_size": diagnostics["batch_size"],
            "diagnostics_scoring": self.config["benchmarks"][benchmark]["scoring"],
        }

    def tables_diagnostics_runs(self) -> list[dict]:
        """The fine-tunes of the tables job's diagnostics table (``{results_dir}/tables/diagnostics.*``):
        every fine-tune with diagnostics on, in the plan's order, with its folder; empty when they are off,
        and for a config with a regime map, whose own rule writes that table (the same runs, in the same
        order)."""
        if self.config["regime"]["points"]:
            return []
        return canonical([
            {"model": model, "train_set": train_set, "method": method, "seed": seed,
             "dir": ft_dir(model, train_set, method, seed)}
            for model, train_set, method, seed in self.finetunes
            if self.diagnostics_benchmark(model, train_set) is not None
        ])
