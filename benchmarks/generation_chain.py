"""Events per second of generate -> detector -> Parquet against bare Pythia next() on the same card.

Run by hand:  python benchmarks/generation_chain.py [--events 400] [--sample hv|qcd]

Both sides use one core and the same card and seed; the chain times the
pipeline's own stage functions (nextBatch to particle Parquet, the fast
detector simulation to Delphes-schema ROOT, ROOT -> analysis Parquet).
"""

import argparse
import tempfile
import time
from pathlib import Path

from workflow_scripts import cards, delphes_io, detector, generation

SAMPLES = {
    "hv": {"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10},
    "qcd": {"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000},
}
SELECTION = {"min_jets": 2, "n_leading_jets": 2, "leading_jet_pt_min_gev": 750, "leading_jet_abs_eta_max": 2.0}


def bare_pythia_rate(card, n_events, seed):
    pythia = generation.configure_pythia(card, seed)
    start = time.perf_counter()
    produced = sum(bool(pythia.next()) for _ in range(n_events))
    return produced / (time.perf_counter() - start)


def chain_rate(card, directory, n_events, seed):
    start = time.perf_counter()
    generation.generate_chunk(card, directory / "particles.parquet", "bench", 0, n_events, seed, batch_size=100)
    generated = time.perf_counter()
    detector.simulate_chunk(directory / "particles.parquet", directory / "delphes.root", jet_radius=0.8, global_seed=seed)
    simulated = time.perf_counter()
    delphes_io.convert_file(directory / "delphes.root", directory / "events.parquet", SELECTION, 0.8, "cwola_dijet")
    done = time.perf_counter()
    stages = {"generate": generated - start, "detector": simulated - generated, "convert": done - simulated}
    return n_events / (done - start), stages


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--sample", choices=sorted(SAMPLES), default="hv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        card = directory / "card.cmnd"
        card.write_text(cards.render_card(cards.sample_settings(SAMPLES[args.sample], 13000.0), args.sample))
        bare = bare_pythia_rate(card, args.events, seed=11)
        chain, stages = chain_rate(card, directory, args.events, seed=11)
    print(f"bare Pythia next(): {bare:.1f} events/s per core")
    print(f"generate -> detector -> Parquet: {chain:.1f} events/s per core = {100 * chain / bare:.0f} % of bare Pythia")
    print("  time per stage: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stages.items()))


if __name__ == "__main__":
    main()
