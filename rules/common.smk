# Every input function and lookup of the rule files, shared ones first, then one section per rule file (the rule
# files hold rules only).  Nothing here imports torch: the plan is built on the submit host of a cluster, which
# need not have the training stack.
import json
import os
import re
import shlex

from snakemake.settings.types import DeploymentMethod

from workflow_scripts.analysis.regions import MjjRegions
from workflow_scripts.core.devices import nvidia_gpu_present
from workflow_scripts.core.run_record import (
    CONFIG_KEY,
    describe_run,
    figure_claims,
    scorecard_rows,
)
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.external.install_tools import VERSIONS as TOOL_VERSIONS
from workflow_scripts.external.madgraph import model_digest, process_definition, user_model
from workflow_scripts.generation.cards import configured_samples, generator_entry, sample_label
from workflow_scripts.studies import scorecard
from workflow_scripts.studies.cohen2018_toy.plan import JOB_NAME_PATTERN, plan_jobs, plan_runs

SAMPLES = configured_samples(config["generation"])
SAMPLE_PATTERN = "|".join(re.escape(name) for name in SAMPLES)
# The report's front page (report/workflow.rst) is a template that sees only the config: the run's record goes there.
config[CONFIG_KEY] = describe_run(config, SAMPLES, workflow.configfiles, workflow.basedir, TOOL_VERSIONS)


def json_argument(value):
    """One shell argument holding `value` as JSON: how a rule hands a stage its settings."""
    return shlex.quote(json.dumps(value))


def named_inputs(wildcards, input):
    """A rule's named input files as one JSON argument, {"role": [path, ...]} (figures read their inputs by role)."""
    return json_argument({name: [files] if isinstance(files, str) else list(files) for name, files in input.items()})


# Asked once: the answer cannot change while the plan is built.
GPU_PRESENT = nvidia_gpu_present()


def training_gpus(wildcards):
    """A training job claims a GPU when it will use one (`cuda`, or `auto` on a machine showing an NVIDIA GPU), so
    `--resources gpu=N` runs N at a time; CPU trainings claim none and run in parallel across cores.  The check
    needs no torch: the plan may be built where torch is not installed (cluster profiles set the claim themselves)."""
    device = config["training"]["device"]
    return 1 if device == "cuda" or (device == "auto" and GPU_PRESENT) else 0


def require_sample(name, purpose):
    if name not in SAMPLES:
        raise ValueError(f"{purpose} needs sample {name!r} in config key generation.samples (or the benchmark grid)")
    return name


def events_per_chunk(sample):
    return SAMPLES[sample].get("events_per_chunk", config["generation"]["events_per_chunk"])


def generator(sample):
    return SAMPLES[sample].get("generator", "pythia")


def detector(sample):
    return SAMPLES[sample].get("detector", "embedded")


def sample_settings(wildcards):
    """The sample's physics settings for its cards, as one JSON argument (without the keys of later stages, so
    that changing the detector does not regenerate the sample's events)."""
    return json_argument(generator_entry(SAMPLES[wildcards.sample]))


def name_pattern(names):
    """A wildcard constraint matching exactly these sample names (none: a pattern that matches nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


# Each choice's samples, as wildcard constraints: every sample's detector ROOT file
# (results/delphes/{sample}/chunk{chunk}.root, one path for both detectors) has exactly one producing rule.
MADGRAPH_SAMPLES = name_pattern([name for name in SAMPLES if generator(name) == "madgraph"])
DELPHES_SAMPLES = name_pattern([name for name in SAMPLES if detector(name) == "delphes"])
EMBEDDED_DETECTOR_SAMPLES = name_pattern([name for name in SAMPLES if detector(name) == "embedded"])

# A MadGraph sample's process is checked when the plan is made: a UFO model path that is not there stops it here.
for name in SAMPLES:
    if generator(name) == "madgraph":
        try:
            user_model(process_definition(SAMPLES[name]))
        except (OSError, ValueError) as error:
            raise ValueError(f"sample {name}: {error}") from None


def sample_chunks(stage, sample, extension="parquet"):
    """Every chunk file of one sample at one stage (particles, delphes, events)."""
    return [f"results/{stage}/{sample}/chunk{chunk}.{extension}" for chunk in range(SAMPLES[sample]["chunks"])]


def event_outputs():
    """Analysis-ready events of every chunk of every configured sample."""
    return [path for sample in SAMPLES for path in sample_chunks("events", sample)]


def unknown_selections():
    return sorted({entry["selection"] for entry in SAMPLES.values()} - set(config["selections"]))


if unknown_selections():
    raise ValueError(f"samples name selections {unknown_selections()} that config key `selections` does not define")


# --- The shared event chain (rules/events.smk) -----------------------------------------------------------


def slha_input(wildcards):
    """Gluino samples read their SUSY spectrum from an SLHA file rendered beside the card."""
    if SAMPLES[wildcards.sample]["process"] == "gluino_pair":
        return f"results/cards/{wildcards.sample}.slha"
    return []


def pythia_card(wildcards):
    """MadGraph samples shower each chunk's own LHE file with a card of its own; the others share the sample's card."""
    if generator(wildcards.sample) == "madgraph":
        return f"results/cards/{wildcards.sample}/chunk{wildcards.chunk}.cmnd"
    return f"results/cards/{wildcards.sample}.cmnd"


def lhe_input(wildcards):
    """The chunk's MadGraph events, for samples with generator madgraph."""
    if generator(wildcards.sample) == "madgraph":
        return f"results/lhe/{wildcards.sample}/chunk{wildcards.chunk}.lhe.gz"
    return []


