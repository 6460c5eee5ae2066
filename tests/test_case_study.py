"""The dependency case study (cotmask.analysis.case_study; the paper's Table 4, Figs. 4-5): which problems
are used, where the forced prefix ends, the variants, the scores of models whose behaviour is known, the
table recomputed from the run files, determinism, the planner and the command line."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_tiny_records

from cotmask.analysis import case_study_paper as paper
from cotmask.analysis.case_study import (
    CaseStudyError,
    case_item,
    case_rows,
    complete_rows,
    digit_class,
    janet_item,
    load_case_run,
    numbers_in,
    run_case_study,
    run_fractions,
    select_items,
    write_case_study,
    written_operand,
)
from cotmask.plan import ConfigError, Plan, load_config
from cotmask.records import read_jsonl, write_json, write_jsonl

REPO = Path(__file__).resolve().parents[1]


def record(record_id: str, question: str, solution: str, n_steps: int | None = 2, template: str = "t1") -> dict:
    metadata = {"template": template}
    if n_steps is not None:
        metadata["n_steps"] = n_steps
    return {"id": record_id, "question": question, "solution": solution, "answer": "0", "source": "test",
            "metadata": metadata}


FITS = record(
    "fits", "Rosa plants 4 rows of trees with 5 trees in each row. Every tree grows 11 lemons. How many lemons?",
    "Rosa plants 4*5 = <<4*5=20>>20 trees.\nShe gets 20*11 = <<20*11=220>>220 lemons.\n#### 220",
)
TWO_DIGIT = record(
    "two_digit", "Ben has 13 dollars and earns 24 dollars. He spends 7. How much is left?",
    "He has 13+24 = <<13+24=37>>37 dollars.\nThen 37-7 = <<37-7=30>>30 are left.\n#### 30", template="t2",
)
THREE_STEPS = record(
    "three_steps", "Ana has 3 boxes of 8 pens, gets 2 more and loses 4. How many pens?",
    "3*8 = <<3*8=24>>24.\n24+2 = <<24+2=26>>26.\n26-4 = <<26-4=22>>22.\n#### 22", n_steps=3,
)
TWICE_IN_QUESTION = record(  # the operand 4 is written twice in the question: not attributable
    "twice", "Ben makes 16 dollars an hour. He works 4 hours a day for 4 days. How much does he earn?",
    "In one day he makes 16*4 = <<16*4=64>>64 dollars.\nSo 64*4 = <<64*4=256>>256.\n#### 256",
)
SAME_OPERANDS = record(  # a op q with a == q: copying a and copying q look alike
    "same", "Mia has 6 boxes with 6 stickers each. 9 kids share them. How many does each get?",
    "The boxes hold 6*6 = <<6*6=36>>36 stickers.\nEach gets 36/9 = <<36/9=4>>4.\n#### 4",
)
NO_TEXT_OPERATION = record(  # the chain states no operation before its annotation
    "no_text", "Liam has 7 apples and buys 5. He eats 2. How many apples?",
    "He buys more: <<7+5=12>>12 apples.\nThen <<12-2=10>>10 are left.\n#### 10",
)
NO_METADATA = record(  # no n_steps: two annotations make it a two-step problem
    "no_metadata", "Zoe reads 12 pages a day for 3 days and then 9 more pages. How many pages?",
    "She reads 12*3 = <<12*3=36>>36 pages.\nThen 36+9 = <<36+9=45>>45 pages.\n#### 45", n_steps=None,
)
RECORDS = [FITS, THREE_STEPS, TWICE_IN_QUESTION, SAME_OPERANDS, NO_TEXT_OPERATION, TWO_DIGIT, NO_METADATA]


# --------------------------------------------------------------------------------------------- selection


def test_selection_keeps_exactly_the_attributable_two_step_problems():
    items = select_items(RECORDS, items=10, n_variants=9, seed=0)
    assert [item.id for item in items] == ["fits", "two_digit", "no_metadata"]
    assert [(item.first_operand, item.operator, item.original) for item in items] == [
        ("4", "*", "5"), ("13", "+", "24"), ("12", "*", "3")]
    assert [item.id for item in select_items(RECORDS, items=2, n_variants=9, seed=0)] == ["fits", "two_digit"]


def test_the_forced_prefix_ends_exactly_after_the_first_operand():
    for source in (FITS, TWO_DIGIT, NO_METADATA):
        item = case_item(source, n_variants=3, seed=0)
        original_prefix = item.prefix(item.original)
        # the gold chain goes on with its annotation right after the forced prefix
        assert source["solution"].startswith(original_prefix)
        assert re.match(r"\s*=\s*<<", source["solution"][len(original_prefix):])
        assert original_prefix.endswith(f"{item.first_operand}{item.operator}{item.original}")
        for row in case_rows(item, "short"):
            assert row["prompt"].endswith(f"\nAnswer: {item.prefix_before}{row['prefix_number']}")
            assert row["prompt"].startswith(f"Question: {item.question(row['question_number'])}\n")


def test_the_forced_prefix_tokens_end_with_the_operand_for_a_tiny_tokenizer(tiny_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    item = select_items(make_tiny_records(40, seed=3, split="test"), items=1, n_variants=3, seed=0)[0]
    for row in case_rows(item, "short"):
        ids = tokenizer(row["prompt"])["input_ids"]
        tail = tokenizer.decode(ids[-4:])
        assert tail.endswith(row["prefix_number"]), tail
        shorter = tokenizer(row["prompt"][: -len(row["prefix_number"])])["input_ids"]
        assert tokenizer.decode(ids[len(shorter):]).strip() == row["prefix_number"]


def test_variants_stay_in_the_digit_class_and_differ_from_everything_the_model_sees():
    records = make_tiny_records(200, seed=1, split="test") + RECORDS
    items = select_items(records, items=500, n_variants=9, seed=4)
    assert len(items) > 50
    for item in items:
        seen = set(numbers_in(item.question(item.original))) | set(numbers_in(item.prefix_before))
        assert item.variants and len(set(item.variants)) == len(item.variants) <= 9
        for variant in item.variants:
            assert len(variant) == len(item.original) and variant in digit_class(item.original)
            assert variant != item.original and variant not in seen
    assert digit_class("7") == [str(n) for n in range(10)] and digit_class("24")[0] == "10"


def test_variants_are_deterministic_for_a_seed_and_change_with_it():
    records = make_tiny_records(100, seed=2, split="test")
    first = select_items(records, items=30, n_variants=4, seed=0)
    assert first == select_items(records, items=30, n_variants=4, seed=0)
    other = select_items(records, items=30, n_variants=4, seed=1)
    assert [item.id for item in other] == [item.id for item in first]
    assert [item.variants for item in other] != [item.variants for item in first]


def test_the_paper_item_holds_its_ten_digit_variants_and_number_words():
    item = janet_item()
    assert item.variants == tuple(str(n) for n in range(10)) and item.original == "3"
    rows = case_rows(item, "alpaca")
    fig5 = [row for row in rows if row["condition"] == "fig5"]
    assert len(fig5) == 10 and "She eats five for breakfast" in fig5[5]["prompt"]
    assert all(row["prompt"].endswith("16 eggs/day - 3 eggs/day") for row in fig5)
    fig4 = [row for row in rows if row["condition"] == "fig4"]
    assert fig4[7]["prompt"].endswith("16 eggs/day - 7 eggs/day") and "She eats three" in fig4[7]["prompt"]
    assert paper.changed_only(0.1) == pytest.approx(0.0) and paper.changed_only(1.0) == pytest.approx(1.0)


# ------------------------------------------------------------------------------ models of known behaviour


def question_copier(items):
    """A fake model that writes the question's number: the number at the operand's position among the
    question's numbers (which no variant moves)."""
    position = {item.id: numbers_in(item.question(item.original)).index(item.original) for item in items}
    by_question = {}
    for item in items:
        for number in (item.original, *item.variants):
            by_question[item.question(number)] = (item, numbers_in(item.question(number))[position[item.id]])

    def complete(prompts):
        out = []
        for prompt in prompts:
            question = prompt.split("\n")[0][len("Question: "):]
            item, number = by_question[question]
            out.append(f"= <<{item.first_operand}{item.operator}{number}=0>>0 things.")
        return out

    return complete


