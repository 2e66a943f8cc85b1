"""Build the real generator stack: Delphes (against the ROOT on this machine) and MadGraph5_aMC.

One recipe for the workflow's install rules (``rules/external.smk``) and for
``containers/Dockerfile``.  Sources are the official release tarballs, pinned
by sha256, or a local directory holding them (or the offline copies listed in
``SOURCES``) for machines without internet access.

Each tool is installed into ``<cache>/<tool>-<version>-<key>``, where the key
hashes the source tarball, this file and (for Delphes) the ROOT it is built
against: the same sources on the same machine are built once, whatever
working directory asks, and a changed recipe or ROOT builds anew.  A build
is complete only when its ``.complete`` marker exists; a failed build is
removed.  The JSON record written with ``--record`` (the rule's output) names
the prefix and its programs; jobs read it with ``load_record``, which refuses
a record whose install has gone.

Standard library only: this runs inside the container build as well.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

SOURCE_DIR_VARIABLE = "PIPELINE_TOOLS_SOURCE_DIR"
CACHE_VARIABLE = "PIPELINE_TOOLS_CACHE"
# Where the generator image keeps its install records (containers/Dockerfile): jobs given no record look there.
RECORDS_VARIABLE = "PIPELINE_TOOL_RECORDS"
# The file holding the generator image's build key (workflow_scripts.external.generator_image), which jobs print.
IMAGE_KEY_FILE_VARIABLE = "PIPELINE_IMAGE_KEY_FILE"
COMPLETE_MARKER = ".complete"


@dataclasses.dataclass(frozen=True)
class Source:
    """One accepted tarball of a tool: where it comes from and its checksum."""

    filename: str
    sha256: str
    url: str | None = None  # None: an offline copy, only taken from a local source directory
    note: str = ""


# The official release first (downloaded when no source directory is given), then the offline copies of
# ../shared/vendor (its README gives their provenance).
SOURCES = {
    "delphes": [
        # The GitHub tag archive, as conda-forge's delphes feedstock pins it.
        Source("Delphes-3.5.1.tar.gz", "b60d26d2ee2c84b58fbf2cf397fabd0ef3e89d3a0546d843c4ada82cc802d787",
               "https://github.com/delphes/delphes/archive/refs/tags/3.5.1.tar.gz", "release 3.5.1 (GitHub tag archive)"),
        Source("Delphes-3.5.1-16-g0ee14ba.tar.gz", "34da1a89cfc99d1e74efdc08a54bdbde77d079d4b1417303e77e36f013a07129",
               note="3.5.1 plus 16 upstream commits (git archive of delphes/delphes at 0ee14ba)"),
    ],
    "madgraph": [
        # Launchpad publishes no checksum; this release file of the packaging mirror is what conda-forge pins.
        Source("MG5_aMC_v3.5.7.tar.gz", "ca3e027f078438318bd4143a102aebc2d51358f537b5d52bbc574fe49a6a901e",
               "https://github.com/hep-packaging-coordination/mg5amcnlo-release-mirror/releases/download/3.5.7/"
               "MG5_aMC_v3.5.7.tar.gz", "release 3.5.7 (conda-forge's source)"),
        Source("MG5_aMC_v3.5.7.tar.gz", "9adee129f085999872261ae562830b9b5248043effc4ad968a835e9286d8d707",
               note="the source of conda-forge's mg5amcnlo 3.5.7 (hep-packaging-coordination mirror at 8bc2c07)"),
    ],
}
VERSIONS = {"delphes": "3.5.1", "madgraph": "3.5.7"}
# Delphes' programs the workflow runs, and MadGraph's models its processes import.
DELPHES_PROGRAMS = ("DelphesHepMC3", "DelphesLHEF", "DelphesROOT")
MADGRAPH_MODELS = ("sm", "MSSM_SLHA2")


class ToolError(RuntimeError):
    """A tool that cannot be built or used; the message says what to do."""


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def find_source(tool: str, source_dir) -> tuple[Path, Source]:
    """The tool's tarball in a local directory, checked against the accepted checksums."""
    source_dir = Path(source_dir)
    candidates = [source for source in SOURCES[tool] if (source_dir / source.filename).is_file()]
    if not candidates:
        names = sorted({source.filename for source in SOURCES[tool]})
        raise ToolError(f"no {tool} source in {source_dir}: expected one of {names}")
    path = source_dir / candidates[0].filename
    checksum = sha256_of(path)
    for source in candidates:
        if source.sha256 == checksum:
            return path, source
    raise ToolError(f"{path}: sha256 {checksum} is not an accepted {tool} source "
                    f"({[source.sha256 for source in candidates if source.sha256]})")