def lhe_first_event(wildcards, input):
    return "--lhe-first-event 0" if input.lhe else ""  # the chunk's own MadGraph file


# --- The real generator stack (rules/external.smk) -------------------------------------------------------

# With --sdm apptainer and config key containers.generators, MadGraph and Delphes jobs run in the image and
# take its programs; otherwise they use the tools that the install rules build.
GENERATOR_IMAGE = config.get("containers", {}).get("generators")
USE_GENERATOR_IMAGE = GENERATOR_IMAGE is not None and DeploymentMethod.APPTAINER in workflow.deployment_settings.deployment_method
TOOLS = config.get("tools", {})
IMAGE_BUILD = config.get("containers", {}).get("build", {})


def generator_image_options(wildcards):
    """The options generator_image passes: the sources the native install rules take, and the build settings."""
    options = [f"--jobs {IMAGE_BUILD.get('jobs', 4)}"]
    if "source_dir" in TOOLS:
        options.append(f"--source-dir {shlex.quote(TOOLS['source_dir'])}")
    for key in ("base_image", "ca_bundle"):
        if key in IMAGE_BUILD:
            options.append(f"--{key.replace('_', '-')} {shlex.quote(IMAGE_BUILD[key])}")
    return " ".join(options)


def tool_record(tool):
    """The install record of a tool a job runs (rule install_{tool}), or none when it comes from the image."""
    return [] if USE_GENERATOR_IMAGE else f"tools/{tool}.json"


def tool_argument(input):
    return f"--tool {input.tool}" if input.tool else ""


def gridpack_files(wildcards):
    """A MadGraph chunk's gridpack and its record (rule madgraph_gridpack)."""
    return {"gridpack": f"results/gridpacks/{wildcards.sample}.tar.gz", "record": f"results/gridpacks/{wildcards.sample}.json"}


def user_model_digest(wildcards):
    """The content hash of the UFO directory a sample's `madgraph:` block names by path ('' for a shipped model)."""
    path = user_model(process_definition(SAMPLES[wildcards.sample]))
    return model_digest(path) if path is not None else ""


def lhe_card_settings(wildcards):
    """Card settings of one MadGraph chunk, as a shell argument: shower that chunk's LHE file (plus the sample's extras)."""
    return json_argument(
        {
            "process": "lhe",
            "lhe_file": lhe_input(wildcards),
            "extra_settings": SAMPLES[wildcards.sample].get("extra_settings", {}),
        }
    )


# --- Cohen et al., toy model (rules/cohen2018_toy.smk) ---------------------------------------------------

TOY = config["cohen2018_toy"]
TOY_METRICS = "results/metrics/cohen2018_toy"
TOY_JOBS = plan_jobs(
    plan_runs(TOY["label_scan"], TOY["losses"], TOY["fractions"][1]),
    TOY["trainings_per_run"],
    TOY["max_members_per_job"],
)
COHEN2018_TOY_FIGURES = {
    "fig04_roc": "cohen2018-fig04",
    "fig05_label_scan": "cohen2018-fig05",
    "fig06_background_efficiency": "cohen2018-fig06",
    "fig07_outputs": "cohen2018-fig07",
    "fig12_losses": "cohen2018-fig12",
}


