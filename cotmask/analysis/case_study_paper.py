"""The paper's dependency case study (Table 4, Figs. 4-5; shared/paper.md §2.6) as data: the
"Janet's ducks" test question, the chain prefix that is forced, the 10 variants of each figure and the
paper's numbers.

What shared/paper.md states: Fig. 4 forces the prefix "…: 16 eggs/day - n eggs/day" with the digit n
varied over 0-9 and counts the variants after which the model still writes ``16-3`` (3 is the question's
number, "three"); Fig. 5 changes the number in the *question* ("three" -> "five", etc.) and counts the
variants after which the model follows the question (``16-n``). Table 4 gives the fraction of the 10
variants.

What it does not state, and how it is filled in here (a reconstruction, not the paper's text):

* the words that the "…" of the prefix stands for: :data:`JANET_PREFIX_LEAD` (it names no number, so the
  only mention of the eaten eggs is the question's "three" and the prefix's operand);
* the prefix of Fig. 5: the unchanged Fig. 4 prefix with n = 3 (the model's own chain for the original
  question), so that following the question means writing ``16-n`` against a prefix that says 3;
* the 10 variants of Fig. 5: the number words zero ... nine in place of "three".

Both variant sets contain the unchanged value (n = 3, "three"), as the paper's 10 do; a model that simply
repeats the prefix therefore scores 0.1 on both, which is the paper's SFT row.
"""

from __future__ import annotations

#: GSM8K test item 0 (the question of the paper's case study), with its number "three" at
#: :data:`JANET_NUMBER_SPAN`.
JANET_QUESTION = (
    "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
    "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per "
    "fresh duck egg. How much in dollars does she make every day at the farmers' market?"
)
#: the question's number that the case study varies (Fig. 5) and that the model should write (Fig. 4)
JANET_NUMBER_WORD = "three"
JANET_NUMBER = "3"
#: the forced chain prefix around the operand: LEAD + "16 eggs/day - " + n + " eggs/day"
JANET_PREFIX_LEAD = "Janet's ducks lay 16 eggs per day and she eats some for breakfast: "
JANET_FIRST_OPERAND = "16"
JANET_OPERATOR = "-"
JANET_PREFIX_BEFORE = f"{JANET_PREFIX_LEAD}{JANET_FIRST_OPERAND} eggs/day {JANET_OPERATOR} "
JANET_PREFIX_AFTER = " eggs/day"
#: the 10 values of n (Fig. 4) and of the question's number (Fig. 5): the digits 0-9
JANET_VARIANTS = tuple(str(digit) for digit in range(10))
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: Table 4 of the paper (Llama2-7B fine-tuned on GSM8K): fraction of the 10 variants. ``noise`` and
#: ``mask_ratio`` say which of our fine-tunes a row is the counterpart of (r=1: random tokens; m=1: [mask]).
PAPER_TABLE4 = (
    {"method": "SFT", "noise": None, "fig4": 0.1, "fig5": 0.1},
    {"method": "MFT (m=0, r=1)", "noise": "random", "fig4": 1.0, "fig5": 0.4},
    {"method": "MFT (m=1, r=0)", "noise": "mask", "fig4": 0.4, "fig5": 0.2},
)
#: Table 9 (App. E): with the other premises removed, every model follows the question on both figures.
PAPER_TABLE9 = {"SFT": (1.0, 1.0), "MFT (m=0, r=1)": (1.0, 1.0), "MFT (m=1, r=0)": (1.0, 1.0)}


def paper_row(noise: str | None) -> dict | None:
    """The paper's Table 4 row for a fine-tune of this noise kind (None: SFT); None when it has none."""
    for row in PAPER_TABLE4:
        if row["noise"] == noise:
            return row
    return None


def changed_only(fraction: float, n_variants: int = len(JANET_VARIANTS)) -> float:
    """A paper fraction over all 10 variants restated over the 9 changed ones, assuming (as any model that
    writes the number both the question and the prefix state would) that the unchanged variant counts."""
    return (fraction * n_variants - 1.0) / (n_variants - 1)
