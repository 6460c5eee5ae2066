"""benchmarks/rule_times.py: the per-rule summary of Snakemake benchmark files that the README's run-time table uses."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def load_tool():
    spec = importlib.util.spec_from_file_location("rule_times", ROOT / "benchmarks" / "rule_times.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(path: Path, seconds: float, rss: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t{seconds}\n")


def test_sums_means_and_order(tmp_path):
    tool = load_tool()
    write(tmp_path / "finetune" / "llama" / "gsm" / "sft" / "seed1.tsv", 30.0, 500)
    write(tmp_path / "finetune" / "llama" / "gsm" / "mft" / "seed1.tsv", 90.0, 700)
    write(tmp_path / "tables" / "tables.tsv", 8.0, 300)
    summary = tool.rule_times(tmp_path)
    assert [row["rule"] for row in summary] == ["finetune", "tables"]
    finetune = summary[0]
    assert finetune["jobs"] == 2 and finetune["total_s"] == 120.0 and finetune["mean_s"] == 60.0
    assert finetune["max_s"] == 90.0 and finetune["max_rss_mb"] == 700.0
    table = tool.markdown(summary)
    assert "| `finetune` | 2 | 2.0 min | 60 s | 90 s |" in table
    assert table.splitlines()[-1].startswith("| all | 3 | 2.1 min")


def test_missing_folder_and_empty_file_are_named(tmp_path):
    tool = load_tool()
    with pytest.raises(FileNotFoundError, match="no benchmark folder"):
        tool.rule_times(tmp_path / "nope")
    empty = tmp_path / "evaluate" / "x.tsv"
    empty.parent.mkdir(parents=True)
    empty.write_text(HEADER)
    with pytest.raises(ValueError, match="x.tsv: no benchmark row"):
        tool.rule_times(tmp_path)


def load_profile_tool():
    spec = importlib.util.spec_from_file_location("run_profile", ROOT / "benchmarks" / "run_profile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_profile_splits_job_time_into_training_decoding_and_the_rest(tmp_path, capsys):
    import json

    tool = load_profile_tool()
    rules, work = tmp_path / "rules", tmp_path / "work"
    write(rules / "finetune" / "llama" / "gsm" / "sft" / "seed1.tsv", 30.0, 500)
    write(rules / "finetune" / "llama" / "gsm" / "mft" / "seed1.tsv", 50.0, 500)
    write(rules / "evaluate" / "llama" / "gsm" / "sft" / "seed1.tsv", 10.0, 500)
    write(rules / "finetune" / "llama" / "gsm" / "sft" / "seed2.tsv", 40.0, 500)  # no metrics: skipped
    for method, seconds, tps in (("sft", 24.0, 1000.0), ("mft", 41.0, 3000.0)):
        folder = work / "models" / "ft" / "llama" / "gsm" / method / "seed1"
        folder.mkdir(parents=True)
        (folder / "train_metrics.json").write_text(json.dumps(
            {"train_wall_time_s": seconds, "tokens_per_s": tps, "padding_fraction": 0.1}))
    evals = work / "evals" / "llama" / "gsm" / "sft" / "seed1"
    evals.mkdir(parents=True)
    for name, seconds in (("gsm_test.plain", 2.5), ("gsm_test.calc", 3.5)):
        (evals / f"{name}.json").write_text(json.dumps({"wall_time_s": seconds}))
    assert tool.main(["--work", str(work), "--rules", str(rules), "--json", str(tmp_path / "p.json")]) == 0
    summary = json.loads((tmp_path / "p.json").read_text())
    assert summary["finetune"] == {"jobs": 2, "wall_s": 80.0, "train_s": 65.0, "other_s": 15.0,
                                   "other_per_job_s": 7.5, "median_tokens_per_s": 2000, "median_padding": 0.1}
    assert summary["evaluate"]["decode_s"] == 6.0 and summary["evaluate"]["other_per_job_s"] == 4.0
    printed = capsys.readouterr().out
    assert "| `finetune` | 2 | 1.3 min | 1.1 min | 0.2 min | 7.5 s | 2,000 | 10.0% |" in printed
    assert summary["bound"] == {"cores": 2, "job_s": 130.0, "base_model_s": 0.0, "bound_s": 65.0}
    assert "Compute bound on 2 cores: 1.1 min" in printed
    assert tool.main(["--rules", str(tmp_path / "none")]) == 2


def test_the_compute_bound_is_the_job_time_over_the_cores_or_the_longest_base_model(tmp_path, capsys):
    tool = load_profile_tool()
    assert tool.wall_bound(120.0, 520.0, 2) == {"cores": 2, "job_s": 520.0, "base_model_s": 120.0,
                                                         "bound_s": 260.0}
    assert tool.wall_bound(300.0, 400.0, 4)["bound_s"] == 300.0  # four cores wait for one pre-training
    with pytest.raises(ValueError, match="cores=0"):
        tool.wall_bound(1.0, 2.0, 0)
    rules = tmp_path / "rules"
    write(rules / "base_model" / "llama.tsv", 600.0, 900)
    write(rules / "base_model" / "mistral.tsv", 660.0, 900)
    write(rules / "finetune" / "llama" / "gsm" / "sft" / "seed1.tsv", 240.0, 500)
    assert tool.main(["--work", str(tmp_path / "work"), "--rules", str(rules), "--cores", "4"]) == 0
    assert "Compute bound on 4 cores: 11.0 min (25.0 min of job time over 4 cores; the longest base model 11.0 min)" \
        in capsys.readouterr().out



def test_default_folders_are_where_the_rules_write_their_benchmark_files(tmp_path, monkeypatch, capsys):
    """Every rule's `benchmark:` file lies under logs/benchmarks/<rule>/, which both tools read by default."""
    import re

    paths, rules = [], 0
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text()
        paths += re.findall(r"benchmark:\s*\n\s*f?\"([^\"]+)\"", text)
        rules += len(re.findall(r"^\s*rule( \w+)?:", text, flags=re.MULTILINE))
    assert rules >= 10 and len(paths) == rules  # every rule has exactly one benchmark file
    assert all(path.startswith("logs/benchmarks/") for path in paths), paths
    monkeypatch.chdir(tmp_path)
    assert load_profile_tool().main([]) == 2  # no logs/benchmarks yet
    write(tmp_path / "logs" / "benchmarks" / "tables" / "tables.tsv", 8.0, 300)
    assert load_tool().main([]) == 0
    assert "| `tables` | 1 |" in capsys.readouterr().out
    assert load_profile_tool().main([]) == 0


