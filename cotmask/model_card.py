"""The model card (``README.md``) of a fine-tuned checkpoint folder, in the Hugging Face convention.

:func:`model_card` turns a fine-tune's ``train_metrics.json`` (its ``config``, data counts and run figures)
and, when there are any, evaluation summaries (the JSON that :mod:`cotmask.evaluate` writes) into the text
of a card: YAML front matter (``base_model`` when the base is a hub id, ``library_name``, ``pipeline_tag``,
``tags``, and a ``model-index`` with the evaluation results), then the method (SFT, or MFT with its mask
ratio, noise kind and warm-up), the training data, the hyper-parameters, the run, the results and how to
prompt the model.

:func:`write_model_card` writes it into a model folder; :func:`cotmask.train.finetune` calls it at the end of
every fine-tune (when no evaluation exists yet), and it can be called again once a model is evaluated, with
the summaries (``evaluations``) or the folder of an evaluate job (:func:`read_evaluations`).
:func:`card_with_results` writes the card of a fine-tune with the results of its evaluate job to any file: the
workflow's ``model_card`` rule (``work/cards/...``, so that no job writes into another job's output folder)
and ``cotmask model-card`` call it.

Pure text work: no torch, no transformers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cotmask.checkpoints import HUB_ID
from cotmask.prompts import TEMPLATES
from cotmask.records import atomic_path

CARD_FILE = "README.md"
METRICS_FILE = "train_metrics.json"
PAPER = "Chen et al., Masked Thought: Simply Masking Partial Reasoning Steps Can Improve Mathematical " \
        "Reasoning Learning of Language Models, ACL 2024 (arXiv 2403.02178)"
CITATION = """@inproceedings{chen2024masked,
  title     = {Masked Thought: Simply Masking Partial Reasoning Steps Can Improve Mathematical Reasoning
               Learning of Language Models},
  author    = {Chen, Changyu and Wang, Xiting and Lin, Ting-En and Lv, Ang and Wu, Yuchuan and Gao, Xin and
               Wen, Ji-Rong and Yan, Rui and Li, Yongbin},
  booktitle = {Proceedings of the 62nd Annual Meeting of the Association for Computational Linguistics},
  year      = {2024}
}"""
#: What replaces a selected input token, per noise kind.
NOISE_TEXT = {
    "mask": "the `{mask_token}` token (its embedding starts at the mean of the existing rows)",
    "random": "a uniformly random token of the base model's vocabulary",
    "pad": "the padding token",
    "mixture": "`{mask_token}` (probability m = {mask_prob} of a selected token), a uniformly random token "
               "(r = {random_prob}) or itself (the rest)",
    "dropout": "its embedding dropped out (q = {dropout_q})",
    "neftune": "its embedding perturbed by NEFTune noise (alpha = {neftune_alpha})",
    "sampled": "the model's own sample from the previous position (scheduled sampling, temperature "
               "{sample_temperature})",
}
#: Noise kinds of the paper's MFT proper (token-level corruption of the answer).
MFT_NOISE = ("mask", "random", "pad", "mixture")
#: (label, config key) rows of the hyper-parameter table.
HYPER_PARAMETERS = (
    ("learning rate", "learning_rate"),
    ("learning-rate schedule", "lr_scheduler"),
    ("learning-rate warm-up (share of steps)", "lr_warmup_ratio"),
    ("epochs", "epochs"),
    ("batch size per device", "per_device_batch_size"),
    ("gradient accumulation steps", "gradient_accumulation_steps"),
    ("weight decay", "weight_decay"),
    ("max gradient norm", "max_grad_norm"),
    ("max sequence length (tokens)", "max_length"),
    ("prompt template", "prompt_template"),
    ("seed", "seed"),
    ("bf16", "bf16"),
    ("examples used (limit)", "limit"),
    ("extra TrainingArguments", "training_args"),
)


# ------------------------------------------------------------------------------------------------ reading
def read_evaluations(folder: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The evaluation summaries of an evaluate job's folder: ``{file stem: summary}`` for every ``*.json``
    with an ``accuracy``, sorted by name (``gsm_test.calc`` ...)."""
    found = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not an evaluation summary ({error})") from None
        if isinstance(summary, dict) and "accuracy" in summary:
            found[path.stem] = summary
    return found


