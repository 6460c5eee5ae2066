# One evaluate job per fine-tune (model, train_set, method, seed): the model is loaded once and
# every (benchmark, decoding) pair the config asks of it (cells and sweeps) is run in turn: greedy
# generation (with the <<a*b=c>> calculator when decoding == calc; for decoding == hybrid, the cells of
# hybrid.train_sets, MAmmoTH's program of thought run in a sandbox with chain of thought as the
# fallback), answer extraction and scoring.
# The output directory holds {benchmark}.{decoding}.jsonl (per item) and .json (summary) per pair;
# the pairs and each benchmark's settings are params, so a config edit reruns exactly the
# fine-tunes whose evaluations change.


rule evaluate:
    input:
        model=f"{FT}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}",
        data=evaluation_data,
    output:
        directory(f"{EVALS}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}"),
    log:
        "logs/evaluate/{model}/{train_set}/{method}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/evaluate/{model}/{train_set}/{method}/seed{seed}.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("evaluate", "threads")
    resources:
        mem_mb=resource("evaluate", "mem_mb"),
        runtime=resource("evaluate", "runtime"),
        gpu=resource("evaluate", "gpu"),
    params:
        runs=evaluation_runs_params,
    script:
        "../scripts/evaluate.py"
