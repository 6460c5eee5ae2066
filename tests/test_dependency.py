"""The dependency-distance analysis (cotmask.analysis.dependency, .dependency_table, cotmask.plan.analysis):
perturbations keep the length class, pairs and distances of a hand-made sequence, a model that copies one
earlier token depends on exactly that pair, determinism, the table recomputed from per-run files, the plan,
and the command line's one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from cotmask.analysis.dependency import (
    DependencySettings,
    ItemSequence,
    bin_labels,
    build_sequence,
    count_dependencies,
    dependency_pairs,
    distance_bin,
    draw_replacement,
    is_numeric,
    measure_dependencies,
    numeric_vocabulary,
    read_run,
    replacement_candidates,
    write_run,
)
from cotmask.records import write_jsonl
from conftest import make_tiny_records

QUESTION = "Tom has {a} apples. He buys {b} more. How many apples does Tom have?"
SOLUTION = "Tom has {a}+{b} = <<{a}+{b}={c}>>{c} apples.\n#### {c}"


# -------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def number_tokenizer(tmp_path_factory):
    """A tiny BPE tokenizer in whole-number mode (frequent numbers are single tokens)."""
    from transformers import AutoTokenizer

    from cotmask.tiny import train_tokenizer

    folder = tmp_path_factory.mktemp("dependency_tok")
    corpus = folder / "corpus.jsonl"
    write_jsonl(make_tiny_records(400), corpus)
    train_tokenizer([str(corpus)], str(folder / "tok"), vocab_size=400, split_digits=False)
    return AutoTokenizer.from_pretrained(str(folder / "tok"))


def single_token_numbers(tokenizer, digits: int) -> list[str]:
    return sorted(text for text in tokenizer.get_vocab() if is_numeric(text) and len(text) == digits
                  and not text.startswith("0"))


@pytest.fixture(scope="module")
def record(number_tokenizer) -> dict:
    """A hand-made test record whose numbers a, b, c are single tokens of the tokenizer."""
    two = single_token_numbers(number_tokenizer, 2)
    a, c = two[0], two[-1]
    b = single_token_numbers(number_tokenizer, 1)[3]
    return {"id": "hand-1", "question": QUESTION.format(a=a, b=b), "solution": SOLUTION.format(a=a, b=b, c=c),
            "answer": c, "source": "hand", "metadata": {"template": "t0"}, "_numbers": (a, b, c)}


def ic_record(number_tokenizer, base: dict) -> dict:
    """The record with a GSM-IC distractor sentence (a number the solution never uses) after its first sentence."""
    distractor = f"Mia is {single_token_numbers(number_tokenizer, 2)[1]} years old."
    first, rest = base["question"].split(". ", 1)
    return {**base, "id": "hand-ic-1", "question": f"{first}. {distractor} {rest}",
            "metadata": {"template": "t0", "distractor": distractor}}


class CopyModel:
    """A stand-in causal LM: at every position it predicts token ``fill``, except at the positions listed in
    ``copy_at``, where it predicts the input token at position ``source`` (a copy of that earlier token)."""

    def __init__(self, vocab_size: int, source: int, copy_at, fill: int = 0):
        import torch

        self.vocab_size, self.source, self.copy_at, self.fill = vocab_size, source, set(copy_at), fill
        self._parameter = torch.nn.Parameter(torch.zeros(1))

    def parameters(self):
        return iter([self._parameter])

    def __call__(self, input_ids, attention_mask):
        import torch

        batch, width = input_ids.shape
        predicted = torch.full((batch, width), self.fill, dtype=torch.long)
        for position in self.copy_at:
            if position < width:
                predicted[:, position] = input_ids[:, self.source]
        logits = torch.nn.functional.one_hot(predicted, self.vocab_size).float()
        return SimpleNamespace(logits=logits)


def tiny_model(tokenizer, seed: int = 0):
    """A randomly initialised 1-layer Llama over the tokenizer's vocabulary (deterministic for a seed)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128)
    return LlamaForCausalLM(config).eval()


def both_records(number_tokenizer, record) -> dict:
    return {"hand_test": ([record], "test"), "hand_ic": ([ic_record(number_tokenizer, record)], "control")}


