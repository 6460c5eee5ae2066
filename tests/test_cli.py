"""The ``cotmask`` command line as a whole: help texts (defaults, run-file keys), one-line errors with exit
status 2, and a start-up that keeps torch out of the commands that do not need it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cotmask import cli
from cotmask.cli import common

LEAF_COMMANDS = [
    ["data", "build"], ["data", "augment"], ["data", "rft"], ["data", "validate"], ["data", "sources"],
    ["tokenizer"], ["pretrain"], ["train"], ["evaluate"], ["evaluate-suite"], ["score"], ["floors"], ["tables"],
    ["partial-report"], ["plan"],
    ["dependency", "run"], ["dependency", "table"],
    ["case-study", "run"], ["case-study", "table"],
    ["model-card"],
]
HEAVY = ("torch", "transformers")


def _leaf_parsers(parser: argparse.ArgumentParser, path=()):
    """(command words, parser) of every command that runs something."""
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield path, parser
    for action in subcommands:
        for name, sub in action.choices.items():
            yield from _leaf_parsers(sub, (*path, name))


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere


def test_the_parser_has_exactly_the_documented_commands():
    found = sorted(list(path) for path, _ in _leaf_parsers(cli.build_parser()))
    assert found == sorted(LEAF_COMMANDS)
    assert set(cli.COMMAND_GROUPS) == {words[0] for words in LEAF_COMMANDS}


@pytest.mark.parametrize("words", LEAF_COMMANDS, ids=" ".join)
def test_help_documents_every_flag_and_default(words, capsys):
    parser = dict(_leaf_parsers(cli.build_parser()))[tuple(words)]
    text = _help(words, capsys)
    assert text.startswith(f"usage: cotmask {' '.join(words)}")
    optional = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    for action in parser._actions:
        if action.dest != "help":
            assert action.help and action.help.strip(), f"{action.option_strings or action.dest} has no help"
    for action in optional:
        if action.required:
            continue
        if action.default in (None, []):
            assert "(default:" in action.help or f"{action.help} (default: none)" in text
        else:
            assert f"(default: {action.default})" in text, action.option_strings
    if any(not a.required for a in optional):
        assert "(default:" in text


def test_help_defaults_are_the_parsers(capsys):
    """Spot checks with the values written out: the formatter shows what the command really uses."""
    assert "calculator-assisted decoding of <<expr=>> (default: False)" in _help(["evaluate"], capsys)
    evaluate = _help(["evaluate"], capsys)
    assert "--max-new-tokens MAX_NEW_TOKENS generation length limit (default: 256)" in evaluate
    assert "--batch-size BATCH_SIZE prompts generated together (default: 32)" in evaluate
    assert "--scoring {gsm8k,metamath,math,auto}" in evaluate and "(default: gsm8k)" in evaluate
    assert "--k K samples per question (default: 4)" in _help(["data", "rft"], capsys)
    assert "--vocab-size VOCAB_SIZE" in _help(["tokenizer"], capsys)


def test_tables_help_names_the_report_defaults(capsys):
    from cotmask.report import OPTION_DEFAULTS

    text = _help(["tables"], capsys)
    assert f"else {OPTION_DEFAULTS['n_resamples']})" in text
    assert f"bootstrap seed (default: the options file's, else {OPTION_DEFAULTS['bootstrap_seed']})" in text


def test_train_help_lists_every_run_file_key(capsys):
    from cotmask.masking_config import FLAT_MASK_KEYS, MaskingConfig
    from cotmask.train import FinetuneConfig

    text = _help(["train"], capsys)
    keys = text[text.index("run-file keys"):]
    for field in dataclasses.fields(FinetuneConfig):
        assert f" {field.name} " in keys, field.name
    assert "base_model str: required" in keys
    assert f"learning_rate float: {json.dumps(FinetuneConfig.__dataclass_fields__['learning_rate'].default)}" in keys
    masking = keys[keys.index("masking keys"):]
    defaults = MaskingConfig()
    for flat, name in FLAT_MASK_KEYS.items():
        assert f" {flat} " in masking, flat
        assert json.dumps(getattr(defaults, name)) in masking.split(f" {flat} ", 1)[1].split(" ")[1]


def test_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in cli.COMMAND_GROUPS:
        assert command in out


# ------------------------------------------------------------------------------------------------- errors
def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    """(argv, expected message start) of inputs each command must reject in one line."""
    bad_yaml = tmp / "bad.yaml"
    bad_yaml.write_text("base_model: [unclosed\n", encoding="utf-8")
    unknown_key = tmp / "unknown.yaml"
    unknown_key.write_text("base_model: m\ntrain_file: t\noutput_dir: o\nlearnin_rate: 1\n", encoding="utf-8")
    bad_json = tmp / "runs.json"
    bad_json.write_text("[{", encoding="utf-8")
    missing = str(tmp / "missing.jsonl")
    return [
        (["data", "build", "--source", "nope", "--out", str(tmp / "d")], "unknown data source 'nope'"),
        (["data", "build", "--source", "gsm_synth", "--out", str(tmp / "d"), "--option", "n_trains=3"],
         "source 'gsm_synth': unknown option(s) 'n_trains'"),
        (["data", "augment", "--kind", "concat", "--input", missing, "--out", str(tmp / "a")],
         "augmentation 'concat': input file(s) not found"),
        (["train", "--config", str(tmp / "none.yaml")], f"{tmp / 'none.yaml'}: no such config file"),
        (["train", "--config", str(bad_yaml)], f"{bad_yaml}: cannot parse config"),
        (["train", "--config", str(unknown_key)], f"{unknown_key}: unknown config key(s) ['learnin_rate']"),
        (["train", "--config", str(unknown_key), "--set", "epochs"], "--set expects key=value"),
        (["evaluate", "--model", str(tmp), "--benchmark", missing, "--predictions", str(tmp / "p"),
          "--summary", str(tmp / "s")], f"{tmp}"),  # the model folder or the benchmark, whichever is checked first
        (["evaluate-suite", "--model", str(tmp), "--runs", str(bad_json), "--out-dir", str(tmp / "o")],
         f"{bad_json}: invalid JSON"),
        (["score", "--benchmark", "gsm8k", "--predictions", missing, "--out", str(tmp / "s.json")],
         f"{missing}: no such file"),
        (["floors", "--data", missing], f"{missing}: no such file"),
        (["tables", "--index", missing, "--out-dir", str(tmp / "r")], f"index file {missing} does not exist"),
        (["pretrain", "--tokenizer", str(tmp / "no-tok"), "--corpus", missing, "--out", str(tmp / "m")],
         f"{tmp / 'no-tok'}: tokenizer directory not found"),
    ]


def test_expected_errors_are_one_line_with_status_2(tmp_path, capsys):
    for argv, message in _bad_inputs(tmp_path):
        prog = " ".join(argv[:2] if argv[0] == "data" else argv[:1])
        assert cli.main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.err.startswith(f"cotmask {prog}: error: {message}"), (argv, captured.err)
        assert captured.err.count("\n") == 1 and captured.out == ""
    assert not (tmp_path / "d").exists() and not (tmp_path / "o").exists()


def test_data_validate_reports_every_bad_file(tmp_path, capsys):
    good = tmp_path / "good"
    assert cli.main(["data", "build", "--source", "gsm_synth", "--out", str(good), "--option", "n_train=3",
                     "--option", "n_test=2", "--option", "splits=train,test"]) == 0
    capsys.readouterr()
    missing = tmp_path / "missing.jsonl"
    assert cli.main(["data", "validate", str(missing), str(good / "train.jsonl"), str(tmp_path / "x.jsonl")]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"cotmask data validate: error: {missing}: no such file",
        f"cotmask data validate: error: {tmp_path / 'x.jsonl'}: no such file",
    ]
    assert "3 valid records" in captured.out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["score", "--benchmark", "bleu", "--predictions", "p", "--out", "o"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("cotmask score: error: argument --benchmark")


def test_unexpected_errors_keep_their_traceback(tmp_path, monkeypatch):
    import cotmask.scoring

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cotmask.scoring, "score_file", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["score", "--benchmark", "gsm8k", "--predictions", "p", "--out", "o"])


def test_yaml_errors_and_extra_types_are_expected(capsys):
    import yaml

    def raising(error):
        return argparse.Namespace(func=lambda args: (_ for _ in ()).throw(error), prog="cotmask x", expected=())

    assert cli.run(raising(yaml.YAMLError("bad\n  yaml"))) == 2
    assert capsys.readouterr().err == "cotmask x: error: bad yaml\n"
    assert cli.run(raising(FileNotFoundError(2, "No such file or directory", "f.json"))) == 2
    assert capsys.readouterr().err == "cotmask x: error: f.json: No such file or directory\n"
    with pytest.raises(ImportError):
        cli.run(raising(ImportError("no module")))
    args = raising(ImportError("install it"))
    args.expected = (ImportError,)
    assert cli.run(args) == 2
    assert common.is_expected(ConnectionError()) and not common.is_expected(KeyError("k"))


# --------------------------------------------------------------------------------------------- start-up
RUN_AND_LIST_HEAVY = """
import sys
from cotmask import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as exited:
    code = exited.code
