# One evaluation per (fine-tune, benchmark, decoding): greedy generation (with the <<a*b=c>>
# calculator when decoding == calc), answer extraction and scoring; per-item JSONL + summary JSON.


rule evaluate:
    input:
        model=f"{FT}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}",
        data=benchmark_file,
    output:
        predictions=f"{EVALS}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}/{{benchmark}}.{{decoding}}.jsonl",
        summary=f"{EVALS}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}/{{benchmark}}.{{decoding}}.json",
    log:
        "logs/evaluate/{model}/{train_set}/{method}/seed{seed}/{benchmark}.{decoding}.log",
    benchmark:
        "benchmarks/rules/evaluate/{model}/{train_set}/{method}/seed{seed}/{benchmark}.{decoding}.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("evaluate", "threads")
    resources:
        mem_mb=resource("evaluate", "mem_mb"),
        runtime=resource("evaluate", "runtime"),
        gpu=resource("evaluate", "gpu"),
    params:
        settings=evaluation_params,
    script:
        "../scripts/evaluate.py"
