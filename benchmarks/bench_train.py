"""Benchmark: where a fine-tuning step's time goes at the embedded scale, and what the speed settings buy.

Everything is measured in one process, one thread, in interleaved rounds (so that a change in the machine's
load hits every mode alike), on the embedded default's shape (Llama, hidden 64, 2 layers, vocabulary
2,000) and on real GSM-style data: ``--n-train`` generated problems (``gsm_synth``), the default's BPE
tokenizer (whole numbers as tokens) and a randomly initialised base model (speed does not depend on the
weights). Rows:

* ``matmul`` — fp32 GFLOP/s of the model's own matrix products (the step's token count x each linear
  layer's shape, forward and both backward products), and of a 512^3 product: the peak a step can reach.
* ``bare step`` — forward + backward + clipping + fused AdamW on fixed batches of 16 x 120 real tokens
  (no padding; the question is ~30 % of them), with the model's own loss (``full logits``) and with
  :mod:`cotmask.loss` (``label logits``). Achieved GFLOP/s count the products the step really does.
* ``bare step, loop batches`` — the same step with the default's settings (label logits, 3 length buckets)
  on one epoch of random batches padded as the loop pads them: the loop's work without the Trainer.
* ``loop`` — :func:`cotmask.train.finetune` (the HF Trainer, what the workflow runs) for one epoch, with
  the previous default (full logits), this default (label logits, ``length_buckets: 3``) and the
  ``group_by_length`` option on top; tokens/s count non-padding tokens, as ``train_metrics.json``.
* ``collate`` — the collator's time per batch without noise and with MFT's ``[mask]`` and random-token noise:
  what the masking itself costs.

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
import tempfile
import time
from pathlib import Path

import torch

from cotmask.data import build_source
from cotmask.encoding import encode_records
from cotmask.loss import label_logits_loss
from cotmask.masking import MaskingConfig, MFTCollator
from cotmask.records import read_jsonl
from cotmask.tiny import build_base_model, train_tokenizer
from cotmask.train import FinetuneConfig, finetune


def best_gflops(m: int, k: int, n: int, repeats: int = 10) -> float:
    """Best-of GFLOP/s of an (m x k) @ (k x n) float32 product."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best / 1e9


def linear_shapes(config, tokens: int, labelled: int) -> list[tuple[int, int, int, int]]:
    """(m, k, n, count) of every matrix product of a training step: forward x @ W^T, backward dX and dW."""
    d, i, v = config.hidden_size, config.intermediate_size, config.vocab_size
    kv = config.num_key_value_heads * (d // config.num_attention_heads)
    layer = [(d, d), (d, kv), (d, kv), (d, d), (d, i), (d, i), (i, d)]  # q k v o gate up down: (in, out)
    shapes = []
    for n_in, n_out in layer:
        shapes += [(tokens, n_in, n_out, config.num_hidden_layers),  # forward
                   (tokens, n_out, n_in, config.num_hidden_layers),  # grad of the input
                   (n_out, tokens, n_in, config.num_hidden_layers)]  # grad of the weight
    shapes += [(labelled, d, v, 1), (labelled, v, d, 1), (v, labelled, d, 1)]  # the vocabulary projection
    return shapes


def step_flops(shapes) -> float:
    return sum(2 * m * k * n * count for m, k, n, count in shapes)


def peak_for_shapes(shapes) -> float:
    """FLOP-weighted GFLOP/s of the step's products run alone: the time they take at their best speed."""
    seconds = sum(2 * m * k * n * count / (best_gflops(m, k, n) * 1e9) for m, k, n, count in shapes)
    return step_flops(shapes) / seconds / 1e9


def prepare(workdir: Path, n_train: int) -> tuple[str, str]:
    """Generated GSM-style training data, the default's tokenizer and a random-initialised base model."""
    build_source("gsm_synth", str(workdir / "gsm"), n_train=n_train, n_test=10, n_ic=10, n_pretrain=20000, seed=0)
    train = str(workdir / "gsm" / "train.jsonl")
    corpus = [str(workdir / "gsm" / "pretrain.jsonl")]  # the default's tokenizer corpus (its GSM part)
    train_tokenizer(corpus, str(workdir / "tokenizer"), vocab_size=2000, split_digits=False)
    build_base_model(str(workdir / "tokenizer"), [train], str(workdir / "base"), shape="llama", hidden_size=64,
                     num_layers=2, num_heads=4, num_kv_heads=4, intermediate_size=176, pretrain_epochs=0)
    return train, str(workdir / "base")


def bare_batches(base: str, train: str, width: int, batch: int, n_batches: int) -> list[dict]:
    """Fixed ``batch x width`` batches of real examples cut to ``width`` tokens (no padding)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    encoded = encode_records(tokenizer, read_jsonl(train), template="short", max_length=width)
    full = [e for e in encoded if len(e["input_ids"]) == width]
    collator = MFTCollator(MaskingConfig(mask_ratio=0.0), pad_token_id=tokenizer.pad_token_id)
    return [collator(full[i * batch:(i + 1) * batch]) for i in range(n_batches)]


def loop_like_batches(base: str, train: str, batch: int, seed: int = 0) -> list[dict]:
    """One epoch of random batches of the training set, padded as the loop pads them."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    encoded = [e for e in encode_records(tokenizer, read_jsonl(train), template="short", max_length=192)
               if e["prompt_length"] < len(e["input_ids"])]
    order = torch.randperm(len(encoded), generator=torch.Generator().manual_seed(seed)).tolist()
    collator = MFTCollator(MaskingConfig(mask_ratio=0.0), pad_token_id=tokenizer.pad_token_id)
    return [collator([encoded[i] for i in order[j:j + batch]]) for j in range(0, len(order), batch)]


