"""MadGraph5_aMC: one gridpack per sample, then one LHE file per chunk from it.

Samples with ``generator: madgraph`` get their hard process from MadGraph (the
papers' generator), showered by pythia8mc.  A sample's process is a
``madgraph:`` block (model, ``define`` lines, processes, decay widths, run and
param card settings); the built-in processes ``qcd_dijet``, ``z_nunu_jet`` and
``gluino_pair`` are presets of that block (``process_definition``).

``build_gridpack`` writes the process, compiles it and integrates it once per
sample (``set gridpack True``), and records the survey's cross section.  A
chunk job (``generate_from_gridpack``) unpacks the gridpack into its own
scratch directory (two runs of one unpacked copy collide on MadGraph's lock)
and generates the chunk's events with its own ``iseed``, derived like Pythia's
chunk seeds.  The chunk's ``<init>`` cross section is set to the survey's, so
that every chunk of a sample carries the sample's cross section, not its own
statistical estimate.

Only run_card keys that MadGraph 3.5 knows are written: the built-in keys are
checked by a test against the run card MadGraph 3.5.8 stores in an LHE header,
a user's keys against the installed MadGraph's own run-card definition.

Standard library only (like ``install_tools``): MadGraph jobs need nothing
else, in the generator image or on a plain machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from workflow_scripts.core.lhe import cross_section as lhe_cross_section
from workflow_scripts.core.lhe import open_text, with_cross_section
from workflow_scripts.core.lhe import read_text as read_lhe_text
from workflow_scripts.core.seeding import derive_seed
from workflow_scripts.external import install_tools

# MadGraph's RANMAR seeding takes iseed < 30081 * 30081 and adds 3 per integration step.
MADGRAPH_MAX_ISEED = 30081 * 30081 - 10_000
BUILTIN_PROCESSES = ("qcd_dijet", "z_nunu_jet", "gluino_pair")
# First-generation squarks of the gluino simplified model (Cohen et al. section 5) and every other squark:
# all decoupled at squark_mass_gev, as in the embedded backend's SLHA spectrum.
SQUARK_IDS = (1000001, 1000002, 1000003, 1000004, 1000005, 1000006, 2000001, 2000002, 2000003, 2000004, 2000005, 2000006)
# MadGraph 3.5.x sums the cross section wrongly for processes with more than about 80 integration channels (CMS
# patches it: genproductions' 0080-fix_xsec_issue); a gridpack with more says so in its log and record.
MAX_RELIABLE_CHANNELS = 80
# Where a gridpack keeps its process; the gridpack's process directory is called this inside the scratch directory,
# so that no absolute path reaches the cards MadGraph copies into every LHE header.
PROCESS_DIRECTORY = "process"
USER_MODEL_DIRECTORY = "models"


class MadGraphError(RuntimeError):
    """MadGraph refused or failed; the message names the sample (and chunk) and carries MadGraph's own words."""


def madgraph_seed(global_seed: int, sample: str, chunk) -> int:
    """The iseed of a chunk (or of the sample's gridpack survey, chunk "gridpack"), from (global seed, sample,
    chunk) like the Pythia and detector seeds."""
    seed = derive_seed(global_seed, "madgraph", sample, chunk)
    if not 0 < seed < MADGRAPH_MAX_ISEED:
        raise ValueError(f"derived iseed {seed} is outside MadGraph's range (0, {MADGRAPH_MAX_ISEED})")
    return seed


