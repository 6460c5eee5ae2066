"""Bad input and interrupted work (issue 17): bytes that are not UTF-8 and lone surrogates refused with
file:line, duplicated rows counted, exact answers, ``score`` that keeps its summary, dataset folders that are
complete or absent, outputs with the user's permissions, and one ``error:`` line for every failure of the
``data``, ``tables`` and ``partial-report`` commands (a traceback only with ``--debug``)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cotmask import cli
from cotmask.checkpoints import replace_dir
from cotmask.data import build_source
from cotmask.data.hub import read_rows
from cotmask.data.validate import validate_file
from cotmask.jsonfiles import read_json_file
from cotmask.records import (
    RecordError,
    atomic_path,
    create_temp_dir,
    give_normal_permissions,
    read_jsonl,
    write_dataset_dir,
    write_json,
    write_jsonl,
)
from cotmask.report.formatting import write_text
from cotmask.scoring import score_file

GOOD = {"id": "r1", "question": "How many?", "solution": "3+4 = <<3+4=7>>7\n#### 7", "answer": "7", "source": "s"}
LATIN1 = b'{"id": "r2", "question": "caf\xe9?", "solution": "#### 5", "answer": "5", "source": "s"}\n'
SURROGATE = json.dumps({**GOOD, "id": "r2", "question": "lone \ud800 here"}) + "\n"  # json escapes it as \ud800


def _line(record: dict) -> bytes:
    return (json.dumps(record) + "\n").encode("utf-8")


def _file(path: Path, *lines: bytes | str) -> Path:
    path.write_bytes(b"".join(line if isinstance(line, bytes) else line.encode("ascii") for line in lines))
    return path


def _one_error_line(capsys, prog: str) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert captured.err.startswith(f"cotmask {prog}: error: "), captured.err
    return captured.err.strip()


def _leftovers(folder: Path) -> list[str]:
    """Temporary files or folders (``.NAME.xxxx.tmp``) left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


# ------------------------------------------------------------------------------------------- bad bytes
def test_not_utf8_and_lone_surrogates_are_refused_with_file_and_line(tmp_path):
    latin = _file(tmp_path / "latin.jsonl", _line(GOOD), LATIN1)
    with pytest.raises(RecordError, match=r"latin\.jsonl:2: not UTF-8 \(byte 0xe9"):
        read_jsonl(latin)
    surrogate = _file(tmp_path / "surrogate.jsonl", _line(GOOD), "\n", SURROGATE)
    with pytest.raises(RecordError, match=r"surrogate\.jsonl:3: field 'question' holds a lone surrogate") as caught:
        read_jsonl(surrogate)
    assert (caught.value.line, caught.value.field) == (3, "question")
    nested = _file(tmp_path / "nested.jsonl", json.dumps({**GOOD, "metadata": {"tags": ["a", "\udfff"]}}) + "\n")
    with pytest.raises(RecordError, match=r"nested\.jsonl:1: field 'metadata\.tags\[1\]'"):
        validate_file(nested)
    # a valid pair of surrogate escapes is one character (an emoji), not a lone surrogate
    emoji = _file(tmp_path / "emoji.jsonl", json.dumps({**GOOD, "question": "Apples \U0001F34E?"}) + "\n")
    assert "\\ud83c" in emoji.read_text() and read_jsonl(emoji)[0]["question"] == "Apples \U0001F34E?"