def prefix_copier(prompts):
    """A fake model that repeats the operation its chain prefix ends with."""
    out = []
    for prompt in prompts:
        first, operator, operand = re.search(r"(\d+)\s*([-+*/])\s*(\d+)$", prompt).groups()
        out.append(f"= <<{first}{operator}{operand}=0>>0")
    return out


def test_a_model_that_copies_the_question_scores_one_on_both_figures():
    items = select_items(RECORDS + make_tiny_records(30, seed=5, split="test"), items=20, n_variants=5, seed=0)
    rows = complete_rows([row for item in items for row in case_rows(item, "short")], question_copier(items))
    fractions = run_fractions(rows)
    assert fractions["fig4"] == 1.0 and fractions["fig5"] == 1.0 and fractions["unchanged"] == 1.0
    assert fractions["fig4_copies_prefix"] == 0.0 and fractions["no_operand"] == 0.0
    fig5 = [row for row in rows if row["condition"] == "fig5"]
    assert all(row["written"] == row["variant"] != row["prefix_number"] for row in fig5)


def test_a_model_that_copies_its_prefix_scores_zero_on_both_figures():
    items = select_items(RECORDS, items=5, n_variants=5, seed=0)
    rows = complete_rows([row for item in items for row in case_rows(item, "short")], prefix_copier)
    fractions = run_fractions(rows)
    assert fractions["fig4"] == 0.0 and fractions["fig5"] == 0.0 and fractions["unchanged"] == 1.0
    assert fractions["fig4_copies_prefix"] == 1.0 and fractions["fig5_copies_prefix"] == 1.0


