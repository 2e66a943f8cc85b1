"""The real generator stack, built and run: MadGraph 3.5.7 and Delphes 3.5.1 from the offline sources in
../shared/vendor (or $PIPELINE_TOOLS_SOURCE_DIR), into a cache outside the clone ($PIPELINE_TOOLS_CACHE, default
~/.cache/weak-supervision-pipeline/tools) so that a rerun on the same machine does not rebuild.

Needs the ROOT wheel (pip install -e ".[test]" brings it), gfortran and the source tarballs; elsewhere these tests
skip, unless REQUIRE_REAL_STACK=1 (as in .ci/run), which turns every such skip into a failure."""

import gzip
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
import yaml

from workflow_scripts.core import files
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.detector import delphes, delphes_io
from workflow_scripts.external import delphes_card, generator_image, install_tools, madgraph
from workflow_scripts.generation import hepmc
from workflow_scripts.validation import closure

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"
REAL_STACK = ROOT / "tests" / "configs" / "real_stack.yaml"
CLOSURE = ROOT / "tests" / "configs" / "closure.yaml"
CLOSURE_SHIFTED = ROOT / "tests" / "configs" / "closure_shifted.yaml"
SHARED = ROOT.parent / "shared"
SOURCE_DIR = Path(os.environ.get(install_tools.SOURCE_DIR_VARIABLE) or SHARED / "vendor")
CACHE = Path(os.environ.get(install_tools.CACHE_VARIABLE) or Path.home() / ".cache" / "weak-supervision-pipeline" / "tools")
REAL_DELPHES_FILES = {"hv_id_lambda10": (SHARED / "data" / "delphes-3.5.1_cms_hv_id_lambda10_R0.8_60events.root", 0.8, 60),
                      "gluino_pair": (SHARED / "data" / "delphes-3.5.1_cms_gluino_pair_R0.4_100events.root", 0.4, 100)}
SEED = yaml.safe_load(TINY.read_text())["seed"]
SAMPLES = yaml.safe_load(REAL_STACK.read_text())["generation"]["samples"]
SELECTIONS = yaml.safe_load(TINY.read_text())["selections"]


def unavailable(reason):
    if os.environ.get("REQUIRE_REAL_STACK") == "1":
        pytest.fail(f"REQUIRE_REAL_STACK=1 but {reason}")
    pytest.skip(reason)


def missing_prerequisites(tool):
    names = {source.filename for source in install_tools.SOURCES[tool]}
    if not any((SOURCE_DIR / name).is_file() for name in names):
        return f"no {tool} source tarball in {SOURCE_DIR}"
    if tool == "delphes":
        try:
            install_tools.root_config()
        except install_tools.ToolError as error:
            return str(error)
        if shutil.which("cmake") is None:
            return "cmake is not installed"
    else:
        problems = install_tools.madgraph_environment_problems()
        if problems:
            return "MadGraph needs " + ", ".join(problems)
    return None


@pytest.fixture(scope="session")
def tool_records():
    records = {}
    for tool in ("madgraph", "delphes"):
        reason = missing_prerequisites(tool)
        if reason:
            unavailable(reason)
        records[tool] = install_tools.install(tool, CACHE, SOURCE_DIR, jobs=os.cpu_count() or 1)
    return records


def stack_environment():
    return os.environ | {install_tools.CACHE_VARIABLE: str(CACHE), install_tools.SOURCE_DIR_VARIABLE: str(SOURCE_DIR)}


def snakemake(workdir, *args, timeout=1500, overlays=()):
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(TINY), str(REAL_STACK), *map(str, overlays), "--cores", "2", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=stack_environment())


# --- the converter on files real Delphes wrote ------------------------------------------------------------------

@pytest.mark.parametrize("sample", sorted(REAL_DELPHES_FILES))
def test_converter_reads_real_delphes_files(sample):
    path, radius, n_events = REAL_DELPHES_FILES[sample]
    if not path.is_file():
        unavailable(f"{path} is missing")
    selection = SELECTIONS["cwola_dijet" if sample.startswith("hv") else "cohen2018_lhc"]
    events = delphes_io.convert(path, selection, radius)
    tree = uproot.open(path)["Delphes"]
    assert tree.num_entries == n_events and 0 < len(events) <= n_events
    jets = tree.arrays(["Jet.PT", "Jet.Eta"], library="ak")
    leading_pt = ak.to_numpy(ak.max(jets["Jet.PT"], axis=1)[ak.to_numpy(events.event_number)])
    np.testing.assert_allclose(ak.to_numpy(events.jet_pt[:, 0]), leading_pt, rtol=1e-6)
    if sample.startswith("hv"):
        # Z' (5.5 TeV) -> two dark showers: M_jj near the Z' mass, jets made of many constituents.
        assert 4000 < np.median(ak.to_numpy(events.mjj_gev)) < 6000
        assert np.median(ak.to_numpy(ak.num(events.jet1_constituents))) > 40
        constituent_pt = ak.to_numpy(ak.sum(events.jet1_constituents.pt, axis=1))
        assert 0.85 < np.median(constituent_pt / ak.to_numpy(events.jet_pt[:, 0])) < 1.1
    else:
        # 2 TeV gluinos -> q qbar + massless neutralino: hard jets and real MET.
        assert np.median(ak.to_numpy(events.met_gev)) > 300 and (ak.to_numpy(events.jet_pt[:, 0]) > 200).all()


