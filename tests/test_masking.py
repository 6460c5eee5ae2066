"""Masking: the noise, the collator's labels and candidates, the warm-up schedule, the <mask> row init."""

from __future__ import annotations

import pytest
import torch

from cotmask.masking import (
    IGNORE_INDEX,
    MaskingConfig,
    MFTCollator,
    add_mask_token,
    add_pad_token,
    apply_noise,
    noise_seed,
)

PAD, BOS, EOS, MASK, VOCAB = 0, 1, 2, 99, 50


def _features(n: int = 64, seed: int = 0) -> list[dict]:
    """Examples with a BOS, a prompt (ids 10-19) and an answer (ids 20-49) closed by EOS; varied lengths."""
    gen = torch.Generator().manual_seed(seed)
    feats = []
    for _ in range(n):
        prompt = int(torch.randint(3, 12, (1,), generator=gen))
        answer = int(torch.randint(5, 40, (1,), generator=gen))
        ids = [BOS] + torch.randint(10, 20, (prompt,), generator=gen).tolist()
        ids += torch.randint(20, 50, (answer,), generator=gen).tolist() + [EOS]
        feats.append({"input_ids": ids, "prompt_length": 1 + prompt})
    return feats


def _collator(**kwargs) -> MFTCollator:
    cfg = MaskingConfig(**kwargs)
    return MFTCollator(cfg, pad_token_id=PAD, mask_token_id=MASK, vocab_size=VOCAB, bos_token_id=BOS, seed=3)


def _clean(features) -> dict:
    return _collator(mask_ratio=0.0).pad_batch(features)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskingConfig(mask_ratio=1.5)
    with pytest.raises(ValueError, match="noise"):
        MaskingConfig(noise="blank")
    with pytest.raises(ValueError, match="positions"):
        MaskingConfig(positions="target")
    with pytest.raises(ValueError, match="mask_prob"):
        MaskingConfig(noise="mixture", mask_prob=0.8, random_prob=0.5)
    with pytest.raises(ValueError, match="mixture"):
        MaskingConfig(noise="mask", random_prob=0.3)
    with pytest.raises(ValueError, match="colour"):
        MaskingConfig.from_dict({"mask_ratio": 0.4, "colour": "red"})


def test_the_former_warmup_name_is_refused_with_the_new_one():
    with pytest.raises(ValueError, match=r"^masking: key 'warmup_ratio' is now called 'mask_warmup_ratio'$"):
        MaskingConfig.from_dict({"mask_ratio": 0.4, "warmup_ratio": 0.5})
    assert MaskingConfig.from_dict({"mask_ratio": 0.4, "mask_warmup_ratio": 0.5}).ratio_at(1, 2) == 0.2


def test_config_fields_are_converted_by_their_types():
    """YAML ints and YAML 1.1's exponent strings become floats; wrong kinds name MaskingConfig.<field>."""
    config = MaskingConfig(mask_ratio=1, mask_warmup_ratio="6.6e-1", neftune_alpha=5, noise="mask")
    assert (config.mask_ratio, config.mask_warmup_ratio, config.neftune_alpha) == (1.0, 0.66, 5.0)
    assert all(type(v) is float for v in (config.mask_ratio, config.mask_warmup_ratio, config.neftune_alpha))
    assert MaskingConfig.from_flat({"mask_ratio": 0, "mask_warmup_ratio": 0}).ratio_at(3, 10) == 0.0
    with pytest.raises(ValueError, match=r"^MaskingConfig\.mask_ratio: expected a finite number, got True$"):
        MaskingConfig(mask_ratio=True)
    with pytest.raises(ValueError, match=r"^MaskingConfig\.noise: expected a string, got 3$"):
        MaskingConfig(noise=3)
    with pytest.raises(ValueError, match=r"^MaskingConfig\.neftune_alpha: expected a finite number, got inf$"):
        MaskingConfig(noise="neftune", mask_ratio=0.2, neftune_alpha=float("inf"))


def test_masked_fraction_close_to_p_on_answers_and_zero_elsewhere():
    p = 0.4
    features = _features(200)
    clean = _clean(features)
    batch = _collator(mask_ratio=p)(features)
    answer = clean["labels"] != IGNORE_INDEX
    noised = batch["input_ids"] == MASK
    n = int(answer.sum())
    frac = noised[answer].float().mean().item()
    # binomial standard error ~ sqrt(p(1-p)/n); allow 5 of them
    assert abs(frac - p) < 5 * (p * (1 - p) / n) ** 0.5, (frac, n)
    assert not noised[~answer].any(), "question or padding was masked"
    assert torch.equal(batch["input_ids"][~answer], clean["input_ids"][~answer])
    # EOS is an answer token, hence a candidate
    eos_positions = clean["input_ids"] == EOS
    assert noised[eos_positions].any()


