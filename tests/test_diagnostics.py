"""Overfitting diagnostics (cotmask.diagnostics, cotmask.epoch_diagnostics): the subset, the clean loss, the
measurement, the summary, and the diagnostics inside a fine-tune."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from cotmask.diagnostics import DiagnosticsSettings, fixed_subset, read_rows, summarize_diagnostics
from cotmask.epoch_diagnostics import clean_loss, measure, prepare_subset
from cotmask.records import write_jsonl
from cotmask.train import FinetuneConfig, finetune

from conftest import make_tiny_records


def test_fixed_subset_ignores_file_order_and_depends_on_the_seed():
    records = make_tiny_records(40)
    first = fixed_subset(records, 10, seed=0)
    assert len(first) == 10 and len({r["id"] for r in first}) == 10
    assert fixed_subset(list(reversed(records)), 10, seed=0) == first
    assert fixed_subset(records, 10, seed=1) != first
    assert fixed_subset(records, 100) == sorted(records, key=lambda r: r["id"])


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return model, tokenizer


def _subset(tmp_path, tokenizer, name="test", n=12, seed=5):
    records = make_tiny_records(n, seed=seed, split=name)
    settings = DiagnosticsSettings(n_items=8, max_new_tokens=40, batch_size=4)
    return prepare_subset(name, records, tokenizer, settings, prompt_template="short", max_length=96), settings


def test_clean_loss_is_the_token_weighted_answer_cross_entropy(tiny, tmp_path):
    model, tokenizer = tiny
    subset, _ = _subset(tmp_path, tokenizer)
    model.eval()
    # the same quantity from the model's own loss, one example at a time, weighted by answer tokens
    total, count = 0.0, 0
    for example in subset.examples:
        ids = torch.tensor([example["input_ids"]])
        labels = ids.clone()
        labels[0, : example["prompt_length"]] = -100
        with torch.no_grad():
            loss = model(input_ids=ids, labels=labels).loss
        n = len(example["input_ids"]) - example["prompt_length"]
        total, count = total + float(loss) * n, count + n
    assert clean_loss(model, subset.examples, tokenizer.pad_token_id, batch_size=3) == pytest.approx(total / count, rel=1e-5)


def test_measure_restores_the_mode_and_draws_no_random_number(tiny, tmp_path):
    model, tokenizer = tiny
    subset, settings = _subset(tmp_path, tokenizer)
    model.train()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    row = measure(model, tokenizer, [subset], settings)
    assert torch.equal(torch.rand(3), expected_next)
    assert model.training
    assert set(row) == {"test_loss", "test_accuracy"}
    assert 0.0 <= row["test_accuracy"] <= 1.0 and row["test_loss"] > 0
    assert measure(model, tokenizer, [subset], settings) == row


def test_rows_round_trip_and_summary_gaps():
    rows = [
        {"epoch": 1.0, "step": 4, "samples_seen": 64, "train_loss": 0.9, "test_loss": 1.0,
         "train_accuracy": 0.30, "test_accuracy": 0.25},
        {"epoch": 2.0, "step": 8, "samples_seen": 128, "train_loss": 0.5, "test_loss": 0.8,
         "train_accuracy": 0.70, "test_accuracy": 0.40},
        {"epoch": 3.0, "step": 12, "samples_seen": 192, "train_loss": 0.2, "test_loss": 0.9,
         "train_accuracy": 0.95, "test_accuracy": 0.40},
    ]
    summary = summarize_diagnostics(rows)
    assert summary["loss_gap"] == pytest.approx(0.7)
    assert summary["accuracy_gap"] == pytest.approx(55.0)
    assert summary["best_epoch"] == 2.0  # the earliest of the tied best epochs
    assert summary["best_minus_final"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        summarize_diagnostics([])


def test_rows_written_are_readable_back(tmp_path):
    rows = [{"epoch": 1.0, "step": 3, "train_loss": 0.5}]
    write_jsonl(rows, tmp_path / "d" / "diagnostics.jsonl")
    assert read_rows(tmp_path / "d" / "diagnostics.jsonl") == rows
    assert read_rows(tmp_path / "missing.jsonl") == []


# ------------------------------------------------------------------------------ inside a fine-tune


def _finetune_config(tiny_model_dir, train_file, test_file, out, **extra):
    settings = dict(
        base_model=tiny_model_dir, train_file=train_file, output_dir=str(out), learning_rate=3e-3, epochs=2,
        per_device_batch_size=8, max_length=96, prompt_template="short", seed=1, logging_steps=1, limit=32,
        mask={"mask_ratio": 0.3, "noise": "mask", "mask_warmup_ratio": 0.5},
        diagnostics_test_file=test_file, diagnostics_items=6, diagnostics_max_new_tokens=40, diagnostics_batch_size=8,
    )
    return FinetuneConfig(**{**settings, **extra})


@pytest.fixture(scope="module")
def test_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("diag") / "test.jsonl"
    write_jsonl(make_tiny_records(20, seed=9, split="test"), path)
    return str(path)


def test_diagnostics_leave_the_trained_weights_unchanged_and_recompute_from_the_files(
    tiny_model_dir, tiny_records_file, test_file, tmp_path
):
    with_diag = _finetune_config(tiny_model_dir, tiny_records_file, test_file, tmp_path / "with")
    metrics = finetune(with_diag)
    without = _finetune_config(tiny_model_dir, tiny_records_file, test_file, tmp_path / "without")
    without.diagnostics_test_file = None
    finetune(without)
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "with").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "without").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "without" / "diagnostics.jsonl").exists()

    rows = read_rows(tmp_path / "with" / "diagnostics.jsonl")
    assert [row["epoch"] for row in rows] == [1.0, 2.0]
    assert [row["samples_seen"] for row in rows] == [32, 64]  # limit=32 examples per epoch
    assert metrics["diagnostics"] == summarize_diagnostics(rows)
    # the last row recomputes from the saved model and the raw files
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "with")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "with")
    settings = DiagnosticsSettings(n_items=6, max_new_tokens=40, batch_size=8)
    from cotmask.records import read_jsonl

    subsets = [
        prepare_subset("train", read_jsonl(tiny_records_file)[:32], tokenizer, settings, prompt_template="short",
                       max_length=96),
        prepare_subset("test", read_jsonl(test_file), tokenizer, settings, prompt_template="short", max_length=96),
    ]
    assert {r["id"] for r in subsets[0].records} <= {r["id"] for r in read_jsonl(tiny_records_file)[:32]}
    recomputed = measure(model, tokenizer, subsets, settings)
    for key, value in recomputed.items():
        assert rows[-1][key] == pytest.approx(value, abs=1e-4), key


def test_a_resumed_fine_tune_keeps_the_rows_of_completed_epochs(tiny_model_dir, tiny_records_file, test_file, tmp_path):
    cfg = _finetune_config(tiny_model_dir, tiny_records_file, test_file, tmp_path / "run", epochs=3)

    class Interrupt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 8:  # the checkpoint of epoch 2 (4 steps per epoch) is written
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(cfg, callbacks=[Interrupt()])
    kept = read_rows(Path(cfg.checkpoint_dir) / "diagnostics.jsonl")
    assert [row["epoch"] for row in kept] == [1.0, 2.0]
    finetune(_finetune_config(tiny_model_dir, tiny_records_file, test_file, tmp_path / "run", epochs=3))
    rows = read_rows(tmp_path / "run" / "diagnostics.jsonl")
    assert [row["epoch"] for row in rows] == [1.0, 2.0, 3.0]
    assert rows[:2] == kept
