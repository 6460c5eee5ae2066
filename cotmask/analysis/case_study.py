"""The dependency case study (the paper's Table 4, Figs. 4-5; shared/paper.md §2.6), on held-out problems.

For a two-step problem whose gold chain begins ``... a op q = <<a op q=r>>r ...`` (``q`` a number of the
question), the chain is forced up to and including the first operand after the first operator, ``q``
(the **operand**), and the model continues greedily; what it writes as that operand in the next
arithmetic (the calculator annotation ``<<a op X=``, else the next ``a op X`` of the text) is compared
with the question's number and the prefix's:

* **Fig. 4** (prefix varied): the prefix's operand is replaced by another number ``n`` of its digit class
  (same number of digits); the question is unchanged. Score: the fraction of variants after which the model
  still writes the question's ``q`` (the paper's "is 16-3").
* **Fig. 5** (question varied): the question's ``q`` is replaced by ``n``; the prefix keeps ``q``. Score: the
  fraction of variants after which the model writes the question's new ``n`` (the paper's "is 16-n").
* **unchanged** (a control): both say ``q``; the fraction writing ``q``.

A model that reads the operand off the question scores 1 on both figures; one that copies the nearest
mention in its own chain (the short-range dependency the paper ascribes to SFT) scores 0.

Items (:func:`select_items`): problems of a test split with exactly two steps (``metadata.n_steps``, else
two annotations) whose first operation ``a op q`` is written in the chain text before its annotation,
with ``q`` different from ``a``, written once in the question and nowhere earlier in the chain. The
variants of an item are drawn from its digit class without the numbers of its question and prefix (so
that any number written is attributable), reproducibly from the seed and the item id. The paper's own
item (``source="janet"``: the Janet's-ducks question and the 10 variants 0-9 of
:mod:`cotmask.analysis.case_study_paper`) keeps the unchanged value among its variants, as the paper does.

Files: :func:`run_case_study` writes one row per prompt (``{out}.jsonl``: item, cluster, condition,
variant, question_number, prefix_number, generation, written) and a summary (``{out}.json``: labels,
settings, the fine-tune's noise kind, fractions, wall time). :func:`case_study_table` recomputes every
number from the rows (``written`` against the row's numbers) and writes ``tables/table4_case_study.*``
next to the paper's Table 4 and ``figures/table4_case_study.png``; means over seeds and items with the
two-stage bootstrap of :mod:`cotmask.stats` (seeds, then template clusters), MFT - SFT paired.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cotmask.analysis import case_study_paper as paper
from cotmask.prompts import format_prompt
from cotmask.records import read_jsonl, write_json, write_jsonl

logger = logging.getLogger(__name__)

#: conditions of a case-study prompt; the figures are scored over an item's variants
CONDITIONS = ("unchanged", "fig4", "fig5")
#: where an item comes from: held-out problems of a data file, or the paper's own question
SOURCES = ("synthetic", "janet")
TABLE_STEM = "table4_case_study"
FIGURE_NAME = "table4_case_study"

_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?!\.?\d)")
_OPERATION = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([-+*/])\s*(\d+(?:\.\d+)?)(?!\.?\d)")
_ANNOTATION = re.compile(r"<<([^<>=\n]*)=")


class CaseStudyError(ValueError):
    """Bad input of the case study (no item fits, a malformed run file), named by file and key."""


# ------------------------------------------------------------------------------------------------ items


@dataclass(frozen=True)
class CaseItem:
    """One case-study problem: the question and the forced chain prefix around the varied number."""

    id: str
    cluster: str | None
    question_before: str
    question_after: str
    prefix_before: str  # the chain up to the operand: "... a op "
    prefix_after: str  # what the forced prefix holds after the operand ("" for held-out problems)
    first_operand: str
    operator: str
    original: str  # the question's number, the operand of the gold chain
    variants: tuple[str, ...]
    number_words: bool = False  # the question writes its number as a word (the paper's "three")

    def question(self, number: str) -> str:
        """The question with its number replaced by ``number``."""
        text = paper.NUMBER_WORDS[int(number)] if self.number_words else number
        return f"{self.question_before}{text}{self.question_after}"

    def prefix(self, number: str) -> str:
        """The forced chain prefix with ``number`` as the operand."""
        return f"{self.prefix_before}{number}{self.prefix_after}"


def numbers_in(text: str) -> list[str]:
    """The numbers written in digits in ``text``, in order."""
    return _NUMBER.findall(text)


def is_two_step(record: Mapping) -> bool:
    """A gold chain of exactly two steps: ``metadata.n_steps``, else its number of calculator annotations."""
    steps = (record.get("metadata") or {}).get("n_steps")
    if steps is None:
        steps = len(re.findall(r"<<[^<>]*>>", record["solution"]))
    return steps == 2


def digit_class(number: str) -> list[str]:
    """The whole numbers with as many digits as ``number`` (0-9 for one digit, 10-99 for two, ...)."""
    digits = len(number)
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return [str(value) for value in range(low, 10**digits)]


def draw_variants(number: str, excluded: Iterable[str], n_variants: int, seed: int, item_id: str) -> tuple[str, ...]:
    """Up to ``n_variants`` numbers of ``number``'s digit class, none of ``excluded`` nor ``number`` itself,
    drawn reproducibly from ``seed`` and ``item_id`` and returned in increasing order."""
    banned = set(excluded) | {number}
    candidates = [value for value in digit_class(number) if value not in banned]
    rng = random.Random(f"cotmask-case-study/{seed}/{item_id}")
    picked = rng.sample(candidates, min(n_variants, len(candidates)))
    return tuple(sorted(picked, key=int))


def _question_span(question: str, number: str) -> tuple[int, int] | None:
    """(start, end) of the one mention of ``number`` in ``question``; None for zero or several."""
    spans = [match.span() for match in _NUMBER.finditer(question) if match.group() == number]
    return spans[0] if len(spans) == 1 else None


def case_item(record: Mapping, *, n_variants: int, seed: int) -> CaseItem | None:
    """The case-study item of a two-step record, or None when it does not fit (module doc)."""
    if not is_two_step(record) or not str(record["solution"]).strip():
        return None
    solution, question = record["solution"], record["question"]
    annotation = solution.find("<<")
    match = _OPERATION.search(solution[: annotation if annotation >= 0 else len(solution)])
    if match is None or "." in match.group(3):
        return None
    first, operator, operand = match.group(1), match.group(2), match.group(3)
    prefix_before = solution[: match.start(3)]
    span = _question_span(question, operand)
    if first == operand or span is None or operand in numbers_in(prefix_before):
        return None
    excluded = numbers_in(question) + numbers_in(prefix_before)
    variants = draw_variants(operand, excluded, n_variants, seed, record["id"])
    if not variants:
        return None
    metadata = record.get("metadata") or {}
    return CaseItem(
        id=record["id"], cluster=metadata.get("template"),
        question_before=question[: span[0]], question_after=question[span[1]:],
        prefix_before=prefix_before, prefix_after="", first_operand=first, operator=operator,
        original=operand, variants=variants,
    )


def select_items(records: Sequence[Mapping], *, items: int, n_variants: int, seed: int) -> list[CaseItem]:
    """The first ``items`` records (file order) that make a case-study item."""
    if items < 1 or n_variants < 1:
        raise CaseStudyError(f"items and variants must be positive (got items={items}, variants={n_variants})")
    selected = []
    for record in records:
        item = case_item(record, n_variants=n_variants, seed=seed)
        if item is not None:
            selected.append(item)
            if len(selected) == items:
                break
    return selected


def janet_item() -> CaseItem:
    """The paper's own case (Janet's ducks, digit variants 0-9 with the unchanged 3 among them)."""
    question = paper.JANET_QUESTION
    start = question.index(paper.JANET_NUMBER_WORD)
    return CaseItem(
        id="janet-ducks", cluster=None,
        question_before=question[:start], question_after=question[start + len(paper.JANET_NUMBER_WORD):],
        prefix_before=paper.JANET_PREFIX_BEFORE, prefix_after=paper.JANET_PREFIX_AFTER,
        first_operand=paper.JANET_FIRST_OPERAND, operator=paper.JANET_OPERATOR, original=paper.JANET_NUMBER,
        variants=paper.JANET_VARIANTS, number_words=True,
    )


# ---------------------------------------------------------------------------------------------- prompts


def case_rows(item: CaseItem, template: str) -> list[dict]:
    """One row per prompt of an item: the unchanged control, then Fig. 4's and Fig. 5's variants. A row's
    ``prompt`` is the prompt of the template, a space (as in training) and the forced chain prefix."""
    cases = [("unchanged", item.original, item.original, item.original)]
    cases += [("fig4", variant, item.original, variant) for variant in item.variants]
    cases += [("fig5", variant, variant, item.original) for variant in item.variants]
    rows = []
    for condition, variant, question_number, prefix_number in cases:
        prompt = format_prompt(item.question(question_number), template) + " " + item.prefix(prefix_number)
        rows.append({
            "item": item.id, "cluster": item.cluster, "condition": condition, "variant": variant,
            "question_number": question_number, "prefix_number": prefix_number,
            "first_operand": item.first_operand, "operator": item.operator, "prompt": prompt,
        })
    return rows


def written_operand(continuation: str, first_operand: str, operator: str) -> str | None:
    """The operand the model writes after the forced prefix: the second number of the first operation in
    its first calculator annotation ``<<EXPR=``; without an annotation, the number after the next
    ``first_operand operator`` of the text; None when it writes neither."""
    annotation = _ANNOTATION.search(continuation)
    if annotation is not None:
        operation = _OPERATION.search(annotation.group(1))
        return operation.group(3) if operation else None
    pattern = rf"(?<![\d.]){re.escape(first_operand)}\s*{re.escape(operator)}\s*(\d+(?:\.\d+)?)(?!\.?\d)"
    match = re.search(pattern, continuation)
    return match.group(1) if match else None


def complete_rows(rows: list[dict], complete: Callable[[list[str]], list[str]]) -> list[dict]:
    """The rows with ``generation`` (``complete``'s continuation of each prompt) and ``written``."""
    generations = complete([row["prompt"] for row in rows])
    if len(generations) != len(rows):
        raise RuntimeError(f"{len(generations)} continuations for {len(rows)} prompts")
    return [
        {**row, "generation": text, "written": written_operand(text, row["first_operand"], row["operator"])}
        for row, text in zip(rows, generations)
    ]


# --------------------------------------------------------------------------------------------- scoring


def follows_question(row: Mapping) -> bool:
    """The model wrote the question's number (Fig. 4, Fig. 5 and the control alike)."""
    return row["written"] is not None and _same_number(row["written"], row["question_number"])


def copies_prefix(row: Mapping) -> bool:
    """The model wrote the prefix's number where it differs from the question's."""
    return (
        row["written"] is not None
        and not _same_number(row["question_number"], row["prefix_number"])
        and _same_number(row["written"], row["prefix_number"])
    )


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def item_scores(rows: Iterable[Mapping], condition: str, measure: Callable[[Mapping], bool] = follows_question
                ) -> dict[str, float]:
    """item -> the fraction of its rows of ``condition`` that ``measure`` holds for."""
    hits: dict[str, list[bool]] = {}
    for row in rows:
        if row["condition"] == condition:
            hits.setdefault(row["item"], []).append(bool(measure(row)))
    return {item: sum(values) / len(values) for item, values in hits.items()}


def run_fractions(rows: Sequence[Mapping]) -> dict[str, float]:
    """A run's fractions, each the mean over items of the per-item fraction of variants."""
    def mean(scores: Mapping[str, float]) -> float:
        return sum(scores.values()) / len(scores) if scores else float("nan")

    return {
        "fig4": mean(item_scores(rows, "fig4")),
        "fig5": mean(item_scores(rows, "fig5")),
        "unchanged": mean(item_scores(rows, "unchanged")),
        "fig4_copies_prefix": mean(item_scores(rows, "fig4", copies_prefix)),
        "fig5_copies_prefix": mean(item_scores(rows, "fig5", copies_prefix)),
        "no_operand": sum(row["written"] is None for row in rows) / len(rows) if rows else float("nan"),
    }


# ------------------------------------------------------------------------------------------------ a run


def case_items(source: str, data_file: str | os.PathLike | None, *, items: int, n_variants: int,
               seed: int) -> list[CaseItem]:
    """The items of a run: held-out two-step problems of ``data_file``, or the paper's item."""
    if source == "janet":
        return [janet_item()]
    if source != "synthetic":
        raise CaseStudyError(f"unknown case-study source {source!r}; choose one of {list(SOURCES)}")
    if data_file is None:
        raise CaseStudyError("the synthetic case study needs a data file (a test split)")
    selected = select_items(read_jsonl(data_file), items=items, n_variants=n_variants, seed=seed)
    if not selected:
        raise CaseStudyError(
            f"{data_file}: no two-step problem fits the case study (first operation 'a op q' in the chain "
            "text, q once in the question)"
        )
    if len(selected) < items:
        logger.warning("%s: only %d of the %d items asked fit the case study", data_file, len(selected), items)
    return selected


def fine_tune_kind(training: Mapping[str, Any]) -> dict[str, Any]:
    """The noise kind and ratio a cotmask fine-tune recorded (SFT: noise None)."""
    mask = training.get("mask") or {}
    ratio = float(mask.get("mask_ratio", 0.0) or 0.0)
    return {"noise": mask.get("noise") if ratio > 0 else None, "mask_ratio": ratio}


def run_case_study(
    model_dir: str | os.PathLike,
    data_file: str | os.PathLike | None,
    out_prefix: str | os.PathLike,
    *,
    items: int = 50,
    variants: int = 9,
    seed: int = 0,
    source: str = "synthetic",
    prompt_template: str | None = None,
    max_new_tokens: int = 32,
    batch_size: int = 64,
    threads: int = 1,
    labels: Mapping[str, Any] | None = None,
) -> dict:
    """Run the case study of one fine-tune: ``{out_prefix}.jsonl`` (rows) and ``{out_prefix}.json``
    (summary, returned). The items and prompts are checked before the model loads."""
    started = time.monotonic()
    if max_new_tokens < 1 or batch_size < 1:
        raise CaseStudyError("max_new_tokens and batch_size must be positive")
    selected = case_items(source, data_file, items=items, n_variants=variants, seed=seed)
    from cotmask.evaluate import (  # torch only from here on
        resolve_prompt_template,
        training_settings,
    )
    from cotmask.generation import generate, load_model

    training = training_settings(model_dir)
    template = resolve_prompt_template(model_dir, prompt_template, training)
    rows = [row for item in selected for row in case_rows(item, template)]
    model, tokenizer = load_model(model_dir, threads=threads)

    def complete(prompts: list[str]) -> list[str]:
        return generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                        calculator=False)

    generated_at = time.monotonic()
    rows = complete_rows(rows, complete)
    generation_s = time.monotonic() - generated_at
    out_prefix = Path(out_prefix)
    write_jsonl(rows, out_prefix.with_name(out_prefix.name + ".jsonl"))
    summary = {
        "labels": dict(labels or {}),
        "model": str(model_dir),
        "data": None if data_file is None else str(data_file),
        "settings": {"items": items, "variants": variants, "seed": seed, "source": source,
                     "prompt_template": template, "max_new_tokens": max_new_tokens, "batch_size": batch_size},
        "fine_tune": fine_tune_kind(training),
        "n_items": len(selected),
        "n_prompts": len(rows),
        "fractions": run_fractions(rows),
        "generation_s": round(generation_s, 3),
        "wall_time_s": round(time.monotonic() - started, 3),
    }
    write_json(_finite(summary), out_prefix.with_name(out_prefix.name + ".json"))
    return summary


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


