"""``math_synth``: procedurally generated MATH-style problems with LaTeX-ish solutions ending in ``\\boxed{}``.

Families (each a ``metadata.template``): fraction arithmetic, linear equations (one or both sides),
expression evaluation, order of operations, percent, gcd/lcm, a 2x2 linear system, remainders, sums
and products of quadratic roots, means, powers of a common base and slopes. Every answer is an exact
rational (``metadata.value`` = ``"p/q"`` or ``"n"``), written in LaTeX (``\\frac{p}{q}``, ``-3``) as
``answer`` and inside the solution's last ``\\boxed{}``; golds check with math-verify.

As in ``gsm_synth``, a problem is rebuilt from ``metadata.gen`` (seed, phrase): the content stream draws
the numbers, the phrase stream the wording, so another phrase seed rephrases a problem (MetaMath-style)
and :func:`MathProblem.pot` gives its program of thought.

Splits: ``train``, then ``test`` (never repeating a train problem), then, with ``n_pretrain`` > 0, a
``pretrain`` corpus drawn last from its own random stream and disjoint from both, so train and test are
byte-identical with or without it. A family whose problem space runs out is set aside (counted in the
statistics as ``family_exhausted_<split>``) and the others fill the split.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cotmask.data.options import Option, at_least, exhausted
from cotmask.records import dataset_stats

SOURCE = "math_synth"
ALL_SPLITS = ("train", "test")
PRETRAIN_SPLIT = "pretrain"
MAX_DRAWS_PER_ITEM = 200


class Retry(Exception):
    """The draw breaks a constraint; draw again."""


def latex(value: Fraction | int) -> str:
    """An exact rational in LaTeX: ``7``, ``-3``, ``\\frac{3}{2}``, ``-\\frac{1}{4}``."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def paren(value: int | Fraction) -> str:
    """A number wrapped in parentheses when negative (for substitution)."""
    text = latex(value)
    return f"({text})" if Fraction(value) < 0 else text


@dataclass
class MathProblem:
    template: str
    seed: int
    phrase: int
    type: str
    level: int
    question: str = ""
    lines: list[str] = field(default_factory=list)  # solution sentences before the boxed answer
    final: str = ""  # the closing sentence, with {boxed}
    value: Fraction = Fraction(0)
    pot_lines: list[str] = field(default_factory=list)

    @property
    def answer(self) -> str:
        return latex(self.value)

    @property
    def n_steps(self) -> int:
        return len(self.lines) + 1

    def solution(self, style: str = "math") -> str:
        """MATH style: the sentences then the closing one with ``\\boxed{answer}``; 'metamath' appends
        ``The answer is: answer`` as MetaMathQA's MATH responses do."""
        closing = self.final.replace("{boxed}", f"\\boxed{{{self.answer}}}")
        text = " ".join(self.lines + [closing])
        if style == "metamath":
            return f"{text}\nThe answer is: {self.answer}"
        if style != "math":
            raise ValueError(f"unknown solution style {style!r}")
        return text

    def pot(self) -> str:
        """A Python program whose printed output is the answer (``Fraction`` prints as ``p/q``)."""
        return "\n".join(self.pot_lines)


class Draw:
    """Content (numbers) and phrase (wording) streams of one problem."""

    def __init__(self, template: str, seed: int, phrase: int):
        self.rng = random.Random(f"math:{template}:{seed}:content")
        self._phrase = random.Random(f"math:{template}:{seed}:phrase:{phrase}")

    def int(self, lo: int, hi: int, exclude: tuple[int, ...] = ()) -> int:
        options = [v for v in range(lo, hi + 1) if v not in exclude]
        return self.rng.choice(options)

    def pick(self, options):
        return self.rng.choice(list(options))

    def say(self, *variants: str) -> str:
        return variants[self._phrase.randrange(len(variants))] if len(variants) > 1 else variants[0]


