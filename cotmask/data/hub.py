"""Paper-scale sources: hub datasets or local files in each project's own format, normalised to records.

Sources (shared/paper.md §4) and the formats each accepts (auto-detected from the fields of the first
row, or named with the ``format`` option):

=============  =========================================  ==============================================
source         default location                           formats
=============  =========================================  ==============================================
gsm8k          hub ``openai/gsm8k`` (config ``main``)     gsm8k {question, answer}; mft {source:[q],
                                                          target:[a]}; query_response {query, response}
math           hub ``EleutherAI/hendrycks_math`` (one     math {problem, solution, level, type};
               config per subject; or                     mft; query_response; instruction_output;
               ``hendrycks/competition_math``)            the original MATH tree (split/subject/N.json)
metamathqa     hub ``meta-math/MetaMathQA``               query_response {query, response, type,
                                                          original_question}
mathinstruct   hub ``TIGER-Lab/MathInstruct``             instruction_output {source, instruction, output}
gsm8k_rft      OFA-Sys/gsm8k-ScRel ``data/rft/*.jsonl``   query_response; mft
               (raw file URL; option ``variant``)
gsm_ic         google-research-datasets/GSM-IC            gsm_ic {new_question, answer, n_steps,
               ``GSM-IC_2step.json`` / ``_mstep.json``    original_question, role_label, ...}
=============  =========================================  ==============================================

Gold answers (read by :mod:`cotmask.answers`, the rules the scorer applies to predictions): GSM-style =
the number after the first ``####`` (or after the last ``The answer is``); MATH = the last ``\\boxed{}``;
MetaMathQA = the text after the last ``The answer is:``; GSM-IC = its ``answer`` field. A row without
one, or with a missing/empty field, or a line that is not JSON (or not UTF-8, or holds a lone surrogate
``\\ud800``), stops the build with a :class:`~cotmask.records.RecordError` naming file, line and field.
MathInstruct is the exception: its program-of-thought rows (and some free-form CoT rows) carry no final
answer by design; they are kept with ``answer = "[unextracted]"`` and ``metadata.answer_extracted =
false`` and counted in stats. GSM-IC has no solutions; its records carry ``solution = "#### N"`` and
``metadata.solution_available = false`` (it is an evaluation set).

Rows that repeat an earlier row's question and solution are kept (the source is reproduced as published)
and counted: ``stats.json`` gives ``duplicate_rows`` per split and the first few as ``file:line`` pairs.

Local files (option ``local_path``): JSONL, a JSON array (``.json``; a ``.json`` file that does not start
with ``[`` is read as JSONL, like the MFT repository's ``gsm8k_train.json``) or parquet. ``local_path`` is
either one file (then ``splits`` must name the one split it holds) or a directory searched per split
for ``{split}.jsonl|json|parquet``, ``{split}-*.parquet`` and the original file names listed in
:data:`LOCAL_NAMES`. Without ``local_path`` the hub (or URL) is used; when it cannot be reached (no
network, ``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE``), :class:`HubUnavailableError` says so and points to
``local_path``.

Options common to all: ``local_path``, ``format``, ``splits``, ``hub_id``, ``hub_config``, ``revision``,
``cache_dir``, ``limit`` (seeded subsample of each split; the dropped rows are counted) and ``seed``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cotmask.answers import boxed_answer, gsm8k_answer, normalize_number, numeric_answer, stated_answer
from cotmask.data.options import Option, at_least
from cotmask.records import (
    RecordError,
    check_text,
    create_temp_file,
    dataset_stats,
    decode_text,
    may_hold_surrogate,
    parse_json_line,
)

UNEXTRACTED = "[unextracted]"
MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                 "prealgebra", "precalculus")
RFT_FILES = {
    "rft100_llama2_7b": "llama_7b2.jsonl",
    "rft100_llama2_13b": "llama_13b2.jsonl",
    "u13b": "u13b.jsonl",
    "u33b": "u33b.jsonl",
}
RFT_URL = "https://raw.githubusercontent.com/OFA-Sys/gsm8k-ScRel/main/data/rft/{file}"
GSM_IC_URL = "https://raw.githubusercontent.com/google-research-datasets/GSM-IC/main/{file}"
GSM_IC_FILES = {"ic_2step": "GSM-IC_2step.json", "ic_mstep": "GSM-IC_mstep.json"}

LOCAL_NAMES: dict[str, dict[str, list[str]]] = {
    "gsm8k": {"train": ["gsm8k_train.json", "gsm8k_train.jsonl", "train_use.jsonl"],
              "test": ["gsm8k_test.json", "gsm8k_test.jsonl", "test_use.jsonl", "GSM8K_test.jsonl"]},
    "math": {"train": ["math.json", "math_train.json", "MATH_train.jsonl"],
             "test": ["math_test.json", "MATH_test.jsonl"]},
    "metamathqa": {"train": ["MetaMathQA-395K.json"]},
    "mathinstruct": {"train": ["MathInstruct.json"], "train_cot": ["MathInstruct.json"],
                     "train_pot": ["MathInstruct.json"]},
    "gsm8k_rft": {"train": list(RFT_FILES.values())},
    "gsm_ic": {split: [name] for split, name in GSM_IC_FILES.items()},
}


class HubUnavailableError(ConnectionError):
    """The hub (or a download URL) cannot be reached; the message points to the ``local_path`` option."""


# =================================================================== formats
@dataclass(frozen=True)
class Row:
    """One raw row and where it came from (for error messages)."""

    path: str
    line: int | None
    data: Any


FORMAT_FIELDS: dict[str, tuple[str, ...]] = {
    "gsm_ic": ("new_question", "answer"),
    "gsm8k": ("question", "answer"),
    "mft": ("source", "target"),
    "query_response": ("query", "response"),
    "math": ("problem", "solution"),
    "instruction_output": ("instruction", "output"),
}


def _text(row: Row, field: str) -> str:
    data = row.data
    if field not in data:
        raise RecordError(row.path, row.line, field, "is missing")
    value = data[field]
    if isinstance(value, list):  # MFT format: {"source": [question], "target": [answer]}
        if len(value) != 1 or not isinstance(value[0], str):
            raise RecordError(row.path, row.line, field, "must be a string or a list holding one string")
        value = value[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and field == "answer":
        value = str(value)
    if not isinstance(value, str):
        raise RecordError(row.path, row.line, field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise RecordError(row.path, row.line, field, "is empty")
    return value.strip()


def detect_format(row: Row, allowed: tuple[str, ...]) -> str:
    if not isinstance(row.data, dict):
        raise RecordError(row.path, row.line, None, f"expected a JSON object, got {type(row.data).__name__}")
    for name in allowed:
        if all(f in row.data for f in FORMAT_FIELDS[name]):
            return name
    expected = "; ".join(f"{n} {{{', '.join(FORMAT_FIELDS[n])}}}" for n in allowed)
    raise RecordError(row.path, row.line, None,
                      f"unrecognised fields {sorted(row.data)}; expected one of: {expected} (or set option 'format')")


def question_solution(row: Row, fmt: str) -> tuple[str, str]:
    """(question, solution) of a row in a known format."""
    if not isinstance(row.data, dict):
        raise RecordError(row.path, row.line, None, f"expected a JSON object, got {type(row.data).__name__}")
    q_field, s_field = FORMAT_FIELDS[fmt]
    return _text(row, q_field), _text(row, s_field)


# ======================================================== answers per source
def numeric_gold(row: Row, solution: str, field: str) -> str:
    """GSM-style gold: ``#### N`` (or ``The answer is N``, N one plain number)."""
    found = numeric_answer(solution, strict=True)
    if found is None:
        raise RecordError(row.path, row.line, field, "no final answer ('#### N' or 'The answer is N') in the solution")
    return found


