"""Tests of cotmask.report (tables and figures) on synthetic evaluation files.

A fixed-RNG study is written in the workflow's layout (work/evals/{model}/{train_set}/{method}/
seed{seed}/{benchmark}.{decoding}.jsonl|.json): 2 models x 2 train sets x 3 methods x 3 seeds x 4
benchmarks x 2 decodings, 20 items each, plus a small mask-ratio sweep. The numbers in the tables are
checked against values recomputed here directly from the JSONL files.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from cotmask import cli, report, stats
from cotmask.report import plots

FIXTURES = Path(__file__).parent / "fixtures" / "evals"
MODELS = ("tiny-llama", "tiny-mistral")
TRAIN_SETS = ("gsm", "rft")
METHODS = {
    "sft": 0.0,
    "sft_long": 0.03,
    "mft": 0.12,
}  # effect on the probability of a correct answer
SEEDS = (0, 1, 2)
BENCHMARKS = {
    "gsm8k": 0.55,
    "math": 0.2,
    "gsm_ic_2step": 0.45,
    "gsm_ic_mstep": 0.35,
}  # base accuracy
DECODINGS = ("plain", "calc")
N_ITEMS = 20
SWEEP = [(0.2, 0.0), (0.2, 2 / 3), (0.6, 0.0), (0.6, 2 / 3)]  # (mask_ratio, mask_warmup_ratio)
N_RESAMPLES = 60


def _distractor_metadata(entry: dict, i: int) -> dict:
    """GSM-IC-style distractor fields for the items of the distractor benchmarks (as gsm_synth writes them)."""
    if not entry["benchmark"].startswith("gsm_ic"):
        return {}
    return {
        "distractor_topic": ("in_topic", "off_topic")[i % 2],
        "distractor_role": ("overlapped", "nonoverlapped")[(i // 2) % 2],
        "distractor_range": "in_range" if i % 3 == 0 else "out_range",
    }


def _write_eval(root: Path, entry: dict, p_correct: np.ndarray, rng: np.random.Generator) -> dict:
    folder = root / entry["model"] / entry["train_set"] / entry["method"] / f"seed{entry['seed']}"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{entry['benchmark']}.{entry['decoding']}"
    lines, n_correct, n_invalid = [], 0, 0
    order = rng.permutation(N_ITEMS)  # files list items in different orders: pairing must use ids
    for i in map(int, order):
        correct = bool(rng.random() < p_correct[i])
        invalid = (not correct) and bool(rng.random() < 0.2)
        n_correct += correct
        n_invalid += invalid
        lines.append(
            {
                "id": f"{entry['benchmark']}-{i:03d}",
                "question": f"Question {i}?",
                "gold": str(i),
                "generation": f"... #### {i if correct else i + 1}",
                "extracted": None if invalid else str(i),
                "correct": correct,
                "invalid": invalid,
                "metadata": {"template": f"t{i % 5}", "n_steps": 2 + i % 3, **_distractor_metadata(entry, i)},
            }
        )
    items = folder / f"{stem}.jsonl"
    items.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    summary = folder / f"{stem}.json"
    summary.write_text(
        json.dumps(
            {
                "accuracy": n_correct / N_ITEMS,
                "n": N_ITEMS,
                "n_correct": n_correct,
                "invalid_rate": n_invalid / N_ITEMS,
                "ci95": [0.0, 1.0],
                "benchmark": entry["benchmark"],
                "scoring": "gsm8k",
                "calculator": entry["decoding"] == "calc",
            }
        ),
        encoding="utf-8",
    )
    return {**entry, "path": str(items), "summary": str(summary)}


def make_study(
    root: Path,
    seed: int = 7,
    *,
    models: tuple[str, ...] = MODELS,
    train_sets: tuple[str, ...] = TRAIN_SETS,
    benchmarks: tuple[str, ...] = tuple(BENCHMARKS),
    decodings: tuple[str, ...] = DECODINGS,
    sweep: bool = True,
) -> list[dict]:
    """Write the synthetic study (or the named part of it) under ``root`` and return its index."""
    rng = np.random.default_rng(seed)
    difficulty = {b: rng.uniform(-0.2, 0.2, size=N_ITEMS) for b in BENCHMARKS}
    index = []
    for model in models:
        for train_set in train_sets:
            for method, effect in METHODS.items():
                for seed_ in SEEDS:
                    for bench in benchmarks:
                        level = BENCHMARKS[bench]
                        for decoding in decodings:
                            p = np.clip(
                                level
                                + effect
                                + difficulty[bench]
                                + (0.05 if decoding == "calc" else 0),
                                0,
                                1,
                            )
                            entry = {
                                "model": model,
                                "train_set": train_set,
                                "method": method,
                                "seed": seed_,
                                "benchmark": bench,
                                "decoding": decoding,
                                "mask_ratio": 0.4 if method == "mft" else 0.0,
                                "mask_warmup_ratio": 2 / 3 if method == "mft" else 0.0,
                                "epochs": 3 if method == "sft" else 10,
                                "method_kind": "mft" if method == "mft" else "sft",
                                "sweep": False,
                            }
                            index.append(_write_eval(root, entry, p, rng))
    for ratio, warmup in SWEEP if sweep else ():
        method = f"mft_r{ratio}_{'w' if warmup else 'nw'}"
        for seed_ in SEEDS[:2]:
            for decoding in DECODINGS:
                p = np.clip(
                    0.55 + 0.1 - abs(ratio - 0.4) * (0.5 if warmup else 1.0) + difficulty["gsm8k"],
                    0,
                    1,
                )
                entry = {
                    "model": "tiny-llama",
                    "train_set": "gsm",
                    "method": method,
                    "seed": seed_,
                    "benchmark": "gsm8k",
                    "decoding": decoding,
                    "mask_ratio": ratio,
                    "mask_warmup_ratio": warmup,
                    "epochs": 10,
                    "method_kind": "mft",
                    "sweep": True,
                }
                index.append(_write_eval(root, entry, p, rng))
    return index


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    index = make_study(root / "work" / "evals")
    out = root / "results"
    summary = report.build_tables(index, out, rft_train_set="rft", n_resamples=N_RESAMPLES, bootstrap_seed=3)
    return {"index": index, "out": out, "summary": summary}


def _load(index: list[dict], **key) -> dict[int, dict[str, bool]]:
    """seed -> {id: correct}, read straight from the JSONL files."""
    runs = {}
    for entry in index:
        if all(entry[k] == v for k, v in key.items()):
            with open(entry["path"], encoding="utf-8") as handle:
                runs[entry["seed"]] = {r["id"]: r["correct"] for r in map(json.loads, handle)}
    return runs


def _seed_accuracies(runs: dict[int, dict[str, bool]]) -> list[float]:
    return [100.0 * sum(r.values()) / len(r) for _, r in sorted(runs.items())]


def _csv(out: Path, stem: str) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / f"{stem}.csv")


def _signed(value: float) -> str:
    text = f"{value:+.1f}"
    return "+0.0" if text == "-0.0" else text


def _markdown_rows(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]
    ]


def _latex_rows(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8")
    body = text.split("\\toprule\n", 1)[1].split("\\bottomrule", 1)[0]
    lines = [
        line.removesuffix(" \\\\") for line in body.splitlines() if line and line != "\\midrule"
    ]
    unescape = {
        r"$\pm$": "±",
        r"$\Delta$": "Δ",
        r"$-$": "−",
        "--": "–",
        r"\_": "_",
        r"\%": "%",
        r"\&": "&",
    }

    def clean(cell: str) -> str:
        for escaped, plain in unescape.items():
            cell = cell.replace(escaped, plain)
        return cell.strip()

    header = [clean(c) for c in lines[0].split(" & ")]
    return [dict(zip(header, (clean(c) for c in line.split(" & ")))) for line in lines[1:]]


# --------------------------------------------------------------------------------------------------


def test_every_documented_output_is_written(built):
    out = built["out"]
    for name, path in report.output_paths(out).items():
        assert path.is_file(), name
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert path.stat().st_size > 5000
    assert not list(out.rglob("*.tmp"))
    docs = (Path(__file__).parents[1] / "docs" / "results.md").read_text(encoding="utf-8")
    for name in report.output_paths(out):
        assert name.rsplit(".", 1)[0] in docs, f"{name} is not described in docs/results.md"


def test_table1_numbers_match_raw_files(built):
    index, out = built["index"], built["out"]
    table = _csv(out, "table1_main")
    for column in (
        "gsm_sft_mean",
        "gsm_sft_long_sd",
        "gsm_mft_n_seeds",
        "gsm_mft_minus_sft",
        "gsm_mft_minus_sft_ci_low",
        "gsm_mft_minus_sft_long_ci_high",
        "math_mft_mean",
        "gsm_paper_sft",
        "math_paper_mft",
    ):
        assert column in table.columns
    assert len(table) == len(MODELS) * len(TRAIN_SETS) * len(DECODINGS)
    row = table[
        (table.model == "tiny-mistral") & (table.train_set == "gsm") & (table.decoding == "calc")
    ].iloc[0]
    key = {"model": "tiny-mistral", "train_set": "gsm", "benchmark": "gsm8k", "decoding": "calc"}
    mft, sft = _load(index, method="mft", **key), _load(index, method="sft", **key)
    assert row["gsm_mft_mean"] == pytest.approx(statistics.fmean(_seed_accuracies(mft)), abs=1e-4)
    assert row["gsm_mft_sd"] == pytest.approx(statistics.stdev(_seed_accuracies(mft)), abs=1e-4)
    assert row["gsm_mft_n_seeds"] == len(SEEDS)
    delta = statistics.fmean(_seed_accuracies(mft)) - statistics.fmean(_seed_accuracies(sft))
    assert row["gsm_mft_minus_sft"] == pytest.approx(delta, abs=1e-4)
    assert row["gsm_mft_minus_sft_ci_low"] < row["gsm_mft_minus_sft_ci_high"]
    # paper numbers: mistral <-> Mistral-7B, gsm <-> GSM8K (Table 1: 60.9 / 64.0), no MATH entry
    assert (row["paper_model"], row["paper_train_set"]) == ("Mistral-7B", "GSM8K")
    assert (row["gsm_paper_sft"], row["gsm_paper_mft"]) == (60.9, 64.0)
    assert math.isnan(row["math_paper_sft"])


def test_markdown_latex_and_csv_agree(built):
    out = built["out"]
    table = _csv(out, "table1_main")
    md_rows = _markdown_rows(out / "tables" / "table1_main.md")
    tex_rows = _latex_rows(out / "tables" / "table1_main.tex")
    assert len(md_rows) == len(tex_rows) == len(table)
    assert md_rows == tex_rows
    for (_, csv_row), md in zip(table.iterrows(), md_rows):
        assert (md["Model"], md["Train set"], md["Decoding"]) == (
            csv_row.model,
            csv_row.train_set,
            csv_row.decoding,
        )
        assert md["GSM8K MFT"] == f"{csv_row.gsm_mft_mean:.1f} ± {csv_row.gsm_mft_sd:.1f}"
        assert (
            md["MATH SFT-long"]
            == f"{csv_row.math_sft_long_mean:.1f} ± {csv_row.math_sft_long_sd:.1f}"
        )
        delta, low, high = (
            _signed(csv_row[f"gsm_mft_minus_sft{s}"]) for s in ("", "_ci_low", "_ci_high")
        )
        assert md["GSM8K MFT - SFT"] == f"{delta} [{low}, {high}]"
    comparisons = _csv(out, "comparisons")
    assert len(_markdown_rows(out / "tables" / "comparisons.md")) == len(comparisons)
    assert len(_latex_rows(out / "tables" / "comparisons.tex")) == len(comparisons)


def test_comparisons_rows_and_mcnemar(built):
    index, out = built["index"], built["out"]
    comparisons = _csv(out, "comparisons")
    for column in report.COMPARISON_COLUMNS:
        assert column in comparisons.columns
    simple = comparisons[comparisons.train_set == comparisons.control_train_set]
    # 2 configured comparisons x models x train sets x (4 benchmarks + pooled) x decodings
    mft_vs = simple[(simple.treatment == "mft") & simple.control.isin(["sft", "sft_long"])]
    assert len(mft_vs) == 2 * len(MODELS) * len(TRAIN_SETS) * (len(BENCHMARKS) + 1) * len(DECODINGS)
    row = comparisons[
        (comparisons.model == "tiny-llama")
        & (comparisons.train_set == "rft")
        & (comparisons.benchmark == "math")
        & (comparisons.decoding == "plain")
        & (comparisons.treatment == "mft")
        & (comparisons.control == "sft_long")
    ].iloc[0]
    assert (row.n_items, row.n_clusters, row.n_seeds_treatment, row.n_seeds_control) == (
        N_ITEMS,
        5,
        3,
        3,
    )
    key = {"model": "tiny-llama", "train_set": "rft", "benchmark": "math", "decoding": "plain"}
    mft, ctrl = _load(index, method="mft", **key), _load(index, method="sft_long", **key)
    expected = []
    for seed in SEEDS:
        b = sum(mft[seed][i] and not ctrl[seed][i] for i in mft[seed])
        c = sum(ctrl[seed][i] and not mft[seed][i] for i in mft[seed])
        expected.append(
            f"{seed}:{binomtest(b, b + c).pvalue if b + c else 1.0:.3g}"
        )  # b + c < 25: exact
    assert row.mcnemar_p == "; ".join(expected)
    pooled = comparisons[comparisons.benchmark == "gsm_ic_2step+gsm_ic_mstep"]
    assert set(pooled.n_items) == {2 * N_ITEMS}


def test_table2_and_cross_comparison(built):
    index, out = built["index"], built["out"]
    table = _csv(out, "table2_rft")
    assert set(table.train_set) == {"gsm", "rft"}
    assert "mft_gsm_minus_rft_sft" in table.columns
    base = table[
        (table.model == "tiny-llama") & (table.train_set == "gsm") & (table.decoding == "plain")
    ].iloc[0]
    rft = table[
        (table.model == "tiny-llama") & (table.train_set == "rft") & (table.decoding == "plain")
    ].iloc[0]
    key = {"model": "tiny-llama", "benchmark": "gsm8k", "decoding": "plain"}
    mft_base = _load(index, train_set="gsm", method="mft", **key)
    sft_rft = _load(index, train_set="rft", method="sft", **key)
    expected = statistics.fmean(_seed_accuracies(mft_base)) - statistics.fmean(
        _seed_accuracies(sft_rft)
    )
    assert base["mft_gsm_minus_rft_sft"] == pytest.approx(expected, abs=1e-4)
    assert math.isnan(rft["mft_gsm_minus_rft_sft"])
    assert (rft["paper_train_set"], rft["paper_sft"], rft["paper_mft"]) == (
        "GSM8K-RFT-100",
        47.6,
        51.4,
    )


def test_table5_pooled_and_deltas(built):
    index, out = built["index"], built["out"]
    table = _csv(out, "table5_distractors")
    assert list(table[(table.model == "tiny-llama") & (table.decoding == "calc")].arm) == [
        "SFT",
        "SFT-long",
        "RFT",
        "MFT",
    ]
    for role in ("gsm", "ic_2step", "ic_mstep", "ic_pooled"):
        assert {f"{role}_mean", f"{role}_sd", f"{role}_delta", f"{role}_ci_low"} <= set(
            table.columns
        )
    row = table[
        (table.model == "tiny-llama") & (table.decoding == "calc") & (table.arm == "MFT")
    ].iloc[0]
    two = _load(
        index,
        model="tiny-llama",
        train_set="gsm",
        method="mft",
        benchmark="gsm_ic_2step",
        decoding="calc",
    )
    many = _load(
        index,
        model="tiny-llama",
        train_set="gsm",
        method="mft",
        benchmark="gsm_ic_mstep",
        decoding="calc",
    )
    pooled = [100.0 * (sum(two[s].values()) + sum(many[s].values())) / (2 * N_ITEMS) for s in SEEDS]
    assert row["ic_pooled_mean"] == pytest.approx(statistics.fmean(pooled), abs=1e-4)
    assert row["ic_pooled_sd"] == pytest.approx(statistics.stdev(pooled), abs=1e-4)
    assert (row["paper_gsm"], row["paper_gsm_ic"]) == (47.1, 59.2)
    reference = table[
        (table.model == "tiny-llama") & (table.decoding == "calc") & (table.arm == "SFT")
    ].iloc[0]
    assert row["gsm_delta"] == pytest.approx(row["gsm_mean"] - reference["gsm_mean"], abs=1e-4)
    assert math.isnan(reference["gsm_delta"])
    rft = table[
        (table.model == "tiny-llama") & (table.decoding == "calc") & (table.arm == "RFT")
    ].iloc[0]
    assert (rft.train_set, rft.method, rft.paper_gsm) == ("rft", "sft", 47.6)


def test_fig3_data(built):
    index, out = built["index"], built["out"]
    fig3 = _csv(out, "fig3_mask_ratio")
    calc = fig3[(fig3.benchmark == "gsm8k") & (fig3.decoding == "calc")]
    assert sorted(calc.setting.unique()) == ["no_warmup", "reference", "warmup"]
    assert sorted(calc[calc.setting == "warmup"].mask_ratio) == [0.2, 0.6]
    assert set(calc[calc.setting == "reference"].method) == {"sft", "sft_long"}
    point = calc[(calc.setting == "no_warmup") & (calc.mask_ratio == 0.6)].iloc[0]
    runs = _load(
        index,
        model="tiny-llama",
        train_set="gsm",
        method="mft_r0.6_nw",
        benchmark="gsm8k",
        decoding="calc",
    )
    assert point["mean"] == pytest.approx(statistics.fmean(_seed_accuracies(runs)), abs=1e-4)
    assert point["n_seeds"] == 2


def test_cells_steps_and_summary_json(built):
    index, out, summary = built["index"], built["out"], built["summary"]
    cells = _csv(out, "accuracy_cells")
    assert len(cells) == len(
        {(e["model"], e["train_set"], e["method"], e["benchmark"], e["decoding"]) for e in index}
    ) + len(MODELS) * len(TRAIN_SETS) * len(METHODS) * len(
        DECODINGS
    )  # + pooled GSM-IC cells
    assert ((cells.ci_low <= cells["mean"] + 1e-9) & (cells["mean"] <= cells.ci_high + 1e-9)).all()
    steps = _csv(out, "accuracy_by_steps")
    assert set(steps.n_steps) == {2, 3, 4}
    assert (
        steps.groupby(["model", "train_set", "method", "benchmark", "decoding"]).n_items.sum()
        == N_ITEMS
    ).all()
    on_disk = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["inputs"]["n_evaluations"] == len(index)
    assert on_disk["inputs"]["counts"]["decoding"] == {
        "calc": len(index) // 2,
        "plain": len(index) // 2,
    }
    assert {f["path"] for f in on_disk["inputs"]["files"]} == {e["path"] for e in index}
    assert set(on_disk["tables"]) == set(report.TABLE_STEMS)
    assert len(on_disk["tables"]["comparisons"]) == len(_csv(out, "comparisons"))
    assert on_disk["settings"]["n_resamples"] == N_RESAMPLES
    assert summary["tables"]["table1_main"] == on_disk["tables"]["table1_main"]
    detail = on_disk["comparisons_detail"][0]
    assert set(detail["mcnemar"]["0"]) == {"b", "c", "statistic", "p_value", "method"}


def test_results_are_deterministic_and_order_independent(built, tmp_path):
    """A reordered index gives the same numbers; with the training-set order given they are the same
    tables, without it Table 1 lists the training sets in the index's order (here rft first)."""
    index = sorted(reversed(built["index"]), key=lambda entry: entry["train_set"] != "rft")
    options = {"rft_train_set": "rft", "n_resamples": N_RESAMPLES, "bootstrap_seed": 3, "figures": False}
    again = report.build_tables(index, tmp_path / "a", train_set_order=["gsm", "rft"], **options)
    assert again["tables"] == built["summary"]["tables"]
    reordered = report.build_tables(index, tmp_path / "b", **options)["tables"]
    assert reordered["accuracy_cells"] == built["summary"]["tables"]["accuracy_cells"]
    table1 = reordered["table1_main"]
    assert [r["train_set"] for r in table1 if r["model"] == "tiny-llama"] == ["rft"] * 2 + ["gsm"] * 2
    key = lambda row: (row["model"], row["train_set"], row["decoding"])  # noqa: E731
    assert sorted(table1, key=key) == sorted(built["summary"]["tables"]["table1_main"], key=key)


