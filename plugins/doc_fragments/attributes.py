# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The attributes every module of this collection documents, written once.

- aistack.deploy.attributes: what check_mode, diff_mode, idempotent and
  platform mean (each module says its own support, or uses INFO_MODULE).
- aistack.deploy.attributes.info_module: the support of a module that only
  reads (check mode runs the same, no diff, nothing changes).
- aistack.deploy.attributes.posix / .linux: the hosts a module runs on.
- aistack.deploy.attributes.actiongroup_docker: membership of the
  group/aistack.deploy.docker action group (meta/runtime.yml).

A module's own keys win over the fragment's (ansible-core merges each
attribute's dict, the module's entries last).
"""

from __future__ import annotations


class ModuleDocFragment:
    # The descriptions: every module extends this one.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
"""

    # With DOCUMENTATION: a module that only reads state.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, and does the same in check mode.
  diff_mode:
    support: N/A
    details:
      - The module changes nothing, so there is nothing to show a diff of.
  idempotent:
    support: full
    details:
      - The module changes nothing; it always reports no change.
"""

    # With DOCUMENTATION: runs on any POSIX host with Python (on the managed host, as modules do).
    POSIX = r"""
options: {}
attributes:
  platform:
    platforms: posix
"""

    # With DOCUMENTATION: reads Linux-only interfaces (sysfs).
    LINUX = r"""
options: {}
attributes:
  platform:
    platforms: linux
"""

    # With DOCUMENTATION: a member of the action group in meta/runtime.yml.
    ACTIONGROUP_DOCKER = r"""
options: {}
attributes:
  action_group:
    description:
      - Use C(group/aistack.deploy.docker) in C(module_defaults) to set defaults for this module.
      - That group extends community.docker's C(docker) group, so one entry sets the engine connection of
        both collections' modules.
    support: full
    membership:
      - aistack.deploy.docker
"""