# ---------------------------------------------------------------- families
def fraction_add(d: Draw, p: MathProblem) -> None:
    b, e = d.int(2, 12), d.int(2, 12)
    a, c = d.int(1, b - 1), d.int(1, e - 1)
    if math.gcd(a, b) > 1 or math.gcd(c, e) > 1:
        raise Retry
    op = d.pick(["+", "-"])
    x, y = Fraction(a, b), Fraction(c, e)
    value = x + y if op == "+" else x - y
    if value == 0:
        raise Retry
    lcd = b * e // math.gcd(b, e)
    a2, c2 = a * lcd // b, c * lcd // e
    top = a2 + c2 if op == "+" else a2 - c2
    expr = f"\\frac{{{a}}}{{{b}}} {op} \\frac{{{c}}}{{{e}}}"
    p.question = d.say(f"Compute ${expr}$. Express your answer as a common fraction.",
                       f"What is ${expr}$? Express your answer in simplest form.",
                       f"Find ${expr}$, written as a fraction in lowest terms.")
    p.lines = [
        d.say(f"The least common denominator of ${b}$ and ${e}$ is ${lcd}$.", f"We use the common denominator ${lcd}$."),
        f"So ${expr} = \\frac{{{a2}}}{{{lcd}}} {op} \\frac{{{c2}}}{{{lcd}}} = {'-' if top < 0 else ''}\\frac{{{abs(top)}}}{{{lcd}}}$.",
    ]
    p.final = d.say("In lowest terms this is ${boxed}$.", "Simplifying gives ${boxed}$.")
    p.value = value
    p.pot_lines = ["from fractions import Fraction", f"x = Fraction({a}, {b})", f"y = Fraction({c}, {e})",
                   f"print(x {op} y)"]


def fraction_mul(d: Draw, p: MathProblem) -> None:
    a, b, c, e = d.int(1, 9), d.int(2, 10), d.int(1, 9), d.int(2, 10)
    if math.gcd(a, b) > 1 or math.gcd(c, e) > 1:
        raise Retry
    op = d.pick(["\\cdot", "\\div"])
    x, y = Fraction(a, b), Fraction(c, e)
    expr = f"\\frac{{{a}}}{{{b}}} {op} \\frac{{{c}}}{{{e}}}"
    p.question = d.say(f"Compute ${expr}$.", f"What is ${expr}$? Express your answer as a common fraction.")
    if op == "\\cdot":
        value = x * y
        p.lines = [f"Multiply the numerators and the denominators: ${expr} = \\frac{{{a} \\cdot {c}}}{{{b} \\cdot {e}}} = \\frac{{{a * c}}}{{{b * e}}}$."]
        pot = "print(x * y)"
    else:
        value = x / y
        p.lines = [
            d.say(f"Dividing by $\\frac{{{c}}}{{{e}}}$ is multiplying by $\\frac{{{e}}}{{{c}}}$.",
                  f"We multiply by the reciprocal $\\frac{{{e}}}{{{c}}}$."),
            f"So ${expr} = \\frac{{{a} \\cdot {e}}}{{{b} \\cdot {c}}} = \\frac{{{a * e}}}{{{b * c}}}$.",
        ]
        pot = "print(x / y)"
    p.final = d.say("This simplifies to ${boxed}$.", "In lowest terms, the answer is ${boxed}$.")
    p.value = value
    p.pot_lines = ["from fractions import Fraction", f"x = Fraction({a}, {b})", f"y = Fraction({c}, {e})", pot]


def linear_equation(d: Draw, p: MathProblem) -> None:
    a = d.int(2, 9)
    x = Fraction(d.int(-12, 12, exclude=(0,))) if d.rng.random() < 0.7 else Fraction(d.int(-12, 12, (0,)), a)
    b = d.int(-20, 20, exclude=(0,))
    c = a * x + b
    if c.denominator != 1:
        raise Retry
    c = int(c)
    sign = "+" if b > 0 else "-"
    eq = f"{a}x {sign} {abs(b)} = {c}"
    p.question = d.say(f"Solve for $x$: ${eq}$.", f"If ${eq}$, what is $x$?", f"Find $x$ such that ${eq}$.")
    move = f"Subtracting ${b}$ from both sides" if b > 0 else f"Adding ${-b}$ to both sides"
    p.lines = [f"{move} gives ${a}x = {c - b}$.", f"Dividing both sides by ${a}$ gives $x = \\frac{{{c - b}}}{{{a}}}$."]
    p.final = d.say("So $x = {boxed}$.", "Therefore $x = {boxed}$.")
    p.value = x
    p.pot_lines = ["from fractions import Fraction", f"a, b, c = {a}, {b}, {c}", "x = Fraction(c - b, a)", "print(x)"]


