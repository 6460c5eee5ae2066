"""Scoring of GSM8K-, MetaMath- and MATH-style generations against gold answers.

Final answers are read by :mod:`cotmask.answers` (the ``####``, ``The answer is`` and ``\\boxed{}`` rules,
the same for gold answers and predictions); this module decides whether two answers are equal and
summarises the items. Scoring kinds (:func:`score_item`):

* ``gsm8k`` -- numeric and exact (:func:`cotmask.answers.numbers_equal`: fractions, no float tolerance, so
  ``12345678901234567891`` is not ``12345678901234567890`` and ``7.0000001`` is not ``7``); the gold answer
  must be one number (else ValueError, checked before anything is scored) and the prediction's answer is
  :func:`cotmask.answers.numeric_answer` (the number after the first ``####``, else the first number after
  ``The answer is``, so MetaMath-trained models can be scored too). A generation without a parseable
  number is *invalid* (and wrong). Beside this strict score each item gets the *flexible* one of
  lm-evaluation-harness (the last number of the completion, :func:`cotmask.answers.last_number`):
  ``flexible_extracted`` and ``flexible_correct``, summarised as ``flexible_accuracy``; the tables use the
  strict score only.
* ``metamath`` -- ``The answer is`` extraction; a plain-number answer (units allowed) is compared
  exactly as a number, anything else by :func:`math_equal`.
* ``math`` -- whichever of ``\\boxed{}`` and ``The answer is`` comes last in the text, compared by
  :func:`math_equal` (math-verify, with a Hendrycks-style string normalisation as fallback).
* ``auto`` -- ``auto`` extraction, compared like ``metamath``.

This module is imported by the ``cotmask score`` command and must stay light: ``math_verify`` (sympy) and
``numpy`` are imported only when needed, and torch/transformers never.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cotmask.answers import (
    balanced_content,
    exact_number,
    extract_answer,
    final_answer,
    last_number,
    last_stated_or_boxed,
    numbers_equal,
    numeric_answer,
    parse_number,  # noqa: F401 - re-exported (cotmask.floors)
    remove_thousands_commas,
)
from cotmask.records import RecordError, iter_jsonl, write_json, write_jsonl

SCORING_KINDS = ("gsm8k", "metamath", "math", "auto")
MATH_VERIFY_TIMEOUT_S = 5


def numeric_equal(pred: str | int | None, gold: str | int | None) -> bool:
    """The prediction's first number equals the gold number exactly (:func:`cotmask.answers.numbers_equal`);
    a value that is not a number is never equal."""
    return numbers_equal(None if pred is None else str(pred), None if gold is None else str(gold))


# --------------------------------------------------------------------------------------------------
# Mathematical equivalence
# --------------------------------------------------------------------------------------------------
def _replace_braced(text: str, command: str) -> str:
    """``\\text{abc}`` -> ``abc`` for a command, braces balanced."""
    pattern = "\\" + command + "{"
    while True:
        start = text.find(pattern)
        if start < 0:
            return text
        content = balanced_content(text, start + len(pattern))
        if content is None:
            return text
        text = text[:start] + content + text[start + len(pattern) + len(content) + 1:]


def normalise_math_answer(answer: str) -> str:
    """A Hendrycks-style canonical string for LaTeX answers (fallback when math-verify cannot decide)."""
    text = answer.strip().replace("\n", "")
    text = text.rstrip(".").strip()
    if len(text) >= 2 and text.startswith("$") and text.endswith("$"):
        text = text.strip("$")
    for command in ("text", "textbf", "mbox", "mathrm"):
        text = _replace_braced(text, command)
    for old, new in (("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\ ", ""), ("\\left", ""), ("\\right", ""),
                     ("dfrac", "frac"), ("tfrac", "frac"), ("^{\\circ}", ""), ("^\\circ", ""),
                     ("\\$", ""), ("$", ""), ("\\%", ""), ("%", "")):
        text = text.replace(old, new)
    text = text.replace(" ", "")
    if "=" in text and len(text.split("=", 1)[0]) <= 2:
        text = text.split("=", 1)[1]
    text = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", text)
    text = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"\\frac\{([^{}]*)\}(\d)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"^(-?\d+)/(\d+)$", r"\\frac{\1}{\2}", text)
    text = re.sub(r"(^|[^\d])\.(\d)", r"\g<1>0.\2", text)
    text = remove_thousands_commas(text)
    if re.fullmatch(r"-?\d+\.\d*", text):
        text = text.rstrip("0").rstrip(".")
    return text


def _math_verify_equal(pred: str, gold: str) -> bool:
    """math-verify's judgement; any error or timeout counts as 'not shown equal'."""
    # math-verify (with sympy) takes about half a second to import and only MATH-style answers need it;
    # cotmask.scoring itself is imported by every data job and the workflow's planner (via cotmask.data.rft).
    from math_verify import parse, verify
    from math_verify.errors import TimeoutException

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    in_main_thread = threading.current_thread() is threading.main_thread()
    timeout = MATH_VERIFY_TIMEOUT_S if in_main_thread else None

    def wrap(text: str) -> str:
        return text if "$" in text or "\\boxed" in text else f"${text}$"

    try:
        gold_parsed = parse(wrap(gold), parsing_timeout=timeout)
        pred_parsed = parse(wrap(pred), parsing_timeout=timeout)
        if not gold_parsed or not pred_parsed:
            return False
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except (Exception, TimeoutException):
        return False