def test_profile_job_splits_a_real_fine_tune_into_phases_that_do_not_overlap(tmp_path, tiny_model_dir,
                                                                             tiny_records_file):
    """benchmarks/profile_job.py reruns a finished fine-tune from its recorded config (in a subprocess: it
    instruments the library's functions) and times each phase; the phases are disjoint, so the measured ones
    never add up to more than the job, and the recorded steps are the job's."""
    import json
    import subprocess
    import sys

    from cotmask.train import FinetuneConfig, finetune

    cfg = FinetuneConfig.from_dict(dict(
        base_model=tiny_model_dir, train_file=tiny_records_file, output_dir=str(tmp_path / "model"),
        checkpoint_dir=str(tmp_path / "checkpoints"), prompt_template="short", max_length=96, epochs=2,
        per_device_batch_size=8, limit=32, learning_rate=2e-3, diagnostics_test_file=tiny_records_file,
        diagnostics_items=8, diagnostics_max_new_tokens=8,
    ))
    finetune(cfg)
    out = tmp_path / "profile.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "profile_job.py"), "--model-dir", str(tmp_path / "model"),
         "--epochs", "1", "--json", str(out)], capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    phases = {row["phase"]: row for row in json.loads(out.read_text())["phases"]}
    job = phases.pop("job (in-process)")
    assert job["steps"] == 4  # 32 problems, batch 8, the one epoch asked for
    assert phases["forward + backward"]["seconds"] > 0 and phases["diagnostics"]["seconds"] > 0
    assert all(row["seconds"] >= 0 for row in phases.values()), phases  # "other" >= 0: no phase counted twice
    assert abs(sum(row["seconds"] for row in phases.values()) - job["seconds"]) < 0.05
    assert "| forward + backward |" in result.stdout
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_job.py"), "--model-dir",
                          str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith(f"error: {tmp_path}: no train_metrics.json")


def test_bench_compile_summarises_eager_against_warm_runs_and_rebuilds_the_job_commands(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_compile", ROOT / "benchmarks" / "bench_compile.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    def row(kind, job, loop, compile_s):
        return {"kind": kind, "job_wall_s": job, "train_wall_s": loop, "compile_s": compile_s}

    rows = [row("eager", 30, 20, 0), row("cold", 110, 95, 76), row("warm", 40, 28, 13), row("eager", 32, 20, 0),
            row("warm", 38, 26, 13)]
    s = tool.summary(rows)
    assert s["eager_job_s"] == 31 and s["warm_job_s"] == 39 and s["cold_compile_s"] == 76
    assert s["job_ratio_eager_over_warm"] == round(31 / 39, 3)
    assert s["loop_ratio_eager_over_warm_without_compile"] == round(20 / 14, 3)  # (28 + 26) / 2 - 13
    assert s["break_even_loop_s"] == round(13 / (1 - 14 / 20), 1)  # the loop length where compiling pays
    assert tool.compile_arguments("eager", "finetune", tmp_path) == []
    assert tool.compile_arguments("warm", "finetune", tmp_path) == [
        "--set", "compile=true", "--set", f"compile_cache_dir={tmp_path}"]
    assert tool.compile_arguments("cold", "pretrain", tmp_path)[0] == "--compile"


def test_pretrain_padding_counts_the_positions_the_length_buckets_compute():
    spec = importlib.util.spec_from_file_location("pretrain_padding", ROOT / "benchmarks" / "pretrain_padding.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    lengths = [2, 2, 4, 8]  # one batch of 4 (any shuffle): collated 4 x 8 positions for 16 real tokens
    assert tool.computed_padding(lengths, 4, 1) == 0.5
    assert tool.computed_padding(lengths, 4, 2) == 1 - 16 / (2 * 2 + 2 * 8)  # groups [2, 2] and [4, 8]
    assert tool.computed_padding(lengths, 4, 4) == 0.0  # one row per group: no padding
    assert tool.computed_padding([3] * 9, 4, 1) == 0.0  # equal lengths: nothing to pad
