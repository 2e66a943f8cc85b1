"""Pythia cards: Eq. (2.1) masses, Table 1a parameters under Pythia >= 8.313 names, and Pythia accepting them."""

import math

import pytest

from workflow_scripts.generation import cards, pythia


def test_worked_example_indirect_decay_lambda10():
    masses = cards.DarkShowerMasses(10.0, cards.HV_SCENARIOS["ID"])
    assert masses.m_pi_gev == pytest.approx(10.0)
    assert masses.m_rho_gev == pytest.approx(26.944, abs=5e-4)
    assert masses.m_q_constituent_gev == pytest.approx(10.3306, abs=5e-5)


def test_direct_decay_closes_rho_to_two_pions():
    masses = cards.DarkShowerMasses(20.0, cards.HV_SCENARIOS["DD"])
    assert masses.m_pi_gev == pytest.approx(36.0)
    assert masses.m_rho_gev < 2 * masses.m_pi_gev
    # m_pi / Lambda = 5.5 sqrt(m_q / Lambda) inverted
    assert 5.5 * math.sqrt(masses.m_q_current_gev / 20.0) == pytest.approx(1.8)


def test_pythia_8307_fragmentation_mapping():
    mapped = cards.hv_fragmentation_settings(m_qv_gev=10.3306, a_lund=0.1, bmqv2=1.9, rfactqv=1.0)
    assert mapped["HiddenValley:setabsigma"] == 2
    assert mapped["HiddenValley:aLund"] == 0.1
    assert mapped["HiddenValley:bLund"] == pytest.approx(1.9 / 10.3306**2)
    assert mapped["HiddenValley:sigmaLund"] == pytest.approx(0.5 * 10.3306)
    assert mapped["HiddenValley:rFact"] == [1.0] * 8


