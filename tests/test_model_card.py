"""Model cards (cotmask.model_card): front matter, method in the paper's terms, hyper-parameters, results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cotmask.model_card import card_with_results, model_card, read_evaluations, write_model_card

ROOT = Path(__file__).resolve().parents[1]


def _metrics(base_model="work/models/base/llama", **mask) -> dict:
    config = {
        "base_model": base_model, "train_file": "work/data/gsm/train.jsonl",
        "output_dir": "work/models/ft/llama/gsm/mft/seed1", "learning_rate": 2e-3, "epochs": 10,
        "per_device_batch_size": 16, "gradient_accumulation_steps": 2, "lr_scheduler": "cosine",
        "lr_warmup_ratio": 0.03, "weight_decay": 0.0, "max_grad_norm": 1.0, "max_length": 192,
        "prompt_template": "short", "seed": 1, "bf16": False, "limit": None, "training_args": {},
        "mask_token": "<mask>",
        "mask": {"mask_ratio": 0.0, "noise": "mask", "positions": "answer", "mask_warmup_ratio": 0.0,
                 "mask_prob": 1.0, "random_prob": 0.0, "loss_on_noised": True, **mask},
    }
    return {"config": config, "data": {"n_records": 1000, "n_examples": 998, "n_dropped_no_answer": 2,
                                       "n_truncated": 5, "answer_tokens": 51234},
            "optimizer_steps": 320, "train_loss": 0.812345, "train_wall_time_s": 100.5, "tokens_per_s": 900.0,
            "world_size": 2, "optimizer": "OptimizerNames.ADAMW_TORCH_FUSED", "resumed_from": None}


def _header(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_sft_card_has_the_front_matter_and_the_hyper_parameters():
    card = model_card(_metrics())
    header = _header(card)
    assert header["library_name"] == "transformers" and header["pipeline_tag"] == "text-generation"
    assert "sft" in header["tags"] and "mft" not in header["tags"]
    assert "base_model" not in header and "model-index" not in header  # local base, no evaluation yet
    assert "# llama/gsm/mft/seed1: SFT fine-tune of `work/models/base/llama`" in card
    assert "**SFT**: supervised fine-tuning" in card and "no noise" in card
    for row in ("| learning rate | `0.002` |", "| epochs | `10` |", "| max sequence length (tokens) | `192` |",
                "| prompt template | `short` |", "| processes | `2` |", "| effective batch size | `64` |",
                "| optimizer | `adamw_torch_fused` |", "| extra TrainingArguments | none |"):
        assert row in card, row
    assert "mask ratio p" not in card
    assert "998 examples trained on (2 dropped" in card and "optimizer steps: `320`" in card
    # run-dependent figures (the loss of the last process, timings) stay in train_metrics.json: the card of a
    # repeated or resumed run is the same file
    assert "0.8123" not in card and "100.5" not in card and "900" not in card
    assert "Question: {question}\nAnswer:" in card  # the prompt format to use
    assert "Not evaluated when this card was written" in card


def test_mft_card_names_the_ratio_noise_and_warm_up_and_a_hub_base():
    card = model_card(_metrics("meta-llama/Llama-2-7b-hf", mask_ratio=0.4, noise="mixture", mask_prob=0.8,
                               random_prob=0.1, mask_warmup_ratio=2 / 3))
    header = _header(card)
    assert header["base_model"] == "meta-llama/Llama-2-7b-hf"
    assert {"masked-thought", "mft"} <= set(header["tags"])
    assert "**MFT** (masked thought fine-tuning)" in card
    assert "each answer-side input token is selected with probability p = 0.4" in card
    assert "`<mask>` (probability m = 0.8 of a selected token), a uniformly random token (r = 0.1)" in card
    assert "over the first 66.7% of the optimizer steps" in card
    assert "| mask ratio p | `0.4` |" in card and "| noise | `mixture` |" in card


@pytest.mark.parametrize(("mask", "name"), [
    ({"mask_ratio": 0.2, "noise": "sampled", "sample_temperature": 100.0}, "SFT + sampled noise (answer tokens)"),
    ({"mask_ratio": 0.2, "noise": "mask", "positions": "question"}, "SFT + mask noise (question tokens)"),
    ({"mask_ratio": 0.3, "noise": "random", "mask_warmup_ratio": 0.0}, "MFT"),
])
def test_the_table3_variants_are_not_called_mft(mask, name):
    card = model_card(_metrics(**mask))
    assert f": {name} fine-tune of" in card
    if name != "MFT":
        assert "mft" not in _header(card)["tags"]
    if mask.get("noise") == "sampled":
        assert "scheduled sampling, temperature 100.0" in card
    if mask.get("mask_warmup_ratio") == 0.0:
        assert "no warm-up" in card


def test_the_in_text_variants_are_spelled_out():
    masked = model_card(_metrics(mask_ratio=0.4, noise="mask", attend_noised=False))
    assert "masked out of attention in every layer" in masked
    clean_loss = model_card(_metrics(mask_ratio=0.4, noise="random", loss_on_noised=False))
    assert "excluding the noised positions" in clean_loss and "masked out of attention" not in clean_loss


def test_evaluation_results_go_into_the_model_index_and_a_table(tmp_path):
    summaries = {
        "gsm_test.calc": {"accuracy": 0.6467, "n": 300, "n_correct": 194, "ci95": [0.59, 0.70],
                          "benchmark": "work/data/gsm/test.jsonl", "scoring": "gsm8k", "calculator": True},
        "gsm_test.plain": {"accuracy": 0.35, "n": 300, "n_correct": 105, "ci95": [0.3, 0.4],
                           "benchmark": "work/data/gsm/test.jsonl", "scoring": "gsm8k", "calculator": False},
    }
    for name, summary in summaries.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(summary))
    (tmp_path / "gsm_test.calc.jsonl").write_text("{}\n")  # per-item files are not summaries
    (tmp_path / "notes.json").write_text(json.dumps({"other": 1}))
    assert read_evaluations(tmp_path) == summaries

    card = model_card(_metrics(mask_ratio=0.4), read_evaluations(tmp_path))
    index = _header(card)["model-index"]
    assert index[0]["name"] == "llama/gsm/mft/seed1"
    results = index[0]["results"]
    assert [r["dataset"]["name"] for r in results] == ["gsm_test.calc", "gsm_test.plain"]
    assert [r["metrics"][0]["value"] for r in results] == [64.7, 35.0]
    assert results[0]["metrics"][0]["name"] == "accuracy (gsm8k, calculator decoding)"
    assert "| gsm_test.calc | `work/data/gsm/test.jsonl` | gsm8k | calculator | 64.7 | [59.0, 70.0] | 300 |" in card
    assert "Not evaluated" not in card


def test_write_model_card_reads_the_folder_metrics(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_metrics.json"):
        write_model_card(tmp_path)
    (tmp_path / "train_metrics.json").write_text(json.dumps(_metrics(mask_ratio=0.1)))
    path = write_model_card(tmp_path, evaluations={"t.plain": {"accuracy": 0.5, "n": 2, "ci95": [0, 1]}})
    assert path == tmp_path / "README.md"
    assert "| t.plain |" in path.read_text() and "MFT" in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "train_metrics.json"]  # no temp file left
    with pytest.raises(ValueError, match="no 'config'"):
        model_card({"optimizer_steps": 3})


# ------------------------------------------------------------------- cards with results (workflow, CLI)
SUMMARIES = {
    "gsm_test.calc": {"accuracy": 0.6, "n": 10, "n_correct": 6, "ci95": [0.3, 0.9],
                      "benchmark": "work/data/gsm/test.jsonl", "scoring": "gsm8k", "calculator": True},
    "gsm_test.plain": {"accuracy": 0.4, "n": 10, "n_correct": 4, "ci95": [0.1, 0.7],
                       "benchmark": "work/data/gsm/test.jsonl", "scoring": "gsm8k", "calculator": False},
}


def _finished_fine_tune(root, model="llama", train_set="gsm", method="mft", seed=1):
    """A fine-tune folder (its train_metrics.json and the card it was saved with) and its evaluate folder."""
    model_dir = root / "work" / "models" / "ft" / model / train_set / method / f"seed{seed}"
    eval_dir = root / "work" / "evals" / model / train_set / method / f"seed{seed}"
    model_dir.mkdir(parents=True)
    eval_dir.mkdir(parents=True)
    (model_dir / "train_metrics.json").write_text(json.dumps(_metrics(mask_ratio=0.4)))
    (model_dir / "README.md").write_text(model_card(_metrics(mask_ratio=0.4)))
    for name, summary in SUMMARIES.items():
        (eval_dir / f"{name}.json").write_text(json.dumps(summary))
        (eval_dir / f"{name}.jsonl").write_text("{}\n")
    return model_dir, eval_dir


def test_card_with_results_is_written_beside_and_leaves_the_fine_tune_alone(tmp_path):
    model_dir, eval_dir = _finished_fine_tune(tmp_path)
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    out = tmp_path / "work" / "cards" / "llama" / "gsm" / "mft" / "seed1" / "README.md"
    assert card_with_results(model_dir, out, eval_dir) == (out, 2)
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before  # another job's output, untouched
    card = out.read_text()
    assert [r["metrics"][0]["value"] for r in _header(card)["model-index"][0]["results"]] == [60.0, 40.0]
    assert "| gsm_test.plain | `work/data/gsm/test.jsonl` | gsm8k | plain | 40.0 | [10.0, 70.0] | 10 |" in card
    assert card == model_card(_metrics(mask_ratio=0.4), SUMMARIES)
    # without --out the card replaces the folder's own (the user's path outside the workflow)
    assert card_with_results(model_dir, eval_dir=eval_dir)[0] == model_dir / "README.md"
    assert (model_dir / "README.md").read_text() == card


def test_card_with_results_names_a_missing_or_empty_evaluation_folder(tmp_path):
    model_dir, eval_dir = _finished_fine_tune(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nope: no such evaluation folder"):
        card_with_results(model_dir, tmp_path / "card.md", tmp_path / "nope")
    for path in eval_dir.glob("*.json"):
        path.unlink()
    with pytest.raises(ValueError, match=r"no evaluation summary"):
        card_with_results(model_dir, tmp_path / "card.md", eval_dir)
    with pytest.raises(FileNotFoundError, match=r"train_metrics.json: no training metrics"):
        card_with_results(eval_dir, tmp_path / "card.md")
    assert not (tmp_path / "card.md").exists()


def test_cotmask_model_card_command(tmp_path, capsys):
    from cotmask.cli import main

    model_dir, eval_dir = _finished_fine_tune(tmp_path)
    out = tmp_path / "card.md"
    assert main(["model-card", "--model", str(model_dir), "--evals", str(eval_dir), "--out", str(out)]) == 0
    assert f"wrote {out} (2 evaluation results)" in capsys.readouterr().out
    assert "| gsm_test.calc |" in out.read_text()
    assert main(["model-card", "--model", str(model_dir), "--evals", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"cotmask model-card: error: {tmp_path / 'nope'}: no such evaluation folder"]
    # text work only: the command imports neither torch nor transformers
    script = ("import sys; from cotmask.cli import main; code = main(sys.argv[1:]); "
              "print([m for m in ('torch', 'transformers') if m in sys.modules]); sys.exit(code)")
    light = subprocess.run([sys.executable, "-c", script, "model-card", "--model", str(model_dir), "--evals",
                            str(eval_dir), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert light.returncode == 0 and light.stdout.strip().splitlines()[-1] == "[]", light.stdout + light.stderr


def test_model_card_jobs_are_planned_only_when_on():
    from cotmask.plan import Plan, load_config

    config = load_config(ROOT / "config" / "config.yaml")
    assert config["model_cards"] is True  # the embedded default writes them
    config["model_cards"] = False
    assert "model_card" not in Plan(config).job_counts()
    assert "model_card" not in Plan(load_config(ROOT / "config" / "full.yaml")).job_counts()  # schema default: off
    config["model_cards"] = True
    plan = Plan(config)
    cards = plan.model_card_files()
    assert plan.job_counts()["model_card"] == len(cards) == len(plan.evaluation_plans) == 26
    assert set(cards) <= set(plan.final_targets())
    assert cards[0] == "work/cards/llama/gsm/sft/seed1/README.md"
    assert not any(card.startswith(("work/models/", "work/evals/")) for card in cards)


@pytest.mark.slow
def test_the_model_card_rule_runs_after_the_evaluations(tmp_path):
    """Dry run: one model_card job per evaluated fine-tune (the planner's count). Real run of the rule alone on
    a finished fine-tune and evaluation: the card has the results, the fine-tune's folder is unchanged."""
    from test_workflow import copy_workflow, job_counts, snakemake

    from cotmask.plan import Plan, load_config

    workflow = copy_workflow(tmp_path / "workflow")
    args = ["--configfile", "config/smoke.yaml", "--config", "model_cards=True"]
    result = snakemake(workflow, "-n", "--quiet", "rules", *args)
    assert result.returncode == 0, result.stdout[-3000:]
    config = load_config(ROOT / "config" / "smoke.yaml")
    config["model_cards"] = True
    assert job_counts(result.stdout) == Plan(config).job_counts()

    model_dir, _ = _finished_fine_tune(workflow)
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    target = "work/cards/llama/gsm/mft/seed1/README.md"
    result = snakemake(workflow, "-c", "1", "--allowed-rules", "model_card", *args, "--", target)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "| gsm_test.calc |" in (workflow / target).read_text()
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before
    log = (workflow / "logs" / "model_card" / "llama" / "gsm" / "mft" / "seed1.log").read_text()
    assert f"wrote {target}" in log
    assert (workflow / "logs" / "benchmarks" / "model_card" / "llama" / "gsm" / "mft" / "seed1.tsv").is_file()