def test_written_operand_reads_the_annotation_then_the_text():
    assert written_operand("= <<4*72=216>>216 trees.", "4", "*") == "72"
    assert written_operand(" eggs/day = <<16-5-4=7>>7", "16", "-") == "5"
    assert written_operand(" so 16 - 8 = 8 eggs", "16", "-") == "8"
    assert written_operand(" trees. #### 20", "4", "*") is None


# ------------------------------------------------------------------------------------- files and table


def write_run(folder: Path, method: str, seed: int, rows: list[dict], noise: str | None) -> Path:
    prefix = folder / f"{method}_seed{seed}"
    write_jsonl(rows, f"{prefix}.jsonl")
    summary = {"labels": {"model": "llama", "train_set": "gsm", "method": method, "seed": seed},
               "fine_tune": {"noise": noise, "mask_ratio": 0.4 if noise else 0.0}, "wall_time_s": 1.5}
    write_json(summary, f"{prefix}.json")
    return Path(f"{prefix}.json")


def test_the_table_recomputes_from_the_run_files(tmp_path):
    items = select_items(RECORDS + make_tiny_records(40, seed=6, split="test"), items=12, n_variants=4, seed=0)
    prompts = [row for item in items for row in case_rows(item, "short")]
    sft = [write_run(tmp_path, "sft", seed, complete_rows(prompts, prefix_copier), None) for seed in (1, 2)]
    mft_rows = complete_rows(prompts, question_copier(items))
    mft = [write_run(tmp_path, "mft", seed, mft_rows, "random") for seed in (1, 2)]
    write_case_study(sft + mft, tmp_path / "out", n_resamples=200)
    table = read_table(tmp_path / "out")
    assert float(table["sft"]["fig4"]) == 0.0 and float(table["mft"]["fig4"]) == 1.0
    assert float(table["mft"]["fig5_vs_sft"]) == 1.0 and float(table["mft"]["paper_fig4"]) == 1.0
    assert table["mft"]["paper_method"] == "MFT (m=0, r=1)" and float(table["sft"]["paper_fig5"]) == 0.1
    assert table["mft"]["seeds"] == "2" and table["mft"]["items"] == str(len(items))
    # change one raw row: the Fig. 4 fraction of mft seed 2 on its first item drops by 1/4, the mean by 1/(8n)
    rows = read_jsonl_rows(mft[1].with_suffix(".jsonl"))
    first_fig4 = next(row for row in rows if row["condition"] == "fig4")
    first_fig4["written"] = first_fig4["prefix_number"]
    write_jsonl(rows, mft[1].with_suffix(".jsonl"))
    write_case_study(sft + mft, tmp_path / "out", n_resamples=200)
    table = read_table(tmp_path / "out")
    variants = sum(1 for row in rows if row["condition"] == "fig4" and row["item"] == first_fig4["item"])
    assert float(table["mft"]["fig4"]) == pytest.approx(1 - 1 / (variants * 2 * len(items)))
    markdown = (tmp_path / "out" / "tables" / "table4_case_study.md").read_text()
    assert "MFT (m=0, r=1)" in markdown and "1 (1.00)" in markdown
    assert (tmp_path / "out" / "figures" / "table4_case_study.png").stat().st_size > 0


