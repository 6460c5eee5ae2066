"""gsm_symbolic (optional source via reasoning-gym): records, determinism, split disjointness."""

from __future__ import annotations

import sys

import pytest

from cotmask.data import build_source
from cotmask.answers import gsm8k_answer
from cotmask.records import read_jsonl


def test_missing_reasoning_gym_names_the_pin(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "reasoning_gym" or m.startswith("reasoning_gym.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # makes `import reasoning_gym...` fail
    with pytest.raises(ImportError, match="reasoning-gym=="):
        build_source("gsm_symbolic", str(tmp_path / "out"), n_train=2, n_test=1)
    assert not (tmp_path / "out").exists()


def test_records_deterministic_and_disjoint(tmp_path):
    pytest.importorskip("reasoning_gym")
    stats = build_source("gsm_symbolic", str(tmp_path / "a"), seed=1, n_train=40, n_test=15)
    build_source("gsm_symbolic", str(tmp_path / "b"), seed=1, n_train=40, n_test=15)
    build_source("gsm_symbolic", str(tmp_path / "c"), seed=2, n_train=40, n_test=15)
    for name in ("train.jsonl", "test.jsonl", "stats.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "train.jsonl").read_bytes() != (tmp_path / "c" / "train.jsonl").read_bytes()
    train, test = read_jsonl(tmp_path / "a" / "train.jsonl"), read_jsonl(tmp_path / "a" / "test.jsonl")
    assert len(train) == 40 and len(test) == 15 and stats["splits"]["train"]["n"] == 40
    assert not {r["question"] for r in train} & {r["question"] for r in test}
    for r in train + test:
        assert abs(float(gsm8k_answer(r["solution"])) - float(r["answer"])) < 1e-9
        assert r["metadata"]["template"].startswith("gsm_symbolic_") and r["metadata"]["n_steps"] >= 1
        assert "Give the result as your final answer" not in r["question"]
    assert len({r["metadata"]["template"] for r in train}) > 10
