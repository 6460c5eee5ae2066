"""Final answers of solutions and generations: one set of rules for gold answers and for predictions.

The data loaders (gold answers of the source datasets), :mod:`cotmask.data.validate`, RFT's correctness
check and :mod:`cotmask.scoring` (predictions) all read final answers with the functions below, so a gold
solution and a generation written the same way give the same answer.

Rules
-----
* **GSM8K** (:func:`gsm8k_answer`): the number that opens the rest of the line after the **first**
  ``####`` of the text -- the official regex (below), made tolerant: ``$`` signs, thousands commas
  (``1,234``), a unicode minus, ``- 5``, no space after ``####`` and a trailing ``.`` are accepted, words
  after the number are ignored (``#### 18 apples`` gives ``18``); ``#### about 18`` and a ``####`` line
  without a number give None. (The official regex drops every comma of its match, so ``#### 1,00`` is 100
  there and 1 here; no GSM8K answer is written that way.)
* **MetaMath** (:func:`stated_answer`): the rest of the line after the **last** ``The answer is`` (any case,
  optional ``:``), trailing periods removed; a ``$...$`` around it is removed and a ``\\boxed{...}`` inside
  it is unwrapped (``The answer is $\\boxed{5}$.`` gives ``5``). MathInstruct's ``The answer is 18``
  (no colon) is the same rule.
* **MATH** (:func:`boxed_answer`): the content of the **last** ``\\boxed{...}`` (or ``\\fbox{...}``) with
  balanced braces; ``\\boxed 5`` (no braces) gives ``5``; an unclosed box gives None.
* **Numbers** (:func:`parse_number`, :func:`first_number`, :func:`normalize_number`): ``"-$1,234.50."`` is
  ``-1234.50``; ``3/4`` and ``\\frac{3}{4}`` are fractions; a comma is a thousands separator only between
  a digit and exactly three digits.
* **Exact values** (:func:`exact_number`, :func:`numbers_equal`): answers are compared as fractions, never
  as floats: ``12345678901234567890`` and ``12345678901234567891`` differ, so do ``7`` and ``7.0000001``,
  while ``18``, ``18.00`` and ``36/2`` are equal. A whole-text number in scientific notation (``1e5``) is
  read exactly as a gold answer (strict), but a prediction's first number stops at the ``e`` (``1``), as the
  official regex does.
* **Flexible GSM8K** (:func:`last_number`): the last number anywhere in a completion, lm-evaluation-harness'
  "flexible-extract" of its gsm8k task, reported beside the strict ``####`` score.

``\\boxed{}`` is read here, not by ``math_verify.parse``
---------------------------------------------------------
``math_verify.parse`` (0.9, with ``boxed_match_priority=0``) gives a different answer than
:func:`boxed_answer` on 5 of the 12 box cases of ``tests/test_answers.py``: it joins several boxes into a set
(``1,2`` where Hendrycks' ``last_boxed_only_string`` and MetaMath read the last box, ``2``), it finds no
answer in ``\\fbox{7}``, ``\\boxed 5`` and ``\\boxed {5}``, and it reads an unclosed box of a cut-off
generation (``\\boxed{\\frac{1}{2}``) as an answer. It also imports sympy, which the loaders would then
pay for on every record. math-verify is used where it is strong: deciding whether two extracted LaTeX
answers are equal (:func:`cotmask.scoring.math_equal`).

Several ``####`` in one text: the first counts
----------------------------------------------
The paper's official GSM8K evaluation (shared/paper.md §4.4, "Main repo, GSM8K") reads the gold target
and every prediction with one function: ``extract_answer`` of ``evaluation/get_gsm8k_res.py`` in
github.com/ChangyuChen347/MaskedThought runs ``re.search`` with ``#### (\\-?[0-9\\.\\,]+)``, which returns
the **first** match. The same rule is applied here to both sides, so:

* a generation that writes ``#### 18`` and then rambles on (``Question: ... #### 99``) is scored on 18,
  which is also where :func:`cotmask.generation.answer_end` stops decoding and where RFT's
  ``clean_sample`` cuts a sample;
* a gold solution with several ``####`` lines gets the number of its first one as its answer, exactly as
  the official scorer would read that gold target, and the lines after it are never read. GSM8K and
  GSM8K-RFT solutions have one ``####`` line, and so do all 43,127 solutions of the committed study's
  datasets (``work/data``), so the rule only decides malformed inputs;
  :func:`cotmask.data.validate.final_answer_problem` reports a record whose ``answer`` field disagrees with
  that first ``####`` number. (39 of the study's 82,700 generations do write several ``####``; the scorer
  read their first one before this module existed too.)

``The answer is`` and ``\\boxed{}`` take the *last* occurrence, as MetaMath's ``eval_gsm8k.py`` /
``eval_math.py`` and Hendrycks' ``last_boxed_only_string`` do (§4.4).

Every extractor returns None when its marker is absent or unreadable; the loaders turn that into a
:class:`~cotmask.records.RecordError`, the scorer into an *invalid* item. This module imports nothing
heavy (no sympy, numpy or torch).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

EXTRACTION_STYLES = ("gsm8k", "metamath", "boxed", "auto")

GSM8K_MARKER = re.compile(r"####([^\n]*)")
ANSWER_IS = re.compile(r"the answer is\s*:?", re.IGNORECASE)
BOXED_OPENING = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_BARE = re.compile(r"\\boxed\s+([^\s$]+)")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# A number with an optional decimal part or a simple fraction a/b.
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:/\d+(?:\.\d+)?)?")
_LATEX_FRAC = re.compile(r"^(-?)\\[dt]?frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}$")
_UNITS_TAIL = re.compile(r"^[A-Za-z%\s\.\-/]*$")
_SPACED_MINUS = re.compile(r"-\s+(?=[\d.])")


# --------------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------------
def remove_thousands_commas(text: str) -> str:
    """``1,234,567`` -> ``1234567``; a comma not followed by exactly three digits stays."""
    return _THOUSANDS_COMMA.sub("", text)


def _clean_numeric_text(text: str) -> str:
    """Remove what never changes a number: ``$``, ``\\$``, thousands commas, unicode minus, ``\\!``."""
    text = text.replace("\\$", "").replace("$", "").replace("\u2212", "-").replace("\\!", "")
    text = text.replace("\\,", "").replace("{,}", ",")
    return remove_thousands_commas(text).strip()


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
    cleaned = _SPACED_MINUS.sub("-", cleaned)
    match = _NUMBER.search(cleaned)
    if match is None:
        return None
    if strict and (cleaned[: match.start()].strip() or not _UNITS_TAIL.match(cleaned[match.end():])):
        return None
    return _to_float(match.group(0))


_SCIENTIFIC = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d+")


def _exact(number: str) -> Fraction | None:
    try:
        if "/" in number:
            numerator, denominator = number.split("/", 1)
            return Fraction(numerator) / Fraction(denominator)
        return Fraction(number)
    except (ValueError, ZeroDivisionError):
        return None


def exact_number(text: str | int | None, strict: bool = False) -> Fraction | None:
    """The exact value of an answer (a :class:`~fractions.Fraction`), read as :func:`parse_number` reads it,
    or None. Strict also accepts one number in scientific notation (``"1e5"`` -> 100000). Floats are
    refused (their value is not the number that was written)."""
    if text is None or isinstance(text, (bool, float)):
        return None
    if isinstance(text, int):
        return Fraction(text)
    cleaned = _clean_numeric_text(str(text))
    cleaned = re.sub(r"(?<=\d)\s*\\%|(?<=\d)\s*%", "", cleaned)
    frac = _LATEX_FRAC.match(cleaned.replace(" ", ""))
    if frac:
        sign, numerator, denominator = frac.groups()
        value = _exact(f"{numerator}/{denominator}")
        return None if value is None else (-value if sign else value)
    cleaned = _SPACED_MINUS.sub("-", cleaned)
    if strict and _SCIENTIFIC.fullmatch(cleaned.rstrip(".")):
        return _exact(cleaned.rstrip("."))
    match = _NUMBER.search(cleaned)
    if match is None:
        return None
    if strict and (cleaned[: match.start()].strip() or not _UNITS_TAIL.match(cleaned[match.end():])):
        return None
    return _exact(match.group(0))


def numbers_equal(pred: str | None, gold: str | int | None, strict_pred: bool = False) -> bool:
    """Whether a prediction's number (first number; with ``strict_pred`` one number) equals the gold answer,
    which must be one number (strict), exactly; False when either is not a number."""
    pred_value, gold_value = exact_number(pred, strict=strict_pred), exact_number(gold, strict=True)
    return pred_value is not None and gold_value is not None and pred_value == gold_value


def last_number(text: str | None) -> str | None:
    """The last number of ``text`` (``$``, thousands commas removed; ``- 5`` is ``5``), or None: the
    "flexible" GSM8K answer of lm-evaluation-harness."""
    if not text:
        return None
    numbers = [m.group(0) for m in _NUMBER.finditer(_clean_numeric_text(text)) if _exact(m.group(0)) is not None]
    return numbers[-1] if numbers else None


def first_number(text: str | None, anchored: bool = False) -> str | None:
    """The first number of ``text`` as a clean string (``"-$1,234.50."`` -> ``"-1234.50"``), or None.

    With ``anchored`` the number must open the text (after ``$`` signs and spaces).
    """
    if text is None:
        return None
    cleaned = _SPACED_MINUS.sub("-", _clean_numeric_text(text))
    number = _NUMBER.search(cleaned)
    if number is None or (anchored and cleaned[: number.start()].strip()):
        return None
    value = number.group(0)
    return value if _to_float(value) is not None else None


def normalize_number(text: str) -> str | None:
    """The text as one clean number (``"1,000"`` -> ``"1000"``, ``"$18.00"`` -> ``"18.00"``), or None when
    it is anything else (words, an expression, two numbers)."""
    cleaned = _SPACED_MINUS.sub("-", _clean_numeric_text(str(text))).rstrip(".").strip()
    if not _NUMBER.fullmatch(cleaned):
        return None
    return cleaned if _to_float(cleaned) is not None else None


# --------------------------------------------------------------------------------------------------
# Markers
# --------------------------------------------------------------------------------------------------
def gsm8k_answer(text: str) -> str | None:
    """GSM8K: the number opening the line after the first ``####`` (see the module doc), or None."""
    match = GSM8K_MARKER.search(text or "")
    return None if match is None else first_number(match.group(1), anchored=True)


