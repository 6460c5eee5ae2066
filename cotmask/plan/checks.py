"""Cross-reference checks of a schema-validated config, each raising a ConfigError that names its key.

The schema (config/schema.yaml) checks shapes: types, enums, ranges, required and unknown keys, name
patterns. These checks cover what it cannot express: names that must exist elsewhere in the config (a
cell naming an unknown method, a benchmark naming a missing dataset split), library registries (data
sources, augmentation and rft options), combinations of keys, and dependency cycles through RFT samplers.
"""

from __future__ import annotations

import os

from cotmask.data import SOURCES, source_splits
from cotmask.data.augment import OPTIONS as AUGMENT_OPTIONS
from cotmask.data.options import resolve_options
from cotmask.data.rft import RFT_OPTIONAL_OPTIONS, RFT_REQUIRED_OPTIONS
from cotmask.plan.paths import split_ref
from cotmask.plan.schema import ConfigError
from cotmask.report import PAPER_REFERENCE


def dataset_splits(config: dict, name: str) -> list[str]:
    """Splits a dataset node provides: the source's splits, or ['train'] for augmentations."""
    spec = config["datasets"][name]
    if spec["source"] is not None:
        return list(source_splits(spec["source"], spec["options"]))
    return ["train"]


def check_ref(config: dict, key: str, ref: str) -> None:
    """A 'dataset/split' reference must name an existing dataset and one of its splits."""
    dataset, split = split_ref(ref)
    if dataset not in config["datasets"]:
        raise ConfigError(key, f"unknown dataset {dataset!r} in {ref!r}")
    splits = dataset_splits(config, dataset)
    if split not in splits:
        raise ConfigError(key, f"dataset {dataset!r} has no split {split!r} (it has: {', '.join(splits)})")


def check_name(key: str, name: str, known, what: str) -> None:
    """``name`` must be one of ``known`` (a table of the config, or a list of names)."""
    if name not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise ConfigError(key, f"unknown {what} {name!r} (defined: {listed})")


def check_names(key: str, names: list, known, what: str) -> None:
    for i, name in enumerate(names):
        check_name(f"{key}[{i}]", name, known, what)


def check_rft_options(key: str, options: dict) -> None:
    """The options of an rft dataset are rejection_sample()'s option keywords: none unknown or missing."""
    allowed = RFT_REQUIRED_OPTIONS + RFT_OPTIONAL_OPTIONS
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(key, f"unknown rft option(s) {unknown} (known: {', '.join(allowed)})")
    missing = [name for name in RFT_REQUIRED_OPTIONS if name not in options]
    if missing:
        raise ConfigError(key, f"rft needs option(s) {missing}")


def check_source_dataset(key: str, spec: dict) -> None:
    for extra in ("inputs", "sampler"):
        if spec[extra]:
            raise ConfigError(f"{key}.{extra}", "only augmented datasets take this key")
    if spec["source"] not in SOURCES:
        raise ConfigError(f"{key}.source", f"unknown source {spec['source']!r} (known: {', '.join(sorted(SOURCES))})")
    try:
        splits = source_splits(spec["source"], spec["options"])
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{key}.options", str(error)) from None
    if not splits:
        raise ConfigError(f"{key}.options", "the source writes no split")


def check_rft_dataset(config: dict, key: str, spec: dict) -> None:
    check_rft_options(f"{key}.options", spec["options"])
    if len(spec["inputs"]) != 1:
        raise ConfigError(f"{key}.inputs", "rft takes exactly one input split")
    sampler = spec["sampler"]
    if sampler is None:
        raise ConfigError(f"{key}.sampler", "rft needs a sampler {model, train_set, method, seed}")
    check_name(f"{key}.sampler.model", sampler["model"], config["models"], "model")
    check_name(f"{key}.sampler.train_set", sampler["train_set"], config["train_sets"], "train set")
    if sampler["method"] not in config["methods"]:
        raise ConfigError(f"{key}.sampler.method", f"unknown method {sampler['method']!r}")


def check_augmented_dataset(config: dict, key: str, spec: dict) -> None:
    if spec["augment"] in AUGMENT_OPTIONS:
        try:
            resolve_options(f"augmentation {spec['augment']!r}", AUGMENT_OPTIONS[spec["augment"]], spec["options"])
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{key}.options", str(error)) from None
    if not spec["inputs"]:
        raise ConfigError(f"{key}.inputs", "an augmented dataset needs at least one input split")
    for i, ref in enumerate(spec["inputs"]):
        check_ref(config, f"{key}.inputs[{i}]", ref)
    if spec["augment"] == "rft":
        check_rft_dataset(config, key, spec)
    elif spec["sampler"] is not None:
        raise ConfigError(f"{key}.sampler", "only rft datasets take a sampler")