def test_figures_are_deterministic(built, tmp_path):
    fig3 = _csv(built["out"], "fig3_mask_ratio")
    first = plots.plot_fig3(
        fig3,
        tmp_path / "a.png",
        benchmark="gsm8k",
        decoding="calc",
        method_labels=report.DEFAULT_METHOD_LABELS,
    )
    second = plots.plot_fig3(
        fig3,
        tmp_path / "b.png",
        benchmark="gsm8k",
        decoding="calc",
        method_labels=report.DEFAULT_METHOD_LABELS,
    )
    assert first.read_bytes() == second.read_bytes()
    # the figure drawn by build_tables from the same data (and the default spec) is the same file
    assert first.read_bytes() == (built["out"] / "figures" / "fig3_mask_ratio.png").read_bytes()
    plain = plots.plot_fig3(fig3, tmp_path / "c.png", benchmark="gsm8k", decoding="plain")
    assert plain.read_bytes() != first.read_bytes()


def test_minimal_study_without_rft_ic_or_sweep(tmp_path):
    index = [
        e
        for e in make_study(
            tmp_path / "evals",
            seed=1,
            models=("tiny-llama",),
            train_sets=("gsm",),
            benchmarks=("gsm8k", "math"),
            sweep=False,
        )
        if e["method"] != "sft_long"
    ]
    out = tmp_path / "results"
    report.build_tables(index, out, rft_train_set="rft", n_resamples=20, figures=True)
    assert all(p.is_file() for p in report.output_paths(out).values())
    assert _csv(out, "table2_rft").empty and _csv(out, "table5_distractors").empty
    assert "No runs on the 'rft' training set" in (out / "tables" / "table2_rft.md").read_text(
        encoding="utf-8"
    )
    table1 = _csv(out, "table1_main")
    assert "gsm_sft_long_mean" not in table1.columns and "gsm_mft_minus_sft_long" in table1.columns
    assert table1["gsm_mft_minus_sft_long"].isna().all()


