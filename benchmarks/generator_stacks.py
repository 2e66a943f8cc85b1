"""Events per second per core of each generator x detector chain against bare Pythia next() on the same card.

Run by hand:  python benchmarks/generator_stacks.py [--rounds 2] [--chunk-size 5000] [--sample-chunks 880] [--tools-cache DIR]
              [--source-dir ../shared/vendor] [--chains "pythia + delphes" ...]

Chains, each one chunk from nothing to analysis Parquet, with the stage functions the workflow's jobs call:
  pythia + embedded             generation -> particle Parquet -> fast simulation -> convert
  pythia + delphes              generation -> HepMC3 pipe -> DelphesHepMC3 -> convert
  madgraph + pythia + embedded  MadGraph LHE from the sample's gridpack -> shower -> ...
  madgraph + pythia + delphes   MadGraph LHE from the gridpack -> shower -> HepMC3 pipe -> DelphesHepMC3 -> convert
against bare Pythia next() on the pythia chains' card (QCD dijets, pT-hat > 700 GeV, m-hat > 3 TeV, the MadGraph
chains' ptj and mmjj cuts).  A round runs every side once, in an order that rotates from round to round, so
that a machine whose speed drifts treats all alike.  The gridpack is made once and timed; its time is shared out over
the chunks it serves, both this benchmark's few and a whole sample's (--sample-chunks); the default chunk size is the
paper presets' (5 000 events).  The tools are built (or reused) by workflow_scripts.external.install_tools first
and that is not timed.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from workflow_scripts.detector import delphes, delphes_io, simulation
from workflow_scripts.external import install_tools, madgraph
from workflow_scripts.generation import cards, pythia

SAMPLE = {"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000}
SELECTION = {"min_jets": 2, "n_leading_jets": 2, "leading_jet_pt_min_gev": 750, "leading_jet_abs_eta_max": 2.0}
SEED = 11
CHAINS = ["pythia + embedded", "pythia + delphes", "madgraph + pythia + embedded", "madgraph + pythia + delphes"]


def write_card(path: Path, settings: dict) -> Path:
    path.write_text(cards.render_card(cards.sample_settings(settings, 13000.0), "bench"))
    return path


def make_gridpack(directory: Path, tools: dict) -> None:
    madgraph.build_gridpack("bench", SAMPLE, 13000.0, SEED, 1, directory / "bench.tar.gz", directory / "bench.json",
                            tools["madgraph"], directory)


def madgraph_card(directory: Path, n_events: int, chunk: int, tools: dict) -> Path:
    lhe = directory / f"chunk{chunk}.lhe.gz"
    madgraph.generate_from_gridpack(directory / "bench.tar.gz", directory / "bench.json", "bench", chunk, n_events, SEED, lhe,
                                    tools["madgraph"], directory)
    return write_card(directory / f"chunk{chunk}.cmnd", {"process": "lhe", "lhe_file": str(lhe)})


def embedded_chain(card: Path, directory: Path, n_events: int, chunk: int, lhe: bool) -> None:
    particles, root = directory / "particles.parquet", directory / "embedded.root"
    pythia.generate_chunk(card, particles, "bench", chunk, n_events, SEED, lhe_first_event=0 if lhe else None)
    simulation.simulate_chunk(particles, root, jet_radius=0.8, global_seed=SEED)
    delphes_io.convert_file(root, directory / "events.parquet", SELECTION, 0.8, "cwola_dijet")


def delphes_chain(card: Path, directory: Path, n_events: int, chunk: int, lhe: bool, record: Path) -> None:
    root = directory / "delphes.root"
    delphes.simulate_chunk(card, root, "bench", chunk, n_events, SEED, 0.8, lhe_first_event=0 if lhe else None,
                           tool_record=record)
    delphes_io.convert_file(root, directory / "events.parquet", SELECTION, 0.8, "cwola_dijet")


def bare_pythia(card: Path, n_events: int, chunk: int) -> None:
    generator = pythia.configure_pythia(card, seed=SEED + chunk)
    produced = 0
    while produced < n_events:
        produced += bool(generator.next())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--sample-chunks", type=int, default=880,
                        help="chunks of the sample one gridpack serves (presets/paper-cwola.yaml's qcd_dijet_window: 880)")
    parser.add_argument("--tools-cache", type=Path, default=os.environ.get(install_tools.CACHE_VARIABLE) or Path("tools"))
    parser.add_argument("--source-dir", type=Path, default=os.environ.get(install_tools.SOURCE_DIR_VARIABLE) or None)
    parser.add_argument("--chains", nargs="+", choices=CHAINS, default=CHAINS,
                        help="the chains to time against bare Pythia (default: all)")
    args = parser.parse_args()
    used = {"madgraph": any(chain.startswith("madgraph") for chain in args.chains),
            "delphes": any(chain.endswith("delphes") for chain in args.chains)}
    tools = {tool: install_tools.install(tool, args.tools_cache, args.source_dir) for tool, needed in used.items() if needed}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        record = directory / "delphes.json"
        if "delphes" in tools:
            install_tools.write_record(tools["delphes"], record)
        card = write_card(directory / "pythia.cmnd", SAMPLE)
        n = args.chunk_size
        sides = {
            "bare Pythia next()": lambda chunk: bare_pythia(card, n, chunk),
            "pythia + embedded": lambda chunk: embedded_chain(card, directory, n, chunk, lhe=False),
            "pythia + delphes": lambda chunk: delphes_chain(card, directory, n, chunk, lhe=False, record=record),
            "madgraph + pythia + embedded": lambda chunk: embedded_chain(madgraph_card(directory, n, chunk, tools), directory,
                                                                         n, chunk, lhe=True),
            "madgraph + pythia + delphes": lambda chunk: delphes_chain(madgraph_card(directory, n, chunk, tools), directory,
                                                                       n, chunk, lhe=True, record=record),
        }
        names = [name for name in sides if name not in CHAINS or name in args.chains]
        seconds = dict.fromkeys(names, 0.0)
        gridpack_seconds = 0.0
        if any(name.startswith("madgraph") for name in names):
            start = time.perf_counter()
            make_gridpack(directory, tools)
            gridpack_seconds = time.perf_counter() - start
            print(f"gridpack: {gridpack_seconds:.1f} s", flush=True)
        for round_index in range(args.rounds):
            order = names[round_index % len(names):] + names[:round_index % len(names)]
            for name in order:
                start = time.perf_counter()
                sides[name](round_index)
                seconds[name] += time.perf_counter() - start
                print(f"round {round_index}: {name}: {time.perf_counter() - start:.1f} s", flush=True)
    events = args.rounds * args.chunk_size
    bare_rate = events / seconds[names[0]]
    print(f"\n{args.rounds} rounds of {args.chunk_size}-event chunks, one core each; MadGraph's gridpack ({gridpack_seconds:.1f} s) "
          f"shared out over this benchmark's {args.rounds} chunks, and over a sample of {args.sample_chunks} chunks:")
    for name in names:
        shares = [args.rounds, args.sample_chunks] if name.startswith("madgraph") else [None]
        rates = [events / (seconds[name] + (gridpack_seconds * args.rounds / chunks if chunks else 0.0)) for chunks in shares]
        print(f"  {name:30s} " + "   ".join(f"{rate:8.2f} events/s = {rate / bare_rate:6.1%} of bare Pythia" for rate in rates))


if __name__ == "__main__":
    main()
