"""Per-sample generator and detector choices: the Delphes card patch, the config rules, the rules a dry run
schedules for each choice, and a real MadGraph LHE file going through the MadGraph generator's shower."""

import copy
import os
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

from workflow_scripts.core import files
from workflow_scripts.core.config import ConfigError, validate_config
from workflow_scripts.core.kinematics import delta_r
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.detector import delphes_io
from workflow_scripts.external import delphes_card
from workflow_scripts.generation import cards, pythia

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow_scripts" / "core" / "schemas" / "config.schema.yaml"
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
REAL_STACK = ROOT / "tests" / "configs" / "real_stack.yaml"
SHARED_LHE = ROOT.parent / "shared" / "data" / "madgraph5-3.5.8-pp_to_jj.lhe.gz"
LHE = SHARED_LHE if SHARED_LHE.is_file() else ROOT / "tests" / "data" / "madgraph5-3.5.8-pp_to_jj.lhe.gz"
PINNED = "docker://ghcr.io/example/generators:2026.1@sha256:" + "ab" * 32

# The parts of Delphes' cards/delphes_card_CMS.tcl that the patch touches, in the card's layout: the jet
# finders (GenJetFinder, FastJetFinder at R = 0.5, FatJetFinder at 0.8), a module with nested braces, a
# commented-out seed as some of Delphes' cards have, a time-based seed to be replaced, and a TreeWriter with branches
# the analysis tree keeps and drops (FatJet and ScalarHT come from side-effect-free modules nothing else reads;
# PhotonEfficiency draws random numbers and BTagging sets a field of the kept jets).
CMS_LIKE_CARD = textwrap.dedent("""\
    #set RandomSeed 123
    set RandomSeed 0

    set ExecutionPath {
      ParticlePropagator
      PhotonEfficiency
      EFlowMerger
      MissingET
      GenJetFinder
      FastJetFinder
      FatJetFinder
      BTagging
      ScalarHT
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

    module Merger EFlowMerger {
      add InputArray HCal/eflowTracks
      add InputArray ECal/eflowPhotons
      set OutputArray eflow
    }

    module Merger MissingET {
      add InputArray EFlowMerger/eflow
      set MomentumOutputArray momentum
    }

    module BTagging BTagging {
      set JetInputArray FastJetFinder/jets
      add EfficiencyFormula {0} {0.01}
    }

    module Merger ScalarHT {
      add InputArray FastJetFinder/jets
      set EnergyOutputArray energy
    }

    module TreeWriter TreeWriter {
    # add Branch InputArray BranchName BranchClass
      add Branch Delphes/allParticles Particle GenParticle
      add Branch HCal/eflowTracks EFlowTrack Track
      add Branch ECal/eflowPhotons EFlowPhoton Tower
      add Branch HCal/eflowNeutralHadrons EFlowNeutralHadron Tower
      add Branch GenJetFinder/jets GenJet Jet
      add Branch FastJetFinder/jets Jet Jet
      add Branch FatJetFinder/jets FatJet Jet
      add Branch UniqueObjectFinder/electrons Electron Electron
      add Branch UniqueObjectFinder/photons Photon Photon
      add Branch UniqueObjectFinder/muons Muon Muon
      add Branch MissingET/momentum MissingET MissingET
      add Branch ScalarHT/energy ScalarHT ScalarHT
    }
    """)


def module_parameter(card, module, parameter):
    block = re.search(rf"module FastJetFinder {module} \{{(.*?)\n\}}", card, re.DOTALL)[1]
    return re.search(rf"^\s*set {parameter} (\S+)", block, re.MULTILINE)[1]


def test_cms_card_gets_the_jet_radius_and_one_chunk_seed():
    patched = delphes_card.patch_cms_card(CMS_LIKE_CARD, 0.8, 123456789, tree="full")
    assert module_parameter(patched, "FastJetFinder", "ParameterR") == "0.8"
    assert module_parameter(patched, "GenJetFinder", "ParameterR") == "0.8"
    assert module_parameter(patched, "FatJetFinder", "ParameterR") == "0.8"  # its own setting, untouched
    assert module_parameter(delphes_card.patch_cms_card(CMS_LIKE_CARD, 0.4, 5), "FatJetFinder", "ParameterR") == "0.8"
    active_seeds = [line for line in patched.splitlines() if line.strip().startswith("set RandomSeed")]
    assert active_seeds == ["set RandomSeed 123456789"]
    assert patched.splitlines()[1] == "set RandomSeed 123456789"  # global, before every module
    assert "(abs(eta) <= 1.5) * (pt > 10.0) * (0.95)" in patched  # the rest unchanged
    assert patched.count("\n") == CMS_LIKE_CARD.count("\n") - 1 + 3