def toy_job_outputs(table):
    return expand(f"{TOY_METRICS}/jobs/{{job}}/{{table}}.csv", job=TOY_JOBS, table=table)


def toy_outputs():
    figures = expand("results/figures/cohen2018/{figure}.{ext}", figure=COHEN2018_TOY_FIGURES, ext=["pdf", "png"])
    return figures + [f"{TOY_METRICS}/summary.csv"]


def toy_job_settings(wildcards):
    return json_argument(
        {
            "runs": TOY_JOBS[wildcards.toy_job],
            "members": TOY["trainings_per_run"],
            "label_a": TOY["fractions"][0],
            "network": TOY["network"],
            "seed": config["seed"],
            "device": config["training"]["device"],
            "compile": TOY["compile"],
        }
    )


# --- Cohen et al., LHC study (rules/cohen2018_lhc.smk) ---------------------------------------------------

LHC = config.get("cohen2018_lhc")
LHC_METRICS = "results/metrics/cohen2018_lhc"
if LHC:
    for name in [LHC["signal"], *LHC["backgrounds"], *LHC["evaluation_backgrounds"]]:
        require_sample(name, "config key cohen2018_lhc")


def lhc_outputs():
    if not LHC:
        return []
    return [
        f"{LHC_METRICS}/{name}" for name in ("cut_flow.csv", "table3.csv", "table4.csv", "tables.md", "working_points.csv")
    ] + expand(
        "results/figures/cohen2018/{figure}.{ext}",
        ext=["pdf", "png"],
        figure=["fig09_high_met", "fig10_mismodelling", "fig11_combination"],
    )


# --- CWoLa (rules/cwola.smk) -----------------------------------------------------------------------------

CWOLA = config["cwola"]
CWOLA_METRICS = "results/metrics/cwola"
CWOLA_REGIONS = MjjRegions.from_config(CWOLA)
LARGE = "_large"  # suffix of the methods that use cwola.large_kernels (paper Fig. 6)
METHODS = "cwola|transfer|meta|transfer_large|meta_large"
SUPERVISED = "supervised"  # the fully supervised baseline: pure SR signal against SR background, no injection
SUMMARIZED_METHODS = f"{METHODS}|{SUPERVISED}"
SCULPTING_BIN_GEV = 100  # M_jj bins of the sculpting check's histograms
META_PRETRAINING = {"meta": "transfer", "meta_large": "transfer_large"}  # meta-training starts from this pretraining

if ("meta" in CWOLA or "large_kernels" in CWOLA) and not {"transfer", "meta"} <= set(CWOLA):
    raise ValueError("config keys cwola.meta and cwola.large_kernels need cwola.transfer and cwola.meta")
if "large_kernels" in CWOLA and len(CWOLA["large_kernels"]["kernels"]) != len(CWOLA["network"]["filters"]):
    raise ValueError("config key cwola.large_kernels.kernels needs one kernel size per entry of cwola.network.filters")
for purpose, name in [("cwola.background", CWOLA["background"])] + [("cwola.benchmarks", b) for b in CWOLA["benchmarks"]]:
    require_sample(name, f"config key {purpose}")


def injection_label(value):
    """S/sqrt(B) as it appears in paths: 2 -> '2', 2.5 -> '2.5'."""
    return f"{float(value):g}"


def method_resolutions(method):
    """Resolutions a method trains at: all configured ones, or the large-kernel study's single one."""
    return [CWOLA["large_kernels"]["resolution"]] if method.endswith(LARGE) else CWOLA["resolutions"]


def method_network(method):
    """The CNN settings of a method: Table 2, or with the larger kernels."""
    network = dict(CWOLA["network"])
    if method.endswith(LARGE):
        network["kernels"] = CWOLA["large_kernels"]["kernels"]
    return network


def cwola_training_outputs(method="cwola", kind="metrics"):
    """Metrics (or ROC tables) of every training of a method: cwola, transfer, meta, transfer_large, meta_large or
    supervised."""
    return [
        path.format(method=method, benchmark=benchmark, npix=npix)
        for benchmark in CWOLA["benchmarks"]
        for npix in method_resolutions(method)
        for path in cwola_experiment_outputs(kind, method)
    ]


def configured_methods():
    """Every method the config asks for, in the order the figures compare them."""
    optional = [("transfer", "transfer"), ("meta", "meta"), ("supervised", SUPERVISED)]
    return ["cwola"] + [method for key, method in optional if key in CWOLA]


