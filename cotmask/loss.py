"""The training loss with the vocabulary projection computed only where a label is.

A causal LM's loss is the mean cross-entropy of the next-token predictions at the positions that carry a
label. ``transformers``' ``*ForCausalLM.forward`` projects *every* position onto the vocabulary first
(``B x T x V`` logits) and then ignores the positions whose label is ``-100``: in a fine-tuning batch the
question and the padding (40-60 % of the positions in GSM-style batches), in a pre-training batch the padding.
At the embedded scale (hidden 64, vocabulary 2,000) that projection and its log-softmax are about a third of
a fine-tuning step (``benchmarks/bench_train.py``: a step is 1.44x faster without them), so
:func:`label_logits_loss` runs the decoder, keeps the hidden states of the labelled positions and projects
only those. The value is the same loss (sum over labelled tokens divided by their count, or by
``num_items_in_batch`` under gradient accumulation, as the ``transformers`` loss); only the floating-point
summation order differs (tests compare both losses and their gradients).

It applies to architectures whose ``*ForCausalLM.forward`` is exactly ``lm_head(decoder(...))`` with no
logit scaling or soft-capping (:data:`LABEL_LOGITS_MODEL_TYPES`); everything else takes the ordinary
``model(**batch).loss``. :func:`use_label_logits` wraps a model's ``forward`` so that a training call
(input ids + labels) takes this path; the ``transformers.Trainer`` (and DDP/FSDP, which call the model) then
need no change.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import CausalLMOutputWithPast

from cotmask.masking_config import IGNORE_INDEX

#: model types whose causal-LM head is a plain linear map of the decoder's last hidden state
LABEL_LOGITS_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def supports_label_logits(model: Any) -> bool:
    """Whether :func:`label_logits_loss` computes ``model``'s own loss (see the module docstring)."""
    config = getattr(model, "config", None)
    return (
        getattr(config, "model_type", None) in LABEL_LOGITS_MODEL_TYPES
        and callable(getattr(model, "get_decoder", None))
        and callable(getattr(model, "get_output_embeddings", None))
        and model.get_output_embeddings() is not None
    )


def length_buckets(attention_mask: torch.Tensor | None, buckets: int) -> list[tuple[torch.Tensor, int]] | None:
    """Split a right-padded batch into ``buckets`` groups of rows of similar length: ``[(rows, width)]``.

    Rows are sorted by length and cut into ``buckets`` consecutive groups of (nearly) equal size; ``width`` is
    the longest row of a group, so a group's columns beyond it are padding only and can be dropped. Returns
    None when there is nothing to gain (one bucket, no mask, or a mask that is not right padding).
    """
    if attention_mask is None or buckets <= 1 or attention_mask.shape[0] < 2:
        return None
    lengths = attention_mask.sum(dim=1)
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    if not torch.equal(attention_mask.bool(), positions.unsqueeze(0) < lengths.unsqueeze(1)):
        return None  # not right padding: trailing columns are not all padding
    order = torch.argsort(lengths, stable=True)
    groups = [rows for rows in torch.tensor_split(order, min(buckets, len(order))) if len(rows)]
    return [(rows, int(lengths[rows].max())) for rows in groups]


