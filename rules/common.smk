# Lookups shared by every stage: config expanded into file lists, resources, target lists.
from workflow_scripts.toy_study import RUN_NAME_PATTERN, ToyRun

TOY = config["cohen2018_toy"]
TOY_METRICS = "results/metrics/cohen2018_toy"


def toy_runs():
    """Every toy training run the config asks for: full supervision, the label scan, the loss study."""
    true_label_b = TOY["fractions"][1]
    runs = [ToyRun("full", "bce")]
    runs += [ToyRun("weak", "bce", label) for label in TOY["label_scan"]]
    runs += [ToyRun("weak", loss, true_label_b) for loss in TOY["losses"]]
    return list(dict.fromkeys(run.name for run in runs))


def toy_run_outputs(name):
    return expand(f"{TOY_METRICS}/runs/{{run}}/{{table}}.csv", run=toy_runs(), table=name)


def toy_training_resources(wildcards):
    return 1 if config["training"]["device"] == "cuda" else 0


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