def execution_path(card):
    return re.search(r"set ExecutionPath \{([^}]*)\}", card)[1].split()


def tree_branches(card):
    return [line.split()[3] for line in card.splitlines() if line.strip().startswith("add Branch")]


def test_the_analysis_tree_keeps_the_read_branches_and_every_module_with_side_effects():
    patched = delphes_card.patch_cms_card(CMS_LIKE_CARD, 0.8, 7)
    assert tree_branches(patched) == ["EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron", "GenJet", "Jet", "Electron",
                                      "Muon", "MissingET"]
    assert sorted(tree_branches(patched)) == sorted(delphes_card.ANALYSIS_BRANCHES)
    # FatJetFinder and ScalarHT fed only dropped branches; PhotonEfficiency (random numbers) and BTagging (sets the
    # kept jets' BTag) feed no kept branch either, but stay; EFlowMerger feeds MissingET, which is kept.
    assert execution_path(patched) == ["ParticlePropagator", "PhotonEfficiency", "EFlowMerger", "MissingET",
                                       "GenJetFinder", "FastJetFinder", "BTagging", "TreeWriter"]
    assert "module FastJetFinder FatJetFinder {" in patched  # left defined, just not run
    assert execution_path(delphes_card.patch_cms_card(CMS_LIKE_CARD, 0.8, 7, tree="full")) == execution_path(CMS_LIKE_CARD)
    # The analysis tree is what the converter and the closure (GenJet) read.
    assert set(delphes_card.ANALYSIS_BRANCHES) == {*delphes_io.CONVERTER_FIELDS, "GenJet"}


def test_the_analysis_tree_needs_every_branch_it_keeps_in_the_card():
    without_genjets = CMS_LIKE_CARD.replace("  add Branch GenJetFinder/jets GenJet Jet\n", "")
    with pytest.raises(ValueError, match=r"my_card.tcl: its TreeWriter writes no branch \['GenJet'\]"):
        delphes_card.patch_cms_card(without_genjets, 0.4, 1, source="my_card.tcl")
    with pytest.raises(ValueError, match="unknown Delphes tree 'small'"):
        delphes_card.patch_cms_card(CMS_LIKE_CARD, 0.4, 1, tree="small")


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
    command = [sys.executable, "-m", "workflow_scripts.external.delphes_card", "--sample", "qcd_dijet", "--chunk", "4",
               "--seed", "20180701", "--jet-radius", "0.8", "--output", str(tmp_path / "card.tcl")]
    subprocess.run(command + ["--delphes-dir", str(install)], check=True, cwd=ROOT)
    patched = (tmp_path / "card.tcl").read_text()
    assert f"set RandomSeed {derive_seed(20180701, 'detector', 'qcd_dijet', 4)}" in patched  # the embedded detector's seed
    missing = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode != 0 and "no Delphes install" in missing.stderr


def test_madgraph_and_card_drivers_need_only_the_standard_library():
    """MadGraph jobs and the install recipe run with Python alone (-S: no site-packages)."""
    subprocess.run([sys.executable, "-S", "-c", "import workflow_scripts.external.madgraph, workflow_scripts.external.delphes_card, "
                    "workflow_scripts.external.install_tools"], check=True, cwd=ROOT)


def test_madgraph_chunks_read_their_own_file_from_the_first_event(tmp_path):
    card = tmp_path / "chunk1.cmnd"
    card.write_text(cards.render_card(cards.sample_settings({"process": "lhe", "lhe_file": str(LHE)}, 13000), "chunk1"))
    pythia.generate_chunk(card, tmp_path / "c1.parquet", "pp_jj", 1, 5, 3, batch_size=5, lhe_first_event=0)
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


