"""The tiny CI config pushed through Snakemake end to end: real rules, real code, in a virtual environment installed
exactly as the README's first command installs the project (so that the test extra cannot hide a dependency that
a user lacks: the report, for one, needs pygments)."""

import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from workflow_scripts.core import files

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "configs" / "tiny.yaml"

pytestmark = pytest.mark.workflow


def readme_install_command() -> list[str]:
    """The install half of the README's first command (`pip install -e . && snakemake --cores all`)."""
    block = re.search(r"^```bash\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M).group(1)
    install = block.splitlines()[0].split("&&")[0].strip()
    assert install.startswith("pip install "), install
    return shlex.split(install)


@pytest.fixture(scope="module")
def readme_install(tmp_path_factory, fresh_checkout):
    """A fresh checkout and a virtual environment with what the README's first command installs, and nothing else;
    returns (the checkout, the environment variables of a shell with the environment activated)."""
    base = tmp_path_factory.mktemp("readme_install")
    checkout = fresh_checkout(base / "checkout")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    environment = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}
    environment |= {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{environment.get('PATH', '')}"}
    pip, *arguments = readme_install_command()
    result = subprocess.run([str(venv / "bin" / pip), *arguments], cwd=checkout, env=environment, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return checkout, environment


def snakemake(install, workdir, *args, config=TINY):
    checkout, environment = install
    command = ["snakemake", "-s", str(checkout / "Snakefile"), "--directory", str(workdir), "--configfile", str(config),
               "--cores", "2", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=environment)


@pytest.fixture(scope="module")
def finished_run(readme_install, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny_run")
    result = snakemake(readme_install, workdir, "all")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


@pytest.fixture(scope="module")
def build(readme_install, finished_run):
    def build(relative):
        """Ask the finished run for one more file; return its path."""
        result = snakemake(readme_install, finished_run, relative)
        assert result.returncode == 0, result.stderr[-3000:]
        return finished_run / relative
    return build


def test_every_cohen2018_figure_is_drawn(finished_run):
    figures = finished_run / "results" / "figures" / "cohen2018"
    for name in ("fig04_roc", "fig05_label_scan", "fig06_background_efficiency", "fig07_outputs", "fig12_losses"):
        for ext in ("pdf", "png"):
            assert (figures / f"{name}.{ext}").stat().st_size > 5000


def test_summary_has_one_row_per_training(finished_run):
    summary = pd.read_csv(finished_run / "results" / "metrics" / "cohen2018_toy" / "summary.csv")
    config = yaml.safe_load(TINY.read_text())["cohen2018_toy"]
    n_runs = 1 + len(config["label_scan"]) + len(config["losses"]) - 1  # weak-bce at the true label is shared
    assert len(summary) == n_runs * config["trainings_per_run"]
    for column in ("auc", "bkg_eff_at_sig70", "bkg_eff_at_sig40", "class_flipped", "auc_gap_to_bayes", "seed", "label_b"):
        assert column in summary
    assert summary["auc"].between(0.5, 1.0).all()
    assert (summary["auc_gap_to_bayes"] > -0.02).all()  # nothing beats the likelihood ratio beyond test-set noise
    # Labelling the 0.7 set 0.2 inverts what the network learns.
    assert summary.loc[summary["run"] == "weak-bce-label0.2", "class_flipped"].all()
    assert not summary.loc[summary["run"] == "weak-bce-label0.7", "class_flipped"].any()


def test_lhc_table3_compares_full_and_weak_supervision(finished_run):
    table = pd.read_csv(finished_run / "results" / "metrics" / "cohen2018_lhc" / "table3.csv")
    assert sorted(set(table.supervision)) == ["full", "weak"] and (table.n_trainings == 2).all()
    assert table.auc_mean.between(0, 1).all()
    trainings = pd.read_csv(finished_run / "results" / "metrics" / "cohen2018_lhc" / "trainings.csv")
    weak = trainings[trainings.supervision == "weak"]
    assert (weak.label_a < weak.label_b).all()  # set B holds the larger share of the signal
    assert set(trainings.mismodelling) == {"none", "random", "swap"}
    table4 = pd.read_csv(finished_run / "results" / "metrics" / "cohen2018_lhc" / "table4.csv").set_index("mismodelling")
    assert table4.loc["none", "label_a_used"] == table4.loc["none", "true_fraction_a"]
    assert table4.loc["random", "label_b_used"] < table4.loc["random", "true_fraction_b"]  # signal lost to background
    roc = pd.read_csv(finished_run / "results" / "metrics" / "cohen2018_lhc" / "roc.csv")
    assert roc.groupby(["mismodelling", "supervision", "member"]).ngroups == 3 * 2 * 2
    for ext in ("pdf", "png"):
        assert (finished_run / "results" / "figures" / "cohen2018" / f"fig10_mismodelling.{ext}").stat().st_size > 5000


def test_lhc_combination_cuts_every_selection_at_equal_signal_and_draws_fig09_fig11(finished_run):
    metrics_dir = finished_run / "results" / "metrics" / "cohen2018_lhc"
    points = pd.read_csv(metrics_dir / "working_points.csv")
    config = yaml.safe_load(TINY.read_text())["cohen2018_lhc"]["combination"]
    assert sorted(set(points.signal_efficiency)) == sorted(config["signal_efficiencies"])
    events, metadata = files.read_table(metrics_dir / "evaluation_events.parquet")
    signal_fb = 1000 * events.weight_pb[(events.half == "eval") & (events.label == 1)].sum()
    for efficiency, point in points.groupby("signal_efficiency"):
        assert set(point.selection) == {"full", "weak", "combined"}
        # Every cut keeps at least the requested share of the signal cross section, and not all of it.
        assert (point.signal_fb >= efficiency * signal_fb * (1 - 1e-9)).all() and (point.signal_fb < signal_fb).all()
    assert set(events.half) == {"train", "eval"} and "background_files" in metadata
    # Each half carries each class's whole cross section.
    per_half = events.groupby(["half", "label"]).weight_pb.sum().unstack()
    np.testing.assert_allclose(per_half.loc["train"], per_half.loc["eval"], rtol=1e-9)
    for name in ("fig09_high_met", "fig11_combination"):
        for ext in ("pdf", "png"):
            assert (finished_run / "results" / "figures" / "cohen2018" / f"{name}.{ext}").stat().st_size > 5000


def test_the_scorecard_has_a_row_per_claim_of_the_configured_studies(finished_run):
    from workflow_scripts.studies import scorecard

    table = pd.read_csv(finished_run / "results" / "metrics" / "scorecard.csv")
    claims = scorecard.load_claims(ROOT / "papers" / "claims.yaml", studies=["cohen2018_toy", "cohen2018_lhc", "cwola"])
    assert list(table.claim) == [claim["id"] for claim in claims]
    assert table["where"].str.len().gt(4).all() and table.verdict.isin(
        [scorecard.AGREES, scorecard.DEVIATES, scorecard.UNTESTABLE, scorecard.INCONSISTENT]).all()
    for claim, row in zip(claims, table.itertuples()):
        if "finding" in claim:
            assert row.verdict == scorecard.INCONSISTENT
        elif claim["run"]["measure"] in ("mean_over_rows", "table_value", "set_fraction"):
            assert np.isfinite(row.run_value), row.claim  # every claim finds its rows: no typo in a selection
        if claim.get("paper_statistics"):  # tiny statistics test none of the paper's setups
            assert row.verdict == scorecard.UNTESTABLE and claim["tested_by"] in row.detail, row.claim
    for paper in ("cohen2018", "cwola"):  # the papers' own targets write their part
        assert not (finished_run / "results" / "metrics" / "scorecard" / f"{paper}.csv").exists()
    assert (finished_run / "results" / "metrics" / "scorecard.md").read_text().count("\n") == len(table) + 2


def test_report_holds_every_figure_with_its_caption(readme_install, finished_run):
    report = finished_run / "report.html"
    result = snakemake(readme_install, finished_run, "all", "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text()
    figures = [path.name for path in (finished_run / "results" / "figures").rglob("*.pdf")]
    assert len(figures) >= 12
    for name in figures:
        assert name in html, f"{name} is not in the report"
    # The front page says what was run: config files, seed, programs and their versions, samples.
    config = yaml.safe_load(TINY.read_text())
    for shown in ("This run", f"Seed: {config['seed']}", "Pythia 8 (pythia8mc) 8.", "tiny.yaml", "hv_id_lambda10"):
        assert shown in html, shown
    # Every reStructuredText part renders (Snakemake's Jinja2 trims block tags' newlines: a table that rendered as a
    # docutils error message would still hold every claim's name).
    assert "System Message" not in html
    # It opens with the scorecard, before the run's description.
    claims = pd.read_csv(finished_run / "results" / "metrics" / "scorecard.csv").claim
    assert all(claim in html for claim in claims)
    assert html.index(claims.iloc[0]) < html.index(f"Seed: {config['seed']}")
    # Each figure's caption names the claims it carries, with their verdicts.
    assert re.search(r"Scorecard claims this figure carries: <tt[^>]*>cohen2018\.lhc\.combination_reduction<", html)
    # Each paper figure's caption sets this run's statistics beside the paper's.
    toy, cwola = config["cohen2018_toy"], config["cwola"]
    for shown in (f"This run: {toy['trainings_per_run']} networks per setting",
                  f"This run: {cwola['background_sr_events']} expected background events in the signal region"):
        assert shown in html, shown
    # Each toy figure gets its own caption from the one caption file (wildcards rendered by Jinja2).
    for caption in ("Fig. 4: ROC curves", "Fig. 5. Left", "Fig. 6. Background efficiency", "Fig. 7. Network outputs",
                    "Fig. 12 (appendix A)"):
        assert caption in html, caption


REPORT_CATEGORIES = ["Scorecard", "Cohen 2018 toy model", "Cohen 2018 LHC", "CWoLa", "Validation"]


def browser():
    """A headless Chromium (Debian package `chromium`), or a skip; REQUIRE_BROWSER_TEST=1 (as in .ci/run) fails instead."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("REQUIRE_BROWSER_TEST") == "1":
        pytest.fail("REQUIRE_BROWSER_TEST=1 but no chromium on PATH (apt-get install chromium)")
    pytest.skip("no headless Chromium on PATH (apt-get install chromium)")


def test_report_opened_in_a_browser_shows_every_figure_with_its_caption(readme_install, finished_run, tmp_path):
    """The report is a JavaScript application: Chromium opens it, a small script (tests/workflow/report_harness.js)
    clicks through every category and every result's information panel, and the test reads what was shown."""
    chromium = browser()
    report = finished_run / "report.html"
    if not report.exists():
        assert snakemake(readme_install, finished_run, "all", "--report", str(report)).returncode == 0
    harness = (Path(__file__).parent / "report_harness.js").read_text().replace("CATEGORIES", json.dumps(REPORT_CATEGORIES))
    page = report.read_text()
    end = page.rfind("</body>")
    opened = tmp_path / "report_opened.html"
    opened.write_text(page[:end] + "<script>" + harness + "</script>" + page[end:])
    headless = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=120000"]
    shown = subprocess.run([*headless, "--dump-dom", opened.as_uri()], capture_output=True, text=True, timeout=300)
    rendered = re.findall(r'<pre id="rendered-report">(.*?)</pre>', shown.stdout, re.S)
    assert rendered, shown.stderr[-2000:]
    seen = json.loads(html.unescape(rendered[-1]))
    assert "error" not in seen, seen
    captions = {file: caption for files in seen.values() for file, caption in files.items()}
    figures = sorted(str(path.relative_to(finished_run)) for path in (finished_run / "results" / "figures").rglob("*.pdf"))
    assert len(figures) >= 14 and set(figures) <= set(captions), set(figures) - set(captions)
    for figure in figures:
        assert len(captions[figure]) > 80, (figure, captions[figure])  # a real caption, not an empty panel
    assert "reproduction scorecard" in seen["Scorecard"]["results/metrics/scorecard.csv"]
    for figure in figures:
        if "/cohen2018/fig" in figure or "/cwola/fig" in figure:
            number = int(re.search(r"fig(\d+)_", figure).group(1))
            assert f"Fig. {number}" in captions[figure], (figure, captions[figure])
    # A screenshot of the report as a reader first sees it: drawn, not blank.
    screenshot = tmp_path / "report.png"
    subprocess.run([*headless, "--window-size=1400,1000", f"--screenshot={screenshot}", report.as_uri()],
                   capture_output=True, timeout=300, check=True)
    from PIL import Image

    with Image.open(screenshot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert image.size == (1400, 1000) and colours is not None and len(colours) > 20


def test_finished_run_schedules_nothing(readme_install, finished_run):
    result = snakemake(readme_install, finished_run, "all", "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def test_same_seed_same_results(readme_install, finished_run, tmp_path):
    """A second run from nothing writes every file under results/ with the same bytes as the finished run (CPU, same
    thread count): cards, particles, the embedded detector's ROOT files, events, images, CWoLa's pseudo-experiments,
    models and metrics."""
    import hashlib

    toy_metrics = Path("results/metrics/cohen2018_toy/jobs/mae-1/metrics.csv")
    cwola_metrics = Path("results/metrics/cwola/cwola_trainings/hv_id_lambda10/25px/ssb2/trial1.csv")
    result = snakemake(readme_install, tmp_path, str(toy_metrics), str(cwola_metrics))
    assert result.returncode == 0, result.stderr[-3000:]

    def checksums(workdir):  # logs/ and benchmarks/ (times, resources) are outside results/ and not compared
        return {path.relative_to(workdir): hashlib.sha256(path.read_bytes()).hexdigest()
                for path in (workdir / "results").rglob("*") if path.is_file()}

    rerun, finished = checksums(tmp_path), checksums(finished_run)
    assert set(rerun) <= set(finished), sorted(map(str, set(rerun) - set(finished)))
    assert {path.suffix for path in rerun} >= {".cmnd", ".parquet", ".root", ".npy", ".pt", ".csv"}
    # The one exclusion: a training's metrics table holds its wall time (train_seconds), so such tables are compared
    # without that column.
    timing = ["train_seconds"]
    timed = {relative for relative in rerun
             if relative.suffix == ".csv" and set(timing) & set(pd.read_csv(tmp_path / relative, nrows=0).columns)}
    assert cwola_metrics in timed
    for relative in timed:
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / relative).drop(columns=timing, errors="ignore"),
                                      pd.read_csv(finished_run / relative).drop(columns=timing, errors="ignore"))
    assert sorted(str(relative) for relative in rerun if relative not in timed and rerun[relative] != finished[relative]) == []


def test_every_sample_chunk_is_generated_with_its_own_seed(finished_run):
    from workflow_scripts.core.files import read_awkward
    from workflow_scripts.generation.cards import configured_samples

    generation = yaml.safe_load(TINY.read_text())["generation"]
    chunks = sorted((finished_run / "results" / "particles").glob("*/chunk*.parquet"))
    expected = [f"{sample}/chunk{chunk}.parquet" for sample, entry in sorted(configured_samples(generation).items())
                for chunk in range(entry["chunks"])]
    assert [path.parent.name + "/" + path.name for path in chunks] == expected
    seeds = set()
    for path in chunks:
        events, metadata = read_awkward(path)
        entry = configured_samples(generation)[path.parent.name]
        assert len(events) == metadata["n_events"] == entry.get("events_per_chunk", generation["events_per_chunk"])
        seeds.add(metadata["seed"])
    assert len(seeds) == len(expected)
    card = (finished_run / "results" / "cards" / "hv_id_lambda10.cmnd").read_text()
    assert "HiddenValley:Lambda = 10" in card


def test_events_pass_the_cwola_selection_and_fig01_is_drawn(finished_run):
    from workflow_scripts.core.files import read_awkward

    for sample in ("qcd_dijet", "hv_id_lambda10"):
        events, metadata = read_awkward(finished_run / "results" / "events" / sample / "chunk0.parquet")
        assert metadata["selection"] == "cwola_dijet" and metadata["n_selected"] == len(events) > 0
        assert (events["jet_pt"][:, 1] > 750).to_numpy().all()
    for ext in ("pdf", "png"):
        assert (finished_run / "results" / "figures" / "cwola" / f"fig01_mjj.{ext}").stat().st_size > 5000
    check = pd.read_csv(finished_run / "results" / "metrics" / "cwola" / "generator_cut_check.csv")
    # The loose sample here has m-hat > 3800 GeV and pT-hat > 600 GeV: a handful of events, a valid (weak) check.
    assert check.loc[0, "tight_pt_hat_min_gev"] == 700 and check.loc[0, "n_in_windows"] >= 0
    assert 0 <= check.loc[0, "removed_fraction_upper95"] <= 1


def test_invalid_config_stops_snakemake_naming_the_key(readme_install, tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["cohen2018_toy"]["trainings_per_run"] = "ten"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = snakemake(readme_install, tmp_path, "-n", config=bad)
    assert result.returncode != 0
    assert "cohen2018_toy.trainings_per_run: 'ten' is not of type 'integer'" in result.stderr + result.stdout


def test_lint_passes():
    if shutil.which("snakemake") is None:
        pytest.skip("snakemake not on PATH")
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "-s", str(ROOT / "Snakefile")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_saved_model_reproduces_its_metrics(finished_run):
    """The model file alone (weights and input scaling) gives the AUCs in the metrics table."""
    import torch

    from workflow_scripts.core.files import read_table
    from workflow_scripts.ml import ensemble, metrics

    state = torch.load(finished_run / "results/models/cohen2018_toy/bce-1.pt", weights_only=True)
    table, _ = read_table(finished_run / "results/datasets/cohen2018_toy/toy.parquet")
    test = table[table["split"] == "test"]
    scaler = ensemble.Standardiser.from_state_dict(state)
    outputs = ensemble.MLPEnsemble.from_state_dict(state).predict(scaler.transform(test[state["features"]].to_numpy()))
    recorded = pd.read_csv(finished_run / "results/metrics/cohen2018_toy/jobs/bce-1/metrics.csv")
    assert list(recorded["run"].unique()) == state["runs"]
    for output, auc in zip(outputs.numpy(), recorded["auc"]):
        assert max(metrics.auc(output, test["label"]), 1 - metrics.auc(output, test["label"])) == pytest.approx(auc, abs=1e-9)


def test_cwola_study_trains_every_pseudo_experiment_and_draws_fig02_fig03(finished_run):
    import numpy as np
    import torch

    from workflow_scripts.core.files import read_table

    cwola = yaml.safe_load(TINY.read_text())["cwola"]
    summary = pd.read_csv(finished_run / "results" / "metrics" / "cwola" / "cwola_summary.csv")
    n_trainings = len(cwola["benchmarks"]) * len(cwola["resolutions"]) * len(cwola["injections"]) * cwola["trials"]
    assert len(summary) == n_trainings * len(cwola["background_efficiencies"])
    assert sorted(summary.injection.unique()) == cwola["injections"]
    assert (summary.n_background_SR == cwola["background_sr_events"]).all()
    injected = summary.n_signal_SR / np.sqrt(summary.n_background_SR)
    assert np.allclose(injected, summary.injection, atol=0.5 / np.sqrt(cwola["background_sr_events"]))
    assert summary.test_auc.between(0, 1).all() and summary.seed.nunique() == n_trainings
    images = np.load(finished_run / "results" / "images" / "hv_id_lambda10" / "images_25px.npy", mmap_mode="r")
    windows, _ = read_table(finished_run / "results" / "images" / "hv_id_lambda10" / "window_events.parquet")
    assert images.shape == (len(windows), 2, 25, 25) and images.sum() > 0
    transfer = pd.read_csv(finished_run / "results" / "metrics" / "cwola" / "transfer_summary.csv")
    assert len(transfer) == len(summary) and (transfer.method == "transfer").all() and (summary.method == "cwola").all()
    pretraining, _ = read_table(finished_run / "results" / "datasets" / "transfer" / "hv_id_lambda10" / "pretraining.parquet")
    assert set(pretraining.source) == {"qcd_dijet", "hv_dd_lambda10"}  # never the held-out benchmark itself
    meta_history = pd.read_csv(finished_run / "results" / "metrics" / "cwola" / "meta_training" / "hv_id_lambda10" / "25px_history.csv")
    assert [column for column in meta_history if column.startswith("loss_")] == ["loss_hv_dd_lambda10"]
    meta = pd.read_csv(finished_run / "results" / "metrics" / "cwola" / "meta_summary.csv")
    assert len(meta) == len(summary) and (meta.method == "meta").all()
    large = pd.read_csv(finished_run / "results" / "metrics" / "cwola" / "meta_large_summary.csv")
    assert len(large) == len(summary)  # tiny: the large-kernel study runs at the same single resolution
    model = torch.load(finished_run / "results" / "models" / "meta_large" / "hv_id_lambda10" / "25px" / "ssb2" / "trial0.pt",
                       weights_only=True)
    assert list(model["settings"]["kernels"]) == cwola["large_kernels"]["kernels"]
    for name in ("fig02_images", "fig03_significance", "fig04_transfer", "fig05_meta_transfer", "fig06_large_kernels",
                 "sic", "sculpting"):
        for ext in ("pdf", "png"):
            assert (finished_run / "results" / "figures" / "cwola" / f"{name}.{ext}").stat().st_size > 5000


def test_cwola_baselines_sculpting_check_and_learning_thresholds(finished_run):
    from workflow_scripts.core.files import read_table
    from workflow_scripts.ml.metrics import SIC_SIGNAL_GRID

    cwola = yaml.safe_load(TINY.read_text())["cwola"]
    metrics_dir = finished_run / "results" / "metrics" / "cwola"
    supervised = pd.read_csv(metrics_dir / "supervised_summary.csv")
    # One network per trial, scored at every injection with the pseudo-experiments' counts.
    assert len(supervised) == cwola["trials"] * len(cwola["injections"]) * len(cwola["background_efficiencies"])
    assert supervised.groupby("trial").seed.nunique().eq(1).all() and supervised.seed.nunique() == cwola["trials"]
    assert sorted(supervised.injection.unique()) == cwola["injections"]
    assert (supervised.n_train + supervised.n_validation == 2 * cwola["supervised"]["n_per_class"]).all()
    dataset, _ = read_table(finished_run / "results" / "datasets" / "cwola" / "hv_id_lambda10" / "supervised" / "trial0.parquet")
    test, _ = read_table(finished_run / "results" / "datasets" / "cwola" / "hv_id_lambda10" / "test.parquet")
    assert (dataset.label == dataset.is_signal).all() and (dataset.region == "SR").all()
    assert not set(zip(dataset.source, dataset.image_row)) & set(zip(test.source, test.image_row))
    rocs = pd.read_csv(metrics_dir / "cwola_roc.csv")
    assert len(rocs) == len(SIC_SIGNAL_GRID) * len(cwola["injections"]) * cwola["trials"]
    sculpting = pd.read_csv(metrics_dir / "cwola_sculpting" / "hv_id_lambda10" / "25px.csv")
    assert len(sculpting) == len(cwola["injections"]) * cwola["trials"] * len(cwola["background_efficiencies"])
    assert (sculpting.n_sb_pass >= sculpting.background_efficiency * sculpting.n_sb).all()  # the cut is set on the SB
    histograms = pd.read_csv(metrics_dir / "cwola_sculpting" / "hv_id_lambda10" / "25px_mjj.csv")
    per_network = histograms.groupby(["injection", "trial", "background_efficiency"])
    merged = per_network.n_pass.sum().to_frame().join(sculpting.set_index(["injection", "trial", "background_efficiency"]))
    assert (merged.n_pass == merged.n_sr_pass + merged.n_sb_pass).all()
    thresholds = pd.read_csv(metrics_dir / "learning_thresholds.csv")
    assert set(thresholds.method) == {"cwola", "transfer", "meta", "supervised"}
    assert len(thresholds) == 4 * cwola["trials"] * len(cwola["background_efficiencies"])


def test_zoomed_jet_images_are_built_by_their_own_rule(finished_run, build):
    from workflow_scripts.analysis import images
    from workflow_scripts.core.files import read_awkward, read_table

    zoomed = np.load(build("results/images/hv_id_lambda10/images_25px_zoom2000gev.npy"))
    windows, _ = read_table(finished_run / "results" / "images" / "hv_id_lambda10" / "window_events.parquet")
    first = windows.iloc[0]
    events, _ = read_awkward(finished_run / "results" / "events" / "hv_id_lambda10" / f"chunk{first.chunk}.parquet")
    event = events[int(first.event_in_chunk):int(first.event_in_chunk) + 1]
    np.testing.assert_allclose(zoomed[0], images.event_images(event, 25, zoom_reference_pt=2000.0)[0], rtol=1e-6)
    assert zoomed.shape == np.load(finished_run / "results" / "images" / "hv_id_lambda10" / "images_25px.npy").shape


def test_hepmc_target_writes_the_same_events_as_the_particle_files(finished_run, build):
    import numpy as np

    from workflow_scripts.core.files import read_awkward
    from workflow_scripts.generation import hepmc

    events = hepmc.read_events(build("results/hepmc/hv_id_lambda10/chunk0.hepmc3"))
    particles, _ = read_awkward(finished_run / "results" / "particles" / "hv_id_lambda10" / "chunk0.parquet")
    assert len(events) == len(particles)
    energies = sorted(hepmc.final_state_momenta(events[0])[:, 3])
    np.testing.assert_allclose(energies, sorted(np.asarray(particles.particles[0].e, dtype=float)), rtol=1e-5, atol=1e-3)


def test_chain_comparison_of_a_run_with_itself_has_equal_chains_and_a_figure(readme_install, finished_run, tmp_path):
    """Target chain_comparison against another working directory (here the same run, from a path outside it): both
    chains' rows come from their own files and agree exactly."""
    overlay = tmp_path / "compare.yaml"
    overlay.write_text(f"chain_comparison: {{reference: {json.dumps(str(finished_run))}, label: this, reference_label: again}}\n")
    result = snakemake(readme_install, finished_run, "chain_comparison", "--configfile", str(TINY), str(overlay))
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(finished_run / "results" / "metrics" / "validation" / "chain_comparison.csv")
    this, again = (table[table.chain == chain].drop(columns="chain").reset_index(drop=True) for chain in ("this", "again"))
    pd.testing.assert_frame_equal(this, again)
    config = yaml.safe_load(TINY.read_text())
    assert set(this["sample"].dropna()) == {config["cwola"]["background"], *config["cwola"]["benchmarks"]}
    assert {"sr_cross_section_fb", "mjj_fraction", "significance_after", "injection_at_5_sigma"} <= set(this.quantity)
    for extension in ("pdf", "png"):
        assert (finished_run / "results" / "figures" / "validation" / f"chain_comparison.{extension}").stat().st_size > 10_000
