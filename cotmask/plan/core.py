"""The plan of a workflow run: every job the config asks for, and each job's inputs and settings.

:class:`Plan` is built once from a schema-validated config (defaults filled in) and computes everything
eagerly, so that a config error (a :class:`ConfigError` naming its key) comes before any job is planned.
rules/common.smk turns its lookups into Snakemake input and param functions; tests use it directly.
"""

from __future__ import annotations

import inspect

from cotmask.data import SOURCES, source_splits
from cotmask.data.augment import OPTIONS as AUGMENT_OPTIONS
from cotmask.data.options import resolve_options
from cotmask.data.rft import RFT_OPTIONAL_OPTIONS, rejection_sample
from cotmask.masking_config import MaskingConfig
from cotmask.plan.checks import check_config, check_names, check_tables
from cotmask.plan.job_checks import check_job_settings
from cotmask.plan.diagnostics import DiagnosticsPlan
from cotmask.plan.paths import (
    COMPILE_CACHE,
    DATA,
    base_model_dir,
    card_file,
    data_file,
    eval_dir,
    eval_name,
    eval_prefix,
    ft_dir,
    split_ref,
)
from cotmask.plan.params import canonical
from cotmask.plan.schema import ConfigError
from cotmask.plan.regime import RegimeMapPlan
from cotmask.plan.case_study import CaseStudyPlan
from cotmask.plan.analysis import DependencyPlan
from cotmask.plan.settings import layered_settings, sweep_methods, sweep_points
from cotmask.report import output_paths
from cotmask.report.options import OPTION_DEFAULTS as TABLE_OPTION_DEFAULTS

AUGMENT_KINDS = ("metamath_style", "pot_mix", "concat")


def with_compile(settings: dict, compile: bool) -> dict:
    """``settings`` (without a ``compile`` key) with ``compile`` and the run's shared kernel cache when
    compiling; unchanged otherwise, so that an eager job's params (and so its rerun trigger) are those it had
    before the key."""
    if compile:
        settings.update({"compile": True, "compile_cache_dir": COMPILE_CACHE})
    return settings


