"""Per-sample generator backends: Delphes and DelphesPythia8 cards, the config rules, the rules a dry run
schedules for each backend, and a real MadGraph LHE file going through the madgraph-embedded chain."""

import copy
import gzip
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import yaml

from workflow_scripts import cards, delphes_card, delphes_io, files, generation
from workflow_scripts.config import ConfigError, validate_config
from workflow_scripts.kinematics import delta_r
from workflow_scripts.seeding import derive_seed

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow_scripts" / "schemas" / "config.schema.yaml"
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
CONTAINERS = ROOT / "tests" / "configs" / "containers.yaml"
SHARED_LHE = ROOT.parent / "shared" / "data" / "madgraph5-3.5.8-pp_to_jj.lhe.gz"
LHE = SHARED_LHE if SHARED_LHE.is_file() else ROOT / "tests" / "data" / "madgraph5-3.5.8-pp_to_jj.lhe.gz"
PINNED = "docker://ghcr.io/example/generators:2026.1@sha256:" + "ab" * 32

# The parts of Delphes' cards/delphes_card_CMS.tcl that the patch touches, in the card's layout: the jet
# finders (GenJetFinder, FastJetFinder at R = 0.5, FatJetFinder at 0.8), a module with nested braces, a
# commented-out seed as some of Delphes' cards have, and a time-based seed to be replaced.
CMS_LIKE_CARD = textwrap.dedent("""\
    #set RandomSeed 123
    set RandomSeed 0

    set ExecutionPath {
      ParticlePropagator
      PhotonEfficiency
      GenJetFinder
      FastJetFinder
      FatJetFinder
      TreeWriter
    }

    module Efficiency PhotonEfficiency {
      set InputArray ECal/eflowPhotons
      set EfficiencyFormula {
        (pt <= 10.0) * (0.00) +
        (abs(eta) <= 1.5) * (pt > 10.0) * (0.95)
      }
    }

    module FastJetFinder GenJetFinder {
      set InputArray NeutrinoFilter/filteredParticles
      set OutputArray jets
      # algorithm: 1 CDFJetClu, 2 MidPoint, 3 SIScone, 4 kt, 5 Cambridge/Aachen, 6 antikt
      set JetAlgorithm 6
      set ParameterR 0.5
      set JetPTMin 20.0
    }

    module FastJetFinder FastJetFinder {
    #  set InputArray Calorimeter/towers
      set InputArray EFlowMerger/eflow
      set OutputArray jets
      set JetAlgorithm 6
      set ParameterR 0.5
      set JetPTMin 20.0
    }

    module FastJetFinder FatJetFinder {
      set InputArray EFlowMerger/eflow
      set OutputArray jets
      set JetAlgorithm 6
      set ParameterR 0.8
      set R0SoftDrop 0.8
      set JetPTMin 200.0
    }
    """)


def module_parameter(card, module, parameter):
    block = re.search(rf"module FastJetFinder {module} \{{(.*?)\n\}}", card, re.DOTALL)[1]
    return re.search(rf"^\s*set {parameter} (\S+)", block, re.MULTILINE)[1]


def test_cms_card_gets_the_jet_radius_and_one_chunk_seed():
    patched = delphes_card.patch_cms_card(CMS_LIKE_CARD, 0.8, 123456789)
    assert module_parameter(patched, "FastJetFinder", "ParameterR") == "0.8"
    assert module_parameter(patched, "GenJetFinder", "ParameterR") == "0.8"
    assert module_parameter(patched, "FatJetFinder", "ParameterR") == "0.8"  # its own setting, untouched
    assert module_parameter(delphes_card.patch_cms_card(CMS_LIKE_CARD, 0.4, 5), "FatJetFinder", "ParameterR") == "0.8"
    active_seeds = [line for line in patched.splitlines() if line.strip().startswith("set RandomSeed")]
    assert active_seeds == ["set RandomSeed 123456789"]
    assert patched.splitlines()[1] == "set RandomSeed 123456789"  # global, before every module
    assert "(abs(eta) <= 1.5) * (pt > 10.0) * (0.95)" in patched  # the rest unchanged
    assert patched.count("\n") == CMS_LIKE_CARD.count("\n") - 1 + 3


