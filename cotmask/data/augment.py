"""Offline analogues of the paper's augmented training sets, built from record files.

* ``metamath_style`` (MetaMathQA-like). For every input problem: the original (``AnsAug``), ``rephrase``
  rephrasings (the same problem rebuilt with other wording variants: template-level rephrasing, same
  numbers and answer) and, for GSM-style problems, backward questions in MetaMath's two forms, with one
  stated number replaced by ``x``:

  - FOBAR: the question, then "If we know the answer to the above question is A, what is the value of
    unknown variable x?";
  - SV (self-verification): the question's facts, the answer stated as a fact, then "What is the value of
    unknown variable x?".

  Backward solutions undo the forward steps from the answer (with ``<<a-b=c>>c`` annotations) and end
  "The value of x is V." Every response ends ``The answer is: X`` as in MetaMathQA (the GSM8K ``#### N``
  line is replaced; annotations are kept so calculator decoding still works). ``metadata.type`` follows
  MetaMathQA: ``GSM_AnsAug``, ``GSM_Rephrased``, ``GSM_FOBAR``, ``GSM_SV``, ``MATH_AnsAug``,
  ``MATH_Rephrased``. Records that cannot be rebuilt (hub data) are kept as originals and counted.
* ``pot_mix`` (MathInstruct-like): every problem with its chain-of-thought rationale and, for a seeded
  ``pot_fraction`` of the problems, also a program-of-thought rationale (a Python program ending in
  ``print(...)``); the PoT question ends with ``pot_trigger`` (MAmmoTH's "Let's write a program.").
  ``metadata.rationale`` is ``cot`` or ``pot``; stats keep the two apart.
* ``concat``: the inputs one after the other (optionally shuffled); ids must be unique across inputs.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from cotmask.data import gsm_synth, math_synth
from cotmask.data.gsm_problem import GsmProblem, Step, final_line
from cotmask.data.gsm_templates import TEMPLATES as GSM_TEMPLATES
from cotmask.data.options import Option, at_least, in_unit_interval, resolve_options
from cotmask.records import dataset_stats, read_jsonl, write_dataset_dir

FOBAR_SUFFIX = "If we know the answer to the above question is {answer}, what is the value of unknown variable x?"
SV_SUFFIX = "What is the value of unknown variable x?"
MAX_PHRASE_TRIES = 12

LIMIT = Option("limit", int, None, "use a seeded random subset of this many input records (all inputs together)",
               at_least(1), nullable=True)

OPTIONS: dict[str, dict[str, Option]] = {
    "metamath_style": {
        o.name: o
        for o in [
            Option("seed", int, 0, "random seed (choice of the unknown x)"),
            Option("rephrase", int, 1, "rephrasings per problem", at_least(0)),
            Option("fobar", bool, True, "add a FOBAR backward question per GSM-style problem"),
            Option("sv", bool, True, "add an SV backward question per GSM-style problem"),
            Option("include_original", bool, True, "keep the original problems (AnsAug)"),
            Option("answer_style", str, "metamath", "closing line of every response", choices=("metamath", "gsm8k")),
            LIMIT,
        ]
    },
    "pot_mix": {
        o.name: o
        for o in [
            Option("seed", int, 0, "random seed (which problems get a PoT rationale)"),
            Option("pot_fraction", float, 0.5, "share of problems that also get a PoT rationale", in_unit_interval),
            Option("include_cot", bool, True, "keep the chain-of-thought rationale of every problem"),
            Option("pot_trigger", str, "Let's write a program.", "appended to PoT questions ('' for none)"),
            LIMIT,
        ]
    },
    "concat": {
        o.name: o
        for o in [
            Option("shuffle", bool, False, "shuffle the concatenation"),
            Option("seed", int, 0, "shuffle seed"),
            LIMIT,
        ]
    },
}


def build(kind: str, inputs: list[str], out_dir: str, options: dict[str, Any]) -> dict:
    """Check options, read (validate) the inputs, build ``kind``, write train.jsonl + stats.json."""
    resolved = resolve_options(f"augmentation {kind!r}", OPTIONS[kind], options)
    sources = [(path, read_jsonl(path)) for path in inputs]
    n_inputs = sum(len(rows) for _, rows in sources)
    sources, dropped = apply_limit(sources, resolved["limit"], f"{kind}:{resolved['seed']}")
    builder = {"metamath_style": metamath_style, "pot_mix": pot_mix, "concat": concat}[kind]
    records, extra = builder(sources, resolved)
    if dropped:
        extra.setdefault("skipped", {})["limit"] = dropped
    seen: dict[str, str] = {}
    for record in records:
        if record["id"] in seen:
            raise ValueError(f"augmentation {kind!r}: duplicate id {record['id']!r} (inputs {', '.join(inputs)})")
        seen[record["id"]] = record["id"]
    stats = {
        "kind": kind,
        "inputs": [str(p) for p in inputs],
        "options": resolved,
        "input_records": n_inputs,
        "input_records_used": {str(path): len(rows) for path, rows in sources},
        "splits": {"train": dataset_stats(records)},
        **extra,
    }
    return write_dataset_dir(out_dir, {"train": records}, stats)


# ------------------------------------------------------------------ helpers
def apply_limit(sources: list[tuple[str, list[dict]]], limit: int | None, stream: str
                ) -> tuple[list[tuple[str, list[dict]]], int]:
    """Keep a seeded random subset of ``limit`` records over all inputs (input order kept); count the rest."""
    total = sum(len(rows) for _, rows in sources)
    if limit is None or limit >= total:
        return sources, 0
    keep = set(random.Random(f"limit:{stream}").sample(range(total), limit))
    out, index = [], 0
    for path, rows in sources:
        kept = []
        for row in rows:
            if index in keep:
                kept.append(row)
            index += 1
        out.append((path, kept))
    return out, total - limit


def _is_gsm_synth(record: dict) -> bool:
    meta = record.get("metadata", {})
    return record["source"] == gsm_synth.SOURCE and meta.get("template") in GSM_TEMPLATES and "gen" in meta


def _is_math_synth(record: dict) -> bool:
    meta = record.get("metadata", {})
    return record["source"] == math_synth.SOURCE and meta.get("template") in math_synth.FAMILIES and "gen" in meta


def restyle_final_line(solution: str, style: str) -> str:
    """Replace a GSM8K ``#### N`` closing line by the given style's closing line (or append one)."""
    lines = solution.rstrip("\n").split("\n")
    if lines[-1].startswith("####"):
        answer = lines[-1][4:].strip()
        return "\n".join(lines[:-1] + [final_line(answer, style)])
    return solution


