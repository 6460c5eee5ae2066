"""docs/lm-eval.md: lm-evaluation-harness scores a cotmask checkpoint as cotmask does.

The page's task files, as written there (only the test file's path replaced), run through lm-eval's Python
API on a tiny model fine-tuned here with the ``short`` template, offline; the same model is evaluated by
``cotmask.evaluate``. Skipped when lm-eval is not installed (``pip install -e ".[lm-eval]"``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cotmask.records import read_jsonl, write_jsonl
from conftest import make_tiny_records

PAGE = Path(__file__).resolve().parents[1] / "docs" / "lm-eval.md"
TASK_FILE = re.compile(r"```yaml\n# lm_eval_tasks/(?P<name>[\w.]+\.yaml)\n(?P<body>.*?)```", re.S)
PAGE_DATA_FILE = "work/data/gsm8k/test.jsonl"
MAX_NEW_TOKENS = 72  # the tiny model has 128 positions; prompts are ~47 tokens


def page_task_files() -> dict[str, str]:
    """file name -> YAML text of every task file the page shows."""
    found = {m["name"]: m["body"] for m in TASK_FILE.finditer(PAGE.read_text(encoding="utf-8"))}
    assert set(found) == {"cotmask_gsm8k_alpaca.yaml", "cotmask_gsm8k_short.yaml"}, sorted(found)
    return found


def test_the_page_tasks_prompt_as_cotmask_does():
    """The page's prompts are cotmask.prompts' templates (Jinja's {{question}} for {question})."""
    import yaml

    from cotmask.prompts import TEMPLATES

    files = {name: yaml.safe_load(body) for name, body in page_task_files().items()}
    for template in ("alpaca", "short"):
        task = files[f"cotmask_gsm8k_{template}.yaml"]
        assert task["doc_to_text"] == TEMPLATES[template].replace("{question}", "{{question}}")
        assert task["generation_kwargs"]["do_sample"] is False
    alpaca = files["cotmask_gsm8k_alpaca.yaml"]
    assert alpaca["num_fewshot"] == 0 and alpaca["dataset_kwargs"]["data_files"]["test"] == PAGE_DATA_FILE
    assert [f["name"] for f in alpaca["filter_list"]] == ["strict-match", "flexible-extract"]


@pytest.fixture(scope="module")
def lm_eval():
    return pytest.importorskip("lm_eval", reason="lm-evaluation-harness is not installed (pip install -e '.[lm-eval]')")


@pytest.fixture(scope="module")
def memorising_model(lm_eval, tiny_model_dir, tiny_records_file, tmp_path_factory) -> str:
    """The tiny base model fine-tuned (SFT, ``short`` template) until it writes GSM8K-format solutions of
    its training problems: right answers on those, wrong ones on new problems."""
    from cotmask.train import FinetuneConfig, finetune

    out = tmp_path_factory.mktemp("lm_eval_model")
    config = FinetuneConfig.from_dict(dict(
        base_model=tiny_model_dir, train_file=tiny_records_file, output_dir=str(out / "model"),
        checkpoint_dir=str(out / "checkpoints"), prompt_template="short", max_length=128, learning_rate=1e-2,
        epochs=100, per_device_batch_size=16, gradient_accumulation_steps=1, lr_warmup_ratio=0.1,
        logging_steps=100, seed=5,
    ))
    finetune(config)
    return config.output_dir


@pytest.mark.slow
def test_lm_eval_scores_a_checkpoint_as_cotmask_does(lm_eval, memorising_model, tiny_records_file, tmp_path,
                                                    monkeypatch):
    from lm_eval.tasks import TaskManager

    from cotmask.evaluate import evaluate

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # 8 problems the model memorised and 8 new ones
    test_file = tmp_path / "test.jsonl"
    write_jsonl(list(read_jsonl(tiny_records_file))[:8] + make_tiny_records(8, seed=7, split="test"), test_file)
    tasks = tmp_path / "lm_eval_tasks"
    tasks.mkdir()
    for name, body in page_task_files().items():
        assert PAGE_DATA_FILE in body or "include:" in body
        (tasks / name).write_text(body.replace(PAGE_DATA_FILE, str(test_file)), encoding="utf-8")

    ours = evaluate(memorising_model, test_file, tmp_path / "p.jsonl", tmp_path / "s.json",
                    max_new_tokens=MAX_NEW_TOKENS, batch_size=1)  # the short template, from train_metrics.json
    assert ours["prompt_template"] == "short" and 0 < ours["accuracy"] < 1  # right and wrong answers

    results = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": memorising_model, "dtype": "float32"},
        tasks=["cotmask_gsm8k_short"], task_manager=TaskManager(include_path=str(tasks)),
        batch_size=1, device="cpu", gen_kwargs={"max_gen_toks": MAX_NEW_TOKENS}, log_samples=True,
    )
    scores = results["results"]["cotmask_gsm8k_short"]
    assert scores["exact_match,strict-match"] == pytest.approx(ours["accuracy"])

    items = {item["id"]: item for item in map(json.loads, (tmp_path / "p.jsonl").read_text().splitlines())}
    samples = [s for s in results["samples"]["cotmask_gsm8k_short"] if s["filter"] == "strict-match"]
    assert sorted(s["doc"]["id"] for s in samples) == sorted(items)
    for sample in samples:
        item = items[sample["doc"]["id"]]
        completion = sample["resps"][0][0].strip()
        # cotmask cuts a completion at the end of its answer line; lm-eval decodes on to EOS or the limit
        assert completion.startswith(item["generation"]), (completion, item["generation"])
        strict = sample["filtered_resps"][0]
        assert strict == (item["extracted"] if item["extracted"] is not None else "[invalid]")
        assert bool(sample["exact_match"]) == item["correct"]
    if all(s["resps"][0][0].strip() == items[s["doc"]["id"]]["generation"] for s in samples):
        assert scores["exact_match,flexible-extract"] == pytest.approx(ours["flexible_accuracy"])