def test_generator_and_detector_default_to_pythia_and_embedded_and_combine_freely():
    validate_config(tiny_with(), SCHEMA)
    for generator in ("pythia", "madgraph"):
        for detector in ("embedded", "delphes"):
            validate_config(tiny_with({"qcd_dijet": {"generator": generator, "detector": detector}}), SCHEMA)
    validate_config(tiny_with({"qcd_dijet": {"detector": "delphes"}}, {"generators": PINNED}), SCHEMA)


@pytest.mark.parametrize("old, generator, detector", [("embedded", "pythia", "embedded"), ("pythia-delphes", "pythia", "delphes"),
                                                      ("madgraph-pythia-delphes", "madgraph", "delphes"),
                                                      ("madgraph-embedded", "madgraph", "embedded")])
def test_old_backend_names_say_what_to_write_instead(old, generator, detector):
    with pytest.raises(ConfigError, match=rf"config key generation\.samples\.qcd_dijet\.backend: `backend: {old}` was "
                                          rf"replaced by two choices; write `generator: {generator}` and `detector: {detector}`"):
        validate_config(tiny_with({"qcd_dijet": {"backend": old}}), SCHEMA)
    with pytest.raises(ConfigError, match="`backend` was replaced by `generator: pythia | madgraph`"):
        validate_config(tiny_with({"qcd_dijet": {"backend": "delphes-only"}}), SCHEMA)


@pytest.mark.parametrize("image", [
    "docker://ghcr.io/example/generators:latest@sha256:" + "ab" * 32,
    "docker://ghcr.io/example/generators:2026.1",
    "docker://ghcr.io/example/generators@sha256:" + "ab" * 32,
    "docker://ghcr.io/example/generators:2026.1@sha256:" + "ab" * 31,
    "ghcr.io/example/generators:2026.1@sha256:" + "ab" * 32,
])
def test_unpinned_images_are_refused(image):
    with pytest.raises(ConfigError, match="config key containers.generators"):
        validate_config(tiny_with({"qcd_dijet": {"generator": "madgraph"}}, {"generators": image}), SCHEMA)


def test_docker_hub_and_registry_port_references_are_accepted():
    for image in ("docker://rootproject/root:6.30.06-ubuntu22.04@sha256:" + "0f" * 32,
                  "docker://registry.example.org:5000/hep/generators:v1.0@sha256:" + "0f" * 32):
        validate_config(tiny_with({"qcd_dijet": {"generator": "madgraph"}}, {"generators": image}), SCHEMA)


def test_a_sif_file_is_accepted_where_it_exists_and_named_where_it_does_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tiny_with({"qcd_dijet": {"generator": "madgraph"}}, {"generators": "images/generators.sif"})
    with pytest.raises(ConfigError, match=r"config key containers.generators: the SIF file images/generators.sif does not "
                                          r"exist \(make it from the image archive of rule generator_image"):
        validate_config(config, SCHEMA)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "generators.sif").write_bytes(b"")
    validate_config(config, SCHEMA)
    for image in ("images/generators.img", "docker://images/generators.sif"):
        with pytest.raises(ConfigError, match="config key containers.generators"):
            validate_config(tiny_with({"qcd_dijet": {"generator": "madgraph"}}, {"generators": image}), SCHEMA)


ADAPTER = ROOT / "tests" / "external" / "apptainer_adapter"


