"""Configuration checks, wildcard constraints, targets, and input/param functions.

Included first by the Snakefile. Order of work at parse time:

1. ``validate(config, schema)`` — JSON schema (types, enums, unknown keys) + schema defaults;
2. :func:`check_config` — cross references (a cell naming an unknown method, a benchmark naming a
   missing dataset split, dependency cycles through RFT samplers, ...), raised as :class:`ConfigError`
   naming the key (``config: cells[2].methods[1]: unknown method 'mtf'``) before any job is planned;
3. derived tables (sweep methods, runs, evaluation targets) used by the rule files.

Every config value a job depends on reaches the job through ``params:`` (so that editing it reruns
exactly the affected jobs); scripts never read ``snakemake.config``.
"""

import inspect
import os
import re

from jsonschema import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from cotmask.data import SOURCES, source_splits
from cotmask.data.augment import OPTIONS as augment_options
from cotmask.data.options import resolve_options
from cotmask.data.rft import rejection_sample as rft_rejection_sample
from cotmask.masking_config import MaskingConfig
from cotmask.tables import PAPER_REFERENCE, output_paths


class ConfigError(Exception):
    """A semantic error in the workflow configuration, located by its key path."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"config: {key}: {problem}")


def key_path(path) -> str:
    """jsonschema's absolute_path -> 'cells[2].methods[1]'."""
    text = ""
    for part in path:
        text += (
            f"[{part}]"
            if isinstance(part, int)
            else (f".{part}" if text else str(part))
        )
    return text or "(top level)"


try:
    validate(config, "../config/schema.yaml")
except WorkflowError as error:
    cause = error.__context__
    if not isinstance(cause, ValidationError):
        raise
    raise ConfigError(key_path(cause.absolute_path), cause.message) from None


# --------------------------------------------------------------------------- paths

DATA = "work/data"
BASE = "work/models/base"
TOKENIZER = "work/models/tokenizer"
FT = "work/models/ft"
CKPT = "work/checkpoints"
EVALS = "work/evals"
# tables, figures, summary.json (schema default: results)
RESULTS = config["results_dir"]

AUGMENT_KINDS = ("metamath_style", "pot_mix", "concat")
DATASET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


REF_SEP = "/"


def split_ref(ref: str) -> tuple:
    """'dataset/split' -> ('dataset', 'split')."""
    dataset, split = ref.split(REF_SEP)
    return dataset, split


def data_file(ref: str) -> str:
    """'dataset/split' -> work/data/dataset/split.jsonl."""
    dataset, split = split_ref(ref)
    return f"{DATA}/{dataset}/{split}.jsonl"


def ft_dir(model, train_set, method, seed) -> str:
    """Output directory of one fine-tune."""
    return f"{FT}/{model}/{train_set}/{method}/seed{seed}"


def eval_dir(model, train_set, method, seed) -> str:
    """Output directory of the evaluate job of one fine-tune (every benchmark and decoding)."""
    return f"{EVALS}/{model}/{train_set}/{method}/seed{seed}"


def eval_name(benchmark, decoding) -> str:
    """File stem of one evaluation inside its fine-tune's evaluation directory."""
    return f"{benchmark}.{decoding}"


def eval_prefix(model, train_set, method, seed, benchmark, decoding) -> str:
    """Evaluation outputs without extension (.jsonl per item, .json summary)."""
    directory = eval_dir(model, train_set, method, seed)
    return f"{directory}/{eval_name(benchmark, decoding)}"


def alternation(names) -> str:
    """Regex matching exactly one of ``names`` (never matches when empty)."""
    names = sorted(set(names), key=lambda n: (-len(n), n))
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def number_label(value: float) -> str:
    """0.2 -> '0.2', 0.0 -> '0', 0.667 -> '0.667' (used in generated method names)."""
    return f"{value:g}"


# ------------------------------------------------------------------ semantic checks


def dataset_splits(name: str) -> list:
    """Splits a dataset node provides: the source's splits, or ['train'] for augmentations."""
    spec = config["datasets"][name]
    if spec["source"] is not None:
        return list(source_splits(spec["source"], spec["options"]))
    return ["train"]


