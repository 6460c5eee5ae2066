"""cotmask.compile: the training step with a ``torch.compile``-d decoder.

Compiled kernels compute the same function as the eager ones up to floating-point rounding, so these tests
check (1) the compiled run is the eager run up to rounding (loss curve and weights), (2) it is reproducible:
the same seed twice gives identical weights, and an interrupted run resumed from its checkpoint (a fresh
compilation from the shared cache) ends with identical weights, (3) without a compiler backend the run trains
eagerly after one log line, (4) the key leaves an eager run's fingerprint and metrics as they were.
They compile for real (inductor needs a C++ compiler, which the CI installs); the first compilation of the
module takes ~20-40 s, later ones read the module's shared cache.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from cotmask import compile as compile_module
from cotmask.train import FinetuneConfig, finetune, last_complete_checkpoint
from test_train import _cfg, _Interrupt

needs_compiler = pytest.mark.skipif(compile_module.backend_missing("cpu") is not None,
                                    reason="no C++ compiler for inductor on this machine")

SETTINGS = dict(mask_ratio=0.4, mask_warmup_ratio=0.66, noise="random", per_device_batch_size=4, epochs=2,
                gradient_accumulation_steps=2,
                length_buckets=2)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("inductor_cache"))


def _weights(directory: str) -> dict[str, torch.Tensor]:
    return AutoModelForCausalLM.from_pretrained(directory).state_dict()


@needs_compiler
def test_compiled_training_is_the_eager_training_up_to_rounding_and_reproducible(
        tiny_model_dir, tiny_records_file, tmp_path, cache_dir):
    compiled = dict(SETTINGS, compile=True, compile_cache_dir=cache_dir)
    first = finetune(_cfg(tiny_model_dir, tiny_records_file, tmp_path, "c1", **compiled))
    assert first["compiled"] is True and first["compile_time_s"] > 0
    assert first["loss_batches"]["label_logits"] == 2 * first["steps_this_run"] == 16  # 2 micro-batches a step
    assert any(Path(cache_dir).iterdir()), "the kernels were not cached where the config says"
    second = finetune(_cfg(tiny_model_dir, tiny_records_file, tmp_path, "c2", **compiled))
    eager = finetune(_cfg(tiny_model_dir, tiny_records_file, tmp_path, "eager", **SETTINGS))
    assert "compiled" not in eager and "compile_time_s" not in eager
    assert second["loss_curve"] == first["loss_curve"]  # the same seed twice: the same losses, bit for bit

    a, b, e = (_weights(str(tmp_path / name / "model")) for name in ("c1", "c2", "eager"))
    for name in a:
        assert torch.equal(a[name], b[name]), f"same seed twice, compiled: {name} differs"
        torch.testing.assert_close(a[name], e[name], rtol=1e-3, atol=1e-4, msg=f"compiled vs eager: {name}")
    for c, r in zip(first["loss_curve"], eager["loss_curve"]):
        assert c["step"] == r["step"] and c["loss"] == pytest.approx(r["loss"], rel=1e-3)


@needs_compiler
def test_a_compiled_run_resumed_after_interruption_ends_with_the_same_weights(
        tiny_model_dir, tiny_records_file, tmp_path, cache_dir):
    compiled = dict(SETTINGS, compile=True, compile_cache_dir=cache_dir)
    straight = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "straight", **compiled)
    finetune(straight)
    resumed = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "resumed", **compiled)
    with pytest.raises(KeyboardInterrupt):
        finetune(resumed, callbacks=[_Interrupt()])
    assert last_complete_checkpoint(resumed.checkpoint_dir).endswith("checkpoint-4")
    metrics = finetune(resumed)
    assert metrics["resumed_from"].endswith("checkpoint-4") and metrics["compiled"] is True
    a, b = _weights(straight.output_dir), _weights(resumed.output_dir)
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_an_eager_checkpoint_is_never_resumed_compiled(tiny_model_dir, tiny_records_file, tmp_path):
    eager = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "x", **SETTINGS)
    compiled = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "x", **SETTINGS, compile=True)
    assert eager.training_fingerprint() != compiled.training_fingerprint()
    # the cache folder is where kernels live, not what the run computes
    elsewhere = _cfg(tiny_model_dir, tiny_records_file, tmp_path, "x", **SETTINGS, compile=True,
                     compile_cache_dir=str(tmp_path / "other"))
    assert elsewhere.training_fingerprint() == compiled.training_fingerprint()
    # an eager run's fingerprint is the one it had before the key existed
    data = eager.to_dict()
    del data["compile"], data["compile_cache_dir"]
    assert "compile" not in data and FinetuneConfig.from_dict(data).training_fingerprint() == eager.training_fingerprint()


def test_without_a_compiler_the_run_trains_eagerly_after_one_log_line(
        tiny_model_dir, tiny_records_file, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(compile_module, "backend_missing", lambda device_type="cpu": "no C++ compiler (test)")
    with caplog.at_level(logging.WARNING, logger="cotmask.compile"):
        metrics = finetune(_cfg(tiny_model_dir, tiny_records_file, tmp_path, "nocc", epochs=1, compile=True))
    assert metrics["compiled"] is False and "compile_time_s" not in metrics
    assert [r.getMessage() for r in caplog.records] == ["compile: no C++ compiler (test); training eagerly"]
    eager = finetune(_cfg(tiny_model_dir, tiny_records_file, tmp_path, "plain", epochs=1))
    a, b = _weights(str(tmp_path / "nocc" / "model")), _weights(str(tmp_path / "plain" / "model"))
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert metrics["loss_curve"] == eager["loss_curve"]


def test_compile_needs_the_label_logits_path(tiny_model_dir, tiny_records_file, tmp_path, capsys):
    metrics = finetune(_cfg(tiny_model_dir, tiny_records_file, tmp_path, "full", epochs=1, compile=True,
                            label_logits_only=False))
    assert metrics["compiled"] is False
    assert "compile: only the label-logits loss path is compiled" in capsys.readouterr().err


def test_the_workflow_passes_compile_and_the_shared_cache_only_to_jobs_that_compile():
    """config keys training.compile and models.*.tiny.pretrain.compile: off, a job's params carry neither key
    (so turning the option into the schema reran nothing); on, both jobs get it with work/compile-cache."""
    import yaml

    from cotmask.plan import Plan, validated_config
    from cotmask.plan.paths import COMPILE_CACHE
    from test_plan_regime import REPO

    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text(encoding="utf-8"))
    eager = Plan(validated_config(cfg))
    assert not {"compile", "compile_cache_dir"} & set(eager.finetune_settings("llama", "gsm", "mft", 1))
    assert not {"compile", "compile_cache_dir"} & set(eager.base_model_settings("llama"))
    cfg["training"]["compile"] = True
    cfg["models"]["llama"]["tiny"]["pretrain"]["compile"] = True
    compiled = Plan(validated_config(cfg))
    expected = {"compile": True, "compile_cache_dir": COMPILE_CACHE}
    assert expected.items() <= compiled.finetune_settings("llama", "gsm", "mft", 1).items()
    assert expected.items() <= compiled.base_model_settings("llama").items()
    assert "compile" not in compiled.base_model_settings("mistral")  # only the model that asks
    # a fine-tune's settings are FinetuneConfig keys
    FinetuneConfig.from_dict({**compiled.finetune_settings("llama", "gsm", "mft", 1), "base_model": "m",
                              "train_file": "t.jsonl", "output_dir": "out"})