# ---------------------------------------------------------------------------------------------- the table


@dataclass
class CaseRun:
    """One fine-tune's case-study files: the summary's labels and kind, and the rows."""

    path: str
    model: str
    train_set: str
    method: str
    seed: int
    noise: str | None
    rows: list[dict]


ROW_KEYS = ("item", "condition", "variant", "question_number", "prefix_number", "written")


def load_case_run(summary_path: str | os.PathLike) -> CaseRun:
    """A run's summary JSON and its rows (the JSONL beside it, same stem); errors name the file and key."""
    from cotmask.jsonfiles import read_json_file
    from cotmask.records import iter_jsonl

    summary = read_json_file(summary_path, "case-study summary", CaseStudyError)
    if not isinstance(summary, dict):
        raise CaseStudyError(f"{summary_path}: expected a JSON object (a case-study summary)")
    labels = summary.get("labels") or {}
    missing = [key for key in ("model", "train_set", "method", "seed") if key not in labels]
    if missing:
        raise CaseStudyError(f"{summary_path}: labels.{missing[0]} is missing (run with --label {missing[0]}=...)")
    rows_path = Path(summary_path).with_suffix(".jsonl")
    rows = []
    for line, row in iter_jsonl(rows_path):
        if not isinstance(row, dict):
            raise CaseStudyError(f"{rows_path}:{line}: expected a JSON object")
        absent = [key for key in ROW_KEYS if key not in row]
        if absent:
            raise CaseStudyError(f"{rows_path}:{line}: key {absent[0]!r} is missing")
        if row["condition"] not in CONDITIONS:
            raise CaseStudyError(f"{rows_path}:{line}: condition {row['condition']!r} is not one of {list(CONDITIONS)}")
        rows.append(row)
    if not rows:
        raise CaseStudyError(f"{rows_path}: no rows")
    try:
        seed = int(labels["seed"])
    except (TypeError, ValueError):
        raise CaseStudyError(f"{summary_path}: labels.seed {labels['seed']!r} is not an integer") from None
    return CaseRun(
        path=str(summary_path), model=str(labels["model"]), train_set=str(labels["train_set"]),
        method=str(labels["method"]), seed=seed, noise=(summary.get("fine_tune") or {}).get("noise"),
        rows=rows,
    )