def test_cms_card_patch_refuses_other_cards_and_time_based_seeds():
    without_genjets = CMS_LIKE_CARD.replace("module FastJetFinder GenJetFinder", "module FastJetFinder TruthJetFinder")
    with pytest.raises(ValueError, match=r"my_card.tcl: expected one `set ParameterR` in each of the modules \['GenJetFinder'\]"):
        delphes_card.patch_cms_card(without_genjets, 0.4, 1, source="my_card.tcl")
    with pytest.raises(ValueError, match="time-based"):
        delphes_card.patch_cms_card(CMS_LIKE_CARD, 0.4, 0)


def test_cards_command_finds_the_installed_cms_card(tmp_path):
    install = tmp_path / "delphes"
    (install / "cards").mkdir(parents=True)
    (install / "cards" / "delphes_card_CMS.tcl").write_text(CMS_LIKE_CARD)
    card = tmp_path / "hv.cmnd"
    card.write_text(cards.render_card(cards.sample_settings({"process": "qcd_dijet", "pt_hat_min_gev": 700,
                                                              "m_hat_min_gev": 3000}, 13000), "qcd"))
    command = [sys.executable, "-m", "workflow_scripts.delphes_card", "cards", "--card", str(card), "--sample", "qcd_dijet",
               "--chunk", "4", "--events", "250", "--seed", "20180701", "--jet-radius", "0.8",
               "--directory", str(tmp_path / "out")]
    subprocess.run(command + ["--delphes-dir", str(install)], check=True, cwd=ROOT)
    patched = (tmp_path / "out" / "delphes_card.tcl").read_text()
    assert f"set RandomSeed {derive_seed(20180701, 'detector', 'qcd_dijet', 4)}" in patched  # the embedded detector's seed
    pythia = (tmp_path / "out" / "pythia8.cmnd").read_text()
    assert f"Random:seed = {derive_seed(20180701, 'generate', 'qcd_dijet', 4)}" in pythia  # the embedded generator's seed
    missing = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode != 0 and "run inside the generator container" in missing.stderr


def pythia_rejects(card_text):
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    lines = [line.strip() for line in card_text.splitlines() if delphes_card._setting_key(line)]
    return [line for line in lines if not pythia.readString(line, False)]


