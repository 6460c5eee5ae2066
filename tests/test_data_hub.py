"""Paper-scale loaders on small fixture files in each source's own format (nothing is downloaded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from math_verify import parse, verify

from cotmask.data import build_source, source_splits
from cotmask.data.hub import UNEXTRACTED, HubUnavailableError
from cotmask.records import RecordError, read_jsonl

HUB = Path(__file__).parent / "fixtures" / "hub"
BAD = HUB / "malformed"


def build(tmp_path: Path, source: str, **options) -> tuple[dict[str, list[dict]], dict]:
    out = tmp_path / source
    stats = build_source(source, str(out), **options)
    return {split: read_jsonl(out / f"{split}.jsonl") for split in source_splits(source, options)}, stats


def test_gsm8k_directory_of_hub_format_files(tmp_path):
    data, stats = build(tmp_path, "gsm8k", local_path=str(HUB / "gsm8k"))
    assert [r["answer"] for r in data["train"]] == ["29", "125", "10", "3600"]
    assert [r["answer"] for r in data["test"]] == ["43", "105", "15"]
    assert [r["metadata"]["n_steps"] for r in data["train"]] == [2, 3, 2, 1]
    assert stats["formats"] == {"train": "gsm8k", "test": "gsm8k"}
    first = data["train"][0]
    assert first["id"] == "gsm8k-train-0000000" and first["source"] == "gsm8k"
    assert first["solution"].endswith("#### 29") and first["question"].startswith("Lena has 3 boxes")
    assert stats["splits"]["train"]["n"] == 4 and stats["filtered"] == {"train": {}, "test": {}}


def test_gsm8k_other_formats_give_the_same_records(tmp_path):
    reference, _ = build(tmp_path / "ref", "gsm8k", local_path=str(HUB / "gsm8k"))
    mft, stats = build(tmp_path / "mft", "gsm8k", local_path=str(HUB / "gsm8k_mft_train.json"), splits=["train"])
    assert stats["formats"]["train"] == "mft"
    qr, stats = build(tmp_path / "qr", "gsm8k", local_path=str(HUB / "gsm8k_query_response.jsonl"), splits=["test"])
    assert stats["formats"]["test"] == "query_response"
    pq, stats = build(tmp_path / "pq", "gsm8k", local_path=str(HUB / "gsm8k_test.parquet"), splits=["test"])
    assert stats["formats"]["test"] == "gsm8k"

    def core(rows):
        return [(r["question"], r["solution"], r["answer"]) for r in rows]

    assert core(mft["train"]) == core(reference["train"][:3])
    assert core(qr["test"]) == core(reference["test"]) == core(pq["test"])


def test_single_file_needs_one_split(tmp_path):
    with pytest.raises(ValueError, match="splits"):
        build_source("gsm8k", str(tmp_path / "x"), local_path=str(HUB / "gsm8k_mft_train.json"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_source("gsm8k", str(tmp_path / "x"), local_path=str(tmp_path / "nowhere"))


def test_math_json_array_golds_are_last_boxed(tmp_path):
    data, _ = build(tmp_path, "math", local_path=str(HUB / "math_train.json"), splits=["train"])
    rows = data["train"]
    assert [r["answer"] for r in rows] == ["\\frac{5}{6}", "4", "(1, 2)", "5\\sqrt{2}"]
    assert [r["metadata"]["type"] for r in rows] == ["Prealgebra", "Algebra", "Algebra", "Prealgebra"]
    assert rows[0]["metadata"]["level"] == "Level 1"
    for r in rows:
        assert verify(parse(f"${r['answer']}$"), parse(r["solution"])), r["id"]


def test_math_original_tree_layout(tmp_path):
    data, _ = build(tmp_path, "math", local_path=str(HUB / "math_tree"))
    assert [r["answer"] for r in data["train"]] == ["4", "(1, 2)", "\\frac{5}{6}"]  # algebra/1, algebra/12, prealgebra/3
    assert [r["answer"] for r in data["test"]] == ["1"]
    only, _ = build(tmp_path / "only", "math", local_path=str(HUB / "math_tree"), subjects=["prealgebra"], splits=["train"])
    assert [r["answer"] for r in only["train"]] == ["\\frac{5}{6}"]


def test_metamathqa_answers_and_type_filter(tmp_path):
    data, stats = build(tmp_path, "metamathqa", local_path=str(HUB / "metamathqa.json"))
    rows = data["train"]
    assert [r["answer"] for r in rows] == ["29", "12", "\\frac{5}{6}", "4"]
    assert [r["metadata"]["type"] for r in rows] == ["GSM_AnsAug", "GSM_FOBAR", "MATH_Rephrased", "MATH_AnsAug"]
    assert rows[1]["metadata"]["original_question"].startswith("Lena has 3 boxes")
    assert stats["splits"]["train"]["types"]["GSM_FOBAR"] == 1
    gsm_only, stats = build(tmp_path / "gsm", "metamathqa", local_path=str(HUB / "metamathqa.json"),
                            types=["GSM_AnsAug", "GSM_FOBAR"])
    assert len(gsm_only["train"]) == 2 and stats["filtered"]["train"] == {"type_not_selected": 2}


def test_mathinstruct_keeps_cot_and_pot_apart(tmp_path):
    data, stats = build(tmp_path, "mathinstruct", local_path=str(HUB / "mathinstruct.json"),
                        splits=["train", "train_cot", "train_pot"])
    rows = data["train"]
    assert [r["metadata"]["rationale"] for r in rows] == ["cot", "pot", "cot", "cot", "pot"]
    assert [r["answer"] for r in rows] == ["105", UNEXTRACTED, "4", "B", UNEXTRACTED]
    assert [r["metadata"]["answer_extracted"] for r in rows] == [True, False, True, True, False]
    assert stats["splits"]["train"]["rationale"] == {"cot": 3, "pot": 2}
    assert stats["splits"]["train"]["answer_unextracted"] == 2
    assert len(data["train_cot"]) == 3 and len(data["train_pot"]) == 2
    assert stats["filtered"]["train_cot"] == {"rationale_pot_not_selected": 2}
    assert stats["filtered"]["train_pot"] == {"rationale_cot_not_selected": 3}
    assert rows[1]["metadata"]["origin"] == "data/PoT/gsm_gpt4.json"


def test_gsm8k_rft_query_response(tmp_path):
    data, stats = build(tmp_path, "gsm8k_rft", local_path=str(HUB), variant="u33b")
    rows = data["train"]
    assert len(rows) == 5 and {r["answer"] for r in rows} == {"29", "10"}
    assert stats["formats"]["train"] == "query_response"
    assert len({r["question"] for r in rows}) == 2


def test_gsm_ic_splits_and_labels(tmp_path):
    data, stats = build(tmp_path, "gsm_ic", local_path=str(HUB / "gsm_ic"))
    two, multi = data["ic_2step"], data["ic_mstep"]
    assert [r["answer"] for r in two] == ["105", "105", "43"] and [r["answer"] for r in multi] == ["23", "34"]
    assert two[0]["metadata"]["role_label"] == "overlapped" and two[1]["metadata"]["number_label"] == "out_range"
    assert two[0]["metadata"]["template"] == two[1]["metadata"]["template"] != two[2]["metadata"]["template"]
    assert all(r["solution"] == f"#### {r['answer']}" and r["metadata"]["solution_available"] is False
               for r in two + multi)
    assert multi[0]["metadata"]["n_steps"] == 3


def test_limit_subsamples_deterministically_and_counts(tmp_path):
    a, stats = build(tmp_path / "a", "gsm8k", local_path=str(HUB / "gsm8k"), limit=2, seed=1)
    b, _ = build(tmp_path / "b", "gsm8k", local_path=str(HUB / "gsm8k"), limit=2, seed=1)
    assert a == b and len(a["train"]) == 2 and len(a["test"]) == 2
    assert stats["filtered"]["train"] == {"limit": 2} and stats["filtered"]["test"] == {"limit": 1}
    for name in ("train.jsonl", "test.jsonl", "stats.json"):
        assert (tmp_path / "a" / "gsm8k" / name).read_bytes() == (tmp_path / "b" / "gsm8k" / name).read_bytes()


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


@pytest.mark.parametrize(
    "source, file, options, line, field, problem",
    [
        ("gsm8k", "bad_json.jsonl", {}, 3, None, "invalid JSON"),
        ("gsm8k", "missing_field.jsonl", {}, 2, "answer", "is missing"),
        ("gsm8k", "no_final_answer.jsonl", {}, 3, "answer", "no final answer"),
        ("gsm8k", "empty_solution.jsonl", {}, 2, "answer", "is empty"),
        ("gsm8k", "unknown_fields.jsonl", {}, 1, None, "unrecognised fields"),
        ("gsm8k", "missing_field.jsonl", {"format": "query_response"}, 1, "query", "is missing"),
        ("math", "math_no_boxed.json", {}, None, "solution", "no \\boxed{}"),
    ],
)
def test_malformed_input_names_file_line_and_field(tmp_path, source, file, options, line, field, problem):
    path = BAD / file
    if line is None:  # second element of a JSON array: the line its object starts on
        line = _line_of(path, '"problem": "What is $1+1$?"') - 1
    with pytest.raises(RecordError) as caught:
        build_source(source, str(tmp_path / "out"), local_path=str(path), splits=["train"], **options)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert problem in error.problem
    assert f"{path}:{line}:" in str(error)
    assert not (tmp_path / "out").exists(), "nothing is written when the input is malformed"


def test_url_source_offline_points_to_local_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailableError, match="local_path") as caught:
        build_source("gsm_ic", str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
    assert "offline" in str(caught.value) and "GSM-IC_2step.json" in str(caught.value)


def test_hub_dataset_offline_points_to_local_path(tmp_path):
    """A dataset id absent from the cache, with the hub switched off: the error says so (subprocess, so that
    `datasets` reads the offline variables at import)."""
    code = (
        "import sys\n"
        "from cotmask.data import build_source\n"
        "try:\n"
        f"    build_source('gsm8k', {str(tmp_path / 'out')!r}, hub_id='cotmask-tests/not-a-cached-dataset',"
        f" cache_dir={str(tmp_path / 'cache')!r})\n"
        "except ConnectionError as error:\n"
        "    print(type(error).__name__, error)\n"
        "    sys.exit(3)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr[-2000:]
    assert "HubUnavailableError" in result.stdout and "local_path" in result.stdout
    assert "not-a-cached-dataset" in result.stdout and "offline" in result.stdout.lower()


def test_hub_code_path_with_datasets_on_a_local_folder(tmp_path):
    """`datasets.load_dataset` on a local folder exercises the hub branch (row iteration, names) offline."""
    via_hub, stats = build(tmp_path / "hub", "gsm8k", hub_id=str(HUB / "gsm8k"), hub_config=None,
                           cache_dir=str(tmp_path / "cache"))
    via_files, _ = build(tmp_path / "files", "gsm8k", local_path=str(HUB / "gsm8k"))
    for split in ("train", "test"):
        assert [(r["question"], r["answer"]) for r in via_hub[split]] == \
               [(r["question"], r["answer"]) for r in via_files[split]]
    assert stats["formats"]["train"] == "gsm8k"


def test_unknown_option_and_format(tmp_path):
    with pytest.raises(ValueError, match="local_pth"):
        build_source("gsm8k", str(tmp_path), local_pth="x")
    with pytest.raises(ValueError, match="format"):
        build_source("gsm8k", str(tmp_path), local_path=str(HUB / "gsm8k"), format="math")
    with pytest.raises(ValueError, match="variant"):
        build_source("gsm8k_rft", str(tmp_path), variant="u65b")
    assert source_splits("gsm_ic", {}) == ["ic_2step", "ic_mstep"]
    assert source_splits("mathinstruct", {"splits": "train_cot,train_pot"}) == ["train_cot", "train_pot"]
    json.dumps(source_splits("math", {}))
