#!/usr/bin/python
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_user_info
short_description: Resolve the user a container image runs as into numeric UID and GID
version_added: 0.1.0
description:
  - Reads the user an image runs as (its C(Config.User)), or the spec given in O(user), and resolves it into the numeric
    UID and GID the container process gets, so that host directories can be owned by exactly that user.
  - Every form of the spec is handled as the Docker Engine handles it, V("") (root), V(name), V(uid), V(name:group),
    V(uid:gid), V(name:gid) and V(uid:group).
  - Names are looked up in the image's own C(/etc/passwd) and C(/etc/group), read from a container that is created
    from the image, never started, and removed afterwards. Images without these files (V(FROM scratch)) work with
    numeric specs.
  - A numeric UID with no C(/etc/passwd) entry runs with GID V(0), as in the engine. A UID and GID pair needs no entry.
  - The image must exist locally; this module never pulls.
extends_documentation_fragment:
  - aistack.deploy.docker
  - aistack.deploy.docker.api_timeout
  - aistack.deploy.attributes
  - aistack.deploy.attributes.actiongroup_docker
  - aistack.deploy.attributes.info_module
  - aistack.deploy.attributes.posix
attributes:
  idempotent:
    details:
      - It creates a container from the image to read its user database, never starts it, and removes it at once;
        it always reports no change.
options:
  image:
    description:
      - Name (V(repo:tag)) or ID of a local image.
    type: str
    required: true
  user:
    description:
      - A user spec to resolve instead of the image's C(Config.User), for example the C(user:) of a compose service.
      - V("") means root, exactly like an image without C(USER).
      - When omitted, the image's C(Config.User) is resolved.
    type: str
notes:
  - The engine ignores anything after a second colon in a spec; this module fails on such a spec instead.
  - A container is created and removed to read the files, so the image's anonymous volumes are created and removed
    with it. Nothing else changes, and the module never reports a change.
author:
  - aistack.deploy developers (@aistack)
"""

EXAMPLES = r"""
---
- name: Find out whom the application image runs as
  aistack.deploy.image_user_info:
    image: myapp:1.4.2
  register: app_user

- name: Create the data directory owned by that user
  ansible.builtin.file:
    path: /var/lib/aistack/myapp/uploads
    state: directory
    owner: "{{ app_user.uid }}"
    group: "{{ app_user.gid }}"
    mode: "0750"

- name: Resolve the user a compose service overrides
  aistack.deploy.image_user_info:
    image: myapp:1.4.2
    user: "celery:app"
  register: worker_user
"""

RETURN = r"""
uid:
  description: Numeric user ID the container process runs with.
  returned: success
  type: int
  sample: 1000
gid:
  description: Numeric primary group ID the container process runs with.
  returned: success
  type: int
  sample: 1000
user:
  description: User name from the image's C(/etc/passwd), or V(null) when the UID has no entry.
  returned: success
  type: str
  sample: app
group:
  description: Name of the primary group from the image's C(/etc/group), or V(null) when the GID has no entry.
  returned: success
  type: str
  sample: app
home:
  description:
    - Home directory from the image's C(/etc/passwd), or V(null) when the UID has no entry (the engine then uses V(/)).
  returned: success
  type: str
  sample: /home/app
supplementary_gids:
  description:
    - Supplementary group IDs, the groups of C(/etc/group) that list the user as a member.
    - Empty when the spec names a group explicitly, as in the engine.
  returned: success
  type: list
  elements: int
  sample: [27, 44]
spec:
  description: The spec that was resolved, the image's C(Config.User) unless O(user) was given.
  returned: success
  type: str
  sample: "app:app"
image_id:
  description: ID of the image that was inspected.
  returned: success
  type: str
  sample: sha256:4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.deploy.plugins.module_utils._docker_client import (
    DOCKER_COMMON_ARGS,
    DockerException,
    get_client,
)
from ansible_collections.aistack.deploy.plugins.module_utils._image_user import (
    ImageUserError,
    NotFound,
    read_user_files,
    resolve_user,
)


def main() -> None:
    argument_spec = dict(DOCKER_COMMON_ARGS)
    argument_spec.update(
        {
            "image": {"type": "str", "required": True},
            "user": {"type": "str"},
        }
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    client = get_client(module)
    name = module.params["image"]
    try:
        image = client.images.get(name)
    except NotFound:
        module.fail_json(msg=f"Image {name} is not present on this Docker host (this module never pulls)")
    except DockerException as exc:
        module.fail_json(msg=f"Cannot inspect image {name}: {exc}", exception=traceback.format_exc())

    spec = module.params["user"]
    if spec is None:
        spec = (image.attrs.get("Config") or {}).get("User") or ""
    result = {"changed": False, "spec": spec, "image_id": image.id}
    try:
        passwd, group = read_user_files(client, image.id)
        resolved = resolve_user(spec, passwd, group)
    except ImageUserError as exc:
        module.fail_json(msg=f"Cannot resolve user {spec!r} of image {name}: {exc}", **result)
    except DockerException as exc:
        module.fail_json(
            msg=f"Cannot read the user database of image {name}: {exc}", exception=traceback.format_exc(), **result
        )
    result.update(resolved.as_dict())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
