"""MadGraph cards: what they ask for (CWoLa Table 1b, Cohen et al. section 5), checked against the run card
MadGraph 3.5.8 itself wrote into the header of a real LHE file."""

import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.external import madgraph

ROOT = Path(__file__).resolve().parents[2]
SHARED_LHE = ROOT.parent / "shared" / "data" / "madgraph5-3.5.8-pp_to_jj.lhe.gz"
LHE = SHARED_LHE if SHARED_LHE.is_file() else ROOT / "tests" / "data" / "madgraph5-3.5.8-pp_to_jj.lhe.gz"

CWOLA_BACKGROUND = {"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000, "parton_abs_eta_max": 2.2}
Z_NUNU_SLICE = {"process": "z_nunu_jet", "pt_hat_min_gev": 150, "pt_hat_max_gev": 400}
GLUINOS = {"process": "gluino_pair", "gluino_mass_gev": 2000, "neutralino_mass_gev": 1.0, "squark_mass_gev": 5000}


def cards(sample, chunk=3, n_events=5000, cores=8, process_dir="/scratch/chunk3/process"):
    return madgraph.madgraph_cards("sample", sample, chunk, 13000, n_events, madgraph.madgraph_seed(11, "sample", chunk),
                                   cores, process_dir)


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
    assert {"nevents", "iseed", "ebeam1", "ebeam2", "lpp1", "lpp2"} <= set(rendered)
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
    assert settings["nevents"] == "5000"
    assert settings["iseed"] == str(derive_seed(11, "madgraph", "sample", 3))


def test_session_options_scratch_directory_and_launch_order():
    rendered = cards(CWOLA_BACKGROUND, cores=6, process_dir="/tmp/job/process")
    lines = rendered.script.splitlines()
    # No update check (compute nodes have no network); session options only, never saved into the shared install.
    assert "set auto_update 0 --no_save" in lines
    assert "set nb_core 6 --no_save" in lines and "set run_mode 2 --no_save" in lines
    assert all(line.endswith("--no_save") for line in lines if line.startswith("set ") and not line.startswith(("set run_card", "set param_card")))
    assert lines.index("set nb_core 6 --no_save") < lines.index("output /tmp/job/process -nojpeg")  # the process directory inherits it
    launch = lines.index("launch /tmp/job/process")
    assert lines.index("output /tmp/job/process -nojpeg") < launch
    assert lines[launch + 1] == "done" and lines[-1] == "done"  # default switches, then the card answers
    assert all(line.startswith(("set run_card", "set param_card")) for line in lines[launch + 2:-1])


def test_sample_of_the_shared_file_asks_for_what_that_file_was_made_with(madgraph_run_card):
    """The dry-run/LHE test sample pp_jj is configured with the shared file's generator settings, so that
    file stands in for what our MadGraph rule writes for it."""
    overlay = yaml.safe_load((ROOT / "tests" / "configs" / "real_stack.yaml").read_text())
    sample = overlay["generation"]["samples"]["pp_jj"]
    settings = madgraph.run_card_settings(sample, 13000, 1000, 21)
    for key, value in settings.items():
        if key != "use_syst":  # MadGraph's default; our cards switch the LHAPDF-based reweighting off
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
               '{"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000}', "--chunk", "2", "--events", "100",
               "--seed", "5", "--sqrt-s-gev", "13000", "--cores", "3", "--directory", str(tmp_path)]
    subprocess.run(command, check=True, cwd=ROOT)
    assert "set nb_core 3 --no_save" in (tmp_path / "proc_card.mg5").read_text()
    run = madgraph.rendered_run_settings((tmp_path / "run_card.mg5").read_text())
    assert run["iseed"] == str(madgraph.madgraph_seed(5, "qcd_dijet", 2)) and run["nevents"] == "100"


def stand_in_madgraph(tmp_path, body):
    """An executable in place of mg5_aMC, to exercise the driver's checks (MadGraph itself needs the container)."""
    script = tmp_path / "mg5_aMC"
    script.write_text(f"#!{sys.executable}\nimport re, shutil, sys, pathlib\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_driver_installs_the_chunk_file_after_checking_its_seed(tmp_path):
    # Writes the shared file with the iseed the cards asked for, where MadGraph puts its events.
    body = f"""
text = open(sys.argv[1]).read()
process = pathlib.Path(re.search(r"^output (\\S+)", text, re.M)[1])
iseed = re.search(r"^set run_card iseed (\\d+)", text, re.M)[1]
import gzip
lhe = gzip.open({str(LHE)!r}, "rt").read().replace(" 21 = iseed", f" {{iseed}} = iseed", 1)
(process / "Events" / "run_01").mkdir(parents=True)
with gzip.open(process / "Events" / "run_01" / "unweighted_events.lhe.gz", "wt") as out:
    out.write(lhe)
"""
    output = tmp_path / "results" / "chunk4.lhe.gz"
    metadata = madgraph.generate_lhe("pp_jj", {"process": "qcd_dijet", "pt_hat_min_gev": 20, "m_hat_min_gev": 0}, 4, 1000, 9,
                                     13000, 2, output, tmp_path, stand_in_madgraph(tmp_path, body))
    assert metadata["iseed"] == madgraph.madgraph_seed(9, "pp_jj", 4) and metadata["n_events"] == 1000
    assert madgraph.run_card_from_lhe(output)["iseed"] == str(metadata["iseed"])
    assert metadata["generator"] == "MadGraph5_aMC 3.5.8"
    assert [path.name for path in output.parent.iterdir()] == ["chunk4.lhe.gz"]  # nothing partial left
    assert not list(tmp_path.glob("madgraph-pp_jj-chunk4-*"))  # scratch removed


def test_driver_reports_a_failed_run_with_madgraphs_debug_file(tmp_path):
    body = 'pathlib.Path("MG5_debug").write_text("Command \\"launch\\" interrupted: compilation failed")\nsys.exit(1)'
    output = tmp_path / "chunk0.lhe.gz"
    with pytest.raises(RuntimeError, match=r"(?s)sample pp_jj chunk 0 \(exit code 1.*compilation failed"):
        madgraph.generate_lhe("pp_jj", CWOLA_BACKGROUND, 0, 10, 9, 13000, 1, output, tmp_path, stand_in_madgraph(tmp_path, body))
    assert not output.exists()


def test_driver_refuses_events_made_with_another_seed(tmp_path):
    body = f"""
text = open(sys.argv[1]).read()
process = pathlib.Path(re.search(r"^output (\\S+)", text, re.M)[1])
(process / "Events" / "run_01").mkdir(parents=True)
shutil.copy({str(LHE)!r}, process / "Events" / "run_01" / "unweighted_events.lhe.gz")
"""
    with pytest.raises(RuntimeError, match="iseed 21, not the requested"):
        madgraph.generate_lhe("pp_jj", CWOLA_BACKGROUND, 0, 10, 9, 13000, 1, tmp_path / "chunk0.lhe.gz", tmp_path,
                              stand_in_madgraph(tmp_path, body))
