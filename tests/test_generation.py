"""Batched, calculator-assisted generation on tiny models built here (no hub downloads)."""

from __future__ import annotations

import math

import pytest
import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from cotmask.generation import answer_end, forced_token_ids, generate, load_model

CORPUS = [
    "Question: Tom has 48 apples and gives half away. How many are left?\n"
    "Answer: Half is <<48/2=24>>24 apples.\n#### 24",
    "Question: what is six times seven?\nAnswer:<<6*7=42>>####9\nThe answer is: 18 \\boxed{3}",
    "Question: Ann buys 3 pens at $5 each and 2 books. What does she pay?\nAnswer: Pens cost <<3*5=15>>15.\n#### 15",
    "Question: A box holds 12 eggs. How many eggs are in 7 boxes?\nAnswer: <<12*7=84>>84 eggs.\n#### 84",
    "0 1 2 3 4 5 6 7 8 9 + - ( ) , %",
]


def build_word_tokenizer(corpus: list[str] = CORPUS) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose decode reproduces the text: digits, ``<<``, ``>>``, ``####``, newline
    and punctuation are single tokens; spaces travel as a ``▁`` marker."""
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"<<|>>|####|\n|[=*/+\-:?.,$(){}\\%]"), behavior="isolated"),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="never")
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<pad>", "<s>", "</s>", "<unk>"]))
    bos = tokenizer.token_to_id("<s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def build_random_model(tokenizer, seed: int = 0, hidden: int = 32, layers: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, initializer_range=0.2,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).eval()


def build_bigram_model(tokenizer, successor: dict[str, str]) -> LlamaForCausalLM:
    """A Llama whose greedy next token depends only on the current token: ``successor[token]``
    (EOS for tokens not listed). Attention and MLP outputs are zeroed, so the residual stream is the
    one-hot token embedding and the LM head reads the table."""
    vocab = len(tokenizer)
    hidden = 8 * math.ceil(vocab / 8)
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.model.norm.weight.fill_(1.0)
        model.model.embed_tokens.weight[:, :vocab].copy_(torch.eye(vocab))
        head = torch.zeros(vocab, hidden)
        ids = tokenizer.convert_tokens_to_ids
        for token in range(vocab):
            head[tokenizer.eos_token_id, token] = 1.0
        for current, following in successor.items():
            head[tokenizer.eos_token_id, ids(current)] = 0.0
            head[ids(following), ids(current)] = 5.0
        model.lm_head.weight.copy_(head)
    return model


# "Answer:" -> "<<6*7=41>>####9\nQuestion:" -> loops: the model's own arithmetic is wrong (41).
SCRIPT = ["Answer", ":", "<<", "6", "*", "7", "=", "4", "1", ">>", "####", "9", "\n", "Question", ":"]
SUCCESSOR = {current: following for current, following in zip(SCRIPT, SCRIPT[1:])}
SUCCESSOR[":"] = "<<"
SUCCESSOR["2"] = "####"  # only reached when the calculator forces "42>>42"


@pytest.fixture(scope="module")
def tokenizer():
    return build_word_tokenizer()


@pytest.fixture(scope="module")
def bigram(tokenizer):
    return build_bigram_model(tokenizer, SUCCESSOR)


def test_tokenizer_round_trips(tokenizer):
    for text in CORPUS[:4]:
        assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text


def test_bigram_model_follows_its_script(tokenizer, bigram):
    out = generate(bigram, tokenizer, ["Question: what is six times seven?\nAnswer:"], max_new_tokens=8,
                   stop_at_answer=False)
    assert out == ["<<6*7=41>>"]


def test_calculator_forces_exact_result(tokenizer, bigram):
    prompt = "Question: what is six times seven?\nAnswer:"
    plain = generate(bigram, tokenizer, [prompt], max_new_tokens=30, calculator=False)
    calc = generate(bigram, tokenizer, [prompt], max_new_tokens=30, calculator=True)
    assert plain == ["<<6*7=41>>####9"]
    assert calc == ["<<6*7=42>>42####9"]  # the result is forced inside the annotation and after it
    # Per-row forcing inside a left-padded batch of prompts of different lengths.
    batch = [prompt, "Answer:", "Question: Tom has 48 apples and gives half away. How many are left?\nAnswer:"]
    assert generate(bigram, tokenizer, batch, max_new_tokens=30, calculator=True, batch_size=3) == [
        "<<6*7=42>>42####9"] * 3


def test_calculator_repeats_for_every_annotation(tokenizer, bigram):
    (out,) = generate(bigram, tokenizer, ["Answer:"], max_new_tokens=60, calculator=True, stop_at_answer=False)
    assert out.count("<<6*7=42>>42####") >= 3
    assert "41" not in out


def test_stop_at_answer_line(tokenizer, bigram):
    prompt = "Question: what is six times seven?\nAnswer:"
    stopped = generate(bigram, tokenizer, [prompt], max_new_tokens=60)
    running = generate(bigram, tokenizer, [prompt], max_new_tokens=60, stop_at_answer=False)
    assert stopped == ["<<6*7=41>>####9"]
    assert running[0].startswith("<<6*7=41>>####9\nQuestion:<<6*7=41>>")
    assert len(running[0]) > 2 * len(stopped[0])


def test_answer_end_positions():
    assert answer_end("a\n#### 18\nQuestion") == len("a\n#### 18")
    assert answer_end("#### 18") is None  # line not complete yet
    assert answer_end("so The answer is: 5\nmore") == len("so The answer is: 5")
    assert answer_end("x $\\boxed{\\frac{1}{2}}$.\nnext") == len("x $\\boxed{\\frac{1}{2}}$.")
    assert answer_end("x $\\boxed{\\frac{1}{2}$.\nnext") is None  # unbalanced
    assert answer_end("no answer\nhere\n") is None


def test_batched_left_padded_equals_one_by_one(tokenizer):
    model = build_random_model(tokenizer)
    prompts = [
        "Question: Tom has 48 apples and gives half away. How many are left?\nAnswer:",
        "Question: what is six times seven?\nAnswer:",
        "Question: A box holds 12 eggs.\nAnswer:",
        "Question: Ann buys 3 pens at $5 each and 2 books. What does she pay?\nAnswer:",
        "Answer:",
    ]
    single = [generate(model, tokenizer, [prompt], max_new_tokens=24, batch_size=1)[0] for prompt in prompts]
    batched = generate(model, tokenizer, prompts, max_new_tokens=24, batch_size=4)
    assert batched == single
    assert len(set(single)) > 1  # the prompts matter


def test_static_kv_cache_gives_the_dynamic_cache_answers(tokenizer, bigram):
    """``cache_implementation="static"`` (a preallocated KV cache, the GPU fast path) decodes the same text as
    the default dynamic cache, with and without the calculator."""
    model = build_random_model(tokenizer, seed=3)
    prompts = ["Question: Tom has 48 apples and gives half away.\nAnswer:", "Question: A box holds 12 eggs.\nAnswer:",
               "Answer:"]
    for calculator in (False, True):
        dynamic = generate(model, tokenizer, prompts, max_new_tokens=20, batch_size=3, calculator=calculator)
        static = generate(model, tokenizer, prompts, max_new_tokens=20, batch_size=3, calculator=calculator,
                          cache_implementation="static")
        assert static == dynamic
    scripted = generate(bigram, tokenizer, ["Question: what is"], max_new_tokens=12, calculator=True,
                        cache_implementation="static")
    assert scripted == generate(bigram, tokenizer, ["Question: what is"], max_new_tokens=12, calculator=True)
    with pytest.raises(ValueError):
        generate(model, tokenizer, prompts, cache_implementation="no-such-cache")


def test_batched_greedy_matches_unpadded_hf_generate(tokenizer):
    model = build_random_model(tokenizer, seed=1)
    prompts = ["Question: what is six times seven?\nAnswer:", "Answer:"]
    ours = generate(model, tokenizer, prompts, max_new_tokens=16, batch_size=2, stop_at_answer=False)
    for prompt, text in zip(prompts, ours):
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            reference = model.generate(**ids, max_new_tokens=16, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        new = reference[0, ids["input_ids"].shape[1]:].tolist()
        if tokenizer.eos_token_id in new:
            new = new[: new.index(tokenizer.eos_token_id)]
        assert tokenizer.decode(new, skip_special_tokens=True).strip() == text


def test_sampling_is_deterministic_for_a_seed(tokenizer):
    model = build_random_model(tokenizer, seed=2)
    prompts = ["Question: what is six times seven?\nAnswer:", "Answer:", "Question: A box holds 12 eggs.\nAnswer:"]
    kwargs = dict(max_new_tokens=20, do_sample=True, temperature=1.0, batch_size=2)
    first = generate(model, tokenizer, prompts, seed=7, **kwargs)
    torch.manual_seed(123)  # the global RNG state must not matter
    second = generate(model, tokenizer, prompts, seed=7, **kwargs)
    other = generate(model, tokenizer, prompts, seed=8, **kwargs)
    greedy = generate(model, tokenizer, prompts, max_new_tokens=20, batch_size=2)
    assert first == second
    assert other != first
    assert first != greedy


def test_forced_ids_join_sentencepiece_style_tokenizer():
    """With a dummy-prefix (SentencePiece-like) tokenizer, the forced result must not start a new word."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=["<unk>", "<s>", "</s>"])
    tokenizer.train_from_iterator(CORPUS * 5, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    naive = fast.encode("24>>", add_special_tokens=False)
    assert fast.convert_ids_to_tokens(naive)[0].startswith("▁")  # the pitfall exists for this tokenizer
    for expression, result in [("48/2", "24"), ("3*5", "15"), ("10/4", "2.5"), ("1-3", "-2")]:
        context = f"Half is <<{expression}="
        ids = fast.encode(context, add_special_tokens=False) + forced_token_ids(fast, expression, result)
        assert fast.decode(ids) == f"{context}{result}>>{result}"
        short = fast.encode(context, add_special_tokens=False) + forced_token_ids(fast, expression, result, False)
        assert fast.decode(short) == f"{context}{result}>>"


def test_load_model_sets_left_padding(tmp_path, tokenizer):
    model = build_random_model(tokenizer, seed=3)
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    loaded, loaded_tokenizer = load_model(tmp_path / "m", threads=1)
    assert loaded_tokenizer.padding_side == "left"
    assert not loaded.training
    prompts = ["Answer:", "Question: what is six times seven?\nAnswer:"]
    assert generate(loaded, loaded_tokenizer, prompts, max_new_tokens=10) == generate(
        model, tokenizer, prompts, max_new_tokens=10
    )
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_model(tmp_path / "missing")


def test_project_tokenizer_calculator_join_and_flags(tiny_tokenizer_dir):
    """With the embedded default's own tokenizer (cotmask.tiny): forced results join, '=' and newline tokens
    are recognised."""
    from transformers import AutoTokenizer

    from cotmask.generation import _token_flags

    project = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    for expression, result in [("12+30", "42"), ("42-7", "35"), ("3/4", "0.75")]:
        context = f"Tom had {expression} = <<{expression}="
        ids = project.encode(context, add_special_tokens=False) + forced_token_ids(project, expression, result)
        assert project.decode(ids) == f"{context}{result}>>{result}"
    ends_with_equals, has_newline = _token_flags(project, len(project))
    assert ends_with_equals[project.convert_tokens_to_ids("=")]
    assert has_newline[project.encode("\n", add_special_tokens=False)[0]]
    assert sum(ends_with_equals) >= 1 and sum(has_newline) >= 1


# ------------------------------------------------------------------------------ padding, progress, sources
def test_left_padding_puts_every_prompt_flush_right(tokenizer):
    """``tokenizer.pad(padding_side="left")`` as the batch input: pads first, mask 0 exactly on them."""
    from cotmask.generation import _left_pad

    side = tokenizer.padding_side
    tokenizer.padding_side = "right"  # the argument, not the tokenizer's setting, decides
    rows = [[5, 6, 7], [8], [9, 10, 11, 12]]
    try:
        ids, mask = _left_pad(tokenizer, rows, "cpu")
    finally:
        tokenizer.padding_side = side
    pad = tokenizer.pad_token_id
    assert ids.tolist() == [[pad, 5, 6, 7], [pad, pad, pad, 8], [9, 10, 11, 12]]
    assert mask.tolist() == [[0, 1, 1, 1], [0, 0, 0, 1], [1, 1, 1, 1]]
    assert ids.dtype == torch.long and mask.dtype == torch.long


def test_generate_advances_a_given_progress_by_every_prompt(tokenizer, caplog):
    from cotmask.logs import Progress

    model = build_random_model(tokenizer, seed=4)
    prompts = ["Answer:", "Question: what is six times seven?\nAnswer:", "Question: A box holds 12 eggs.\nAnswer:"]
    progress = Progress(len(prompts), "test run", unit="prompts")
    with caplog.at_level("INFO"):
        generate(model, tokenizer, prompts, max_new_tokens=4, batch_size=2, progress=progress)
    assert progress.done == 3
    assert [r.getMessage() for r in caplog.records if "test run" in r.getMessage()][-1].startswith(
        "test run: 3/3 prompts (100 %)")


def test_progress_lines_report_rate_and_eta():
    """A fake clock: one line per interval with done/total, rate and the ETA of the rest, a final line."""
    import logging

    from cotmask.logs import Progress, format_duration

    now = [0.0]
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger = logging.getLogger("test.progress")
    logger.setLevel(logging.INFO)
    logger.addHandler(Collect())
    progress = Progress(100, "evaluate", unit="prompts", every_s=30, logger=logger, clock=lambda: now[0])
    now[0] = 10.0
    progress.advance(10)  # 10 s < 30 s: no line
    assert lines == []
    now[0] = 40.0
    progress.advance(30)  # 40 done in 40 s: 1/s, 60 left -> 1 min
    assert lines == ["evaluate: 40/100 prompts (40 %), 1.00 prompts/s, elapsed 40 s, ETA 1 min 00 s"]
    now[0] = 45.0
    progress.advance(10)  # 5 s since the last line: none
    now[0] = 100.0
    progress.advance(50)  # complete: always a line
    assert len(lines) == 2 and lines[-1].endswith("elapsed 1 min 40 s, done")
    assert format_duration(7 * 3600 + 65) == "7 h 01 min"

    quiet = Progress(5, "quick", logger=logger, quiet_if_quick=True, clock=lambda: now[0])
    quiet.advance(5)
    assert len(lines) == 2  # a loop shorter than the interval logs nothing


def test_model_source_tells_folders_from_hub_ids(tmp_path, tokenizer):
    from cotmask.checkpoints import model_source

    build_random_model(tokenizer).save_pretrained(tmp_path / "m")
    (tmp_path / "empty").mkdir()
    assert model_source(tmp_path / "m") == "local"
    assert model_source("meta-llama/Llama-2-7b-hf") == "hub" and model_source("gpt2") == "hub"
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        model_source(tmp_path / "empty")
    for missing in (tmp_path / "missing", "work/models/ft/llama/gsm/sft/seed9", "../x"):
        with pytest.raises(FileNotFoundError, match="no such model folder.*hub id"):
            model_source(missing)


def test_an_unreachable_hub_id_names_the_local_folder_alternative(monkeypatch):
    """Offline (the hub switched off, as without a network) a hub id fails with an error that says how to
    use a local folder instead; no traceback-worthy OSError escapes."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError) as caught:
        load_model("cotmask-tests/not-a-cached-model")
    message = str(caught.value)
    assert message.startswith("cotmask-tests/not-a-cached-model: not a local folder")
    assert "hf download cotmask-tests/not-a-cached-model --local-dir DIR" in message
