"""Equivalence, scoring and the ``cotmask score`` command (extraction rules: tests/test_answers.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cotmask.records import RecordError
from cotmask.scoring import (
    gold_answer,
    math_equal,
    numeric_equal,
    score_file,
    score_item,
    score_records,
)


def test_numeric_equal():
    assert numeric_equal("1234.50", "1,234.5")
    assert numeric_equal("18", 18)
    assert numeric_equal("18.00", "36/2")
    assert not numeric_equal("0.33333", "1/3")  # exact: no tolerance
    assert not numeric_equal("-5", "5")
    assert not numeric_equal(None, "5")
    assert not numeric_equal("five", "5")


@pytest.mark.parametrize(
    ("pred", "gold"),
    [("12345678901234567891", "12345678901234567890"),  # equal as floats (both 1.2345678901234567e19)
     ("7.0000001", "7"), ("7", "7.0000001"), ("0.1", "0.10000000000000001")],
)
def test_numbers_are_compared_exactly(pred, gold):
    assert abs(float(pred) - float(gold)) < 1e-4  # what the former tolerance called equal
    assert not numeric_equal(pred, gold)
    assert score_item(f"#### {pred}", gold, "gsm8k")["correct"] is False
    assert score_item(f"The answer is: {pred}", gold, "metamath")["correct"] is False
    assert score_item(f"#### {gold}", gold, "gsm8k")["correct"] is True


def test_a_gold_in_scientific_notation_is_read_exactly():
    assert score_item("#### 1", "1e5", "gsm8k")["correct"] is False
    assert score_item("#### 100,000", "1e5", "gsm8k")["correct"] is True
    assert score_item("#### 250", "2.5E+2", "gsm8k")["correct"] is True


@pytest.mark.parametrize("gold", ["about 18", "x = 5", "five", "5\\sqrt{2}", "18 or 19"])
def test_a_gsm8k_gold_that_is_not_a_number_is_an_error(gold):
    """No "first number of the gold" fallback: the scorer refuses the gold instead."""
    with pytest.raises(ValueError, match=re.escape(f"gold answer {gold!r} is not a number")):
        gold_answer(gold, "gsm8k")
    with pytest.raises(ValueError, match="is not a number"):
        score_item("#### 18", gold, "gsm8k")
    assert gold_answer(gold, "math") == gold  # other scoring kinds compare expressions


@pytest.mark.parametrize(
    ("generation", "strict", "flexible"),
    [
        ("3 + 4 = 7.\n#### 7", True, True),
        ("3 + 4 = 7. So she has 7 apples.", False, True),  # no #### line: strict misses, flexible finds 7
        ("#### 7\nQuestion: next one 12", True, False),  # rambling after the answer: the reverse
        ("It costs $1,200.", False, False),
        ("nothing", False, False),
        ("the change is 10 - 3 = 7", False, True),  # "- 3" is not read as -3 by the flexible rule
    ],
)
def test_flexible_gsm8k_score_is_the_last_number(generation, strict, flexible):
    item = score_item(generation, "7", "gsm8k")
    assert (item["correct"], item["flexible_correct"]) == (strict, flexible)
    assert "flexible_correct" not in score_item("\\boxed{7}", "7", "math")


@pytest.mark.parametrize(
    ("pred", "gold", "equal"),
    [
        ("\\frac{3}{4}", "0.75", True),
        ("3/4", "\\frac{3}{4}", True),
        ("0.75", "\\frac34", True),
        ("\\dfrac{1}{2}", "\\frac{1}{2}", True),
        ("x=2", "2", True),
        ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True),
        ("\\text{(B)}", "B", True),
        ("10\\%", "10", True),
        ("1,234", "1234", True),
        ("\\$18", "18", True),
        ("\\frac{3}{5}", "\\frac{3}{4}", False),
        ("5\\sqrt{2}", "5", False),
        ("-2", "2", False),
        ("", "2", False),
        (None, "2", False),
    ],
)
def test_math_equal(pred, gold, equal):
    assert math_equal(pred, gold) is equal


@pytest.mark.parametrize(
    ("reference", "scoring", "gold"),
    [
        ("Half is <<48/2=24>>24.\n#### 1,234", "gsm8k", "1234"),
        ("72", "gsm8k", "72"),
        (" 72 ", "gsm8k", "72"),
        ("So the area is $\\boxed{\\frac{3}{4}}$.", "math", "\\frac{3}{4}"),
        ("Thus x = 2.\nThe answer is: 2", "metamath", "2"),
        ("\\frac{1}{2}", "math", "\\frac{1}{2}"),
        (18, "gsm8k", "18"),
    ],
)
def test_gold_answer(reference, scoring, gold):
    assert gold_answer(reference, scoring) == gold


def test_gold_answer_checks_the_scoring_kind():
    with pytest.raises(ValueError, match="unknown scoring"):
        gold_answer("#### 5", "bleu")
    with pytest.raises(ValueError, match="empty reference"):
        gold_answer("  ", "gsm8k")


def test_score_item_gsm8k():
    assert score_item("blah\n#### 1,234.50", "1234.5", "gsm8k") == {
        "extracted": "1234.50", "gold": "1234.5", "correct": True, "invalid": False,
        "flexible_extracted": "1234.50", "flexible_correct": True}
    assert score_item("blah\n#### 17", "x\n#### 18", "gsm8k")["correct"] is False
    # MetaMath-style generations are scored too (fallback extraction).
    assert score_item("So 18 in total.\nThe answer is: 18", "18", "gsm8k") == {
        "extracted": "18", "gold": "18", "correct": True, "invalid": False,
        "flexible_extracted": "18", "flexible_correct": True}
    assert score_item("The answer is: $18.", "18", "gsm8k")["correct"] is True
    missing = score_item("I do not know", "18", "gsm8k")
    assert missing == {"extracted": None, "gold": "18", "correct": False, "invalid": True,
                       "flexible_extracted": None, "flexible_correct": False}
    assert score_item("The answer is: many", "18", "gsm8k")["invalid"] is True
    assert score_item("#### -3", "-3", "gsm8k")["correct"] is True


def test_score_item_metamath_and_math():
    assert score_item("The answer is: 18 apples", "18", "metamath")["correct"] is True
    assert score_item("The answer is: \\frac{1}{2}", "0.5", "metamath")["correct"] is True
    assert score_item("#### 18", "18", "metamath")["invalid"] is True
    assert score_item("so $\\boxed{\\frac{3}{4}}$", "$\\boxed{0.75}$", "math")["correct"] is True
    assert score_item("so $\\boxed{x=2}$", "2", "math")["correct"] is True
    assert score_item("so $\\boxed{3}$", "2", "math") == {"extracted": "3", "gold": "2", "correct": False,
                                                          "invalid": False}
    # A MetaMath MATH answer: "The answer is" after the box wins.
    assert score_item("\\boxed{2} hmm.\nThe answer is: 3", "3", "math")["extracted"] == "3"
    assert score_item("no answer", "3", "math")["invalid"] is True
    assert score_item("\\boxed{5}", "5", "auto")["correct"] is True
    with pytest.raises(ValueError, match="unknown scoring"):
        score_item("x", "1", "bleu")


def test_score_records_keeps_ids():
    items = score_records(
        [{"id": "a", "prediction": "#### 1", "answer": "1"}, {"prediction": "#### 2", "answer": "3"}], "gsm8k"
    )
    assert [item.get("id") for item in items] == ["a", None]
    assert [item["correct"] for item in items] == [True, False]


def _write_predictions(path: Path) -> None:
    rows = [
        {"id": "p1", "prediction": "Half is <<48/2=24>>24.\n#### 24", "answer": "24"},
        {"id": "p2", "prediction": "So 1,000 + 234.5.\n#### 1,234.50", "answer": "x <<1+1=2>>2\n#### 1,234.5"},
        {"id": "p3", "prediction": "The answer is: 18", "answer": "18"},
        {"id": "p4", "prediction": "#### 7", "answer": 8},
        {"id": "p5", "prediction": "I give up", "answer": "3"},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + "\n", encoding="utf-8")


def test_score_file_writes_summary_and_items(tmp_path):
    predictions = tmp_path / "pred.jsonl"
    _write_predictions(predictions)
    summary = score_file(predictions, tmp_path / "out" / "summary.json", "gsm8k", items_out=tmp_path / "items.jsonl")
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written == summary
    assert (summary["n"], summary["n_correct"]) == (5, 3)
    assert summary["accuracy"] == pytest.approx(0.6)
    assert summary["invalid_rate"] == pytest.approx(0.2)
    low, high = summary["ci95"]
    assert 0.0 <= low <= 0.6 <= high <= 1.0
    items = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text().splitlines()]
    assert [item["id"] for item in items] == ["p1", "p2", "p3", "p4", "p5"]
    assert [item["correct"] for item in items] == [True, True, True, False, False]
    assert [item["flexible_correct"] for item in items] == [True, True, True, False, False]
    assert items[1]["gold"] == "1234.5"
    assert (summary["flexible_accuracy"], summary["n_flexible_correct"]) == (pytest.approx(0.6), 3)


def test_flexible_accuracy_sits_beside_the_strict_one(tmp_path):
    predictions = tmp_path / "pred.jsonl"
    rows = [{"prediction": "so 4 apples", "answer": "4"}, {"prediction": "#### 5\nand 6", "answer": "5"},
            {"prediction": "#### 3", "answer": "3"}]
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    summary = score_file(predictions, tmp_path / "s.json", "gsm8k")
    assert (summary["n_correct"], summary["n_flexible_correct"]) == (2, 2)
    assert summary["accuracy"] == pytest.approx(2 / 3) == summary["flexible_accuracy"]
    math_rows = tmp_path / "math.jsonl"
    math_rows.write_text(json.dumps({"prediction": "\\boxed{4}", "answer": "4"}) + "\n", encoding="utf-8")
    assert "flexible_accuracy" not in score_file(math_rows, tmp_path / "m.json", "math")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prediction": "#### 1"}', r"bad\.jsonl:2: field 'answer' is missing"),
        ('{"answer": "1"}', r"bad\.jsonl:2: field 'prediction' is missing"),
        ('{"prediction": 5, "answer": "1"}', r"bad\.jsonl:2: field 'prediction' must be a string"),
        ('{"prediction": "x", "answer": ""}', r"bad\.jsonl:2: field 'answer' must be"),
        ('{"prediction": "x", "answer": 1', r"bad\.jsonl:2: invalid JSON"),
        ('[1, 2]', r"bad\.jsonl:2: expected a JSON object"),
        ('{"prediction": "x \\ud800", "answer": "1"}', r"bad\.jsonl:2: field 'prediction' holds a lone surrogate"),
        ('{"prediction": "x", "answer": "about 5"}',
         r"bad\.jsonl:2: field 'answer' gold answer 'about 5' is not a number"),
    ],
)
def test_score_file_bad_lines_name_file_and_line(tmp_path, line, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prediction": "#### 1", "answer": "1"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=message):
        score_file(bad, tmp_path / "s.json", "gsm8k")
    assert not (tmp_path / "s.json").exists()


def test_score_file_empty_and_missing(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(RecordError, match="no predictions"):
        score_file(empty, tmp_path / "s.json", "gsm8k")
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        score_file(tmp_path / "nope.jsonl", tmp_path / "s.json", "gsm8k")


def test_score_cli_in_process(tmp_path, capsys):
    import cotmask.cli

    predictions = tmp_path / "pred.jsonl"
    _write_predictions(predictions)
    code = cotmask.cli.main(["score", "--benchmark", "gsm8k", "--predictions", str(predictions),
                             "--out", str(tmp_path / "s.json"), "--items", str(tmp_path / "i.jsonl")])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["n_correct"] == 3
    assert json.loads((tmp_path / "s.json").read_text())["accuracy"] == pytest.approx(0.6)
    assert len((tmp_path / "i.jsonl").read_text().splitlines()) == 5


SUBPROCESS_SCRIPT = """
import sys
import cotmask.cli
code = cotmask.cli.main(sys.argv[1:])
heavy = sorted(name for name in ("torch", "transformers", "math_verify") if name in sys.modules)
print("HEAVY:" + ",".join(heavy))
sys.exit(code)
"""


def test_score_cli_subprocess_is_light(tmp_path):
    """``score`` (its whole command group registered) runs without importing torch or transformers."""
    predictions = tmp_path / "pred.jsonl"
    _write_predictions(predictions)
    args = ["score", "--benchmark", "gsm8k", "--predictions", str(predictions), "--out", str(tmp_path / "s.json")]
    result = subprocess.run([sys.executable, "-c", SUBPROCESS_SCRIPT, *args], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    assert "HEAVY:\n" in result.stdout  # nothing heavy was imported
    assert json.loads((tmp_path / "s.json").read_text())["n_correct"] == 3


def test_score_cli_console_script(tmp_path):
    """The installed ``cotmask`` entry point, as the workflow calls it (``score`` loads no torch: fast)."""
    import shutil

    executable = shutil.which("cotmask") or str(Path(sys.executable).parent / "cotmask")
    if not Path(executable).exists():
        pytest.skip("cotmask console script not installed")
    predictions = tmp_path / "pred.jsonl"
    _write_predictions(predictions)
    result = subprocess.run(
        [executable, "score", "--benchmark", "gsm8k", "--predictions", str(predictions), "--out",
         str(tmp_path / "s.json")], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "s.json").read_text())["n_correct"] == 3
