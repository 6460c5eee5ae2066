"""Tiny Llama-/Mistral-shaped base models for the embedded (CPU) default.

* :func:`train_tokenizer` trains a small BPE tokenizer on the project's own corpus.
* :func:`build_base_model` creates a randomly initialised ``LlamaForCausalLM``/``MistralForCausalLM`` and
  pretrains it briefly with the plain next-token loss over whole texts, so that fine-tuning starts from a
  base model, as in the paper.

Tokenizer design. Spaces become a visible marker ``▁`` (as in SentencePiece) that sticks to the *following
word*; the pre-tokenizer then isolates every digit, every other non-letter character (``< > = + - * / # $ , .
{ } \\`` ...), the newline and a bare ``▁``. BPE merges happen only inside letter runs, so words become whole
tokens when frequent (and are spelt from pieces otherwise), while numbers are always single digits and an
annotation like ``<<48/2=24>>24`` is ``< < 4 8 / 2 = 2 4 > > 2 4``: the model has to learn the arithmetic
digit by digit, and the answer extractor sees exactly the text the model wrote. BPE (rather than a word-level
vocabulary) keeps words unseen in training encodable, and the decoder (``▁`` -> space, concatenate) makes
``decode(encode(text)) == text`` for any text over printable ASCII (all of it is in the initial alphabet;
other characters become ``<unk>``).
"""

from __future__ import annotations

import logging
import shutil
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from cotmask.checkpoints import file_signature, replace_dir, settings_fingerprint
from cotmask.encoding import encode_text
from cotmask.masking import MaskingConfig, MFTCollator
from cotmask.records import iter_jsonl, write_json
from cotmask.settings import typed_arguments
from cotmask.train import run_training, training_arguments

SPACE_MARK = "\u2581"
SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
PRETOKEN_PATTERN = f"{SPACE_MARK}?[A-Za-z]+|[0-9]|{SPACE_MARK}|\\n|[^A-Za-z0-9{SPACE_MARK}\\n]"
# whole-number mode: a run of digits stays one pre-token, so BPE can merge frequent numbers into single
# tokens, and so does a run of punctuation with its leading space (" = <<", ">>", "####" become one token
# each instead of up to four: ~12 % shorter GSM-style solutions)
PRETOKEN_PATTERN_NUMBERS = (
    f"{SPACE_MARK}?[A-Za-z]+|[0-9]+|{SPACE_MARK}?[^A-Za-z0-9{SPACE_MARK}\\n]+|{SPACE_MARK}|\\n"
)
SHAPES = ("llama", "mistral")

logger = logging.getLogger(__name__)


def record_text(record: dict) -> str:
    """The text of a record used for tokenizer training and pretraining: question, newline, solution."""
    return f"{record['question']}\n{record['solution']}"


def iter_corpus_texts(corpus_files: list[str]) -> Iterator[str]:
    """Texts of the corpus: records JSONL (``question`` + ``solution``) or plain text (one text per line)."""
    if not corpus_files:
        raise ValueError("no corpus files given")
    for path in corpus_files:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: corpus file not found")
        if str(path).endswith(".jsonl"):
            for number, obj in iter_jsonl(path):
                if not isinstance(obj, dict) or not isinstance(obj.get("question"), str) or not isinstance(
                    obj.get("solution"), str
                ):
                    raise ValueError(f"{path}:{number}: a corpus record needs string fields 'question' and 'solution'")
                yield record_text(obj)
        else:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    line = line.rstrip("\n")
                    if line.strip():
                        yield line


def _initial_alphabet() -> list[str]:
    chars = [c for c in string.printable if c not in "\r\x0b\x0c\t"]
    return [SPACE_MARK if c == " " else c for c in chars] + ["\t"]


