"""The options of :func:`cotmask.report.build_tables`, checked and resolved once into :class:`Options`.

The workflow passes the config's ``tables`` section (config/schema.yaml describes each key; a null
key is left out and gets the default here). Every option:

* ``benchmarks``: role -> benchmark name, roles ``gsm`` (Table 1 "GSM8K"), ``math`` (Table 1 "MATH"),
  ``ic_2step`` and ``ic_mstep`` (Table 5; both present -> pooled pseudo-benchmark
  ``"{ic_2step}+{ic_mstep}"``). Default :data:`~cotmask.report.roles.DEFAULT_BENCHMARKS`. Benchmarks of
  the index without a role still get cells and comparisons.
* ``base_train_set``, ``rft_train_set``: the small GSM training set and its RFT augmentation (Tables 2,
  3, 5). Default: the first training set of the index (the config lists it first), and no RFT set
  (Table 2 stays empty, Table 5 has no RFT arm).
* ``train_set_order``: the order of the training sets in the tables and figures. Training sets it
  does not list follow in the order the index first names them (the workflow builds the index from
  the config's ``cells`` in order, so that is the config's order). Default: the index's order alone.
* ``comparisons``: paired comparisons run within every (model, train_set) for every benchmark and
  decoding, each ``{"treatment": method, "control": method}``; optional ``treatment_train_set`` /
  ``control_train_set`` fix an arm's training set (cross-set comparison, run only for that treatment
  training set). Default :data:`DEFAULT_COMPARISONS`. Table 1 shows those without train-set keys.
* ``main_methods``: the method columns of Tables 1 and 2 and of ``main_results.png`` (in order).
* ``method_labels``: display names of methods (merged over :data:`DEFAULT_METHOD_LABELS`).
* ``table5_arms``: rows of Table 5, each ``{"label", "train_set", "method", "paper_method"}``; the
  first is the reference of the deltas. Default: SFT, SFT-long, RFT (= sft on rft_train_set), MFT.
* ``table3_arms``: rows of Table 3 (MFT against the other regularisers, on ``base_train_set``), each
  ``{"label", "method", "paper_method", "control"}``; every arm with ``control: true`` gets a delta
  column, filled for the arms listed after it. Default :data:`DEFAULT_TABLE3_ARMS`.
* ``fig3``: sweep plot spec merged over :data:`DEFAULT_FIG3`: ``benchmark`` (role or name) and
  ``decoding`` of the plot, ``reference_methods`` (SFT lines), ``include_methods`` (non-sweep methods
  added to the curves). Sweep points are index entries with ``sweep: true`` and a ``mask_ratio``;
  ``mask_warmup_ratio > 0`` puts a point on the warm-up curve.
* ``paper``: reference numbers in the format of :data:`~cotmask.report.reference.PAPER_REFERENCE`
  (the default); ``{}`` leaves the paper columns empty.
* ``paper_models``: substring of our model name -> paper model (:data:`DEFAULT_PAPER_MODELS`).
* ``paper_train_sets``, ``paper_train_sets_table2``: our train_set -> paper training set for Table 1
  and for Table 2 / the RFT arm. Defaults: the names of the default config (config/config.yaml).
* ``n_resamples``, ``confidence``, ``bootstrap_seed``: the bootstrap (each comparison's generator is
  seeded from ``bootstrap_seed`` and the comparison's identity, so results do not depend on order).
* ``cluster_by``: the per-item metadata key whose value is the bootstrap cluster (default
  ``template``); items without it, or all items when None, are their own cluster.
* ``figures``: also draw the PNG figures (default true).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cotmask.report.evaluations import TableInputError, index_train_sets
from cotmask.report.reference import PAPER_REFERENCE
from cotmask.report.roles import DEFAULT_BENCHMARKS

DEFAULT_COMPARISONS: tuple[dict[str, str], ...] = (
    {"treatment": "mft", "control": "sft"},
    {"treatment": "mft", "control": "sft_long"},
)
DEFAULT_MAIN_METHODS: tuple[str, ...] = ("sft", "sft_long", "mft")
DEFAULT_METHOD_LABELS: dict[str, str] = {"sft": "SFT", "sft_long": "SFT-long", "mft": "MFT"}
#: substring of our model name (lower case) -> paper base model
DEFAULT_PAPER_MODELS: dict[str, str] = {"llama": "Llama2-7B", "mistral": "Mistral-7B"}
#: our train_set -> paper training set of Table 1 (exact match; the names of config/config.yaml)
DEFAULT_PAPER_TRAIN_SETS: dict[str, str] = {
    "gsm": "GSM8K",
    "rft": "GSM8K-RFT-U33",
    "math": "MATH",
    "metamath": "MetaMath",
    "mammoth": "MAmmoTH",
}
#: our train_set -> paper training set of Table 2 (self-sampled RFT-100)
DEFAULT_PAPER_TRAIN_SETS_TABLE2: dict[str, str] = {"gsm": "GSM8K", "rft": "GSM8K-RFT-100"}
DEFAULT_FIG3: dict[str, Any] = {
    "benchmark": "gsm",  # role (or benchmark name) plotted
    "decoding": "calc",
    "reference_methods": ["sft", "sft_long"],  # horizontal reference lines
    "include_methods": [],  # non-sweep methods whose runs join the curves by (mask_ratio, mask_warmup_ratio)
}
#: rows of the Table 3 counterpart when none are configured (the regularisers are methods of the config).
DEFAULT_TABLE3_ARMS: tuple[dict[str, Any], ...] = (
    {"label": "SFT", "method": "sft", "paper_method": "SFT", "control": True},
    {"label": "SFT-long", "method": "sft_long", "paper_method": None, "control": True},
    {"label": "MFT", "method": "mft", "paper_method": "MFT, random token (r=1)", "control": False},
)
#: every option (keyword of build_tables) and its default; None: derived (see the module docstring).
OPTION_DEFAULTS: dict[str, Any] = {
    "comparisons": None,
    "main_methods": DEFAULT_MAIN_METHODS,
    "method_labels": None,
    "benchmarks": None,
    "base_train_set": None,
    "rft_train_set": None,
    "train_set_order": None,
    "table5_arms": None,
    "table3_arms": None,
    "fig3": None,
    "paper": None,
    "paper_models": None,
    "paper_train_sets": None,
    "paper_train_sets_table2": None,
    "n_resamples": 2000,
    "confidence": 0.95,
    "bootstrap_seed": 0,
    "cluster_by": "template",
    "figures": True,
}
_COMPARISON_KEYS = {"treatment", "control", "treatment_train_set", "control_train_set"}
_TABLE3_KEYS = {"label", "method", "paper_method", "control"}


@dataclass
class Options:
    """The resolved options of build_tables (see the module docstring)."""

    comparisons: list[dict[str, str]]
    main_methods: list[str]
    method_labels: dict[str, str]
    benchmarks: dict[str, str]
    base_train_set: str | None
    rft_train_set: str | None
    train_set_order: list[str]
    table5_arms: list[dict[str, str]]
    table3_arms: list[dict[str, Any]]
    fig3: dict[str, Any]
    paper: dict[str, list]
    paper_models: dict[str, str]
    paper_train_sets: dict[str, str]
    paper_train_sets_table2: dict[str, str]
    n_resamples: int = 2000
    confidence: float = 0.95
    bootstrap_seed: int = 0
    cluster_by: str | None = "template"
    figures: bool = True

    def method_label(self, method: str) -> str:
        return self.method_labels.get(method, method)

    def comparison_name(self, comparison: Mapping[str, str]) -> tuple[str, str]:
        """(csv key, display label) of a comparison, e.g. ("mft_minus_sft", "MFT - SFT").

        A fixed training set is appended to its arm: ``mft_gsm_minus_rft_sft``, "MFT (gsm) - SFT (rft)".
        """
        t, c = comparison["treatment"], comparison["control"]
        t_set, c_set = comparison.get("treatment_train_set"), comparison.get("control_train_set")
        key = t + (f"_{t_set}" if t_set else "") + "_minus_" + (f"{c_set}_" if c_set else "") + c
        label = self.method_label(t) + (f" ({t_set})" if t_set else "")
        label += " - " + self.method_label(c) + (f" ({c_set})" if c_set else "")
        return key, label

    def simple_comparisons(self) -> list[dict[str, str]]:
        """The comparisons within one training set (no fixed arm training set): Tables 1 and 2."""
        return [
            c
            for c in self.comparisons
            if not c.get("treatment_train_set") and not c.get("control_train_set")
        ]


def _require_strings(where: str, entry: Mapping, keys: Sequence[str]) -> None:
    for key in keys:
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise TableInputError(f"{where}: key {key!r} is missing or not a string")


def _comparisons(comparisons: Sequence[Mapping] | None) -> list[dict[str, str]]:
    resolved = [dict(c) for c in (DEFAULT_COMPARISONS if comparisons is None else comparisons)]
    for number, comparison in enumerate(resolved):
        _require_strings(f"comparisons[{number}]", comparison, ("treatment", "control"))
        unknown = set(comparison) - _COMPARISON_KEYS
        if unknown:
            raise TableInputError(f"comparisons[{number}]: unknown keys {sorted(unknown)}")
    return resolved


def _fig3(fig3: Mapping | None) -> dict[str, Any]:
    spec = {**DEFAULT_FIG3, **(fig3 or {})}
    unknown = set(spec) - set(DEFAULT_FIG3)
    if unknown:
        raise TableInputError(
            f"fig3: unknown keys {sorted(unknown)} (known: {sorted(DEFAULT_FIG3)})"
        )
    return spec


def _default_table5_arms(base: str | None, rft: str | None) -> list[dict[str, Any]]:
    """SFT, SFT-long, RFT (sft on the RFT set, when there is one) and MFT."""
    if base is None:
        return []
    arms = [
        {"label": "SFT", "train_set": base, "method": "sft", "paper_method": "SFT"},
        {"label": "SFT-long", "train_set": base, "method": "sft_long", "paper_method": None},
        {"label": "RFT", "train_set": rft, "method": "sft", "paper_method": "RFT-100"},
        {"label": "MFT", "train_set": base, "method": "mft", "paper_method": "MFT"},
    ]
    return [arm for arm in arms if arm["train_set"] is not None]


def _table5_arms(arms: Sequence[Mapping] | None, base: str | None, rft: str | None) -> list[dict]:
    resolved = [dict(a) for a in (_default_table5_arms(base, rft) if arms is None else arms)]
    for number, arm in enumerate(resolved):
        _require_strings(f"table5_arms[{number}]", arm, ("label", "train_set", "method"))
    return resolved


def _table3_arms(arms: Sequence[Mapping] | None, paper: Mapping[str, list]) -> list[dict]:
    resolved = [dict(a) for a in (DEFAULT_TABLE3_ARMS if arms is None else arms)]
    known_rows = {row.get("method") for row in paper.get("table3", [])}
    for number, arm in enumerate(resolved):
        _require_strings(f"table3_arms[{number}]", arm, ("label", "method"))
        unknown = set(arm) - _TABLE3_KEYS
        if unknown:
            raise TableInputError(f"table3_arms[{number}]: unknown keys {sorted(unknown)}")
        if not isinstance(arm.get("control", False), bool):
            raise TableInputError(f"table3_arms[{number}]: 'control' must be true or false")
        if arm.get("paper_method") is not None and arm["paper_method"] not in known_rows:
            raise TableInputError(
                f"table3_arms[{number}].paper_method: no paper row {arm['paper_method']!r} "
                f"(rows: {', '.join(sorted(map(str, known_rows)))})"
            )
    if resolved and not any(arm.get("control") for arm in resolved):
        raise TableInputError(
            "table3_arms: no arm is marked 'control: true' (the deltas' reference)"
        )
    return resolved


def _train_set_order(explicit: Sequence[str] | None, index: Any) -> list[str]:
    """The explicit order, then the index's other training sets in order of first appearance."""
    names = explicit or []
    if isinstance(names, str) or not all(isinstance(name, str) and name for name in names):
        raise TableInputError(
            f"train_set_order: expected a list of training set names, got {names!r}"
        )
    return list(dict.fromkeys(list(names) + index_train_sets(index)))