# ---------------------------------------------------------------------------------------- perturbation
def test_a_perturbation_keeps_the_length_class_and_changes_the_number(number_tokenizer):
    vocabulary = numeric_vocabulary(number_tokenizer)
    texts = {i: number_tokenizer.convert_ids_to_tokens(i) for ids in vocabulary.values() for i in ids}
    assert set(vocabulary) >= {1, 2}, "the whole-number tokenizer has one- and two-digit tokens"
    for token_id, text in texts.items():
        candidates = replacement_candidates(text, vocabulary, texts)
        if not candidates:
            continue
        for draw in range(3):
            new = texts[draw_replacement(candidates, 0, "item", 7, draw)]
            assert new != text and len(new) == len(text) and new.isdigit()
            assert len(text) == 1 or not new.startswith("0") or text.startswith("0")
            # the perturbed number is one token of the tokenizer, so the sequence keeps its length
            assert number_tokenizer(new, add_special_tokens=False)["input_ids"] == [
                number_tokenizer.convert_tokens_to_ids(new)]


def test_replacements_are_seeded_per_item_and_position():
    candidates = list(range(100, 200))
    assert draw_replacement(candidates, 0, "a", 3, 0) == draw_replacement(candidates, 0, "a", 3, 0)
    drawn = {draw_replacement(candidates, seed, "a", 3, 0) for seed in range(20)}
    assert len(drawn) > 1
    with pytest.raises(ValueError, match="no other numeric token"):
        draw_replacement([], 0, "a", 3, 0)


# ------------------------------------------------------------------------------------ pairs, distances
def test_distance_bins():
    edges = (1, 2, 4, 8, 16, 32, 64)
    assert bin_labels(edges) == ["1", "2-3", "4-7", "8-15", "16-31", "32-63", "64+"]
    assert [distance_bin(d, edges) for d in (1, 2, 3, 4, 7, 8, 63, 64, 500)] == [0, 1, 1, 2, 2, 3, 5, 6, 6]
    with pytest.raises(ValueError):
        distance_bin(0, edges)
    with pytest.raises(ValueError, match="start at 1"):
        DependencySettings(bin_edges=(2, 4))


def test_pairs_and_distances_of_a_hand_made_sequence():
    sequence = ItemSequence("x", "b", "test", None, ids=list(range(12)), prompt_length=5,
                            sources=[(1, "question"), (6, "chain"), (8, "chain")], targets=[6, 8, 10])
    pairs = dependency_pairs(sequence)
    assert pairs == [(1, 6, "question"), (1, 8, "question"), (1, 10, "question"),
                     (6, 8, "chain"), (6, 10, "chain"), (8, 10, "chain")]
    settings = DependencySettings(bin_edges=(1, 2, 4, 8))
    # originals predict token 0 everywhere; the pass perturbing 1 changes the prediction of target 10 only,
    # the one perturbing 6 those of targets 6 (no pair: not after its source, so not counted) and 8
    predictions = {(0, None, 0): [0, 0, 0], (0, 1, 0): [0, 0, 5], (0, 6, 0): [5, 9, 0], (0, 8, 0): [0, 0, 0]}
    [item] = count_dependencies([sequence], predictions, settings)
    # distances: question 5, 7, 9 -> bins 4-7, 4-7, 8+; chain 2, 4, 2 -> bins 2-3, 4-7, 2-3
    assert item["counts"]["question"] == [[0, 0], [0, 0], [0, 2], [1, 1]]
    assert item["counts"]["chain"] == [[0, 0], [1, 2], [0, 1], [0, 0]]
    assert item["numeric"] == [0, 3]  # the original predicts token 0 at targets 6, 8, 10, whose gold ids are 6, 8, 10


def test_sources_and_targets_of_a_real_record(number_tokenizer, record):
    texts = number_tokenizer.convert_ids_to_tokens(list(range(len(number_tokenizer))))
    a, b, c = record["_numbers"]
    sequence = build_sequence(number_tokenizer, record, "hand_test", "test", "short", texts)
    assert sequence.ids[0] == number_tokenizer.bos_token_id and sequence.ids[-1] == number_tokenizer.eos_token_id
    words = [texts[i] for i in sequence.ids]
    assert [words[p] for p, panel in sequence.sources if panel == "question"] == [a, b]
    assert [words[p] for p, panel in sequence.sources if panel == "chain"] == [a, b, a, b, c, c, c]
    assert [words[p] for p in sequence.targets] == [a, b, a, b, c, c, c]
    assert all(p < sequence.prompt_length for p, panel in sequence.sources if panel == "question")
    assert all(p >= sequence.prompt_length for p in sequence.targets)

    ic = ic_record(number_tokenizer, record)
    control = build_sequence(number_tokenizer, ic, "hand_ic", "control", "short", texts)
    panels = [(texts[control.ids[p]], panel) for p, panel in control.sources]
    distractor_number = single_token_numbers(number_tokenizer, 2)[1]
    assert panels == [(a, "question_ic"), (distractor_number, "irrelevant"), (b, "question_ic")]


