# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The nvidia_toolkit role's checks of its input and of the GPU host (private, not a public API).

``nvidia_toolkit_problems``: the variables, before anything is looked at on the
host but its package manager. ``nvidia_toolkit_host_problems``: what the GPU
detection (module gpu_info) and the engine (aistack_docker) say, before the
role installs anything on a GPU host.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ansible.module_utils.compat.version import LooseVersion

from ansible_collections.aistack.deploy.plugins.plugin_utils._input import (
    FILE_PATH_RE,
    REPO_URL_RE,
    VERSION_RE,
    Problems,
    plain,
    show,
)

# Where Docker reads CDI specifications.
CDI_DIRS = ("/etc/cdi", "/var/run/cdi")


def nvidia_toolkit_problems(variables: Mapping[str, t.Any], host: Mapping[str, t.Any]) -> list[str]:
    """Problems of the role's variables (types already checked); ``host``: ``platform``, ``pkg_mgr``."""
    v, host = plain(variables), plain(host)
    problems = Problems()
    if host.get("pkg_mgr") not in ("apt", "dnf"):
        problems.add(
            "platform",
            "aistack.deploy.nvidia_toolkit supports Debian, Ubuntu and Enterprise Linux"
            f" (apt and dnf); this host runs {host.get('platform')}",
        )
    for name, empty in (("nvidia_toolkit_version", "the newest"), ("nvidia_toolkit_driver_min_version", "any")):
        if not VERSION_RE.match(v[name]):
            problems.add(
                name,
                f'{show(v[name])}: give a version or a prefix of one (1.17.3, 1.17, 550.127.05), or "" for {empty}',
            )
    for name in ("nvidia_toolkit_repo_url", "nvidia_toolkit_repo_key_url"):
        if (v[name] or name == "nvidia_toolkit_repo_url") and not REPO_URL_RE.match(v[name]):
            problems.add(name, f"{show(v[name])}: must be an http://, https:// or file:// URL")
    if not FILE_PATH_RE.match(v["nvidia_toolkit_daemon_config_path"]):
        problems.add(
            "nvidia_toolkit_daemon_config_path",
            f"{show(v['nvidia_toolkit_daemon_config_path'])}: must be an absolute file path",
        )
    spec = v["nvidia_toolkit_cdi_spec_path"]
    if v["nvidia_toolkit_runtime_mode"] == "cdi" and (
        spec.rsplit("/", 1)[0] not in CDI_DIRS or not spec.endswith((".yaml", ".json"))
    ):
        problems.add(
            "nvidia_toolkit_cdi_spec_path",
            f"{show(spec)}: Docker reads CDI specifications (*.yaml or *.json) only from {' and '.join(CDI_DIRS)}",
        )
    command = v["nvidia_toolkit_smoke_command"]
    if v["nvidia_toolkit_smoke_image"] and (not command or not all(isinstance(arg, str) for arg in command)):
        problems.add(
            "nvidia_toolkit_smoke_command",
            f"{show(command)}: must be a non-empty list of strings (the command and its arguments)",
        )
    return list(problems)


def _driver(v: Mapping[str, t.Any], gpu: Mapping[str, t.Any], problems: Problems) -> None:
    pci = ", ".join(device.get("address", "?") for device in gpu.get("pci_devices") or [])
    if not gpu.get("usable"):
        where = f" on the PCI bus ({pci})" if pci else ""
        text = f"{gpu.get('count')} NVIDIA GPU(s){where} but no working driver: {gpu.get('driver_message')}."
        if gpu.get("driver_state") != "version_mismatch":
            minimum = v["nvidia_toolkit_driver_min_version"]
            text += (
                " Install the NVIDIA driver"
                + (f" ({minimum} or later, nvidia_toolkit_driver_min_version)" if minimum else "")
                + " first; this role does not install drivers"
            )
        problems.add("driver", text)
        return
    minimum = v["nvidia_toolkit_driver_min_version"]
    if minimum and LooseVersion(str(gpu.get("driver_version"))) < LooseVersion(minimum):
        problems.add(
            "nvidia_toolkit_driver_min_version",
            f"{minimum}: the NVIDIA driver {gpu.get('driver_version')}"
            " is older; upgrade the driver (and reboot), or lower nvidia_toolkit_driver_min_version",
        )


def nvidia_toolkit_host_problems(
    variables: Mapping[str, t.Any], gpu: Mapping[str, t.Any], docker: Mapping[str, t.Any]
) -> list[str]:
    """Problems of this host for the role: ``gpu`` as gpu_info returns it, ``docker`` the aistack_docker fact."""
    v, gpu, docker = plain(variables), plain(gpu), plain(docker)
    problems = Problems()
    if not gpu.get("present"):
        if v["nvidia_toolkit_smoke_image"]:
            problems.add(
                "nvidia_toolkit_smoke_image",
                f"{show(v['nvidia_toolkit_smoke_image'])}: this host has no"
                " NVIDIA GPU to run it on (none on the PCI bus, none listed by nvidia-smi); set it only for"
                " GPU hosts (host_vars or a group)",
            )
        return list(problems)
    _driver(v, gpu, problems)
    engine = str(docker.get("engine_version") or "")
    if (
        v["nvidia_toolkit_runtime_mode"] == "cdi"
        and docker.get("installed")
        and engine
        and LooseVersion(engine) < LooseVersion("25.0")
    ):
        problems.add(
            "nvidia_toolkit_runtime_mode",
            f"'cdi' needs Docker Engine 25 or later; this host runs {engine}."
            " Use 'legacy' (containers then use --gpus), or a newer engine",
        )
    return list(problems)
