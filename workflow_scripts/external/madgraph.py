"""MadGraph5_aMC: process and run cards from a sample's config, one LHE file per chunk.

Samples with ``generator: madgraph`` get their hard process from MadGraph (the
papers' generator), showered by pythia8mc.  ``madgraph_cards`` renders the two
cards of one chunk: the process card (model, process, ``output`` into a
per-chunk scratch directory, since MadGraph writes into its process directory)
and the run card (``set run_card`` / ``set param_card`` answers to
``launch``), with an explicit ``iseed`` derived like Pythia's chunk seeds.
Only keys that MadGraph 3.5's own run card has are written; a test checks
them against the run card MadGraph 3.5.8 stores in an LHE header.

Standard library only (like ``install_tools``): MadGraph jobs need nothing
else, in the generator image or on a plain machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.external import install_tools

# MadGraph's RANMAR seeding takes iseed < 30081 * 30081 and adds 3 per integration step.
MADGRAPH_MAX_ISEED = 30081 * 30081 - 10_000
MADGRAPH_PROCESSES = ("qcd_dijet", "z_nunu_jet", "gluino_pair")
# First-generation squarks of the gluino simplified model (Cohen et al. section 5) and every other squark:
# all decoupled at squark_mass_gev, as in the embedded backend's SLHA spectrum.
SQUARK_IDS = (1000001, 1000002, 1000003, 1000004, 1000005, 1000006, 2000001, 2000002, 2000003, 2000004, 2000005, 2000006)


def madgraph_seed(global_seed: int, sample: str, chunk: int) -> int:
    """The chunk's iseed, from (global seed, sample, chunk) like the Pythia and detector seeds."""
    seed = derive_seed(global_seed, "madgraph", sample, chunk)
    if not 0 < seed < MADGRAPH_MAX_ISEED:
        raise ValueError(f"derived iseed {seed} is outside MadGraph's range (0, {MADGRAPH_MAX_ISEED})")
    return seed


def process_commands(sample: dict) -> list[str]:
    """Model, definitions and `generate` line of a sample's hard process."""
    process = sample["process"]
    if process == "qcd_dijet":  # CWoLa background, Table 1b
        return ["import model sm", "generate p p > j j"]
    if process == "z_nunu_jet":  # Cohen et al. section 5 background: Z(-> nu nu) + 1 jet
        return ["import model sm", "generate p p > z j, z > vl vl~"]
    if process == "gluino_pair":  # Cohen et al. section 5 signal: gluino -> q qbar + neutralino, first generation
        return ["import model MSSM_SLHA2", "define qfirst = u u~ d d~", "generate p p > go go, go > qfirst qfirst n1"]
    raise ValueError(f"process {process!r} has no MadGraph definition; MadGraph backends take {list(MADGRAPH_PROCESSES)}")


def run_card_settings(sample: dict, sqrt_s_gev: float, n_events: int, iseed: int) -> dict:
    """run_card keys and values of one chunk.  Value types follow MadGraph's run card (floats for cuts)."""
    settings = {
        "nevents": int(n_events),
        "iseed": int(iseed),
        "lpp1": 1,
        "lpp2": 1,
        "ebeam1": sqrt_s_gev / 2,
        "ebeam2": sqrt_s_gev / 2,
        "pdlabel": "nn23lo1",  # MadGraph's built-in LO set: no LHAPDF in the image
        "use_syst": False,  # scale/PDF reweighting needs LHAPDF and is not used downstream
    }
    process = sample["process"]
    if process == "qcd_dijet":
        settings["ptj"] = float(sample["pt_hat_min_gev"])
        settings["mmjj"] = float(sample["m_hat_min_gev"])
    elif process == "z_nunu_jet":
        # At this order the Z recoils against the one jet, so ptj is also the MET cut (paper: both 150 GeV).
        settings["ptj"] = float(sample["pt_hat_min_gev"])
        if "pt_hat_max_gev" in sample:
            settings["ptjmax"] = float(sample["pt_hat_max_gev"])
    if "parton_abs_eta_max" in sample:
        settings["etaj"] = float(sample["parton_abs_eta_max"])
    return settings


