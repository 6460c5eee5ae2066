"""Tiny base models: the tokenizer (digits, operators, exact round trip) and the Llama/Mistral builders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from cotmask.tiny import build_base_model, iter_corpus_texts, train_tokenizer

ROUND_TRIP_TEXTS = [
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72",
    "The total is $1,234.50, so each of the 3 friends pays <<1234.5/3=411.5>>411.5.\n#### 1,234",
    "So the probability is \\boxed{3/4}. The answer is: 3/4",
    "Weird  spacing,  tabs\tand (brackets) [x-y]*2 - -5 ; done!",
    "Zebra quux words never seen in training.",
]


def test_round_trip_is_exact(tiny_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    for text in ROUND_TRIP_TEXTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.decode(ids) == text
    with_specials = tok("12 apples")["input_ids"]
    assert with_specials[0] == tok.bos_token_id
    assert tok.decode(with_specials + [tok.eos_token_id], skip_special_tokens=True) == "12 apples"


def test_digits_and_operators_are_single_tokens(tiny_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    pieces = tok.convert_ids_to_tokens(tok("<<48/2=24>>24\n#### 1,234", add_special_tokens=False)["input_ids"])
    assert pieces == ["<", "<", "4", "8", "/", "2", "=", "2", "4", ">", ">", "2", "4", "\n",
                      "#", "#", "#", "#", "\u2581", "1", ",", "2", "3", "4"]
    for symbol in ["+", "-", "*", "$", ".", "="]:
        ids = tok(f"7{symbol}5", add_special_tokens=False)["input_ids"]
        assert tok.convert_ids_to_tokens(ids) == ["7", symbol, "5"]
    # frequent words become whole tokens (with the leading-space marker)
    assert len(tok(" apples", add_special_tokens=False)["input_ids"]) == 1
    special = {tok.pad_token: tok.pad_token_id, tok.bos_token: tok.bos_token_id,
               tok.eos_token: tok.eos_token_id, tok.unk_token: tok.unk_token_id}
    assert special == {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    assert len(tok) <= 200


def test_tokenizer_is_deterministic_and_reads_plain_text(tmp_path, tiny_records_file, tiny_tokenizer_dir):
    out = tmp_path / "again"
    train_tokenizer([tiny_records_file], str(out), vocab_size=200)
    assert json.loads((out / "tokenizer.json").read_text()) == json.loads(
        (Path(tiny_tokenizer_dir) / "tokenizer.json").read_text()
    )
    plain = tmp_path / "corpus.txt"
    plain.write_text("one two three\n\nfour 5 six\n")
    assert list(iter_corpus_texts([str(plain)])) == ["one two three", "four 5 six"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        list(iter_corpus_texts([str(bad)]))
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer([str(plain)], str(tmp_path / "small"), vocab_size=50)


def test_llama_base_model_was_pretrained_and_loads(tiny_model_dir):
    metrics = json.loads((Path(tiny_model_dir) / "pretrain_metrics.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "llama"
    assert (model.config.hidden_size, model.config.num_hidden_layers, model.config.num_key_value_heads) == (32, 2, 1)
    assert model.config.vocab_size == len(tok)
    assert model.config.eos_token_id == tok.eos_token_id and model.config.bos_token_id == tok.bos_token_id
    assert metrics["optimizer_steps"] == 4 and metrics["n_parameters"] == sum(p.numel() for p in model.parameters())
    curve = [e["loss"] for e in metrics["loss_curve"]]
    assert curve[-1] < curve[0]
    assert not (Path(tiny_model_dir).parent / ".base.tmp").exists()


def test_mistral_shape_and_seed_determinism(tmp_path, tiny_records_file, tiny_tokenizer_dir):
    kwargs = dict(shape="mistral", hidden_size=32, num_layers=1, num_heads=4, num_kv_heads=2, intermediate_size=48,
                  max_position_embeddings=128, sliding_window=16, pretrain_epochs=1, pretrain_lr=3e-3,
                  batch_size=32, max_length=96, seed=3)
    build_base_model(tiny_tokenizer_dir, [tiny_records_file], str(tmp_path / "m1"), **kwargs)
    build_base_model(tiny_tokenizer_dir, [tiny_records_file], str(tmp_path / "m2"), **kwargs)
    m1 = AutoModelForCausalLM.from_pretrained(tmp_path / "m1")
    m2 = AutoModelForCausalLM.from_pretrained(tmp_path / "m2")
    assert m1.config.model_type == "mistral" and type(m1).__name__ == "MistralForCausalLM"
    assert m1.config.sliding_window == 16 and m1.config.num_key_value_heads == 2
    k_proj = m1.model.layers[0].self_attn.k_proj
    assert k_proj.out_features == 2 * (32 // 4)  # grouped-query attention: 2 KV heads of size 8
    for (name, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), name


def test_build_base_model_rejects_bad_shapes(tmp_path, tiny_records_file, tiny_tokenizer_dir):
    common = (tiny_tokenizer_dir, [tiny_records_file], str(tmp_path / "x"))
    with pytest.raises(ValueError, match="shape"):
        build_base_model(*common, shape="gpt2")
    with pytest.raises(ValueError, match="sliding_window"):
        build_base_model(*common, shape="llama", sliding_window=8)
    with pytest.raises(ValueError, match="num_kv_heads"):
        build_base_model(*common, hidden_size=32, num_heads=4, num_kv_heads=3)
    with pytest.raises(FileNotFoundError):
        build_base_model(str(tmp_path / "none"), [tiny_records_file], str(tmp_path / "y"))
    with pytest.raises(ValueError, match=r"^build_base_model\.hidden_size: expected an integer, got '128'$"):
        build_base_model(*common, hidden_size="128")
    with pytest.raises(ValueError, match=r"^build_base_model\.pretrain_lr: expected a finite number, got 'fast'$"):
        build_base_model(*common, pretrain_lr="fast")
    with pytest.raises(ValueError, match=r"^train_tokenizer\.vocab_size: expected an integer, got 5\.5$"):
        train_tokenizer([tiny_records_file], str(tmp_path / "x"), vocab_size=5.5)
    assert not (tmp_path / "x").exists()


def test_build_base_model_converts_config_values(tmp_path, tiny_records_file, tiny_tokenizer_dir):
    """Values as a YAML config gives them (1e-3 read as text, whole floats, paths) are converted first."""
    metrics = build_base_model(Path(tiny_tokenizer_dir), [Path(tiny_records_file)], tmp_path / "m", hidden_size=32.0,
                               num_layers=1, num_heads=2, intermediate_size=64, pretrain_epochs=0, pretrain_lr="1e-3")
    settings = metrics["settings"]
    assert (settings["hidden_size"], settings["pretrain_lr"]) == (32, 1e-3)
    assert settings["corpus_files"] == [str(tiny_records_file)]
    assert type(settings["hidden_size"]) is int and settings["tokenizer_dir"] == str(tiny_tokenizer_dir)
    assert json.loads((tmp_path / "m" / "pretrain_metrics.json").read_text())["settings"] == settings


def test_cli_tokenizer_and_untrained_pretrain(tmp_path, tiny_records_file, capsys):
    from cotmask import cli

    tok_dir, model_dir = tmp_path / "tok", tmp_path / "model"
    assert cli.main(["tokenizer", "--corpus", tiny_records_file, "--out", str(tok_dir), "--vocab-size", "180"]) == 0
    assert cli.main(["pretrain", "--tokenizer", str(tok_dir), "--corpus", tiny_records_file,
                     "--out", str(model_dir), "--hidden-size", "16", "--num-layers", "1", "--num-heads", "2",
                     "--intermediate-size", "32", "--epochs", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["optimizer_steps"] == 0
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert model.config.hidden_size == 16 and model.config.vocab_size == len(AutoTokenizer.from_pretrained(model_dir))
    assert json.loads((model_dir / "pretrain_metrics.json").read_text())["optimizer_steps"] == 0


def test_pretraining_with_the_speed_settings_resumes_to_the_same_weights(tmp_path, tiny_records_file,
                                                                         tiny_tokenizer_dir):
    """Length-grouped batches + the label-position loss: a pre-training killed after its first epoch's
    checkpoint resumes to the weights of an uninterrupted one; the metrics record both settings' effect."""
    kwargs = dict(shape="llama", hidden_size=32, num_layers=1, num_heads=2, intermediate_size=48,
                  max_position_embeddings=128, pretrain_epochs=2, pretrain_lr=3e-3, batch_size=4, max_length=96,
                  seed=3, group_by_length=True, label_logits_only=True, length_buckets=2)
    straight = build_base_model(tiny_tokenizer_dir, [tiny_records_file], str(tmp_path / "a"),
                                checkpoint_dir=str(tmp_path / "a.ckpt"), **kwargs)
    assert straight["train_sampling_strategy"] == "group_by_length"
    assert straight["loss_batches"] == {"label_logits": straight["optimizer_steps"], "full_logits": 0}
    assert 0 <= straight["padding_fraction"] < 0.5
    build_base_model(tiny_tokenizer_dir, [tiny_records_file], str(tmp_path / "b"),
                     checkpoint_dir=str(tmp_path / "b.ckpt"), **kwargs)
    # simulate a job killed after the epoch-1 checkpoint: drop its output and the epoch-2 checkpoint
    import shutil

    checkpoints = sorted((tmp_path / "b.ckpt").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert len(checkpoints) == 2
    shutil.rmtree(checkpoints[-1])
    shutil.rmtree(tmp_path / "b")
    resumed = build_base_model(tiny_tokenizer_dir, [tiny_records_file], str(tmp_path / "b"),
                               checkpoint_dir=str(tmp_path / "b.ckpt"), **kwargs)
    assert resumed["resumed_from"].endswith(checkpoints[0].name)
    assert 0 < resumed["steps_this_run"] < straight["optimizer_steps"]
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "a").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "b").state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# -- job logs (cotmask.logs.log_to with the job object, as the workflow's scripts call it) -------------------
def _run_job(tmp_path, body: str) -> str:
    """Run ``body`` in a fresh Python after ``log_to(log, job=JOB)``; return the log's text."""
    import subprocess
    import sys

    script = tmp_path / "job.py"
    script.write_text(
        "from types import SimpleNamespace\n"
        "from cotmask.logs import log_to\n"
        f"JOB = SimpleNamespace(rule='train_tokenizer', input=[{str(tmp_path / 'corpus.jsonl')!r}],\n"
        f"                     output=[{str(tmp_path / 'tok')!r}], params={{'settings': {{'vocab_size': 200}}}},\n"
        "                     wildcards={'model': 'tiny'}, threads=1)\n"
        f"log_to({str(tmp_path / 'job.log')!r}, job=JOB)\n" + body
    )
    subprocess.run([sys.executable, str(script)], check=False, timeout=600)
    return (tmp_path / "job.log").read_text()


