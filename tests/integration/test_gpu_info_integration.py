"""gpu_info through ansible-playbook: a fixture sysfs tree and fixture nvidia-smi programs, and this machine itself.

The fixture nvidia-smi programs print the outputs in
tests/unit/plugins/module_utils/fixtures/nvidia_smi with their exit codes,
so the module runs exactly as on a host with that driver state.
"""

from __future__ import annotations

import json
import shlex
import typing as t
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "plugins" / "module_utils" / "fixtures" / "nvidia_smi"


def nvidia_smi(directory: Path, case: str) -> Path:
    case_dir = FIXTURES / case
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *--query-gpu=*) cat {shlex.quote(str(case_dir / 'query.txt'))} ;;\n"
        f"  -L) cat {shlex.quote(str(case_dir / 'list.txt'))} ;;\n"
        f"  *) cat {shlex.quote(str(case_dir / 'summary.txt'))} ;;\n"
        "esac\n"
        f"exit {(case_dir / 'rc').read_text().strip()}\n"
    )
    script.chmod(0o755)
    return script


def sysfs(root: Path, devices: dict[str, tuple[str, str, str]]) -> Path:
    """A sysfs tree with PCI devices: address -> (vendor, device, class)."""
    base = root / "bus" / "pci" / "devices"
    base.mkdir(parents=True)
    for address, (vendor, device, pci_class) in devices.items():
        (base / address).mkdir()
        (base / address / "vendor").write_text(vendor + "\n")
        (base / address / "device").write_text(device + "\n")
        (base / address / "class").write_text(pci_class + "\n")
    return root


HGX = {f"0000:{bus}:00.0": ("0x10de", "0x2330", "0x030200") for bus in ("18", "2a", "3a", "5d", "9a", "ab", "ba", "db")}
WORKSTATION = {
    "0000:00:02.0": ("0x8086", "0x3e92", "0x030000"),
    "0000:01:00.0": ("0x10de", "0x2684", "0x030000"),
    "0000:01:00.1": ("0x10de", "0x22ba", "0x040300"),
}


def run_gpu_info(
    playbook: t.Callable[..., t.Any], root: Path, smi: Path | None, check: bool = False
) -> dict[str, t.Any]:
    args = {"sysfs_root": str(root), **({"nvidia_smi": str(smi)} if smi else {})}
    result = playbook(
        f"""
        - name: Find the GPUs
          aistack.deploy.gpu_info: {json.dumps(args)}
        """,
        check=check,
    )
    assert result.rc == 0, result.stdout + result.stderr
    task = result.task("Find the GPUs")
    assert task["changed"] is False
    return task["gpu"]


@pytest.mark.parametrize("check", [False, True])
def test_hgx_node_with_eight_gpus(playbook: t.Callable[..., t.Any], tmp_path: Path, check: bool) -> None:
    gpu = run_gpu_info(playbook, sysfs(tmp_path / "sys", HGX), nvidia_smi(tmp_path / "bin", "eight_gpus"), check)
    assert gpu["present"] and gpu["usable"]
    assert gpu["count"] == 8 and len(gpu["pci_devices"]) == 8
    assert gpu["models"] == ["NVIDIA H100 80GB HBM3"] * 8
    assert (gpu["driver_version"], gpu["cuda_version"]) == ("535.129.03", "12.2")


def test_workstation_with_mismatched_driver(playbook: t.Callable[..., t.Any], tmp_path: Path) -> None:
    gpu = run_gpu_info(playbook, sysfs(tmp_path / "sys", WORKSTATION), nvidia_smi(tmp_path / "bin", "version_mismatch"))
    assert gpu["present"] is True and gpu["usable"] is False
    assert gpu["driver_state"] == "version_mismatch"
    assert [device["address"] for device in gpu["pci_devices"]] == ["0000:01:00.0"]


def test_mig_node(playbook: t.Callable[..., t.Any], tmp_path: Path) -> None:
    gpu = run_gpu_info(
        playbook,
        sysfs(tmp_path / "sys", {"0000:07:00.0": ("0x10de", "0x20b0", "0x030200")}),
        nvidia_smi(tmp_path / "bin", "mig_enabled"),
    )
    assert gpu["mig_enabled"] is True and gpu["count"] == 1
    # nvidia-smi -L: its two MIG devices, by the CDI names nvidia-ctk gives them.
    assert [device["cdi_device"] for device in gpu["mig_devices"]] == ["nvidia.com/gpu=0:0", "nvidia.com/gpu=0:1"]


def test_cpu_host_with_a_leftover_nvidia_smi(playbook: t.Callable[..., t.Any], tmp_path: Path) -> None:
    gpu = run_gpu_info(
        playbook,
        sysfs(tmp_path / "sys", {"0000:00:02.0": ("0x8086", "0x3e92", "0x030000")}),
        nvidia_smi(tmp_path / "bin", "no_devices"),
    )
    assert gpu["present"] is False
    assert gpu["driver_state"] == "no_devices"


def test_this_machine(playbook: t.Callable[..., t.Any], tmp_path: Path) -> None:
    """The real /sys and PATH: whatever this machine has, the answer agrees with itself."""
    gpu = run_gpu_info(playbook, Path("/sys"), None)
    assert gpu["present"] == (gpu["usable"] or len(gpu["pci_devices"]) > 0)
    if not gpu["present"]:
        assert gpu["count"] == 0 and gpu["models"] == []
