"""Table 3 as methods of the workflow: the position rules, the attention-masked variant, the paper's grid in
config/paper.yaml and the embedded counterpart config/table3.yaml (shared/paper.md §2.5)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

from cotmask.masking import IGNORE_INDEX, MaskingConfig, MFTCollator, drop_noised_keys
from cotmask.masking_config import FLAT_MASK_KEYS
from cotmask.plan import Plan, validated_config
from cotmask.report import PAPER_REFERENCE
from test_masking import BOS, MASK, PAD, VOCAB, _features  # the masking tests' synthetic batches

ROOT = Path(__file__).resolve().parents[1]


def _collate(features, **settings) -> dict:
    config = MaskingConfig(**settings)
    collator = MFTCollator(config, pad_token_id=PAD, mask_token_id=MASK, vocab_size=VOCAB, bos_token_id=BOS, seed=3)
    return collator(features)


def _regions(features) -> dict[str, torch.Tensor]:
    """Boolean (batch x width) maps of the question (without BOS), answer and padding positions."""
    clean = _collate(features, mask_ratio=0.0)
    real = clean["attention_mask"] == 1
    answer = clean["labels"] != IGNORE_INDEX
    question = real & ~answer
    question[:, 0] = False
    return {"clean": clean, "real": real, "answer": answer, "question": question}


# -- which positions each Table 3 rule noises ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "region"),
    [
        ({"positions": "all", "mask_ratio": 1.0, "noise": "dropout", "dropout_q": 0.1}, "all"),
        ({"positions": "all", "mask_ratio": 1.0, "noise": "neftune", "neftune_alpha": 5.0}, "all"),
        ({"positions": "answer", "mask_ratio": 1.0, "noise": "dropout", "dropout_q": 0.5}, "answer"),
    ],
    ids=["every-token-dropout", "every-token-neftune", "every-answer-token-dropout"],
)
def test_every_token_rules_noise_exactly_their_positions(settings, region):
    """'every token' = each non-pad token but BOS; 'every target token' = each answer token (and EOS). The
    ids and labels are the clean ones (the noise is applied to the embeddings in the forward pass)."""
    features = _features(40)
    maps = _regions(features)
    batch = _collate(features, **settings)
    expected = maps["answer"] if region == "answer" else maps["question"] | maps["answer"]
    assert torch.equal(batch["embedding_noise"], expected)
    assert torch.equal(batch["input_ids"], maps["clean"]["input_ids"])
    assert torch.equal(batch["labels"], maps["clean"]["labels"])


@pytest.mark.parametrize("positions", ["answer", "question"])
def test_bernoulli_rules_noise_a_share_p_of_their_positions_only(positions):
    """'M_i ~ Bern(p) on target (source) tokens': a share near p of those positions, none elsewhere."""
    features = _features(80)
    maps = _regions(features)
    batch = _collate(features, positions=positions, mask_ratio=0.4, noise="mask")
    noised = batch["input_ids"] == MASK
    assert not noised[~maps[positions]].any()
    assert 0.3 < noised[maps[positions]].float().mean().item() < 0.5
    assert torch.equal(batch["labels"], maps["clean"]["labels"])


# -- the attention-masked variant ------------------------------------------------------------------------------
def test_attention_masked_variant_zeroes_the_mask_at_noised_positions_only():
    """attend_noised=False: the same ids and labels as MFT with the same seed; the attention mask is the clean
    one with 0 at exactly the noised positions."""
    features = _features(40)
    clean = _regions(features)["clean"]
    mft = _collate(features, mask_ratio=0.4, noise="mask")
    variant = _collate(features, mask_ratio=0.4, noise="mask", attend_noised=False)
    assert torch.equal(variant["input_ids"], mft["input_ids"])
    assert torch.equal(variant["labels"], mft["labels"])
    assert torch.equal(mft["attention_mask"], clean["attention_mask"])
    noised = variant["input_ids"] == MASK
    assert noised.any()
    assert torch.equal(variant["attention_mask"], clean["attention_mask"] * (~noised).long())


def test_drop_noised_keys_keeps_the_first_column():
    mask = torch.ones(2, 4, dtype=torch.long)
    selected = torch.tensor([[True, True, False, False], [False, False, False, True]])
    assert drop_noised_keys(mask, selected).tolist() == [[1, 0, 1, 1], [1, 1, 1, 0]]


def _tiny_batch(model_dir: str, attend_noised: bool) -> tuple[object, dict, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager")
    config = MaskingConfig(mask_ratio=0.4, noise="dropout", dropout_q=1.0, attend_noised=attend_noised)
    collator = MFTCollator(config, pad_token_id=0, bos_token_id=1, seed=0)
    features = [{"input_ids": [1] + list(range(10, 40)), "prompt_length": 10},
                {"input_ids": [1] + list(range(12, 30)), "prompt_length": 6}]
    batch = collator(features)
    selected = batch.pop("embedding_noise")
    batch.pop("embedding_noise_seed")
    batch.pop("labels")
    return model, batch, selected


def test_a_noised_key_gets_no_attention_weight_in_any_layer(tiny_model_dir):
    """With the variant, every layer's attention from every later query to a noised position is 0."""
    model, batch, selected = _tiny_batch(tiny_model_dir, attend_noised=False)
    assert selected[:, 1:].any()
    with torch.no_grad():
        attentions = model(**batch, output_attentions=True).attentions
    assert len(attentions) == model.config.num_hidden_layers
    real = batch["attention_mask"].bool() | selected
    for weights in attentions:  # (batch, heads, query, key)
        for row in range(selected.shape[0]):
            keys = selected[row].nonzero().flatten()
            queries = real[row].nonzero().flatten()
            to_noised = weights[row][:, queries][:, :, keys]
            later = queries.unsqueeze(1) > keys.unsqueeze(0)  # a query after the key
            assert to_noised[:, later].abs().max() == 0


