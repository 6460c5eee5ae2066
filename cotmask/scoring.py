"""Answer extraction and scoring for GSM8K-, MetaMath- and MATH-style generations.

Extraction styles (:func:`extract_answer`):

* ``gsm8k`` -- the number after the first ``####`` (the official ``#### (\\-?[0-9\\.\\,]+)`` rule, made
  tolerant: ``$`` signs, thousands commas, a trailing ``.``, units after the number and ``-$5`` are
  accepted; ``#### 1,234.50`` gives ``1234.50``).
* ``metamath`` -- the rest of the line after the *last* ``The answer is:`` / ``The answer is``
  (trailing ``.`` removed), as MetaMath's evaluators do.
* ``boxed`` -- the content of the *last* ``\\boxed{...}`` (or ``\\fbox{...}``) with balanced braces.
* ``auto`` -- ``gsm8k``, then ``metamath``, then ``boxed``.

Scoring kinds (:func:`score_item`):

* ``gsm8k`` -- numeric, ``|pred - gold| < 1e-4`` as in the official script; the answer is extracted with
  the ``gsm8k`` style, falling back to ``metamath`` so MetaMath-trained models can be scored too. A
  generation without a parseable number is *invalid* (and wrong).
* ``metamath`` -- ``The answer is`` extraction; a plain-number answer (units allowed) is compared
  numerically, anything else by :func:`math_equal`.
* ``math`` -- whichever of ``\\boxed{}`` and ``The answer is`` comes last in the text, compared by
  :func:`math_equal` (math-verify, with a Hendrycks-style string normalisation as fallback).
* ``auto`` -- ``auto`` extraction, compared like ``metamath``.

This module is imported by the ``cotmask score`` command and must stay light: ``math_verify`` (sympy) and
``numpy`` are imported only when needed, and torch/transformers never.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import threading
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

from cotmask.records import RecordError, iter_jsonl, write_json, write_jsonl

EXTRACTION_STYLES = ("gsm8k", "metamath", "boxed", "auto")
SCORING_KINDS = ("gsm8k", "metamath", "math", "auto")
NUMERIC_TOLERANCE = 1e-4
MATH_VERIFY_TIMEOUT_S = 5

_GSM8K_MARKER = re.compile(r"####([^\n]*)")
_ANSWER_IS = re.compile(r"the answer is\s*:?", re.IGNORECASE)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_BARE = re.compile(r"\\boxed\s+([^\s$]+)")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# A number with an optional decimal part or a simple fraction a/b.
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:/\d+(?:\.\d+)?)?")
_LATEX_FRAC = re.compile(r"^(-?)\\[dt]?frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}$")
_UNITS_TAIL = re.compile(r"^[A-Za-z%\s\.\-/]*$")


# --------------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------------
def _clean_numeric_text(text: str) -> str:
    """Remove what never changes a number: ``$``, ``\\$``, thousands commas, unicode minus, ``\\!``."""
    text = text.replace("\\$", "").replace("$", "").replace("\u2212", "-").replace("\\!", "")
    text = text.replace("\\,", "").replace("{,}", ",")
    return _THOUSANDS_COMMA.sub("", text).strip()


def _to_float(number: str) -> float | None:
    try:
        if "/" in number:
            numerator, denominator = number.split("/", 1)
            value = float(Fraction(numerator) / Fraction(denominator))
        else:
            value = float(number)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def parse_number(text: str | float | int | None, strict: bool = False) -> float | None:
    """The numeric value of an answer string, or ``None``.

    Lenient (default): the first number in the text (``"18 apples"`` -> 18, ``"-$5."`` -> -5,
    ``"1,234.50"`` -> 1234.5, ``"3/4"`` -> 0.75, ``"\\frac{3}{4}"`` -> 0.75). Strict: the text must be one
    number, optionally followed by plain words (units) and a final period.
    """
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text) if math.isfinite(text) else None
    cleaned = _clean_numeric_text(str(text))
    cleaned = re.sub(r"(?<=\d)\s*\\%|(?<=\d)\s*%", "", cleaned)
    frac = _LATEX_FRAC.match(cleaned.replace(" ", ""))
    if frac:
        sign, numerator, denominator = frac.groups()
        return _to_float(f"{sign}{numerator}/{denominator}".replace("--", ""))
    cleaned = re.sub(r"-\s+(?=[\d.])", "-", cleaned)
    match = _NUMBER.search(cleaned)
    if match is None:
        return None
    if strict and (cleaned[: match.start()].strip() or not _UNITS_TAIL.match(cleaned[match.end():])):
        return None
    return _to_float(match.group(0))


def numeric_equal(pred: str | float | None, gold: str | float | None, tol: float = NUMERIC_TOLERANCE) -> bool:
    """``|pred - gold| < tol`` after parsing both leniently; unparseable values are never equal."""
    pred_value, gold_value = parse_number(pred), parse_number(gold)
    if pred_value is None or gold_value is None:
        return False
    return abs(pred_value - gold_value) < tol


# --------------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------------
def _first_number(text: str | None, anchored: bool = False) -> str | None:
    """The first number of ``text`` as a clean string (``"-$1,234.50."`` -> ``"-1234.50"``), or None.

    With ``anchored`` the number must open the text (after ``$`` signs and spaces).
    """
    if text is None:
        return None
    cleaned = re.sub(r"-\s+(?=[\d.])", "-", _clean_numeric_text(text))
    number = _NUMBER.search(cleaned)
    if number is None or (anchored and cleaned[: number.start()].strip()):
        return None
    value = number.group(0)
    return value if _to_float(value) is not None else None


def _extract_gsm8k(text: str) -> str | None:
    match = _GSM8K_MARKER.search(text)
    return None if match is None else _first_number(match.group(1), anchored=True)


def _extract_metamath(text: str) -> str | None:
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end():]
    rest = rest.split("\n", 1)[0].strip().rstrip(".").rstrip()
    if len(rest) >= 2 and rest.startswith("$") and rest.endswith("$"):
        rest = rest.strip("$").strip()
    return rest or None


def _balanced_content(text: str, start: int) -> str | None:
    """Content from ``start`` (just after an opening brace) to its matching brace; None if unclosed."""
    depth = 1
    for position in range(start, len(text)):
        char = text[position]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start:position]
    return None


def _extract_boxed(text: str) -> str | None:
    matches = list(_BOXED.finditer(text))
    bare = list(_BOXED_BARE.finditer(text))
    if bare and (not matches or bare[-1].start() > matches[-1].start()):
        return bare[-1].group(1).rstrip(".") or None
    if not matches:
        return None
    content = _balanced_content(text, matches[-1].end())
    if content is None:
        return None
    content = content.strip()
    return content or None


_EXTRACTORS = {"gsm8k": _extract_gsm8k, "metamath": _extract_metamath, "boxed": _extract_boxed}


def extract_answer(text: str, style: str = "auto") -> str | None:
    """The final answer in ``text`` for an extraction ``style`` (see module doc), or ``None``."""
    if style == "auto":
        for name in ("gsm8k", "metamath", "boxed"):
            answer = _EXTRACTORS[name](text)
            if answer is not None:
                return answer
        return None
    try:
        extractor = _EXTRACTORS[style]
    except KeyError:
        raise ValueError(f"unknown extraction style {style!r}; choose one of {list(EXTRACTION_STYLES)}") from None
    return extractor(text or "")


def _extract_last_of_boxed_or_metamath(text: str) -> str | None:
    """For ``math`` scoring: the boxed or ``The answer is`` answer, whichever comes last."""
    boxed_at = max((m.start() for m in _BOXED.finditer(text)), default=-1)
    boxed_at = max(boxed_at, max((m.start() for m in _BOXED_BARE.finditer(text)), default=-1))
    answer_is_at = max((m.start() for m in _ANSWER_IS.finditer(text)), default=-1)
    order = ("metamath", "boxed") if answer_is_at > boxed_at else ("boxed", "metamath")
    for style in order:
        answer = extract_answer(text, style)
        if answer is not None:
            return answer
    return None


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
        content = _balanced_content(text, start + len(pattern))
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
    text = _THOUSANDS_COMMA.sub("", text)
    if re.fullmatch(r"-?\d+\.\d*", text):
        text = text.rstrip("0").rstrip(".")
    return text


def _math_verify_equal(pred: str, gold: str) -> bool:
    """math-verify's judgement; any error or timeout counts as 'not shown equal'."""
    try:
        from math_verify import parse, verify
        from math_verify.errors import TimeoutException
    except ImportError:  # pragma: no cover - math-verify is a dependency
        return False
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
    pred_value, gold_value = parse_number(pred, strict=True), parse_number(gold, strict=True)
    if pred_value is not None and gold_value is not None:
        return abs(pred_value - gold_value) < NUMERIC_TOLERANCE
    return math_equal(pred, gold)


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------
def _check_scoring(scoring: str) -> None:
    if scoring not in SCORING_KINDS:
        raise ValueError(f"unknown scoring {scoring!r}; choose one of {list(SCORING_KINDS)}")


