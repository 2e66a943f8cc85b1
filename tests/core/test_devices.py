"""Where training runs, and the planner's GPU check that needs no torch."""

import subprocess
import sys

import pytest

from workflow_scripts.core import devices


def test_gpu_check_follows_device_nodes_and_cuda_visible_devices(monkeypatch):
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: ["/dev/nvidia0"] if pattern == "/dev/nvidia[0-9]*" else [])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert devices.nvidia_gpu_present()
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert not devices.nvidia_gpu_present()
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: [])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert not devices.nvidia_gpu_present()


def test_gpu_check_does_not_import_torch():
    code = "import sys; from workflow_scripts.core import devices; devices.nvidia_gpu_present(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="device must be one of"):
        devices.resolve_device("tpu")
