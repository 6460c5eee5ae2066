"""``cotmask tokenizer``, ``cotmask pretrain`` (the tiny models) and ``cotmask train`` (one fine-tune).

All three need torch; each handler imports its library module when it runs, so that building this group's
parser costs little. Only ``--shape`` (the model shapes of :mod:`cotmask.tiny`) and the run-file reference of
``train --help`` import the library earlier. The library's log lines (what was read and written) go to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from cotmask.cli.common import add_command, add_corpus, add_key_values, add_out, add_seed, add_threads, print_json


def _tokenizer(args: argparse.Namespace) -> int:
    from cotmask.logs import log_to_stderr
    from cotmask.tiny import train_tokenizer

    log_to_stderr()

    train_tokenizer(
        args.corpus, args.out, vocab_size=args.vocab_size, seed=args.seed, split_digits=not args.number_tokens
    )
    print(f"tokenizer written to {args.out}", file=sys.stderr)
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from cotmask.logs import log_to_stderr
    from cotmask.tiny import build_base_model

    log_to_stderr()

    metrics = build_base_model(
        args.tokenizer, args.corpus, args.out, shape=args.shape, hidden_size=args.hidden_size,
        num_layers=args.num_layers, num_heads=args.num_heads, num_kv_heads=args.num_kv_heads,
        intermediate_size=args.intermediate_size, max_position_embeddings=args.max_position_embeddings,
        sliding_window=args.sliding_window, pretrain_epochs=args.epochs, pretrain_lr=args.lr,
        batch_size=args.batch_size, max_length=args.max_length, seed=args.seed, threads=args.threads,
        checkpoint_dir=args.checkpoint_dir, group_by_length=args.group_by_length,
        label_logits_only=not args.full_logits, length_buckets=args.length_buckets, compile=args.compile,
        compile_cache_dir=args.compile_cache_dir,
    )
    print_json({k: metrics.get(k) for k in ("n_parameters", "optimizer_steps", "train_wall_time_s")})
    return 0


def _train(args: argparse.Namespace) -> int:
    from cotmask.logs import log_to_stderr
    from cotmask.train import FinetuneConfig, finetune

    log_to_stderr()

    metrics = finetune(FinetuneConfig.from_file(args.config, args.set))
    if int(os.environ.get("RANK", "0")) == 0:  # one summary line, not one per process
        print_json({k: metrics[k] for k in ("optimizer_steps", "train_wall_time_s", "tokens_per_s")})
    return 0


# ------------------------------------------------------------------------------------- train run files
def _default_text(field: dataclasses.Field) -> str:
    """A field's default as a run file would write it (JSON, which is also YAML)."""
    if field.default is not dataclasses.MISSING:
        return json.dumps(field.default)
    if field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
        return json.dumps(value) if isinstance(value, (dict, list)) else "the masking keys below"
    return "required"


def _key_lines(rows: list[tuple[str, str, str]]) -> list[str]:
    width = max(len(name) for name, _, _ in rows) + 2
    return [f"  {name:<{width}}{kind}: {default}" for name, kind, default in rows]