def math_equal(pred: str | None, gold: str | None) -> bool:
    """Whether two final answers are mathematically equal (math-verify, then normalised strings)."""
    if pred is None or gold is None or not str(pred).strip() or not str(gold).strip():
        return False
    pred, gold = str(pred), str(gold)
    pred_norm, gold_norm = normalise_math_answer(pred), normalise_math_answer(gold)
    if pred_norm and pred_norm == gold_norm:
        return True
    return _math_verify_equal(pred, gold)


def answers_equal(pred: str | None, gold: str | None) -> bool:
    """Numeric comparison when both answers are plain numbers (units allowed), else :func:`math_equal`."""
    if pred is None or gold is None:
        return False
    pred_value, gold_value = exact_number(pred, strict=True), exact_number(gold, strict=True)
    if pred_value is not None and gold_value is not None:
        return pred_value == gold_value
    return math_equal(pred, gold)


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------
def _check_scoring(scoring: str) -> None:
    if scoring not in SCORING_KINDS:
        raise ValueError(f"unknown scoring {scoring!r}; choose one of {list(SCORING_KINDS)}")


def gold_answer(reference: str | float | int, scoring: str = "gsm8k") -> str:
    """The gold final answer of a bare answer or of a full solution (:func:`cotmask.answers.final_answer`),
    after checking the scoring kind. For ``gsm8k`` it must be one number (units allowed): ValueError
    otherwise, instead of scoring against the first number found in it."""
    _check_scoring(scoring)
    gold = final_answer(reference)
    if scoring == "gsm8k" and exact_number(gold, strict=True) is None:
        raise ValueError(f"gold answer {gold!r} is not a number (scoring gsm8k compares numbers)")
    return gold


def score_item(prediction: str, reference: str | float | int, scoring: str = "gsm8k") -> dict[str, Any]:
    """Score one generation: ``{"extracted", "gold", "correct", "invalid"}``, for ``gsm8k`` also
    ``flexible_extracted`` and ``flexible_correct`` (the last number of the generation).

    ``invalid`` means no answer could be extracted (for ``gsm8k``: no parseable number); invalid items
    are wrong.
    """
    _check_scoring(scoring)
    gold = gold_answer(reference, scoring)
    prediction = prediction or ""
    if scoring == "gsm8k":
        return _score_gsm8k(prediction, gold)
    if scoring == "math":
        extracted = last_stated_or_boxed(prediction)
    else:
        extracted = extract_answer(prediction, "metamath" if scoring == "metamath" else "auto")
    invalid = extracted is None
    if invalid:
        correct = False
    elif scoring == "math":
        correct = math_equal(extracted, gold)
    else:
        correct = answers_equal(extracted, gold)
    return {"extracted": extracted, "gold": gold, "correct": bool(correct), "invalid": bool(invalid)}


def _score_gsm8k(prediction: str, gold: str) -> dict[str, Any]:
    """Strict (the official ``####`` rule) and flexible (the last number) GSM8K scores of one generation."""
    extracted = numeric_answer(prediction)
    flexible = last_number(prediction)
    return {
        "extracted": extracted,
        "gold": gold,
        "correct": extracted is not None and numeric_equal(extracted, gold),
        "invalid": extracted is None,
        "flexible_extracted": flexible,
        "flexible_correct": flexible is not None and numeric_equal(flexible, gold),
    }


def score_records(
    records: Iterable[dict],
    scoring: str = "gsm8k",
    *,
    prediction_field: str = "prediction",
    answer_field: str = "answer",
) -> list[dict[str, Any]]:
    """Score dicts holding a prediction and a reference; returns one :func:`score_item` dict per record
    (with the record's ``id`` when it has one)."""
    _check_scoring(scoring)
    items = []
    for record in records:
        item = score_item(record[prediction_field], record[answer_field], scoring)
        if "id" in record:
            item = {"id": record["id"], **item}
        items.append(item)
    return items


