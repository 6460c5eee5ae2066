"""Final-answer rules of :mod:`cotmask.answers`, and the gold answers the loaders read from every fixture
record in the sources' own formats (tests/fixtures/hub), checked against the answer each format states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotmask.answers import (
    boxed_answer,
    extract_answer,
    final_answer,
    first_number,
    gsm8k_answer,
    last_stated_or_boxed,
    normalize_number,
    numeric_answer,
    parse_number,
    stated_answer,
)
from cotmask.data import build_source
from cotmask.data.hub import HUB_SOURCES, MATH_SUBJECTS, UNEXTRACTED, local_files, read_rows
from cotmask.data.validate import final_answer_problem
from cotmask.records import read_jsonl
from cotmask.scoring import score_item

HUB = Path(__file__).parent / "fixtures" / "hub"

GSM8K_EXTRACTION = [
    ("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "72"),
    ("#### 1,234", "1234"),
    ("#### 1,234.50", "1234.50"),
    ("#### $1,234", "1234"),
    ("#### $18.", "18"),
    ("#### 18.", "18"),
    ("#### -5", "-5"),
    ("#### -$5", "-5"),
    ("#### - 5", "-5"),
    ("#### 0.25", "0.25"),
    ("#### .5", ".5"),
    ("#### 18 apples", "18"),
    ("#### 18 dollars.", "18"),
    ("####18", "18"),
    ("#### 3/4", "3/4"),
    ("#### 18\nQuestion: next\n#### 99", "18"),  # the first answer line counts
    ("#### \u22127", "-7"),
    ("#### 1,000,000", "1000000"),
    ("no answer here", None),
    ("#### ", None),
    ("####\n18", None),  # the number must be on the marker's line
    ("#### about 18", None),
    ("The answer is: 18", None),
    ("", None),
]

METAMATH_EXTRACTION = [
    ("Step.\nThe answer is: 18", "18"),
    ("The answer is 18.", "18"),
    ("The answer is: $\\frac{1}{2}$", "\\frac{1}{2}"),
    ("the answer is: 7 apples.", "7 apples"),
    ("THE ANSWER IS 4", "4"),
    ("The answer is: 5\nThe answer is: 6", "6"),  # the last one counts
    ("The answer is 5. No, the answer is 6.", "6"),  # also on one line
    ("The answer is: 18\nQuestion: something else", "18"),
    ("The answer is: 3.5.", "3.5"),
    ("So the answer is $\\boxed{\\frac{2}{3}}$.", "\\frac{2}{3}"),  # a box inside the stated answer is unwrapped
    ("The answer is: 6 \\boxed{7}", "7"),
    ("The answer is: \\boxed{\\frac{1}{2}", "\\boxed{\\frac{1}{2}"),  # an unclosed box is kept as written
    ("The answer is:", None),
    ("The answer is:\n18", None),  # the answer must be on the marker's line
    ("#### 18", None),
]

BOXED_EXTRACTION = [
    ("so $\\boxed{\\frac{3}{4}}$.", "\\frac{3}{4}"),
    ("\\boxed{x=2}", "x=2"),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
    ("first \\boxed{1} then \\boxed{2}", "2"),
    ("\\fbox{7}", "7"),
    ("\\boxed 5.", "5"),
    ("\\boxed {5}", "5"),
    ("\\boxed{ 12 }", "12"),
    ("\\boxed{\\frac{1}{2}", None),  # unbalanced: the generation was cut off
    ("\\boxed{}", None),
    ("no box", None),
]


@pytest.mark.parametrize(("text", "expected"), GSM8K_EXTRACTION)
def test_gsm8k_rule(text, expected):
    assert gsm8k_answer(text) == expected
    assert extract_answer(text, "gsm8k") == expected


@pytest.mark.parametrize(("text", "expected"), METAMATH_EXTRACTION)
def test_stated_answer_rule(text, expected):
    assert stated_answer(text) == expected
    assert extract_answer(text, "metamath") == expected


@pytest.mark.parametrize(("text", "expected"), BOXED_EXTRACTION)
def test_boxed_rule(text, expected):
    assert boxed_answer(text) == expected
    assert extract_answer(text, "boxed") == expected


def test_extract_auto_order():
    assert extract_answer("#### 5\nThe answer is: 6 \\boxed{7}", "auto") == "5"
    assert extract_answer("The answer is: 6\nso \\boxed{7}", "auto") == "6"
    assert extract_answer("so \\boxed{7}", "auto") == "7"
    assert extract_answer("nothing", "auto") is None
    assert extract_answer(None, "auto") is None
    with pytest.raises(ValueError, match="unknown extraction style"):
        extract_answer("x", "nope")


def test_last_stated_or_boxed_takes_the_later_marker():
    assert last_stated_or_boxed("\\boxed{2} hmm.\nThe answer is: 3") == "3"
    assert last_stated_or_boxed("The answer is: 3\nWait, \\boxed{2}") == "2"
    assert last_stated_or_boxed("The answer is: 3\nWait, \\boxed{2") == "3"  # unclosed box: the other marker
    assert last_stated_or_boxed("nothing") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("18", 18.0), ("-$5.", -5.0), ("1,234.50", 1234.5), ("3/4", 0.75), ("\\frac{3}{4}", 0.75),
     ("\\dfrac{-1}{4}", -0.25), ("18 apples", 18.0), ("50\\%", 50.0), ("1/0", None), ("abc", None),
     (None, None), (7, 7.0), (float("inf"), None)],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


def test_parse_number_strict_refuses_expressions():
    assert parse_number("18 apples", strict=True) == 18.0
    assert parse_number("5\\sqrt{2}", strict=True) is None
    assert parse_number("x = 5", strict=True) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [("1,000", "1000"), ("$18.00", "18.00"), ("18.", "18"), (" -5 ", "-5"), ("- 5", "-5"), ("3/4", "3/4"),
     ("\u22127", "-7"), ("18 apples", None), ("1 2", None), ("\\frac{1}{2}", None), ("x", None), ("", None),
     ("1/0", None)],
)
def test_normalize_number_accepts_one_number_only(text, number):
    assert normalize_number(text) == number


def test_first_number_anchored():
    assert first_number("about -$1,234.50 total") == "-1234.50"
    assert first_number("about 18", anchored=True) is None
    assert first_number(" $18 apples", anchored=True) == "18"
    assert first_number(None) is None


def test_numeric_answer_lenient_for_predictions_strict_for_golds():
    stated_fraction = "The mean is 32/5.\nThe answer is: \\frac{32}{5}"
    assert numeric_answer(stated_fraction) == "32"  # MetaMath eval_gsm8k: the first number after the marker
    assert numeric_answer(stated_fraction, strict=True) is None  # a GSM gold must be one number
    assert numeric_answer("So 18.\nThe answer is: $18.", strict=True) == "18"
    assert numeric_answer("#### 5\nThe answer is: 6", strict=True) == numeric_answer("#### 5\nThe answer is: 6") == "5"
    assert numeric_answer("no marker") is None


def test_final_answer_of_bare_answers_and_solutions():
    assert final_answer(" 72 ") == "72"
    assert final_answer(18) == "18"
    assert final_answer("Half is <<48/2=24>>24.\n#### 1,234") == "1234"
    assert final_answer("So the area is $\\boxed{\\frac{3}{4}}$.") == "\\frac{3}{4}"
    assert final_answer("Thus x = 2.\nThe answer is: 2") == "2"
    assert final_answer("\\frac{1}{2}") == "\\frac{1}{2}"
    with pytest.raises(ValueError, match="empty"):
        final_answer(" ")


def test_several_hash_lines_first_counts_for_gold_and_prediction(tmp_path):
    """One rule on both sides: the loader's gold, the validator and the scorer all read the first ``####``."""
    solution = "She has 3*6 = <<3*6=18>>18.\n#### 18\nQuestion: and then?\nShe has 99.\n#### 99"
    rows = tmp_path / "train.jsonl"
    rows.write_text(json.dumps({"question": "How many?", "answer": solution}) + "\n", encoding="utf-8")
    build_source("gsm8k", str(tmp_path / "out"), local_path=str(rows), splits=["train"])
    record = read_jsonl(tmp_path / "out" / "train.jsonl")[0]
    assert record["answer"] == "18"
    assert final_answer_problem(record) is None
    assert final_answer_problem({**record, "answer": "99"}) == "solution's #### line gives '18' but answer is '99'"
    assert score_item(solution, solution, "gsm8k") == {
        "extracted": "18", "gold": "18", "correct": True, "invalid": False,
        "flexible_extracted": "99", "flexible_correct": False,  # lm-eval's flexible rule: the last number
    }
    assert score_item("#### 99", solution, "gsm8k")["correct"] is False


