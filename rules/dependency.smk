# The dependency-distance analysis (config analyses.dependency; cotmask.analysis.dependency), the counterpart
# of the paper's Fig. 1 and App. D: one job per fine-tune feeds the test records (and the GSM-IC records)
# teacher-forced, replaces each number in turn by another number of the same length and counts, per item,
# panel and token-distance bin, the later solution numbers whose greedy prediction changes
# ({model}/{train_set}/{method}/seed{seed}.json); the aggregation recomputes every rate and paired difference
# with its bootstrap CI from those files and writes tables/dependency.* and figures/dependency.png. Off by
# default: with enabled false neither rule has a job. The report shows dependency.html and dependency.png
# (captions report/table_dependency.rst, report/figure_dependency.rst; report_analysis_files in common.smk).


rule dependency:
    input:
        model=f"{FT}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}",
        data=dependency_data,
    output:
        f"{DEPENDENCY}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}.json",
    log:
        "logs/dependency/{model}/{train_set}/{method}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/dependency/{model}/{train_set}/{method}/seed{seed}.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("evaluate", "threads")
    resources:
        mem_mb=resource("evaluate", "mem_mb"),
        runtime=resource("evaluate", "runtime"),
        gpu=resource("evaluate", "gpu"),
    params:
        settings=dependency_settings,
    script:
        "../scripts/dependency.py"


rule dependency_table:
    input:
        PLAN.dependency_files(),
    output:
        report_analysis_files(PLAN.dependency_table_files()),
    log:
        "logs/dependency_table/dependency_table.log",
    benchmark:
        "logs/benchmarks/dependency_table/dependency_table.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("tables", "threads")
    resources:
        mem_mb=resource("tables", "mem_mb"),
        runtime=resource("tables", "runtime"),
    params:
        settings=PLAN.dependency_table_settings(),
    script:
        "../scripts/dependency.py"
