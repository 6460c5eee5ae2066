"""Masked thought: the paper's input corruption of chain-of-thought tokens (shared/paper.md §1.1-1.2).

MFT is SFT in which a random subset of the *answer* input tokens is replaced by noise, while the labels
keep the original tokens. This module holds

* :class:`MaskingConfig` — mask ratio ``p``, noise kind, which positions may be noised, warm-up (defined in
  the torch-free :mod:`cotmask.masking_config`, re-exported here);
* :func:`add_mask_token` — add ``<mask>`` (or ``[PAD]``) with its embedding rows set to the mean row;
* :func:`apply_noise` — vectorised, seeded corruption of a batch;
* :class:`MFTCollator` — pads a batch, builds labels (-100 on prompt and padding) and applies the noise;
* :class:`MaskRatioCallback` — drives the mask-ratio warm-up from the Trainer's optimizer-step counter.

Noise kinds (``MaskingConfig.noise``):

``mask``     every selected position becomes ``<mask>`` (paper ``m=1, r=0``);
``random``   every selected position becomes a token drawn uniformly from ``[0, vocab_size)``
             (paper ``m=0, r=1``; the official code draws from the *base* vocabulary, i.e. without the added
             ``[PAD]``/``<mask>``, but including the special tokens BOS/EOS/UNK — we mirror that: the caller
             passes the base vocabulary size);
``pad``      every selected position becomes the pad token (the README's minimal variant);
``mixture``  a selected position becomes ``<mask>`` w.p. ``mask_prob``, a uniform random token
             w.p. ``random_prob`` and stays unchanged otherwise (the paper's general m/r notation).

``dropout``  (Table 3) the *embedding* of a selected token is multiplied by a Bernoulli(1-q) mask scaled by
             1/(1-q) (``nn.Dropout(q)``); ``q = dropout_q``, and q=1 zeroes it (the paper's "empty" noise);
``neftune``  (Table 3) ``Uniform(-1, 1) * alpha / sqrt(L * d)`` is added to the embedding of a selected token
             (``alpha = neftune_alpha``, L = the sequence's unpadded length, d = hidden size).
``sampled``  (Table 3) scheduled sampling as the official code runs it: a no-grad forward pass on the clean
             input, then each selected token is replaced by a sample from ``softmax(logits_{t-1} / tau)``,
             the model's own prediction of that token (``tau = sample_temperature``; the paper's best is
             tau = 100, close to uniform). The first position of a sequence has no prediction and is
             never replaced.

Each position is selected independently with probability ``p``. The official code draws
``k ~ Binomial(n, p)`` and then ``k`` positions without replacement, which is the same distribution.

``attend_noised=False`` (the paper's attention-masked variant) zeroes the attention-mask entry of every
noised position (:func:`drop_noised_keys`): in every layer, no query attends to a noised key.

The three model-level kinds (``dropout``, ``neftune``, ``sampled``) need the model, so the collator leaves
``input_ids`` untouched: it adds the selected positions (``embedding_noise``) and a per-batch seed
(``embedding_noise_seed``) to the batch, and :class:`EmbeddingNoiseTrainer` (or :class:`embedding_noise` in
a plain loop) removes them before the forward pass and applies the noise there: it perturbs the
input-embedding output (``dropout``, ``neftune``) or replaces the selected input ids by the model's own
samples (``sampled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback

from cotmask.masking_config import (  # noqa: F401 - re-exported: the masking API lives here
    EMBEDDING_NOISE_KEYS,
    EMBEDDING_NOISE_KINDS,
    IGNORE_INDEX,
    NOISE_KINDS,
    POSITION_KINDS,
    TOKEN_NOISE_KINDS,
    MaskingConfig,
)

def _mean_init_rows(matrix: torch.Tensor, n_old: int) -> None:
    """Set rows ``n_old:`` of ``matrix`` to the mean of rows ``:n_old`` (in place)."""
    with torch.no_grad():
        mean = matrix[:n_old].float().mean(dim=0).to(matrix.dtype)
        matrix[n_old:] = mean


def _resize_with_mean_rows(model: Any, new_size: int) -> None:
    """Resize input/output embeddings to ``new_size`` and set every new row to the mean of the old rows."""
    old_size = model.get_input_embeddings().weight.shape[0]
    if new_size <= old_size:
        return
    model.resize_token_embeddings(new_size, mean_resizing=False)
    _mean_init_rows(model.get_input_embeddings().weight, old_size)
    output = model.get_output_embeddings()
    if output is not None and output.weight is not model.get_input_embeddings().weight:
        _mean_init_rows(output.weight, old_size)
        bias = getattr(output, "bias", None)
        if bias is not None:
            with torch.no_grad():
                bias[old_size:] = bias[:old_size].mean()


def add_mask_token(model: Any, tokenizer: Any, token: str = "<mask>", *, as_pad: bool = False) -> int:
    """Add ``token`` to ``tokenizer`` if missing and give it an embedding row = the mean of the existing rows.

    The input and the output embedding rows are both set to the mean (the official ``main.py``).
    With ``as_pad=True`` the token becomes the tokenizer's pad token (``[PAD]`` for Llama-2/Mistral, which
    have none). ``model`` may be None to change only the tokenizer. Returns the token id.
    """
    if as_pad:
        if tokenizer.pad_token is None:
            tokenizer.add_special_tokens({"pad_token": token})
    elif token not in tokenizer.get_vocab():
        tokenizer.add_tokens([token], special_tokens=True)
    token_id = tokenizer.convert_tokens_to_ids(token if not as_pad else tokenizer.pad_token)
    if model is not None:
        if token_id >= model.get_input_embeddings().weight.shape[0]:
            _resize_with_mean_rows(model, len(tokenizer))
        if as_pad:
            model.config.pad_token_id = token_id
            generation_config = getattr(model, "generation_config", None)
            if generation_config is not None:
                generation_config.pad_token_id = token_id
    return int(token_id)


def add_pad_token(model: Any, tokenizer: Any, token: str = "[PAD]") -> int:
    """Give the tokenizer a pad token if it has none (mean-initialised like ``<mask>``); return its id."""
    return add_mask_token(model, tokenizer, token, as_pad=True)


def apply_noise(
    input_ids: torch.Tensor,
    candidates: torch.Tensor,
    mask_ratio: float,
    *,
    noise: str = "mask",
    mask_token_id: int | None = None,
    pad_token_id: int | None = None,
    vocab_size: int | None = None,
    mask_prob: float = 1.0,
    random_prob: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt ``input_ids`` at a random subset of the ``candidates`` positions.

    Each candidate is selected independently with probability ``mask_ratio`` and replaced according to
    ``noise`` (module docstring). Random tokens are drawn uniformly from ``[0, vocab_size)``; nothing is
    excluded, as in the official code. Returns ``(noisy_ids, selected)``: a new tensor (the input is not
    modified) and the boolean tensor of selected positions (for ``mixture`` a selected position may keep its
    token; for ``random`` the drawn token may equal the original).
    """
    if noise not in TOKEN_NOISE_KINDS:
        raise ValueError(f"unknown token noise kind {noise!r}; choose one of {list(TOKEN_NOISE_KINDS)}")
    if not 0.0 <= mask_ratio <= 1.0:
        raise ValueError(f"mask_ratio must lie in [0, 1], got {mask_ratio}")
    candidates = candidates.to(torch.bool)
    if candidates.shape != input_ids.shape:
        raise ValueError(f"candidates shape {tuple(candidates.shape)} != input_ids shape {tuple(input_ids.shape)}")
    noisy = input_ids.clone()
    if mask_ratio == 0.0 or not bool(candidates.any()):
        return noisy, torch.zeros_like(candidates)
    device = input_ids.device
    draws = torch.rand(input_ids.shape, generator=generator, device=device)
    selected = candidates & (draws < mask_ratio)

    def _need(value: int | None, name: str) -> int:
        if value is None:
            raise ValueError(f"noise={noise!r} needs {name}")
        return int(value)

    if noise == "mask":
        noisy[selected] = _need(mask_token_id, "mask_token_id")
    elif noise == "pad":
        noisy[selected] = _need(pad_token_id, "pad_token_id")
    elif noise == "random":
        high = _need(vocab_size, "vocab_size")
        random_ids = torch.randint(0, high, input_ids.shape, generator=generator, device=device)
        noisy = torch.where(selected, random_ids.to(noisy.dtype), noisy)
    else:  # mixture
        kind = torch.rand(input_ids.shape, generator=generator, device=device)
        use_mask = selected & (kind < mask_prob)
        use_random = selected & (kind >= mask_prob) & (kind < mask_prob + random_prob)
        if bool(use_mask.any()):
            noisy[use_mask] = _need(mask_token_id, "mask_token_id")
        if random_prob > 0.0:
            high = _need(vocab_size, "vocab_size")
            random_ids = torch.randint(0, high, input_ids.shape, generator=generator, device=device)
            noisy = torch.where(use_random, random_ids.to(noisy.dtype), noisy)
    return noisy, selected