@pytest.mark.parametrize("sdm", [True, False])
def test_the_real_stack_jobs_take_the_image_only_under_apptainer(tmp_path, sdm):
    """With containers.generators and --sdm apptainer the MadGraph and Delphes jobs run in the image and no install rule
    is planned; without --sdm apptainer the key changes nothing. (Snakemake asks `apptainer --version` even for a dry
    run: the tests' stand-in answers.)"""
    (tmp_path / "generators.sif").write_bytes(b"")
    overlay = tmp_path / "image.yaml"
    overlay.write_text("containers: {generators: generators.sif}\n")
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(TINY), str(REAL_STACK), str(overlay), "--cores", "2", "events", "-n", "-p",
               *(["--sdm", "apptainer"] if sdm else [])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path,
                            env=os.environ | {"PATH": f"{ADAPTER}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dry_run_jobs(result.stdout)
    rules = {rule for rule, _, _ in jobs}
    assert {"madgraph_gridpack", "madgraph_events", "simulate_delphes"} <= rules
    assert ({"install_madgraph", "install_delphes"} & rules) == (set() if sdm else {"install_madgraph", "install_delphes"})
    for rule, _, command in jobs:
        if rule in ("madgraph_gridpack", "madgraph_events", "simulate_delphes"):
            assert ("--tool tools/" in command) is not sdm, command


def test_madgraph_refuses_processes_it_cannot_make():
    hidden_valley = {"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10, "chunks": 1, "jet_radius": 0.8,
                     "selection": "cwola_dijet", "generator": "madgraph"}
    with pytest.raises(ConfigError, match=r"config key generation\.samples\.hv_mg\.process"):
        validate_config(tiny_with({"hv_mg": hidden_valley}), SCHEMA)
    validate_config(tiny_with({"hv_mg": hidden_valley | {"generator": "pythia", "detector": "delphes"}}), SCHEMA)
    with pytest.raises(ConfigError, match=r"generation\.samples\.qcd_dijet"):  # a MadGraph cut on a Pythia sample
        validate_config(tiny_with({"qcd_dijet": {"parton_abs_eta_max": 2.2}}), SCHEMA)


def test_real_stack_overlay_is_valid():
    overlay = yaml.safe_load(REAL_STACK.read_text())
    merged = copy.deepcopy(yaml.safe_load(TINY.read_text()))
    for name, update in overlay["generation"]["samples"].items():
        merged["generation"]["samples"].setdefault(name, {}).update(update)
    merged["selections"].update(overlay["selections"])
    merged["tools"] = overlay["tools"]
    validate_config(merged, SCHEMA)


# --- Snakemake: which rules each choice schedules -------------------------------------------------------------

def snakemake(workdir, *args, overlays=()):
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(TINY), str(REAL_STACK), *map(str, overlays), "--cores", "2", *args]
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


def test_dry_run_gives_each_root_file_one_producer_by_choice(dry_run):
    samples = yaml.safe_load(REAL_STACK.read_text())["generation"]["samples"]
    chunks = {name: sample["chunks"] for name, sample in samples.items()}
    for sample in ("mg_qcd_delphes", "mg_z_embedded", "pp_jj"):  # generator madgraph: one gridpack, a run of it per chunk
        assert len(jobs_of(dry_run, "madgraph_gridpack", sample)) == 1
        assert len(jobs_of(dry_run, "madgraph_events", sample)) == len(jobs_of(dry_run, "render_lhe_card", sample)) == chunks[sample]
    for sample in ("mg_qcd_delphes", "hv_delphes"):  # detector delphes: Delphes reads the shower, no particle file
        assert len(jobs_of(dry_run, "simulate_delphes", sample)) == chunks[sample]
        assert not jobs_of(dry_run, "generate_particles", sample) and not jobs_of(dry_run, "simulate_detector", sample)
    for sample in ("mg_z_embedded", "pp_jj", "hv_dd_lambda10"):
        assert len(jobs_of(dry_run, "simulate_detector", sample)) == chunks.get(sample, 2)
        assert not jobs_of(dry_run, "simulate_delphes", sample)
    assert not jobs_of(dry_run, "madgraph_events", "hv_delphes") and not jobs_of(dry_run, "madgraph_events", "qcd_dijet")
    # each tool is built once, whatever number of jobs needs it
    assert len(jobs_of(dry_run, "install_madgraph")) == len(jobs_of(dry_run, "install_delphes")) == 1
    for sample, n in chunks.items():  # the shared part starts at the same ROOT path for both detectors
        converted = {wildcards["chunk"]: command for wildcards, command in jobs_of(dry_run, "convert_events", sample)}
        assert sorted(converted) == sorted(str(chunk) for chunk in range(n))
        for chunk, command in converted.items():
            assert command.startswith(f"python -m workflow_scripts.detector.delphes_io results/delphes/{sample}/chunk{chunk}.root "
                                      f"results/events/{sample}/chunk{chunk}.parquet ")


