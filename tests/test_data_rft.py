"""RFT: the pure selection with fake samplers, and the model wiring on a tiny untrained model."""

from __future__ import annotations

import json

import pytest

from cotmask.data import build_augmented, build_source
from cotmask.data.rft import (
    build_rft_dataset,
    clean_sample,
    collect_samples,
    path_key,
    rejection_sample,
    scoring_judge,
    select_rft_samples,
)
from cotmask.prompts import format_prompt
from cotmask.records import read_jsonl, validate_record

RECORDS = [
    {"id": "q1", "question": "Lena has 3 boxes with 12 pencils each. She gives away 7. How many are left?",
     "solution": "She has 3*12 = <<3*12=36>>36 pencils.\nShe has 36-7 = <<36-7=29>>29 left.\n#### 29",
     "answer": "29", "source": "gsm8k", "metadata": {"split": "train"}},
    {"id": "q2", "question": "A bus has 40 seats. 4 buses carry 150 people. How many seats are empty?",
     "solution": "4*40 = <<4*40=160>>160 seats.\n160-150 = <<160-150=10>>10 are empty.\n#### 10",
     "answer": "10", "source": "gsm8k", "metadata": {"split": "train"}},
]
SAMPLES = [
    [
        "Each box has 12, so 3*12 = <<3*12=36>>36.\nThen 36-7 = <<36-7=29>>29.\n#### 29",  # same path as the original
        "She gives 7 of 36: 36-7 = <<36-7=29>>29... first 12*3 = <<12*3=36>>36.\n#### 29",  # new order: new path
        "12*3 = <<12*3=36>>36\n36-7 = <<36-7=28>>28\n#### 28",  # wrong answer
        "",  # empty
        "12*3 = <<12*3=36>>36 and 36 - 7 = <<36-7=29>>29\n#### 29\nQuestion: extra text after the answer",  # new
    ],
    [
        "160-150 = <<160-150=10>>10\n#### 10",  # correct, new (shorter) path
        "160-150 = <<160-150=10>>10\n#### 10",  # exact duplicate of the previous sample
        "I don't know.",  # no answer
        "40*4 = <<40*4=160>>160\n160-150 = <<160-150=10>>10\n#### 10",  # new path (40*4 vs 4*40)
        "4 * 40 = <<4 * 40=160>>160\n160-150 = <<160-150=10>>10\n#### 10",  # same equations as the original
    ],
]


def test_path_key_compares_equations_then_text():
    assert path_key("a <<3*12=36>>36 b <<36 - 7=29>>29") == path_key("x <<3*12=36>>36 y <<36-7=29>>29 z")
    assert path_key("<<12*3=36>>36 <<36-7=29>>29") != path_key("<<3*12=36>>36 <<36-7=29>>29")
    assert path_key("The answer is  X.\nok") == path_key("the answer is x. ok")
    assert clean_sample("a\n#### 5\nQuestion: more") == "a\n#### 5"
    assert clean_sample("x\nThe answer is: 5\nnext") == "x\nThe answer is: 5"


def test_select_keeps_originals_and_distinct_correct_paths():
    selected = select_rft_samples(RECORDS, SAMPLES)
    assert [r["id"] for r in selected] == ["q1", "q1-rft1", "q1-rft4", "q2", "q2-rft0", "q2-rft3"]
    assert selected[0]["metadata"]["rft"] == {"origin": "original"}
    assert selected[1]["metadata"]["rft"] == {"origin": "sample", "sample": 1}
    assert selected[4]["solution"] == SAMPLES[1][0]
    assert selected[2]["solution"].endswith("#### 29"), "text after the answer line is cut"
    for r in selected:
        validate_record(r)
    without = select_rft_samples(RECORDS, SAMPLES, include_original=False)
    assert [r["id"] for r in without] == ["q1-rft0", "q1-rft1", "q1-rft4", "q2-rft0", "q2-rft3", "q2-rft4"]


def test_select_with_custom_judge_and_length_mismatch():
    everything = select_rft_samples(RECORDS, SAMPLES, judge=lambda sample, record: True)
    assert "q1-rft2" in [r["id"] for r in everything]
    with pytest.raises(ValueError, match="sample lists"):
        select_rft_samples(RECORDS, SAMPLES[:1])


