#!/usr/bin/python
#
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gpu_info
short_description: Find the NVIDIA GPUs of a host, their driver and CUDA versions
version_added: 0.1.0
description:
  - Looks for NVIDIA GPUs on the PCI bus (vendor C(0x10de), display controller class C(0x03xx)) through
    sysfs, and asks C(nvidia-smi) for the GPUs the driver sees, their models, memory and MIG mode,
    the driver version and the CUDA version the driver supports.
  - A GPU on the PCI bus that C(nvidia-smi) cannot list (no driver, C(No devices were found), a
    driver/library version mismatch after an upgrade) is reported as present but not usable, with the
    reason in RV(gpu.driver_state) and RV(gpu.driver_message); the module itself does not fail on it.
  - Reads only; never changes the host.
author:
  - aistack.deploy developers (@aistack)
extends_documentation_fragment:
  - aistack.deploy.attributes
  - aistack.deploy.attributes.info_module
  - aistack.deploy.attributes.linux
options:
  sysfs_root:
    description:
      - Where sysfs is mounted. The PCI devices are read from C(<sysfs_root>/bus/pci/devices).
      - A directory that does not exist counts as a host without PCI devices.
    type: path
    default: /sys
  nvidia_smi:
    description:
      - The C(nvidia-smi) program to run.
      - By default it is looked up on the C(PATH) and in C(/usr/bin); when there is none, the driver
        counts as not installed (RV(gpu.driver_state=missing)).
    type: path
notes:
  - C(nvidia-smi) is run twice, with C(--query-gpu) for the fields index, name, uuid, memory.total,
    driver_version, pci.bus_id, mig.mode.current and memory.free (C(--format=csv,noheader,nounits)),
    and plain for the CUDA version in its header; a third time, with C(-L), where a GPU is in MIG mode,
    for its MIG devices.
seealso:
  - name: nvidia-smi documentation
    description: The NVIDIA System Management Interface and its query fields.
    link: https://docs.nvidia.com/deploy/nvidia-smi/index.html
"""

EXAMPLES = r"""
---
- name: Find the GPUs
  aistack.deploy.gpu_info:
  register: gpus

- name: Say what was found
  ansible.builtin.debug:
    msg: "{{ gpus.gpu.count }} x {{ gpus.gpu.models | unique | join(', ') }}, driver {{ gpus.gpu.driver_version }}"
  when: gpus.gpu.usable

- name: Stop on a GPU host whose driver does not work
  ansible.builtin.fail:
    msg: "{{ gpus.gpu.driver_message }}"
  when: gpus.gpu.present and not gpus.gpu.usable
