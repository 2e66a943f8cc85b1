"""Jet-image preprocessing on hand-built jets, and the image stage's files."""

import awkward as ak
import numpy as np
import pytest

from workflow_scripts.analysis import images
from workflow_scripts.analysis.regions import MjjRegions, write_window_events
from workflow_scripts.core import files
from workflow_scripts.core.kinematics import wrap_phi


def one_jet(pt, eta, phi, axis_eta, axis_phi):
    return dict(pt=np.asarray(pt, float), eta=np.asarray(eta, float), phi=np.asarray(phi, float),
                counts=np.array([len(pt)]), axis_eta=np.array([axis_eta]), axis_phi=np.array([axis_phi]))


def test_two_constituent_jet_ends_on_the_horizontal_axis_with_the_hardest_on_the_right():
    direction = np.array([np.cos(2.2), np.sin(2.2)])  # a diagonal jet pointing up-left
    offsets = np.array([0.3, -0.2])[:, None] * direction
    jet = one_jet([100.0, 40.0], 0.5 + offsets[:, 0], 1.0 + offsets[:, 1], 0.5, 1.0)
    x, y, _ = images.preprocess(**jet)
    np.testing.assert_allclose(y, 0.0, atol=1e-6)
    np.testing.assert_allclose(x, [0.3, -0.2], atol=1e-6)  # hardest at +0.3, distances kept


def test_preprocessing_puts_principal_axis_horizontal_and_hardest_constituent_upper_right():
    rng = np.random.default_rng(1)
    counts = rng.integers(2, 40, size=300)
    n = counts.sum()
    pt = rng.exponential(20.0, n)
    eta = rng.normal(0.0, 0.3, n) + np.repeat(rng.uniform(-2, 2, len(counts)), counts)
    phi = rng.normal(0.0, 0.2, n) + np.repeat(rng.uniform(-np.pi, np.pi, len(counts)), counts)
    axis_eta = np.bincount(np.repeat(np.arange(len(counts)), counts), pt * eta) / np.bincount(np.repeat(np.arange(len(counts)), counts), pt)
    axis_phi = np.repeat(0.0, len(counts)) + phi[np.cumsum(counts) - counts]
    phi = wrap_phi(phi)
    x, y, jet = images.preprocess(pt, eta, phi, counts, axis_eta, axis_phi)
    sxx = np.bincount(jet, pt * x * x)
    syy = np.bincount(jet, pt * y * y)
    sxy = np.bincount(jet, pt * x * y)
    np.testing.assert_allclose(sxy / (sxx + syy), 0.0, atol=1e-5)  # no correlation left: principal axes are x and y
    assert np.all(sxx >= syy * (1 - 1e-5))  # the major axis is the horizontal one
    hardest = np.array([start + np.argmax(pt[start:start + count]) for start, count in zip(np.cumsum(counts) - counts, counts)])
    assert np.all(x[hardest] >= 0) and np.all(y[hardest] >= 0)


def test_image_sums_equal_the_jet_pt_inside_the_window():
    rng = np.random.default_rng(2)
    pt = rng.exponential(30.0, 50)
    eta = rng.normal(0.0, 0.6, 50)  # wide enough that some constituents fall outside [-1, 1]
    phi = rng.normal(0.0, 0.6, 50)
    jet = one_jet(pt, eta, phi, 0.0, 0.0)
    x, y, _ = images.preprocess(**jet)
    inside = (np.abs(x) < 1) & (np.abs(y) < 1)
    assert 0 < inside.sum() < 50
    for npix in (25, 50, 75):
        image = images.jet_images(**jet, npix=npix)
        assert image.shape == (1, npix, npix) and image.dtype == np.float32
        assert image.sum() == pytest.approx(pt[inside].sum(), rel=1e-5)


def test_phi_wrap_around_gives_the_same_image_as_a_jet_away_from_the_boundary():
    offsets_eta = np.array([0.05, -0.1, 0.2])
    offsets_phi = np.array([0.08, -0.15, 0.02])
    pt = [300.0, 120.0, 60.0]
    across = one_jet(pt, offsets_eta, wrap_phi(3.12 + offsets_phi), 0.0, 3.12)  # straddles phi = +-pi
    central = one_jet(pt, offsets_eta, offsets_phi, 0.0, 0.0)
    np.testing.assert_allclose(images.jet_images(**across, npix=25), images.jet_images(**central, npix=25), atol=1e-4)


def test_vectorised_images_agree_with_the_per_jet_histogram_loop():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 60, size=200)
    n = counts.sum()
    jet = np.repeat(np.arange(len(counts)), counts)
    axis_eta, axis_phi = rng.uniform(-2, 2, len(counts)), rng.uniform(-np.pi, np.pi, len(counts))
    pt = rng.exponential(10.0, n)
    eta = axis_eta[jet] + rng.normal(0, 0.3, n)
    phi = wrap_phi(axis_phi[jet] + rng.normal(0, 0.3, n))
    vectorised = images.jet_images(pt, eta, phi, counts, axis_eta, axis_phi, npix=25)
    starts = np.cumsum(counts) - counts
    same = 0
    for index, (start, count) in enumerate(zip(starts, counts)):
        part = slice(start, start + count)
        reference = images.reference_image(pt[part], eta[part], phi[part], axis_eta[index], axis_phi[index], 25)
        assert vectorised[index].sum() == pytest.approx(reference.sum(), rel=1e-4, abs=1e-4)
        same += np.allclose(vectorised[index], reference, rtol=1e-4, atol=1e-3)
    # Single- vs double-precision rotation may move a constituent sitting on a pixel edge; nothing else differs.
    assert same >= 0.97 * len(counts)


