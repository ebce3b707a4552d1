# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The app_stack role's data model, checked and normalized (private, not a public API).

``app_stack_model`` takes the role's variables (services, volumes, presets,
defaults, the images app_image built, the *names* of the secrets) and returns
the normalized model plus every problem it found, each naming the variable.
``app_stack_secret_problems`` checks secrets and returns problems that name
secrets but never show their values.

One service's settings are checked in _app_stack_service.py; this module
checks the stack-wide settings, the volumes, and what concerns more than one
service (dependencies, host ports, volume owners, rollouts, the proxy).
The model never holds a secret value: secrets reach containers only through
the .env file (``env_file``), so the compose file cannot leak them.
Pure functions over plain data, used by the filters in plugins/filter/app_stack.py.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import typing as t
from collections.abc import Mapping, Sequence

from ansible_collections.aistack.deploy.plugins.plugin_utils._app_stack_service import (
    ENV_NAME_RE,
    PORT_RE,
    SERVICE_KEYS,
    duration,
    engine_major,
    gpu_label,
    host_gpu,
    host_mig,
    in_mig_mode,
    is_int,
    is_mig,
    seconds,
    service_settings,
    str_list,
)
from ansible_collections.aistack.deploy.plugins.plugin_utils._input import Problems, plain

VOLUME_KEYS = frozenset({"type", "path", "mode", "owner", "files"})
FILE_KEYS = frozenset({"src", "dest", "mode"})
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MODE_RE = re.compile(r"^0?[0-7]{3,4}$")
OWNER_RE = re.compile(r"^[0-9]+:[0-9]+$")
# Where the proxy preset mounts the configuration the nginx_proxy role writes.
PROXY_CONFIG_PATH = "/etc/aistack-proxy"
# app_stack_env_from: the pieces of the PostgreSQL and Redis connections an app can read under its own names.
# The password and the URL that holds it are secrets: they go to .env only; the others are plain environment.
ENV_FROM_SOURCES = (
    "postgres.host",
    "postgres.port",
    "postgres.user",
    "postgres.db",
    "postgres.password",
    "postgres.url",
    "redis.host",
    "redis.port",
    "redis.url",
)
ENV_FROM_SECRETS = frozenset({"postgres.password", "postgres.url"})
# CDI devices of NVIDIA GPUs (nvidia-ctk cdi generate), and the first Docker Engine that injects CDI devices.
CDI_KIND = "nvidia.com/gpu"
CDI_ENGINE = 25
# Host directories the role must never chown or chmod as a volume.
SYSTEM_DIRS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/run",
    "/root",
    "/home",
    "/tmp",
    "/var",
    "/var/lib",
    "/opt",
    "/srv",
    "/mnt",
    "/media",
)


@dataclasses.dataclass
class _Stack:
    """The model's input as the checks read it: the stack-wide settings, once checked, and the problems so far."""

    spec: dict[str, t.Any]
    problems: Problems = dataclasses.field(default_factory=Problems)
    name: t.Any = None
    data_root: str = "/nonexistent"
    defaults: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    presets: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    images: dict[str, str] | None = None
    secret_names: set[str] = dataclasses.field(default_factory=set)
    active_profiles: list[str] = dataclasses.field(default_factory=list)
    common_env: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    services_in: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    # Which preset each enabled service starts from; presets add volumes and plain environment.
    chosen: dict[str, str] = dataclasses.field(default_factory=dict)
    proxy_runs: bool = False

    def runs(self, sname: str) -> bool:
        """Whether a chosen service runs with the active profiles (compose: any of its profiles)."""
        sspec = self.services_in.get(sname) or {}
        profiles = sspec.get("profiles", self.presets.get(self.chosen[sname], {}).get("profiles") or [])
        return not profiles or not isinstance(profiles, list) or bool(set(profiles) & set(self.active_profiles))

    def active(self, svc: dict[str, t.Any]) -> bool:
        """Whether a normalized service runs with the active profiles."""
        return not svc["profiles"] or bool(set(svc["profiles"]) & set(self.active_profiles))

    def serves(self, svc: dict[str, t.Any]) -> bool:
        """A long-running service that runs with the active profiles (jobs run once, before them)."""
        return self.active(svc) and not svc["job"]


def _unsafe_data_path(path: str, root: t.Any) -> bool:
    """A system directory itself, anything under the engine's or the OS's own trees, or inside the app root."""
    norm = "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
    if ".." in norm.split("/") or norm == "/" or norm in SYSTEM_DIRS:
        return True
    if any(
        norm.startswith(prefix + "/")
        for prefix in (
            "/bin",
            "/boot",
            "/dev",
            "/etc",
            "/lib",
            "/lib32",
            "/lib64",
            "/proc",
            "/run",
            "/sbin",
            "/sys",
            "/usr",
            "/var/lib/docker",
            "/var/lib/containerd",
            "/var/run",
        )
    ):
        return True
    if isinstance(root, str) and root.startswith("/"):
        root_norm = "/" + "/".join(part for part in root.split("/") if part not in ("", "."))
        return norm == root_norm or norm.startswith(root_norm + "/")
    return False