def _check_ref(key: str, ref: str) -> None:
    """A 'dataset/split' reference must name an existing dataset and one of its splits."""
    dataset, split = split_ref(ref)
    if dataset not in config["datasets"]:
        raise ConfigError(key, f"unknown dataset {dataset!r} in {ref!r}")
    splits = dataset_splits(dataset)
    if split not in splits:
        raise ConfigError(
            key,
            f"dataset {dataset!r} has no split {split!r} (it has: {', '.join(splits)})",
        )


def _check_name(key: str, name: str, table: str) -> None:
    if name not in config[table]:
        known = ", ".join(sorted(config[table])) or "none"
        raise ConfigError(
            key, f"unknown {table[:-1].replace('_', ' ')} {name!r} (defined: {known})"
        )


# rejection_sample() arguments the workflow supplies itself (not dataset options).
RFT_WORKFLOW_ARGS = ("train_file", "out_dir", "model_dir", "prompt_template", "threads")


def _check_rft_options(key: str, options: dict) -> None:
    """The options of an rft dataset are rejection_sample()'s keywords: none unknown or missing."""
    params = inspect.signature(rft_rejection_sample).parameters
    allowed = [name for name in params if name not in RFT_WORKFLOW_ARGS]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            key, f"unknown rft option(s) {unknown} (known: {', '.join(allowed)})"
        )
    missing = [
        name
        for name in allowed
        if params[name].default is inspect.Parameter.empty and name not in options
    ]
    if missing:
        raise ConfigError(key, f"rft needs option(s) {missing}")


def _check_datasets() -> None:
    for name, spec in config["datasets"].items():
        key = f"datasets.{name}"
        if not DATASET_NAME.match(name):
            raise ConfigError(key, "dataset names may use letters, digits and '_' only")
        if (spec["source"] is None) == (spec["augment"] is None):
            raise ConfigError(key, "give exactly one of 'source' and 'augment'")
        if spec["source"] is not None:
            for extra in ("inputs", "sampler"):
                if spec[extra]:
                    raise ConfigError(
                        f"{key}.{extra}", "only augmented datasets take this key"
                    )
            if spec["source"] not in SOURCES:
                known = ", ".join(sorted(SOURCES))
                raise ConfigError(
                    f"{key}.source",
                    f"unknown source {spec['source']!r} (known: {known})",
                )
            try:
                splits = source_splits(spec["source"], spec["options"])
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{key}.options", str(error)) from None
            if not splits:
                raise ConfigError(f"{key}.options", "the source writes no split")
            continue
        if spec["augment"] in AUGMENT_KINDS:
            try:
                resolve_options(
                    f"augmentation {spec['augment']!r}",
                    augment_options[spec["augment"]],
                    spec["options"],
                )
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{key}.options", str(error)) from None
        if not spec["inputs"]:
            raise ConfigError(
                f"{key}.inputs", "an augmented dataset needs at least one input split"
            )
        for i, ref in enumerate(spec["inputs"]):
            _check_ref(f"{key}.inputs[{i}]", ref)
        if spec["augment"] == "rft":
            _check_rft_options(f"{key}.options", spec["options"])
            if len(spec["inputs"]) != 1:
                raise ConfigError(f"{key}.inputs", "rft takes exactly one input split")
            if spec["sampler"] is None:
                raise ConfigError(
                    f"{key}.sampler",
                    "rft needs a sampler {model, train_set, method, seed}",
                )
            sampler = spec["sampler"]
            _check_name(f"{key}.sampler.model", sampler["model"], "models")
            _check_name(f"{key}.sampler.train_set", sampler["train_set"], "train_sets")
            if sampler["method"] not in config["methods"]:
                raise ConfigError(
                    f"{key}.sampler.method", f"unknown method {sampler['method']!r}"
                )
        elif spec["sampler"] is not None:
            raise ConfigError(f"{key}.sampler", "only rft datasets take a sampler")


def _dataset_dependencies(name: str) -> set:
    """Datasets a dataset is computed from, directly (inputs, and the sampler's training set)."""
    spec = config["datasets"][name]
    deps = {split_ref(ref)[0] for ref in spec["inputs"]}
    if spec["sampler"] is not None:
        train_ref = config["train_sets"][spec["sampler"]["train_set"]]["data"]
        deps.add(split_ref(train_ref)[0])
        deps.update(_model_datasets(spec["sampler"]["model"]))
    return deps


def _model_datasets(model: str) -> set:
    """Datasets a (tiny) base model is built from: tokenizer and pre-training corpora."""
    tiny = config["models"][model]["tiny"]
    if tiny is None:
        return set()
    refs = list(config["tokenizer"]["corpus"]) + list(tiny["pretrain"]["corpus"])
    return {split_ref(ref)[0] for ref in refs}


