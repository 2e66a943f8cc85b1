"""The run record on the report's front page: config files, seed, samples with their chains, program versions."""

import importlib.metadata

from workflow_scripts.core.run_record import describe_run, figure_claims

TOOLS = {"madgraph": "3.5.7", "delphes": "3.5.1"}


def config(samples):
    return {"seed": 7, "training": {"device": "cpu"}, "generation": {"events_per_chunk": 100, "samples": samples}}


def test_record_counts_events_and_names_the_chains(tmp_path):
    samples = {"qcd": {"process": "qcd_dijet", "chunks": 3, "events_per_chunk": 1000},
               "hv": {"process": "hidden_valley", "chunks": 2}}
    record = describe_run(config(samples), samples, [tmp_path / "config.yaml", tmp_path / "presets" / "x.yaml"],
                          tmp_path, TOOLS)
    assert record["configfiles"] == ["config.yaml", "presets/x.yaml"]
    assert record["seed"] == 7 and record["device"] == "cpu"
    assert [(row["name"], row["generator"], row["detector"], row["events"]) for row in record["samples"]] == \
        [("qcd", "pythia", "embedded", 3000), ("hv", "pythia", "embedded", 200)]
    assert record["total_events"] == 3200
    assert record["versions"]["Pythia 8 (pythia8mc)"] == importlib.metadata.version("pythia8mc")
    assert "MadGraph5_aMC" not in record["versions"] and "Delphes" not in record["versions"]


def test_record_lists_madgraph_and_delphes_only_when_a_sample_uses_them(tmp_path):
    samples = {"qcd": {"process": "qcd_dijet", "chunks": 1, "generator": "madgraph", "detector": "delphes"}}
    record = describe_run(config(samples), samples, ["/elsewhere/mine.yaml"], tmp_path, TOOLS)
    assert record["versions"]["MadGraph5_aMC"] == "3.5.7" and record["versions"]["Delphes"] == "3.5.1"
    assert record["configfiles"] == ["/elsewhere/mine.yaml"]


def test_each_figure_names_the_claims_it_carries_with_their_verdicts():
    rows = [{"claim": "a.one", "verdict": "agrees", "figures": "cohen2018/fig11_combination"},
            {"claim": "a.two", "verdict": "deviates", "figures": "cohen2018/fig11_combination cwola/fig04_transfer"},
            {"claim": "a.finding", "verdict": "paper inconsistent", "figures": ""}]
    captions = figure_claims(rows)
    assert captions == {
        "cohen2018/fig11_combination": "Scorecard claims this figure carries: ``a.one`` (agrees); ``a.two`` (deviates).",
        "cwola/fig04_transfer": "Scorecard claims this figure carries: ``a.two`` (deviates)."}
