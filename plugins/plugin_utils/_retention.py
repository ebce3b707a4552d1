# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure logic behind the filter aistack.deploy.app_stack_retention_plan.

Checks ``app_stack_retention`` (what the host's retention timer deletes, per
directory of a volume) against the app_stack model's volumes and returns it
normalized, with every problem at once, each naming the variable as the user
wrote it (``app_stack_retention[1].max_age: ...``). Nothing here touches the
file system: a named volume's host directory is known only on the host
(``docker volume inspect``), so it is resolved from the mount points handed in.

Controller side only (Python 3.9+). Private to this collection: the leading
underscore means no compatibility promise to anyone importing it from outside.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping

VARIABLE = "app_stack_retention"
ENTRY_KEYS = ("volume", "path", "max_age", "max_size", "pattern")

DURATION_RE = re.compile(r"^([0-9]+)\s*([smhdw]?)$")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_ALLOWED = "a duration such as 14d, 12h, 30m, 90s (also w) or a number of seconds, more than 0"

SIZE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(?:([KMGT])(?:i?B)?|B)?$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
SIZE_ALLOWED = "a size such as 10G, 500M, 1024K (powers of 1024; also T) or a number of bytes, more than 0"

# The directories go into a systemd unit (ReadWritePaths=), which splits on
# white space, unquotes and expands '%' specifiers: such paths are refused.
UNIT_UNSAFE_RE = re.compile(r"[\s\"'%\\\x00-\x1f\x7f]")

Problems = list[str]
Entry = dict[str, t.Any]


