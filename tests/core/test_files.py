"""Writing outputs atomically and reproducibly: the same content gives the same bytes, whatever the file's path."""

import zipfile

import pytest
import torch

from workflow_scripts.core import files
from workflow_scripts.ml.models import CNNSettings, JetPairClassifier, load_model, save_model, save_torch

SMALL = CNNSettings(filters=(4, 4), kernels=(3, 3), pool_after=(True, True), dense=(8,))


def test_model_saved_twice_has_the_same_bytes_and_loads_back_equal(tmp_path):
    torch.manual_seed(0)
    model = JetPairClassifier(16, SMALL)
    extra = {"identifiers": {"trial": 0}, "history": [0.5, 0.25]}
    paths = [tmp_path / "first" / "model.pt", tmp_path / "second" / "trial0.pt"]  # other names too
    for path in paths:
        save_model(model, path, extra)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    # The archive is named `archive`, never after atomic_output's temporary file.
    assert {name.split("/")[0] for name in zipfile.ZipFile(paths[0]).namelist()} == {"archive"}
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["first", "model.pt", "second", "trial0.pt"]
    loaded, payload = load_model(paths[1])
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert payload["identifiers"] == extra["identifiers"] and payload["history"] == extra["history"]
    assert payload["npix"] == 16 and CNNSettings.from_dict(payload["settings"]) == SMALL


def test_save_torch_writes_a_state_dict_with_lists_reproducibly(tmp_path):
    state = {"weight": torch.arange(12.0).reshape(3, 4), "runs": ["mae-1", "bce-2"], "members_per_run": 2,
             "member_seeds": [11, 12, 13, 14]}
    for name in ("a.pt", "b.pt"):
        save_torch(state, tmp_path / name)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    loaded = torch.load(tmp_path / "b.pt", weights_only=True)
    assert loaded.keys() == state.keys() and torch.equal(loaded["weight"], state["weight"])
    assert {key: value for key, value in loaded.items() if key != "weight"} == {key: value for key, value in state.items()
                                                                                 if key != "weight"}


def test_atomic_output_keeping_the_name_leaves_only_the_finished_file(tmp_path):
    output = tmp_path / "out" / "chunk0.root"
    with files.atomic_output(output, keep_name=True) as temporary:
        assert temporary.name == "chunk0.root" and temporary.parent.parent == output.parent and not temporary.exists()
        temporary.write_text("done")
    assert output.read_text() == "done" and [path.name for path in output.parent.iterdir()] == ["chunk0.root"]
    with pytest.raises(RuntimeError), files.atomic_output(tmp_path / "out" / "chunk1.root", keep_name=True) as temporary:
        temporary.write_text("half")
        raise RuntimeError("killed")
    assert [path.name for path in output.parent.iterdir()] == ["chunk0.root"]
