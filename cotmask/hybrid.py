"""MAmmoTH's hybrid decoding: program of thought first, chain of thought as the fallback.

MAmmoTH evaluates MathInstruct-trained models this way (``math_eval/run_open.py`` with ``--stem_flan_type
pot_prompt --cot_backup``; shared/paper.md §4.3-4.4), and the paper's MAmmoTH numbers were made with it.
For every benchmark question:

1. **Program-of-thought pass.** The prompt is the question followed by the PoT trigger (MAmmoTH's
   ``" Let's write a program."``, the same sentence ``cotmask.data.augment.pot_mix`` appends to the PoT
   questions of the ``mammoth`` training set), in the model's prompt template; greedy decoding.
2. **Program or text.** The completion is a *program* when it contains ``print(`` -- MAmmoTH's rule, and
   the only one used here (:func:`is_program`). The code run is the first fenced block (```` ``` ````,
   optionally ```` ```python ````) that contains ``print(`` when the completion has one, else the whole
   completion cut at the first ``### Instruction`` (MAmmoTH cuts there) or a new ``Question:`` line
   (:func:`program_source`). It runs in :mod:`cotmask.sandbox` (CPU-time, memory and output limits, no
   files, processes or network, allow-listed imports; MAmmoTH uses a 5 s timeout). Its answer is the last
   non-empty line it prints (:func:`printed_answer`), scored as the text ``The answer is <line>`` by the
   benchmark's scoring rule (so a GSM8K answer is the first number of that line, a MATH answer the whole
   line, compared by :mod:`cotmask.scoring`). A completion without ``print(`` is scored as text, as
   MAmmoTH does.
3. **Chain-of-thought fallback.** When the first pass gives no answer -- the program failed (any sandbox
   error), printed nothing, or printed no answer the scoring rule can read; or the text has no answer --
   the question is asked again without the trigger (the plain prompt) and that completion is scored.

Each item records which path gave its answer (:data:`ANSWER_SOURCES`): ``program`` (the program's
output), ``pot_text`` (the PoT-prompted completion, not a program, answered in text), ``cot`` (the
fallback). :func:`hybrid_summary` counts them (``fallback_rate`` = the share answered by the fallback)
and the program outcomes by sandbox error kind.

Differences from MAmmoTH's script, all deliberate: answers are read by this project's rules
(:mod:`cotmask.answers`) rather than MAmmoTH's ``answer_clean``, whose fallback to the last number of a
text makes almost every text "answered" (ours needs ``####``/``The answer is``/``\\boxed{}``); the prompt
template is the model's own (MAmmoTH's evaluation prompt is Alpaca with a single newline after the
preamble); the program's printed value is its last output line (MAmmoTH prefixes the whole output with
``The answer is`` and applies its cleaner); programs run in the sandbox instead of ``exec`` in the
evaluating process.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cotmask.sandbox import ERROR_KINDS, SandboxLimits, SandboxResult, run_program
from cotmask.scoring import score_item

#: MAmmoTH's PoT trigger, appended to the question (also ``pot_mix``'s default ``pot_trigger``).
DEFAULT_POT_TRIGGER = "Let's write a program."
#: CPU seconds of a program (MAmmoTH's timeout) and the memory it may allocate: evaluate()'s defaults.
DEFAULT_PROGRAM_TIMEOUT_S = 5.0
DEFAULT_PROGRAM_MEMORY_MB = 512
#: MAmmoTH's rule: a completion containing this is a program.
PROGRAM_MARKER = "print("
#: Where a program ends when the model goes on writing (MAmmoTH cuts at ``### Instruction``).
PROGRAM_END = re.compile(r"### Instruction|^Question:", re.MULTILINE)
_FENCED = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
ANSWER_SOURCES = ("program", "pot_text", "cot")
#: Programs run at once (each in its own process; the CPU-time limit, not the wall clock, is the timeout).
PROGRAM_WORKERS = 4


def pot_question(question: str, trigger: str = DEFAULT_POT_TRIGGER) -> str:
    """The question of the PoT pass: the question, a space and the trigger (no trigger: the question)."""
    return f"{question} {trigger}" if trigger else question


def is_program(completion: str) -> bool:
    """MAmmoTH's rule: the completion is a program when it contains ``print(``."""
    return PROGRAM_MARKER in (completion or "")


def program_source(completion: str) -> str:
    """The code to run: the first fenced block containing ``print(``, else the completion cut at
    ``### Instruction`` or a ``Question:`` line."""
    for block in _FENCED.findall(completion):
        if PROGRAM_MARKER in block:
            return block.strip("\n")
    end = PROGRAM_END.search(completion)
    return (completion[: end.start()] if end else completion).strip("\n")