def test_a_control_record_without_distractor_is_named(number_tokenizer, record):
    texts = number_tokenizer.convert_ids_to_tokens(list(range(len(number_tokenizer))))
    with pytest.raises(ValueError, match="hand-1.*metadata.distractor"):
        build_sequence(number_tokenizer, record, "hand_ic", "control", "short", texts)


# ------------------------------------------------------------------------------------------ a copy model
def _target_of(number_tokenizer, record, value: str, occurrence: int = 0) -> tuple[int, list[int]]:
    texts = number_tokenizer.convert_ids_to_tokens(list(range(len(number_tokenizer))))
    sequence = build_sequence(number_tokenizer, record, "hand_test", "test", "short", texts)
    return [t for t in sequence.targets if texts[sequence.ids[t]] == value][occurrence], sequence


def test_a_model_copying_one_earlier_token_depends_on_that_pair_only(number_tokenizer, record):
    a, b, c = record["_numbers"]
    target, sequence = _target_of(number_tokenizer, record, c)  # the first c of the solution
    source = [p for p, panel in sequence.sources if panel == "question"][1]  # the question's b
    model = CopyModel(len(number_tokenizer), source, copy_at=[target - 1])
    settings = DependencySettings(items=None, perturbations=3)
    result = measure_dependencies(model, number_tokenizer, {"hand_test": ([record], "test")}, settings,
                                  template="short")
    [item] = result["items"]
    expected_bin = distance_bin(target - source, settings.bin_edges)
    for panel, cells in item["counts"].items():
        for index, (changed, pairs) in enumerate(cells):
            if panel == "question" and index == expected_bin:
                assert changed == 3 and pairs >= 3  # the pair, once per draw; other pairs of the bin: 0
            else:
                assert changed == 0, (panel, index)


def test_a_model_copying_a_token_everywhere_depends_on_every_pair_of_that_source(number_tokenizer, record):
    _, sequence = _target_of(number_tokenizer, record, record["_numbers"][2])
    source = [p for p, panel in sequence.sources if panel == "chain"][0]
    model = CopyModel(len(number_tokenizer), source, copy_at=range(source, len(sequence.ids)))
    result = measure_dependencies(model, number_tokenizer, {"hand_test": ([record], "test")},
                                  DependencySettings(items=None), template="short")
    [item] = result["items"]
    changed = sum(c for cells in item["counts"].values() for c, _ in cells)
    assert changed == sum(1 for t in sequence.targets if t > source)


# ------------------------------------------------------------------------------------------ determinism
def test_measurement_is_deterministic_for_a_seed(number_tokenizer, record):
    benchmarks = both_records(number_tokenizer, record)
    model = tiny_model(number_tokenizer)
    first = measure_dependencies(model, number_tokenizer, benchmarks, DependencySettings(seed=3, batch_size=2),
                                 template="short")
    again = measure_dependencies(model, number_tokenizer, benchmarks, DependencySettings(seed=3, batch_size=5),
                                 template="short")
    assert first["items"] == again["items"]  # batching does not change a prediction
    assert [item["counts"].keys() for item in first["items"]] == [{"chain", "question"}, {"irrelevant", "question_ic"}]


# ------------------------------------------------------------------------------------ the table from files
def _run_file(folder: Path, method: str, seed: int, counts: dict, model: str = "tiny", train_set: str = "gsm") -> Path:
    """A per-run file of two items whose counts are given: {item id: {panel: [[changed, pairs] per bin]}}."""
    run = {
        "format": "cotmask.dependency/1",
        "run": {"model": model, "train_set": train_set, "method": method, "seed": seed},
        "bins": ["1", "2-3"], "settings": {"bin_edges": [1, 2]}, "cost": {},
        "items": [{"id": item_id, "benchmark": "b", "cluster": f"t{n}", "counts": panels, "numeric": [0, 0]}
                  for n, (item_id, panels) in enumerate(sorted(counts.items()))],
    }
    path = folder / f"{method}-{seed}.json"
    write_run(run, path)
    return path