def boxed_gold(row: Row, solution: str, field: str) -> str:
    found = boxed_answer(solution)
    if found is None:
        stated = stated_answer(solution)
        if stated is None:
            raise RecordError(row.path, row.line, field, "no \\boxed{} answer in the solution")
        found = stated
    return found


def stated_gold(row: Row, solution: str, field: str) -> str:
    found = stated_answer(solution)
    if found is None:
        raise RecordError(row.path, row.line, field, "no 'The answer is: X' line in the response")
    return found


def gsm_steps(solution: str) -> int:
    """Number of reasoning lines before the final ``####`` line (GSM8K's n_steps convention)."""
    lines = [l for l in solution.split("\n") if l.strip()]
    return sum(1 for l in lines if not l.strip().startswith("####"))


# ================================================================= sources
Converter = Callable[[Row, str, dict], tuple[dict, str | None]]  # -> (partial record, counter key or None)


def convert_gsm8k(row: Row, fmt: str, options: dict) -> tuple[dict, str | None]:
    question, solution = question_solution(row, fmt)
    answer = numeric_gold(row, solution, FORMAT_FIELDS[fmt][1])
    return {"question": question, "solution": solution, "answer": answer,
            "metadata": {"n_steps": gsm_steps(solution)}}, None


def convert_math(row: Row, fmt: str, options: dict) -> tuple[dict, str | None]:
    question, solution = question_solution(row, fmt)
    answer = boxed_gold(row, solution, FORMAT_FIELDS[fmt][1])
    meta = {k: row.data[k] for k in ("level", "type") if k in row.data and isinstance(row.data[k], (str, int))}
    return {"question": question, "solution": solution, "answer": answer, "metadata": meta}, None