def download_source(tool: str, directory: Path) -> tuple[Path, Source]:
    """The official tarball, downloaded and checked against its pinned sha256."""
    source = SOURCES[tool][0]
    target = directory / source.filename
    print(f"downloading {source.url}", flush=True)
    try:
        with urllib.request.urlopen(source.url, timeout=120) as response, open(target, "wb") as stream:
            shutil.copyfileobj(response, stream, 1 << 20)
    except OSError as error:
        raise ToolError(f"cannot download {source.url} ({error}); without internet access set config key "
                        f"tools.source_dir or ${SOURCE_DIR_VARIABLE} to a directory holding {source.filename}") from error
    checksum = sha256_of(target)
    if checksum != source.sha256:
        raise ToolError(f"{source.url}: sha256 {checksum}, expected {source.sha256}")
    return target, source


def root_config() -> dict:
    """The ROOT that Delphes builds against: `root-config` on PATH, or the official wheel's."""
    executable = shutil.which("root-config")
    if executable is None:
        with contextlib.suppress(ImportError):
            import importlib.util

            spec = importlib.util.find_spec("ROOT")
            if spec is not None and spec.origin:
                candidate = Path(spec.origin).parent / "bin" / "root-config"
                executable = str(candidate) if candidate.is_file() else None
    if executable is None:
        raise ToolError("no ROOT found for Delphes: install the official wheel (pip install root==0.1a12, "
                        "or pip install -e '.[stack]') or put root-config on PATH")

    def ask(flag):
        return subprocess.run([executable, flag], check=True, capture_output=True, text=True).stdout.strip()

    prefix = Path(ask("--prefix"))
    libdir = Path(ask("--libdir"))
    if not libdir.is_dir():  # the wheel's root-config names its CMake layout's path, not the package's
        libdir = prefix / "lib"
    return {"root_config": executable, "version": ask("--version"), "prefix": str(prefix),
            "libdir": str(libdir), "cmake_dir": str(prefix / "cmake")}


def install_key(tool: str, source_sha256: str, extra: str = "") -> str:
    digest = hashlib.sha256()
    for part in (tool, source_sha256, sha256_of(__file__), extra):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive lock, so that parallel jobs asking for the same tool build it once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(command, cwd=None, env=None) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise ToolError(f"command failed (exit code {result.returncode}): {' '.join(str(part) for part in command)}")


def unpack(tarball: Path, destination: Path) -> Path:
    """Unpack a release tarball (one top-level directory) and return that directory."""
    with tarfile.open(tarball) as archive:
        tops = {Path(member.name).parts[0] for member in archive.getmembers() if member.name.strip("./")}
        if len(tops) != 1:
            raise ToolError(f"{tarball}: expected one top-level directory, found {sorted(tops)[:5]}")
        extract_all(archive, destination)
    return destination / tops.pop()


def extract_all(archive: tarfile.TarFile, destination: Path) -> None:
    """extractall with the protection of the `tar` filter: nothing written or linked outside `destination`.  Python
    3.11 before 3.11.4 (Debian 12's, which the generator image may run) has no filters, so there it is checked here."""
    if hasattr(tarfile, "tar_filter"):
        archive.extractall(destination, filter="tar")
        return
    root = Path(destination).resolve()

    def inside(path: Path) -> bool:
        return path == root or root in path.parents

    for member in archive.getmembers():
        target = (root / member.name).resolve()
        link = None
        if member.issym():
            link = (target.parent / member.linkname).resolve()
        elif member.islnk():
            link = (root / member.linkname).resolve()
        if not inside(target) or (link is not None and not inside(link)) or member.isdev():
            raise ToolError(f"{archive.name}: refusing member {member.name}, which leads outside {root}")
    archive.extractall(destination)


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if text.count(old) != 1:
        raise ToolError(f"{path}: expected exactly one {old!r} to patch; is this Delphes {VERSIONS['delphes']}?")
    path.write_text(text.replace(old, new))


