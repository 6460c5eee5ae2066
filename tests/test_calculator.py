"""The safe calculator of GSM8K annotations."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cotmask.calculator import calculate, check_annotations, evaluate_expression, format_number

VALID = [
    ("48/2", "24"),
    ("48/2=", "24"),
    (" 3 * 4 ", "12"),
    ("5*0.5", "2.5"),
    ("10/4", "2.5"),
    ("10/3", "3.333333"),
    ("2/3", "0.666667"),
    ("-1/8", "-0.125"),
    ("0.1+0.2", "0.3"),
    ("1,000*2", "2000"),
    ("1,234,567+1", "1234568"),
    ("$5*3", "15"),
    ("-3-4", "-7"),
    ("-(3-4)", "1"),
    ("+7", "7"),
    ("7//2", "3"),
    ("-7//2", "-4"),
    ("7%3", "1"),
    ("2**10", "1024"),
    ("2**-2", "0.25"),
    ("2**0.5", "1.414214"),
    ("(1+2)*(3+4)", "21"),
    ("((((5))))", "5"),
    ("100*1.5/3", "50"),
    ("0.5*0.5", "0.25"),
    ("1.10+2.20", "3.3"),
    ("12.00", "12"),
    ("3-3", "0"),
    ("-0.0000001", "0"),
    ("2**64", "18446744073709551616"),
]

REFUSED = [
    "__import__('os').system('true')",
    "().__class__.__bases__[0].__subclasses__()",
    "(1).real",
    "open('x')",
    "x+1",
    "print(1)",
    "lambda: 1",
    "[1, 2]",
    "'a'*3",
    "1 if 1 else 2",
    "1 < 2",
    "True+1",
    "1j*2",
    "9**9**9",
    "10**100",
    "2**1000",
    "10**20*10**20",
    "1/3**64",
    "1e400",
    "1/0",
    "5//0",
    "5%0",
    "0**-1",
    "(-8)**(1/3)",
    "3+",
    "",
    "=",
    "(" * 300 + "1" + ")" * 300,
    "+".join(["1"] * 300),
    "1;2",
    "a=1",
    "3 4",
]


@pytest.mark.parametrize(("expression", "expected"), VALID)
def test_valid_expressions(expression, expected):
    assert calculate(expression) == expected


@pytest.mark.parametrize("expression", REFUSED)
def test_refused_expressions(expression):
    assert calculate(expression) is None
    assert evaluate_expression(expression) is None


def test_results_are_exact_fractions():
    assert evaluate_expression("1/3+1/6") == Fraction(1, 2)
    assert evaluate_expression("0.1*3") == Fraction(3, 10)


def test_format_number():
    assert format_number(Fraction(24)) == "24"
    assert format_number(24.0) == "24"
    assert format_number(Fraction(5, 2)) == "2.5"
    assert format_number(Fraction(1, 3), decimals=2) == "0.33"
    assert format_number(Fraction(2, 3), decimals=2) == "0.67"
    assert format_number(-Fraction(1, 10**9)) == "0"
    assert format_number(7) == "7"


def test_check_annotations_flags_wrong_results():
    solution = "Half is <<48/2=24>>24. Then <<24*3=70>>70. Odd <<a+1=2>>.\n#### 70"
    checks = check_annotations(solution)
    assert [(c[0], c[1], c[2], c[3]) for c in checks] == [
        ("48/2", "24", "24", True),
        ("24*3", "70", "72", False),
        ("a+1", "2", None, False),
    ]