def drop_noised_keys(attention_mask: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """``attention_mask`` with 0 at the ``selected`` positions (``attend_noised=False``).

    A causal LM turns a 2-D attention mask into a per-key mask of every layer, so no query attends to a
    noised position (the official ``drop_attention_mask``); the noised position's own query still attends
    to the earlier unmasked keys. Column 0 is kept, so that no query is left without a key.
    """
    drop = selected.to(torch.bool).clone()
    drop[:, 0] = False
    return attention_mask.masked_fill(drop, 0)


def noise_seed(seed: int, step: int, micro_step: int, process_index: int = 0) -> int:
    """A 63-bit generator seed derived from (seed, optimizer step, micro-batch, process).

    Deriving the masking randomness from the training position (instead of carrying a generator state)
    makes a resumed run draw exactly the noise the uninterrupted run would have drawn.
    """
    state = np.random.SeedSequence([int(seed), int(step), int(micro_step), int(process_index)]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


class MFTCollator:
    """Pad a batch of encoded examples, build labels and corrupt the candidate input tokens.

    Each feature is a mapping with ``input_ids`` (a list of ints: BOS? + prompt + answer + EOS) and
    ``prompt_length`` (number of leading prompt tokens). Output: ``input_ids`` (noised), ``attention_mask``
    and ``labels`` (= the *original* ids on answer tokens, -100 on prompt and padding), right-padded.

    Mask ratio. ``mask_ratio`` is the collator's current ratio. In a plain torch loop set it yourself (or
    leave the configured constant); each call then uses a fresh generator seeded from
    ``(seed, call number)``. Under the HF Trainer, :class:`MaskRatioCallback` attaches the step schedule:
    the collator then maps every micro-batch it collates to the optimizer step that will consume it and
    uses the ratio of *that* step (see :meth:`MaskRatioCallback` for why the Trainer's prefetching requires
    this), with its noise seeded from ``(seed, step, micro-batch, process)`` so a resumed run is exact.
    Because the collator keeps this bookkeeping in the main process, use ``dataloader_num_workers=0``.

    ``history`` records one dict per collated batch: step, micro, ratio, candidates, noised, tokens (non-padding)
    and positions (batch x padded width).

    For the model-level kinds (``dropout``, ``neftune``, ``sampled``) the batch also holds ``embedding_noise`` and
    ``embedding_noise_seed``; train with :func:`embedding_noise_trainer_class` (``finetune`` does) or wrap the
    forward pass in :class:`embedding_noise` in a plain loop.
    """

    def __init__(
        self,
        config: MaskingConfig,
        *,
        pad_token_id: int,
        mask_token_id: int | None = None,
        vocab_size: int | None = None,
        bos_token_id: int | None = None,
        seed: int = 0,
        pad_to_multiple_of: int | None = None,
    ) -> None:
        config.validate()
        if config.needs_mask_token and mask_token_id is None:
            raise ValueError(f"noise={config.noise!r} needs a mask_token_id (call add_mask_token first)")
        if config.active and config.noise in ("random", "mixture") and vocab_size is None:
            if config.noise == "random" or config.random_prob > 0:
                raise ValueError(f"noise={config.noise!r} needs vocab_size for random tokens")
        self.config = config
        self.pad_token_id = int(pad_token_id)
        self.mask_token_id = mask_token_id
        self.vocab_size = vocab_size
        self.bos_token_id = bos_token_id
        self.seed = int(seed)
        self.pad_to_multiple_of = pad_to_multiple_of
        self.mask_ratio: float = config.mask_ratio if config.mask_warmup_ratio == 0.0 else 0.0
        self.history: list[dict[str, Any]] = []
        self._calls = 0
        # step schedule, attached by MaskRatioCallback
        self._max_steps: int | None = None
        self._accumulation = 1
        self._process_index = 0
        self._epoch_start_step = 0
        self._calls_in_epoch = 0

    # -- schedule bookkeeping (driven by MaskRatioCallback) -------------------------------------
    def attach_schedule(self, max_steps: int, gradient_accumulation_steps: int, process_index: int = 0) -> None:
        """Let the collator assign each batch to its optimizer step (called at the start of training)."""
        if max_steps <= 0:
            raise ValueError(f"max_steps must be positive, got {max_steps}")
        self._max_steps = int(max_steps)
        self._accumulation = max(1, int(gradient_accumulation_steps))
        self._process_index = int(process_index)

    def begin_epoch(self, global_step: int) -> None:
        """Mark that the next collated batch is the first micro-batch of optimizer step ``global_step``."""
        self._epoch_start_step = int(global_step)
        self._calls_in_epoch = 0

    def ratio_at(self, step: int) -> float:
        """Scheduled ratio of optimizer step ``step`` (needs an attached schedule)."""
        if self._max_steps is None:
            return self.mask_ratio
        return self.config.ratio_at(step, self._max_steps)

    def _next_position(self) -> tuple[int, int, float, int]:
        """(step, micro, ratio, seed) for the batch being collated now."""
        if self._max_steps is None:
            step, micro = self._calls, 0
            ratio = self.mask_ratio
            seed = noise_seed(self.seed, step, micro, self._process_index)
        else:
            if torch.utils.data.get_worker_info() is not None:
                raise RuntimeError(
                    "MFTCollator with MaskRatioCallback must run in the main process: set dataloader_num_workers=0"
                )
            offset = self._calls_in_epoch
            step = self._epoch_start_step + offset // self._accumulation
            micro = offset % self._accumulation
            ratio = self.ratio_at(step)
            seed = noise_seed(self.seed, step, micro, self._process_index)
            self._calls_in_epoch += 1
        self._calls += 1
        return step, micro, ratio, seed

    # -- batching ---------------------------------------------------------------------------------
    def _padded_length(self, lengths: Sequence[int]) -> int:
        length = max(lengths)
        multiple = self.pad_to_multiple_of
        if multiple:
            length = ((length + multiple - 1) // multiple) * multiple
        return length

    def pad_batch(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Right-pad ``features``; return ids, attention mask, labels and the candidate positions (no noise)."""
        if not features:
            raise ValueError("MFTCollator got an empty batch")
        missing = [key for key in ("input_ids", "prompt_length") if key not in features[0]]
        if missing:
            raise ValueError(
                f"MFTCollator: the examples lack {missing} (they have {sorted(features[0])}); with a "
                "datasets.Dataset the HF Trainer drops every column its model's forward does not take: set "
                "TrainingArguments(remove_unused_columns=False), as cotmask.train.finetune does"
            )
        ids_list = [list(f["input_ids"]) for f in features]
        lengths = [len(ids) for ids in ids_list]
        if min(lengths) == 0:
            raise ValueError("MFTCollator: an example has no input_ids")
        width = self._padded_length(lengths)
        batch = len(features)
        input_ids = torch.full((batch, width), self.pad_token_id, dtype=torch.long)
        for row, ids in enumerate(ids_list):
            input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        positions = torch.arange(width).unsqueeze(0)
        length_t = torch.as_tensor(lengths).unsqueeze(1)
        prompt_t = torch.as_tensor([int(f["prompt_length"]) for f in features]).unsqueeze(1)
        real = positions < length_t
        answer = real & (positions >= prompt_t)
        labels = torch.where(answer, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
        kind = self.config.positions
        if kind == "answer":
            candidates = answer
        else:
            base = real & (positions < prompt_t) if kind == "question" else real
            if self.bos_token_id is not None:  # never noise the BOS that opens a sequence
                base = base & ~((positions == 0) & (input_ids == self.bos_token_id))
            candidates = base
        return {
            "input_ids": input_ids,
            "attention_mask": real.to(torch.long),
            "labels": labels,
            "candidates": candidates,
        }

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.pad_batch(features)
        candidates = batch.pop("candidates")
        step, micro, ratio, seed = self._next_position()
        noised_count = 0
        if ratio > 0.0 and self.config.on_embeddings:
            draws = torch.rand(candidates.shape, generator=torch.Generator().manual_seed(seed))
            selected = candidates & (draws < ratio)
            batch["embedding_noise"] = selected
            batch["embedding_noise_seed"] = torch.tensor([seed ^ 0x5DEECE66D], dtype=torch.long)
            noised_count = int(selected.sum())
        elif ratio > 0.0:
            generator = torch.Generator().manual_seed(seed)
            batch["input_ids"], selected = apply_noise(
                batch["input_ids"],
                candidates,
                ratio,
                noise=self.config.noise,
                mask_token_id=self.mask_token_id,
                pad_token_id=self.pad_token_id,
                vocab_size=self.vocab_size,
                mask_prob=self.config.mask_prob,
                random_prob=self.config.random_prob,
                generator=generator,
            )
            noised_count = int(selected.sum())
        if noised_count and not self.config.loss_on_noised:
            batch["labels"] = batch["labels"].masked_fill(selected, IGNORE_INDEX)
        unmasked_attention = batch["attention_mask"]
        if noised_count and not self.config.attend_noised:
            batch["attention_mask"] = drop_noised_keys(batch["attention_mask"], selected)
        self.history.append(
            {
                "step": step,
                "micro": micro,
                "ratio": ratio,
                "candidates": int(candidates.sum()),
                "noised": noised_count,
                "tokens": int(unmasked_attention.sum()),
                "positions": int(batch["attention_mask"].numel()),
            }
        )
        return batch


class MaskRatioCallback(TrainerCallback):
    """Drive the collator's mask-ratio warm-up from the Trainer's optimizer-step counter.

    The ratio of optimizer step ``t`` (``state.global_step`` before the step) is
    :meth:`MaskingConfig.ratio_at` ``(t, state.max_steps)``, the official formula including its ``+1``.

    Why the callback does not simply set ``collator.mask_ratio`` in ``on_step_begin``: the Trainer
    (transformers 5) collates *all* micro-batches of an optimizer step before ``on_step_begin`` runs, and
    accelerate's data loader collates one batch ahead of the one it yields. A ratio set in a step callback
    would therefore reach some micro-batches one step late. Instead the callback tells the collator the
    total step count (``on_train_begin``) and, at every ``on_epoch_begin`` (which the Trainer runs before it
    creates the epoch's iterator), the optimizer step that the epoch's first micro-batch belongs to; the
    collator counts its calls from there (``gradient_accumulation_steps`` micro-batches per step, a
    possibly shorter last step per epoch) and uses the exact ratio of each batch's step. ``collator.mask_ratio``
    is still set in ``on_step_begin`` (the current ratio, for inspection) and ``ratios`` records the ratio of
    every optimizer step. Requires ``dataloader_num_workers=0`` and no evaluation loop sharing the collator.
    """

    def __init__(self, collator: MFTCollator) -> None:
        self.collator = collator
        self.ratios: dict[int, float] = {}

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: D102 - TrainerCallback hook
        if getattr(args, "dataloader_num_workers", 0):
            raise ValueError("MaskRatioCallback needs dataloader_num_workers=0 (the collator keeps step bookkeeping)")
        self.collator.attach_schedule(state.max_steps, args.gradient_accumulation_steps, args.process_index)
        return control

    def on_epoch_begin(self, args, state, control, **kwargs):  # noqa: D102
        self.collator.begin_epoch(state.global_step)
        return control

    def on_step_begin(self, args, state, control, **kwargs):  # noqa: D102
        ratio = self.collator.ratio_at(state.global_step)
        self.collator.mask_ratio = ratio
        self.ratios[state.global_step] = ratio
        return control


def perturb_embeddings(
    embeds: torch.Tensor,
    selected: torch.Tensor,
    attention_mask: torch.Tensor | None,
    config: MaskingConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Apply the ``dropout``/``neftune`` noise of ``config`` to ``embeds`` (B, T, d) at ``selected`` (B, T)."""
    where = selected.to(device=embeds.device, dtype=torch.bool).unsqueeze(-1)
    if config.noise == "dropout":
        q = config.dropout_q
        if q >= 1.0:
            noisy = torch.zeros_like(embeds)
        else:
            keep = torch.rand(embeds.shape, generator=generator, device=embeds.device) >= q
            noisy = embeds * keep.to(embeds.dtype) / (1.0 - q)
    elif config.noise == "neftune":
        d = embeds.shape[-1]
        if attention_mask is None:
            lengths = torch.full(embeds.shape[:1], embeds.shape[1], device=embeds.device)
        else:
            lengths = attention_mask.to(embeds.device).sum(dim=1).clamp(min=1)
        scale = (config.neftune_alpha / torch.sqrt(lengths.to(torch.float32) * d)).to(embeds.dtype)
        uniform = torch.rand(embeds.shape, generator=generator, device=embeds.device) * 2.0 - 1.0
        noisy = embeds + uniform.to(embeds.dtype) * scale.view(-1, 1, 1)
    else:
        raise ValueError(f"noise={config.noise!r} is not an embedding-level noise kind")
    return torch.where(where, noisy, embeds)


def scheduled_sampling_ids(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    selected: torch.Tensor,
    temperature: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Scheduled sampling's corrupted input: ``input_ids`` with each selected token ``t`` replaced by a sample
    from ``softmax(logits[t - 1] / temperature)`` of a no-grad forward pass on the clean ``input_ids``.

    Position 0 of a row is never replaced (nothing predicts it). Returns a new tensor.
    """
    where = selected.to(device=input_ids.device, dtype=torch.bool).clone()
    where[:, 0] = False
    noisy = input_ids.clone()
    if not bool(where.any()):
        return noisy
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        previous = logits[:, :-1][where[:, 1:]].float() / temperature  # (n selected, vocab), row-major order
        draws = torch.multinomial(torch.softmax(previous, dim=-1), 1, generator=generator).squeeze(-1)
    noisy[where] = draws.to(device=noisy.device, dtype=noisy.dtype)
    return noisy


class embedding_noise:  # noqa: N801 - used as a context manager, like torch.no_grad
    """Context manager: while active, the batch's model-level noise is applied.

    Pops ``embedding_noise``/``embedding_noise_seed`` from ``batch`` (so the rest can go to ``model(**batch)``).
    For ``dropout``/``neftune`` it registers a forward hook on ``model.get_input_embeddings()`` that perturbs
    the embeddings at the batch's positions; for ``sampled`` it replaces ``batch["input_ids"]`` by
    :func:`scheduled_sampling_ids`, computed with ``forward_model`` (default ``model``; a Trainer passes its
    wrapped model, so that FSDP/DDP run the extra pass). Without those keys it does nothing. The noise is
    drawn from a generator seeded by the batch, so a recomputed forward (gradient checkpointing) and a
    resumed run see the same noise.
    """

    def __init__(self, model: Any, batch: dict[str, Any], config: MaskingConfig, *, forward_model: Any = None) -> None:
        self.selected = batch.pop("embedding_noise", None)
        seed = batch.pop("embedding_noise_seed", None)
        self.seed = int(seed.flatten()[0]) if seed is not None else None
        self.attention_mask = batch.get("attention_mask")
        self.batch, self.forward_model = batch, forward_model if forward_model is not None else model
        self.model, self.config, self.handle = model, config, None

    def _hook(self, module: Any, args: Any, output: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator(device=output.device).manual_seed(self.seed)
        return perturb_embeddings(output, self.selected, self.attention_mask, self.config, generator)

    def __enter__(self) -> embedding_noise:
        if self.selected is None or not bool(self.selected.any()):
            return self
        if self.config.noise == "sampled":
            ids = self.batch["input_ids"]
            generator = torch.Generator(device=ids.device).manual_seed(self.seed)
            self.batch["input_ids"] = scheduled_sampling_ids(
                self.forward_model, ids, self.attention_mask, self.selected, self.config.sample_temperature, generator
            )
        else:
            self.handle = self.model.get_input_embeddings().register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None


def embedding_noise_trainer_class(base: type | None = None) -> type:
    """A Trainer subclass that applies the collator's model-level noise (``dropout``/``neftune``/``sampled``)."""
    if base is None:
        # transformers.Trainer takes seconds to import, and cotmask.train and cotmask.tiny import this module
        # at start-up, for commands that never train too (cotmask.train keeps its Trainer import local alike).
        from transformers import Trainer as base  # noqa: N813

    class EmbeddingNoiseTrainer(base):
        """Trainer whose ``compute_loss`` applies the model-level noise at the batch's noise positions."""

        def compute_loss(self, model, inputs, *args, **kwargs):
            config = self.data_collator.config
            unwrapped = self.accelerator.unwrap_model(model)
            with embedding_noise(unwrapped, inputs, config, forward_model=model):
                return super().compute_loss(model, inputs, *args, **kwargs)

    return EmbeddingNoiseTrainer
