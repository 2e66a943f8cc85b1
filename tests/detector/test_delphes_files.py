"""What the Delphes driver does to the files Delphes writes, on a file real Delphes 3.5.1 wrote (../shared/data)."""

import uuid
from pathlib import Path

import awkward as ak
import pytest
import uproot

from workflow_scripts.detector import delphes, delphes_io

ROOT = Path(__file__).resolve().parents[2]
REAL_DELPHES_FILE = ROOT.parent / "shared" / "data" / "delphes-3.5.1_cms_gluino_pair_R0.4_100events.root"


@pytest.fixture
def real_file():
    if not REAL_DELPHES_FILE.is_file():
        pytest.skip(f"{REAL_DELPHES_FILE} is not here")
    return REAL_DELPHES_FILE.read_bytes()


def test_the_writing_process_uuid_becomes_the_provenances(real_file, tmp_path):
    """Two files of the same events that differ only in the UUID of the process that wrote them (ROOT titles the
    ProcessID key of a file with TRefs with it) become the same bytes, still readable, with nothing moved."""
    written = delphes.PROCESS_ID_KEY.search(real_file).group(2)
    first, second, third = tmp_path / "first.root", tmp_path / "second.root", tmp_path / "third.root"
    first.write_bytes(real_file)
    second.write_bytes(real_file.replace(written, str(uuid.uuid1()).encode()))  # as another process would write it
    third.write_bytes(real_file)
    provenance = {"sample": "gluino_pair", "chunk": 0, "detector_seed": 7}
    for path in (first, second):
        delphes.fix_process_uuids(path, provenance)
    delphes.fix_process_uuids(third, provenance | {"chunk": 1})
    fixed = first.read_bytes()
    assert fixed == second.read_bytes() and len(fixed) == len(real_file)
    assert written not in fixed and fixed != third.read_bytes()
    assert [uuid for _, uuid in (match.groups() for match in delphes.PROCESS_ID_KEY.finditer(fixed))] == \
        [str(uuid.uuid5(uuid.NAMESPACE_URL, f"delphes-process:{delphes_io.provenance_digest(provenance)}/0")).encode()] * 2
    with uproot.open(first) as handle, uproot.open(REAL_DELPHES_FILE) as original:
        assert ak.all(handle["Delphes"]["Jet.PT"].array() == original["Delphes"]["Jet.PT"].array())
        assert handle.keys() == original.keys()
    assert not list(tmp_path.glob(".*"))


def test_a_file_without_trefs_is_left_alone(tmp_path):
    path = tmp_path / "plain.root"
    with uproot.recreate(path) as handle:
        handle["tree"] = {"x": [1.0, 2.0]}
    before = path.read_bytes()
    delphes.fix_process_uuids(path, {"sample": "s"})
    assert path.read_bytes() == before