def convert_metamathqa(row: Row, fmt: str, options: dict) -> tuple[dict, str | None]:
    question, solution = question_solution(row, fmt)
    kind = row.data.get("type")
    if options.get("types") and kind not in options["types"]:
        return {}, "type_not_selected"
    answer = stated_gold(row, solution, FORMAT_FIELDS[fmt][1])
    meta = {k: row.data[k] for k in ("type", "original_question") if isinstance(row.data.get(k), str)}
    return {"question": question, "solution": solution, "answer": answer, "metadata": meta}, None


def rationale_of(row: Row, output: str) -> str:
    origin = str(row.data.get("source", ""))
    if "PoT" in origin:
        return "pot"
    if "CoT" in origin:
        return "cot"
    return "pot" if "print(" in output else "cot"


def convert_mathinstruct(row: Row, fmt: str, options: dict) -> tuple[dict, str | None]:
    question, solution = question_solution(row, fmt)
    rationale = rationale_of(row, solution)
    wanted = options["_rationale"]
    if wanted != "all" and rationale != wanted:
        return {}, f"rationale_{rationale}_not_selected"
    answer = None
    if rationale == "cot":
        answer = boxed_answer(solution) or stated_answer(solution) or gsm8k_answer(solution)
    meta: dict[str, Any] = {"rationale": rationale, "answer_extracted": answer is not None}
    if isinstance(row.data.get("source"), str):
        meta["origin"] = row.data["source"]
    return {"question": question, "solution": solution, "answer": answer or UNEXTRACTED, "metadata": meta}, None


def convert_gsm_ic(row: Row, fmt: str, options: dict) -> tuple[dict, str | None]:
    question = _text(row, "new_question")
    raw = _text(row, "answer")
    answer = normalize_number(raw)
    if answer is None:
        raise RecordError(row.path, row.line, "answer", f"not a number: {raw!r}")
    meta: dict[str, Any] = {"solution_available": False}
    for key in ("n_steps", "original_question", "role", "number", "sentence_template", "role_label",
                "number_label", "sentence_label"):
        if key in row.data and isinstance(row.data[key], (str, int, float)):
            meta[key] = row.data[key]
    if isinstance(meta.get("n_steps"), str) and meta["n_steps"].isdigit():
        meta["n_steps"] = int(meta["n_steps"])
    if isinstance(meta.get("original_question"), str):
        digest = hashlib.sha1(meta["original_question"].encode("utf-8")).hexdigest()[:10]
        meta["template"] = f"gsmic-{digest}"  # the base problem: the cluster unit of the bootstrap
    return {"question": question, "solution": f"#### {answer}", "answer": answer, "metadata": meta}, None


