"""Floors of a benchmark (cotmask.floors): question-only heuristics scored with the benchmark's comparison."""

from __future__ import annotations

import json

import pytest

from cotmask import cli, floors

# question numbers -> which heuristics hit the gold answer
RECORDS = [
    # [3, 4] -> 7: the sum only
    {"question": "Tom has 3 apples and buys 4 more. How many apples?", "answer": "3+4=7\n#### 7"},
    # [5, 1200] -> 1200: last, largest, a question number ("1,200" is one number)
    {"question": "A shop had 5 crates and now has 1,200 pens. How many pens?", "answer": "#### 1200"},
    # [9, 2, 4, 6] -> 9: first, largest, a question number
    {"question": "Ann is 9. Her 2 brothers are 4 and 6. How old is Ann?", "answer": "#### 9"},
    # [2, 30, 1, 60, 111] -> 9: nothing (but 9 is the set's most common answer, with item 2)
    {"question": "Ben reads 2 books of 30 pages and 1 of 60 pages minus 111.", "answer": "#### 9"},
]


def test_each_heuristic_hits_what_it_should():
    result = floors.answer_floors(RECORDS)
    assert result["n"] == 4
    assert result["most_common_answer"] == "9"
    assert result["floors"] == {
        "last_number": 25.0,
        "first_number": 25.0,
        "largest_number": 50.0,
        "sum_of_numbers": 25.0,
        "most_common_answer": 50.0,
        "any_question_number": 50.0,
    }


def test_question_numbers():
    text = "It has 1,200 pens, 3.5 kg and -2 degrees; room 7b, step2."
    assert floors.question_numbers(text) == [1200.0, 3.5, -2.0, 7.0]


def test_math_answers_compare_as_math():
    records = [
        {"question": "Compute $\\frac{1}{2} + \\frac{1}{2}$.", "answer": "So it is $\\boxed{1}$."},
        {"question": "What is $2 \\cdot 3$?", "answer": "$\\boxed{6}$"},
    ]
    result = floors.answer_floors(records, "math")
    assert result["floors"]["first_number"] == 50.0  # the 1 of item 0
    assert result["floors"]["any_question_number"] == 50.0
    assert result["floors"]["sum_of_numbers"] == 0.0  # 6 for item 0, 5 for item 1


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown scoring 'gsm'"):
        floors.answer_floors(RECORDS, "gsm")
    with pytest.raises(ValueError, match="no records"):
        floors.answer_floors([])


def test_cli(tmp_path, capsys):
    path = tmp_path / "test.jsonl"
    records = [
        {"id": f"q{i}", "solution": r["answer"], "source": "test", **r} for i, r in enumerate(RECORDS)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert cli.main(["floors", "--data", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[str(path)]["floors"]["sum_of_numbers"] == 25.0