# --- install ----------------------------------------------------------------------------------------------------

def test_installs_are_complete_and_reused(tool_records):
    for tool, record in tool_records.items():
        prefix = Path(record["prefix"])
        assert prefix.parent == CACHE.resolve() and (prefix / install_tools.COMPLETE_MARKER).is_file()
        for program in record["programs"].values():
            assert os.access(program, os.X_OK)
        again = install_tools.install(tool, CACHE, SOURCE_DIR)
        assert again == record  # same sources, same recipe: the same install, not a rebuild
    help_text = subprocess.run([tool_records["delphes"]["programs"]["DelphesHepMC3"]], capture_output=True, text=True,
                               env=install_tools.tool_environment(tool_records["delphes"]))
    assert "Usage: DelphesHepMC3 config_file output_file [input_file(s)]" in help_text.stdout


# --- real chains through Snakemake ------------------------------------------------------------------------------

def events_files(sample):
    return [f"results/events/{sample}/chunk{chunk}.parquet" for chunk in range(SAMPLES[sample]["chunks"])]


def madgraph_configuration(record):
    return (Path(record["prefix"]) / "input" / "mg5_configuration.txt").read_bytes()


STACK_SAMPLES = ("mg_qcd_delphes", "hv_delphes", "mg_z_embedded")  # run natively by stack_run, and in the image


@pytest.fixture(scope="session")  # session: the image's tests, which run last, compare with this run
def configuration_before_runs(tool_records):
    return madgraph_configuration(tool_records["madgraph"])