def test_dry_run_commands_of_the_real_stack_rules(dry_run):
    (_, command), = jobs_of(dry_run, "madgraph_gridpack", "mg_qcd_delphes")  # the process, once per sample
    assert command.startswith("python -m workflow_scripts.external.madgraph gridpack --sample mg_qcd_delphes "
                              "--settings '{\"process\": \"qcd_dijet\"")
    assert '"parton_abs_eta_max": 2.2' in command and "detector" not in command.split("--settings")[1].split("'")[1]
    assert " --seed 7 --sqrt-s-gev 13000 --cores 1 " in command
    assert command.endswith("--tool tools/madgraph.json --gridpack results/gridpacks/mg_qcd_delphes.tar.gz"
                            " --record results/gridpacks/mg_qcd_delphes.json > logs/madgraph_gridpack/mg_qcd_delphes.log 2>&1")
    (_, command), = jobs_of(dry_run, "madgraph_events", "mg_qcd_delphes")  # each chunk's events from it
    assert command.startswith("python -m workflow_scripts.external.madgraph events --sample mg_qcd_delphes --chunk 0 "
                              "--events 30 --seed 7 --gridpack results/gridpacks/mg_qcd_delphes.tar.gz "
                              "--record results/gridpacks/mg_qcd_delphes.json --scratch ")
    assert command.endswith("--tool tools/madgraph.json --output results/lhe/mg_qcd_delphes/chunk0.lhe.gz"
                            " > logs/madgraph_events/mg_qcd_delphes/chunk0.log 2>&1")
    (_, command), = jobs_of(dry_run, "simulate_delphes", "mg_qcd_delphes")
    assert command.startswith("python -m workflow_scripts.detector.delphes --card results/cards/mg_qcd_delphes/chunk0.cmnd "
                              "--output results/delphes/mg_qcd_delphes/chunk0.root --sample mg_qcd_delphes --chunk 0 "
                              "--events 30 --batch-size 10 --seed 7 --jet-radius 0.8 --tree analysis --lhe-first-event 0 "
                              "--tool tools/delphes.json --scratch ")
    (_, command), = [job for job in jobs_of(dry_run, "simulate_delphes", "hv_delphes") if job[0]["chunk"] == "1"]
    assert "--card results/cards/hv_delphes.cmnd --output results/delphes/hv_delphes/chunk1.root" in command
    assert "--lhe-first-event" not in command
    (_, command), = jobs_of(dry_run, "install_delphes")
    assert command == "python -m workflow_scripts.external.install_tools delphes --record tools/delphes.json --jobs 2 > logs/install_delphes.log 2>&1"
    (_, command), = [job for job in jobs_of(dry_run, "render_lhe_card", "pp_jj") if job[0]["chunk"] == "1"]
    assert '"lhe_file": "results/lhe/pp_jj/chunk1.lhe.gz"' in command and command.startswith("python -m workflow_scripts.generation.cards")
    (_, command), = [job for job in jobs_of(dry_run, "generate_particles", "pp_jj") if job[0]["chunk"] == "1"]
    assert "--card results/cards/pp_jj/chunk1.cmnd" in command
    assert command.endswith("--seed 7 --lhe-first-event 0 > logs/generate_particles/pp_jj/chunk1.log 2>&1")
    (_, command), = [job for job in jobs_of(dry_run, "generate_particles", "qcd_dijet_loose")]
    assert "--card results/cards/qcd_dijet_loose.cmnd" in command and "--lhe-first-event" not in command


def test_source_directory_from_the_config_reaches_the_install_rules(tmp_path):
    overlay = tmp_path / "source.yaml"
    overlay.write_text("tools: {source_dir: /opt/hep sources}\n")
    result = snakemake(tmp_path, "tools/madgraph.json", "tools/delphes.json", "-n", "-p", "--configfile", str(TINY),
                       str(REAL_STACK), str(overlay))
    assert result.returncode == 0, result.stderr[-3000:]
    commands = {rule: command for rule, _, command in dry_run_jobs(result.stdout)}
    assert "--source-dir '/opt/hep sources'" in commands["install_madgraph"]
    assert "--source-dir '/opt/hep sources'" in commands["install_delphes"]