def gold_answer(reference: str | float | int, scoring: str = "gsm8k") -> str:
    """The gold final answer of a bare answer or of a full solution.

    Solutions are recognised by ``#### N`` (GSM8K), ``\\boxed{}`` (MATH) or ``The answer is`` (MetaMath).
    """
    _check_scoring(scoring)
    text = str(reference).strip()
    if not text:
        raise ValueError("empty reference answer")
    for style in ("gsm8k", "boxed", "metamath"):
        answer = extract_answer(text, style)
        if answer is not None:
            return answer
    return text


def score_item(prediction: str, reference: str | float | int, scoring: str = "gsm8k") -> dict[str, Any]:
    """Score one generation: ``{"extracted", "gold", "correct", "invalid"}``.

    ``invalid`` means no answer could be extracted (for ``gsm8k``: no parseable number); invalid items
    are wrong.
    """
    _check_scoring(scoring)
    gold = gold_answer(reference, scoring)
    prediction = prediction or ""
    if scoring == "gsm8k":
        extracted = extract_answer(prediction, "gsm8k")
        if extracted is None:
            extracted = _first_number(extract_answer(prediction, "metamath"))
        invalid = extracted is None
        correct = (not invalid) and numeric_equal(extracted, gold)
    else:
        if scoring == "math":
            extracted = _extract_last_of_boxed_or_metamath(prediction)
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
    """Accuracy, counts, invalid rate and a 95% percentile-bootstrap interval over items."""
    from cotmask.stats import bootstrap_ci

    n = len(items)
    if n == 0:
        raise ValueError("no items to summarise")
    correct = [1.0 if item["correct"] else 0.0 for item in items]
    n_correct = int(sum(correct))
    low, high = bootstrap_ci(correct, n_resamples=n_bootstrap, seed=seed)
    return {
        "accuracy": n_correct / n,
        "n": n,
        "n_correct": n_correct,
        "invalid_rate": sum(1 for item in items if item["invalid"]) / n,
        "ci95": [low, high],
    }


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
                     "prediction": obj[prediction_key], "answer": str(answer)})
    if not rows:
        raise RecordError(path, None, None, "contains no predictions")
    return rows


