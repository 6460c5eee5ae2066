"""The measuring side of the overfitting diagnostics (:mod:`cotmask.diagnostics`): the clean loss, the greedy
accuracy and the ``TrainerCallback`` that records both at every epoch end.

Measuring changes nothing in the optimisation: the model is put in eval mode, no random number is drawn
(greedy decoding, no noise), and training mode is restored afterwards (tested).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from cotmask.diagnostics import (
    DIAGNOSTICS_FILE,
    DiagnosticsSettings,
    fixed_subset,
    read_rows,
    summarize_diagnostics,
)
from cotmask.encoding import encode_records
from cotmask.generation import generate
from cotmask.prompts import format_prompt
from cotmask.records import write_jsonl
from cotmask.scoring import gold_answer, score_item

@dataclass
class Subset:
    """One measured subset: its records, their encodings (for the loss) and gold answers."""

    name: str
    records: list[dict]
    examples: list[dict]
    golds: list[str]
    prompts: list[str]


def prepare_subset(
    name: str, records: Sequence[dict], tokenizer: Any, settings: DiagnosticsSettings, *,
    prompt_template: str, max_length: int,
) -> Subset:
    """Pick the fixed subset of ``records`` and encode it as training encodes it."""
    records = fixed_subset(records, settings.n_items, settings.seed)
    if not records:
        raise ValueError(f"no records for the {name} diagnostics subset")
    examples = encode_records(tokenizer, records, template=prompt_template, max_length=max_length)
    golds = [gold_answer(record["answer"], settings.scoring) for record in records]
    prompts = [format_prompt(record["question"], prompt_template) for record in records]
    return Subset(name, records, examples, golds, prompts)


def _loss_batch(examples: Sequence[dict], pad_id: int, device: Any) -> tuple[torch.Tensor, ...]:
    """Right-padded input ids, attention mask and labels (-100 on the prompt and the padding)."""
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        tokens = torch.tensor(example["input_ids"], dtype=torch.long)
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
        labels[row, example["prompt_length"]: len(tokens)] = tokens[example["prompt_length"]:]
    return ids.to(device), mask.to(device), labels.to(device)


@torch.no_grad()
def clean_loss(model: Any, examples: Sequence[dict], pad_id: int, batch_size: int = 32) -> float:
    """Token-weighted teacher-forced cross-entropy over the answer tokens of ``examples`` (no noise).

    The logits are computed by the model's own forward without labels, so that no training-only loss
    path (see :mod:`cotmask.loss`) is involved.
    """
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        ids, mask, labels = _loss_batch(examples[start:start + batch_size], pad_id, model.device)
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        shifted = labels[:, 1:]
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), shifted.reshape(-1), ignore_index=-100, reduction="sum"
        )
        total += float(losses)
        count += int((shifted != -100).sum())
    return total / count if count else math.nan


def greedy_accuracy(model: Any, tokenizer: Any, subset: Subset, settings: DiagnosticsSettings) -> float:
    """Share of the subset's problems answered right by greedy plain decoding."""
    texts = generate(
        model, tokenizer, subset.prompts, max_new_tokens=settings.max_new_tokens,
        batch_size=settings.batch_size, seed=settings.seed,
    )
    correct = [score_item(text, gold, settings.scoring)["correct"] for text, gold in zip(texts, subset.golds)]
    return sum(correct) / len(correct)


def measure(model: Any, tokenizer: Any, subsets: Sequence[Subset], settings: DiagnosticsSettings) -> dict[str, float]:
    """``{<subset>_loss, <subset>_accuracy}`` for every subset, the model left in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        row: dict[str, float] = {}
        for subset in subsets:
            row[f"{subset.name}_loss"] = round(clean_loss(model, subset.examples, tokenizer.pad_token_id), 6)
            row[f"{subset.name}_accuracy"] = round(greedy_accuracy(model, tokenizer, subset, settings), 6)
        return row
    finally:
        model.train(was_training)


class EpochDiagnostics(TrainerCallback):
    """Measures the subsets at every epoch end and keeps the rows (in ``path`` too, when given).

    ``n_train_examples`` converts epochs into training samples seen. On a resumed run the rows of the
    epochs already completed (step <= the resumed step, measured with the same settings) are kept and the
    others dropped. :meth:`finalize` writes ``diagnostics.jsonl`` into the model's output folder and adds
    the summary to its metrics.
    """

    def __init__(
        self, tokenizer: Any, subsets: Sequence[Subset], settings: DiagnosticsSettings,
        path: str | os.PathLike | None, n_train_examples: int,
    ) -> None:
        self.tokenizer, self.subsets, self.settings = tokenizer, list(subsets), settings
        self.path = Path(path) if path is not None else None
        self.n_train_examples = n_train_examples
        self.key = {**asdict(settings), "subsets": {s.name: len(s.records) for s in self.subsets}}
        self.rows: list[dict] = []

    def on_train_begin(self, args, state, control, **kwargs):
        kept = read_rows(self.path) if self.path is not None else []
        self.rows = [row for row in kept if row.get("settings") == self.key and row["step"] <= state.global_step]
        if self.path is not None and state.is_world_process_zero:
            write_jsonl(self.rows, self.path)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero:
            return
        epoch = float(state.epoch or 0.0)
        row = {"epoch": round(epoch, 4), "step": state.global_step,
               "samples_seen": round(epoch * self.n_train_examples)}
        row.update(measure(model, self.tokenizer, self.subsets, self.settings))
        row["settings"] = self.key
        self.rows.append(row)
        if self.path is not None:
            write_jsonl(self.rows, self.path)

    def finalize(self, out_dir: Path, metrics: dict[str, Any]) -> None:
        """Write the rows next to the model and their summary into the training metrics."""
        write_jsonl(self.rows, Path(out_dir) / DIAGNOSTICS_FILE)
        metrics["diagnostics"] = summarize_diagnostics(self.rows) if self.rows else None


