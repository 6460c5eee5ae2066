"""Batched decoding for evaluation and rejection sampling, optionally calculator-assisted.

:func:`generate` wraps Hugging Face ``model.generate`` (KV cache, left padding) with two per-row hooks:

* :class:`CalculatorForcing` (a ``LogitsProcessor``): when the text a row has generated ends with an
  opened GSM8K annotation ``<<EXPR=``, the safe calculator (:mod:`cotmask.calculator`) computes EXPR and
  the tokens of ``RESULT>>RESULT`` are queued for that row (the annotation's close and the repeated result
  that follows it in GSM8K's format, ``<<48/2=24>>24``); while a row's queue is non-empty its next token is
  forced (every other logit set to ``-inf``). Then the model continues. The decoder thus writes every
  result and the model is judged on which numbers and operations it chooses. If the calculator refuses
  the expression the model writes the result itself.
* :class:`AnswerLineStop` (a ``StoppingCriteria``): a row stops once it has completed an answer line --
  ``#### N``, ``The answer is: X`` or a line with a closed ``\\boxed{...}`` -- followed by a newline.
  Rows also stop at EOS or after ``max_new_tokens``.

Both hooks look at the decoded text only when the newest token can matter (a token whose text ends with
``=``, resp. contains a newline), using per-vocabulary flags computed once per tokenizer, so the per-step
overhead is a couple of tensor-to-list conversions.

The returned text of each prompt is its continuation only, cut at EOS and (with ``stop_at_answer``) at the
end of the answer line, with surrounding whitespace stripped. Prompts are sorted by token length (longest
first) to reduce padding and the results are returned in input order. Greedy decoding is deterministic;
sampling is deterministic for a given ``seed``, prompt list and ``batch_size`` (the global torch RNG is
seeded inside ``torch.random.fork_rng`` and restored afterwards).
"""

from __future__ import annotations

import logging
import os
import re
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from cotmask.answers import BOXED_OPENING as _BOXED
from cotmask.calculator import calculate
from cotmask.checkpoints import model_source
from cotmask.logs import Progress

_OPEN_ANNOTATION = re.compile(r"<<([^<>=\n]*)=$")
_GSM8K_LINE = re.compile(r"####[^\n]*\d[^\n]*\n")
_ANSWER_IS_LINE = re.compile(r"[Tt]he answer is[^\n]*\S[^\n]*\n")
#: Tokens decoded when looking for an opened annotation (longer expressions are left to the model).
ANNOTATION_WINDOW_TOKENS = 64

logger = logging.getLogger(__name__)

_TOKEN_FLAGS: "weakref.WeakKeyDictionary[object, tuple[list[bool], list[bool]]]" = weakref.WeakKeyDictionary()


def load_pretrained(load: Callable[..., Any], name: str | os.PathLike, **kwargs: Any) -> Any:
    """``load(name, **kwargs)`` (a ``from_pretrained``); for a hub id that cannot be fetched (no network, no
    such repository, no access) a FileNotFoundError that names the local-folder alternative."""
    source = model_source(name)
    try:
        return load(str(name), **kwargs)
    except OSError as error:
        if source != "hub":
            raise
        reason = " ".join(str(error).split())
        raise FileNotFoundError(
            f"{name}: not a local folder, and it could not be loaded from the Hugging Face Hub ({reason[:300]}). "
            f"Offline, download it where a network is available (`hf download {name} --local-dir DIR`, or "
            "`save_pretrained`) and pass the folder DIR instead"
        ) from error


def load_model(model_dir: str | os.PathLike, threads: int = 1, device: str | None = None, dtype: str | None = None):
    """Load ``(model, tokenizer)`` from a ``save_pretrained`` folder or a hub id, in eval mode with left
    padding.

    ``device`` defaults to ``cuda`` when available, else ``cpu``; ``dtype`` defaults to bfloat16 on GPU and
    float32 on CPU. ``threads`` sets torch's intra-op CPU threads. A missing folder, a folder without
    ``config.json`` or a hub id that cannot be fetched is a FileNotFoundError saying what to pass instead.
    """
    model_source(model_dir)  # before anything is loaded
    torch.set_num_threads(max(1, int(threads)))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    tokenizer = load_pretrained(AutoTokenizer.from_pretrained, model_dir)
    prepare_tokenizer(tokenizer)
    model = load_pretrained(AutoModelForCausalLM.from_pretrained, model_dir, dtype=torch_dtype)
    model.to(device)
    model.eval()
    return model, tokenizer


