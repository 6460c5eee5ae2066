"""Evaluation throughput: problems/s of batched vs one-by-one decoding, with and without the calculator.

A tiny random Llama (default hidden 128, 4 layers) and a word/digit-level tokenizer are built in memory;
prompts are procedurally generated GSM-style questions. The EOS token is kept outside the random model's
output vocabulary (unless ``--allow-eos``), so every problem decodes ``--max-new-tokens`` tokens and the
numbers compare decoding speed, not the accidental answer lengths of a random model.

    python benchmarks/bench_eval.py --out benchmarks/results/bench_eval.json

``--compile`` adds the compiled decode step: batched plain decoding with the model's forward
``torch.compile``-d (inductor, dynamic shapes, a cold kernel cache), with transformers' dynamic KV cache
and with its static one; per variant the first call (which compiles) and the median of three decoding
runs, against the eager model in the same process, and whether the text equals the eager text.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from cotmask.generation import generate
from cotmask.prompts import format_prompt
from cotmask.records import write_json

NAMES = ["Tom", "Ann", "Lee", "Maria", "Sam", "Priya"]
ITEMS = ["apples", "pens", "books", "eggs", "marbles", "cards"]


def make_questions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    questions = []
    for _ in range(n):
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        a, b, c = rng.randint(2, 99), rng.randint(2, 20), rng.randint(1, 9)
        questions.append(
            f"{name} has {a} {item}. {name} buys {b} more bags with {c} {item} each. "
            f"How many {item} does {name} have now?"
        )
    return questions


def build_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"<<|>>|####|\n|[=*/+\-:?.,$()]"), behavior="isolated"),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="never")
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<pad>", "<s>", "<unk>"]))
    tokenizer.add_special_tokens(["</s>"])  # the last id (see build_model)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def build_model(
    tokenizer, hidden: int, layers: int, heads: int, seed: int, allow_eos: bool = False
) -> LlamaForCausalLM:
    """Random Llama; without ``allow_eos`` its vocabulary stops just before EOS (the last id), so it never stops."""
    torch.manual_seed(seed)
    assert tokenizer.eos_token_id == len(tokenizer) - 1
    config = LlamaConfig(
        vocab_size=len(tokenizer) if allow_eos else len(tokenizer) - 1,
        hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id if allow_eos else None,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).eval()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--n-problems", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--allow-eos", action="store_true", help="let the random model stop at EOS")
    parser.add_argument("--compile", action="store_true", help="also time a torch.compile-d decode step")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    questions = make_questions(args.n_problems, args.seed)
    corpus = questions + ["Answer: <<12*3=36>>36 #### 36 0 1 2 3 4 5 6 7 8 9"]
    tokenizer = build_tokenizer(corpus)
    model = build_model(tokenizer, args.hidden, args.layers, args.heads, args.seed, args.allow_eos)
    prompts = [format_prompt(question, "short") for question in questions]
    generate(model, tokenizer, prompts[:2], max_new_tokens=4, batch_size=2)  # warm-up

    runs = []
    for calculator in (False, True):
        for batch_size in (args.batch_size, 1):
            start = time.perf_counter()
            outputs = generate(model, tokenizer, prompts, max_new_tokens=args.max_new_tokens,
                               batch_size=batch_size, calculator=calculator)
            seconds = time.perf_counter() - start
            n_tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in outputs)
            runs.append({
                "calculator": calculator, "batch_size": batch_size, "seconds": round(seconds, 3),
                "problems_per_s": round(len(prompts) / seconds, 2), "generated_tokens": n_tokens,
                "tokens_per_s": round(n_tokens / seconds, 1),
            })
            print(f"calculator={calculator!s:5} batch_size={batch_size:3d}  {seconds:7.2f} s  "
                  f"{len(prompts) / seconds:7.2f} problems/s  {n_tokens / seconds:8.1f} tokens/s", flush=True)
    results = {
        "model": {"hidden": args.hidden, "layers": args.layers, "heads": args.heads,
                  "parameters": sum(p.numel() for p in model.parameters()), "vocab": len(tokenizer)},
        "n_problems": args.n_problems, "batch_size": args.batch_size, "allow_eos": args.allow_eos,
        "max_new_tokens": args.max_new_tokens, "threads": args.threads,
        "torch": torch.__version__, "machine": platform.machine(), "runs": runs,
    }
    for calculator in (False, True):
        batched, single = [r for r in runs if r["calculator"] is calculator]
        speedup = round(batched["problems_per_s"] / single["problems_per_s"], 2)
        results[f"speedup_{'calc' if calculator else 'plain'}"] = speedup
        print(f"speed-up of batch {args.batch_size} over one-by-one (calculator={calculator}): {speedup}x")
    if args.compile:
        results["compiled_decoding"] = compiled_decoding(tokenizer, prompts, args)
    if args.out:
        write_json(results, args.out)
    return results


def compiled_decoding(tokenizer, prompts: list[str], args) -> list[dict]:
    """Eager vs compiled forward (dynamic and static KV cache) on batched plain decoding, one process."""
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-eval-inductor-")  # a cold cache
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", str(args.threads))
    variants = {"eager": (False, None), "compiled": (True, None), "compiled + static cache": (True, "static")}
    rows, texts = [], {}
    for name, (compiled, cache) in variants.items():
        model = build_model(tokenizer, args.hidden, args.layers, args.heads, args.seed, args.allow_eos)
        if compiled:
            model.forward = torch.compile(model.forward, dynamic=True)
        options = {"batch_size": args.batch_size, "cache_implementation": cache}
        start = time.perf_counter()
        generate(model, tokenizer, prompts[: args.batch_size], max_new_tokens=8, **options)
        first = time.perf_counter() - start
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            texts[name] = generate(model, tokenizer, prompts, max_new_tokens=args.max_new_tokens, **options)
            seconds.append(time.perf_counter() - start)
        decode = statistics.median(seconds)
        rows.append({"variant": name, "first_call_s": round(first, 2), "decode_s": round(decode, 3),
                     "same_text_as_eager": texts[name] == texts["eager"]})
        print(f"{name:24s} first call {first:6.1f} s  decoding {decode:6.3f} s  "
              f"same text: {texts[name] == texts['eager']}", flush=True)
    return rows


if __name__ == "__main__":
    main()