def printed_answer(stdout: str) -> str | None:
    """The program's answer: the last non-empty line it printed (stripped), or None."""
    lines = [line.strip() for line in (stdout or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def program_prediction(answer: str) -> str:
    """The text a program's answer is scored as (MAmmoTH prefixes the output with ``The answer is``)."""
    return f"The answer is {answer}"


def _program_record(result: SandboxResult, answer: str | None) -> dict[str, Any]:
    record = result.to_dict()
    record["answer"] = answer
    return record


def _first_pass(completion: str, gold: str, scoring: str, result: SandboxResult | None) -> dict[str, Any]:
    """The PoT pass of one item: ``{prediction, scored, program, answered}``."""
    if result is None:  # not a program: the completion is read as text
        scored = score_item(completion, gold, scoring)
        return {"prediction": completion, "scored": scored, "program": None, "answered": not scored["invalid"]}
    answer = printed_answer(result.stdout) if result.ok else None
    prediction = program_prediction(answer) if answer is not None else ""
    scored = score_item(prediction, gold, scoring)
    return {"prediction": prediction, "scored": scored, "program": _program_record(result, answer),
            "answered": result.ok and not scored["invalid"]}


def run_programs(
    completions: Sequence[str], limits: SandboxLimits, *, workers: int = PROGRAM_WORKERS, temp_root=None
) -> list[SandboxResult | None]:
    """The sandbox result of every completion that is a program (None for the others), in order."""
    indices = [i for i, completion in enumerate(completions) if is_program(completion)]
    results: list[SandboxResult | None] = [None] * len(completions)
    if not indices:
        return results

    def run(index: int) -> SandboxResult:
        return run_program(program_source(completions[index]), limits, temp_root=temp_root)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for index, result in zip(indices, pool.map(run, indices)):
            results[index] = result
    return results


def hybrid_decode(
    questions: Sequence[str],
    golds: Sequence[str],
    generate: Callable[[list[str]], list[str]],
    prompt: Callable[[str], str],
    *,
    scoring: str,
    trigger: str = DEFAULT_POT_TRIGGER,
    limits: SandboxLimits | None = None,
    workers: int = PROGRAM_WORKERS,
    temp_root=None,
) -> list[dict[str, Any]]:
    """Hybrid-decode a benchmark (module doc). ``generate(prompts) -> completions`` decodes a batch,
    ``prompt(question) -> prompt text`` applies the template; ``golds`` are gold answers already read by
    :func:`cotmask.scoring.gold_answer`.

    Returns one dict per question: ``answer_source`` (:data:`ANSWER_SOURCES`), ``generation`` (the
    completion whose answer counts: the PoT one, or the fallback's), ``prediction`` (the text that was
    scored: ``The answer is <printed line>`` for a program, else the completion), ``pot_generation``,
    ``program`` (None when the PoT completion is not a program, else the sandbox result with the printed
    ``answer``) and ``scored`` (:func:`cotmask.scoring.score_item` of the prediction).
    """
    if len(questions) != len(golds):
        raise ValueError(f"{len(questions)} questions but {len(golds)} gold answers")
    limits = limits or SandboxLimits()
    pot_generations = generate([prompt(pot_question(question, trigger)) for question in questions])
    results = run_programs(pot_generations, limits, workers=workers, temp_root=temp_root)
    firsts = [_first_pass(completion, gold, scoring, result)
              for completion, gold, result in zip(pot_generations, golds, results)]
    fallback = [i for i, first in enumerate(firsts) if not first["answered"]]
    cot_generations = dict(zip(fallback, generate([prompt(questions[i]) for i in fallback]) if fallback else []))
    items = []
    for index, (first, pot_generation) in enumerate(zip(firsts, pot_generations)):
        item = {"pot_generation": pot_generation, "program": first["program"]}
        if index in cot_generations:
            generation = cot_generations[index]
            item.update(answer_source="cot", generation=generation, prediction=generation,
                        scored=score_item(generation, golds[index], scoring))
        else:
            source = "program" if first["program"] is not None else "pot_text"
            item.update(answer_source=source, generation=pot_generation, prediction=first["prediction"],
                        scored=first["scored"])
        items.append(item)
    return items


def hybrid_summary(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts of a hybrid evaluation's items: which path answered (``answer_sources``, ``program_rate``,
    ``fallback_rate``) and how the programs went (``programs``: written, ran to the end, and each sandbox
    error kind)."""
    n = len(items)
    if n == 0:
        raise ValueError("no items to summarise")
    sources = Counter(item["answer_source"] for item in items)
    programs = [item["program"] for item in items if item["program"] is not None]
    errors = Counter(program["error"] for program in programs if not program["ok"])
    return {
        "answer_sources": {source: sources.get(source, 0) for source in ANSWER_SOURCES},
        "program_rate": sources.get("program", 0) / n,
        "fallback_rate": sources.get("cot", 0) / n,
        "programs": {
            "written": len(programs),
            "ran": sum(1 for program in programs if program["ok"]),
            "errors": {kind: errors.get(kind, 0) for kind in ERROR_KINDS},
        },
    }
