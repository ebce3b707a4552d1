# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""app_stack's look at a host's releases and containers, as filters (documentation: app_stack_host_state.yml,
app_stack_path_differs.yml).

A thin wrapper: the logic lives in plugins/plugin_utils/_app_stack_state.py.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.plugin_utils._app_stack_state import parse_state_probe, path_differs


def app_stack_host_state(probe: t.Any, root: t.Any = "the app's root") -> dict[str, t.Any]:
    if not isinstance(probe, str):
        raise AnsibleFilterError(
            f"app_stack_host_state: expects the probe's output (a string), got {type(probe).__name__}"
        )
    try:
        return parse_state_probe(probe, str(root))
    except ValueError as exc:
        raise AnsibleFilterError(f"app_stack: {exc}") from exc


def app_stack_path_differs(paths: t.Any, path: t.Any, owner: t.Any, mode: t.Any, sha256: t.Any = "dir") -> bool:
    if not isinstance(paths, dict):
        raise AnsibleFilterError("app_stack_path_differs: expects the paths of app_stack_host_state (a dict)")
    return path_differs(paths, str(path), str(owner), mode if isinstance(mode, int) else str(mode), str(sha256))


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"app_stack_host_state": app_stack_host_state, "app_stack_path_differs": app_stack_path_differs}
