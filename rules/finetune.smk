# One fine-tune per (model, train_set, method, seed): SFT or MFT, the method's settings merged from
# training <- model <- train set <- method <- cell overrides into ONE params dict (finetune_params),
# so that editing one value reruns exactly the affected fine-tunes. Trainer checkpoints live outside
# the declared output (work/checkpoints/...) so that a restarted job resumes.


rule finetune:
    input:
        unpack(finetune_inputs),
    output:
        directory(f"{FT}/{{model}}/{{train_set}}/{{method}}/seed{{seed}}"),
    log:
        "logs/finetune/{model}/{train_set}/{method}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/finetune/{model}/{train_set}/{method}/seed{seed}.tsv"
    conda:
        "../envs/cotmask.yaml"
    threads: resource("finetune", "threads")
    resources:
        mem_mb=resource("finetune", "mem_mb"),
        runtime=resource("finetune", "runtime"),
        gpu=resource("finetune", "gpu"),
    params:
        settings=finetune_params,
        base_model=base_model_ref,
        checkpoint_dir=checkpoint_dir,
        accelerate_config=accelerate_config,
    script:
        "../scripts/finetune.py"