def score_file(
    predictions_path: str | os.PathLike,
    out_path: str | os.PathLike,
    benchmark: str,
    items_out: str | os.PathLike | None = None,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score a predictions JSONL with scoring kind ``benchmark``; write the summary JSON (and per-item JSONL)."""
    _check_scoring(benchmark)
    rows = read_predictions(predictions_path)
    items = []
    for row in rows:
        item = score_item(row["prediction"], row["answer"], benchmark)
        items.append({"id": row["id"], "line": row["line"], "prediction": row["prediction"], **item})
    summary = summarize(items, n_bootstrap=n_bootstrap, seed=seed)
    summary.update({"scoring": benchmark, "predictions": str(predictions_path)})
    if items_out is not None:
        write_jsonl(items, items_out)
    write_json(summary, out_path)
    return summary


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------
def _score_command(args: argparse.Namespace) -> int:
    summary = score_file(args.predictions, args.out, args.benchmark, args.items, n_bootstrap=args.n_bootstrap)
    print(json.dumps({key: summary[key] for key in ("accuracy", "n", "n_correct", "invalid_rate", "ci95")}))
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask score``."""
    parser = subparsers.add_parser(
        "score",
        help="score a predictions JSONL (fields prediction, answer) without loading a model",
        description="Extract final answers from generations and score them against gold answers.",
    )
    parser.add_argument("--benchmark", required=True, choices=SCORING_KINDS, help="scoring kind")
    parser.add_argument("--predictions", required=True, help="JSONL with 'prediction' and 'answer' per line")
    parser.add_argument("--out", required=True, help="summary JSON to write")
    parser.add_argument("--items", default=None, help="optional per-item JSONL to write")
    parser.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples for ci95")
    parser.set_defaults(func=_score_command)