@pytest.fixture(scope="session")
def stack_run(tool_records, configuration_before_runs, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("real_stack")
    targets = [path for sample in STACK_SAMPLES for path in events_files(sample)]
    result = snakemake(workdir, *targets)
    assert result.returncode == 0, result.stderr[-6000:]
    again = snakemake(workdir, *targets, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    return workdir


def test_madgraph_runs_leave_the_shared_install_untouched(stack_run, tool_records, configuration_before_runs):
    # Parallel chunk jobs share one install: a run that saved its session options there would race the others.
    assert madgraph_configuration(tool_records["madgraph"]) == configuration_before_runs


def gridpack_record(workdir, sample):
    return json.loads((workdir / "results" / "gridpacks" / f"{sample}.json").read_text())


def test_madgraph_gridpack_has_its_seed_cuts_and_survey(stack_run):
    record = gridpack_record(stack_run, "mg_qcd_delphes")
    assert record["generator"] == "MadGraph5_aMC 3.5.7" and record["iseed"] == madgraph.madgraph_seed(SEED, "mg_qcd_delphes", "gridpack")
    # p p > j j: 12 integration channels, far from the ~80 where MadGraph 3.5 sums the cross section wrongly
    assert 0 < record["channels"] <= madgraph.MAX_RELIABLE_CHANNELS
    assert record["cross_section_error_pb"] < 0.05 * record["cross_section_pb"]
    assert "generate p p > j j" in record["process_card"] and "set run_card gridpack True" in record["run_card"]
    lhe = stack_run / "results" / "lhe" / "mg_qcd_delphes" / "chunk0.lhe.gz"
    run_card = madgraph.run_card_from_lhe(lhe)  # the gridpack's run card, with the chunk's own seed
    assert int(run_card["iseed"]) == madgraph.madgraph_seed(SEED, "mg_qcd_delphes", 0) != record["iseed"]
    assert float(run_card["ptj"]) == 700 and float(run_card["mmjj"]) == 3000 and float(run_card["etaj"]) == 2.2
    assert madgraph.count_lhe_events(lhe) == SAMPLES["mg_qcd_delphes"]["events_per_chunk"]
    assert madgraph.madgraph_version_from_lhe(lhe).startswith("3.5.7")
    assert madgraph.lhe_cross_section(lhe) == pytest.approx((record["cross_section_pb"], record["cross_section_error_pb"]), rel=1e-5)
    # No output holds the path of the working directory or of the scratch directory MadGraph ran in.
    for path in [lhe, stack_run / "results" / "gridpacks" / "mg_qcd_delphes.json",
                 stack_run / "results" / "cards" / "mg_qcd_delphes" / "chunk0.cmnd"]:
        text = gzip.open(path, "rt").read() if path.suffix == ".gz" else path.read_text()
        assert str(stack_run) not in text and "/tmp" not in text, path


def test_madgraph_and_delphes_chain_gives_dijets_with_madgraphs_cross_section(stack_run):
    root_file = stack_run / "results" / "delphes" / "mg_qcd_delphes" / "chunk0.root"
    provenance = delphes_io.read_provenance(root_file)
    assert provenance["detector"].startswith("Delphes 3.5.1") and provenance["n_events"] == 30
    assert provenance["detector_seed"] == derive_seed(SEED, "detector", "mg_qcd_delphes", 0)
    assert provenance["seed"] == derive_seed(SEED, "generate", "mg_qcd_delphes", 0)
    log = (stack_run / "logs" / "simulate_delphes" / "mg_qcd_delphes" / "chunk0.log").read_text()
    assert "** 30 events processed" in log
    # The patched HepMC3 reader writes no clock times and no uninitialised MPI count: the same events give the same file.
    event = uproot.open(root_file)["Delphes"]
    for branch, value in (("Event/Event.ReadTime", 0.0), ("Event/Event.ProcTime", 0.0), ("Event/Event.MPI", -1)):
        assert set(ak.to_list(ak.flatten(event[branch].array()))) == {value}, branch
    madgraph_xsec_pb = gridpack_record(stack_run, "mg_qcd_delphes")["cross_section_pb"]  # the survey's, every chunk
    assert provenance["cross_section_pb"] == pytest.approx(madgraph_xsec_pb, rel=1e-5)
    events, metadata = files.read_awkward(stack_run / "results" / "events" / "mg_qcd_delphes" / "chunk0.parquet")
    assert len(events) >= 5 and metadata["cross_section_pb"] == pytest.approx(madgraph_xsec_pb, rel=1e-3)
    assert (ak.to_numpy(events.jet_pt[:, 1]) > 750).all()
    # MadGraph's m_jj > 3 TeV between partons: the reconstructed dijets stay near or above it.
    assert np.median(ak.to_numpy(events.mjj_gev)) > 2800


@pytest.fixture(scope="module")
def full_tree_chunk(stack_run, tmp_path_factory):
    """hv_delphes' chunk 1 again, with Delphes writing the CMS card's full tree (the workflow's default is the
    analysis tree)."""
    output = tmp_path_factory.mktemp("full_tree") / "chunk1.root"
    delphes.simulate_chunk(stack_run / "results" / "cards" / "hv_delphes.cmnd", output, "hv_delphes", 1,
                           SAMPLES["hv_delphes"]["events_per_chunk"], SEED, 0.8, batch_size=10,
                           tool_record=stack_run / "tools" / "delphes.json", tree="full")
    return output


def test_pythia_and_delphes_see_the_embedded_chains_events(stack_run, full_tree_chunk, tmp_path):
    """The Delphes job showers the same events as the embedded generation with the same seed: its Particle
    branch holds exactly the final-state particles of the particle file."""
    card = stack_run / "results" / "cards" / "hv_delphes.cmnd"
    n_events = SAMPLES["hv_delphes"]["events_per_chunk"]
    from workflow_scripts.generation import pythia

    pythia.generate_chunk(card, tmp_path / "particles.parquet", "hv_delphes", 1, n_events, SEED, batch_size=10)
    particles, _ = files.read_awkward(tmp_path / "particles.parquet")
    tree = uproot.open(full_tree_chunk)["Delphes"]
    record = tree.arrays(["Particle.Status", "Particle.PID", "Particle.Pz"], library="ak")
    final = record["Particle.Status"] == 1
    assert ak.to_list(ak.num(record["Particle.PID"][final])) == ak.to_list(ak.num(particles.particles.pid))
    np.testing.assert_allclose(ak.to_numpy(ak.sum(record["Particle.Pz"][final], axis=1)),
                               ak.to_numpy(ak.sum(particles.particles.pz, axis=1)), rtol=1e-4, atol=0.05)
    events, _ = files.read_awkward(stack_run / "results" / "events" / "hv_delphes" / "chunk1.parquet")
    assert len(events) >= 1 and (ak.to_numpy(ak.num(events.jet1_constituents)) > 20).all()


def test_the_analysis_tree_holds_the_full_trees_values_in_every_branch_it_keeps(stack_run, full_tree_chunk, tmp_path):
    """The workflow's default tree leaves out branches and the modules that only fed them, nothing else: every value of
    the branches it keeps equals the full CMS card's on the same events and seed, and so do the analysis events."""
    analysis_file = stack_run / "results" / "delphes" / "hv_delphes" / "chunk1.root"
    analysis, analysis_provenance = delphes_content(analysis_file)
    full, full_provenance = delphes_content(full_tree_chunk)
    kept = {name.split("/")[0].removesuffix("_size") for name in analysis}
    assert kept == {"Event", "Weight", *delphes_card.ANALYSIS_BRANCHES}
    assert {"Particle", "FatJet", "Tower", "Track", "ScalarHT"} <= {name.split("/")[0] for name in full}
    assert sum(len(values) for values in analysis.values()) > 1000  # jets, constituents: real content
    assert analysis == {name: values for name, values in full.items() if name in analysis}
    assert (analysis_provenance["delphes_tree"], full_provenance["delphes_tree"]) == ("analysis", "full")
    selection = SELECTIONS[SAMPLES["hv_delphes"]["selection"]]
    for name, path in {"analysis": analysis_file, "full": full_tree_chunk}.items():
        delphes_io.convert_file(path, tmp_path / f"{name}.parquet", selection, 0.8, "cwola_dijet")
    events = {name: files.read_awkward(tmp_path / f"{name}.parquet")[0] for name in ("analysis", "full")}
    assert len(events["analysis"]) >= 1
    assert ak.to_list(events["analysis"]) == ak.to_list(events["full"])
    # Half the bytes (and, by benchmarks/delphes_feed.py, about half of Delphes' CPU time).
    assert analysis_file.stat().st_size < 0.5 * full_tree_chunk.stat().st_size


def test_same_seed_gives_the_same_delphes_events(stack_run, tool_records, tmp_path):
    card = stack_run / "results" / "cards" / "hv_delphes.cmnd"
    output = tmp_path / "again.root"
    provenance = delphes.simulate_chunk(card, output, "hv_delphes", 0, SAMPLES["hv_delphes"]["events_per_chunk"], SEED,
                                        0.8, batch_size=10, tool_record=stack_run / "tools" / "delphes.json")
    first = uproot.open(stack_run / "results" / "delphes" / "hv_delphes" / "chunk0.root")["Delphes"]
    assert delphes_content(output) == delphes_content(stack_run / "results" / "delphes" / "hv_delphes" / "chunk0.root")
    assert provenance == delphes_io.read_provenance(stack_run / "results" / "delphes" / "hv_delphes" / "chunk0.root")
    # another chunk's detector seed smears differently
    other = tmp_path / "other_seed.root"
    delphes.simulate_chunk(card, other, "hv_delphes", 0, SAMPLES["hv_delphes"]["events_per_chunk"], SEED + 1, 0.8,
                           batch_size=10, tool_record=stack_run / "tools" / "delphes.json")
    assert ak.to_list(uproot.open(other)["Delphes"]["Jet.PT"].array()) != ak.to_list(first["Jet.PT"].array())


def delphes_content(path):
    """Every numeric branch of a Delphes file, and the provenance record."""
    tree = uproot.open(path)["Delphes"]
    branches = {}
    for name, branch in tree.items():
        # TObject's own fields (fUniqueID, fBits: TRef bookkeeping) are not physics, and uproot cannot read fBits.
        if name.endswith((".fBits", ".fUniqueID")):
            continue
        if isinstance(branch.interpretation, (uproot.AsDtype, uproot.AsJagged)):
            branches[name] = ak.to_list(branch.array())
    return branches, delphes_io.read_provenance(path)


def delphes_processes():
    return [pid for pid in os.listdir("/proc") if pid.isdigit() and b"DelphesHepMC3" in _cmdline(pid)]


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_killed_delphes_job_leaves_nothing_and_its_rerun_equals_a_clean_run(stack_run, tmp_path):
    """SIGKILL to the whole Snakemake process group while Delphes runs, then --unlock and a rerun, in another working
    directory than the clean run's: the rerun's file equals the clean one and no partial file is left in results/."""
    target = "results/delphes/hv_delphes/chunk0.root"
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(TINY), str(REAL_STACK), "--cores", "2", target]
    with open(tmp_path / "killed.log", "w") as log:
        run = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=stack_environment(), start_new_session=True)
        try:
            deadline = time.monotonic() + 600
            while not delphes_processes() and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert run.poll() is None, "the run ended before Delphes could be killed"
        finally:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert not (tmp_path / target).exists()
    unlocked = subprocess.run(command + ["--unlock"], capture_output=True, text=True, env=stack_environment())
    assert unlocked.returncode == 0, unlocked.stderr[-3000:]
    rerun = subprocess.run(command + ["--rerun-incomplete"], capture_output=True, text=True, env=stack_environment())
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (tmp_path / target).read_bytes() == (stack_run / target).read_bytes()
    leftovers = [str(path.relative_to(tmp_path)) for path in (tmp_path / "results").rglob(".*")]
    assert not leftovers


