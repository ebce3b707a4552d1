# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Whether a GPU image can run on a host's NVIDIA driver: its CUDA version against the driver's (private).

An NVIDIA driver runs CUDA up to one version (``CUDA Version`` in nvidia-smi's
header, ``aistack_gpu.cuda_version``). A container built for a newer CUDA
either does not start (the NVIDIA runtime refuses NVIDIA's own images, whose
``NVIDIA_REQUIRE_CUDA`` asks for their version) or starts, answers its health
check and fails at its first CUDA call, or quietly computes on the CPU. So
before a GPU image is deployed, its CUDA version (the label app_image writes,
``io.aistack.deploy.cuda-version``, else the ``CUDA_VERSION`` NVIDIA's images
and those built on them set) is compared with the driver's, by major and
minor version, the rule NVIDIA's runtime applies. ``NVIDIA_DISABLE_REQUIRE``
(the runtime's own switch, for CUDA forward compatibility) in the service's
environment or the image's turns the check off for that service, as it turns
off the runtime's.

Pure functions over plain data: the model of app_stack (its GPU services,
what each gets), the ``aistack_gpu`` fact and each image's configuration.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping

from ansible_collections.aistack.deploy.plugins.plugin_utils._app_stack_service import MIG_INDEX_RE, in_mig_mode

CUDA_LABEL = "io.aistack.deploy.cuda-version"
_VERSION_RE = re.compile(r"^\s*v?([0-9]+)\.([0-9]+)(?:\.[0-9]+)*\s*$")
# A CUDA version in an image tag: after "cuda" (pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime), or at the
# start of a tag of a repository named cuda (nvidia/cuda:12.6.3-runtime-ubuntu24.04), where elsewhere a
# leading version is the image's own.
_TAG_CUDA_RE = re.compile(r"cuda-?([0-9]+\.[0-9]+(?:\.[0-9]+)?)(?![0-9.])")
_TAG_START_RE = re.compile(r"^([0-9]+\.[0-9]+(?:\.[0-9]+)?)(?![0-9.])")
_TRUE = ("1", "true", "yes", "on")


def cuda_version(text: t.Any) -> tuple[int, int] | None:
    """A CUDA version's major and minor (12.6.3 -> (12, 6)); None for anything else (empty, N/A)."""
    match = _VERSION_RE.match(str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def tag_cuda_version(image: t.Any) -> str:
    """The CUDA version an image reference's tag names (nvidia/cuda:12.6.3-runtime-ubuntu24.04 -> 12.6.3); ''."""
    reference = str(image or "").split("@", 1)[0]
    name, _sep, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return ""  # no tag (a registry's port is no tag)
    match = _TAG_CUDA_RE.search(tag) or (_TAG_START_RE.match(tag) if name.rsplit("/", 1)[-1] == "cuda" else None)
    return match.group(1) if match else ""


def _env(config: Mapping[str, t.Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in config.get("Env") or [] if isinstance(item, str) and "=" in item)


def image_cuda(config: t.Any) -> tuple[str, str]:
    """The CUDA version an image is built for and where it says so, from its configuration (Labels, Env)."""
    config = config if isinstance(config, Mapping) else {}
    label = str((config.get("Labels") or {}).get(CUDA_LABEL) or "").strip()
    if label:
        return label, f"its label {CUDA_LABEL}"
    env = _env(config).get("CUDA_VERSION", "").strip()
    return (env, "its CUDA_VERSION") if env else ("", "")


def _gpu_names(indexes: t.Sequence[t.Any], gpu: Mapping[str, t.Any]) -> str:
    """GPU 1 (NVIDIA GeForce RTX 4090), GPUs 0, 2 (NVIDIA L4): the GPUs a service gets, by model, as aistack_gpu lists them."""
    by_index = {entry.get("index"): entry for entry in gpu.get("gpus") or [] if isinstance(entry, Mapping)}
    models: dict[str, list[str]] = {}
    for index in indexes:
        # A MIG device (<gpu>:<mig>) is of its GPU's model.
        parent = int(str(index).split(":", 1)[0]) if ":" in str(index) else index
        models.setdefault(str(by_index.get(parent, {}).get("name") or ""), []).append(str(index))
    names = [
        ("GPU " if len(found) == 1 else "GPUs ") + ", ".join(found) + (f" ({model})" if model else "")
        for model, found in models.items()
    ]
    return "; ".join(names) if names else "its GPUs"


def cuda_problems(model: Mapping[str, t.Any], gpu: t.Any, images: Mapping[str, t.Any], host: str) -> list[str]:
    """Each running GPU service whose image needs a newer CUDA than the host's driver runs, naming both.

    ``images``: image reference to its configuration (Labels, Env), for the images the host has; an image
    not there (yet), or that says no CUDA version, is not checked here. Nothing is checked where the driver's
    CUDA version is not known (no GPU, a driver that is not usable, nvidia-smi saying N/A).
    """
    gpu = gpu if isinstance(gpu, Mapping) else {}
    driver = cuda_version(gpu.get("cuda_version"))
    if not gpu.get("present") or driver is None:
        return []
    services = model.get("services") or {}
    problems = []
    for sname, members in _gpu_services(model).items():
        svc = services[members[0]]
        config = images.get(svc.get("image"))
        if not isinstance(config, Mapping):
            continue
        version, source = image_cuda(config)
        needs = cuda_version(version)
        if needs is None or needs <= driver or _disabled(svc, config):
            continue
        gpus = [index for member in members for index in services[member].get("gpus") or []]
        problems.append(
            f"service {sname} runs {svc['image']}, built for CUDA {version} ({source}), but the NVIDIA driver "
            f"{gpu.get('driver_version') or '?'} of {_gpu_names(gpus, gpu)} on {host} runs CUDA {gpu.get('cuda_version')} "
            "at most "
            f"(nvidia-smi's CUDA Version, aistack_gpu.cuda_version): upgrade the driver on {host}, or deploy an image "
            f"built for CUDA {gpu.get('cuda_version')} or older (app_image_cuda_base); NVIDIA_DISABLE_REQUIRE=true in "
            "the service's environment skips this check where CUDA forward compatibility is installed"
        )
    return problems


def _gpu_services(model: Mapping[str, t.Any]) -> dict[str, list[str]]:
    """The running services that get a GPU, by the name the user gave: a per_gpu service with its replicas."""
    services = model.get("services") or {}
    found: dict[str, list[str]] = {}
    for name in model.get("active_services") or []:
        svc = services.get(name) or {}
        if (svc.get("reservations") or {}).get("devices"):
            found.setdefault(svc.get("replica_of") or name, []).append(name)
    return found


def _disabled(svc: Mapping[str, t.Any], config: Mapping[str, t.Any]) -> bool:
    """NVIDIA_DISABLE_REQUIRE in the service's environment (it wins) or the image's: the runtime's own switch."""
    value = (svc.get("environment") or {}).get("NVIDIA_DISABLE_REQUIRE", _env(config).get("NVIDIA_DISABLE_REQUIRE", ""))
    return str(value).strip().lower() in _TRUE


def held_gpus(
    requests: t.Any, host_gpus: t.Sequence[Mapping[str, t.Any]], migs: t.Sequence[Mapping[str, t.Any]] = ()
) -> set[int | str]:
    """What running containers hold, from their device requests: each GPU held whole by its index (an int), each
    MIG device by ``<gpu>:<mig>`` (a str). A GPU one of whose MIG devices is held is held only in part (see
    partly_held): its index is not in the set.

    ``requests``: one list per container, its ``HostConfig.DeviceRequests`` as ``docker inspect`` shows them:
    CDI devices (``nvidia.com/gpu=<index|uuid|gpu:mig|all>``), the nvidia driver's ``DeviceIDs`` (an index, a
    UUID, a MIG device's UUID or ``<gpu>:<mig>``) or its ``Count`` (the first N GPUs, -1 for every one). Every
    device (``all``, -1) is every GPU and every MIG device (``migs``, aistack_gpu.mig_devices), as the runtime
    gives them. A MIG device is known by ``<gpu>:<mig>`` even where ``migs`` does not list it; by UUID only where
    it does. Requests of other drivers hold nothing.
    """
    # gpu_info reports each GPU's index as an int; an entry without one can hold nothing.
    gpus = [(gpu["index"], gpu) for gpu in host_gpus if isinstance(gpu.get("index"), int)]
    listed = [mig for mig in migs if isinstance(mig.get("gpu"), int) and isinstance(mig.get("index"), int)]
    everything: set[int | str] = {index for index, _gpu in gpus} | {f"{m['gpu']}:{m['index']}" for m in listed}
    held: set[int | str] = set()
    for container in requests if isinstance(requests, list) else []:
        for request in container if isinstance(container, list) else []:
            if not isinstance(request, Mapping) or request.get("Driver") not in ("cdi", "nvidia", ""):
                continue
            ids = [str(device) for device in request.get("DeviceIDs") or []]
            if request.get("Driver") == "cdi":
                ids = [device.split("=", 1)[1] for device in ids if device.startswith("nvidia.com/gpu=")]
            elif not ids:
                count = request.get("Count") or 0
                held.update(everything if count < 0 else [index for index, _gpu in gpus][:count])
                continue
            for device in ids:
                held.update(everything if device == "all" else _held_device(device, gpus, listed))
    return held


def _held_device(
    device: str, gpus: t.Sequence[tuple[int, Mapping[str, t.Any]]], migs: t.Sequence[Mapping[str, t.Any]]
) -> list[int | str]:
    """What one device id of a request holds: a GPU by index or UUID, a MIG device by <gpu>:<mig> or UUID."""
    mig = MIG_INDEX_RE.match(device)
    if mig:
        return [f"{int(mig.group(1))}:{int(mig.group(2))}"]
    for entry in migs:
        if device == entry.get("uuid"):
            return [f"{entry['gpu']}:{entry['index']}"]
    return [index for index, gpu in gpus if device in (str(index), gpu.get("uuid"))]


def partly_held(held: t.Collection[int | str]) -> set[int]:
    """The GPUs held in part: those one of whose MIG devices is held (so in MIG mode, whatever the fact says)."""
    return {int(str(key).split(":", 1)[0]) for key in held if isinstance(key, str) and MIG_INDEX_RE.match(key)}


def gpu_memory_problems(model: Mapping[str, t.Any], gpu: t.Any, held: t.Collection[int | str], host: str) -> list[str]:
    """Each running GPU service whose gpu_memory_mb (what one container needs) a GPU it gets cannot give.

    A GPU is measured by the memory it has free (``aistack_gpu.gpus``, read this run), except one the app's
    running containers hold whole (``held``, from held_gpus): what they use is given back when they stop, so
    there the need is measured against the GPU's whole memory (whether two containers fit at once is the
    start-first room check's to decide, which falls back to stop-first). Nothing is checked where the host does
    not list its GPUs with their memory, nor for a GPU a service names that the host does not list. Nor for a
    MIG device, or a GPU in MIG mode (aistack_gpu says so, or the app holds one of its MIG devices): nvidia-smi
    reports memory per GPU, not per MIG device, and a GPU in MIG mode is used through its MIG devices, so its
    figures (the card's, with the other MIG devices' use in them) say nothing of what one container gets.
    """
    gpu = gpu if isinstance(gpu, Mapping) else {}
    by_index = {entry.get("index"): entry for entry in gpu.get("gpus") or [] if isinstance(entry, Mapping)}
    if not gpu.get("usable") or not by_index:
        return []
    migs = [mig for mig in gpu.get("mig_devices") or [] if isinstance(mig, Mapping)]
    mig_mode = partly_held(held) | {index for index, entry in by_index.items() if in_mig_mode(entry, migs)}
    services = model.get("services") or {}
    problems = []
    for sname, members in _gpu_services(model).items():
        need = services[members[0]].get("gpu_memory_mb")
        if not need:
            continue
        short = []
        given = {index for member in members for index in services[member].get("gpus") or []}
        for index in sorted(index for index in given if index in by_index and index not in mig_mode):
            entry = by_index[index]
            whole = index in held
            room = entry.get("memory_mib" if whole else "memory_free_mib")
            if isinstance(room, int) and room < need:
                short.append(
                    f"GPU {index} ({entry.get('name') or '?'}"
                    + (f", {entry['uuid']}" if entry.get("uuid") else "")
                    + f") has {room} MiB {'in all' if whole else 'free'}"
                )
        if short:
            problems.append(
                f"service {sname} needs {need} MiB of GPU memory (app_stack_services.{sname}.gpu_memory_mb), but on "
                f"{host} {'; '.join(short)}: give it a GPU with room (gpu, per_gpu), free the GPU of what else runs "
                "there, or lower gpu_memory_mb if the service needs less"
            )
    return problems
