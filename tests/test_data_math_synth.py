"""math_synth: schema, determinism, split disjointness and golds checked by math-verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from math_verify import parse, verify

from cotmask.data import build_source, source_splits
from cotmask.answers import boxed_answer
from cotmask.data.math_synth import FAMILIES, problem_from_metadata
from cotmask.records import read_jsonl

SMALL = {"n_train": 90, "n_test": 30}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("math")
    build_source("math_synth", str(out), seed=5, **SMALL)
    return out


def test_splits_schema_and_stats(built):
    assert source_splits("math_synth", {}) == ["train", "test"]
    train, test = read_jsonl(built / "train.jsonl"), read_jsonl(built / "test.jsonl")
    assert len(train) == 90 and len(test) == 30
    stats = json.loads((built / "stats.json").read_text())
    assert stats["splits"]["train"]["n"] == 90 and stats["source"] == "math_synth"
    assert len({r["metadata"]["template"] for r in train}) >= len(FAMILIES) - 1
    for r in train + test:
        assert r["source"] == "math_synth" and r["metadata"]["n_steps"] >= 2
        assert r["metadata"]["type"] in {"Algebra", "Prealgebra", "Number Theory"}


def test_golds_verified_by_math_verify(built):
    for r in read_jsonl(built / "train.jsonl") + read_jsonl(built / "test.jsonl"):
        boxed = boxed_answer(r["solution"])
        assert boxed == r["answer"], r["id"]
        gold = parse(f"${r['answer']}$")
        assert gold, r["id"]
        assert verify(gold, parse(r["solution"])), r["id"]
        # the exact rational recorded in metadata agrees with the LaTeX answer
        assert verify(gold, parse(r["metadata"]["value"])), (r["id"], r["answer"], r["metadata"]["value"])


def test_wrong_answer_is_rejected_by_the_same_check(built):
    r = read_jsonl(built / "test.jsonl")[0]
    wrong = r["solution"].replace(f"\\boxed{{{r['answer']}}}", "\\boxed{12345}")
    assert not verify(parse(f"${r['answer']}$"), parse(wrong))


def test_train_test_disjoint(built):
    train_q = {r["question"] for r in read_jsonl(built / "train.jsonl")}
    assert not train_q & {r["question"] for r in read_jsonl(built / "test.jsonl")}


def test_deterministic_and_seed_sensitive(tmp_path, built):
    build_source("math_synth", str(tmp_path / "a"), seed=5, **SMALL)
    for name in ("train.jsonl", "test.jsonl", "stats.json"):
        assert (tmp_path / "a" / name).read_bytes() == (built / name).read_bytes()
    build_source("math_synth", str(tmp_path / "b"), seed=6, **SMALL)
    assert (tmp_path / "b" / "train.jsonl").read_bytes() != (built / "train.jsonl").read_bytes()


def test_rebuild_and_rephrase_keep_the_answer(built):
    changed = 0
    for r in read_jsonl(built / "train.jsonl")[:40]:
        problem = problem_from_metadata(r["metadata"])
        assert problem.question == r["question"] and problem.solution() == r["solution"]
        other = problem_from_metadata(r["metadata"], phrase=3)
        assert other.answer == r["answer"]
        changed += other.question != r["question"]
    assert changed > 5


def test_bad_options(tmp_path):
    with pytest.raises(ValueError, match="templates"):
        build_source("math_synth", str(tmp_path), templates=["calculus"])
    with pytest.raises(ValueError, match="n_tset"):
        build_source("math_synth", str(tmp_path), n_tset=3)


def test_pretrain_split_is_disjoint_and_leaves_other_splits_unchanged(tmp_path, built):
    out = tmp_path / "with_pretrain"
    stats = build_source("math_synth", str(out), seed=5, n_pretrain=500, **SMALL)
    assert source_splits("math_synth", {"splits": ["train", "test"], "n_pretrain": 500}) == ["train", "test", "pretrain"]
    for name in ("train.jsonl", "test.jsonl"):  # identical bytes with and without the pretrain split
        assert (out / name).read_bytes() == (built / name).read_bytes()
    pretrain = read_jsonl(out / "pretrain.jsonl")
    assert len(pretrain) == 500 and stats["splits"]["pretrain"]["n"] == 500
    keys = {(r["metadata"]["template"], r["question"]) for r in pretrain}
    assert len(keys) == 500
    others = read_jsonl(built / "train.jsonl") + read_jsonl(built / "test.jsonl")
    assert not {r["question"] for r in pretrain} & {r["question"] for r in others}
    assert all(r["metadata"]["split"] == "pretrain" and r["id"].startswith("math-pretrain-") for r in pretrain)


def test_pretrain_sets_a_spent_family_aside_for_the_rest_of_the_split(tmp_path):
    # quadratic_roots has fewer than 100 distinct problems: it runs out and the other family fills the split
    stats = build_source("math_synth", str(tmp_path), seed=0, n_train=10, n_test=10, n_pretrain=300,
                         templates=["quadratic_roots", "remainder"])
    pretrain = read_jsonl(tmp_path / "pretrain.jsonl")
    assert len(pretrain) == 300 == len({r["question"] for r in pretrain})
    counts = {t: sum(r["metadata"]["template"] == t for r in pretrain) for t in ("quadratic_roots", "remainder")}
    assert 0 < counts["quadratic_roots"] < 100 and counts["remainder"] > 200
    assert stats["generation"]["family_exhausted_pretrain"] == 1  # set aside once, not once per later item
