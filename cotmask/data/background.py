"""Background sentences for the pre-training corpus: story text that the solution does not use.

A GSM8K-scale base model has read a great deal of text in which not every sentence, and not every
number, matters to the question at hand. A tiny model pre-trained only on generated problems has not:
in every problem it has seen, each number is used by the solution, so it learns to use every number it
reads. Fine-tuned on clean GSM-style data, such a model reads a GSM-IC distractor as one more step, and
the distractor sets say nothing about MFT (every method sits at the floor).

With the ``gsm_synth`` option ``pretrain_background`` a share of the *pre-training* problems get one
background sentence, inserted where GSM-IC inserts its distractors (never after the asking sentence,
never before a sentence that opens with a pronoun). Fine-tuning and test data never get one.

The pool is kept apart from GSM-IC's distractors (:mod:`cotmask.data.distractors`), so that the
GSM-IC sets stay a test of transfer: no pattern, verb phrase or relative word is shared (a test checks
this). Three kinds, drawn equally often:

* ``label``: a number that is not a quantity (a house, room or locker number, a year, a temperature);
* ``quantity``: a count that belongs to someone or something outside the problem;
* ``plain``: a sentence without a number.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cotmask.data.distractors import insert, insert_positions
from cotmask.data.gsm_problem import NAMES, NumberRange

KINDS = ("label", "quantity", "plain")
BACKGROUND_RELATIVES = ("brother", "sister", "grandmother", "coach", "classmate")

LABEL = (
    "{who}'s house is number [n] on the street.",
    "{who}'s class meets in room [n].",
    "{who}'s locker in the gym is number [n].",
    "It was [n] degrees outside that day.",
    "{who}'s team jersey has the number [n] on it.",
    "It all happened in [year].",
)
QUANTITY = (
    "{who} once saw [n] birds on a fence.",
    "{who} has visited the lake [n] times.",
    "{who} sang [n] songs at a party.",
    "A tower in the town is [n] feet tall.",
    "{who} walked [n] laps around the field.",
    "There were [n] clouds in the sky.",
)
PLAIN = (
    "It was a sunny day.",
    "{who} likes to draw pictures.",
    "{who} was happy about it.",
    "The weather was cold that month.",
    "{who} talked about the plan at dinner.",
    "Everyone enjoyed the afternoon.",
)
PATTERNS = {"label": LABEL, "quantity": QUANTITY, "plain": PLAIN}


@dataclass(frozen=True)
class Background:
    sentence: str
    position: int  # index among the question's sentences where it is inserted
    kind: str


def make_background(sentences: list[str], people: list[str], numbers: NumberRange, rng: random.Random) -> Background:
    """Draw one background sentence for a question given as sentences (the last one asks)."""
    kind = rng.choice(KINDS)
    pattern = rng.choice(PATTERNS[kind])
    if people and rng.random() < 0.5:
        who = rng.choice(people)
        if rng.random() < 0.5:
            who = f"{who}'s {rng.choice(BACKGROUND_RELATIVES)}"
    else:
        who = rng.choice([p.name for p in NAMES if p.name not in people])
    if rng.random() < 0.5:
        number = rng.randint(numbers.min_number, numbers.max_number)
    else:
        number = rng.randint(numbers.max_number + 1, max(numbers.max_value, numbers.max_number + 1))
    sentence = pattern.format(who=who).replace("[n]", str(number)).replace("[year]", str(rng.randint(1950, 2020)))
    position = rng.choice(insert_positions(sentences))
    return Background(sentence, position, kind)


def insert_background(sentences: list[str], background: Background) -> list[str]:
    """The sentences with the background sentence inserted at its position (as a GSM-IC distractor is)."""
    return insert(sentences, background)
