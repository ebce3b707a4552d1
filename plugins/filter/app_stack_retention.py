# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The app_stack role's retention of growing data (clips, HLS segments, logs), checked and normalized.

A thin wrapper: the logic lives in plugins/plugin_utils/_retention.py.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.plugin_utils._retention import retention_plan

DOCUMENTATION = r"""
name: app_stack_retention_plan
version_added: 0.2.0
short_description: The app_stack role's retention entries, checked against its volumes and normalized
description:
  - Checks C(app_stack_retention), a list of C({volume, path, max_age, max_size, pattern}), against the volumes of the
    app_stack model (the C(volumes) of the filter P(aistack.deploy.app_stack_model#filter)) and returns the entries
    normalized, what the host's retention script reads, and every problem at once.
  - >-
    Each problem names the variable as the user wrote it, its value and what is allowed, for example
    C(app_stack_retention[1].volume: 'clipz' is not a volume of app_stack_volumes), followed by the volumes there are.
  - Checked are that an entry is a mapping without unknown keys, that its volume exists, that its path is relative
    to the volume without a V(..) component, that O(_input[].max_age) and O(_input[].max_size) parse and are more
    than 0 and at least one of them is set, and that the pattern matches file names only (no V(/)).
  - A bind volume's host directory is the volume's path; a named volume's is known only on the host, from
    O(mountpoints) (the C(Mountpoint) of C(docker volume inspect)).
author: aistack.deploy developers
positional: _input, volumes, mountpoints
options:
  _input:
    description: The retention entries (C(app_stack_retention)).
    type: list
    elements: dict
    required: true
    suboptions:
      volume:
        description: A volume of C(app_stack_volumes).
        type: str
        required: true
      path:
        description: A directory inside the volume, relative to it; empty (the default) is the whole volume.
        type: str
        default: ''
      max_age:
        description:
          - Files whose modification time is older are deleted. V(14d), V(12h), V(30m), V(90s), V(2w) or a number of
            seconds.
        type: raw
      max_size:
        description:
          - Then, while the matching files together are larger, the oldest are deleted. V(10G), V(500M), V(1024K)
            (powers of 1024) or a number of bytes.
        type: raw
      pattern:
        description: A glob on file names (not paths); only matching files count and are deleted.
        type: str
        default: '*'
  volumes:
    description: The C(volumes) of the app_stack model, volume name to C({type, path, docker_name, ...}).
    type: dict
    required: true
  mountpoints:
    description: Docker name of a named volume to its directory on the host.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Plan the retention of clips and HLS segments
  ansible.builtin.set_fact:
    retention: >-
      {{ [{'volume': 'static', 'path': 'clips', 'max_age': '14d', 'max_size': '10G'},
          {'volume': 'static', 'path': 'hls', 'max_age': '2h', 'pattern': '*.ts'}]
         | aistack.deploy.app_stack_retention_plan(__app_stack_model.volumes,
                                                  {'aistack-horus-static': '/var/lib/docker/volumes/aistack-horus-static/_data'}) }}

- name: Refuse a bad retention, naming every problem
  ansible.builtin.assert:
    that: retention.problems | length == 0
    fail_msg: "{{ retention.problems }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    entries:
      description:
        - The entries normalized (empty when there are problems), each with C(volume), C(type) (V(bind) or V(named)),
          C(path) (normalized, relative), C(host_path) (V(null) for a named volume whose mount point is not known),
          C(docker_name) (named volumes only, else V(null)), C(max_age_seconds), C(max_size_bytes) (V(null) when
          not set) and C(pattern).
      type: list
      elements: dict
    config:
      description: What the host's script reads, C({dir, max_age_seconds, max_size_bytes, pattern}) per entry whose
        host directory is known.
      type: list
      elements: dict
    problems:
      description: Every problem, naming the variable; empty when the entries are good.
      type: list
      elements: str
"""


def app_stack_retention_plan(entries: t.Any, volumes: t.Any, mountpoints: t.Any = None) -> dict[str, t.Any]:
    if not isinstance(volumes, Mapping):
        raise AnsibleFilterError(
            f"app_stack_retention_plan: volumes must be the model's volumes mapping, got {type(volumes).__name__}"
        )
    if mountpoints is not None and not isinstance(mountpoints, Mapping):
        raise AnsibleFilterError(
            f"app_stack_retention_plan: mountpoints must be a mapping of Docker volume names "
            f"to host directories, got {type(mountpoints).__name__}"
        )
    return retention_plan(entries, volumes, mountpoints)


class FilterModule:
    """aistack.deploy filter of the app_stack role's retention."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"app_stack_retention_plan": app_stack_retention_plan}
