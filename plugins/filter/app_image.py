# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the app_image role."""

from __future__ import annotations

from collections.abc import Mapping
import typing as t

from ansible.errors import AnsibleFilterError

CONTEXT_HASH_LABEL = "io.aistack.deploy.context-hash"


def _labels(image: t.Any) -> Mapping[str, t.Any]:
    config = image.get("Config") if isinstance(image, Mapping) else None
    return (config or {}).get("Labels") or {}


def app_image_changed_tags(results: t.Any, context_hash: t.Any, name: t.Any, release: t.Any) -> list[str]:
    """<name>-<target>:<release> of each target (the ``item`` of a docker_image_info loop over the targets)
    whose image exists with another build context hash than ``context_hash``.

    A tag without the label (not built by app_image: loaded or pulled) is not counted.
    """
    if not isinstance(results, list):
        raise AnsibleFilterError("app_image_changed_tags: expects the results of a docker_image_info loop")
    changed = []
    for result in results:
        images = result.get("images") or []
        recorded = _labels(images[0]).get(CONTEXT_HASH_LABEL) if images else None
        if recorded and recorded != str(context_hash):
            changed.append(f"{name}-{result.get('item')}:{release}")
    return changed


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"app_image_changed_tags": app_image_changed_tags}