def test_labels_are_unmasked_ids_with_ignore_on_prompt_and_padding():
    features = _features(16)
    batch = _collator(mask_ratio=0.9)(features)
    labels, attention = batch["labels"], batch["attention_mask"]
    for row, feat in enumerate(features):
        ids, plen = feat["input_ids"], feat["prompt_length"]
        assert labels[row, :plen].eq(IGNORE_INDEX).all()
        assert labels[row, plen : len(ids)].tolist() == ids[plen:]
        assert labels[row, len(ids) :].eq(IGNORE_INDEX).all()
        assert attention[row].tolist() == [1] * len(ids) + [0] * (labels.shape[1] - len(ids))
        assert batch["input_ids"][row, len(ids) :].eq(PAD).all()
    assert (batch["input_ids"][labels != IGNORE_INDEX] == MASK).any()


def test_question_positions_mask_only_question_tokens_never_bos():
    features = _features(100)
    clean = _clean(features)
    batch = _collator(mask_ratio=0.5, positions="question")(features)
    noised = batch["input_ids"] == MASK
    question = (clean["labels"] == IGNORE_INDEX) & (clean["attention_mask"] == 1)
    question[:, 0] = False  # BOS
    assert noised.any()
    assert not noised[~question].any()
    assert torch.equal(batch["labels"], clean["labels"])
    frac = noised[question].float().mean().item()
    assert 0.4 < frac < 0.6


def test_all_positions_cover_question_and_answer_but_not_padding():
    features = _features(50)
    clean = _clean(features)
    batch = _collator(mask_ratio=0.5, positions="all")(features)
    noised = batch["input_ids"] == MASK
    assert noised[clean["labels"] != IGNORE_INDEX].any()
    assert noised[(clean["labels"] == IGNORE_INDEX) & (clean["attention_mask"] == 1)].any()
    assert not noised[clean["attention_mask"] == 0].any()
    assert not noised[:, 0].any()


def _noise(kind: str, ratio: float = 0.5, **kw):
    ids = torch.randint(10, 50, (64, 40), generator=torch.Generator().manual_seed(1))
    cand = torch.zeros_like(ids, dtype=torch.bool)
    cand[:, 10:] = True
    noisy, sel = apply_noise(
        ids, cand, ratio, noise=kind, mask_token_id=MASK, pad_token_id=PAD, vocab_size=VOCAB,
        generator=torch.Generator().manual_seed(7), **kw,
    )
    return ids, cand, noisy, sel


def test_noise_kinds_produce_the_right_ids():
    ids, cand, noisy, sel = _noise("mask")
    assert sel.any() and not sel[~cand].any()
    assert noisy[sel].eq(MASK).all() and torch.equal(noisy[~sel], ids[~sel])

    ids, cand, noisy, sel = _noise("pad")
    assert noisy[sel].eq(PAD).all() and torch.equal(noisy[~sel], ids[~sel])

    ids, cand, noisy, sel = _noise("random", ratio=1.0)
    assert sel.eq(cand).all()
    drawn = noisy[sel]
    assert drawn.min() >= 0 and drawn.max() < VOCAB
    assert not drawn.eq(MASK).any()
    assert (drawn < 10).any(), "random tokens must cover the whole vocabulary, not only the input's ids"
    assert (drawn != ids[sel]).float().mean() > 0.9
    assert torch.equal(noisy[~sel], ids[~sel])

    ids, cand, noisy, sel = _noise("mixture", ratio=1.0, mask_prob=0.5, random_prob=0.3)
    n = int(sel.sum())
    is_mask = noisy[sel].eq(MASK).float().mean().item()
    kept = noisy[sel].eq(ids[sel]).float().mean().item()
    assert abs(is_mask - 0.5) < 0.06
    # kept = 0.2 (keep) + 0.3 * P(random draw hits the original) ~ 0.2
    assert abs(kept - 0.2) < 0.06, (kept, n)


def test_same_generator_seed_same_noise_and_input_not_modified():
    ids = torch.randint(10, 50, (8, 30))
    cand = torch.ones_like(ids, dtype=torch.bool)
    before = ids.clone()
    runs = [
        apply_noise(ids, cand, 0.4, noise="random", vocab_size=VOCAB, generator=torch.Generator().manual_seed(s))[0]
        for s in (5, 5, 6)
    ]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])
    assert torch.equal(ids, before)