def summarize(items: list[dict], *, n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Accuracy, counts, invalid rate and a 95% percentile-bootstrap interval over items; with items that
    carry ``flexible_correct`` (gsm8k) also ``flexible_accuracy`` and ``n_flexible_correct``."""
    # numpy and scipy (1-2 s to import) only for the interval: every data job imports this module (via
    # cotmask.data.rft) and never summarises.
    from cotmask.stats import bootstrap_ci

    n = len(items)
    if n == 0:
        raise ValueError("no items to summarise")
    correct = [1.0 if item["correct"] else 0.0 for item in items]
    n_correct = int(sum(correct))
    low, high = bootstrap_ci(correct, n_resamples=n_bootstrap, seed=seed)
    summary = {
        "accuracy": n_correct / n,
        "n": n,
        "n_correct": n_correct,
        "invalid_rate": sum(1 for item in items if item["invalid"]) / n,
        "ci95": [low, high],
    }
    if all("flexible_correct" in item for item in items):
        n_flexible = sum(1 for item in items if item["flexible_correct"])
        summary.update({"flexible_accuracy": n_flexible / n, "n_flexible_correct": n_flexible})
    return summary


_PREDICTION_FIELDS = ("prediction", "generation")
_ANSWER_FIELDS = ("answer", "gold")


def read_predictions(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a predictions JSONL (``prediction`` or ``generation``; ``answer`` or ``gold``), checking every line."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file")
    rows = []
    for number, obj in iter_jsonl(path):
        if not isinstance(obj, dict):
            raise RecordError(path, number, None, f"expected a JSON object, got {type(obj).__name__}")
        prediction_key = next((key for key in _PREDICTION_FIELDS if key in obj), None)
        if prediction_key is None:
            raise RecordError(path, number, "prediction", "is missing")
        if not isinstance(obj[prediction_key], str):
            raise RecordError(path, number, prediction_key, "must be a string")
        answer_key = next((key for key in _ANSWER_FIELDS if key in obj), None)
        if answer_key is None:
            raise RecordError(path, number, "answer", "is missing")
        answer = obj[answer_key]
        if isinstance(answer, bool) or not isinstance(answer, (str, int, float)) or not str(answer).strip():
            raise RecordError(path, number, answer_key, "must be a non-empty string or a number")
        rows.append({"line": number, "id": obj.get("id", f"line{number}"),
                     "prediction": obj[prediction_key], "answer": str(answer), "answer_key": answer_key})
    if not rows:
        raise RecordError(path, None, None, "contains no predictions")
    return rows


def _gold_answers(rows: list[dict[str, Any]], path: str | os.PathLike, scoring: str) -> list[str]:
    """Every row's gold answer, checked before anything is scored (RecordError naming file and line)."""
    golds = []
    for row in rows:
        try:
            golds.append(gold_answer(row["answer"], scoring))
        except ValueError as error:
            raise RecordError(path, row["line"], row["answer_key"], str(error)) from None
    return golds


class ItemsNotWritten(OSError):
    """The per-item file of ``cotmask score`` could not be written; the summary was."""


def score_file(
    predictions_path: str | os.PathLike,
    out_path: str | os.PathLike,
    benchmark: str,
    items_out: str | os.PathLike | None = None,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score a predictions JSONL with scoring kind ``benchmark``; write the summary JSON (and per-item JSONL).

    Every line and gold answer is checked before anything is scored or written. When the per-item file
    cannot be written (a full disk, no permission), the summary is still written and
    :class:`ItemsNotWritten` says so."""
    _check_scoring(benchmark)
    rows = read_predictions(predictions_path)
    golds = _gold_answers(rows, predictions_path, benchmark)
    items = []
    for row, gold in zip(rows, golds):
        item = score_item(row["prediction"], gold, benchmark)
        items.append({"id": row["id"], "line": row["line"], "prediction": row["prediction"], **item})
    summary = summarize(items, n_bootstrap=n_bootstrap, seed=seed)
    summary.update({"scoring": benchmark, "predictions": str(predictions_path)})
    items_error: BaseException | None = None
    if items_out is not None:
        try:
            write_jsonl(items, items_out)
        except (OSError, ValueError) as error:
            items_error = error
    write_json(summary, out_path)
    if items_error is not None:
        reason = getattr(items_error, "strerror", None) or " ".join(str(items_error).split())
        raise ItemsNotWritten(f"{items_out}: per-item file not written ({reason}); the summary is in {out_path}")
    return summary
