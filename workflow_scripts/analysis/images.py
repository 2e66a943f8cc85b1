"""Jet images: centre, rotate, flip and pixelate the constituents of the two leading jets.

Preprocessing follows the CWoLa paper (section 2): constituents are translated
so that the jet axis is the image centre, rotated so that the pT-weighted
principal axis is horizontal, flipped so that the hardest constituent lies in
the upper-right quadrant, and their pT is summed into npix x npix pixels over
eta, phi in [-1, 1].  Everything runs on flat constituent arrays with one
index per jet, so there is no Python loop over jets.

Optionally (not in the paper) each jet's coordinates are multiplied by its pT over a reference pT before
pixelating: the opening angles of a boosted jet's decay products scale as m / pT, so a jet of given mass then
fills the same pixels at any boost.  Together with unit intensity this removes what the background's jets change
between the M_jj sidebands and the signal region only because they are harder there.

Image layout: ``image[..., row, column]`` with the column along (rotated) eta
and the row along (rotated) phi; ``imshow(image, origin="lower")`` shows eta
to the right and phi upwards, and "upper right" means both positive.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import awkward as ak
import numpy as np

from workflow_scripts.core import files
from workflow_scripts.core.kinematics import wrap_phi

HALF_WIDTH = 1.0  # eta and phi ranges of the image: [-1, 1]
IMAGE_DTYPE = np.float32


def preprocess(pt, eta, phi, counts, axis_eta, axis_phi):
    """Rotated and flipped constituent coordinates (x along eta, y along phi) and each constituent's jet index.

    pt, eta, phi: flat arrays of every constituent of every jet, jet by jet;
    counts: constituents per jet; axis_eta, axis_phi: each jet's axis.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_jets = len(counts)
    pt = np.asarray(pt, dtype=np.float32)
    x, y, jet = translate(eta, phi, counts, axis_eta, axis_phi)

    # Principal axis of the pT-weighted second moments about the jet axis.
    weighted_x = pt * x
    sxx = _sum_per_jet(weighted_x * x, counts)
    syy = _sum_per_jet(pt * y * y, counts)
    sxy = _sum_per_jet(weighted_x * y, counts)
    angle = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)
    cos, sin = np.cos(angle), np.sin(angle)

    # Flip signs from the hardest constituent's rotated position, folded into one rotation per jet.
    flip_x, flip_y = np.ones(n_jets), np.ones(n_jets)
    hardest = _hardest_constituent(pt, counts)
    has_constituents = counts > 0
    hard_x, hard_y = x[hardest], y[hardest]
    c, s = cos[has_constituents], sin[has_constituents]
    flip_x[has_constituents] = np.where(c * hard_x + s * hard_y < 0, -1.0, 1.0)
    flip_y[has_constituents] = np.where(c * hard_y - s * hard_x < 0, -1.0, 1.0)
    per_constituent = lambda per_jet: np.repeat(per_jet.astype(np.float32), counts)  # noqa: E731
    rotated_x = per_constituent(flip_x * cos) * x + per_constituent(flip_x * sin) * y
    rotated_y = per_constituent(flip_y * cos) * y - per_constituent(flip_y * sin) * x
    return rotated_x, rotated_y, jet


def _sum_per_jet(values, counts):
    """Sums over each jet's contiguous run of constituents, in double precision (zero for empty jets)."""
    totals = np.zeros(len(counts))
    nonempty = counts > 0
    if nonempty.any():
        starts = (np.cumsum(counts) - counts)[nonempty]
        totals[nonempty] = np.add.reduceat(values, starts, dtype=np.float64)
    return totals


def translate(eta, phi, counts, axis_eta, axis_phi):
    """Constituent offsets from their jet's axis (x along eta, y along wrapped phi) and each one's jet index."""
    counts = np.asarray(counts, dtype=np.int64)
    jet = np.repeat(np.arange(len(counts)), counts)
    # Single precision is ample for offsets of at most a few units in eta and phi, and halves memory traffic.
    x = np.asarray(eta, dtype=np.float32) - np.repeat(np.asarray(axis_eta, dtype=np.float32), counts)
    y = _wrap_small(np.asarray(phi, dtype=np.float32) - np.repeat(np.asarray(axis_phi, dtype=np.float32), counts))
    return x, y, jet


def _wrap_small(delta):
    """Fold azimuthal differences into [-pi, pi); two masked shifts suffice for angles given in [-pi, pi]."""
    delta[delta >= np.pi] -= np.float32(2 * np.pi)
    delta[delta < -np.pi] += np.float32(2 * np.pi)
    if np.any(np.abs(delta) > np.pi):  # angles outside [-pi, pi] on input
        return wrap_phi(delta).astype(np.float32)
    return delta


def _hardest_constituent(pt, counts):
    """Flat index of the highest-pT constituent of every jet that has constituents."""
    local = ak.to_numpy(ak.argmax(ak.unflatten(pt, counts), axis=1, mask_identity=False))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (offsets + local)[counts > 0]