@pytest.mark.parametrize("attend_noised", [False, True])
def test_later_outputs_ignore_the_noised_tokens_only_with_the_variant(tiny_model_dir, attend_noised):
    """Replacing the noised tokens by arbitrary other tokens leaves every non-noised position's output
    unchanged with attend_noised=False, and changes it without the variant."""
    model, batch, selected = _tiny_batch(tiny_model_dir, attend_noised=attend_noised)
    swapped = batch["input_ids"].clone()
    swapped[selected] = (swapped[selected] * 7 + 3) % model.config.vocab_size
    kept = batch["attention_mask"].bool() & ~selected
    with torch.no_grad():
        before = model(**batch).logits[kept]
        after = model(**{**batch, "input_ids": swapped}).logits[kept]
    unchanged = torch.allclose(before, after, atol=1e-5)
    assert unchanged is (not attend_noised)


def test_attention_masked_variant_is_validated_by_key():
    with pytest.raises(ValueError, match="attend_noised=false does not combine with noise='neftune'"):
        MaskingConfig(mask_ratio=0.4, noise="neftune", attend_noised=False)
    with pytest.raises(ValueError, match="attend_noised=false does not combine with noise='sampled'"):
        MaskingConfig(mask_ratio=0.4, noise="sampled", attend_noised=False)
    with pytest.raises(ValueError, match="attend_noised"):
        MaskingConfig(attend_noised="sometimes")
    assert MaskingConfig(mask_ratio=0.4, noise="random", attend_noised="false").attend_noised is False


