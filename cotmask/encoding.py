"""Turn (question, solution) pairs into token ids with an exact prompt/answer boundary.

A training sequence is ``BOS? + tok(prompt + " " + solution) + EOS`` with ``prompt = format_prompt(question)``
(the official ``format_and_padding``). ``prompt_length`` counts BOS plus the prompt tokens; the answer part
(loss and masking candidates) is everything after it, EOS included.

Boundary. The full text is tokenized once, as in the official code. When the tokenization of the prompt
alone is a prefix of it (word-level tokenizers, and BPE tokenizers that split on whitespace), the boundary is
that prefix's length, so the training prompt is exactly what generation sees. Otherwise (a merge across
the boundary, SentencePiece's space handling) the boundary is found from the character offsets of a fast
tokenizer: a token belongs to the prompt if it starts before the end of the prompt text. Tokenizers without
offsets fall back to concatenating the separately tokenized prompt and answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cotmask.prompts import format_prompt


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _boundary_from_offsets(tokenizer: Any, text: str, prompt_chars: int) -> tuple[list[int], int] | None:
    try:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, ValueError, TypeError):
        return None
    offsets = encoded.get("offset_mapping")
    if offsets is None:
        return None
    ids = list(encoded["input_ids"])
    boundary = 0
    for start, _end in offsets:
        if start >= prompt_chars:
            break
        boundary += 1
    return ids, boundary


def split_tokens(tokenizer: Any, prompt: str, target: str) -> tuple[list[int], int]:
    """Token ids of ``prompt + target`` (no special tokens) and the number of prompt tokens."""
    text = prompt + target
    full = _ids(tokenizer, text)
    prompt_ids = _ids(tokenizer, prompt)
    if full[: len(prompt_ids)] == prompt_ids:
        return full, len(prompt_ids)
    located = _boundary_from_offsets(tokenizer, text, len(prompt))
    if located is not None:
        return located
    return prompt_ids + _ids(tokenizer, target), len(prompt_ids)


def encode_example(
    tokenizer: Any, question: str, solution: str, *, template: str = "alpaca", max_length: int = 512
) -> dict[str, Any]:
    """Encode one example: ``{"input_ids": [...], "prompt_length": int}``.

    BOS first (when the tokenizer has one), EOS appended, then right-truncated to ``max_length``;
    ``prompt_length`` is capped at the truncated length (an example whose answer was cut away entirely has
    ``prompt_length == len(input_ids)`` and contributes no loss).
    """
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; training sequences must end with EOS")
    prompt = format_prompt(question, template)
    ids, n_prompt = split_tokens(tokenizer, prompt, " " + solution)
    prefix = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    input_ids = (prefix + ids + [tokenizer.eos_token_id])[:max_length]
    prompt_length = min(len(prefix) + n_prompt, len(input_ids))
    return {"input_ids": input_ids, "prompt_length": prompt_length}


def encode_records(
    tokenizer: Any, records: Iterable[dict], *, template: str = "alpaca", max_length: int = 512
) -> list[dict[str, Any]]:
    """Encode cotmask records (``question``/``solution`` fields); each result also carries the record ``id``."""
    encoded = []
    for record in records:
        item = encode_example(
            tokenizer, record["question"], record["solution"], template=template, max_length=max_length
        )
        item["id"] = record.get("id")
        encoded.append(item)
    return encoded


def encode_text(tokenizer: Any, text: str, *, max_length: int) -> dict[str, Any]:
    """Encode a plain text for causal-LM pretraining: BOS? + text + EOS, loss on every token."""
    prefix = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    ids = (prefix + _ids(tokenizer, text) + [tokenizer.eos_token_id])[:max_length]
    return {"input_ids": ids, "prompt_length": len(prefix)}