def linear_both_sides(d: Draw, p: MathProblem) -> None:
    a, c = d.int(2, 12), d.int(1, 11)
    if a == c:
        raise Retry
    x = d.int(-10, 10, exclude=(0,))
    b = d.int(-15, 15, exclude=(0,))
    e = (a - c) * x + b
    if e == 0:
        raise Retry
    left = f"{a}x {'+' if b > 0 else '-'} {abs(b)}"
    right = f"{c}x {'+' if e > 0 else '-'} {abs(e)}" if c != 1 else f"x {'+' if e > 0 else '-'} {abs(e)}"
    p.question = d.say(f"Solve for $x$: ${left} = {right}$.", f"What value of $x$ satisfies ${left} = {right}$?")
    p.lines = [
        f"Subtracting ${c}x$ from both sides gives ${a - c}x {'+' if b > 0 else '-'} {abs(b)} = {e}$.",
        f"Then ${a - c}x = {e - b}$, so $x = \\frac{{{e - b}}}{{{a - c}}}$.",
    ]
    p.final = d.say("Thus $x = {boxed}$.", "So $x = {boxed}$.")
    p.value = Fraction(e - b, a - c)
    p.pot_lines = ["from fractions import Fraction", f"x = Fraction({e} - ({b}), {a} - {c})", "print(x)"]


def evaluate_expression(d: Draw, p: MathProblem) -> None:
    a, b, c = d.int(1, 6), d.int(-9, 9, exclude=(0,)), d.int(1, 20)
    v = d.int(-6, 6, exclude=(0,))
    expr = f"{a}x^2 {'+' if b > 0 else '-'} {abs(b)}x - {c}"
    p.question = d.say(f"Evaluate ${expr}$ when $x = {v}$.", f"What is the value of ${expr}$ for $x = {v}$?",
                       f"If $x = {v}$, what is ${expr}$?")
    sq, lin = a * v * v, b * v
    value = sq + lin - c
    p.lines = [
        f"Substituting $x = {v}$ gives ${a}({v})^2 {'+' if b > 0 else '-'} {abs(b)}({v}) - {c}$.",
        f"This is ${sq} {'+' if lin >= 0 else '-'} {abs(lin)} - {c}$.",
    ]
    p.final = d.say("So the value is ${boxed}$.", "The result is ${boxed}$.")
    p.value = Fraction(value)
    p.pot_lines = [f"x = {v}", f"print({a} * x**2 + ({b}) * x - {c})"]


def order_of_operations(d: Draw, p: MathProblem) -> None:
    a, b, c, e = d.int(1, 30), d.int(2, 12), d.int(2, 12), d.int(2, 9)
    q = d.int(2, 12)
    f = e * q
    expr = f"{a} + {b} \\cdot {c} - {f} \\div {e}"
    p.question = d.say(f"What is ${expr}$?", f"Compute ${expr}$.", f"Find the value of ${expr}$.")
    p.lines = [
        f"First multiply and divide: ${b} \\cdot {c} = {b * c}$ and ${f} \\div {e} = {q}$.",
        f"Then ${a} + {b * c} - {q}$ is computed from left to right.",
    ]
    p.final = d.say("The answer is ${boxed}$.", "This gives ${boxed}$.")
    p.value = Fraction(a + b * c - q)
    p.pot_lines = [f"print({a} + {b} * {c} - {f} // {e})"]


def percent(d: Draw, p: MathProblem) -> None:
    pct = d.pick([5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 80])
    n = d.int(2, 40) * 20
    value = Fraction(pct * n, 100)
    if value.denominator != 1:
        raise Retry
    p.question = d.say(f"What is ${pct}\\%$ of ${n}$?", f"Compute ${pct}\\%$ of ${n}$.", f"Find ${pct}$ percent of ${n}$.")
    p.lines = [f"${pct}\\%$ of ${n}$ is $\\frac{{{pct}}}{{100}} \\cdot {n} = \\frac{{{pct * n}}}{{100}}$."]
    p.final = d.say("This equals ${boxed}$.", "So the answer is ${boxed}$.")
    p.value = value
    p.pot_lines = [f"print({pct} * {n} // 100)"]


def _factor(n: int) -> dict[int, int]:
    out: dict[int, int] = {}
    k = 2
    while k * k <= n:
        while n % k == 0:
            out[k] = out.get(k, 0) + 1
            n //= k
        k += 1
    if n > 1:
        out[n] = out.get(n, 0) + 1
    return out


def _factor_tex(factors: dict[int, int]) -> str:
    if not factors:
        return "1"
    return " \\cdot ".join(f"{q}^{{{e}}}" if e > 1 else str(q) for q, e in sorted(factors.items()))


