"""``cotmask data`` subcommands: build, augment, validate, sources (parser built from register_cli only)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cotmask.data.cli import register_cli
from cotmask.data.options import parse_cli_options
from cotmask.data.validate import validate_file
from cotmask.records import RecordError, read_jsonl

BAD = Path(__file__).parent / "fixtures" / "hub" / "malformed"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cotmask")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_build_with_options(tmp_path, capsys):
    out = tmp_path / "gsm"
    code = run(["data", "build", "--source", "gsm_synth", "--out", str(out), "--option", "n_train=8",
                "--option", "n_test=4", "--option", "splits=train,test", "--option", "template_holdout=true"])
    assert code == 0
    assert len(read_jsonl(out / "train.jsonl")) == 8 and len(read_jsonl(out / "test.jsonl")) == 4
    stats = json.loads((out / "stats.json").read_text())
    assert stats["options"]["template_holdout"] is True and stats["options"]["splits"] == ["train", "test"]
    assert "wrote" in capsys.readouterr().out


def test_build_bad_option_exits_1_naming_it(tmp_path, capsys):
    assert run(["data", "build", "--source", "gsm_synth", "--out", str(tmp_path / "x"), "--option", "n_trains=3"]) == 1
    assert "n_trains" in capsys.readouterr().err
    assert run(["data", "build", "--source", "nope", "--out", str(tmp_path / "x")]) == 1
    assert "nope" in capsys.readouterr().err
    with pytest.raises(ValueError, match="key=value"):
        parse_cli_options(["n_train"])
    assert parse_cli_options(["a=1", "b=true", "c=x,y", "d=[\"p\"]", "e=0.5"]) == \
        {"a": 1, "b": True, "c": "x,y", "d": ["p"], "e": 0.5}


def test_augment_and_validate(tmp_path, capsys):
    assert run(["data", "build", "--source", "math_synth", "--out", str(tmp_path / "m"),
                "--option", "n_train=6", "--option", "n_test=2"]) == 0
    assert run(["data", "augment", "--kind", "metamath_style", "--input", str(tmp_path / "m" / "train.jsonl"),
                "--out", str(tmp_path / "mm"), "--option", "rephrase=2"]) == 0
    assert run(["data", "validate", str(tmp_path / "m" / "train.jsonl"), str(tmp_path / "mm" / "train.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "6 valid records" in out and "valid records" in out.split("\n")[-2]


@pytest.mark.parametrize(
    "file, line, field",
    [("records_answer_mismatch.jsonl", 2, "answer"), ("records_missing_solution.jsonl", 2, "solution"),
     ("bad_json.jsonl", 1, "id")],
)
def test_validate_reports_file_line_field(file, line, field, capsys):
    path = BAD / file
    assert run(["data", "validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{line}: field '{field}'" in err
    with pytest.raises(RecordError) as caught:
        validate_file(path)
    assert (caught.value.line, caught.value.field) == (line, field)


def test_validate_schema_only_skips_answer_check(capsys):
    assert run(["data", "validate", "--schema-only", str(BAD / "records_answer_mismatch.jsonl")]) == 0


def test_sources_lists_everything(capsys):
    assert run(["data", "sources"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert {"gsm_synth", "math_synth", "gsm8k", "math", "metamathqa", "mathinstruct", "gsm8k_rft", "gsm_ic",
            "gsm_symbolic"} <= set(listing["sources"])
    assert listing["sources"]["gsm_synth"]["splits"] == ["train", "test", "ic_2step", "ic_mstep"]
    assert set(listing["augmentations"]) == {"metamath_style", "pot_mix", "concat"}