# ------------------------------------------------------------------------- fixtures in the hub formats
def _hash_line(text: str) -> str:
    """The answer a GSM8K-format solution states: its one ``#### N`` line, N without commas."""
    lines = [line for line in text.splitlines() if line.startswith("#### ")]
    assert len(lines) == 1, text
    return lines[0][len("#### "):].replace(",", "")


def _last_line_after(text: str, prefix: str) -> str:
    """The answer stated by the last line ``{prefix}X`` (MetaMathQA's ``The answer is: X``)."""
    last = text.strip().splitlines()[-1]
    assert last.startswith(prefix), text
    return last[len(prefix):]


def _check_boxed(solution: str, answer: str) -> str:
    """MATH states its answer in the solution's last box: the record's answer, boxed, is that box."""
    assert solution.rfind("\\boxed{") == solution.rfind(f"\\boxed{{{answer}}}") >= 0, (solution, answer)
    return answer


def _mathinstruct(row: dict, answer: str) -> str:
    if "print(" in row["output"]:
        return UNEXTRACTED  # program of thought: no stated answer, by design
    if "\\boxed{" in row["output"]:
        return _check_boxed(row["output"], answer)
    return _last_line_after(row["output"], "The answer is ")


def _first(field):
    def value(row):
        found = row[field]
        return found[0] if isinstance(found, list) else found
    return value


