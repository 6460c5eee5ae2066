"""Fine-tuning: config validation, encoding boundary, warm-up under gradient accumulation, save/reload, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from cotmask.checkpoints import file_signature, replace_dir, settings_fingerprint
from cotmask.encoding import encode_example, encode_records, split_tokens
from cotmask.prompts import format_prompt
from cotmask.records import read_jsonl
from cotmask.train import (
    FinetuneConfig,
    apply_overrides,
    finetune,
    last_complete_checkpoint,
    prepare_checkpoint_dir,
)


def _cfg(model_dir: str, train_file: str, tmp_path: Path, name: str, **overrides) -> FinetuneConfig:
    data = dict(
        base_model=model_dir, train_file=train_file, output_dir=str(tmp_path / name / "model"),
        checkpoint_dir=str(tmp_path / name / "checkpoints"), prompt_template="short", max_length=96,
        learning_rate=2e-3, epochs=2, per_device_batch_size=8, gradient_accumulation_steps=1, lr_warmup_ratio=0.1,
        logging_steps=1, seed=5, limit=32,
    )
    data.update(overrides)
    return FinetuneConfig.from_dict(data)


# -- configuration --------------------------------------------------------------------------------------
def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    base = dict(base_model="m", train_file="t.jsonl", output_dir=str(tmp_path / "out"))
    with pytest.raises(ValueError, match="lerning_rate"):
        FinetuneConfig.from_dict({**base, "lerning_rate": 1e-5})
    with pytest.raises(ValueError, match="'epochs'"):
        FinetuneConfig.from_dict({**base, "epochs": 0})
    with pytest.raises(ValueError, match=r"^FinetuneConfig\.learning_rate: expected a finite number, got 'fast'$"):
        FinetuneConfig.from_dict({**base, "learning_rate": "fast"})
    with pytest.raises(ValueError, match=r"^FinetuneConfig\.epochs: expected an integer, got 'ten'$"):
        FinetuneConfig.from_dict({**base, "epochs": "ten"})
    with pytest.raises(ValueError, match=r"^MaskingConfig\.mask_ratio: expected a finite number, got 'half'$"):
        FinetuneConfig.from_dict({**base, "mask_ratio": "half"})
    with pytest.raises(ValueError, match="noise"):
        FinetuneConfig.from_dict({**base, "noise": "blur"})
    with pytest.raises(ValueError, match="prompt_template"):
        FinetuneConfig.from_dict({**base, "prompt_template": "chat"})
    with pytest.raises(ValueError, match="checkpoint_dir"):
        FinetuneConfig.from_dict({**base, "checkpoint_dir": str(tmp_path / "out" / "ckpt")})
    with pytest.raises(ValueError, match="missing"):
        FinetuneConfig.from_dict({"base_model": "m"})
    with pytest.raises(ValueError, match="both"):
        FinetuneConfig.from_dict({**base, "mask_ratio": 0.2, "mask": {"mask_ratio": 0.4}})
    with pytest.raises(ValueError, match="no_such_arg"):
        FinetuneConfig.from_dict({**base, "training_args": {"no_such_arg": 1}})


def test_config_flat_nested_file_and_overrides(tmp_path):
    base = dict(base_model="m", train_file="t.jsonl", output_dir=str(tmp_path / "out"))
    flat = FinetuneConfig.from_dict({**base, "mask_ratio": 0.4, "noise": "random", "mask_warmup_ratio": 0.66})
    nested_mask = {"mask_ratio": 0.4, "noise": "random", "mask_warmup_ratio": 0.66}
    nested = FinetuneConfig.from_dict({**base, "mask": nested_mask})
    assert flat.to_dict() == nested.to_dict()
    assert flat.checkpoint_dir == str(tmp_path / "out.checkpoints")
    assert flat.mask.needs_mask_token is False
    path = tmp_path / "cfg.yaml"
    path.write_text("base_model: m\ntrain_file: t.jsonl\noutput_dir: o\nmask:\n  mask_ratio: 0.2\n")
    cfg = FinetuneConfig.from_file(path, ["mask.noise=random", "epochs=10", "learning_rate=1e-5"])
    assert (cfg.mask.noise, cfg.mask.mask_ratio, cfg.epochs, cfg.learning_rate) == ("random", 0.2, 10, 1e-5)
    path.write_text("base_model: m\ntrain_file: t.jsonl\noutput_dir: o\nbatch: 3\n")
    with pytest.raises(ValueError, match=r"cfg\.yaml.*batch"):
        FinetuneConfig.from_file(path)
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides({}, ["epochs"])


def test_the_former_nested_warmup_name_is_an_error_naming_mask_warmup_ratio(tmp_path):
    """``mask: {warmup_ratio: ...}`` (the name before the rename) is refused, in a mapping, a run file and an
    override, with the message naming the new key; the new nested name gives the flat key's setting."""
    base = dict(base_model="m", train_file="t.jsonl", output_dir=str(tmp_path / "out"))
    message = r"masking: key 'warmup_ratio' is now called 'mask_warmup_ratio'"
    with pytest.raises(ValueError, match=message):
        FinetuneConfig.from_dict({**base, "mask": {"mask_ratio": 0.4, "warmup_ratio": 0.5}})
    path = tmp_path / "cfg.yaml"
    path.write_text("base_model: m\ntrain_file: t.jsonl\noutput_dir: o\nmask:\n  warmup_ratio: 0.5\n")
    with pytest.raises(ValueError, match=r"cfg\.yaml: " + message):
        FinetuneConfig.from_file(path)
    path.write_text("base_model: m\ntrain_file: t.jsonl\noutput_dir: o\n")
    with pytest.raises(ValueError, match=message):
        FinetuneConfig.from_file(path, ["mask.warmup_ratio=0.5"])
    nested = FinetuneConfig.from_file(path, ["mask.mask_warmup_ratio=0.5", "mask.mask_ratio=0.4"])
    assert nested.mask.mask_warmup_ratio == 0.5
    assert nested.to_dict()["mask"]["mask_warmup_ratio"] == 0.5 and "warmup_ratio" not in nested.to_dict()["mask"]


