"""Dependency distance of a fine-tuned model (paper Sec. 2.2, Fig. 1; App. D, Figs. 9-11).

The paper iterates over pairs of numeric tokens of a sequence, disturbs the first and records whether the
model's prediction of the second changes (CXPlain-style perturbation), then plots the dependency rate against
the token distance. Here, for one model:

1. each test record becomes its training sequence, BOS + tokens of ``prompt + " " + solution`` + EOS
   (:mod:`cotmask.encoding`, with the prompt template the model was fine-tuned with), fed teacher-forced;
2. a *numeric token* is a token whose text is only digits (with the embedded tokenizer's whole-number mode a
   number is usually one token, with digit splitting each digit is one);
3. a *source* is a numeric token; its *perturbation* replaces it by another numeric token of the same length
   class (same number of digits, no leading zero unless the original has one), drawn from the vocabulary with
   a generator seeded by (seed, item id, position, draw), so every model of a tokenizer sees the same edits;
4. a *target* is a numeric token of the solution after the source; the pair depends when the greedy
   (argmax) prediction of the target position, i.e. the logits at the position before it, differs between
   the original and the perturbed sequence. One forward pass per perturbed sequence gives every target of
   its source; the passes are batched (right padding, so positions and causal attention are unchanged);
5. pairs are counted per item, panel and distance bin (distance = target position - source position).

Panels: ``chain`` (source and target in the solution, Fig. 1a) and ``question`` (source in the question,
Fig. 1b) on the test benchmark; on the GSM-IC benchmarks (records whose ``metadata.distractor`` names the
inserted sentence) ``irrelevant`` (source = the distractor's number, which the gold solution never uses:
the calibration of the method, it should change little) and ``question_ic`` (the other question numbers of
the same sequences, for scale).

The per-run file (:func:`write_run`) holds, per item, ``[changed, pairs]`` for every panel and bin (a pair
counted once per perturbation draw) and the teacher-forced accuracy at the numeric targets; the tables
(:mod:`cotmask.analysis.dependency_table`) recompute from it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cotmask.encoding import split_tokens
from cotmask.prompts import format_prompt
from cotmask.records import atomic_path, read_jsonl

logger = logging.getLogger(__name__)

#: Format tag of a per-run file.
RUN_FORMAT = "cotmask.dependency/1"
#: Panels of the test benchmark and of the GSM-IC (control) benchmarks.
TEST_PANELS = ("chain", "question")
CONTROL_PANELS = ("irrelevant", "question_ic")
PANELS = TEST_PANELS + CONTROL_PANELS
#: Benchmark roles: ``test`` (Fig. 1a/1b) and ``control`` (the irrelevant-number control, GSM-IC records).
ROLES = ("test", "control")
#: Lower edges of the distance bins (tokens): 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+.
DEFAULT_BIN_EDGES = (1, 2, 4, 8, 16, 32, 64)
DIGITS = re.compile(r"[0-9]+")


# ----------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class DependencySettings:
    """What a run measures: ``items`` records per benchmark (file order; None = all), ``perturbations``
    draws per source, the draws' ``seed``, the distance ``bin_edges`` and the forward ``batch_size``."""

    items: int | None = 100
    perturbations: int = 1
    seed: int = 0
    bin_edges: tuple[int, ...] = DEFAULT_BIN_EDGES
    batch_size: int = 64

    def __post_init__(self) -> None:
        edges = tuple(int(edge) for edge in self.bin_edges)
        object.__setattr__(self, "bin_edges", edges)
        if not edges or edges[0] != 1 or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"bin_edges must start at 1 and increase, got {list(edges)}")
        if self.items is not None and self.items < 1:
            raise ValueError(f"items must be at least 1 (or null for all), got {self.items}")
        if self.perturbations < 1:
            raise ValueError(f"perturbations must be at least 1, got {self.perturbations}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


def bin_labels(edges: Sequence[int]) -> list[str]:
    """``[1, 2, 4, 64]`` -> ``['1', '2-3', '4-63', '64+']``."""
    labels = []
    for low, high in zip(edges, [*edges[1:], None]):
        if high is None:
            labels.append(f"{low}+")
        elif high == low + 1:
            labels.append(str(low))
        else:
            labels.append(f"{low}-{high - 1}")
    return labels


def distance_bin(distance: int, edges: Sequence[int]) -> int:
    """Index of the bin of a positive token distance."""
    if distance < 1:
        raise ValueError(f"a dependency distance is at least 1, got {distance}")
    index = 0
    for position, low in enumerate(edges):
        if distance >= low:
            index = position
    return index


# ---------------------------------------------------------------------------------------- numeric tokens
def is_numeric(token_text: str) -> bool:
    """A numeric token: only ASCII digits (no space marker)."""
    return bool(token_text) and DIGITS.fullmatch(token_text) is not None


def numeric_vocabulary(tokenizer: Any) -> dict[int, list[int]]:
    """Token ids of the numeric tokens of the vocabulary by length class (number of digits), sorted."""
    classes: dict[int, list[int]] = {}
    for text, token_id in tokenizer.get_vocab().items():
        if is_numeric(text):
            classes.setdefault(len(text), []).append(token_id)
    return {length: sorted(ids) for length, ids in sorted(classes.items())}


def replacement_candidates(text: str, vocabulary: Mapping[int, list[int]], texts: Mapping[int, str]) -> list[int]:
    """Ids a numeric token ``text`` may be replaced by: other numeric tokens of its length class, without a
    leading zero unless ``text`` has one (a perturbed number stays a number of the same length)."""
    leading_zero_ok = len(text) == 1 or text.startswith("0")
    return [
        token_id for token_id in vocabulary.get(len(text), [])
        if texts[token_id] != text and (leading_zero_ok or not texts[token_id].startswith("0"))
    ]


def draw_replacement(candidates: Sequence[int], seed: int, item_id: str, position: int, draw: int) -> int:
    """One replacement from ``candidates``, the same for the same (seed, item, position, draw) in any run."""
    if not candidates:
        raise ValueError(f"{item_id}: no other numeric token of the same length to put at position {position}")
    return random.Random(f"{seed}|{item_id}|{position}|{draw}").choice(list(candidates))


# --------------------------------------------------------------------------------------------- sequences
@dataclass
class ItemSequence:
    """One teacher-forced sequence: its ids, where its question ends, its sources (position, panel) and its
    targets (positions of the solution's numeric tokens)."""

    item_id: str
    benchmark: str
    role: str
    cluster: str | None
    ids: list[int]
    prompt_length: int
    sources: list[tuple[int, str]] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)


