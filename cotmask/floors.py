"""Floors of a benchmark: the accuracy of answers that need no model.

A tiny model's accuracy only means something when it is clearly above what reading numbers off the
question, or always giving one answer, already scores. :func:`answer_floors` scores such question-only
heuristics on a benchmark's records with the benchmark's own answer comparison:

``last_number``, ``first_number``, ``largest_number``
    one number of the question;
``sum_of_numbers``
    the sum of the question's numbers;
``most_common_answer``
    the set's most frequent gold answer, given to every item. It is chosen *with the labels*, so it is an
    upper bound for any constant answer, not a method;
``any_question_number``
    an oracle: the gold answer is one of the question's numbers. It bounds every "copy a number from
    the question" strategy from above.

No torch import: ``cotmask floors --data work/data/gsm/ic_mstep.jsonl`` runs in a second.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from cotmask.scoring import answers_equal, gold_answer, parse_number

NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")

#: heuristic name -> (question numbers -> predicted answer or None)
HEURISTICS: dict[str, Callable[[list[float]], float | None]] = {
    "last_number": lambda numbers: numbers[-1] if numbers else None,
    "first_number": lambda numbers: numbers[0] if numbers else None,
    "largest_number": lambda numbers: max(numbers) if numbers else None,
    "sum_of_numbers": lambda numbers: sum(numbers) if numbers else None,
}


def question_numbers(question: str) -> list[float]:
    """The numbers written in a question, in order (thousands separators allowed)."""
    values = (parse_number(match.group(0).replace(",", "")) for match in NUMBER.finditer(question))
    return [value for value in values if value is not None]


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def answer_floors(records: Sequence[dict], scoring: str = "gsm8k") -> dict[str, Any]:
    """Accuracy (%) of every question-only heuristic on ``records`` (each with ``question`` and ``answer``).

    Returns ``{"n": int, "floors": {name: percent}, "most_common_answer": str}``; the answer comparison is
    :func:`cotmask.scoring.answers_equal` on the gold answers that ``scoring`` extracts.
    """
    if not records:
        raise ValueError("no records to score")
    golds = [gold_answer(record["answer"], scoring) for record in records]  # checks ``scoring``
    numbers = [question_numbers(record["question"]) for record in records]
    hits: dict[str, int] = {name: 0 for name in HEURISTICS}
    copy_hits = 0
    for gold, found in zip(golds, numbers):
        for name, heuristic in HEURISTICS.items():
            guess = heuristic(found)
            hits[name] += guess is not None and answers_equal(_number_text(guess), gold)
        copy_hits += any(answers_equal(_number_text(value), gold) for value in found)
    constant, _ = Counter(golds).most_common(1)[0]
    constant_hits = sum(answers_equal(constant, gold) for gold in golds)
    n = len(records)
    floors = {name: 100.0 * count / n for name, count in hits.items()}
    floors["most_common_answer"] = 100.0 * constant_hits / n
    floors["any_question_number"] = 100.0 * copy_hits / n
    return {"n": n, "floors": floors, "most_common_answer": constant}