print("HEAVY:" + ",".join(name for name in {heavy!r} if name in sys.modules))
sys.exit(code)
"""


def _run_light(argv: list[str]) -> subprocess.CompletedProcess:
    script = RUN_AND_LIST_HEAVY.format(heavy=HEAVY)
    return subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_light_commands_do_not_import_torch(tmp_path):
    records = tmp_path / "d"
    runs = {
        "data": (["data", "build", "--source", "gsm_synth", "--out", str(records), "--option", "n_train=3",
                  "--option", "n_test=2", "--option", "splits=train,test"], 0),
        "floors": (["floors", "--data", str(records / "test.jsonl")], 0),
        "score": (["score", "--benchmark", "gsm8k", "--predictions", str(tmp_path / "p.jsonl"),
                   "--out", str(tmp_path / "s.json")], 0),
        # a missing index: the handler has imported cotmask.report before it fails
        "tables": (["tables", "--index", str(tmp_path / "none.json"), "--out-dir", str(tmp_path / "r")], 2),
    }
    (tmp_path / "p.jsonl").write_text(json.dumps({"prediction": "#### 4", "answer": "4"}) + "\n", encoding="utf-8")
    for name, (argv, status) in runs.items():
        result = _run_light(argv)
        assert result.returncode == status, (name, result.stderr)
        assert "HEAVY:\n" in result.stdout, (name, result.stdout)
        assert "Traceback" not in result.stderr
    assert json.loads((tmp_path / "s.json").read_text())["n_correct"] == 1


def test_module_entry_point_reports_errors_without_traceback(tmp_path):
    """``python -m cotmask.cli`` (what accelerate launches) with a missing config: one line, status 2."""
    result = subprocess.run([sys.executable, "-m", "cotmask.cli", "train", "--config", str(tmp_path / "no.yaml")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr == f"cotmask train: error: {tmp_path / 'no.yaml'}: no such config file\n"