def is_hub_id(name: str) -> bool:
    """Whether ``name`` reads as a hub id (``owner/name``) rather than a local path."""
    return bool(HUB_ID.match(name)) and "/" in name and not Path(name).exists()


# ------------------------------------------------------------------------------------------------ the card
def method_name(config: Mapping[str, Any]) -> str:
    """``SFT``, ``MFT`` (token noise on the answer) or ``SFT + <noise> noise`` (the Table 3 variants)."""
    mask = config.get("mask") or {}
    if not float(mask.get("mask_ratio", 0.0) or 0.0):
        return "SFT"
    noise, positions = mask.get("noise", "mask"), mask.get("positions", "answer")
    if noise in MFT_NOISE and positions == "answer":
        return "MFT"
    return f"SFT + {noise} noise ({positions} tokens)"


def _warmup(mask: Mapping[str, Any]) -> float:
    return float(mask.get("mask_warmup_ratio", 0.0) or 0.0)


def method_lines(config: Mapping[str, Any]) -> list[str]:
    """The method section: what was trained, in the paper's terms."""
    mask = dict(config.get("mask") or {})
    name = method_name(config)
    lines = []
    if name == "SFT":
        lines.append("**SFT**: supervised fine-tuning on (question, chain-of-thought) pairs, no noise; the loss is "
                     "on the answer tokens only.")
    else:
        where = {"answer": "answer-side input token", "question": "question-side input token",
                 "all": "input token (question and answer)"}.get(mask.get("positions", "answer"), "input token")
        replacement = NOISE_TEXT.get(mask.get("noise", "mask"), "noise").format(
            mask_token=config.get("mask_token", "<mask>"), **{k: mask.get(k) for k in (
                "mask_prob", "random_prob", "dropout_q", "neftune_alpha", "sample_temperature")})
        label = "**MFT** (masked thought fine-tuning)" if name == "MFT" else f"**{name}**"
        lines.append(f"{label}: supervised fine-tuning on (question, chain-of-thought) pairs in which each {where} "
                     f"is selected with probability p = {mask.get('mask_ratio')} and replaced by {replacement}. "
                     "The labels stay the original tokens and the loss is on the answer tokens only"
                     + ("" if mask.get("loss_on_noised", True) else ", excluding the noised positions") + ".")
        if not mask.get("attend_noised", True):
            lines.append("The noised positions are masked out of attention in every layer: no later token attends "
                         "to them (the paper's Sec. 3.3 variant).")
        warmup = _warmup(mask)
        if warmup:
            lines.append(f"The mask ratio warms up linearly from 0 to p over the first {warmup:.1%} of the optimizer "
                         "steps (the official formula, driven by the optimizer-step counter).")
        else:
            lines.append("The mask ratio is p from the first step (no warm-up).")
    return lines


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (dict, list)):
        return f"`{json.dumps(value, sort_keys=True)}`" if value else "none"
    return f"`{value}`"


def hyper_parameter_lines(metrics: Mapping[str, Any]) -> list[str]:
    config = metrics.get("config") or {}
    rows = [(label, _value(config.get(key))) for label, key in HYPER_PARAMETERS if key in config]
    mask = config.get("mask") or {}
    if method_name(config) != "SFT":
        rows += [("mask ratio p", _value(mask.get("mask_ratio"))), ("noise", _value(mask.get("noise"))),
                 ("noised positions", _value(mask.get("positions"))),
                 ("mask-ratio warm-up (share of steps)", _value(_warmup(mask)))]
    world = metrics.get("world_size")
    if world:
        rows.append(("processes", _value(world)))
        effective = world * config.get("per_device_batch_size", 0) * config.get("gradient_accumulation_steps", 1)
        rows.append(("effective batch size", _value(effective)))
    if metrics.get("optimizer"):  # str() of the TrainingArguments enum: OptimizerNames.ADAMW_TORCH_FUSED
        rows.append(("optimizer", _value(str(metrics["optimizer"]).split(".")[-1].lower())))
    return ["| setting | value |", "|---|---|", *(f"| {label} | {value} |" for label, value in rows)]


