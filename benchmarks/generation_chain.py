"""Events per second of generate -> detector -> Parquet against bare Pythia next() on the same card.

Run by hand:  python benchmarks/generation_chain.py [--events 1000] [--sample hv|qcd]

Both sides use one core and the same card and seed; the chain times the
pipeline's own stage functions (nextBatch to particle Parquet, the fast
detector simulation to Delphes-schema ROOT, ROOT -> analysis Parquet).
Pythia's initialisation is the same on both sides (one per chunk in the
pipeline, one per run of bare Pythia), so both rates leave it out; it is
reported on its own, with what it costs per event at the chunk size given.
"""

import argparse
import tempfile
import time
from pathlib import Path

from workflow_scripts import cards, delphes_io, detector, files, generation

SAMPLES = {
    "hv": {"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10},
    "qcd": {"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000},
}
SELECTION = {"min_jets": 2, "n_leading_jets": 2, "leading_jet_pt_min_gev": 750, "leading_jet_abs_eta_max": 2.0}


def bare_pythia_rate(card, n_events, seed):
    """Events per second of next() after initialisation, and the initialisation's seconds."""
    start = time.perf_counter()
    pythia = generation.configure_pythia(card, seed)
    initialised = time.perf_counter()
    produced = sum(bool(pythia.next()) for _ in range(n_events))
    return produced / (time.perf_counter() - initialised), initialised - start


def chain_rate(card, directory, n_events, seed):
    """Events per second of the chain after initialisation, with the seconds of each stage."""
    pythia = generation.configure_pythia(card, seed)
    start = time.perf_counter()
    events = generation.generate(pythia, n_events, batch_size=100)
    generated = time.perf_counter()
    files.write_awkward(events, directory / "particles.parquet", {"sample": "bench", "chunk": 0, "n_events": len(events)})
    written = time.perf_counter()
    detector.simulate_chunk(directory / "particles.parquet", directory / "delphes.root", jet_radius=0.8, global_seed=seed)
    simulated = time.perf_counter()
    delphes_io.convert_file(directory / "delphes.root", directory / "events.parquet", SELECTION, 0.8, "cwola_dijet")
    done = time.perf_counter()
    stages = {"Pythia nextBatch": generated - start, "particle Parquet": written - generated, "detector": simulated - written,
              "convert": done - simulated}
    return n_events / (done - start), stages


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--sample", choices=sorted(SAMPLES), default="hv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        card = directory / "card.cmnd"
        card.write_text(cards.render_card(cards.sample_settings(SAMPLES[args.sample], 13000.0), args.sample))
        bare, init_seconds = bare_pythia_rate(card, args.events, seed=11)
        chain, stages = chain_rate(card, directory, args.events, seed=11)
    print(f"Pythia initialisation: {init_seconds:.2f} s per chunk ({init_seconds * bare / args.events:.1%} of a"
          f" {args.events}-event chunk's generation time)")
    print(f"bare Pythia next(): {bare:.1f} events/s per core")
    print(f"generate -> detector -> Parquet: {chain:.1f} events/s per core = {100 * chain / bare:.0f} % of bare Pythia")
    print("  time per stage: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stages.items()))


if __name__ == "__main__":
    main()
