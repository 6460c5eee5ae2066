"""gsm_synth: schema, determinism, arithmetic of every annotation, splits and GSM-IC distractor sets."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest

from cotmask.data import SOURCES, build_source, source_splits
from cotmask.data import gsm_synth
from cotmask.data.gsm_synth import ALL_SPLITS, problem_from_metadata
from cotmask.data.options import resolve_options
from cotmask.data.gsm_templates import TEMPLATES
from cotmask.records import read_jsonl

SMALL = {"n_train": 120, "n_test": 40, "n_ic": 30, "ic_bases": 10, "min_steps": 1, "max_steps": 5}
ANNOTATION = re.compile(r"<<([^=<>]+)=([^<>]+)>>([0-9]+)")
SENTENCE_END = re.compile(r"(?<=[.?])\s+")


def eval_arithmetic(expr: str) -> Fraction:
    """Evaluate + - * / over integers with the usual precedence (no eval())."""
    tokens = re.findall(r"\d+|[-+*/]", expr.replace(" ", ""))
    assert "".join(tokens) == expr.replace(" ", ""), f"unexpected characters in {expr!r}"
    terms: list[Fraction] = []
    sign, term, op = 1, None, None
    for token in tokens:
        if token in "+-":
            terms.append(sign * term)
            sign, term, op = (1 if token == "+" else -1), None, None
        elif token in "*/":
            op = token
        else:
            value = Fraction(int(token))
            term = value if term is None else (term * value if op == "*" else term / value)
    terms.append(sign * term)
    return sum(terms, Fraction(0))


def run_program(program: dict) -> int:
    """Re-evaluate a record's step program independently of its text."""
    values = {name: value for name, value in program["givens"]}
    for name, op, args, value in program["steps"]:
        operands = [Fraction(values[a]) for a in args]
        result = operands[0]
        for operand in operands[1:]:
            result = {"+": result + operand, "-": result - operand, "*": result * operand, "/": result / operand}[op]
        assert result == value and result.denominator == 1 and result > 0, (name, op, args, value)
        values[name] = int(result)
    return values[program["steps"][-1][0]]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gsm")
    build_source("gsm_synth", str(out), seed=3, **SMALL)
    return out


def load(out: Path) -> dict[str, list[dict]]:
    return {split: read_jsonl(out / f"{split}.jsonl") for split in ALL_SPLITS}


def test_writes_declared_splits_and_stats(built):
    assert source_splits("gsm_synth", {}) == list(ALL_SPLITS)
    assert sorted(p.name for p in built.iterdir()) == sorted([f"{s}.jsonl" for s in ALL_SPLITS] + ["stats.json"])
    data = load(built)
    stats = json.loads((built / "stats.json").read_text())
    for split, rows in data.items():
        assert stats["splits"][split]["n"] == len(rows)
    assert len(data["train"]) == 120 and len(data["test"]) == 40
    assert len(data["ic_2step"]) == 30 and len(data["ic_mstep"]) == 30
    assert stats["options"]["seed"] == 3 and stats["filtered"] == {}
    assert 50 < stats["vocabulary_size"] < 600


def test_every_annotation_and_final_answer_is_correct(built):
    for split, rows in load(built).items():
        for r in rows:
            lines = r["solution"].split("\n")
            assert lines[-1] == f"#### {r['answer']}", r["id"]
            annotations = ANNOTATION.findall(r["solution"])
            assert len(annotations) == r["metadata"]["n_steps"] == len(lines) - 1, r["id"]
            for expr, result, shown in annotations:
                assert eval_arithmetic(expr) == int(result) == int(shown), (r["id"], expr)
            program_answer = run_program(r["metadata"]["program"])
            assert str(program_answer) == r["answer"] == annotations[-1][1], r["id"]
            # the i-th annotation is the i-th step of the program
            assert [int(a[1]) for a in annotations] == [s[3] for s in r["metadata"]["program"]["steps"]]


