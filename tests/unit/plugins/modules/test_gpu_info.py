"""Unit tests for the gpu_info module: main() with a fixture sysfs tree and a fixture nvidia-smi."""

from __future__ import annotations

import shlex
import typing as t
from pathlib import Path

import pytest

from ansible_collections.aistack.deploy.plugins.modules import gpu_info

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "nvidia_smi"


def fake_nvidia_smi(tmp_path: Path, case: str) -> str:
    """An nvidia-smi that prints a fixture case: the query output when asked a query, its list for -L, else the
    summary."""
    case_dir = FIXTURES / case
    script = tmp_path / "nvidia-smi"
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
    return str(script)


def pci_tree(tmp_path: Path, count: int) -> str:
    root = tmp_path / "sys"
    (root / "bus" / "pci" / "devices").mkdir(parents=True)
    for number in range(count):
        device = root / "bus" / "pci" / "devices" / f"0000:{number + 1:02x}:00.0"
        device.mkdir()
        (device / "vendor").write_text("0x10de\n")
        (device / "device").write_text("0x2330\n")
        (device / "class").write_text("0x030200\n")
    return str(root)


@pytest.mark.parametrize("check_mode", [False, True])
def test_one_gpu(run_module: t.Callable[..., t.Any], tmp_path: Path, check_mode: bool) -> None:
    result = run_module(
        gpu_info.main,
        {"sysfs_root": pci_tree(tmp_path, 1), "nvidia_smi": fake_nvidia_smi(tmp_path, "one_gpu")},
        check_mode=check_mode,
    )
    assert not result.failed
    assert result.result["changed"] is False
    gpu = result.result["gpu"]
    assert gpu["present"] and gpu["usable"]
    assert gpu["count"] == 1
    assert gpu["driver_version"] == "550.127.05"
    assert gpu["cuda_version"] == "12.4"
    assert len(gpu["pci_devices"]) == 1


def test_eight_gpus(run_module: t.Callable[..., t.Any], tmp_path: Path) -> None:
    result = run_module(
        gpu_info.main, {"sysfs_root": pci_tree(tmp_path, 8), "nvidia_smi": fake_nvidia_smi(tmp_path, "eight_gpus")}
    )
    gpu = result.result["gpu"]
    assert gpu["count"] == 8 and len(gpu["pci_devices"]) == 8
    assert gpu["cuda_version"] == "12.2"


def test_mig(run_module: t.Callable[..., t.Any], tmp_path: Path) -> None:
    result = run_module(
        gpu_info.main, {"sysfs_root": pci_tree(tmp_path, 1), "nvidia_smi": fake_nvidia_smi(tmp_path, "mig_enabled")}
    )
    gpu = result.result["gpu"]
    assert gpu["mig_enabled"] is True
    assert [(d["gpu"], d["index"], d["profile"], d["cdi_device"]) for d in gpu["mig_devices"]] == [
        (0, 0, "3g.20gb", "nvidia.com/gpu=0:0"),
        (0, 1, "3g.20gb", "nvidia.com/gpu=0:1"),
    ]


def test_mig_list_that_fails_reports_no_mig_devices_and_warns(
    run_module: t.Callable[..., t.Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(gpu_info.AnsibleModule, "warn", lambda self, message: warnings.append(message))
    smi = Path(fake_nvidia_smi(tmp_path, "mig_enabled"))
    smi.write_text(smi.read_text().replace("  -L) cat", "  -L) echo 'Unable to list MIG devices' >&2; exit 3; cat"))
    result = run_module(gpu_info.main, {"sysfs_root": pci_tree(tmp_path, 1), "nvidia_smi": str(smi)})
    gpu = result.result["gpu"]
    assert gpu["usable"] and gpu["mig_enabled"] and gpu["mig_devices"] == []
    assert [w for w in warnings if "-L failed (exit code 3): Unable to list MIG devices" in w], warnings


def test_no_mig_asks_for_no_list(
    run_module: t.Callable[..., t.Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(gpu_info.AnsibleModule, "warn", lambda self, message: warnings.append(message))
    # The one_gpu case has no list.txt: an nvidia-smi -L would fail and warn.
    result = run_module(
        gpu_info.main, {"sysfs_root": pci_tree(tmp_path, 1), "nvidia_smi": fake_nvidia_smi(tmp_path, "one_gpu")}
    )
    assert result.result["gpu"]["mig_devices"] == [] and warnings == []


@pytest.mark.parametrize("case", ["version_mismatch", "no_driver", "no_devices"])
def test_gpu_on_the_bus_that_the_driver_cannot_use(
    run_module: t.Callable[..., t.Any], tmp_path: Path, case: str
) -> None:
    result = run_module(
        gpu_info.main, {"sysfs_root": pci_tree(tmp_path, 1), "nvidia_smi": fake_nvidia_smi(tmp_path, case)}
    )
    assert not result.failed
    gpu = result.result["gpu"]
    assert gpu["present"] is True
    assert gpu["usable"] is False
    assert gpu["driver_state"] == case
    assert gpu["driver_message"]


def test_no_devices_on_a_cpu_host(run_module: t.Callable[..., t.Any], tmp_path: Path) -> None:
    result = run_module(
        gpu_info.main, {"sysfs_root": pci_tree(tmp_path, 0), "nvidia_smi": fake_nvidia_smi(tmp_path, "no_devices")}
    )
    gpu = result.result["gpu"]
    assert gpu["present"] is False
    assert gpu["driver_state"] == "no_devices"


def test_no_nvidia_smi(run_module: t.Callable[..., t.Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(gpu_info.AnsibleModule, "get_bin_path", lambda self, name, opt_dirs=None: None)
    result = run_module(gpu_info.main, {"sysfs_root": pci_tree(tmp_path, 0)})
    gpu = result.result["gpu"]
    assert gpu["present"] is False
    assert gpu["driver_state"] == "missing"


def test_given_nvidia_smi_that_does_not_exist(run_module: t.Callable[..., t.Any], tmp_path: Path) -> None:
    result = run_module(gpu_info.main, {"sysfs_root": pci_tree(tmp_path, 2), "nvidia_smi": str(tmp_path / "none")})
    gpu = result.result["gpu"]
    assert gpu["present"] is True and gpu["count"] == 2
    assert gpu["driver_state"] == "missing"


def test_unreadable_query_output(run_module: t.Callable[..., t.Any], tmp_path: Path) -> None:
    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\necho 'something else entirely'\n")
    script.chmod(0o755)
    result = run_module(gpu_info.main, {"sysfs_root": pci_tree(tmp_path, 1), "nvidia_smi": str(script)})
    gpu = result.result["gpu"]
    assert gpu["driver_state"] == "error"
    assert "unexpected output" in gpu["driver_message"]