def _matrix(runs: Sequence[CaseRun], condition: str, what: str) -> tuple[list[str], list[list[float]], list[str]]:
    """(item ids, seeds x items matrix of per-item fractions, cluster labels) of one method's runs."""
    from cotmask.stats import check_item_sets, cluster_label

    scores = {run.seed: item_scores(run.rows, condition) for run in runs}
    ids = check_item_sets({f"{what} seed {seed}": list(items) for seed, items in scores.items()})
    clusters = {row["item"]: row.get("cluster") for run in runs for row in run.rows}
    matrix = [[scores[seed][item] for item in ids] for seed in sorted(scores)]
    return ids, matrix, [cluster_label(item, clusters.get(item)) for item in ids]


def _mean_ci(runs: Sequence[CaseRun], condition: str, what: str, n_resamples: int, seed: int) -> tuple:
    from cotmask.stats import bootstrap_mean_ci

    ids, matrix, clusters = _matrix(runs, condition, what)
    mean = sum(map(sum, matrix)) / (len(matrix) * len(ids))
    low, high = bootstrap_mean_ci(matrix, clusters, n_resamples=n_resamples, seed=seed)
    return mean, low, high


def _delta(treatment: Sequence[CaseRun], control: Sequence[CaseRun], condition: str, what: str,
           n_resamples: int, seed: int) -> tuple:
    from cotmask.stats import paired_bootstrap_delta

    t_ids, t_matrix, clusters = _matrix(treatment, condition, what)
    c_ids, c_matrix, _ = _matrix(control, condition, f"{what} (control)")
    if t_ids != c_ids:
        raise CaseStudyError(f"{what}: its items differ from the SFT runs' items (another data file or seed)")
    result = paired_bootstrap_delta(t_matrix, c_matrix, clusters, n_resamples=n_resamples, seed=seed)
    return result.delta, result.ci_low, result.ci_high


