"""Hybrid decoding (cotmask.hybrid): MAmmoTH's program detection, the program's printed answer, the
chain-of-thought fallback and which path answered each item, with a scripted generator in place of a
model; the programs of the ``mammoth`` training set's PoT rationales run and print their answers."""

from __future__ import annotations

import sys

import pytest

from cotmask.hybrid import (
    ANSWER_SOURCES,
    DEFAULT_POT_TRIGGER,
    hybrid_decode,
    hybrid_summary,
    is_program,
    pot_question,
    printed_answer,
    program_prediction,
    program_source,
    run_programs,
)
from cotmask.prompts import format_prompt
from cotmask.sandbox import SandboxLimits
from cotmask.scoring import gold_answer, score_item

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox's limits are Linux's")

LIMITS = SandboxLimits(timeout_s=1, memory_mb=128)


def test_the_pot_question_is_the_question_and_the_trigger():
    assert DEFAULT_POT_TRIGGER == "Let's write a program."
    assert pot_question("How many eggs?") == "How many eggs? Let's write a program."
    assert pot_question("How many eggs?", "") == "How many eggs?"


def test_a_program_is_a_completion_with_print():
    assert is_program("x = 3\nprint(x)")
    assert is_program("The answer is print(5)")  # MAmmoTH's rule is the substring, nothing more
    assert not is_program("x = 3\nx")
    assert not is_program("printing (3)")
    assert not is_program("")


def test_the_code_run_is_the_fenced_block_or_the_completion_cut_at_a_new_turn():
    assert program_source("x = 1\nprint(x)\n### Instruction:\nnext") == "x = 1\nprint(x)"
    assert program_source("x = 1\nprint(x)\nQuestion: more?") == "x = 1\nprint(x)"
    fenced = "We compute it.\n```python\nx = 2\nprint(x * 3)\n```\nSo the answer is 6."
    assert program_source(fenced) == "x = 2\nprint(x * 3)"
    two = "```\nx = 1\n```\nthen\n```py\nprint(5)\n```"
    assert program_source(two) == "print(5)"  # the first block that prints
    assert program_source("```python\nprint(7)") == "print(7)"  # an unclosed block (cut-off generation)


def test_the_printed_answer_is_the_last_non_empty_line():
    assert printed_answer("3\n  42  \n\n") == "42"
    assert printed_answer("") is None and printed_answer("\n \n") is None
    assert program_prediction("42") == "The answer is 42"


# ---------------------------------------------------------------------------- the decoding itself
QUESTIONS = {  # question -> (gold, PoT completion, CoT completion or None when it must not be asked)
    "q-program": ("42", "a = 6\nb = 7\nprint(a * b)", None),
    "q-text": ("9", "6 + 3 = 9\n#### 9", None),
    "q-error": ("5", "print(1 / 0)", "2 + 3 = 5\n#### 5"),
    "q-hostile": ("4", "import os\nos.system('true')\nprint(4)", "#### 4"),
    "q-silent": ("3", "x = 3\nprint()", "#### 3"),
    "q-no-number": ("8", "print('eight')", "#### 7"),
    "q-no-answer": ("2", "I cannot say.", "I still cannot say."),
}


class ScriptedModel:
    """Completes the PoT prompt and the plain prompt of each question as QUESTIONS says; records calls."""

    def __init__(self, template: str = "short"):
        self.template = template
        self.calls: list[list[str]] = []
        self.replies = {}
        for question, (_, pot, cot) in QUESTIONS.items():
            self.replies[format_prompt(pot_question(question), template)] = pot
            if cot is not None:
                self.replies[format_prompt(question, template)] = cot

    def prompt(self, question: str) -> str:
        return format_prompt(question, self.template)

    def __call__(self, prompts: list[str]) -> list[str]:
        self.calls.append(list(prompts))
        return [self.replies[prompt] for prompt in prompts]


@pytest.fixture()
def decoded(tmp_path):
    model = ScriptedModel()
    questions = list(QUESTIONS)
    golds = [gold_answer(QUESTIONS[q][0], "gsm8k") for q in questions]
    items = hybrid_decode(questions, golds, model, model.prompt, scoring="gsm8k", limits=LIMITS, workers=2,
                          temp_root=tmp_path)
    assert list(tmp_path.iterdir()) == []
    return model, dict(zip(questions, items))


def test_every_question_is_asked_with_the_trigger_and_only_the_unanswered_ones_again(decoded):
    model, _ = decoded
    first, second = model.calls
    assert first == [format_prompt(f"{q} Let's write a program.", "short") for q in QUESTIONS]
    assert second == [format_prompt(q, "short") for q, (_, _, cot) in QUESTIONS.items() if cot is not None]


