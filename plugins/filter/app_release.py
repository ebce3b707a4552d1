# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters about releases: a release's record, what differs from a recorded one, where a failed one goes back to.

Thin wrappers: the logic lives in plugins/module_utils/_release.py, shared
with the module release_prune.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.module_utils._release import (
    file_checksums,
    image_digests,
    image_ids,
    image_problems,
    missing_images,
    release_differences,
    rollback_target,
    served,
)


def _mapping(value: t.Any, what: str, name: str) -> Mapping[str, t.Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"{name}: {what} must be a mapping, got {type(value).__name__}")
    return value


def app_stack_release_differences(recorded: t.Any, new: t.Any) -> list[str]:
    return release_differences(
        _mapping(recorded, "the recorded release", "app_stack_release_differences"),
        _mapping(new, "the new release", "app_stack_release_differences"),
    )


def app_stack_rollback_target(state: t.Any, leaving: t.Any, available: t.Any) -> str:
    if not isinstance(available, (list, tuple)):
        raise AnsibleFilterError("app_stack_rollback_target: available must be a list of release names")
    return rollback_target(
        _mapping(state, "the state", "app_stack_rollback_target"), str(leaving or ""), [str(name) for name in available]
    )


def app_stack_release_record(model: t.Any, found: t.Any, file_stats: t.Any, settings: t.Any) -> dict[str, t.Any]:
    """The release.json of a release: settings (app, release, profiles, checksums, deployed_at) plus
    what the model and the host say (services, proxy, image IDs and registry digests, volume file checksums)."""
    model = _mapping(model, "the model", "app_stack_release_record")
    record = dict(_mapping(settings, "the settings", "app_stack_release_record"))
    record.update(
        {
            "services": list(model.get("active_services") or []),
            "proxy_service": str((model.get("proxy") or {}).get("service") or ""),
            # Where the proxy reads targets.conf, and the services that start beside their serving release.
            "proxy_dir": str((model.get("proxy") or {}).get("config_dir") or ""),
            "start_first": list(model.get("start_first") or []),
            # The replicas of each per_gpu service (they switch together), and the GPUs the gate proves each
            # GPU service's containers see.
            "replicas": dict(model.get("replicas") or {}),
            "gpus": dict(model.get("gpu_gate") or {}),
            "images": image_ids(list(found or []), list(model.get("images") or [])),
            # Where an image came from a registry: what a rollback pulls when the host lost it.
            "digests": image_digests(list(found or []), list(model.get("images") or [])),
            "files": file_checksums(list(file_stats or [])),
        }
    )
    return record


def app_stack_release_served(state: t.Any, release: t.Any) -> bool:
    return served(_mapping(state, "the state", "app_stack_release_served"), str(release))


def app_stack_image_problems(recorded: t.Any, found: t.Any) -> list[str]:
    return image_problems(_mapping(recorded, "the recorded images", "app_stack_image_problems"), list(found or []))


def app_stack_missing_images(recorded: t.Any, found: t.Any, digests: t.Any = None) -> list[dict[str, str]]:
    return missing_images(
        _mapping(recorded, "the recorded images", "app_stack_missing_images"),
        list(found or []),
        _mapping(digests, "the recorded digests", "app_stack_missing_images"),
    )


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "app_stack_release_differences": app_stack_release_differences,
            "app_stack_rollback_target": app_stack_rollback_target,
            "app_stack_release_record": app_stack_release_record,
            "app_stack_release_served": app_stack_release_served,
            "app_stack_image_problems": app_stack_image_problems,
            "app_stack_missing_images": app_stack_missing_images,
        }
