"""Extracting gold final answers from solutions in the formats of the source datasets.

* GSM8K: the last line ``#### N`` (commas removed: ``#### 1,000`` → ``1000``).
* MetaMathQA: the text after the last ``The answer is:`` (MathInstruct writes ``The answer is 18``).
* MATH: the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced.

Each function returns None when the format is absent; the loaders turn that into a RecordError.
"""

from __future__ import annotations

import re

_GSM_FINAL = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
_ANSWER_IS = re.compile(r"[Tt]he answer is:?\s*(.+?)\s*$", re.MULTILINE)
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?(?:/\d+)?$")


def normalize_number(text: str) -> str | None:
    """``"1,000"`` → ``"1000"``, ``"$18.00"`` → ``"18.00"``; None unless the text is one number."""
    cleaned = text.strip().replace(",", "").replace("$", "").rstrip(".").strip()
    return cleaned if _NUMBER.match(cleaned) else None


def gsm_final(solution: str) -> str | None:
    """The number after the last ``####`` (GSM8K format), or None."""
    matches = _GSM_FINAL.findall(solution)
    if not matches:
        return None
    return normalize_number(matches[-1])


def answer_is(solution: str) -> str | None:
    """The text after the last ``The answer is[:]`` (MetaMath / MathInstruct), trailing period removed."""
    matches = _ANSWER_IS.findall(solution)
    if not matches:
        return None
    text = matches[-1].strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].strip()
    boxed = last_boxed(text)
    if boxed is not None:
        text = boxed
    if text.startswith("$") and text.endswith("$") and len(text) > 1:
        text = text.strip("$").strip()
    return text or None


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces, or None.

    ``\\boxed 5`` (no braces) gives ``5``.
    """
    index = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if index < 0:
        return None
    rest = text[index:]
    rest = rest[len("\\boxed"):] if rest.startswith("\\boxed") else rest[len("\\fbox"):]
    if rest.startswith(" ") and not rest.lstrip().startswith("{"):
        token = rest.strip().split()[0] if rest.strip() else ""
        token = token.rstrip("$.").strip()
        return token or None
    rest = rest.lstrip()
    if not rest.startswith("{"):
        return None
    depth = 0
    for position, char in enumerate(rest):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                content = rest[1:position].strip()
                return content or None
    return None


def numeric_answer(solution: str) -> str | None:
    """GSM-style final number: ``#### N`` first, else ``The answer is N`` when it is a number."""
    final = gsm_final(solution)
    if final is not None:
        return final
    stated = answer_is(solution)
    return normalize_number(stated) if stated is not None else None