def test_numbers_stated_in_question(built):
    for r in load(built)["train"]:
        program = r["metadata"]["program"]
        numbers = re.findall(r"\d+", r["question"])
        stated = [str(v) for name, v in program["givens"] if name not in program["hidden"]]
        assert sorted(numbers) == sorted(stated), r["id"]


def test_step_counts_within_options(built):
    data = load(built)
    for split in ("train", "test"):
        steps = {r["metadata"]["n_steps"] for r in data[split]}
        assert steps <= set(range(1, 6))
    assert len({r["metadata"]["n_steps"] for r in data["train"]}) >= 4
    assert {r["metadata"]["n_steps"] for r in data["ic_2step"]} == {2}
    assert min(r["metadata"]["n_steps"] for r in data["ic_mstep"]) >= 3


def test_train_and_test_share_no_problem(built):
    data = load(built)

    def math_key(r):
        p = r["metadata"]["program"]
        return r["metadata"]["template"], json.dumps(p["givens"]), json.dumps(p["steps"])

    train_q = {r["question"] for r in data["train"]}
    train_k = {math_key(r) for r in data["train"]}
    for split in ("test", "ic_2step", "ic_mstep"):
        for r in data[split]:
            assert r["metadata"].get("original_question", r["question"]) not in train_q
            assert math_key(r) not in train_k


def test_distractor_sets_insert_exactly_one_sentence(built):
    data = load(built)
    test_by_id = {r["id"]: r for r in data["test"]}
    for split in ("ic_2step", "ic_mstep"):
        pairs = set()
        for r in data[split]:
            m = r["metadata"]
            original = SENTENCE_END.split(m["original_question"])
            new = SENTENCE_END.split(r["question"])
            assert len(new) == len(original) + 1
            position = m["distractor_position"]
            assert new[position] == m["distractor"] and new[:position] + new[position + 1:] == original
            assert position < len(original), "never after the asking sentence"
            assert re.search(r"\d", m["distractor"])
            # gold unchanged: answer equals the base problem's answer recomputed from the program
            assert r["answer"] == str(run_program(m["program"]))
            if m["base_id"] in test_by_id:
                base = test_by_id[m["base_id"]]
                assert base["question"] == m["original_question"] and base["answer"] == r["answer"]
            assert m["distractor_topic"] in {"in_topic", "off_topic"}
            assert m["distractor_role"] in {"overlapped", "nonoverlapped"}
            assert m["distractor_range"] in {"in_range", "out_range"}
            pairs.add((m["base_id"], m["distractor"], position))
        assert len(pairs) == len(data[split]), "each (base, distractor) pair is distinct"
        assert any(r["metadata"]["base_id"] in test_by_id for r in data[split])


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, built):
    again = tmp_path / "again"
    build_source("gsm_synth", str(again), seed=3, **SMALL)
    for name in [f"{s}.jsonl" for s in ALL_SPLITS] + ["stats.json"]:
        assert (again / name).read_bytes() == (built / name).read_bytes(), name
    other = tmp_path / "other"
    build_source("gsm_synth", str(other), seed=4, **SMALL)
    assert (other / "train.jsonl").read_bytes() != (built / "train.jsonl").read_bytes()
    a = {r["question"] for r in read_jsonl(other / "train.jsonl")}
    b = {r["question"] for r in read_jsonl(built / "train.jsonl")}
    assert len(a & b) < 10


def test_train_prefix_stable_when_growing(tmp_path, built):
    bigger = tmp_path / "bigger"
    build_source("gsm_synth", str(bigger), seed=3, **{**SMALL, "n_train": 150}, splits=["train"])
    assert [p.name for p in sorted(bigger.iterdir())] == ["stats.json", "train.jsonl"]
    assert read_jsonl(bigger / "train.jsonl")[:120] == read_jsonl(built / "train.jsonl")


def test_metadata_rebuilds_problem(built):
    for r in load(built)["test"][:20]:
        problem = problem_from_metadata(r["metadata"])
        assert problem.question() == r["question"] and problem.solution() == r["solution"]
        rephrased = problem_from_metadata(r["metadata"], phrase=7)
        assert rephrased.answer == problem.answer and rephrased.givens == problem.givens


