"""A safe calculator for GSM8K ``<<expression=result>>`` annotations.

GSM8K solutions mark each arithmetic step as ``<<48/2=24>>24``. With calculator-assisted decoding
(:mod:`cotmask.generation`) the decoder, not the model, writes the result after ``=``. The expression is
model output, so it is never given to ``eval``: it is parsed with :mod:`ast` and only numbers, the binary
operators ``+ - * / // % **``, unary ``+``/``-`` and parentheses are accepted. Anything else (names,
calls, attribute access, subscripts, strings, comparisons...) makes :func:`evaluate_expression` return
``None``, and the decoder then lets the model continue on its own.

Arithmetic is exact: numbers are :class:`fractions.Fraction`, so ``0.1+0.2`` is exactly ``0.3``. Only a
power with a non-integer exponent falls back to floating point. Sizes are bounded (exponent at most
:data:`MAX_EXPONENT` in absolute value, results at most :data:`MAX_MAGNITUDE`, expressions at most
:data:`MAX_EXPRESSION_CHARS` characters) so that hostile input such as ``9**9**9`` cannot hang the decoder.

Result format (:func:`format_number`), the GSM8K way: integers without a decimal point (``24``, not
``24.0``); other values rounded half-to-even to at most :data:`DECIMALS` (= 6) decimal places with trailing
zeros removed (``2.5``, ``3.333333``, ``-0.125``). Six places keep chained steps accurate far below the
1e-4 tolerance of GSM8K scoring while staying short.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import warnings
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

DECIMALS = 6
MAX_EXPONENT = 64
MAX_MAGNITUDE = Fraction(10) ** 30
MAX_EXPRESSION_CHARS = 200
MAX_NODES = 200

_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_ANNOTATION = re.compile(r"<<([^<>]*)=([^<>=]*)>>")

Number = Fraction | float


class CalculatorError(ValueError):
    """An expression the calculator refuses or cannot evaluate."""


def _check_size(value: Number) -> Number:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise CalculatorError("result is not finite")
        if abs(value) > MAX_MAGNITUDE:
            raise CalculatorError("result too large")
        return value
    if abs(value) > MAX_MAGNITUDE:
        raise CalculatorError("result too large")
    # Fractions with huge denominators (e.g. 1/3**64) are as costly as huge numerators.
    if value.denominator > MAX_MAGNITUDE:
        raise CalculatorError("result too fine-grained")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponent {exponent} exceeds {MAX_EXPONENT}")
    if isinstance(exponent, Fraction) and exponent.denominator == 1 and isinstance(base, Fraction):
        if base == 0 and exponent < 0:
            raise CalculatorError("zero to a negative power")
        # Bound the size before computing: |base|**exponent must stay below MAX_MAGNITUDE.
        if base != 0 and abs(base) != 1:
            digits = abs(math.log10(abs(base.numerator) + 1)) + abs(math.log10(base.denominator + 1))
            if digits * abs(int(exponent)) > 2 * math.log10(MAX_MAGNITUDE) + 2:
                raise CalculatorError("power too large")
        return base ** int(exponent)
    result = float(base) ** float(exponent)
    if isinstance(result, complex):
        raise CalculatorError("complex result")
    return result


def _floordiv(left: Number, right: Number) -> Number:
    return left // right


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: _floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def _evaluate_node(node: ast.AST) -> Number:
    """Evaluate one whitelisted AST node; anything else raises CalculatorError."""
    if isinstance(node, ast.Expression):
        return _evaluate_node(node.body)
    if isinstance(node, ast.Constant):
        value = node.value
        # bool is an int subclass; complex and str are refused.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CalculatorError(f"constant {value!r} is not a number")
        return _check_size(Fraction(value) if isinstance(value, int) else Fraction(str(value)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _evaluate_node(node.left)
        right = _evaluate_node(node.right)
        if type(node.op) in (ast.Div, ast.FloorDiv, ast.Mod) and right == 0:
            raise CalculatorError("division by zero")
        return _check_size(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate_node(node.operand))
    raise CalculatorError(f"{type(node).__name__} is not allowed")


def normalise_expression(expression: str) -> str:
    """Prepare annotation text for parsing: drop thousands commas, ``$`` and a trailing ``=``."""
    text = expression.strip()
    if text.endswith("="):
        text = text[:-1]
    text = _THOUSANDS_COMMA.sub("", text)
    return text.replace("$", "").strip()


def evaluate_expression(expression: str) -> Fraction | float | None:
    """Evaluate an arithmetic expression safely; ``None`` when it is refused or fails.

    Exact results are returned as :class:`~fractions.Fraction`; a non-integer power gives a float.
    """
    text = normalise_expression(expression)
    if not text or len(text) > MAX_EXPRESSION_CHARS:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "1if 1"
            tree = ast.parse(text, mode="eval")
        if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
            return None
        return _evaluate_node(tree)
    except (CalculatorError, SyntaxError, ValueError, ZeroDivisionError, OverflowError,
            RecursionError, MemoryError, TypeError):
        return None


def format_number(value: Fraction | float | int, decimals: int = DECIMALS) -> str:
    """Format a result the GSM8K way: ``24`` (no ``.0``), ``2.5``, ``3.333333`` (at most ``decimals``)."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return str(value.numerator)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Fraction):
        exact = Decimal(value.numerator) / Decimal(value.denominator)
    else:
        exact = Decimal(repr(float(value)))
    rounded = exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)
    if rounded == rounded.to_integral_value():
        text = str(int(rounded))
    else:
        text = format(rounded, "f").rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def calculate(expression: str, decimals: int = DECIMALS) -> str | None:
    """The text the decoder writes after ``<<expression=``: the formatted result, or ``None``."""
    value = evaluate_expression(expression)
    if value is None:
        return None
    try:
        return format_number(value, decimals)
    except (ArithmeticError, ValueError):
        return None


def check_annotations(solution: str, tolerance: float = 1e-4) -> list[tuple[str, str, str | None, bool]]:
    """Recompute every ``<<expr=result>>`` of a solution: (expr, written, computed, agrees) per annotation."""
    checks = []
    for match in _ANNOTATION.finditer(solution):
        expression, written = match.group(1), match.group(2).strip()
        computed = calculate(expression)
        agrees = False
        if computed is not None:
            try:
                agrees = abs(float(computed) - float(_THOUSANDS_COMMA.sub("", written))) <= tolerance
            except ValueError:
                agrees = False
        checks.append((expression, written, computed, agrees))
    return checks