def data_lines(metrics: Mapping[str, Any]) -> list[str]:
    config, data = metrics.get("config") or {}, metrics.get("data") or {}
    lines = [f"Training file: `{config.get('train_file', '?')}`."]
    if data:
        lines.append(
            f"{data.get('n_records', '?')} records read, {data.get('n_examples', '?')} examples trained on "
            f"({data.get('n_dropped_no_answer', 0)} dropped: the answer did not fit max_length; "
            f"{data.get('n_truncated', 0)} truncated), {data.get('answer_tokens', '?')} answer tokens."
        )
    return lines


def run_lines(metrics: Mapping[str, Any]) -> list[str]:
    """What the run computed. The loss (a mean over the last process's steps), timings and resumes stay in
    ``train_metrics.json``: the card is the same file whenever the same run is repeated, resumed or not
    (the workflow's outputs compare byte for byte across machines)."""
    steps = metrics.get("optimizer_steps")
    lines = [f"- optimizer steps: {_value(steps)}"] if steps is not None else []
    lines.append("- training loss, wall time, tokens per second and any resume: `train_metrics.json`")
    diagnostics = metrics.get("diagnostics")
    if diagnostics:
        lines.append(f"- overfitting diagnostics (per epoch, `diagnostics.jsonl`): {_value(diagnostics)}")
    return lines


def _percent(value: Any) -> str:
    return f"{100 * float(value):.1f}" if isinstance(value, (int, float)) else "?"


def evaluation_lines(evaluations: Mapping[str, Mapping[str, Any]], model_dir: str) -> list[str]:
    if not evaluations:
        return [("Not evaluated when this card was written. `cotmask evaluate --model "
                 f"{model_dir} --benchmark TEST.jsonl --predictions P.jsonl --summary S.json` evaluates it (it "
                 "reads the prompt template from `train_metrics.json`); `cotmask model-card --model "
                 f"{model_dir} --evals EVAL_DIR` writes this card with the results of an evaluation folder.")]
    lines = ["| evaluation | benchmark | scoring | decoding | accuracy (%) | 95 % CI | n |", "|---|---|---|---|---|---|---|"]
    for name, summary in evaluations.items():
        ci = summary.get("ci95") or [None, None]
        decoding = "calculator" if summary.get("calculator") else "plain"
        lines.append(f"| {name} | `{summary.get('benchmark', '?')}` | {summary.get('scoring', '?')} | {decoding} | "
                     f"{_percent(summary.get('accuracy'))} | [{_percent(ci[0])}, {_percent(ci[1])}] | "
                     f"{summary.get('n', '?')} |")
    lines += ["", ("Greedy decoding; the calculator decoding lets a safe evaluator write the result of every "
                   "`<<expr=` annotation the model opens.")]
    return lines


def usage_lines(config: Mapping[str, Any]) -> list[str]:
    template = config.get("prompt_template", "alpaca")
    pattern = TEMPLATES.get(template, "{question}")
    return [
        (f"Prompt format (`{template}`); the model continues after one space and ends its answer with a "
         "`#### N` (GSM8K style), `The answer is: X` or `\\boxed{X}` line:"),
        "", "```text", pattern, "```", "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "from cotmask.prompts import format_prompt",
        "",
        "tokenizer = AutoTokenizer.from_pretrained(FOLDER)",
        "model = AutoModelForCausalLM.from_pretrained(FOLDER)",
        f"inputs = tokenizer(format_prompt(\"How many legs do 3 cats have?\", {template!r}), return_tensors=\"pt\")",
        "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=160)[0], skip_special_tokens=True))",
        "```",
    ]