def pretrained_model_path(method, benchmark, npix):
    """The network a method fine-tunes: the held-out benchmark's pretrained one (transfer) or meta-trained one (meta)."""
    if method.startswith("transfer"):
        return f"results/models/{method}/{benchmark}/{npix}px/pretrained.pt"
    if method.startswith("meta"):
        return f"results/models/{method}/{benchmark}/{npix}px/meta_trained.pt"
    return []


def pretrained_model(wildcards):
    return pretrained_model_path(wildcards.method, wildcards.benchmark, wildcards.npix)


def pretraining_signals(wildcards):
    """Every Hidden-Valley sample except the held-out benchmark: transfer learning's source signals."""
    others = [name for name, entry in SAMPLES.items() if entry["process"] == "hidden_valley" and name != wildcards.benchmark]
    if not others:
        raise ValueError(f"transfer learning for {wildcards.benchmark} needs other Hidden-Valley samples in the config")
    return others


def cwola_training_mem_mb(wildcards):
    """The images of one ensemble and of the test set, held twice (gathered array and tensor), plus torch. An
    ensemble holds at most `ensemble_memory_gb`, no more than all of the job's pseudo-experiments, and at least
    one of them (about 3 B events)."""
    event_mb = 2 * int(wildcards.npix) ** 2 * 4 / 1e6
    experiment_mb = 3 * CWOLA["background_sr_events"] * event_mb
    job_mb = experiment_mb * len(cwola_experiment_points())
    ensemble_mb = max(experiment_mb, min(1000 * CWOLA["ensemble_memory_gb"], job_mb))
    return int(1500 + 2 * (ensemble_mb + 2 * CWOLA["n_test_per_class"] * event_mb))


def pretraining_mem_mb(wildcards):
    """Transfer learning's source data (both classes), held twice, plus torch."""
    events = 2 * CWOLA["transfer"]["n_per_class"]
    return 1500 + 2 * events * 2 * int(wildcards.npix) ** 2 * 4 // 1_000_000


def cwola_training_runtime(wildcards):
    """Minutes a cluster should allow one CPU training (GPU trainings take a fraction)."""
    return {25: 60, 50: 180}.get(int(wildcards.npix), 480)


def cwola_job_runtime(wildcards):
    """A training job's pseudo-experiments run one after another."""
    return cwola_training_runtime(wildcards) * len(cwola_experiment_points())


def cwola_experiment_points(method="cwola"):
    """Every pseudo-experiment of a benchmark, as (injection label, trial); the supervised baseline has one training
    per trial, scored at every injection."""
    if method == SUPERVISED:
        return [(None, trial) for trial in range(CWOLA["trials"])]
    return [(injection_label(injection), trial) for injection in CWOLA["injections"] for trial in range(CWOLA["trials"])]


CWOLA_EXPERIMENT_FILES = {
    "dataset": "results/datasets/cwola/{benchmark}/ssb{injection}/trial{trial}.parquet",
    "model": "results/models/{method}/{benchmark}/{npix}px/ssb{injection}/trial{trial}.pt",
    "metrics": f"{CWOLA_METRICS}/{{method}}_trainings/{{benchmark}}/{{npix}}px/ssb{{injection}}/trial{{trial}}.csv",
    "roc": f"{CWOLA_METRICS}/{{method}}_trainings/{{benchmark}}/{{npix}}px/ssb{{injection}}/trial{{trial}}_roc.csv",
    "history": f"{CWOLA_METRICS}/{{method}}_trainings/{{benchmark}}/{{npix}}px/ssb{{injection}}/trial{{trial}}_history.csv",
}
SUPERVISED_FILES = {
    "dataset": "results/datasets/cwola/{benchmark}/supervised/trial{trial}.parquet",
    **{kind: CWOLA_EXPERIMENT_FILES[kind].replace("ssb{injection}/", "") for kind in ("model", "metrics", "roc", "history")},
}


def cwola_experiment_outputs(kind, method="cwola"):
    """An output of every pseudo-experiment of a training job, with the job's other wildcards left in place (the
    supervised baseline's paths name the method)."""
    if method == SUPERVISED:
        return [
            SUPERVISED_FILES[kind].replace("{method}", SUPERVISED).replace("{trial}", str(trial))
            for _, trial in cwola_experiment_points(method)
        ]
    pattern = CWOLA_EXPERIMENT_FILES[kind]
    return [
        pattern.replace("{injection}", injection).replace("{trial}", str(trial)) for injection, trial in cwola_experiment_points()
    ]