def gcd_lcm(d: Draw, p: MathProblem) -> None:
    g = d.int(2, 12)
    a, b = g * d.int(2, 9), g * d.int(2, 9)
    if a == b:
        raise Retry
    kind = d.pick(["gcd", "lcm"])
    fa, fb = _factor(a), _factor(b)
    if kind == "gcd":
        value = math.gcd(a, b)
        p.question = d.say(f"What is the greatest common divisor of ${a}$ and ${b}$?",
                           f"Find the greatest common factor of ${a}$ and ${b}$.")
        rule = "The greatest common divisor takes the smaller power of each common prime"
        pot = f"print(math.gcd({a}, {b}))"
    else:
        value = a * b // math.gcd(a, b)
        p.question = d.say(f"What is the least common multiple of ${a}$ and ${b}$?",
                           f"Find the least common multiple of ${a}$ and ${b}$.")
        rule = "The least common multiple takes the larger power of each prime"
        pot = f"print(math.lcm({a}, {b}))"
    p.lines = [f"We factor ${a} = {_factor_tex(fa)}$ and ${b} = {_factor_tex(fb)}$.",
               f"{rule}: ${_factor_tex(_factor(value))}$."]
    p.final = "This is ${boxed}$."
    p.value = Fraction(value)
    p.pot_lines = ["import math", pot]


def linear_system(d: Draw, p: MathProblem) -> None:
    x, y = d.int(-10, 15), d.int(-10, 15)
    if x == y:
        raise Retry
    s, t = x + y, x - y
    target = d.pick(["x", "y"])
    p.question = d.say(f"If $x + y = {s}$ and $x - y = {t}$, what is the value of ${target}$?",
                       f"Given $x + y = {s}$ and $x - y = {t}$, find ${target}$.")
    if target == "x":
        p.lines = [f"Adding the two equations gives $2x = {s} + {paren(t)} = {s + t}$."]
        p.final = "So $x = {boxed}$."
        p.value = Fraction(s + t, 2)
        p.pot_lines = ["from fractions import Fraction", f"print(Fraction({s} + ({t}), 2))"]
    else:
        p.lines = [f"Subtracting the second equation from the first gives $2y = {s} - {paren(t)} = {s - t}$."]
        p.final = "So $y = {boxed}$."
        p.value = Fraction(s - t, 2)
        p.pot_lines = ["from fractions import Fraction", f"print(Fraction({s} - ({t}), 2))"]


def remainder(d: Draw, p: MathProblem) -> None:
    m = d.int(3, 13)
    n = d.int(30, 400)
    q, r = divmod(n, m)
    p.question = d.say(f"What is the remainder when ${n}$ is divided by ${m}$?",
                       f"Find the remainder of ${n}$ divided by ${m}$.")
    p.lines = [f"We have ${m} \\cdot {q} = {m * q}$ and ${n} - {m * q} = {r}$."]
    p.final = "So the remainder is ${boxed}$."
    p.value = Fraction(r)
    p.pot_lines = [f"print({n} % {m})"]


def quadratic_roots(d: Draw, p: MathProblem) -> None:
    r1, r2 = d.int(-9, 9), d.int(-9, 9)
    if r1 == r2:
        raise Retry
    s, prod = r1 + r2, r1 * r2
    b_term = "" if s == 0 else (f" - {s}x" if s > 0 else f" + {-s}x").replace(" 1x", " x")
    c_term = "" if prod == 0 else (f" + {prod}" if prod > 0 else f" - {-prod}")
    eq = f"x^2{b_term}{c_term} = 0"
    kind = d.pick(["sum", "product", "difference"])
    words = {"sum": "the sum", "product": "the product", "difference": "the positive difference"}[kind]
    p.question = d.say(f"What is {words} of the solutions of ${eq}$?", f"Find {words} of the roots of ${eq}$.")
    lo, hi = sorted([r1, r2])
    f1 = "x" if lo == 0 else f"(x {'-' if lo > 0 else '+'} {abs(lo)})"
    f2 = "x" if hi == 0 else f"(x {'-' if hi > 0 else '+'} {abs(hi)})"
    p.lines = [f"The equation factors as ${f1}{f2} = 0$, so the solutions are $x = {lo}$ and $x = {hi}$."]
    if kind == "sum":
        p.value, last = Fraction(s), f"Their sum is ${lo} + {paren(hi)}$."
        pot = "print(r1 + r2)"
    elif kind == "product":
        p.value, last = Fraction(prod), f"Their product is ${lo} \\cdot {paren(hi)}$."
        pot = "print(r1 * r2)"
    else:
        p.value, last = Fraction(hi - lo), f"Their positive difference is ${hi} - {paren(lo)}$."
        pot = "print(abs(r1 - r2))"
    p.lines.append(last)
    p.final = "The answer is ${boxed}$."
    p.pot_lines = [f"r1, r2 = {lo}, {hi}", pot]