def group_runs(runs: Sequence[CaseRun]) -> dict[tuple[str, str, str], list[CaseRun]]:
    """(model, train_set, method) -> its runs sorted by seed (a repeated seed is an error)."""
    groups: dict[tuple[str, str, str], list[CaseRun]] = {}
    for run in runs:
        key = (run.model, run.train_set, run.method)
        if any(other.seed == run.seed for other in groups.get(key, [])):
            raise CaseStudyError(f"{run.path}: a second run of {'/'.join(key)} seed {run.seed}")
        groups.setdefault(key, []).append(run)
    return {key: sorted(group, key=lambda run: run.seed) for key, group in groups.items()}


def _control_method(groups: Mapping, key: tuple[str, str, str], control: str) -> list[CaseRun] | None:
    if key[2] == control:
        return None
    return groups.get((key[0], key[1], control))


def case_study_rows(runs: Sequence[CaseRun], *, control: str = "sft", n_resamples: int = 1000,
                    seed: int = 0) -> list[dict]:
    """One numeric row per (model, train_set, method), recomputed from the runs' rows (module doc)."""
    groups = group_runs(runs)
    table = []
    order = sorted(groups, key=lambda key: (key[0], key[1], key[2] != control, key[2]))  # the control first
    for key in order:
        group = groups[key]
        what = "/".join(key)
        noise = group[0].noise
        reference = paper.paper_row(noise)
        row: dict[str, Any] = {
            "model": key[0], "train_set": key[1], "method": key[2], "noise": noise or "none",
            "paper_method": reference["method"] if reference else None,
            "seeds": len(group), "items": len(_matrix(group, "fig4", what)[0]),
            "prompts_per_run": len(group[0].rows),
        }
        for condition in ("fig4", "fig5", "unchanged"):
            mean, low, high = _mean_ci(group, condition, what, n_resamples, seed)
            row.update({condition: mean, f"{condition}_ci_low": low, f"{condition}_ci_high": high})
        for condition in ("fig4", "fig5"):
            copies = [run_fractions(run.rows)[f"{condition}_copies_prefix"] for run in group]
            row[f"{condition}_copies_prefix"] = sum(copies) / len(copies)
        row["no_operand"] = sum(run_fractions(run.rows)["no_operand"] for run in group) / len(group)
        controls = _control_method(groups, key, control)
        for condition in ("fig4", "fig5"):
            delta = _delta(group, controls, condition, what, n_resamples, seed) if controls else (math.nan,) * 3
            row.update(dict(zip((f"{condition}_vs_{control}", f"{condition}_vs_{control}_ci_low",
                                 f"{condition}_vs_{control}_ci_high"), delta)))
        row["paper_fig4"] = reference["fig4"] if reference else math.nan
        row["paper_fig5"] = reference["fig5"] if reference else math.nan
        table.append(row)
    return table