# --------------------------------------------------------------------------------------------------
# errors


@pytest.fixture()
def small_index(tmp_path):
    return make_study(
        tmp_path / "evals",
        seed=2,
        models=("tiny-llama",),
        train_sets=("gsm",),
        benchmarks=("gsm8k",),
        decodings=("calc",),
        sweep=False,
    )


def test_missing_file_is_named(small_index, tmp_path):
    Path(small_index[3]["path"]).unlink()
    with pytest.raises(report.TableInputError, match=r"index entry 3 .*does not exist"):
        report.build_tables(small_index, tmp_path / "out", n_resamples=10, figures=False)
    assert not (tmp_path / "out").exists()


def test_malformed_item_line_is_named(small_index, tmp_path):
    path = Path(small_index[1]["path"])
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[4])
    record["correct"] = "yes"
    lines[4] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(report.TableInputError, match=rf"{path.name}:5: field 'correct'"):
        report.build_tables(small_index, tmp_path / "out", n_resamples=10, figures=False)
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(report.TableInputError, match=rf"{path.name}:1.*invalid JSON"):
        report.load_evaluations(small_index)


def test_summary_disagreeing_with_items_is_named(small_index):
    summary = Path(small_index[0]["summary"])
    content = json.loads(summary.read_text(encoding="utf-8"))
    content["n"] = N_ITEMS + 1
    summary.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(report.TableInputError, match=rf"{summary.name}: n = {N_ITEMS + 1}"):
        report.load_evaluations(small_index)
    del content["accuracy"]
    summary.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(report.TableInputError, match="'accuracy' is missing"):
        report.load_evaluations(small_index)


