"""The install recipe's checks, without building anything: source checksums, the Delphes patch, the ROOT wheel's
CMake layout, install keys and records (tests/external/test_real_stack.py builds and runs both tools)."""

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from workflow_scripts.external import install_tools

ROOT = Path(__file__).resolve().parents[2]
VENDOR = Path(os.environ.get(install_tools.SOURCE_DIR_VARIABLE) or ROOT.parent / "shared" / "vendor")

DELPHES_CMAKE = """project(Delphes)
find_package(ROOT REQUIRED COMPONENTS EG Eve Gui GuiHtml)
add_subdirectory(classes)
add_subdirectory(display)
add_subdirectory(modules)
add_library(Delphes SHARED
  $<TARGET_OBJECTS:classes>
)
add_library(DelphesDisplay SHARED
  $<TARGET_OBJECTS:display>
)
target_link_libraries(DelphesDisplay PUBLIC Delphes ROOT::Geom ROOT::Graf3d ROOT::RGL ROOT::Eve ROOT::GuiHtml)
install(TARGETS Delphes DelphesDisplay DESTINATION lib)
"""


def make_tarball(path: Path, top: str, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_local_source_must_have_an_accepted_checksum(tmp_path, monkeypatch):
    tarball = make_tarball(tmp_path / "Delphes-3.5.1.tar.gz", "delphes-3.5.1", {"CMakeLists.txt": DELPHES_CMAKE})
    with pytest.raises(install_tools.ToolError, match=rf"{tarball}: sha256 [0-9a-f]{{64}} is not an accepted delphes source"):
        install_tools.find_source("delphes", tmp_path)
    accepted = install_tools.Source("Delphes-3.5.1.tar.gz", install_tools.sha256_of(tarball), note="test copy")
    monkeypatch.setitem(install_tools.SOURCES, "delphes", [accepted])
    assert install_tools.find_source("delphes", tmp_path) == (tarball, accepted)


def test_a_directory_without_the_tarball_names_what_it_expects(tmp_path):
    with pytest.raises(install_tools.ToolError, match=r"no madgraph source in .*: expected one of \['MG5_aMC_v3.5.7.tar.gz'\]"):
        install_tools.find_source("madgraph", tmp_path)


def test_offline_copies_are_pinned():
    for tool, sources in install_tools.SOURCES.items():
        assert sources[0].url and sources[0].url.startswith("https://"), tool  # the official release comes first
        assert all(source.url is None for source in sources[1:]), tool
        for source in sources:
            assert len(source.sha256) == 64 and int(source.sha256, 16) >= 0, (tool, source)


def test_delphes_is_patched_to_build_without_the_event_display(tmp_path):
    (tmp_path / "CMakeLists.txt").write_text(DELPHES_CMAKE)
    install_tools.patch_delphes_without_display(tmp_path)
    patched = (tmp_path / "CMakeLists.txt").read_text()
    assert "find_package(ROOT REQUIRED COMPONENTS EG)" in patched
    assert "display" not in patched.lower() and "Eve" not in patched
    assert "install(TARGETS Delphes DESTINATION lib)" in patched and "add_subdirectory(modules)" in patched
    with pytest.raises(install_tools.ToolError, match="expected exactly one"):
        install_tools.patch_delphes_without_display(tmp_path)  # a second patch, or another layout, is refused


def test_delphes_hepmc3_reader_is_patched_to_write_no_clock_times(tmp_path):
    """On the reader of the offline Delphes source: the timings become 0 and MPI -1 under $SOURCE_DATE_EPOCH only."""
    tarballs = sorted(VENDOR.glob("Delphes-*.tar.gz"))
    if not tarballs:
        pytest.skip(f"no Delphes source tarball in {VENDOR}")
    source = install_tools.unpack(tarballs[0], tmp_path)
    reader = source / "classes" / "DelphesHepMC3Reader.cc"
    original = reader.read_text()
    install_tools.patch_delphes_reproducible(source)
    patched = reader.read_text()
    assert 'getenv("SOURCE_DATE_EPOCH")' in patched and "reproducible ? 0.0 : readStopWatch->RealTime()" in patched
    assert "Clear()\n{\n  fMPI = -1;" in patched and "#include <stdlib.h>" in patched
    # nothing else changes: the patched file minus the added or edited lines is the original
    removed = {"  element->ReadTime = readStopWatch->RealTime();", "  element->ProcTime = procStopWatch->RealTime();"}
    assert [line for line in original.splitlines() if line not in removed] == \
        [line for line in patched.splitlines() if "patched" not in line and "reproducible" not in line
         and line not in ("  fMPI = -1; // patched for reproducible files: unknown unless given", "#include <stdlib.h>")]
    with pytest.raises(install_tools.ToolError, match="expected exactly one"):
        install_tools.patch_delphes_reproducible(source)


def test_the_root_wheels_cmake_layout_is_mirrored_inside_the_prefix(tmp_path):
    site_packages = tmp_path / "lib" / "python3.11" / "site-packages"
    (site_packages / "ROOT" / "cmake").mkdir(parents=True)
    (site_packages / "cppyy").mkdir()
    (site_packages / "ROOT" / "cmake" / "ROOTConfig-targets.cmake").write_text(
        'INTERFACE_INCLUDE_DIRECTORIES "${_IMPORT_PREFIX}/mock_site_packages/ROOT/include"\n')
    root = {"prefix": str(site_packages / "ROOT"), "cmake_dir": str(site_packages / "ROOT" / "cmake")}
    cmake_dir = install_tools.root_cmake_dir(root, tmp_path / "prefix")
    # CMake's targets file climbs four levels from itself: that prefix must hold mock_site_packages/ROOT.
    import_prefix = (cmake_dir / "ROOTConfig-targets.cmake").parent.parent.parent.parent
    assert (import_prefix / "mock_site_packages" / "ROOT").resolve() == (site_packages / "ROOT").resolve()
    assert (import_prefix / "mock_site_packages" / "cppyy").resolve() == (site_packages / "cppyy").resolve()
    assert str(import_prefix).startswith(str(tmp_path / "prefix"))  # nothing written into the Python installation
    assert not (site_packages.parent / "mock_site_packages").exists()
    other = tmp_path / "system_root" / "cmake"
    other.mkdir(parents=True)
    (other / "ROOTConfig-targets.cmake").write_text("# a ROOT built from source\n")
    assert install_tools.root_cmake_dir({"prefix": str(other.parent), "cmake_dir": str(other)}, tmp_path / "p2") == other


def test_install_key_follows_sources_recipe_and_root():
    key = install_tools.install_key("delphes", "a" * 64, "root 6.40")
    assert key == install_tools.install_key("delphes", "a" * 64, "root 6.40")
    assert key != install_tools.install_key("delphes", "b" * 64, "root 6.40")
    assert key != install_tools.install_key("delphes", "a" * 64, "root 6.30")
    recipe = hashlib.sha256(Path(install_tools.__file__).read_bytes()).hexdigest()
    assert install_tools.sha256_of(install_tools.__file__) == recipe  # the recipe's own bytes are part of the key


def test_records_are_checked_before_use(tmp_path):
    prefix = tmp_path / "delphes-3.5.1-0123"
    prefix.mkdir()
    record = tmp_path / "tools" / "delphes.json"
    install_tools.write_record({"tool": "delphes", "prefix": str(prefix)}, record)
    with pytest.raises(install_tools.ToolError, match="no longer a complete delphes install"):
        install_tools.load_record(record, "delphes")  # a build that never finished
    (prefix / install_tools.COMPLETE_MARKER).write_text("{}")
    assert install_tools.load_record(record, "delphes")["prefix"] == str(prefix)
    with pytest.raises(install_tools.ToolError, match="install record of 'delphes', not 'madgraph'"):
        install_tools.load_record(record, "madgraph")
    record.write_text("{not json")
    with pytest.raises(install_tools.ToolError, match=f"cannot read the delphes install record {record}"):
        install_tools.load_record(record, "delphes")
    assert [path.name for path in record.parent.iterdir()] == ["delphes.json"]  # written atomically: no leftovers


def test_madgraph_configuration_turns_off_network_and_browser(tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / ".mg5_configuration_default.txt").write_text(
        "#! comment\n# auto_update = 7\nrun_mode = 0\nnb_core = 4\n# automatic_html_opening = True\n")
    install_tools.configure_madgraph(tmp_path)
    lines = (tmp_path / "input" / "mg5_configuration.txt").read_text().splitlines()
    assert lines.count("auto_update = 0") == 1 and "run_mode = 2" in lines and "run_mode = 0" not in lines
    assert "automatic_html_opening = False" in lines and "nb_core = 4" in lines


def test_the_cli_reports_a_missing_source_without_a_traceback(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "workflow_scripts.external.install_tools", "madgraph", "--cache", str(tmp_path / "c"),
                             "--source-dir", str(tmp_path), "--record", str(tmp_path / "r.json")],
                            capture_output=True, text=True, cwd=Path(install_tools.__file__).parents[2])
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"error: madgraph: no madgraph source in {tmp_path}" in result.stderr
    assert not (tmp_path / "r.json").exists()


def test_a_download_with_another_checksum_is_refused(tmp_path, monkeypatch):
    tarball = make_tarball(tmp_path / "served.tar.gz", "MG5_aMC_v3_5_7", {"VERSION": "3.5.7"})
    official = install_tools.Source("MG5_aMC_v3.5.7.tar.gz", "0" * 64, tarball.as_uri())
    monkeypatch.setitem(install_tools.SOURCES, "madgraph", [official])
    (tmp_path / "download").mkdir()
    with pytest.raises(install_tools.ToolError, match=rf"{tarball.as_uri()}: sha256 {install_tools.sha256_of(tarball)}, "
                                                      f"expected {'0' * 64}"):
        install_tools.download_source("madgraph", tmp_path / "download")
    monkeypatch.setitem(install_tools.SOURCES, "madgraph", [official.__class__(official.filename, install_tools.sha256_of(tarball),
                                                                             official.url)])
    path, _ = install_tools.download_source("madgraph", tmp_path / "download")
    assert path.read_bytes() == tarball.read_bytes()
