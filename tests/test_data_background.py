"""Background sentences in the gsm_synth pre-training corpus (option ``pretrain_background``)."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from cotmask.data import build_source
from cotmask.data.background import BACKGROUND_RELATIVES, KINDS, PATTERNS, make_background
from cotmask.data.distractors import IN_TOPIC, OFF_TOPIC, RELATIVES, insert_positions
from cotmask.data.gsm_problem import NumberRange
from cotmask.data.gsm_synth import ALL_SPLITS
from cotmask.records import read_jsonl

SMALL = {"n_train": 60, "n_test": 30, "n_ic": 20, "ic_bases": 8, "min_steps": 2, "max_steps": 4}
FUNCTION_WORDS = {"is", "has", "was", "were", "the", "a", "an", "in", "on", "at", "of", "to", "with", "that",
                  "it", "there", "about", "who", "n", "item", "year", "every", "from"}


def content_words(patterns) -> set[str]:
    words = {w.lower() for p in patterns for w in re.findall(r"[A-Za-z]+", p)}
    return words - FUNCTION_WORDS


def test_background_pool_shares_nothing_with_gsm_ic_distractors():
    """GSM-IC stays a test of transfer: no pattern, content word or relative in common."""
    background = [p for kind in KINDS for p in PATTERNS[kind]]
    distractor = list(IN_TOPIC) + list(OFF_TOPIC)
    assert not set(background) & set(distractor)
    assert not set(BACKGROUND_RELATIVES) & set(RELATIVES)
    assert not content_words(background) & (content_words(distractor) | set(RELATIVES))


def test_background_sentence_is_inserted_where_gsm_ic_inserts():
    rng = random.Random(0)
    sentences = ["Mia has 4 pens.", "She buys 3 more.", "Leo gives her 2 pens.", "How many pens does Mia have?"]
    kinds = Counter()
    for _ in range(300):
        b = make_background(sentences, ["Mia", "Leo"], NumberRange(2, 20, 1000), rng)
        assert b.position in insert_positions(sentences) and b.position != 1  # never before "She ..."
        assert b.sentence.endswith(".") and "{" not in b.sentence and "[" not in b.sentence
        assert (re.search(r"\d", b.sentence) is None) == (b.kind == "plain")
        kinds[b.kind] += 1
    assert set(kinds) == set(KINDS) and min(kinds.values()) > 60


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    out = {}
    for share in (0.0, 0.5):
        directory = tmp_path_factory.mktemp(f"bg{share}")
        stats = build_source("gsm_synth", str(directory), seed=2, n_pretrain=600, pretrain_background=share, **SMALL)
        out[share] = (directory, stats)
    return out


def test_background_changes_only_pretrain_questions(corpora):
    (plain_dir, _), (bg_dir, stats) = corpora[0.0], corpora[0.5]
    for split in ALL_SPLITS:  # fine-tuning and test data never get a background sentence
        assert (bg_dir / f"{split}.jsonl").read_bytes() == (plain_dir / f"{split}.jsonl").read_bytes()
    plain, with_bg = read_jsonl(plain_dir / "pretrain.jsonl"), read_jsonl(bg_dir / "pretrain.jsonl")
    assert all("background" not in r["metadata"] for r in plain)
    changed = 0
    for before, after in zip(plain, with_bg, strict=True):
        assert (after["solution"], after["answer"], after["id"]) == (before["solution"], before["answer"], before["id"])
        meta = after["metadata"]
        if "background" not in meta:
            assert after["question"] == before["question"]
            continue
        changed += 1
        sentences = re.split(r"(?<=[.?])\s+", before["question"])
        expected = sentences[: meta["background_position"]] + [meta["background"]] + sentences[meta["background_position"]:]
        assert after["question"] == " ".join(expected)
        assert after["question"].endswith(sentences[-1])  # the asking sentence stays last
    assert 240 < changed < 360  # ~half of 600
    assert sum(v for k, v in stats["generation"].items() if k.startswith("background_")) == changed


def test_background_share_is_validated(tmp_path):
    with pytest.raises(ValueError, match="pretrain_background"):
        build_source("gsm_synth", str(tmp_path / "x"), n_pretrain=10, pretrain_background=1.5, **SMALL)
