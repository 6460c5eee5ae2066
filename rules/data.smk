# Source datasets: one rule data_<dataset> per source dataset of the config (a rule per dataset
# because each source has its own list of splits, given by cotmask.data.source_splits).
#
# Outputs: every split the source can write (PLAN.source_outputs, a fixed list per source; a split the
# options do not build is an empty file) and stats.json. A fixed list, because a new output would have no
# Snakemake metadata, and then Snakemake skips the job's params check: adding n_pretrain while changing
# n_train would rerun nothing (docs/workflow.md, "Reruns"). params.options are the source's options with
# its defaults filled in, so an explicit default is no change.


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
            options=PLAN.source_options(_dataset),
        script:
            "../scripts/build_source.py"
