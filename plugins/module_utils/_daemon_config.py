# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure logic behind aistack.deploy.docker_daemon_config.

Parse, merge, remove, compare and sanity-check Docker daemon configurations
(the content of /etc/docker/daemon.json). Nothing here touches the file
system or runs a command, so every function is tested on plain data.

Private to this collection: the leading underscore means no compatibility
promise to anyone importing it from outside.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import typing as t

KEY_SEPARATOR = "/"

Config = t.Dict[str, t.Any]


class DaemonConfigError(Exception):
    """A problem the user must fix (bad input, bad file, invalid result)."""

    def __init__(self, msg: str, **details: t.Any) -> None:
        super().__init__(msg)
        self.details = details


# --- reading and writing ---------------------------------------------------


def parse_config(text: str, source: str = "daemon.json") -> Config:
    """Return the configuration in text; an empty (or blank) text counts as {}."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DaemonConfigError(
            f"{source} is not valid JSON ({exc}); refusing to overwrite it, fix or remove it first"
        ) from exc
    if not isinstance(data, dict):
        raise DaemonConfigError(f"{source} holds a JSON {json_type(data)}, not an object; refusing to overwrite it")
    return data


def render_config(config: Config) -> str:
    """Return the file content for config: sorted keys, indent 2, final newline."""
    return json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def same_config(left: t.Any, right: t.Any) -> bool:
    """Compare strictly: unlike ==, True differs from 1 and 1 from 1.0."""
    return _canonical(left) == _canonical(right)


def _canonical(value: t.Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def json_type(value: t.Any) -> str:
    """Name value's type the way JSON (and dockerd's error messages) would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# --- key paths ---------------------------------------------------------------


def split_key(path: str) -> list[str]:
    """Split a key path such as 'log-opts/max-size' into its parts."""
    parts = path.split(KEY_SEPARATOR)
    if not path or any(not part for part in parts):
        raise DaemonConfigError(f"invalid key path {path!r}: write nested keys as 'parent/child', without empty parts")
    return parts


def join_key(parts: t.Sequence[str]) -> str:
    return KEY_SEPARATOR.join(parts)


# --- merge and removal -------------------------------------------------------