def check_datasets(config: dict) -> None:
    for name, spec in config["datasets"].items():
        key = f"datasets.{name}"
        if (spec["source"] is None) == (spec["augment"] is None):
            raise ConfigError(key, "give exactly one of 'source' and 'augment'")
        if spec["source"] is not None:
            check_source_dataset(key, spec)
        else:
            check_augmented_dataset(config, key, spec)


def check_tiny_model(config: dict, key: str, tiny: dict) -> None:
    if tiny["hidden_size"] % tiny["num_heads"]:
        raise ConfigError(f"{key}.num_heads", "must divide hidden_size")
    if tiny["num_heads"] % tiny["num_kv_heads"]:
        raise ConfigError(f"{key}.num_kv_heads", "must divide num_heads")
    for i, ref in enumerate(tiny["pretrain"]["corpus"]):
        check_ref(config, f"{key}.pretrain.corpus[{i}]", ref)


def check_models(config: dict) -> None:
    for name, spec in config["models"].items():
        given = [k for k in ("tiny", "hub_id", "local_path") if spec[k] is not None]
        if len(given) != 1:
            raise ConfigError(
                f"models.{name}",
                "give exactly one of 'tiny', 'hub_id' and 'local_path'" + (f" (got {', '.join(given)})" if given else ""),
            )
        if spec["tiny"] is not None:
            check_tiny_model(config, f"models.{name}.tiny", spec["tiny"])
        launcher = spec["accelerate_config"]
        if launcher is not None and not os.path.isfile(launcher):
            raise ConfigError(f"models.{name}.accelerate_config", f"{launcher}: no such file")
    if any(spec["tiny"] is not None for spec in config["models"].values()) and not config["tokenizer"]["corpus"]:
        raise ConfigError("tokenizer.corpus", "tiny models need a tokenizer corpus")
    for i, ref in enumerate(config["tokenizer"]["corpus"]):
        check_ref(config, f"tokenizer.corpus[{i}]", ref)


def check_data_refs(config: dict) -> None:
    for name, spec in config["train_sets"].items():
        check_ref(config, f"train_sets.{name}.data", spec["data"])
    for name, spec in config["benchmarks"].items():
        check_ref(config, f"benchmarks.{name}.data", spec["data"])


def model_datasets(config: dict, model: str) -> set[str]:
    """Datasets a (tiny) base model is built from: tokenizer and pre-training corpora."""
    tiny = config["models"][model]["tiny"]
    if tiny is None:
        return set()
    refs = list(config["tokenizer"]["corpus"]) + list(tiny["pretrain"]["corpus"])
    return {split_ref(ref)[0] for ref in refs}


def dataset_dependencies(config: dict, name: str) -> set[str]:
    """Datasets a dataset is computed from, directly (inputs, and the sampler's training set and base model)."""
    spec = config["datasets"][name]
    deps = {split_ref(ref)[0] for ref in spec["inputs"]}
    if spec["sampler"] is not None:
        deps.add(split_ref(config["train_sets"][spec["sampler"]["train_set"]]["data"])[0])
        deps.update(model_datasets(config, spec["sampler"]["model"]))
    return deps


def check_cycles(config: dict) -> None:
    """RFT samplers add fine-tune -> dataset edges; refuse a dataset that depends on itself."""
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = " -> ".join(trail[trail.index(name) :] + [name])
            raise ConfigError(f"datasets.{name}", f"dependency cycle: {cycle}")
        state[name] = "active"
        for dep in sorted(dataset_dependencies(config, name)):
            visit(dep, trail + [name])
        state[name] = "done"

    for name in config["datasets"]:
        visit(name, [])


def check_cells(config: dict) -> None:
    seen = {}
    for c, cell in enumerate(config["cells"]):
        key = f"cells[{c}]"
        check_name(f"{key}.model", cell["model"], config["models"], "model")
        check_name(f"{key}.train_set", cell["train_set"], config["train_sets"], "train set")
        check_names(f"{key}.methods", cell["methods"], config["methods"], "method")
        check_names(f"{key}.benchmarks", cell["benchmarks"], config["benchmarks"], "benchmark")
        for method in cell["overrides"]:
            if method not in cell["methods"]:
                raise ConfigError(f"{key}.overrides.{method}", f"method {method!r} is not among this cell's methods")
        pair = (cell["model"], cell["train_set"])
        if pair in seen:
            raise ConfigError(key, f"(model, train_set) = {pair} already forms cells[{seen[pair]}]; merge the two cells")
        seen[pair] = c


def check_sweeps(config: dict) -> None:
    for name, sweep in config["sweeps"].items():
        key = f"sweeps.{name}"
        check_name(f"{key}.model", sweep["model"], config["models"], "model")
        check_name(f"{key}.train_set", sweep["train_set"], config["train_sets"], "train set")
        if sweep["base_method"] not in config["methods"]:
            raise ConfigError(f"{key}.base_method", f"unknown method {sweep['base_method']!r}")
        check_names(f"{key}.benchmarks", sweep["benchmarks"], config["benchmarks"], "benchmark")
        if sweep["decodings"] is None:
            continue
        for benchmark in sweep["benchmarks"]:
            own = config["benchmarks"][benchmark]["decodings"] or config["decodings"]
            if not set(own) & set(sweep["decodings"]):
                raise ConfigError(f"{key}.decodings", f"benchmark {benchmark!r} is evaluated only with {own}")