def test_stale_checkpoints_are_dropped_and_incomplete_ones_skipped(tmp_path):
    root = tmp_path / "ckpt"
    prepare_checkpoint_dir(str(root), "aaa", True)
    for step, complete in ((4, True), (8, False)):
        folder = root / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x")
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(root) == str(root / "checkpoint-4")
    prepare_checkpoint_dir(str(root), "aaa", True)
    assert (root / "checkpoint-4").exists()
    prepare_checkpoint_dir(str(root), "bbb", True)
    assert last_complete_checkpoint(root) is None and not (root / "checkpoint-4").exists()


def test_outputs_replace_atomically_and_fingerprints_follow_inputs(tmp_path):
    final, tmp = tmp_path / "out", tmp_path / ".out.tmp"
    for text in ("old", "new"):
        tmp.mkdir()
        (tmp / "weights.txt").write_text(text)
        replace_dir(tmp, final)
    assert (final / "weights.txt").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert file_signature(final / "weights.txt") == [["weights.txt", 3, (final / "weights.txt").stat().st_mtime_ns]]
    assert file_signature(final) == file_signature(str(final / "weights.txt")) and file_signature(tmp) == []
    assert settings_fingerprint({"a": 1, "b": [2]}) == settings_fingerprint({"b": [2], "a": 1}) != \
        settings_fingerprint({"a": 1.5, "b": [2]})
    cfg = FinetuneConfig(base_model=str(final), train_file=str(final / "weights.txt"), output_dir=str(tmp_path / "o"))
    before = cfg.training_fingerprint()
    same = FinetuneConfig(base_model=final, train_file=final / "weights.txt", output_dir=tmp_path / "o", threads=4.0)
    assert same.training_fingerprint() == before, "paths and whole floats convert; threads is no training field"
    (final / "weights.txt").write_text("newer")
    assert cfg.training_fingerprint() != before