@pytest.fixture(scope="module")
def id_lambda10_card(tmp_path_factory):
    path = tmp_path_factory.mktemp("cards") / "hv_id_lambda10.cmnd"
    settings = cards.sample_settings({"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10}, 13000)
    path.write_text(cards.render_card(settings, "hv_id_lambda10"))
    return path


def test_rendered_card_holds_table1a_under_current_names(id_lambda10_card):
    lines = dict(line.split(" = ", 1) for line in cards.read_card(id_lambda10_card))
    expected = {
        "HiddenValley:ffbar2Zv": "on", "4900023:m0": "5500", "4900023:mWidth": "10",
        "HiddenValley:Ngauge": "3", "HiddenValley:nFlav": "3", "HiddenValley:alphaOrder": "1",
        "HiddenValley:setLambda": "on", "HiddenValley:Lambda": "10", "HiddenValley:pTminFSR": "11",
        "HiddenValley:separateFlav": "on", "HiddenValley:probVector": "0.75", "HiddenValley:fragment": "on",
        "HiddenValley:FSR": "on", "HiddenValley:setabsigma": "2", "HiddenValley:aLund": "0.1",
        "4900101:m0": "10.33057851", "4900111:m0": "10", "4900113:m0": "26.94438717",
    }
    for key, value in expected.items():
        assert lines[key] == value, key
    assert float(lines["HiddenValley:bLund"]) == pytest.approx(1.9 / 10.33057851**2)
    assert "HiddenValley:bmqv2" not in lines and "HiddenValley:rFactqv" not in lines


def test_pythia_initialises_with_the_card_and_reads_it_back(id_lambda10_card):
    generator = pythia.configure_pythia(id_lambda10_card, seed=1)
    settings, data = generator.settings, generator.particleData
    assert settings.parm("HiddenValley:Lambda") == pytest.approx(10.0)
    assert settings.parm("HiddenValley:sigmaLund") == pytest.approx(5.1653, abs=1e-4)
    assert list(settings.pvec("HiddenValley:rFact"))[:3] == [1.0, 1.0, 1.0]
    assert data.m0(4900023) == pytest.approx(5500.0)
    assert data.mWidth(4900023) == pytest.approx(10.0)
    assert data.m0(4900113) == pytest.approx(26.944, abs=1e-3)
    rho = data.particleDataEntryPtr(4900113)
    products = [rho.channel(0).product(i) for i in range(rho.channel(0).multiplicity())]
    assert sorted(products) == [4900111, 4900111]
    pion = data.particleDataEntryPtr(4900111)
    assert sorted(pion.channel(0).product(i) for i in range(2)) == [-1, 1]


def test_unknown_setting_is_an_error_naming_the_card(tmp_path):
    card = tmp_path / "bad.cmnd"
    card.write_text("Beams:eCM = 13000\nHiddenValley:bmqv2 = 1.9\n")
    with pytest.raises(ValueError, match=r"bad.cmnd.*HiddenValley:bmqv2"):
        pythia.configure_pythia(card, seed=1)


def test_benchmark_grid_expands_to_fourteen_named_samples():
    samples = cards.configured_samples({"samples": {}, "hidden_valley_benchmarks": {
        "scenarios": ["ID", "DD"], "lambda_d_gev": [1, 5, 10, 20, 30, 40, 50], "chunks": 2, "jet_radius": 0.8,
        "selection": "cwola_dijet"}})
    assert len(samples) == 14
    assert samples["hv_dd_lambda50"] == {"process": "hidden_valley", "scenario": "DD", "lambda_d_gev": 50, "chunks": 2,
                                         "jet_radius": 0.8, "selection": "cwola_dijet"}
    # A grid-wide chunk size, and an explicit sample that overrides its grid entry.
    samples = cards.configured_samples({"samples": {"hv_id_lambda10": {"process": "hidden_valley", "scenario": "ID",
                                                                       "lambda_d_gev": 10, "chunks": 7}},
                                        "hidden_valley_benchmarks": {"scenarios": ["ID"], "lambda_d_gev": [5, 10], "chunks": 1,
                                                                     "events_per_chunk": 200, "jet_radius": 0.8,
                                                                     "selection": "cwola_dijet"}})
    assert samples["hv_id_lambda5"]["events_per_chunk"] == 200 and samples["hv_id_lambda10"]["chunks"] == 7
    assert "events_per_chunk" not in cards.generator_entry(samples["hv_id_lambda5"])


def test_gluino_spectrum_and_card_initialise_pythia(tmp_path):
    slha = tmp_path / "gluino.slha"
    slha.write_text(cards.gluino_spectrum_slha(2000.0, 1.0, 5000.0))
    card = tmp_path / "gluino.cmnd"
    card.write_text(cards.render_card(cards.sample_settings({"process": "gluino_pair", "slha_file": str(slha)}, 13000.0), "gluino"))
    generator = pythia.configure_pythia(card, seed=1)
    assert generator.particleData.m0(1000021) == pytest.approx(2000.0)
    gluino = generator.particleData.particleDataEntryPtr(1000021)
    channels = [sorted(gluino.channel(i).product(k) for k in range(3)) for i in range(gluino.sizeChannels())]
    assert channels == [[-1, 1, 1000022], [-2, 2, 1000022]]


def test_z_card_selects_invisible_decays_in_a_pt_hat_slice(tmp_path):
    card = tmp_path / "z.cmnd"
    card.write_text(cards.render_card(cards.sample_settings({"process": "z_nunu_jet", "pt_hat_min_gev": 150, "pt_hat_max_gev": 400}, 13000.0), "z"))
    generator = pythia.configure_pythia(card, seed=1)
    assert generator.settings.parm("PhaseSpace:pTHatMax") == pytest.approx(400.0)
    z = generator.particleData.particleDataEntryPtr(23)
    open_channels = {tuple(sorted(abs(z.channel(i).product(k)) for k in range(2))) for i in range(z.sizeChannels()) if z.channel(i).onMode()}
    assert open_channels == {(12, 12), (14, 14), (16, 16)}
