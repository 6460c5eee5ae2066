# The regime map's selection rule (cotmask.regime, docs/regime-map.md): which candidate point becomes the
# embedded default's regime, from the candidates' SFT and SFT-long evaluations and training metrics only.
# Its inputs hold no MFT run, so `snakemake <results_dir>/regime_selection.json` runs exactly the SFT-only
# jobs the rule needs, before any MFT arm.


rule regime_selection:
    input:
        unpack(regime_selection_inputs),
    output:
        f"{RESULTS}/regime_selection.json",
    log:
        "logs/regime_selection/regime_selection.log",
    benchmark:
        "logs/benchmarks/regime_selection/regime_selection.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("tables", "threads")
    resources:
        mem_mb=resource("tables", "mem_mb"),
        runtime=resource("tables", "runtime"),
    params:
        settings=regime_selection_settings,
    script:
        "../scripts/regime_selection.py"


# The map's tables and figures (cotmask.report.regime_map): MFT - SFT and MFT - SFT-long along each axis
# (from the comparisons table), every fine-tune's overfitting diagnostics, accuracy against samples seen.
rule regime_map:
    input:
        unpack(regime_map_inputs),
    output:
        PLAN.regime_map_files(),
    log:
        "logs/regime_map/regime_map.log",
    benchmark:
        "logs/benchmarks/regime_map/regime_map.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("tables", "threads")
    resources:
        mem_mb=resource("tables", "mem_mb"),
        runtime=resource("tables", "runtime"),
    params:
        settings=regime_map_settings,
    script:
        "../scripts/regime_map.py"