def _check_cycles() -> None:
    """RFT samplers add fine-tune -> dataset edges; refuse a dataset that depends on itself."""
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = " -> ".join(trail[trail.index(name) :] + [name])
            raise ConfigError(f"datasets.{name}", f"dependency cycle: {cycle}")
        state[name] = "active"
        for dep in sorted(_dataset_dependencies(name)):
            visit(dep, trail + [name])
        state[name] = "done"

    for name in config["datasets"]:
        visit(name, [])


def _check_models() -> None:
    for name, spec in config["models"].items():
        given = [k for k in ("tiny", "hub_id", "local_path") if spec[k] is not None]
        if len(given) != 1:
            raise ConfigError(
                f"models.{name}",
                "give exactly one of 'tiny', 'hub_id' and 'local_path'"
                + (f" (got {', '.join(given)})" if given else ""),
            )
        if spec["tiny"] is not None:
            tiny = spec["tiny"]
            if tiny["hidden_size"] % tiny["num_heads"]:
                raise ConfigError(
                    f"models.{name}.tiny.num_heads", "must divide hidden_size"
                )
            if tiny["num_heads"] % tiny["num_kv_heads"]:
                raise ConfigError(
                    f"models.{name}.tiny.num_kv_heads", "must divide num_heads"
                )
            for i, ref in enumerate(tiny["pretrain"]["corpus"]):
                _check_ref(f"models.{name}.tiny.pretrain.corpus[{i}]", ref)
        launcher = spec["accelerate_config"]
        if launcher is not None and not os.path.isfile(launcher):
            raise ConfigError(
                f"models.{name}.accelerate_config", f"{launcher}: no such file"
            )
    if any(spec["tiny"] is not None for spec in config["models"].values()):
        if not config["tokenizer"]["corpus"]:
            raise ConfigError("tokenizer.corpus", "tiny models need a tokenizer corpus")
    for i, ref in enumerate(config["tokenizer"]["corpus"]):
        _check_ref(f"tokenizer.corpus[{i}]", ref)


def _check_lists(key: str, values: list, table: str) -> None:
    for i, value in enumerate(values):
        if value not in config[table]:
            known = ", ".join(sorted(config[table])) or "none"
            raise ConfigError(
                f"{key}[{i}]",
                f"unknown {table[:-1].replace('_', ' ')} {value!r} (defined: {known})",
            )


def _check_cells() -> None:
    seen = {}
    for c, cell in enumerate(config["cells"]):
        key = f"cells[{c}]"
        _check_name(f"{key}.model", cell["model"], "models")
        _check_name(f"{key}.train_set", cell["train_set"], "train_sets")
        _check_lists(f"{key}.methods", cell["methods"], "methods")
        _check_lists(f"{key}.benchmarks", cell["benchmarks"], "benchmarks")
        for method in cell["overrides"]:
            if method not in cell["methods"]:
                raise ConfigError(
                    f"{key}.overrides.{method}",
                    f"method {method!r} is not among this cell's methods",
                )
        pair = (cell["model"], cell["train_set"])
        if pair in seen:
            raise ConfigError(
                key,
                f"(model, train_set) = {pair} already forms cells[{seen[pair]}]; merge the two cells",
            )
        seen[pair] = c


def _check_sweeps() -> None:
    for name, sweep in config["sweeps"].items():
        key = f"sweeps.{name}"
        _check_name(f"{key}.model", sweep["model"], "models")
        _check_name(f"{key}.train_set", sweep["train_set"], "train_sets")
        if sweep["base_method"] not in config["methods"]:
            raise ConfigError(
                f"{key}.base_method", f"unknown method {sweep['base_method']!r}"
            )
        _check_lists(f"{key}.benchmarks", sweep["benchmarks"], "benchmarks")
        if sweep["decodings"] is None:
            continue
        for benchmark in sweep["benchmarks"]:
            own = config["benchmarks"][benchmark]["decodings"] or config["decodings"]
            if not set(own) & set(sweep["decodings"]):
                raise ConfigError(
                    f"{key}.decodings",
                    f"benchmark {benchmark!r} is evaluated only with {own}",
                )


