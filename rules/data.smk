# Source datasets: one rule data_<dataset> per source dataset of the config (a rule per dataset
# because each source has its own list of splits, given by cotmask.data.source_splits).


for _dataset in PLAN.source_datasets:

    rule:
        name:
            f"data_{_dataset}"
        output:
            splits=PLAN.source_outputs(_dataset),
            stats=f"{DATA}/{_dataset}/stats.json",
        log:
            f"logs/data/{_dataset}.log",
        benchmark:
            f"logs/benchmarks/data/{_dataset}.tsv"
        conda:
            "../envs/cotmask.yaml"
        threads: resource("data", "threads")
        resources:
            mem_mb=resource("data", "mem_mb"),
            runtime=resource("data", "runtime"),
        params:
            source=config["datasets"][_dataset]["source"],
            options=config["datasets"][_dataset]["options"],
        script:
            "../scripts/build_source.py"