def patch_delphes_without_display(source: Path) -> None:
    """Drop the event display: it needs ROOT's Eve, which the official ROOT wheel does not ship."""
    cmake = source / "CMakeLists.txt"
    replace_once(cmake, "find_package(ROOT REQUIRED COMPONENTS EG Eve Gui GuiHtml)", "find_package(ROOT REQUIRED COMPONENTS EG)")
    replace_once(cmake, "add_subdirectory(display)\n", "")
    replace_once(cmake, "add_library(DelphesDisplay SHARED\n  $<TARGET_OBJECTS:display>\n)\n", "")
    replace_once(cmake, "target_link_libraries(DelphesDisplay PUBLIC Delphes ROOT::Geom ROOT::Graf3d ROOT::RGL ROOT::Eve "
                        "ROOT::GuiHtml)\n", "")
    replace_once(cmake, "install(TARGETS Delphes DelphesDisplay DESTINATION lib)", "install(TARGETS Delphes DESTINATION lib)")


# The convention of reproducible builds: where it is set, the patched HepMC3 reader writes no wall-clock times.
REPRODUCIBLE_VARIABLE = "SOURCE_DATE_EPOCH"


def patch_delphes_reproducible(source: Path) -> None:
    """Same events, same file. The HepMC3 reader writes its wall-clock timings into Event.ReadTime and ProcTime, and
    into Event.MPI a member it never sets when an event has no `mpi` attribute (Pythia's batch record gives none), so
    uninitialised memory. With $SOURCE_DATE_EPOCH set the timings are 0, and MPI is -1 (unknown) unless an event
    gives it; no other value changes."""
    reader = source / "classes" / "DelphesHepMC3Reader.cc"
    replace_once(reader, "#include <stdio.h>\n", "#include <stdio.h>\n#include <stdlib.h>\n")
    replace_once(reader, "void DelphesHepMC3Reader::Clear()\n{\n",
                 "void DelphesHepMC3Reader::Clear()\n{\n  fMPI = -1; // patched for reproducible files: unknown unless given\n")
    replace_once(reader, "  element->ReadTime = readStopWatch->RealTime();\n  element->ProcTime = procStopWatch->RealTime();\n",
                 "  // patched for reproducible files: no wall-clock times where SOURCE_DATE_EPOCH is set\n"
                 f"  const bool reproducible = getenv(\"{REPRODUCIBLE_VARIABLE}\") != NULL;\n"
                 "  element->ReadTime = reproducible ? 0.0 : readStopWatch->RealTime();\n"
                 "  element->ProcTime = reproducible ? 0.0 : procStopWatch->RealTime();\n")


def root_cmake_dir(root: dict, prefix: Path) -> Path:
    """A ROOT CMake directory that find_package can use.

    The wheel's CMake targets locate their headers at `<site-packages>/../mock_site_packages/ROOT`.  Rather
    than writing into the user's Python installation, the prefix gets a small tree of links with that
    layout; other ROOT installs are used as they are.
    """
    cmake_dir = Path(root["cmake_dir"])
    if "mock_site_packages" not in (cmake_dir / "ROOTConfig-targets.cmake").read_text(errors="replace"):
        return cmake_dir
    root_package = Path(root["prefix"])
    site_packages = root_package.parent
    mirror = prefix / "root-wheel-layout"
    for relative, target in (("site-packages/ROOT", root_package), ("mock_site_packages/ROOT", root_package),
                             ("mock_site_packages/cppyy", site_packages / "cppyy")):
        link = mirror / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            link.symlink_to(target, target_is_directory=True)
    return mirror / "site-packages" / "ROOT" / "cmake"


