"""The dependency-distance analysis in the plan (config key ``analyses.dependency``;
cotmask.analysis.dependency): one ``dependency`` job per fine-tune of the cells with a GSM8K-scored test
benchmark, and one ``dependency_table`` job writing ``{results_dir}/tables/dependency.*`` and
``figures/dependency.png``.

A mixin of :class:`cotmask.plan.Plan`: it reads ``self.config``, ``self.seeds_of`` and ``self.benchmark_file``.
Off by default (``enabled: false``): then it plans no job and adds no target.
"""

from __future__ import annotations

from cotmask.plan.params import canonical
from cotmask.plan.schema import ConfigError

#: where the dependency jobs write {model}/{train_set}/{method}/seed{seed}.json
DEPENDENCY = "work/analysis/dependency"
#: the aggregation's outputs, relative to results_dir (cotmask.analysis.dependency_table.output_paths)
DEPENDENCY_FILES = tuple(f"tables/dependency.{ext}" for ext in ("csv", "md", "tex", "html")) + (
    "figures/dependency.png",
)
DEPENDENCY_KEY = "analyses.dependency"
#: the tables roles whose benchmarks are the irrelevant-number control when control_benchmarks is null
CONTROL_ROLES = ("ic_2step", "ic_mstep")


def analysis_cells(config: dict, key: str, settings: dict) -> list[dict]:
    """The cells an analysis measures: every cell of the config, or those named in ``settings["cells"]``
    (``"model/train_set"``, e.g. ``same/n1000``) when it is a list; a name that is no cell is a ConfigError
    naming ``<key>.cells[i]``."""
    chosen = settings.get("cells")
    cells = config["cells"]
    if chosen is None:
        return list(cells)
    names = [f"{cell['model']}/{cell['train_set']}" for cell in cells]
    for index, name in enumerate(chosen):
        if name not in names:
            raise ConfigError(f"{key}.cells[{index}]", f"no cell {name!r} (cells: {', '.join(names)})")
    return [cell for cell, name in zip(cells, names) if name in chosen]


def find_run(runs: list[dict], model: str, train_set: str, method: str, seed, analysis: str) -> dict:
    """The run of one fine-tune among an analysis' ``runs`` (seed compared as text: wildcards are strings);
    LookupError naming the ``analysis`` when the config has none."""
    wanted = (model, train_set, method, str(seed))
    for run in runs:
        if (run["model"], run["train_set"], run["method"], str(run["seed"])) == wanted:
            return run
    raise LookupError(f"no {analysis} run of {(model, train_set, method, seed)} in the config")


def dependency_file(model: str, train_set: str, method: str, seed) -> str:
    """Output of one dependency job."""
    return f"{DEPENDENCY}/{model}/{train_set}/{method}/seed{seed}.json"


