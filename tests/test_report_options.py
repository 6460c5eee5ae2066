"""cotmask.report: options resolved from the config/index (training-set order and defaults), the paper's
numbers as package data, and the package's import structure (plots never imports the builders)."""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cotmask import cli, report
from cotmask.plan import Plan, validated_config
from cotmask.report import plots

ROOT = Path(__file__).parents[1]
REPORT_DIR = ROOT / "cotmask" / "report"
N_ITEMS = 6


def _write_run(root: Path, key: tuple, correct: list[bool]) -> dict:
    """One evaluation (per-item JSONL + summary) of key = (model, train_set, method, seed, benchmark,
    decoding) in the workflow's layout; returns its index entry."""
    model, train_set, method, seed, benchmark, decoding = key
    prefix = root / model / train_set / method / f"seed{seed}" / f"{benchmark}.{decoding}"
    names = ("model", "train_set", "method", "seed", "benchmark", "decoding")
    entry = {**dict(zip(names, key)), "path": f"{prefix}.jsonl", "summary": f"{prefix}.json"}
    _write_files(entry, correct)
    return entry


def _write_files(entry: dict, correct: list[bool]) -> None:
    """The per-item JSONL and the summary an index entry names (``path``, ``summary``)."""
    items, summary = Path(entry["path"]), Path(entry["summary"])
    items.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        {
            "id": f"q{i}",
            "correct": ok,
            "invalid": False,
            "metadata": {"template": f"t{i % 3}", "n_steps": 2},
        }
        for i, ok in enumerate(correct)
    ]
    items.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    summary.write_text(
        json.dumps({"accuracy": sum(correct) / len(correct), "n": len(correct)}), encoding="utf-8"
    )


def _index(root: Path, train_sets: tuple[str, ...]) -> list[dict]:
    """SFT and MFT (2 seeds) on ``train_sets``, in that order, on gsm8k with calc decoding."""
    index = []
    for number, train_set in enumerate(train_sets):
        for method, extra in (("sft", 0), ("mft", 1)):
            for seed in (0, 1):
                correct = [(i + seed + extra + number) % 3 != 0 for i in range(N_ITEMS)]
                index.append(
                    _write_run(root, ("llama", train_set, method, seed, "gsm8k", "calc"), correct)
                )
    return index


def _table(summary: dict, stem: str) -> list[dict]:
    return summary["tables"][stem]


def test_table1_follows_the_index_order_of_training_sets(tmp_path):
    """Training sets appear in Table 1 in the order the index (i.e. the config) first names them, not in
    a fixed list of names; train_set_order puts named sets first."""
    options = {"n_resamples": 20, "figures": False, "main_methods": ["sft", "mft"]}
    for order in (("rft", "gsm", "metamath"), ("metamath", "gsm", "rft")):
        index = _index(tmp_path / "evals", order)
        summary = report.build_tables(index, tmp_path / "out", **options)
        assert [row["train_set"] for row in _table(summary, "table1_main")] == list(order)
    explicit = report.build_tables(index, tmp_path / "out", train_set_order=["rft"], **options)
    assert [row["train_set"] for row in _table(explicit, "table1_main")] == [
        "rft",
        "metamath",
        "gsm",
    ]
    with pytest.raises(report.TableInputError, match="train_set_order"):
        report.build_tables(index, tmp_path / "out", train_set_order="rft", **options)


def test_a_configs_train_set_order_validates_and_reaches_build_tables(tmp_path, monkeypatch):
    """tables.train_set_order in a workflow config passes the schema and the planner, and the planner's
    options put those training sets first within each model in the tables (the config's `cells` order is
    llama/gsm, mistral/metamath, llama/rft)."""
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text(encoding="utf-8"))
    config["tables"]["train_set_order"] = ["rft", "metamath"]
    plan = Plan(validated_config(config))
    assert plan.tables_options()["train_set_order"] == ["rft", "metamath"]
    monkeypatch.chdir(tmp_path)  # the index's paths are relative to the workflow's directory
    for number, entry in enumerate(plan.index_records):
        _write_files(entry, [(i + number) % 3 != 0 for i in range(N_ITEMS)])
    options = {**plan.tables_options(), "n_resamples": 20, "figures": False}
    summary = report.build_tables(plan.index_records, tmp_path / "out", **options)
    unset = report.build_tables(plan.index_records, tmp_path / "unset", **{**options, "train_set_order": None})
    for result, order in ((summary, ["rft", "gsm"]), (unset, ["gsm", "rft"])):
        groups = dict.fromkeys((row["model"], row["train_set"]) for row in _table(result, "table1_main"))
        assert list(groups) == [("llama", name) for name in order] + [("mistral", "metamath")]


def test_base_and_rft_defaults_come_from_the_index(tmp_path):
    """Without options the base training set is the index's first one and there is no RFT set: Table 2
    is empty and says why, Table 5 has no RFT arm, Table 3 uses the first training set."""
    index = _index(tmp_path / "evals", ("mammoth", "gsm"))
    opts = report.resolve_options(index)
    assert (opts.base_train_set, opts.rft_train_set) == ("mammoth", None)
    assert opts.train_set_order == ["mammoth", "gsm"]
    assert [arm["label"] for arm in opts.table5_arms] == ["SFT", "SFT-long", "MFT"]
    assert {arm["train_set"] for arm in opts.table5_arms} == {"mammoth"}
    summary = report.build_tables(index, tmp_path / "out", n_resamples=20, figures=False)
    assert summary["settings"]["base_train_set"] == "mammoth"
    assert _table(summary, "table2_rft") == []
    note = (tmp_path / "out" / "tables" / "table2_rft.md").read_text(encoding="utf-8")
    assert "No RFT training set (rft_train_set) is given" in note
    assert {row["train_set"] for row in _table(summary, "table3_regularisers")} == {"mammoth"}
    # the default paper mapping uses the config's names: mammoth <-> MAmmoTH, gsm <-> GSM8K
    table1 = {row["train_set"]: row["paper_train_set"] for row in _table(summary, "table1_main")}
    assert table1 == {"mammoth": "MAmmoTH", "gsm": "GSM8K"}
    with_rft = report.resolve_options(index, rft_train_set="gsm", base_train_set="mammoth")
    assert [(a["label"], a["train_set"]) for a in with_rft.table5_arms][2] == ("RFT", "gsm")


