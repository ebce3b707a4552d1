# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the GPU pre-flight: a GPU image's CUDA version against the host driver's, a GPU service's memory
against what its GPUs have.

Thin wrappers: the logic lives in plugins/plugin_utils/_gpu_preflight.py.
"""

from __future__ import annotations

import json
import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.plugin_utils._gpu_preflight import (
    cuda_problems,
    gpu_memory_problems,
    held_gpus,
    tag_cuda_version,
)


def _probe_images(text: str) -> dict[str, t.Any]:
    """app_stack's pre-flight probe's lines IMAGE <reference> <its configuration as JSON>."""
    images = {}
    for line in text.splitlines():
        kind, _sep, rest = line.strip().partition(" ")
        reference, _sep, config = rest.partition(" ")
        if kind == "IMAGE" and reference:
            try:
                images[reference] = json.loads(config)
            except ValueError:
                continue
    return images


def _found_images(found: t.Any) -> dict[str, t.Any]:
    """The images of a docker_image_info result, by each of their tags."""
    if not isinstance(found, list) or not all(isinstance(image, Mapping) for image in found):
        raise AnsibleFilterError(
            "app_stack_cuda_problems: images must be docker_image_info's images or the pre-flight probe's output"
        )
    return {tag: image.get("Config") or {} for image in found for tag in image.get("RepoTags") or []}


def app_stack_cuda_problems(model: t.Any, gpu: t.Any, images: t.Any, host: t.Any) -> list[str]:
    if not isinstance(model, Mapping):
        raise AnsibleFilterError(f"app_stack_cuda_problems: the model must be a mapping, got {type(model).__name__}")
    configs = _probe_images(images) if isinstance(images, str) else _found_images(images)
    return cuda_problems(model, gpu if isinstance(gpu, Mapping) else {}, configs, str(host))


def _probe_requests(text: str) -> list[t.Any]:
    """app_stack's pre-flight probe's lines GPUREQ <a running container's HostConfig.DeviceRequests as JSON>."""
    requests = []
    for line in text.splitlines():
        kind, _sep, rest = line.strip().partition(" ")
        if kind == "GPUREQ":
            try:
                requests.append(json.loads(rest))
            except ValueError:
                continue
    return requests


def app_stack_gpu_memory_problems(model: t.Any, gpu: t.Any, probe: t.Any, host: t.Any) -> list[str]:
    if not isinstance(model, Mapping):
        raise AnsibleFilterError(
            f"app_stack_gpu_memory_problems: the model must be a mapping, got {type(model).__name__}"
        )
    if not isinstance(probe, str):
        raise AnsibleFilterError(
            "app_stack_gpu_memory_problems: probe must be the output of app_stack's pre-flight probe"
        )
    gpu = gpu if isinstance(gpu, Mapping) else {}
    held = held_gpus(
        _probe_requests(probe),
        [entry for entry in gpu.get("gpus") or [] if isinstance(entry, Mapping)],
        [entry for entry in gpu.get("mig_devices") or [] if isinstance(entry, Mapping)],
    )
    return gpu_memory_problems(model, gpu, held, str(host))


def app_image_cuda_version(image: t.Any) -> str:
    return tag_cuda_version(image)


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "app_stack_cuda_problems": app_stack_cuda_problems,
            "app_image_cuda_version": app_image_cuda_version,
            "app_stack_gpu_memory_problems": app_stack_gpu_memory_problems,
        }