def _check_other_refs() -> None:
    for name, spec in config["train_sets"].items():
        _check_ref(f"train_sets.{name}.data", spec["data"])
    for name, spec in config["benchmarks"].items():
        _check_ref(f"benchmarks.{name}.data", spec["data"])


def check_config() -> None:
    """All cross-reference checks of the config; raises ConfigError naming the key."""
    _check_datasets()
    _check_models()
    _check_other_refs()
    _check_cycles()
    _check_cells()
    _check_sweeps()


check_config()


# ----------------------------------------------------- fine-tuning settings and sweeps


def cell_for(model: str, train_set: str):
    """The cell of a (model, train_set) pair, or None."""
    for cell in config["cells"]:
        if (cell["model"], cell["train_set"]) == (model, train_set):
            return cell
    return None


def _layered_settings(model: str, train_set: str, method: str) -> dict:
    """training <- models[m].finetune <- train_sets[t].finetune <- methods[x] <- cell overrides[x]."""
    settings = dict(config["training"])
    settings.update(config["models"][model]["finetune"])
    settings.update(config["train_sets"][train_set]["finetune"])
    settings.update(config["methods"][method])
    cell = cell_for(model, train_set)
    if cell is not None:
        settings.update(cell["overrides"].get(method, {}))
    return settings


def _sweep_points(sweep: dict) -> list:
    """Grid points of one sweep: dicts {method, mask_ratio, mask_warmup_ratio}.

    A point whose (mask_ratio, mask_warmup_ratio) equals the base method's resolved setting for
    this (model, train_set) reuses the base method's fine-tunes instead of training duplicates.
    """
    base = sweep["base_method"]
    base_settings = _layered_settings(sweep["model"], sweep["train_set"], base)
    points = []
    for warmup in sweep["warmup"]:
        for ratio in sweep["ratios"]:
            same = (
                abs(base_settings["mask_ratio"] - ratio) < 1e-9
                and abs(base_settings["mask_warmup_ratio"] - warmup) < 1e-9
            )
            name = f"{base}_p{number_label(ratio)}_w{number_label(warmup)}"
            points.append(
                {
                    "method": base if same else name,
                    "mask_ratio": ratio,
                    "mask_warmup_ratio": warmup,
                }
            )
    return points


SWEEP_POINTS = {name: _sweep_points(sweep) for name, sweep in config["sweeps"].items()}

# Generated methods: name -> (base method, mask_ratio, mask_warmup_ratio).
SWEEP_METHODS = {}
for _name, _points in SWEEP_POINTS.items():
    for _point in _points:
        if _point["method"] == config["sweeps"][_name]["base_method"]:
            continue
        if _point["method"] in config["methods"]:
            raise ConfigError(
                f"sweeps.{_name}",
                f"generated method name {_point['method']!r} is also a key of methods; rename it",
            )
        SWEEP_METHODS[_point["method"]] = (
            config["sweeps"][_name]["base_method"],
            _point["mask_ratio"],
            _point["mask_warmup_ratio"],
        )

METHODS = sorted(set(config["methods"]) | set(SWEEP_METHODS))


def _check_tables() -> None:
    """Names in the aggregation options must exist (a typo would silently empty a table)."""
    opts = config["tables"]

    def check(key, value, known, what):
        if value not in known:
            raise ConfigError(
                key, f"unknown {what} {value!r} (defined: {', '.join(sorted(known))})"
            )

    for role, name in (opts["benchmarks"] or {}).items():
        check(f"tables.benchmarks.{role}", name, config["benchmarks"], "benchmark")
    for key in ("base_train_set", "rft_train_set"):
        if opts[key] is not None:
            check(f"tables.{key}", opts[key], config["train_sets"], "train set")
    for i, method in enumerate(opts["main_methods"] or []):
        check(f"tables.main_methods[{i}]", method, METHODS, "method")
    for i, comparison in enumerate(opts["comparisons"] or []):
        for arm in ("treatment", "control"):
            check(f"tables.comparisons[{i}].{arm}", comparison[arm], METHODS, "method")
            if f"{arm}_train_set" in comparison:
                key = f"tables.comparisons[{i}].{arm}_train_set"
                check(
                    key,
                    comparison[f"{arm}_train_set"],
                    config["train_sets"],
                    "train set",
                )
    for i, arm in enumerate(opts["table5_arms"] or []):
        check(f"tables.table5_arms[{i}].method", arm["method"], METHODS, "method")
        check(
            f"tables.table5_arms[{i}].train_set",
            arm["train_set"],
            config["train_sets"],
            "train set",
        )
    paper_rows = {row["method"] for row in PAPER_REFERENCE["table3"]}
    for i, arm in enumerate(opts["table3_arms"] or []):
        check(f"tables.table3_arms[{i}].method", arm["method"], METHODS, "method")
        if arm.get("paper_method") is not None:
            key = f"tables.table3_arms[{i}].paper_method"
            check(key, arm["paper_method"], paper_rows, "paper row")
    fig3 = opts["fig3"] or {}
    for key in ("reference_methods", "include_methods"):
        for i, method in enumerate(fig3.get(key, [])):
            check(f"tables.fig3.{key}[{i}]", method, METHODS, "method")