def process_definition(sample: dict) -> dict:
    """A sample's `madgraph:` block: its own (process `madgraph`), or the preset of a built-in process.

    Keys: model (a built-in model name, or the path of a UFO directory: any value with a '/'), define (lines
    after `define`), processes (the first is `generate`, the others `add process`), decays ({PDG id: width in GeV
    or "auto"}), run_card ({key: value}) and param_card ({block: {id: value}}).
    """
    process = sample["process"]
    if process == "madgraph":
        if "madgraph" not in sample:
            raise ValueError("a sample with process madgraph needs a `madgraph:` block (model, processes)")
        return sample["madgraph"]
    if process == "qcd_dijet":  # CWoLa background, Table 1b
        definition = {"model": "sm", "processes": ["p p > j j"],
                      "run_card": {"ptj": float(sample["pt_hat_min_gev"]), "mmjj": float(sample["m_hat_min_gev"])}}
    elif process == "z_nunu_jet":  # Cohen et al. section 5 background: Z(-> nu nu) + 1 jet
        # At this order the Z recoils against the one jet, so ptj is also the MET cut (paper: both 150 GeV).
        definition = {"model": "sm", "processes": ["p p > z j, z > vl vl~"],
                      "run_card": {"ptj": float(sample["pt_hat_min_gev"])}}
        if "pt_hat_max_gev" in sample:
            definition["run_card"]["ptjmax"] = float(sample["pt_hat_max_gev"])
    elif process == "gluino_pair":  # Cohen et al. section 5 signal: gluino -> q qbar + neutralino, first generation
        squark = float(sample.get("squark_mass_gev", 5000.0))
        masses = {1000021: float(sample["gluino_mass_gev"]), 1000022: float(sample["neutralino_mass_gev"])}
        # With the squarks decoupled the gluino decays only through off-shell squarks; its width must follow.
        definition = {"model": "MSSM_SLHA2", "define": ["qfirst = u u~ d d~"],
                      "processes": ["p p > go go, go > qfirst qfirst n1"], "run_card": {},
                      "param_card": {"mass": masses | dict.fromkeys(SQUARK_IDS, squark)}, "decays": {1000021: "auto"}}
    else:
        raise ValueError(f"process {process!r} has no MadGraph definition; MadGraph samples take "
                         f"{[*BUILTIN_PROCESSES, 'madgraph']}")
    if "parton_abs_eta_max" in sample:
        definition["run_card"]["etaj"] = float(sample["parton_abs_eta_max"])
    return definition


def is_model_path(model: str) -> bool:
    return "/" in model


def user_model(definition: dict, base_directory=".") -> Path | None:
    """The UFO directory a definition names by path (relative to the working directory), or None for a model
    MadGraph ships; a path that is not a directory is an error naming it."""
    model = definition["model"]
    if not is_model_path(model):
        return None
    path = Path(base_directory) / model
    if not path.is_dir():
        raise FileNotFoundError(f"MadGraph model directory {model} does not exist (config key madgraph.model, "
                                f"a path relative to the working directory {Path(base_directory).resolve()})")
    if not (path / "particles.py").is_file():
        raise FileNotFoundError(f"MadGraph model directory {model} is not a UFO model: it has no particles.py")
    if "auto" in map(str, definition.get("decays", {}).values()) and not (path / "write_param_card.py").is_file():
        # MadGraph computes widths with the model's own param-card writer; without it, it fails far from the cause.
        raise FileNotFoundError(f"MadGraph model directory {model} has no write_param_card.py, which MadGraph needs to "
                                "compute the widths set to auto in config key madgraph.decays")
    return path


def model_digest(path) -> str:
    """sha256 of a UFO directory's files (names and contents), without the caches and logs MadGraph writes into it
    and without documentation: what changes the physics rebuilds the gridpack, an edited README does not."""
    digest = hashlib.sha256()
    path = Path(path)
    for item in sorted(path.rglob("*")):
        if item.is_file() and "__pycache__" not in item.parts and item.suffix not in (".pyc", ".pkl", ".log", ".md"):
            digest.update(str(item.relative_to(path)).encode() + b"\0" + item.read_bytes() + b"\0")
    return digest.hexdigest()


def process_commands(definition: dict) -> list[str]:
    """Model, definitions and `generate` / `add process` lines of a definition; a user's UFO is imported from
    its copy in the scratch directory (see build_gridpack)."""
    model = definition["model"]
    model_reference = f"./{USER_MODEL_DIRECTORY}/{Path(model).name}" if is_model_path(model) else model
    processes = definition["processes"]
    return ([f"import model {model_reference}"] + [f"define {line}" for line in definition.get("define", [])]
            + [f"generate {processes[0]}"] + [f"add process {line}" for line in processes[1:]])


def run_card_settings(definition: dict, sqrt_s_gev: float, iseed: int) -> dict:
    """run_card keys and values of a sample's gridpack.  Value types follow MadGraph's run card (floats for cuts)."""
    settings = {
        "gridpack": True,
        "iseed": int(iseed),
        "lpp1": 1,
        "lpp2": 1,
        "ebeam1": sqrt_s_gev / 2,
        "ebeam2": sqrt_s_gev / 2,
        "pdlabel": "nn23lo1",  # MadGraph's built-in LO set: no LHAPDF in the image
        "use_syst": False,  # scale/PDF reweighting needs LHAPDF and is not used downstream
    }
    return settings | dict(definition.get("run_card", {}))


