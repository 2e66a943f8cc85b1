# Weak supervision and CWoLa studies, regenerated from nothing.
# Targets: all (default), cohen2018 (weak-supervision paper figures), cwola (CWoLa paper figures), events (every sample's
# analysis-ready events), closure (the embedded detector simulation against Delphes).
import shlex
import sys

from snakemake.utils import min_version

min_version("9.0")
# workflow_scripts is imported from this checkout, here and in every job, even with --directory.
sys.path.insert(0, workflow.basedir)
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(workflow.basedir)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")

from workflow_scripts.config import validate_config


configfile: "config.yaml"


validate_config(config, workflow.source_path("workflow_scripts/schemas/config.schema.yaml"))


report: "report/workflow.rst"


include: "rules/common.smk"


wildcard_constraints:
    toy_job=JOB_NAME_PATTERN,
    sample=SAMPLE_PATTERN,
    chunk=r"\d+",
    benchmark=SAMPLE_PATTERN,
    npix=r"\d+",
    injection=r"\d+(\.\d+)?",
    trial=r"\d+",



include: "rules/generate.smk"  # cards -> particles -> detector ROOT -> analysis events
include: "rules/tools.smk"  # MadGraph and Delphes: built once, then MadGraph LHE, Delphes -> detector ROOT
include: "rules/datasets.smk"  # toy datasets, jet images, CWoLa pseudo-experiments
include: "rules/training.smk"  # ensemble trainings -> per-run metrics CSV
include: "rules/figures.smk"  # figures drawn from the metrics CSVs
include: "rules/validation.smk"  # checks that generation shortcuts do not bias the analysis
include: "rules/closure.smk"  # the embedded detector simulation against Delphes on the same events


rule all:
    default_target: True
    input:
        cohen2018_outputs(),
        cwola_outputs(),
        event_outputs(),


rule cwola:
    input:
        cwola_outputs(),


rule events:
    input:
        event_outputs(),


rule hepmc:
    input:
        [path for sample in SAMPLES for path in sample_chunks("hepmc", sample, "hepmc3")],


rule cohen2018:
    input:
        cohen2018_outputs(),


rule closure:
    input:
        lambda wildcards: closure_outputs(),
