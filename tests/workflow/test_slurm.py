"""The cluster profiles: both parse and request GPUs for the trainings, and profiles/slurm on a real one-node SLURM
cluster (tests/cluster/slurm_local_cluster.sh) gives the same results as a local run.

The SLURM test needs root and apt-get (it installs slurm-wlm and munge); elsewhere it is skipped, unless
REQUIRE_SLURM_TEST=1 (as in .ci/run), which turns every such skip into a failure."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
CLUSTER_SCRIPT = ROOT / "tests" / "cluster" / "slurm_local_cluster.sh"


def gpu_declaring_rules():
    """Rules whose resources claim a GPU through training_gpus (rules/common.smk): the profiles must cover each."""
    rules = set()
    for path in (ROOT / "rules").glob("*.smk"):
        for block in re.split(r"^(?=rule )", path.read_text(), flags=re.MULTILINE):
            name = re.match(r"rule (\w+):", block)
            if name and "gpu=training_gpus" in block:
                rules.add(name.group(1))
    # `use rule A as B with:` inherits A's resources
    for path in (ROOT / "rules").glob("*.smk"):
        for base, derived in re.findall(r"^use rule (\w+) as (\w+) with:", path.read_text(), flags=re.MULTILINE):
            if base in rules:
                rules.add(derived)
    return rules


TRAINING_RULES = gpu_declaring_rules()
UNSUITABLE = 2  # exit status of the cluster script when this machine cannot host the cluster (not a failure)

# The whole tiny `all` target is about 100 jobs; under SLURM each pays two Snakemake start-ups (the batch job and its
# srun step), ~17 s of a 2-core machine, so `all` takes ~15 minutes (30 jobs up to one CWoLa training: ~6).
# These two targets are 12 jobs (~2 minutes): one Hidden-Valley sample from card to Pythia, detector, analysis
# events, signal-region windows and jet images, and the toy study's datasets and one GPU-declaring training.
TARGETS = ["results/metrics/cohen2018_toy/jobs/mae-1/metrics.csv", "results/images/hv_id_lambda10/images_25px.npy"]
TIMING_COLUMNS = ["train_seconds"]  # wall-clock time, the one column that differs between identical runs


def unavailable(reason):
    if os.environ.get("REQUIRE_SLURM_TEST") == "1":
        pytest.fail(f"REQUIRE_SLURM_TEST=1 but {reason}")
    pytest.skip(reason)


def snakemake(workdir, targets, *args, env=None, timeout=900):
    command = [sys.executable, "-m", "snakemake", *targets, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(TINY), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("profile, gpu_resource", [("slurm", "gpu"), ("htcondor", "request_gpus")])
def test_profile_dry_run_asks_a_gpu_for_every_training_job(profile, gpu_resource, tmp_path):
    pytest.importorskip(f"snakemake_executor_plugin_{profile}")
    result = snakemake(tmp_path, ["all"], "-n", "--profile", str(ROOT / "profiles" / profile), "--workflow-profile",
                       "none", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", result.stdout, re.MULTILINE)
    assert TRAINING_RULES < {rule for rule, _ in jobs}
    for rule, resources in jobs:
        asks_gpu = f"{gpu_resource}=1" in resources.split(", ")
        assert asks_gpu == (rule in TRAINING_RULES), (rule, resources)


@pytest.fixture(scope="module")
def slurm_cluster():
    if os.geteuid() != 0:
        unavailable("the local SLURM cluster needs root (apt-get install, daemons running as root)")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        unavailable("the local SLURM cluster needs apt-get to install slurm-wlm and munge")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        unavailable("snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')")
    # Not under pytest's tmp_path: munged wants every directory above its socket searchable by all users.
    directory = Path(tempfile.mkdtemp(prefix="slurm-local-cluster-"))
    directory.chmod(0o755)
    env = {**os.environ, "SLURM_CONF": str(directory / "slurm.conf")}
    try:
        started = subprocess.run(["bash", str(CLUSTER_SCRIPT), "start", str(directory)], capture_output=True,
                                 text=True, timeout=600)
        if started.returncode == UNSUITABLE:
            unavailable(started.stderr.strip())
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        yield env
    finally:
        stopped = subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop", str(directory)], capture_output=True, text=True,
                                 timeout=120)
        assert stopped.returncode == 0, stopped.stderr[-3000:]
        shutil.rmtree(directory)


def slurm_jobs(env):
    """Every job slurmctld still holds (MinJobAge keeps finished ones for an hour), as key=value dicts."""
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    return [dict(field.split("=", 1) for field in line.split() if "=" in field) for line in shown.stdout.splitlines()]


def assert_same_results(cluster_dir, local_dir):
    """Every result file of both runs has the same bytes (ROOT and model files included: they are written
    reproducibly), metrics tables compared without their timing column."""

    def result_files(directory):
        return sorted(path.relative_to(directory) for path in (directory / "results").rglob("*") if path.is_file())

    files = result_files(cluster_dir)
    assert files == result_files(local_dir)
    assert {path.parts[1] for path in files} >= {"particles", "delphes", "events", "images", "datasets", "models", "metrics"}
    for relative in files:
        cluster, local = cluster_dir / relative, local_dir / relative
        if relative.suffix == ".csv":
            pd.testing.assert_frame_equal(pd.read_csv(cluster).drop(columns=TIMING_COLUMNS, errors="ignore"),
                                          pd.read_csv(local).drop(columns=TIMING_COLUMNS, errors="ignore"),
                                          obj=str(relative))
        else:
            assert cluster.read_bytes() == local.read_bytes(), relative


@pytest.mark.cluster
def test_slurm_profile_runs_every_job_through_slurm_with_local_results(slurm_cluster, tmp_path):
    cluster_dir, local_dir = tmp_path / "slurm", tmp_path / "local"
    result = snakemake(
        cluster_dir, TARGETS, "--profile", str(ROOT / "profiles" / "slurm"), "--workflow-profile", "none",
        # No accounting on this cluster: job states come from squeue (slurm.conf keeps finished jobs an hour).
        "--slurm-status-command", "squeue",
        # The first status check after 5 s instead of 40 s: the jobs here take seconds.
        "--slurm-init-seconds-before-status-checks", "5",
        # Successful jobs' SLURM logs are deleted by default; they are the evidence checked below.
        "--slurm-keep-successful-logs",
        # A failure here is a bug, not a flaky node: fail at once instead of resubmitting.
        "--retries", "0",
        env=slurm_cluster)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    output = result.stdout + result.stderr
    run_id = re.search(r"SLURM run ID: (\S+)", output).group(1)
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", output))

    # Every job of the run was a SLURM job that completed, and only the trainings asked for a GPU.
    jobs = [job for job in slurm_jobs(slurm_cluster) if job.get("JobName") == run_id]
    assert {job["JobId"] for job in jobs} == submitted
    assert {job["JobState"] for job in jobs} == {"COMPLETED"}
    by_rule = {}
    for job in jobs:
        rule = re.fullmatch(r"rule_(\w+?)(?:_wildcards_.*)?", job["Comment"]).group(1)
        by_rule.setdefault(rule, []).append(job)
    # The chunks' generation, detector and conversion ran as group jobs of the profile (both chunks of the sample in
    # one submission: group-components 8), never as jobs of their own.
    # A group job is named after its group and its rules (chunk_chain_convert_events_generate_particles_...).
    chain = {"generate_particles", "simulate_detector", "convert_events"}
    groups = [name for name in by_rule if name.startswith("chunk_chain_")]
    assert len(groups) == 1 and set(groups[0].removeprefix("chunk_chain_").split("_")) >= {"events", "particles", "detector"}
    assert len(by_rule[groups[0]]) == 1
    assert {"render_card", "jet_images", "train_toy_job"} <= set(by_rule) and not chain & set(by_rule)
    for rule, rule_jobs in by_rule.items():
        for job in rule_jobs:
            assert ("gpu:1" in job.get("TresPerJob", "")) == (rule in TRAINING_RULES), (rule, job.get("TresPerJob"))
    # ... and left its batch log in the plugin's per-rule (per-group) log directory.
    logs = cluster_dir / ".snakemake" / "slurm_logs"
    for rule, rule_jobs in by_rule.items():
        directory = logs / (f"group_{rule}" if rule in groups else f"rule_{rule}")
        assert len(list(directory.rglob("*.log"))) == len(rule_jobs), rule
    # Each chunk kept its own files and logs.
    for chunk in (0, 1):
        for stage, extension in (("particles", "parquet"), ("delphes", "root"), ("events", "parquet")):
            assert (cluster_dir / "results" / stage / "hv_id_lambda10" / f"chunk{chunk}.{extension}").is_file()

    local = snakemake(local_dir, TARGETS, "--cores", "2")
    assert local.returncode == 0, local.stderr[-3000:]
    assert_same_results(cluster_dir, local_dir)
