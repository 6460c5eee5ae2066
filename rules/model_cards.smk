# Model cards with results (config key model_cards, off by default): per fine-tune, once its evaluate
# job is done, the Hugging Face model card (cotmask.model_card: base model, method, hyper-parameters)
# with the accuracy of every benchmark and decoding, written to work/cards/... The fine-tune's own
# folder keeps the card it was saved with (no results): a job never writes into another job's output
# folder, so the fine-tune stays complete in Snakemake's eyes and is never rerun for its card.


rule model_card:
    input:
        model=f"{FT}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}",
        evals=f"{EVALS}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}",
    output:
        f"{CARDS}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}/README.md",
    log:
        "logs/model_card/{model}/{train_set}/{method}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/model_card/{model}/{train_set}/{method}/seed{seed}.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("tables", "threads")
    resources:
        mem_mb=resource("tables", "mem_mb"),
        runtime=resource("tables", "runtime"),
    script:
        "../scripts/model_card.py"