def test_real_stack_rules_pass_the_linter():
    """Snakemake's linter flags a rule without a container or conda environment, among others."""
    command = [sys.executable, "-m", "snakemake", "--lint", "-s", str(ROOT / "Snakefile"),
               "--configfile", str(TINY), str(REAL_STACK)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Lints for rule" not in result.stdout + result.stderr


def test_pythia_embedded_configs_schedule_no_real_stack_rule(tmp_path):
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(TINY), "--cores", "2", "events", "-n"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    rules = {name for name, _, _ in dry_run_jobs(result.stdout)}
    assert {"generate_particles", "simulate_detector", "convert_events"} <= rules
    assert not rules & {"madgraph_events", "render_lhe_card", "simulate_delphes", "install_madgraph", "install_delphes"}


# --- the shared MadGraph file through the MadGraph generator's shower and the embedded detector ---------------------------------------------

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
    n_chunks = yaml.safe_load(REAL_STACK.read_text())["generation"]["samples"]["pp_jj"]["chunks"]
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
    n_per_chunk = yaml.safe_load(REAL_STACK.read_text())["generation"]["samples"]["pp_jj"]["events_per_chunk"]
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
    n_per_chunk = yaml.safe_load(REAL_STACK.read_text())["generation"]["samples"]["pp_jj"]["events_per_chunk"]
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


@pytest.mark.parametrize("target, preset", [("cwola", "real-stack-cwola.yaml"), ("cohen2018", "real-stack-cohen2018-lhc.yaml")])
def test_real_stack_presets_put_a_studys_samples_through_madgraph_and_delphes(tmp_path, target, preset):
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(ROOT / "config.yaml"), str(ROOT / "presets" / preset), "--cores", "2", target, "-n", "-p"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dry_run_jobs(result.stdout)
    samples = {wildcards["sample"] for name, wildcards, _ in jobs if name == "convert_events"}
    assert samples, "the study converts no events"
    for sample in samples:
        delphes = jobs_of(jobs, "simulate_delphes", sample)
        assert len(delphes) == len(jobs_of(jobs, "convert_events", sample))
        assert not jobs_of(jobs, "generate_particles", sample) and not jobs_of(jobs, "simulate_detector", sample)
        madgraph, gridpacks = jobs_of(jobs, "madgraph_events", sample), jobs_of(jobs, "madgraph_gridpack", sample)
        if sample.startswith("hv_"):  # the papers' Hidden-Valley signals are Pythia's own
            assert not madgraph and not gridpacks
        else:
            assert len(madgraph) == len(delphes) and len(gridpacks) == 1
            if sample.startswith("qcd"):  # CWoLa Table 1b: |eta| < 2.2 for the partons, in MadGraph
                assert all('"parton_abs_eta_max": 2.2' in command for _, command in gridpacks)
    expected = {"cwola": {"qcd_dijet", "qcd_dijet_window", "hv_id_lambda10", "hv_dd_lambda10"},
                "cohen2018": {"gluino_pair", "z_nunu_jet_pt150to400", "z_nunu_jet_pt400"}}[target]
    assert expected <= samples


def test_closure_runs_each_sample_through_the_detector_it_is_not_configured_with(tmp_path):
    overlay = tmp_path / "closure.yaml"
    overlay.write_text("closure: {samples: [mg_z_embedded, mg_qcd_delphes, hv_delphes], chunks: 1}\n")
    result = snakemake(tmp_path, "closure", "-n", "-p", overlays=[overlay])
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dry_run_jobs(result.stdout)
    # MadGraph + embedded: Delphes on the same chunk's shower of the same LHE file.
    (wildcards, command), = jobs_of(jobs, "closure_delphes", "mg_z_embedded")
    assert "--card results/cards/mg_z_embedded/chunk0.cmnd" in command and "--lhe-first-event 0" in command
    assert command.endswith("> logs/closure_delphes/mg_z_embedded/chunk0.log 2>&1")
    # Delphes samples: the embedded simulation on a particle file generated from the same card and seed.
    for sample, card in (("mg_qcd_delphes", "results/cards/mg_qcd_delphes/chunk0.cmnd"), ("hv_delphes", "results/cards/hv_delphes.cmnd")):
        (_, command), = jobs_of(jobs, "closure_embedded", sample)
        assert command.startswith(f"python -m workflow_scripts.detector.simulation results/particles/{sample}/chunk0.parquet "
                                  f"results/closure/embedded/{sample}/chunk0.root")
        (_, generate), = jobs_of(jobs, "generate_particles", sample)
        assert f"--card {card}" in generate
    # Each sample's own detector files are reused, not made again.
    assert not jobs_of(jobs, "closure_embedded", "mg_z_embedded") and not jobs_of(jobs, "closure_delphes", "hv_delphes")
    assert len(jobs_of(jobs, "closure_sample")) == 3 and len(jobs_of(jobs, "closure_summary")) == 1