def _common_options(splits: tuple[str, ...], default_splits: tuple[str, ...], formats: tuple[str, ...],
                    hub_id: str, hub_config: str | None) -> list[Option]:
    return [
        Option("local_path", str, None, "local file or directory (instead of the hub)", nullable=True),
        Option("format", str, None, "input format (default: detected from the fields)", nullable=True,
               choices=formats),
        Option("splits", list, list(default_splits), "splits to write", choices=splits),
        Option("hub_id", str, hub_id, "hub dataset id (or URL template for URL sources)"),
        Option("hub_config", str, hub_config, "hub config name", nullable=True),
        Option("revision", str, None, "hub revision", nullable=True),
        Option("cache_dir", str, None, "datasets / download cache directory", nullable=True),
        Option("limit", int, None, "keep a seeded random subset of this many rows per split", at_least(1),
               nullable=True),
        Option("seed", int, 0, "seed of the 'limit' subsample"),
    ]


@dataclass(frozen=True)
class HubSource:
    name: str
    description: str
    splits: tuple[str, ...]
    default_splits: tuple[str, ...]
    formats: tuple[str, ...]
    convert: Converter
    hub_id: str
    hub_config: str | None = None
    extra_options: tuple[Option, ...] = ()
    url_files: dict[str, str] | None = None  # URL sources: split -> file name (None: datasets hub)
    one_file: bool = False  # every split is a view of the same data (MathInstruct's CoT/PoT splits)

    @property
    def options(self) -> dict[str, Option]:
        opts = _common_options(self.splits, self.default_splits, self.formats, self.hub_id, self.hub_config)
        return {o.name: o for o in opts + list(self.extra_options)}


HUB_SOURCES: dict[str, HubSource] = {
    s.name: s
    for s in [
        HubSource("gsm8k", "GSM8K (openai/gsm8k main; or local GSM8K/MFT/query-response files)",
                  ("train", "test"), ("train", "test"), ("gsm8k", "mft", "query_response"), convert_gsm8k,
                  "openai/gsm8k", "main"),
        HubSource("math", "Hendrycks MATH (EleutherAI/hendrycks_math subjects; gold = last \\boxed{})",
                  ("train", "test"), ("train", "test"), ("math", "mft", "query_response", "instruction_output"),
                  convert_math, "EleutherAI/hendrycks_math", None,
                  (Option("subjects", list, list(MATH_SUBJECTS), "MATH subjects (hub configs / tree folders)",
                          choices=MATH_SUBJECTS),)),
        HubSource("metamathqa", "MetaMathQA (meta-math/MetaMathQA; query/response ending 'The answer is: X')",
                  ("train",), ("train",), ("query_response",), convert_metamathqa, "meta-math/MetaMathQA", None,
                  (Option("types", list, None, "keep only these MetaMathQA types (e.g. GSM_AnsAug)", nullable=True),)),
        HubSource("mathinstruct", "MathInstruct (TIGER-Lab/MathInstruct; CoT and PoT rationales kept apart)",
                  ("train", "train_cot", "train_pot"), ("train",), ("instruction_output",), convert_mathinstruct,
                  "TIGER-Lab/MathInstruct", one_file=True),
        HubSource("gsm8k_rft", "GSM8K-RFT query/response files of OFA-Sys/gsm8k-ScRel (RFT-100, U13B, U33B)",
                  ("train",), ("train",), ("query_response", "mft"), convert_gsm8k, RFT_URL, None,
                  (Option("variant", str, "u33b", "which RFT file", choices=tuple(RFT_FILES)),),
                  url_files={"train": "{variant}"}),
        HubSource("gsm_ic", "GSM-IC 2-step and m-step distractor sets (google-research-datasets/GSM-IC)",
                  ("ic_2step", "ic_mstep"), ("ic_2step", "ic_mstep"), ("gsm_ic",), convert_gsm_ic, GSM_IC_URL,
                  None, (), url_files=dict(GSM_IC_FILES)),
    ]
}


