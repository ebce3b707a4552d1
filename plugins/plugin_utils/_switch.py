# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Start-first releases: the names nginx routes to, and the plan of one switch.

A service whose rollout is start-first (the api and frontend presets, behind
the proxy) gets, in each release's compose file, a network alias of its own
release (``release_alias``) and the label ``io.aistack.deploy.release``. nginx
routes to that alias, read from ``targets.conf`` in the proxy's configuration
directory (``targets_text``), so a new release's containers can start beside
the old ones, pass the health gate without a single request, and receive
traffic only when app_stack rewrites ``targets.conf`` and reloads nginx.

``switch_plan`` reads the deploy's probe (deploy.yml) and says which services
start their new containers beside the old ones now, which old containers go
once the proxy sends requests to the new ones, and why a service is replaced
in place instead.
"""

from __future__ import annotations

import hashlib
import re
import typing as t

RELEASE_LABEL = "io.aistack.deploy.release"


def release_alias(service: str, release: str) -> str:
    """The network alias of one release's containers of a service: a DNS label, unique per release name."""
    slug = re.sub(r"[^a-z0-9]+", "-", release.lower()).strip("-")[:24] or "r"
    digest = hashlib.sha256(release.encode()).hexdigest()[:8]
    return f"{service}--{slug}-{digest}"[:63]


def target_variable(service: str) -> str:
    """The nginx variable that holds the host name nginx sends a service's requests to."""
    return "aistack_target_" + service.replace("-", "_")


def targets_text(services: t.Sequence[str], release: str) -> str:
    """targets.conf: for each start-first service, the alias of the release that serves."""
    return _targets({target_variable(s): release_alias(s, release) for s in services}, f"release {release}")


def _targets(targets: t.Mapping[str, str], what: str) -> str:
    lines = [
        "# Written by aistack.deploy.app_stack: which release's containers serve each",
        f"# start-first service ({what}). nginx reads it on reload.",
    ]
    lines += [f"set ${variable} {alias};" for variable, alias in sorted(targets.items())]
    return "\n".join(lines) + "\n"


def parse_probe(text: str) -> dict[str, t.Any]:
    """The deploy probe's lines: running containers, and what the proxy and the target release offer."""
    probe: dict[str, t.Any] = {"containers": [], "routed": False, "aliases": set(), "targets": {}}
    for line in text.splitlines():
        fields = line.split("\t")
        if fields[0] == "container" and len(fields) >= 5:
            probe["containers"].append({"id": fields[1], "service": fields[2], "release": fields[3], "name": fields[4]})
        elif fields[0] == "routed":
            probe["routed"] = True
        elif fields[0] == "alias" and len(fields) >= 2:
            probe["aliases"].add(fields[1].strip())
        elif fields[0] == "target" and len(fields) >= 2:
            match = re.match(r"^set \$(aistack_target_[A-Za-z0-9_]+) ([A-Za-z0-9_.-]+);$", fields[1].strip())
            if match:
                probe["targets"][match.group(1)] = match.group(2)
    return probe


def switch_plan(
    probe_text: str,
    start_first: t.Sequence[str],
    proxy_service: str,
    release: str,
    replicas: t.Mapping[str, t.Sequence[str]] | None = None,
) -> dict[str, t.Any]:
    """Which start-first services get their new containers beside the old ones in this deploy.

    A service switches when it has running containers of another release that
    the proxy reaches through their own release's alias (so the new ones,
    which answer to the service's plain name too, get no request before the
    switch). Every other start-first service is replaced in place, with the
    reason in ``notes``. The replicas of a per_gpu service (``replicas``: the
    service's name to its compose services) share their service's alias and
    switch together, as one.
    """
    probe = parse_probe(probe_text)
    units = _units(start_first, replicas or {})
    # The services the target release's compose file gives their release's alias (not one rendered before them).
    aliased = [unit for unit in units if release_alias(unit, release) in probe["aliases"]]
    old: list[dict[str, t.Any]] = []
    live: list[str] = []
    notes: list[str] = []
    for unit, members in units.items():
        running = [c for c in probe["containers"] if c["service"] in members]
        others = [c for c in running if c["release"] != release]
        if not others:
            continue
        served = probe["targets"].get(target_variable(unit))
        why = ""
        if unit not in aliased:
            why = f"release {release}'s compose file gives it no alias of its own"
        elif not probe["routed"]:
            why = "the proxy's live configuration does not route through targets.conf yet (nginx_proxy renders it)"
        elif any(not c["release"] or served != release_alias(unit, c["release"]) for c in others):
            why = "the proxy does not route to its running containers by their release's alias yet"
        if why:
            notes.append(f"{unit}: replaced in place this time ({why})")
            continue
        live.extend(members)
        old.extend(others)
    proxy = [c for c in probe["containers"] if c["service"] == proxy_service and proxy_service]
    # A service that targets.conf routes by a release's alias but that this deploy replaces in place (it is
    # stop-first now, or its switch cannot happen): nginx must reach it by its plain name before the `up`
    # removes the containers of that alias, not only once the new release passed its gate.
    # (A line naming the target release's own alias stays: a re-run of that release keeps its containers.)
    staying = {target_variable(unit) for unit, members in units.items() if set(members) <= set(live)}
    staying |= {
        target_variable(u) for u in aliased if probe["targets"].get(target_variable(u)) == release_alias(u, release)
    }
    kept = {variable: alias for variable, alias in probe["targets"].items() if variable in staying}
    return {
        "live": sorted(live),
        "old_ids": [c["id"] for c in old],
        "old_names": sorted(c["name"] for c in old),
        "proxy_container": proxy[0]["name"] if proxy else "",
        "targets": targets_text(aliased, release),
        "targets_before_up": _targets(kept, "until this deploy's switch") if kept != probe["targets"] else "",
        "notes": notes,
    }


def _units(start_first: t.Sequence[str], replicas: t.Mapping[str, t.Sequence[str]]) -> dict[str, list[str]]:
    """The start-first compose services by what nginx routes to: a service, or a per_gpu service's replicas."""
    unit_of = {str(member): str(service) for service, members in replicas.items() for member in members}
    units: dict[str, list[str]] = {}
    for service in sorted(start_first):
        units.setdefault(unit_of.get(service, service), []).append(service)
    return dict(sorted(units.items()))