def prepare_tokenizer(tokenizer) -> None:
    """Left padding, and a pad token (EOS, else UNK) when the tokenizer has none."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise ValueError("tokenizer has neither a pad, an EOS nor an UNK token")
        tokenizer.pad_token = fallback


def _token_flags(tokenizer, size: int) -> tuple[list[bool], list[bool]]:
    """Per token id: (its text ends with '=', its text contains a newline); cached per tokenizer."""
    try:
        cached = _TOKEN_FLAGS.get(tokenizer)
    except TypeError:
        cached = None
    if cached is not None and len(cached[0]) >= size:
        return cached
    known = len(tokenizer)
    texts = tokenizer.batch_decode([[index] for index in range(known)], skip_special_tokens=False)
    ends_with_equals = [text.endswith("=") for text in texts] + [False] * max(0, size - known)
    has_newline = ["\n" in text for text in texts] + [False] * max(0, size - known)
    flags = (ends_with_equals, has_newline)
    try:
        _TOKEN_FLAGS[tokenizer] = flags
    except TypeError:
        pass
    return flags


def forced_token_ids(tokenizer, expression: str, result: str, repeat_result: bool = True) -> list[int]:
    """Token ids of ``result + '>>' + result`` (``result + '>>'`` without ``repeat_result``) as they continue
    ``'<<' + expression + '='``.

    Encoding the text alone would, with SentencePiece tokenizers (Llama, Mistral), start with a spurious
    word-boundary marker; so the annotation is encoded with and without the result and the difference is
    taken. If the tokenizer merges across the boundary, ``'='`` alone is used as the anchor, and as a last
    resort the text is encoded alone with leading blank tokens dropped.
    """
    text = f"{result}>>{result}" if repeat_result else f"{result}>>"
    for context in (f"<<{expression}=", "="):
        context_ids = tokenizer.encode(context, add_special_tokens=False)
        full_ids = tokenizer.encode(context + text, add_special_tokens=False)
        if len(full_ids) > len(context_ids) and full_ids[: len(context_ids)] == context_ids:
            return full_ids[len(context_ids):]
    ids = tokenizer.encode(text, add_special_tokens=False)
    while len(ids) > 1 and not tokenizer.decode(ids[:1]).strip():
        ids = ids[1:]
    return ids


class _BatchState:
    """Bookkeeping shared by the hooks for one batch."""

    def __init__(self, batch_size: int, prompt_length: int):
        self.prompt_length = prompt_length
        self.queues: list[deque[int]] = [deque() for _ in range(batch_size)]
        self.stopped_at: list[int | None] = [None] * batch_size
        self.calculator_calls = 0


class CalculatorForcing(LogitsProcessor):
    """Force ``RESULT>>RESULT`` after a generated ``<<EXPR=`` (see module doc)."""

    def __init__(self, tokenizer, state: _BatchState, ends_with_equals: list[bool]):
        self.tokenizer = tokenizer
        self.state = state
        self.ends_with_equals = ends_with_equals

    def _queue_result(self, row: int, input_ids: torch.LongTensor) -> None:
        start = max(self.state.prompt_length, input_ids.shape[1] - ANNOTATION_WINDOW_TOKENS)
        tail = self.tokenizer.decode(input_ids[row, start:].tolist(), skip_special_tokens=True)
        match = _OPEN_ANNOTATION.search(tail)
        if match is None:
            return
        result = calculate(match.group(1))
        if result is None:
            return
        self.state.queues[row].extend(forced_token_ids(self.tokenizer, match.group(1), result))
        self.state.calculator_calls += 1

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] > self.state.prompt_length:
            last_tokens = input_ids[:, -1].tolist()
            for row, token in enumerate(last_tokens):
                if not self.state.queues[row] and token < len(self.ends_with_equals) and self.ends_with_equals[token]:
                    self._queue_result(row, input_ids)
        forced = [(row, queue.popleft()) for row, queue in enumerate(self.state.queues) if queue]
        if forced:
            rows = torch.tensor([row for row, _ in forced], device=scores.device)
            tokens = torch.tensor([token for _, token in forced], device=scores.device)
            scores[rows] = float("-inf")
            scores[rows, tokens] = 0.0
        return scores


def answer_end(text: str) -> int | None:
    """Index of the newline that ends the first completed answer line of ``text``, or ``None``.

    Answer lines: ``#### N``; ``The answer is: X``; a line with a closed ``\\boxed{...}``.
    """
    ends = []
    for pattern in (_GSM8K_LINE, _ANSWER_IS_LINE):
        match = pattern.search(text)
        if match:
            ends.append(match.end() - 1)
    for match in _BOXED.finditer(text):
        depth, position = 1, match.end()
        while position < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[position], 0)
            position += 1
        if depth == 0:
            newline = text.find("\n", position)
            if newline >= 0:
                ends.append(newline)
            break
    return min(ends) if ends else None


class AnswerLineStop(StoppingCriteria):
    """Stop a row once a completed answer line is followed by a newline."""

    def __init__(self, tokenizer, state: _BatchState, has_newline: list[bool]):
        self.tokenizer = tokenizer
        self.state = state
        self.has_newline = has_newline

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        generated = input_ids.shape[1] - self.state.prompt_length
        if generated <= 0:
            return done
        for row, token in enumerate(input_ids[:, -1].tolist()):
            if self.state.stopped_at[row] is not None:
                done[row] = True
                continue
            if token < len(self.has_newline) and self.has_newline[token] and not self.state.queues[row]:
                generated_ids = input_ids[row, self.state.prompt_length:].tolist()
                text = self.tokenizer.decode(generated_ids, skip_special_tokens=True)
                if answer_end(text) is not None:
                    self.state.stopped_at[row] = generated
                    done[row] = True
        return done


def _eos_token_ids(model, tokenizer) -> list[int]:
    ids = []
    for source in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if source is None:
            continue
        for token in source if isinstance(source, (list, tuple)) else [source]:
            if token not in ids:
                ids.append(int(token))
    if not ids:
        raise ValueError("tokenizer and model define no EOS token")
    return ids


def _left_pad(tokenizer, sequences: list[list[int]], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and attention mask of ``sequences``, padded on the left to the longest one."""
    batch = tokenizer.pad({"input_ids": sequences}, padding=True, padding_side="left", return_tensors="pt")
    return batch["input_ids"].to(device), batch["attention_mask"].to(device)