# =================================================================== reading
def _json_array_rows(path: Path, text: str) -> Iterator[Row]:
    """Elements of a JSON array with the line each starts on (counted as the text is read: linear time)."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    length = len(text)
    escapes = may_hold_surrogate(text)  # only then can an element hold a lone surrogate
    line, counted_to = 1, 0
    while True:
        while position < length and text[position] in " \t\r\n,":
            position += 1
        if position >= length:
            raise RecordError(path, text.count("\n", 0, length) + 1, None, "invalid JSON (unterminated array)")
        if text[position] == "]":
            return
        line += text.count("\n", counted_to, position)
        counted_to = position
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise RecordError(path, text.count("\n", 0, error.pos) + 1, None, f"invalid JSON ({error.msg})") from None
        yield Row(str(path), line, check_text(value, path, line) if escapes else value)
        position = end


def read_rows(path: str | Path) -> Iterator[Row]:
    """Rows of a local file: JSONL, JSON array or parquet (line = 1-based line, or row for parquet)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # here: only parquet files need it, not the data jobs of JSONL sources

        for index, data in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield Row(str(path), index, data)
        return
    text = decode_text(path.read_bytes(), path)
    if path.suffix == ".json" and text.lstrip().startswith("["):
        yield from _json_array_rows(path, text)
        return
    if path.suffix == ".json" and text.lstrip().startswith("{") and "\n{" not in text.strip():
        try:  # one JSON object in a file (a problem of the original MATH tree)
            value = json.loads(text)
        except json.JSONDecodeError:
            pass
        else:
            yield Row(str(path), None, check_text(value, path, None))
            return
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        yield Row(str(path), number, parse_json_line(raw, path, number))


def _tree_files(root: Path, subjects: list[str]) -> list[Path] | None:
    """Problems of the original MATH release: ``root/{subject}/{n}.json``, subjects in order."""
    if not root.is_dir():
        return None
    files: list[Path] = []
    for subject in subjects:
        folder = root / subject
        if folder.is_dir():
            files.extend(sorted(folder.glob("*.json"), key=lambda p: (len(p.stem), p.stem)))
    return files or None


def local_files(source: HubSource, split: str, options: dict) -> list[Path]:
    """The local file(s) holding ``split`` under option ``local_path``."""
    root = Path(options["local_path"])
    if not root.exists():
        raise FileNotFoundError(f"source {source.name!r}: local_path {root} does not exist")
    if root.is_file():
        return [root]
    if source.name == "math":
        tree = _tree_files(root / split, options["subjects"])
        if tree:
            return tree
    names = [f"{split}.jsonl", f"{split}.json", f"{split}.parquet"]
    if source.name == "gsm8k_rft":
        names = [RFT_FILES[options["variant"]]] + names
    else:
        names += LOCAL_NAMES.get(source.name, {}).get(split, [])
    for name in names:
        if (root / name).is_file():
            return [root / name]
    shards = sorted(root.glob(f"{split}-*.parquet")) or sorted(root.glob(f"**/{split}-*.parquet"))
    if shards:
        return shards
    raise FileNotFoundError(
        f"source {source.name!r}: no file for split {split!r} in {root} (looked for {', '.join(names)}, "
        f"{split}-*.parquet)"
    )


def _offline() -> bool:
    flags = [os.environ.get(v, "") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "COTMASK_OFFLINE")]
    return any(f.strip().upper() in {"1", "ON", "YES", "TRUE"} for f in flags)