def test_zero_ratio_is_plain_sft():
    features = _features(8)
    batch = _collator(mask_ratio=0.0)(features)
    assert torch.equal(batch["input_ids"], _clean(features)["input_ids"])


def test_collator_noise_is_reproducible_per_seed_and_call():
    features = _features(8)
    a, b = _collator(mask_ratio=0.4), _collator(mask_ratio=0.4)
    first = [a(features)["input_ids"], a(features)["input_ids"]]
    second = [b(features)["input_ids"], b(features)["input_ids"]]
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], first[1]), "each call must draw fresh noise"


def test_examples_stripped_by_the_trainer_get_an_error_that_says_what_to_do():
    """The HF Trainer's default remove_unused_columns=True drops prompt_length from a datasets.Dataset: the
    collator names the missing key and the setting instead of failing with a bare KeyError."""
    stripped = [{"input_ids": f["input_ids"]} for f in _features(2)]
    with pytest.raises(ValueError, match=r"lack \['prompt_length'\].*remove_unused_columns=False"):
        _collator(mask_ratio=0.4)(stripped)


def test_schedule_assigns_micro_batches_to_optimizer_steps():
    collator = _collator(mask_ratio=0.4, mask_warmup_ratio=0.5)
    collator.attach_schedule(max_steps=10, gradient_accumulation_steps=3)
    collator.begin_epoch(4)
    for _ in range(7):
        collator(_features(2))
    steps = [(h["step"], h["micro"]) for h in collator.history]
    assert steps == [(4, 0), (4, 1), (4, 2), (5, 0), (5, 1), (5, 2), (6, 0)]
    expected = [min(0.4, 0.4 * s / (0.5 * 10 + 1)) for s, _ in steps]
    assert [h["ratio"] for h in collator.history] == pytest.approx(expected)


def test_ratio_schedule_formula():
    cfg = MaskingConfig(mask_ratio=0.4, mask_warmup_ratio=2 / 3)
    assert cfg.ratio_at(0, 30) == 0.0
    assert cfg.ratio_at(7, 30) == pytest.approx(0.4 * 7 / 21)
    assert cfg.ratio_at(21, 30) == pytest.approx(0.4)
    assert cfg.ratio_at(29, 30) == pytest.approx(0.4)
    assert MaskingConfig(mask_ratio=0.3).ratio_at(0, 30) == pytest.approx(0.3)


def test_noise_seed_depends_on_every_coordinate():
    seeds = {noise_seed(1, 2, 3, 0), noise_seed(1, 2, 3, 1), noise_seed(1, 2, 4, 0), noise_seed(1, 3, 3, 0),
             noise_seed(2, 2, 3, 0)}
    assert len(seeds) == 5
    assert noise_seed(1, 2, 3, 0) == noise_seed(1, 2, 3, 0)