def test_mismatched_items_across_arms_is_named(small_index):
    path = Path(small_index[-1]["path"])
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["id"] = "gsm8k-999"
    lines[0] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(stats.ItemMismatchError, match=r"gsm8k-999") as error:
        report.load_evaluations(small_index)
    assert str(path) in str(error.value)


def test_bad_index_entries(small_index):
    entry = dict(small_index[0])
    del entry["decoding"]
    with pytest.raises(report.TableInputError, match="index entry 0 .*'decoding'"):
        report.load_evaluations([entry])
    with pytest.raises(report.TableInputError, match="index entry 1 .*duplicate of index entry 0"):
        report.load_evaluations([small_index[0], dict(small_index[0])])
    with pytest.raises(report.TableInputError, match="'seed' must be an integer"):
        report.load_evaluations([{**small_index[0], "seed": "one"}])
    with pytest.raises(report.TableInputError, match="comparisons\\[0\\]: key 'control'"):
        report.build_tables(small_index, "unused", comparisons=[{"treatment": "mft"}])


def test_table3_rows_deltas_and_paper_numbers(built):
    """Default arms (SFT, SFT-long as controls; MFT) on the base set: accuracies recomputed from the
    JSONL files, a control's delta column filled only for the arms after it, the paper's row matched."""
    index, out = built["index"], built["out"]
    table = _csv(out, "table3_regularisers")
    llama = table[(table.model == "tiny-llama") & (table.decoding == "calc")].set_index("arm")
    assert list(llama.index) == ["SFT", "SFT-long", "MFT"]
    assert set(llama.train_set) == {"gsm"}
    key = dict(model="tiny-llama", train_set="gsm", benchmark="gsm8k", decoding="calc")
    for arm, method in (("SFT", "sft"), ("SFT-long", "sft_long"), ("MFT", "mft")):
        per_seed = _seed_accuracies(_load(index, method=method, **key))
        assert llama.loc[arm, "gsm_mean"] == pytest.approx(statistics.fmean(per_seed), abs=1e-4)
    mft = llama.loc["MFT"]
    for control in ("sft", "sft_long"):
        assert mft[f"gsm_minus_{control}"] == pytest.approx(
            mft["gsm_mean"] - llama.loc[{"sft": "SFT", "sft_long": "SFT-long"}[control], "gsm_mean"],
            abs=1e-4,
        )
        assert mft[f"gsm_minus_{control}_ci_low"] < mft[f"gsm_minus_{control}"]
        assert mft[f"gsm_minus_{control}_ci_high"] > mft[f"gsm_minus_{control}"]
        assert math.isfinite(mft[f"ic_pooled_minus_{control}"])
    assert math.isnan(llama.loc["SFT", "gsm_minus_sft"])
    assert math.isnan(llama.loc["SFT", "gsm_minus_sft_long"])
    assert math.isfinite(llama.loc["SFT-long", "gsm_minus_sft"])
    assert math.isnan(llama.loc["SFT-long", "gsm_minus_sft_long"])
    assert (llama.loc["SFT", "paper_gsm"], mft["paper_gsm"]) == (41.6, 47.1)
    assert math.isnan(llama.loc["SFT-long", "paper_gsm"])
    mistral = table[(table.model == "tiny-mistral") & (table.arm == "MFT")]
    assert mistral.paper_gsm.isna().all()  # the paper's Table 3 is Llama-2-7B only