def _fraction(mean: float, low: float, high: float) -> str:
    from cotmask.report.formatting import MISSING

    if not isinstance(mean, (int, float)) or not math.isfinite(mean):
        return MISSING
    return f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def _signed_fraction(mean: float, low: float, high: float) -> str:
    from cotmask.report.formatting import MISSING

    if not math.isfinite(mean):
        return MISSING
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def _paper_text(value: float) -> str:
    from cotmask.report.formatting import MISSING

    if not math.isfinite(value):
        return MISSING
    return f"{value:g} ({paper.changed_only(value):.2f})"


def display_rows(rows: Sequence[Mapping], control: str = "sft") -> list[dict]:
    """The rows as the Markdown/LaTeX/HTML tables show them (fractions to 2 decimals with 95 % CIs)."""
    shown = []
    for row in rows:
        shown.append({
            "Model": row["model"], "Train set": row["train_set"], "Method": row["method"],
            "Seeds × items": f"{row['seeds']} × {row['items']}",
            "Is q (Fig. 4)": _fraction(row["fig4"], row["fig4_ci_low"], row["fig4_ci_high"]),
            "Is n (Fig. 5)": _fraction(row["fig5"], row["fig5_ci_low"], row["fig5_ci_high"]),
            "Unchanged: is q": _fraction(row["unchanged"], row["unchanged_ci_low"], row["unchanged_ci_high"]),
            f"Fig. 4 − {control}": _signed_fraction(row[f"fig4_vs_{control}"], row[f"fig4_vs_{control}_ci_low"],
                                                   row[f"fig4_vs_{control}_ci_high"]),
            f"Fig. 5 − {control}": _signed_fraction(row[f"fig5_vs_{control}"], row[f"fig5_vs_{control}_ci_low"],
                                                   row[f"fig5_vs_{control}_ci_high"]),
            "Paper row": row["paper_method"] or "–",
            "Paper Fig. 4": _paper_text(row["paper_fig4"]),
            "Paper Fig. 5": _paper_text(row["paper_fig5"]),
        })
    return shown


