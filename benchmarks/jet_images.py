"""Jets per second per core of the vectorised jet-image preprocessing against the usual per-jet loop.

Run by hand:  python benchmarks/jet_images.py [--events results/events/hv_id_lambda10/chunk0.parquet ...] [--npix 75]

Both sides image the same jets (the two leading jets of converted events) at
the same resolution on one core.  The loop gets each jet's constituents as
ready numpy arrays, so it is timed on rotate + flip + numpy.histogram2d only;
the vectorised side is timed from the converted awkward events to the
finished (events, 2, npix, npix) array.  Best of several repeats.
"""

import argparse
import glob
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import awkward as ak  # noqa: E402
import numpy as np  # noqa: E402

from workflow_scripts.analysis import images
from workflow_scripts.core import files  # noqa: E402


def best_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", nargs="+", default=sorted(glob.glob("results/events/hv_*/chunk*.parquet")
                                                              + glob.glob("results/events/qcd_dijet/chunk*.parquet")))
    parser.add_argument("--npix", type=int, default=75)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--copies", type=int, default=4, help="concatenate the events this many times for a larger batch")
    args = parser.parse_args()
    if not args.events:
        parser.error("no converted events found; run `snakemake events` first or pass --events")
    events = ak.concatenate([files.read_awkward(path)[0] for path in args.events])
    events = ak.concatenate([events[ak.num(events.jet_pt) >= 2]] * args.copies)
    n_jets = 2 * len(events)

    output = np.zeros((len(events), 2, args.npix, args.npix), dtype=images.IMAGE_DTYPE)
    images.event_images(events, args.npix, out=output)  # first touch of the output pages

    def vectorised():
        output[:] = 0
        images.event_images(events, args.npix, out=output)

    jets = []
    for field, index in (("jet1_constituents", 0), ("jet2_constituents", 1)):
        constituents = events[field]
        for event in range(len(events)):
            jet = constituents[event]
            jets.append((ak.to_numpy(jet.pt), ak.to_numpy(jet.eta), ak.to_numpy(jet.phi),
                         float(events.jet_eta[event, index]), float(events.jet_phi[event, index])))

    def loop():
        for jet in jets:
            images.reference_image(*jet, args.npix)

    vectorised_rate = n_jets / best_time(vectorised, args.repeats)
    loop_rate = n_jets / best_time(loop, max(1, args.repeats // 2))
    mean_constituents = float(ak.mean(ak.num(events.jet1_constituents) + ak.num(events.jet2_constituents))) / 2
    print(f"{n_jets} jets, {mean_constituents:.0f} constituents per jet on average, {args.npix}x{args.npix} pixels")
    print(f"per-jet loop (rotate, flip, histogram2d): {loop_rate:,.0f} jets/s per core")
    print(f"vectorised preprocessing:                 {vectorised_rate:,.0f} jets/s per core "
          f"= {vectorised_rate / loop_rate:.1f} x the loop")


if __name__ == "__main__":
    main()
