# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What app_stack's state.yml reads off a host in one round trip, parsed.

The probe (roles/app_stack/tasks/state.yml) prints one fact per line:
``CURRENT <link target>`` (when ``current`` is a link), ``RELEASE <name>`` per
release directory, ``CONTAINER <service> <state> <status>`` per container of
the compose project (the status as ``docker ps`` shows it, "Up 2 hours
(healthy)"), ``STATE <base64>`` / ``RECORD <base64>``: state.json and the
current release's release.json, each on one line, ``TARGET <release> <base64>`` and
``TARGET_COMPOSE``: the release.json and whether a compose.yaml exists of the
release this run deploys, ``UNIT <is-enabled> <is-active>`` of the app's
systemd unit, ``LEFT <path>`` per file of a retention timer an earlier run
installed, and ``STAT <uid>:<gid> <mode> <sha256|dir> <path>`` per directory or
file this run would write (the release's files, the data root, the bind
volumes and the files placed into them) that exists and is no link. One command instead of seven (slurps, stats, a find), and it
answers whether the current release runs as recorded, so a stack that is up
is not asked to come up again, and whether it is healthy too, so a run that
changes nothing needs no health gate.
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


def _health(status: str) -> str:
    """'Up 2 hours (healthy)' -> 'healthy'; 'Up 3 seconds (health: starting)' -> 'starting'; no check -> 'none'."""
    for marker, health in (("(healthy)", "healthy"), ("(unhealthy)", "unhealthy"), ("(health: starting)", "starting")):
        if marker in status:
            return health
    return "none"


def parse_state_probe(probe: str, root: str = "the app's root") -> dict[str, t.Any]:
    """The probe's lines as ``current``, ``releases``, ``state``, ``record``, ``containers``, ``up`` and the rest.

    ``up``: the current release runs exactly as recorded, so bringing it up would change nothing. Every
    service its record lists has one container, running (its proxy service aside, which nginx_proxy runs),
    and no container of the project belongs to a service the record does not list. A stack stopped,
    exited, restarting or only created, one with a second container of a service (a start-first switch
    that did not finish), or a release without a record, is not up.

    ``healthy``: up, and every container of those services reports a passing health check (one without a
    health check, or one still starting, is not healthy: the gate decides). ``target_record``: the
    release.json of the release this run deploys (``{}`` where it has none), ``target_compose``: whether
    its compose.yaml exists, ``unit``: ``{"enabled": ..., "active": ...}`` as systemctl says (``{}``
    without systemctl), ``left``: the retention files found, ``paths``: per path, its ``owner`` (uid:gid),
    ``mode`` (a number) and ``sha256`` (``dir`` for a directory).
    """
    current, releases, state, record, target_record = "", [], {}, None, {}
    containers: dict[str, list[str]] = {}
    health: dict[str, list[str]] = {}
    found: dict[str, t.Any] = {"target_compose": False, "unit": {}, "left": [], "paths": {}}
    for line in probe.splitlines():
        key, _sep, rest = line.partition(" ")
        if key == "CURRENT" and rest:
            current = posixpath.basename(rest.rstrip("/"))
        elif key == "RELEASE" and rest:
            releases.append(rest)
        elif key == "CONTAINER":
            service, _sep, rest = rest.partition(" ")
            status, _sep, shown = rest.partition(" ")
            containers.setdefault(service, []).append(status)
            health.setdefault(service, []).append(_health(shown))
        elif key == "STATE":
            state = _json(rest, f"{root}/state.json")
        elif key == "RECORD":
            record = _json(rest, f"{root}/releases/{current or '?'}/release.json")
        elif key == "TARGET":
            name, _sep, encoded = rest.partition(" ")
            target_record = _json(encoded, f"{root}/releases/{name}/release.json")
        elif key == "TARGET_COMPOSE":
            found["target_compose"] = True
        elif key == "UNIT":
            enabled, _sep, active = rest.partition(" ")
            found["unit"] = {"enabled": enabled, "active": active}
        elif key == "LEFT" and rest:
            found["left"].append(rest)
        elif key == "STAT":
            _stat(rest, found["paths"])
    up = current in releases and _runs_as_recorded(record, containers)
    return {
        "current": current,
        "releases": sorted(releases),
        "state": state,
        "record": record or {},
        "containers": containers,
        "up": up,
        "healthy": up and _all_healthy(record or {}, health),
        "target_record": target_record,
        **found,
    }


def _runs_as_recorded(record: dict[str, t.Any] | None, containers: dict[str, list[str]]) -> bool:
    if not record or not isinstance(record.get("services"), list) or not record["services"]:
        return False
    recorded = [str(name) for name in record["services"]]
    proxy = record.get("proxy_service")
    if set(containers) - set(recorded):
        return False
    return all(containers.get(name) == ["running"] for name in recorded if name != proxy)


def _all_healthy(record: dict[str, t.Any], health: dict[str, list[str]]) -> bool:
    proxy = record.get("proxy_service")
    return all(
        health.get(str(name)) and set(health[str(name)]) == {"healthy"}
        for name in record.get("services") or []
        if name != proxy
    )


def _stat(rest: str, paths: dict[str, dict[str, t.Any]]) -> None:
    """``<uid>:<gid> <mode> <sha256|dir> <path>`` into ``paths``; a line it cannot read is left out (written again)."""
    parts = rest.split(" ", 3)
    if len(parts) != 4 or not parts[3]:
        return
    try:
        mode = int(parts[1], 8)
    except ValueError:
        return
    paths[parts[3]] = {"owner": parts[0], "mode": mode, "sha256": parts[2]}


def path_differs(paths: dict[str, t.Any], path: str, owner: str, mode: str | int, sha256: str = "dir") -> bool:
    """Whether ``path`` is not on the host as wanted: ``owner`` (uid:gid), ``mode`` (octal text such as "0644", or a
    number) and ``sha256`` (``dir`` for a directory), as ``paths`` (parse_state_probe's) found it. A path the probe
    did not find, or a mode that is no octal number, differs (the task writes it)."""
    found = paths.get(path)
    try:
        wanted_mode = mode if isinstance(mode, int) else int(str(mode), 8)
    except ValueError:
        return True
    return found != {"owner": str(owner), "mode": wanted_mode, "sha256": str(sha256)}