def encode_with_offsets(tokenizer: Any, question: str, solution: str,
                        template: str) -> tuple[list[int], int, list, int]:
    """The training sequence of a record (BOS + prompt + " " + solution + EOS, as :func:`cotmask.encoding.
    encode_example` without truncation), its prompt length, the character offsets of its text tokens in
    ``prompt + " " + solution`` and the offset of the question in that text."""
    prompt = format_prompt(question, template)
    text = prompt + " " + solution
    ids, n_prompt = split_tokens(tokenizer, prompt, " " + solution)
    try:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, ValueError, TypeError):
        raise ValueError("the dependency analysis needs a fast tokenizer (character offsets)") from None
    if list(encoded["input_ids"]) != ids:
        raise ValueError("the tokenizer does not encode prompt and solution as one text (no offsets to use)")
    prefix = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    offsets = [(-1, -1)] * len(prefix) + [tuple(span) for span in encoded["offset_mapping"]] + [(-1, -1)]
    return prefix + ids + [tokenizer.eos_token_id], len(prefix) + n_prompt, offsets, prompt.index(question)


def distractor_span(record: Mapping[str, Any]) -> tuple[int, int]:
    """Character span, in the question, of the number of a GSM-IC record's distractor sentence."""
    metadata = record.get("metadata") or {}
    sentence = metadata.get("distractor")
    if not isinstance(sentence, str) or not sentence:
        raise ValueError(f"record {record['id']!r} has no metadata.distractor: the irrelevant control needs "
                         "GSM-IC records (cotmask.data.distractors)")
    start = record["question"].find(sentence)
    numbers = list(DIGITS.finditer(sentence))
    if start < 0 or not numbers:
        raise ValueError(f"record {record['id']!r}: its distractor {sentence!r} is not a sentence of the question "
                         "with a number")
    return start + numbers[0].start(), start + numbers[0].end()