def test_delphes_pythia8_card_sets_events_and_seed_and_pythia_accepts_it():
    settings = cards.sample_settings({"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10}, 13000)
    card = cards.render_card(settings | {"Random:seed": 99, "Main:numberOfEvents": 7}, "hv_id_lambda10")
    patched = delphes_card.delphes_pythia8_card(card, 500, 424242)
    keys = [delphes_card._setting_key(line) for line in patched.splitlines() if delphes_card._setting_key(line)]
    assert keys.count("main:numberofevents") == keys.count("random:seed") == 1
    assert "Main:numberOfEvents = 500" in patched and "Random:seed = 424242" in patched and "Random:setSeed = on" in patched
    assert "Beams:frameType" not in patched  # internal process: no LHE input
    assert "HiddenValley:ffbar2Zv = on" in patched
    assert pythia_rejects(patched) == []


def test_madgraph_chunk_card_reads_the_unpacked_chunk_file_from_its_first_event():
    card = cards.render_card(cards.sample_settings({"process": "lhe", "lhe_file": "results/lhe/s/chunk3.lhe.gz"}, 13000), "s")
    patched = delphes_card.delphes_pythia8_card(card, 100, 7, lhe_file="/scratch/events.lhe")
    lines = patched.splitlines()
    assert [line for line in lines if line.startswith("Beams:LHEF")] == ["Beams:LHEF = /scratch/events.lhe"]
    assert "Beams:frameType = 4" in lines and "Beams:nSkipLHEFatInit = 0" in lines
    assert pythia_rejects(patched) == []


def test_pythia_statistics_are_read_from_pythias_own_table():
    """A real Pythia run prints its statistics; the parser must find accepted events and sigma in them."""
    script = textwrap.dedent("""\
        import pythia8mc
        pythia = pythia8mc.Pythia("", False)
        for line in ["Beams:eCM = 13000", "HardQCD:all = on", "PhaseSpace:pTHatMin = 700", "PartonLevel:all = off",
                     "HadronLevel:all = off", "Random:setSeed = on", "Random:seed = 5", "Next:numberCount = 0"]:
            pythia.readString(line)
        pythia.init()
        accepted = sum(pythia.next() for _ in range(25))
        pythia.stat()
        print("RESULT", accepted, pythia.infoPython().sigmaGen(), flush=True)
        """)
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    _, accepted, sigma_mb = re.search(r"RESULT (\d+) (\S+)", output)[0].split()
    statistics = delphes_card.pythia_statistics(output)
    assert statistics["n_events"] == int(accepted) == 25
    assert statistics["cross_section_pb"] == pytest.approx(float(sigma_mb) * 1e9, rel=1e-3)
    assert statistics["cross_section_error_pb"] > 0
    with pytest.raises(ValueError, match="no Pythia cross-section statistics"):
        delphes_card.pythia_statistics("Event generation aborted prematurely, owing to error!")


def test_provenance_key_is_the_converters():
    assert delphes_card.PROVENANCE_KEY == delphes_io.PROVENANCE_KEY


def test_container_drivers_need_only_the_standard_library():
    """The generator image has Python without numpy, awkward or pandas (-S: no site-packages)."""
    subprocess.run([sys.executable, "-S", "-c", "import workflow_scripts.madgraph, workflow_scripts.delphes_card"],
                   check=True, cwd=ROOT)


def test_provenance_written_with_pyroot_is_what_the_converter_reads(tmp_path):
    """Runs where PyROOT is installed (the generator image, or a ROOT installation)."""
    pyroot = pytest.importorskip("ROOT")
    from array import array

    path = str(tmp_path / "delphes.root")
    handle = pyroot.TFile.Open(path, "RECREATE")
    tree = pyroot.TTree("Delphes", "Delphes")
    value = array("f", [0.0])
    tree.Branch("x", value, "x/F")
    for _ in range(7):
        tree.Fill()
    tree.Write()
    handle.Close()
    provenance = {"sample": "s", "chunk": 2, "n_events": 7, "cross_section_pb": 1.5}
    with pytest.raises(RuntimeError, match="has 7 events, Pythia reports 8"):
        delphes_card.write_provenance(path, provenance | {"n_events": 8})
    delphes_card.write_provenance(path, provenance)
    assert delphes_io.read_provenance(path) == provenance


def test_madgraph_chunks_read_their_own_file_from_the_first_event(tmp_path):
    card = tmp_path / "chunk1.cmnd"
    card.write_text(cards.render_card(cards.sample_settings({"process": "lhe", "lhe_file": str(LHE)}, 13000), "chunk1"))
    generation.generate_chunk(card, tmp_path / "c1.parquet", "pp_jj", 1, 5, 3, batch_size=5, lhe_first_event=0)
    events, metadata = files.read_awkward(tmp_path / "c1.parquet")
    assert metadata["seed"] == derive_seed(3, "generate", "pp_jj", 1)
    np.testing.assert_allclose(ak.to_numpy(events.m_hat_gev), lhe_partons(5)["mjj_gev"], rtol=1e-4)


# --- configuration -------------------------------------------------------------------------------------------

def tiny_with(samples=None, containers=None):
    config = yaml.safe_load(TINY.read_text())
    for name, update in (samples or {}).items():
        config["generation"]["samples"].setdefault(name, {}).update(update)
    if containers is not None:
        config["containers"] = containers
    return config


def test_backend_defaults_to_embedded_and_needs_no_image():
    validate_config(tiny_with(), SCHEMA)
    validate_config(tiny_with({"qcd_dijet": {"backend": "embedded"}}), SCHEMA)


def test_container_backend_without_image_names_the_key():
    with pytest.raises(ConfigError, match="'containers' is a required property"):
        validate_config(tiny_with({"qcd_dijet": {"backend": "pythia-delphes"}}), SCHEMA)
    validate_config(tiny_with({"qcd_dijet": {"backend": "pythia-delphes"}}, {"generators": PINNED}), SCHEMA)


@pytest.mark.parametrize("image", [
    "docker://ghcr.io/example/generators:latest@sha256:" + "ab" * 32,
    "docker://ghcr.io/example/generators:2026.1",
    "docker://ghcr.io/example/generators@sha256:" + "ab" * 32,
    "docker://ghcr.io/example/generators:2026.1@sha256:" + "ab" * 31,
    "ghcr.io/example/generators:2026.1@sha256:" + "ab" * 32,
])
def test_unpinned_images_are_refused(image):
    with pytest.raises(ConfigError, match="config key containers.generators"):
        validate_config(tiny_with({"qcd_dijet": {"backend": "madgraph-embedded"}}, {"generators": image}), SCHEMA)


def test_docker_hub_and_registry_port_references_are_accepted():
    for image in ("docker://rootproject/root:6.30.06-ubuntu22.04@sha256:" + "0f" * 32,
                  "docker://registry.example.org:5000/hep/generators:v1.0@sha256:" + "0f" * 32):
        validate_config(tiny_with({"qcd_dijet": {"backend": "madgraph-embedded"}}, {"generators": image}), SCHEMA)


def test_backends_refuse_processes_they_cannot_make():
    hidden_valley = {"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10, "chunks": 1, "jet_radius": 0.8,
                     "selection": "cwola_dijet", "backend": "madgraph-pythia-delphes"}
    with pytest.raises(ConfigError, match=r"config key generation\.samples\.hv_mg\.process"):
        validate_config(tiny_with({"hv_mg": hidden_valley}, {"generators": PINNED}), SCHEMA)
    lhe = {"process": "lhe", "lhe_file": "x.lhe", "chunks": 1, "jet_radius": 0.4, "selection": "cwola_dijet",
           "backend": "pythia-delphes"}
    with pytest.raises(ConfigError, match=r"generation\.samples\.lhe_in_delphes\.process"):
        validate_config(tiny_with({"lhe_in_delphes": lhe}, {"generators": PINNED}), SCHEMA)
    with pytest.raises(ConfigError, match=r"generation\.samples\.qcd_dijet"):  # a MadGraph cut on an embedded sample
        validate_config(tiny_with({"qcd_dijet": {"parton_abs_eta_max": 2.2}}), SCHEMA)


def test_container_overlay_is_valid():
    overlay = yaml.safe_load(CONTAINERS.read_text())
    config = yaml.safe_load(TINY.read_text())
    merged = copy.deepcopy(config)
    for name, update in overlay["generation"]["samples"].items():
        merged["generation"]["samples"].setdefault(name, {}).update(update)
    merged["selections"].update(overlay["selections"])
    merged["containers"] = overlay["containers"]
    validate_config(merged, SCHEMA)


# --- Snakemake: which rules each backend schedules -----------------------------------------------------------

def snakemake(workdir, *args):
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(TINY), str(CONTAINERS), "--cores", "2", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def dry_run_jobs(output):
    """(rule, wildcards, shell command) of every job in `snakemake -n -p` output."""
    jobs = []
    for block in re.split(r"\n\s*\n", output):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.MULTILINE)
        if rule:
            wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.MULTILINE)
            command = re.search(r"^Shell command: (.*)$", block, re.MULTILINE)
            jobs.append((rule[1], dict(item.split("=", 1) for item in wildcards[1].split(", ")) if wildcards else {},
                         " ".join(command[1].split()) if command else None))  # an empty optional flag leaves two spaces
    return jobs


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    result = snakemake(tmp_path_factory.mktemp("dry"), "events", "-n", "-p")
    assert result.returncode == 0, result.stderr[-3000:]
    return dry_run_jobs(result.stdout)


