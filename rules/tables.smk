# Aggregation: every evaluation -> Tables 1, 2, 5 counterparts, comparisons, the Fig. 3 data and
# figures, and results/summary.json (cotmask.report.build_tables). The inputs are the evaluate jobs'
# directories; the index of evaluations (one entry per benchmark and decoding, with the paths of its
# files in those directories) is built from the config by the planner, cotmask.plan (sweep points
# flagged for Fig. 3), and passed as a param. The report shows the HTML tables and the PNG figures
# (captions report/table_<stem>.rst, report/figure_<name>.rst); config_files (the run's config files,
# relative to the workflow folder) is not read by the script: the captions name it, and a run of another
# config file reruns this job.


rule tables:
    input:
        PLAN.eval_dirs(),
    output:
        report_table_files(),
        summary=f"{RESULTS}/summary.json",
    log:
        "logs/tables/tables.log",
    benchmark:
        "logs/benchmarks/tables/tables.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("tables", "threads")
    resources:
        mem_mb=resource("tables", "mem_mb"),
        runtime=resource("tables", "runtime"),
    params:
        index=PLAN.index_records,
        options=PLAN.tables_options(),
        config_files=[
            os.path.relpath(path, workflow.basedir) for path in workflow.configfiles
        ],
    script:
        "../scripts/tables.py"