def test_madgraph_z_jets_through_the_embedded_detector(stack_run):
    events, metadata = files.read_awkward(stack_run / "results" / "events" / "mg_z_embedded" / "chunk0.parquet")
    assert metadata["n_events"] == SAMPLES["mg_z_embedded"]["events_per_chunk"]
    # The Z recoils against a > 400 GeV jet at MadGraph level: the neutrinos' MET follows.
    assert len(events) >= 10 and np.median(ak.to_numpy(events.met_gev)) > 350


# --- bad input --------------------------------------------------------------------------------------------------

def madgraph_chunk(record_directory, sample, chunk, n_events, output, tool, scratch):
    return madgraph.generate_from_gridpack(record_directory / f"{sample}.tar.gz", record_directory / f"{sample}.json", sample,
                                           chunk, n_events, SEED, output, tool, scratch)


def lhe_events(path):
    """Each event's outgoing particles as (pid, px, py, pz, e) rows."""
    events = []
    for block in gzip.open(path, "rt").read().split("<event>")[1:]:
        lines = block.split("</event>")[0].strip().splitlines()
        events.append([[float(value) for value in (fields[0], *fields[6:10])]
                       for fields in (line.split() for line in lines[1:1 + int(lines[0].split()[0])]) if fields[1] == "1"])
    return events