def converted_events(mjj_values, seed=0):
    """Events shaped like delphes_io.convert output, two jets with a few constituents each."""
    rng = np.random.default_rng(seed)
    records = []
    for number, mjj in enumerate(mjj_values):
        jets_eta, jets_phi = rng.uniform(-1.5, 1.5, 2), rng.uniform(-np.pi, np.pi, 2)
        constituents = []
        for eta0, phi0 in zip(jets_eta, jets_phi):
            size = rng.integers(1, 8)
            constituents.append([{"pt": float(p), "eta": float(eta0 + de), "phi": float(wrap_phi(phi0 + dp)), "type": 0}
                                 for p, de, dp in zip(rng.exponential(100, size), rng.normal(0, .2, size), rng.normal(0, .2, size))])
        records.append({"jet_pt": [1000.0, 900.0], "jet_eta": list(jets_eta), "jet_phi": list(jets_phi), "mjj_gev": mjj,
                        "event_number": number, "jet1_constituents": constituents[0], "jet2_constituents": constituents[1]})
    return ak.Array(records)


def test_window_table_and_memory_mapped_images_follow_the_events(tmp_path):
    chunks = [converted_events([4500.0, 5000.0, 3000.0, 5600.0], seed=1), converted_events([6500.0, 4800.0], seed=2)]
    paths = []
    for index, chunk in enumerate(chunks):
        paths.append(tmp_path / f"chunk{index}.parquet")
        files.write_awkward(chunk, paths[-1], {})
    regions = MjjRegions((4700, 5500), ((4400, 4700), (5500, 5800)))
    table = write_window_events(paths, regions, tmp_path / "windows.parquet", "s")
    assert table[["chunk", "event_in_chunk"]].values.tolist() == [[0, 0], [0, 1], [0, 3], [1, 1]]
    assert table.region.tolist() == ["SB", "SR", "SB", "SR"]
    assert images.write_images(paths, tmp_path / "windows.parquet", 25, tmp_path / "images.npy") == 4
    stored = images.load_images(tmp_path / "images.npy")
    assert stored.shape == (4, 2, 25, 25) and isinstance(stored, np.memmap)
    expected = np.concatenate([images.event_images(chunks[0][[0, 1, 3]], 25), images.event_images(chunks[1][[1]], 25)])
    np.testing.assert_array_equal(stored, expected)
    assert not list(tmp_path.glob(".*part"))  # no temporary file left behind


def test_unreadable_image_file_is_named(tmp_path):
    broken = tmp_path / "images.npy"
    broken.write_bytes(b"not an array")
    with pytest.raises(OSError, match="images.npy"):
        images.load_images(broken)


def test_unit_intensity_keeps_the_shape_and_drops_the_scale():
    rng = np.random.default_rng(4)
    stack = rng.exponential(1.0, size=(3, 2, 5, 5)).astype(np.float32)
    stack[1, 1] = 0.0  # an empty jet image stays empty
    scaled = images.unit_intensity(stack * 7.0)
    np.testing.assert_allclose(scaled.sum(axis=(-2, -1))[[0, 0, 2, 2], [0, 1, 0, 1]], 1.0, rtol=1e-6)
    assert scaled[1, 1].sum() == 0.0
    np.testing.assert_allclose(scaled[0, 0], stack[0, 0] / stack[0, 0].sum(), rtol=1e-6)


def test_zooming_by_jet_pt_makes_a_boosted_decay_look_the_same_at_any_boost():
    # A two-body decay of mass m: its prongs are about 2m/pT apart, so the harder jet is narrower.
    mass = 80.0

    def decay(jet_pt):
        separation = 2 * mass / jet_pt
        # pT shares 0.6 / 0.4: the prongs sit 0.4 and 0.6 of the separation from the pT-weighted axis.
        return one_jet([0.6 * jet_pt, 0.4 * jet_pt], [0.4 * separation, -0.6 * separation], [0.0, 0.0], 0.0, 0.0)

    soft, hard = decay(1000.0), decay(2500.0)
    plain = [images.jet_images(**jet, npix=25)[0] for jet in (soft, hard)]
    assert np.flatnonzero(plain[0]).tolist() != np.flatnonzero(plain[1]).tolist()  # the paper's images: narrower
    zoomed = [images.jet_images(**jet, npix=25, zoom=[jet["pt"].sum() / 1500.0])[0] for jet in (soft, hard)]
    # Zoomed by pT / 1500 GeV both prongs land in the same pixels; intensities differ only by the pT scale.
    np.testing.assert_allclose(zoomed[0] / zoomed[0].sum(), zoomed[1] / zoomed[1].sum(), atol=1e-6)
    rows, columns = np.nonzero(zoomed[0])
    assert len(rows) == 2 and abs(columns[0] - columns[1]) == pytest.approx(2 * mass / 1500 / (2 / 25), abs=1)


def test_zoomed_event_images_use_each_jets_own_pt(tmp_path):
    events = converted_events([5000.0, 5100.0])
    zoomed = images.event_images(events, 25, zoom_reference_pt=2000.0)
    for event in range(2):
        for jet in range(2):
            constituents = events[f"jet{jet + 1}_constituents"][event]
            expected = images.jet_images(np.asarray(constituents.pt), np.asarray(constituents.eta),
                                         np.asarray(constituents.phi), [len(constituents)],
                                         [events.jet_eta[event][jet]], [events.jet_phi[event][jet]], 25,
                                         zoom=[events.jet_pt[event][jet] / 2000.0])[0]
            np.testing.assert_allclose(zoomed[event, jet], expected, rtol=1e-6)
    assert not np.allclose(zoomed, images.event_images(events, 25))
    with pytest.raises(ValueError, match="reference pT must be positive"):
        images.event_images(events, 25, zoom_reference_pt=0.0)