def cwola_experiment_files(wildcards, kind, method=None):
    method = method or wildcards.method
    return [path.format(**wildcards) for path in cwola_experiment_outputs(kind, method)]


def cwola_experiments(wildcards, method=None):
    """What the training job writes for each of its pseudo-experiments, for its --experiments argument."""
    method = method or wildcards.method
    patterns = SUPERVISED_FILES if method == SUPERVISED else CWOLA_EXPERIMENT_FILES
    experiments = []
    for injection, trial in cwola_experiment_points(method):
        values = dict(wildcards.items()) | {"method": method, "injection": injection, "trial": trial}
        point = {"injection": float(injection)} if injection is not None else {}
        experiments.append(
            {
                "dataset": patterns["dataset"].format(**values),
                "identifiers": {"benchmark": wildcards.benchmark, "resolution": int(wildcards.npix), **point, "trial": trial},
                **{kind: patterns[kind].format(**values) for kind in ("model", "metrics", "roc", "history")},
            }
        )
    return experiments


def cwola_training_settings(wildcards, method=None):
    """The --settings of a training job."""
    method = method or wildcards.method
    return json_argument(
        {
            "network": method_network(method),
            "fit": CWOLA["fit"],
            "background_efficiencies": CWOLA["background_efficiencies"],
            "method": method,
            "unit_intensity": CWOLA["unit_intensity_images"],
            "seed": config["seed"],
            "device": config["training"]["device"],
            "ensemble_memory_gb": CWOLA["ensemble_memory_gb"],
        }
    )


def sculpting_bins():
    """M_jj bin edges over the sidebands and the signal region."""
    low, high = min(low for low, _ in CWOLA_REGIONS.windows), max(high for _, high in CWOLA_REGIONS.windows)
    return [low + SCULPTING_BIN_GEV * step for step in range(int(round((high - low) / SCULPTING_BIN_GEV)) + 1)]


def sculpting_outputs(kind):
    """The sculpting check of every CWoLa network (plain and transfer) trained without signal or with it."""
    suffix = {"efficiencies": "", "histograms": "_mjj"}[kind]
    return [
        f"{CWOLA_METRICS}/{method}_sculpting/{benchmark}/{npix}px{suffix}.csv"
        for method in configured_methods()
        if method in ("cwola", "transfer")
        for benchmark in CWOLA["benchmarks"]
        for npix in method_resolutions(method)
    ]


def supervised_baseline():
    """The supervised ceiling drawn on the significance figures, when the config asks for it."""
    return f"{CWOLA_METRICS}/{SUPERVISED}_summary.csv" if SUPERVISED in CWOLA else []


def window_events(sample):
    return f"results/images/{sample}/window_events.parquet"


def image_file(sample, npix):
    """A sample's jet images at one resolution: the paper's, or zoomed by jet pT (cwola.image_zoom_reference_pt_gev)."""
    reference = CWOLA.get("image_zoom_reference_pt_gev")
    return f"results/images/{sample}/images_{npix}px{f'_zoom{reference}gev' if reference else ''}.npy"


def cwola_outputs():
    outputs = expand(
        "results/figures/cwola/{figure}.{ext}", figure=["fig01_mjj", "fig02_images", "fig03_significance"], ext=["pdf", "png"]
    )
    outputs.append(f"{CWOLA_METRICS}/cwola_summary.csv")
    if "transfer" in CWOLA:
        outputs += expand("results/figures/cwola/fig04_transfer.{ext}", ext=["pdf", "png"])
        outputs.append(f"{CWOLA_METRICS}/transfer_summary.csv")
    if "meta" in CWOLA:
        outputs += expand("results/figures/cwola/fig05_meta_transfer.{ext}", ext=["pdf", "png"])
        outputs.append(f"{CWOLA_METRICS}/meta_summary.csv")
    if "large_kernels" in CWOLA:
        outputs += expand("results/figures/cwola/fig06_large_kernels.{ext}", ext=["pdf", "png"])
    if SUPERVISED in CWOLA:
        outputs.append(f"{CWOLA_METRICS}/{SUPERVISED}_summary.csv")
    outputs += expand("results/figures/cwola/{figure}.{ext}", figure=["sic", "sculpting"], ext=["pdf", "png"])
    outputs += [f"{CWOLA_METRICS}/learning_thresholds.csv"]
    if "generator_cut_check" in CWOLA:
        outputs += [f"{CWOLA_METRICS}/generator_cut_check.csv", "results/figures/cwola/check_generator_cuts.pdf"]
    return outputs