def _base_metadata(record: dict) -> dict:
    meta = {k: v for k, v in record.get("metadata", {}).items() if k not in {"program"}}
    meta["original_id"] = record["id"]
    return meta


# ----------------------------------------------------------- metamath_style
def backward_question(problem: GsmProblem, unknown: str, form: str) -> str:
    """The question with ``unknown`` written as x, in MetaMath's FOBAR or SV form."""
    display = {unknown: "x"}
    sentences = problem.question_sentences(display)
    if form == "fobar":
        return " ".join(sentences + [FOBAR_SUFFIX.format(answer=problem.answer)])
    statement = problem.statement_text(display)
    return " ".join(sentences[:-1] + [statement, SV_SUFFIX])


def backward_solution(problem: GsmProblem, unknown: str, style: str) -> str:
    value = problem.givens[unknown]
    lines = problem.backward_lines(unknown) + [f"The value of x is {value}."]
    return "\n".join(lines + [final_line(value, style)])


def _gsm_variants(record: dict, options: dict, rng: random.Random, counters: Counter) -> list[dict]:
    problem = gsm_synth.problem_from_metadata(record["metadata"])
    style = options["answer_style"]
    out = []
    base = _base_metadata(record)
    if options["include_original"]:
        out.append({**record, "id": f"{record['id']}-orig", "solution": restyle_final_line(record["solution"], style),
                    "metadata": {**record["metadata"], "original_id": record["id"], "aug_type": "original",
                                 "type": "GSM_AnsAug"}})
    questions = {problem.question()}
    made, phrase = 0, 1
    while made < options["rephrase"] and phrase <= MAX_PHRASE_TRIES * max(1, options["rephrase"]):
        other = gsm_synth.problem_from_metadata(record["metadata"], phrase=phrase + record["metadata"]["gen"]["phrase"])
        phrase += 1
        if other.question() in questions:
            continue
        questions.add(other.question())
        made += 1
        out.append({
            "id": f"{record['id']}-reph{made}", "question": other.question(), "solution": other.solution(style),
            "answer": str(other.answer), "source": record["source"],
            "metadata": {**base, "aug_type": "rephrased", "type": "GSM_Rephrased", "program": other.program(),
                         "gen": {**record["metadata"]["gen"], "phrase": other.phrase},
                         "original_question": record["question"]},
        })
    counters["rephrase_unavailable"] += options["rephrase"] - made
    forms = [f for f in ("fobar", "sv") if options[f]]
    if forms:
        candidates = problem.invertible_givens()
        if not candidates:
            counters["backward_unavailable"] += len(forms)
        else:
            unknown = rng.choice(candidates)
            path = problem.path_to_answer(unknown) or []
            for form in forms:
                out.append({
                    "id": f"{record['id']}-{form}", "question": backward_question(problem, unknown, form),
                    "solution": backward_solution(problem, unknown, style), "answer": str(problem.givens[unknown]),
                    "source": record["source"],
                    "metadata": {**base, "aug_type": form, "type": f"GSM_{form.upper()}", "n_steps": len(path),
                                 "unknown": unknown, "forward_answer": str(problem.answer),
                                 "original_question": record["question"]},
                })
    return out


