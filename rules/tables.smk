# Aggregation: every evaluation -> Tables 1, 2, 5 counterparts, comparisons, the Fig. 3 data and
# figures, and results/summary.json (cotmask.report.build_tables). The inputs are the evaluate jobs'
# directories; the index of evaluations (one entry per benchmark and decoding, with the paths of its
# files in those directories) is built from the config by the planner, cotmask.plan (sweep points
# flagged for Fig. 3), and passed as a param. The report shows the HTML tables and the PNG figures
# (captions report/table_<stem>.rst, report/figure_<name>.rst); config_files (the run's config files,
# relative to the workflow folder) is not read by the script: the captions name it, and a run of another
# config file reruns this job. With the overfitting diagnostics on (config key diagnostics), the
# fine-tunes' folders are inputs too and tables/diagnostics.* is written from their diagnostics.jsonl
# (params.diagnostics: the runs; a config with a regime map writes that table in its regime_map rule).


rule tables:
    input:
        PLAN.eval_dirs(),
        diagnostics=[run["dir"] for run in PLAN.tables_diagnostics_runs()],
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
        diagnostics=PLAN.tables_diagnostics_runs(),
        config_files=[
            os.path.relpath(path, workflow.basedir) for path in workflow.configfiles
        ],
    script:
        "../scripts/tables.py"


# Without a regime map (config regime.points empty) the diagnostics table is this rule's; the regime_map
# rule, which declares the same files whatever the config, writes it only for a config with a map.
ruleorder: tables > regime_map