# -- encoding ----------------------------------------------------------------------------------------------
def test_encoding_boundary_bos_eos_truncation(tiny_model_dir, tiny_records_file):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    question, solution = "Tom had 3 pens and 4 cards.", "Tom has 3+4 = <<3+4=7>>7 things.\n#### 7"
    enc = encode_example(tok, question, solution, template="short", max_length=200)
    ids, plen = enc["input_ids"], enc["prompt_length"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    prompt_ids = tok(format_prompt(question, "short"), add_special_tokens=False)["input_ids"]
    assert ids[1:plen] == prompt_ids, "training prompt must equal the prompt tokenized alone (generation)"
    assert tok.decode(ids[plen:-1]) == " " + solution
    short = encode_example(tok, question, solution, template="short", max_length=plen + 3)
    assert short["input_ids"] == ids[: plen + 3] and short["prompt_length"] == plen
    cut = encode_example(tok, question, solution, template="short", max_length=plen - 2)
    assert cut["prompt_length"] == len(cut["input_ids"]) == plen - 2
    records = read_jsonl(tiny_records_file)[:3]
    encoded = encode_records(tok, records, template="alpaca", max_length=512)
    assert [e["id"] for e in encoded] == [r["id"] for r in records]


class _MergingTokenizer:
    """A toy tokenizer whose tokens can straddle the prompt/answer boundary (merges ':' with ' 1')."""

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
        pieces, offsets, i = [], [], 0
        while i < len(text):
            step = 3 if text.startswith(": 1", i) else 1
            pieces.append(text[i : i + step])
            offsets.append((i, i + step))
            i += step
        out = {"input_ids": [ord(p[0]) * 10 + len(p) for p in pieces]}
        if return_offsets_mapping:
            out["offset_mapping"] = offsets
        return out


def test_boundary_falls_back_to_offsets_when_tokens_merge_across_it():
    ids, n_prompt = split_tokens(_MergingTokenizer(), "Answer:", " 12")
    assert len(ids) == len("Answer") + 2  # 'A','n','s','w','e','r', ': 1', '2'
    assert n_prompt == len("Answer") + 1  # the straddling token starts in the prompt


# -- training ----------------------------------------------------------------------------------------------
def test_warmup_follows_optimizer_steps_under_gradient_accumulation(tiny_model_dir, tiny_records_file, tmp_path):
    consumed: list[tuple[int, int]] = []

    class RecordingTrainer(transformers.Trainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            mask_id = self.processing_class.convert_tokens_to_ids("<mask>")
            consumed.append((self.state.global_step, int((inputs["input_ids"] == mask_id).sum())))
            return super().training_step(model, inputs, num_items_in_batch)

    # 32 examples, micro-batch 4 -> 8 micro-batches per epoch; accumulation 3 -> steps of 3, 3, 2 micro-batches
    cfg = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "warm", mask_ratio=0.5, mask_warmup_ratio=0.5,
               per_device_batch_size=4, gradient_accumulation_steps=3, epochs=2, save_every_epoch=False)
    metrics = finetune(cfg, trainer_class=RecordingTrainer)
    assert metrics["optimizer_steps"] == metrics["max_steps"] == 6
    history = json.loads((Path(cfg.output_dir) / "train_metrics.json").read_text())
    assert history["optimizer_steps"] == 6
    steps = [s for s, _ in consumed]
    assert steps == [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5]
    # the k-th batch the model consumed is the k-th batch the collator made, with its step's ratio
    from cotmask.masking import MaskingConfig

    schedule = MaskingConfig(mask_ratio=0.5, mask_warmup_ratio=0.5)
    expected = [schedule.ratio_at(s, 6) for s in range(6)]
    assert len(set(expected)) == 5  # the ratio changes at every step until it saturates
    assert metrics["mask_ratio_per_step"] == pytest.approx(expected)
    observed = metrics["observed_noise_fraction_per_step"]
    assert observed["0"] == 0.0 and set(observed) == {str(s) for s in range(6)}
    assert observed["5"] > 0.3


def test_collator_records_match_consumed_batches(tiny_model_dir, tiny_records_file, tmp_path, monkeypatch):
    """Stronger check of the same contract: per micro-batch, the masked count the model saw equals the count
    the collator drew for the step it assigned, and that step is the Trainer's global_step."""
    from cotmask import masking

    collators: list[masking.MFTCollator] = []
    original_init = masking.MFTCollator.__init__

    def spy_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        collators.append(self)

    consumed: list[tuple[int, int]] = []

    class RecordingTrainer(transformers.Trainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            mask_id = self.processing_class.convert_tokens_to_ids("<mask>")
            consumed.append((self.state.global_step, int((inputs["input_ids"] == mask_id).sum())))
            return super().training_step(model, inputs, num_items_in_batch)

    monkeypatch.setattr(masking.MFTCollator, "__init__", spy_init)
    cfg = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "spy", mask_ratio=0.6, mask_warmup_ratio=0.7,
               per_device_batch_size=4, gradient_accumulation_steps=2, epochs=2, save_every_epoch=False)
    finetune(cfg, trainer_class=RecordingTrainer)
    (collator,) = collators
    made = [(h["step"], h["noised"]) for h in collator.history]
    assert made == consumed
    ratios = [h["ratio"] for h in collator.history]
    assert ratios == pytest.approx([cfg.mask.ratio_at(s, 8) for s, _ in consumed])


def test_finetune_saves_a_loadable_model_sft_has_no_mask_token(tiny_model_dir, tiny_records_file, tmp_path):
    cfg = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "sft", epochs=1)
    metrics = finetune(cfg)
    out = Path(cfg.output_dir)
    assert not (out / "checkpoint-4").exists() and Path(cfg.checkpoint_dir, "checkpoint-4").is_dir()
    saved = json.loads((out / "train_metrics.json").read_text())
    assert saved["config"]["mask"]["mask_ratio"] == 0.0 and saved["optimizer_steps"] == 4
    assert [e["step"] for e in saved["loss_curve"]] == [1, 2, 3, 4]
    assert saved["tokens_per_s"] > 0 and saved["train_wall_time_s"] > 0
    assert metrics["loss_curve"][-1]["loss"] < metrics["loss_curve"][0]["loss"]
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert "<mask>" not in tok.get_vocab()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(model.get_input_embeddings().weight, base.get_input_embeddings().weight)
    assert not any(p.name.startswith(".") for p in out.parent.iterdir()), "temporary output left behind"


