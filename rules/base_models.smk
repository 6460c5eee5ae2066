# Tiny base models built in the DAG (embedded scale): a BPE tokenizer shared by all tiny
# models, then one initialised + briefly pre-trained model per config entry with `tiny:`.
# Hub models (paper scale) have no rule here: fine-tuning reads their hub id / local path.


rule train_tokenizer:
    input:
        tokenizer_corpus,
    output:
        directory(TOKENIZER),
    log:
        "logs/train_tokenizer/tokenizer.log",
    benchmark:
        "logs/benchmarks/train_tokenizer/tokenizer.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("base_model", "threads")
    resources:
        mem_mb=resource("base_model", "mem_mb"),
        runtime=resource("base_model", "runtime"),
    params:
        settings=tokenizer_settings,
    script:
        "../scripts/train_tokenizer.py"


rule base_model:
    input:
        tokenizer=TOKENIZER,
        corpus=pretrain_corpus,
    output:
        directory(f"{BASE}/{{model}}"),
    log:
        "logs/base_model/{model}.log",
    benchmark:
        "logs/benchmarks/base_model/{model}.tsv"
    wildcard_constraints:
        model=alternation(PLAN.tiny_models),
    conda:
        "../envs/cotmask.yaml"
    threads: resource("base_model", "threads")
    resources:
        mem_mb=resource("base_model", "mem_mb"),
        runtime=resource("base_model", "runtime"),
    params:
        settings=base_model_settings,
        checkpoint_dir=base_checkpoint_dir,
    script:
        "../scripts/base_model.py"