def test_finetune_feeds_the_attention_masked_batches(tiny_model_dir, tiny_records_file, tmp_path):
    """Through cotmask.train.finetune the model sees 0 in the attention mask exactly at the <mask> inputs."""
    import transformers

    from cotmask.train import FinetuneConfig, finetune

    seen = []

    class Recorder(transformers.Trainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            seen.append((inputs["input_ids"].clone(), inputs["attention_mask"].clone(), inputs["labels"].clone()))
            return super().compute_loss(model, inputs, *args, **kwargs)

    cfg = FinetuneConfig.from_dict(dict(
        base_model=tiny_model_dir, train_file=tiny_records_file, output_dir=str(tmp_path / "model"),
        checkpoint_dir=str(tmp_path / "ckpt"), prompt_template="short", max_length=96, learning_rate=2e-3,
        epochs=1, per_device_batch_size=8, logging_steps=1, seed=5, limit=16, save_every_epoch=False,
        mask_ratio=0.4, noise="mask", attend_noised=False, length_buckets=3,
    ))
    metrics = finetune(cfg, trainer_class=Recorder)
    assert metrics["config"]["mask"]["attend_noised"] is False
    mask_id = metrics["token_ids"]["mask_token_id"]
    for ids, attention, labels in seen:
        noised = ids == mask_id
        assert noised.any()
        assert not attention[noised].any()
        assert attention[(ids != metrics["token_ids"]["pad_token_id"]) & ~noised].all()
        assert (labels[noised] != mask_id).all()  # labels stay the clean tokens


# -- the configs ---------------------------------------------------------------------------------------------
def _plan(name: str) -> Plan:
    return Plan(validated_config(yaml.safe_load((ROOT / "config" / name).read_text(encoding="utf-8"))))


@pytest.fixture(scope="module")
def paper_plan() -> Plan:
    return _plan("paper.yaml")


@pytest.fixture(scope="module")
def table3_plan() -> Plan:
    return _plan("table3.yaml")


#: the settings each paper family fixes: (positions, mask_ratio or None = the row's p, noise kind, warm-up)
FAMILIES = {
    "all-token dropout": ("all", 1.0, "dropout", 0.0),
    "all-token NEFTune": ("all", 1.0, "neftune", 0.0),
    "all-answer-token dropout": ("answer", 1.0, "dropout", 0.0),
    "question-token dropout": ("question", None, "dropout", 0.667),
    "answer-token NEFTune": ("answer", 0.4, "neftune", 0.667),
    "answer-token dropout": ("answer", 0.4, "dropout", 0.667),
    "scheduled sampling": ("answer", 0.4, "sampled", 0.667),
    "MaskedLM (MFT)": ("answer", 0.4, None, 0.667),
    "in-text (Sec. 3.3)": ("answer", 0.4, None, 0.667),
}
SETTING_KEYS = {"q": "dropout_q", "alpha": "neftune_alpha", "tau": "sample_temperature", "p": "mask_ratio"}


def _masking(plan: Plan, model: str, train_set: str, method: str) -> MaskingConfig:
    return MaskingConfig.from_flat(plan.resolved_settings(model, train_set, method))


def _check_row(row: dict, mask: MaskingConfig) -> None:
    """The masking settings of one arm are those of its paper row (family and hyper-parameter)."""
    positions, ratio, noise, warmup = FAMILIES[row["family"]]
    assert (mask.positions, mask.mask_warmup_ratio) == (positions, warmup), row["method"]
    if ratio is not None:
        assert mask.mask_ratio == ratio, row["method"]
    if noise is not None:
        assert mask.noise == noise, row["method"]
    for key, value in re.findall(r"(q|alpha|tau|p)=([0-9.]+)", row.get("setting", "")):
        assert getattr(mask, SETTING_KEYS[key]) == float(value), row["method"]
    if "m=1" in row.get("setting", ""):
        assert mask.noise == "mask"
    if "r=1" in row.get("setting", ""):
        assert mask.noise == "random"
    assert mask.loss_on_noised is ("non-noisy" not in row["method"])
    assert mask.attend_noised is ("attention masked" not in row["method"])


def test_paper_config_runs_every_row_of_table3(paper_plan):
    """config/paper.yaml: every paper row (26 + SFT + the 2 in-text variants) is an arm of the Llama-2-7B
    GSM8K cell, trained with that row's settings and MFT's 10 epochs."""
    config = paper_plan.config
    arms = config["tables"]["table3_arms"]
    rows = {row["method"]: row for row in PAPER_REFERENCE["table3"]}
    assert len(rows) == 28
    assert [arm["paper_method"] for arm in arms] == list(rows)
    (cell,) = [c for c in config["cells"] if (c["model"], c["train_set"]) == ("llama2-7b", "gsm8k")]
    for arm in arms:
        assert arm["method"] in cell["methods"]
        if arm["method"] == "sft":
            continue
        settings = paper_plan.resolved_settings("llama2-7b", "gsm8k", arm["method"])
        assert settings["epochs"] == 10
        _check_row(rows[arm["paper_method"]], _masking(paper_plan, "llama2-7b", "gsm8k", arm["method"]))


def test_table3_config_is_the_defaults_cell_with_one_row_per_family(table3_plan):
    """config/table3.yaml: one arm per paper family (the in-text variants both), 2 seeds, MFT's epochs; the
    default's fine-tunes (sft, sft_long, mft) have exactly the default's params, so a copy of the default
    run reuses them."""
    default = _plan("config.yaml")
    config = table3_plan.config
    rows = {row["method"]: row for row in PAPER_REFERENCE["table3"]}
    arms = [arm for arm in config["tables"]["table3_arms"] if arm["paper_method"]]
    families = {rows[arm["paper_method"]]["family"] for arm in arms}
    assert families == {row["family"] for row in rows.values()}
    assert sum(rows[arm["paper_method"]]["family"] == "in-text (Sec. 3.3)" for arm in arms) == 2
    (cell,) = config["cells"]
    assert (cell["model"], cell["train_set"]) == ("llama", "gsm") and len(table3_plan.seeds_of(cell)) >= 2
    for arm in arms:
        if arm["method"] != "sft":
            assert table3_plan.resolved_settings("llama", "gsm", arm["method"])["epochs"] == 10
            _check_row(rows[arm["paper_method"]], _masking(table3_plan, "llama", "gsm", arm["method"]))
    for method in ("sft", "sft_long", "mft"):
        for seed in (1, 2):
            assert table3_plan.finetune_settings("llama", "gsm", method, seed) == \
                default.finetune_settings("llama", "gsm", method, seed)
            assert table3_plan.evaluation_plan("llama", "gsm", method, seed) == \
                default.evaluation_plan("llama", "gsm", method, seed)
    counts = table3_plan.job_counts()
    assert counts["finetune"] == counts["evaluate"] == 2 * len(cell["methods"])
    for key in ("datasets", "tokenizer", "models", "training", "diagnostics", "evaluation", "prompt_template"):
        assert config[key] == default.config[key], key


def test_every_masking_key_is_in_the_schema():
    """The workflow accepts every masking field (attend_noised included) as a fine-tuning setting."""
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text(encoding="utf-8"))
    settings = schema["$defs"]["finetune_settings"]["properties"]
    assert set(FLAT_MASK_KEYS) <= set(settings)


def test_the_new_key_keeps_earlier_checkpoints_valid():
    """attend_noised at its default leaves the training fingerprint (which matches checkpoints to a run) as it
    was before the key existed; the variant gets its own."""
    from cotmask.train import FinetuneConfig

    base = dict(base_model="m", train_file="t.jsonl", output_dir="out", mask_ratio=0.4, noise="mask")
    default = FinetuneConfig.from_dict(base)
    assert FinetuneConfig.from_dict({**base, "attend_noised": True}).training_fingerprint() == \
        default.training_fingerprint()
    assert FinetuneConfig.from_dict({**base, "attend_noised": False}).training_fingerprint() != \
        default.training_fingerprint()