class _Interrupt(TrainerCallback):
    """Simulate a killed job: fail as the second epoch begins (after the epoch-1 checkpoint was saved)."""

    def on_epoch_begin(self, args, state, control, **kwargs):
        if state.global_step > 0:
            raise KeyboardInterrupt("simulated interruption")


@pytest.mark.parametrize("speed", [{}, {"group_by_length": True, "length_buckets": 2}],
                         ids=["random-batches", "length-grouped-and-bucketed"])
def test_resume_after_interruption_gives_the_same_weights(tiny_model_dir, tiny_records_file, tmp_path, speed):
    settings = dict(mask_ratio=0.4, mask_warmup_ratio=0.66, noise="mixture", mask_prob=0.5, random_prob=0.5,
                    gradient_accumulation_steps=2, per_device_batch_size=4, epochs=2, **speed)
    straight = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "straight", **settings)
    uninterrupted = finetune(straight)

    resumed = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "resumed", **settings)
    with pytest.raises(KeyboardInterrupt):
        finetune(resumed, callbacks=[_Interrupt()])
    assert not Path(resumed.output_dir).exists()
    assert last_complete_checkpoint(resumed.checkpoint_dir).endswith("checkpoint-4")
    metrics = finetune(resumed)
    assert metrics["resumed_from"].endswith("checkpoint-4") and metrics["steps_this_run"] == 4
    # the per-step noise record covers the whole run, the steps before the resume point included
    assert list(metrics["observed_noise_fraction_per_step"]) == [str(step) for step in range(8)]
    for key in ("observed_noise_fraction_per_step", "padding_fraction", "mask_ratio_per_step"):
        assert metrics[key] == uninterrupted[key], key

    a = AutoModelForCausalLM.from_pretrained(straight.output_dir).state_dict()
    b = AutoModelForCausalLM.from_pretrained(resumed.output_dir).state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    tok = AutoTokenizer.from_pretrained(resumed.output_dir)
    assert "<mask>" in tok.get_vocab()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    assert not torch.equal(a["model.embed_tokens.weight"][: base["model.embed_tokens.weight"].shape[0]],
                           base["model.embed_tokens.weight"])