def param_card_commands(definition: dict) -> list[str]:
    """`set param_card` answers: the definition's parameters, then its decay widths."""
    commands = [f"set param_card {block} {code} {format_value(value)}"
                for block, entries in definition.get("param_card", {}).items() for code, value in entries.items()]
    commands += [f"set param_card decay {code} {format_value(width)}" for code, width in definition.get("decays", {}).items()]
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


def gridpack_cards(sample_name: str, definition: dict, sqrt_s_gev: float, iseed: int, n_cores: int) -> MadGraphCards:
    """Process card and run card of a sample's gridpack, run by mg5_aMC in the scratch directory.

    The process card sets the session options (no auto-update check, which needs the network; multicore with
    `n_cores`) without saving them into the install, defines the process and writes it to PROCESS_DIRECTORY, a
    relative path, so that no scratch path reaches the cards MadGraph copies into every event file.  The run card
    launches it with every run_card value set explicitly and `gridpack True`: a survey, then the gridpack.
    """
    header = "# {} card of sample " + f"{sample_name}'s gridpack: rendered by workflow_scripts.external.madgraph\n"
    # --no_save: for this session only. Without it MadGraph rewrites input/mg5_configuration.txt in the shared
    # install after every `set`, which parallel jobs would do at once.
    process_lines = [
        "set auto_update 0 --no_save",
        "set automatic_html_opening False --no_save",
        "set run_mode 2 --no_save",
        f"set nb_core {int(n_cores)} --no_save",
        *process_commands(definition),
        f"output {PROCESS_DIRECTORY} -nojpeg",
    ]
    run_lines = [f"launch {PROCESS_DIRECTORY}", "done"]  # `done`: keep the default switches (no shower, no MadSpin)
    run_lines += [f"set run_card {key} {format_value(value)}"
                  for key, value in run_card_settings(definition, sqrt_s_gev, iseed).items()]
    run_lines += param_card_commands(definition)
    run_lines.append("done")
    return MadGraphCards(process=header.format("Process") + "\n".join(process_lines) + "\n",
                         run=header.format("Run") + "\n".join(run_lines) + "\n")


RUN_CARD_SETTING = re.compile(r"^set run_card (\S+) (.+)$")


def rendered_run_settings(run_card: str) -> dict[str, str]:
    """The `set run_card KEY VALUE` answers of a rendered run card, as text."""
    return {match[1]: match[2].strip() for line in run_card.splitlines() if (match := RUN_CARD_SETTING.match(line.strip()))}


def read_lhe_header(path) -> str:
    """The text of an LHE file's <header> block (MadGraph stores its cards there)."""
    lines = []
    stream = open_text(path)
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
    # A gridpack's events write it as a comment line ("#3.5.7").
    return header_block(read_lhe_header(path), "MGVersion", path).strip().lstrip("#").strip()


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
    stream = open_text(path)
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


ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")


def madgraph_complaints(output: str) -> list[str]:
    """What MadGraph refused, from its output: commands interrupted or failed with an error (it still exits with 0
    after one in a script), and `set` commands it ignored as invalid."""
    lines = ANSI_CODES.sub("", output).splitlines()
    complaints = []
    for index, line in enumerate(lines):
        if line.rstrip().endswith("with error:") and index + 1 < len(lines):
            command = line.rstrip()[: -len("with error:")].strip() or lines[index - 1].strip()
            complaints.append(f"{command}: {lines[index + 1].strip()}")
        elif line.startswith("Error detected in sub-command") and index + 1 < len(lines):
            command = line[len("Error detected in sub-command"):].strip()
            complaints.append(f'"{command}": {lines[index + 1].strip()}')
        elif "invalid set command" in line:
            complaints.append(line.replace("WARNING:", "").strip())
    return complaints


def _debug_logs(scratch: Path) -> str:
    """MadGraph's own crash reports, for the job log."""
    reports = [*scratch.glob("MG5_debug"), *scratch.glob(f"{PROCESS_DIRECTORY}/ME5_debug"),
               *sorted(scratch.glob(f"{PROCESS_DIRECTORY}/Events/*/*_debug.log")),
               *sorted(scratch.glob("madevent/Events/*/*_debug.log"))]
    return "".join(f"\n--- {report.name} ---\n{report.read_text(errors='replace')[-20000:]}" for report in reports)