def front_matter(metrics: Mapping[str, Any], evaluations: Mapping[str, Mapping[str, Any]], name: str) -> list[str]:
    config = metrics.get("config") or {}
    base = str(config.get("base_model", ""))
    method = method_name(config)
    tags = ["cotmask", "math-reasoning", "chain-of-thought", "sft" if method == "SFT" else "masked-thought"]
    if method == "MFT":
        tags.append("mft")
    lines = ["---"]
    if is_hub_id(base):
        lines.append(f"base_model: {base}")
    lines += ["library_name: transformers", "pipeline_tag: text-generation", "tags:", *(f"- {tag}" for tag in tags)]
    if evaluations:
        lines += ["model-index:", f"- name: {json.dumps(name)}", "  results:"]
        for run, summary in evaluations.items():
            decoding = "calculator" if summary.get("calculator") else "plain"
            label = f"accuracy ({summary.get('scoring', '?')}, {decoding} decoding)"
            lines += [
                "  - task:", "      type: text-generation",
                "    dataset:", f"      name: {json.dumps(run)}", f"      type: {json.dumps(str(summary.get('benchmark', run)))}",
                "    metrics:", "    - type: accuracy",
                f"      value: {_percent(summary.get('accuracy'))}",
                f"      name: {json.dumps(label)}",
            ]
    lines.append("---")
    return lines


def model_card(metrics: Mapping[str, Any], evaluations: Mapping[str, Mapping[str, Any]] | None = None,
               *, name: str | None = None) -> str:
    """The README.md text of a fine-tune from its training metrics and, optionally, evaluation summaries
    (``{run name: summary}``, e.g. from :func:`read_evaluations`)."""
    config = metrics.get("config") or {}
    if not config:
        raise ValueError("model card: the training metrics carry no 'config'")
    evaluations = dict(evaluations or {})
    model_dir = str(config.get("output_dir", "FOLDER"))
    name = name or "/".join(Path(model_dir).parts[-4:]) or "model"
    base = config.get("base_model", "?")
    sections = [
        *front_matter(metrics, evaluations, name), "",
        f"# {name}: {method_name(config)} fine-tune of `{base}`", "",
        f"Fine-tuned from `{base}` with `cotmask`, a reproduction of {PAPER}. Saved as `{model_dir}`.", "",
        "## Method", "", *method_lines(config), "",
        "## Training data", "", *data_lines(metrics), "",
        "## Hyper-parameters", "", *hyper_parameter_lines(metrics), "",
        "## Training run", "", *run_lines(metrics), "",
        "## Evaluation", "", *evaluation_lines(evaluations, model_dir), "",
        "## Use", "", *usage_lines(config), "",
        "## Citation", "", "```bibtex", CITATION, "```", "",
    ]
    return "\n".join(sections)


def write_model_card(folder: str | os.PathLike, metrics: Mapping[str, Any] | None = None,
                     evaluations: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write ``folder/README.md``; ``metrics`` default to the folder's ``train_metrics.json``. Returns the path."""
    folder = Path(folder)
    if metrics is None:
        path = folder / METRICS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no training metrics (is {folder} a cotmask fine-tune?)")
        metrics = json.loads(path.read_text(encoding="utf-8"))
    card = folder / CARD_FILE
    with atomic_path(card) as tmp:
        Path(tmp).write_text(model_card(metrics, evaluations), encoding="utf-8")
    return card


def card_with_results(model_dir: str | os.PathLike, out: str | os.PathLike | None = None,
                      eval_dir: str | os.PathLike | None = None) -> tuple[Path, int]:
    """Write the card of the fine-tune in ``model_dir`` (its ``train_metrics.json``) with the summaries of the
    evaluate job folder ``eval_dir`` (none: no results) to ``out`` (default: ``model_dir/README.md``).
    Returns the path and the number of evaluation summaries on the card. An ``eval_dir`` that does not exist
    or holds no summary is an error (a card without results is what the fine-tune wrote itself)."""
    model_dir = Path(model_dir)
    metrics_path = model_dir / METRICS_FILE
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{metrics_path}: no training metrics (is {model_dir} a cotmask fine-tune?)")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    evaluations = {}
    if eval_dir is not None:
        if not Path(eval_dir).is_dir():
            raise FileNotFoundError(f"{eval_dir}: no such evaluation folder")
        evaluations = read_evaluations(eval_dir)
        if not evaluations:
            raise ValueError(f"{eval_dir}: no evaluation summary (*.json with an 'accuracy')")
    out = Path(out) if out is not None else model_dir / CARD_FILE
    with atomic_path(out) as tmp:
        Path(tmp).write_text(model_card(metrics, evaluations), encoding="utf-8")
    return out, len(evaluations)
