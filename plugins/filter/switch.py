# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filter of app_stack's start-first deploy: which services switch, which old containers go.

Thin wrapper: the logic lives in plugins/plugin_utils/_switch.py.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.plugin_utils._switch import switch_plan


def app_stack_switch_plan(probe: t.Any, model: t.Any, release: t.Any) -> dict[str, t.Any]:
    if not isinstance(model, Mapping):
        raise AnsibleFilterError(f"app_stack_switch_plan: the model must be a mapping, got {type(model).__name__}")
    replicas = model.get("replicas") or {}
    if not isinstance(replicas, Mapping):
        raise AnsibleFilterError(f"app_stack_switch_plan: replicas must be a mapping, got {type(replicas).__name__}")
    return switch_plan(
        str(probe or ""),
        [str(s) for s in model.get("start_first") or []],
        str((model.get("proxy") or {}).get("service") or ""),
        str(release),
        replicas,
    )


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"app_stack_switch_plan": app_stack_switch_plan}