def check_config(config: dict) -> None:
    """The cross-reference checks that need no planning (run before the sweeps are expanded)."""
    check_datasets(config)
    check_models(config)
    check_data_refs(config)
    check_cycles(config)
    check_cells(config)
    check_sweeps(config)
    check_diagnostics(config)
    check_regime(config)


def check_regime(config: dict) -> None:
    """Every regime point names a cell of a tiny model that trains SFT and SFT-long and is evaluated on the
    rule's benchmarks; the rule's benchmarks exist."""
    regime = config["regime"]
    if not regime["points"]:
        return
    if regime["in_distribution"] is None:
        raise ConfigError("regime.in_distribution", "required when regime.points is not empty")
    benchmarks = [regime["in_distribution"], *regime["distractor_benchmarks"]]
    for key, name in (("regime.in_distribution", benchmarks[0]),
                      *((f"regime.distractor_benchmarks[{i}]", b) for i, b in enumerate(benchmarks[1:]))):
        check_name(key, name, config["benchmarks"], "benchmark")
    cells = {(c["model"], c["train_set"]): c for c in config["cells"]}
    for i, point in enumerate(regime["points"]):
        key = f"regime.points[{i}]"
        cell = cells.get((point["model"], point["train_set"]))
        if cell is None:
            raise ConfigError(key, f"no cell trains model {point['model']!r} on train set {point['train_set']!r}")
        missing = [m for m in ("sft", "sft_long") if m not in cell["methods"]]
        missing += [b for b in benchmarks if b not in cell["benchmarks"]]
        if missing:
            raise ConfigError(key, f"its cell lacks {missing} (the selection rule reads SFT and SFT-long on "
                                   "regime.in_distribution and regime.distractor_benchmarks)")
        if config["models"][point["model"]]["tiny"] is None:
            raise ConfigError(key, f"model {point['model']!r} is not a tiny model (the rule reads its pre-training metrics)")


def check_diagnostics(config: dict) -> None:
    """``diagnostics.benchmark`` names a benchmark of the config."""
    name = config["diagnostics"]["benchmark"]
    if name is not None:
        check_name("diagnostics.benchmark", name, config["benchmarks"], "benchmark")


def check_tables(config: dict, methods) -> None:
    """Names in the aggregation options must exist (a typo would silently empty a table).

    ``methods``: every method name, the config's and the sweeps' generated ones.
    """
    opts, train_sets = config["tables"], config["train_sets"]
    for role, name in (opts["benchmarks"] or {}).items():
        check_name(f"tables.benchmarks.{role}", name, config["benchmarks"], "benchmark")
    for key in ("base_train_set", "rft_train_set"):
        if opts[key] is not None:
            check_name(f"tables.{key}", opts[key], train_sets, "train set")
    check_names("tables.train_set_order", opts["train_set_order"] or [], train_sets, "train set")
    check_names("tables.main_methods", opts["main_methods"] or [], methods, "method")
    for i, comparison in enumerate(opts["comparisons"] or []):
        for arm in ("treatment", "control"):
            check_name(f"tables.comparisons[{i}].{arm}", comparison[arm], methods, "method")
            if f"{arm}_train_set" in comparison:
                key = f"tables.comparisons[{i}].{arm}_train_set"
                check_name(key, comparison[f"{arm}_train_set"], train_sets, "train set")
    for i, arm in enumerate(opts["table5_arms"] or []):
        check_name(f"tables.table5_arms[{i}].method", arm["method"], methods, "method")
        check_name(f"tables.table5_arms[{i}].train_set", arm["train_set"], train_sets, "train set")
    paper_rows = {row["method"] for row in PAPER_REFERENCE["table3"]}
    for i, arm in enumerate(opts["table3_arms"] or []):
        check_name(f"tables.table3_arms[{i}].method", arm["method"], methods, "method")
        if arm.get("paper_method") is not None:
            check_name(f"tables.table3_arms[{i}].paper_method", arm["paper_method"], paper_rows, "paper row")
    fig3 = opts["fig3"] or {}
    for key in ("reference_methods", "include_methods"):
        check_names(f"tables.fig3.{key}", fig3.get(key, []), methods, "method")
    for model in config["models"]:
        matches = [needle for needle in opts["paper_models"] or {} if needle.lower() in model.lower()]
        if len(matches) > 1:  # the report takes the first match: key order would decide
            raise ConfigError("tables.paper_models", f"keys {sorted(matches)} all match model {model!r}; keep one")
