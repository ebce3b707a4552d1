# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Find NVIDIA GPUs: on the PCI bus (sysfs) and through ``nvidia-smi``.

Private to this collection. Everything here is pure or reads files, so that it
can be tested on fixture trees and on nvidia-smi output as the driver prints it:

- ``scan_pci`` lists the NVIDIA display controllers (vendor 0x10de, PCI class
  0x03xx) under a sysfs root; an NVIDIA card's audio and USB functions have
  other classes and are not GPUs;
- ``parse_query`` reads ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits``;
- ``parse_cuda_version`` reads the CUDA version from the header of plain
  ``nvidia-smi`` (the query interface has no field for it);
- ``parse_mig_devices`` reads the MIG devices of ``nvidia-smi -L`` (asked only
  where a GPU has MIG mode enabled);
- ``classify_failure`` tells the driver's failures apart ("No devices were
  found", driver/library version mismatch, no driver);
- ``summarize`` makes the ``aistack_gpu`` fact out of all of it.
"""

from __future__ import annotations

import os
import re
import typing as t

NVIDIA_VENDOR = 0x10DE
DISPLAY_CLASS = 0x03  # PCI base class "display controller" (VGA 0x0300, 3D 0x0302)

QUERY_FIELDS = (
    "index",
    "name",
    "uuid",
    "memory.total",
    "driver_version",
    "pci.bus_id",
    "mig.mode.current",
    "memory.free",
)
QUERY_ARGS = ("--query-gpu=" + ",".join(QUERY_FIELDS), "--format=csv,noheader,nounits")

# nvidia-smi's exit codes (NVML return codes) for the failures worth telling apart.
RC_NO_DEVICES = 6
RC_NO_DRIVER = 9
RC_VERSION_MISMATCH = 18

# From R610 on, the header says "KMD Version" and "CUDA UMD Version" (NVIDIA deprecated
# "Driver Version" and "CUDA Version"): both labels are read.
_CUDA_VERSION = re.compile(r"CUDA (?:UMD )?Version\s*:?\s*([0-9]+(?:\.[0-9]+)*)")
_DRIVER_VERSION = re.compile(r"(?:Driver|KMD) Version\s*:?\s*([0-9]+(?:\.[0-9]+)*)")
_NOT_AVAILABLE = {"", "[N/A]", "N/A", "[Not Supported]", "Not Supported"}
LIST_ARGS = ("-L",)
# nvidia-smi -L: each GPU, then its MIG devices indented below it. From R470 on a MIG device's UUID is
# MIG-<uuid>; R450 printed MIG-GPU-<the GPU's uuid>/<GPU instance>/<compute instance>. Profiles look like
# 1g.5gb, 3g.20gb, 1g.10gb+me (media extensions), 1c.3g.20gb (compute instance profiles).
_LIST_GPU = re.compile(r"^GPU\s+(\d+):")
_LIST_MIG = re.compile(r"^\s+MIG\s+(\S+)\s+Device\s+(\d+):\s*\(UUID:\s*(MIG-[^)\s]+)\)\s*$")


class NvidiaSmiError(Exception):
    """nvidia-smi printed something this parser does not understand."""


def _read_hex(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip(), 16)
    except (OSError, ValueError):
        return None


def scan_pci(sysfs_root: str = "/sys") -> list[dict[str, str]]:
    """The NVIDIA display controllers under ``<sysfs_root>/bus/pci/devices``, sorted by address.

    Each is ``{address, device_id, class}`` with the IDs as ``0x`` hex strings.
    A missing directory (no PCI bus, a container without /sys) gives ``[]``.
    """
    base = os.path.join(sysfs_root, "bus", "pci", "devices")
    try:
        addresses = sorted(os.listdir(base))
    except OSError:
        return []
    found = []
    for address in addresses:
        device_dir = os.path.join(base, address)
        vendor = _read_hex(os.path.join(device_dir, "vendor"))
        pci_class = _read_hex(os.path.join(device_dir, "class"))
        if vendor != NVIDIA_VENDOR or pci_class is None or pci_class >> 16 != DISPLAY_CLASS:
            continue
        device = _read_hex(os.path.join(device_dir, "device"))
        found.append(
            {
                "address": address,
                "device_id": "" if device is None else f"0x{device:04x}",
                "class": f"0x{pci_class:06x}",
            }
        )
    return found


def _optional(value: str) -> str:
    value = value.strip()
    return "" if value in _NOT_AVAILABLE else value


def parse_query(text: str) -> list[dict[str, t.Any]]:
    """The GPUs of a ``--query-gpu`` CSV (QUERY_FIELDS, no header, no units), in index order."""
    gpus = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != len(QUERY_FIELDS):
            raise NvidiaSmiError(f"line {number} has {len(fields)} fields, expected {len(QUERY_FIELDS)}: {line!r}")
        values = dict(zip(QUERY_FIELDS, fields))
        try:
            index = int(values["index"])
            memory = _optional(values["memory.total"])
            memory_mib = int(float(memory)) if memory else 0
            free = _optional(values["memory.free"])
            memory_free_mib = int(float(free)) if free else 0
        except ValueError as exc:
            raise NvidiaSmiError(f"line {number}: {exc}: {line!r}") from exc
        gpus.append(
            {
                "index": index,
                "name": values["name"],
                "uuid": _optional(values["uuid"]),
                "memory_mib": memory_mib,
                "memory_free_mib": memory_free_mib,
                "driver_version": _optional(values["driver_version"]),
                "pci_bus_id": _optional(values["pci.bus_id"]),
                "mig_mode": _optional(values["mig.mode.current"]),
            }
        )
    return sorted(gpus, key=lambda gpu: gpu["index"])


def parse_mig_devices(text: str) -> list[dict[str, t.Any]]:
    """The MIG devices ``nvidia-smi -L`` lists, each with the GPU listed above it, in the order listed.

    Each is ``{gpu, index, profile, uuid, cdi_device}``: ``gpu`` the GPU's index, ``index`` the MIG
    device's number on that GPU, ``cdi_device`` the name ``nvidia-ctk cdi generate`` gives it
    (``nvidia.com/gpu=<gpu>:<index>``). A MIG line before any GPU line is output this parser does not
    understand.
    """
    devices: list[dict[str, t.Any]] = []
    gpu = None
    for number, line in enumerate(text.splitlines(), start=1):
        listed_gpu = _LIST_GPU.match(line)
        if listed_gpu:
            gpu = int(listed_gpu.group(1))
            continue
        mig = _LIST_MIG.match(line)
        if not mig:
            continue
        if gpu is None:
            raise NvidiaSmiError(f"line {number}: a MIG device before any GPU: {line!r}")
        index = int(mig.group(2))
        devices.append(
            {
                "gpu": gpu,
                "index": index,
                "profile": mig.group(1),
                "uuid": mig.group(3),
                "cdi_device": f"nvidia.com/gpu={gpu}:{index}",
            }
        )
    return devices


def parse_cuda_version(text: str) -> str:
    """The CUDA version the driver supports, from plain ``nvidia-smi`` (or ``-q``); "" when not shown."""
    match = _CUDA_VERSION.search(text)
    return match.group(1) if match else ""


def parse_driver_version(text: str) -> str:
    """The driver version from the header of plain ``nvidia-smi`` (or ``-q``); "" when not shown."""
    match = _DRIVER_VERSION.search(text)
    return match.group(1) if match else ""


def classify_failure(rc: int, output: str) -> str:
    """Which failure nvidia-smi reports: no_devices, version_mismatch, no_driver or error."""
    if rc == RC_NO_DEVICES or "No devices were found" in output:
        return "no_devices"
    if rc == RC_VERSION_MISMATCH or "version mismatch" in output:
        return "version_mismatch"
    if rc == RC_NO_DRIVER or "couldn't communicate with the NVIDIA driver" in output:
        return "no_driver"
    return "error"


DRIVER_STATES = {
    "ok": "nvidia-smi lists the GPUs",
    "missing": "no nvidia-smi on the host: the NVIDIA driver is not installed",
    "no_devices": "nvidia-smi found no GPU (No devices were found): the driver sees none",
    "version_mismatch": "the NVIDIA kernel module and its user-space libraries differ (Driver/library version mismatch): "
    "reboot, or reload the kernel module, after a driver upgrade",
    "no_driver": "nvidia-smi cannot talk to the NVIDIA driver: the kernel module is not loaded",
    "error": "nvidia-smi failed",
}


def summarize(
    pci: list[dict[str, str]],
    state: str,
    gpus: list[dict[str, t.Any]] | None = None,
    cuda_version: str = "",
    detail: str = "",
    mig_devices: list[dict[str, t.Any]] | None = None,
) -> dict[str, t.Any]:
    """The ``aistack_gpu`` fact.

    ``present``: the host has an NVIDIA GPU: on the PCI bus, listed by nvidia-smi, or behind a
    driver/library version mismatch (the NVIDIA kernel module is loaded, which it only is with a
    GPU; hosts that hide the PCI bus, such as containers, show nothing else).
    ``usable``: nvidia-smi lists it (driver loaded and matching); only then are the
    driver and CUDA versions, models and memory known. ``count`` is the number of
    GPUs nvidia-smi lists, else of the PCI display controllers.
    """
    gpus = gpus or []
    usable = state == "ok" and len(gpus) > 0
    driver_versions = sorted({gpu["driver_version"] for gpu in gpus if gpu["driver_version"]})
    message = DRIVER_STATES.get(state, DRIVER_STATES["error"])
    if detail and state != "ok":
        message = f"{message}: {detail}"
    return {
        "present": usable or len(pci) > 0 or state == "version_mismatch",
        "usable": usable,
        "count": len(gpus) if usable else max(len(pci), 1 if state == "version_mismatch" else 0),
        "models": [gpu["name"] for gpu in gpus],
        "memory_mib": [gpu["memory_mib"] for gpu in gpus],
        "memory_total_mib": sum(gpu["memory_mib"] for gpu in gpus),
        # Free when the host was looked at (what runs there already uses the rest).
        "memory_free_mib": [gpu["memory_free_mib"] for gpu in gpus],
        "driver_version": driver_versions[0] if driver_versions else "",
        "cuda_version": cuda_version if usable else "",
        "mig_enabled": any(gpu["mig_mode"] == "Enabled" for gpu in gpus),
        # The MIG devices of the GPUs in MIG mode (nvidia-smi -L), each a device of its own to a container.
        "mig_devices": list(mig_devices or []) if usable else [],
        "gpus": gpus,
        "pci_devices": pci,
        "driver_state": state,
        "driver_message": message if state != "ok" else "",
    }