@pytest.mark.parametrize(("content", "message"), [
    (_line(GOOD) + LATIN1, r"bad\.jsonl:2: not UTF-8"),
    (_line(GOOD) + SURROGATE.encode(), r"bad\.jsonl:2: field 'question' holds a lone surrogate"),
])
def test_validate_names_file_and_line_of_bad_bytes(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    assert cli.main(["data", "validate", str(bad)]) == 2
    assert __import__("re").search(message, _one_error_line(capsys, "data validate"))


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_hub_loader_refuses_bad_bytes_with_file_and_line(tmp_path, suffix):
    row = {"question": "How many?", "answer": "3+4 = <<3+4=7>>7\n#### 7"}
    if suffix == ".json":  # a JSON array, one element per line
        latin = b"[\n" + json.dumps(row).encode() + b",\n" + b'{"question": "caf\xe9", "answer": "#### 1"}\n]'
        surrogate = "[\n" + json.dumps(row) + ",\n" + json.dumps({**row, "question": "x \ud800"}) + "\n]"
        line = 3
    else:
        latin = _line(row) + b'{"question": "caf\xe9", "answer": "#### 1"}\n'
        surrogate = json.dumps(row) + "\n" + json.dumps({**row, "question": "x \ud800"}) + "\n"
        line = 2
    (tmp_path / f"latin{suffix}").write_bytes(latin)
    (tmp_path / f"surrogate{suffix}").write_text(surrogate, encoding="ascii")
    with pytest.raises(RecordError, match=rf"latin{suffix}:{line}: not UTF-8"):
        list(read_rows(tmp_path / f"latin{suffix}"))
    with pytest.raises(RecordError, match=rf"surrogate{suffix}:{line}: field 'question' holds a lone surrogate"):
        build_source("gsm8k", str(tmp_path / "out"), local_path=str(tmp_path / f"surrogate{suffix}"),
                     splits=["train"])
    assert not (tmp_path / "out").exists() and not _leftovers(tmp_path)


def test_writing_a_lone_surrogate_is_refused_and_leaves_no_file(tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(RecordError, match=r"out\.jsonl:2: field 'question' holds a lone surrogate"):
        write_jsonl([GOOD, {**GOOD, "question": "x \ud800"}], out)
    with pytest.raises(RecordError, match=r"s\.json: field 'a\.b' holds a lone surrogate"):
        write_json({"a": {"b": "\udc00"}}, tmp_path / "s.json")
    assert list(tmp_path.iterdir()) == []


def test_json_input_files_name_file_and_line(tmp_path):
    latin = tmp_path / "index.json"
    latin.write_bytes(b'[\n{"a": 1},\n{"b": "caf\xe9"}\n]')
    with pytest.raises(ValueError, match=r"index\.json:3: not UTF-8"):
        read_json_file(latin, "index file")
    surrogate = tmp_path / "options.json"
    surrogate.write_text('{"title": "x \\ud800"}', encoding="ascii")
    with pytest.raises(ValueError, match=r"options\.json: field 'title' holds a lone surrogate"):
        read_json_file(surrogate, "options file")


def test_score_names_file_and_line_and_writes_nothing(tmp_path, capsys):
    predictions = _file(tmp_path / "p.jsonl", json.dumps({"prediction": "#### 4", "answer": "4"}) + "\n",
                        b'{"prediction": "caf\xe9 #### 4", "answer": "4"}\n')
    argv = ["score", "--benchmark", "gsm8k", "--predictions", str(predictions), "--out", str(tmp_path / "s.json"),
            "--items", str(tmp_path / "i.jsonl")]
    assert cli.main(argv) == 2
    assert f"{predictions}:2: not UTF-8" in _one_error_line(capsys, "score")
    _file(predictions, json.dumps({"prediction": "#### 4", "answer": "4"}) + "\n",
          json.dumps({"prediction": "x \ud800 #### 4", "answer": "4"}) + "\n")
    assert cli.main(argv) == 2
    assert f"{predictions}:2: field 'prediction' holds a lone surrogate" in _one_error_line(capsys, "score")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl"]


# ------------------------------------------------------------------------------------------ duplicates
def test_duplicated_rows_of_a_local_file_are_kept_and_counted(tmp_path, capsys):
    rows = [{"question": f"Q{i}?", "answer": f"{i}+1 = <<{i}+1={i + 1}>>{i + 1}\n#### {i + 1}"} for i in range(4)]
    lines = [rows[0], rows[1], rows[0], rows[2], rows[3], rows[0], rows[3]]
    local = tmp_path / "train.jsonl"
    local.write_text("".join(json.dumps(row) + "\n" for row in lines), encoding="utf-8")
    stats = build_source("gsm8k", str(tmp_path / "out"), local_path=str(local), splits=["train"])
    written = json.loads((tmp_path / "out" / "stats.json").read_text())
    split = written["splits"]["train"]
    assert split["duplicate_rows"] == stats["splits"]["train"]["duplicate_rows"]
    assert (split["n"], split["duplicate_rows"]) == (7, 3)  # kept, counted
    assert split["duplicate_examples"] == [f"{local}:3 = {local}:1", f"{local}:6 = {local}:1",
                                           f"{local}:7 = {local}:5"]
    assert len(read_jsonl(tmp_path / "out" / "train.jsonl")) == 7
    once = build_source("gsm8k", str(tmp_path / "once"), local_path=str(local), splits=["train"], limit=4, seed=0)
    assert once["splits"]["train"]["n"] == 4  # counted among the rows kept by `limit`
    kept = read_jsonl(tmp_path / "once" / "train.jsonl")
    assert once["splits"]["train"]["duplicate_rows"] == 4 - len({(r["question"], r["solution"]) for r in kept})
    # validate counts them too (distinct ids, same question and solution)
    assert cli.main(["data", "validate", str(tmp_path / "out" / "train.jsonl")]) == 0
    assert "7 valid records {'gsm8k': 7}, 3 repeating an earlier question and solution" in capsys.readouterr().out
    assert validate_file(tmp_path / "out" / "train.jsonl")["duplicate_rows"] == 3


# --------------------------------------------------------------------------------------- exact answers
@pytest.mark.parametrize(("hash_line", "answer"), [
    ("12345678901234567891", "12345678901234567890"),  # equal as floats
    ("7.0000001", "7"),
    ("0.3333", "1/3"),
])
def test_validate_compares_answers_exactly(tmp_path, capsys, hash_line, answer):
    path = _file(tmp_path / "r.jsonl", _line({**GOOD, "solution": f"so\n#### {hash_line}", "answer": answer}))
    assert cli.main(["data", "validate", str(path)]) == 2
    assert f"solution's #### line gives {hash_line!r} but answer is {answer!r}" in _one_error_line(
        capsys, "data validate")


def test_validate_accepts_the_same_number_written_differently(tmp_path):
    rows = [_line({**GOOD, "id": f"r{i}", "solution": f"so\n#### {written}", "answer": answer})
            for i, (written, answer) in enumerate([("18.00", "18"), ("1,000", "1000"), ("36/2", "18"),
                                                   ("12345678901234567890", "12345678901234567890")])]
    assert validate_file(_file(tmp_path / "r.jsonl", *rows))["n"] == 4


def test_score_rejects_a_gold_that_is_not_a_number_before_writing(tmp_path, capsys):
    predictions = _file(tmp_path / "p.jsonl", json.dumps({"prediction": "#### 1", "answer": "1"}) + "\n",
                        json.dumps({"prediction": "#### 1", "answer": "one or two"}) + "\n")
    assert cli.main(["score", "--benchmark", "gsm8k", "--predictions", str(predictions),
                     "--out", str(tmp_path / "s.json")]) == 2
    assert f"{predictions}:2: field 'answer' gold answer 'one or two' is not a number" in _one_error_line(
        capsys, "score")
    assert not (tmp_path / "s.json").exists()


# ------------------------------------------------------------------------------- score keeps its summary
def test_score_writes_the_summary_when_the_items_file_fails(tmp_path, capsys):
    predictions = _file(tmp_path / "p.jsonl", json.dumps({"prediction": "#### 4", "answer": "4"}) + "\n")
    items = tmp_path / "items"
    items.mkdir()  # a folder where the per-item file should go: it cannot be written
    assert cli.main(["score", "--benchmark", "gsm8k", "--predictions", str(predictions),
                     "--out", str(tmp_path / "s.json"), "--items", str(items)]) == 2
    message = _one_error_line(capsys, "score")
    assert f"{items}: per-item file not written" in message and f"the summary is in {tmp_path / 's.json'}" in message
    assert json.loads((tmp_path / "s.json").read_text())["n_correct"] == 1
    assert list(items.iterdir()) == [] and not _leftovers(tmp_path)
    with pytest.raises(OSError, match="per-item file not written"):
        score_file(predictions, tmp_path / "s2.json", "gsm8k", items_out=items)
    assert (tmp_path / "s2.json").exists()


# ----------------------------------------------------------------------------- dataset folders: all or none
BUILD = ["data", "build", "--source", "gsm_synth", "--option", "n_train=6", "--option", "n_test=3",
         "--option", "n_ic=2", "--option", "n_pretrain=5"]


def _interrupt_after(monkeypatch, n_files: int, error: BaseException) -> None:
    """Make the dataset writer fail (``error``) when it starts its file number ``n_files + 1``."""
    import cotmask.records as records

    real = records.write_jsonl
    calls = []

    def failing(rows, path):
        calls.append(path)
        if len(calls) > n_files:
            raise error
        return real(rows, path)

    monkeypatch.setattr(records, "write_jsonl", failing)


@pytest.mark.parametrize(("error", "status", "message"), [
    (KeyboardInterrupt(), 130, "interrupted (Ctrl-C)"),
    (OSError(28, "No space left on device", "x.jsonl"), 2, "x.jsonl: No space left on device"),
])
def test_an_interrupted_build_leaves_no_folder_and_no_temporary_one(tmp_path, monkeypatch, capsys, error, status,
                                                                    message):
    _interrupt_after(monkeypatch, 3, error)  # train, test, ic_2step written; then Ctrl-C / a full disk
    assert cli.main([*BUILD, "--out", str(tmp_path / "gsm")]) == status
    assert message in _one_error_line(capsys, "data build")
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_folder_of_a_killed_build_goes_with_the_next_build(tmp_path):
    killed = create_temp_dir(tmp_path, prefix=".gsm.")  # what kill -9 during a build leaves
    (killed / "train.jsonl").write_text("partial", encoding="utf-8")
    other = create_temp_dir(tmp_path, prefix=".gsm2.")  # another dataset's: not touched
    build_source("gsm_synth", str(tmp_path / "gsm"), n_train=4, n_test=2, splits=["train", "test"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["gsm", other.name])


def test_an_interrupted_rebuild_keeps_the_previous_complete_folder(tmp_path, monkeypatch, capsys):
    out = tmp_path / "gsm"
    assert cli.main([*BUILD, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"train.jsonl", "test.jsonl", "ic_2step.jsonl", "ic_mstep.jsonl", "pretrain.jsonl",
                           "stats.json"}
    _interrupt_after(monkeypatch, 2, KeyboardInterrupt())
    assert cli.main([*BUILD[:-1], "n_pretrain=7", "--out", str(out)]) == 130
    capsys.readouterr()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _leftovers(tmp_path) == []


def test_a_rebuild_replaces_the_dataset_and_keeps_other_files(tmp_path):
    out = tmp_path / "gsm"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    (out / "stats.json").write_text("{}", encoding="utf-8")  # a stale one
    build_source("gsm_synth", str(out), n_train=4, n_test=2, splits=["train", "test"])
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "stats.json", "test.jsonl", "train.jsonl"]
    assert json.loads((out / "stats.json").read_text())["options"]["n_train"] == 4
    # a split of the earlier build that this one does not write goes (stats.json lists the splits)
    build_source("gsm_synth", str(out), n_train=4, n_test=2, n_pretrain=3, splits=["train", "test"])
    assert (out / "pretrain.jsonl").exists()
    build_source("gsm_synth", str(out), n_train=4, n_test=2, splits=["train", "test"])
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "stats.json", "test.jsonl", "train.jsonl"]
    assert (out / "notes.txt").read_text() == "mine" and _leftovers(tmp_path) == []
    # the same bytes as a build into a fresh folder (the empty-folder case is one rename)
    (tmp_path / "empty").mkdir()
    build_source("gsm_synth", str(tmp_path / "empty"), n_train=4, n_test=2, splits=["train", "test"])
    for name in ("train.jsonl", "test.jsonl", "stats.json"):
        assert (out / name).read_bytes() == (tmp_path / "empty" / name).read_bytes()


def test_an_exhausted_problem_space_is_one_line_naming_the_option(tmp_path, capsys):
    """The probe of issue 17: n_train=8000 at the default number ranges (about 5,100 distinct problems)."""
    argv = ["data", "build", "--source", "gsm_synth", "--out", str(tmp_path / "gsm"), "--option", "n_train=8000",
            "--option", "n_test=2", "--option", "splits=train,test"]
    assert cli.main(argv) == 2
    message = _one_error_line(capsys, "data build")
    assert "gsm_synth: option 'n_train': no new train problem after" in message and "lower 'n_train'" in message
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_output_folder_is_one_line(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        assert cli.main([*BUILD, "--out", str(parent / "gsm")]) == 2
        assert "Permission denied" in _one_error_line(capsys, "data build")
    finally:
        parent.chmod(0o700)


# ----------------------------------------------------------------------------------------- permissions
@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_have_the_users_permissions(tmp_path, umask_022):
    write_jsonl([GOOD], tmp_path / "a.jsonl")
    write_json({"a": 1}, tmp_path / "b.json")
    with atomic_path(tmp_path / "c.png") as tmp:
        Path(tmp).write_bytes(b"png")
    write_dataset_dir(tmp_path / "d", {"train": [GOOD]}, {"n": 1})
    assert [_mode(tmp_path / name) for name in ("a.jsonl", "b.json", "c.png")] == [0o644] * 3
    assert _mode(tmp_path / "d") == 0o755
    assert {p.name: _mode(p) for p in (tmp_path / "d").iterdir()} == {"train.jsonl": 0o644, "stats.json": 0o644}
    os.umask(0o077)  # a stricter umask is honoured too
    write_json({"a": 1}, tmp_path / "private.json")
    assert _mode(tmp_path / "private.json") == 0o600


def test_give_normal_permissions_fixes_a_library_written_tree(tmp_path, umask_022):
    folder = create_temp_dir(tmp_path, prefix=".model.")
    assert _mode(folder) == 0o755  # not mkdtemp's 0700
    (folder / "model.safetensors").write_bytes(b"w")
    (folder / "model.safetensors").chmod(0o600)  # what safetensors writes
    give_normal_permissions(folder)
    assert _mode(folder / "model.safetensors") == 0o644


def test_a_model_folder_put_in_place_has_the_users_permissions(tmp_path, umask_022):
    """replace_dir (fine-tunes, base models) fixes the 0600 that safetensors gives its file; the report's
    tables are written through atomic_path."""
    tmp = create_temp_dir(tmp_path, prefix=".ft.")
    (tmp / "model.safetensors").write_bytes(b"w")
    (tmp / "model.safetensors").chmod(0o600)
    replace_dir(tmp, tmp_path / "ft")
    assert _mode(tmp_path / "ft" / "model.safetensors") == 0o644
    write_text("| a |\n", tmp_path / "table.md")
    assert _mode(tmp_path / "table.md") == 0o644


# -------------------------------------------------------------------------- one error line per command
def _bad_commands(tmp: Path) -> list[tuple[list[str], str, str]]:
    """(argv, command, message part) of a bad input for every command of the data, tables and
    partial-report groups."""
    records = _file(tmp / "records.jsonl", _line(GOOD))
    latin = _file(tmp / "latin.jsonl", LATIN1)
    bad_index = tmp / "index.json"
    bad_index.write_bytes(b'[\n{"path": "caf\xe9"}]')
    bad_config = tmp / "config.yaml"
    bad_config.write_text("datasets: {}\ncells: nope\n", encoding="utf-8")
    latin_config = tmp / "latin.yaml"
    latin_config.write_bytes(b"scale: caf\xe9\n")
    return [
        (["data", "build", "--source", "gsm_synth", "--out", str(tmp / "o"), "--option", "n_train=-1"],
         "data build", "option 'n_train'"),
        (["data", "build", "--source", "gsm8k", "--out", str(tmp / "o"), "--option", f"local_path={latin}",
          "--option", "splits=train"], "data build", f"{latin}:1: not UTF-8"),
        (["data", "augment", "--kind", "concat", "--input", str(latin), "--out", str(tmp / "o")],
         "data augment", f"{latin}:1: not UTF-8"),
        (["data", "augment", "--kind", "pot_mix", "--input", str(records), "--out", str(tmp / "o"),
          "--option", "nope=1"], "data augment", "unknown option(s) 'nope'"),
        (["data", "rft", "--train", str(records), "--out", str(tmp / "o"), "--model-dir", str(tmp / "no-model")],
         "data rft", f"{tmp / 'no-model'}: not a model folder"),
        (["data", "rft", "--train", str(latin), "--out", str(tmp / "o"), "--model-dir", str(tmp)],
         "data rft", f"{latin}:1: not UTF-8"),
        (["data", "validate", str(latin)], "data validate", f"{latin}:1: not UTF-8"),
        (["tables", "--index", str(bad_index), "--out-dir", str(tmp / "o")], "tables", f"{bad_index}:2: not UTF-8"),
        (["partial-report", "--config", str(tmp / "none.yaml"), "--out-dir", str(tmp / "o")], "partial-report",
         "none.yaml"),
        (["partial-report", "--config", str(bad_config), "--out-dir", str(tmp / "o")], "partial-report",
         f"{bad_config}: "),
        (["partial-report", "--config", str(latin_config), "--out-dir", str(tmp / "o")], "partial-report",
         f"{latin_config}"),
    ]


def test_every_owned_command_ends_a_user_error_in_one_line(tmp_path, capsys):
    for argv, command, message in _bad_commands(tmp_path):
        assert cli.main(argv) == 2, argv
        line = _one_error_line(capsys, command)
        assert message in line, (argv, line)
        assert not (tmp_path / "o").exists(), argv
    assert cli.main(["data", "sources"]) == 0  # takes no input that could be bad


def test_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    latin = _file(tmp_path / "latin.jsonl", LATIN1)
    with pytest.raises(RecordError, match="not UTF-8"):
        cli.main(["--debug", "data", "validate", str(latin)])
    with pytest.raises(RecordError):
        cli.main(["data", "validate", str(latin), "--debug"])
    monkeypatch.setenv("COTMASK_DEBUG", "1")
    with pytest.raises(RecordError):
        cli.main(["data", "validate", str(latin)])
    monkeypatch.delenv("COTMASK_DEBUG")
    _interrupt_after(monkeypatch, 0, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        cli.main(["--debug", *BUILD, "--out", str(tmp_path / "gsm")])
    assert not (tmp_path / "gsm").exists() and _leftovers(tmp_path) == []
    assert "--debug" in " ".join(cli.build_parser().format_help().split())
