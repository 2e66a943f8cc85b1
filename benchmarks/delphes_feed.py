"""Milliseconds per event of each stage of the Pythia -> HepMC3 -> Delphes feed, per sample.

Run by hand:  python benchmarks/delphes_feed.py [--events 100] [--samples qcd hv] [--tools-cache DIR]
              [--source-dir ../shared/vendor]

Stages, on the same events (one Pythia seed per sample, nextBatch of 100):
  generation       pythia8mc nextBatch alone
  record + text    workflow_scripts.generation.hepmc.events_text: graph and HepMC3 ASCII of the full record
  delphes full     DelphesHepMC3 (CMS card, its whole tree) on that text as a file on disk, less its start-up
                   (timed on 1 event)
  delphes analysis the same with the analysis tree (workflow_scripts.external.delphes_card), the workflow's default
  chain (pipe)     delphes.simulate_chunk: generation, text and Delphes (analysis tree) through the pipe, as the
                   workflow's job
The samples are the QCD dijet card of benchmarks/generator_stacks.py (pT-hat > 700 GeV, m-hat > 3 TeV) and the
hidden-valley signal hv_id_lambda10.  Delphes is built (or reused) by workflow_scripts.external.install_tools first.
"""

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from workflow_scripts.detector import delphes
from workflow_scripts.external import install_tools
from workflow_scripts.generation import cards, hepmc, pythia

SAMPLES = {"qcd": {"process": "qcd_dijet", "pt_hat_min_gev": 700, "m_hat_min_gev": 3000},
           "hv": {"process": "hidden_valley", "scenario": "ID", "lambda_d_gev": 10}}
SEED = 11
BATCH = 100


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def write_text(path: Path, texts: list[bytes]) -> None:
    path.write_bytes(hepmc.HEADER + b"".join(texts) + hepmc.FOOTER)


def run_delphes(tool_record: Path, card: Path, hepmc_path: Path, output: Path) -> float:
    program, _, env = delphes.delphes_program(tool_record)
    output.unlink(missing_ok=True)
    _, seconds = timed(subprocess.run, [program, str(card), str(output), str(hepmc_path)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return seconds


def bench_sample(name: str, n_events: int, directory: Path, tool_record: Path) -> dict:
    card = directory / f"{name}.cmnd"
    card.write_text(cards.render_card(cards.sample_settings(SAMPLES[name], 13000.0), name))
    generator = pythia.configure_pythia(card, SEED)
    hepmc.events_text(generator.nextBatch(1, "skip")["prt"])  # warm-up: imports, first-call costs
    batches, generation = [], 0.0
    while sum(len(batch) for batch in batches) < n_events:
        batch, seconds = timed(generator.nextBatch, min(BATCH, n_events - sum(len(b) for b in batches)), "skip")
        batches.append(batch)
        generation += seconds
    texts, text_seconds, first = [], 0.0, 0
    for batch in batches:
        text, seconds = timed(hepmc.events_text, batch["prt"], first)
        texts.append(text)
        text_seconds += seconds
        first += len(batch)
    events_file, one_event_file = directory / f"{name}.hepmc3", directory / f"{name}_1.hepmc3"
    write_text(events_file, texts)
    write_text(one_event_file, [hepmc.events_text(batches[0]["prt"][:1])])
    _, cms_card, _ = delphes.delphes_program(tool_record)
    result = {"generation": generation / n_events, "record + text": text_seconds / n_events}
    for tree in ("full", "analysis"):
        (directory / tree).mkdir(exist_ok=True)
        tree_card = delphes.patched_card(cms_card, 0.8, SEED, directory / tree, tree)
        startup = run_delphes(tool_record, tree_card, one_event_file, directory / "one.root")
        on_file = run_delphes(tool_record, tree_card, events_file, directory / "file.root")
        result[f"delphes {tree}"] = (on_file - startup) / (n_events - 1)
    output = directory / f"{name}_pipe.root"
    _, chain = timed(delphes.simulate_chunk, card, output, name, 0, n_events, SEED, 0.8, BATCH, tool_record=tool_record)
    return result | {"delphes start-up (s)": startup, "chain (pipe)": chain / n_events,
                     "text MB/event": events_file.stat().st_size / n_events / 1e6}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--samples", nargs="+", choices=sorted(SAMPLES), default=["qcd", "hv"])
    parser.add_argument("--tools-cache", type=Path, default=os.environ.get(install_tools.CACHE_VARIABLE) or Path("tools"))
    parser.add_argument("--source-dir", type=Path, default=os.environ.get(install_tools.SOURCE_DIR_VARIABLE) or None)
    args = parser.parse_args()
    tool = install_tools.install("delphes", args.tools_cache, args.source_dir)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        record = directory / "delphes.json"
        install_tools.write_record(tool, record)
        results = {name: bench_sample(name, args.events, directory, record) for name in args.samples}
    print(f"\n{args.events} events a sample; ms/event (start-up in s, text size in MB/event)")
    for name, result in results.items():
        print(name + ": " + ", ".join(f"{stage} {value * (1 if '(s)' in stage or 'MB' in stage else 1e3):.2f}"
                                      for stage, value in result.items()))


if __name__ == "__main__":
    main()
