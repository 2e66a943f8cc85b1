# Weak supervision and CWoLa studies, regenerated from nothing.
# Targets: all (default), cohen2018 (weak-supervision paper figures), cwola (CWoLa paper figures), events (every sample's
# analysis-ready events), closure (the embedded detector simulation against Delphes), chain_comparison (the CWoLa study
# of this run against another run's, config key chain_comparison).
import shlex
import sys

from snakemake.utils import min_version

min_version("9.0")
# workflow_scripts is imported from this checkout, here and in every job, even with --directory.
sys.path.insert(0, workflow.basedir)
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(workflow.basedir)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")

from workflow_scripts.core.config import validate_config


configfile: "config.yaml"


validate_config(config, workflow.source_path("workflow_scripts/core/schemas/config.schema.yaml"))


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


include: "rules/events.smk"  # cards -> particles -> detector ROOT -> analysis events, chunk by chunk
include: "rules/external.smk"  # MadGraph and Delphes: built once, then MadGraph LHE, Delphes -> detector ROOT
include: "rules/cohen2018_toy.smk"  # Cohen et al., toy model: datasets, ensembles, Figs. 4-7 and 12
include: "rules/cohen2018_lhc.smk"  # Cohen et al., gluinos: features, Tables 3-4, Figs. 9-11
include: "rules/cwola.smk"  # CWoLa: regions, jet images, pseudo-experiments, (meta-)transfer, Figs. 1-6
include: "rules/validation.smk"  # generator cuts, and the embedded detector against Delphes
include: "rules/scorecard.smk"  # every claim of papers/claims.yaml against this run


rule all:
    default_target: True
    input:
        toy_outputs(),
        lhc_outputs(),
        cwola_outputs(),
        event_outputs(),
        scorecard_outputs(SCORECARD_PAPERS),


rule cwola:
    input:
        cwola_outputs(),
        scorecard_outputs(["cwola"]),


rule events:
    input:
        event_outputs(),


rule hepmc:
    input:
        [path for sample in SAMPLES for path in sample_chunks("hepmc", sample, "hepmc3")],


rule cohen2018:
    input:
        toy_outputs(),
        lhc_outputs(),
        scorecard_outputs(["cohen2018"]),


rule closure:
    input:
        lambda wildcards: closure_outputs(),


rule chain_comparison:
    input:
        lambda wildcards: chain_comparison_outputs(),
