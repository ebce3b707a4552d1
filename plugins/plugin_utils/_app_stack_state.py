# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What app_stack's state.yml reads off a host in one round trip, parsed.

The probe (roles/app_stack/tasks/state.yml) prints one fact per line:
``CURRENT <link target>`` (when ``current`` is a link), ``RELEASE <name>`` per
release directory, ``CONTAINER <service> <state>`` per container of the compose
project, and ``STATE <base64>`` / ``RECORD <base64>``: state.json and the
current release's release.json, each on one line. One command instead of four
(a slurp, a stat, a find, a slurp), and it answers whether the current
release runs as recorded, so a stack that is up is not asked to come up again.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import typing as t


def _json(encoded: str, what: str) -> dict[str, t.Any]:
    try:
        value = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{what} on the host is not JSON ({exc}): remove or mend it") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{what} on the host is not a JSON object but a {type(value).__name__}: remove or mend it")
    return value


def parse_state_probe(probe: str, root: str = "the app's root") -> dict[str, t.Any]:
    """The probe's lines as ``current``, ``releases``, ``state``, ``record``, ``containers`` and ``up``.

    ``up``: the current release runs exactly as recorded, so bringing it up would change nothing. Every
    service its record lists has one container, running (its proxy service aside, which nginx_proxy runs),
    and no container of the project belongs to a service the record does not list. A stack stopped,
    exited, restarting or only created, one with a second container of a service (a start-first switch
    that did not finish), or a release without a record, is not up.
    """
    current, releases, state, record = "", [], {}, None
    containers: dict[str, list[str]] = {}
    for line in probe.splitlines():
        key, _sep, rest = line.partition(" ")
        if key == "CURRENT" and rest:
            current = posixpath.basename(rest.rstrip("/"))
        elif key == "RELEASE" and rest:
            releases.append(rest)
        elif key == "CONTAINER":
            service, _sep, status = rest.partition(" ")
            containers.setdefault(service, []).append(status)
        elif key == "STATE":
            state = _json(rest, f"{root}/state.json")
        elif key == "RECORD":
            record = _json(rest, f"{root}/releases/{current or '?'}/release.json")
    return {
        "current": current,
        "releases": sorted(releases),
        "state": state,
        "record": record or {},
        "containers": containers,
        "up": current in releases and _runs_as_recorded(record, containers),
    }


def _runs_as_recorded(record: dict[str, t.Any] | None, containers: dict[str, list[str]]) -> bool:
    if not record or not isinstance(record.get("services"), list) or not record["services"]:
        return False
    recorded = [str(name) for name in record["services"]]
    proxy = record.get("proxy_service")
    if set(containers) - set(recorded):
        return False
    return all(containers.get(name) == ["running"] for name in recorded if name != proxy)
