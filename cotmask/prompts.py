"""Prompt templates used for training and evaluation.

``alpaca`` is the paper's template (Alpaca, no input; shared/paper.md §4.3). ``short`` is a compact
template for the tiny word-level models of the embedded default, where the Alpaca preamble would
dominate the sequence length.
"""

from __future__ import annotations

TEMPLATES: dict[str, str] = {
    "alpaca": (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\n{question}\n\n### Response:"
    ),
    "short": "Question: {question}\nAnswer:",
}


def format_prompt(question: str, template: str = "alpaca") -> str:
    """Return the prompt for ``question``; the answer follows after a single space."""
    try:
        pattern = TEMPLATES[template]
    except KeyError:
        raise ValueError(
            f"unknown prompt template {template!r}; choose one of {sorted(TEMPLATES)}"
        ) from None
    return pattern.format(question=question)


def training_text(question: str, solution: str, template: str = "alpaca") -> tuple[str, str]:
    """Split a training example into (prompt, target) where target starts with the joining space."""
    return format_prompt(question, template), " " + solution
