"""Build the generator image (containers/Dockerfile) with podman or docker, and save it as an image archive.

The build context is assembled from the checkout: the Dockerfile, ``envs/tools.yaml``, ``workflow_scripts/`` and,
from a local source directory, the MadGraph and Delphes tarballs that ``install_tools.SOURCES`` accepts.  Its key
hashes every file in it and the base image, so the image tag ``localhost/weak-supervision-generators:<key>`` names
exactly what was built: a rerun with the same context finds the tag and builds nothing, and a changed file builds
anew (the engine's layer cache keeps that cheap when only the code changed).  The build itself is untagged; the tag
and the build record (``<cache>/<engine>-<key>.json``) are written only after it succeeded, so a failed or killed build
leaves nothing a later run would trust.

The archive (``--archive``, docker-archive format) is what ``apptainer build generators.sif docker-archive:FILE``
turns into a SIF file for a cluster.  Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workflow_scripts.external import install_tools

ENGINES = ("podman", "docker")
IMAGE_NAME = "localhost/weak-supervision-generators"
CACHE_VARIABLE = "PIPELINE_IMAGE_CACHE"
DEFAULT_CACHE = Path.home() / ".cache" / "weak-supervision-pipeline" / "images"
REPOSITORY = Path(__file__).resolve().parents[2]
DOCKERFILE = Path("containers") / "Dockerfile"
SOURCES_IN_CONTEXT = Path("containers") / "sources"
KEY_IN_CONTEXT = Path("containers") / "image-key"  # the image keeps it, for the jobs' logs
# Everything the Dockerfile copies, relative to the repository (workflow_scripts/ whole: the jobs import from it).
CONTEXT_PATHS = (DOCKERFILE, Path("envs") / "tools.yaml", Path("workflow_scripts"))
KEY_LENGTH = 16


class ImageError(RuntimeError):
    """The image cannot be built or saved; the message names the engine, the step and its log."""


def engine_command(engine: str) -> str:
    if engine not in ENGINES:
        raise ImageError(f"unknown container engine {engine!r}; expected one of {ENGINES}")
    path = shutil.which(engine)
    if path is None:
        raise ImageError(f"{engine} is not installed (Debian: apt-get install {engine}); "
                         f"the other supported engine is {' or '.join(set(ENGINES) - {engine})}")
    return path


def context_files(repository: Path = REPOSITORY, source_dir=None) -> dict[str, Path]:
    """The build context as {path inside the context: file on this machine}."""
    files = {}
    for relative in CONTEXT_PATHS:
        path = repository / relative
        if path.is_file():
            files[relative.as_posix()] = path
        elif path.is_dir():
            for item in sorted(path.rglob("*")):
                if item.is_file() and "__pycache__" not in item.parts and item.suffix != ".pyc":
                    files[item.relative_to(repository).as_posix()] = item
        else:
            raise ImageError(f"the build context needs {path}, which does not exist")
    if source_dir is not None:
        for tool in install_tools.SOURCES:
            tarball, _ = install_tools.find_source(tool, Path(source_dir))
            files[(SOURCES_IN_CONTEXT / tarball.name).as_posix()] = tarball
    return files


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def context_key(files: dict[str, Path], base_image: str | None) -> str:
    """The hash of every file of the context (name and content) and of the base image."""
    digest = hashlib.sha256(f"base {base_image or 'default'}\n".encode())
    for name in sorted(files):
        digest.update(f"{name} {file_sha256(files[name])}\n".encode())
    return digest.hexdigest()[:KEY_LENGTH]


def assemble_context(files: dict[str, Path], directory: Path, key: str) -> None:
    (directory / SOURCES_IN_CONTEXT).mkdir(parents=True, exist_ok=True)  # the Dockerfile mounts it, even empty
    (directory / KEY_IN_CONTEXT).write_text(key + "\n")
    for name, source in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)  # the tarballs are large: no copy where a link will do
        except OSError:
            shutil.copyfile(source, target)


def run_engine(command: list, log, what: str) -> None:
    """Run an engine command, its output copied line by line into `log` (any text stream)."""
    print("+ " + " ".join(map(str, command)), file=log, flush=True)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace") as process:
        for line in process.stdout:
            log.write(line)
            log.flush()  # a build runs for minutes: its log shows where it is
    if process.returncode != 0:
        where = getattr(log, "name", None)
        raise ImageError(f"{Path(command[0]).name} failed to {what} (exit code {process.returncode})"
                         + (f"; see {where}" if isinstance(where, str) else ""))


def inspect(engine: str, reference: str) -> dict | None:
    """The engine's description of an image, or None when it has none by that name."""
    result = subprocess.run([engine_command(engine), "image", "inspect", reference], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    described = json.loads(result.stdout)
    return described[0] if described else None


def image_digest(engine: str, described: dict) -> str:
    """The digest to pin in containers.generators: podman's manifest digest, docker's image id for a local build."""
    if engine == "podman" and described.get("Digest"):
        return described["Digest"]
    return described["Id"] if described["Id"].startswith("sha256:") else f"sha256:{described['Id']}"


def cache_directory(cache=None) -> Path:
    return Path(cache or os.environ.get(CACHE_VARIABLE) or DEFAULT_CACHE).resolve()


def load_build_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def build(engine: str = "podman", *, repository: Path = REPOSITORY, source_dir=None, base_image: str | None = None,
          ca_bundle=None, jobs: int = 2, cache=None, log=sys.stdout) -> dict:
    """Build the image (or find it built) and return its build record."""
    executable = engine_command(engine)
    files = context_files(Path(repository), source_dir)
    key = context_key(files, base_image)
    tag = f"{IMAGE_NAME}:{key}"
    cache = cache_directory(cache)
    cache.mkdir(parents=True, exist_ok=True)
    record_path = cache / f"{engine}-{key}.json"  # each engine keeps its own images
    with install_tools.locked(cache / f".{engine}-{key}.lock"):
        record = load_build_record(record_path)
        described = inspect(engine, tag)
        if record and described and record.get("engine") == engine and record.get("image_id") == described["Id"]:
            print(f"generator image {tag}: built before ({record['built_at']}), reusing it", file=log, flush=True)
            return record
        with tempfile.TemporaryDirectory(prefix=f"context-{key}-", dir=cache) as scratch:
            context = Path(scratch) / "context"
            assemble_context(files, context, key)
            id_file = Path(scratch) / "image-id"
            # The host's network: apt and pip reach their archives as the host does, with no bridge or NAT needed.
            command = [executable, "build", "--file", str(context / DOCKERFILE), "--iidfile", str(id_file),
                       "--network", "host", "--build-arg", f"JOBS={jobs}"]
            if engine == "podman":
                command += ["--format", "docker"]  # the OCI format drops SHELL, and with it pipefail
            if base_image:
                command += ["--build-arg", f"BASE_IMAGE={base_image}"]
            if ca_bundle:
                if not Path(ca_bundle).is_file():
                    raise ImageError(f"the certificate bundle {ca_bundle} does not exist")
                command += ["--secret", f"id=ca,src={Path(ca_bundle).resolve()}"]
            started = time.monotonic()
            run_engine([*command, str(context)], log, f"build the generator image from {DOCKERFILE}")
            seconds = time.monotonic() - started
            image_id = id_file.read_text().strip()
        run_engine([executable, "tag", image_id, tag], log, f"tag {image_id} as {tag}")
        described = inspect(engine, tag)
        digest = image_digest(engine, described)
        record = {"engine": engine, "tag": tag, "key": key, "image_id": described["Id"], "digest": digest,
                  "reference": f"docker://{tag}@{digest}", "size_bytes": described.get("Size"),
                  "base_image": base_image or "the Dockerfile's default", "build_seconds": round(seconds, 1),
                  "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        install_tools.write_record(record, record_path)
    print(f"generator image {tag}: built in {seconds:.0f} s", file=log, flush=True)
    return record


def save(engine: str, tag: str, archive, log=sys.stdout) -> None:
    """Write the image as a docker-archive file, atomically: a partial archive never has the final name."""
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.{os.getpid()}.part")
    command = [engine_command(engine), "save", "--output", str(partial)]
    if engine == "podman":
        command += ["--format", "docker-archive"]
    try:
        run_engine([*command, tag], log, f"save {tag} to {archive}")
        os.replace(partial, archive)
    finally:
        partial.unlink(missing_ok=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workflow_scripts.external.generator_image",
                                     description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="build the image (or find it built); print its build record")
    build_parser.add_argument("--engine", choices=ENGINES, default="podman")
    build_parser.add_argument("--source-dir", default=os.environ.get(install_tools.SOURCE_DIR_VARIABLE) or None,
                              help="a directory holding the MadGraph and Delphes source tarballs (default: "
                              f"${install_tools.SOURCE_DIR_VARIABLE}, else the official ones, downloaded in the build)")
    build_parser.add_argument("--base-image", help="a Debian 12 base image (default: the Dockerfile's)")
    build_parser.add_argument("--ca-bundle", help="a certificate bundle pip inside the build should trust")
    build_parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel jobs of the Delphes build")
    build_parser.add_argument("--cache", help=f"build records (default ${CACHE_VARIABLE} or {DEFAULT_CACHE})")
    build_parser.add_argument("--record", help="also write the build record here")
    build_parser.add_argument("--archive", help="also save the image here, as a docker-archive file")
    args = parser.parse_args(argv)
    try:
        record = build(args.engine, source_dir=args.source_dir, base_image=args.base_image, ca_bundle=args.ca_bundle,
                       jobs=args.jobs, cache=args.cache)
        if args.archive:
            save(args.engine, record["tag"], args.archive)
            record = record | {"archive": args.archive}
    except (ImageError, install_tools.ToolError) as error:
        sys.exit(f"error: {error}")
    if args.record:
        install_tools.write_record(record, args.record)
    print(json.dumps(record, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