def param_card_commands(sample: dict) -> list[str]:
    """`set param_card` answers: the gluino model's masses and the gluino width computed by MadGraph."""
    if sample["process"] != "gluino_pair":
        return []
    squark = float(sample.get("squark_mass_gev", 5000.0))
    commands = [f"set param_card mass 1000021 {float(sample['gluino_mass_gev'])}",
                f"set param_card mass 1000022 {float(sample['neutralino_mass_gev'])}"]
    commands += [f"set param_card mass {code} {squark}" for code in SQUARK_IDS]
    # With the squarks decoupled the gluino decays only through off-shell squarks; its width must follow.
    commands.append("set param_card decay 1000021 auto")
    return commands


def format_value(value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


@dataclasses.dataclass(frozen=True)
class MadGraphCards:
    """The two cards of one chunk; `script` is what mg5_aMC runs."""

    process: str
    run: str

    @property
    def script(self) -> str:
        return self.process + self.run


def madgraph_cards(sample_name: str, sample: dict, chunk: int, sqrt_s_gev: float, n_events: int, iseed: int,
                   n_cores: int, process_dir) -> MadGraphCards:
    """Process card and run card of one chunk of a sample.

    The process card sets the session options (no auto-update check, which needs the network; multicore
    with `n_cores`) without saving them into the install, defines the process and writes its directory to `process_dir`, a writable scratch
    location.  The run card launches it with every run_card value set explicitly.
    """
    header = "# {} card of sample " + f"{sample_name}, chunk {chunk}: rendered by workflow_scripts.external.madgraph\n"
    # --no_save: for this session only. Without it MadGraph rewrites input/mg5_configuration.txt in the shared
    # install after every `set`, which parallel chunk jobs would do at once.
    process_lines = [
        "set auto_update 0 --no_save",
        "set automatic_html_opening False --no_save",
        "set run_mode 2 --no_save",
        f"set nb_core {int(n_cores)} --no_save",
        *process_commands(sample),
        f"output {Path(process_dir)} -nojpeg",
    ]
    run_lines = [f"launch {Path(process_dir)}", "done"]  # `done`: keep the default switches (no shower, no MadSpin)
    run_lines += [f"set run_card {key} {format_value(value)}"
                  for key, value in run_card_settings(sample, sqrt_s_gev, n_events, iseed).items()]
    run_lines += param_card_commands(sample)
    run_lines.append("done")
    return MadGraphCards(process=header.format("Process") + "\n".join(process_lines) + "\n",
                         run=header.format("Run") + "\n".join(run_lines) + "\n")


RUN_CARD_SETTING = re.compile(r"^set run_card (\S+) (.+)$")


def rendered_run_settings(run_card: str) -> dict[str, str]:
    """The `set run_card KEY VALUE` answers of a rendered run card, as text."""
    return {match[1]: match[2].strip() for line in run_card.splitlines() if (match := RUN_CARD_SETTING.match(line.strip()))}


def _open_text(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Les Houches file {path} does not exist")
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def read_lhe_header(path) -> str:
    """The text of an LHE file's <header> block (MadGraph stores its cards there)."""
    lines = []
    stream = _open_text(path)
    try:
        with stream:
            for line in stream:
                if line.lstrip().startswith(("<init>", "<event>")):
                    break  # no header before the events
                lines.append(line)
                if "</header>" in line:
                    break
    except (OSError, EOFError) as error:
        raise OSError(f"cannot read Les Houches file {path}: {error}") from error
    text = "".join(lines)
    if "<header>" not in text or "</header>" not in text:
        raise ValueError(f"Les Houches file {path} has no complete <header> block")
    return text


def header_block(header: str, tag: str, path="LHE header") -> str:
    """The content of one <tag> block of a header, without a CDATA wrapper."""
    match = re.search(rf"<{tag}>(.*?)</{tag}>", header, re.DOTALL)
    if match is None:
        raise ValueError(f"{path}: no <{tag}> block in the header")
    content = match[1].strip()
    if content.startswith("<![CDATA[") and content.endswith("]]>"):
        content = content[len("<![CDATA["):-len("]]>")]
    return content


def parse_run_card(text: str) -> dict[str, str]:
    """MadGraph run_card lines `value = key ! comment` as {key: value text}; comment lines are skipped.

    Values may contain '=' (e.g. systematics_arguments), so the key is what follows the last '='
    before the comment.
    """
    settings = {}
    for raw in text.splitlines():
        line = raw.split("!", 1)[0].strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        value, key = line.rsplit("=", 1)
        if key.strip():
            settings[key.strip()] = value.strip()
    return settings


def run_card_from_lhe(path) -> dict[str, str]:
    """The run card MadGraph wrote into an LHE file's header (<MGRunCard>), as {key: value text}."""
    return parse_run_card(header_block(read_lhe_header(path), "MGRunCard", path))


def madgraph_version_from_lhe(path) -> str:
    return header_block(read_lhe_header(path), "MGVersion", path).strip()


def value_type(text: str) -> str:
    """MadGraph's type of a run_card value written as text: bool, int, float, dict, list or str."""
    text = text.strip()
    if text in ("True", "False", "T", "F", ".true.", ".false.", "true", "false"):
        return "bool"
    if re.fullmatch(r"[+-]?\d+", text):
        return "int"
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eEdD][+-]?\d+)?", text):
        return "float"
    if text.startswith("{"):
        return "dict"
    if text.startswith("["):
        return "list"
    return "str"


