"""Events per second of generate -> detector -> Parquet against bare Pythia next() on the same card.

Run by hand:  python benchmarks/generation_chain.py [--chunks 3] [--chunk-size 1000] [--sample hv|qcd]

Both sides use one core and the same card and seed; the chain times the
pipeline's own stage functions (nextBatch to particle Parquet, the fast
detector simulation to Delphes-schema ROOT, ROOT -> analysis Parquet).

A shared or virtual machine changes speed from minute to minute, so the two
sides alternate chunk by chunk (bare first in even chunks, the chain first in
odd ones) and the rates sum over all chunks.  What each stage pays per chunk
(opening and writing files) counts; what a job pays once before its first
event (Pythia's initialisation, the first import of fastjet and uproot) is
left out of both rates and reported on its own, with what it costs per event
at the chunk size given.
"""

import argparse
import tempfile
import time
from pathlib import Path

from workflow_scripts.core import files
from workflow_scripts.detector import delphes_io, simulation
from workflow_scripts.generation import cards, pythia

SAMPLES = {
    "hv": {"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10},
    "qcd": {"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000},
}
SELECTION = {"min_jets": 2, "n_leading_jets": 2, "leading_jet_pt_min_gev": 750, "leading_jet_abs_eta_max": 2.0}
STAGES = ("Pythia nextBatch", "particle Parquet", "detector", "convert")


class Stopwatch:
    """Wraps a function and adds up the seconds spent in it."""

    def __init__(self, function):
        self.function, self.seconds = function, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def run_chain(generator, directory: Path, n_events: int, seed: int) -> dict[str, float]:
    """One chunk through the pipeline's stages; seconds per stage."""
    clock = [time.perf_counter()]
    events = pythia.generate(generator, n_events, batch_size=100)
    clock.append(time.perf_counter())
    files.write_awkward(events, directory / "particles.parquet", {"sample": "bench", "chunk": 0, "n_events": len(events)})
    clock.append(time.perf_counter())
    simulation.simulate_chunk(directory / "particles.parquet", directory / "delphes.root", jet_radius=0.8, global_seed=seed)
    clock.append(time.perf_counter())
    delphes_io.convert_file(directory / "delphes.root", directory / "events.parquet", SELECTION, 0.8, "cwola_dijet")
    clock.append(time.perf_counter())
    return {stage: end - start for stage, start, end in zip(STAGES, clock, clock[1:])}


def time_bare_pythia(generator, n_events: int) -> float:
    """Seconds of next() for n_events finished events (as nextBatch's 'skip', failed ones are asked again)."""
    start = time.perf_counter()
    produced = 0
    while produced < n_events:
        produced += bool(generator.next())
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=3, help="chunks per side")
    parser.add_argument("--chunk-size", type=int, default=1000, help="events per chunk (the samples' default)")
    parser.add_argument("--sample", choices=sorted(SAMPLES), default="hv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        card = directory / "card.cmnd"
        card.write_text(cards.render_card(cards.sample_settings(SAMPLES[args.sample], 13000.0), args.sample))
        start = time.perf_counter()
        bare = pythia.configure_pythia(card, seed=11)
        init_seconds = time.perf_counter() - start
        chain = pythia.configure_pythia(card, seed=11)
        # Warm-up: the first use imports fastjet and uproot and fills caches, once per job.
        start = time.perf_counter()
        run_chain(pythia.configure_pythia(card, seed=12), directory, 10, seed=12)
        warm_up_seconds = time.perf_counter() - start

        # The jet step inside the detector stage (nearly all of it fastjet's anti-kt), timed on its own.
        simulation._jets = jet_step = Stopwatch(simulation._jets)
        bare_seconds, stage_seconds, chunk_ratios = 0.0, dict.fromkeys(STAGES, 0.0), []
        for index in range(args.chunks):
            if index % 2 == 0:
                bare_chunk = time_bare_pythia(bare, args.chunk_size)
                stages = run_chain(chain, directory, args.chunk_size, seed=11)
            else:
                stages = run_chain(chain, directory, args.chunk_size, seed=11)
                bare_chunk = time_bare_pythia(bare, args.chunk_size)
            bare_seconds += bare_chunk
            for stage, seconds in stages.items():
                stage_seconds[stage] += seconds
            chunk_ratios.append(bare_chunk / sum(stages.values()))

    n_events = args.chunk_size * args.chunks
    bare_rate, chain_rate = n_events / bare_seconds, n_events / sum(stage_seconds.values())
    print(f"once per job: Pythia initialisation {init_seconds:.2f} s, warm-up (imports, a 10-event chain) "
          f"{warm_up_seconds:.2f} s; at {args.chunk_size} events a chunk they add {init_seconds * bare_rate / args.chunk_size:.1%} and "
          f"{warm_up_seconds * chain_rate / args.chunk_size:.1%} to the chain's time")
    print(f"bare Pythia next(): {bare_rate:.1f} events/s per core")
    print(f"generate -> detector -> Parquet: {chain_rate:.1f} events/s per core = {100 * chain_rate / bare_rate:.0f} % of bare Pythia"
          f" (chunks {min(chunk_ratios):.0%}-{max(chunk_ratios):.0%})")
    print("  time per stage: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stage_seconds.items()))
    print(f"  of the detector's time, anti-kt jets through fastjet: {jet_step.seconds:.2f} s"
          f" ({jet_step.seconds / bare_seconds:.1%} of bare Pythia's time)")


if __name__ == "__main__":
    main()