def test_the_table_is_the_same_whatever_the_runs_took(tmp_path):
    """A rerun reproduces the table byte for byte: a run's wall time stays in its own summary, not the table."""
    items = select_items(RECORDS + make_tiny_records(40, seed=6, split="test"), items=6, n_variants=3, seed=0)
    prompts = [row for item in items for row in case_rows(item, "short")]
    runs = [write_run(tmp_path / "runs", method, 1, complete_rows(prompts, prefix_copier), None)
            for method in ("sft", "mft")]
    written = {}
    for name, seconds in (("first", 1.5), ("second", 99.0)):
        for path in runs:
            summary = json.loads(path.read_text())
            write_json({**summary, "wall_time_s": seconds}, path)
        write_case_study(runs, tmp_path / name, n_resamples=100)
        written[name] = {ext: (tmp_path / name / "tables" / f"table4_case_study.{ext}").read_bytes()
                         for ext in ("csv", "md", "tex", "html")}
    assert written["first"] == written["second"]
    assert b"wall_time" not in written["first"]["csv"]


def read_table(out: Path) -> dict[str, dict]:
    """method -> its row of the written CSV table."""
    with open(out / "tables" / "table4_case_study.csv", encoding="utf-8") as handle:
        return {row["method"]: row for row in csv.DictReader(handle)}


def read_jsonl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_run_file_without_labels_or_rows_is_named(tmp_path):
    write_json({"labels": {"model": "llama"}}, tmp_path / "bad.json")
    with pytest.raises(CaseStudyError, match="bad.json: labels.train_set is missing"):
        load_case_run(tmp_path / "bad.json")
    write_json({"labels": {"model": "m", "train_set": "t", "method": "sft", "seed": 1}}, tmp_path / "empty.json")
    (tmp_path / "empty.jsonl").write_text('{"item": "x"}\n')
    with pytest.raises(CaseStudyError, match=r"empty.jsonl:1: key 'condition' is missing"):
        load_case_run(tmp_path / "empty.json")


def test_a_run_is_deterministic_for_a_seed(tmp_path, tiny_model_dir):
    data = tmp_path / "test.jsonl"
    write_jsonl(make_tiny_records(30, seed=7, split="test"), data)
    outputs = []
    for name in ("a", "b"):
        summary = run_case_study(tiny_model_dir, data, tmp_path / name, items=3, variants=2, seed=0,
                                 prompt_template="short", max_new_tokens=10, batch_size=4,
                                 labels={"model": "tiny", "train_set": "t", "method": "sft", "seed": 1})
        outputs.append((tmp_path / f"{name}.jsonl").read_bytes())
    assert outputs[0] == outputs[1]
    rows = read_jsonl(tmp_path / "a.jsonl", validate=False)
    assert len(rows) == summary["n_prompts"] == 3 * (1 + 2 + 2)
    assert summary["settings"]["prompt_template"] == "short" and summary["wall_time_s"] > 0