def test_mask_and_pad_rows_initialised_to_mean(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = model.get_output_embeddings().weight.detach().clone()
    n_old = old_in.shape[0]
    assert "<mask>" not in tokenizer.get_vocab()
    mask_id = add_mask_token(model, tokenizer)
    assert mask_id == n_old and len(tokenizer) == n_old + 1
    new_in = model.get_input_embeddings().weight.detach()
    new_out = model.get_output_embeddings().weight.detach()
    assert new_in.shape[0] == n_old + 1 and new_out.shape[0] == n_old + 1
    assert torch.allclose(new_in[mask_id], old_in.mean(0), atol=1e-6)
    assert torch.allclose(new_out[mask_id], old_out.mean(0), atol=1e-6)
    assert torch.equal(new_in[:n_old], old_in) and torch.equal(new_out[:n_old], old_out)
    assert tokenizer.convert_tokens_to_ids("<mask>") == mask_id
    assert tokenizer.encode("<mask>", add_special_tokens=False) == [mask_id]
    # adding again is a no-op
    assert add_mask_token(model, tokenizer) == mask_id and len(tokenizer) == n_old + 1

    # a tokenizer without pad gets [PAD], mean-initialised the same way
    tokenizer.pad_token = None
    pad_id = add_pad_token(model, tokenizer)
    assert tokenizer.pad_token == "[PAD]" and pad_id == n_old + 1
    assert model.config.pad_token_id == pad_id
    weight = model.get_input_embeddings().weight.detach()
    assert torch.allclose(weight[pad_id], weight[: n_old + 1].mean(0), atol=1e-6)


# -- embedding-level noise (paper Table 3: token dropout, NEFTune) ------------------------------------------
def test_embedding_noise_kinds_leave_ids_and_mark_positions():
    features = _features(100)
    clean = _clean(features)
    batch = MFTCollator(MaskingConfig(mask_ratio=0.4, noise="dropout"), pad_token_id=PAD, seed=1)(features)
    assert torch.equal(batch["input_ids"], clean["input_ids"])
    selected = batch["embedding_noise"]
    answer = clean["labels"] != IGNORE_INDEX
    assert not selected[~answer].any()
    assert abs(selected[answer].float().mean().item() - 0.4) < 0.05
    assert batch["embedding_noise_seed"].shape == (1,)
    with pytest.raises(ValueError, match="dropout_q"):
        MaskingConfig(mask_ratio=0.4, noise="mask", dropout_q=0.5)
    with pytest.raises(ValueError, match="neftune_alpha"):
        MaskingConfig(mask_ratio=0.4, noise="neftune", neftune_alpha=-1)


def test_perturb_embeddings_dropout_and_neftune():
    from cotmask.masking import perturb_embeddings

    embeds = torch.randn(4, 10, 16)
    selected = torch.zeros(4, 10, dtype=torch.bool)
    selected[:, 5:] = True
    attention = torch.ones(4, 10, dtype=torch.long)
    attention[0, 8:] = 0
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731

    empty = perturb_embeddings(embeds, selected, attention, MaskingConfig(mask_ratio=1, noise="dropout"), gen())
    assert empty[selected].eq(0).all() and torch.equal(empty[~selected], embeds[~selected])

    half = perturb_embeddings(embeds, selected, attention,
                              MaskingConfig(mask_ratio=1, noise="dropout", dropout_q=0.5), gen())
    ratio = half[selected] / embeds[selected]
    assert torch.all((ratio.abs() < 1e-6) | ((ratio - 2).abs() < 1e-4))
    assert 0.35 < (ratio.abs() < 1e-6).float().mean().item() < 0.65

    cfg = MaskingConfig(mask_ratio=1, noise="neftune", neftune_alpha=5.0)
    nef = perturb_embeddings(embeds, selected, attention, cfg, gen())
    delta = nef - embeds
    assert torch.equal(delta[~selected], torch.zeros_like(delta[~selected]))
    bound_row0, bound_other = 5.0 / (8 * 16) ** 0.5, 5.0 / (10 * 16) ** 0.5
    assert delta[0].abs().max() <= bound_row0 + 1e-6 and delta[1:].abs().max() <= bound_other + 1e-6
    assert delta[0].abs().max() > bound_other, "row 0 has L=8 unpadded tokens: larger noise"
    again = perturb_embeddings(embeds, selected, attention, cfg, gen())
    assert torch.equal(nef, again)


def test_embedding_noise_hook_changes_only_the_noised_forward(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from cotmask.masking import embedding_noise

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    cfg = MaskingConfig(mask_ratio=0.5, noise="dropout")
    collator = MFTCollator(cfg, pad_token_id=0, bos_token_id=1, seed=0)
    features = [{"input_ids": [1] + list(range(10, 40)), "prompt_length": 10}] * 2
    batch = collator(features)
    assert batch["embedding_noise"].any()
    selected = batch["embedding_noise"].clone()
    clean_inputs = {k: v for k, v in batch.items() if not k.startswith("embedding_noise")}
    seen = []
    with torch.no_grad():
        clean_loss = model(**clean_inputs).loss
        with embedding_noise(model, batch, cfg):
            # registered after the noise hook, the probe sees the perturbed embedding output
            probe = model.get_input_embeddings().register_forward_hook(
                lambda m, a, out: seen.append(out.detach().clone()))
            noisy_loss = model(**batch).loss
            probe.remove()
        after = model(**batch).loss  # the keys were popped and the hook removed
    assert "embedding_noise" not in batch
    assert not torch.isclose(clean_loss, noisy_loss) and torch.isclose(clean_loss, after)
    (embeds,) = seen
    table = model.get_input_embeddings().weight
    assert embeds[selected].eq(0).all()
    assert torch.allclose(embeds[~selected], table[batch["input_ids"][~selected]])


@pytest.mark.parametrize("noise", ["mask", "dropout"])
def test_loss_on_non_noised_tokens_only(noise):
    """loss_on_noised=False: the labels are -100 exactly at the noised answer positions, unchanged elsewhere;
    the inputs are the ones the default (loss on every answer token) collator produces."""
    features = _features(64)
    clean = _clean(features)
    default = _collator(mask_ratio=0.5, noise=noise)(features)
    variant = _collator(mask_ratio=0.5, noise=noise, loss_on_noised=False)(features)
    assert torch.equal(default["input_ids"], variant["input_ids"])
    assert torch.equal(default["labels"], clean["labels"])
    noised = variant["embedding_noise"] if noise == "dropout" else variant["input_ids"] == MASK
    assert noised.any()
    assert variant["labels"][noised].eq(IGNORE_INDEX).all()
    assert torch.equal(variant["labels"][~noised], clean["labels"][~noised])
    kept = (variant["labels"] != IGNORE_INDEX).sum()
    assert 0 < kept < (clean["labels"] != IGNORE_INDEX).sum()
    with pytest.raises(ValueError, match="loss_on_noised"):
        MaskingConfig(loss_on_noised="no")


# -- scheduled sampling (paper Table 3: "seq_i = sample(softmax(out_{i-1} / tau))") ---------------------------
class _NextTokenModel(torch.nn.Module):
    """A stand-in causal LM whose logits at position t put all mass (scaled by `sharpness`) on input[t] + 1."""

    def __init__(self, vocab: int, sharpness: float = 50.0):
        super().__init__()
        self.vocab, self.sharpness, self.calls = vocab, sharpness, 0

    def forward(self, input_ids, attention_mask=None):
        self.calls += 1
        target = (input_ids + 1) % self.vocab
        logits = torch.nn.functional.one_hot(target, self.vocab).float() * self.sharpness
        return type("Out", (), {"logits": logits})()


def test_scheduled_sampling_replaces_selected_tokens_by_the_models_prediction():
    from cotmask.masking import scheduled_sampling_ids

    vocab = 50
    ids = torch.randint(0, vocab - 1, (3, 12), generator=torch.Generator().manual_seed(0))
    selected = torch.zeros(3, 12, dtype=torch.bool)
    selected[:, 0] = True  # nothing predicts position 0: never replaced
    selected[0, 3] = selected[1, 7] = selected[2, 11] = selected[2, 5] = True
    model = _NextTokenModel(vocab)
    out = scheduled_sampling_ids(model, ids, None, selected, 0.01, torch.Generator().manual_seed(1))
    assert model.calls == 1 and not torch.equal(out, ids)
    changed = out != ids
    assert torch.equal(out[:, 0], ids[:, 0]) and not (changed & ~selected).any()
    for row, col in [(0, 3), (1, 7), (2, 11), (2, 5)]:  # low temperature: the argmax, i.e. the previous input + 1
        assert out[row, col] == (ids[row, col - 1] + 1) % vocab
    # a very high temperature (the paper's best, tau = 100, on its logit scale) samples nearly uniformly
    many = torch.zeros(64, 40, dtype=torch.bool)
    many[:, 1:] = True
    flat = scheduled_sampling_ids(model, torch.zeros(64, 40, dtype=torch.long), None, many, 1e4,
                                  torch.Generator().manual_seed(2))
    assert len(torch.unique(flat[:, 1:])) > 45
    again = scheduled_sampling_ids(model, torch.zeros(64, 40, dtype=torch.long), None, many, 1e4,
                                   torch.Generator().manual_seed(2))
    assert torch.equal(flat, again)


def test_sampled_noise_through_the_collator_and_context_manager(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from cotmask.masking import embedding_noise, scheduled_sampling_ids

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    cfg = MaskingConfig(mask_ratio=0.5, noise="sampled", sample_temperature=2.0)
    assert cfg.on_embeddings and not cfg.needs_mask_token
    features = [{"input_ids": [1] + list(range(10, 40)), "prompt_length": 10}] * 2
    batch = MFTCollator(cfg, pad_token_id=0, bos_token_id=1, seed=0)(features)
    clean, selected = batch["input_ids"].clone(), batch["embedding_noise"].clone()
    seed = int(batch["embedding_noise_seed"][0])
    assert torch.equal(batch["labels"][:, 10:], clean[:, 10:]), "labels keep the original tokens"
    with embedding_noise(model, batch, cfg):
        noisy = batch["input_ids"]
    assert "embedding_noise" not in batch and not (noisy != clean)[~selected].any()
    assert (noisy != clean)[selected].float().mean() > 0.5
    expected = scheduled_sampling_ids(model, clean, batch["attention_mask"], selected, 2.0,
                                      torch.Generator().manual_seed(seed))
    assert torch.equal(noisy, expected), "seeded by the batch: a recomputed or resumed step draws the same"
    with pytest.raises(ValueError, match="sample_temperature"):
        MaskingConfig(mask_ratio=0.4, noise="sampled", sample_temperature=0)
    with pytest.raises(ValueError, match="sample_temperature"):
        MaskingConfig(mask_ratio=0.4, noise="mask", sample_temperature=5.0)