_check_tables()


def resolved_settings(model: str, train_set: str, method: str) -> dict:
    """The fine-tuning hyper-parameters of one (model, train_set, method), all layers merged."""
    if method in SWEEP_METHODS:
        base, ratio, warmup = SWEEP_METHODS[method]
        settings = _layered_settings(model, train_set, base)
        settings.update({"mask_ratio": ratio, "mask_warmup_ratio": warmup})
        return settings
    return _layered_settings(model, train_set, method)


def _check_masking() -> None:
    """Every fine-tune's merged masking settings are consistent (e.g. dropout_q only with noise
    'dropout'), checked before any job runs rather than when the fine-tune starts."""
    fine_tunes = [
        (f"cells[{c}]", cell["model"], cell["train_set"], method)
        for c, cell in enumerate(config["cells"])
        for method in cell["methods"]
    ]
    fine_tunes += [
        (f"sweeps.{name}", sweep["model"], sweep["train_set"], point["method"])
        for name, sweep in config["sweeps"].items()
        for point in SWEEP_POINTS[name]
    ]
    for where, model, train_set, method in fine_tunes:
        try:
            MaskingConfig.from_flat(resolved_settings(model, train_set, method))
        except ValueError as error:
            raise ConfigError(
                f"methods.{method}",
                f"{error} (settings merged for {where}: model {model!r}, train set {train_set!r})",
            ) from None


_check_masking()


# ---------------------------------------------------------------------- runs and targets


def seeds_of(entry: dict) -> list:
    """A cell's or sweep's own seeds, else the global list."""
    return entry["seeds"] if entry["seeds"] is not None else config["seeds"]


def benchmark_decodings(benchmark: str, restrict=None) -> list:
    """Decodings of a benchmark (its own list, else the global one), optionally restricted."""
    decodings = config["benchmarks"][benchmark]["decodings"] or config["decodings"]
    if restrict is not None:
        decodings = [d for d in decodings if d in restrict]
    return decodings


def evaluation_runs() -> list:
    """Every evaluation (model, train_set, method, seed, benchmark, decoding), each once."""
    runs = []
    for cell in config["cells"]:
        for method in cell["methods"]:
            for seed in seeds_of(cell):
                for benchmark in cell["benchmarks"]:
                    for decoding in benchmark_decodings(benchmark):
                        runs.append(
                            (
                                cell["model"],
                                cell["train_set"],
                                method,
                                seed,
                                benchmark,
                                decoding,
                            )
                        )
    for name, sweep in config["sweeps"].items():
        for point in SWEEP_POINTS[name]:
            for seed in seeds_of(sweep):
                for benchmark in sweep["benchmarks"]:
                    for decoding in benchmark_decodings(benchmark, sweep["decodings"]):
                        runs.append(
                            (
                                sweep["model"],
                                sweep["train_set"],
                                point["method"],
                                seed,
                                benchmark,
                                decoding,
                            )
                        )
    return list(dict.fromkeys(runs))


def sweep_keys() -> set:
    """(model, train_set, method, benchmark, decoding) of every sweep point's evaluations."""
    keys = set()
    for name, sweep in config["sweeps"].items():
        for point in SWEEP_POINTS[name]:
            for benchmark in sweep["benchmarks"]:
                for decoding in benchmark_decodings(benchmark, sweep["decodings"]):
                    keys.add(
                        (
                            sweep["model"],
                            sweep["train_set"],
                            point["method"],
                            benchmark,
                            decoding,
                        )
                    )
    return keys


EVAL_RUNS = evaluation_runs()
TINY_MODELS = sorted(
    name for name, spec in config["models"].items() if spec["tiny"] is not None
)


