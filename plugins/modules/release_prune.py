#!/usr/bin/python
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_prune
short_description: Remove old releases of an app and the images only they needed, never what a kept release needs
version_added: 0.2.0
description:
  - Keeps the O(keep) newest release directories under O(root)C(/releases), plus the current release (the C(current)
    link and C(state.json)), the last healthy release, the release a rollback would go to (the newest healthy release
    before the current one, so failed releases never push it out) and every release in O(protect); removes the others.
  - With O(images=true), then removes the images that the removed releases recorded in their C(release.json) and that
    no kept release records (by reference or by image ID). An image a container still uses, or whose tag now names another
    image, is skipped and reported, never an error.
  - Which releases are newest is decided by the time each release was deployed (C(created_at) in its C(release.json)),
    else by the directory's modification time.
  - Data never lives in a release directory; this module touches nothing outside O(root)C(/releases) but the images.
author:
  - aistack.deploy developers (@aistack)
extends_documentation_fragment:
  - aistack.deploy.docker
  - aistack.deploy.docker.api_timeout
  - aistack.deploy.attributes
  - aistack.deploy.attributes.actiongroup_docker
  - aistack.deploy.attributes.posix
attributes:
  check_mode:
    support: full
    details:
      - In check mode it reports the releases and images it would remove, and removes nothing.
  diff_mode:
    support: none
    details:
      - RV(removed_releases), RV(removed_images) and RV(skipped_images) say what changed; there is no diff.
  idempotent:
    support: full
options:
  root:
    description:
      - The app's directory, holding C(releases/), C(current) and C(state.json).
    type: path
    required: true
  keep:
    description:
      - How many of the newest releases to keep, protected ones included.
    type: int
    default: 5
  protect:
    description:
      - Release names never removed, in addition to the current and the last healthy release.
    type: list
    elements: str
    default: []
  images:
    description:
      - Also remove the images of removed releases that no kept release needs.
    type: bool
    default: true
seealso:
  - module: aistack.deploy.wait_for_healthy
"""

EXAMPLES = r"""
---
- name: Keep five releases of horus and the images they need
  aistack.deploy.release_prune:
    root: /opt/aistack/horus
    keep: 5
    protect:
      - "1.4.2"
  register: pruned

- name: Say what went
  ansible.builtin.debug:
    msg: "{{ pruned.removed_releases }} {{ pruned.removed_images }}"
"""

RETURN = r"""
kept_releases:
  description: The releases kept, newest first.
  returned: always
  type: list
  elements: str
  sample: ["1.0.4", "1.0.3", "1.0.0"]
removed_releases:
  description: The release directories removed (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: ["0.9.0"]
removed_images:
  description: The image references removed (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: ["registry.example.com/horus-api:0.9.0"]
skipped_images:
  description: Images of removed releases left in place, each with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"image": "horus-api:0.9.0", "reason": "in use by container horus-api-1"}]
"""

import json
import os
import shutil
import traceback
import typing as t
from datetime import datetime

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.deploy.plugins.module_utils._docker_client import (
    DOCKER_COMMON_ARGS,
    DockerException,
    get_client,
)
from ansible_collections.aistack.deploy.plugins.module_utils._release import (
    images_to_remove,
    releases_to_keep,
    rollback_target,
)


def read_json(path: str) -> dict[str, t.Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_releases(root: str) -> dict[str, dict[str, t.Any]]:
    """name -> {record, time} of every release directory (symlinks are not releases)."""
    base = os.path.join(root, "releases")
    found: dict[str, dict[str, t.Any]] = {}
    if not os.path.isdir(base):
        return found
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if os.path.isdir(path) and not os.path.islink(path):
            record = read_json(os.path.join(path, "release.json"))
            found[name] = {"record": record, "time": deployed_time(record, path)}
    return found


def current_names(root: str, names: list[str]) -> list[str]:
    """The current release by the link and by state.json, the last healthy one, and where a rollback would go."""
    state = read_json(os.path.join(root, "state.json"))
    link = os.path.join(root, "current")
    now = os.path.basename(os.readlink(link).rstrip("/")) if os.path.islink(link) else ""
    return [
        now,
        str(state.get("current") or ""),
        str(state.get("last_healthy") or ""),
        rollback_target(state, now, names),
    ]


def deployed_time(record: dict[str, t.Any], path: str) -> float:
    """When a release was deployed: its release.json's created_at (ISO 8601), else its directory's mtime."""
    try:
        return datetime.fromisoformat(str(record["created_at"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return os.path.getmtime(path)


def _users(client: t.Any) -> dict[str, list[str]]:
    """image ID -> names of the containers (any state) created from it."""
    users: dict[str, list[str]] = {}
    for container in client.api.containers(all=True):
        users.setdefault(container.get("ImageID", ""), []).extend(n.lstrip("/") for n in container.get("Names") or [])
    return users


def remove_images(
    client: t.Any, candidates: list[tuple[str, str]], check_mode: bool
) -> tuple[list[str], list[dict[str, str]]]:
    removed: list[str] = []
    skipped: list[dict[str, str]] = []
    users = _users(client)
    for ref, image_id in candidates:
        try:
            now = client.api.inspect_image(ref)["Id"]
        except DockerException:
            continue  # already gone
        if now != image_id:
            skipped.append({"image": ref, "reason": "the tag now names another image"})
        elif users.get(image_id):
            skipped.append({"image": ref, "reason": "in use by container " + ", ".join(sorted(users[image_id]))})
        else:
            try:
                if not check_mode:
                    client.api.remove_image(ref)
                removed.append(ref)
            except DockerException as exc:  # a container created meanwhile: leave it, never fail the deploy
                skipped.append({"image": ref, "reason": str(exc)})
    return removed, skipped


def main() -> None:
    argument_spec = dict(DOCKER_COMMON_ARGS)
    argument_spec.update(
        {
            "root": {"type": "path", "required": True},
            "keep": {"type": "int", "default": 5},
            "protect": {"type": "list", "elements": "str", "default": []},
            "images": {"type": "bool", "default": True},
        }
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    root, keep = module.params["root"], module.params["keep"]
    if keep < 1:
        module.fail_json(msg=f"keep must be 1 or more (got {keep})")
    releases = read_releases(root)
    kept, removed = releases_to_keep(
        [{"name": name, "time": info["time"]} for name, info in releases.items()],
        keep,
        list(module.params["protect"]) + current_names(root, list(releases)),
    )
    result: dict[str, t.Any] = {
        "changed": bool(removed),
        "kept_releases": kept,
        "removed_releases": removed,
        "removed_images": [],
        "skipped_images": [],
    }
    candidates = images_to_remove({n: i["record"] for n, i in releases.items()}, kept, removed)
    if module.params["images"] and candidates:
        try:
            client = get_client(module)
            result["removed_images"], result["skipped_images"] = remove_images(client, candidates, module.check_mode)
        except DockerException as exc:
            module.fail_json(
                msg=f"Cannot remove the images of old releases: {exc}", exception=traceback.format_exc(), **result
            )
    if not module.check_mode:
        for name in removed:
            shutil.rmtree(os.path.join(root, "releases", name))
    result["changed"] = bool(removed or result["removed_images"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