def test_unknown_option_is_named(tmp_path):
    index = _index(tmp_path / "evals", ("gsm",))
    with pytest.raises(report.TableInputError, match=r"unknown options \['bogus'\]"):
        report.build_tables(index, tmp_path / "out", bogus=1)
    with pytest.raises(report.TableInputError, match="n_resamples must be positive"):
        report.resolve_options(index, n_resamples=0)


SHIPPED_CONFIGS = sorted(p for p in (ROOT / "config").glob("*.yaml") if p.name != "schema.yaml")


@pytest.mark.parametrize("config", SHIPPED_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_resolve_and_name_paper_rows(config):
    """Every shipped config's tables section resolves, and its paper names are rows of the paper's tables."""
    content = yaml.safe_load(config.read_text(encoding="utf-8"))
    options = {k: v for k, v in content["tables"].items() if v is not None}
    opts = report.resolve_options(
        [{"train_set": name} for name in content["train_sets"]], **options
    )
    assert opts.base_train_set in content["train_sets"]
    paper = report.PAPER_REFERENCE
    table1_sets = {row["train_set"] for row in paper["table1"]}
    assert set(opts.paper_train_sets.values()) <= table1_sets
    assert set(opts.paper_train_sets_table2.values()) <= {
        row["train_set"] for row in paper["table2"]
    }
    for arm in opts.table5_arms:
        if arm.get("paper_method"):
            assert arm["paper_method"] in {row["method"] for row in paper["table5"]}


def test_default_paper_train_sets_use_names_of_the_full_study():
    """The library's default mapping to the paper's training sets names the training sets of config/full.yaml
    (every training set of the miniature; today's default config trains on one of them)."""
    content = yaml.safe_load((ROOT / "config" / "full.yaml").read_text(encoding="utf-8"))
    opts = report.resolve_options([])
    assert set(opts.paper_train_sets) <= set(content["train_sets"])
    assert set(opts.paper_train_sets_table2) <= set(content["train_sets"])


def test_paper_reference_is_package_data():
    """The numbers are read from the YAML beside the module, and pyproject ships that file."""
    data = yaml.safe_load((REPORT_DIR / "paper_reference.yaml").read_text(encoding="utf-8"))
    assert data == report.PAPER_REFERENCE
    assert set(data) == {"table1", "table2", "table3", "table5"}
    for row in data["table1"]:
        assert {"model", "train_set", "benchmark", "sft", "mft"} <= set(row)
        assert (
            0 < row["sft"] < row["mft"] < 100
        )  # MFT beats SFT in every row of the paper's Table 1
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["setuptools"]["package-data"]["cotmask.report"]
    assert any(Path("paper_reference.yaml").match(pattern) for pattern in shipped)


def _report_imports(path: Path) -> set[str]:
    """The cotmask.report modules a file imports (at any depth of its syntax tree)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("cotmask.report")
        ):
            names |= {
                f"{node.module}.{a.name}" if node.module == "cotmask.report" else node.module
                for a in node.names
            }
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("cotmask.report")}
    return names


def test_plots_take_order_as_argument_and_import_no_builder(tmp_path):
    """plots.py imports nothing of the package (no circle); its panel order is the order it is given."""
    assert _report_imports(REPORT_DIR / "plots.py") == set()
    frame = pd.DataFrame(
        {"model": ["m", "m", "m", "a"], "train_set": ["rft", "gsm", "zeta", "gsm"]}
    )
    assert plots._groups(frame, ["gsm", "rft"]) == [
        ("a", "gsm"),
        ("m", "gsm"),
        ("m", "rft"),
        ("m", "zeta"),
    ]
    assert plots._groups(frame, ["rft"]) == [
        ("a", "gsm"),
        ("m", "rft"),
        ("m", "gsm"),
        ("m", "zeta"),
    ]


def test_report_modules_form_no_import_cycle():
    """The package's internal imports form a DAG (a cycle would need imports inside functions)."""
    paths = {
        f"cotmask.report.{path.stem}": path
        for path in REPORT_DIR.glob("*.py")
        if path.stem != "__init__"
    }
    graph = {module: _report_imports(path) & set(paths) for module, path in paths.items()}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join(path + (module,))}"
        if module in done:
            return
        for dependency in graph[module]:
            visit(dependency, path + (module,))
        done.add(module)

    for module in graph:
        visit(module, ())
    assert "cotmask.report.plots" in graph["cotmask.report.build"]


def test_cli_owns_the_tables_command():
    assert cli.COMMAND_GROUPS["tables"] == "report"
    parser = cli.build_parser(("report",))
    args = parser.parse_args(["tables", "--index", "i.json", "--out-dir", "o"])
    assert args.func.__module__ == "cotmask.cli.report"