def build_delphes(tarball: Path, prefix: Path, jobs: int, root: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="delphes-build-") as scratch:
        source = unpack(tarball, Path(scratch))
        patch_delphes_without_display(source)
        patch_delphes_reproducible(source)
        build = Path(scratch) / "build"
        run(["cmake", "-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_INSTALL_PREFIX={prefix}",
             f"-DROOT_DIR={root_cmake_dir(root, prefix)}",
             # The wheel's bundled libfreetype refers to its bundled libpng, which the linker cannot see.
             "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined"])
        run(["cmake", "--build", build, "--parallel", str(jobs)])
        run(["cmake", "--install", build])
    missing = [name for name in DELPHES_PROGRAMS if not (prefix / "bin" / name).is_file()]
    if missing or not (prefix / "cards" / "delphes_card_CMS.tcl").is_file():
        raise ToolError(f"the Delphes build in {prefix} lacks {missing or 'cards/delphes_card_CMS.tcl'}")


def madgraph_environment_problems() -> list[str]:
    problems = []
    for module in ("six", "ply"):
        try:
            __import__(module)
        except ImportError:
            problems.append(f"the Python package {module} (pip install -e '.[stack]')")
    for program in ("gfortran", "make"):
        if shutil.which(program) is None:
            problems.append(f"{program} (Debian: apt-get install {program})")
    return problems


def configure_madgraph(prefix: Path) -> None:
    """Installation-wide options: no update check (compute nodes are offline), no browser, multicore runs."""
    directory = prefix / "input"
    configuration = directory / "mg5_configuration.txt"
    if not configuration.is_file():
        shutil.copyfile(directory / ".mg5_configuration_default.txt", configuration)
    options = {"auto_update": "0", "automatic_html_opening": "False", "run_mode": "2", "notification_center": "False"}
    kept = []
    for line in configuration.read_text().splitlines():
        key = line.lstrip("# ").split("=", 1)[0].strip()
        if "=" in line and key in options:
            continue
        kept.append(line)
    kept += [f"{key} = {value}" for key, value in options.items()]
    configuration.write_text("\n".join(kept) + "\n")


def prepare_madgraph(tarball: Path, prefix: Path) -> None:
    problems = madgraph_environment_problems()
    if problems:
        raise ToolError("MadGraph needs " + ", ".join(problems))
    with tempfile.TemporaryDirectory(prefix="madgraph-unpack-", dir=prefix.parent) as scratch:
        unpacked = unpack(tarball, Path(scratch))
        unpacked.rename(prefix)
    configure_madgraph(prefix)
    # Import the models once here: MadGraph caches them inside its tree, which parallel jobs must not race to write.
    with tempfile.TemporaryDirectory(prefix="madgraph-models-") as scratch:
        script = Path(scratch) / "models.mg5"
        script.write_text("set auto_update 0\n" + "".join(f"import model {model}\n" for model in MADGRAPH_MODELS))
        run([sys.executable, prefix / "bin" / "mg5_aMC", script], cwd=scratch)


def installed_prefix(tool: str, cache: Path, source_sha256: str, extra: str = "") -> Path:
    return cache / f"{tool}-{VERSIONS[tool]}-{install_key(tool, source_sha256, extra)}"