def compatible(rendered: str, reference: str) -> bool:
    """Whether a value we write can set a run_card entry whose MadGraph value is `reference`:
    an integer also sets a float entry, nothing else converts."""
    ours, theirs = value_type(rendered), value_type(reference)
    return ours == theirs or (ours == "int" and theirs == "float")


def count_lhe_events(path) -> int:
    """Events of a (possibly gzipped) LHE file; a file cut short (no closing tag) is an error."""
    events, closed = 0, False
    stream = _open_text(path)
    try:
        with stream:
            for line in stream:
                if line.lstrip().startswith("<event"):
                    events += 1
                elif "</LesHouchesEvents>" in line:
                    closed = True
    except (OSError, EOFError) as error:
        raise OSError(f"cannot read Les Houches file {path} (truncated?): {error}") from error
    if not closed:
        raise OSError(f"Les Houches file {path} is truncated: it ends without </LesHouchesEvents>")
    return events


def _debug_logs(scratch: Path) -> str:
    """MadGraph's own crash reports, for the job log."""
    reports = [*scratch.glob("MG5_debug"), *scratch.glob("process/ME5_debug"),
               *sorted(scratch.glob("process/Events/*/*_debug.log"))]
    return "".join(f"\n--- {report} ---\n{report.read_text(errors='replace')[-20000:]}" for report in reports)