def _math_variants(record: dict, options: dict, counters: Counter) -> list[dict]:
    problem = math_synth.problem_from_metadata(record["metadata"])
    style = "metamath" if options["answer_style"] == "metamath" else "math"
    out = []
    base = _base_metadata(record)
    if options["include_original"]:
        out.append({**record, "id": f"{record['id']}-orig", "solution": problem.solution(style),
                    "metadata": {**base, "aug_type": "original", "type": "MATH_AnsAug"}})
    questions = {problem.question}
    made, phrase = 0, 1
    while made < options["rephrase"] and phrase <= MAX_PHRASE_TRIES * max(1, options["rephrase"]):
        other = math_synth.problem_from_metadata(record["metadata"], phrase=phrase + record["metadata"]["gen"]["phrase"])
        phrase += 1
        if other.question in questions:
            continue
        questions.add(other.question)
        made += 1
        out.append({
            "id": f"{record['id']}-reph{made}", "question": other.question, "solution": other.solution(style),
            "answer": other.answer, "source": record["source"],
            "metadata": {**base, "aug_type": "rephrased", "type": "MATH_Rephrased",
                         "gen": {**record["metadata"]["gen"], "phrase": other.phrase},
                         "original_question": record["question"]},
        })
    counters["rephrase_unavailable"] += options["rephrase"] - made
    counters["backward_unsupported_math"] += int(options["fobar"]) + int(options["sv"])
    return out


def metamath_style(sources: list[tuple[str, list[dict]]], options: dict) -> tuple[list[dict], dict]:
    counters: Counter = Counter()
    records: list[dict] = []
    for path, rows in sources:
        for record in rows:
            rng = random.Random(f"metamath_style:{options['seed']}:{record['id']}")
            if _is_gsm_synth(record):
                records.extend(_gsm_variants(record, options, rng, counters))
            elif _is_math_synth(record):
                records.extend(_math_variants(record, options, counters))
            else:
                counters["not_augmentable"] += 1
                if options["include_original"]:
                    records.append({**record, "id": f"{record['id']}-orig",
                                    "solution": restyle_final_line(record["solution"], options["answer_style"]),
                                    "metadata": {**_base_metadata(record), "aug_type": "original", "type": "AnsAug"}})
    by_type = Counter(r["metadata"]["type"] for r in records)
    return records, {"types": dict(sorted(by_type.items())), "skipped": dict(sorted(counters.items()))}


# ------------------------------------------------------------------- pot_mix
def gsm_program(record: dict) -> str:
    """The PoT program of a gsm_synth record, from its stored step program."""
    program = record["metadata"]["program"]
    problem = GsmProblem(template="", seed=0, phrase=0, n_steps=len(program["steps"]), numbers=None)  # type: ignore[arg-type]
    problem.givens = {name: value for name, value in program["givens"]}
    problem.steps = [Step(name, op, tuple(args), value, "", "") for name, op, args, value in program["steps"]]
    return problem.pot()


def pot_mix(sources: list[tuple[str, list[dict]]], options: dict) -> tuple[list[dict], dict]:
    counters: Counter = Counter()
    records: list[dict] = []
    for path, rows in sources:
        for record in rows:
            if options["include_cot"]:
                records.append({**record, "id": f"{record['id']}-cot",
                                "metadata": {**record.get("metadata", {}), "rationale": "cot", "original_id": record["id"]}})
            draw = random.Random(f"pot_mix:{options['seed']}:{record['id']}").random()
            if draw >= options["pot_fraction"]:
                continue
            if _is_gsm_synth(record) and "program" in record["metadata"]:
                program = gsm_program(record)
            elif _is_math_synth(record):
                program = math_synth.problem_from_metadata(record["metadata"]).pot()
            else:
                counters["pot_unavailable"] += 1
                continue
            question = record["question"] if not options["pot_trigger"] else f"{record['question']} {options['pot_trigger']}"
            meta = {k: v for k, v in record.get("metadata", {}).items()}
            records.append({**record, "id": f"{record['id']}-pot", "question": question, "solution": program,
                            "metadata": {**meta, "rationale": "pot", "original_id": record["id"]}})
    by_rationale = {
        rationale: dataset_stats([r for r in records if r["metadata"]["rationale"] == rationale])
        for rationale in ("cot", "pot")
    }
    return records, {"rationale": by_rationale, "skipped": dict(sorted(counters.items()))}


# -------------------------------------------------------------------- concat
def concat(sources: list[tuple[str, list[dict]]], options: dict) -> tuple[list[dict], dict]:
    records: list[dict] = []
    origin: dict[str, str] = {}
    for path, rows in sources:
        for record in rows:
            if record["id"] in origin:
                raise ValueError(
                    f"concat: id {record['id']!r} occurs in both {origin[record['id']]} and {path}; "
                    "ids must be unique across inputs"
                )
            origin[record["id"]] = str(path)
            records.append(record)
    if options["shuffle"]:
        random.Random(f"concat:{options['seed']}").shuffle(records)
    return records, {"skipped": {}}