def test_table3_configured_arms(small_index, tmp_path):
    """Configured arms: rows follow the list, arms without runs are named in a note, bad arms fail."""
    arms = [
        {"label": "SFT", "method": "sft", "paper_method": "SFT", "control": True},
        {"label": "NEFTune", "method": "neftune", "paper_method": None},
        {"label": "MFT", "method": "mft", "paper_method": "MFT, [mask] (m=1)"},
    ]
    out = tmp_path / "res"
    report.build_tables(small_index, out, table3_arms=arms, n_resamples=20, figures=False)
    table = _csv(out, "table3_regularisers")
    assert list(table.arm.unique()) == ["SFT", "MFT"]
    assert set(table[table.arm == "MFT"].paper_gsm) == {46.7}
    assert "gsm_minus_sft_long" not in table.columns
    markdown = (out / "tables" / "table3_regularisers.md").read_text(encoding="utf-8")
    assert "Arms without runs in this study: NEFTune." in markdown
    with pytest.raises(report.TableInputError, match=r"table3_arms\[1\].paper_method: no paper row 'NEFT'"):
        report.build_tables(
            small_index, out, table3_arms=[arms[0], {**arms[1], "paper_method": "NEFT"}], figures=False
        )
    with pytest.raises(report.TableInputError, match="no arm is marked 'control: true'"):
        report.build_tables(small_index, out, table3_arms=arms[1:], figures=False)
    with pytest.raises(report.TableInputError, match=r"table3_arms\[1\]: unknown keys \['train_set'\]"):
        report.build_tables(
            small_index, out, table3_arms=[arms[0], {**arms[1], "train_set": "rft"}], figures=False
        )