def test_the_table_recomputes_from_the_per_run_files(tmp_path):
    from cotmask.analysis.dependency_table import build_dependency_tables

    files = [
        _run_file(tmp_path, "sft", 1, {"i1": {"chain": [[1, 2], [0, 4]]}, "i2": {"chain": [[2, 2], [1, 4]]}}),
        _run_file(tmp_path, "sft", 2, {"i1": {"chain": [[0, 2], [0, 4]]}, "i2": {"chain": [[1, 2], [2, 4]]}}),
        _run_file(tmp_path, "mft", 1, {"i1": {"chain": [[0, 2], [4, 4]]}, "i2": {"chain": [[0, 2], [4, 4]]}}),
        _run_file(tmp_path, "mft", 2, {"i1": {"chain": [[1, 2], [3, 4]]}, "i2": {"chain": [[0, 2], [4, 4]]}}),
    ]
    assert read_run(files[0])["items"][0]["counts"]["chain"] == [[1, 2], [0, 4]]
    paths = build_dependency_tables(files, tmp_path / "out", methods=["sft", "mft"], labels={"mft": "MFT"},
                                    comparisons=[{"treatment": "mft", "control": "sft"}], n_resamples=200)
    frame = pd.read_csv(paths["dependency.csv"])
    rate = frame.set_index(["bin", "quantity", "method"])["value"]
    # pair-weighted per seed, then the mean over seeds: sft bin 1: (3/4 + 1/4) / 2; bin 2-3: (1/8 + 2/8) / 2
    assert rate[("1", "rate", "sft")] == pytest.approx(100 * (3 / 4 + 1 / 4) / 2)
    assert rate[("2-3", "rate", "sft")] == pytest.approx(100 * (1 / 8 + 2 / 8) / 2)
    assert rate[("2-3", "rate", "mft")] == pytest.approx(100 * (8 / 8 + 7 / 8) / 2)
    assert rate[("all", "rate", "sft")] == pytest.approx(100 * (4 / 12 + 3 / 12) / 2)
    assert rate[("2-3", "delta", "mft")] == pytest.approx(rate[("2-3", "rate", "mft")] - rate[("2-3", "rate", "sft")])
    for row in frame.itertuples():
        assert row.ci_low <= row.value + 1e-9 and row.value <= row.ci_high + 1e-9
    markdown = paths["dependency.md"].read_text()
    assert "MFT − sft" in markdown and "chain → chain (Fig. 1a)" in markdown
    assert paths["dependency.png"].stat().st_size > 0
    # the same files give the same table
    again = build_dependency_tables(files, tmp_path / "again", methods=["sft", "mft"], labels={"mft": "MFT"},
                                    comparisons=[{"treatment": "mft", "control": "sft"}], n_resamples=200)
    assert again["dependency.csv"].read_text() == paths["dependency.csv"].read_text()


def test_runs_with_other_pairs_are_not_pooled(tmp_path):
    from cotmask.analysis.dependency_table import build_dependency_tables

    files = [_run_file(tmp_path, "sft", 1, {"i1": {"chain": [[1, 2], [0, 4]]}}),
             _run_file(tmp_path, "sft", 2, {"i1": {"chain": [[1, 3], [0, 4]]}})]
    with pytest.raises(ValueError, match="other items or pair counts"):
        build_dependency_tables(files, tmp_path / "out", n_resamples=50)


# ------------------------------------------------------------------------------ end to end, command line
@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, number_tokenizer):
    """A save_pretrained folder .../tiny/gsm/sft/seed1 (random 1-layer Llama + the whole-number tokenizer)."""
    folder = tmp_path_factory.mktemp("dependency_model") / "tiny" / "gsm" / "sft" / "seed1"
    tiny_model(number_tokenizer).save_pretrained(str(folder))
    number_tokenizer.save_pretrained(str(folder))
    return folder


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cotmask.cli", *args], capture_output=True, text=True)