def test_scoring_judge_uses_the_gold_answer():
    judge = scoring_judge("gsm8k")
    assert judge("... #### 29", RECORDS[0]) and not judge("... #### 30", RECORDS[0])
    assert judge("so it is 29.\nThe answer is: 29", RECORDS[0])


def test_collect_samples_calls_the_sampler_per_round():
    calls = []

    def sampler(prompts, round_index):
        calls.append((list(prompts), round_index))
        return [f"round {round_index} #### {len(p)}" for p in prompts]

    samples = collect_samples(RECORDS, sampler, k=3, prompt_template="short")
    assert [c[1] for c in calls] == [0, 1, 2]
    assert calls[0][0] == [format_prompt(r["question"], "short") for r in RECORDS]
    assert samples[1] == [f"round {i} #### {len(calls[0][0][1])}" for i in range(3)]
    with pytest.raises(ValueError, match="outputs"):
        collect_samples(RECORDS, lambda prompts, r: ["x"], k=1, prompt_template="short")


def test_build_rft_dataset_writes_records_and_stats(tmp_path):
    def sampler(prompts, round_index):
        return [SAMPLES[i][round_index] for i in range(len(prompts))]

    stats = build_rft_dataset(RECORDS, sampler, tmp_path, k=5, prompt_template="short",
                              judge=scoring_judge("gsm8k"))
    rows = read_jsonl(tmp_path / "train.jsonl")
    assert [r["id"] for r in rows] == ["q1", "q1-rft1", "q1-rft4", "q2", "q2-rft0", "q2-rft3"]
    saved = json.loads((tmp_path / "stats.json").read_text())
    assert saved == stats
    assert stats["samples"] == 10 and stats["acceptance_rate"] == pytest.approx(0.4)
    assert stats["correct_rate"] == pytest.approx(0.7)
    assert stats["filtered"] == {"rejected_duplicate_path": 3, "rejected_empty": 1, "rejected_incorrect": 2}
    assert stats["distinct_new_paths_per_question"] == {"mean": 2.0, "histogram": {"2": 2}}
    assert stats["splits"]["train"]["n"] == 6


def test_rejection_sample_checks_inputs_before_loading(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    common = dict(k=2, temperature=0.7, max_new_tokens=8, seed=0, calculator=False, batch_size=2, threads=1)
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        rejection_sample(str(train), str(tmp_path / "out"), model_dir=str(tmp_path), prompt_template="short", **common)
    with pytest.raises(ValueError, match="prompt template"):
        rejection_sample(str(train), str(tmp_path / "out"), model_dir=str(tmp_path), prompt_template="chat", **common)
    with pytest.raises(ValueError, match="temperature"):
        rejection_sample(str(train), str(tmp_path / "out"), model_dir=str(tmp_path), prompt_template="short",
                         **{**common, "temperature": 0.0})
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_rejection_sample_end_to_end_on_a_tiny_model(tmp_path):
    """Wiring only: an untrained tiny model samples (reproducibly), the originals are always kept."""
    from cotmask.tiny import build_base_model, train_tokenizer

    build_source("gsm_synth", str(tmp_path / "data"), n_train=12, n_test=0, splits=["train"], max_steps=2)
    train = tmp_path / "data" / "train.jsonl"
    train_tokenizer([str(train)], str(tmp_path / "tok"), vocab_size=300)
    build_base_model(str(tmp_path / "tok"), [str(train)], str(tmp_path / "model"), hidden_size=32, num_layers=1,
                     num_heads=2, intermediate_size=64, max_position_embeddings=256, pretrain_epochs=0)
    options = dict(model_dir=str(tmp_path / "model"), k=2, temperature=1.0, max_new_tokens=12, seed=3,
                   prompt_template="short", calculator=True, batch_size=4, threads=1)
    stats = rejection_sample(str(train), str(tmp_path / "rft"), **options)
    rows = read_jsonl(tmp_path / "rft" / "train.jsonl")
    assert stats["samples"] == 24 and stats["questions"] == 12
    originals = [r for r in rows if r["metadata"]["rft"]["origin"] == "original"]
    assert [r["id"] for r in originals] == [r["id"] for r in read_jsonl(train)]
    assert len(rows) == 12 + round(stats["acceptance_rate"] * 24)
    again = build_augmented("rft", [str(train)], str(tmp_path / "rft2"), **options)
    assert again == stats
    assert (tmp_path / "rft" / "train.jsonl").read_bytes() == (tmp_path / "rft2" / "train.jsonl").read_bytes()