# ------------------------------------------------------------------------------------------------ planner


def test_the_smoke_config_plans_one_job_per_gsm_fine_tune_and_the_table():
    plan = Plan(load_config(REPO / "config" / "smoke.yaml"))
    runs = {(r["model"], r["train_set"], r["method"], r["seed"]) for r in plan.case_study_runs()}
    assert runs == {("llama", "gsm", "sft", 1), ("llama", "gsm", "mft", 1), ("llama", "rft", "sft", 1)}
    assert plan.job_counts()["case_study"] == 3 and plan.job_counts()["case_study_table"] == 1
    assert plan.case_study_inputs("llama", "gsm", "mft", "1") == {
        "model": "work/models/ft/llama/gsm/mft/seed1", "data": "work/data/gsm/test.jsonl"}
    settings = plan.case_study_settings("llama", "gsm", "mft", "1")
    assert settings["items"] == 3 and settings["labels"] == {"method": "mft", "model": "llama", "seed": 1,
                                                              "train_set": "gsm"}
    assert "results/smoke/tables/table4_case_study.md" in plan.final_targets()


def test_the_default_and_the_map_run_it_on_their_gsm_fine_tunes_the_other_studies_leave_it_off():
    for name in ("full.yaml", "same-distribution.yaml"):
        plan = Plan(load_config(REPO / "config" / name))
        assert "case_study" not in plan.job_counts() and not plan.case_study_files()
    default = Plan(load_config(REPO / "config" / "config.yaml"))
    assert {(r["model"], r["method"]) for r in default.case_study_runs()} == {
        (model, method) for model in ("llama", "mistral") for method in ("sft", "sft_long", "mft")}
    assert default.job_counts()["case_study"] == 18  # 2 shapes x 3 methods x 3 seeds
    regime = Plan(load_config(REPO / "config" / "regime.yaml"))
    assert regime.job_counts()["case_study"] == regime.job_counts()["finetune"] == 111  # every point of the map


def test_cells_selects_the_measured_cells_and_names_an_unknown_one():
    config = load_config(REPO / "config" / "smoke.yaml")
    config["analyses"]["case_study"]["cells"] = ["llama/rft"]
    assert {(r["train_set"], r["method"]) for r in Plan(config).case_study_runs()} == {("rft", "sft")}
    config["analyses"]["case_study"]["cells"] = ["llama/gsm", "llama/gms"]
    with pytest.raises(ConfigError, match=r"analyses.case_study.cells\[1\]: no cell 'llama/gms'"):
        Plan(config)


def test_an_unknown_benchmark_is_named():
    config = load_config(REPO / "config" / "smoke.yaml")
    config["analyses"]["case_study"]["benchmark"] = "gsm_tset"
    with pytest.raises(ConfigError, match=r"analyses.case_study.benchmark: unknown benchmark 'gsm_tset'"):
        Plan(config)


# -------------------------------------------------------------------------------------------- command line


def cotmask(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cotmask.cli", *args], cwd=cwd, capture_output=True, text=True,
                          check=False)


def test_cli_bad_input_is_one_error_line(tmp_path):
    missing = cotmask("case-study", "table", "--runs", "nothing.json", "--out-dir", "out", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "cotmask case-study table: error: case-study summary nothing.json does not exist"]
    write_jsonl([THREE_STEPS, TWICE_IN_QUESTION], tmp_path / "test.jsonl")
    none_fit = cotmask("case-study", "run", "--model", "no_model", "--data", "test.jsonl", "--out", "o", cwd=tmp_path)
    assert none_fit.returncode == 2
    lines = none_fit.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cotmask case-study run: error: test.jsonl: no two-step problem")
    bad_label = cotmask("case-study", "run", "--model", "m", "--data", "test.jsonl", "--out", "o", "--label", "seed",
                        cwd=tmp_path)
    assert bad_label.returncode == 2 and bad_label.stderr.strip().splitlines() == [
        "cotmask case-study run: error: --label 'seed': expected KEY=VALUE"]