def build_sequence(tokenizer: Any, record: Mapping[str, Any], benchmark: str, role: str, template: str,
                   token_texts: Sequence[str], cluster_by: str | None = "template") -> ItemSequence:
    """The sequence of one record with its sources and targets (panels of ``role``)."""
    if role not in ROLES:
        raise ValueError(f"unknown benchmark role {role!r}; choose one of {list(ROLES)}")
    ids, prompt_length, offsets, question_at = encode_with_offsets(
        tokenizer, record["question"], record["solution"], template)
    cluster = (record.get("metadata") or {}).get(cluster_by) if cluster_by else None
    cluster = None if cluster is None else str(cluster)
    sequence = ItemSequence(str(record["id"]), benchmark, role, cluster, ids, prompt_length)
    numeric = [pos for pos, token_id in enumerate(ids) if offsets[pos][0] >= 0 and is_numeric(token_texts[token_id])]
    sequence.targets = [pos for pos in numeric if pos >= prompt_length]
    if role == "test":
        sequence.sources = [(pos, "chain" if pos >= prompt_length else "question") for pos in numeric]
        return sequence
    low, high = (question_at + edge for edge in distractor_span(record))
    for pos in numeric:
        if pos < prompt_length:
            inside = offsets[pos][0] >= low and offsets[pos][1] <= high
            sequence.sources.append((pos, "irrelevant" if inside else "question_ic"))
    return sequence


def dependency_pairs(sequence: ItemSequence) -> list[tuple[int, int, str]]:
    """(source, target, panel) of every pair of a sequence: a target after its source."""
    return [(source, target, panel) for source, panel in sequence.sources for target in sequence.targets
            if target > source]


# ------------------------------------------------------------------------------------------- predictions
def greedy_predictions(model: Any, rows: Sequence[Sequence[int]], pad_id: int) -> list[list[int]]:
    """Argmax of the model's logits at every position of each row (a list per row, its own length): one
    teacher-forced forward pass of the batch, right-padded with an attention mask."""
    import torch

    device = next(model.parameters()).device
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        input_ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention[index, : len(row)] = 1
    with torch.inference_mode():
        logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits
        best = logits.argmax(dim=-1).cpu()
    return [best[index, : len(row)].tolist() for index, row in enumerate(rows)]


@dataclass(frozen=True)
class _Pass:
    """One forward pass: the sequence, the perturbed source position (None: the original) and the draw."""

    sequence: int
    source: int | None
    draw: int
    ids: tuple[int, ...]


def _passes(sequences: Sequence[ItemSequence], settings: DependencySettings, vocabulary: Mapping[int, list[int]],
            texts: Mapping[int, str]) -> list[_Pass]:
    passes = []
    for index, sequence in enumerate(sequences):
        passes.append(_Pass(index, None, 0, tuple(sequence.ids)))
        for source, _panel in sequence.sources:
            if not any(target > source for target in sequence.targets):
                continue  # no pair: nothing to measure
            original = texts[sequence.ids[source]]
            candidates = replacement_candidates(original, vocabulary, texts)
            for draw in range(settings.perturbations):
                ids = list(sequence.ids)
                ids[source] = draw_replacement(candidates, settings.seed, sequence.item_id, source, draw)
                passes.append(_Pass(index, source, draw, tuple(ids)))
    return passes


def _run_passes(model: Any, passes: Sequence[_Pass], batch_size: int, pad_id: int,
                targets: Sequence[Sequence[int]]) -> dict[tuple[int, int | None, int], list[int]]:
    """Predictions at the target positions of every pass (batched by length, longest first)."""
    from cotmask.logs import Progress

    order = sorted(range(len(passes)), key=lambda i: (-len(passes[i].ids), i))
    progress = Progress(len(passes), "dependency passes", unit="sequences", quiet_if_quick=True)
    out = {}
    for start in range(0, len(order), batch_size):
        batch = [passes[i] for i in order[start : start + batch_size]]
        predictions = greedy_predictions(model, [p.ids for p in batch], pad_id)
        for one, predicted in zip(batch, predictions):
            out[(one.sequence, one.source, one.draw)] = [predicted[t - 1] for t in targets[one.sequence]]
        progress.advance(len(batch))
    return out


