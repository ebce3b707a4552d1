# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a host must offer before a release may change it: an engine that answers, free disk, free ports.

site.yml's pre-flight runs one read-only probe per host (app_stack's
preflight.yml) whose output this module reads, lines of:

  DF <path> <kibibytes available on its filesystem>
  LISTEN <local address of a listening TCP socket, as /proc/net/tcp{,6} write it: hex ip:hex port>
  OURS <the Ports column of a container of the app's own compose project>
  CURRENT <the release the app's current link names> (read by rollout_start.yml, not here)
  ENGINE <docker.service's state> answering|silent [<what docker info said>] (only where a docker CLI is)

and returns every problem, each naming the host, what is wrong and the
variable that decides it. Pure functions over plain data.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping, Sequence

# [ip:]host:container[/proto], as app_stack's model accepts them.
_PORT = re.compile(r"^(?:(?P<ip>[0-9.]+|\[[0-9a-fA-F:]+\]):)?(?P<host>\d+):(?P<container>\d+)(?:/(?P<proto>tcp|udp))?$")
_OURS = re.compile(r"(?:(?P<ip>[0-9.]+|\[?[0-9a-fA-F:]*\]?)):(?P<port>\d+)->")
_ANY = {"0.0.0.0", "::", ""}


def _listener(address: str) -> tuple[str, int] | None:
    """(ip, port) of a /proc/net/tcp{,6} local address such as 0100007F:1F40; None if unreadable."""
    try:
        hex_ip, hex_port = address.rsplit(":", 1)
        port = int(hex_port, 16)
        raw = bytes.fromhex(hex_ip)
    except ValueError:
        return None
    if len(raw) == 4:
        ip = ".".join(str(b) for b in reversed(raw))
    elif len(raw) == 16:
        # Four little-endian 32-bit words; only "any" and v4-mapped addresses matter here.
        words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
        flat = b"".join(words)
        if flat == bytes(16):
            ip = "::"
        elif flat[:12] == bytes(10) + b"\xff\xff":
            ip = ".".join(str(b) for b in flat[12:])
        else:
            ip = flat.hex()
    else:
        return None
    return ip, port


def parse_probe(output: str) -> dict[str, t.Any]:
    """The probe's lines as free space by path (MiB), listeners and the ports the app's own containers publish."""
    free: dict[str, int] = {}
    listeners: list[tuple[str, int]] = []
    ours: set[int] = set()
    engine: dict[str, str] = {}
    for line in output.splitlines():
        kind, _sep, rest = line.strip().partition(" ")
        if kind == "ENGINE":
            state, _sep, rest = rest.partition(" ")
            answer, _sep, said = rest.partition(" ")
            engine = {"state": state, "answer": answer, "said": said.strip()}
        elif kind == "DF":
            path, _sep, kib = rest.rpartition(" ")
            if kib.isdigit() and path:
                free[path] = int(kib) // 1024
        elif kind == "LISTEN":
            found = _listener(rest.strip())
            if found:
                listeners.append(found)
        elif kind == "OURS":
            ours.update(int(match.group("port")) for match in _OURS.finditer(rest))
    return {"free_mb": free, "listeners": listeners, "ours": ours, "engine": engine}


def wanted_ports(services: Mapping[str, t.Any], active: Sequence[str]) -> list[tuple[str, str, int, str]]:
    """(service, ip, host port, the variable it comes from) of every TCP port the active services publish."""
    wanted = []
    for name in active:
        service = services.get(name) or {}
        ports = service.get("ports") or []
        variables = service.get("port_variables") or [f"app_stack_services.{name}.ports"] * len(ports)
        for spec, variable in zip(ports, variables, strict=True):
            match = _PORT.match(str(spec))
            if match and (match.group("proto") or "tcp") == "tcp":
                wanted.append((name, (match.group("ip") or "0.0.0.0").strip("[]"), int(match.group("host")), variable))
    return wanted


def preflight_problems(
    output: str, services: Mapping[str, t.Any], active: Sequence[str], min_free_mb: int, host: str = ""
) -> list[str]:
    """Every reason the host cannot take the release: a silent engine, too little disk, a port another program holds."""
    probe = parse_probe(output)
    where = f" on {host}" if host else ""
    problems = []
    engine = probe["engine"]
    # Running (as systemd sees it) but silent: a hung engine, which no later task could use. Stopped or not
    # installed is docker_engine's to start or install.
    if engine.get("state") == "active" and engine.get("answer") == "silent":
        said = engine.get("said") or "no answer"
        problems.append(
            f"the Docker engine{where} runs (docker.service is active) but does not answer within 20 s "
            f"({said}): restart it (systemctl restart docker) and look at journalctl -u docker"
        )
    for path, free in sorted(probe["free_mb"].items()):
        if min_free_mb and free < min_free_mb:
            problems.append(
                f"only {free} MiB free{where} on the filesystem of {path}, app_stack_min_free_disk_mb "
                f"(aistack_min_free_disk_mb) asks for {min_free_mb}: free some space (docker system df "
                "shows what images and volumes take), or lower it"
            )
    for _service, ip, port, variable in wanted_ports(services, active):
        if port in probe["ours"]:
            continue  # the app's own running containers publish it: the release takes it over
        holders = [
            lip for lip, lport in probe["listeners"] if lport == port and (ip in _ANY or lip in _ANY or lip == ip)
        ]
        if holders:
            problems.append(
                f"port {port}{where} ({variable}) is taken by another program "
                f"listening on {holders[0] if holders[0] not in _ANY else 'every address'}: stop it, "
                "or publish the service on another port"
            )
    return problems
