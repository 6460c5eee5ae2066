"""Benchmark: the start-up a workflow job pays before its first useful step (a fresh Python process each).

Each row is the median wall time of ``--repeats`` fresh interpreters that import what a job imports
(and, with a model folder, load it), interleaved so that the machine's load hits every row alike:

* ``python`` — an empty interpreter;
* ``torch`` — ``import torch``;
* ``evaluate job`` — what ``scripts/evaluate.py`` imports, then ``cotmask.generation.load_model``;
* ``finetune job`` — what ``scripts/finetune.py`` imports (``transformers.Trainer`` and the library), then the
  model and tokenizer.

    python benchmarks/bench_startup.py --model work/models/base/llama --out startup.json

Without ``--model`` a tiny random Llama is written to a temporary folder first. Not a test: it asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = {
    "python": "pass",
    "torch": "import torch",
    "evaluate job": "import cotmask.evaluate\nfrom cotmask.generation import load_model\nload_model({model!r})",
    "finetune job": (
        "import cotmask.train\nfrom transformers import Trainer\n"
        "from cotmask.train import prepare_model_and_tokenizer\nfrom cotmask.masking import MaskingConfig\n"
        "prepare_model_and_tokenizer({model!r}, MaskingConfig())"
    ),
}


def wall(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def tiny_model(folder: Path) -> str:
    """A tiny random Llama with a trained tokenizer, saved with ``save_pretrained``."""
    from cotmask.data import build_source
    from cotmask.tiny import build_base_model, train_tokenizer

    build_source("gsm_synth", str(folder / "gsm"), n_train=200, n_test=10, n_ic=10, seed=0)
    train = str(folder / "gsm" / "train.jsonl")
    train_tokenizer([train], str(folder / "tok"), vocab_size=600, split_digits=False)
    build_base_model(str(folder / "tok"), [train], str(folder / "model"), hidden_size=64, num_layers=2,
                     num_heads=4, intermediate_size=176, pretrain_epochs=0)
    return str(folder / "model")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a save_pretrained model folder (default: a tiny random one)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        model = args.model or tiny_model(Path(tmp))
        wall("import torch, transformers")  # warm the page cache once
        times: dict[str, list[float]] = {name: [] for name in ROWS}
        for _ in range(args.repeats):
            for name, code in ROWS.items():
                times[name].append(wall(code.format(model=model)))
    results = {name: round(statistics.median(values), 2) for name, values in times.items()}
    for name, seconds in results.items():
        print(f"{name:<14} {seconds:>6.2f} s")
    if args.out:
        Path(args.out).write_text(json.dumps({"median_wall_s": results, "repeats": args.repeats}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