TABLE_NOTES = (
    (
        "Dependency case study (counterpart of the paper's Table 4, Figs. 4-5): the chain of a held-out two-step "
        "problem is forced up to its first operand after the first operator, q, and the model continues greedily. "
        "Fig. 4: the prefix's operand is replaced by another number of its digit class; the score is the fraction "
        "of variants after which the model still writes the question's q. Fig. 5: the question's q is replaced; "
        "the score is the fraction after which the model writes the question's new number. Unchanged: both say q "
        "(a control)."
    ),
    (
        "Means over seeds and items of each item's fraction of variants, with 95 % two-stage bootstrap intervals "
        "(seeds, then template clusters); differences against the control method paired by item."
    ),
    (
        "Paper: one question (Janet's ducks), 10 variants that include the unchanged one, Llama2-7B GSM8K; in "
        "parentheses its fraction restated over the 9 changed variants, comparable with ours (held-out problems, "
        "every variant changed). The paper's MFT (m=0, r=1) is random-token noise, (m=1, r=0) is [mask]."
    ),
)


def case_study_table(runs: Sequence[CaseRun], *, control: str = "sft", n_resamples: int = 1000, seed: int = 0):
    """The :class:`cotmask.report.formatting.Table` of the runs."""
    from cotmask.report.formatting import Table

    rows = case_study_rows(runs, control=control, n_resamples=n_resamples, seed=seed)
    shown = display_rows(rows, control)
    columns = list(rows[0]) if rows else ["model", "train_set", "method"]
    display_columns = list(shown[0]) if shown else ["Model", "Train set", "Method"]
    title = "Table 4 counterpart: does the model take the operand from the question or from its own chain?"
    return Table.from_rows(TABLE_STEM, title, (rows, columns), (shown, display_columns), list(TABLE_NOTES))