def _check_known(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(options) - set(OPTION_DEFAULTS)
    if unknown:
        raise TableInputError(
            f"unknown options {sorted(unknown)} (known: {', '.join(OPTION_DEFAULTS)})"
        )
    return {**OPTION_DEFAULTS, **options}


def resolve_options(index: Any, **options: Any) -> Options:
    """Check every option and fill in the defaults; the training-set defaults and order come from the
    index (whose order is the config's). Raises :class:`TableInputError` naming the bad option."""
    raw = _check_known(options)
    order = _train_set_order(raw["train_set_order"], index)
    base = (
        raw["base_train_set"]
        if raw["base_train_set"] is not None
        else (order[0] if order else None)
    )
    paper = dict(PAPER_REFERENCE if raw["paper"] is None else raw["paper"])
    comparisons = _comparisons(raw["comparisons"])
    fig3 = _fig3(raw["fig3"])
    table5_arms = _table5_arms(raw["table5_arms"], base, raw["rft_train_set"])
    table3_arms = _table3_arms(raw["table3_arms"], paper)
    if raw["n_resamples"] < 1:
        raise TableInputError(f"n_resamples must be positive, got {raw['n_resamples']}")

    def given(name: str, default: Any) -> dict:
        return dict(default if raw[name] is None else raw[name])

    return Options(
        comparisons=comparisons,
        main_methods=list(raw["main_methods"]),
        method_labels={**DEFAULT_METHOD_LABELS, **(raw["method_labels"] or {})},
        benchmarks=given("benchmarks", DEFAULT_BENCHMARKS),
        base_train_set=base,
        rft_train_set=raw["rft_train_set"],
        train_set_order=order,
        table5_arms=table5_arms,
        table3_arms=table3_arms,
        fig3=fig3,
        paper=paper,
        paper_models=given("paper_models", DEFAULT_PAPER_MODELS),
        paper_train_sets=given("paper_train_sets", DEFAULT_PAPER_TRAIN_SETS),
        paper_train_sets_table2=given("paper_train_sets_table2", DEFAULT_PAPER_TRAIN_SETS_TABLE2),
        n_resamples=raw["n_resamples"],
        confidence=raw["confidence"],
        bootstrap_seed=raw["bootstrap_seed"],
        cluster_by=raw["cluster_by"],
        figures=raw["figures"],
    )