@pytest.fixture(scope="module")
def user_ufo_gridpack(tool_records, tmp_path_factory):
    """A user's process from a `madgraph:` block with its UFO model given by path: a copy of the Standard Model
    MadGraph ships, under a name of its own, and Drell-Yan through the Z in it."""
    directory = tmp_path_factory.mktemp("user_ufo")
    model = directory / "models" / "my_standard_model"
    shutil.copytree(Path(tool_records["madgraph"]["prefix"]) / "models" / "sm", model,
                    ignore=shutil.ignore_patterns("*.pkl", "__pycache__", "*.pyc"))
    sample = {"process": "madgraph", "generator": "madgraph", "madgraph": {
        "model": "models/my_standard_model", "processes": ["p p > z > mu+ mu-"],
        "run_card": {"mmll": 60.0, "ptl": 0.0, "etal": -1.0, "drll": 0.0}}}  # no lepton cuts: the whole Z peak
    record = madgraph.build_gridpack("drell_yan", sample, 13000, SEED, 2, directory / "gridpacks" / "drell_yan.tar.gz",
                                     directory / "gridpacks" / "drell_yan.json", tool_records["madgraph"], directory, directory)
    return directory, record


def test_a_user_process_with_a_ufo_model_by_path_gives_z_bosons(user_ufo_gridpack, tool_records):
    directory, record = user_ufo_gridpack
    assert record["model"] == "models/my_standard_model" and record["model_sha256"] == madgraph.model_digest(
        directory / "models" / "my_standard_model")
    assert "import model ./models/my_standard_model" in record["process_card"]
    # sigma(p p > Z > mu mu) at 13 TeV at leading order (nn23lo1, four flavours), m_ll > 60 GeV: about 1.5 nb
    assert 1000 < record["cross_section_pb"] < 2500
    first, second, again = (directory / "lhe" / name for name in ("chunk0.lhe.gz", "chunk1.lhe.gz", "chunk0_again.lhe.gz"))
    for output, chunk in ((first, 0), (second, 1), (again, 0)):
        metadata = madgraph_chunk(directory / "gridpacks", "drell_yan", chunk, 200, output, tool_records["madgraph"], directory)
        assert metadata["n_events"] == 200 and metadata["cross_section_pb"] == record["cross_section_pb"]
    assert first.read_bytes() == again.read_bytes()  # same seed, same bytes
    events = lhe_events(first)
    assert events != lhe_events(second)  # another chunk, other events
    masses = []
    for particles in events:
        assert sorted(int(p[0]) for p in particles) == [-13, 13]
        px, py, pz, e = np.sum(np.array(particles)[:, 1:], axis=0)
        masses.append(np.sqrt(e * e - px * px - py * py - pz * pz))
    assert 88 < np.median(masses) < 94 and np.mean(np.abs(np.array(masses) - 91.19) < 5) > 0.7  # the Z peak
    assert madgraph.lhe_cross_section(first) == pytest.approx((record["cross_section_pb"], record["cross_section_error_pb"]), rel=1e-5)


def test_the_zprime_example_preset_gives_a_narrow_dijet_resonance_at_5_tev(tool_records, tmp_path):
    """presets/madgraph-zprime-cwola.yaml's signal, from the project's own UFO model: MadGraph computes the Z' width
    from its couplings (the analytic width of a vector coupled to six quark flavours), and the partons' M_jj peaks at
    the Z' mass."""
    preset = yaml.safe_load((ROOT / "presets" / "madgraph-zprime-cwola.yaml").read_text())
    sample = preset["generation"]["samples"]["zprime_dijet_5tev"]
    record = madgraph.build_gridpack("zprime_dijet_5tev", sample, 13000, SEED, 2, tmp_path / "zp.tar.gz", tmp_path / "zp.json",
                                     tool_records["madgraph"], tmp_path, ROOT)
    assert record["model_sha256"] == madgraph.model_digest(ROOT / "presets" / "models" / "zprime_dijet")
    madgraph.generate_from_gridpack(tmp_path / "zp.tar.gz", tmp_path / "zp.json", "zprime_dijet_5tev", 0, 200, SEED,
                                    tmp_path / "chunk0.lhe.gz", tool_records["madgraph"], tmp_path)
    mass_gev = sample["madgraph"]["param_card"]["mass"][32]
    coupling = sample["madgraph"]["param_card"]["zpinputs"][1]
    top_mass_gev = 172.5
    beta = np.sqrt(1 - 4 * top_mass_gev**2 / mass_gev**2)
    # Gamma(Z' -> q qbar) = N_c gq^2 M / (12 pi) per massless flavour; the top's with beta (3 - beta^2) / 2
    expected_width = 3 * coupling**2 * mass_gev / (12 * np.pi) * (5 + beta * (3 - beta**2) / 2)
    header = gzip.open(tmp_path / "chunk0.lhe.gz", "rt").read().split("<init>")[0]
    width = float(re.search(r"DECAY\s+32\s+(\S+)", header)[1])
    assert width == pytest.approx(expected_width, rel=1e-3) and 0.005 < width / mass_gev < 0.02
    masses = []
    for particles in lhe_events(tmp_path / "chunk0.lhe.gz"):
        assert len(particles) == 2  # the Z' decay's two quarks, nothing else at parton level
        px, py, pz, e = np.sum(np.array(particles)[:, 1:], axis=0)
        masses.append(np.sqrt(e * e - px * px - py * py - pz * pz))
    masses = np.array(masses)
    assert abs(np.median(masses) - mass_gev) < 0.5 * width
    assert np.mean(np.abs(masses - mass_gev) < 2 * width) > 0.75  # a Breit-Wigner: 84 % within two widths


