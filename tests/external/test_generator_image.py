"""The generator image's build context, key, records and error messages, without a container engine
(tests/external/test_real_stack.py builds the image with podman and runs the real chain in it)."""

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_scripts.external import generator_image, install_tools

ROOT = Path(__file__).resolve().parents[2]


def copy_context(destination: Path) -> Path:
    """A checkout holding only what the build context takes (linked where possible: replace a file, never write it)."""
    generator_image.assemble_context(generator_image.context_files(ROOT), destination, "0" * generator_image.KEY_LENGTH)
    return destination


def replace_file(path: Path, text: str) -> None:
    path.unlink()  # a link to the checkout's file: writing through it would change the checkout
    path.write_text(text)


def test_the_context_holds_the_recipe_the_tools_environment_and_the_code(tmp_path):
    repository = copy_context(tmp_path / "checkout")
    (repository / "workflow_scripts" / "__pycache__").mkdir()
    (repository / "workflow_scripts" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    files = generator_image.context_files(repository)
    assert {"containers/Dockerfile", "envs/tools.yaml", "workflow_scripts/external/install_tools.py",
            "workflow_scripts/detector/delphes.py", "workflow_scripts/core/schemas/config.schema.yaml"} <= set(files)
    assert not [name for name in files if "__pycache__" in name]
    assert not [name for name in files if name.startswith(("results/", "tests/", ".git"))]


def test_the_key_changes_with_any_file_of_the_context_and_with_the_base(tmp_path):
    repository = copy_context(tmp_path / "checkout")
    files = generator_image.context_files(repository)
    key = generator_image.context_key(files, None)
    assert len(key) == generator_image.KEY_LENGTH and key == generator_image.context_key(dict(reversed(files.items())), None)
    assert generator_image.context_key(files, "localhost/debian:12") != key
    module = repository / "workflow_scripts" / "generation" / "cards.py"
    replace_file(module, module.read_text() + "\n# a changed line\n")
    assert generator_image.context_key(generator_image.context_files(repository), None) != key


def test_the_source_tarballs_go_under_containers_sources(tmp_path, monkeypatch):
    sources = tmp_path / "sources"
    sources.mkdir()
    for tool in install_tools.SOURCES:
        (sources / f"{tool}.tar.gz").write_bytes(tool.encode())
    monkeypatch.setattr(install_tools, "find_source",
                        lambda tool, directory: (Path(directory) / f"{tool}.tar.gz", install_tools.SOURCES[tool][0]))
    files = generator_image.context_files(ROOT, sources)
    assert files["containers/sources/delphes.tar.gz"] == sources / "delphes.tar.gz"
    assert files["containers/sources/madgraph.tar.gz"] == sources / "madgraph.tar.gz"
    context = tmp_path / "context"
    generator_image.assemble_context(files, context, "0123456789abcdef")
    assert (context / "containers" / "image-key").read_text() == "0123456789abcdef\n"
    assert (context / "containers" / "sources" / "delphes.tar.gz").read_bytes() == b"delphes"
    assert (context / "containers" / "Dockerfile").read_text() == (ROOT / "containers" / "Dockerfile").read_text()


def test_a_source_directory_without_the_tarballs_is_named(tmp_path):
    with pytest.raises(install_tools.ToolError, match=f"no delphes source in {tmp_path}"):
        generator_image.context_files(ROOT, tmp_path)


def test_engines_are_checked_before_anything_runs(monkeypatch):
    with pytest.raises(generator_image.ImageError, match="unknown container engine 'rkt'"):
        generator_image.build("rkt")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(generator_image.ImageError, match=r"docker is not installed \(Debian: apt-get install docker\)"):
        generator_image.build("docker")


def test_a_failing_engine_is_named_with_its_step_and_log(tmp_path):
    log = open(tmp_path / "build.log", "w")
    with pytest.raises(generator_image.ImageError, match=rf"false failed to tag x \(exit code 1\); see {tmp_path / 'build.log'}"):
        generator_image.run_engine(["false"], log, "tag x")


def test_a_job_in_an_image_without_the_tool_names_image_and_tool(tmp_path, monkeypatch):
    monkeypatch.setenv(install_tools.RECORDS_VARIABLE, str(tmp_path))
    (tmp_path / "image-key").write_text("0123456789abcdef\n")
    monkeypatch.setenv(install_tools.IMAGE_KEY_FILE_VARIABLE, str(tmp_path / "image-key"))
    monkeypatch.setenv("APPTAINER_CONTAINER", "/scratch/.snakemake/singularity/ab12.simg")
    with pytest.raises(install_tools.ToolError, match=rf"the generator image 0123456789abcdef "
                                                      rf"\(/scratch/.snakemake/singularity/ab12.simg\) has no delphes: "
                                                      rf"{tmp_path}/delphes.json does not exist"):
        install_tools.record_or_default(None, "delphes")
    monkeypatch.delenv(install_tools.RECORDS_VARIABLE)
    with pytest.raises(install_tools.ToolError, match=r"the container image /scratch/.snakemake/singularity/ab12.simg is "
                                                      r"not the generator image: .* so it has no madgraph"):
        install_tools.record_or_default(None, "madgraph")


def test_a_job_in_the_image_says_so_in_its_log(tmp_path, monkeypatch, capsys):
    prefix = tmp_path / "madgraph-3.5.7"
    prefix.mkdir()
    (prefix / install_tools.COMPLETE_MARKER).write_text("{}")
    install_tools.write_record({"tool": "madgraph", "prefix": str(prefix)}, tmp_path / "madgraph.json")
    monkeypatch.setenv(install_tools.RECORDS_VARIABLE, str(tmp_path))
    (tmp_path / "image-key").write_text("0123456789abcdef\n")
    monkeypatch.setenv(install_tools.IMAGE_KEY_FILE_VARIABLE, str(tmp_path / "image-key"))
    assert install_tools.record_or_default(None, "madgraph")["prefix"] == str(prefix)
    assert f"madgraph: from the generator image 0123456789abcdef ({tmp_path / 'madgraph.json'})" in capsys.readouterr().out


def test_an_archive_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """`save` writes under a hidden partial name and renames; a failing engine leaves neither file."""
    engine = tmp_path / "bin" / "podman"
    engine.parent.mkdir()
    engine.write_text("#!/bin/sh\n# save --output FILE --format docker-archive TAG\n"
                      "printf partial > \"$3\"\n[ \"$6\" = good ] && printf archive > \"$3\" && exit 0\nexit 3\n")
    engine.chmod(0o755)
    monkeypatch.setenv("PATH", f"{engine.parent}:{'/usr/bin:/bin'}")
    archive = tmp_path / "images" / "generators.tar"
    log = io.StringIO()
    with pytest.raises(generator_image.ImageError, match=r"podman failed to save bad to .*generators.tar \(exit code 3\)"):
        generator_image.save("podman", "bad", archive, log=log)
    assert list(archive.parent.iterdir()) == []
    generator_image.save("podman", "good", archive, log=log)
    assert archive.read_text() == "archive" and [path.name for path in archive.parent.iterdir()] == ["generators.tar"]


def test_the_command_line_reports_errors_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "workflow_scripts.external.generator_image", "build", "--engine",
                             "docker", "--source-dir", str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                            env=os.environ | {"PATH": str(tmp_path)})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and ("docker is not installed" in result.stderr
                                                    or f"no delphes source in {tmp_path}" in result.stderr)