def jobs_of(dry_run, rule, sample=None):
    return [(wildcards, command) for name, wildcards, command in dry_run
            if name == rule and (sample is None or wildcards.get("sample") == sample)]


def test_dry_run_gives_each_root_file_one_producer_by_backend(dry_run):
    config = yaml.safe_load(TINY.read_text())["generation"]["samples"]
    overlay = yaml.safe_load(CONTAINERS.read_text())["generation"]["samples"]
    chunks = {"qcd_dijet": config["qcd_dijet"]["chunks"], "gluino_pair": config["gluino_pair"]["chunks"],
              "z_nunu_jet_pt400": config["z_nunu_jet_pt400"]["chunks"], "pp_jj": overlay["pp_jj"]["chunks"],
              "hv_id_lambda10": overlay["hv_id_lambda10"]["chunks"]}
    for sample in ("qcd_dijet", "gluino_pair"):  # madgraph-pythia-delphes
        assert len(jobs_of(dry_run, "madgraph_events", sample)) == chunks[sample]
        assert len(jobs_of(dry_run, "delphes_pythia8", sample)) == chunks[sample]
        assert not jobs_of(dry_run, "generate_particles", sample) and not jobs_of(dry_run, "simulate_detector", sample)
    for sample in ("z_nunu_jet_pt400", "pp_jj"):  # madgraph-embedded
        assert len(jobs_of(dry_run, "madgraph_events", sample)) == chunks[sample]
        assert len(jobs_of(dry_run, "simulate_detector", sample)) == chunks[sample]
        assert not jobs_of(dry_run, "delphes_pythia8", sample)
    assert len(jobs_of(dry_run, "delphes_pythia8", "hv_id_lambda10")) == chunks["hv_id_lambda10"]  # pythia-delphes
    assert not jobs_of(dry_run, "madgraph_events", "hv_id_lambda10")
    assert jobs_of(dry_run, "simulate_detector", "hv_dd_lambda10") and not jobs_of(dry_run, "delphes_pythia8", "hv_dd_lambda10")
    for sample, n in chunks.items():  # the shared part starts at the same ROOT path for every backend
        converted = {wildcards["chunk"]: command for wildcards, command in jobs_of(dry_run, "convert_events", sample)}
        assert sorted(converted) == sorted(str(chunk) for chunk in range(n))
        for chunk, command in converted.items():
            assert command.startswith(f"python -m workflow_scripts.delphes_io results/delphes/{sample}/chunk{chunk}.root "
                                      f"results/events/{sample}/chunk{chunk}.parquet ")