def run_streaming(command, cwd, env=None) -> tuple[int, str]:
    """Run a program with no standard input (a question the cards do not answer ends the run instead of waiting),
    its output copied to ours (the job log) as it comes; returns its exit code and output."""
    process = subprocess.Popen([str(part) for part in command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    captured = []
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()  # the job log shows where MadGraph is while it runs
        captured.append(line)
    return process.wait(), "".join(captured)


RUN_CARD_KEYS_PROGRAM = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
                         "from madgraph.various.banner import RunCardLO; "
                         "print(json.dumps(sorted(key.lower() for key in RunCardLO().keys())))")
# run_card keys the workflow sets itself: a sample's seed comes from the global seed, and every run is a gridpack.
WORKFLOW_RUN_CARD_KEYS = ("iseed", "gridpack", "nevents")


def known_run_card_keys(tool: dict) -> set[str]:
    """Every key of the installed MadGraph's LO run card (its own definition, hidden keys included)."""
    result = subprocess.run([tool["python"], "-c", RUN_CARD_KEYS_PROGRAM, tool["prefix"]], capture_output=True, text=True)
    if result.returncode != 0:
        raise MadGraphError(f"cannot read MadGraph's run card definition from {tool['prefix']}: {result.stderr[-2000:]}")
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def check_run_card_keys(sample_name: str, definition: dict, known_keys: set[str]) -> None:
    for key in definition.get("run_card", {}):
        where = f"config key generation.samples.{sample_name}.madgraph.run_card"
        if key.lower() in WORKFLOW_RUN_CARD_KEYS:
            raise ValueError(f"sample {sample_name}: run_card key {key!r} is set by the workflow, not the config ({where})")
        if key.lower() not in known_keys:
            raise ValueError(f"sample {sample_name}: {key!r} is not a key of MadGraph's run card ({where})")


def survey_cross_section(process_dir: Path) -> tuple[float, float]:
    """The survey's cross section and uncertainty (pb): the first two numbers of SubProcesses/results.dat."""
    results = process_dir / "SubProcesses" / "results.dat"
    try:
        cross_section, error = (float(value.replace("D", "E")) for value in results.read_text().split()[:2])
    except (OSError, ValueError) as error:
        raise MadGraphError(f"cannot read the survey's cross section from {results}: {error}") from error
    return cross_section, error


def count_channels(process_dir: Path) -> int:
    """Integration channels of a process (the G* directories of its subprocesses)."""
    return sum(1 for path in (process_dir / "SubProcesses").glob("P*/G*") if path.is_dir())


def install_atomically(source: Path, output: Path) -> None:
    """Copy `source` to `output` through a partial file beside it (scratch may be on another file system), renamed
    into place; partial files that an earlier, killed job left beside `output` are removed first."""
    output.parent.mkdir(parents=True, exist_ok=True)
    for stale in output.parent.glob(f".{output.name}.*.part"):
        stale.unlink(missing_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.part")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)


def write_reproducible_gzip(text: str, path: Path) -> None:
    """gzip without the time and name that gzip's header holds by default: the same text, the same bytes."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as stream:
        stream.write(text.encode())


def mg5_command(tool: dict) -> tuple[str, str]:
    return tool["python"], tool["programs"]["mg5_aMC"]


def tool_path_environment(tool: dict) -> dict:
    """The environment of MadGraph's processes. Its helper scripts run `python3` from PATH: make it the interpreter
    MadGraph is installed for. Python's string hashing is fixed, because MadGraph sums over sets and dicts keyed by
    strings: with a random hash seed, the order of those sums, and with it the last bits of the events' momenta,
    changes from run to run (seen in 1 of 30 events, at 1e-9)."""
    return os.environ | {"PATH": f"{Path(tool['python']).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                         "PYTHONHASHSEED": "0"}


def build_gridpack(sample_name: str, sample: dict, sqrt_s_gev: float, global_seed: int, n_cores: int, gridpack_output,
                   record_output, tool: dict, scratch_root=None, base_directory=".") -> dict:
    """Write, compile and integrate a sample's process once: its gridpack (`gridpack_output`, .tar.gz) and a JSON
    record of the cards, MadGraph's version, the survey's cross section and the number of channels."""
    definition = process_definition(sample)
    model_path = user_model(definition, base_directory)
    check_run_card_keys(sample_name, definition, known_run_card_keys(tool))
    iseed = madgraph_seed(global_seed, sample_name, "gridpack")
    cards = gridpack_cards(sample_name, definition, sqrt_s_gev, iseed, n_cores)
    with tempfile.TemporaryDirectory(prefix=f"madgraph-gridpack-{sample_name}-", dir=scratch_root) as scratch:
        scratch = Path(scratch)
        if model_path is not None:
            # A copy: MadGraph writes its caches into a model's directory, which is the user's (and may be shared).
            shutil.copytree(model_path, scratch / USER_MODEL_DIRECTORY / model_path.name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pkl"))
        (scratch / "madgraph.mg5").write_text(cards.script)
        print(cards.script, flush=True)
        code, output = run_streaming([*mg5_command(tool), "madgraph.mg5"], scratch, tool_path_environment(tool))
        complaints = madgraph_complaints(output)
        tarball = scratch / PROCESS_DIRECTORY / "run_01_gridpack.tar.gz"
        if complaints:
            raise MadGraphError(f"MadGraph refused sample {sample_name}'s process or cards:\n  " + "\n  ".join(complaints))
        if code != 0 or not tarball.is_file():
            raise MadGraphError(f"MadGraph made no gridpack for sample {sample_name} (exit code {code})" + _debug_logs(scratch))
        cross_section, error = survey_cross_section(scratch / PROCESS_DIRECTORY)
        channels = count_channels(scratch / PROCESS_DIRECTORY)
        if cross_section <= 0:
            raise MadGraphError(f"sample {sample_name}: MadGraph's survey gives a cross section of {cross_section} pb")
        if channels > MAX_RELIABLE_CHANNELS:
            print(f"warning: sample {sample_name} has {channels} integration channels; MadGraph 3.5 may sum the cross "
                  f"section of more than {MAX_RELIABLE_CHANNELS} wrongly (see the documentation)", file=sys.stderr)
        record = {
            "sample": sample_name,
            "generator": f"MadGraph5_aMC {(Path(tool['prefix']) / 'VERSION').read_text().split('version =')[-1].split()[0]}",
            "iseed": iseed,
            "cross_section_pb": cross_section,
            "cross_section_error_pb": error,
            "channels": channels,
            "model": definition["model"],
            "model_sha256": model_digest(model_path) if model_path is not None else None,
            "process_card": cards.process,
            "run_card": cards.run,
            "gridpack_sha256": install_tools.sha256_of(tarball),
        }
        (scratch / "record.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        install_atomically(tarball, Path(gridpack_output))
        install_atomically(scratch / "record.json", Path(record_output))
    return record


def read_gridpack_record(path) -> dict:
    try:
        record = json.loads(Path(path).read_text())
        record["cross_section_pb"], record["cross_section_error_pb"], record["gridpack_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a gridpack record (rule madgraph_gridpack writes one): {error}") from error
    return record


def generate_from_gridpack(gridpack, record_path, sample_name: str, chunk: int, n_events: int, global_seed: int, output,
                           tool: dict, scratch_root=None) -> dict:
    """One chunk's events from the sample's gridpack, unpacked into a scratch directory of the chunk's own, with
    the chunk's iseed; installed as `output` (.lhe.gz) with the survey's cross section in its <init> block.
    Fewer events than asked for is an error naming the chunk."""
    output, gridpack = Path(output), Path(gridpack)
    record = read_gridpack_record(record_path)
    if install_tools.sha256_of(gridpack) != record["gridpack_sha256"]:
        raise ValueError(f"{gridpack} is not the gridpack {record_path} describes (sha256 differs): rebuild both")
    iseed = madgraph_seed(global_seed, sample_name, chunk)
    what = f"sample {sample_name} chunk {chunk}"
    with tempfile.TemporaryDirectory(prefix=f"madgraph-{sample_name}-chunk{chunk}-", dir=scratch_root) as scratch:
        scratch = Path(scratch)
        try:
            with tarfile.open(gridpack) as archive:
                install_tools.extract_all(archive, scratch)
        except (OSError, tarfile.TarError) as error:
            raise OSError(f"cannot unpack gridpack {gridpack} for {what}: {error}") from error
        environment = tool_path_environment(tool)
        environment["LD_LIBRARY_PATH"] = os.pathsep.join(
            filter(None, [environment.get("LD_LIBRARY_PATH"), str(scratch / "madevent" / "lib")]))
        # run.sh's own work, without its guesses: MadGraph's grid run, then the events it leaves.
        code, log = run_streaming([tool["python"], scratch / "madevent" / "bin" / "gridrun", n_events, iseed, 1], scratch,
                                  environment)
        lhe = scratch / "madevent" / "Events" / f"GridRun_{iseed}" / "unweighted_events.lhe.gz"
        if code != 0 or not lhe.is_file():
            complaints = "".join(f"\n  {line}" for line in madgraph_complaints(log))
            raise MadGraphError(f"MadGraph's gridpack run made no events for {what} (exit code {code}){complaints}"
                                + _debug_logs(scratch))
        n_produced = count_lhe_events(lhe)
        if n_produced < n_events:
            raise MadGraphError(f"MadGraph's gridpack run gave {n_produced} of the {n_events} events asked for {what}")
        chunk_estimate = lhe_cross_section(lhe)
        text = with_cross_section(read_lhe_text(lhe), record["cross_section_pb"], record["cross_section_error_pb"], lhe)
        staged = scratch / "events.lhe.gz"
        write_reproducible_gzip(text, staged)
        install_atomically(staged, output)
    return {"sample": sample_name, "chunk": chunk, "iseed": iseed, "n_events": n_produced,
            "cross_section_pb": record["cross_section_pb"], "chunk_estimate_pb": chunk_estimate[0],
            "generator": record["generator"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.external.madgraph", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cards_command = sub.add_parser("cards", help="write a sample's gridpack cards to a directory (to read them)")
    gridpack_command = sub.add_parser("gridpack", help="make a sample's gridpack and its record")
    events_command = sub.add_parser("events", help="generate one chunk's events from the sample's gridpack")
    for command in (cards_command, gridpack_command):
        command.add_argument("--settings", required=True, help="the sample's config entry as JSON")
        command.add_argument("--sqrt-s-gev", type=float, required=True)
        command.add_argument("--cores", type=int, default=1, help="MadGraph's nb_core for the survey")
    for command in (cards_command, gridpack_command, events_command):
        command.add_argument("--sample", required=True)
        command.add_argument("--seed", type=int, required=True, help="global seed")
    for command in (gridpack_command, events_command):
        command.add_argument("--scratch", type=Path, help="where the job's MadGraph directory is made")
        command.add_argument("--tool", type=Path, help="MadGraph's install record (rule install_madgraph); "
                             f"default: the generator image's, under ${install_tools.RECORDS_VARIABLE}")
        command.add_argument("--gridpack", type=Path, required=True, help="the sample's gridpack (.tar.gz)")
        command.add_argument("--record", type=Path, required=True, help="the gridpack's JSON record")
    cards_command.add_argument("--directory", type=Path, required=True)
    events_command.add_argument("--chunk", type=int, required=True)
    events_command.add_argument("--events", type=int, required=True)
    events_command.add_argument("--output", type=Path, required=True, help="the chunk's .lhe.gz")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "cards":
        definition = process_definition(json.loads(args.settings))
        cards = gridpack_cards(args.sample, definition, args.sqrt_s_gev, madgraph_seed(args.seed, args.sample, "gridpack"),
                               args.cores)
        args.directory.mkdir(parents=True, exist_ok=True)
        (args.directory / "proc_card.mg5").write_text(cards.process)
        (args.directory / "run_card.mg5").write_text(cards.run)
        return
    try:
        tool = install_tools.record_or_default(args.tool, "madgraph")
        if args.command == "gridpack":
            result = build_gridpack(args.sample, json.loads(args.settings), args.sqrt_s_gev, args.seed, args.cores,
                                    args.gridpack, args.record, tool, args.scratch)
            result = {key: result[key] for key in ("sample", "cross_section_pb", "cross_section_error_pb", "channels")}
        else:
            result = generate_from_gridpack(args.gridpack, args.record, args.sample, args.chunk, args.events, args.seed,
                                            args.output, tool, args.scratch)
    except (install_tools.ToolError, MadGraphError, ValueError, OSError) as error:
        sys.exit(f"error: {error}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
