# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which images app_image copies from the controller to a host, in one pass (pure functions).

The controller's and the host's engines are each asked once for every image
(M(community.docker.docker_image_info) with a list of names); this compares
the answers. An image is loaded on the host only when the host lacks that
image ID (IDs are content addresses: equal IDs are equal images). Private to
this collection.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping, Sequence

from ansible_collections.aistack.deploy.plugins.module_utils._release import archive_name, full_reference, short_id


def _ids(images: Sequence[Mapping[str, t.Any]]) -> dict[str, str]:
    """Every RepoTag and RepoDigest of docker_image_info's images -> the image ID."""
    return {
        ref: str(image.get("Id") or "")
        for image in images
        for ref in list(image.get("RepoTags") or []) + list(image.get("RepoDigests") or [])
    }


def distribution_plan(
    names: Sequence[str],
    releases: Sequence[str],
    on_controller: Sequence[Mapping[str, t.Any]],
    on_host: Sequence[Mapping[str, t.Any]],
    host: str,
    replace: bool = False,
) -> dict[str, t.Any]:
    """What to do for each image of ``names``; those also in ``releases`` are release tags, which are immutable.

    Returns ``missing`` (names the controller's engine does not have: in check mode, those a controller build
    would make), ``conflicts`` (a release tag the host has as another image, unless ``replace``; each a message),
    and ``load`` ({name, id, archive} for each image the host lacks as the controller has it, ``archive`` the
    file name under the controller's archives directory, as rollbacks look for it).
    """
    controller, here = _ids(on_controller), _ids(on_host)
    plan: dict[str, list[t.Any]] = {"missing": [], "conflicts": [], "load": []}
    for name in dict.fromkeys(str(name) for name in names):
        wanted_id = controller.get(full_reference(name), controller.get(name, ""))
        host_id = here.get(full_reference(name), here.get(name, ""))
        if not wanted_id:
            plan["missing"].append(name)
        elif host_id == wanted_id:
            continue
        elif host_id and name in releases and not replace:
            plan["conflicts"].append(
                f"{name} on {host} is image {short_id(host_id)}, but the controller's is {short_id(wanted_id)} "
                "(built again from other sources)"
            )
        else:
            plan["load"].append({"name": name, "id": wanted_id, "archive": archive_name(name, wanted_id)})
    return plan
