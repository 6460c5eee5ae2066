"""End-to-end evaluation (generate + score + files) on a tiny scripted model."""

from __future__ import annotations

import json

import pytest

from cotmask.evaluate import evaluate, evaluate_suite
from cotmask.records import RecordError, write_jsonl

try:  # rootdir-relative import ("prepend" mode) or package import when tests/ is a package
    from test_generation import SUCCESSOR, build_bigram_model, build_word_tokenizer
except ImportError:  # pragma: no cover
    from tests.test_generation import SUCCESSOR, build_bigram_model, build_word_tokenizer

ITEM_FIELDS = {"id", "question", "gold", "generation", "extracted", "correct", "invalid", "metadata"}
#: gsm8k scoring adds lm-eval's flexible score (the last number of the generation)
GSM8K_ITEM_FIELDS = ITEM_FIELDS | {"flexible_extracted", "flexible_correct"}
SUMMARY_FIELDS = {"accuracy", "n", "n_correct", "invalid_rate", "ci95", "benchmark", "scoring", "calculator",
                  "prompt_template", "wall_time_s", "problems_per_s"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The scripted model answers every question with ``<<6*7=41>>####9``."""
    path = tmp_path_factory.mktemp("model")
    tokenizer = build_word_tokenizer()
    build_bigram_model(tokenizer, SUCCESSOR).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture()
def benchmark(tmp_path):
    records = [
        {"id": "q1", "question": "what is six times seven?", "solution": "<<6*7=42>>42\n#### 9", "answer": "9",
         "source": "gsm_synth", "metadata": {"template": "t01", "n_steps": 1, "split": "test"}},
        {"id": "q2", "question": "Tom has 48 apples.", "solution": "#### 9", "answer": "9",
         "source": "gsm_synth", "metadata": {"template": "t02", "n_steps": 2, "split": "test"}},
        {"id": "q3", "question": "A box holds 12 eggs.", "solution": "#### 84", "answer": "84",
         "source": "gsm_synth", "metadata": {"template": "t01", "n_steps": 3, "split": "test"}},
    ]
    path = tmp_path / "test.jsonl"
    write_jsonl(records, path)
    return path


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("calculator", [False, True])
def test_evaluate_end_to_end(model_dir, benchmark, tmp_path, calculator):
    summary = evaluate(model_dir, benchmark, tmp_path / "e" / "pred.jsonl", tmp_path / "e" / "sum.json",
                       scoring="gsm8k", calculator=calculator, prompt_template="short", batch_size=2,
                       max_new_tokens=40, n_bootstrap=200)
    items = _read_jsonl(tmp_path / "e" / "pred.jsonl")
    written = json.loads((tmp_path / "e" / "sum.json").read_text())
    assert written == summary
    assert SUMMARY_FIELDS <= set(summary)
    assert [set(item) for item in items] == [GSM8K_ITEM_FIELDS] * 3
    assert [item["id"] for item in items] == ["q1", "q2", "q3"]
    assert [(item["flexible_extracted"], item["flexible_correct"]) for item in items] == [
        ("9", True), ("9", True), ("9", False)]
    assert summary["flexible_accuracy"] == pytest.approx(2 / 3)
    expected_generation = "<<6*7=42>>42####9" if calculator else "<<6*7=41>>####9"
    assert [item["generation"] for item in items] == [expected_generation] * 3
    assert [item["extracted"] for item in items] == ["9"] * 3
    assert [item["correct"] for item in items] == [True, True, False]
    assert items[2]["gold"] == "84"
    assert items[0]["metadata"] == {"template": "t01", "n_steps": 1, "split": "test"}
    assert (summary["n"], summary["n_correct"], summary["invalid_rate"]) == (3, 2, 0.0)
    assert summary["accuracy"] == pytest.approx(2 / 3)
    assert summary["calculator"] is calculator
    assert summary["scoring"] == "gsm8k" and summary["prompt_template"] == "short"
    assert summary["benchmark"] == str(benchmark)
    assert summary["ci95"][0] <= summary["accuracy"] <= summary["ci95"][1]


def test_evaluate_limit_and_cli(model_dir, benchmark, tmp_path, capsys):
    import cotmask.cli

    code = cotmask.cli.main([
        "evaluate", "--model", str(model_dir), "--benchmark", str(benchmark), "--predictions",
        str(tmp_path / "p.jsonl"), "--summary", str(tmp_path / "s.json"), "--prompt-template", "short",
        "--calculator", "--limit", "2", "--max-new-tokens", "30", "--n-bootstrap", "100",
    ])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["n"] == 2
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (summary["n"], summary["n_correct"], summary["limit"], summary["calculator"]) == (2, 2, 2, True)
    # The per-item file can be re-scored without a model.
    code = cotmask.cli.main(["score", "--benchmark", "gsm8k", "--predictions", str(tmp_path / "p.jsonl"),
                             "--out", str(tmp_path / "rescored.json")])
    assert code == 0
    assert json.loads((tmp_path / "rescored.json").read_text())["n_correct"] == 2


def test_evaluate_rejects_bad_input_before_loading(model_dir, benchmark, tmp_path):
    out = (tmp_path / "p.jsonl", tmp_path / "s.json")
    with pytest.raises(ValueError, match="unknown prompt template"):
        evaluate(model_dir, benchmark, *out, prompt_template="nope")
    with pytest.raises(ValueError, match="unknown scoring"):
        evaluate(model_dir, benchmark, *out, scoring="bleu")
    with pytest.raises(FileNotFoundError, match="config.json"):
        evaluate(tmp_path / "no-model", benchmark, *out)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(benchmark.read_text() + '{"id": "q9", "question": "x"}\n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"bad\.jsonl:4: field 'solution' is missing"):
        evaluate(model_dir, bad, *out)
    assert not out[0].exists() and not out[1].exists()


def test_evaluate_project_tiny_model(tiny_model_dir, tmp_path):
    """The project's own tiny base model (cotmask.tiny, via the conftest fixture) loads and evaluates;
    every annotation written in calculator mode carries the calculator's result."""
    import re

    from cotmask.calculator import calculate

    records = [
        {"id": f"t{i}", "question": f"Tom had {a} pens and bought {b} more. How many pens does Tom have now?",
         "solution": f"<<{a}+{b}={a + b}>>\n#### {a + b}", "answer": str(a + b), "source": "tiny_test",
         "metadata": {"template": "t00", "n_steps": 1}}
        for i, (a, b) in enumerate([(12, 30), (5, 7), (40, 2)])
    ]
    write_jsonl(records, tmp_path / "b.jsonl")
    summary = evaluate(tiny_model_dir, tmp_path / "b.jsonl", tmp_path / "p.jsonl", tmp_path / "s.json",
                       calculator=True, prompt_template="short", max_new_tokens=24, batch_size=2, n_bootstrap=50)
    items = _read_jsonl(tmp_path / "p.jsonl")
    assert summary["n"] == 3 and len(items) == 3
    assert summary["n_correct"] == sum(item["correct"] for item in items)
    for item in items:
        for expression, written in re.findall(r"<<([^<>=\n]*)=([^<>]*)>>", item["generation"]):
            if calculate(expression) is not None:
                assert written == calculate(expression)


# ------------------------------------------------------------------------------ evaluate_suite

TIMINGS = ("wall_time_s", "problems_per_s")


def _without_timings(summary):
    return {key: value for key, value in summary.items() if key not in TIMINGS}


@pytest.mark.parametrize("which", ["bigram", "tiny_llama"])
def test_evaluate_suite_writes_what_separate_evaluate_calls_write(which, request, benchmark, tmp_path, monkeypatch):
    """One model load, several (benchmark, decoding) runs: the same per-item files byte for byte and the
    same summaries (up to timings) as one evaluate() call per run; model and tokenizer loaded once."""
    import cotmask.generation

    model = str(request.getfixturevalue("model_dir" if which == "bigram" else "tiny_model_dir"))
    other = tmp_path / "other.jsonl"
    write_jsonl([
        {"id": f"o{i}", "question": f"Tom had {a} pens and bought {b} more. How many pens does Tom have now?",
         "solution": f"<<{a}+{b}={a + b}>>\n#### {a + b}", "answer": str(a + b), "source": "tiny_test",
         "metadata": {"template": "t00", "n_steps": 1}}
        for i, (a, b) in enumerate([(12, 30), (5, 7), (40, 2), (6, 7)])
    ], other)
    common = dict(prompt_template="short", batch_size=2, max_new_tokens=30, n_bootstrap=100, seed=3)
    runs = [
        {"name": "bench.plain", "benchmark_file": str(benchmark), "scoring": "gsm8k", "calculator": False, **common},
        {"name": "bench.calc", "benchmark_file": str(benchmark), "scoring": "gsm8k", "calculator": True, **common},
        {"name": "other.calc", "benchmark_file": str(other), "scoring": "auto", "calculator": True, **common,
         "limit": 3},
    ]
    loads = []
    real_load = cotmask.generation.load_model
    monkeypatch.setattr(cotmask.generation, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    summaries = evaluate_suite(model, runs, tmp_path / "suite", threads=1)
    assert len(loads) == 1
    assert list(summaries) == ["bench.plain", "bench.calc", "other.calc"]
    assert sorted(p.name for p in (tmp_path / "suite").iterdir()) == sorted(
        f"{run['name']}.{ext}" for run in runs for ext in ("jsonl", "json"))

    for run in runs:
        settings = {key: value for key, value in run.items() if key not in ("name", "benchmark_file")}
        alone = evaluate(model, run["benchmark_file"], tmp_path / "alone" / f"{run['name']}.jsonl",
                         tmp_path / "alone" / f"{run['name']}.json", **settings)
        suite_items = (tmp_path / "suite" / f"{run['name']}.jsonl").read_bytes()
        assert suite_items == (tmp_path / "alone" / f"{run['name']}.jsonl").read_bytes(), run["name"]
        written = json.loads((tmp_path / "suite" / f"{run['name']}.json").read_text())
        assert written == summaries[run["name"]]
        assert _without_timings(written) == _without_timings(alone), run["name"]
    assert summaries["other.calc"]["n"] == 3 and summaries["bench.calc"]["calculator"] is True


def test_evaluate_suite_checks_every_run_before_loading(model_dir, benchmark, tmp_path, monkeypatch):
    import cotmask.generation

    def no_load(*args, **kwargs):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(cotmask.generation, "load_model", no_load)
    good = {"name": "a.plain", "benchmark_file": str(benchmark), "prompt_template": "short"}
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"runs\[1\] \(b\.plain\): unknown setting\(s\) \['temprature'\]"):
        evaluate_suite(model_dir, [good, {**good, "name": "b.plain", "temprature": 0.1}], out)
    with pytest.raises(ValueError, match=r"repeated: \['a\.plain'\]"):
        evaluate_suite(model_dir, [good, good], out)
    with pytest.raises(ValueError, match="not a plain file name stem"):
        evaluate_suite(model_dir, [{**good, "name": "../a"}], out)
    with pytest.raises(ValueError, match=r"runs\[0\]: 'benchmark_file' is missing"):
        evaluate_suite(model_dir, [{"name": "a"}], out)
    with pytest.raises(ValueError, match="at least one run"):
        evaluate_suite(model_dir, [], out)
    with pytest.raises(ValueError, match="unknown scoring"):
        evaluate_suite(model_dir, [good, {**good, "name": "b", "scoring": "bleu"}], out)
    with pytest.raises(FileNotFoundError, match="no such file"):
        evaluate_suite(model_dir, [good, {**good, "name": "b", "benchmark_file": str(tmp_path / "none.jsonl")}], out)
    with pytest.raises(FileNotFoundError, match="config.json"):
        evaluate_suite(tmp_path / "no-model", [good], out)
    assert not out.exists()


def test_evaluate_suite_cli(model_dir, benchmark, tmp_path, capsys):
    import cotmask.cli

    runs = [{"name": f"b.{mode}", "benchmark_file": str(benchmark), "calculator": mode == "calc",
             "prompt_template": "short", "max_new_tokens": 30, "n_bootstrap": 50} for mode in ("plain", "calc")]
    (tmp_path / "runs.json").write_text(json.dumps({"runs": runs}))
    code = cotmask.cli.main(["evaluate-suite", "--model", str(model_dir), "--runs", str(tmp_path / "runs.json"),
                             "--out-dir", str(tmp_path / "out")])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"b.plain", "b.calc"}
    assert (printed["b.plain"]["n_correct"], printed["b.calc"]["n_correct"]) == (2, 2)
    assert json.loads((tmp_path / "out" / "b.calc.json").read_text())["calculator"] is True


# ------------------------------------------------------------------------------ training-time settings
def _fine_tune_copy(model_dir, tmp_path, **config):
    """A copy of the scripted model that records fine-tuning settings as cotmask.train writes them."""
    import shutil

    copy = tmp_path / "ft"
    shutil.copytree(model_dir, copy)
    (copy / "train_metrics.json").write_text(json.dumps({"config": config}))
    return copy


def test_the_prompt_template_comes_from_the_checkpoint(model_dir, benchmark, tmp_path, caplog):
    """No template given: the checkpoint's (scores as with it given); another one given: used, with a
    warning naming both; no record: alpaca."""
    ft = _fine_tune_copy(model_dir, tmp_path, prompt_template="short", max_length=96)
    out = (tmp_path / "p.jsonl", tmp_path / "s.json")
    common = dict(max_new_tokens=40, n_bootstrap=50)
    with caplog.at_level("INFO", logger="cotmask.evaluate"):
        recorded = evaluate(ft, benchmark, *out, **common)
    assert recorded["prompt_template"] == "short" and recorded["n_correct"] == 2
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert any("as fine-tuned" in r.getMessage() for r in caplog.records)
    assert any(r.getMessage().startswith("evaluate s: 3/3 prompts (100 %)") for r in caplog.records)
    assert _without_timings(recorded) == _without_timings(
        evaluate(ft, benchmark, *out, prompt_template="short", **common))

    caplog.clear()
    with caplog.at_level("INFO", logger="cotmask.evaluate"):
        asked = evaluate(ft, benchmark, *out, prompt_template="alpaca", **common)
    assert asked["prompt_template"] == "alpaca"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "fine-tuned with prompt template 'short'" in warnings[0]
    assert "evaluated with 'alpaca'" in warnings[0]

    assert evaluate(model_dir, benchmark, *out, **common)["prompt_template"] == "alpaca"  # no train_metrics.json


def test_prompts_beyond_the_fine_tuning_length_are_counted_in_a_warning(model_dir, benchmark, tmp_path, caplog):
    ft = _fine_tune_copy(model_dir, tmp_path, prompt_template="short", max_length=13)
    with caplog.at_level("WARNING", logger="cotmask.evaluate"):
        evaluate(ft, benchmark, tmp_path / "p.jsonl", tmp_path / "s.json", max_new_tokens=20, n_bootstrap=20)
    from transformers import AutoTokenizer

    from cotmask.prompts import format_prompt

    tokenizer = AutoTokenizer.from_pretrained(ft)
    lengths = [len(tokenizer(format_prompt(q, "short"))["input_ids"])
               for q in ("what is six times seven?", "Tom has 48 apples.", "A box holds 12 eggs.")]
    expected = sum(length >= 13 for length in lengths)
    assert 0 < expected < 3  # the fixture has prompts on both sides of the limit
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and f"{expected} of 3 prompts have at least the fine-tuning max_length (13" in warnings[0]


def test_evaluate_suite_runs_without_a_template_use_the_checkpoint_one(model_dir, benchmark, tmp_path):
    ft = _fine_tune_copy(model_dir, tmp_path, prompt_template="short")
    runs = [{"name": "b.plain", "benchmark_file": str(benchmark), "max_new_tokens": 30, "n_bootstrap": 20},
            {"name": "b.alpaca", "benchmark_file": str(benchmark), "max_new_tokens": 30, "n_bootstrap": 20,
             "prompt_template": "alpaca"}]
    summaries = evaluate_suite(ft, runs, tmp_path / "out")
    assert summaries["b.plain"]["prompt_template"] == "short" and summaries["b.plain"]["n_correct"] == 2
    assert summaries["b.alpaca"]["prompt_template"] == "alpaca"


def test_cli_evaluate_takes_the_checkpoint_template_and_refuses_an_unreachable_hub_id(
        model_dir, benchmark, tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    import cotmask.cli

    ft = _fine_tune_copy(model_dir, tmp_path, prompt_template="short")
    files = ["--benchmark", str(benchmark), "--predictions", str(tmp_path / "p.jsonl"), "--summary",
             str(tmp_path / "s.json"), "--max-new-tokens", "30", "--n-bootstrap", "20"]
    assert cotmask.cli.main(["evaluate", "--model", str(ft), *files]) == 0
    assert json.loads(capsys.readouterr().out)["n_correct"] == 2
    assert json.loads((tmp_path / "s.json").read_text())["prompt_template"] == "short"

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert cotmask.cli.main(["evaluate", "--model", "cotmask-tests/not-a-cached-model", *files]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("cotmask evaluate: error: cotmask-tests/not-a-cached-model: "
                                                   "not a local folder")
    assert "--local-dir DIR" in error[0]


# ------------------------------------------------------------------------------ hybrid decoding
#: "Answer:" -> "print(6*7)" (a program printing 42), or "print(6/0)" (a program that fails), then EOS.
PROGRAM_CORPUS = ["Question: what is six times seven?\nAnswer:print(6*7)print(6/0)", "0 1 2 3 4 5 6 7 8 9"]
HYBRID_FIELDS = GSM8K_ITEM_FIELDS | {"answer_source", "prediction", "pot_generation", "program"}


def _program_model(tmp_path, divisor: str):
    import itertools

    tokenizer = build_word_tokenizer(PROGRAM_CORPUS)
    script = ["Answer", ":", "print", "(", "6", "*" if divisor == "7" else "/", divisor, ")"]
    path = tmp_path / f"program-model-{divisor}"
    build_bigram_model(tokenizer, dict(itertools.pairwise(script))).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture()
def hybrid_benchmark(tmp_path):
    records = [
        {"id": "h1", "question": "what is six times seven?", "solution": "#### 42", "answer": "42",
         "source": "gsm_synth", "metadata": {"template": "t01", "n_steps": 1}},
        {"id": "h2", "question": "A box holds 12 eggs.", "solution": "#### 84", "answer": "84",
         "source": "gsm_synth", "metadata": {"template": "t02", "n_steps": 1}},
    ]
    write_jsonl(records, tmp_path / "hybrid.jsonl")
    return tmp_path / "hybrid.jsonl"


def test_hybrid_evaluation_scores_the_programs_output_and_records_it(tmp_path, hybrid_benchmark):
    model = _program_model(tmp_path, "7")
    out = tmp_path / "e"
    summary = evaluate(model, hybrid_benchmark, out / "h.jsonl", out / "h.json", prompt_template="short",
                       max_new_tokens=12, n_bootstrap=50, hybrid=True, program_timeout_s=2)
    items = _read_jsonl(out / "h.jsonl")
    assert [set(item) for item in items] == [HYBRID_FIELDS] * 2
    assert [item["pot_generation"] for item in items] == ["print(6*7)"] * 2
    assert [item["answer_source"] for item in items] == ["program", "program"]
    assert [item["program"] for item in items] == [
        {"ok": True, "stdout": "42\n", "error": None, "message": "", "answer": "42"}] * 2
    assert [(item["prediction"], item["extracted"], item["correct"]) for item in items] == [
        ("The answer is 42", "42", True), ("The answer is 42", "42", False)]
    assert (summary["n_correct"], summary["hybrid"], summary["calculator"]) == (1, True, False)
    assert summary["pot_trigger"] == "Let's write a program." and summary["program_timeout_s"] == 2
    assert summary["answer_sources"] == {"program": 2, "pot_text": 0, "cot": 0}
    assert (summary["program_rate"], summary["fallback_rate"]) == (1.0, 0.0)
    assert summary["programs"]["written"] == summary["programs"]["ran"] == 2
    # the per-item file re-scores without a model: `cotmask score` reads the scored prediction
    from cotmask.scoring import score_file

    assert score_file(out / "h.jsonl", tmp_path / "rescored.json", "gsm8k")["n_correct"] == 1


def test_hybrid_evaluation_falls_back_to_the_plain_question_when_the_program_fails(
        tmp_path, hybrid_benchmark, monkeypatch):
    import cotmask.generation

    prompts = []
    real_generate = cotmask.generation.generate
    def recording(model, tokenizer, batch, **settings):
        prompts.append(batch)
        return real_generate(model, tokenizer, batch, **settings)

    monkeypatch.setattr(cotmask.generation, "generate", recording)
    model = _program_model(tmp_path, "0")
    summary = evaluate(model, hybrid_benchmark, tmp_path / "h.jsonl", tmp_path / "h.json", prompt_template="short",
                       max_new_tokens=12, n_bootstrap=50, hybrid=True, pot_trigger="Write code.")
    items = _read_jsonl(tmp_path / "h.jsonl")
    assert prompts == [
        ["Question: what is six times seven? Write code.\nAnswer:",
         "Question: A box holds 12 eggs. Write code.\nAnswer:"],
        ["Question: what is six times seven?\nAnswer:", "Question: A box holds 12 eggs.\nAnswer:"],
    ]
    assert [item["answer_source"] for item in items] == ["cot", "cot"]
    assert [item["program"]["error"] for item in items] == ["exception", "exception"]
    assert items[0]["program"]["message"] == "ZeroDivisionError: division by zero"
    assert [(item["generation"], item["invalid"], item["correct"]) for item in items] == [
        ("print(6/0)", True, False)] * 2
    assert summary["fallback_rate"] == 1.0 and summary["programs"]["errors"]["exception"] == 2
    assert summary["invalid_rate"] == 1.0


def test_hybrid_runs_in_a_suite_and_from_the_cli(tmp_path, hybrid_benchmark, capsys):
    import cotmask.cli

    model = _program_model(tmp_path, "7")
    common = {"benchmark_file": str(hybrid_benchmark), "prompt_template": "short", "max_new_tokens": 12,
              "n_bootstrap": 50}
    runs = [{"name": "h.plain", **common},
            {"name": "h.hybrid", **common, "hybrid": True, "program_memory_mb": 256}]
    summaries = evaluate_suite(model, runs, tmp_path / "suite")
    assert "hybrid" not in summaries["h.plain"] and summaries["h.plain"]["n_correct"] == 0  # no number to read
    plain_items = _read_jsonl(tmp_path / "suite" / "h.plain.jsonl")
    assert [set(item) for item in plain_items] == [GSM8K_ITEM_FIELDS] * 2
    assert summaries["h.hybrid"]["n_correct"] == 1 and summaries["h.hybrid"]["program_memory_mb"] == 256

    code = cotmask.cli.main([
        "evaluate", "--model", str(model), "--benchmark", str(hybrid_benchmark), "--predictions",
        str(tmp_path / "cli.jsonl"), "--summary", str(tmp_path / "cli.json"), "--prompt-template", "short",
        "--max-new-tokens", "12", "--n-bootstrap", "50", "--hybrid", "--program-timeout", "2",
    ])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["n_correct"], printed["fallback_rate"], printed["program_rate"]) == (1, 0.0, 1.0)
    assert (tmp_path / "cli.jsonl").read_bytes() == (tmp_path / "suite" / "h.hybrid.jsonl").read_bytes()


def test_bad_program_limits_are_named_before_the_model_loads(model_dir, benchmark, tmp_path):
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        evaluate(model_dir, benchmark, tmp_path / "p.jsonl", tmp_path / "s.json", hybrid=True, program_timeout_s=0)
    run = {"name": "b.hybrid", "benchmark_file": str(benchmark), "hybrid": True, "program_memory_mb": 1}
    with pytest.raises(ValueError, match="run 'b.hybrid': sandbox memory_mb must be at least 16"):
        evaluate_suite(model_dir, [run], tmp_path / "out")
    assert not (tmp_path / "p.jsonl").exists() and not (tmp_path / "out").exists()