def _entry(
    variable: str, kind: str, name: t.Any, spec: t.Any, keys: frozenset[str], problems: Problems
) -> dict[str, t.Any] | None:
    """One named entry of app_stack_services or app_stack_volumes: its settings, or None when unusable."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.add(variable, f"{name!r} is not a valid {kind} name (lower-case, digits, '-', '_')")
        return None
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        problems.add(f"{variable}.{name}", f"must be a dict of {kind} settings ({', '.join(sorted(keys))}) or empty")
        return None
    for key in sorted(set(spec) - keys):
        problems.add(f"{variable}.{name}", f"unknown key {key!r} (known: {', '.join(sorted(keys))})")
    return spec


def _merge(base: dict[str, t.Any], override: dict[str, t.Any]) -> dict[str, t.Any]:
    """Preset under the user's service: dicts merge one level deep, everything else replaces."""
    merged = plain(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key in ("environment", "labels"):
            merged[key] = {**merged[key], **plain(value)}
        else:
            merged[key] = plain(value)
    return merged


def app_stack_model(spec: t.Any) -> dict[str, t.Any]:
    """Check the role's service and volume model and return it normalized.

    ``spec`` keys: name, data_root, env_file, services, volumes, presets, defaults (restart, stop_grace_period,
    read_only, tmpfs, cap_drop, no_new_privileges, log_driver, log_options), profiles, images (target -> image),
    env (every service with env_file), secret_names, gpu_present, gpu_free_mib (each GPU's free memory, for
    whether a GPU service can start first), host_gpus (aistack_gpu.gpus: each GPU's index and uuid, for the GPUs
    a service names), mig_devices (aistack_gpu.mig_devices: each MIG device's gpu, index and uuid), host (the
    inventory name, for the problems), engine_version (the host's Docker Engine, for healthchecks'
    start_interval; '' when unknown).
    """
    stack = _Stack(plain(spec) if isinstance(spec, Mapping) else {})
    _top_settings(stack)
    stack.spec["host_gpus"] = _host_gpus(stack.spec, stack.problems)
    stack.spec["mig_devices"] = _host_migs(stack.spec, stack.problems)
    _common_env(stack)
    _chosen_services(stack)
    volumes = _volumes(stack)
    services = _services(stack, volumes)
    env_from_secrets = _env_from(stack, services)
    # Cross-service checks: active services, dependencies, host ports, volume owners.
    _dependencies_and_ports(stack, services)
    owners = _volume_owners(volumes, services, stack.problems)
    _job_dependents(services, stack.problems)
    _exclusive_gpus(stack, services)
    explicit = {sname for sname, sspec in stack.services_in.items() if isinstance(sspec, dict) and "rollout" in sspec}
    rollout_notes = _rollouts(
        services,
        explicit,
        stack.active,
        stack.presets,
        stack.proxy_runs,
        _GpuFree(_gpu_free(stack.spec, stack.problems), stack.spec["host_gpus"], stack.spec["mig_devices"]),
        stack.problems,
    )
    services, replicas = _replicas(stack, services, volumes)
    _gpus_given(stack, services)
    _cdi_form(stack, services)
    model = _model(stack, services, volumes, owners, rollout_notes)
    model["env_from_secrets"] = env_from_secrets
    model["replicas"] = replicas
    return model


def _top_settings(stack: _Stack) -> None:
    """The stack-wide settings: name, data root, defaults, presets, images, secret names, active profiles."""
    spec, problems = stack.spec, stack.problems
    name = spec.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.add("app_stack_name", f"must be lower-case letters, digits, '-' or '_' (got {name!r})")
    stack.name = name
    data_root = spec.get("data_root")
    if not isinstance(data_root, str) or not data_root.startswith("/") or data_root.rstrip("/") in ("", "/"):
        problems.add("app_stack_data_root", f"must be an absolute path below / (got {data_root!r})")
        data_root = "/nonexistent"
    elif _unsafe_data_path(data_root, spec.get("root")):
        problems.add(
            "app_stack_data_root",
            f"{data_root!r} is a system directory or inside app_stack_root (data never lives with the releases)",
        )
    stack.data_root = data_root
    stack.defaults = dict(spec.get("defaults") or {})
    start_interval = stack.defaults.get("health_start_interval") or ""
    if start_interval != "" and duration(start_interval) in (None, "0s"):
        problems.add(
            "app_stack_health_start_interval",
            f"must be a duration such as 1s, or '' for the image's own timing (got {start_interval!r})",
        )
        start_interval = ""
    stack.defaults["health_start_interval"] = duration(start_interval) if start_interval else ""
    stack.presets = spec.get("presets") or {}
    images = spec.get("images")
    if images is not None and not isinstance(images, dict):
        problems.add("app_stack_images", "must be a dict of app targets to image references")
        images = {}
    stack.images = images
    stack.secret_names = set(spec.get("secret_names") or [])
    active_profiles = spec.get("profiles") or []
    if not str_list(active_profiles):
        problems.add("app_stack_profiles", "must be a list of profile names")
        active_profiles = []
    stack.active_profiles = active_profiles


def _common_env(stack: _Stack) -> None:
    """app_stack_env, the plain environment of every service with env_file: names, values, no secret."""
    spec, problems = stack.spec, stack.problems
    common_env = dict(spec.get("env") or {}) if isinstance(spec.get("env") or {}, dict) else spec.get("env")
    if not isinstance(common_env, dict):
        problems.add("app_stack_env", "must be a dict of variable names to values")
        common_env = {}
    for key, value in common_env.items():
        if not isinstance(key, str) or not ENV_NAME_RE.match(key):
            problems.add("app_stack_env", f"{key!r} is not a valid environment variable name")
        elif key in stack.secret_names:
            problems.add("app_stack_env", f"{key} is also a secret in app_stack_secrets: secrets go only to .env")
        if isinstance(value, (dict, list)):
            problems.add(f"app_stack_env.{key}", "must be a string, number or boolean")
    stack.common_env = common_env


def _env_from(stack: _Stack, services: dict[str, dict[str, t.Any]]) -> dict[str, str]:
    """app_stack_env_from: connection pieces under the app's own names; returns the secret ones (name -> source).

    The plain pieces join the environment of every app service with env_file (as app_stack_env does; a service's
    own environment wins); the secret ones are written to .env by the role, from the same values as DATABASE_URL.
    """
    env_from, problems = stack.spec.get("env_from") or {}, stack.problems
    if not isinstance(env_from, dict):
        problems.add("app_stack_env_from", "must be a dict of variable names to sources such as postgres.host")
        return {}
    running = {
        preset: sorted(s for s, svc in services.items() if svc["preset"] == preset and stack.serves(svc))
        for preset in ("postgres", "redis")
    }
    plain_values: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for name, source in env_from.items():
        where = f"app_stack_env_from.{name}"
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            problems.add("app_stack_env_from", f"{name!r} is not a valid environment variable name")
        elif source not in ENV_FROM_SOURCES:
            problems.add(where, f"must be one of {', '.join(ENV_FROM_SOURCES)} (got {source!r})")
        elif not running[source.split(".")[0]]:
            problems.add(
                where,
                f"{source} needs a {source.split('.')[0]} service that runs "
                "(a service of app_stack_services with that preset)",
            )
        elif name in stack.secret_names:
            problems.add(where, f"{name} is also a secret in app_stack_secrets (.env has it already)")
        elif name in stack.common_env:
            problems.add(
                where,
                f"{name} is already set to {stack.common_env[name]!r} "
                f"({'app_stack_env' if name in (stack.spec.get('env') or {}) else 'by a preset'})",
            )
        elif source in ENV_FROM_SECRETS:
            secrets[name] = source
        else:
            plain_values[name] = _connection_piece(stack, source, running, services)
    for svc in services.values():
        if svc["env_file"] and svc["target"]:
            svc["environment"].update({k: v for k, v in plain_values.items() if k not in svc["environment"]})
    return secrets


def _connection_piece(
    stack: _Stack, source: str, running: dict[str, list[str]], services: dict[str, dict[str, t.Any]]
) -> str:
    """The value of a plain app_stack_env_from source: the service's name, port, or what its preset sets."""
    kind, piece = source.split(".")
    sname = running[kind][0]
    environment = services[sname]["environment"]
    return {
        "host": sname,
        "port": "5432" if kind == "postgres" else "6379",
        "user": environment.get("POSTGRES_USER", ""),
        "db": environment.get("POSTGRES_DB", ""),
        # The URL the redis preset hands to app services as REDIS_URL (vars/main.yml), for this service.
        "url": str((stack.presets.get("redis") or {}).get("_env", {}).get("REDIS_URL", "")).replace("{service}", sname),
    }[piece]


def _chosen_services(stack: _Stack) -> None:
    """app_stack_services, the preset each enabled service starts from, and whether a proxy service runs."""
    services_in = stack.spec.get("services") or {}
    if not isinstance(services_in, dict) or not services_in:
        stack.problems.add("app_stack_services", "must name at least one service")
        services_in = {} if not isinstance(services_in, dict) else services_in
    stack.services_in = services_in
    presets = stack.presets
    for sname, sspec in services_in.items():
        if (
            isinstance(sname, str)
            and isinstance(sspec, (dict, type(None)))
            and (sspec or {}).get("enabled", True) is not False
        ):
            preset_name = (sspec or {}).get("preset", sname if sname in presets else "none")
            stack.chosen[sname] = preset_name if preset_name in presets else "none"
    stack.proxy_runs = any(
        presets.get(preset_name, {}).get("_proxy") and stack.runs(sname) for sname, preset_name in stack.chosen.items()
    )


def _volumes(stack: _Stack) -> dict[str, dict[str, t.Any]]:
    """app_stack_volumes over the volumes the chosen presets bring, each checked and normalized."""
    volumes_in = stack.spec.get("volumes") or {}
    if not isinstance(volumes_in, dict):
        stack.problems.add("app_stack_volumes", "must be a dict of volume names to settings")
        volumes_in = {}
    volumes_in = {**_preset_volumes_and_env(stack), **volumes_in}
    volumes: dict[str, dict[str, t.Any]] = {}
    for vname, vspec in volumes_in.items():
        volume = _volume(stack, vname, vspec)
        if volume is not None:
            volumes[vname] = volume
    return volumes


def _preset_volumes_and_env(stack: _Stack) -> dict[str, t.Any]:
    """The volumes the chosen presets bring; their plain environment goes into the common environment."""
    preset_volumes: dict[str, t.Any] = {}
    for sname, preset_name in stack.chosen.items():
        for vname, vspec in (stack.presets.get(preset_name, {}).get("_volumes") or {}).items():
            preset_volumes.setdefault(vname, vspec)
        for key, value in (stack.presets.get(preset_name, {}).get("_env") or {}).items():
            # A secret of that name wins: a plain value in the compose file would override .env.
            # A service that does not run hands nothing on.
            if key not in stack.secret_names and stack.runs(sname):
                stack.common_env.setdefault(key, str(value).replace("{service}", sname))
    return preset_volumes


def _volume(stack: _Stack, vname: t.Any, vspec: t.Any) -> dict[str, t.Any] | None:
    """One volume: its type, host path, mode, owner and files; None when its entry is unusable."""
    problems = stack.problems
    where = f"app_stack_volumes.{vname}"
    vspec = _entry("app_stack_volumes", "volume", vname, vspec, VOLUME_KEYS, problems)
    if vspec is None:
        return None
    vtype = vspec.get("type", "bind")
    if vtype not in ("bind", "named"):
        problems.add(f"{where}.type", f"must be bind or named (got {vtype!r})")
    path = vspec.get("path", f"{stack.data_root.rstrip('/')}/{vname}")
    if vtype == "bind" and (not isinstance(path, str) or not path.startswith("/") or path.rstrip("/") == ""):
        problems.add(f"{where}.path", f"must be an absolute host path (got {path!r})")
    elif vtype == "bind" and _unsafe_data_path(path, stack.spec.get("root")):
        problems.add(
            f"{where}.path",
            f"{path!r} is a system directory or inside app_stack_root: the role "
            "would change its owner and mode, or prune it with a release",
        )
    mode = vspec.get("mode", "0750")
    if not isinstance(mode, str) or not MODE_RE.match(mode):
        problems.add(f"{where}.mode", f"must be an octal mode in quotes such as '0750' (got {mode!r})")
    owner = vspec.get("owner", "auto")
    owner_ok = isinstance(owner, str) and (
        owner in ("auto", "root") or bool(OWNER_RE.match(owner)) or owner.startswith("service:")
    )
    if not owner_ok:
        problems.add(f"{where}.owner", f"must be auto, root, service:<name> or <uid>:<gid> (got {owner!r})")
    files = _volume_files(vspec, where, problems)
    if vtype == "named" and files:
        problems.add(f"{where}.files", "only bind volumes take files")
    return {
        "type": vtype,
        "path": path if vtype == "bind" else "",
        "docker_name": f"aistack-{stack.name}-{vname}" if vtype == "named" else "",
        "mode": mode,
        "owner": owner,
        "files": [
            dict(item, dest=item.get("dest", str(item.get("src", "")).rstrip("/").rsplit("/", 1)[-1]))
            for item in files
            if isinstance(item, dict)
        ],
        "mounted_by": [],
    }


def _volume_files(vspec: dict[str, t.Any], where: str, problems: Problems) -> list[t.Any]:
    """A volume's files ({src, dest, mode}), each checked; [] when they are not a list."""
    files = vspec.get("files", [])
    if not isinstance(files, list):
        problems.add(f"{where}.files", "must be a list of {src, dest, mode}")
        files = []
    for index, item in enumerate(files):
        fwhere = f"{where}.files[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("src"), str) or not item.get("src"):
            problems.add(fwhere, "needs src (a file on the controller)")
            continue
        for key in sorted(set(item) - FILE_KEYS):
            problems.add(fwhere, f"unknown key {key!r}")
        dest = item.get("dest", item["src"].rstrip("/").rsplit("/", 1)[-1])
        if not isinstance(dest, str) or dest.startswith("/") or ".." in dest.split("/") or not dest:
            problems.add(f"{fwhere}.dest", f"must be a path relative to the volume (got {dest!r})")
        if "mode" in item and (not isinstance(item["mode"], str) or not MODE_RE.match(item["mode"])):
            problems.add(f"{fwhere}.mode", f"must be an octal mode in quotes (got {item['mode']!r})")
    return files


def _services(stack: _Stack, volumes: dict[str, dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """Each enabled service over its preset, checked and normalized (_app_stack_service.py)."""
    services: dict[str, dict[str, t.Any]] = {}
    for sname, sspec in stack.services_in.items():
        where = f"app_stack_services.{sname}"
        sspec = _entry("app_stack_services", "service", sname, sspec, SERVICE_KEYS, stack.problems)
        if sspec is None:
            continue
        merged = _over_preset(stack, sname, sspec, where)
        if merged is None:
            continue
        services[sname] = service_settings(
            sname,
            merged,
            where,
            stack.problems,
            stack.defaults,
            stack.images,
            volumes,
            stack.common_env,
            stack.secret_names,
            stack.spec,
        )
        services[sname]["auto_depends_on"] = "depends_on" not in sspec
        services[sname]["port_variables"] = _port_variables(stack, merged, sspec, where, services[sname]["ports"])
    return services


def _port_variables(
    stack: _Stack, merged: dict[str, t.Any], sspec: dict[str, t.Any], where: str, ports: list[str]
) -> list[str]:
    """The variable each published port comes from: the user's ports list, or the role variable a preset's uses.

    A problem with a port then names what the user wrote (app_stack_api_port), not the list derived from it.
    """
    from_preset = (stack.presets.get(merged["preset"]) or {}).get("_port_variables") or []
    if "ports" not in sspec and len(from_preset) == len(ports):
        return [str(variable) for variable in from_preset]
    return [f"{where}.ports"] * len(ports)


def _over_preset(stack: _Stack, sname: str, sspec: dict[str, t.Any], where: str) -> dict[str, t.Any] | None:
    """A service's settings over its preset's; None when it is disabled."""
    presets = stack.presets
    preset_name = sspec.get("preset", sname if sname in presets else "none")
    if preset_name != "none" and preset_name not in presets:
        stack.problems.add(
            f"{where}.preset", f"unknown preset {preset_name!r} (known: {', '.join(sorted(presets))}, none)"
        )
        preset_name = "none"
    preset = {k: v for k, v in presets.get(preset_name, {}).items() if not k.startswith("_")}
    merged = _merge(preset, {k: v for k, v in sspec.items() if k != "preset"})
    merged["preset"] = preset_name
    if merged.get("enabled", True) is False:
        return None
    if not isinstance(merged["enabled"] if "enabled" in merged else True, bool):
        stack.problems.add(f"{where}.enabled", "must be true or false")
    if "depends_on" not in sspec:
        merged["depends_on"] = [
            dep for dep in presets.get(preset_name, {}).get("_depends_on") or [] if dep in stack.chosen and dep != sname
        ]
    if sspec.get("per_gpu") is True and "gpu" not in sspec:
        # One replica per GPU takes the place of the preset's gpu (auto).
        merged.pop("gpu", None)
    if stack.proxy_runs and presets.get(preset_name, {}).get("_proxied") and "ports" not in sspec:
        # Behind the proxy, the proxy is the way in: no host port, so two releases can run side by side.
        merged["ports"] = []
    return merged


def _dependencies_and_ports(stack: _Stack, services: dict[str, dict[str, t.Any]]) -> None:
    """Each service's dependencies, then the host ports an active long-running one publishes (one owner each)."""
    used_ports: dict[tuple[str, str, str], str] = {}
    for sname, svc in services.items():
        where = f"app_stack_services.{sname}"
        _dependencies(stack, services, sname, svc, where)
        if stack.active(svc) and not svc["job"]:
            _host_ports(sname, svc, used_ports, stack.problems)


def _dependencies(
    stack: _Stack, services: dict[str, dict[str, t.Any]], sname: str, svc: dict[str, t.Any], where: str
) -> None:
    """A service's depends_on: a preset's narrowed to what runs with it, the user's checked."""
    active = stack.active
    if svc.pop("auto_depends_on"):
        # A preset's dependencies count where they run whenever the service does: with no
        # profile, with an active one, or with a profile of the service's own; never on a one-off job.
        svc["depends_on"] = [
            dep
            for dep in svc["depends_on"]
            if dep in services
            and not services[dep]["job"]
            and (
                not services[dep]["profiles"]
                or active(services[dep])
                or bool(set(services[dep]["profiles"]) & set(svc["profiles"]))
            )
            and (not active(svc) or active(services[dep]))
        ]
    for dep in svc["depends_on"]:
        if dep == sname:
            stack.problems.add(f"{where}.depends_on", "a service cannot depend on itself")
        elif dep not in services:
            stack.problems.add(f"{where}.depends_on", f"unknown or disabled service {dep!r}")
        elif active(svc) and not active(services[dep]):
            stack.problems.add(
                f"{where}.depends_on",
                f"{dep!r} is in profiles {services[dep]['profiles']} that app_stack_profiles does not activate",
            )


def _host_ports(
    sname: str, svc: dict[str, t.Any], used_ports: dict[tuple[str, str, str], str], problems: Problems
) -> None:
    """The host ports a service publishes, each free (on its address and on 0.0.0.0); recorded in ``used_ports``."""
    for port, variable in zip(svc["ports"], svc["port_variables"], strict=True):
        match = PORT_RE.match(port)
        if match and match.group("host"):
            key = (match.group("ip") or "0.0.0.0", match.group("host"), match.group("proto") or "tcp")
            other = used_ports.get(key)
            wildcard = [
                s
                for (ip, host, proto), s in used_ports.items()
                if host == key[1] and proto == key[2] and "0.0.0.0" in (ip, key[0])
            ]
            if other or wildcard:
                problems.add(
                    variable,
                    f"host port {key[1]}/{key[2]} of service {sname!r} is already published by "
                    f"service {other or wildcard[0]!r}",
                )
            else:
                used_ports[key] = sname


def _volume_owners(
    volumes: dict[str, dict[str, t.Any]], services: dict[str, dict[str, t.Any]], problems: Problems
) -> list[dict[str, str]]:
    """Who owns each volume; return the images and users whose ids the role must look up (each once)."""
    for vname, volume in volumes.items():
        _volume_owner(vname, volume, services, problems)
    owners: list[dict[str, str]] = []
    for volume in volumes.values():
        volume["owner_key"] = f"{volume['owner_image']}|{volume['owner_user']}" if volume["owner_image"] else ""
        if volume["owner_key"] and not volume["owner_fixed"] and volume["owner_key"] not in [o["key"] for o in owners]:
            owners.append({"key": volume["owner_key"], "image": volume["owner_image"], "user": volume["owner_user"]})
    return owners


def _volume_owner(
    vname: str, volume: dict[str, t.Any], services: dict[str, dict[str, t.Any]], problems: Problems
) -> None:
    """A volume's owner: a service's image and data user, or fixed ids (root's for a volume no service mounts)."""
    owner = volume["owner"]
    if owner.startswith("service:"):
        owner_service = owner.split(":", 1)[1]
        if owner_service not in services:
            problems.add(f"app_stack_volumes.{vname}.owner", f"names unknown or disabled service {owner_service!r}")
            owner_service = ""
    elif owner == "auto":
        owner_service = _auto_owner(volume["mounted_by"], services)
    else:
        owner_service = ""
    if owner_service:
        volume["owner_image"] = services[owner_service]["image"]
        volume["owner_user"] = services[owner_service]["data_user"]
    else:
        volume["owner_image"] = ""
        volume["owner_user"] = ""
    volume["owner_fixed"] = {"root": "0:0"}.get(owner, owner if OWNER_RE.match(owner) else "")
    if not volume["owner_fixed"] and not volume["owner_image"] and volume["type"] == "bind":
        # Mounted by no service: root keeps it until a service claims it.
        volume["owner_fixed"] = "0:0"


def _auto_owner(mounted_by: list[str], services: dict[str, dict[str, t.Any]]) -> str:
    """The service that owns a volume with owner auto: the first long-running one that mounts it, else a job."""
    serving = [s for s in mounted_by if not services[s]["job"]]
    return (serving or mounted_by or [""])[0]


def _job_dependents(services: dict[str, dict[str, t.Any]], problems: Problems) -> None:
    """No service waits for a job: a job never becomes healthy, the deploy runs it before the services start."""
    for sname, svc in services.items():
        for dep in svc["depends_on"]:
            if dep in services and services[dep]["job"]:
                problems.add(
                    f"app_stack_services.{sname}.depends_on",
                    f"{dep!r} is a job, run once before the services start: no service can wait for it "
                    f"(got {svc['depends_on']!r}; allowed: services without job: true)",
                )


def _model(
    stack: _Stack,
    services: dict[str, dict[str, t.Any]],
    volumes: dict[str, dict[str, t.Any]],
    owners: list[dict[str, str]],
    rollout_notes: dict[str, str],
) -> dict[str, t.Any]:
    """The model: services, volumes and what the deploy reads of them (PostgreSQL, proxy, images), with the problems."""
    serves, active = stack.serves, stack.active
    # The PostgreSQL service whose password and URL go to .env: a postgres preset that runs.
    postgres = [s for s in sorted(services) if services[s]["preset"] == "postgres" and serves(services[s])]
    proxy = _proxy(services, stack.presets, serves, stack.problems)
    grace = max([seconds(svc["stop_grace_period"]) for svc in services.values() if not svc["job"]] or [10.0])
    return {
        "name": stack.name,
        "services": services,
        "volumes": volumes,
        "owners": owners,
        "postgres_service": postgres[0] if postgres else "",
        "proxy": proxy,
        "profiles": stack.active_profiles,
        "active_services": sorted(s for s, svc in services.items() if serves(svc)),
        "jobs": sorted(s for s, svc in services.items() if active(svc) and svc["job"]),
        "images": sorted({svc["image"] for svc in services.values() if active(svc) and svc["image"]}),
        # The images of the running services that get a GPU, where known (not before app_image built them):
        # the pre-flight compares their CUDA version with the driver's.
        "gpu_images": sorted(
            {
                svc["image"]
                for svc in services.values()
                if serves(svc)
                and svc["image"]
                and svc["reservations"].get("devices")
                and (stack.images is not None or not svc["target"])
            }
        ),
        "max_stop_grace_seconds": int(grace + 0.999),
        # Services whose new release starts beside the old one, behind the proxy (deploy.yml), and why
        # others a preset would start first are replaced in place.
        "start_first": sorted(s for s, svc in services.items() if serves(svc) and svc["rollout"] == "start-first"),
        "rollout_notes": rollout_notes,
        # What the health gate proves each running GPU service's containers see (nvidia-smi -L inside them).
        "gpu_gate": _gpu_gate(stack, services),
        "problems": list(stack.problems),
    }


def _proxy(
    services: dict[str, dict[str, t.Any]],
    presets: dict[str, t.Any],
    active: t.Callable[[dict[str, t.Any]], bool],
    problems: Problems,
) -> dict[str, t.Any]:
    """The TLS proxy service (a preset marked _proxy) that runs, for the nginx_proxy role; {} when none.

    Its configuration directory is the host side of its mount at /etc/aistack-proxy, which must be a bind volume.
    """
    proxies = [s for s in sorted(services) if presets.get(services[s]["preset"], {}).get("_proxy")]
    running = [s for s in proxies if active(services[s])]
    if len(running) > 1:
        problems.add("app_stack_services", f"only one proxy service can run (running: {', '.join(running)})")
    if not running:
        return {}
    sname = running[0]
    svc = services[sname]
    mount = [m for m in svc.get("mounts", []) if m["target"] == PROXY_CONFIG_PATH]
    if not mount or mount[0]["type"] != "bind":
        problems.add(
            f"app_stack_services.{sname}.volumes",
            f"the proxy needs a bind volume mounted at {PROXY_CONFIG_PATH} (its configuration)",
        )
        return {}
    published = {}
    for port in svc["ports"]:
        match = PORT_RE.match(port)
        if match and match.group("host") and (match.group("proto") or "tcp") == "tcp":
            published[match.group("container")] = int(match.group("host"))
    return {
        "service": sname,
        "image": svc["image"],
        "config_dir": mount[0]["source"],
        "http_port": published.get("80", 0),
        "https_port": published.get("443", 0),
    }


def _rollouts(
    services: dict[str, dict[str, t.Any]],
    explicit: set[str],
    active: t.Callable[[dict[str, t.Any]], bool],
    presets: dict[str, t.Any],
    proxy_runs: bool,
    gpu_free: _GpuFree,
    problems: Problems,
) -> dict[str, str]:
    """Settle each active service's rollout; return why a preset's start-first became stop-first, by service."""
    notes = {}
    for sname, svc in services.items():
        note = _rollout(sname, svc, sname in explicit, proxy_runs, gpu_free, problems) if active(svc) else ""
        if note:
            notes[sname] = note
    # A stop-first service's `up` brings its dependencies up to date: one that depends on a start-first
    # service would replace it in place. The proxy is nginx_proxy's, started after the switch.
    for sname, svc in services.items():
        if not active(svc) or svc["rollout"] != "start-first":
            continue
        dependents = sorted(
            d
            for d, dsvc in services.items()
            if active(dsvc)
            and not dsvc["job"]
            and dsvc["rollout"] == "stop-first"
            and sname in dsvc["depends_on"]
            and not presets.get(dsvc["preset"], {}).get("_proxy")
        )
        if not dependents:
            continue
        why = (
            f"stop-first service(s) {', '.join(dependents)} depend on it (their `up` would replace it in place; "
            "make them start-first too, or drop the dependency)"
        )
        if sname in explicit:
            problems.add(f"app_stack_services.{sname}.rollout", f"start-first is not possible: {why}")
        else:
            svc["rollout"] = "stop-first"
            notes[sname] = why
    return notes


def _rollout(
    sname: str, svc: dict[str, t.Any], explicit: bool, proxy_runs: bool, gpu_free: _GpuFree, problems: Problems
) -> str:
    """Keep a start-first service start-first only where two of its containers can run; say why not.

    What the user asked for and cannot be is a problem; what a preset suggested falls back to stop-first
    with the reason (returned, and printed by the deploy).
    """
    if svc["rollout"] != "start-first":
        return ""
    where = f"app_stack_services.{sname}.rollout"
    published = [port for port in svc["ports"] if (match := PORT_RE.match(port)) and match.group("host")]
    blockers = []
    if svc["job"]:
        blockers.append("it is a job, run once")
    if published:
        blockers.append(f"it publishes host port(s) {', '.join(published)} (two containers cannot hold one port)")
    if not proxy_runs:
        blockers.append("no proxy service runs in front of it (nothing would switch its requests)")
    if explicit and blockers:
        problems.add(
            where,
            f"start-first is not possible: {'; '.join(blockers)} (allowed: stop-first, or no host "
            "ports and a proxy service such as nginx)",
        )
    elif svc["reservations"].get("devices"):
        # Two containers on one GPU fit only where its free memory holds a second one.
        room, known = _gpu_room(svc, gpu_free)
        if room and explicit and known:
            problems.add(
                where,
                f"start-first is not possible: {room} (allowed: stop-first, or a smaller gpu_memory_mb "
                "where that is what the service needs)",
            )
        elif room and not explicit:
            blockers.append(room)
    if blockers:
        svc["rollout"] = "stop-first"
        return "; ".join(blockers)
    return ""


class _GpuFree(t.NamedTuple):
    """The host's GPUs as the room check reads them: each one's free memory (MiB), and each one (index, uuid);
    and its MIG devices, whose free memory nvidia-smi does not report."""

    free: Sequence[int]
    gpus: list[dict[str, t.Any]]
    migs: list[dict[str, t.Any]] = []


def _gpu_free(spec: Mapping[str, t.Any], problems: Problems) -> list[int]:
    """Each GPU's free memory in MiB (aistack_gpu.memory_free_mib); [] when unknown."""
    free = spec.get("gpu_free_mib") or []
    if not isinstance(free, list) or not all(is_int(value) and value >= 0 for value in free):
        problems.add("aistack_gpu.memory_free_mib", f"must be a list of MiB, one per GPU (got {free!r})")
        return []
    return [int(value) for value in free]


def _host_gpus(spec: Mapping[str, t.Any], problems: Problems) -> list[dict[str, t.Any]]:
    """The host's GPUs (aistack_gpu.gpus: each with its index and uuid, in index order); [] when unknown."""
    gpus = spec.get("host_gpus") or []
    if not isinstance(gpus, list) or not all(
        isinstance(gpu, dict) and is_int(gpu.get("index")) and isinstance(gpu.get("uuid", ""), str) for gpu in gpus
    ):
        problems.add("aistack_gpu.gpus", f"must be a list of GPUs, each with its index and uuid (got {gpus!r})")
        return []
    return gpus


def _host_migs(spec: Mapping[str, t.Any], problems: Problems) -> list[dict[str, t.Any]]:
    """The host's MIG devices (aistack_gpu.mig_devices: each with its gpu, index and uuid); [] when none or unknown."""
    migs = spec.get("mig_devices") or []
    if not isinstance(migs, list) or not all(
        isinstance(mig, dict)
        and is_int(mig.get("gpu"))
        and is_int(mig.get("index"))
        and isinstance(mig.get("uuid", ""), str)
        for mig in migs
    ):
        problems.add(
            "aistack_gpu.mig_devices",
            f"must be a list of MIG devices, each with its gpu, index and uuid (got {migs!r})",
        )
        return []
    return migs


def _exclusive_gpus(stack: _Stack, services: dict[str, dict[str, t.Any]]) -> None:
    """A GPU a running service names by index or UUID, or takes with per_gpu, is its own: a second is refused.

    Where aistack_gpu lists the GPUs, an index and the UUID of the same GPU are the same GPU (a MIG device's
    <gpu>:<mig> and UUID likewise). A MIG device is its service's alone too, and a GPU given whole to one
    service cannot have a MIG device given to another. A count, true or auto is shared use and claims nothing:
    such a service may get a GPU another names.
    """
    claimed: dict[str, str] = {}
    labels: dict[str, str] = {}
    for sname, svc in services.items():
        if not stack.serves(svc):
            continue
        for device_id in (svc["reservations"].get("devices") or [{}])[0].get("device_ids") or []:
            key, label = gpu_label(device_id, stack.spec["host_gpus"], stack.spec["mig_devices"])
            labels.setdefault(key, label)
            other = claimed.setdefault(key, sname)
            if other != sname:
                stack.problems.add(
                    f"app_stack_services.{sname}.{_gpu_key(svc)}",
                    f"{label} is also given to service {other!r} (app_stack_services.{other}."
                    f"{_gpu_key(services[other])}): a GPU named by index or UUID, or taken by "
                    "per_gpu, is one service's alone (allowed: another GPU, or a count, true or "
                    "auto, which share the host's GPUs)",
                )
    for key, sname in claimed.items():
        # A MIG device the host does not list is a problem of its own already (_gpus_on_host).
        listed = host_mig(key, stack.spec["mig_devices"]) is not None or not stack.spec["host_gpus"]
        whole = claimed.get(key.split(":")[0]) if ":" in key and listed else None
        # A GPU in MIG mode given whole is a problem of its own already (_gpus_on_host).
        parent = host_gpu(key.split(":")[0], stack.spec["host_gpus"])
        if parent and in_mig_mode(parent[1], stack.spec["mig_devices"]):
            continue
        if whole is not None and whole != sname:
            stack.problems.add(
                f"app_stack_services.{sname}.{_gpu_key(services[sname])}",
                f"{labels[key]} is a MIG device of {labels[key.split(':')[0]]}, which service "
                f"{whole!r} is given whole (app_stack_services.{whole}.{_gpu_key(services[whole])}): "
                "a GPU given whole is that service's alone, its MIG devices too (allowed: another "
                "GPU for one of them, or MIG devices of that GPU for both)",
            )


def _gpu_room(svc: dict[str, t.Any], gpu_free: _GpuFree) -> tuple[str, bool]:
    """Why a second container of a GPU service may not fit beside the running one ("" when it fits).

    gpu_free: each GPU's free memory (MiB) as nvidia_toolkit read it this run, with the running release's
    containers on it; the engine gives a `count: N` request the first N GPUs, `all` every one (and every MIG
    device of a GPU in MIG mode, whose free memory is not known), `device_ids` those GPUs. Also returns whether
    the reason rests on known figures (a start-first asked for is then refused).
    """
    need = svc.get("gpu_memory_mb")
    if not need:
        return (
            "it uses a GPU and declares no gpu_memory_mb (what one container needs), so two may not fit "
            "(set gpu_memory_mb, or rollout: start-first where two fit)"
        ), False
    free = list(gpu_free.free)
    if not free:
        return (
            "it uses a GPU whose free memory is not known (aistack_gpu.memory_free_mib, read by nvidia_toolkit)",
            False,
        )
    device = svc["reservations"]["devices"][0]
    used: list[tuple[str, int | None]]  # each GPU's label and free MiB (None: not known)
    if "device_ids" in device:
        used = [
            (gpu_label(device_id, gpu_free.gpus, gpu_free.migs)[1], _free_of(device_id, gpu_free))
            for device_id in device["device_ids"]
        ]
        unknown = [label for label, room in used if room is None]
        if unknown:
            return (
                f"the free memory of {', '.join(unknown)} is not known (aistack_gpu.memory_free_mib and "
                "aistack_gpu.gpus, read by nvidia_toolkit; nvidia-smi reports none for a MIG device)"
            ), False
    else:
        count = device["count"]
        # Every device is every MIG device of a GPU in MIG mode too (count N of such a GPU is refused).
        mig_mode = [
            gpu_label(str(gpu["index"]), gpu_free.gpus)[1] for gpu in gpu_free.gpus if in_mig_mode(gpu, gpu_free.migs)
        ]
        if count == "all" and mig_mode:
            return (
                f"the free memory of the MIG devices of {', '.join(mig_mode)}, which "
                f"{'is' if len(mig_mode) == 1 else 'are'} in MIG mode, is not known "
                "(nvidia-smi reports none for a MIG device)"
            ), False
        used = [(f"GPU {index}", room) for index, room in enumerate(free[: None if count == "all" else count])]
        if count != "all" and len(used) < count:
            return f"it asks for {count} GPU(s) and the host has {len(free)}", True
    short = [(room, position, label) for position, (label, room) in enumerate(used) if room is not None and room < need]
    if short:
        room, _position, label = min(short)
        return (
            f"{label} has {room} MiB free and a second container needs {need} MiB (gpu_memory_mb): two do not fit"
        ), True
    return "", True


def _free_of(device_id: str, gpu_free: _GpuFree) -> int | None:
    """The free memory (MiB) of the GPU a device id names: by its place in aistack_gpu.gpus, else by index (None
    for a MIG device)."""
    if is_mig(device_id):
        return None
    found = host_gpu(device_id, gpu_free.gpus)
    position = found[0] if found else (int(device_id) if device_id.isdigit() and not gpu_free.gpus else None)
    return gpu_free.free[position] if position is not None and position < len(gpu_free.free) else None


def _gpu_key(svc: dict[str, t.Any]) -> str:
    """The service setting that asks for its GPUs: per_gpu or gpu."""
    return "per_gpu" if svc.get("per_gpu") else "gpu"


def _replicas(
    stack: _Stack, services: dict[str, dict[str, t.Any]], volumes: dict[str, dict[str, t.Any]]
) -> tuple[dict[str, dict[str, t.Any]], dict[str, list[str]]]:
    """Each per_gpu service as one replica per GPU of the host, <service>-gpu<index>, pinned to that GPU.

    Runs after the checks across services, which saw the service with every GPU it takes. A replica is the
    service's settings with one GPU; what depends on the service, or mounts a volume with it, now names every
    replica. Returns the services and the replicas of each per_gpu service, in GPU order.
    """
    out: dict[str, dict[str, t.Any]] = {}
    replicas: dict[str, list[str]] = {}
    for sname, svc in services.items():
        device = (svc["reservations"].get("devices") or [{}])[0]
        if not svc.get("per_gpu") or not device.get("device_ids"):
            out[sname] = svc
            continue
        published = [port for port in svc["ports"] if (match := PORT_RE.match(port)) and match.group("host")]
        if published:
            stack.problems.add(
                f"app_stack_services.{sname}.ports",
                f"per_gpu runs one replica per GPU, which cannot share host port(s) "
                f"{', '.join(published)} (allowed: none; reach the replicas through a proxy "
                f"service, or by the service's name {sname!r} from the others)",
            )
        replicas[sname] = []
        for device_id in device["device_ids"]:
            # A MIG device <gpu>:<mig> (per_gpu on a GPU in MIG mode): <service>-gpu<gpu>-mig<mig>.
            name = f"{sname}-gpu{device_id.replace(':', '-mig')}"
            if name in services:
                stack.problems.add(
                    f"app_stack_services.{sname}.per_gpu",
                    f"its replica on {'MIG device' if is_mig(device_id) else 'GPU'} {device_id} "
                    f"would be named {name!r}, as service {name!r} is: rename one of them",
                )
                continue
            replica = copy.deepcopy(svc)
            replica["reservations"]["devices"] = [dict(device, device_ids=[device_id])]
            replica.update(replica_of=sname, gpu_index=device_id if is_mig(device_id) else int(device_id))
            out[name] = replica
            replicas[sname].append(name)
    for svc in out.values():
        svc["depends_on"] = [name for dep in svc["depends_on"] for name in replicas.get(dep, [dep])]
    for volume in volumes.values():
        volume["mounted_by"] = [name for user in volume["mounted_by"] for name in replicas.get(user, [user])]
    return out, replicas


def _gpus_given(stack: _Stack, services: dict[str, dict[str, t.Any]]) -> None:
    """Which GPUs each service's containers get: ``gpus`` and ``gpu_count`` of every service.

    ``gpus``: the indexes of the host's GPUs (aistack_gpu.gpus) it gets, and its MIG devices as <gpu>:<mig>;
    where the host does not list its GPUs, the ids a list names as written, and nothing for a count. ``gpu_count``: how many GPUs one container gets
    (None for every GPU of a host whose GPUs are not listed). The pre-flight names these GPUs, the gate counts them.
    """
    host_gpus = stack.spec["host_gpus"]
    indexes = [gpu["index"] for gpu in host_gpus]
    for svc in services.values():
        device = (svc["reservations"].get("devices") or [{}])[0]
        if not device:
            svc["gpus"], svc["gpu_count"] = [], 0
        elif "device_ids" in device:
            found = [host_gpu(device_id, host_gpus) for device_id in device["device_ids"]]
            svc["gpus"] = [
                gpu[1]["index"]
                if gpu
                else gpu_label(device_id, host_gpus, stack.spec["mig_devices"])[0]
                if is_mig(device_id)
                else device_id
                for gpu, device_id in zip(found, device["device_ids"], strict=True)
            ]
            svc["gpu_count"] = len(found)
        elif device["count"] == "all":
            svc["gpus"], svc["gpu_count"] = indexes, len(indexes) if indexes else None
        else:
            svc["gpus"], svc["gpu_count"] = indexes[: device["count"]], device["count"]


def _gpu_gate(stack: _Stack, services: dict[str, dict[str, t.Any]]) -> dict[str, list[str]]:
    """The GPUs each running GPU service's containers must see, one entry each: its UUID, else GPU <id>.

    A UUID is what nvidia-smi -L names in the container (indexes start from 0 there; a MIG device's MIG-...
    under its GPU); where aistack_gpu does not list the host's GPUs, only their number counts, and a service with
    every GPU of such a host is left out.
    """
    uuids: dict[t.Any, str] = {gpu["index"]: gpu.get("uuid") or "" for gpu in stack.spec["host_gpus"]}
    uuids.update({f"{mig['gpu']}:{mig['index']}": mig.get("uuid") or "" for mig in stack.spec["mig_devices"]})
    gate = {}
    for sname, svc in services.items():
        if not stack.serves(svc) or not svc["gpu_count"]:
            continue
        entries = [
            gpu
            if str(gpu).startswith(("GPU-", "MIG-"))
            else uuids.get(gpu) or (f"MIG device {gpu}" if ":" in str(gpu) else f"GPU {gpu}")
            for gpu in svc["gpus"]
        ]
        gate[sname] = entries + [f"GPU {index}" for index in range(len(entries), svc["gpu_count"])]
    return gate


def _cdi_form(stack: _Stack, services: dict[str, dict[str, t.Any]]) -> None:
    """Where the host's containers get GPUs through CDI, ask for them by CDI device name (driver cdi).

    CDI where nvidia_toolkit generated a CDI specification (aistack_gpu.cdi_devices names its devices:
    nvidia_toolkit_runtime_mode cdi) and the engine injects CDI devices (Docker Engine 25 or later); the
    nvidia driver's device request (count, device_ids) everywhere else. A count N is the first N GPUs, as
    the nvidia driver gives them; a GPU named by UUID is asked for by its index, a MIG device as <gpu>:<mig>
    (nvidia-ctk's name for it). The nvidia driver gets a MIG device by its UUID (MIG-..., what
    NVIDIA_VISIBLE_DEVICES takes) where the host lists it.
    """
    cdi_devices = stack.spec.get("cdi_devices") or []
    if not str_list(cdi_devices):
        stack.problems.add("aistack_gpu.cdi_devices", f"must be a list of CDI device names (got {cdi_devices!r})")
        return
    if not cdi_devices or engine_major(stack.spec.get("engine_version")) < CDI_ENGINE:
        for svc in services.values():
            device = (svc["reservations"].get("devices") or [{}])[0]
            if device.get("device_ids"):
                device["device_ids"] = [
                    (host_mig(device_id, stack.spec["mig_devices"]) or {}).get("uuid") or device_id
                    if is_mig(device_id)
                    else device_id
                    for device_id in device["device_ids"]
                ]
        return
    for sname, svc in services.items():
        device = (svc["reservations"].get("devices") or [{}])[0]
        if not device:
            continue
        names = _cdi_names(device, stack.spec["host_gpus"], stack.spec["mig_devices"])
        # A GPU the host does not list is a problem of its own already (_gpus_on_host).
        missing = [name for name, listed in names if listed and name not in cdi_devices]
        if missing and stack.active(svc):
            stack.problems.add(
                f"app_stack_services.{svc.get('replica_of', sname)}.{_gpu_key(svc)}",
                f"{', '.join(missing)}: not a CDI device of this host (aistack_gpu.cdi_devices, "
                f"from nvidia_toolkit's CDI specification: {', '.join(cdi_devices)})",
            )
        svc["reservations"]["devices"] = [
            {"driver": "cdi", "device_ids": [name for name, _listed in names], "capabilities": ["gpu"]}
        ]


def _cdi_names(
    device: dict[str, t.Any], host_gpus: list[dict[str, t.Any]], migs: list[dict[str, t.Any]]
) -> list[tuple[str, bool]]:
    """The CDI device names of an nvidia device request, each with whether the host lists its GPU or MIG device."""
    if "count" in device:
        count = device["count"]
        # A count beyond the GPUs the host lists is a problem of its own already (_count_on_host).
        return (
            [(f"{CDI_KIND}=all", True)]
            if count == "all"
            else [(f"{CDI_KIND}={index}", index < len(host_gpus) or not host_gpus) for index in range(count)]
        )
    names = []
    for device_id in device["device_ids"]:
        if is_mig(device_id):
            mig = host_mig(device_id, migs)
            names.append(
                (
                    f"{CDI_KIND}={mig['gpu']}:{mig['index']}" if mig else f"{CDI_KIND}={device_id}",
                    mig is not None or not host_gpus,
                )
            )
            continue
        found = host_gpu(device_id, host_gpus)
        names.append((f"{CDI_KIND}={found[1]['index'] if found else device_id}", found is not None or not host_gpus))
    return names


def app_stack_secret_problems(secrets: t.Any, required: t.Any, patterns: t.Any) -> list[str]:
    """Problems with the secrets, naming them, never showing a value."""
    problems = Problems()
    secrets, required, patterns = plain(secrets), plain(required), plain(patterns)
    if not isinstance(secrets, dict):
        return ["app_stack_secrets: must be a dict of variable names to values"]
    if not str_list(required):
        return ["app_stack_required_secrets: must be a list of secret names"]
    compiled = []
    for pattern in patterns if isinstance(patterns, list) else [patterns]:
        try:
            compiled.append(re.compile(pattern))
        except (re.error, TypeError):
            problems.add("app_stack_secret_placeholders", f"{pattern!r} is not a regular expression")
    for name in required:
        if name not in secrets:
            problems.add("app_stack_secrets", f"required secret {name} is missing (app_stack_required_secrets)")
    for name, value in secrets.items():
        where = f"app_stack_secrets.{name}"
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            problems.add("app_stack_secrets", f"{name!r} is not a valid environment variable name")
            continue
        if value is None or isinstance(value, (dict, list, bool)):
            problems.add(where, "must be a string or a number")
            continue
        text = str(value)
        if "\n" in text or "\r" in text or "\0" in text or "'" in text:
            problems.add(where, "must not contain a newline, a NUL or a single quote (.env quotes values with ')")
        if text.strip() == "":
            problems.add(where, "is empty")
        elif any(p.search(text) for p in compiled):
            problems.add(where, "is a placeholder, not a secret: set the real value (for example from ansible-vault)")
    return list(problems)