def test_table3_accounts_for_every_paper_row(small_index, tmp_path):
    """A paper row without a number (the attention-masked variant, 'on par') shows the paper's words; every
    paper row that no arm shows is named in a note with its number."""
    arms = [
        {"label": "SFT", "method": "sft", "paper_method": "SFT", "control": True},
        {"label": "Attention-masked", "method": "mft", "paper_method": "MFT, attention masked at noised positions"},
    ]
    out = tmp_path / "res"
    report.build_tables(small_index, out, table3_arms=arms, n_resamples=20, figures=False)
    table = _csv(out, "table3_regularisers").set_index("arm")
    assert math.isnan(table.loc["Attention-masked", "paper_gsm"])
    assert table.loc["Attention-masked", "paper_text"] == "on par"
    rows = {row["Arm"]: row for row in _markdown_rows(out / "tables" / "table3_regularisers.md")}
    assert rows["Attention-masked"]["Paper GSM8K"] == "on par"
    assert rows["SFT"]["Paper GSM8K"] == "41.6"
    markdown = (out / "tables" / "table3_regularisers.md").read_text(encoding="utf-8")
    (note,) = [line for line in markdown.splitlines() if line.startswith("Paper rows without an arm here")]
    paper_rows = report.PAPER_REFERENCE["table3"]
    for row in paper_rows:
        assert (row["method"] + " ") in note or row["method"] in {"SFT", arms[1]["paper_method"]}
    assert "NEFTune on all tokens (alpha=100) 1.8" in note
    assert "SFT 41.6" not in note
    assert note.count(";") == len(paper_rows) - 3  # 28 rows, 2 shown -> 26 named