def test_dry_run_commands_of_the_container_rules(dry_run):
    (_, command), = [job for job in jobs_of(dry_run, "madgraph_events", "qcd_dijet") if job[0]["chunk"] == "1"]
    assert command.startswith("python3 -m workflow_scripts.madgraph run --sample qcd_dijet "
                              "--settings '{\"process\": \"qcd_dijet\"")
    assert '"parton_abs_eta_max": 2.2' in command and "backend" not in command
    assert " --chunk 1 --events 10 --seed 7 --sqrt-s-gev 13000 --cores 2 " in command
    assert command.endswith("--output results/lhe/qcd_dijet/chunk1.lhe.gz > logs/madgraph_events/qcd_dijet/chunk1.log 2>&1")
    (_, command), = [job for job in jobs_of(dry_run, "delphes_pythia8", "qcd_dijet") if job[0]["chunk"] == "1"]
    assert command.startswith("python3 -m workflow_scripts.delphes_card run --card results/cards/qcd_dijet/chunk1.cmnd "
                              "--lhe results/lhe/qcd_dijet/chunk1.lhe.gz --sample qcd_dijet --chunk 1 --events 10 --seed 7 "
                              "--jet-radius 0.8 --scratch ")
    (_, command), = [job for job in jobs_of(dry_run, "delphes_pythia8", "hv_id_lambda10") if job[0]["chunk"] == "0"]
    assert "--card results/cards/hv_id_lambda10.cmnd --sample hv_id_lambda10" in command and "--lhe" not in command
    (_, command), = [job for job in jobs_of(dry_run, "render_lhe_card", "pp_jj") if job[0]["chunk"] == "1"]
    assert '"lhe_file": "results/lhe/pp_jj/chunk1.lhe.gz"' in command and command.startswith("python -m workflow_scripts.cards")
    (_, command), = [job for job in jobs_of(dry_run, "generate_particles", "pp_jj") if job[0]["chunk"] == "1"]
    assert "--card results/cards/pp_jj/chunk1.cmnd" in command
    assert command.endswith("--seed 7 --lhe-first-event 0 > logs/generate_particles/pp_jj/chunk1.log 2>&1")
    (_, command), = [job for job in jobs_of(dry_run, "generate_particles", "qcd_dijet_loose")]
    assert "--card results/cards/qcd_dijet_loose.cmnd" in command and "--lhe-first-event" not in command


