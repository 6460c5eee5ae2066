"""Benchmark: glibc's allocator settings and the training step (page faults and step time).

A training step of a small model frees and allocates its large activation buffers every step; glibc serves
allocations above its mmap threshold with fresh mappings, so every step pays thousands of minor page
faults. This runs the same bare step (the model's own loss, AdamW, one thread, a fixed random batch) in fresh
processes, interleaved: with glibc's defaults, and with the threshold, trim threshold and top pad raised
through the environment (``MALLOC_MMAP_THRESHOLD_`` etc., read by glibc at start-up). Per run it records the
step's mean time and the minor page faults per step.

    python benchmarks/bench_malloc.py --model work/models/base/llama --pairs 7 --out malloc.json

Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

#: The raised settings (bytes): no mmap below 256 MB, keep up to 1 GB of freed heap, grow the heap by 64 MB.
RAISED = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
          "MALLOC_TOP_PAD_": str(64 << 20)}

STEP = """
import json, resource, sys, time
import torch
from transformers import AutoModelForCausalLM
torch.set_num_threads(1)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
ids = torch.randint(0, model.config.vocab_size, (16, 120))
def step():
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    optimizer.zero_grad()
for _ in range(5):
    step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = time.perf_counter()
for _ in range(int(sys.argv[2])):
    step()
elapsed = time.perf_counter() - start
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
print(json.dumps({"ms": 1000 * elapsed / int(sys.argv[2]), "faults_per_step": faults / int(sys.argv[2])}))
"""


def run(model: str, steps: int, extra_env: dict[str, str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **extra_env}
    done = subprocess.run([sys.executable, "-c", STEP, model, str(steps)], env=env, check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a save_pretrained model folder (e.g. a tiny base model)")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args(argv)
    rows = []
    for pair in range(options.pairs):
        for arm, extra in (("defaults", {}), ("raised", RAISED)):
            rows.append({"pair": pair, "arm": arm, **run(options.model, options.steps, extra)})
            print(json.dumps(rows[-1]), flush=True)
    ratios = [raised["ms"] / default["ms"] for default, raised in zip(rows[::2], rows[1::2])]
    summary = {arm: {"median_ms": round(statistics.median(r["ms"] for r in rows if r["arm"] == arm), 2),
                     "median_faults_per_step": round(statistics.median(r["faults_per_step"] for r in rows
                                                                       if r["arm"] == arm))}
               for arm in ("defaults", "raised")}
    summary["paired_ratio_raised_over_defaults"] = {"median": round(statistics.median(ratios), 3),
                                                    "all": [round(ratio, 3) for ratio in ratios]}
    print(json.dumps(summary, indent=2))
    if options.out:
        options.out.write_text(json.dumps({"settings": RAISED, "rows": rows, "summary": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
