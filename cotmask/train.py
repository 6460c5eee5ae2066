"""Fine-tuning with masked thought (MFT) or plain SFT on the HF Trainer.

``finetune(FinetuneConfig)`` loads a base model, adds ``[PAD]``/``<mask>`` when needed (mean-initialised rows),
encodes the training records, trains with :class:`~cotmask.masking.MFTCollator` and
:class:`~cotmask.masking.MaskRatioCallback`, checkpoints every epoch into ``checkpoint_dir`` (outside the
output, so a restarted job resumes from the last complete checkpoint) and finally writes
``output_dir/`` = ``save_pretrained`` model + tokenizer + ``train_metrics.json`` + a model card
(``README.md``, :mod:`cotmask.model_card`), atomically: the files are written into a hidden ``.NAME.tmp``
folder next to the output and renamed at the end; a failed save (a full disk) removes that folder, and a
later run removes one left by a killed process before it starts.

The per-step record of the noise (noised and candidate tokens of every optimizer step) is saved in
``checkpoint_dir`` at every epoch end, before the epoch's checkpoint, so that a resumed run's
``train_metrics.json`` holds the whole run's record, not only the steps after the resume point.

The Trainer plumbing (:func:`run_training`) is shared with the tiny-model pretraining in
:mod:`cotmask.tiny`. It works unchanged under ``accelerate launch --num_processes N`` (DDP): only the main
process writes the final files.

Determinism: the data order comes from the Trainer's seeded sampler, the masking noise of every micro-batch
from ``(seed, optimizer step, micro-batch, process)``; a resumed run therefore ends with the same weights as an
uninterrupted one (on CPU, with the same thread count).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import Any

import torch

from cotmask.checkpoints import file_signature, replace_dir, settings_fingerprint
from cotmask.diagnostics import DIAGNOSTICS_FILE, DiagnosticsSettings
from cotmask.epoch_diagnostics import EpochDiagnostics, prepare_subset
from cotmask.encoding import encode_records
from cotmask.loss import supports_label_logits, use_label_logits
from cotmask.masking import (
    MaskingConfig,
    MaskRatioCallback,
    MFTCollator,
    add_mask_token,
    add_pad_token,
    embedding_noise_trainer_class,
)
from cotmask.masking_config import FLAT_MASK_KEYS
from cotmask.model_card import write_model_card
from cotmask.prompts import TEMPLATES
from cotmask.records import read_jsonl, write_json
from cotmask.scoring import SCORING_KINDS
from cotmask.settings import coerce_fields
from cotmask.trainer_args import FIXED_TRAINER_ARGS, check_training_args

LR_SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "cosine_with_min_lr",
    "warmup_stable_decay",
)
# Config fields that do not change the trained weights (ignored when matching checkpoints to a config).
# fields that do not change the trained weights (the diagnostics measure without touching the optimisation)
NON_TRAINING_FIELDS = (
    "output_dir", "checkpoint_dir", "threads", "logging_steps", "save_total_limit",
    "diagnostics_test_file", "diagnostics_items", "diagnostics_max_new_tokens", "diagnostics_batch_size",
    "diagnostics_scoring", "compile_cache_dir",
)
#: training fields added after checkpoints existed, with their defaults: left out of the fingerprint while at
#: the default, so that earlier checkpoints stay valid ("mask", name) for a masking field
FIELDS_ADDED_LATER = {("mask", "attend_noised"): True, ("compile",): False}
CHECKPOINT_FINGERPRINT = "cotmask_run.json"
# the per-step noise record of the completed epochs, next to the checkpoints (kept across a resume)
NOISE_RECORD_FILE = "noise_record.json"
# TrainingArguments the contract depends on: cotmask.trainer_args.FIXED_TRAINER_ARGS (set by run_training; not
# overridable through training_args)


def log(message: str) -> None:
    """Progress message to stderr (the job's log); only the main process of a distributed run prints."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"[cotmask] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------
@dataclass
class FinetuneConfig:
    """Everything a fine-tuning run needs (the paper's defaults where it has one).

    ``mask.mask_ratio == 0`` is plain SFT. ``checkpoint_dir`` defaults to ``<output_dir>.checkpoints`` next to
    the output (never inside it). ``training_args`` passes extra keyword arguments to
    ``transformers.TrainingArguments`` (e.g. ``fsdp``, ``tf32``) for paper-scale runs.

    Speed settings (part of the checkpoint fingerprint: they change the floating-point path):
    ``label_logits_only`` projects only the labelled positions onto the vocabulary (:mod:`cotmask.loss`: the
    same loss and gradients, without the question's and the padding's logits; architectures it does not cover
    fall back to the model's own loss); with it, ``length_buckets > 1`` runs the decoder on that many groups
    of a batch's rows of similar length, each without its all-padding columns (the same batch and loss, less
    padding). ``compile`` runs that path's decoder ``torch.compile``-d (:mod:`cotmask.compile`: the same
    function up to rounding; kernels cached in ``compile_cache_dir``, torch's default folder when None).
    ``group_by_length`` is different in kind: the Trainer's length-grouped sampler changes which
    examples share a batch, so it changes the optimisation (off by default; docs/speed.md).
    """

    base_model: str
    train_file: str
    output_dir: str
    checkpoint_dir: str | None = None
    mask: MaskingConfig = field(default_factory=MaskingConfig)
    learning_rate: float = 1e-5
    epochs: int = 3
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    lr_warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 512
    prompt_template: str = "alpaca"
    seed: int = 1
    threads: int = 1
    bf16: bool = False
    save_every_epoch: bool = True
    save_total_limit: int | None = None
    logging_steps: int = 10
    limit: int | None = None
    mask_token: str = "<mask>"
    pad_token: str = "[PAD]"
    gradient_checkpointing: bool = False
    group_by_length: bool = False
    label_logits_only: bool = True
    length_buckets: int = 1
    compile: bool = False
    compile_cache_dir: str | None = None
    training_args: dict = field(default_factory=dict)
    diagnostics_test_file: str | None = None
    diagnostics_items: int = 100
    diagnostics_max_new_tokens: int = 160
    diagnostics_batch_size: int = 128
    diagnostics_scoring: str = "gsm8k"

    def __post_init__(self) -> None:
        self.validate()

    # -- validation ----------------------------------------------------------------------------------
    def validate(self) -> None:
        """Convert every field by its type (:mod:`cotmask.settings`), then check the values; raise ValueError
        naming the first bad key."""
        coerce_fields(self, skip=("mask",))
        if isinstance(self.mask, dict):
            self.mask = MaskingConfig.from_dict(self.mask)
        if not isinstance(self.mask, MaskingConfig):
            raise ValueError(f"config key 'mask' must be a mapping of masking fields, got {self.mask!r}")
        self.mask.validate()
        for name in ("base_model", "train_file", "output_dir"):
            if not getattr(self, name).strip():
                raise ValueError(f"config key {name!r} must not be empty")
        _positive(self, "learning_rate", "epochs", "per_device_batch_size", "gradient_accumulation_steps",
                  "threads", "logging_steps", "length_buckets", "diagnostics_items", "diagnostics_max_new_tokens",
                  "diagnostics_batch_size")
        if self.diagnostics_scoring not in SCORING_KINDS:
            raise ValueError(
                f"config key 'diagnostics_scoring' must be one of {list(SCORING_KINDS)}, got {self.diagnostics_scoring!r}"
            )
        if self.max_length < 8:
            raise ValueError(f"config key 'max_length' must be >= 8, got {self.max_length}")
        if not 0.0 <= self.lr_warmup_ratio < 1.0:
            raise ValueError(f"config key 'lr_warmup_ratio' must lie in [0, 1), got {self.lr_warmup_ratio}")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ValueError("config keys 'weight_decay' and 'max_grad_norm' must be >= 0")
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ValueError(
                f"config key 'lr_scheduler' must be one of {list(LR_SCHEDULERS)}, got {self.lr_scheduler!r}"
            )
        if self.prompt_template not in TEMPLATES:
            raise ValueError(
                f"config key 'prompt_template' must be one of {sorted(TEMPLATES)}, got {self.prompt_template!r}"
            )
        for name in ("limit", "save_total_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"config key {name!r} must be >= 1 or null, got {value}")
        if self.checkpoint_dir is None:
            self.checkpoint_dir = str(Path(self.output_dir).parent / (Path(self.output_dir).name + ".checkpoints"))
        out, ckpt = Path(self.output_dir).resolve(), Path(self.checkpoint_dir).resolve()
        if ckpt == out or out in ckpt.parents or ckpt in out.parents:
            raise ValueError(
                f"config key 'checkpoint_dir' ({self.checkpoint_dir}) must lie outside 'output_dir' "
                f"({self.output_dir}) and vice versa: the workflow deletes outputs before a rerun"
            )
        check_training_args(self.training_args)

    # -- construction ----------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        """Build from a mapping; masking fields may be nested under ``mask`` or flattened (the keys of
        :data:`~cotmask.masking_config.FLAT_MASK_KEYS`: ``mask_ratio``, ``noise``, ``mask_warmup_ratio`` ...).
        Unknown keys and bad values raise ValueError naming the key."""
        if not isinstance(data, dict):
            raise ValueError(f"a fine-tuning config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in data if k not in known and k not in FLAT_MASK_KEYS)
        if unknown:
            raise ValueError(
                f"unknown config key(s) {unknown}; known keys: {sorted(known | set(FLAT_MASK_KEYS))}"
            )
        missing = [k for k in ("base_model", "train_file", "output_dir") if data.get(k) in (None, "")]
        if missing:
            raise ValueError(f"missing config key(s) {missing}")
        kwargs = {k: v for k, v in data.items() if k in known and k != "mask"}
        nested = data.get("mask") or {}
        if isinstance(nested, MaskingConfig):
            nested = dataclasses.asdict(nested)
        if not isinstance(nested, dict):
            raise ValueError(f"config key 'mask' must be a mapping, got {nested!r}")
        mask = dict(nested)
        for flat, name in FLAT_MASK_KEYS.items():
            if flat in data:
                if name in nested:
                    raise ValueError(f"config key {flat!r} given both flattened and under 'mask'")
                mask[name] = data[flat]
        kwargs["mask"] = MaskingConfig.from_dict(mask)
        return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str | os.PathLike, overrides: list[str] | None = None) -> FinetuneConfig:
        """Read a YAML or JSON config file, apply ``key=value`` overrides (values parsed as YAML)."""
        import yaml

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such config file")
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle) if path.suffix == ".json" else yaml.safe_load(handle)
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise ValueError(f"{path}: cannot parse config ({error})") from None
        data = data or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config must be a mapping at the top level")
        apply_overrides(data, overrides or [])
        try:
            return cls.from_dict(data)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain nested mapping (``mask`` as a dict), JSON-serialisable."""
        return dataclasses.asdict(self)

    def training_fingerprint(self) -> str:
        """Hash of what determines the trained weights (used to match existing checkpoints to this run):
        the training fields plus the size and modification time of the train file and base model files."""
        data = {k: v for k, v in self.to_dict().items() if k not in NON_TRAINING_FIELDS}
        for *owner, name in FIELDS_ADDED_LATER:  # at their default: the fingerprint from before they existed
            fields = data["mask"] if owner else data
            if fields[name] == FIELDS_ADDED_LATER[(*owner, name)]:
                del fields[name]
        data["_inputs"] = [file_signature(self.train_file), file_signature(self.base_model)]
        return settings_fingerprint(data)


def _positive(cfg: Any, *names: str) -> None:
    for name in names:
        if getattr(cfg, name) <= 0:
            raise ValueError(f"config key {name!r} must be > 0, got {getattr(cfg, name)}")


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``key=value`` strings to a config mapping; dotted keys reach nested mappings (``mask.noise``)."""
    import yaml

    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else ""
        target = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"--set {key}: {part!r} is not a mapping")
        target[parts[-1]] = value
    return data


# ----------------------------------------------------------------------------------------------------------
# Checkpoints and atomic outputs
# ----------------------------------------------------------------------------------------------------------
def last_complete_checkpoint(checkpoint_dir: str | os.PathLike) -> str | None:
    """The ``checkpoint-N`` folder with the largest N whose save finished, or None.

    The Trainer writes ``trainer_state.json`` last, so a folder without it (or without weights) is a save
    interrupted half-way and is skipped.
    """
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return None
    found = []
    for child in root.iterdir():
        name = child.name
        if child.is_dir() and name.startswith("checkpoint-") and name[len("checkpoint-"):].isdigit():
            found.append((int(name[len("checkpoint-"):]), child))
    for _, child in sorted(found, reverse=True):
        has_state = (child / "trainer_state.json").is_file()
        has_weights = any(child.glob("*.safetensors")) or any(child.glob("*.bin")) or any(child.glob("pytorch_model*"))
        if has_state and has_weights:
            return str(child)
    return None


def prepare_checkpoint_dir(checkpoint_dir: str, fingerprint: str, is_main: bool) -> None:
    """Make ``checkpoint_dir``; drop checkpoints written for a different configuration (main process only)."""
    root = Path(checkpoint_dir)
    marker = root / CHECKPOINT_FINGERPRINT
    if not is_main:
        return
    root.mkdir(parents=True, exist_ok=True)
    previous = None
    if marker.is_file():
        try:
            previous = json.loads(marker.read_text()).get("fingerprint")
        except json.JSONDecodeError:
            previous = None
    stale = [c for c in root.iterdir() if c.is_dir() and c.name.startswith("checkpoint-")]
    if stale and previous != fingerprint:
        log(f"{checkpoint_dir}: {len(stale)} checkpoint(s) from a different configuration; removing them")
        for child in stale:
            shutil.rmtree(child)
    write_json({"fingerprint": fingerprint}, marker)


# ----------------------------------------------------------------------------------------------------------
# Trainer plumbing shared with cotmask.tiny
# ----------------------------------------------------------------------------------------------------------
def _progress_to_stderr(trainer: Any) -> None:
    """Make the Trainer's log lines go to stderr like its progress bar (they go to stdout by default)."""
    from transformers.trainer_callback import ProgressCallback

    class StderrProgressCallback(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in logs.items() if k != "total_flos"}
                print(str(shown), file=sys.stderr, flush=True)

    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(StderrProgressCallback())


class _TokenCounter:
    """Remembers the token counter at the start of this ``train()`` call (it is restored on resume)."""

    def __init__(self) -> None:
        self.start_tokens = 0
        self.start_step = 0

    def __call__(self, state: Any) -> None:
        self.start_tokens = int(state.num_input_tokens_seen or 0)
        self.start_step = int(state.global_step)


class NoiseRecord:
    """The collator's per-step record of a whole run: ``{step: [noised, candidates, tokens, positions]}``.

    A resumed run's collator has seen only the batches after its resume point; the steps before it come
    from ``path`` (``checkpoint_dir/noise_record.json``), which :meth:`callback` rewrites at every epoch end
    -- before the Trainer writes that epoch's checkpoint -- with the steps completed so far. At the start of a
    run only the steps before its resume step are taken from the file (and only when it was written for the
    same settings ``fingerprint``), so the record never mixes runs. Recording draws no random number.
    """

    def __init__(self, collator: MFTCollator, path: Path | None, fingerprint: str) -> None:
        self.collator, self.path, self.fingerprint = collator, path, fingerprint
        self.earlier: dict[int, list[int]] = {}

    def this_run(self, before: int | None = None) -> dict[int, list[int]]:
        """This run's batches per optimizer step (only the steps before ``before``, when given)."""
        steps: dict[int, list[int]] = {}
        for h in self.collator.history:
            if before is not None and h["step"] >= before:
                continue
            acc = steps.setdefault(int(h["step"]), [0, 0, 0, 0])
            acc[0] += h["noised"]
            acc[1] += h["candidates"]
            acc[2] += h.get("tokens", 0)
            acc[3] += h.get("positions", 0)
        return steps

    def steps(self, before: int | None = None) -> dict[int, list[int]]:
        """The whole run's record: the steps saved by earlier runs, then this run's."""
        return dict(sorted({**self.earlier, **self.this_run(before)}.items()))

    def load(self, resume_step: int) -> None:
        """Take the saved steps before ``resume_step`` (none when the file is absent or of other settings)."""
        self.earlier = {}
        if self.path is None or resume_step <= 0 or not self.path.is_file():
            return
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            log(f"{self.path}: unreadable; the noise record starts at step {resume_step}")
            return
        if saved.get("fingerprint") != self.fingerprint:
            return
        self.earlier = {int(step): list(values) for step, values in saved.get("steps", {}).items()
                        if int(step) < resume_step}

    def save(self, completed_steps: int) -> None:
        if self.path is not None:
            steps = self.steps(before=completed_steps)
            write_json({"fingerprint": self.fingerprint, "steps": {str(k): v for k, v in steps.items()}}, self.path)

    def callback(self) -> Any:
        """The TrainerCallback that loads the record at the start and saves it at every epoch end."""
        from transformers import TrainerCallback

        record = self

        class _NoiseRecordCallback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                record.load(int(state.global_step))
                return control

            def on_epoch_end(self, args, state, control, **kwargs):
                if state.is_world_process_zero:
                    record.save(int(state.global_step))
                return control

        return _NoiseRecordCallback()


def _output_tmp(output_dir: str) -> Path:
    """The hidden folder the output is assembled in before it gets its name."""
    out = Path(output_dir)
    return out.parent / f".{out.name}.tmp"


def remove_partial_outputs(output_dir: str) -> list[Path]:
    """Remove what an interrupted save of ``output_dir`` left next to it (``.NAME.tmp``, ``.NAME.old-PID``)."""
    out = Path(output_dir)
    if not out.parent.is_dir():
        return []
    leftovers = [p for p in out.parent.glob(f".{out.name}.old-*") if p.is_dir()]
    if _output_tmp(output_dir).is_dir():
        leftovers.append(_output_tmp(output_dir))
    for path in leftovers:
        log(f"removing {path}, left by an interrupted save")
        shutil.rmtree(path, ignore_errors=True)
    return leftovers


def run_training(
    *,
    model: Any,
    tokenizer: Any,
    dataset: list[dict],
    collator: MFTCollator,
    output_dir: str,
    checkpoint_dir: str | None,
    fingerprint: str,
    trainer_args: dict[str, Any],
    metrics_name: str,
    metrics_extra: dict[str, Any],
    callbacks: list[Any] | None = None,
    trainer_class: type | None = None,
    label_logits_only: bool = False,
    length_buckets: int = 1,
    compile: bool = False,
    compile_cache_dir: str | None = None,
    finalize: Callable[[Path, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``dataset`` with ``collator``; resume from ``checkpoint_dir``; save to ``output_dir``.

    With ``label_logits_only`` the model's training loss is :func:`cotmask.loss.label_logits_loss` with
    ``length_buckets`` (where the architecture is covered; otherwise one log line and the model's own loss).
    ``compile`` runs that loss's decoder ``torch.compile``-d (:mod:`cotmask.compile`, kernels cached in
    ``compile_cache_dir``); it needs the label path, and without it or without a compiler backend the run
    trains eagerly after one log line.

    ``trainer_args`` are TrainingArguments keyword arguments (epochs, batch size, schedule, ...); this
    function fixes the ones the contract depends on (epoch checkpoints in ``checkpoint_dir``,
    ``dataloader_num_workers=0``, no column removal, no reporting). Returns the metrics dict that is also
    written to ``output_dir/<metrics_name>``. ``finalize(folder, metrics)`` may add files to the output folder
    and entries to the metrics before both are written (the folder gets its final name afterwards).
    """
    label_path = label_logits_only and supports_label_logits(model)
    if label_logits_only and not label_path:
        log(f"label_logits_only: {type(model).__name__} is not covered by cotmask.loss; using the model's own loss")
    if compile and not label_path:
        log("compile: only the label-logits loss path is compiled (label_logits_only on a covered architecture); "
            "training eagerly")
    compiled = None
    if compile and label_path:
        from cotmask.compile import compile_decoder

        compiled = compile_decoder(model, cache_dir=compile_cache_dir)
    if label_path:
        use_label_logits(model, buckets=length_buckets, decoder=compiled)
    if compile:  # only runs that ask for it carry the keys: an eager run's metrics are what they were
        metrics_extra = {**metrics_extra, "compiled": compiled is not None}
    scratch = None
    if checkpoint_dir is None:
        scratch = tempfile.mkdtemp(prefix="cotmask-trainer-")
    try:
        return _run_training(
            model=model, tokenizer=tokenizer, dataset=dataset, collator=collator, output_dir=output_dir,
            checkpoint_dir=checkpoint_dir, trainer_dir=checkpoint_dir or scratch, fingerprint=fingerprint,
            trainer_args=trainer_args, metrics_name=metrics_name, metrics_extra=metrics_extra,
            callbacks=callbacks, trainer_class=trainer_class, finalize=finalize,
        )
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _run_training(
    *, model, tokenizer, dataset, collator, output_dir, checkpoint_dir, trainer_dir, fingerprint, trainer_args,
    metrics_name, metrics_extra, callbacks, trainer_class, finalize=None,
) -> dict[str, Any]:
    """The body of :func:`run_training` (``trainer_dir``: where the Trainer writes checkpoints).

    Long because it is one sequence that must stay in order: arguments, resume point, Trainer, training,
    the metrics of this run, then the atomic save (every process takes part in the collective steps)."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    args = TrainingArguments(
        output_dir=trainer_dir,
        save_strategy="epoch" if checkpoint_dir else "no",
        **FIXED_TRAINER_ARGS,
        **trainer_args,
    )
    resume = None
    if args.process_index == 0:
        remove_partial_outputs(output_dir)
    if checkpoint_dir:
        with args.main_process_first(desc="checkpoint directory"):
            prepare_checkpoint_dir(checkpoint_dir, fingerprint, args.process_index == 0)
            resume = last_complete_checkpoint(checkpoint_dir)
    ratio_callback = MaskRatioCallback(collator)
    noise_record = NoiseRecord(collator, Path(checkpoint_dir) / NOISE_RECORD_FILE if checkpoint_dir else None,
                               fingerprint)
    counter = _TokenCounter()

    class _StartCallback(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            counter(state)
            return control

    trainer = (trainer_class or Trainer)(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[ratio_callback, _StartCallback(), noise_record.callback(), *(callbacks or [])],
    )
    _progress_to_stderr(trainer)
    if resume:
        log(f"resuming from {resume}")
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - started
    state = trainer.state

    tokens = int(state.num_input_tokens_seen or 0) - counter.start_tokens
    steps_this_run = int(state.global_step) - counter.start_step
    max_steps = int(state.max_steps)
    losses = [
        {"step": int(e["step"]), "epoch": e.get("epoch"), "loss": e["loss"], "learning_rate": e.get("learning_rate")}
        for e in state.log_history
        if "loss" in e and "step" in e
    ]
    record = noise_record.steps()
    metrics = {
        **metrics_extra,
        "optimizer_steps": int(state.global_step),
        "max_steps": max_steps,
        "steps_this_run": steps_this_run,
        "resumed_from": resume,
        "train_wall_time_s": round(wall, 3),
        "train_tokens_this_run": tokens,
        "tokens_per_s": round(tokens / wall, 2) if wall > 0 else None,
        "train_loss": result.training_loss if steps_this_run else None,
        "loss_curve": losses,
        "mask_ratio_per_step": [collator.config.ratio_at(s, max_steps) for s in range(max_steps)],
        "observed_noise_fraction_per_step": {
            str(s): round(n / c, 5) for s, (n, c, _, _) in record.items() if c
        },
        "world_size": int(args.world_size),
        "padding_fraction": _padding_fraction(record),
        "loss_batches": dict(getattr(model, "label_logits_counts", None) or {"full_logits": steps_this_run}),
        "train_sampling_strategy": str(args.train_sampling_strategy),
        "optimizer": str(args.optim),
    }
    if metrics.get("compiled"):
        from cotmask.compile import compile_seconds

        metrics["compile_time_s"] = compile_seconds()
    _save_output(trainer, Path(output_dir), metrics, metrics_name, finalize)
    if trainer.is_world_process_zero():
        log(f"wrote {output_dir} ({state.global_step} optimizer steps, {wall:.1f} s)")
    return metrics


def _save_output(trainer: Any, out: Path, metrics: dict[str, Any], metrics_name: str,
                 finalize: Callable[[Path, dict[str, Any]], None] | None) -> None:
    """Assemble the output in its hidden tmp folder and rename it; on any failure (a full disk, an error in
    ``finalize``) the tmp folder is removed and the error raised: no partial output is left behind."""
    tmp = _output_tmp(str(out))
    main = trainer.is_world_process_zero()
    if main:
        out.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
    trainer.accelerator.wait_for_everyone()
    try:
        trainer.save_model(str(tmp))
        if main:
            if finalize is not None:
                finalize(tmp, metrics)
            write_json(metrics, tmp / metrics_name)
            replace_dir(tmp, out)
    except BaseException:
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    trainer.accelerator.wait_for_everyone()


def _padding_fraction(record: dict[int, list[int]]) -> float | None:
    """Share of the collated positions that were padding (the whole run's batches)."""
    tokens = sum(values[2] for values in record.values())
    positions = sum(values[3] for values in record.values())
    return round(1.0 - tokens / positions, 5) if positions else None


def training_arguments(
    *,
    epochs: int,
    batch_size: int,
    accumulation: int,
    learning_rate: float,
    lr_warmup_ratio: float,
    lr_scheduler: str,
    weight_decay: float,
    max_grad_norm: float,
    seed: int,
    logging_steps: int,
    bf16: bool = False,
    save_total_limit: int | None = None,
    gradient_checkpointing: bool = False,
    group_by_length: bool = False,
    extra: dict | None = None,
) -> dict[str, Any]:
    """TrainingArguments keyword arguments from cotmask's names.

    The optimizer is the Trainer's default, ``adamw_torch_fused`` (fused AdamW, on CPU too); with
    ``group_by_length`` batches are drawn by the Trainer's length-grouped sampler.
    """
    args = dict(
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=learning_rate,
        warmup_steps=lr_warmup_ratio,  # a float < 1 is a fraction of the total steps in transformers 5
        lr_scheduler_type=lr_scheduler,
        weight_decay=weight_decay,
        max_grad_norm=max_grad_norm,
        seed=seed,
        logging_steps=logging_steps,
        logging_first_step=True,
        bf16=bf16,
        save_total_limit=save_total_limit,
        activation_checkpointing=gradient_checkpointing,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        dataloader_pin_memory=torch.cuda.is_available(),
        # without a GPU, use_cpu lets a multi-process launch (torchrun/accelerate) form a gloo DDP group
        use_cpu=not torch.cuda.is_available(),
        ddp_find_unused_parameters=False,
    )
    args.update(extra or {})
    return args


# ----------------------------------------------------------------------------------------------------------
# Fine-tuning
# ----------------------------------------------------------------------------------------------------------
def prepare_model_and_tokenizer(base_model: str, mask: MaskingConfig, *, mask_token: str = "<mask>",
                                pad_token: str = "[PAD]") -> tuple[Any, Any, dict[str, Any]]:
    """Load the base model and tokenizer; add a pad token if missing and ``<mask>`` if the noise needs it.

    Returns (model, tokenizer, ids) with ids = pad/mask/bos token ids and ``base_vocab_size`` (the vocabulary
    before the additions: the range random-token noise draws from, as the official code).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cotmask.generation import load_pretrained

    tokenizer = load_pretrained(AutoTokenizer.from_pretrained, base_model)
    model = load_pretrained(AutoModelForCausalLM.from_pretrained, base_model, dtype=torch.float32)
    base_vocab = len(tokenizer)
    pad_id = add_pad_token(model, tokenizer, pad_token) if tokenizer.pad_token is None else tokenizer.pad_token_id
    mask_id = add_mask_token(model, tokenizer, mask_token) if mask.needs_mask_token else None
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{base_model}: the tokenizer has no EOS token")
    ids = {"pad_token_id": int(pad_id), "mask_token_id": mask_id, "bos_token_id": tokenizer.bos_token_id,
           "eos_token_id": tokenizer.eos_token_id, "base_vocab_size": base_vocab}
    return model, tokenizer, ids


def load_training_examples(cfg: FinetuneConfig, tokenizer: Any) -> tuple[list[dict], dict[str, int]]:
    """Read and encode ``cfg.train_file``; drop examples whose answer was truncated away entirely."""
    records = read_jsonl(cfg.train_file)
    if cfg.limit is not None:
        records = records[: cfg.limit]
    if not records:
        raise ValueError(f"{cfg.train_file}: no training records")
    encoded = encode_records(tokenizer, records, template=cfg.prompt_template, max_length=cfg.max_length)
    kept = [e for e in encoded if e["prompt_length"] < len(e["input_ids"])]
    truncated = sum(1 for e in encoded if e["input_ids"][-1] != tokenizer.eos_token_id)
    counts = {"n_records": len(records), "n_examples": len(kept), "n_dropped_no_answer": len(encoded) - len(kept),
              "n_truncated": truncated,
              "answer_tokens": sum(len(e["input_ids"]) - e["prompt_length"] for e in kept)}
    if not kept:
        raise ValueError(f"{cfg.train_file}: every example lost its answer to max_length={cfg.max_length}")
    return kept, counts


def finetune(
    cfg: FinetuneConfig, *, callbacks: list[Any] | None = None, trainer_class: type | None = None
) -> dict[str, Any]:
    """Fine-tune ``cfg.base_model`` on ``cfg.train_file`` (MFT if ``cfg.mask.mask_ratio > 0``, else SFT).

    Writes ``cfg.output_dir`` (model, tokenizer, ``train_metrics.json``) and returns the metrics.
    ``callbacks`` are extra TrainerCallbacks (tests use them to interrupt a run); ``trainer_class`` replaces
    ``transformers.Trainer`` by a subclass (tests record what each training step consumed).

    (Its length is the list of the config's fields handed to the collator and TrainingArguments, one per line.)
    """
    cfg.validate()
    if not Path(cfg.train_file).is_file():
        raise FileNotFoundError(f"{cfg.train_file}: training file not found (config key 'train_file')")
    if not Path(cfg.base_model).exists() and (
        cfg.base_model.startswith((".", "/", "~")) or cfg.base_model.count("/") > 1
    ):
        raise FileNotFoundError(f"{cfg.base_model}: base model directory not found (config key 'base_model')")
    torch.set_num_threads(cfg.threads)
    model, tokenizer, ids = prepare_model_and_tokenizer(
        cfg.base_model, cfg.mask, mask_token=cfg.mask_token, pad_token=cfg.pad_token
    )
    examples, counts = load_training_examples(cfg, tokenizer)
    log(f"fine-tuning {cfg.base_model} on {counts['n_examples']} examples "
        f"(mask_ratio={cfg.mask.mask_ratio}, noise={cfg.mask.noise}, epochs={cfg.epochs})")
    collator = MFTCollator(
        cfg.mask,
        pad_token_id=ids["pad_token_id"],
        mask_token_id=ids["mask_token_id"],
        vocab_size=ids["base_vocab_size"],
        bos_token_id=ids["bos_token_id"],
        seed=cfg.seed,
    )
    trainer_args = training_arguments(
        epochs=cfg.epochs,
        batch_size=cfg.per_device_batch_size,
        accumulation=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_warmup_ratio=cfg.lr_warmup_ratio,
        lr_scheduler=cfg.lr_scheduler,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        bf16=cfg.bf16,
        save_total_limit=cfg.save_total_limit,
        gradient_checkpointing=cfg.gradient_checkpointing,
        group_by_length=cfg.group_by_length,
        extra=cfg.training_args,
    )
    if cfg.mask.on_embeddings:  # dropout/NEFTune/scheduled-sampling noise is applied with the model
        trainer_class = embedding_noise_trainer_class(trainer_class)
    diagnostics = diagnostics_callback(cfg, tokenizer, n_train_examples=len(examples))
    if diagnostics is not None:
        callbacks = [*(callbacks or []), diagnostics]

    def finalize(folder: Path, metrics: dict[str, Any]) -> None:
        """Add the diagnostics (when on) and the model card to the output folder before it is renamed."""
        if diagnostics is not None:
            diagnostics.finalize(folder, metrics)
        write_model_card(folder, metrics)
    return run_training(
        model=model,
        tokenizer=tokenizer,
        dataset=examples,
        collator=collator,
        output_dir=cfg.output_dir,
        checkpoint_dir=cfg.checkpoint_dir if cfg.save_every_epoch else None,
        fingerprint=cfg.training_fingerprint(),
        trainer_args=trainer_args,
        metrics_name="train_metrics.json",
        metrics_extra={"config": cfg.to_dict(), "data": counts, "token_ids": ids, "threads": cfg.threads},
        callbacks=callbacks,
        trainer_class=trainer_class,
        label_logits_only=cfg.label_logits_only,
        length_buckets=cfg.length_buckets,
        compile=cfg.compile,
        compile_cache_dir=cfg.compile_cache_dir,
        finalize=finalize,
    )


def diagnostics_callback(cfg: FinetuneConfig, tokenizer: Any, *, n_train_examples: int) -> EpochDiagnostics | None:
    """The epoch-end diagnostics of this fine-tune (None when ``diagnostics_test_file`` is not set): a fixed
    subset of the training records actually used (``limit`` applied) and of the test file."""
    if cfg.diagnostics_test_file is None:
        return None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # the main process alone measures (FSDP would hang)
        raise ValueError("config key 'diagnostics_test_file': the diagnostics run in single-process fine-tunes "
                         "only; leave it unset (workflow: diagnostics.items 0) for multi-process runs")
    if not Path(cfg.diagnostics_test_file).is_file():
        raise FileNotFoundError(
            f"{cfg.diagnostics_test_file}: diagnostics test file not found (config key 'diagnostics_test_file')"
        )
    settings = DiagnosticsSettings(
        n_items=cfg.diagnostics_items, max_new_tokens=cfg.diagnostics_max_new_tokens,
        batch_size=cfg.diagnostics_batch_size, scoring=cfg.diagnostics_scoring,
    )
    train_records = read_jsonl(cfg.train_file)[: cfg.limit]
    subsets = [
        prepare_subset(name, records, tokenizer, settings, prompt_template=cfg.prompt_template,
                       max_length=cfg.max_length)
        for name, records in (("train", train_records), ("test", read_jsonl(cfg.diagnostics_test_file)))
    ]
    path = Path(cfg.checkpoint_dir) / DIAGNOSTICS_FILE if cfg.save_every_epoch else None
    return EpochDiagnostics(tokenizer, subsets, settings, path, n_train_examples)


# ----------------------------------------------------------------------------------------------------------
# Multi-process launch
# ----------------------------------------------------------------------------------------------------------
def accelerate_command(
    config_path: str, *, num_processes: int, accelerate_config: str | None = None
) -> list[str]:
    """The ``accelerate launch`` command that runs ``cotmask train --config config_path`` on N processes.

    With an accelerate config file (e.g. ``config/accelerate/fsdp_llama.yaml``: FSDP as the paper's 8-GPU
    runs) it is used; without one, plain multi-GPU DDP.
    """
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    command += ["--config_file", accelerate_config] if accelerate_config else ["--multi_gpu"]
    command += ["--num_processes", str(num_processes), "-m", "cotmask.cli", "train", "--config", config_path]
    return command


def run_finetune(
    cfg: FinetuneConfig | Mapping[str, Any],
    *,
    num_processes: int = 1,
    accelerate_config: str | None = None,
    config_path: str | None = None,
) -> dict[str, Any] | None:
    """Fine-tune in this process, or with ``num_processes > 1`` as one process per GPU via accelerate.

    The multi-process form writes ``cfg`` as JSON to ``config_path`` (default: next to the checkpoints,
    outside the output) and waits for ``accelerate launch``; it returns None (metrics are in the output's
    ``train_metrics.json``). ``cfg`` may also be the mapping :meth:`FinetuneConfig.from_dict` takes (what the
    workflow's adapter passes, so that it need not import this module: :func:`cotmask.worker.run_job`).
    """
    if not isinstance(cfg, FinetuneConfig):
        cfg = FinetuneConfig.from_dict(dict(cfg))
    if num_processes <= 1:
        return finetune(cfg)
    path = Path(config_path or f"{cfg.checkpoint_dir or cfg.output_dir + '.checkpoints'}.config.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    command = accelerate_command(str(path), num_processes=num_processes, accelerate_config=accelerate_config)
    print("launching:", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, stdout=sys.stderr, stderr=sys.stderr)
    return None