def run_file_reference() -> str:
    """The keys a ``train`` run file may hold, generated from :class:`cotmask.train.FinetuneConfig` and the
    masking keys of :data:`cotmask.masking_config.FLAT_MASK_KEYS` (with the :class:`MaskingConfig` defaults)."""
    from cotmask.masking_config import FLAT_MASK_KEYS, MaskingConfig
    from cotmask.train import FinetuneConfig

    config_rows = [
        (f.name, "mapping" if f.name == "mask" else str(f.type), _default_text(f))
        for f in dataclasses.fields(FinetuneConfig)
    ]
    mask_fields = {f.name: f for f in dataclasses.fields(MaskingConfig)}
    mask_rows = [
        (flat, str(mask_fields[name].type), _default_text(mask_fields[name]) + ("" if flat == name else f" (mask.{name})"))
        for flat, name in FLAT_MASK_KEYS.items()
    ]
    return "\n".join([
        "run-file keys (a YAML or JSON mapping; key: type: default):",
        *_key_lines(config_rows),
        "",
        "masking keys (MaskingConfig; at the top level, or nested under 'mask:'):",
        *_key_lines(mask_rows),
        "",
        "--set key=value overrides a key after the file is read (the value is parsed as YAML).",
    ])


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask tokenizer``, ``cotmask pretrain`` and ``cotmask train``."""
    from cotmask.tiny import SHAPES  # imports torch: only when this group's parser is built

    tok = add_command(subparsers, "tokenizer", _tokenizer, help="train the tiny BPE tokenizer on a corpus")
    add_corpus(tok)
    add_out(tok, "output tokenizer directory")
    tok.add_argument("--vocab-size", type=int, default=512, help="vocabulary size, special tokens included")
    tok.add_argument(
        "--number-tokens", action="store_true", help="let BPE merge digits (frequent numbers become one token)"
    )
    add_seed(tok, help="accepted for a uniform interface (the BPE trainer is deterministic)")

    pre = add_command(subparsers, "pretrain", _pretrain, help="initialise and pretrain a tiny Llama/Mistral base model")
    pre.add_argument("--tokenizer", required=True, help="tokenizer directory (from `cotmask tokenizer`)")
    add_corpus(pre)
    add_out(pre, "output model directory")
    pre.add_argument("--shape", choices=SHAPES, default="llama", help="model architecture")
    pre.add_argument("--hidden-size", type=int, default=128, help="width of the hidden states")
    pre.add_argument("--num-layers", type=int, default=4, help="decoder layers")
    pre.add_argument("--num-heads", type=int, default=4, help="attention heads (must divide --hidden-size)")
    pre.add_argument("--num-kv-heads", type=int, default=None,
                     help="key/value heads for grouped-query attention (must divide --num-heads; default: --num-heads)")
    pre.add_argument("--intermediate-size", type=int, default=344, help="width of the MLP")
    pre.add_argument("--max-position-embeddings", type=int, default=512, help="longest sequence the model takes")
    pre.add_argument("--sliding-window", type=int, default=None,
                     help="attention window of the mistral shape (default: none, full attention)")
    pre.add_argument("--epochs", type=int, default=1, help="pretraining passes over the corpus (0: save the random init)")
    pre.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW, cosine, 5 %% warm-up)")
    pre.add_argument("--batch-size", type=int, default=16, help="sequences per optimizer step")
    pre.add_argument("--max-length", type=int, default=128, help="tokens per sequence (longer ones are cut)")
    add_seed(pre, help="seed of the initialisation and the data order")
    add_threads(pre, default=int(os.environ.get("COTMASK_THREADS", "1")))
    pre.add_argument("--checkpoint-dir", default=None,
                     help="checkpoint every epoch here; a rerun resumes from the last one (default: no checkpoints)")
    pre.add_argument("--group-by-length", action="store_true", help="batches of similar length (less padding)")
    pre.add_argument("--length-buckets", type=int, default=1,
                     help="run the decoder on this many groups of a batch's rows of similar length (less padding)")
    pre.add_argument("--full-logits", action="store_true",
                     help="project every position onto the vocabulary (the model's own loss) instead of the labelled ones")
    pre.add_argument("--compile", action="store_true",
                     help="torch.compile the decoder of the training step (cotmask.compile; eager when no compiler)")
    pre.add_argument("--compile-cache-dir", default=None,
                     help="inductor's kernel cache, shared by the runs that name it (default: torch's own folder)")

    train = add_command(
        subparsers, "train", _train, help="fine-tune a model with MFT or SFT (FinetuneConfig in YAML/JSON)",
        reference=run_file_reference,
    )
    train.add_argument("--config", required=True, help="YAML or JSON run file (keys below)")
    add_key_values(train, "--set", "override a run-file key (dotted keys reach nested mappings, e.g. mask.noise=random)")
