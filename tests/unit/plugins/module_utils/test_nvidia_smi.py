"""Unit tests for the GPU detection helpers, on nvidia-smi output as the driver prints it (fixtures/nvidia_smi)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils._nvidia_smi import (
    NvidiaSmiError,
    classify_failure,
    parse_cuda_version,
    parse_driver_version,
    parse_query,
    scan_pci,
    summarize,
)

FIXTURES = Path(__file__).parent / "fixtures" / "nvidia_smi"


def fixture(case: str, name: str) -> str:
    return (FIXTURES / case / name).read_text()


def rc(case: str) -> int:
    return int(fixture(case, "rc"))


def make_pci(root: Path, address: str, vendor: str, device: str, pci_class: str) -> None:
    device_dir = root / "bus" / "pci" / "devices" / address
    device_dir.mkdir(parents=True)
    (device_dir / "vendor").write_text(vendor + "\n")
    (device_dir / "device").write_text(device + "\n")
    (device_dir / "class").write_text(pci_class + "\n")


def test_one_gpu():
    gpus = parse_query(fixture("one_gpu", "query.txt"))
    assert gpus == [{
        "index": 0, "name": "NVIDIA GeForce RTX 4090", "uuid": "GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45",
        "memory_mib": 24564, "driver_version": "550.127.05", "pci_bus_id": "00000000:01:00.0", "mig_mode": "",
    }]
    assert parse_cuda_version(fixture("one_gpu", "summary.txt")) == "12.4"
    assert parse_driver_version(fixture("one_gpu", "summary.txt")) == "550.127.05"
    fact = summarize([], "ok", gpus, "12.4")
    assert fact["present"] and fact["usable"]
    assert fact["count"] == 1
    assert fact["models"] == ["NVIDIA GeForce RTX 4090"]
    assert fact["memory_mib"] == [24564]
    assert fact["driver_version"] == "550.127.05"
    assert fact["cuda_version"] == "12.4"
    assert fact["mig_enabled"] is False
    assert fact["driver_state"] == "ok" and fact["driver_message"] == ""


def test_eight_gpus():
    gpus = parse_query(fixture("eight_gpus", "query.txt"))
    assert [gpu["index"] for gpu in gpus] == list(range(8))
    assert {gpu["name"] for gpu in gpus} == {"NVIDIA H100 80GB HBM3"}
    assert len({gpu["uuid"] for gpu in gpus}) == 8
    assert gpus[7]["pci_bus_id"] == "00000000:DB:00.0"
    cuda = parse_cuda_version(fixture("eight_gpus", "summary.txt"))
    fact = summarize([], "ok", gpus, cuda)
    assert fact["count"] == 8
    assert fact["memory_total_mib"] == 8 * 81559
    assert fact["driver_version"] == "535.129.03"
    assert fact["cuda_version"] == "12.2"
    assert fact["mig_enabled"] is False


def test_mig_enabled():
    gpus = parse_query(fixture("mig_enabled", "query.txt"))
    assert gpus[0]["mig_mode"] == "Enabled"
    fact = summarize([], "ok", gpus, parse_cuda_version(fixture("mig_enabled", "summary.txt")))
    assert fact["mig_enabled"] is True
    assert fact["count"] == 1  # MIG instances are not GPUs of their own here
    assert fact["cuda_version"] == "12.0"
    assert fact["driver_version"] == "525.105.17"


def test_query_order_follows_index():
    text = "1, B, GPU-b, 100, 550.1, 00000000:02:00.0, Disabled\n0, A, GPU-a, 200, 550.1, 00000000:01:00.0, Disabled\n"
    assert [gpu["name"] for gpu in parse_query(text)] == ["A", "B"]


@pytest.mark.parametrize("text", [
    "0, NVIDIA, only three\n",
    "zero, NVIDIA A100, GPU-x, 40960, 525.1, 00000000:07:00.0, Enabled\n",
    "0, NVIDIA A100, GPU-x, lots, 525.1, 00000000:07:00.0, Enabled\n",
])
def test_query_refuses_what_it_cannot_read(text):
    with pytest.raises(NvidiaSmiError):
        parse_query(text)


def test_query_not_available_memory_is_zero():
    gpus = parse_query("0, NVIDIA A100, GPU-x, [N/A], 525.1, 00000000:07:00.0, [N/A]\n")
    assert gpus[0]["memory_mib"] == 0 and gpus[0]["mig_mode"] == ""


@pytest.mark.parametrize("case, expected", [
    ("no_devices", "no_devices"),
    ("version_mismatch", "version_mismatch"),
    ("no_driver", "no_driver"),
])
def test_failures_from_fixtures(case, expected):
    for name in ("query.txt", "summary.txt"):
        assert classify_failure(rc(case), fixture(case, name)) == expected
    # The message alone is enough, whatever the exit code.
    assert classify_failure(1, fixture(case, "query.txt")) == expected


def test_unknown_failure():
    assert classify_failure(255, "Unable to determine the device handle for GPU0000:01:00.0: Unknown Error") == "error"


def test_version_mismatch_on_a_gpu_host_is_present_not_usable():
    pci = [{"address": "0000:01:00.0", "device_id": "0x2684", "class": "0x030000"}]
    fact = summarize(pci, "version_mismatch", detail=fixture("version_mismatch", "query.txt").splitlines()[0])
    assert fact["present"] is True
    assert fact["usable"] is False
    assert fact["count"] == 1
    assert fact["driver_version"] == "" and fact["cuda_version"] == ""
    assert "Driver/library version mismatch" in fact["driver_message"]
    assert "reboot" in fact["driver_message"]


def test_version_mismatch_without_pci_is_present():
    # Containers and some VMs hide the PCI bus; a loaded kernel module still means a GPU.
    fact = summarize([], "version_mismatch", detail="Failed to initialize NVML: Driver/library version mismatch")
    assert fact["present"] is True and fact["usable"] is False
    assert fact["count"] == 1


@pytest.mark.parametrize("state", ["no_driver", "error"])
def test_other_failures_without_pci_are_not_a_gpu(state):
    assert summarize([], state, detail="x")["present"] is False


def test_no_devices_without_pci_is_a_cpu_host():
    fact = summarize([], "no_devices", detail="No devices were found")
    assert fact["present"] is False
    assert fact["count"] == 0


def test_missing_driver_without_pci_is_a_cpu_host():
    fact = summarize([], "missing")
    assert fact == {
        "present": False, "usable": False, "count": 0, "models": [], "memory_mib": [], "memory_total_mib": 0,
        "driver_version": "", "cuda_version": "", "mig_enabled": False, "gpus": [], "pci_devices": [],
        "driver_state": "missing", "driver_message": fact["driver_message"],
    }
    assert "not installed" in fact["driver_message"]


def test_scan_pci_finds_nvidia_display_controllers_only(tmp_path):
    make_pci(tmp_path, "0000:00:02.0", "0x8086", "0x3e92", "0x030000")  # Intel iGPU
    make_pci(tmp_path, "0000:01:00.0", "0x10de", "0x2684", "0x030000")  # RTX 4090, VGA
    make_pci(tmp_path, "0000:01:00.1", "0x10de", "0x22ba", "0x040300")  # its HDMI audio
    make_pci(tmp_path, "0000:07:00.0", "0x10de", "0x20b0", "0x030200")  # A100, 3D controller
    make_pci(tmp_path, "0000:08:00.0", "0x10de", "0x1ad6", "0x0c0330")  # USB controller of a Turing card
    assert scan_pci(str(tmp_path)) == [
        {"address": "0000:01:00.0", "device_id": "0x2684", "class": "0x030000"},
        {"address": "0000:07:00.0", "device_id": "0x20b0", "class": "0x030200"},
    ]


def test_scan_pci_without_sysfs(tmp_path):
    assert scan_pci(str(tmp_path / "nothing")) == []


def test_scan_pci_skips_unreadable_entries(tmp_path):
    make_pci(tmp_path, "0000:01:00.0", "0x10de", "0x2684", "garbage")
    (tmp_path / "bus" / "pci" / "devices" / "0000:02:00.0").mkdir()
    assert scan_pci(str(tmp_path)) == []