def test_a_job_log_says_what_was_read_written_and_how_long_it_took(tmp_path, tiny_records_file):
    import shutil

    shutil.copy(tiny_records_file, tmp_path / "corpus.jsonl")
    text = _run_job(tmp_path, (
        "from cotmask.tiny import train_tokenizer\n"
        f"train_tokenizer([{str(tmp_path / 'corpus.jsonl')!r}], {str(tmp_path / 'tok')!r}, vocab_size=200)\n"
    ))
    assert "rule train_tokenizer [model=tiny] started (threads: 1)" in text
    assert f"reads {tmp_path / 'corpus.jsonl'} (64 lines, " in text
    assert 'param settings = {"vocab_size": 200}' in text
    assert "tokenizer corpus: 64 texts" in text
    assert f"BPE vocabulary of {len(AutoTokenizer.from_pretrained(tmp_path / 'tok'))} tokens" in text
    n_files = sum(1 for p in (tmp_path / "tok").rglob("*") if p.is_file())
    assert f"wrote {tmp_path / 'tok'}/ ({n_files} files, " in text
    assert "rule train_tokenizer done in " in text


def test_a_failed_job_log_ends_with_the_failure(tmp_path):
    (tmp_path / "corpus.jsonl").write_text("")
    text = _run_job(tmp_path, "raise ValueError('bad corpus')\n")
    assert "ValueError: bad corpus" in text  # the traceback reaches the log
    assert "rule train_tokenizer failed after " in text and text.rstrip().endswith("ValueError")
    assert "wrote " not in text