def merge_config(base: Config, settings: Config) -> Config:
    """Return base with settings merged in; neither argument is modified.

    Dicts merge recursively key by key. Anything else (lists, scalars, and
    a dict meeting a non-dict) is replaced by the value from settings.
    """
    merged = copy.deepcopy(base)
    for key, value in settings.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = merge_config(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def remove_keys(base: Config, paths: t.Iterable[str]) -> tuple[Config, list[str]]:
    """Return base without the keys at paths, and the paths that were present.

    A parent dict left empty by a removal is removed too, so taking back
    everything a task added leaves the file as it was before. Paths that are
    not there (or run into a non-dict on the way) are skipped: no change.
    """
    result = copy.deepcopy(base)
    removed: list[str] = []
    for path in paths:
        if _remove_path(result, split_key(path)) and path not in removed:
            removed.append(path)
    return result, removed


def _remove_path(node: Config, parts: list[str]) -> bool:
    head, rest = parts[0], parts[1:]
    if head not in node:
        return False
    if not rest:
        del node[head]
        return True
    child = node[head]
    if not isinstance(child, dict) or not _remove_path(child, rest):
        return False
    if not child:
        del node[head]
    return True


def changed_keys(before: Config, after: Config, prefix: tuple[str, ...] = ()) -> list[str]:
    """List the key paths added, changed or removed between two configurations.

    Descends into keys that are dicts on both sides; anything else that
    differs is reported at its own path.
    """
    changes: list[str] = []
    for key in sorted(set(before) | set(after)):
        path = prefix + (key,)
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(changed_keys(old, new, path))
        elif old is _MISSING or new is _MISSING or not same_config(old, new):
            changes.append(join_key(path))
    return changes


_MISSING = object()


# --- built-in validation -----------------------------------------------------
# dockerd decodes daemon.json into typed Go structs and refuses to start on a
# type mismatch, so the checks below are about types first. They cover the
# keys our roles and users write most; other keys pass unchecked (dockerd
# --validate, where available, checks everything).

_BOOL_KEYS = frozenset(
    (
        "debug",
        "experimental",
        "icc",
        "init",
        "ip-forward",
        "ip-masq",
        "ip6tables",
        "iptables",
        "ipv6",
        "live-restore",
        "no-new-privileges",
        "raw-logs",
        "selinux-enabled",
        "tls",
        "tlsverify",
        "userland-proxy",
    )
)
_INT_KEYS = frozenset(
    (
        "max-concurrent-downloads",
        "max-concurrent-uploads",
        "max-download-attempts",
        "mtu",
        "shutdown-timeout",
    )
)
_STR_KEYS = frozenset(
    (
        "bip",
        "bridge",
        "cgroup-parent",
        "containerd",
        "default-cgroupns-mode",
        "default-gateway",
        "default-gateway-v6",
        "default-ipc-mode",
        "default-runtime",
        "default-shm-size",
        "fixed-cidr",
        "fixed-cidr-v6",
        "group",
        "init-path",
        "log-driver",
        "log-format",
        "seccomp-profile",
        "storage-driver",
        "tlscacert",
        "tlscert",
        "tlskey",
        "userns-remap",
    )
)
_ABS_PATH_KEYS = frozenset(("data-root", "exec-root", "pidfile"))
_STR_LIST_KEYS = frozenset(
    (
        "allow-nondistributable-artifacts",
        "authorization-plugins",
        "cdi-spec-dirs",
        "dns",
        "dns-opts",
        "dns-search",
        "exec-opts",
        "hosts",
        "insecure-registries",
        "labels",
        "node-generic-resources",
        "registry-mirrors",
        "storage-opts",
    )
)
_CHOICES = {
    "log-level": ("debug", "info", "warn", "error", "fatal"),
    "default-cgroupns-mode": ("host", "private"),
}


def validate_config(config: Config) -> list[str]:
    """Return one message per problem found in config, each naming its key path."""
    errors: list[str] = []
    for key in sorted(config):
        errors.extend(_validate_key(key, config[key]))
    return errors


def _validate_key(key: str, value: t.Any) -> list[str]:
    if KEY_SEPARATOR in key:
        return [
            f"{key}: top-level keys of daemon.json hold no '{KEY_SEPARATOR}'; write nested settings as nested dicts"
        ]
    if key in _BOOL_KEYS:
        return _expect(key, value, "boolean")
    if key in _INT_KEYS:
        return _expect(key, value, "integer")
    if key in _STR_KEYS:
        return _expect(key, value, "string") or _check_choice(key, value)
    if key in _CHOICES:
        return _expect(key, value, "string") or _check_choice(key, value)
    if key in _ABS_PATH_KEYS:
        return _expect(key, value, "string") or _check_absolute(key, value)
    if key in _STR_LIST_KEYS:
        return _check_str_list(key, value) or _check_mirrors(key, value)
    validator = _STRUCTURED.get(key)
    return validator(key, value) if validator else []


def _is_type(value: t.Any, expected: str) -> bool:
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "string":
        return isinstance(value, str)
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    raise ValueError(expected)


def _expect(path: str, value: t.Any, expected: str, hint: str = "") -> list[str]:
    if _is_type(value, expected):
        return []
    article = "an" if expected[0] in "aeiou" else "a"
    return [f"{path}: must be {article} {expected}, got {json_type(value)} {_short(value)}{hint}"]


def _short(value: t.Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_choice(key: str, value: str) -> list[str]:
    choices = _CHOICES.get(key)
    if choices and value not in choices:
        return [f"{key}: must be one of {', '.join(choices)}, got {value!r}"]
    return []


def _check_absolute(key: str, value: str) -> list[str]:
    return [] if value.startswith("/") else [f"{key}: must be an absolute path, got {value!r}"]


def _check_str_list(path: str, value: t.Any) -> list[str]:
    errors = _expect(path, value, "array")
    if errors:
        return errors
    for index, item in enumerate(value):
        errors.extend(_expect(f"{path}[{index}]", item, "string"))
    return errors


def _check_mirrors(key: str, value: list[str]) -> list[str]:
    if key != "registry-mirrors":
        return []
    # dockerd refuses mirrors without an http(s) scheme at start-up.
    return [
        f"{key}[{index}]: must be an http:// or https:// URL, got {item!r}"
        for index, item in enumerate(value)
        if not item.startswith(("http://", "https://"))
    ]


def _check_log_opts(key: str, value: t.Any) -> list[str]:
    errors = _expect(key, value, "object")
    if errors:
        return errors
    hint = ' (dockerd accepts only strings here: quote numbers, e.g. "3")'
    for name in sorted(value):
        errors.extend(_expect(f"{key}/{name}", value[name], "string", hint))
    return errors


def _check_features(key: str, value: t.Any) -> list[str]:
    errors = _expect(key, value, "object")
    if errors:
        return errors
    for name in sorted(value):
        errors.extend(_expect(f"{key}/{name}", value[name], "boolean"))
    return errors


def _check_runtimes(key: str, value: t.Any) -> list[str]:
    errors = _expect(key, value, "object")
    if errors:
        return errors
    for name in sorted(value):
        errors.extend(_check_runtime(f"{key}/{name}", value[name]))
    return errors


def _check_runtime(path: str, runtime: t.Any) -> list[str]:
    errors = _expect(path, runtime, "object")
    if errors:
        return errors
    if "path" not in runtime and "runtimeType" not in runtime:
        errors.append(f"{path}: needs a 'path' (or a 'runtimeType')")
    for field in ("path", "runtimeType"):
        if field in runtime:
            errors.extend(_expect(f"{path}/{field}", runtime[field], "string"))
    # 'args' is what nvidia-ctk writes; dockerd reads 'runtimeArgs'.
    for field in ("runtimeArgs", "args"):
        if field in runtime:
            errors.extend(_check_str_list(f"{path}/{field}", runtime[field]))
    if "options" in runtime:
        errors.extend(_expect(f"{path}/options", runtime["options"], "object"))
    return errors


def _check_address_pools(key: str, value: t.Any) -> list[str]:
    errors = _expect(key, value, "array")
    if errors:
        return errors
    for index, pool in enumerate(value):
        errors.extend(_check_address_pool(f"{key}[{index}]", pool))
    return errors


def _check_address_pool(path: str, pool: t.Any) -> list[str]:
    errors = _expect(path, pool, "object")
    if errors:
        return errors
    for field, expected in (("base", "string"), ("size", "integer")):
        if field not in pool:
            errors.append(f"{path}: needs '{field}'")
        else:
            errors.extend(_expect(f"{path}/{field}", pool[field], expected))
    if errors:
        return errors
    try:
        network = ipaddress.ip_network(pool["base"], strict=False)
    except ValueError:
        return [f"{path}/base: must be a network in CIDR notation, got {pool['base']!r}"]
    if not network.prefixlen <= pool["size"] <= network.max_prefixlen:
        errors.append(
            f"{path}/size: must be between {network.prefixlen} and "
            f"{network.max_prefixlen} for base {pool['base']}, got {pool['size']}"
        )
    return errors


def _check_ulimits(key: str, value: t.Any) -> list[str]:
    errors = _expect(key, value, "object")
    if errors:
        return errors
    for name in sorted(value):
        path = f"{key}/{name}"
        limit = value[name]
        errors.extend(_expect(path, limit, "object"))
        if isinstance(limit, dict):
            for field, expected in (("Name", "string"), ("Hard", "integer"), ("Soft", "integer")):
                if field in limit:
                    errors.extend(_expect(f"{path}/{field}", limit[field], expected))
    return errors


_STRUCTURED: dict[str, t.Callable[[str, t.Any], list[str]]] = {
    "default-address-pools": _check_address_pools,
    "default-ulimits": _check_ulimits,
    "features": _check_features,
    "log-opts": _check_log_opts,
    "runtimes": _check_runtimes,
}


# --- dockerd --validate ------------------------------------------------------


def help_supports_validate(help_text: str) -> bool:
    """Tell from `dockerd --help` output whether `--validate` exists (Engine >= 23)."""
    for line in help_text.splitlines():
        flags = line.replace(",", " ").split()[:2]  # "-x, --long" or "--long"
        if "--validate" in flags:
            return True
    return False


def dockerd_error(output: str) -> str:
    """Reduce dockerd's output on a failed --validate to its message lines."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return "; ".join(lines) or "no message"