def _finish_text(tokenizer, ids: list[int], eos_ids: set[int], stopped_at: int | None, stop_at_answer: bool) -> str:
    if stopped_at is not None:
        ids = ids[:stopped_at]
    for position, token in enumerate(ids):
        if token in eos_ids:
            ids = ids[:position]
            break
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if stop_at_answer:
        end = answer_end(text)
        if end is not None:
            text = text[:end]
    return text.strip()


def generate(
    model,
    tokenizer,
    prompts: list[str],
    *,
    max_new_tokens: int = 256,
    batch_size: int = 32,
    calculator: bool = False,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    stop_at_answer: bool = True,
    progress: Progress | None = None,
    cache_implementation: str | None = None,
) -> list[str]:
    """Continuations of ``prompts`` (text after each prompt), batched with left padding and a KV cache.

    Greedy by default; ``do_sample`` samples with ``temperature``/``top_p`` (no top-k), reproducibly for a
    ``seed``. ``calculator`` turns on calculator-forced annotation results; ``stop_at_answer`` stops rows at
    the end of their answer line. ``progress`` (a :class:`cotmask.logs.Progress` counting prompts) is advanced
    after every batch, so that a long run logs how far it is and when it will end; without one, a call that
    runs longer than 30 s logs its own progress lines (logger ``cotmask.generation``). See the module doc for
    details. ``cache_implementation`` is passed to ``GenerationConfig`` (``"static"``: a preallocated KV cache,
    which transformers compiles on GPUs; on this project's CPU it decodes the same text and is not faster,
    docs/speed.md).

    (One function on purpose: the batch loop shares the tokenizer flags, generation config and per-batch
    state; split up, each part would need all of them passed in.)
    """
    if max_new_tokens < 1 or batch_size < 1:
        raise ValueError("max_new_tokens and batch_size must be positive")
    if do_sample and (temperature <= 0 or not 0 < top_p <= 1):
        raise ValueError("sampling needs temperature > 0 and 0 < top_p <= 1")
    if not prompts:
        return []
    prepare_tokenizer(tokenizer)
    if progress is None:
        mode = f"sampling, seed {seed}" if do_sample else "greedy"
        progress = Progress(len(prompts), f"generate ({mode})", unit="prompts", logger=logger, quiet_if_quick=True)
    eos_ids = _eos_token_ids(model, tokenizer)
    encoded = [tokenizer(prompt, add_special_tokens=True)["input_ids"] for prompt in prompts]
    order = sorted(range(len(prompts)), key=lambda index: (-len(encoded[index]), index))
    vocab_size = max(len(tokenizer), int(getattr(model.config, "vocab_size", 0) or 0))
    ends_with_equals, has_newline = _token_flags(tokenizer, vocab_size)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=do_sample,
        temperature=temperature if do_sample else 1.0,
        top_p=top_p if do_sample else 1.0,
        top_k=0 if do_sample else None,
        num_beams=1,
        repetition_penalty=1.0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=eos_ids,
        cache_implementation=cache_implementation,
    )
    outputs: list[str | None] = [None] * len(prompts)
    device = model.device
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices), torch.inference_mode():
        torch.manual_seed(seed)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            input_ids, attention_mask = _left_pad(tokenizer, [encoded[i] for i in batch], device)
            state = _BatchState(len(batch), input_ids.shape[1])
            processors = LogitsProcessorList()
            if calculator:
                processors.append(CalculatorForcing(tokenizer, state, ends_with_equals))
            criteria = StoppingCriteriaList()
            if stop_at_answer:
                criteria.append(AnswerLineStop(tokenizer, state, has_newline))
            sequences = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                generation_config=config,
                logits_processor=processors,
                stopping_criteria=criteria,
            )
            generated = sequences[:, input_ids.shape[1]:].tolist()
            for row, index in enumerate(batch):
                outputs[index] = _finish_text(
                    tokenizer, generated[row], set(eos_ids), state.stopped_at[row], stop_at_answer
                )
            progress.advance(len(batch))
    return [text or "" for text in outputs]