def balanced_content(text: str, start: int) -> str | None:
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


def boxed_answer(text: str) -> str | None:
    """MATH: the content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (braces balanced), or None."""
    text = text or ""
    matches = list(BOXED_OPENING.finditer(text))
    bare = list(_BOXED_BARE.finditer(text))
    if bare and (not matches or bare[-1].start() > matches[-1].start()):
        return bare[-1].group(1).rstrip(".") or None
    if not matches:
        return None
    content = balanced_content(text, matches[-1].end())
    if content is None:
        return None
    return content.strip() or None


def stated_answer(text: str) -> str | None:
    """MetaMath / MathInstruct: the rest of the line after the last ``The answer is[:]``, or None."""
    matches = list(ANSWER_IS.finditer(text or ""))
    if not matches:
        return None
    rest = text[matches[-1].end():].split("\n", 1)[0].strip().rstrip(".").rstrip()
    boxed = boxed_answer(rest)
    if boxed is not None:
        rest = boxed
    if len(rest) >= 2 and rest.startswith("$") and rest.endswith("$"):
        rest = rest.strip("$").strip()
    return rest or None


def numeric_answer(text: str, strict: bool = False) -> str | None:
    """A GSM-style final number: the ``####`` number, else the number after ``The answer is``; None when
    neither gives one.

    Lenient (predictions): the first number after ``The answer is``, MetaMath's ``eval_gsm8k.py`` rule
    (shared/paper.md §4.4). ``strict`` (gold solutions of GSM-style sources): the stated answer must be one
    number, so that ``The answer is: \\frac{32}{5}`` is refused instead of read as 32.
    """
    found = gsm8k_answer(text)
    if found is not None:
        return found
    stated = stated_answer(text)
    if stated is None:
        return None
    return normalize_number(stated) if strict else first_number(stated)


