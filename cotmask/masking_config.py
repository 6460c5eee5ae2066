"""The masking settings of MFT and of the Table 3 regularisers, without torch.

:class:`MaskingConfig` is validated wherever a fine-tune is configured (the workflow checks every merged
fine-tuning setting at parse time, before any job runs); :mod:`cotmask.masking` applies it. The noise kinds
are described in :mod:`cotmask.masking`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cotmask.settings import coerce_fields

TOKEN_NOISE_KINDS = ("mask", "random", "pad", "mixture")
EMBEDDING_NOISE_KINDS = ("dropout", "neftune", "sampled")  # applied with the model, in the forward pass
NOISE_KINDS = TOKEN_NOISE_KINDS + EMBEDDING_NOISE_KINDS
EMBEDDING_NOISE_KEYS = ("embedding_noise", "embedding_noise_seed")
POSITION_KINDS = ("answer", "question", "all")
# kinds whose noise depends on the attention mask, so attend_noised=False would change the noise itself
ATTENTION_READING_KINDS = {"neftune": "length L", "sampled": "clean forward pass"}
IGNORE_INDEX = -100
RENAMED_KEYS = {"warmup_ratio": "mask_warmup_ratio"}  # former masking key -> its name now (an error names it)


@dataclass
class MaskingConfig:
    """How answer (or question) input tokens are corrupted during fine-tuning.

    mask_ratio:   maximum probability ``p`` that a candidate position is noised (0 = plain SFT).
    noise:        ``mask`` | ``random`` | ``pad`` | ``mixture`` | ``dropout`` | ``neftune`` | ``sampled``
                  (module docstring).
    mask_prob:    ``mixture`` only: probability of ``<mask>`` at a selected position (paper's m).
    random_prob:  ``mixture`` only: probability of a uniform random token (paper's r); the rest stay unchanged.
    positions:    ``answer`` (paper; answer tokens incl. EOS), ``question`` (Table 3 ablation: prompt tokens
                  except BOS) or ``all`` (every non-pad token except BOS).
    mask_warmup_ratio: fraction of the total optimizer steps over which the ratio rises linearly from 0
                  to ``mask_ratio`` (paper: 2/3); 0 means a constant ratio from the first step. Not the
                  learning-rate warm-up (``lr_warmup_ratio`` of :class:`cotmask.train.FinetuneConfig`).
    dropout_q:    ``dropout`` only: embedding dropout probability q (1 = zero the embedding).
    neftune_alpha: ``neftune`` only: the NEFTune noise scale alpha.
    sample_temperature: ``sampled`` only: the temperature tau of scheduled sampling (> 0).
    loss_on_noised: keep the loss on noised positions (paper's MFT: True); False drops it there, so the loss
                  is on the non-noised answer tokens only (the variant the paper discusses for Table 3).
    attend_noised: let later tokens attend to noised positions (paper's MFT: True). False zeroes the
                  attention-mask entry of every noised position, so in every layer no query attends to it as a
                  key (the official ``drop_attention_mask``; Sec. 3.3: "on par" with input masking). Only with
                  the token kinds and ``dropout``: NEFTune's length L and scheduled sampling's clean pass read the
                  attention mask.

    Table 3's position rules, as settings: every token = ``positions: all, mask_ratio: 1``; every answer
    token = ``positions: answer, mask_ratio: 1``; a Bernoulli(p) share = ``mask_ratio: p`` (with
    ``mask_warmup_ratio: 0`` for the two "every" rules, whose M_i is 1 throughout).
    """

    mask_ratio: float = 0.0
    noise: str = "mask"
    mask_prob: float = 1.0
    random_prob: float = 0.0
    positions: str = "answer"
    mask_warmup_ratio: float = 0.0
    dropout_q: float = 1.0
    neftune_alpha: float = 5.0
    sample_temperature: float = 1.0
    loss_on_noised: bool = True
    attend_noised: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Convert the fields by their types (:mod:`cotmask.settings`); raise ValueError naming the first bad one."""
        coerce_fields(self)
        for name in ("mask_ratio", "mask_prob", "random_prob", "mask_warmup_ratio", "dropout_q"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"masking: {name} must lie in [0, 1], got {value!r}")
        if self.neftune_alpha < 0:
            raise ValueError(f"masking: neftune_alpha must be >= 0, got {self.neftune_alpha!r}")
        if not self.sample_temperature > 0:
            raise ValueError(f"masking: sample_temperature must be > 0, got {self.sample_temperature!r}")
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"masking: noise must be one of {list(NOISE_KINDS)}, got {self.noise!r}")
        if self.positions not in POSITION_KINDS:
            raise ValueError(
                f"masking: positions must be one of {list(POSITION_KINDS)}, got {self.positions!r}"
            )
        if self.noise == "mixture":
            if self.mask_prob + self.random_prob > 1.0 + 1e-12:
                raise ValueError(
                    f"masking: mask_prob + random_prob must be <= 1, got {self.mask_prob} + {self.random_prob}"
                )
        elif (self.mask_prob, self.random_prob) != (1.0, 0.0):
            raise ValueError(
                f"masking: mask_prob/random_prob apply only to noise='mixture' (noise is {self.noise!r}); "
                "leave them at 1.0/0.0 or use noise='mixture'"
            )
        if self.noise != "dropout" and self.dropout_q != 1.0:
            raise ValueError(f"masking: dropout_q applies only to noise='dropout' (noise is {self.noise!r})")
        if self.noise != "neftune" and self.neftune_alpha != 5.0:
            raise ValueError(f"masking: neftune_alpha applies only to noise='neftune' (noise is {self.noise!r})")
        if self.noise != "sampled" and self.sample_temperature != 1.0:
            raise ValueError(
                f"masking: sample_temperature applies only to noise='sampled' (noise is {self.noise!r})"
            )
        if not self.attend_noised and self.noise in ATTENTION_READING_KINDS:
            raise ValueError(
                f"masking: attend_noised=false does not combine with noise={self.noise!r} (its "
                f"{ATTENTION_READING_KINDS[self.noise]} reads the attention mask); use a token noise kind or 'dropout'"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MaskingConfig:
        """Build from a mapping; unknown keys raise ValueError naming them (a former name: its new one)."""
        renamed = sorted(set(data) & set(RENAMED_KEYS))
        if renamed:
            raise ValueError(f"masking: key {renamed[0]!r} is now called {RENAMED_KEYS[renamed[0]]!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"masking: unknown key(s) {unknown}; known keys are {sorted(known)}")
        return cls(**data)

    @property
    def active(self) -> bool:
        """True when any input token can be noised (``mask_ratio > 0``)."""
        return self.mask_ratio > 0.0

    @property
    def on_embeddings(self) -> bool:
        """True for the model-level kinds (``dropout``, ``neftune``, ``sampled``), applied in the forward pass."""
        return self.active and self.noise in EMBEDDING_NOISE_KINDS

    @property
    def needs_mask_token(self) -> bool:
        """True when the ``<mask>`` token can appear in the noised inputs."""
        if not self.active:
            return False
        return self.noise == "mask" or (self.noise == "mixture" and self.mask_prob > 0.0)

    def ratio_at(self, step: int, max_steps: int) -> float:
        """Mask ratio for the optimizer step ``step`` (0-based: steps already completed) of ``max_steps``.

        Mirrors the official ``compute_loss`` exactly, including its ``+ 1`` in the denominator:
        ``p_t = min(p, p * step / (mask_warmup_ratio * max_steps + 1))``; so the first step (step 0) uses
        ratio 0 and ``p`` is reached one step later than with the plain ``mask_warmup_ratio * max_steps``.
        With ``mask_warmup_ratio == 0`` the ratio is ``p`` from the start.
        """
        p = self.mask_ratio
        if self.mask_warmup_ratio == 0.0 or p == 0.0:
            return p
        return min(p, p * step / (self.mask_warmup_ratio * max_steps + 1.0))

    @classmethod
    def from_flat(cls, settings: dict[str, Any]) -> MaskingConfig:
        """Build from flattened fine-tuning settings (``mask_warmup_ratio`` etc.); other keys are ignored."""
        return cls(**{name: settings[flat] for flat, name in FLAT_MASK_KEYS.items() if flat in settings})


# Every masking field is also accepted flattened, under its own name, at the top level of a fine-tuning
# config and in the workflow's fine-tuning settings: flat key -> MaskingConfig field.
FLAT_MASK_KEYS = {field.name: field.name for field in dataclasses.fields(MaskingConfig)}
