# The dependency case study (config analyses.case_study; cotmask.analysis.case_study), the counterpart of the
# paper's Table 4 and Figs. 4-5: one job per fine-tune forces chain prefixes of held-out two-step problems with
# a varied operand (Fig. 4) or question number (Fig. 5) and records the operand the model writes next
# ({model}/{train_set}/{method}/seed{seed}.jsonl rows, .json summary); the aggregation recomputes every
# fraction from those rows and writes tables/table4_case_study.* and figures/table4_case_study.png next to
# the paper's numbers. Off by default: with enabled false neither rule has a job. The report shows the HTML
# table and the figure (captions report/table_table4_case_study.rst, report/figure_table4_case_study.rst).


rule case_study:
    input:
        unpack(case_study_inputs),
    output:
        rows=f"{CASE_STUDY}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}.jsonl",
        summary=f"{CASE_STUDY}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}.json",
    log:
        "logs/case_study/{model}/{train_set}/{method}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/case_study/{model}/{train_set}/{method}/seed{seed}.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("evaluate", "threads")
    resources:
        mem_mb=resource("evaluate", "mem_mb"),
        runtime=resource("evaluate", "runtime"),
        gpu=resource("evaluate", "gpu"),
    params:
        settings=case_study_settings,
    script:
        "../scripts/case_study.py"


rule case_study_table:
    input:
        PLAN.case_study_summaries(),
    output:
        report_analysis_files(PLAN.case_study_files()),
    log:
        "logs/case_study_table/case_study_table.log",
    benchmark:
        "logs/benchmarks/case_study_table/case_study_table.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("tables", "threads")
    resources:
        mem_mb=resource("tables", "mem_mb"),
        runtime=resource("tables", "runtime"),
    params:
        settings=PLAN.case_study_table_settings(),
    script:
        "../scripts/case_study.py"