def test_every_template_builds_every_supported_step_count(tmp_path):
    for name, spec in TEMPLATES.items():
        out = tmp_path / name
        build_source("gsm_synth", str(out), seed=1, n_train=2 * (spec.max_steps - spec.min_steps + 1) + 4,
                     n_test=0, splits=["train"], templates=[name],
                     min_steps=spec.min_steps, max_steps=spec.max_steps)
        rows = read_jsonl(out / "train.jsonl")
        assert {r["metadata"]["template"] for r in rows} == {name}
        for r in rows:
            assert str(run_program(r["metadata"]["program"])) == r["answer"]
    assert len(TEMPLATES) >= 20


def test_template_holdout_separates_templates(tmp_path):
    out = tmp_path / "holdout"
    stats = build_source("gsm_synth", str(out), seed=2, template_holdout=True, **SMALL)
    train_t = {r["metadata"]["template"] for r in read_jsonl(out / "train.jsonl")}
    for split in ("test", "ic_2step", "ic_mstep"):
        assert not train_t & {r["metadata"]["template"] for r in read_jsonl(out / f"{split}.jsonl")}
    assert set(stats["templates_test"]) & set(stats["templates_train"]) == set()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_trian": 5}, "n_trian"),
        ({"min_steps": 5, "max_steps": 2}, "min_steps"),
        ({"max_number": "many"}, "max_number"),
        ({"splits": ["train", "dev"]}, "splits"),
        ({"templates": ["nope"]}, "nope"),
        ({"min_number": 1}, "min_number"),
    ],
)
def test_bad_options_fail_before_work(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        build_source("gsm_synth", str(tmp_path / "x"), **options)
    assert not (tmp_path / "x").exists()


def test_unknown_source_is_named(tmp_path):
    with pytest.raises(ValueError, match="gsm9k"):
        build_source("gsm9k", str(tmp_path))
    with pytest.raises(ValueError, match="gsm9k"):
        source_splits("gsm9k", {})
    assert "gsm_synth" in SOURCES and "math_synth" in SOURCES


def _math_key(record: dict) -> tuple:
    program = record["metadata"]["program"]
    return record["metadata"]["template"], json.dumps(program["givens"]), json.dumps(program["steps"])


def test_pretrain_split_is_disjoint_and_leaves_other_splits_unchanged(tmp_path, built):
    out = tmp_path / "with_pretrain"
    stats = build_source("gsm_synth", str(out), seed=3, n_pretrain=400, **SMALL)
    assert source_splits("gsm_synth", {**SMALL, "n_pretrain": 400}) == list(ALL_SPLITS) + ["pretrain"]
    assert source_splits("gsm_synth", SMALL) == list(ALL_SPLITS)
    for split in ALL_SPLITS:  # identical bytes with and without the pretrain split
        assert (out / f"{split}.jsonl").read_bytes() == (built / f"{split}.jsonl").read_bytes()
    pretrain = read_jsonl(out / "pretrain.jsonl")
    assert len(pretrain) == 400 and stats["splits"]["pretrain"]["n"] == 400
    assert len({_math_key(r) for r in pretrain}) == 400
    others = load(out)
    held = {_math_key(r) for split in ("train", "test") for r in others[split]}
    held |= {r["metadata"]["original_question"] for split in ("ic_2step", "ic_mstep") for r in others[split]}
    for r in pretrain:
        assert _math_key(r) not in held and r["question"] not in held
        assert r["metadata"]["split"] == "pretrain"
        assert run_program(r["metadata"]["program"]) == int(r["answer"])


def test_pretrain_split_sets_exhausted_templates_aside(tmp_path):
    """A corpus larger than a small template's space: that template is set aside (counted), no failure."""
    out = tmp_path / "small_space"
    options = dict(n_train=20, n_test=10, n_ic=10, ic_bases=5, min_steps=2, max_steps=2, max_number=6, max_value=60)
    options["templates"] = ["theater", "reading"]
    stats = build_source("gsm_synth", str(out), seed=1, n_pretrain=400, **options)
    pretrain = read_jsonl(out / "pretrain.jsonl")
    assert len(pretrain) == 400 == len({_math_key(r) for r in pretrain})
    assert stats["generation"]["exhausted_pretrain"] == 1
    assert {r["metadata"]["template"] for r in pretrain} == {"theater", "reading"}  # set aside only when spent


# ------------------------------------------------------------- pre-training template overlap


def _disjoint_options(**extra):
    given = {"n_train": 60, "n_test": 20, "n_ic": 10, "ic_bases": 5, "n_pretrain": 150, "seed": 3}
    return resolve_options("gsm", gsm_synth.OPTIONS, {**given, **extra})


def _templates_of(records):
    return {r["metadata"]["template"] for r in records}


def test_disjoint_pretrain_templates_share_no_template_with_any_other_split():
    records, stats = gsm_synth.generate(_disjoint_options(template_reserve=0.5, pretrain_templates="disjoint"))
    pretrain = _templates_of(records["pretrain"])
    others = set().union(*(_templates_of(records[s]) for s in ("train", "test", "ic_2step", "ic_mstep")))
    assert pretrain and others
    assert not pretrain & others
    assert set(stats["templates_pretrain"]) >= pretrain
    assert not set(stats["templates_pretrain"]) & set(stats["templates_train"] + stats["templates_test"])
    # the share is honoured: half of the 24 templates are kept for pre-training only
    assert len(stats["templates_pretrain"]) == round(0.5 * len(gsm_synth.TEMPLATES))


def test_shared_and_disjoint_pretraining_fine_tune_on_the_same_problems():
    shared, shared_stats = gsm_synth.generate(_disjoint_options(template_reserve=0.5))
    disjoint, _ = gsm_synth.generate(_disjoint_options(template_reserve=0.5, pretrain_templates="disjoint"))
    for split in ("train", "test", "ic_2step", "ic_mstep"):
        assert shared[split] == disjoint[split]
    assert _templates_of(shared["pretrain"]) <= set(shared_stats["templates_train"])
    assert not _templates_of(shared["pretrain"]) & _templates_of(disjoint["pretrain"])
    # pre-training problems never repeat a fine-tuning or test problem
    key = lambda r: (r["question"], r["solution"])  # noqa: E731
    assert not {key(r) for r in shared["pretrain"]} & {key(r) for s in ("train", "test") for r in shared[s]}


def test_without_a_reserve_the_data_are_unchanged_and_pretraining_shares_all_templates():
    default, _ = gsm_synth.generate(_disjoint_options())
    explicit, stats = gsm_synth.generate(_disjoint_options(template_reserve=0.0, pretrain_templates="shared"))
    assert default == explicit
    assert len(stats["templates_train"]) == len(gsm_synth.TEMPLATES)
    assert _templates_of(explicit["pretrain"]) <= set(stats["templates_train"])


def test_the_reserve_depends_on_the_seed_and_composes_with_template_holdout():
    first = gsm_synth._template_pools(_disjoint_options(template_reserve=0.5, pretrain_templates="disjoint"))
    other = gsm_synth._template_pools(_disjoint_options(template_reserve=0.5, pretrain_templates="disjoint", seed=4))
    assert first[2] != other[2]
    train, test, pretrain = gsm_synth._template_pools(
        _disjoint_options(template_reserve=0.5, pretrain_templates="disjoint", template_holdout=True)
    )
    assert not set(train) & set(test)
    assert not (set(train) | set(test)) & set(pretrain)


@pytest.mark.parametrize("extra", [{"template_reserve": 0.999}, {"pretrain_templates": "disjoint"}])
def test_a_reserve_that_empties_a_pool_is_refused(extra):
    with pytest.raises(ValueError, match="template_reserve"):
        gsm_synth.check_options(_disjoint_options(**extra))


def test_pretrain_templates_option_names_its_choices():
    with pytest.raises(ValueError, match="pretrain_templates"):
        _disjoint_options(pretrain_templates="separate")