# (model, train_set, method, seed) -> sorted [(benchmark, decoding), ...]: the evaluations of
# one fine-tune, i.e. the plan of its one evaluate job.
EVAL_PLANS = {}
for _run in EVAL_RUNS:
    EVAL_PLANS.setdefault(_run[:4], []).append(_run[4:])
EVAL_PLANS = {key: sorted(pairs) for key, pairs in EVAL_PLANS.items()}


def eval_dirs() -> list:
    """The evaluation directory of every evaluated fine-tune (the aggregation's inputs)."""
    return [eval_dir(*key) for key in EVAL_PLANS]


def table_files() -> dict:
    """name -> path of every file build_tables writes under results/ (fixed, data-independent)."""
    return {name: str(path) for name, path in output_paths(RESULTS).items()}


def report_table_files() -> list:
    """The aggregation's outputs, CSV tables and PNG figures flagged for `snakemake --report`
    (captions report/table_<stem>.rst and report/figure_<name>.rst)."""
    files = []
    for name, path in table_files().items():
        if name == "summary.json":
            continue
        stem, ext = name.rsplit(".", 1)
        if ext == "csv":
            caption, category = f"../report/table_{stem}.rst", "Tables"
        elif ext == "png":
            caption, category = f"../report/figure_{stem}.rst", "Figures"
        else:
            files.append(path)
            continue
        files.append(report(path, caption=caption, category=category))
    return files


def final_targets() -> list:
    """Targets of the default rule: the aggregated results (they depend on every evaluation)."""
    return list(table_files().values())


wildcard_constraints:
    model=alternation(config["models"]),
    train_set=alternation(config["train_sets"]),
    method=alternation(METHODS),
    seed=r"\d+",


# ------------------------------------------------------------ input and param functions


def source_dataset_names() -> list:
    return [
        name for name, spec in config["datasets"].items() if spec["source"] is not None
    ]


def augment_dataset_names() -> list:
    return [
        name
        for name, spec in config["datasets"].items()
        if spec["augment"] in AUGMENT_KINDS
    ]


def rft_dataset_names() -> list:
    return [
        name for name, spec in config["datasets"].items() if spec["augment"] == "rft"
    ]


def source_outputs(name: str) -> list:
    """The split files of a source dataset."""
    return [f"{DATA}/{name}/{split}.jsonl" for split in dataset_splits(name)]


def augment_inputs(wildcards) -> list:
    return [data_file(ref) for ref in config["datasets"][wildcards.dataset]["inputs"]]


def augment_kind(wildcards) -> str:
    return config["datasets"][wildcards.dataset]["augment"]


def dataset_options(wildcards) -> dict:
    return config["datasets"][wildcards.dataset]["options"]


def rft_inputs(wildcards) -> dict:
    """The split to resample and the sampler fine-tune (a fine-tune -> dataset edge)."""
    spec = config["datasets"][wildcards.dataset]
    s = spec["sampler"]
    return {
        "train": data_file(spec["inputs"][0]),
        "model": ft_dir(s["model"], s["train_set"], s["method"], s["seed"]),
    }


def rft_params(wildcards) -> dict:
    """rejection_sample() keywords: the dataset options + the prompt template."""
    settings = dict(config["datasets"][wildcards.dataset]["options"])
    settings["prompt_template"] = config["prompt_template"]
    return settings


def tokenizer_corpus(wildcards) -> list:
    return [data_file(ref) for ref in config["tokenizer"]["corpus"]]


def tokenizer_settings(wildcards) -> dict:
    return {
        "vocab_size": config["tokenizer"]["vocab_size"],
        "seed": config["tokenizer"]["seed"],
        "split_digits": config["tokenizer"]["split_digits"],
    }


def pretrain_corpus(wildcards) -> list:
    """Pre-training text of a tiny model (its own corpus, else the tokenizer's)."""
    pretrain = config["models"][wildcards.model]["tiny"]["pretrain"]
    return [
        data_file(ref) for ref in pretrain["corpus"] or config["tokenizer"]["corpus"]
    ]


def base_model_settings(wildcards) -> dict:
    """Architecture + pre-training of a tiny model, as build_base_model() keywords."""
    tiny = config["models"][wildcards.model]["tiny"]
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
    return settings


