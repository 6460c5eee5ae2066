"""The structured GSM-style problem behind every ``gsm_synth`` record, and the builder templates use.

A :class:`GsmProblem` is a small step program (given numbers, then binary or n-ary integer operations
on givens and earlier results) plus the wording of its question and solution. The wording is held as
sentence templates in which ``[name]`` stands for a given number and ``[calc]`` for a step's
calculation, so the same problem can be rendered

* forward, as a GSM8K solution (``... 12+5 = <<12+5=17>>17 ...`` lines, then ``#### 17``),
* with one given replaced by ``x`` (MetaMath's FOBAR / SV backward questions), solved backward,
* as a Python program (program of thought).

Two random streams drive a template: the *content* stream (numbers, names, items, structure) and the
*phrase* stream (which wording variant each sentence takes). Rebuilding a problem with the same
content seed and another phrase seed rephrases it without changing its numbers or its answer.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

OPS = ("+", "-", "*", "/")
_PLACEHOLDER = re.compile(r"\[([a-z][a-z0-9_]*)\]")


class Retry(Exception):
    """Raised by a template when the drawn numbers break a constraint; the caller draws again."""


@dataclass(frozen=True)
class NumberRange:
    """Number ranges: givens in [min_number, max_number] (unless a template needs e.g. a price total),
    every intermediate value and the answer a positive integer <= max_value."""

    min_number: int = 2
    max_number: int = 20
    max_value: int = 1000


@dataclass(frozen=True)
class Person:
    name: str
    female: bool

    @property
    def he(self) -> str:
        return "she" if self.female else "he"

    @property
    def He(self) -> str:  # noqa: N802 - sentence-initial form
        return "She" if self.female else "He"

    @property
    def him(self) -> str:
        return "her" if self.female else "him"

    @property
    def his(self) -> str:
        return "her" if self.female else "his"

    @property
    def His(self) -> str:  # noqa: N802
        return "Her" if self.female else "His"

    def fields(self, prefix: str = "") -> dict[str, str]:
        """Format fields for this person: P, he, He, him, his, His (with an optional prefix, e.g. 'Q')."""
        if prefix:
            return {prefix: self.name}
        return {"P": self.name, "he": self.he, "He": self.He, "him": self.him, "his": self.his, "His": self.His}


NAMES: tuple[Person, ...] = tuple(
    Person(name, female)
    for name, female in [
        ("Mia", True), ("Leo", False), ("Ana", True), ("Ben", False), ("Eva", True), ("Sam", False),
        ("Zoe", True), ("Max", False), ("Ivy", True), ("Tom", False), ("Lily", True), ("Jack", False),
        ("Emma", True), ("Noah", False), ("Ava", True), ("Liam", False), ("Ella", True), ("Owen", False),
        ("Ruby", True), ("Finn", False), ("Nora", True), ("Luke", False), ("Rosa", True), ("Omar", False),
    ]
)


@dataclass
class Step:
    """One calculation: ``value = args[0] op args[1] (op args[2] ...)``; n-ary only for + and *."""

    name: str
    op: str
    args: tuple[str, ...]
    value: int
    sentence: str  # solution sentence template; contains [calc]
    label: str  # noun phrase naming the value, for backward solutions


@dataclass
class GsmProblem:
    """A generated problem: givens, steps and the wording of question and solution."""

    template: str
    seed: int
    phrase: int
    n_steps: int
    numbers: NumberRange
    context: list[str] = field(default_factory=list)  # question sentences (templates)
    ask: str = ""  # the final question sentence
    statement: str = ""  # the answer stated as a fact ([answer]); used by SV backward questions
    givens: dict[str, int] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)  # givens written as words ("twice"), not digits
    given_labels: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)

    # ----------------------------------------------------------------- values
    @property
    def answer(self) -> int:
        return self.steps[-1].value

    def values(self) -> dict[str, int]:
        """Every named value: givens and step results."""
        out = dict(self.givens)
        out.update({s.name: s.value for s in self.steps})
        return out

    # -------------------------------------------------------------- rendering
    def _fill(self, text: str, display: dict[str, str] | None = None, extra: dict[str, str] | None = None) -> str:
        values = {k: str(v) for k, v in self.givens.items()}
        if display:
            values.update(display)
        if extra:
            values.update(extra)

        def replace(match: re.Match) -> str:
            key = match.group(1)
            if key not in values:
                raise KeyError(f"template {self.template}: no value for placeholder [{key}] in {text!r}")
            return values[key]

        return _PLACEHOLDER.sub(replace, text)

    def question_sentences(self, display: dict[str, str] | None = None) -> list[str]:
        """The question as a list of sentences (context sentences, then the asking sentence)."""
        return [self._fill(s, display) for s in self.context] + [self._fill(self.ask, display)]

    def question(self, display: dict[str, str] | None = None) -> str:
        return " ".join(self.question_sentences(display))

    def statement_text(self, display: dict[str, str] | None = None) -> str:
        """The answer stated as a fact (SV backward questions), e.g. "Mia has 17 marbles at the end."."""
        return self._fill(self.statement, display, {"answer": str(self.answer)})

    def calc(self, step: Step) -> str:
        """``a+b = <<a+b=c>>c`` for a step (GSM8K calculator annotation)."""
        values = self.values()
        expr = step.op.join(str(values[a]) for a in step.args)
        return f"{expr} = <<{expr}={step.value}>>{step.value}"

    def solution_lines(self) -> list[str]:
        return [self._fill(s.sentence, extra={"calc": self.calc(s)}) for s in self.steps]

    def solution(self, final: str = "gsm8k") -> str:
        """Forward chain-of-thought; ``final`` = 'gsm8k' (``#### N``) or 'metamath' (``The answer is: N``)."""
        return "\n".join(self.solution_lines() + [final_line(self.answer, final)])

    def program(self) -> dict[str, Any]:
        """The step program as plain JSON (stored in record metadata)."""
        return {
            "givens": [[name, value] for name, value in self.givens.items()],
            "hidden": sorted(self.hidden),
            "steps": [[s.name, s.op, list(s.args), s.value] for s in self.steps],
        }

    # ------------------------------------------------------- program of thought
    def pot(self) -> str:
        """A Python program computing the answer; integer division ``//`` (every division is exact)."""
        lines = [f"{name} = {value}" for name, value in self.givens.items()]
        for s in self.steps:
            op = "//" if s.op == "/" else s.op
            lines.append(f"{s.name} = " + f" {op} ".join(s.args))
        lines.append(f"print({self.steps[-1].name})")
        return "\n".join(lines)

    # ------------------------------------------------------- backward questions
    def invertible_givens(self) -> list[str]:
        """Givens written as digits whose value can be recovered from the answer by undoing steps.

        A given qualifies when it is used exactly once and every step on its way to the answer is used
        exactly once (the path is a chain), so each undo step has a single unknown.
        """
        uses: dict[str, int] = {}
        for s in self.steps:
            for a in s.args:
                uses[a] = uses.get(a, 0) + 1
        eligible = []
        for name in self.givens:
            if name in self.hidden or uses.get(name, 0) != 1:
                continue
            path = self.path_to_answer(name)
            if path is not None and all(uses.get(step.name, 0) == 1 for step in path[:-1]):
                eligible.append(name)
        return eligible

    def path_to_answer(self, name: str) -> list[Step] | None:
        """Steps from the first use of ``name`` to the final step, or None if the answer does not use it."""
        path: list[Step] = []
        current = name
        for s in self.steps:
            if current in s.args:
                path.append(s)
                current = s.name
        return path if path and path[-1] is self.steps[-1] else None

    def backward_lines(self, unknown: str) -> list[str]:
        """Undo the steps from the answer back to the given ``unknown`` (called x), with annotations."""
        path = self.path_to_answer(unknown)
        if path is None:
            raise ValueError(f"{unknown!r} does not lead to the answer")
        values = self.values()
        lines = [f"We know the answer is {self.answer}."]
        for index in range(len(path) - 1, -1, -1):
            step = path[index]
            target = unknown if index == 0 else path[index - 1].name
            expr, result = invert_step(step, target, values)
            target_label = "x" if index == 0 else self.step_label(path[index - 1])
            label = self.step_label(step)
            lines.append(
                f"{_capitalize(label)} is {step.value}, so {target_label} is {expr} = <<{expr}={result}>>{result}."
            )
        return lines

    def step_label(self, step: Step) -> str:
        return self._fill(step.label)


def invert_step(step: Step, target: str, values: dict[str, int]) -> tuple[str, int]:
    """Express argument ``target`` of ``step`` through the step's result and its other arguments."""
    args = list(step.args)
    position = args.index(target)
    others = [str(values[a]) for i, a in enumerate(args) if i != position]
    result = step.value
    if step.op == "+":
        expr, value = "-".join([str(result)] + others), values[target]
    elif step.op == "*":
        expr, value = "/".join([str(result)] + others), values[target]
    elif step.op == "-":
        expr = f"{result}+{others[0]}" if position == 0 else f"{others[0]}-{result}"
        value = values[target]
    elif step.op == "/":
        expr = f"{result}*{others[0]}" if position == 0 else f"{others[0]}/{result}"
        value = values[target]
    else:  # pragma: no cover - OPS is closed
        raise ValueError(step.op)
    return expr, value


def final_line(answer: Any, style: str) -> str:
    """The closing line of a solution in GSM8K (``#### N``) or MetaMath (``The answer is: N``) style."""
    if style == "gsm8k":
        return f"#### {answer}"
    if style == "metamath":
        return f"The answer is: {answer}"
    raise ValueError(f"unknown final-line style {style!r}")


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def evaluate_op(op: str, values: list[int]) -> int | None:
    """Exact integer result of an operation, or None when it is not a positive integer."""
    if op == "+":
        result = sum(values)
    elif op == "*":
        result = 1
        for v in values:
            result *= v
    elif op == "-":
        if len(values) != 2:
            return None
        result = values[0] - values[1]
    elif op == "/":
        if len(values) != 2 or values[1] == 0 or values[0] % values[1]:
            return None
        result = values[0] // values[1]
    else:
        raise ValueError(f"unknown operation {op!r}")
    return result if result > 0 else None


class Builder:
    """What a template uses to draw numbers and write sentences; collects a :class:`GsmProblem`."""

    def __init__(self, template: str, seed: int, phrase: int, n_steps: int, numbers: NumberRange):
        self.rng = random.Random(f"gsm:{template}:{seed}:content")
        self._phrase_rng = random.Random(f"gsm:{template}:{seed}:phrase:{phrase}")
        self.n_steps = n_steps
        self.numbers = numbers
        self.problem = GsmProblem(template=template, seed=seed, phrase=phrase, n_steps=n_steps, numbers=numbers)
        self._names: set[str] = set()

    # ------------------------------------------------------------ content draws
    def num(self, lo: int | None = None, hi: int | None = None) -> int:
        """A number in [lo, hi] intersected with [min_number, max_number] (content stream)."""
        low = self.numbers.min_number if lo is None else max(lo, self.numbers.min_number)
        high = self.numbers.max_number if hi is None else min(hi, self.numbers.max_number)
        if high < low:
            raise Retry(f"empty number range [{low}, {high}]")
        return self.rng.randint(low, high)

    def big(self, lo: int, hi: int) -> int:
        """A number in [lo, hi] capped by max_value only (totals such as a bill or a book's pages)."""
        high = min(hi, self.numbers.max_value)
        if high < lo:
            raise Retry(f"empty range [{lo}, {high}]")
        return self.rng.randint(lo, high)

    def pick(self, options):
        return self.rng.choice(list(options))

    def sample(self, options, k: int) -> list:
        options = list(options)
        if k > len(options):
            raise Retry("not enough options")
        return self.rng.sample(options, k)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def divisor(self, value: int, lo: int = 2, hi: int | None = None, min_quotient: int = 2) -> int:
        """A divisor d of value with lo <= d <= hi (default max_number) and value/d >= min_quotient."""
        high = self.numbers.max_number if hi is None else hi
        options = [d for d in range(max(lo, 2), high + 1) if value % d == 0 and value // d >= min_quotient]
        if not options:
            raise Retry(f"{value} has no divisor in [{lo}, {high}]")
        return self.rng.choice(options)

    def has_divisor(self, value: int, lo: int = 2, hi: int | None = None, min_quotient: int = 2) -> bool:
        high = self.numbers.max_number if hi is None else hi
        return any(value % d == 0 and value // d >= min_quotient for d in range(max(lo, 2), high + 1))

    def person(self) -> Person:
        used = set(self.problem.people)
        person = self.rng.choice([p for p in NAMES if p.name not in used])
        self.problem.people.append(person.name)
        return person

    def item(self, options) -> str:
        noun = self.pick(options)
        self.problem.items.append(noun)
        return noun

    # ------------------------------------------------------------- the program
    def _unique(self, name: str) -> str:
        candidate, index = name, 2
        while candidate in self._names:
            candidate, index = f"{name}_{index}", index + 1
        self._names.add(candidate)
        return candidate

    def given(self, name: str, value: int, label: str = "") -> str:
        """Register a number stated in the question; returns its placeholder name."""
        if not isinstance(value, int) or value <= 0 or value > self.numbers.max_value:
            raise Retry(f"given {name}={value} is not a positive integer <= max_value")
        ref = self._unique(name)
        self.problem.givens[ref] = value
        self.problem.given_labels[ref] = label
        return ref

    def word(self, name: str, value: int) -> str:
        """A number the question states in words ('twice', 'half'): part of the program, not substitutable."""
        ref = self.given(name, value)
        self.problem.hidden.add(ref)
        return ref

    def value(self, ref: str) -> int:
        if ref in self.problem.givens:
            return self.problem.givens[ref]
        for s in self.problem.steps:
            if s.name == ref:
                return s.value
        raise KeyError(ref)

    def step(self, name: str, op: str, args: list[str], label: str, *sentences: str, limit: int | None = None) -> str:
        """Add a calculation step; Retry when its value is not a positive integer within the limits."""
        value = evaluate_op(op, [self.value(a) for a in args])
        cap = self.numbers.max_value if limit is None else min(limit, self.numbers.max_value)
        if value is None or value > cap:
            raise Retry(f"step {name} {op} {args} -> {value} out of range")
        sentence = self.say(*sentences)
        if "[calc]" not in sentence:
            raise AssertionError(f"step sentence without [calc]: {sentence!r}")
        ref = self._unique(name)
        self.problem.steps.append(Step(ref, op, tuple(args), value, sentence, label))
        return ref

    # ---------------------------------------------------------------- wording
    def say(self, *variants: str) -> str:
        """One of the wording variants (phrase stream)."""
        if not variants:
            raise AssertionError("no wording variants")
        return variants[self._phrase_rng.randrange(len(variants))] if len(variants) > 1 else variants[0]

    def text(self, *variants: str) -> None:
        """Append a question sentence."""
        self.problem.context.append(self.say(*variants))

    def ask(self, questions: tuple[str, ...] | str, statements: tuple[str, ...] | str) -> None:
        """Set the asking sentence and the matching statement of the answer ([answer])."""
        questions = (questions,) if isinstance(questions, str) else questions
        statements = (statements,) if isinstance(statements, str) else statements
        self.problem.ask = self.say(*questions)
        self.problem.statement = self.say(*statements)
