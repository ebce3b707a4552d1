# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_engine's look at the host, as filters (documentation: the .yml files beside this one).

A thin wrapper: the logic lives in plugins/plugin_utils/_docker_engine_packages.py.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.plugin_utils._docker_engine_packages import missing_packages


def docker_engine_missing_packages(wanted: t.Any, probe: t.Any) -> list[str]:
    if isinstance(wanted, (str, bytes)) or not isinstance(wanted, t.Iterable):
        raise AnsibleFilterError(
            f"docker_engine_missing_packages: expects a list of packages, got {type(wanted).__name__}"
        )
    if not isinstance(probe, str):
        raise AnsibleFilterError(
            f"docker_engine_missing_packages: expects dpkg-query's output (a string), got {type(probe).__name__}"
        )
    return missing_packages(wanted, probe)


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"docker_engine_missing_packages": docker_engine_missing_packages}
