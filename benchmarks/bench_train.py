"""Benchmark: cost of an MFT optimizer step against an SFT one on the embedded default model size.

Each optimizer step = collate (pad, labels and, for MFT, the noise) + forward + backward + clip + AdamW step,
on a randomly initialised LlamaForCausalLM. SFT and MFT steps are interleaved (ABAB...) so that load changes
on a shared machine hit both alike; medians and minima are compared, and the extra collate (noise) time
relative to an SFT step is reported as a load-insensitive estimate of the masking cost. With one thread,
the step's thread CPU time (``time.thread_time``) is also reported: it leaves out the time spent waiting
for a core when other jobs share the machine. Also measured in the same run: the machine's
float32 matmul throughput on the same thread count, and the collator's own time per batch.

    python benchmarks/bench_train.py --out benchmarks/results/bench_train.json

Not a test: it asserts nothing; it prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from cotmask.masking import MaskingConfig, MFTCollator

PAD, BOS, EOS = 0, 1, 2


def matmul_gflops(n: int = 512, repeats: int = 20) -> float:
    """Best-of GFLOP/s of an n x n float32 matmul on the current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def make_features(n: int, seq: int, vocab: int, seed: int) -> list[dict]:
    """Synthetic encoded examples: BOS + prompt (30 %) + answer + EOS, lengths seq*[0.8, 1.0]."""
    gen = torch.Generator().manual_seed(seed)
    features = []
    for _ in range(n):
        length = int(torch.randint(int(seq * 0.8), seq + 1, (1,), generator=gen))
        body = torch.randint(4, vocab, (length - 2,), generator=gen).tolist()
        features.append({"input_ids": [BOS] + body + [EOS], "prompt_length": 1 + int(0.3 * length)})
    return features


def build_model(args: argparse.Namespace, vocab: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=args.hidden, intermediate_size=args.intermediate or int(args.hidden * 2.6875),
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.heads,
        max_position_embeddings=max(512, args.seq), bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
    )
    return LlamaForCausalLM(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=176, help="the embedded default: 176 for hidden 64")
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--seq", type=int, default=120)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30, help="measured steps per mode")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured steps per mode first")
    parser.add_argument("--mask-ratio", type=float, default=0.4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    vocab = args.vocab + 1  # + <mask>
    mask_id = args.vocab
    gflops = matmul_gflops()
    features = make_features(args.batch * 8, args.seq, args.vocab, seed=0)
    batches = [features[i : i + args.batch] for i in range(0, len(features), args.batch)]
    collators = {
        "sft": MFTCollator(MaskingConfig(mask_ratio=0.0), pad_token_id=PAD, bos_token_id=BOS),
        "mft_mask": MFTCollator(MaskingConfig(mask_ratio=args.mask_ratio, noise="mask"), pad_token_id=PAD,
                                mask_token_id=mask_id, bos_token_id=BOS),
        "mft_random": MFTCollator(MaskingConfig(mask_ratio=args.mask_ratio, noise="random"), pad_token_id=PAD,
                                  vocab_size=args.vocab, bos_token_id=BOS),
    }
    model = build_model(args, vocab)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    n_params = sum(p.numel() for p in model.parameters())

    def step(mode: str, index: int) -> tuple[float, float, float, int]:
        cpu_start = time.thread_time()
        start = time.perf_counter()
        batch = collators[mode](batches[index % len(batches)])
        collate = time.perf_counter() - start
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        wall = time.perf_counter() - start
        return wall, time.thread_time() - cpu_start, collate, int(batch["attention_mask"].sum())

    modes = list(collators)
    times: dict[str, list[float]] = {m: [] for m in modes}
    cpu_times: dict[str, list[float]] = {m: [] for m in modes}
    collate_times: dict[str, list[float]] = {m: [] for m in modes}
    tokens: dict[str, int] = {m: 0 for m in modes}
    for i in range(args.warmup):
        for mode in modes:
            step(mode, i)
    for i in range(args.steps):
        order = modes if i % 2 == 0 else modes[::-1]
        for mode in order:
            elapsed, cpu, collate, n_tok = step(mode, i)
            times[mode].append(elapsed)
            cpu_times[mode].append(cpu)
            collate_times[mode].append(collate)
            tokens[mode] += n_tok

    results = {
        "settings": {**vars(args), "vocab_with_mask": vocab, "n_parameters": n_params},
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "matmul_gflops_512_fp32": round(gflops, 2),
        "modes": {},
    }
    sft_median, sft_min = statistics.median(times["sft"]), min(times["sft"])
    sft_cpu = statistics.median(cpu_times["sft"])
    sft_collate = statistics.median(collate_times["sft"])
    for mode in modes:
        median = statistics.median(times[mode])
        collate = statistics.median(collate_times[mode])
        results["modes"][mode] = {
            "step_time_median_s": round(median, 5),
            "step_time_min_s": round(min(times[mode]), 5),
            "step_time_mean_s": round(statistics.fmean(times[mode]), 5),
            "step_cpu_time_median_s": round(statistics.median(cpu_times[mode]), 5),
            # thread CPU time excludes the time spent waiting for a core on a shared machine
            "cpu_ratio_to_sft": round(statistics.median(cpu_times[mode]) / sft_cpu, 4),
            "collate_time_median_ms": round(collate * 1e3, 4),
            "tokens_per_s": round(tokens[mode] / sum(times[mode]), 1),
            "ratio_to_sft": round(median / sft_median, 4),
            "ratio_to_sft_min": round(min(times[mode]) / sft_min, 4),
            # median over rounds of (this mode's step / the SFT step of the same round): adjacent in time
            "ratio_to_sft_paired": round(statistics.median(t / s for t, s in zip(times[mode], times["sft"])), 4),
            # load-insensitive estimate: the extra collate (noise) time relative to an SFT step
            "noise_overhead_fraction": round((collate - sft_collate) / sft_median, 5),
        }
    print(f"model: hidden {args.hidden}, {args.layers} layers, vocab {vocab}, {n_params:,} parameters; "
          f"batch {args.batch} x ~{args.seq} tokens; {args.threads} thread(s); "
          f"matmul {gflops:.1f} GFLOP/s (512^3 fp32)")
    print(f"{'mode':<11} {'step ms':>9} {'cpu ms':>8} {'collate ms':>11} {'tokens/s':>10} {'vs SFT':>8} "
          f"{'cpu vs SFT':>11} {'paired':>8} {'noise cost':>11}")
    for mode, row in results["modes"].items():
        print(f"{mode:<11} {row['step_time_median_s'] * 1e3:>9.2f} {row['step_cpu_time_median_s'] * 1e3:>8.2f} "
              f"{row['collate_time_median_ms']:>11.3f} {row['tokens_per_s']:>10.0f} {row['ratio_to_sft']:>8.4f} "
              f"{row['cpu_ratio_to_sft']:>11.4f} {row['ratio_to_sft_paired']:>8.4f} "
              f"{row['noise_overhead_fraction']:>11.5f}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
