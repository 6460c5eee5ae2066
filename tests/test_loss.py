"""The label-position loss (cotmask.loss): the model's own loss and gradients, computed without the logits of
unlabelled positions; the Trainer path that uses it; length-grouped batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

from cotmask.encoding import encode_records
from cotmask.loss import label_logits_loss, length_buckets, supports_label_logits, use_label_logits
from cotmask.masking import MaskingConfig, MFTCollator, add_mask_token
from cotmask.records import read_jsonl
from cotmask.tiny import build_base_model
from cotmask.train import FinetuneConfig, finetune


def _batch(model_dir: str, train_file: str, n: int = 8, noise: bool = True) -> tuple:
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    mask_id = add_mask_token(model, tokenizer)
    records = read_jsonl(train_file)[:n]
    encoded = encode_records(tokenizer, records, template="short", max_length=96)
    for i, example in enumerate(encoded):  # rows of several lengths (cut answers), as in a real batch
        example["input_ids"] = example["input_ids"][: max(example["prompt_length"] + 4, 96 - 7 * i)]
    config = MaskingConfig(mask_ratio=0.4 if noise else 0.0, noise="mask")
    batch = MFTCollator(config, pad_token_id=tokenizer.pad_token_id, mask_token_id=mask_id, seed=3)(encoded)
    return model, batch


def _loss_and_grads(model, loss_fn) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    return float(loss), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.fixture(scope="module")
def tiny_mistral_dir(tmp_path_factory, tiny_tokenizer_dir, tiny_records_file) -> str:
    out = tmp_path_factory.mktemp("tiny_mistral") / "base"
    build_base_model(tiny_tokenizer_dir, [tiny_records_file], str(out), shape="mistral", hidden_size=32,
                     num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64, max_position_embeddings=128,
                     sliding_window=16, pretrain_epochs=0, max_length=96)
    return str(out)


@pytest.mark.parametrize("buckets", [1, 3])
@pytest.mark.parametrize("shape", ["llama", "mistral"])
def test_label_logits_loss_equals_the_models_loss_and_gradients(shape, buckets, tiny_model_dir, tiny_mistral_dir,
                                                                tiny_records_file):
    model_dir = tiny_model_dir if shape == "llama" else tiny_mistral_dir
    model, batch = _batch(model_dir, tiny_records_file)
    assert len(set(batch["attention_mask"].sum(dim=1).tolist())) > 2  # rows of several lengths: real buckets
    unlabelled = (batch["labels"][:, 1:] == -100).float().mean()
    assert unlabelled > 0.3  # the question and the padding: the positions the label path skips
    reference, grads_ref = _loss_and_grads(model, lambda: model(**batch).loss)
    ours, grads = _loss_and_grads(model, lambda: label_logits_loss(model, batch, buckets=buckets))
    assert ours == pytest.approx(reference, rel=1e-6)
    for name, grad in grads_ref.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-7, msg=name)
    # under gradient accumulation the Trainer passes the token count of the whole accumulated batch
    n_items = int((batch["labels"][:, 1:] != -100).sum()) * 3
    expected = float(model(**batch, num_items_in_batch=n_items).loss)
    assert float(label_logits_loss(model, batch, n_items, buckets=buckets)) == pytest.approx(expected, rel=1e-6)
    assert float(label_logits_loss(model, batch, torch.tensor(n_items), buckets=buckets)) == pytest.approx(
        expected, rel=1e-6)


def test_length_buckets_group_rows_of_similar_length():
    lengths = torch.tensor([5, 2, 9, 3, 7, 4])
    mask = (torch.arange(10).unsqueeze(0) < lengths.unsqueeze(1)).long()
    groups = length_buckets(mask, 3)
    assert [sorted(rows.tolist()) for rows, _ in groups] == [[1, 3], [0, 5], [2, 4]]
    assert [width for _, width in groups] == [3, 5, 9]
    assert sorted(torch.cat([rows for rows, _ in groups]).tolist()) == list(range(6))  # every row once
    assert length_buckets(mask, 1) is None and length_buckets(None, 3) is None
    assert length_buckets(mask.flip(dims=[1]), 3) is None  # left padding: trailing columns are not padding
    assert len(length_buckets(mask[:2], 3)) == 2  # never more buckets than rows


def test_buckets_are_skipped_while_an_embedding_hook_is_active(tiny_model_dir, tiny_records_file):
    """The embedding-noise regularisers hook the input embeddings with whole-batch positions: one bucket."""
    model, batch = _batch(tiny_model_dir, tiny_records_file)
    shapes = []
    handle = model.get_input_embeddings().register_forward_hook(lambda m, a, out: shapes.append(tuple(out.shape)))
    label_logits_loss(model, batch, buckets=3)
    handle.remove()
    assert shapes == [tuple(batch["input_ids"].shape) + (model.config.hidden_size,)]


def test_only_plain_linear_heads_are_supported():
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=32, n_embd=16, n_layer=1, n_head=2))
    assert not supports_label_logits(gpt2)
    forward = gpt2.forward
    assert use_label_logits(gpt2) is False and gpt2.forward == forward


def test_wrapped_forward_takes_the_label_path_for_training_calls_only(tiny_model_dir, tiny_records_file):
    model, batch = _batch(tiny_model_dir, tiny_records_file)
    with torch.no_grad():
        reference = model(**batch)
        plain = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert use_label_logits(model) and use_label_logits(model)  # idempotent
    with torch.no_grad():
        trained = model(**batch)
        assert trained.logits is None and float(trained.loss) == pytest.approx(float(reference.loss), rel=1e-6)
        # no labels (generation, scoring) or an argument the label path does not know: the model's own forward
        torch.testing.assert_close(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                                   plain)
        assert model(**batch, output_hidden_states=True).logits is not None
    assert model.label_logits_counts == {"label_logits": 1, "full_logits": 1}


def test_finetune_uses_the_label_loss_and_trains_the_same(tiny_model_dir, tiny_records_file, tmp_path):
    """Same seed and data: the label-position loss and the model's own loss give the same loss curve
    (up to float summation order) and the metrics say which path each batch took."""
    curves = {}
    for label_only in (True, False):
        cfg = FinetuneConfig.from_dict(dict(
            base_model=tiny_model_dir, train_file=tiny_records_file, output_dir=str(tmp_path / f"{label_only}"),
            prompt_template="short", max_length=96, learning_rate=2e-3, epochs=1, per_device_batch_size=8,
            logging_steps=1, seed=5, limit=32, mask_ratio=0.4, noise="random", label_logits_only=label_only,
        ))
        metrics = finetune(cfg)
        path = "label_logits" if label_only else "full_logits"
        assert metrics["loss_batches"][path] == metrics["optimizer_steps"] == 4
        curves[label_only] = [entry["loss"] for entry in metrics["loss_curve"]]
    assert len(curves[True]) == 4
    assert curves[True] == pytest.approx(curves[False], abs=1e-4)


def test_length_grouped_batches_pad_less(tiny_model_dir, tmp_path):
    """group_by_length draws batches of similar length: less padding on a set of mixed lengths, the same
    examples per epoch, and a recorded padding fraction that matches the batches."""
    from conftest import make_tiny_records

    records = make_tiny_records(256)  # the sampler sorts megabatches of min(n // 32, 50) batches
    for i, record in enumerate(records):  # mixed lengths: every other solution gets a long preamble
        if i % 2:
            record["solution"] = "We read it again. " + record["solution"]
    train = tmp_path / "mixed.jsonl"
    from cotmask.records import write_jsonl

    write_jsonl(records, train)
    fractions = {}
    for grouped in (False, True):
        cfg = FinetuneConfig.from_dict(dict(
            base_model=tiny_model_dir, train_file=str(train), output_dir=str(tmp_path / f"g{grouped}"),
            prompt_template="short", max_length=128, epochs=1, per_device_batch_size=8, seed=5,
            group_by_length=grouped, learning_rate=1e-3,
        ))
        metrics = finetune(cfg)
        assert metrics["train_sampling_strategy"] == ("group_by_length" if grouped else "random")
        assert metrics["data"]["n_examples"] == 256 and metrics["optimizer_steps"] == 32
        fractions[grouped] = metrics["padding_fraction"]
        saved = json.loads((Path(cfg.output_dir) / "train_metrics.json").read_text())
        assert saved["padding_fraction"] == fractions[grouped]
    assert 0 <= fractions[True] < fractions[False] / 2, fractions