def base_checkpoint_dir(wildcards) -> str:
    """Pre-training checkpoints of a tiny model (outside its output directory)."""
    return f"{CKPT}/_base/{wildcards.model}"


def finetune_inputs(wildcards) -> dict:
    """The training file, plus the tiny base model's directory when it is built in the DAG."""
    inputs = {"train": data_file(config["train_sets"][wildcards.train_set]["data"])}
    if config["models"][wildcards.model]["tiny"] is not None:
        inputs["base"] = f"{BASE}/{wildcards.model}"
    return inputs


def base_model_ref(wildcards) -> str:
    """Hub id or local path of a hub model; '' for a tiny model (whose directory is an input)."""
    spec = config["models"][wildcards.model]
    return spec["hub_id"] or spec["local_path"] or ""


def accelerate_config(wildcards) -> str:
    """The model's accelerate config file for multi-GPU fine-tunes ('' = none)."""
    return config["models"][wildcards.model]["accelerate_config"] or ""


def finetune_params(wildcards) -> dict:
    """ONE dict with every config value a fine-tune depends on (FinetuneConfig keys)."""
    settings = resolved_settings(wildcards.model, wildcards.train_set, wildcards.method)
    settings["prompt_template"] = config["prompt_template"]
    settings["seed"] = int(wildcards.seed)
    return settings


def checkpoint_dir(wildcards) -> str:
    """Trainer checkpoints of a fine-tune, outside its declared output (a restarted job resumes;
    cotmask.train fingerprints the run and ignores checkpoints of different settings or inputs).
    """
    return f"{CKPT}/{wildcards.model}/{wildcards.train_set}/{wildcards.method}/seed{wildcards.seed}"


def evaluation_plan(wildcards) -> list:
    """(benchmark, decoding) pairs the config asks of one fine-tune (cells and sweeps, each once)."""
    key = (wildcards.model, wildcards.train_set, wildcards.method, int(wildcards.seed))
    if key not in EVAL_PLANS:
        raise WorkflowError(
            f"no evaluation of {key} in the config (cells and sweeps define what is evaluated)"
        )
    return EVAL_PLANS[key]


def evaluation_data(wildcards) -> list:
    """The benchmark files one fine-tune is evaluated on."""
    benchmarks = {benchmark for benchmark, _ in evaluation_plan(wildcards)}
    return sorted({data_file(config["benchmarks"][b]["data"]) for b in benchmarks})


def evaluation_settings(benchmark: str, decoding: str, seed: int) -> dict:
    """evaluate() keywords: scoring, decoding, prompt and generation settings of one evaluation."""
    bench = config["benchmarks"][benchmark]
    settings = dict(config["evaluation"])
    settings.update(bench["evaluation"])
    settings.update(
        {
            "scoring": bench["scoring"],
            "calculator": decoding == "calc",
            "prompt_template": config["prompt_template"],
            "seed": int(seed),
        }
    )
    return settings


def evaluation_runs_params(wildcards) -> list:
    """evaluate_suite() runs of one fine-tune: per (benchmark, decoding) its file stem, benchmark
    file and settings, so that a config edit reruns exactly the fine-tunes whose evaluations change.
    """
    return [
        {
            "name": eval_name(benchmark, decoding),
            "benchmark_file": data_file(config["benchmarks"][benchmark]["data"]),
            **evaluation_settings(benchmark, decoding, wildcards.seed),
        }
        for benchmark, decoding in evaluation_plan(wildcards)
    ]


def resource(kind: str, key: str):
    """A value of config['resources'][kind] (threads, mem_mb, runtime, gpu)."""
    return config["resources"][kind][key]


# ------------------------------------------------------------------------ aggregation


def index_records() -> list:
    """One entry per evaluation: the index cotmask.tables.build_tables aggregates."""
    sweeps = sweep_keys()
    records = []
    for model, train_set, method, seed, benchmark, decoding in EVAL_RUNS:
        settings = resolved_settings(model, train_set, method)
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
                "mask_warmup": settings["mask_warmup_ratio"],
                "epochs": settings["epochs"],
                "method_kind": "mft" if settings["mask_ratio"] > 0 else "sft",
                "sweep": (model, train_set, method, benchmark, decoding) in sweeps,
            }
        )
    return records


def tables_options() -> dict:
    """build_tables() keywords from config['tables'] (null = the library's default)."""
    return {key: value for key, value in config["tables"].items() if value is not None}