def last_stated_or_boxed(text: str) -> str | None:
    """MATH-style final answer: the ``\\boxed{}`` or ``The answer is`` answer, whichever comes last."""
    text = text or ""
    boxed_at = max((m.start() for m in BOXED_OPENING.finditer(text)), default=-1)
    boxed_at = max(boxed_at, max((m.start() for m in _BOXED_BARE.finditer(text)), default=-1))
    stated_at = max((m.start() for m in ANSWER_IS.finditer(text)), default=-1)
    order = (stated_answer, boxed_answer) if stated_at > boxed_at else (boxed_answer, stated_answer)
    for extract in order:
        answer = extract(text)
        if answer is not None:
            return answer
    return None


_EXTRACTORS = {"gsm8k": gsm8k_answer, "metamath": stated_answer, "boxed": boxed_answer}


def extract_answer(text: str, style: str = "auto") -> str | None:
    """The final answer in ``text`` for an extraction ``style``: ``gsm8k`` (:func:`gsm8k_answer`),
    ``metamath`` (:func:`stated_answer`), ``boxed`` (:func:`boxed_answer`) or ``auto`` (those three in
    that order); None when there is none."""
    if style == "auto":
        for name in ("gsm8k", "metamath", "boxed"):
            answer = _EXTRACTORS[name](text or "")
            if answer is not None:
                return answer
        return None
    try:
        extractor = _EXTRACTORS[style]
    except KeyError:
        raise ValueError(f"unknown extraction style {style!r}; choose one of {list(EXTRACTION_STYLES)}") from None
    return extractor(text or "")


def final_answer(reference: str | float | int) -> str:
    """The final answer of a bare answer (returned stripped) or of a full solution, recognised by
    ``#### N`` (GSM8K), then ``\\boxed{}`` (MATH), then ``The answer is`` (MetaMath)."""
    text = str(reference).strip()
    if not text:
        raise ValueError("empty reference answer")
    for extract in (gsm8k_answer, boxed_answer, stated_answer):
        answer = extract(text)
        if answer is not None:
            return answer
    return text