def build_tokenizer_object(texts: list[str], vocab_size: int, split_digits: bool = True) -> Any:
    """A trained ``tokenizers.Tokenizer`` (BPE, digit/punctuation-isolating pre-tokenizer, ``▁`` spaces).

    With ``split_digits`` (the default, as Llama-2's tokenizer) every digit is its own token; without it,
    BPE may merge the digits of a number, so frequent numbers become single tokens and rare ones a few
    pieces (GPT-2 style) — far easier for a tiny model to copy from the question.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.normalizer = normalizers.Replace(" ", SPACE_MARK)
    pattern = PRETOKEN_PATTERN if split_digits else PRETOKEN_PATTERN_NUMBERS
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    tokenizer.decoder = decoders.Sequence([decoders.Replace(SPACE_MARK, " "), decoders.Fuse()])
    specials = [SPECIAL_TOKENS[k] for k in ("pad_token", "bos_token", "eos_token", "unk_token")]
    alphabet = _initial_alphabet()
    minimum = len(alphabet) + len(specials)
    if vocab_size < minimum:
        raise ValueError(f"vocab_size must be >= {minimum} (printable ASCII + special tokens), got {vocab_size}")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    bos = SPECIAL_TOKENS["bos_token"]
    # like Llama tokenizers: encoding with special tokens prepends BOS (and no EOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
    )
    return tokenizer


@typed_arguments
def train_tokenizer(
    corpus_files: list[str], out_dir: str, *, vocab_size: int, seed: int = 0, split_digits: bool = True
) -> None:
    """Train the tiny BPE tokenizer on ``corpus_files`` and save it (``save_pretrained``) into ``out_dir``.

    The BPE trainer is deterministic for a given corpus; ``seed`` is accepted for a uniform interface.
    Special tokens: ``<pad>`` (0), ``<s>`` (1, BOS), ``</s>`` (2, EOS), ``<unk>`` (3); encoding with
    ``add_special_tokens=True`` prepends BOS, as Llama tokenizers do. Written atomically. The arguments are
    converted by their type hints (:mod:`cotmask.settings`) before any work.
    """
    from transformers import PreTrainedTokenizerFast

    del seed  # deterministic algorithm
    started = time.perf_counter()
    texts = list(iter_corpus_texts(corpus_files))
    if not texts:
        raise ValueError(f"{corpus_files}: the corpus is empty")
    logger.info("tokenizer corpus: %d texts, %d characters from %s", len(texts), sum(map(len, texts)),
                ", ".join(map(str, corpus_files)))
    backend = build_tokenizer_object(texts, vocab_size, split_digits=split_digits)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=backend, clean_up_tokenization_spaces=False, **SPECIAL_TOKENS)
    out = Path(out_dir)
    tmp = out.parent / f".{out.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    wrapped.save_pretrained(str(tmp))
    replace_dir(tmp, out)
    sample = texts[: min(len(texts), 2000)]
    tokens = sum(len(backend.encode(text, add_special_tokens=False).ids) for text in sample)
    logger.info("wrote %s: BPE vocabulary of %d tokens (digits %s), %.2f characters per token on %d corpus texts, "
                "%.1f s", out, len(wrapped), "split" if split_digits else "merged",
                sum(map(len, sample)) / max(tokens, 1), len(sample), time.perf_counter() - started)


def model_config(
    tokenizer: Any,
    *,
    shape: str,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    num_kv_heads: int | None,
    intermediate_size: int,
    max_position_embeddings: int,
    sliding_window: int | None = None,
) -> Any:
    """LlamaConfig or MistralConfig for a tokenizer (vocabulary and special-token ids from the tokenizer)."""
    from transformers import LlamaConfig, MistralConfig

    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {list(SHAPES)}, got {shape!r}")
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
    if num_heads % num_kv_heads:
        raise ValueError(f"num_heads ({num_heads}) must be divisible by num_kv_heads ({num_kv_heads})")
    if sliding_window is not None and shape != "mistral":
        raise ValueError("sliding_window applies only to shape='mistral'")
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    if shape == "llama":
        return LlamaConfig(**common)
    return MistralConfig(sliding_window=sliding_window, **common)


@typed_arguments
def build_base_model(
    tokenizer_dir: str,
    corpus_files: list[str],
    out_dir: str,
    *,
    shape: str = "llama",
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    num_kv_heads: int | None = None,
    intermediate_size: int = 344,
    max_position_embeddings: int = 512,
    sliding_window: int | None = None,
    pretrain_epochs: int = 1,
    pretrain_lr: float = 1e-3,
    batch_size: int = 16,
    max_length: int = 128,
    seed: int = 0,
    threads: int = 1,
    checkpoint_dir: str | None = None,
    group_by_length: bool = False,
    label_logits_only: bool = True,
    length_buckets: int = 1,
    compile: bool = False,
    compile_cache_dir: str | None = None,
) -> dict:
    """Randomly initialise a tiny model of ``shape`` and pretrain it on the corpus; save into ``out_dir``.

    Pretraining is plain causal LM (loss on every token of ``question\\nsolution`` texts, BOS excluded),
    AdamW with a cosine schedule and 5 % warm-up, ``pretrain_epochs`` passes (0 = save the random init).
    ``out_dir`` receives the model and tokenizer (``save_pretrained``) and ``pretrain_metrics.json``,
    atomically; with ``checkpoint_dir`` an interrupted pretraining resumes from its last epoch.
    ``group_by_length``, ``label_logits_only``, ``length_buckets``, ``compile`` and ``compile_cache_dir`` are
    the fine-tuning's speed settings (:class:`cotmask.train.FinetuneConfig`). The arguments are converted by
    their type hints (:mod:`cotmask.settings`) and checked before any work. Returns the metrics.

    (Long because it is the workflow's one entry point for a base model: checks, model, corpus, training and
    metrics in order; each step is a call into the functions above or :func:`cotmask.train.run_training`.)
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    if not Path(tokenizer_dir).is_dir():
        raise FileNotFoundError(f"{tokenizer_dir}: tokenizer directory not found")
    if pretrain_epochs < 0 or batch_size < 1 or max_length < 8 or threads < 1 or length_buckets < 1:
        raise ValueError("pretrain_epochs >= 0, batch_size >= 1, max_length >= 8, threads >= 1 and "
                         "length_buckets >= 1 are required")
    if max_length > max_position_embeddings:
        raise ValueError(f"max_length ({max_length}) exceeds max_position_embeddings ({max_position_embeddings})")
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = model_config(
        tokenizer,
        shape=shape,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        sliding_window=sliding_window,
    )
    texts = list(iter_corpus_texts(corpus_files))
    set_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    dataset = [encode_text(tokenizer, text, max_length=max_length) for text in texts]
    n_params = sum(p.numel() for p in model.parameters())
    settings = dict(
        shape=shape, hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
        num_kv_heads=config.num_key_value_heads, intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings, sliding_window=sliding_window,
        pretrain_epochs=pretrain_epochs, pretrain_lr=pretrain_lr, batch_size=batch_size, max_length=max_length,
        seed=seed, threads=threads, corpus_files=[str(f) for f in corpus_files], tokenizer_dir=str(tokenizer_dir),
        group_by_length=group_by_length, label_logits_only=label_logits_only, length_buckets=length_buckets,
    )
    extra = {"settings": settings, "n_parameters": n_params, "n_texts": len(dataset),
             "vocab_size": len(tokenizer), "corpus_tokens": sum(len(d["input_ids"]) for d in dataset)}
    logger.info("%s base model, %d parameters; corpus: %d texts, %d tokens (max_length %d) from %s; %d pre-training "
                "epoch(s)", shape, n_params, len(dataset), extra["corpus_tokens"], max_length,
                ", ".join(map(str, corpus_files)), pretrain_epochs)
    if pretrain_epochs == 0:
        return _save_untrained(model, tokenizer, out_dir, extra)
    collator = MFTCollator(MaskingConfig(mask_ratio=0.0), pad_token_id=tokenizer.pad_token_id, seed=seed)
    trainer_args = training_arguments(
        epochs=pretrain_epochs, batch_size=batch_size, accumulation=1, learning_rate=pretrain_lr,
        lr_warmup_ratio=0.05, lr_scheduler="cosine", weight_decay=0.0, max_grad_norm=1.0, seed=seed,
        logging_steps=max(1, len(dataset) // batch_size // 5), group_by_length=group_by_length,
    )
    if compile:  # only compiled runs carry the key: an eager run's settings and fingerprint are what they were
        settings["compile"] = True
    fingerprint = settings_fingerprint(
        {**settings, "threads": None, "corpus": [file_signature(f) for f in corpus_files],
         "tokenizer": file_signature(tokenizer_dir)})
    return run_training(
        model=model, tokenizer=tokenizer, dataset=dataset, collator=collator, output_dir=out_dir,
        checkpoint_dir=checkpoint_dir, fingerprint=fingerprint, trainer_args=trainer_args,
        metrics_name="pretrain_metrics.json", metrics_extra=extra,
        label_logits_only=label_logits_only, length_buckets=length_buckets, compile=compile,
        compile_cache_dir=compile_cache_dir,
    )


def _save_untrained(model: Any, tokenizer: Any, out_dir: str, extra: dict) -> dict:
    out = Path(out_dir)
    tmp = out.parent / f".{out.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    metrics = {**extra, "optimizer_steps": 0}
    write_json(metrics, tmp / "pretrain_metrics.json")
    replace_dir(tmp, out)
    return metrics