class Plan(DiagnosticsPlan, RegimeMapPlan, CaseStudyPlan, DependencyPlan):
    """What a config asks of the workflow: fine-tunes, evaluations, datasets, models, tables.

    Attributes (all computed in the constructor):
      sweep_points     sweep name -> [{method, mask_ratio, mask_warmup_ratio}] (Fig. 3 grid)
      sweep_methods    generated method -> (base method, mask_ratio, mask_warmup_ratio)
      methods          every method name (the config's and the generated ones), sorted
      evaluation_runs  every (model, train_set, method, seed, benchmark, decoding), each once, in config order
      evaluation_plans (model, train_set, method, seed) -> sorted [(benchmark, decoding)]: one evaluate job each
      finetunes        every (model, train_set, method, seed) fine-tuned: the evaluated ones and RFT samplers
      datasets         every dataset some job reads (directly or through augmentations)
      tiny_models      every tiny model of the config; tiny_models_used: those some fine-tune starts from
      index_records    one entry per evaluation: the index that cotmask.report.build_tables aggregates
    """

    def __init__(self, config: dict):
        self.config = config
        check_config(config)
        self.sweep_points = {name: sweep_points(config, sweep) for name, sweep in config["sweeps"].items()}
        self.sweep_methods = sweep_methods(config, self.sweep_points)
        self.methods = sorted(set(config["methods"]) | set(self.sweep_methods))
        check_tables(config, self.methods)
        self._check_masking()
        self.evaluation_runs = self._evaluation_runs()
        self.evaluation_plans = self._evaluation_plans()
        self.sweep_keys = self._sweep_keys()
        self.tiny_models = sorted(name for name, spec in config["models"].items() if spec["tiny"] is not None)
        self.finetunes, self.datasets = self._finetunes_and_datasets()
        self.tiny_models_used = sorted({model for model, *_ in self.finetunes if model in self.tiny_models})
        check_job_settings(self)
        self.index_records = self._index_records()
        self.case_study_runs()  # analyses.case_study's checks, before any job
        self.dependency_runs()  # analyses.dependency's checks, before any job

    # ------------------------------------------------------------------ settings and checks

    def resolved_settings(self, model: str, train_set: str, method: str) -> dict:
        """The fine-tuning hyper-parameters of one (model, train_set, method), all layers merged."""
        if method in self.sweep_methods:
            base, ratio, warmup = self.sweep_methods[method]
            settings = layered_settings(self.config, model, train_set, base)
            settings.update({"mask_ratio": ratio, "mask_warmup_ratio": warmup})
            return settings
        return layered_settings(self.config, model, train_set, method)

    def _configured_finetunes(self) -> list[tuple[str, str, str, str]]:
        """(where, model, train_set, method) of every cell method and sweep point."""
        config = self.config
        pairs = [
            (f"cells[{c}]", cell["model"], cell["train_set"], method)
            for c, cell in enumerate(config["cells"])
            for method in cell["methods"]
        ]
        pairs += [
            (f"sweeps.{name}", sweep["model"], sweep["train_set"], point["method"])
            for name, sweep in config["sweeps"].items()
            for point in self.sweep_points[name]
        ]
        return pairs

    def _check_masking(self) -> None:
        """Every fine-tune's merged masking settings are consistent (e.g. dropout_q only with noise
        'dropout'), checked before any job runs rather than when the fine-tune starts."""
        for where, model, train_set, method in self._configured_finetunes():
            try:
                MaskingConfig.from_flat(self.resolved_settings(model, train_set, method))
            except ValueError as error:
                raise ConfigError(
                    f"methods.{method}",
                    f"{error} (settings merged for {where}: model {model!r}, train set {train_set!r})",
                ) from None

    # ------------------------------------------------------------------------ evaluations

    def seeds_of(self, entry: dict) -> list[int]:
        """A cell's or sweep's own seeds, else the global list."""
        return entry["seeds"] if entry["seeds"] is not None else self.config["seeds"]

    def benchmark_decodings(self, benchmark: str, restrict=None) -> list[str]:
        """Decodings of a benchmark (its own list, else the global one), optionally restricted."""
        decodings = self.config["benchmarks"][benchmark]["decodings"] or self.config["decodings"]
        if restrict is not None:
            decodings = [d for d in decodings if d in restrict]
        return decodings

    def _grid_runs(self, model, train_set, methods, seeds, benchmarks, restrict=None) -> list[tuple]:
        return [
            (model, train_set, method, seed, benchmark, decoding)
            for method in methods
            for seed in seeds
            for benchmark in benchmarks
            for decoding in self.benchmark_decodings(benchmark, restrict)
        ]

    def _hybrid_runs(self, cell: dict) -> list[tuple]:
        """MAmmoTH's hybrid decoding on every benchmark of a cell whose train set is in hybrid.train_sets."""
        if cell["train_set"] not in self.config["hybrid"]["train_sets"]:
            return []
        return [
            (cell["model"], cell["train_set"], method, seed, benchmark, "hybrid")
            for method in cell["methods"]
            for seed in self.seeds_of(cell)
            for benchmark in cell["benchmarks"]
        ]

    def _evaluation_runs(self) -> list[tuple]:
        check_names("hybrid.train_sets", self.config["hybrid"]["train_sets"], self.config["train_sets"], "train set")
        runs = []
        for cell in self.config["cells"]:
            runs += self._grid_runs(
                cell["model"], cell["train_set"], cell["methods"], self.seeds_of(cell), cell["benchmarks"]
            )
            runs += self._hybrid_runs(cell)
        for name, sweep in sorted(self.config["sweeps"].items()):  # sorted: the keys' order is no setting
            methods = [point["method"] for point in self.sweep_points[name]]
            runs += self._grid_runs(
                sweep["model"], sweep["train_set"], methods, self.seeds_of(sweep), sweep["benchmarks"], sweep["decodings"]
            )
        return list(dict.fromkeys(runs))

    def _evaluation_plans(self) -> dict[tuple, list[tuple[str, str]]]:
        plans = {}
        for run in self.evaluation_runs:
            plans.setdefault(run[:4], []).append(run[4:])
        return {key: sorted(pairs) for key, pairs in plans.items()}

    def _sweep_keys(self) -> set[tuple]:
        """(model, train_set, method, benchmark, decoding) of every sweep point's evaluations."""
        keys = set()
        for name, sweep in self.config["sweeps"].items():
            for point in self.sweep_points[name]:
                for benchmark in sweep["benchmarks"]:
                    for decoding in self.benchmark_decodings(benchmark, sweep["decodings"]):
                        keys.add((sweep["model"], sweep["train_set"], point["method"], benchmark, decoding))
        return keys

    # ---------------------------------------------------------- the DAG: fine-tunes, datasets

    def _data_refs(self, finetunes) -> list[str]:
        """Dataset splits the fine-tunes (with their diagnostics' test split), the evaluations and the tiny base
        models read directly."""
        config = self.config
        refs = [config["train_sets"][train_set]["data"] for _, train_set, _, _ in finetunes]
        diagnostics = {self.diagnostics_benchmark(model, train_set) for model, train_set, _, _ in finetunes}
        refs += [config["benchmarks"][name]["data"] for name in sorted(diagnostics - {None})]
        refs += [config["benchmarks"][run[4]]["data"] for run in self.evaluation_runs]
        tiny = {model for model, *_ in finetunes if model in self.tiny_models}
        if tiny:
            refs += config["tokenizer"]["corpus"]
        for model in sorted(tiny):
            refs += config["models"][model]["tiny"]["pretrain"]["corpus"]
        return refs

    def _datasets_read(self, finetunes) -> set[str]:
        """Every dataset read, with the inputs of augmentations (transitively)."""
        needed, todo = set(), [split_ref(ref)[0] for ref in self._data_refs(finetunes)]
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                todo += [split_ref(ref)[0] for ref in self.config["datasets"][name]["inputs"]]
        return needed

    def _finetunes_and_datasets(self) -> tuple[list[tuple], list[str]]:
        """The evaluated fine-tunes plus the RFT samplers of the datasets they need (transitively)."""
        finetunes = list(self.evaluation_plans)
        while True:
            datasets = self._datasets_read(finetunes)
            samplers = [self.rft_sampler(name) for name in sorted(datasets) if name in self.rft_datasets]
            new = [key for key in dict.fromkeys(samplers) if key not in finetunes]
            if not new:
                return finetunes, sorted(datasets)
            finetunes += new

    def rft_sampler(self, dataset: str) -> tuple[str, str, str, int]:
        """(model, train_set, method, seed) of the fine-tune that samples an rft dataset."""
        sampler = self.config["datasets"][dataset]["sampler"]
        return sampler["model"], sampler["train_set"], sampler["method"], sampler["seed"]

    @property
    def source_datasets(self) -> list[str]:
        return [name for name, spec in self.config["datasets"].items() if spec["source"] is not None]

    @property
    def augment_datasets(self) -> list[str]:
        return [name for name, spec in self.config["datasets"].items() if spec["augment"] in AUGMENT_KINDS]

    @property
    def rft_datasets(self) -> list[str]:
        return [name for name, spec in self.config["datasets"].items() if spec["augment"] == "rft"]

    def job_counts(self) -> dict[str, int]:
        """rule -> number of jobs of a run from scratch (rules without jobs left out), as `snakemake -n` lists."""
        counts = {f"data_{name}": 1 for name in self.datasets if name in self.source_datasets}
        counts["augment"] = sum(name in self.augment_datasets for name in self.datasets)
        counts["rejection_sample"] = sum(name in self.rft_datasets for name in self.datasets)
        counts["train_tokenizer"] = 1 if self.tiny_models_used else 0
        counts["base_model"] = len(self.tiny_models_used)
        counts["finetune"] = len(self.finetunes)
        counts["evaluate"] = len(self.evaluation_plans)
        counts["tables"] = 1
        counts["model_card"] = len(self.model_card_files())
        counts.update(self.case_study_job_counts())
        counts.update(self.dependency_job_counts())
        counts["all"] = 1
        return {rule: n for rule, n in counts.items() if n}

    # --------------------------------------------------------- per-job inputs and settings

    def source_outputs(self, dataset: str) -> list[str]:
        """The split files a source dataset's rule declares: every split its source can write, whatever the
        options (splits the options leave out are written as empty files). A fixed list, so that a change of
        options never adds an output without Snakemake's metadata, which would hide the change
        (docs/workflow.md, "Reruns"); the config can name only the splits the options build (check_ref).
        """
        splits = possible_splits(self.config["datasets"][dataset]["source"])
        return [f"{DATA}/{dataset}/{split}.jsonl" for split in splits]

    def source_options(self, dataset: str) -> dict:
        """build_source() options of a source dataset: the config's, with the source's defaults filled in."""
        spec = self.config["datasets"][dataset]
        return canonical(SOURCES[spec["source"]].resolve(spec["options"]))

    def augment_options(self, dataset: str) -> dict:
        """build_augmented() options of an augmented dataset, with the augmentation's defaults filled in."""
        spec = self.config["datasets"][dataset]
        owner = f"augmentation {spec['augment']!r}"
        return canonical(resolve_options(owner, AUGMENT_OPTIONS[spec["augment"]], spec["options"]))

    def augment_inputs(self, dataset: str) -> list[str]:
        return [data_file(ref) for ref in self.config["datasets"][dataset]["inputs"]]

    def rft_inputs(self, dataset: str) -> dict[str, str]:
        """The split to resample and the sampler fine-tune (a fine-tune -> dataset edge)."""
        return {
            "train": data_file(self.config["datasets"][dataset]["inputs"][0]),
            "model": ft_dir(*self.rft_sampler(dataset)),
        }

    def rft_settings(self, dataset: str) -> dict:
        """rejection_sample() keywords: the dataset options (optional ones at their defaults when not given)
        + the prompt template."""
        settings = rft_option_defaults()
        settings.update(self.config["datasets"][dataset]["options"])
        settings["prompt_template"] = self.config["prompt_template"]
        return canonical(settings)

    def tokenizer_corpus(self) -> list[str]:
        return [data_file(ref) for ref in self.config["tokenizer"]["corpus"]]

    def tokenizer_settings(self) -> dict:
        tokenizer = self.config["tokenizer"]
        return canonical({key: tokenizer[key] for key in ("vocab_size", "seed", "split_digits")})

    def pretrain_corpus(self, model: str) -> list[str]:
        """Pre-training text of a tiny model (its own corpus, else the tokenizer's)."""
        own = self.config["models"][model]["tiny"]["pretrain"]["corpus"]
        return [data_file(ref) for ref in own or self.config["tokenizer"]["corpus"]]

    def base_model_settings(self, model: str) -> dict:
        """Architecture + pre-training of a tiny model, as build_base_model() keywords."""
        tiny = self.config["models"][model]["tiny"]
        pretrain = tiny["pretrain"]
        settings = {key: value for key, value in tiny.items() if key != "pretrain"}
        settings.update(
            {
                "pretrain_epochs": pretrain["epochs"],
                "pretrain_lr": pretrain["learning_rate"],
                "batch_size": pretrain["batch_size"],
                "max_length": pretrain["max_length"],
                "seed": pretrain["seed"],
                "group_by_length": pretrain["group_by_length"],
                "label_logits_only": pretrain["label_logits_only"],
                "length_buckets": pretrain["length_buckets"],
            }
        )
        return canonical(with_compile(settings, pretrain["compile"]))

    def finetune_inputs(self, model: str, train_set: str) -> dict[str, str]:
        """The training file, the tiny base model's directory when it is built in the DAG, and the test file
        of the overfitting diagnostics when they are on."""
        inputs = {"train": data_file(self.config["train_sets"][train_set]["data"])}
        if self.config["models"][model]["tiny"] is not None:
            inputs["base"] = base_model_dir(model)
        benchmark = self.diagnostics_benchmark(model, train_set)
        if benchmark is not None:
            inputs["diagnostics"] = self.benchmark_file(benchmark)
        return inputs

    def base_model_ref(self, model: str) -> str:
        """Hub id or local path of a hub model; '' for a tiny model (whose directory is an input)."""
        spec = self.config["models"][model]
        return spec["hub_id"] or spec["local_path"] or ""

    def accelerate_config(self, model: str) -> str:
        """The model's accelerate config file for multi-GPU fine-tunes ('' = none)."""
        return self.config["models"][model]["accelerate_config"] or ""

    def finetune_settings(self, model: str, train_set: str, method: str, seed) -> dict:
        """ONE dict with every config value a fine-tune depends on (FinetuneConfig keys)."""
        settings = self.resolved_settings(model, train_set, method)
        settings["prompt_template"] = self.config["prompt_template"]
        settings["seed"] = int(seed)
        settings.update(self.diagnostics_settings(model, train_set))
        compile = settings.pop("compile", False)
        return canonical(with_compile(settings, compile))

    def evaluation_plan(self, model: str, train_set: str, method: str, seed) -> list[tuple[str, str]]:
        """(benchmark, decoding) pairs the config asks of one fine-tune (cells and sweeps, each once)."""
        key = (model, train_set, method, int(seed))
        if key not in self.evaluation_plans:
            raise LookupError(f"no evaluation of {key} in the config (cells and sweeps define what is evaluated)")
        return self.evaluation_plans[key]

    def benchmark_file(self, benchmark: str) -> str:
        return data_file(self.config["benchmarks"][benchmark]["data"])

    def evaluation_data(self, model: str, train_set: str, method: str, seed) -> list[str]:
        """The benchmark files one fine-tune is evaluated on."""
        benchmarks = {benchmark for benchmark, _ in self.evaluation_plan(model, train_set, method, seed)}
        return sorted({self.benchmark_file(benchmark) for benchmark in benchmarks})

    def evaluation_settings(self, benchmark: str, decoding: str, seed) -> dict:
        """evaluate() keywords: scoring, decoding, prompt and generation settings of one evaluation."""
        bench = self.config["benchmarks"][benchmark]
        settings = dict(self.config["evaluation"])
        settings.update(bench["evaluation"])
        settings.update(
            {
                "scoring": bench["scoring"],
                "calculator": decoding == "calc",
                "prompt_template": self.config["prompt_template"],
                "seed": int(seed),
            }
        )
        if decoding == "hybrid":  # only hybrid runs carry these keys: the other jobs' params stay as they were
            hybrid = self.config["hybrid"]
            settings.update(
                {
                    "hybrid": True,
                    "pot_trigger": hybrid["pot_trigger"],
                    "program_timeout_s": float(hybrid["timeout_s"]),
                    "program_memory_mb": hybrid["memory_mb"],
                }
            )
        return settings

    def evaluation_jobs(self, model: str, train_set: str, method: str, seed) -> list[dict]:
        """evaluate_suite() runs of one fine-tune: per (benchmark, decoding) its file stem, benchmark file
        and settings, so that a config edit reruns exactly the fine-tunes whose evaluations change."""
        return canonical(
            [
                {
                    "name": eval_name(benchmark, decoding),
                    "benchmark_file": self.benchmark_file(benchmark),
                    **self.evaluation_settings(benchmark, decoding, seed),
                }
                for benchmark, decoding in self.evaluation_plan(model, train_set, method, seed)
            ]
        )

    def resource(self, kind: str, key: str):
        """A value of config['resources'][kind] (threads, mem_mb, runtime, gpu)."""
        return self.config["resources"][kind][key]

    # ------------------------------------------------------------------------ aggregation

    @property
    def results_dir(self) -> str:
        """Folder of the tables, figures and summary.json (schema default: results)."""
        return self.config["results_dir"]

    def eval_dirs(self) -> list[str]:
        """The evaluation directory of every evaluated fine-tune (the aggregation's inputs)."""
        return [eval_dir(*key) for key in self.evaluation_plans]

    def model_card_files(self) -> list[str]:
        """The model card with results of every evaluated fine-tune (config key model_cards; none when off)."""
        if not self.config["model_cards"]:
            return []
        return [card_file(*key) for key in self.evaluation_plans]

    def table_files(self) -> dict[str, str]:
        """name -> path of every file build_tables writes under the results folder (data-independent; the
        diagnostics table when the tables job gets fine-tunes with diagnostics)."""
        paths = output_paths(self.results_dir, diagnostics=bool(self.tables_diagnostics_runs()))
        return {name: str(path) for name, path in paths.items()}

    def final_targets(self) -> list[str]:
        """Targets of the default rule: the aggregated results (they depend on every evaluation), and the
        regime selection when the config has a regime map."""
        targets = list(self.table_files().values())
        if self.regime_candidates():
            targets.append(self.regime_selection_file())
        if self.config["regime"]["points"]:
            targets += self.regime_map_files()
        targets += self.model_card_files()
        targets += self.case_study_files()
        targets += self.dependency_table_files()
        return targets

    def tables_options(self) -> dict:
        """build_tables() keywords from config['tables']: null = the library's default, filled in where it
        is a value (left out where the library derives it from the index), so that an explicit default
        equals leaving the key out."""
        options = {}
        for key, value in self.config["tables"].items():
            if value is None:
                value = TABLE_OPTION_DEFAULTS.get(key)
            if value is not None:
                options[key] = value
        return canonical(options)

    def _index_records(self) -> list[dict]:
        records = []
        for model, train_set, method, seed, benchmark, decoding in self.evaluation_runs:
            settings = self.resolved_settings(model, train_set, method)
            prefix = eval_prefix(model, train_set, method, seed, benchmark, decoding)
            records.append(
                {
                    "model": model,
                    "train_set": train_set,
                    "method": method,
                    "seed": seed,
                    "benchmark": benchmark,
                    "decoding": decoding,
                    "path": f"{prefix}.jsonl",
                    "summary": f"{prefix}.json",
                    "mask_ratio": settings["mask_ratio"],
                    "mask_warmup_ratio": settings["mask_warmup_ratio"],
                    "epochs": settings["epochs"],
                    "method_kind": "mft" if settings["mask_ratio"] > 0 else "sft",
                    "sweep": (model, train_set, method, benchmark, decoding) in self.sweep_keys,
                }
            )
        return records


def possible_splits(source: str) -> list[str]:
    """Every split a data source can write: all choices of its ``splits`` option, and the pre-training split
    where it has an ``n_pretrain`` option (the two ways cotmask.data sources add splits)."""
    options = SOURCES[source].options
    given = {"splits": list(options["splits"].choices)}
    if "n_pretrain" in options:
        given["n_pretrain"] = 1
    return source_splits(source, given)


def rft_option_defaults() -> dict:
    """The optional rejection_sample() options at their defaults (from its signature)."""
    parameters = inspect.signature(rejection_sample).parameters
    return {name: parameters[name].default for name in RFT_OPTIONAL_OPTIONS}


__all__ = ["AUGMENT_KINDS", "Plan"]
