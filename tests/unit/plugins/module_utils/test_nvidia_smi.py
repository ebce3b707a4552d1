"""Unit tests for the GPU detection helpers, on nvidia-smi output as the driver prints it (fixtures/nvidia_smi)."""

from __future__ import annotations

import re
import typing as t
from pathlib import Path

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils._nvidia_smi import (
    NvidiaSmiError,
    classify_failure,
    parse_cuda_version,
    parse_driver_version,
    parse_mig_devices,
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


def test_one_gpu() -> None:
    gpus = parse_query(fixture("one_gpu", "query.txt"))
    assert gpus == [
        {
            "index": 0,
            "name": "NVIDIA GeForce RTX 4090",
            "uuid": "GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45",
            "memory_mib": 24564,
            "memory_free_mib": 24052,
            "driver_version": "550.127.05",
            "pci_bus_id": "00000000:01:00.0",
            "mig_mode": "",
        }
    ]
    assert parse_cuda_version(fixture("one_gpu", "summary.txt")) == "12.4"
    assert parse_driver_version(fixture("one_gpu", "summary.txt")) == "550.127.05"
    fact = summarize([], "ok", gpus, "12.4")
    assert fact["present"] and fact["usable"]
    assert fact["count"] == 1
    assert fact["models"] == ["NVIDIA GeForce RTX 4090"]
    assert fact["memory_mib"] == [24564]
    assert fact["memory_free_mib"] == [24052]
    assert fact["driver_version"] == "550.127.05"
    assert fact["cuda_version"] == "12.4"
    assert fact["mig_enabled"] is False
    assert fact["driver_state"] == "ok" and fact["driver_message"] == ""


def test_four_gpus() -> None:
    """The synthetic GPU host's driver (tests/harness/images/build-nvidia-fixtures.sh prints this case)."""
    gpus = parse_query(fixture("four_gpus", "query.txt"))
    assert [gpu["index"] for gpu in gpus] == [0, 1, 2, 3]
    assert len({gpu["uuid"] for gpu in gpus}) == 4 and gpus[0]["uuid"] == "GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45"
    assert [gpu["memory_free_mib"] for gpu in gpus] == [24052, 24210, 24210, 24210]
    summary = fixture("four_gpus", "summary.txt")
    assert (parse_driver_version(summary), parse_cuda_version(summary)) == ("550.127.05", "12.4")
    assert len(table_gpus(summary)) == 4


def test_eight_gpus() -> None:
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


def test_mig_enabled() -> None:
    gpus = parse_query(fixture("mig_enabled", "query.txt"))
    assert gpus[0]["mig_mode"] == "Enabled"
    fact = summarize([], "ok", gpus, parse_cuda_version(fixture("mig_enabled", "summary.txt")))
    assert fact["mig_enabled"] is True
    assert fact["count"] == 1  # MIG instances are not GPUs of their own here
    assert fact["cuda_version"] == "12.0"
    assert fact["driver_version"] == "525.105.17"


MIG_UUIDS = ["MIG-0c4b7d3e-2a9f-5e81-b6d0-1f3a8c7e5b29", "MIG-7e21a9c4-5b3d-5f06-8a1e-d94c2b7f6e03"]


def test_mig_devices_of_the_list() -> None:
    devices = parse_mig_devices(fixture("mig_enabled", "list.txt"))
    assert devices == [
        {"gpu": 0, "index": 0, "profile": "3g.20gb", "uuid": MIG_UUIDS[0], "cdi_device": "nvidia.com/gpu=0:0"},
        {"gpu": 0, "index": 1, "profile": "3g.20gb", "uuid": MIG_UUIDS[1], "cdi_device": "nvidia.com/gpu=0:1"},
    ]
    gpus = parse_query(fixture("mig_enabled", "query.txt"))
    fact = summarize([], "ok", gpus, "12.0", mig_devices=devices)
    assert fact["mig_devices"] == devices and fact["count"] == 1


@pytest.mark.parametrize(
    "text, expected",
    [
        # R450 named a MIG device by its GPU's UUID and its GPU and compute instances.
        (
            "GPU 0: A100-SXM4-40GB (UUID: GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77)\n"
            "  MIG 1g.5gb Device 0: (UUID: MIG-GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77/7/0)\n",
            [(0, 0, "1g.5gb", "MIG-GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77/7/0")],
        ),
        # Two GPUs, the second in MIG mode with profiles of other kinds; the first's are its own.
        (
            "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aa)\n"
            "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bb)\n"
            "  MIG 1g.10gb+me   Device  0: (UUID: MIG-11)\n"
            "  MIG 1c.3g.40gb   Device  1: (UUID: MIG-22)\n",
            [(1, 0, "1g.10gb+me", "MIG-11"), (1, 1, "1c.3g.40gb", "MIG-22")],
        ),
        # No MIG: GPUs only (the four synthetic GPUs' list), and nothing at all.
        ("GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45)\n", []),
        ("", []),
    ],
)
def test_mig_devices_of_each_driver_s_list(text: str, expected: list[tuple[int, int, str, str]]) -> None:
    assert [(d["gpu"], d["index"], d["profile"], d["uuid"]) for d in parse_mig_devices(text)] == expected


def test_mig_device_before_any_gpu_is_not_understood() -> None:
    with pytest.raises(NvidiaSmiError, match="line 1: a MIG device before any GPU"):
        parse_mig_devices("  MIG 1g.5gb Device 0: (UUID: MIG-11)\n")


def test_mig_devices_are_only_reported_with_usable_gpus() -> None:
    devices = parse_mig_devices(fixture("mig_enabled", "list.txt"))
    assert summarize([], "no_devices", mig_devices=devices)["mig_devices"] == []


def test_query_order_follows_index() -> None:
    text = (
        "1, B, GPU-b, 100, 550.1, 00000000:02:00.0, Disabled, 90\n"
        "0, A, GPU-a, 200, 550.1, 00000000:01:00.0, Disabled, 180\n"
    )
    assert [gpu["name"] for gpu in parse_query(text)] == ["A", "B"]


@pytest.mark.parametrize(
    "text",
    [
        "0, NVIDIA, only three\n",
        "zero, NVIDIA A100, GPU-x, 40960, 525.1, 00000000:07:00.0, Enabled, 40000\n",
        "0, NVIDIA A100, GPU-x, lots, 525.1, 00000000:07:00.0, Enabled, 40000\n",
        "0, NVIDIA A100, GPU-x, 40960, 525.1, 00000000:07:00.0, Enabled, some\n",
        # The fields of an older query (no memory.free): refused, not read shifted.
        "0, NVIDIA A100, GPU-x, 40960, 525.1, 00000000:07:00.0, Enabled\n",
    ],
)
def test_query_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(NvidiaSmiError):
        parse_query(text)


def test_query_not_available_memory_is_zero() -> None:
    gpus = parse_query("0, NVIDIA A100, GPU-x, [N/A], 525.1, 00000000:07:00.0, [N/A], [N/A]\n")
    assert gpus[0]["memory_mib"] == 0 and gpus[0]["mig_mode"] == "" and gpus[0]["memory_free_mib"] == 0


@pytest.mark.parametrize(
    "case, expected",
    [
        ("no_devices", "no_devices"),
        ("version_mismatch", "version_mismatch"),
        ("no_driver", "no_driver"),
    ],
)
def test_failures_from_fixtures(case: str, expected: str) -> None:
    for name in ("query.txt", "summary.txt"):
        assert classify_failure(rc(case), fixture(case, name)) == expected
    # The message alone is enough, whatever the exit code.
    assert classify_failure(1, fixture(case, "query.txt")) == expected


def test_unknown_failure() -> None:
    assert classify_failure(255, "Unable to determine the device handle for GPU0000:01:00.0: Unknown Error") == "error"


def test_version_mismatch_on_a_gpu_host_is_present_not_usable() -> None:
    pci = [{"address": "0000:01:00.0", "device_id": "0x2684", "class": "0x030000"}]
    fact = summarize(pci, "version_mismatch", detail=fixture("version_mismatch", "query.txt").splitlines()[0])
    assert fact["present"] is True
    assert fact["usable"] is False
    assert fact["count"] == 1
    assert fact["driver_version"] == "" and fact["cuda_version"] == ""
    assert "Driver/library version mismatch" in fact["driver_message"]
    assert "reboot" in fact["driver_message"]


def test_version_mismatch_without_pci_is_present() -> None:
    # Containers and some VMs hide the PCI bus; a loaded kernel module still means a GPU.
    fact = summarize([], "version_mismatch", detail="Failed to initialize NVML: Driver/library version mismatch")
    assert fact["present"] is True and fact["usable"] is False
    assert fact["count"] == 1


@pytest.mark.parametrize("state", ["no_driver", "error"])
def test_other_failures_without_pci_are_not_a_gpu(state: str) -> None:
    assert summarize([], state, detail="x")["present"] is False


def test_no_devices_without_pci_is_a_cpu_host() -> None:
    fact = summarize([], "no_devices", detail="No devices were found")
    assert fact["present"] is False
    assert fact["count"] == 0


def test_missing_driver_without_pci_is_a_cpu_host() -> None:
    fact = summarize([], "missing")
    assert fact == {
        "present": False,
        "usable": False,
        "count": 0,
        "models": [],
        "memory_mib": [],
        "memory_total_mib": 0,
        "memory_free_mib": [],
        "driver_version": "",
        "cuda_version": "",
        "mig_enabled": False,
        "mig_devices": [],
        "gpus": [],
        "pci_devices": [],
        "driver_state": "missing",
        "driver_message": fact["driver_message"],
    }
    assert "not installed" in fact["driver_message"]


def test_scan_pci_finds_nvidia_display_controllers_only(tmp_path: Path) -> None:
    make_pci(tmp_path, "0000:00:02.0", "0x8086", "0x3e92", "0x030000")  # Intel iGPU
    make_pci(tmp_path, "0000:01:00.0", "0x10de", "0x2684", "0x030000")  # RTX 4090, VGA
    make_pci(tmp_path, "0000:01:00.1", "0x10de", "0x22ba", "0x040300")  # its HDMI audio
    make_pci(tmp_path, "0000:07:00.0", "0x10de", "0x20b0", "0x030200")  # A100, 3D controller
    make_pci(tmp_path, "0000:08:00.0", "0x10de", "0x1ad6", "0x0c0330")  # USB controller of a Turing card
    assert scan_pci(str(tmp_path)) == [
        {"address": "0000:01:00.0", "device_id": "0x2684", "class": "0x030000"},
        {"address": "0000:07:00.0", "device_id": "0x20b0", "class": "0x030200"},
    ]


def test_scan_pci_without_sysfs(tmp_path: Path) -> None:
    assert scan_pci(str(tmp_path / "nothing")) == []


def test_scan_pci_skips_unreadable_entries(tmp_path: Path) -> None:
    make_pci(tmp_path, "0000:01:00.0", "0x10de", "0x2684", "garbage")
    (tmp_path / "bus" / "pci" / "devices" / "0000:02:00.0").mkdir()
    assert scan_pci(str(tmp_path)) == []


# --- Real nvidia-smi output -------------------------------------------------------------
# The fixtures/nvidia_smi/real_* cases hold nvidia-smi output that people pasted publicly
# (each directory's SOURCE.md names the thread or file it comes from). None of the sources
# shows an exit code or a --query-gpu CSV with this parser's fields, so these cases have a
# summary.txt only: they test the header parsers and the failure classification on the real
# text. The GPU table itself is read by the small reader below, to check each fixture's GPU
# count, models and MIG modes against what the source says (the parser has no table reader:
# the module takes the GPUs from --query-gpu).

_TABLE_GPU_ROW = re.compile(
    r"^\|\s+(?P<index>\d+)\s+(?P<name>\S.*?)\s+(?:On|Off)\s*\|"
    r"\s+(?P<bus_id>[0-9A-Fa-f]{8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\s"
)
_TABLE_MEMORY = re.compile(r"(\d+)MiB\s*/\s*(\d+)MiB")
_MIG_DEVICE_ROW = re.compile(r"^\|\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\|")


def table_gpus(text: str) -> list[dict[str, t.Any]]:
    """The GPU rows of a plain nvidia-smi table: index, name, bus id, memory total, MIG mode."""
    lines = text.splitlines()
    has_mig_column = any("MIG M." in line for line in lines)
    gpus = []
    for number, line in enumerate(lines):
        match = _TABLE_GPU_ROW.match(line)
        if not match:
            continue
        memory = _TABLE_MEMORY.search(lines[number + 1]) if number + 1 < len(lines) else None
        mig = ""
        if has_mig_column and number + 2 < len(lines):
            mig = lines[number + 2].rstrip().rstrip("|").rsplit("|", 1)[-1].strip()
        gpus.append(
            {
                "index": int(match.group("index")),
                "name": match.group("name"),
                "bus_id": match.group("bus_id"),
                "memory_mib": int(memory.group(2)) if memory else None,
                "mig": mig,
            }
        )
    return gpus


def mig_devices(text: str) -> list[tuple[int, int, int, int]]:
    """(GPU, GI, CI, MIG device) of each row of the "MIG devices:" box."""
    lines = text.splitlines()
    try:
        start = next(number for number, line in enumerate(lines) if "MIG devices:" in line)
    except StopIteration:
        return []
    found: list[tuple[int, int, int, int]] = []
    for line in lines[start:]:
        if "Processes:" in line:
            break
        match = _MIG_DEVICE_ROW.match(line)
        if match:
            gpu, gi, ci, mig = (int(group) for group in match.groups())
            found.append((gpu, gi, ci, mig))
    return found


REAL_TABLES = [
    # case, driver version, CUDA version, GPUs (index, name, bus id, memory MiB, MIG mode)
    (
        "real_one_gpu_titan_xp_450",
        "450.57",
        "11.0",
        [
            (0, "TITAN Xp", "00000000:17:00.0", 12196, "N/A"),
        ],
    ),
    (
        "real_one_gpu_rtx4070_550",
        "550.40.07",
        "12.4",
        [
            (0, "NVIDIA GeForce RTX 4070", "00000000:2D:00.0", 12282, "N/A"),
        ],
    ),
    # Drivers before R410 print no CUDA version at all.
    (
        "real_one_gpu_titan_xp_384_no_cuda",
        "384.66",
        "",
        [
            (0, "TITAN Xp", "00000000:41:00.0", 12174, ""),
        ],
    ),
    (
        "real_eight_gpus_a100_mig_450",
        "450.80.02",
        "11.0",
        [
            (0, "A100-SXM4-40GB", "00000000:0F:00.0", 40537, "Disabled"),
            (1, "A100-SXM4-40GB", "00000000:15:00.0", 40537, "Enabled"),
            (2, "A100-SXM4-40GB", "00000000:51:00.0", 40537, "Enabled"),
            (3, "A100-SXM4-40GB", "00000000:54:00.0", 40537, "Enabled"),
            (4, "A100-SXM4-40GB", "00000000:8D:00.0", 40537, "Enabled"),
            (5, "A100-SXM4-40GB", "00000000:92:00.0", 40537, "Enabled"),
            (6, "A100-SXM4-40GB", "00000000:D6:00.0", 40537, "Enabled"),
            (7, "A100-SXM4-40GB", "00000000:DA:00.0", 40537, "Enabled"),
        ],
    ),
    (
        "real_eight_gpus_h100_550",
        "550.90.07",
        "12.4",
        [
            (0, "NVIDIA H100 80GB HBM3", "00000000:53:00.0", 81559, "Disabled"),
            (1, "NVIDIA H100 80GB HBM3", "00000000:64:00.0", 81559, "Disabled"),
            (2, "NVIDIA H100 80GB HBM3", "00000000:75:00.0", 81559, "Disabled"),
            (3, "NVIDIA H100 80GB HBM3", "00000000:86:00.0", 81559, "Disabled"),
            (4, "NVIDIA H100 80GB HBM3", "00000000:97:00.0", 81559, "Disabled"),
            (5, "NVIDIA H100 80GB HBM3", "00000000:A8:00.0", 81559, "Disabled"),
            (6, "NVIDIA H100 80GB HBM3", "00000000:B9:00.0", 81559, "Disabled"),
            (7, "NVIDIA H100 80GB HBM3", "00000000:CA:00.0", 81559, "Disabled"),
        ],
    ),
    # Inside the GPU Operator's driver container the header says "CUDA Version: N/A".
    (
        "real_mig_a100_cuda_na_550",
        "550.54.14",
        "",
        [
            (0, "NVIDIA A100 80GB PCIe", "00000000:17:00.0", 81920, "Enabled"),
        ],
    ),
    # R610 header: "KMD Version" and "CUDA UMD Version". The stored paste holds the first
    # two GPUs of the table only (see its SOURCE.md): these two are all that is checked.
    (
        "real_b200_r610_kmd_header",
        "610.43.02",
        "13.3",
        [
            (0, "NVIDIA B200", "00000000:63:00.0", 183359, "Disabled"),
            (1, "NVIDIA B200", "00000000:68:00.0", 183359, "Disabled"),
        ],
    ),
]


@pytest.mark.parametrize("case, driver, cuda, gpus", REAL_TABLES, ids=[row[0] for row in REAL_TABLES])
def test_real_table_header(case: str, driver: str, cuda: str, gpus: list[tuple[int, str, str, int, str]]) -> None:
    text = fixture(case, "summary.txt")
    assert parse_driver_version(text) == driver
    assert parse_cuda_version(text) == cuda
    assert [
        (gpu["index"], gpu["name"], gpu["bus_id"], gpu["memory_mib"], gpu["mig"]) for gpu in table_gpus(text)
    ] == gpus


def test_real_table_cases_are_all_listed() -> None:
    listed = {row[0] for row in REAL_TABLES} | {row[0] for row in REAL_FAILURES}
    on_disk = {path.name for path in FIXTURES.glob("real_*") if path.is_dir()}
    assert listed == on_disk
    for case in on_disk:
        assert (FIXTURES / case / "SOURCE.md").is_file(), case
        assert not (FIXTURES / case / "query.txt").exists(), "no real CSV was found: see SOURCE.md"


def test_real_eight_gpus_with_mig() -> None:
    text = fixture("real_eight_gpus_a100_mig_450", "summary.txt")
    gpus = table_gpus(text)
    assert len(gpus) == 8
    assert sum(gpu["memory_mib"] for gpu in gpus) == 8 * 40537
    # MIG devices are not GPUs of their own: one MIG device (GI 13, CI 0) on GPU 7.
    assert mig_devices(text) == [(7, 13, 0, 0)]


def test_real_eight_gpus_h100() -> None:
    gpus = table_gpus(fixture("real_eight_gpus_h100_550", "summary.txt"))
    assert [gpu["index"] for gpu in gpus] == list(range(8))
    assert sum(gpu["memory_mib"] for gpu in gpus) == 8 * 81559
    assert {gpu["mig"] for gpu in gpus} == {"Disabled"}
    assert mig_devices(fixture("real_eight_gpus_h100_550", "summary.txt")) == []


def test_real_r610_header_needs_the_new_labels() -> None:
    header = fixture("real_b200_r610_kmd_header", "summary.txt").splitlines()[2]
    assert "KMD Version: 610.43.02" in header and "CUDA UMD Version: 13.3" in header
    assert "Driver Version" not in header and "CUDA Version" not in header
    assert (parse_driver_version(header), parse_cuda_version(header)) == ("610.43.02", "13.3")


REAL_FAILURES = [
    # case, failure kind, output line
    ("real_no_devices_rtx5090", "no_devices", "No devices were found"),
    ("real_version_mismatch", "version_mismatch", "Failed to initialize NVML: Driver/library version mismatch"),
    (
        "real_version_mismatch_nvml_570",
        "version_mismatch",
        "Failed to initialize NVML: Driver/library version mismatch",
    ),
    (
        "real_no_driver",
        "no_driver",
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.",
    ),
]


@pytest.mark.parametrize("case, kind, first_line", REAL_FAILURES, ids=[row[0] for row in REAL_FAILURES])
def test_real_failure(case: str, kind: str, first_line: str) -> None:
    text = fixture(case, "summary.txt")
    assert text.splitlines()[0] == first_line
    # The sources show no exit code: the text alone must tell the failure (1: a generic failure).
    assert classify_failure(1, text) == kind
    # An error carries no versions; "NVML library version: 570.124" is not the driver's.
    assert parse_driver_version(text) == "" and parse_cuda_version(text) == ""
    fact = summarize([], kind, detail=first_line)
    assert fact["driver_state"] == kind and fact["usable"] is False
    assert fact["driver_message"].endswith(first_line)
    assert fact["present"] is (kind == "version_mismatch")