def pixelate(x, y, weights, jet, n_jets, npix, half_width=HALF_WIDTH, out=None):
    """Sum weights into (n_jets, npix, npix) images over x (columns) and y (rows) in [-half_width, half_width).

    `out`, when given, is a zeroed (n_jets, npix, npix) array (for example a
    slice of a memory map) that receives the images without a copy.
    """
    scale = npix / (2 * half_width)
    column = np.floor((x + half_width) * scale).astype(np.int64)
    row = np.floor((y + half_width) * scale).astype(np.int64)
    inside = (column >= 0) & (column < npix) & (row >= 0) & (row < npix)
    pixel = (jet * npix + row) * npix + column
    if out is None:
        out = np.zeros((n_jets, npix, npix), dtype=IMAGE_DTYPE)
    # Unbuffered scatter-add touches only the ~100 pixels each jet lights, not all npix^2.
    np.add.at(out.reshape(-1), pixel[inside], np.asarray(weights, dtype=out.dtype)[inside])
    return out


def jet_images(pt, eta, phi, counts, axis_eta, axis_phi, npix, preprocessed=True, out=None, zoom=None):
    """Images of jets given as flat constituent arrays; `preprocessed=False` only translates (paper Fig. 2a).

    `zoom`: optional factor per jet by which its coordinates are multiplied before pixelating.
    """
    if preprocessed:
        x, y, jet = preprocess(pt, eta, phi, counts, axis_eta, axis_phi)
    else:
        x, y, jet = translate(eta, phi, counts, axis_eta, axis_phi)
    if zoom is not None:
        per_constituent = np.repeat(np.asarray(zoom, dtype=np.float32), np.asarray(counts, dtype=np.int64))
        x, y = x * per_constituent, y * per_constituent
    return pixelate(x, y, pt, jet, len(counts), npix, out=out)


def event_images(events: ak.Array, npix: int, preprocessed=True, out=None, zoom_reference_pt=None) -> np.ndarray:
    """(events, 2, npix, npix) images of the two leading jets of converted events (see delphes_io.convert).

    `out`: optional zeroed (events, 2, npix, npix) array to fill in place.  `zoom_reference_pt` (GeV): multiply
    each jet's coordinates by its pT over this value (see the module docstring); None keeps the paper's images.
    """
    if out is None:
        out = np.zeros((len(events), 2, npix, npix), dtype=IMAGE_DTYPE)
    # Jets in event-major order (event 0 jet 1, event 0 jet 2, ...), so jet j's image is out.reshape(-1, npix, npix)[j].
    jets = ak.flatten(ak.concatenate([events.jet1_constituents[:, None], events.jet2_constituents[:, None]], axis=1), axis=1)
    axes = events[["jet_eta", "jet_phi"]][:, :2]
    zoom = None
    if zoom_reference_pt is not None:
        if zoom_reference_pt <= 0:
            raise ValueError(f"the zoom's reference pT must be positive, got {zoom_reference_pt}")
        zoom = ak.to_numpy(ak.flatten(events.jet_pt[:, :2])) / zoom_reference_pt
    jet_images(ak.to_numpy(ak.flatten(jets.pt)), ak.to_numpy(ak.flatten(jets.eta)), ak.to_numpy(ak.flatten(jets.phi)),
               ak.to_numpy(ak.num(jets)), ak.to_numpy(ak.flatten(axes.jet_eta)), ak.to_numpy(ak.flatten(axes.jet_phi)),
               npix, preprocessed, out=out.reshape(-1, npix, npix), zoom=zoom)
    return out


def unit_intensity(images: np.ndarray) -> np.ndarray:
    """Each jet image divided by its total pT, in place (empty images stay zero).

    Raw pixel pT grows with M_jj, so a classifier of signal region against
    sidebands could learn the background's own mass difference; unit-intensity
    images keep only the shape of the energy flow.
    """
    totals = images.sum(axis=(-2, -1), keepdims=True)
    np.divide(images, totals, out=images, where=totals > 0)
    return images


def reference_image(pt, eta, phi, axis_eta, axis_phi, npix):
    """One jet, the usual way (rotate and flip this jet's constituents, then numpy.histogram2d).

    Kept as an independent cross-check of `jet_images` and as the baseline of
    benchmarks/jet_images.py; not used on the pipeline's hot path.
    """
    pt = np.asarray(pt, dtype=np.float64)
    x = np.asarray(eta, dtype=np.float64) - axis_eta
    y = wrap_phi(np.asarray(phi, dtype=np.float64) - axis_phi)
    if len(pt) > 1:
        # Second moments about the jet axis (not the centroid), as in `preprocess`.
        moments = np.array([[np.sum(pt * x * x), np.sum(pt * x * y)], [np.sum(pt * x * y), np.sum(pt * y * y)]])
        eigenvalues, eigenvectors = np.linalg.eigh(moments)
        major = eigenvectors[:, np.argmax(eigenvalues)]
        angle = np.arctan2(major[1], major[0])
        x, y = np.cos(angle) * x + np.sin(angle) * y, -np.sin(angle) * x + np.cos(angle) * y
    if len(pt):
        hardest = np.argmax(pt)
        x = -x if x[hardest] < 0 else x
        y = -y if y[hardest] < 0 else y
    edges = np.linspace(-HALF_WIDTH, HALF_WIDTH, npix + 1)
    histogram, _, _ = np.histogram2d(y, x, bins=[edges, edges], weights=pt)
    return histogram.astype(IMAGE_DTYPE)


