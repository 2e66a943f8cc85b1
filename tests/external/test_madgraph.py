"""MadGraph cards: what they ask for (CWoLa Table 1b, Cohen et al. section 5, a user's `madgraph:` block), checked
against the run card MadGraph 3.5.8 itself wrote into the header of a real LHE file; and the chunk driver's checks,
with a stand-in gridpack (MadGraph itself runs in tests/external/test_real_stack.py)."""

import gzip
import io
import json
import subprocess
import tarfile
import sys
from pathlib import Path

import pytest
import re
import yaml

from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.external import madgraph

ROOT = Path(__file__).resolve().parents[2]
SHARED_LHE = ROOT.parent / "shared" / "data" / "madgraph5-3.5.8-pp_to_jj.lhe.gz"
LHE = SHARED_LHE if SHARED_LHE.is_file() else ROOT / "tests" / "data" / "madgraph5-3.5.8-pp_to_jj.lhe.gz"

CWOLA_BACKGROUND = {"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000, "parton_abs_eta_max": 2.2}
Z_NUNU_SLICE = {"process": "z_nunu_jet", "pt_hat_min_gev": 150, "pt_hat_max_gev": 400}
GLUINOS = {"process": "gluino_pair", "gluino_mass_gev": 2000, "neutralino_mass_gev": 1.0, "squark_mass_gev": 5000}


def cards(sample, cores=8):
    return madgraph.gridpack_cards("sample", madgraph.process_definition(sample), 13000,
                                   madgraph.madgraph_seed(11, "sample", "gridpack"), cores)


@pytest.fixture(scope="module")
def madgraph_run_card():
    return madgraph.run_card_from_lhe(LHE)


def test_header_run_card_is_madgraphs_own(madgraph_run_card):
    """The parser reads MadGraph's `value = key ! comment` lines, values with '=' and empty values included."""
    assert madgraph.madgraph_version_from_lhe(LHE) == "3.5.8"
    assert madgraph_run_card["nevents"] == "1000" and madgraph_run_card["iseed"] == "21"
    assert madgraph_run_card["ebeam1"] == "6500.0" and madgraph_run_card["ptj"] == "20.0"
    assert madgraph_run_card["systematics_arguments"] == "['--mur=0.5,1,2', '--muf=0.5,1,2', '--pdf=errorset']"
    assert madgraph_run_card["custom_fcts"] == ""
    assert madgraph.count_lhe_events(LHE) == 1000


@pytest.mark.parametrize("sample", [CWOLA_BACKGROUND, Z_NUNU_SLICE, GLUINOS], ids=["qcd_dijet", "z_nunu_jet", "gluino_pair"])
def test_every_rendered_run_card_key_exists_in_madgraph_3_5_8_with_a_compatible_type(sample, madgraph_run_card):
    rendered = madgraph.rendered_run_settings(cards(sample).run)
    assert {"gridpack", "iseed", "ebeam1", "ebeam2", "lpp1", "lpp2"} <= set(rendered)
    for key, value in rendered.items():
        assert key in madgraph_run_card, f"MadGraph 3.5.8's run card has no key {key!r}"
        assert madgraph.compatible(value, madgraph_run_card[key]), (key, value, madgraph_run_card[key])


def test_type_check_rejects_what_madgraph_would_not_convert():
    assert madgraph.compatible("700", "20.0") and madgraph.compatible("700.0", "20.0")
    assert not madgraph.compatible("1000.0", "1000")  # a float for an integer entry
    assert not madgraph.compatible("1", "True") and not madgraph.compatible("nn23lo1", "5.0")
    assert madgraph.value_type("{'default': False}") == "dict" and madgraph.value_type("['a=1']") == "list"


def test_cwola_background_is_table_1b(madgraph_run_card):
    rendered = cards(CWOLA_BACKGROUND)
    assert "import model sm\ngenerate p p > j j\n" in rendered.process
    settings = madgraph.rendered_run_settings(rendered.run)
    assert (settings["ptj"], settings["etaj"], settings["mmjj"]) == ("700.0", "2.2", "3000.0")
    assert (settings["ebeam1"], settings["ebeam2"], settings["lpp1"], settings["lpp2"]) == ("6500.0", "6500.0", "1", "1")
    assert settings["gridpack"] == "True" and "nevents" not in settings  # a survey; each chunk asks for its own events
    assert settings["iseed"] == str(derive_seed(11, "madgraph", "sample", "gridpack"))


def test_session_options_relative_process_directory_and_launch_order():
    rendered = cards(CWOLA_BACKGROUND, cores=6)
    lines = rendered.script.splitlines()
    # No update check (compute nodes have no network); session options only, never saved into the shared install.
    assert "set auto_update 0 --no_save" in lines
    assert "set nb_core 6 --no_save" in lines and "set run_mode 2 --no_save" in lines
    assert all(line.endswith("--no_save") for line in lines if line.startswith("set ") and not line.startswith(("set run_card", "set param_card")))
    # A relative process directory: MadGraph copies these cards into every LHE header, which must hold no scratch path.
    assert lines.index("set nb_core 6 --no_save") < lines.index("output process -nojpeg")  # the process directory inherits it
    launch = lines.index("launch process")
    assert lines.index("output process -nojpeg") < launch and "/" not in rendered.script.replace("# ", "")
    assert lines[launch + 1] == "done" and lines[-1] == "done"  # default switches, then the card answers
    assert all(line.startswith(("set run_card", "set param_card")) for line in lines[launch + 2:-1])


def test_sample_of_the_shared_file_asks_for_what_that_file_was_made_with(madgraph_run_card):
    """The dry-run/LHE test sample pp_jj is configured with the shared file's generator settings, so that
    file stands in for what our MadGraph rule writes for it."""
    overlay = yaml.safe_load((ROOT / "tests" / "configs" / "real_stack.yaml").read_text())
    sample = overlay["generation"]["samples"]["pp_jj"]
    settings = madgraph.run_card_settings(madgraph.process_definition(sample), 13000, 21)
    for key, value in settings.items():
        if key not in ("use_syst", "gridpack"):  # our cards switch the LHAPDF-based reweighting off, and make gridpacks
            reference = madgraph_run_card[key]
            assert (float(reference) == value) if isinstance(value, float) else (reference == str(value)), key


def test_z_nunu_slice_cuts_the_jet_and_so_the_missing_energy():
    rendered = cards(Z_NUNU_SLICE)
    assert "generate p p > z j, z > vl vl~" in rendered.process
    settings = madgraph.rendered_run_settings(rendered.run)
    assert (settings["ptj"], settings["ptjmax"]) == ("150.0", "400.0")
    assert "ptjmax" not in madgraph.rendered_run_settings(cards({"process": "z_nunu_jet", "pt_hat_min_gev": 400}).run)


def test_gluino_cards_set_spectrum_and_compute_the_gluino_width():
    rendered = cards(GLUINOS)
    assert "import model MSSM_SLHA2" in rendered.process
    assert "define qfirst = u u~ d d~\ngenerate p p > go go, go > qfirst qfirst n1" in rendered.process
    lines = rendered.run.splitlines()
    assert "set param_card mass 1000021 2000.0" in lines and "set param_card mass 1000022 1.0" in lines
    squarks = [line for line in lines if line.startswith("set param_card mass") and line.split()[3][1:3] == "00"
               and line.split()[3] not in ("1000021", "1000022")]
    assert len(squarks) == 12 and all(line.endswith(" 5000.0") for line in squarks)
    assert lines.index("set param_card decay 1000021 auto") > lines.index("set param_card mass 1000021 2000.0")
    assert "ptj" not in madgraph.rendered_run_settings(rendered.run)  # no generator cut on the signal (as the paper)


def test_processes_without_madgraph_definition_are_refused():
    with pytest.raises(ValueError, match="'hidden_valley' has no MadGraph definition"):
        cards({"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10})


def test_iseed_follows_the_chunk_seed_scheme_within_madgraphs_range():
    seeds = {(sample, chunk): madgraph.madgraph_seed(20180701, sample, chunk) for sample in ("a", "b") for chunk in range(50)}
    assert len(set(seeds.values())) == len(seeds)
    assert all(0 < seed < 30081 * 30081 for seed in seeds.values())
    assert madgraph.madgraph_seed(20180701, "a", 3) == madgraph.madgraph_seed(20180701, "a", 3)
    assert madgraph.madgraph_seed(20180701, "a", 3) != derive_seed(20180701, "generate", "a", 3)  # not Pythia's stream


def test_unreadable_lhe_files_are_named(tmp_path):
    no_header = tmp_path / "plain.lhe"
    no_header.write_text('<LesHouchesEvents version="3.0">\n<init>\n</init>\n</LesHouchesEvents>\n')
    with pytest.raises(ValueError, match="plain.lhe has no complete <header>"):
        madgraph.run_card_from_lhe(no_header)
    truncated = tmp_path / "cut.lhe.gz"
    truncated.write_bytes(LHE.read_bytes()[: len(LHE.read_bytes()) // 2])
    with pytest.raises(OSError, match="cut.lhe.gz"):
        madgraph.count_lhe_events(truncated)
    with pytest.raises(FileNotFoundError, match="missing.lhe.gz"):
        madgraph.run_card_from_lhe(tmp_path / "missing.lhe.gz")


def test_cards_command_writes_both_cards(tmp_path):
    command = [sys.executable, "-m", "workflow_scripts.external.madgraph", "cards", "--sample", "qcd_dijet", "--settings",
               '{"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000}', "--seed", "5", "--sqrt-s-gev",
               "13000", "--cores", "3", "--directory", str(tmp_path)]
    subprocess.run(command, check=True, cwd=ROOT)
    assert "set nb_core 3 --no_save" in (tmp_path / "proc_card.mg5").read_text()
    run = madgraph.rendered_run_settings((tmp_path / "run_card.mg5").read_text())
    assert run["iseed"] == str(madgraph.madgraph_seed(5, "qcd_dijet", "gridpack")) and run["gridpack"] == "True"


# --- a user's process ---------------------------------------------------------------------------------------------

HEAVY_SCALAR = {"process": "madgraph", "generator": "madgraph", "madgraph": {
    "model": "hgg_plugin", "define": ["q = u d s c u~ d~ s~ c~"], "processes": ["p p > h > g g", "q q > h > g g"],
    "decays": {25: 50.0}, "run_card": {"ptj": 500.0, "etaj": 2.5}, "param_card": {"mass": {25: 5000.0}}}}


def test_a_user_process_renders_model_definitions_processes_widths_and_cards():
    rendered = cards(HEAVY_SCALAR)
    assert ("import model hgg_plugin\ndefine q = u d s c u~ d~ s~ c~\ngenerate p p > h > g g\nadd process q q > h > g g\n"
            in rendered.process)
    lines = rendered.run.splitlines()
    assert lines.index("set param_card mass 25 5000.0") < lines.index("set param_card decay 25 50.0")
    settings = madgraph.rendered_run_settings(rendered.run)
    assert (settings["ptj"], settings["etaj"], settings["ebeam1"]) == ("500.0", "2.5", "6500.0")


def test_a_ufo_model_by_path_is_imported_from_the_jobs_copy_and_hashed_without_madgraphs_caches(tmp_path):
    ufo = tmp_path / "models" / "my_model"
    ufo.mkdir(parents=True)
    (ufo / "particles.py").write_text("# particles\n")
    definition = {"model": "models/my_model", "processes": ["p p > z"]}
    assert madgraph.user_model(definition, tmp_path) == ufo
    assert "import model ./models/my_model" in madgraph.process_commands(definition)  # the scratch copy, not the user's
    digest = madgraph.model_digest(ufo)
    (ufo / "py3_model.pkl").write_bytes(b"MadGraph's cache")
    (ufo / "README.md").write_text("what the model is\n")
    assert madgraph.model_digest(ufo) == digest
    (ufo / "particles.py").write_text("# particles, changed\n")
    assert madgraph.model_digest(ufo) != digest
    assert madgraph.user_model({"model": "sm", "processes": ["p p > z"]}, tmp_path) is None
    with pytest.raises(FileNotFoundError, match="MadGraph model directory models/missing_ufo does not exist"):
        madgraph.user_model({"model": "models/missing_ufo", "processes": ["p p > z"]}, tmp_path)
    with pytest.raises(FileNotFoundError, match="models/my_model has no write_param_card.py, which MadGraph needs"):
        madgraph.user_model(definition | {"decays": {32: "auto"}}, tmp_path)
    (ufo / "write_param_card.py").write_text("# writes the param card\n")
    assert madgraph.user_model(definition | {"decays": {32: "auto"}}, tmp_path) == ufo


def test_run_card_keys_are_checked_against_madgraphs_own_and_the_workflows_are_refused():
    known = {"ptj", "etaj", "mmjj", "iseed", "nevents", "gridpack"}
    madgraph.check_run_card_keys("signal", {"run_card": {"PTJ": 10.0, "mmjj": 100.0}}, known)
    with pytest.raises(ValueError, match=r"sample signal: 'ptjj' is not a key of MadGraph's run card \(config key "
                                         r"generation.samples.signal.madgraph.run_card\)"):
        madgraph.check_run_card_keys("signal", {"run_card": {"ptjj": 10.0}}, known)
    with pytest.raises(ValueError, match="'iseed' is set by the workflow"):
        madgraph.check_run_card_keys("signal", {"run_card": {"iseed": 3}}, known)


# What MadGraph 3.5.7 printed for `generate p p > go go` in the sm, for an unknown run-card key, and for writing a
# process of its hgg_plugin test model (it exits with 0 after each).
MADGRAPH_OUTPUT = """generate p p > go go
\x1b[1;31mCommand "import /tmp/x/madgraph.mg5" interrupted in sub-command:
"generate p p > go go" with error:
InvalidCmd : No particle go in model\x1b[0m
\x1b[1;34mcommand not executed: output process -nojpeg\x1b[0m
set run_card nonsensekey 5
\x1b[1;34mWARNING: invalid set command run_card nonsensekey 5  \x1b[0m
\x1b[1;31mError detected in sub-command output process -nojpeg
str : Unable to evaluate mdl_MW = cmath.sqrt(mdl_MZ__exp__2/2.): raise error: name 'mdl_aEW' is not defined\x1b[0m
"""


def test_madgraphs_refusals_are_found_in_its_output():
    assert madgraph.madgraph_complaints(MADGRAPH_OUTPUT) == [
        '"generate p p > go go": InvalidCmd : No particle go in model', "invalid set command run_card nonsensekey 5",
        '"output process -nojpeg": str : Unable to evaluate mdl_MW = cmath.sqrt(mdl_MZ__exp__2/2.): raise error: name '
        "'mdl_aEW' is not defined"]
    assert madgraph.madgraph_complaints("INFO: gridpack created\nquit\n") == []


def test_lhe_cross_section_is_the_init_blocks_and_can_be_set_to_the_surveys():
    assert madgraph.lhe_cross_section(LHE)[0] == pytest.approx(float(re.search(r"<init>\s*\n[^\n]*\n\s*(\S+)",
                                                                               gzip.open(LHE, "rt").read())[1]))
    text = gzip.open(LHE, "rt").read()
    rewritten = madgraph.with_cross_section(text, 123.0, 0.5, LHE)
    events = lambda t: t[t.index("<event>"):]  # noqa: E731
    assert events(rewritten) == events(text) and rewritten.count("<init>") == 1
    stated = re.search(r"<init>\s*\n[^\n]*\n\s*(\S+)\s+(\S+)", rewritten)
    assert (float(stated[1]), float(stated[2])) == (123.0, 0.5)
    # Two processes in the <init> block: the total is shared out in their proportion, the errors in quadrature.
    block = re.search(r"<init>\n(.*?)</init>", text, re.S)[1]
    init = block.splitlines()
    beam, process = init[0].rsplit(" ", 1)[0] + " 2", init[1]
    doubled = text.replace(block, "\n".join([beam, process, process.replace(process.split()[0], "3.0e+00", 1), *init[2:]]) + "\n")
    scaled = madgraph.with_cross_section(doubled, 10.0, 0.3, LHE)
    lines = re.search(r"<init>\n(.*?)</init>", scaled, re.S)[1].splitlines()[1:3]
    values = [(float(line.split()[0]), float(line.split()[1])) for line in lines]
    assert sum(x for x, _ in values) == pytest.approx(10.0) and sum(e * e for _, e in values) ** 0.5 == pytest.approx(0.3)
    assert values[1][0] / values[0][0] == pytest.approx(3.0 / float(process.split()[0]), rel=1e-5)  # shares kept


def stand_in_gridpack(tmp_path, body):
    """A gridpack whose madevent/bin/gridrun is a small program in place of MadGraph's, to exercise the chunk driver's
    checks (the real one runs in tests/external/test_real_stack.py)."""
    program = f"import gzip, pathlib, shutil, sys\nn_events, seed = int(sys.argv[1]), sys.argv[2]\n{body}\n"
    archive = tmp_path / "stand_in.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("madevent/bin/gridrun")
        info.size, info.mode = len(program.encode()), 0o755
        tar.addfile(info, io.BytesIO(program.encode()))
    record = tmp_path / "stand_in.json"
    record.write_text(json.dumps({"cross_section_pb": 42.0, "cross_section_error_pb": 0.5, "generator": "MadGraph5_aMC 3.5.7",
                                  "gridpack_sha256": madgraph.install_tools.sha256_of(archive)}))
    return archive, record


# Writes the first n_events events of the shared file where MadGraph's grid run leaves its events.
FIRST_EVENTS = f"""
text = gzip.open({str(LHE)!r}, "rt").read()
head, events = text.split("<event>", 1)
kept = "<event>" + "<event>".join(events.split("<event>")[:n_events])
if "</LesHouchesEvents>" not in kept:
    kept += "</LesHouchesEvents>\\n"
target = pathlib.Path("madevent/Events/GridRun_" + seed)
target.mkdir(parents=True)
with gzip.open(target / "unweighted_events.lhe.gz", "wt") as out:
    out.write(head + kept.split("</event>")[0] + "".join("</event>" + part for part in kept.split("</event>")[1:]))
"""
TOOL = {"python": sys.executable, "prefix": "/nonexistent", "programs": {}}


def test_a_chunk_from_a_gridpack_has_its_seed_the_surveys_cross_section_and_reproducible_bytes(tmp_path):
    archive, record = stand_in_gridpack(tmp_path, FIRST_EVENTS)
    output = tmp_path / "results" / "lhe" / "pp_jj" / "chunk4.lhe.gz"
    output.parent.mkdir(parents=True)
    (output.parent / ".chunk4.lhe.gz.999.part").write_bytes(b"left by a killed job")
    metadata = madgraph.generate_from_gridpack(archive, record, "pp_jj", 4, 20, 9, output, TOOL, tmp_path)
    assert metadata["iseed"] == madgraph.madgraph_seed(9, "pp_jj", 4) and metadata["n_events"] == 20
    assert madgraph.count_lhe_events(output) == 20 and madgraph.lhe_cross_section(output) == pytest.approx((42.0, 0.5))
    assert [path.name for path in output.parent.iterdir()] == ["chunk4.lhe.gz"]  # nothing partial left, the stale one gone
    assert not list(tmp_path.glob("madgraph-pp_jj-chunk4-*"))  # scratch removed
    again = tmp_path / "again.lhe.gz"
    madgraph.generate_from_gridpack(archive, record, "pp_jj", 4, 20, 9, again, TOOL, tmp_path)
    assert again.read_bytes() == output.read_bytes()  # gzip without a time stamp or name


def test_a_chunk_with_too_few_events_is_an_error_naming_it(tmp_path):
    archive, record = stand_in_gridpack(tmp_path, FIRST_EVENTS.replace("[:n_events]", "[:n_events - 3]"))
    output = tmp_path / "chunk2.lhe.gz"
    with pytest.raises(madgraph.MadGraphError, match="gave 7 of the 10 events asked for sample pp_jj chunk 2"):
        madgraph.generate_from_gridpack(archive, record, "pp_jj", 2, 10, 9, output, TOOL, tmp_path)
    assert not output.exists() and not list(tmp_path.glob(".chunk2*"))


def test_a_failed_grid_run_and_a_foreign_gridpack_are_named(tmp_path):
    archive, record = stand_in_gridpack(tmp_path, 'print("Command \\"refine\\" interrupted with error:\\nZeroDivisionError")\nsys.exit(3)')
    with pytest.raises(madgraph.MadGraphError, match=r"(?s)no events for sample pp_jj chunk 0 \(exit code 3\).*ZeroDivisionError"):
        madgraph.generate_from_gridpack(archive, record, "pp_jj", 0, 10, 9, tmp_path / "chunk0.lhe.gz", TOOL, tmp_path)
    (tmp_path / "other").mkdir()
    other, _ = stand_in_gridpack(tmp_path / "other", FIRST_EVENTS + "\n# another")
    with pytest.raises(ValueError, match="is not the gridpack .* describes"):
        madgraph.generate_from_gridpack(other, record, "pp_jj", 0, 10, 9, tmp_path / "chunk0.lhe.gz", TOOL, tmp_path)