def count_dependencies(sequences: Sequence[ItemSequence], predictions: Mapping[tuple, list[int]],
                       settings: DependencySettings) -> list[dict]:
    """Per item: ``counts[panel] = [[changed, pairs] per bin]`` and ``numeric = [correct, targets]`` (the
    original sequence's greedy predictions at its targets against the gold tokens)."""
    n_bins = len(settings.bin_edges)
    items = []
    for index, sequence in enumerate(sequences):
        original = predictions[(index, None, 0)]
        where = {target: k for k, target in enumerate(sequence.targets)}
        panels = TEST_PANELS if sequence.role == "test" else CONTROL_PANELS
        counts = {panel: [[0, 0] for _ in range(n_bins)] for panel in panels}
        for source, target, panel in dependency_pairs(sequence):
            cell = counts[panel][distance_bin(target - source, settings.bin_edges)]
            for draw in range(settings.perturbations):
                changed = predictions[(index, source, draw)][where[target]] != original[where[target]]
                cell[0] += int(changed)
                cell[1] += 1
        correct = sum(original[k] == sequence.ids[t] for k, t in enumerate(sequence.targets))
        items.append({"id": sequence.item_id, "benchmark": sequence.benchmark, "cluster": sequence.cluster,
                      "counts": counts, "numeric": [int(correct), len(sequence.targets)]})
    return items


def measure_dependencies(model: Any, tokenizer: Any, benchmarks: Mapping[str, tuple[Sequence[Mapping], str]],
                         settings: DependencySettings, *, template: str, cluster_by: str | None = "template",
                         max_positions: int | None = None) -> dict:
    """Counts of one model on ``benchmarks`` (name -> (records, role)); records longer than
    ``max_positions`` tokens are left out (and counted). ``model`` needs only a ``forward`` returning
    ``logits`` (``AutoModelForCausalLM``)."""
    vocabulary = numeric_vocabulary(tokenizer)
    token_texts = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    texts = {token_id: token_texts[token_id] for ids in vocabulary.values() for token_id in ids}
    sequences, skipped = [], {}
    for name, (records, role) in benchmarks.items():
        chosen = list(records)[: settings.items] if settings.items is not None else list(records)
        for record in chosen:
            sequence = build_sequence(tokenizer, record, name, role, template, token_texts, cluster_by)
            if max_positions is not None and len(sequence.ids) > max_positions:
                skipped[name] = skipped.get(name, 0) + 1
                continue
            sequences.append(sequence)
    passes = _passes(sequences, settings, vocabulary, texts)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    started = time.perf_counter()
    predictions = _run_passes(model, passes, settings.batch_size, pad_id, [s.targets for s in sequences])
    wall = time.perf_counter() - started
    items = count_dependencies(sequences, predictions, settings)
    logger.info("dependency: %d items, %d forward sequences (%d tokens) in %.1f s", len(items), len(passes),
                sum(len(p.ids) for p in passes), wall)
    return {
        "bins": bin_labels(settings.bin_edges),
        "items": items,
        "skipped_too_long": skipped,
        "cost": {"sequences": len(passes), "tokens": sum(len(p.ids) for p in passes), "forward_wall_s": round(wall, 3)},
    }


# ---------------------------------------------------------------------------------------------- one run
RUN_PATH = re.compile(r"(?P<model>[^/]+)/(?P<train_set>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/?$")


def run_labels(model_dir: str | os.PathLike, name: str | None = None) -> dict:
    """(model, train_set, method, seed) of a run: ``name`` written ``MODEL/TRAIN_SET/METHOD/SEED``, else the
    last four parts of a workflow fine-tune folder (``.../{model}/{train_set}/{method}/seed{seed}``)."""
    if name is not None:
        parts = name.split("/")
        if len(parts) != 4 or not parts[3].isdigit():
            raise ValueError(f"run name {name!r}: write it MODEL/TRAIN_SET/METHOD/SEED (a number)")
        return {"model": parts[0], "train_set": parts[1], "method": parts[2], "seed": int(parts[3])}
    match = RUN_PATH.search(Path(model_dir).as_posix())
    if match is None:
        raise ValueError(f"{model_dir}: not a folder .../MODEL/TRAIN_SET/METHOD/seedN; name the run with --name")
    return {**match.groupdict(), "seed": int(match.group("seed"))}