# --- the pipeline stage: the images of a sample's events in the M_jj regions ----------------------------------

def write_images(event_files, window_table_path, npix: int, output, zoom_reference_pt=None) -> int:
    """Images of the events listed in the window table, in its row order, as a float32 .npy file.

    The file is filled chunk by chunk through a memory map, so its size is not
    limited by memory, and appears under its final name only when complete.
    """
    table, _ = files.read_table(window_table_path)
    with files.atomic_output(output) as temporary:
        images = np.lib.format.open_memmap(temporary, mode="w+", dtype=IMAGE_DTYPE, shape=(len(table), 2, npix, npix))
        start = 0
        for chunk, path in enumerate(event_files):
            rows = table.event_in_chunk[table.chunk == chunk].to_numpy()
            if len(rows) == 0:
                continue
            events, _ = files.read_awkward(path, columns=["jet_pt", "jet_eta", "jet_phi", "jet1_constituents",
                                                          "jet2_constituents", "mjj_gev"])
            selected = events[rows]
            if not np.allclose(ak.to_numpy(selected.mjj_gev), table.mjj_gev[table.chunk == chunk].to_numpy()):
                raise ValueError(f"{path} does not match the window table {window_table_path}: was it regenerated?")
            event_images(selected, npix, out=images[start:start + len(rows)], zoom_reference_pt=zoom_reference_pt)
            start += len(rows)
        images.flush()
        del images
    return len(table)


def load_images(path) -> np.ndarray:
    """A read-only memory map of an image file written by `write_images`."""
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise OSError(f"cannot read jet images {path}: {error}") from error


def example_panels(signal_events, signal_windows, signal_images, background_windows, background_images, npix,
                 max_events=10_000) -> dict:
    """The leading-jet panels of the CWoLa paper's Fig. 2: the first signal-region signal event before and after
    preprocessing, and the mean preprocessed image of up to `max_events` signal-region events of each sample."""
    from workflow_scripts.core import files

    signal_table, _ = files.read_table(signal_windows)
    background_table, _ = files.read_table(background_windows)
    signal_sr = np.flatnonzero(signal_table.region.to_numpy() == "SR")
    background_sr = np.flatnonzero(background_table.region.to_numpy() == "SR")
    if len(signal_sr) == 0 or len(background_sr) == 0:
        raise ValueError("fig02 needs signal-region events of both signal and background")
    example = signal_table.iloc[signal_sr[0]]
    events, _ = files.read_awkward(signal_events[int(example.chunk)])
    event = events[int(example.event_in_chunk):int(example.event_in_chunk) + 1]
    return {
        "before": event_images(event, npix, preprocessed=False)[0, 0],
        "after": event_images(event, npix)[0, 0],
        "background_mean": np.asarray(load_images(background_images)[background_sr[:max_events], 0]).mean(axis=0),
        "signal_mean": np.asarray(load_images(signal_images)[signal_sr[:max_events], 0]).mean(axis=0),
        "n_background": min(len(background_sr), max_events),
        "n_signal": min(len(signal_sr), max_events),
        "mjj_gev": float(example.mjj_gev),
    }


def write_example_panels(signal_events, signal_windows, signal_images, background_windows, background_images, npix,
                         output) -> dict:
    panels = example_panels(signal_events, signal_windows, signal_images, background_windows, background_images, npix)
    with files.atomic_output(output) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, **panels)
    return panels


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.analysis.images", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="jet images of the events in a window table")
    build.add_argument("--events", type=Path, nargs="+", required=True, help="the sample's converted chunks, in order")
    build.add_argument("--windows", type=Path, required=True, help="the sample's window table (analysis.regions)")
    build.add_argument("--npix", type=int, required=True)
    build.add_argument("--output", type=Path, required=True)
    build.add_argument("--zoom-reference-pt", type=float, metavar="GEV",
                       help="multiply each jet's coordinates by its pT over GEV (not in the paper; see the module docstring)")
    panels = commands.add_parser("panels", help="one signal event's leading jet and mean images (CWoLa paper, Fig. 2)")
    panels.add_argument("--signal-events", type=Path, nargs="+", required=True)
    panels.add_argument("--signal-windows", type=Path, required=True)
    panels.add_argument("--signal-images", type=Path, required=True)
    panels.add_argument("--background-windows", type=Path, required=True)
    panels.add_argument("--background-images", type=Path, required=True)
    panels.add_argument("--npix", type=int, required=True)
    panels.add_argument("--output", type=Path, required=True, help=".npz of the four panels")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "build":
        count = write_images(args.events, args.windows, args.npix, args.output, args.zoom_reference_pt)
        print(f"{count} events -> {args.output} ({args.npix}x{args.npix})")
    else:
        write_example_panels(args.signal_events, args.signal_windows, args.signal_images, args.background_windows,
                             args.background_images, args.npix, args.output)
        print(f"panels -> {args.output}")


if __name__ == "__main__":
    main()
