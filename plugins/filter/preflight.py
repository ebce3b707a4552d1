# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filter of site.yml's pre-flight: what a host must offer before a release may change it.

Thin wrapper: the logic lives in plugins/plugin_utils/_preflight.py.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.plugin_utils._preflight import preflight_problems


def app_stack_preflight_problems(probe: t.Any, model: t.Any, min_free_mb: t.Any, host: t.Any = "") -> list[str]:
    if not isinstance(model, Mapping):
        raise AnsibleFilterError(
            f"app_stack_preflight_problems: the model must be a mapping, got {type(model).__name__}"
        )
    try:
        minimum = int(min_free_mb)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"app_stack_preflight_problems: min_free_mb must be a whole number, got {min_free_mb!r}"
        ) from exc
    return preflight_problems(
        str(probe or ""),
        model.get("services") or {},
        list(model.get("active_services") or []),
        minimum,
        str(host or ""),
    )


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"app_stack_preflight_problems": app_stack_preflight_problems}