# (source, options, scoring kind, the solution of a raw row, the answer the raw row states)
FIXTURE_SOURCES = [
    ("gsm8k", {"local_path": "gsm8k"}, "gsm8k", _first("answer"),
     lambda row, answer: _hash_line(row["answer"])),
    ("gsm8k", {"local_path": "gsm8k_mft_train.json", "splits": ["train"]}, "gsm8k", _first("target"),
     lambda row, answer: _hash_line(row["target"][0])),
    ("gsm8k", {"local_path": "gsm8k_query_response.jsonl", "splits": ["test"]}, "gsm8k", _first("response"),
     lambda row, answer: _hash_line(row["response"])),
    ("gsm8k", {"local_path": "gsm8k_test.parquet", "splits": ["test"]}, "gsm8k", _first("answer"),
     lambda row, answer: _hash_line(row["answer"])),
    ("gsm8k_rft", {"local_path": ".", "variant": "u33b"}, "gsm8k", _first("response"),
     lambda row, answer: _hash_line(row["response"])),
    ("math", {"local_path": "math_train.json", "splits": ["train"]}, "math", _first("solution"),
     lambda row, answer: _check_boxed(row["solution"], answer)),
    ("math", {"local_path": "math_tree"}, "math", _first("solution"),
     lambda row, answer: _check_boxed(row["solution"], answer)),
    ("metamathqa", {"local_path": "metamathqa.json"}, "metamath", _first("response"),
     lambda row, answer: _last_line_after(row["response"], "The answer is: ")),
    ("mathinstruct", {"local_path": "mathinstruct.json"}, "auto", _first("output"), _mathinstruct),
    ("gsm_ic", {"local_path": "gsm_ic"}, "gsm8k", lambda row: f"#### {row['answer']}",
     lambda row, answer: str(row["answer"])),  # a string or a JSON number in the release
]


@pytest.mark.parametrize(
    ("source", "options", "scoring", "solution_of", "stated"), FIXTURE_SOURCES,
    ids=[f"{case[0]}:{case[1]['local_path']}" for case in FIXTURE_SOURCES],
)
def test_loader_golds_match_what_each_fixture_format_states(tmp_path, source, options, scoring, solution_of,
                                                            stated):
    options = {**options, "local_path": str(HUB / options["local_path"])}
    build_source(source, str(tmp_path / "out"), **options)
    hub = HUB_SOURCES[source]
    lookup = {"subjects": list(MATH_SUBJECTS), "variant": options.get("variant", "u33b"), **options}
    checked = 0
    for split in options.get("splits", hub.default_splits):
        raw = [row.data for path in local_files(hub, split, lookup) for row in read_rows(path)]
        records = read_jsonl(tmp_path / "out" / f"{split}.jsonl")
        assert records, split
        for record in records:
            row = raw[int(record["id"].rsplit("-", 1)[1])]
            assert record["answer"] == stated(row, record["answer"]), record["id"]
            if record["answer"] != UNEXTRACTED:
                # the gold solution read as a prediction gives the same answer, and scores as correct
                item = score_item(solution_of(row), record["answer"], scoring)
                assert (item["extracted"], item["correct"]) == (record["answer"], True), record["id"]
                assert final_answer_problem(record) is None
            checked += 1
    assert checked >= 2