def _unavailable(source: HubSource, where: str, reason: str) -> HubUnavailableError:
    return HubUnavailableError(
        f"source {source.name!r}: cannot load {where} ({reason}). The hub is unreachable (no network or offline "
        f"mode: HF_HUB_OFFLINE / HF_DATASETS_OFFLINE). Download the data and pass option local_path=FILE_OR_DIR "
        f"(formats: {', '.join(source.formats)}; JSON, JSONL or parquet)."
    )


def fetch_url(source: HubSource, url: str, cache_dir: str | None) -> Path:
    """Download ``url`` once into the cache (``cache_dir``, else ``$COTMASK_CACHE`` or ~/.cache/cotmask)."""
    root = Path(cache_dir or os.environ.get("COTMASK_CACHE") or Path.home() / ".cache" / "cotmask") / "downloads"
    target = root / f"{hashlib.sha1(url.encode()).hexdigest()[:12]}-{url.rsplit('/', 1)[-1]}"
    if target.exists():
        return target
    if _offline():
        raise _unavailable(source, url, "offline mode is set")
    root.mkdir(parents=True, exist_ok=True)
    tmp = create_temp_file(root, prefix=".download-")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as handle:  # noqa: S310
            while chunk := response.read(1 << 20):
                handle.write(chunk)
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as error:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise _unavailable(source, url, f"{type(error).__name__}: {error}") from None
    return target


def hub_rows(source: HubSource, split: str, options: dict) -> Iterator[Row]:
    """Rows of ``split`` from the hub with ``datasets.load_dataset``, or from the source's URL."""
    if source.url_files is not None:
        file = source.url_files[split].format(variant=RFT_FILES.get(options.get("variant", ""), ""))
        url = options["hub_id"].format(file=file)
        yield from read_rows(fetch_url(source, url, options["cache_dir"]))
        return
    try:  # here, not at module level: datasets takes about a second to import and only hub downloads need it
        import datasets
    except ImportError as error:  # pragma: no cover - datasets is a dependency
        raise ImportError(f"source {source.name!r} needs the 'datasets' package ({error})") from None
    hub_id = options["hub_id"]
    if source.name == "math" and hub_id == "EleutherAI/hendrycks_math" and options["hub_config"] is None:
        configs: list[str | None] = list(options["subjects"])
    else:
        configs = [options["hub_config"]]
    for config in configs:
        hub_split = "train" if source.one_file else split
        where = f"hf://{hub_id}" + (f"/{config}" if config else "") + f"[{hub_split}]"
        try:
            dataset = datasets.load_dataset(hub_id, config, split=hub_split, revision=options["revision"],
                                            cache_dir=options["cache_dir"])
        except (ConnectionError, TimeoutError) as error:
            raise _unavailable(source, where, str(error)) from None
        except Exception as error:  # datasets raises many kinds (DatasetNotFoundError, FileNotFoundError, ...)
            raise _unavailable(source, where, f"{type(error).__name__}: {error}") from None
        for index, data in enumerate(dataset, start=1):
            yield Row(where, index, data)


# ===================================================================== build
def source_splits(name: str, options: dict[str, Any]) -> list[str]:
    return list(options["splits"])


def check_source_options(name: str, options: dict) -> None:
    source = HUB_SOURCES[name]
    if options["local_path"]:
        path = Path(options["local_path"])
        if not path.exists():
            raise FileNotFoundError(f"source {name!r}: option local_path: {path} does not exist")
        if path.is_file() and len(options["splits"]) != 1 and not source.one_file:
            raise ValueError(
                f"source {name!r}: option local_path is a single file but splits={options['splits']}; "
                f"set option splits to the one split the file holds"
            )
    if source.url_files is not None and "{file}" not in options["hub_id"]:
        raise ValueError(f"source {name!r}: option hub_id must be a URL template containing '{{file}}'")


