"""``cotmask data`` subcommands: build, augment, validate, sources (through ``cotmask.cli.main``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotmask import cli
from cotmask.data.options import parse_cli_options
from cotmask.data.validate import validate_file
from cotmask.records import RecordError, read_jsonl

BAD = Path(__file__).parent / "fixtures" / "hub" / "malformed"


def run(argv: list[str]) -> int:
    return cli.main(argv)


def test_build_with_options(tmp_path, capsys):
    out = tmp_path / "gsm"
    code = run(["data", "build", "--source", "gsm_synth", "--out", str(out), "--option", "n_train=8",
                "--option", "n_test=4", "--option", "splits=train,test", "--option", "template_holdout=True"])
    assert code == 0
    assert len(read_jsonl(out / "train.jsonl")) == 8 and len(read_jsonl(out / "test.jsonl")) == 4
    stats = json.loads((out / "stats.json").read_text())
    assert stats["options"]["template_holdout"] is True and stats["options"]["splits"] == ["train", "test"]
    assert "wrote" in capsys.readouterr().out


def test_build_bad_option_exits_2_naming_it(tmp_path, capsys):
    assert run(["data", "build", "--source", "gsm_synth", "--out", str(tmp_path / "x"), "--option", "n_trains=3"]) == 2
    assert "n_trains" in capsys.readouterr().err
    assert run(["data", "build", "--source", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "nope" in capsys.readouterr().err
    for option, message in [
        ("n_train=many", "source 'gsm_synth': option 'n_train': expected an integer, got 'many'"),
        ("holdout_fraction=1e400", "source 'gsm_synth': option 'holdout_fraction': expected a finite number"),
        ("template_holdout=maybe", "source 'gsm_synth': option 'template_holdout': expected true or false"),
    ]:
        assert run(["data", "build", "--source", "gsm_synth", "--out", str(tmp_path / "x"), "--option", option]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"cotmask data build: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "x").exists(), "bad options fail before any work"
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
    assert run(["data", "validate", str(path)]) == 2
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