def install(tool: str, cache, source_dir=None, jobs: int = 2) -> dict:
    """Build (or reuse) one tool in the cache; returns its record."""
    cache = Path(cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{tool}-source-", dir=cache) as download_dir:
        tarball, source = find_source(tool, source_dir) if source_dir else download_source(tool, Path(download_dir))
        checksum = sha256_of(tarball)
        root = root_config() if tool == "delphes" else None
        prefix = installed_prefix(tool, cache, checksum, json.dumps(root, sort_keys=True) if root else "")
        with locked(cache / f".{prefix.name}.lock"):
            if (prefix / COMPLETE_MARKER).is_file():
                print(f"{tool}: reusing {prefix}", flush=True)
            else:
                shutil.rmtree(prefix, ignore_errors=True)  # what a killed build left
                try:
                    if tool == "delphes":
                        prefix.mkdir(parents=True)
                        build_delphes(tarball, prefix, jobs, root)
                    else:
                        prepare_madgraph(tarball, prefix)
                except BaseException:
                    shutil.rmtree(prefix, ignore_errors=True)
                    raise
                (prefix / COMPLETE_MARKER).write_text(json.dumps({"source": tarball.name, "sha256": checksum}) + "\n")
    record = {"tool": tool, "version": VERSIONS[tool], "prefix": str(prefix), "source": source.filename,
              "source_sha256": checksum, "source_note": source.note}
    if tool == "delphes":
        record |= {"programs": {name: str(prefix / "bin" / name) for name in DELPHES_PROGRAMS},
                   "cms_card": str(prefix / "cards" / "delphes_card_CMS.tcl"),
                   "library_path": [str(prefix / "lib"), root["libdir"]], "root_version": root["version"]}
    else:
        record |= {"programs": {"mg5_aMC": str(prefix / "bin" / "mg5_aMC")}, "python": sys.executable}
    return record


def write_record(record: dict, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)


def load_record(path, tool: str) -> dict:
    """A tool's install record, checked: the install it names must still be complete."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ToolError(f"cannot read the {tool} install record {path} ({error}); rerun its install rule") from error
    if record.get("tool") != tool:
        raise ToolError(f"{path} is the install record of {record.get('tool')!r}, not {tool!r}")
    if not (Path(record["prefix"]) / COMPLETE_MARKER).is_file():
        raise ToolError(f"{path} names {record['prefix']}, which is no longer a complete {tool} install: "
                        f"delete {path} and rerun (rule install_{tool} rebuilds it)")
    return record


def running_image() -> str:
    """The container this process runs in, as apptainer names it, or ''."""
    return os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER") or ""


def image_key() -> str:
    """The key of the generator image this process runs in, or 'unkeyed' for an image built without it."""
    try:
        return Path(os.environ[IMAGE_KEY_FILE_VARIABLE]).read_text().strip()
    except (KeyError, OSError):
        return "unkeyed"


def record_or_default(path, tool: str) -> dict:
    """The install record a job was given, else the generator image's (${RECORDS_VARIABLE}/<tool>.json)."""
    if path is not None:
        return load_record(path, tool)
    directory = os.environ.get(RECORDS_VARIABLE)
    container = running_image()
    if not directory:
        if container:
            raise ToolError(f"the container image {container} is not the generator image: it sets no "
                            f"${RECORDS_VARIABLE}, so it has no {tool} (build the image of containers/Dockerfile: "
                            "rule generator_image)")
        raise ToolError(f"no {tool} install record given (--tool) and ${RECORDS_VARIABLE} is not set: "
                        f"build it with rule install_{tool} or run in the generator image")
    path = Path(directory) / f"{tool}.json"
    image = image_key()
    if not path.is_file():
        raise ToolError(f"the generator image {image}{f' ({container})' if container else ''} has no {tool}: "
                        f"{path} does not exist; rebuild the image (rule generator_image)")
    print(f"{tool}: from the generator image {image} ({path})", flush=True)
    return load_record(path, tool)


def tool_environment(record: dict) -> dict:
    """The environment a tool's programs run in: Delphes needs its own and ROOT's libraries."""
    env = dict(os.environ)
    if record.get("library_path"):
        env["LD_LIBRARY_PATH"] = os.pathsep.join([*record["library_path"], *filter(None, [env.get("LD_LIBRARY_PATH")])])
    return env


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.external.install_tools", description=__doc__.split("\n")[0])
    parser.add_argument("tool", choices=sorted(SOURCES))
    parser.add_argument("--record", type=Path, help="write the install record (JSON) here")
    parser.add_argument("--cache", type=Path, default=os.environ.get(CACHE_VARIABLE) or "tools",
                        help=f"where builds live (default: ${CACHE_VARIABLE}, else ./tools)")
    parser.add_argument("--source-dir", type=Path, default=os.environ.get(SOURCE_DIR_VARIABLE) or None,
                        help=f"a local directory with the source tarballs (default: ${SOURCE_DIR_VARIABLE}, else download)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        record = install(args.tool, args.cache, args.source_dir, args.jobs)
    except ToolError as error:
        sys.exit(f"error: {args.tool}: {error}")
    if args.record:
        write_record(record, args.record)
    print(json.dumps(record, indent=2, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
