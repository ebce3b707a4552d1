# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of a rollout across a fleet: its settings, when it stops, its audit record and summary.

Thin wrappers: the logic lives in plugins/plugin_utils/_rollout.py.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.plugin_utils._rollout import (
    rollout_gate as _rollout_gate,
    rollout_problems as _rollout_problems,
    rollout_report as _rollout_report,
)


def _mapping(value: t.Any, what: str, name: str) -> Mapping[str, t.Any]:
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"{name}: {what} must be a mapping, got {type(value).__name__}")
    return value


def rollout_problems(settings: t.Any) -> list[str]:
    return _rollout_problems(_mapping(settings, "the settings", "rollout_problems"))


def rollout_gate(outcomes: t.Any, max_fail_percentage: t.Any = 0, active: t.Any = None) -> dict[str, t.Any]:
    try:
        limit = float(max_fail_percentage)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"rollout_gate: max_fail_percentage must be a number, got {max_fail_percentage!r}"
        ) from exc
    if active is not None and (isinstance(active, (str, bytes, Mapping)) or not isinstance(active, Sequence)):
        raise AnsibleFilterError(f"rollout_gate: active must be a list of host names, got {type(active).__name__}")
    return _rollout_gate(
        _mapping(outcomes, "the outcomes", "rollout_gate"),
        limit,
        None if active is None else [str(host) for host in active],
    )


def rollout_report(outcomes: t.Any, run: t.Any) -> dict[str, t.Any]:
    return _rollout_report(
        _mapping(outcomes, "the outcomes", "rollout_report"), _mapping(run, "the run", "rollout_report")
    )


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "rollout_problems": rollout_problems,
            "rollout_gate": rollout_gate,
            "rollout_report": rollout_report,
        }
