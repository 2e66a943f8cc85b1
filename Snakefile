# Weak supervision and CWoLa studies, regenerated from nothing.
# Targets: all (default), cohen2018 (weak-supervision paper figures).
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "workflow_scripts/schemas/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/datasets.smk"  # toy datasets and the Bayes-optimal reference
include: "rules/training.smk"  # ensemble trainings -> per-run metrics CSV
include: "rules/figures.smk"  # figures drawn from the metrics CSVs


rule all:
    default_target: True
    input:
        cohen2018_outputs(),


rule cohen2018:
    input:
        cohen2018_outputs(),