def test_committed_fixture_files_load_and_pair():
    index = []
    for items in sorted(FIXTURES.rglob("*.jsonl")):
        method, seed = items.parts[-3], int(items.parts[-2].removeprefix("seed"))
        bench, decoding = items.name.removesuffix(".jsonl").split(".")
        index.append(
            {
                "model": items.parts[-5],
                "train_set": items.parts[-4],
                "method": method,
                "seed": seed,
                "benchmark": bench,
                "decoding": decoding,
                "path": str(items),
                "summary": str(items.with_suffix(".json")),
            }
        )
    evaluations = report.load_evaluations(index)
    by_method = {ev.method: ev for ev in evaluations}
    assert set(by_method) == {"sft", "mft"}
    paired = stats.pair_items(
        {0: by_method["mft"].correct}, {0: by_method["sft"].correct}, by_method["sft"].templates
    )
    assert paired.ids == ["gsm8k-000", "gsm8k-001", "gsm8k-002", "gsm8k-003", "gsm8k-004"]
    assert paired.clusters[0] == paired.clusters[3] == "template:t0"
    result = stats.mcnemar_per_seed(paired)[0]
    assert (result.b, result.c) == (2, 1)


def test_cli_subcommand(small_index, tmp_path, capsys):
    index_file = tmp_path / "index.json"
    index_file.write_text(json.dumps({"evaluations": small_index}), encoding="utf-8")
    options = tmp_path / "options.json"
    options.write_text(
        json.dumps(
            {
                "comparisons": [{"treatment": "mft", "control": "sft"}],
                "table3_arms": [],  # no Table 3 rows, so no comparisons of its own
                "cluster_by": None,
            }
        ),
        encoding="utf-8",
    )
    argv = ["tables", "--index", str(index_file), "--out-dir", str(tmp_path / "res"), "--options", str(options),
            "--n-resamples", "25", "--no-figures"]
    assert cli.main(argv) == 0
    with open(tmp_path / "res" / "tables" / "comparisons.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["treatment"], r["control"]) for r in rows} == {("mft", "sft")}
    assert {r["n_clusters"] for r in rows} == {str(N_ITEMS)}  # cluster_by None: item-level
    assert not (tmp_path / "res" / "figures").exists()
    options.write_text(json.dumps({"bogus": 1}), encoding="utf-8")
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == f"cotmask tables: error: {options}: unknown keys ['bogus']\n"
    with pytest.raises(report.TableInputError, match="unknown keys \\['bogus'\\]"):
        report.build_tables_from_files(index_file, tmp_path / "res", options_path=options)


def test_accuracy_by_distractor_matches_raw_files(built):
    """Every (cell, factor, value) row equals the per-seed accuracy over the items with that value,
    recomputed here from the JSONL files; the factor values partition each distractor set."""
    index, out = built["index"], built["out"]
    table = _csv(out, "accuracy_by_distractor")
    assert set(table.benchmark) == {"gsm_ic_2step", "gsm_ic_mstep"}
    assert set(table.factor) == {"topic", "role", "range"}
    assert set(table.method) == set(METHODS)
    sizes = table.groupby(["model", "train_set", "method", "benchmark", "decoding", "factor"]).n_items.sum()
    assert (sizes == N_ITEMS).all()
    for _, row in table.sample(n=12, random_state=0).iterrows():
        per_seed = []
        for seed in SEEDS:
            entry = next(
                e for e in index
                if (e["model"], e["train_set"], e["method"], e["seed"], e["benchmark"], e["decoding"])
                == (row.model, row.train_set, row.method, seed, row.benchmark, row.decoding)
            )
            items = [json.loads(line) for line in Path(entry["path"]).read_text().splitlines()]
            chosen = [it["correct"] for it in items if it["metadata"][f"distractor_{row.factor}"] == row.value]
            assert len(chosen) == row.n_items
            per_seed.append(100.0 * sum(chosen) / len(chosen))
        assert math.isclose(row["mean"], statistics.mean(per_seed), abs_tol=1e-9)
        assert math.isclose(row["sd"], statistics.stdev(per_seed), abs_tol=1e-9)