def generate_lhe(sample_name: str, sample: dict, chunk: int, n_events: int, global_seed: int, sqrt_s_gev: float,
                 n_cores: int, output, scratch_root=None, mg5_command=("mg5_aMC",)) -> dict:
    """Run MadGraph for one chunk in a scratch directory and move its unweighted events to `output` (.lhe.gz).
    `mg5_command` is the program to run (with its interpreter), by default mg5_aMC on PATH (the image)."""
    output = Path(output)
    iseed = madgraph_seed(global_seed, sample_name, chunk)
    with tempfile.TemporaryDirectory(prefix=f"madgraph-{sample_name}-chunk{chunk}-", dir=scratch_root) as scratch:
        scratch = Path(scratch)
        cards = madgraph_cards(sample_name, sample, chunk, sqrt_s_gev, n_events, iseed, n_cores, scratch / "process")
        (scratch / "proc_card.mg5").write_text(cards.process)
        (scratch / "run_card.mg5").write_text(cards.run)
        (scratch / "madgraph.mg5").write_text(cards.script)
        print(cards.script, flush=True)
        # No standard input: a question the cards do not answer ends the run instead of waiting.
        program = [mg5_command] if isinstance(mg5_command, (str, os.PathLike)) else list(mg5_command)
        result = subprocess.run([*program, str(scratch / "madgraph.mg5")], cwd=scratch, stdin=subprocess.DEVNULL)
        produced = sorted((scratch / "process" / "Events").glob("*/unweighted_events.lhe.gz"))
        if result.returncode != 0 or len(produced) != 1:
            found = [str(path) for path in produced]
            raise RuntimeError(f"MadGraph did not produce one unweighted_events.lhe.gz for sample {sample_name} chunk {chunk} "
                               f"(exit code {result.returncode}, found {found})" + _debug_logs(scratch))
        lhe = produced[0]
        used_seed = run_card_from_lhe(lhe).get("iseed")
        if used_seed is None or int(used_seed) != iseed:
            raise RuntimeError(f"{lhe}: MadGraph ran with iseed {used_seed}, not the requested {iseed}")
        n_produced = count_lhe_events(lhe)
        if n_produced < n_events:
            print(f"warning: MadGraph wrote {n_produced} of the {n_events} requested events", file=sys.stderr)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.{os.getpid()}.part")
        shutil.copyfile(lhe, partial)  # scratch may be on another file system: copy, then rename atomically
        os.replace(partial, output)
    return {"sample": sample_name, "chunk": chunk, "iseed": iseed, "n_events": n_produced,
            "generator": f"MadGraph5_aMC {madgraph_version_from_lhe(output)}"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.external.madgraph", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("cards", "write the chunk's process and run cards to a directory"),
                            ("run", "run MadGraph for one chunk (inside the generator container)")):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--sample", required=True)
        command.add_argument("--settings", required=True, help="the sample's config entry as JSON")
        command.add_argument("--chunk", type=int, required=True)
        command.add_argument("--events", type=int, required=True)
        command.add_argument("--seed", type=int, required=True, help="global seed")
        command.add_argument("--sqrt-s-gev", type=float, required=True)
        command.add_argument("--cores", type=int, default=1, help="MadGraph's nb_core")
    sub.choices["cards"].add_argument("--directory", type=Path, required=True)
    sub.choices["run"].add_argument("--output", type=Path, required=True, help="the chunk's .lhe.gz")
    sub.choices["run"].add_argument("--scratch", type=Path, help="where the per-chunk process directory is made")
    sub.choices["run"].add_argument("--tool", type=Path, help="MadGraph's install record (rule install_madgraph); "
                                    f"default: the generator image's, under ${install_tools.RECORDS_VARIABLE}")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sample = json.loads(args.settings)
    if args.command == "cards":
        iseed = madgraph_seed(args.seed, args.sample, args.chunk)
        cards = madgraph_cards(args.sample, sample, args.chunk, args.sqrt_s_gev, args.events, iseed, args.cores,
                               args.directory / "process")
        args.directory.mkdir(parents=True, exist_ok=True)
        (args.directory / "proc_card.mg5").write_text(cards.process)
        (args.directory / "run_card.mg5").write_text(cards.run)
        return
    try:
        record = install_tools.record_or_default(args.tool, "madgraph")
    except install_tools.ToolError as error:
        sys.exit(f"error: {error}")
    command = (record["python"], record["programs"]["mg5_aMC"])
    print(generate_lhe(args.sample, sample, args.chunk, args.events, args.seed, args.sqrt_s_gev, args.cores, args.output,
                       args.scratch, command), flush=True)


if __name__ == "__main__":
    main()