def _is_int(value: t.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_duration(value: t.Any) -> int | None:
    """Seconds of '14d', '12h', '30m', '90s', '2w' or a plain number of seconds; None when invalid or not > 0."""
    if _is_int(value):
        return value if value > 0 else None
    match = DURATION_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        return None
    seconds = int(match.group(1)) * DURATION_UNITS[match.group(2)]
    return seconds if seconds > 0 else None


def parse_size(value: t.Any) -> int | None:
    """Bytes of '10G', '500M', '1024K', '1.5T', '10GiB' or a plain number of bytes; None when invalid or not > 0."""
    if _is_int(value):
        return value if value > 0 else None
    match = SIZE_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        return None
    size = int(float(match.group(1)) * SIZE_UNITS[(match.group(2) or "").upper()])
    return size if size > 0 else None


def normalize_path(value: t.Any) -> tuple[str | None, str]:
    """(the sub-path without '.', empty or trailing components, '') or (None, what is wrong)."""
    if value is None:
        return "", ""
    if not isinstance(value, str):
        return None, "must be a string"
    if value.startswith("/"):
        return None, "must be relative to the volume, without a leading '/'"
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        return None, "must not contain a '..' component"
    if UNIT_UNSAFE_RE.search(value):
        return None, "must not contain white space, quotes, '%', '\\' or control characters"
    return "/".join(parts), ""


def _volume_names(volumes: Mapping[str, t.Any]) -> str:
    return ", ".join(sorted(str(name) for name in volumes)) or "none defined"


def _check_volume(where: str, entry: Mapping[str, t.Any], volumes: Mapping[str, t.Any]) -> list[str]:
    if "volume" not in entry:
        return [
            f"{where}.volume: is required: the name of a volume of app_stack_volumes "
            f"(volumes: {_volume_names(volumes)})"
        ]
    name = entry["volume"]
    if not isinstance(name, str) or name not in volumes:
        return [f"{where}.volume: {name!r} is not a volume of app_stack_volumes (volumes: {_volume_names(volumes)})"]
    return []


def _check_limits(where: str, entry: Mapping[str, t.Any]) -> list[str]:
    if entry.get("max_age") is None and entry.get("max_size") is None:
        return [f"{where}: needs max_age, max_size or both (a retention without a limit deletes nothing)"]
    checks = (("max_age", parse_duration, DURATION_ALLOWED), ("max_size", parse_size, SIZE_ALLOWED))
    return [
        f"{where}.{key}: {entry[key]!r} is not {allowed}"
        for key, parse, allowed in checks
        if entry.get(key) is not None and parse(entry[key]) is None
    ]


def _check_pattern(where: str, entry: Mapping[str, t.Any]) -> list[str]:
    pattern = entry.get("pattern", "*")
    if not isinstance(pattern, str) or not pattern:
        return [f"{where}.pattern: {pattern!r} is not a glob on file names such as '*.ts' (a non-empty string)"]
    if "/" in pattern:
        return [f"{where}.pattern: {pattern!r} must match file names only, without '/' (use path for directories)"]
    return []


def _check_host_path(where: str, entry: Mapping[str, t.Any], volumes: Mapping[str, t.Any]) -> list[str]:
    name = entry.get("volume")
    volume = volumes.get(name) if isinstance(name, str) else None
    path = volume.get("path") if isinstance(volume, Mapping) and volume.get("type") == "bind" else None
    if isinstance(path, str) and UNIT_UNSAFE_RE.search(path):
        return [
            f"{where}.volume: the host path {path!r} of volume {name!r} holds white space, quotes, "
            "'%', '\\' or control characters, which a systemd unit cannot hold"
        ]
    return []


def entry_problems(index: int, entry: t.Any, volumes: Mapping[str, t.Any]) -> list[str]:
    """Every problem of app_stack_retention[index], each naming the key it is about."""
    where = f"{VARIABLE}[{index}]"
    if not isinstance(entry, Mapping):
        return [f"{where}: must be a mapping of {', '.join(ENTRY_KEYS)} (got {entry!r})"]
    problems = [
        f"{where}: unknown key {key!r} (known: {', '.join(ENTRY_KEYS)})"
        for key in sorted(set(map(str, entry)) - set(ENTRY_KEYS))
    ]
    problems += _check_volume(where, entry, volumes)
    _path, path_problem = normalize_path(entry.get("path"))
    if path_problem:
        problems.append(f"{where}.path: {entry.get('path')!r} {path_problem}")
    return (
        problems + _check_limits(where, entry) + _check_pattern(where, entry) + _check_host_path(where, entry, volumes)
    )


def normalize_entry(
    entry: Mapping[str, t.Any], volumes: Mapping[str, t.Any], mountpoints: Mapping[str, t.Any]
) -> Entry:
    """An entry without problems, normalized; host_path is None for a named volume whose mount point is unknown."""
    volume = volumes[entry["volume"]]
    path = normalize_path(entry.get("path"))[0] or ""
    named = volume.get("type") == "named"
    base = mountpoints.get(volume.get("docker_name")) if named else volume.get("path")
    return {
        "volume": entry["volume"],
        "type": "named" if named else "bind",
        "path": path,
        "host_path": join_host_path(base, path) if base else None,
        "docker_name": volume.get("docker_name") if named else None,
        "max_age_seconds": parse_duration(entry["max_age"]) if entry.get("max_age") is not None else None,
        "max_size_bytes": parse_size(entry["max_size"]) if entry.get("max_size") is not None else None,
        "pattern": entry.get("pattern", "*"),
    }


def join_host_path(base: str, path: str) -> str:
    """base (an absolute directory) with the relative path below it, without a trailing '/'."""
    base = "/" + "/".join(part for part in str(base).split("/") if part)
    return f"{base.rstrip('/')}/{path}" if path else base


def host_config(entries: list[Entry]) -> list[Entry]:
    """What the host's script reads: one {dir, max_age_seconds, max_size_bytes, pattern} per resolved entry."""
    return [
        {
            "dir": entry["host_path"],
            "max_age_seconds": entry["max_age_seconds"],
            "max_size_bytes": entry["max_size_bytes"],
            "pattern": entry["pattern"],
        }
        for entry in entries
        if entry["host_path"]
    ]


def retention_plan(entries: t.Any, volumes: t.Any, mountpoints: t.Any = None) -> dict[str, t.Any]:
    """Check app_stack_retention against the model's volumes; return {entries, config, problems}.

    ``mountpoints`` maps a named volume's Docker name to its host directory
    (``Mountpoint`` of ``docker volume inspect``); unknown ones leave host_path None and out of ``config``.
    """
    volumes = volumes if isinstance(volumes, Mapping) else {}
    mountpoints = mountpoints if isinstance(mountpoints, Mapping) else {}
    if entries is None:
        entries = []
    if not isinstance(entries, (list, tuple)):
        return {
            "entries": [],
            "config": [],
            "problems": [f"{VARIABLE}: must be a list of {{{', '.join(ENTRY_KEYS)}}} (got {entries!r})"],
        }
    problems = [problem for index, entry in enumerate(entries) for problem in entry_problems(index, entry, volumes)]
    normalized = [] if problems else [normalize_entry(entry, volumes, mountpoints) for entry in entries]
    return {"entries": normalized, "config": host_config(normalized), "problems": problems}
