"""GSM-IC-style irrelevant context: insert one distractor sentence with a number into a question.

Shi et al. (2023) built GSM-IC from GSM8K problems by inserting a single irrelevant sentence and
labelling it along three axes, which we reproduce:

* topic: ``in_topic`` (about an item of the problem, e.g. another person's marbles) or ``off_topic``;
* role: ``overlapped`` (mentions a person of the problem, e.g. "Mia's uncle ...") or ``nonoverlapped``;
* number range: ``in_range`` (like the problem's numbers) or ``out_range`` (much larger).

The gold answer is unchanged. The sentence goes between two sentences of the question (never after
the asking sentence), and never right before a sentence that opens with a pronoun, whose referent the
distractor would change.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cotmask.data.gsm_problem import NAMES, NumberRange

PRONOUNS = {"he", "she", "him", "her", "his", "it", "its", "they", "them", "their", "then"}
RELATIVES = ("uncle", "aunt", "cousin", "neighbor", "friend", "teacher")

IN_TOPIC = (
    "{who} has [n] {item}.",
    "{who} buys [n] {item} at a shop.",
    "{who} had [n] {item} last year.",
    "{who} wants [n] {item}.",
)
OFF_TOPIC = (
    "{who} is [n] years old.",
    "{who} lives [n] miles from the school.",
    "{who} has [n] cousins.",
    "{who} reads [n] pages of a book every week.",
    "The park near the school has [n] benches.",
    "The shop is open [n] hours a week.",
)


@dataclass(frozen=True)
class Distractor:
    sentence: str
    position: int  # index among the question's sentences where it is inserted
    topic: str
    role: str
    number_range: str
    number: int


def insert_positions(sentences: list[str]) -> list[int]:
    """Positions (0 .. len(sentences)-1) before which a sentence may be inserted: before the asking
    sentence at the latest, and never before a sentence opening with a pronoun."""
    positions = []
    for index, sentence in enumerate(sentences):
        words = [w.strip(",.?").lower() for w in sentence.split()[:2]]
        if not PRONOUNS.intersection(words):
            positions.append(index)
    return positions


def make_distractor(
    sentences: list[str], people: list[str], items: list[str], numbers: NumberRange, rng: random.Random
) -> Distractor:
    """Draw one distractor for a question given as sentences (the last one asks)."""
    topics = ["off_topic"] + (["in_topic"] if items else [])
    roles = ["nonoverlapped"] + (["overlapped"] if people else [])
    topic, role = rng.choice(topics), rng.choice(roles)
    number_range = rng.choice(["in_range", "out_range"])
    if number_range == "in_range":
        number = rng.randint(numbers.min_number, numbers.max_number)
    else:
        low = max(5 * numbers.max_number, 50)
        number = rng.randint(low, 10 * low)
    if role == "overlapped":
        who = f"{rng.choice(people)}'s {rng.choice(RELATIVES)}"
    else:
        who = rng.choice([p.name for p in NAMES if p.name not in people])
    if topic == "in_topic":
        pattern = rng.choice(IN_TOPIC)
        item = rng.choice(items)
    else:
        pattern = rng.choice(OFF_TOPIC)
        item = ""
        if "{who}" not in pattern:  # sentences about a place mention no person: no role overlap
            role = "nonoverlapped"
    sentence = pattern.format(who=who, item=item).replace("[n]", str(number))
    position = rng.choice(insert_positions(sentences))
    return Distractor(sentence, position, topic, role, number_range, number)


def insert(sentences: list[str], distractor: Distractor) -> list[str]:
    """The sentences with the distractor (anything with ``sentence`` and ``position``) inserted at its position."""
    return sentences[: distractor.position] + [distractor.sentence] + sentences[distractor.position :]
