"""The dependency case study in the plan (config key ``analyses.case_study``; cotmask.analysis.case_study):
one ``case_study`` job per fine-tune of the cells that have a GSM-style benchmark, and one
``case_study_table`` job writing ``{results_dir}/tables/table4_case_study.*`` and its figure.

A mixin of :class:`cotmask.plan.Plan`: it reads ``self.config``, ``self.seeds_of`` and ``self.benchmark_file``.
Off by default (``enabled: false``): then it plans no job and adds no target.
"""

from __future__ import annotations

from cotmask.plan.analysis import analysis_cells, find_run
from cotmask.plan.params import canonical
from cotmask.plan.paths import ft_dir
from cotmask.plan.schema import ConfigError

#: where the case-study jobs write {model}/{train_set}/{method}/seed{seed}.jsonl|.json
CASE_STUDY = "work/case_study"
#: the table and figure of the aggregation job, relative to results_dir (cotmask.analysis.case_study)
CASE_STUDY_FILES = tuple(f"tables/table4_case_study.{ext}" for ext in ("csv", "md", "tex", "html")) + (
    "figures/table4_case_study.png",
)
KEY = "analyses.case_study"


def case_study_prefix(model: str, train_set: str, method: str, seed) -> str:
    """Output path of one case-study job without extension (.jsonl rows, .json summary)."""
    return f"{CASE_STUDY}/{model}/{train_set}/{method}/seed{seed}"


class CaseStudyPlan:
    """The case study's jobs, inputs and params."""

    config: dict

    @property
    def case_study_config(self) -> dict:
        return (self.config.get("analyses") or {}).get("case_study") or {"enabled": False}

    def _case_study_benchmark(self, cell: dict) -> str | None:
        """The benchmark whose data holds a cell's case-study problems: the configured one, else the cell's
        first GSM8K-scored benchmark; None when the cell has none (a MATH-only cell is left out)."""
        chosen = self.case_study_config.get("benchmark")
        if chosen is not None:
            return chosen
        for benchmark in cell["benchmarks"]:
            if self.config["benchmarks"][benchmark]["scoring"] == "gsm8k":
                return benchmark
        return None

    def case_study_runs(self) -> list[dict]:
        """Every fine-tune of the study: {model, train_set, method, seed, data} (data None for the paper's
        own question), in config order, each once; [] when the case study is off or no cell has a GSM8K-scored
        benchmark. Checks the configured benchmark."""
        settings = self.case_study_config
        if not settings.get("enabled"):
            return []
        chosen = settings.get("benchmark")
        if chosen is not None and chosen not in self.config["benchmarks"]:
            raise ConfigError(f"{KEY}.benchmark", f"unknown benchmark {chosen!r}")
        runs: dict[tuple, dict] = {}
        for cell in analysis_cells(self.config, KEY, settings):
            benchmark = self._case_study_benchmark(cell)
            if benchmark is None:
                continue
            data = None if settings["source"] == "janet" else self.benchmark_file(benchmark)
            for method in cell["methods"]:
                for seed in self.seeds_of(cell):
                    key = (cell["model"], cell["train_set"], method, seed)
                    runs.setdefault(key, dict(zip(("model", "train_set", "method", "seed"), key), data=data))
        return list(runs.values())  # none when no cell has a GSM8K-scored benchmark: no job

    def _case_study_run(self, model: str, train_set: str, method: str, seed) -> dict:
        return find_run(self.case_study_runs(), model, train_set, method, seed, "case-study")

    def case_study_job_counts(self) -> dict[str, int]:
        runs = self.case_study_runs()
        return {"case_study": len(runs), "case_study_table": 1} if runs else {}

    def case_study_inputs(self, model: str, train_set: str, method: str, seed) -> dict[str, str]:
        """A job's inputs: the fine-tuned model and (held-out problems) the benchmark's data file."""
        run = self._case_study_run(model, train_set, method, seed)
        inputs = {"model": ft_dir(model, train_set, method, seed)}
        if run["data"] is not None:
            inputs["data"] = run["data"]
        return inputs

    def case_study_settings(self, model: str, train_set: str, method: str, seed) -> dict:
        """run_case_study() keywords of one job (canonical), its labels included."""
        self._case_study_run(model, train_set, method, seed)
        settings = self.case_study_config
        keys = ("items", "variants", "seed", "source", "max_new_tokens", "batch_size")
        return canonical({
            **{key: settings[key] for key in keys},
            "labels": {"model": model, "train_set": train_set, "method": method, "seed": int(seed)},
        })

    def case_study_summaries(self) -> list[str]:
        """The summary file of every case-study job (the aggregation's inputs)."""
        return [f"{case_study_prefix(r['model'], r['train_set'], r['method'], r['seed'])}.json"
                for r in self.case_study_runs()]

    def case_study_files(self) -> list[str]:
        """The aggregation's outputs under results_dir; [] when the case study is off."""
        if not self.case_study_runs():
            return []
        return [f"{self.config['results_dir']}/{name}" for name in CASE_STUDY_FILES]

    def case_study_table_settings(self) -> dict:
        settings = self.case_study_config
        return canonical({"control": settings["control"], "n_resamples": settings["n_resamples"]})
