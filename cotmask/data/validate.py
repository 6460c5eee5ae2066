"""Checking a records file: the schema of every line, unique ids, and that each solution's final answer
agrees with its ``answer`` field (GSM8K ``#### N``, MetaMath ``The answer is: X``, MATH ``\\boxed{}``), read
by :mod:`cotmask.answers` with the rules the loaders and the scorer use (for ``####``: the first one).

Program-of-thought solutions (``metadata.rationale == "pot"``) and records whose answer could not be
extracted at load time (``metadata.answer_extracted is False``) are schema-checked only.
"""

from __future__ import annotations

import os
from collections import Counter

from cotmask.answers import boxed_answer, exact_number, gsm8k_answer, normalize_number, stated_answer
from cotmask.records import RecordError, iter_jsonl, validate_record


def _same(a: str, b: str) -> bool:
    """Equal as numbers, exactly (both plain numbers, fractions allowed: ``18`` = ``18.0`` = ``36/2``, but
    ``7`` != ``7.0000001``), or as text up to spaces."""
    na, nb = normalize_number(a), normalize_number(b)
    if na is not None and nb is not None:
        return exact_number(na) == exact_number(nb)
    return a.replace(" ", "") == b.replace(" ", "")


def final_answer_problem(record: dict) -> str | None:
    """Why the solution's final answer disagrees with ``answer`` (None when it agrees or has no marker)."""
    meta = record.get("metadata") or {}
    if meta.get("rationale") == "pot" or meta.get("answer_extracted") is False:
        return None
    solution, answer = record["solution"], record["answer"]
    tail = solution.rstrip().split("\n")[-1]
    if tail.startswith("####"):
        found = gsm8k_answer(solution)
        style = "#### line"
    elif "answer is" in tail.lower():
        found = stated_answer(solution)
        style = "'The answer is' line"
    elif boxed_answer(solution) is not None:
        found = boxed_answer(solution)
        style = "last \\boxed{}"
    else:
        return None
    if found is None:
        return f"cannot read the final answer from the solution's {style}"
    if not _same(found, answer):
        return f"solution's {style} gives {found!r} but answer is {answer!r}"
    return None


def validate_file(path: str | os.PathLike, check_answers: bool = True) -> dict:
    """Validate every line of a records file; RecordError (file:line: field) at the first problem.

    Returns a small summary: number of records, sources and ``duplicate_rows`` (records repeating an
    earlier record's question and solution under another id: counted, not an error).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    seen: dict[str, int] = {}
    contents: set[tuple[str, str]] = set()
    duplicates = 0
    sources: Counter = Counter()
    n = 0
    for line, record in iter_jsonl(path):
        validate_record(record, path, line)
        if record["id"] in seen:
            raise RecordError(path, line, "id", f"duplicate id {record['id']!r} (first on line {seen[record['id']]})")
        seen[record["id"]] = line
        if check_answers:
            problem = final_answer_problem(record)
            if problem:
                raise RecordError(path, line, "answer", problem)
        content = (record["question"], record["solution"])
        duplicates += content in contents
        contents.add(content)
        sources[record["source"]] += 1
        n += 1
    if n == 0:
        raise RecordError(path, None, None, "no records")
    return {"path": str(path), "n": n, "sources": dict(sorted(sources.items())), "duplicate_rows": duplicates}