def _labelled_hidden_states(decoder: Any, batch: dict[str, torch.Tensor], rows: torch.Tensor | None,
                            width: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder hidden states at the positions whose next token has a label, and those labels (one bucket)."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if batch.get(k) is not None}
    labels = batch["labels"]
    if rows is not None:
        inputs = {k: v[rows, :width] for k, v in inputs.items()}
        labels = labels[rows, :width]
    hidden = decoder(**inputs, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    return hidden[:, :-1][keep], targets[keep]


def label_logits_loss(
    model: Any,
    batch: dict[str, torch.Tensor],
    num_items_in_batch: int | torch.Tensor | None = None,
    *,
    decoder: Any = None,
    buckets: int = 1,
) -> torch.Tensor:
    """Cross-entropy of the next-token predictions at the labelled positions of ``batch``.

    ``batch`` holds ``input_ids``, ``labels`` (``-100`` where there is no label) and optionally
    ``attention_mask``/``position_ids``. The label of position ``t + 1`` is predicted from position ``t``, as in
    ``transformers``. Returns the mean over the labelled tokens, or their sum divided by
    ``num_items_in_batch`` when it is given (the Trainer's normalisation over an accumulated batch).

    ``buckets > 1`` runs the decoder on that many groups of rows of similar length (:func:`length_buckets`),
    each without the columns that are padding for all of its rows, and computes one loss over all labelled
    positions: the same batch, the same loss and gradient (each row's hidden states do not depend on the other
    rows), with less padding computed. Not used while a forward hook sits on the input embeddings (the
    embedding-noise regularisers index the whole batch). ``decoder`` replaces ``model.get_decoder()`` (e.g. a
    ``torch.compile``-d decoder in a benchmark).
    """
    decoder = decoder if decoder is not None else model.get_decoder()
    groups = None
    if buckets > 1 and not model.get_input_embeddings()._forward_hooks:
        groups = length_buckets(batch.get("attention_mask"), buckets)
    parts = [_labelled_hidden_states(decoder, batch, rows, width) for rows, width in (groups or [(None, None)])]
    hidden = parts[0][0] if len(parts) == 1 else torch.cat([h for h, _ in parts])
    targets = parts[0][1] if len(parts) == 1 else torch.cat([t for _, t in parts])
    logits = model.get_output_embeddings()(hidden)
    summed = F.cross_entropy(logits.float(), targets, reduction="sum")
    if num_items_in_batch is None:
        return summed / max(int(targets.numel()), 1)
    if isinstance(num_items_in_batch, torch.Tensor):
        num_items_in_batch = num_items_in_batch.to(summed.device)
    return summed / num_items_in_batch


#: forward arguments the label path understands; a call with any other argument takes the model's own forward
_LABEL_PATH_ARGUMENTS = frozenset({"input_ids", "attention_mask", "position_ids", "labels", "num_items_in_batch",
                                   "use_cache"})


def use_label_logits(model: Any, *, buckets: int = 1, decoder: Any = None) -> bool:
    """Make ``model(input_ids=..., labels=...)`` compute its loss with :func:`label_logits_loss`.

    The model's ``forward`` is wrapped (on this instance only; nothing is saved with the model): a call with
    ``labels`` and only the arguments of a training batch returns ``CausalLMOutputWithPast(loss=...)``
    without logits; every other call (no labels, generation, ``inputs_embeds``, outputs requested) runs the
    original forward. Because the Trainer, DDP and FSDP all call the model, the Trainer's own
    ``compute_loss`` and its gradient-accumulation normalisation are unchanged. Returns False (and changes
    nothing) for an architecture :func:`supports_label_logits` does not cover. ``model.label_logits_counts``
    counts the training calls of each path. ``buckets`` and ``decoder`` (e.g. the ``torch.compile``-d decoder
    of :func:`cotmask.compile.compile_decoder`) are :func:`label_logits_loss`'s (a second call updates them).
    """
    if not supports_label_logits(model):
        return False
    if buckets < 1:
        raise ValueError(f"length_buckets must be >= 1, got {buckets}")
    model.label_logits_buckets = int(buckets)
    # a plain attribute, not a registered submodule: the compiled decoder must not enter the state dict
    object.__setattr__(model, "label_logits_decoder", decoder)
    if getattr(model, "label_logits_counts", None) is not None:
        return True
    original = model.forward
    counts = {"label_logits": 0, "full_logits": 0}

    def forward(*args: Any, **kwargs: Any) -> Any:
        if args or kwargs.get("labels") is None:
            return original(*args, **kwargs)
        if not set(kwargs) <= _LABEL_PATH_ARGUMENTS or kwargs.get("input_ids") is None:
            counts["full_logits"] += 1
            return original(*args, **kwargs)
        counts["label_logits"] += 1
        loss = label_logits_loss(model, kwargs, kwargs.get("num_items_in_batch"), buckets=model.label_logits_buckets,
                                 decoder=model.label_logits_decoder)
        return CausalLMOutputWithPast(loss=loss)

    model.forward = forward
    model.label_logits_counts = counts
    return True
