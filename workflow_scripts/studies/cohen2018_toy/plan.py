"""The toy study's trainings: every run, packed into training jobs (read while the workflow plans; no torch)."""

from __future__ import annotations

from workflow_scripts.ml.supervision import SupervisionRun

JOB_NAME_PATTERN = r"(bce|mae|llp)-[0-9]+"


def plan_runs(label_scan, losses, true_label_b: float) -> list[str]:
    """Every run of the study: full supervision, the label scan (BCE), the loss comparison at the true labels."""
    runs = [SupervisionRun("full", "bce")]
    runs += [SupervisionRun("weak", "bce", label) for label in label_scan]
    runs += [SupervisionRun("weak", loss, true_label_b) for loss in losses]
    return list(dict.fromkeys(run.name for run in runs))


def plan_jobs(run_names, trainings_per_run: int, max_members_per_job: int) -> dict[str, list[str]]:
    """Pack runs that share a loss into training jobs of at most max_members_per_job networks.

    Large ensembles keep a CPU core or a GPU busy; several jobs let Snakemake
    spread the work over cores or cluster nodes.  Job names: ``{loss}-{index}``.
    """
    runs_per_job = max(1, max_members_per_job // trainings_per_run)
    runs = [SupervisionRun.parse(name) for name in run_names]
    jobs = {}
    for loss in dict.fromkeys(run.loss for run in runs):
        same_loss = [run.name for run in runs if run.loss == loss]
        n_jobs = -(-len(same_loss) // runs_per_job)
        # Spread runs evenly so that parallel jobs finish together.
        for index in range(n_jobs):
            jobs[f"{loss}-{index + 1}"] = same_loss[index::n_jobs]
    return jobs
