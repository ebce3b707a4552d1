# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of app_image's pre-flight (site.yml's first play): are a host's images available or deliverable?

Thin wrappers: the logic lives in plugins/plugin_utils/_image_preflight.py.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.plugin_utils._image_preflight import (
    image_preflight_problems,
    parse_host_probe,
    registry_insecure,
    to_ask,
)


def _mapping(name: str, value: t.Any) -> Mapping[str, t.Any]:
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(f"{name}: the settings must be a mapping, got {type(value).__name__}")
    return value


def app_image_preflight_plan(settings: t.Any, probe: t.Any = "", daemon_settings: t.Any = None) -> dict[str, t.Any]:
    """What to ask the registry from the host: the images it lacks, whether plain HTTP may be tried, the proxy."""
    settings = _mapping("app_image_preflight_plan", settings)
    parsed = parse_host_probe(str(probe or ""), daemon_settings if isinstance(daemon_settings, Mapping) else None)
    return {
        "ask": to_ask(settings, parsed),
        "insecure": registry_insecure(settings, parsed),
        "environment": parsed["proxy"],
    }


def app_image_preflight_problems(
    settings: t.Any, host: t.Any, answers: t.Any = None, controller: t.Any = None
) -> list[str]:
    settings = _mapping("app_image_preflight_problems", settings)
    found = [answer for answer in answers or [] if isinstance(answer, Mapping)]
    return image_preflight_problems(
        settings, str(host or ""), found, controller if isinstance(controller, Mapping) else None
    )


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "app_image_preflight_plan": app_image_preflight_plan,
            "app_image_preflight_problems": app_image_preflight_problems,
        }