"""

RETURN = r"""
gpu:
  description: What the host has. The nvidia_toolkit role hands this on as the fact C(aistack_gpu).
  returned: always
  type: dict
  contains:
    present:
      description:
        - An NVIDIA GPU is on the PCI bus or listed by C(nvidia-smi), or C(nvidia-smi) reports a driver/library
          version mismatch (the NVIDIA kernel module is loaded, so a GPU is there even where the PCI bus is hidden).
      type: bool
      sample: true
    usable:
      description: C(nvidia-smi) lists at least one GPU (the driver is loaded and matches its libraries).
      type: bool
      sample: true
    count:
      description:
        - The GPUs C(nvidia-smi) lists; when it lists none, the NVIDIA display controllers on the PCI bus
          (at least 1 with a version mismatch).
      type: int
      sample: 1
    models:
      description: The model of each GPU, in index order. Empty when not usable.
      type: list
      elements: str
      sample: [NVIDIA GeForce RTX 4090]
    memory_mib:
      description: The memory of each GPU in MiB, in index order. Empty when not usable.
      type: list
      elements: int
      sample: [24564]
    memory_total_mib:
      description: The memory of all GPUs together in MiB.
      type: int
      sample: 24564
    memory_free_mib:
      description:
        - The free memory of each GPU in MiB when the module ran, in index order (what runs there uses the rest).
          Empty when not usable.
      type: list
      elements: int
      sample: [24052]
      version_added: 0.2.0
    driver_version:
      description: The NVIDIA driver version; empty when not usable.
      type: str
      sample: 550.127.05
    cuda_version:
      description: The highest CUDA version the driver supports; empty when not usable.
      type: str
      sample: "12.4"
    mig_enabled:
      description: Multi-Instance GPU mode is on for at least one GPU.
      type: bool
      sample: false
    mig_devices:
      description:
        - The MIG devices of the GPUs in MIG mode, as C(nvidia-smi -L) lists them, each a device a container
          can be given on its own. C(gpu) is the index of its GPU, C(index) its number on that GPU, C(profile)
          its MIG profile, C(cdi_device) the CDI device name C(nvidia-ctk cdi generate) gives it.
        - Empty without MIG, and when not usable.
      type: list
      elements: dict
      sample:
        - gpu: 0
          index: 0
          profile: 3g.20gb
          uuid: MIG-0c4b7d3e-2a9f-5e81-b6d0-1f3a8c7e5b29
          cdi_device: nvidia.com/gpu=0:0
      version_added: 0.2.0
    gpus:
      description: Each GPU C(nvidia-smi) lists.
      type: list
      elements: dict
      sample:
        - index: 0
          name: NVIDIA GeForce RTX 4090
          uuid: GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45
          memory_mib: 24564
          memory_free_mib: 24052
          driver_version: 550.127.05
          pci_bus_id: "00000000:01:00.0"
          mig_mode: ""
    pci_devices:
      description: The NVIDIA display controllers on the PCI bus, with IDs as hex strings.
      type: list
      elements: dict
      sample:
        - address: "0000:01:00.0"
          device_id: "0x2684"
          class: "0x030000"
    driver_state:
      description:
        - V(ok) when C(nvidia-smi) lists the GPUs; V(missing) without C(nvidia-smi); V(no_devices) when it
          finds none; V(version_mismatch) after a driver upgrade without a reboot; V(no_driver) when the
          kernel module is not loaded; V(error) for any other failure.
      type: str
      sample: ok
    driver_message:
      description: What is wrong with the driver, for a message to the user; empty when RV(gpu.driver_state=ok).
      type: str
      sample: ""
"""

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.deploy.plugins.module_utils._nvidia_smi import (
    LIST_ARGS,
    QUERY_ARGS,
    NvidiaSmiError,
    classify_failure,
    parse_cuda_version,
    parse_mig_devices,
    parse_query,
    scan_pci,
    summarize,
)


def _first_line(*texts: str) -> str:
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                return line.strip()
    return ""


def find_nvidia_smi(module: AnsibleModule) -> str | None:
    given = module.params["nvidia_smi"]
    if given:
        return given if os.access(given, os.X_OK) else None
    return module.get_bin_path("nvidia-smi", opt_dirs=["/usr/bin"])


def detect(module: AnsibleModule) -> dict[str, t.Any]:
    pci = scan_pci(module.params["sysfs_root"])
    smi = find_nvidia_smi(module)
    if smi is None:
        return summarize(pci, "missing")
    rc, out, err = module.run_command([smi, *QUERY_ARGS])
    if rc != 0:
        return summarize(pci, classify_failure(rc, out + err), detail=_first_line(out, err) or f"exit code {rc}")
    try:
        gpus = parse_query(out)
    except NvidiaSmiError as exc:
        return summarize(pci, "error", detail=f"unexpected output of {smi} {' '.join(QUERY_ARGS)}: {exc}")
    if not gpus:
        return summarize(pci, "no_devices", detail="nvidia-smi listed no GPU")
    rc, out, err = module.run_command([smi])
    cuda = parse_cuda_version(out) if rc == 0 else ""
    return summarize(pci, "ok", gpus, cuda, mig_devices=mig_devices(module, smi, gpus))


def mig_devices(module: AnsibleModule, smi: str, gpus: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """The MIG devices, asked of nvidia-smi -L only where a GPU is in MIG mode; [] where it cannot tell."""
    if not any(gpu["mig_mode"] == "Enabled" for gpu in gpus):
        return []
    rc, out, err = module.run_command([smi, *LIST_ARGS])
    if rc != 0:
        module.warn(f"{smi} -L failed (exit code {rc}): {_first_line(out, err)}; no MIG devices reported")
        return []
    try:
        return parse_mig_devices(out)
    except NvidiaSmiError as exc:
        module.warn(f"unexpected output of {smi} -L: {exc}; no MIG devices reported")
        return []


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "sysfs_root": {"type": "path", "default": "/sys"},
            "nvidia_smi": {"type": "path"},
        },
        supports_check_mode=True,
    )
    module.exit_json(changed=False, gpu=detect(module))


if __name__ == "__main__":
    main()