def test_cli_train_with_overrides(tiny_model_dir, tiny_records_file, tmp_path, capsys):
    from cotmask import cli

    config = tmp_path / "ft.yaml"
    config.write_text(
        f"base_model: {tiny_model_dir}\ntrain_file: {tiny_records_file}\noutput_dir: {tmp_path / 'out'}\n"
        "prompt_template: short\nmax_length: 96\nper_device_batch_size: 8\nlimit: 16\nepochs: 3\n"
        "mask: {mask_ratio: 0.4, noise: random}\n"
    )
    assert cli.main(["train", "--config", str(config), "--set", "epochs=1", "--set", "learning_rate=1e-3"]) == 0
    assert json.loads(capsys.readouterr().out)["optimizer_steps"] == 2
    saved = json.loads((tmp_path / "out" / "train_metrics.json").read_text())
    assert saved["optimizer_steps"] == 2 and saved["config"]["learning_rate"] == 1e-3
    assert saved["config"]["mask"]["noise"] == "random"
    assert Path(tmp_path / "out.checkpoints" / "checkpoint-2").is_dir()
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert "<mask>" not in tok.get_vocab(), "random-token noise needs no <mask> token"
    assert saved["token_ids"]["base_vocab_size"] == len(tok)


def test_finetune_with_embedding_dropout_noise(tiny_model_dir, tiny_records_file, tmp_path):
    cfg = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "drop", epochs=1, noise="dropout", mask_ratio=0.4,
               dropout_q=1.0, save_every_epoch=False, length_buckets=3)  # buckets step aside
    metrics = finetune(cfg)
    assert metrics["optimizer_steps"] == 4
    assert all(0.25 < f < 0.55 for f in metrics["observed_noise_fraction_per_step"].values())
    tok = AutoTokenizer.from_pretrained(cfg.output_dir)
    assert "<mask>" not in tok.get_vocab()
    sft = finetune(_cfg(tiny_model_dir, tiny_records_file, tmp_path, "drop_sft", epochs=1, save_every_epoch=False))
    assert metrics["loss_curve"][0]["loss"] != sft["loss_curve"][0]["loss"]


def test_training_args_passthrough_cannot_break_the_contract(tmp_path):
    base = dict(base_model="m", train_file="t.jsonl", output_dir=str(tmp_path / "out"))
    cfg = FinetuneConfig.from_dict({**base, "training_args": {"adam_beta2": 0.95}})
    assert cfg.training_args == {"adam_beta2": 0.95}
    with pytest.raises(ValueError, match="dataloader_num_workers"):
        FinetuneConfig.from_dict({**base, "training_args": {"dataloader_num_workers": 2}})


def test_finetune_with_scheduled_sampling_noise(tiny_model_dir, tiny_records_file, tmp_path):
    seen = []

    class Recorder(transformers.Trainer):  # what the model was fed at each step, after the noise
        def compute_loss(self, model, inputs, *args, **kwargs):
            seen.append((inputs["input_ids"].clone(), inputs["labels"].clone()))
            return super().compute_loss(model, inputs, *args, **kwargs)

    cfg = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "ss", epochs=1, noise="sampled", mask_ratio=0.4,
               sample_temperature=100.0, save_every_epoch=False)
    metrics = finetune(cfg, trainer_class=Recorder)
    assert metrics["optimizer_steps"] == 4 and len(seen) == 4
    assert all(0.25 < f < 0.55 for f in metrics["observed_noise_fraction_per_step"].values())
    assert metrics["config"]["mask"]["sample_temperature"] == 100.0
    for ids, labels in seen:
        answer = labels != -100
        shifted = ids[answer] != labels[answer]  # labels are the clean tokens
        assert 0.2 < shifted.float().mean() < 0.55, "about p of the answer inputs are the model's samples"


