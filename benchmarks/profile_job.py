"""Where one fine-tune job's time goes, phase by phase, in a real workflow job's settings.

Runs :func:`cotmask.train.finetune` with the ``train_metrics.json`` config of a finished fine-tune (so the
same base model, data, masking, diagnostics and speed settings as the workflow job), into a scratch folder,
and times each phase:

* ``imports``: ``import torch`` and ``cotmask.train`` with the Trainer (measured in this process first);
* ``load model and tokenizer``, ``encode data``, ``prepare diagnostics subsets``: before the Trainer starts;
* inside the loop: ``collate`` (the Trainer's ``get_batch_samples``: data loading and the collator with
  MFT's noise), ``forward + backward`` (``training_step``), ``diagnostics`` (the epoch-end measurement),
  ``epoch checkpoints`` (``_save_checkpoint``), and ``optimizer, clipping, scheduler, callbacks`` (the rest
  of the epochs);
* ``final save``: model, tokenizer, metrics and model card into the output folder.

    python benchmarks/profile_job.py --model-dir work/models/ft/llama/gsm/mft/seed1 [--epochs 3] [--json out.json]

Paths in the recorded config are taken relative to ``--root`` (default: the current folder). Not a test: it
asserts nothing; it prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

_STARTED = time.perf_counter()
import torch  # noqa: E402

import cotmask.train as train_module  # noqa: E402
from cotmask.epoch_diagnostics import EpochDiagnostics  # noqa: E402
from transformers import Trainer  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _STARTED
TIMES: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)


def timed(name: str, function):
    """``function`` with its wall time added to ``TIMES[name]`` on every call."""
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TIMES[name] += time.perf_counter() - start
            COUNTS[name] += 1
    return wrapper


class TimedTrainer(Trainer):
    """The Trainer with its loop's phases timed (behaviour unchanged)."""

    def get_batch_samples(self, *args, **kwargs):
        return timed("collate", super().get_batch_samples)(*args, **kwargs)

    def training_step(self, *args, **kwargs):
        return timed("forward + backward", super().training_step)(*args, **kwargs)

    def _save_checkpoint(self, *args, **kwargs):
        return timed("epoch checkpoints", super()._save_checkpoint)(*args, **kwargs)

    def _run_epoch(self, *args, **kwargs):
        return timed("epochs", super()._run_epoch)(*args, **kwargs)


def instrument() -> None:
    """Time the phases before and after the loop, and the diagnostics callback."""
    for name, attribute in (("load model and tokenizer", "prepare_model_and_tokenizer"),
                            ("encode data", "load_training_examples"),
                            ("prepare diagnostics subsets", "diagnostics_callback"),
                            ("final save", "_save_output")):
        setattr(train_module, attribute, timed(name, getattr(train_module, attribute)))
    EpochDiagnostics.on_epoch_end = timed("diagnostics", EpochDiagnostics.on_epoch_end)


def job_config(model_dir: Path, root: Path, scratch: Path, epochs: int | None) -> train_module.FinetuneConfig:
    config = json.loads((model_dir / "train_metrics.json").read_text())["config"]
    for key in ("base_model", "train_file", "diagnostics_test_file"):
        if config.get(key):
            config[key] = str(root / config[key])
    config["output_dir"], config["checkpoint_dir"] = str(scratch / "model"), str(scratch / "checkpoints")
    if epochs is not None:
        config["epochs"] = epochs
    return train_module.FinetuneConfig.from_dict(config)


def phase_table(total: float, metrics: dict) -> list[dict]:
    loop_parts = ("collate", "forward + backward", "diagnostics", "epoch checkpoints")
    rest = TIMES["epochs"] - sum(TIMES[name] for name in loop_parts)
    rows = [("imports", IMPORT_SECONDS)]
    rows += [(name, TIMES[name]) for name in ("load model and tokenizer", "encode data",
                                              "prepare diagnostics subsets")]
    rows += [(name, TIMES[name]) for name in loop_parts]
    rows += [("optimizer, clipping, scheduler, callbacks", rest), ("final save", TIMES["final save"])]
    accounted = sum(seconds for _, seconds in rows)
    rows.append(("other (Trainer set-up, logging)", IMPORT_SECONDS + total - accounted))
    whole = IMPORT_SECONDS + total
    table = [{"phase": name, "seconds": round(seconds, 2), "share": round(seconds / whole, 4)} for name, seconds in rows]
    table.append({"phase": "job (in-process)", "seconds": round(whole, 2), "share": 1.0,
                  "steps": metrics["optimizer_steps"], "tokens_per_s": metrics["tokens_per_s"]})
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True, help="a finished fine-tune folder (has train_metrics.json)")
    parser.add_argument("--root", default=".", help="the folder the recorded paths are relative to")
    parser.add_argument("--epochs", type=int, default=None, help="override the epochs (default: the job's)")
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    model_dir = Path(args.model_dir)
    if not (model_dir / "train_metrics.json").is_file():
        print(f"error: {model_dir}: no train_metrics.json (pass a finished fine-tune folder)", file=sys.stderr)
        return 2
    instrument()
    scratch = Path(tempfile.mkdtemp(prefix="cotmask-profile-"))
    try:
        cfg = job_config(model_dir, Path(args.root), scratch, args.epochs)
        torch.set_num_threads(cfg.threads)
        started = time.perf_counter()
        metrics = train_module.finetune(cfg, trainer_class=TimedTrainer)
        table = phase_table(time.perf_counter() - started, metrics)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"| phase | seconds | share |\n|---|---|---|")
    for row in table:
        print(f"| {row['phase']} | {row['seconds']:.2f} | {100 * row['share']:.1f} % |")
    print(f"\n{table[-1]['steps']} optimizer steps, {table[-1]['tokens_per_s']:.0f} tokens/s in the loop")
    if args.json:
        Path(args.json).write_text(json.dumps({"model_dir": str(model_dir), "epochs": cfg.epochs,
                                               "threads": cfg.threads, "phases": table}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