def bare_step_seconds(model, optimizer, batches: list[dict], label_only: bool, forward=None,
                      buckets: int = 1) -> float:
    start = time.perf_counter()
    for batch in batches:
        if forward is not None:
            loss = forward(batch)
        else:
            loss = label_logits_loss(model, batch, buckets=buckets) if label_only else model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return (time.perf_counter() - start) / len(batches)


def loop_run(base: str, train: str, workdir: Path, name: str, grouped: bool, label_only: bool, buckets: int) -> dict:
    cfg = FinetuneConfig(base_model=base, train_file=train, output_dir=str(workdir / name), prompt_template="short",
                         learning_rate=2e-3, epochs=1, per_device_batch_size=16, max_length=192,
                         logging_steps=1000, group_by_length=grouped, label_logits_only=label_only,
                         length_buckets=buckets,
                         save_every_epoch=True, checkpoint_dir=str(workdir / f"{name}.ckpt-{time.time_ns()}"))
    metrics = finetune(cfg)
    return {"tokens_per_s": metrics["tokens_per_s"], "padding_fraction": metrics["padding_fraction"],
            "train_wall_time_s": metrics["train_wall_time_s"]}


def noise_cost_ms(base: str, train: str, batch: int = 16, repeats: int = 5) -> dict[str, float]:
    """Median collate time (ms per batch of ``batch``) without noise and with MFT's two noise kinds at p = 0.4."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    encoded = encode_records(tokenizer, read_jsonl(train), template="short", max_length=192)
    chunks = [encoded[i:i + batch] for i in range(0, len(encoded) - batch + 1, batch)]
    vocab = len(tokenizer)
    collators = {
        "sft": MFTCollator(MaskingConfig(mask_ratio=0.0), pad_token_id=tokenizer.pad_token_id),
        "mft_mask": MFTCollator(MaskingConfig(mask_ratio=0.4, noise="mask"), pad_token_id=tokenizer.pad_token_id,
                                mask_token_id=vocab),
        "mft_random": MFTCollator(MaskingConfig(mask_ratio=0.4, noise="random"), pad_token_id=tokenizer.pad_token_id,
                                  vocab_size=vocab),
    }
    times: dict[str, list[float]] = {name: [] for name in collators}
    for _ in range(repeats):
        for name, collator in collators.items():
            start = time.perf_counter()
            for chunk in chunks:
                collator(chunk)
            times[name].append((time.perf_counter() - start) / len(chunks) * 1e3)
    return {name: round(statistics.median(values), 3) for name, values in times.items()}


def op_profile(model, optimizer, batches: list[dict], top: int = 12, buckets: int = 1) -> list[dict]:
    """Self-CPU-time shares of the top operators of label-logits steps (forward, backward, clip, AdamW)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        bare_step_seconds(model, optimizer, batches, label_only=True, buckets=buckets)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [{"op": e.key, "share": round(e.self_cpu_time_total / total, 4)} for e in events[:top]]
    rows.append({"op": "(all other operators)", "share": round(1 - sum(r["share"] for r in rows), 4)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=1000, help="generated training problems (default run: 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every mode")
    parser.add_argument("--bare-batches", type=int, default=20, help="batches per bare-step measurement")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile of the decoder (cold cache: compile time, then steady speed)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile the label-logits step on the loop's batches (torch.profiler, top ops)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("TQDM_DISABLE", "1")

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        workdir = Path(tmp)
        train, base = prepare(workdir, args.n_train)
        from transformers import AutoModelForCausalLM

        batches = bare_batches(base, train, width=120, batch=16, n_batches=args.bare_batches)
        labelled = int(sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches) / len(batches))
        tokens = batches[0]["input_ids"].numel()
        models = {}
        for mode in ("full", "label"):
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_pretrained(base)
            model.train()
            models[mode] = (model, torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True))
        loop_batches = loop_like_batches(base, train, batch=16)
        loop_tokens = sum(int(b["attention_mask"].sum()) for b in loop_batches)
        compiled = None
        if args.compile:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(workdir / "inductor")  # a cold cache
            os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_pretrained(base)
            model.train()
            decoder = torch.compile(model.get_decoder(), dynamic=True)
            compiled = (model, torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True),
                        lambda batch: label_logits_loss(model, batch, decoder=decoder))
            started = time.perf_counter()
            bare_step_seconds(compiled[0], compiled[1], batches[:1], True, forward=compiled[2])
            compile_seconds = time.perf_counter() - started
        config = models["full"][0].config
        shapes = {"full": linear_shapes(config, tokens, tokens), "label": linear_shapes(config, tokens, labelled)}
        # (group_by_length, label_logits_only, length_buckets): the previous default, this default, the option
        loops = {"loop_before": (False, False, 1), "loop_after": (False, True, 3), "loop_grouped": (True, True, 3)}
        times: dict[str, list] = {"bare_full": [], "bare_label": [], "bare_label_loop_batches": [],
                                  "bare_label_compiled": [], **{k: [] for k in loops}}
        peaks, peak_512 = [], []
        for mode in ("full", "label"):  # warm-up
            bare_step_seconds(*models[mode], batches[:3], label_only=mode == "label")
        for round_ in range(args.rounds):
            peaks.append(peak_for_shapes(shapes["full"]))
            peak_512.append(best_gflops(512, 512, 512))
            for mode in ("full", "label"):
                times[f"bare_{mode}"].append(bare_step_seconds(*models[mode], batches, label_only=mode == "label"))
            times["bare_label_loop_batches"].append(
                bare_step_seconds(*models["label"], loop_batches, label_only=True, buckets=3) * len(loop_batches))
            if compiled is not None:
                times["bare_label_compiled"].append(
                    bare_step_seconds(compiled[0], compiled[1], batches, True, forward=compiled[2]))
            for name, (grouped, label_only, buckets) in loops.items():
                times[name].append(loop_run(base, train, workdir, f"{name}-{round_}", grouped, label_only, buckets))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)

        if args.profile:
            profile = op_profile(*models["label"], loop_batches[:20], buckets=3)
        collate_ms = noise_cost_ms(base, train)
    peak = statistics.median(peaks)
    results = {
        "settings": vars(args),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "matmul_gflops": {"model_shapes": round(peak, 1), "512^3": round(statistics.median(peak_512), 1)},
        "bare_step": {},
        "loop": {},
    }
    for mode in ("full", "label"):
        seconds = statistics.median(times[f"bare_{mode}"])
        gflops = step_flops(shapes[mode]) / seconds / 1e9
        results["bare_step"][mode] = {"step_ms": round(seconds * 1e3, 2), "tokens_per_s": round(tokens / seconds),
                                      "gflops": round(gflops, 1), "share_of_peak": round(gflops / peak, 3)}
    seconds = statistics.median(times["bare_label_loop_batches"])
    results["bare_step"]["label_loop_batches"] = {"tokens_per_s": round(loop_tokens / seconds),
                                                  "epoch_s": round(seconds, 2)}
    if compiled is not None:
        seconds = statistics.median(times["bare_label_compiled"])
        results["bare_step"]["label_compiled"] = {
            "step_ms": round(seconds * 1e3, 2), "tokens_per_s": round(tokens / seconds),
            "gflops": round(step_flops(shapes["label"]) / seconds / 1e9, 1),
            "share_of_peak": round(step_flops(shapes["label"]) / seconds / 1e9 / peak, 3),
            "first_step_with_cold_compile_s": round(compile_seconds, 1)}
    for name in loops:
        runs = times[name]
        tps = statistics.median(r["tokens_per_s"] for r in runs)
        results["loop"][name] = {"tokens_per_s": round(tps), "padding_fraction": runs[0]["padding_fraction"],
                                 "train_wall_time_s": round(statistics.median(r["train_wall_time_s"] for r in runs), 2)}
    bare = results["bare_step"]
    loop = results["loop"]
    step_ms = 1e3 * statistics.median(times["bare_label_loop_batches"]) / len(loop_batches)
    results["collate_ms"] = {**collate_ms, "loop_step_ms": round(step_ms, 2),
                             "noise_share_of_step": {k: round((collate_ms[k] - collate_ms["sft"]) / step_ms, 4)
                                                     for k in ("mft_mask", "mft_random")}}
    results["ratios"] = {
        "bare_label_vs_bare_full": round(bare["label"]["tokens_per_s"] / bare["full"]["tokens_per_s"], 3),
        "loop_after_vs_loop_before": round(loop["loop_after"]["tokens_per_s"] / loop["loop_before"]["tokens_per_s"], 3),
        "loop_after_vs_bare_full": round(loop["loop_after"]["tokens_per_s"] / bare["full"]["tokens_per_s"], 3),
        "loop_after_vs_bare_label": round(loop["loop_after"]["tokens_per_s"] / bare["label"]["tokens_per_s"], 3),
        "loop_grouped_vs_loop_after": round(loop["loop_grouped"]["tokens_per_s"] / loop["loop_after"]["tokens_per_s"], 3),
        "loop_after_vs_bare_on_its_batches": round(
            loop["loop_after"]["tokens_per_s"] / bare["label_loop_batches"]["tokens_per_s"], 3),
        "loop_before_vs_bare_full": round(loop["loop_before"]["tokens_per_s"] / bare["full"]["tokens_per_s"], 3),
    }
    print(f"matmul: {peak:.0f} GFLOP/s on the step's shapes, {results['matmul_gflops']['512^3']:.0f} at 512^3 "
          f"(fp32, 1 thread); bare batch 16 x 120 tokens, {labelled} labelled")
    print(f"{'row':<42} {'tokens/s':>9} {'step ms':>8} {'GFLOP/s':>8} {'of peak':>8} {'padding':>8}")
    for mode, label in (("full", "bare step, full logits"), ("label", "bare step, label logits")):
        row = bare[mode]
        print(f"{label:<42} {row['tokens_per_s']:>9} {row['step_ms']:>8} {row['gflops']:>8} "
              f"{row['share_of_peak']:>8.0%} {'0%':>8}")
    row = bare["label_loop_batches"]
    print(f"{'bare step, label, 3 buckets, loop batches':<42} {row['tokens_per_s']:>9} {'':>8} {'':>8} {'':>8} "
          f"{loop['loop_after']['padding_fraction']:>8.1%}")
    if "label_compiled" in bare:
        row = bare["label_compiled"]
        print(f"{'bare step, label logits, compiled':<42} {row['tokens_per_s']:>9} {row['step_ms']:>8} "
              f"{row['gflops']:>8} {row['share_of_peak']:>8.0%} {'0%':>8}   "
              f"(first step incl. cold compile {row['first_step_with_cold_compile_s']} s)")
    for name, label in (("loop_before", "loop: full logits (previous default)"),
                        ("loop_after", "loop: label logits, 3 buckets (default)"),
                        ("loop_grouped", "loop: + group_by_length (option)")):
        row = loop[name]
        print(f"{label:<42} {row['tokens_per_s']:>9} {'':>8} {'':>8} {'':>8} {row['padding_fraction']:>8.1%}")
    for key, value in results["ratios"].items():
        print(f"{key:<42} {value:>9.3f}")
    shares = results["collate_ms"]["noise_share_of_step"]
    print(f"collate ms per batch: SFT {collate_ms['sft']}, MFT [mask] {collate_ms['mft_mask']}, MFT random "
          f"{collate_ms['mft_random']}; the noise's share of a {step_ms:.1f} ms step: [mask] "
          f"{shares['mft_mask']:.2%}, random {shares['mft_random']:.2%}")
    if args.profile:
        results["profile_label_step"] = profile
        print("where the label-logits step's time goes (torch.profiler, self CPU time, loop batches):")
        for row in profile:
            print(f"  {row['op']:<48} {row['share']:>6.1%}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
