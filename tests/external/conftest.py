"""The builds the real-stack tests need, started in the background as soon as the session is collected.

MadGraph, Delphes and the generator image take minutes to build (Delphes about 5 on 2 cores, the image about 7),
while most of the suite runs one test at a time on one core. So a background process builds them, in the order the
tests need them: the native tools, then a Debian base made by mmdebstrap and the image. The fixtures call the same
builders, which lock what they build, so a fixture that comes first builds and the background reuses, or the other
way round; a build is never done twice, and a failed one is reported by the fixture that needed it. The tests that use
the image run last, to leave its build the most time (pytest_collection_modifyitems).

Podman gets a containers.conf of its own (runc, and limits no higher than the caller's) where the machine refuses
its defaults, as this project's CI machines do: cgroups in hybrid mode, no CAP_SYS_RESOURCE.
"""

import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from workflow_scripts.external import generator_image, install_tools

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = Path(os.environ.get(install_tools.SOURCE_DIR_VARIABLE) or ROOT.parent / "shared" / "vendor")
CACHE = Path(os.environ.get(install_tools.CACHE_VARIABLE) or Path.home() / ".cache" / "weak-supervision-pipeline" / "tools")
# A Debian 12 base: $GENERATOR_IMAGE_BASE, else one that mmdebstrap makes from Debian's archive, kept in podman.
BASE_IMAGE = os.environ.get("GENERATOR_IMAGE_BASE") or "localhost/debian-base:bookworm-mmdebstrap"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")  # what this machine's pip trusts, behind its proxy
IMAGE_FIXTURE = "built_image"

_background = {}


def image_unavailable(reason):
    if os.environ.get("REQUIRE_GENERATOR_IMAGE") == "1":
        pytest.fail(f"REQUIRE_GENERATOR_IMAGE=1 but {reason}")
    pytest.skip(reason)


def configure_podman(directory: Path) -> None:
    """A containers.conf that runs here: runc where it is installed, and the caller's own limits."""
    configuration = directory / "containers.conf"
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(32768, resource.getrlimit(resource.RLIMIT_NPROC)[1])  # podman caps nproc there itself
    lines = ["[containers]", f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]']
    if shutil.which("runc"):
        lines += ["[engine]", 'runtime = "runc"']
    configuration.write_text("\n".join(lines) + "\n")
    os.environ["CONTAINERS_CONF"] = str(configuration)


def base_image_commands(directory: Path) -> list[list[str]]:
    """A Debian 12 root file system from Debian's archive, imported into podman (no registry can be reached here)."""
    tarball = directory / "bookworm.tar"
    return [["mmdebstrap", "--variant=minbase", "--mode=root", "--quiet", "bookworm", str(tarball)],
            ["podman", "import", "--quiet", str(tarball), BASE_IMAGE]]


def image_build_options(base_image: str) -> dict:
    """The generator image the tests use: the offline sources, this machine's certificate bundle, all cores."""
    return {"source_dir": SOURCE_DIR, "base_image": base_image, "jobs": os.cpu_count() or 2,
            "ca_bundle": SYSTEM_CA_BUNDLE if SYSTEM_CA_BUNDLE.is_file() else None}


def background_script(directory: Path) -> str:
    """The builds, one after the other; each failure is left for the fixture that needs the build to report."""
    python = [sys.executable, "-m"]
    steps = [[*python, "workflow_scripts.external.install_tools", tool, "--cache", str(CACHE), "--source-dir",
              str(SOURCE_DIR), "--jobs", str(os.cpu_count() or 2)] for tool in ("madgraph", "delphes")]
    if shutil.which("podman") and shutil.which("mmdebstrap"):
        base = " && ".join(shlex.join(command) for command in base_image_commands(directory))
        options = image_build_options(BASE_IMAGE)
        build = [*python, "workflow_scripts.external.generator_image", "build", "--engine", "podman", "--source-dir",
                 str(options["source_dir"]), "--base-image", BASE_IMAGE, "--jobs", str(options["jobs"])]
        if options["ca_bundle"]:
            build += ["--ca-bundle", str(options["ca_bundle"])]
        make_base = "true" if os.environ.get("GENERATOR_IMAGE_BASE") else f"podman image exists {BASE_IMAGE} || ({base})"
        image = f"({make_base}) && {shlex.join(build)}"
    else:
        image = "true"
    return "; ".join([*(shlex.join(step) for step in steps), image])


def pytest_collection_modifyitems(session, config, items):
    """Start the background builds where the real stack is to be tested, and put the image's tests last."""
    needs_tools = any("tool_records" in item.fixturenames for item in items)
    needs_image = any(IMAGE_FIXTURE in item.fixturenames for item in items)
    items[:] = [item for item in items if IMAGE_FIXTURE not in item.fixturenames] + \
               [item for item in items if IMAGE_FIXTURE in item.fixturenames]
    if not needs_tools or _background or not any(SOURCE_DIR.glob("*.tar.gz")) or shutil.which("cmake") is None:
        return
    directory = Path(tempfile.mkdtemp(prefix="background-builds-"))
    if needs_image and shutil.which("podman"):
        configure_podman(directory)
    log = open(directory / "builds.log", "w")
    process = subprocess.Popen(["bash", "-c", background_script(directory)], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
    _background.update(process=process, log=directory / "builds.log")


def pytest_sessionfinish(session, exitstatus):
    process = _background.get("process")
    if process is not None and process.poll() is None:
        os.killpg(process.pid, 9)  # a session that ends early leaves no build behind; the locks are released
        process.wait()


def wait_for_background_builds():
    process = _background.get("process")
    if process is not None:
        process.wait()


@pytest.fixture(scope="session")
def podman(tmp_path_factory):
    """podman, configured to run on this machine; the environment its callers need."""
    if shutil.which("podman") is None:
        image_unavailable("podman is not installed (Debian: apt-get install podman runc)")
    if "CONTAINERS_CONF" not in os.environ:
        configure_podman(tmp_path_factory.mktemp("podman"))
    check = subprocess.run(["podman", "info"], capture_output=True, text=True)
    if check.returncode != 0:
        image_unavailable(f"podman does not run here: {check.stderr[-500:]}")
    return os.environ.copy()


@pytest.fixture(scope="session")
def base_image(podman, tmp_path_factory):
    wait_for_background_builds()
    if generator_image.inspect("podman", BASE_IMAGE) is None and not os.environ.get("GENERATOR_IMAGE_BASE"):
        if shutil.which("mmdebstrap") is None:
            image_unavailable("no base image can be pulled here, and mmdebstrap is not installed (apt-get install mmdebstrap)")
        for command in base_image_commands(tmp_path_factory.mktemp("base")):
            subprocess.run(command, check=True, capture_output=True)
    return BASE_IMAGE


@pytest.fixture(scope="session")
def built_image(base_image, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("image") / "build.log"
    with open(log_path, "w") as log:
        try:
            record = generator_image.build("podman", **image_build_options(base_image), log=log)
        except generator_image.ImageError as error:
            background = _background.get("log")
            pytest.fail(f"{error}:\n{log_path.read_text()[-6000:]}"
                        + (f"\nthe background build's log: {background}" if background else ""))
    print(f"generator image {record['tag']}: {record['size_bytes'] / 1e9:.2f} GB, built in {record['build_seconds']} s")
    return record