def test_madgraphs_refusal_names_the_sample_and_leaves_nothing(tool_records, tmp_path):
    broken = {"process": "madgraph", "generator": "madgraph", "madgraph": {"model": "sm", "processes": ["p p > go go"]}}
    outputs = (tmp_path / "gridpacks" / "broken.tar.gz", tmp_path / "gridpacks" / "broken.json")
    with pytest.raises(madgraph.MadGraphError, match="MadGraph refused sample broken's process or cards:\n"
                                                     '  "generate p p > go go": InvalidCmd : No particle go in model'):
        madgraph.build_gridpack("broken", broken, 13000, SEED, 1, *outputs, tool_records["madgraph"], tmp_path)
    unknown_key = broken | {"madgraph": {"model": "sm", "processes": ["p p > z"], "run_card": {"ptjj": 10.0}}}
    with pytest.raises(ValueError, match="sample broken: 'ptjj' is not a key of MadGraph's run card"):
        madgraph.build_gridpack("broken", unknown_key, 13000, SEED, 1, *outputs, tool_records["madgraph"], tmp_path)
    missing_model = broken | {"madgraph": {"model": "models/nowhere", "processes": ["p p > z"]}}
    with pytest.raises(FileNotFoundError, match="MadGraph model directory models/nowhere does not exist"):
        madgraph.build_gridpack("broken", missing_model, 13000, SEED, 1, *outputs, tool_records["madgraph"], tmp_path, tmp_path)
    assert not (tmp_path / "gridpacks").exists() and not list(tmp_path.glob("madgraph-gridpack-*"))


