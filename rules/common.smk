# Lookups shared by every stage: config expanded into file lists, resources, target lists.
import json
import re

from workflow_scripts.cards import configured_samples, generator_entry
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


def slha_input(wildcards):
    """Gluino samples read their SUSY spectrum from an SLHA file rendered beside the card."""
    if SAMPLES[wildcards.sample]["process"] == "gluino_pair":
        return f"results/cards/{wildcards.sample}.slha"
    return []


def sample_chunks(stage, sample, extension="parquet"):
    """Every chunk file of one sample at one stage (particles, delphes, events)."""
    return [f"results/{stage}/{sample}/chunk{chunk}.{extension}" for chunk in range(SAMPLES[sample]["chunks"])]


def event_outputs():
    """Analysis-ready events of every chunk of every configured sample."""
    return [path for sample in SAMPLES for path in sample_chunks("events", sample)]


def require_sample(name, purpose):
    if name not in SAMPLES:
        raise ValueError(f"{purpose} needs sample {name!r} in config key generation.samples (or the benchmark grid)")
    return name


def cwola_outputs():
    outputs = expand("results/figures/cwola/fig01_mjj.{ext}", ext=["pdf", "png"])
    if "generator_cut_check" in config["cwola"]:
        outputs += ["results/metrics/cwola/generator_cut_check.csv", "results/figures/cwola/check_generator_cuts.pdf"]
    return outputs


def cwola_windows():
    """Signal region and sidebands as a list of [low, high) M_jj windows."""
    return [config["cwola"]["signal_region_gev"], *config["cwola"]["sidebands_gev"]]


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


def unknown_selections():
    return sorted({entry["selection"] for entry in SAMPLES.values()} - set(config["selections"]))


if unknown_selections():
    raise ValueError(f"samples name selections {unknown_selections()} that config key `selections` does not define")
