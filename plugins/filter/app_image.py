# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the app_image role.

``app_image_distribution``, ``app_image_dependency_plan``, ``app_image_dockerfile_plan``,
``app_image_built_problems``, ``app_image_prune_plan`` and ``app_image_archive_plan`` are thin wrappers: their logic lives in
plugins/plugin_utils/_distribution.py, _app_image_input.py and _app_image_prune.py.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.plugin_utils._app_image_input import (
    built_image_problems,
    dependency_plan,
    dockerfile_plan,
)
from ansible_collections.aistack.deploy.plugins.plugin_utils._app_image_prune import archive_plan, prune_plan
from ansible_collections.aistack.deploy.plugins.plugin_utils._distribution import distribution_plan
from ansible_collections.aistack.deploy.plugins.plugin_utils._input import optional_list

CONTEXT_HASH_LABEL = "io.aistack.deploy.context-hash"


def _labels(image: t.Any) -> Mapping[str, t.Any]:
    config = image.get("Config") if isinstance(image, Mapping) else None
    return (config or {}).get("Labels") or {}


def app_image_changed_tags(
    results: t.Any, context_hash: t.Any, name: t.Any, release: t.Any, unbuilt: t.Any = False
) -> list[str]:
    """<name>-<target>:<release> of each target (the ``item`` of a docker_image_info loop over the targets)
    whose image exists with another build context hash than ``context_hash``.

    A tag without the label (not built by app_image: loaded or pulled) is not counted; with ``unbuilt``, it is,
    and so is a missing one: every tag the build would build.
    """
    if not isinstance(results, list) or not all(isinstance(result, Mapping) for result in results):
        raise AnsibleFilterError("app_image_changed_tags: expects the results of a docker_image_info loop")
    if not isinstance(unbuilt, bool):
        raise AnsibleFilterError(f"app_image_changed_tags: unbuilt must be true or false, got {unbuilt!r}")
    changed = []
    for result in results:
        images = result.get("images") or []
        recorded = _labels(images[0]).get(CONTEXT_HASH_LABEL) if images else None
        if (recorded or unbuilt) and recorded != str(context_hash):
            changed.append(f"{name}-{result.get('item')}:{release}")
    return changed


def app_image_distribution(
    names: t.Any, releases: t.Any, on_controller: t.Any, on_host: t.Any, host: t.Any, replace: t.Any = False
) -> dict[str, t.Any]:
    """The images to load on a host, in one pass; see plugins/plugin_utils/_distribution.py."""
    for what, value in (("the images to distribute", names), ("releases", releases)):
        if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
            raise AnsibleFilterError(f"app_image_distribution: {what} must be a list of image names")
    for what, images in (("on_controller", on_controller), ("on_host", on_host)):
        if not isinstance(images, list):
            raise AnsibleFilterError(f"app_image_distribution: {what} must be the images of docker_image_info")
    return distribution_plan(names, releases, on_controller, on_host, str(host), bool(replace))


def app_image_dependency_plan(variables: t.Any, present_files: t.Any = None, pyproject: t.Any = "") -> dict[str, t.Any]:
    """How a build installs the dependencies; see dependency_plan in plugins/plugin_utils/_app_image_input.py."""
    if not isinstance(variables, Mapping):
        raise AnsibleFilterError("app_image_dependency_plan: the input must be the role's variables, name to value")
    try:
        present = optional_list(present_files, "app_image_dependency_plan: present_files")
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    return dependency_plan(variables, present, str(pyproject or ""))


def app_image_dockerfile_plan(variables: t.Any, text: t.Any = "") -> dict[str, t.Any]:
    """How a build uses the app's own Dockerfile; see dockerfile_plan in plugins/plugin_utils/_app_image_input.py."""
    if not isinstance(variables, Mapping):
        raise AnsibleFilterError("app_image_dockerfile_plan: the input must be the role's variables, name to value")
    return dockerfile_plan(variables, str(text or ""))


def app_image_built_problems(variables: t.Any, results: t.Any) -> list[str]:
    """What the images built from the app's own Dockerfile lack; see built_image_problems in _app_image_input.py."""
    if not isinstance(variables, Mapping):
        raise AnsibleFilterError("app_image_built_problems: the input must be the role's variables, name to value")
    if not isinstance(results, list) or not all(isinstance(result, Mapping) for result in results):
        raise AnsibleFilterError("app_image_built_problems: expects the results of an image_user_info loop")
    return built_image_problems(variables, results)


def app_image_prune_plan(
    probe: t.Any, name: t.Any, targets: t.Any, tag: t.Any, keep: t.Any, registry: t.Any = ""
) -> dict[str, t.Any]:
    """The tags to remove beyond the count; see plugins/plugin_utils/_app_image_prune.py."""
    if not isinstance(probe, str):
        raise AnsibleFilterError(
            f"app_image_prune_plan: expects the probe's output (a string), got {type(probe).__name__}"
        )
    if not isinstance(targets, list) or not all(isinstance(target, str) and target for target in targets):
        raise AnsibleFilterError("app_image_prune_plan: targets must be a list of target names")
    try:
        count = int(keep)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"app_image_prune_plan: keep must be a number, got {keep!r}") from None
    return prune_plan(probe, str(name), targets, str(tag), count, str(registry or ""))


def app_image_archive_plan(
    files: t.Any, probes: t.Any, name: t.Any, targets: t.Any, release: t.Any, keep: t.Any
) -> list[str]:
    """The controller's archives of the app's release images to remove; see plugins/plugin_utils/_app_image_prune.py."""
    if not isinstance(files, list) or not all(
        isinstance(item, Mapping) and isinstance(item.get("path"), str) for item in files
    ):
        raise AnsibleFilterError("app_image_archive_plan: expects the files of ansible.builtin.find (path, mtime)")
    if not isinstance(probes, list) or not all(isinstance(probe, str) for probe in probes):
        raise AnsibleFilterError("app_image_archive_plan: probes must be a list of the hosts' probe outputs")
    if not isinstance(targets, list) or not all(isinstance(target, str) and target for target in targets):
        raise AnsibleFilterError("app_image_archive_plan: targets must be a list of target names")
    try:
        count = int(keep)
        listed = [(str(item["path"]).rsplit("/", 1)[-1], float(item.get("mtime") or 0)) for item in files]
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"app_image_archive_plan: keep and each mtime must be numbers, got {keep!r}") from None
    return archive_plan(listed, probes, str(name), targets, str(release), count)


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "app_image_changed_tags": app_image_changed_tags,
            "app_image_distribution": app_image_distribution,
            "app_image_dependency_plan": app_image_dependency_plan,
            "app_image_dockerfile_plan": app_image_dockerfile_plan,
            "app_image_built_problems": app_image_built_problems,
            "app_image_prune_plan": app_image_prune_plan,
            "app_image_archive_plan": app_image_archive_plan,
        }