# -- reliability: no partial output, model card, hub ids ---------------------------------------------------
class _TmpAbsentAtStart(TrainerCallback):
    """Records whether the hidden output folder existed when training began."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.seen = tmp, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.seen = self.tmp.exists()


def test_a_failed_save_leaves_no_partial_output_and_the_rerun_completes(tiny_model_dir, tiny_records_file, tmp_path,
                                                                         monkeypatch):
    """A full disk while the output is written: the hidden tmp folder is removed, the output never appears;
    the next run starts without leftovers (also one a killed process left) and resumes from the checkpoint."""
    import cotmask.train

    cfg = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "full", epochs=1)
    out = Path(cfg.output_dir)
    tmp = out.parent / f".{out.name}.tmp"

    def disk_full(folder, metrics):
        (Path(folder) / "README.md").write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cotmask.train, "write_model_card", disk_full)
    with pytest.raises(OSError, match="No space left"):
        finetune(cfg)
    assert not out.exists() and not tmp.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["checkpoints"]
    monkeypatch.undo()

    (tmp / "model.safetensors").parent.mkdir(parents=True)  # what a kill -9 during the save leaves
    (tmp / "model.safetensors").write_bytes(b"partial")
    watch = _TmpAbsentAtStart(tmp)
    metrics = finetune(cfg, callbacks=[watch])
    assert watch.seen is False  # removed before training, not only when the output is replaced
    assert metrics["resumed_from"].endswith("checkpoint-4") and metrics["steps_this_run"] == 0
    assert (out / "README.md").read_text().startswith("---\n") and (out / "train_metrics.json").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["checkpoints", "model"]


def test_every_fine_tune_gets_a_model_card(tiny_model_dir, tiny_records_file, tmp_path):
    import yaml

    cfg = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "card", epochs=1, mask_ratio=0.2, noise="random",
               mask_warmup_ratio=0.5)
    finetune(cfg)
    card = (Path(cfg.output_dir) / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["library_name"] == "transformers" and "mft" in header["tags"]
    assert "base_model" not in header  # a local folder is no hub id
    assert "each answer-side input token is selected with probability p = 0.2" in card
    assert "over the first 50.0% of the optimizer steps" in card
    assert "| prompt template | `short` |" in card and "| learning rate | `0.002` |" in card
    assert "Not evaluated when this card was written" in card


def test_a_hub_base_model_offline_names_the_local_folder_alternative(tiny_records_file, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    cfg = _cfg("cotmask-tests/not-a-cached-model", tiny_records_file, tmp_path, "hub")
    with pytest.raises(FileNotFoundError, match=r"not a local folder.*--local-dir DIR"):
        finetune(cfg)


def test_training_args_fields_are_read_without_importing_torch_and_match_the_dataclass():
    """The planner's parse-time check reads TrainingArguments' field names from transformers' source
    (cotmask.trainer_args) so that `snakemake -n` does not import torch; they are the dataclass's fields."""
    import dataclasses
    import subprocess
    import sys

    from transformers import TrainingArguments

    from cotmask.trainer_args import check_training_args, training_argument_fields

    assert training_argument_fields() == {f.name for f in dataclasses.fields(TrainingArguments)}
    check_training_args({"adam_beta2": 0.95, "tf32": True})
    with pytest.raises(ValueError, match=r"unknown TrainingArguments field\(s\) \['tf33'\]"):
        check_training_args({"tf33": True})
    with pytest.raises(ValueError, match=r"may not set \['report_to'\]"):
        check_training_args({"report_to": "wandb"})
    probe = ("import sys; from cotmask.plan import Plan, load_config; "
             "Plan(load_config('config/paper.yaml')); print('torch' in sys.modules, 'matplotlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.split() == ["False", "False"]  # planning the paper config imports neither