# --- Scorecard (rules/scorecard.smk) --------------------------------------------------------------------

CLAIMS_FILE = str(Path(workflow.basedir) / "papers" / "claims.yaml")
SCORECARD_PAPERS = ["cohen2018", "cwola"]
SCORECARD_STUDIES = ["cohen2018_toy", "cwola"] + (["cohen2018_lhc"] if LHC else [])


def scorecard_inputs(papers):
    """Every file the claims of `papers` read, for the studies this run configures."""
    return scorecard.claim_files(scorecard.load_claims(CLAIMS_FILE, papers, SCORECARD_STUDIES))


def scorecard_outputs(papers):
    if set(papers) == set(SCORECARD_PAPERS):
        return ["results/metrics/scorecard.csv", "results/metrics/scorecard.md"]
    return [f"results/metrics/scorecard/{paper}.{ext}" for paper in papers for ext in ("csv", "md")]


# The report's front page shows the scorecard when an earlier run wrote it (`snakemake --report` parses the workflow
# after the run): the whole one, else the papers' that exist.
config[CONFIG_KEY]["scorecard"] = scorecard_rows(
    scorecard_outputs(SCORECARD_PAPERS)[:1], [scorecard_outputs([paper])[0] for paper in SCORECARD_PAPERS]
)
config[CONFIG_KEY]["figure_claims"] = figure_claims(config[CONFIG_KEY]["scorecard"])


# --- Validation (rules/validation.smk) -------------------------------------------------------------------

CLOSURE = config.get("closure", {})
for name in CLOSURE.get("samples", []):
    require_sample(name, "config key closure.samples")


def closure_detector_files(sample, detector_name):
    """The closure's ROOT files of one sample and detector: the sample's own files for its configured detector,
    a copy of the same events through the other detector under results/closure/ otherwise."""
    stage = "delphes" if detector(sample) == detector_name else f"closure/{detector_name}"
    chunks = min(CLOSURE["chunks"], SAMPLES[sample]["chunks"])
    return [f"results/{stage}/{sample}/chunk{chunk}.root" for chunk in range(chunks)]


def closure_outputs():
    if not CLOSURE:
        raise ValueError("target `closure` needs config key `closure` (samples and chunks; see config.yaml)")
    return [
        "results/metrics/validation/detector_closure.csv",
        "results/figures/validation/detector_closure.pdf",
        "results/figures/validation/detector_closure.png",
    ]


def generator_cut_check_sample(key):
    return require_sample(config["cwola"]["generator_cut_check"][key], "the generator-cut check")


COMPARISON = config.get("chain_comparison")


def chain_comparison_samples(prefix=""):
    """The CWoLa study's samples (background and benchmarks), each as its event files under `prefix`."""
    return {
        sample: [prefix + path for path in sample_chunks("events", sample)]
        for sample in [CWOLA["background"], *CWOLA["benchmarks"]]
    }


def chain_comparison_inputs(wildcards):
    """This run's and the reference run's event files and CWoLa summaries (config key chain_comparison)."""
    if not COMPARISON:
        raise ValueError(
            "target `chain_comparison` needs config key chain_comparison.reference (another run's working directory)"
        )
    reference = os.path.join(COMPARISON["reference"], "")  # with one trailing separator, to prefix the paths below
    inputs = {
        "summary": f"{CWOLA_METRICS}/cwola_summary.csv",
        "reference_summary": reference + f"{CWOLA_METRICS}/cwola_summary.csv",
    }
    inputs |= {f"events_{sample}": paths for sample, paths in chain_comparison_samples().items()}
    inputs |= {f"reference_events_{sample}": paths for sample, paths in chain_comparison_samples(reference).items()}
    return inputs


def chain_comparison_chains(input):
    """The --chains argument: {label: {samples, summary}}, this run's chain first."""
    samples = list(chain_comparison_samples())
    return {
        COMPARISON.get("label", "this run"): {
            "samples": {s: list(input[f"events_{s}"]) for s in samples},
            "summary": input.summary,
        },
        COMPARISON.get("reference_label", "reference run"): {
            "samples": {s: list(input[f"reference_events_{s}"]) for s in samples},
            "summary": input.reference_summary,
        },
    }


def chain_comparison_outputs():
    return ["results/metrics/validation/chain_comparison.csv"] + expand(
        "results/figures/validation/chain_comparison.{ext}", ext=["pdf", "png"]
    )