def read_benchmarks(benchmarks: Mapping[str, Mapping[str, str]]) -> dict[str, tuple[list[dict], str]]:
    """name -> {file, role} as name -> (records, role); every file read (and checked) before any model."""
    read = {}
    for name, spec in benchmarks.items():
        role = spec.get("role")
        if role not in ROLES:
            raise ValueError(f"benchmark {name!r}: role must be one of {list(ROLES)}, got {role!r}")
        read[name] = (read_jsonl(spec["file"]), role)
    if not read:
        raise ValueError("no benchmark given")
    return read


def run_dependency(model_dir: str | os.PathLike, benchmarks: Mapping[str, Mapping[str, str]],
                   out: str | os.PathLike, *, settings: DependencySettings | Mapping | None = None,
                   prompt_template: str | None = None, cluster_by: str | None = "template",
                   threads: int = 1, name: str | None = None) -> dict:
    """Measure one fine-tuned model and write its per-run file ``out`` (:func:`write_run`).

    ``benchmarks``: name -> ``{"file": records JSONL, "role": "test" | "control"}``. The prompt template is
    the one recorded with the fine-tune unless given (:func:`cotmask.evaluate.resolve_prompt_template`);
    ``settings`` a :class:`DependencySettings` or its keywords (the workflow's params).
    """
    from cotmask.checkpoints import model_source
    from cotmask.evaluate import resolve_prompt_template
    from cotmask.generation import load_model

    if not isinstance(settings, DependencySettings):
        settings = DependencySettings(**(settings or {}))
    model_source(model_dir)  # a missing folder is named before anything else
    labels = run_labels(model_dir, name)
    data = read_benchmarks(benchmarks)
    template = resolve_prompt_template(model_dir, prompt_template)
    started = time.perf_counter()
    model, tokenizer = load_model(model_dir, threads=threads)
    max_positions = getattr(model.config, "max_position_embeddings", None)
    result = measure_dependencies(model, tokenizer, data, settings, template=template, cluster_by=cluster_by,
                                  max_positions=max_positions)
    result["cost"].update({"wall_s": round(time.perf_counter() - started, 3), "threads": int(threads),
                           "device": str(next(model.parameters()).device)})
    run = {
        "format": RUN_FORMAT,
        "run": labels,
        "model_dir": str(model_dir),
        "prompt_template": template,
        "benchmarks": {name: dict(spec) for name, spec in sorted(benchmarks.items())},
        "settings": {**asdict(settings), "bin_edges": list(settings.bin_edges), "cluster_by": cluster_by},
        **result,
    }
    write_run(run, out)
    return run


def write_run(run: Mapping[str, Any], out: str | os.PathLike) -> None:
    """Write a per-run file atomically: the header indented, then one line per item (small, diff-friendly)."""
    head = {key: value for key, value in run.items() if key != "items"}
    lines = [json.dumps(item, sort_keys=True, separators=(",", ":")) for item in run["items"]]
    text = json.dumps(head, indent=1, sort_keys=True)[:-2] + ',\n "items": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def read_run(path: str | os.PathLike) -> dict:
    """A per-run file, checked: its format tag, labels, bins and every item's counts (ValueError naming the
    file otherwise)."""
    from cotmask.jsonfiles import read_json_file

    run = read_json_file(path, "dependency run file")
    if not isinstance(run, dict) or run.get("format") != RUN_FORMAT:
        raise ValueError(f"{path}: not a dependency run file (format {RUN_FORMAT!r})")
    n_bins = len(run.get("bins") or [])
    for key in ("model", "train_set", "method", "seed"):
        if key not in (run.get("run") or {}):
            raise ValueError(f"{path}: run.{key} is missing")
    for number, item in enumerate(run.get("items") or []):
        for panel, cells in (item.get("counts") or {}).items():
            if panel not in PANELS or len(cells) != n_bins or any(not 0 <= c <= n for c, n in cells):
                raise ValueError(f"{path}: items[{number}].counts.{panel} is not [changed, pairs] per bin")
    return run


def iter_counts(run: Mapping[str, Any]) -> Iterable[tuple[dict, str, int, int, int]]:
    """(item, panel, bin index, changed, pairs) of every non-empty cell of a run."""
    for item in run["items"]:
        for panel, cells in item["counts"].items():
            for index, (changed, pairs) in enumerate(cells):
                if pairs:
                    yield item, panel, index, changed, pairs
