# cotmask: Masked Thought fine-tuning (MFT) vs SFT, from raw data to plotted tables.
#
#   snakemake -c 2                                   # embedded default (config/config.yaml)
#   snakemake -c 2 --configfile config/smoke.yaml    # CI-sized smoke run
#   snakemake -n --configfile config/paper.yaml      # the paper's grid (GPUs; see docs/workflow.md)
#
# config/config.yaml is loaded only when no --configfile is given, so that a given config file is
# complete on its own (Snakemake would otherwise merge nested dicts of both files).


from snakemake.utils import min_version

min_version("9.20")


if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/augment.smk"
include: "rules/base_models.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"
include: "rules/tables.smk"
include: "rules/regime.smk"
include: "rules/model_cards.smk"
include: "rules/case_study.smk"
include: "rules/dependency.smk"


rule all:
    default_target: True
    input:
        PLAN.final_targets(),
