# Augmented datasets: rewrites/mixes of other splits (metamath_style, pot_mix, concat), and RFT
# (rejection sampling from a fine-tuned model: a DAG edge from a fine-tune to a dataset).


rule augment:
    input:
        augment_inputs,
    output:
        train=f"{DATA}/{{dataset}}/train.jsonl",
        stats=f"{DATA}/{{dataset}}/stats.json",
    log:
        "logs/augment/{dataset}.log",
    benchmark:
        "logs/benchmarks/augment/{dataset}.tsv"
    wildcard_constraints:
        dataset=alternation(PLAN.augment_datasets),
    conda:
        "../envs/cotmask.yaml"
    threads: resource("data", "threads")
    resources:
        mem_mb=resource("data", "mem_mb"),
        runtime=resource("data", "runtime"),
    params:
        kind=augment_kind,
        options=augment_options,
    script:
        "../scripts/augment.py"


rule rejection_sample:
    input:
        unpack(rft_inputs),
    output:
        train=f"{DATA}/{{dataset}}/train.jsonl",
        stats=f"{DATA}/{{dataset}}/stats.json",
    log:
        "logs/rejection_sample/{dataset}.log",
    benchmark:
        "logs/benchmarks/rejection_sample/{dataset}.tsv"
    wildcard_constraints:
        dataset=alternation(PLAN.rft_datasets),
    conda:
        "../envs/cotmask.yaml"
    threads: resource("rejection_sample", "threads")
    resources:
        mem_mb=resource("rejection_sample", "mem_mb"),
        runtime=resource("rejection_sample", "runtime"),
        gpu=resource("rejection_sample", "gpu"),
    params:
        settings=rft_params,
    script:
        "../scripts/rejection_sample.py"