def _rows(source: HubSource, split: str, options: dict) -> Iterator[Row]:
    if options["local_path"]:
        for path in local_files(source, split, options):
            yield from read_rows(path)
    else:
        yield from hub_rows(source, split, options)


#: How many duplicated rows stats.json names by file:line (all are counted).
DUPLICATE_EXAMPLES = 3


def count_duplicates(records: list[dict], origins: list[str]) -> dict[str, Any]:
    """``{"duplicate_rows": n, "duplicate_examples": [...]}``: how many records repeat an earlier record's
    question and solution, and the first few as ``"file:line = file:line"`` (where the row came from)."""
    first: dict[tuple[str, str], str] = {}
    examples: list[str] = []
    n = 0
    for record, origin in zip(records, origins):
        key = (record["question"], record["solution"])
        if key in first:
            n += 1
            if len(examples) < DUPLICATE_EXAMPLES:
                examples.append(f"{origin} = {first[key]}")
        else:
            first[key] = origin
    return {"duplicate_rows": n, "duplicate_examples": examples}


def build_split(source: HubSource, split: str, options: dict) -> tuple[list[dict], Counter, str, dict]:
    """Records of one split, the counts of filtered rows, the format read and the count of duplicated rows
    (:func:`count_duplicates`; kept, not dropped)."""
    opts = dict(options)
    opts["_rationale"] = {"train_cot": "cot", "train_pot": "pot"}.get(split, "all")
    filtered: Counter = Counter()
    records: list[dict] = []
    origins: list[str] = []
    fmt = options["format"]
    for index, row in enumerate(_rows(source, split, options)):
        if fmt is None:
            fmt = detect_format(row, source.formats)
        elif not isinstance(row.data, dict) or not all(f in row.data for f in FORMAT_FIELDS[fmt]):
            missing = [f for f in FORMAT_FIELDS[fmt] if not isinstance(row.data, dict) or f not in row.data]
            raise RecordError(row.path, row.line, missing[0], f"is missing (format {fmt!r})")
        partial, dropped = source.convert(row, fmt, opts)
        if dropped:
            filtered[dropped] += 1
            continue
        metadata = {"split": split, "format": fmt, **partial.pop("metadata")}
        records.append({"id": f"{source.name}-{split}-{index:07d}", **partial, "source": source.name,
                        "metadata": metadata})
        origins.append(row.path if row.line is None else f"{row.path}:{row.line}")
    if options["limit"] is not None and len(records) > options["limit"]:
        rng = random.Random(f"{source.name}:{options['seed']}:{split}:limit")
        keep = sorted(rng.sample(range(len(records)), options["limit"]))
        filtered["limit"] += len(records) - len(keep)
        records = [records[i] for i in keep]
        origins = [origins[i] for i in keep]
    return records, filtered, fmt or "none", count_duplicates(records, origins)


def build_source_records(name: str, options: dict) -> tuple[dict[str, list[dict]], dict]:
    source = HUB_SOURCES[name]
    records: dict[str, list[dict]] = {}
    stats: dict[str, Any] = {"splits": {}, "filtered": {}, "formats": {}}
    for split in options["splits"]:
        rows, filtered, fmt, duplicates = build_split(source, split, options)
        if not rows:
            raise ValueError(f"source {name!r}: split {split!r} has no records after filtering ({dict(filtered)})")
        records[split] = rows
        extra: dict[str, Any] = dict(duplicates)
        if name == "mathinstruct":
            extra["rationale"] = dict(sorted(Counter(r["metadata"]["rationale"] for r in rows).items()))
            extra["answer_unextracted"] = sum(1 for r in rows if not r["metadata"]["answer_extracted"])
        if name == "metamathqa":
            extra["types"] = dict(sorted(Counter(r["metadata"].get("type", "?") for r in rows).items()))
        stats["splits"][split] = dataset_stats(rows, **extra)
        stats["filtered"][split] = dict(sorted(filtered.items()))
        stats["formats"][split] = fmt
    return records, stats