def test_container_rules_declare_their_environment():
    """Snakemake's linter flags a rule without a container or conda environment."""
    command = [sys.executable, "-m", "snakemake", "--lint", "-s", str(ROOT / "Snakefile"),
               "--configfile", str(TINY), str(CONTAINERS)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Lints for rule" not in result.stdout + result.stderr


def test_embedded_configs_schedule_no_container_rule(tmp_path):
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(TINY), "--cores", "2", "events", "-n"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    rules = {name for name, _, _ in dry_run_jobs(result.stdout)}
    assert {"generate_particles", "simulate_detector", "convert_events"} <= rules
    assert not rules & {"madgraph_events", "render_lhe_card", "delphes_pythia8"}


# --- the shared MadGraph file through the madgraph-embedded chain ---------------------------------------------

def lhe_partons(n_events):
    """Outgoing partons of the first events of the shared file: m_jj and (eta, phi) of both partons."""
    events = re.findall(r"<event>(.*?)</event>", gzip.open(LHE, "rt").read(), re.DOTALL)[:n_events]
    momenta = []
    for event in events:
        rows = [line.split() for line in event.strip().splitlines() if line.strip() and not line.lstrip().startswith("<")]
        momenta.append([[float(value) for value in row[6:10]] for row in rows[1:1 + int(rows[0][0])] if row[1] == "1"])
    momenta = np.array(momenta)  # (events, 2 partons, px py pz e)
    total = momenta.sum(axis=1)
    pt = np.hypot(momenta[..., 0], momenta[..., 1])
    return {"mjj_gev": np.sqrt(np.maximum(total[:, 3] ** 2 - (total[:, :3] ** 2).sum(axis=1), 0.0)),
            "eta": np.arcsinh(momenta[..., 2] / pt), "phi": np.arctan2(momenta[..., 1], momenta[..., 0])}


@pytest.fixture(scope="module")
def lhe_run(tmp_path_factory):
    """Place the shared file as MadGraph's output of both pp_jj chunks, then ask for their analysis events."""
    workdir = tmp_path_factory.mktemp("lhe_run")
    n_chunks = yaml.safe_load(CONTAINERS.read_text())["generation"]["samples"]["pp_jj"]["chunks"]
    targets = [f"results/events/pp_jj/chunk{chunk}.parquet" for chunk in range(n_chunks)]
    for chunk in range(n_chunks):
        (workdir / "results" / "lhe" / "pp_jj").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(LHE, workdir / "results" / "lhe" / "pp_jj" / f"chunk{chunk}.lhe.gz")
    planned = snakemake(workdir, *targets, "-n")
    assert planned.returncode == 0, planned.stderr[-3000:]
    result = snakemake(workdir, *targets)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir, n_chunks, planned.stdout + result.stdout + result.stderr


def test_madgraph_rule_does_not_run_when_its_files_exist(lhe_run):
    workdir, n_chunks, output = lhe_run
    scheduled = dict(re.findall(r"^(\w+)\s+(\d+)$", output, re.MULTILINE))  # the job-stats tables
    assert scheduled["simulate_detector"] == scheduled["convert_events"] == str(n_chunks)
    assert "madgraph_events" not in scheduled  # (Snakemake only notes that the placed files have no job metadata)
    assert not (workdir / "logs" / "madgraph_events").exists()
    for chunk in range(n_chunks):
        assert (workdir / "results" / "lhe" / "pp_jj" / f"chunk{chunk}.lhe.gz").read_bytes() == LHE.read_bytes()


def test_shared_lhe_events_flow_through_in_order_with_chunk_seeds(lhe_run):
    workdir, n_chunks, _ = lhe_run
    n_per_chunk = yaml.safe_load(CONTAINERS.read_text())["generation"]["samples"]["pp_jj"]["events_per_chunk"]
    partons = lhe_partons(n_per_chunk)
    xsec_pb = float(re.search(r"<init>\s*\n[^\n]*\n\s*(\S+)", gzip.open(LHE, "rt").read(5_000_000))[1])
    for chunk in range(n_chunks):
        events, metadata = files.read_awkward(workdir / "results" / "events" / "pp_jj" / f"chunk{chunk}.parquet")
        assert metadata["seed"] == derive_seed(7, "generate", "pp_jj", chunk)
        assert metadata["n_events"] == n_per_chunk and len(events) > n_per_chunk // 4
        assert metadata["cross_section_pb"] == pytest.approx(xsec_pb, rel=1e-3)  # MadGraph's, from the LHE init block
        index = ak.to_numpy(events.event_number) - chunk * n_per_chunk  # each chunk's own file, from its first event
        np.testing.assert_allclose(ak.to_numpy(events.m_hat_gev), partons["mjj_gev"][index], rtol=1e-4)


def test_reconstructed_dijets_follow_the_madgraph_partons(lhe_run):
    workdir, n_chunks, _ = lhe_run
    n_per_chunk = yaml.safe_load(CONTAINERS.read_text())["generation"]["samples"]["pp_jj"]["events_per_chunk"]
    partons = lhe_partons(n_per_chunk)
    matched, neighbour, mass_ratio, jets = [], [], [], []
    for chunk in range(n_chunks):
        events, _ = files.read_awkward(workdir / "results" / "events" / "pp_jj" / f"chunk{chunk}.parquet")
        index = ak.to_numpy(events.event_number) - chunk * n_per_chunk
        eta, phi = ak.to_numpy(events.jet_eta[:, 0]), ak.to_numpy(events.jet_phi[:, 0])
        nearest = np.min(delta_r(eta[:, None], phi[:, None], partons["eta"][index], partons["phi"][index]), axis=1)
        shifted = (index + 1) % n_per_chunk
        nearest_other = np.min(delta_r(eta[:, None], phi[:, None], partons["eta"][shifted], partons["phi"][shifted]), axis=1)
        matched.append(nearest < 0.4)
        neighbour.append(nearest_other < 0.4)
        mass_ratio.append(ak.to_numpy(events.mjj_gev) / partons["mjj_gev"][index])
        jets.append(dict(zip(index, ak.to_numpy(events.jet_pt[:, 0]), strict=True)))
    matched, neighbour, mass_ratio = (np.concatenate(values) for values in (matched, neighbour, mass_ratio))
    # The leading jet sits on a MadGraph parton of its own event, not of the next one (ptj > 20 GeV partons:
    # initial-state radiation often makes the leading jet, so far from every event).
    assert matched.mean() > 0.5 and neighbour.mean() < 0.15
    assert 0.8 < np.median(mass_ratio) < 1.1  # the reconstructed M_jj follows the partons' m_jj
    common = set(jets[0]) & set(jets[1])
    assert common and any(jets[0][event] != jets[1][event] for event in common)  # same partons, other chunk seed