def test_a_hepmc_file_cut_short_is_refused_before_delphes_runs(tool_records, tmp_path):
    card = tmp_path / "qcd.cmnd"
    from workflow_scripts.generation import cards, pythia

    card.write_text(cards.render_card(cards.sample_settings({"process": "qcd_dijet", "pt_hat_min_gev": 700,
                                                              "m_hat_min_gev": 3000}, 13000), "qcd"))
    complete = tmp_path / "events.hepmc3"
    pythia.generate_chunk(card, None, "qcd", 0, 3, SEED, batch_size=3, hepmc_output=complete)
    record = tmp_path / "delphes.json"
    install_tools.write_record(tool_records["delphes"], record)
    provenance = delphes.simulate_hepmc_file(complete, tmp_path / "out" / "complete.root", "qcd", 0, SEED, 0.4, record)
    assert provenance["n_events"] == 3 == uproot.open(tmp_path / "out" / "complete.root")["Delphes"].num_entries
    truncated = tmp_path / "cut.hepmc3"
    truncated.write_bytes(complete.read_bytes()[: complete.stat().st_size // 2])
    with pytest.raises(OSError, match=f"HepMC3 file {re.escape(str(truncated))} is truncated"):
        delphes.simulate_hepmc_file(truncated, tmp_path / "out" / "cut.root", "qcd", 0, SEED, 0.4, record)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["complete.root"]
    assert hepmc.count_events(complete) == 3


def test_a_missing_tool_stops_the_job_naming_the_record(tmp_path):
    record = tmp_path / "tools" / "delphes.json"
    install_tools.write_record({"tool": "delphes", "prefix": str(tmp_path / "gone")}, record)
    result = subprocess.run([sys.executable, "-m", "workflow_scripts.detector.delphes", "--card", str(tmp_path / "x.cmnd"),
                             "--events", "1", "--output", str(tmp_path / "x.root"), "--sample", "s", "--chunk", "0",
                             "--seed", "1", "--jet-radius", "0.4", "--tool", str(record)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0
    assert f"{record} names {tmp_path / 'gone'}, which is no longer a complete delphes install" in result.stderr
    assert "rule install_delphes rebuilds it" in result.stderr and not (tmp_path / "x.root").exists()


def test_a_tool_that_fails_to_build_stops_the_run_naming_rule_and_log(tmp_path):
    empty = tmp_path / "no_sources"
    empty.mkdir()
    overlay = tmp_path / "sources.yaml"
    overlay.write_text(f"tools: {{source_dir: {json.dumps(str(empty))}}}\n")
    result = snakemake(tmp_path / "run", "tools/delphes.json", "--configfile", str(TINY), str(REAL_STACK), str(overlay),
                       timeout=300)
    assert result.returncode != 0
    assert "Error in rule install_delphes" in result.stderr and "logs/install_delphes.log" in result.stderr
    log = (tmp_path / "run" / "logs" / "install_delphes.log").read_text()
    assert f"no delphes source in {empty}" in log
    assert not (tmp_path / "run" / "tools" / "delphes.json").exists()


# --- the generator image: built by podman, run by Snakemake's own container mechanism ----------------------------
#
# Snakemake 9 speaks only apptainer (--sdm apptainer), which Debian 12 does not package; tests/external/apptainer_adapter
# stands in for it with podman. The fixtures podman, base_image and built_image (conftest.py) set podman up, make a
# Debian 12 base with mmdebstrap (no registry can be reached here) and build the image; these tests run last.

ADAPTER = ROOT / "tests" / "external" / "apptainer_adapter"
def container_snakemake(workdir, image, *targets, env):
    """A run whose MadGraph and Delphes jobs run in `image`, with no tools on the host to fall back on."""
    overlay = workdir / "image.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    overlay.write_text(f"containers: {{generators: {json.dumps(image)}}}\n")
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(TINY), str(REAL_STACK), str(overlay), "--cores", "2", *targets, "--sdm", "apptainer"]
    environment = {key: value for key, value in env.items() if key != install_tools.SOURCE_DIR_VARIABLE}
    environment |= {"PATH": f"{ADAPTER}{os.pathsep}{env['PATH']}",
                    install_tools.CACHE_VARIABLE: str(workdir / "no-tools-here")}
    return subprocess.run(command, capture_output=True, text=True, timeout=1500, env=environment)


def test_the_image_builds_keyed_by_its_context_and_a_rebuild_reuses_it(built_image, base_image):
    assert built_image["tag"] == f"{generator_image.IMAGE_NAME}:{built_image['key']}"
    assert re.fullmatch(r"docker://localhost/weak-supervision-generators:[0-9a-f]{16}@sha256:[0-9a-f]{64}",
                        built_image["reference"])
    again = io.StringIO()
    assert generator_image.build("podman", source_dir=SOURCE_DIR, base_image=base_image, log=again) == built_image
    assert "reusing it" in again.getvalue()
    listing = subprocess.run(["podman", "run", "--rm", built_image["tag"], "bash", "-c",
                              "ls /run/secrets; python -c 'import ROOT, pythia8mc, workflow_scripts; print(workflow_scripts.__file__)';"
                              " ls /opt/tools; cat $PIPELINE_IMAGE_KEY_FILE"], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert "ca" not in listing.stdout.split()  # the build secret stays out of the image
    assert "/opt/pipeline/workflow_scripts/__init__.py" in listing.stdout  # the code is in the image
    assert {"delphes.json", "madgraph.json"} <= set(listing.stdout.split()) and built_image["key"] in listing.stdout


@pytest.fixture(scope="session")
def image_run(stack_run, built_image, podman, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("image_run")
    targets = [path for sample in STACK_SAMPLES for path in events_files(sample)]
    result = container_snakemake(workdir, built_image["reference"], *targets, env=podman)
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir


def test_the_chain_in_the_image_gives_the_native_runs_outputs(image_run, stack_run, built_image):
    # The jobs ran in the image (their logs name its key), and the host built nothing.
    for log in ["logs/madgraph_gridpack/mg_qcd_delphes.log", "logs/madgraph_events/mg_qcd_delphes/chunk0.log",
                "logs/simulate_delphes/hv_delphes/chunk1.log"]:
        assert f"from the generator image {built_image['key']}" in (image_run / log).read_text(), log
        assert "from the generator image" not in (stack_run / log).read_text()
    assert not (image_run / "tools").exists() and not (image_run / "no-tools-here").exists()
    # Same seeds, same bytes: the LHE, Delphes ROOT and Parquet files.
    compared = [path.relative_to(stack_run) for path in sorted((stack_run / "results").rglob("*"))
                if path.suffix in (".parquet", ".root") or path.name.endswith(".lhe.gz")]
    assert len(compared) >= 11
    for relative in compared:
        assert (image_run / relative).read_bytes() == (stack_run / relative).read_bytes(), relative
    for sample in ("mg_qcd_delphes", "mg_z_embedded"):
        native, contained = gridpack_record(stack_run, sample), gridpack_record(image_run, sample)
        assert contained["cross_section_pb"] == native["cross_section_pb"]


def test_the_generator_image_target_saves_the_built_image_for_apptainer(built_image, base_image, podman, tmp_path):
    """`snakemake generator_image` with the same context finds the image built and saves it as a docker-archive file,
    the input of `apptainer build generators.sif docker-archive:...`."""
    overlay = tmp_path / "build.yaml"
    overlay.write_text(yaml.safe_dump({"containers": {"build": {"base_image": base_image}},
                                       "tools": {"source_dir": str(SOURCE_DIR)}}))
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(TINY), str(overlay), "--cores", "2", "generator_image"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=podman)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reusing it" in (tmp_path / "logs" / "generator_image.log").read_text()
    record = json.loads((tmp_path / "results" / "images" / "generators.json").read_text())
    assert record["reference"] == built_image["reference"] and record["archive"] == "results/images/generators.tar"
    with tarfile.open(tmp_path / "results" / "images" / "generators.tar") as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        config = json.load(archive.extractfile(manifest[0]["Config"]))
    assert manifest[0]["RepoTags"] == [built_image["tag"]]
    assert manifest[0]["Config"].startswith(built_image["image_id"].removeprefix("sha256:"))  # the image, not another
    assert f"{install_tools.RECORDS_VARIABLE}=/opt/tools" in config["config"]["Env"]
    assert not [path.name for path in (tmp_path / "results" / "images").iterdir() if path.name.startswith(".")]


def test_an_image_without_a_tool_stops_the_job_naming_image_and_tool(built_image, podman, tmp_path):
    """An image that lacks Delphes: the job stops, naming the image and the tool, and leaves no output."""
    recipe = tmp_path / "context" / "Dockerfile"
    recipe.parent.mkdir()
    recipe.write_text(f"FROM {built_image['tag']}\nRUN rm /opt/tools/delphes.json\n")
    tag = f"{generator_image.IMAGE_NAME}-without-delphes:test"
    subprocess.run(["podman", "build", "--quiet", "--tag", tag, str(recipe.parent)], check=True, capture_output=True)
    digest = generator_image.image_digest("podman", generator_image.inspect("podman", tag))
    target = "results/delphes/hv_delphes/chunk0.root"
    result = container_snakemake(tmp_path / "run", f"docker://{tag}@{digest}", target, env=podman)
    assert result.returncode != 0 and "Error in rule simulate_delphes" in result.stderr
    log = (tmp_path / "run" / "logs" / "simulate_delphes" / "hv_delphes" / "chunk0.log").read_text()
    assert f"the generator image {built_image['key']}" in log
    assert "has no delphes: /opt/tools/delphes.json does not exist" in log
    assert not (tmp_path / "run" / target).exists()


def test_a_failed_build_leaves_no_tag_and_no_record(built_image, base_image, tmp_path):
    """A recipe that fails after its first steps: the engine ran, but no tag or build record says it built."""
    repository = tmp_path / "checkout"
    generator_image.assemble_context(generator_image.context_files(ROOT), repository, "unused")
    recipe = repository / generator_image.DOCKERFILE
    failing = recipe.read_text().replace("ENV VIRTUAL_ENV=", "RUN echo 'a step that fails' && false\nENV VIRTUAL_ENV=", 1)
    recipe.unlink()  # linked to the checkout's recipe: replace it, never write through it
    recipe.write_text(failing)
    cache = tmp_path / "records"
    log = io.StringIO()
    with pytest.raises(generator_image.ImageError, match="podman failed to build the generator image"):
        generator_image.build("podman", repository=repository, base_image=base_image, cache=cache, log=log)
    key = generator_image.context_key(generator_image.context_files(repository), base_image)
    assert key != built_image["key"]
    assert generator_image.inspect("podman", f"{generator_image.IMAGE_NAME}:{key}") is None
    assert not (cache / f"podman-{key}.json").exists() and not list(cache.glob("context-*"))


# --- detector closure: the embedded simulation against Delphes on the same events ---------------------------------

def closure_table(workdir):
    return pd.read_csv(workdir / "results" / "metrics" / "validation" / "detector_closure.csv")


def test_closure_target_passes_for_the_embedded_simulation_and_fails_on_a_three_percent_shift(tool_records, tmp_path):
    nominal = snakemake(tmp_path, "closure", overlays=[CLOSURE])
    assert nominal.returncode == 0, nominal.stderr[-6000:]
    table = closure_table(tmp_path)
    assert set(table["sample"]) == {"closure_qcd", "closure_hv"}
    # Each sample's own detector file is reused; the other detector ran on the same events under results/closure/.
    assert (tmp_path / "results/closure/delphes/closure_qcd/chunk0.root").is_file()
    assert (tmp_path / "results/closure/embedded/closure_hv/chunk0.root").is_file()
    assert not (tmp_path / "results/closure/embedded/closure_qcd").exists()
    for figure in ("detector_closure.pdf", "detector_closure.png"):
        assert (tmp_path / "results" / "figures" / "validation" / figure).stat().st_size > 10_000
    judged = table[table.within_tolerance.notna()]
    assert len(judged) == 2 * 8 and not closure.failures(table).size, closure.failures(table).to_string()
    # Physics: both detectors respond alike to the same jets, and Delphes' generator jets give both a response.
    response = table[(table.quantity == "jet_response") & (table.bin_low >= 500)]
    assert len(response) > 0 and response.delphes.between(0.95, 1.05).all() and response.ratio.between(0.97, 1.03).all()
    auc = table[table.quantity == "two_sample_auc"].set_index("sample").ratio
    assert auc.between(0.3, 0.7).all()

    shifted = snakemake(tmp_path, "closure", overlays=[CLOSURE, CLOSURE_SHIFTED])
    assert shifted.returncode == 0, shifted.stderr[-6000:]
    assert "closure_delphes" not in shifted.stdout + shifted.stderr  # Delphes' files did not change
    after = closure_table(tmp_path).set_index(["sample", "quantity"])
    before = table.set_index(["sample", "quantity"])
    for sample in ("closure_qcd", "closure_hv"):
        rows = after.loc[sample]
        assert float(rows.loc["leading_jet_pt", "ratio"]) == pytest.approx(1.03 * float(before.loc[(sample, "leading_jet_pt"), "ratio"]),
                                                                          abs=0.006)
        assert not bool(rows.loc["leading_jet_pt", "within_tolerance"]) and not bool(rows.loc["mjj", "within_tolerance"])
        assert bool(rows.loc["constituents", "within_tolerance"])  # the shift touches jet energies, not constituents
