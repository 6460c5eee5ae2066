"""How much of a pre-training batch is padding, as collated and as the decoder computes it with length buckets.

Reads a finished base model's recorded settings (``pretrain_metrics.json``: corpus files, tokenizer, batch
size, max_length), encodes its corpus as pre-training does, and deals it into random batches of that size
(one seeded shuffle, like an epoch of the Trainer's random sampler). For each number of length buckets k it
prints the share of the decoder's positions that are padding: k = 1 is the collated batch (every row padded
to the longest), k > 1 is what ``cotmask.loss.length_buckets`` runs (rows sorted by length, cut into k
groups, each padded to its own longest row).

    python benchmarks/pretrain_padding.py --root RUN --base work/models/base/llama [--buckets 1 2 3 4 6 8]

Not a test: it asserts nothing; it prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def computed_padding(lengths: list[int], batch_size: int, buckets: int, seed: int = 0) -> float:
    """Share of padding positions over random batches of ``batch_size``, each split into ``buckets`` groups
    of rows of similar length (the last, incomplete batch is left out)."""
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    real = computed = 0
    for start in range(0, len(order) - batch_size + 1, batch_size):
        rows = sorted(lengths[i] for i in order[start:start + batch_size])
        for group in (rows[g * len(rows) // buckets:(g + 1) * len(rows) // buckets] for g in range(buckets)):
            if group:
                real += sum(group)
                computed += max(group) * len(group)
    return 1 - real / computed if computed else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."), help="the run folder the recorded paths are relative to")
    parser.add_argument("--base", required=True, help="a finished base model's folder (relative to --root)")
    parser.add_argument("--buckets", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8])
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    from cotmask.tiny import encode_text, iter_corpus_texts

    settings = json.loads((args.root / args.base / "pretrain_metrics.json").read_text())["settings"]
    tokenizer = AutoTokenizer.from_pretrained(args.root / settings["tokenizer_dir"])
    texts = iter_corpus_texts([str(args.root / f) for f in settings["corpus_files"]])
    lengths = [len(encode_text(tokenizer, text, max_length=settings["max_length"])["input_ids"]) for text in texts]
    print(f"{len(lengths)} texts, mean {sum(lengths) / len(lengths):.1f} tokens, batch {settings['batch_size']}, "
          f"max_length {settings['max_length']} (the run uses {settings['length_buckets']} bucket(s))\n")
    print("| length buckets | padding share of the decoder's positions |")
    print("|---|---|")
    for k in args.buckets:
        print(f"| {k}{' (collated)' if k == 1 else ''} | {100 * computed_padding(lengths, settings['batch_size'], k):.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