def test_the_command_line_writes_a_run_file_and_a_table(tmp_path, model_folder, number_tokenizer, record):
    test_file, ic_file = tmp_path / "test.jsonl", tmp_path / "ic.jsonl"
    clean = {k: v for k, v in record.items() if not k.startswith("_")}
    write_jsonl([clean], test_file)
    write_jsonl([{k: v for k, v in ic_record(number_tokenizer, clean).items()}], ic_file)
    out = tmp_path / "runs" / "sft1.json"
    result = cli("dependency", "run", "--model", str(model_folder), "--test", f"t={test_file}",
                 "--control", f"ic={ic_file}", "--out", str(out), "--items", "0", "--prompt-template", "short")
    assert result.returncode == 0, result.stderr
    run = read_run(out)
    assert run["run"] == {"model": "tiny", "train_set": "gsm", "method": "sft", "seed": 1}
    assert {item["id"] for item in run["items"]} == {"hand-1", "hand-ic-1"}
    again = tmp_path / "runs" / "sft1_again.json"
    cli("dependency", "run", "--model", str(model_folder), "--test", f"t={test_file}", "--control", f"ic={ic_file}",
        "--out", str(again), "--items", "0", "--prompt-template", "short")
    assert read_run(again)["items"] == run["items"]  # deterministic for a seed
    results = tmp_path / "results"
    table = cli("dependency", "table", "--runs", str(out), "--out-dir", str(results), "--n-bootstrap", "50")
    assert table.returncode == 0, table.stderr
    assert (tmp_path / "results" / "tables" / "dependency.html").is_file()


@pytest.mark.parametrize("args, message", [
    (["run", "--model", "/no/such/model", "--test", "t=x.jsonl", "--out", "o.json"], "/no/such/model"),
    (["run", "--model", "MODEL", "--test", "t=/no/such/test.jsonl", "--out", "o.json"], "/no/such/test.jsonl"),
    (["run", "--model", "MODEL", "--test", "nofile", "--out", "o.json"], "--test 'nofile': write NAME=FILE"),
    (["table", "--runs", "/no/such/run.json", "--out-dir", "out"], "/no/such/run.json"),
])
def test_command_line_errors_are_one_line(tmp_path, model_folder, args, message):
    args = [str(model_folder) if arg == "MODEL" else arg for arg in args]
    result = subprocess.run([sys.executable, "-m", "cotmask.cli", "dependency", *args], capture_output=True,
                            text=True, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cotmask dependency") and message in lines[0], result.stderr


# ------------------------------------------------------------------------------------------------ the plan
def test_the_plan_runs_the_smoke_cells_with_a_gsm_test_and_nothing_by_default():
    from cotmask.plan import ConfigError, Plan, load_config

    repo = Path(__file__).resolve().parents[1]
    smoke = Plan(load_config(repo / "config" / "smoke.yaml"))
    runs = {(r["model"], r["train_set"], r["method"]): (r["test"], r["control"]) for r in smoke.dependency_runs()}
    assert runs == {("llama", "gsm", "sft"): ("gsm_test", ["gsm_ic_2step", "gsm_ic_mstep"]),
                    ("llama", "gsm", "mft"): ("gsm_test", ["gsm_ic_2step", "gsm_ic_mstep"]),
                    ("llama", "rft", "sft"): ("gsm_test", [])}
    settings = smoke.dependency_settings("llama", "gsm", "mft", 1)
    assert settings["benchmarks"]["gsm_ic_2step"] == {"file": "work/data/gsm/ic_2step.jsonl", "role": "control"}
    assert settings["settings"]["items"] == 4 and settings["name"] == "llama/gsm/mft/1"
    assert f"{smoke.results_dir}/figures/dependency.png" in smoke.final_targets()
    assert Plan(load_config(repo / "config" / "full.yaml")).dependency_runs() == []
    default = Plan(load_config(repo / "config" / "config.yaml"))
    assert default.job_counts()["dependency"] == 18  # both shapes' gsm cells: 3 methods x 3 seeds
    regime = Plan(load_config(repo / "config" / "regime.yaml"))
    assert len({(r["model"], r["train_set"]) for r in regime.dependency_runs()}) == 12  # every point of the map
    assert regime.job_counts()["dependency"] == 111
    config = load_config(repo / "config" / "smoke.yaml")
    config["analyses"]["dependency"]["cells"] = ["llama/rft"]
    assert [(r["train_set"], r["method"]) for r in Plan(config).dependency_runs()] == [("rft", "sft")]
    config["analyses"]["dependency"]["cells"] = ["nope/gsm"]
    with pytest.raises(ConfigError, match=r"analyses.dependency.cells\[0\]: no cell 'nope/gsm'"):
        Plan(config)
    config = load_config(repo / "config" / "smoke.yaml")
    config["analyses"]["dependency"]["control_benchmarks"] = ["gsm_ic_2step", "nope"]
    with pytest.raises(ConfigError, match=r"analyses.dependency.control_benchmarks\[1\]"):
        Plan(config)