class DependencyPlan:
    """The dependency analysis' jobs, inputs and params."""

    config: dict

    @property
    def dependency_config(self) -> dict:
        return (self.config.get("analyses") or {}).get("dependency") or {"enabled": False}

    def _dependency_test_benchmark(self, cell: dict) -> str | None:
        """A cell's test benchmark: the configured one when the cell evaluates it, else (null) the cell's first
        GSM8K-scored benchmark; None leaves the cell out."""
        chosen = self.dependency_config.get("benchmark")
        if chosen is not None:
            return chosen if chosen in cell["benchmarks"] else None
        for benchmark in cell["benchmarks"]:
            if self.config["benchmarks"][benchmark]["scoring"] == "gsm8k":
                return benchmark
        return None

    def _dependency_control_benchmarks(self, cell: dict) -> list[str]:
        """The GSM-IC benchmarks of the irrelevant control: the configured list, else (null) the cell's
        benchmarks in the tables' ic_2step / ic_mstep roles."""
        chosen = self.dependency_config.get("control_benchmarks")
        if chosen is not None:
            return list(chosen)
        from cotmask.report.roles import DEFAULT_BENCHMARKS

        roles = {**DEFAULT_BENCHMARKS, **(self.config["tables"].get("benchmarks") or {})}
        return [roles[role] for role in CONTROL_ROLES if roles.get(role) in cell["benchmarks"]]

    def _check_dependency_benchmarks(self) -> None:
        settings = self.dependency_config
        known = self.config["benchmarks"]
        if settings.get("benchmark") is not None and settings["benchmark"] not in known:
            raise ConfigError(f"{DEPENDENCY_KEY}.benchmark", f"unknown benchmark {settings['benchmark']!r}")
        for index, name in enumerate(settings.get("control_benchmarks") or []):
            if name not in known:
                raise ConfigError(f"{DEPENDENCY_KEY}.control_benchmarks[{index}]", f"unknown benchmark {name!r}")

    def dependency_runs(self) -> list[dict]:
        """Every fine-tune the analysis measures: {model, train_set, method, seed, test, control} (benchmark
        names), in config order, each once; [] when it is off. Checks the config."""
        if not self.dependency_config.get("enabled"):
            return []
        self._check_dependency_benchmarks()
        runs: dict[tuple, dict] = {}
        for cell in analysis_cells(self.config, DEPENDENCY_KEY, self.dependency_config):
            test = self._dependency_test_benchmark(cell)
            if test is None:
                continue
            control = self._dependency_control_benchmarks(cell)
            for method in cell["methods"]:
                for seed in self.seeds_of(cell):
                    key = (cell["model"], cell["train_set"], method, seed)
                    runs.setdefault(key, dict(zip(("model", "train_set", "method", "seed"), key),
                                              test=test, control=control))
        if not runs:
            raise ConfigError(DEPENDENCY_KEY, "enabled, but no cell evaluates a GSM8K-scored test benchmark "
                              "(or the one named in benchmark)")
        return list(runs.values())

    def _dependency_run(self, model: str, train_set: str, method: str, seed) -> dict:
        return find_run(self.dependency_runs(), model, train_set, method, seed, "dependency")

    def dependency_job_counts(self) -> dict[str, int]:
        runs = self.dependency_runs()
        return {"dependency": len(runs), "dependency_table": 1} if runs else {}

    def dependency_data(self, model: str, train_set: str, method: str, seed) -> list[str]:
        """The benchmark files one job reads."""
        run = self._dependency_run(model, train_set, method, seed)
        return sorted({self.benchmark_file(name) for name in [run["test"], *run["control"]]})

    def dependency_settings(self, model: str, train_set: str, method: str, seed) -> dict:
        """run_dependency() keywords of one job (canonical): benchmarks with their files and roles, the
        measurement settings, the prompt template, the bootstrap cluster key and the run's name."""
        run = self._dependency_run(model, train_set, method, seed)
        settings = self.dependency_config
        benchmarks = {run["test"]: {"file": self.benchmark_file(run["test"]), "role": "test"}}
        benchmarks.update({name: {"file": self.benchmark_file(name), "role": "control"} for name in run["control"]})
        return canonical({
            "benchmarks": benchmarks,
            "settings": {key: settings[key] for key in ("items", "perturbations", "seed", "bin_edges", "batch_size")},
            "prompt_template": self.config["prompt_template"],
            "cluster_by": self.config["tables"].get("cluster_by", "template"),
            "name": f"{model}/{train_set}/{method}/{int(seed)}",
        })

    def dependency_files(self) -> list[str]:
        """Every job's output (the aggregation's inputs)."""
        return [dependency_file(r["model"], r["train_set"], r["method"], r["seed"]) for r in self.dependency_runs()]

    def dependency_table_files(self) -> list[str]:
        """The aggregation's outputs under results_dir; [] when the analysis is off."""
        if not self.dependency_runs():
            return []
        return [f"{self.config['results_dir']}/{name}" for name in DEPENDENCY_FILES]

    def dependency_table_settings(self) -> dict:
        """build_dependency_tables() keywords: method order, labels, comparisons (the tables' ones without
        train-set keys) and the bootstrap."""
        from cotmask.report.options import DEFAULT_COMPARISONS, DEFAULT_METHOD_LABELS

        tables = self.config["tables"]
        methods = list(dict.fromkeys(r["method"] for r in self.dependency_runs()))
        comparisons = [c for c in (tables.get("comparisons") or DEFAULT_COMPARISONS)
                       if "treatment_train_set" not in c and "control_train_set" not in c]
        return canonical({
            "methods": methods,
            "labels": {**DEFAULT_METHOD_LABELS, **(tables.get("method_labels") or {})},
            "comparisons": [{"treatment": c["treatment"], "control": c["control"]} for c in comparisons],
            "n_resamples": self.dependency_config["n_resamples"],
            "seed": self.config["tables"].get("bootstrap_seed") or 0,
        })