def case_study_paths(out_dir: str | os.PathLike) -> dict[str, Path]:
    """Every file :func:`write_case_study` writes under ``out_dir`` (the rule's outputs)."""
    from cotmask.report.outputs import TABLE_FORMATS

    out = Path(out_dir)
    paths = {f"{TABLE_STEM}.{ext}": out / "tables" / f"{TABLE_STEM}.{ext}" for ext in TABLE_FORMATS}
    paths[f"{FIGURE_NAME}.png"] = out / "figures" / f"{FIGURE_NAME}.png"
    return paths


def plot_case_study(rows: Sequence[Mapping], path: Path) -> None:
    """Two panels (Fig. 4, Fig. 5): each method's fraction with its interval, the paper's as diamonds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cotmask.records import atomic_path

    labels = [f"{row['model']}/{row['train_set']} {row['method']}" for row in rows]
    figure, axes = plt.subplots(1, 2, figsize=(max(7.0, 0.9 * len(rows) + 2), 4.4), sharey=True)
    for axis, condition, title in zip(axes, ("fig4", "fig5"), ("Fig. 4: writes the question's q",
                                                               "Fig. 5: follows the changed question")):
        positions = range(len(rows))
        means = [row[condition] for row in rows]
        errors = [[row[condition] - row[f"{condition}_ci_low"] for row in rows],
                  [row[f"{condition}_ci_high"] - row[condition] for row in rows]]
        axis.bar(positions, means, yerr=errors, color="#7a9cc6", capsize=3, label="this study")
        paper_values = [(i, paper.changed_only(row[f"paper_{condition}"])) for i, row in enumerate(rows)
                        if math.isfinite(row[f"paper_{condition}"])]
        if paper_values:
            axis.scatter(*zip(*paper_values), marker="D", color="#c0504d", zorder=3,
                         label="paper (9 changed variants)")
        axis.set_xticks(list(positions), labels, fontsize=7, rotation=55, ha="right")
        axis.set_title(title, fontsize=9)
        axis.set_ylim(0, 1.05)
    axes[0].set_ylabel("fraction of variants")
    axes[1].legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)


def write_case_study(summary_paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                     control: str = "sft", n_resamples: int = 1000, seed: int = 0) -> list[dict]:
    """Read every run (summary + rows), write the table and the figure under ``out_dir``; return the rows."""
    if not summary_paths:
        raise CaseStudyError("no case-study runs given")
    runs = [load_case_run(path) for path in summary_paths]
    table = case_study_table(runs, control=control, n_resamples=n_resamples, seed=seed)
    tables_dir = Path(out_dir) / "tables"
    tables_dir.mkdir(parents=True, exist_ok=True)
    table.write(tables_dir)
    rows = table.records()
    plot_case_study(table.numeric.to_dict(orient="records"), case_study_paths(out_dir)[f"{FIGURE_NAME}.png"])
    return rows
