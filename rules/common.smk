# Lookups shared by every stage: config expanded into file lists, resources, target lists.
import json
import re

from workflow_scripts.cards import configured_samples
from workflow_scripts.toy_study import JOB_NAME_PATTERN, plan_jobs, plan_runs

SAMPLES = configured_samples(config["generation"])
SAMPLE_PATTERN = "|".join(re.escape(name) for name in SAMPLES)

TOY = config["cohen2018_toy"]
TOY_METRICS = "results/metrics/cohen2018_toy"
TOY_JOBS = plan_jobs(
    plan_runs(TOY["label_scan"], TOY["losses"], TOY["fractions"][1]),
    TOY["trainings_per_run"],
    TOY["max_members_per_job"],
)


def toy_job_outputs(table):
    return expand(f"{TOY_METRICS}/jobs/{{job}}/{{table}}.csv", job=TOY_JOBS, table=table)


def training_gpus(wildcards):
    return 1 if config["training"]["device"] == "cuda" else 0


def particle_outputs():
    """Every chunk of every configured sample."""
    return [
        f"results/particles/{sample}/chunk{chunk}.parquet"
        for sample, entry in SAMPLES.items()
        for chunk in range(entry["chunks"])
    ]


COHEN2018_TOY_FIGURES = {
    "fig04_roc": "cohen2018-fig04",
    "fig05_label_scan": "cohen2018-fig05",
    "fig06_background_efficiency": "cohen2018-fig06",
    "fig07_outputs": "cohen2018-fig07",
    "fig12_losses": "cohen2018-fig12",
}


def cohen2018_outputs():
    figures = expand("results/figures/cohen2018/{figure}.{ext}", figure=COHEN2018_TOY_FIGURES, ext=["pdf", "png"])
    return figures + [f"{TOY_METRICS}/summary.csv"]