def mean(d: Draw, p: MathProblem) -> None:
    k = d.int(3, 5)
    values = [d.int(1, 40) for _ in range(k)]
    total = sum(values)
    listing = ", ".join(f"${v}$" for v in values[:-1]) + f" and ${values[-1]}$"
    p.question = d.say(f"What is the arithmetic mean of {listing}?", f"Find the average of {listing}.")
    p.lines = [f"The sum is ${' + '.join(map(str, values))} = {total}$.",
               f"There are ${k}$ numbers, so the mean is $\\frac{{{total}}}{{{k}}}$."]
    p.final = d.say("This equals ${boxed}$.", "So the mean is ${boxed}$.")
    p.value = Fraction(total, k)
    p.pot_lines = ["from fractions import Fraction", f"values = {values}", "print(Fraction(sum(values), len(values)))"]


def powers(d: Draw, p: MathProblem) -> None:
    base = d.pick([2, 3, 5, 10])
    limit = {2: 10, 3: 6, 5: 4, 10: 4}[base]
    a, b = d.int(1, limit), d.int(1, limit)
    c = d.int(1, a + b)
    k = a + b - c
    if k > limit:
        raise Retry
    expr = f"{base}^{{{a}}} \\cdot {base}^{{{b}}} \\div {base}^{{{c}}}"
    p.question = d.say(f"Compute ${expr}$.", f"What is ${expr}$?")
    p.lines = [f"Adding and subtracting exponents gives ${base}^{{{a} + {b} - {c}}} = {base}^{{{k}}}$."]
    p.final = "This equals ${boxed}$."
    p.value = Fraction(base**k)
    p.pot_lines = [f"print({base}**{a} * {base}**{b} // {base}**{c})"]


def slope(d: Draw, p: MathProblem) -> None:
    x1, y1, x2, y2 = (d.int(-9, 9) for _ in range(4))
    if x1 == x2:
        raise Retry
    dy, dx = y2 - y1, x2 - x1
    p.question = d.say(f"What is the slope of the line through $({x1}, {y1})$ and $({x2}, {y2})$? Express your answer as a common fraction.",
                       f"Find the slope of the line that passes through $({x1}, {y1})$ and $({x2}, {y2})$.")
    p.lines = [f"The slope is $\\frac{{{y2} - {paren(y1)}}}{{{x2} - {paren(x1)}}} = \\frac{{{dy}}}{{{dx}}}$."]
    p.final = d.say("So the slope is ${boxed}$.", "This simplifies to ${boxed}$.")
    p.value = Fraction(dy, dx)
    p.pot_lines = ["from fractions import Fraction", f"print(Fraction({y2} - ({y1}), {x2} - ({x1})))"]


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable[[Draw, MathProblem], None]
    type: str
    level: int


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family("fraction_add", fraction_add, "Prealgebra", 2),
        Family("fraction_mul", fraction_mul, "Prealgebra", 2),
        Family("linear_equation", linear_equation, "Algebra", 1),
        Family("linear_both_sides", linear_both_sides, "Algebra", 2),
        Family("evaluate_expression", evaluate_expression, "Algebra", 1),
        Family("order_of_operations", order_of_operations, "Prealgebra", 1),
        Family("percent", percent, "Prealgebra", 1),
        Family("gcd_lcm", gcd_lcm, "Number Theory", 2),
        Family("linear_system", linear_system, "Algebra", 2),
        Family("remainder", remainder, "Number Theory", 1),
        Family("quadratic_roots", quadratic_roots, "Algebra", 3),
        Family("mean", mean, "Prealgebra", 2),
        Family("powers", powers, "Prealgebra", 2),
        Family("slope", slope, "Algebra", 2),
    ]
}

OPTIONS: dict[str, Option] = {
    o.name: o
    for o in [
        Option("seed", int, 0, "random seed"),
        Option("n_train", int, 1000, "number of training problems", at_least(0)),
        Option("n_test", int, 300, "number of test problems", at_least(0)),
        Option("n_pretrain", int, 0, "problems in the pretrain split (0: no pretrain split)", at_least(0)),
        Option("templates", list, None, "restrict to these families (default: all)", nullable=True,
               choices=tuple(FAMILIES)),
        Option("splits", list, list(ALL_SPLITS), "splits to write", choices=ALL_SPLITS),
    ]
}