def test_each_item_records_the_path_that_answered_it(decoded):
    _, items = decoded
    assert {q: item["answer_source"] for q, item in items.items()} == {
        "q-program": "program", "q-text": "pot_text", "q-error": "cot", "q-hostile": "cot", "q-silent": "cot",
        "q-no-number": "cot", "q-no-answer": "cot",
    }
    assert {q: (item["scored"]["extracted"], item["scored"]["correct"]) for q, item in items.items()} == {
        "q-program": ("42", True), "q-text": ("9", True), "q-error": ("5", True), "q-hostile": ("4", True),
        "q-silent": ("3", True), "q-no-number": ("7", False), "q-no-answer": (None, False),
    }
    program = items["q-program"]
    assert program["generation"] == program["pot_generation"] == QUESTIONS["q-program"][1]
    assert program["prediction"] == "The answer is 42"
    assert program["program"] == {"ok": True, "stdout": "42\n", "error": None, "message": "", "answer": "42"}
    assert items["q-text"]["program"] is None and items["q-text"]["prediction"] == "6 + 3 = 9\n#### 9"
    fallback = items["q-error"]
    assert fallback["generation"] == fallback["prediction"] == "2 + 3 = 5\n#### 5"
    assert fallback["pot_generation"] == "print(1 / 0)"
    assert fallback["program"]["error"] == "exception" and fallback["program"]["answer"] is None
    assert fallback["program"]["message"] == "ZeroDivisionError: division by zero"
    assert items["q-hostile"]["program"]["error"] == "forbidden"
    assert items["q-silent"]["program"] == {"ok": True, "stdout": "\n", "error": None, "message": "",
                                            "answer": None}
    assert items["q-no-number"]["program"]["answer"] == "eight"  # ran, but no number: the fallback answers
    assert items["q-no-answer"]["program"] is None and items["q-no-answer"]["scored"]["invalid"]


def test_the_summary_counts_the_paths_and_the_program_outcomes(decoded):
    _, items = decoded
    summary = hybrid_summary(list(items.values()))
    assert summary["answer_sources"] == {"program": 1, "pot_text": 1, "cot": 5}
    assert list(summary["answer_sources"]) == list(ANSWER_SOURCES)
    assert summary["program_rate"] == pytest.approx(1 / 7)
    assert summary["fallback_rate"] == pytest.approx(5 / 7)
    assert summary["programs"]["written"] == 5 and summary["programs"]["ran"] == 3
    assert summary["programs"]["errors"] == {"syntax": 0, "forbidden": 1, "timeout": 0, "memory": 0,
                                             "output_too_large": 0, "exception": 1}


def test_no_second_pass_when_every_question_is_answered(tmp_path):
    calls = []

    def generate(prompts):
        calls.append(prompts)
        return ["print(3 + 4)"] * len(prompts)

    items = hybrid_decode(["a", "b"], ["7", "8"], generate, lambda q: q, scoring="gsm8k", limits=LIMITS,
                          temp_root=tmp_path)
    assert calls == [["a Let's write a program.", "b Let's write a program."]]
    assert [(item["answer_source"], item["scored"]["correct"]) for item in items] == [("program", True),
                                                                                      ("program", False)]


def test_math_answers_printed_by_programs_are_compared_as_math(tmp_path):
    completions = ["from fractions import Fraction\nprint(Fraction(6, 8))", "print(2**10)"]
    results = run_programs(completions, LIMITS, temp_root=tmp_path)
    answers = [printed_answer(result.stdout) for result in results]
    assert answers == ["3/4", "1024"]
    assert score_item(program_prediction(answers[0]), "\\frac{3}{4}", "math")["correct"]
    assert score_item(program_prediction(answers[1]), "1024", "math")["correct"]


def test_programs_keep_their_order_when_run_at_once(tmp_path):
    completions = [f"print({i} * {i})" if i % 3 else f"text {i}" for i in range(9)]
    results = run_programs(completions, LIMITS, workers=4, temp_root=tmp_path)
    assert [None if r is None else r.stdout for r in results] == [
        None if i % 3 == 0 else f"{i * i}\n" for i in range(9)]