def build_problem(template: str, seed: int, phrase: int = 0) -> MathProblem:
    """Build one problem of a family (raises Retry on a bad draw)."""
    family = FAMILIES[template]
    problem = MathProblem(template=template, seed=seed, phrase=phrase, type=family.type, level=family.level)
    family.build(Draw(template, seed, phrase), problem)
    return problem


def problem_from_metadata(metadata: dict, phrase: int | None = None) -> MathProblem:
    gen = metadata["gen"]
    return build_problem(metadata["template"], gen["seed"], gen["phrase"] if phrase is None else phrase)


def problem_record(problem: MathProblem, record_id: str, split: str) -> dict:
    value = problem.value
    return {
        "id": record_id,
        "question": problem.question,
        "solution": problem.solution("math"),
        "answer": problem.answer,
        "source": SOURCE,
        "metadata": {
            "n_steps": problem.n_steps,
            "template": problem.template,
            "split": split,
            "type": problem.type,
            "level": problem.level,
            "value": str(value),
            "gen": {"seed": problem.seed, "phrase": problem.phrase},
        },
    }


def signature(problem: MathProblem) -> tuple:
    return problem.template, tuple(re.findall(r"-?\d+", problem.question))


def source_splits(name: str, options: dict[str, Any]) -> list[str]:
    """Splits written for these (resolved) options."""
    return list(options["splits"]) + ([PRETRAIN_SPLIT] if options.get("n_pretrain", 0) > 0 else [])


def check_source_options(name: str, options: dict) -> None:
    if not (options["templates"] is None or options["templates"]):
        raise ValueError("math_synth: option 'templates' is empty")


def _draw(rng: random.Random, pool: list[str], seen: set, counters: Counter, label: str,
          spent: set[str] | None = None, index: int = 0) -> MathProblem:
    """Draw a problem not seen before. A family whose small problem space is used up is set aside
    (counted in the stats) and another family is drawn, so large datasets stay possible. With ``spent``
    (a set kept over the whole split) a family set aside stays aside for the rest of the split."""
    families = [t for t in pool if spent is None or t not in spent]
    while families:
        template = rng.choice(families)
        for _ in range(MAX_DRAWS_PER_ITEM):
            seed = rng.getrandbits(40)  # a bad draw keeps its family, so families stay equally likely
            try:
                problem = build_problem(template, seed)
            except Retry:
                counters["redrawn_constraint"] += 1
                continue
            key = signature(problem)
            if key in seen:
                counters[f"redrawn_duplicate_{label}"] += 1
                continue
            seen.add(key)
            return problem
        counters[f"family_exhausted_{label}"] += 1
        families.remove(template)
        if spent is not None:
            spent.add(template)
    raise exhausted("math_synth", label, index, f"{MAX_DRAWS_PER_ITEM} tries per family, families {', '.join(pool)}")


def build_source_records(name: str, options: dict) -> tuple[dict[str, list[dict]], dict]:
    pool = [t for t in FAMILIES if not options["templates"] or t in options["templates"]]
    seen: set = set()
    counters: Counter = Counter()
    sizes = {"train": options["n_train"], "test": options["n_test"], PRETRAIN_SPLIT: options["n_pretrain"]}
    records: dict[str, list[dict]] = {}
    # train first (test never repeats a train problem), pretrain last (disjoint from both, and the
    # other splits are the same with or without it)
    for split in (*ALL_SPLITS, PRETRAIN_SPLIT):
        rng = random.Random(f"math_synth:{options['seed']}:{split}")
        spent = set() if split == PRETRAIN_SPLIT else None  # train/test keep their historical draws
        rows = [problem_record(_draw(rng, pool, seen, counters, split, spent, i), f"math-{split}-{i:06d}", split)
                for i in range(sizes[split])]
        if split in options["splits"] or (split == PRETRAIN_SPLIT and rows):
            records[split] = rows
    stats = {
        "splits": {
            split: dataset_stats(rows, templates=dict(sorted(Counter(r["metadata"]["template"] for r in rows).items())))
            for split, rows in records.items()
        },
        "filtered": {},
        "generation": dict(sorted(counters.items())),
    }
    return records, stats