def test_the_training_sets_programs_print_their_records_answers(tmp_path):
    """The PoT rationales of the ``mammoth`` training set (cotmask.data.augment.pot_mix on GSM-style and
    MATH-style problems) are programs that run in the sandbox and print the record's answer."""
    from cotmask.data import SOURCES, gsm_synth, math_synth
    from cotmask.data.augment import OPTIONS, pot_mix
    from cotmask.data.options import resolve_options

    gsm, _ = gsm_synth.build_source_records("gsm_synth", SOURCES["gsm_synth"].resolve({"n_train": 6, "n_test": 1}))
    math, _ = math_synth.build_source_records("math_synth", SOURCES["math_synth"].resolve({"n_train": 6, "n_test": 1}))
    options = resolve_options("pot_mix", OPTIONS["pot_mix"], {"pot_fraction": 1.0, "include_cot": False})
    records, _ = pot_mix([("gsm", gsm["train"]), ("math", math["train"])], options)
    assert len(records) == 12 and all(r["question"].endswith(" Let's write a program.") for r in records)
    results = run_programs([r["solution"] for r in records], LIMITS, temp_root=tmp_path)
    for record, result in zip(records, results):
        assert result is not None and result.ok, (record["solution"], result)
        scoring = "gsm8k" if record["source"] == gsm_synth.SOURCE else "math"
        scored = score_item(program_prediction(printed_answer(result.stdout)), record["answer"], scoring)
        assert scored["correct"], (record["solution"], result.stdout, record["answer"])


# ------------------------------------------------------------------------------ the workflow's plan
def _plan(name: str, edit=None):
    from pathlib import Path

    import yaml

    from cotmask.plan import Plan, validated_config

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / f"{name}.yaml").read_text())
    if edit is not None:
        edit(config)
    return Plan(validated_config(config))


HYBRID_KEYS = {"hybrid", "pot_trigger", "program_timeout_s", "program_memory_mb"}


def test_the_plan_gives_hybrid_decoding_to_the_cells_of_its_train_sets_only():
    plan = _plan("full")
    hybrid = {(r["model"], r["train_set"], r["method"], r["seed"], r["benchmark"])
              for r in plan.index_records if r["decoding"] == "hybrid"}
    assert hybrid == {(model, "mammoth", method, seed, benchmark) for model in ("llama", "mistral")
                      for method in ("sft", "sft_long", "mft") for seed in (1, 2, 3)
                      for benchmark in ("gsm_test", "math_test")}
    assert plan.evaluation_plan("llama", "mammoth", "mft", 1) == [
        ("gsm_test", "calc"), ("gsm_test", "hybrid"), ("gsm_test", "plain"), ("math_test", "hybrid"),
        ("math_test", "plain")]
    runs = {run["name"]: run for run in plan.evaluation_jobs("llama", "mammoth", "mft", 1)}
    assert {key: runs["math_test.hybrid"][key] for key in HYBRID_KEYS | {"calculator", "scoring"}} == {
        "hybrid": True, "pot_trigger": "Let's write a program.", "program_timeout_s": 5.0,
        "program_memory_mb": 512, "calculator": False, "scoring": "math"}
    assert not HYBRID_KEYS & set(runs["math_test.plain"]) and not HYBRID_KEYS & set(runs["gsm_test.calc"])


def test_the_paper_config_evaluates_the_mathinstruct_cells_with_hybrid_decoding():
    plan = _plan("paper")
    hybrid = {(r["model"], r["train_set"], r["benchmark"]) for r in plan.index_records if r["decoding"] == "hybrid"}
    assert hybrid == {(model, "mathinstruct", benchmark) for model in ("llama2-7b", "mistral-7b")
                      for benchmark in ("gsm8k_test", "math_test")}


@pytest.mark.parametrize("name", ["config", "smoke", "same-distribution"])
def test_configs_without_hybrid_decoding_plan_no_hybrid_setting(name):
    """Off by default: the evaluate jobs' params of these configs are what they were before it existed."""
    plan = _plan(name)
    assert plan.config["hybrid"]["train_sets"] == []
    for key in plan.evaluation_plans:
        for run in plan.evaluation_jobs(*key):
            assert not HYBRID_KEYS & set(run) and not run["name"].endswith(".hybrid")


def test_hybrid_settings_reach_the_runs_and_an_unknown_train_set_is_named():
    from cotmask.plan import ConfigError

    def settings(config):
        config["hybrid"] = {"train_sets": ["metamath"], "pot_trigger": "", "timeout_s": 2, "memory_mb": 256}

    plan = _plan("smoke", settings)
    runs = [run for key in plan.evaluation_plans for run in plan.evaluation_jobs(*key) if run.get("hybrid")]
    assert runs and {(run["pot_trigger"], run["program_timeout_s"], run["program_memory_mb"]) for run in runs} == {
        ("", 2.0, 256)}
    assert {run["name"] for run in runs} == {"math_test.hybrid"}

    with pytest.raises(ConfigError, match=r"hybrid\.train_sets\[1\]: unknown train set 'mamoth'"):
        _plan("smoke", lambda config: config.update(hybrid={"train_sets": ["gsm", "mamoth"]}))
