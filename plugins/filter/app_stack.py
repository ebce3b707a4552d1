# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the app_stack role: its data model, checked and turned into a compose file.

``app_stack_model`` takes the role's variables (services, volumes, presets,
defaults, the images app_image built, the *names* of the secrets) and returns
the normalized model plus every problem it found, each naming the variable.
``app_stack_compose`` turns a model without problems into the compose
document. ``app_stack_secret_problems`` checks secrets and returns problems
that name secrets but never show their values.

The model never holds a secret value: secrets reach containers only through
the .env file (``env_file``), so the compose file cannot leak them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
import typing as t

from ansible_collections.aistack.deploy.plugins.plugin_utils._input import Problems as _Problems, plain as _plain
from ansible_collections.aistack.deploy.plugins.plugin_utils._switch import RELEASE_LABEL, release_alias

SERVICE_KEYS = frozenset({
    "preset", "enabled", "target", "image", "command", "entrypoint", "environment", "env_file", "ports",
    "expose", "volumes", "depends_on", "healthcheck", "profiles", "restart", "resources", "gpu", "read_only",
    "tmpfs", "user", "cap_add", "cap_drop", "stop_grace_period", "stop_signal", "data_user", "labels",
    "devices", "shm_size", "working_dir", "init", "job", "rollout", "gpu_memory_mb",
})
VOLUME_KEYS = frozenset({"type", "path", "mode", "owner", "files"})
FILE_KEYS = frozenset({"src", "dest", "mode"})
HEALTHCHECK_KEYS = frozenset({"test", "interval", "timeout", "retries", "start_period", "start_interval"})
# The first Docker Engine that runs a healthcheck's start_interval (older ones refuse the compose file).
START_INTERVAL_ENGINE = 25
RESOURCE_KEYS = frozenset({"cpus", "memory", "memory_reservation", "pids"})

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Where the proxy preset mounts the configuration the nginx_proxy role writes.
PROXY_CONFIG_PATH = "/etc/aistack-proxy"
# The compose profile of one-off jobs: no `up` activates it, `docker compose run <job>` still runs the job.
JOB_PROFILE = "aistack-job"
# The PostgreSQL service's env_file, beside the release's .env: its password alone.
POSTGRES_ENV_FILE = "postgres.env"
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(us|ms|s|m|h))+$")
MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$")
MODE_RE = re.compile(r"^0?[0-7]{3,4}$")
OWNER_RE = re.compile(r"^[0-9]+:[0-9]+$")
RESTART_RE = re.compile(r"^(no|always|unless-stopped|on-failure(:[0-9]+)?)$")
PORT_RE = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:]+\]|[0-9]{1,3}(?:\.[0-9]{1,3}){3}):)?(?:(?P<host>[0-9]{1,5}):)?"
    r"(?P<container>[0-9]{1,5})(?:/(?P<proto>tcp|udp))?$")
CAPABILITY_RE = re.compile(r"^(ALL|[A-Z_]+)$")
SIGNAL_RE = re.compile(r"^SIG[A-Z0-9]+$")
ROLLOUTS = ("start-first", "stop-first")


def _origin(svc: dict[str, t.Any], where: str, key: str) -> str:
    """The variable a setting comes from: the service's (or its preset's) own, else the default app_stack_<key>."""
    return f"{where}.{key}" if key in svc else f"app_stack_{key}"


def _is_int(value: t.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str_list(value: t.Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _duration(value: t.Any) -> str | None:
    """A compose duration: 30s, 1m30s, or a number of seconds."""
    if _is_int(value) and value >= 0:
        return f"{value}s"
    if isinstance(value, str) and DURATION_RE.match(value):
        return value
    return None


def _seconds(duration: str) -> float:
    total = 0.0
    for number, _fraction, unit in re.findall(r"([0-9]+(\.[0-9]+)?)(us|ms|s|m|h)", duration):
        total += float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def _parse_mount(spec: t.Any) -> tuple[str, str, bool] | None:
    """'name:/path[:ro|rw]' or '/host/path:/path[:ro|rw]' -> (source, target, read_only)."""
    if not isinstance(spec, str):
        return None
    parts = spec.split(":")
    if len(parts) == 2:
        parts.append("rw")
    if len(parts) != 3 or parts[2] not in ("ro", "rw") or not parts[1].startswith("/") or not parts[0]:
        return None
    return parts[0], parts[1], parts[2] == "ro"


# Host directories the role must never chown or chmod as a volume.
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/run", "/sbin", "/sys",
               "/usr", "/var/lib/docker", "/var/lib/containerd", "/var/run", "/root", "/home", "/tmp", "/var",
               "/var/lib", "/opt", "/srv", "/mnt", "/media")


def _unsafe_data_path(path: str, root: t.Any) -> bool:
    """A system directory itself, anything under the engine's or the OS's own trees, or inside the app root."""
    norm = "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
    if ".." in norm.split("/") or norm == "/" or norm in SYSTEM_DIRS:
        return True
    if any(norm.startswith(prefix + "/") for prefix in
           ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/run", "/sbin", "/sys", "/usr",
            "/var/lib/docker", "/var/lib/containerd", "/var/run")):
        return True
    if isinstance(root, str) and root.startswith("/"):
        root_norm = "/" + "/".join(part for part in root.split("/") if part not in ("", "."))
        return norm == root_norm or norm.startswith(root_norm + "/")
    return False


def _entry(variable: str, kind: str, name: t.Any, spec: t.Any, keys: frozenset[str],
           problems: _Problems) -> dict[str, t.Any] | None:
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


def _strings(svc: dict[str, t.Any], key: str, where: str, problems: _Problems, what: str) -> list[str]:
    """A service setting that is a list of strings (empty when unset); a problem, and [], when it is not."""
    value = svc.get(key) or []
    if not _str_list(value):
        problems.add(f"{where}.{key}", f"must be a list of {what}")
        return []
    return value


def _merge(base: dict[str, t.Any], override: dict[str, t.Any]) -> dict[str, t.Any]:
    """Preset under the user's service: dicts merge one level deep, everything else replaces."""
    merged = _plain(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key in ("environment", "labels"):
            merged[key] = {**merged[key], **_plain(value)}
        else:
            merged[key] = _plain(value)
    return merged


def app_stack_model(spec: dict[str, t.Any]) -> dict[str, t.Any]:
    """Check the role's service and volume model and return it normalized.

    ``spec`` keys: name, data_root, env_file, services, volumes, presets, defaults (restart, stop_grace_period,
    read_only, tmpfs, cap_drop, no_new_privileges, log_driver, log_options), profiles, images (target -> image),
    env (every service with env_file), secret_names, gpu_present, gpu_free_mib (each GPU's free memory, for
    whether a GPU service can start first), engine_version (the host's Docker Engine, for healthchecks'
    start_interval; '' when unknown).
    """
    problems = _Problems()
    spec = _plain(spec) if isinstance(spec, Mapping) else {}
    name = spec.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.add("app_stack_name", f"must be lower-case letters, digits, '-' or '_' (got {name!r})")
    data_root = spec.get("data_root")
    if not isinstance(data_root, str) or not data_root.startswith("/") or data_root.rstrip("/") in ("", "/"):
        problems.add("app_stack_data_root", f"must be an absolute path below / (got {data_root!r})")
        data_root = "/nonexistent"
    elif _unsafe_data_path(data_root, spec.get("root")):
        problems.add("app_stack_data_root", f"{data_root!r} is a system directory or inside app_stack_root "
                                            "(data never lives with the releases)")
    defaults = spec.get("defaults") or {}
    presets = spec.get("presets") or {}
    images = spec.get("images")
    if images is not None and not isinstance(images, dict):
        problems.add("app_stack_images", "must be a dict of app targets to image references")
        images = {}
    secret_names = set(spec.get("secret_names") or [])
    active_profiles = spec.get("profiles") or []
    if not _str_list(active_profiles):
        problems.add("app_stack_profiles", "must be a list of profile names")
        active_profiles = []

    common_env = dict(spec.get("env") or {}) if isinstance(spec.get("env") or {}, dict) else spec.get("env")
    if not isinstance(common_env, dict):
        problems.add("app_stack_env", "must be a dict of variable names to values")
        common_env = {}
    for key, value in common_env.items():
        if not isinstance(key, str) or not ENV_NAME_RE.match(key):
            problems.add("app_stack_env", f"{key!r} is not a valid environment variable name")
        elif key in secret_names:
            problems.add("app_stack_env", f"{key} is also a secret in app_stack_secrets: secrets go only to .env")
        if isinstance(value, (dict, list)):
            problems.add(f"app_stack_env.{key}", "must be a string, number or boolean")

    services_in = spec.get("services") or {}
    if not isinstance(services_in, dict) or not services_in:
        problems.add("app_stack_services", "must name at least one service")
        services_in = {} if not isinstance(services_in, dict) else services_in
    # Which preset each enabled service starts from; presets add volumes and plain environment.
    chosen: dict[str, str] = {}
    for sname, sspec in services_in.items():
        if isinstance(sname, str) and isinstance(sspec, (dict, type(None))) and (sspec or {}).get("enabled", True) is not False:
            preset_name = (sspec or {}).get("preset", sname if sname in presets else "none")
            chosen[sname] = preset_name if preset_name in presets else "none"

    def runs(sname: str) -> bool:
        """Whether a chosen service runs with the active profiles (compose: any of its profiles)."""
        sspec = services_in.get(sname) or {}
        profiles = sspec.get("profiles", presets.get(chosen[sname], {}).get("profiles") or [])
        return not profiles or not isinstance(profiles, list) or bool(set(profiles) & set(active_profiles))
    proxy_runs = any(presets.get(preset_name, {}).get("_proxy") and runs(sname) for sname, preset_name in chosen.items())
    volumes_in = spec.get("volumes") or {}
    if not isinstance(volumes_in, dict):
        problems.add("app_stack_volumes", "must be a dict of volume names to settings")
        volumes_in = {}
    preset_volumes: dict[str, t.Any] = {}
    for sname, preset_name in chosen.items():
        for vname, vspec in (presets.get(preset_name, {}).get("_volumes") or {}).items():
            preset_volumes.setdefault(vname, vspec)
        for key, value in (presets.get(preset_name, {}).get("_env") or {}).items():
            # A secret of that name wins: a plain value in the compose file would override .env.
            # A service that does not run hands nothing on.
            if key not in secret_names and runs(sname):
                common_env.setdefault(key, str(value).replace("{service}", sname))
    volumes_in = {**preset_volumes, **volumes_in}
    volumes: dict[str, dict[str, t.Any]] = {}
    for vname, vspec in volumes_in.items():
        where = f"app_stack_volumes.{vname}"
        vspec = _entry("app_stack_volumes", "volume", vname, vspec, VOLUME_KEYS, problems)
        if vspec is None:
            continue
        vtype = vspec.get("type", "bind")
        if vtype not in ("bind", "named"):
            problems.add(f"{where}.type", f"must be bind or named (got {vtype!r})")
        path = vspec.get("path", f"{data_root.rstrip('/')}/{vname}")
        if vtype == "bind" and (not isinstance(path, str) or not path.startswith("/") or path.rstrip("/") == ""):
            problems.add(f"{where}.path", f"must be an absolute host path (got {path!r})")
        elif vtype == "bind" and _unsafe_data_path(path, spec.get("root")):
            problems.add(f"{where}.path", f"{path!r} is a system directory or inside app_stack_root: the role "
                                          "would change its owner and mode, or prune it with a release")
        mode = vspec.get("mode", "0750")
        if not isinstance(mode, str) or not MODE_RE.match(mode):
            problems.add(f"{where}.mode", f"must be an octal mode in quotes such as '0750' (got {mode!r})")
        owner = vspec.get("owner", "auto")
        owner_ok = isinstance(owner, str) and (owner in ("auto", "root") or bool(OWNER_RE.match(owner))
                                               or owner.startswith("service:"))
        if not owner_ok:
            problems.add(f"{where}.owner", f"must be auto, root, service:<name> or <uid>:<gid> (got {owner!r})")
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
        if vtype == "named" and files:
            problems.add(f"{where}.files", "only bind volumes take files")
        volumes[vname] = {
            "type": vtype,
            "path": path if vtype == "bind" else "",
            "docker_name": f"aistack-{name}-{vname}" if vtype == "named" else "",
            "mode": mode,
            "owner": owner,
            "files": [dict(item, dest=item.get("dest", str(item.get("src", "")).rstrip("/").rsplit("/", 1)[-1]))
                      for item in files if isinstance(item, dict)],
            "mounted_by": [],
        }

    services: dict[str, dict[str, t.Any]] = {}
    for sname, sspec in services_in.items():
        where = f"app_stack_services.{sname}"
        sspec = _entry("app_stack_services", "service", sname, sspec, SERVICE_KEYS, problems)
        if sspec is None:
            continue
        preset_name = sspec.get("preset", sname if sname in presets else "none")
        if preset_name != "none" and preset_name not in presets:
            problems.add(f"{where}.preset", f"unknown preset {preset_name!r} (known: {', '.join(sorted(presets))}, none)")
            preset_name = "none"
        preset = {k: v for k, v in presets.get(preset_name, {}).items() if not k.startswith("_")}
        merged = _merge(preset, {k: v for k, v in sspec.items() if k != "preset"})
        merged["preset"] = preset_name
        if merged.get("enabled", True) is False:
            continue
        if not isinstance(merged["enabled"] if "enabled" in merged else True, bool):
            problems.add(f"{where}.enabled", "must be true or false")
        if "depends_on" not in sspec:
            merged["depends_on"] = [dep for dep in presets.get(preset_name, {}).get("_depends_on") or []
                                    if dep in chosen and dep != sname]
        if proxy_runs and presets.get(preset_name, {}).get("_proxied") and "ports" not in sspec:
            # Behind the proxy, the proxy is the way in: no host port, so two releases can run side by side.
            merged["ports"] = []
        services[sname] = _service(sname, merged, where, problems, defaults, images, volumes, common_env,
                                   secret_names, spec)
        services[sname]["auto_depends_on"] = "depends_on" not in sspec

    # Cross-service checks: active services, dependencies, host ports, volume owners.
    def active(svc: dict[str, t.Any]) -> bool:
        return not svc["profiles"] or bool(set(svc["profiles"]) & set(active_profiles))

    used_ports: dict[tuple[str, str, str], str] = {}
    for sname, svc in services.items():
        where = f"app_stack_services.{sname}"
        if svc.pop("auto_depends_on"):
            # A preset's dependencies count where they run whenever the service does: with no
            # profile, with an active one, or with a profile of the service's own; never on a one-off job.
            svc["depends_on"] = [dep for dep in svc["depends_on"] if dep in services and not services[dep]["job"] and
                                 (not services[dep]["profiles"] or active(services[dep]) or
                                  bool(set(services[dep]["profiles"]) & set(svc["profiles"])))
                                 and (not active(svc) or active(services[dep]))]
        for dep in svc["depends_on"]:
            if dep == sname:
                problems.add(f"{where}.depends_on", "a service cannot depend on itself")
            elif dep not in services:
                problems.add(f"{where}.depends_on", f"unknown or disabled service {dep!r}")
            elif active(svc) and not active(services[dep]):
                problems.add(f"{where}.depends_on",
                             f"{dep!r} is in profiles {services[dep]['profiles']} that app_stack_profiles does not activate")
        if not active(svc) or svc["job"]:
            continue
        for port in svc["ports"]:
            match = PORT_RE.match(port)
            if match and match.group("host"):
                key = (match.group("ip") or "0.0.0.0", match.group("host"), match.group("proto") or "tcp")
                other = used_ports.get(key)
                wildcard = [s for (ip, host, proto), s in used_ports.items()
                            if host == key[1] and proto == key[2] and "0.0.0.0" in (ip, key[0])]
                if other or wildcard:
                    problems.add(f"{where}.ports", f"host port {key[1]}/{key[2]} is already published by "
                                                   f"service {other or wildcard[0]!r}")
                else:
                    used_ports[key] = sname
    for vname, volume in volumes.items():
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

    owners = []
    for volume in volumes.values():
        volume["owner_key"] = f"{volume['owner_image']}|{volume['owner_user']}" if volume["owner_image"] else ""
        if volume["owner_key"] and not volume["owner_fixed"] and \
                volume["owner_key"] not in [o["key"] for o in owners]:
            owners.append({"key": volume["owner_key"], "image": volume["owner_image"], "user": volume["owner_user"]})
    _job_dependents(services, problems)
    explicit = {sname for sname, sspec in services_in.items() if isinstance(sspec, dict) and "rollout" in sspec}
    rollout_notes = _rollouts(services, explicit, active, presets, proxy_runs, _gpu_free(spec, problems), problems)

    def serves(svc: dict[str, t.Any]) -> bool:
        """A long-running service that runs with the active profiles (jobs run once, before them)."""
        return active(svc) and not svc["job"]

    # The PostgreSQL service whose password and URL go to .env: a postgres preset that runs.
    postgres = [s for s in sorted(services) if services[s]["preset"] == "postgres" and serves(services[s])]
    proxy = _proxy(services, presets, serves, problems)
    grace = max([_seconds(svc["stop_grace_period"]) for svc in services.values() if not svc["job"]] or [10.0])
    return {
        "name": name,
        "services": services,
        "volumes": volumes,
        "owners": owners,
        "postgres_service": postgres[0] if postgres else "",
        "proxy": proxy,
        "profiles": active_profiles,
        "active_services": sorted(s for s, svc in services.items() if serves(svc)),
        "jobs": sorted(s for s, svc in services.items() if active(svc) and svc["job"]),
        "images": sorted({svc["image"] for svc in services.values() if active(svc) and svc["image"]}),
        "max_stop_grace_seconds": int(grace + 0.999),
        # Services whose new release starts beside the old one, behind the proxy (deploy.yml), and why
        # others a preset would start first are replaced in place.
        "start_first": sorted(s for s, svc in services.items() if serves(svc) and svc["rollout"] == "start-first"),
        "rollout_notes": rollout_notes,
        "problems": list(problems),
    }


def _proxy(services: dict[str, dict[str, t.Any]], presets: dict[str, t.Any], active: t.Callable[[dict[str, t.Any]], bool],
           problems: _Problems) -> dict[str, t.Any]:
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
        problems.add(f"app_stack_services.{sname}.volumes", f"the proxy needs a bind volume mounted at "
                                                            f"{PROXY_CONFIG_PATH} (its configuration)")
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


def _service(sname: str, svc: dict[str, t.Any], where: str, problems: _Problems, defaults: dict[str, t.Any],
             images: dict[str, str], volumes: dict[str, dict[str, t.Any]], common_env: dict[str, t.Any],
             secret_names: set[str], spec: dict[str, t.Any]) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {"preset": svc["preset"]}
    target, image = svc.get("target"), svc.get("image")
    if target and image:
        problems.add(where, "set target (an image app_image built) or image, not both")
    if target:
        # images is None when site.yml checks the input before app_image has built anything.
        if images is not None and target not in images:
            problems.add(f"{where}.target", f"{target!r} is not a target app_image built (built: "
                                            f"{', '.join(sorted(images)) or 'none'}; see app_stack_images)")
        out["image"] = (images or {}).get(target, f"<{target}>")
    elif isinstance(image, str) and image:
        out["image"] = image
    else:
        problems.add(where, "needs target (an app_image target) or image")
        out["image"] = ""
    out["target"] = target or ""

    for key in ("command", "entrypoint"):
        value = svc.get(key)
        if value is not None and not (isinstance(value, str) or _str_list(value)):
            problems.add(f"{where}.{key}", "must be a string or a list of strings")
        out[key] = value

    env_file = svc.get("env_file", False)
    if not isinstance(env_file, bool):
        problems.add(f"{where}.env_file", "must be true or false")
    out["env_file"] = env_file is True
    environment = svc.get("environment") or {}
    if not isinstance(environment, dict):
        problems.add(f"{where}.environment", "must be a dict of variable names to values")
        environment = {}
    merged_env: dict[str, str] = {}
    if out["env_file"] and target:
        merged_env.update({k: _env_value(v) for k, v in common_env.items() if isinstance(k, str)})
    for key, value in environment.items():
        if not isinstance(key, str) or not ENV_NAME_RE.match(key):
            problems.add(f"{where}.environment", f"{key!r} is not a valid environment variable name")
            continue
        if key in secret_names:
            problems.add(f"{where}.environment", f"{key} is a secret in app_stack_secrets: secrets go only to .env")
        if isinstance(value, (dict, list)):
            problems.add(f"{where}.environment.{key}", "must be a string, number or boolean")
            continue
        merged_env[key] = _env_value(value)
    out["environment"] = merged_env

    ports = _strings(svc, "ports", where, problems, "strings such as '8000:8000' or '127.0.0.1:8000:8000'")
    for port in ports:
        match = PORT_RE.match(port)
        numbers = [int(n) for n in (match.group("host"), match.group("container")) if n] if match else []
        if not match or any(n < 1 or n > 65535 for n in numbers):
            problems.add(f"{where}.ports", f"{port!r} is not [ip:]host:container[/tcp|udp] with ports 1-65535")
    out["ports"] = ports
    expose = svc.get("expose") or []
    if not isinstance(expose, list) or not all(_is_int(p) or (isinstance(p, str) and p.isdigit()) for p in expose):
        problems.add(f"{where}.expose", "must be a list of port numbers")
        expose = []
    out["expose"] = [str(p) for p in expose]

    mounts = []
    for index, mount in enumerate(svc.get("volumes") or []):
        parsed = _parse_mount(mount)
        if parsed is None:
            problems.add(f"{where}.volumes[{index}]", f"{mount!r} is not 'volume:/container/path[:ro]' "
                                                      "or '/host/path:/container/path[:ro]'")
            continue
        source, target_path, read_only = parsed
        if source.startswith("/"):
            mounts.append({"type": "bind", "source": source, "target": target_path, "read_only": read_only})
        elif source in volumes:
            volume = volumes[source]
            volume["mounted_by"].append(sname)
            if volume["type"] == "bind":
                mounts.append({"type": "bind", "source": volume["path"], "target": target_path, "read_only": read_only})
            else:
                mounts.append({"type": "volume", "source": source, "target": target_path, "read_only": read_only})
        else:
            problems.add(f"{where}.volumes[{index}]", f"volume {source!r} is not declared in app_stack_volumes")
    out["mounts"] = mounts

    depends_on = _strings(svc, "depends_on", where, problems, "service names")
    out["depends_on"] = depends_on

    healthcheck = svc.get("healthcheck", "image")
    if healthcheck == "image":
        out["healthcheck"] = None
    elif isinstance(healthcheck, dict):
        for key in sorted(set(healthcheck) - HEALTHCHECK_KEYS):
            problems.add(f"{where}.healthcheck", f"unknown key {key!r} (known: {', '.join(sorted(HEALTHCHECK_KEYS))})")
        test = healthcheck.get("test")
        if not (_str_list(test) and test and test[0] in ("CMD", "CMD-SHELL")) and not (isinstance(test, str) and test):
            problems.add(f"{where}.healthcheck.test", "must be a shell command string or a list starting with CMD or CMD-SHELL")
        check: dict[str, t.Any] = {"test": test}
        for key in ("interval", "timeout", "start_period", "start_interval"):
            if key in healthcheck:
                value = _duration(healthcheck[key])
                if value is None:
                    problems.add(f"{where}.healthcheck.{key}", f"must be a duration such as 10s (got {healthcheck[key]!r})")
                check[key] = value
        if "retries" in healthcheck:
            if not _is_int(healthcheck["retries"]) or healthcheck["retries"] < 1:
                problems.add(f"{where}.healthcheck.retries", "must be a whole number of 1 or more")
            check["retries"] = healthcheck["retries"]
        out["healthcheck"] = _start_interval(check, spec.get("engine_version"))
    else:
        problems.add(f"{where}.healthcheck", "must be 'image' (the image's own HEALTHCHECK) or a dict with test; "
                                             "every service needs a healthcheck for the health gate")
        out["healthcheck"] = None

    profiles = _strings(svc, "profiles", where, problems, "profile names")
    out["profiles"] = profiles

    restart = svc.get("restart", defaults.get("restart", "unless-stopped"))
    if restart is False:  # an unquoted `no` in YAML
        restart = "no"
    if not isinstance(restart, str) or not RESTART_RE.match(restart):
        problems.add(_origin(svc, where, "restart"), f"must be no, always, unless-stopped or on-failure[:N] (got {restart!r})")
    out["restart"] = restart

    resources = svc.get("resources") or {}
    limits: dict[str, t.Any] = {}
    reservations: dict[str, t.Any] = {}
    if not isinstance(resources, dict):
        problems.add(f"{where}.resources", "must be a dict (cpus, memory, memory_reservation, pids)")
        resources = {}
    for key in sorted(set(resources) - RESOURCE_KEYS):
        problems.add(f"{where}.resources", f"unknown key {key!r} (known: {', '.join(sorted(RESOURCE_KEYS))})")
    if "cpus" in resources:
        try:
            cpus = float(resources["cpus"])
            if cpus <= 0 or isinstance(resources["cpus"], bool):
                raise ValueError
            limits["cpus"] = f"{cpus:g}"
        except (TypeError, ValueError):
            problems.add(f"{where}.resources.cpus", f"must be a positive number of CPUs (got {resources['cpus']!r})")
    for key, target_dict, target_key in (("memory", limits, "memory"),
                                         ("memory_reservation", reservations, "memory")):
        if key in resources:
            value = resources[key]
            if (_is_int(value) and value > 0) or (isinstance(value, str) and MEMORY_RE.match(value)):
                target_dict[target_key] = str(value)
            else:
                problems.add(f"{where}.resources.{key}", f"must be a size such as 512m or 2g (got {value!r})")
    if "pids" in resources:
        if _is_int(resources["pids"]) and resources["pids"] > 0:
            limits["pids"] = resources["pids"]
        else:
            problems.add(f"{where}.resources.pids", "must be a whole number of 1 or more")

    gpu = svc.get("gpu", False)
    if not (isinstance(gpu, bool) or gpu == "auto" or (_is_int(gpu) and gpu > 0)):
        problems.add(f"{where}.gpu", f"must be true, false, auto or a number of GPUs (got {gpu!r})")
        gpu = False
    if (gpu is True or _is_int(gpu)) and not spec.get("gpu_present"):
        problems.add(f"{where}.gpu", "asks for a GPU but this host has none (aistack_gpu.present is false); "
                                     "use gpu: auto to reserve one only where present")
    if gpu and spec.get("gpu_present"):
        reservations["devices"] = [{"driver": "nvidia", "count": gpu if _is_int(gpu) else "all",
                                    "capabilities": ["gpu"]}]
    out["limits"], out["reservations"] = limits, reservations
    # Checked on every host; it counts only where the service gets a GPU (gpu: auto on a CPU host does not).
    need = _gpu_memory(svc, gpu, where, problems)
    out["gpu_memory_mb"] = need if reservations.get("devices") else None

    for key in ("read_only", "init"):
        value = svc.get(key, defaults.get(key, False))
        if not isinstance(value, bool):
            problems.add(_origin(svc, where, key), "must be true or false")
        out[key] = value is True
    tmpfs = svc.get("tmpfs", defaults.get("tmpfs", []))
    if not _str_list(tmpfs) or not all(p.startswith("/") for p in tmpfs):
        problems.add(_origin(svc, where, "tmpfs"), "must be a list of absolute container paths")
        tmpfs = []
    out["tmpfs"] = tmpfs
    for key in ("cap_add", "cap_drop"):
        value = svc.get(key, defaults.get(key, []))
        if not _str_list(value) or not all(CAPABILITY_RE.match(c) for c in value):
            problems.add(_origin(svc, where, key), "must be a list of capability names such as NET_BIND_SERVICE")
            value = []
        out[key] = value
    for key in ("user", "working_dir", "shm_size"):
        value = svc.get(key)
        if value is not None and not isinstance(value, str):
            problems.add(f"{where}.{key}", "must be a string")
        out[key] = value
    data_user = svc.get("data_user", "")
    if not isinstance(data_user, (str, int)) or isinstance(data_user, bool):
        problems.add(f"{where}.data_user", "must be a user name or number")
        data_user = ""
    out["data_user"] = str(data_user) if data_user != "" else (out["user"] or "")
    grace = _duration(svc.get("stop_grace_period", defaults.get("stop_grace_period", "30s")))
    if grace is None:
        problems.add(_origin(svc, where, "stop_grace_period"), "must be a duration such as 30s or a number of seconds")
        grace = "30s"
    out["stop_grace_period"] = grace
    signal = svc.get("stop_signal")
    if signal is not None and (not isinstance(signal, str) or not SIGNAL_RE.match(signal)):
        problems.add(f"{where}.stop_signal", f"must be a signal name such as SIGTERM (got {signal!r})")
    out["stop_signal"] = signal
    labels = svc.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) for k in labels):
        problems.add(f"{where}.labels", "must be a dict of label names to values")
        labels = {}
    out["labels"] = {k: str(v) for k, v in labels.items()}
    devices = svc.get("devices") or []
    if not _str_list(devices) or not all(d.startswith("/dev/") for d in devices):
        problems.add(f"{where}.devices", "must be a list of host devices such as /dev/video0[:/dev/video0[:rwm]]")
        devices = []
    out["devices"] = devices
    rollout = svc.get("rollout", "stop-first")
    if rollout not in ROLLOUTS:
        problems.add(f"{where}.rollout", f"must be start-first or stop-first (got {rollout!r})")
        rollout = "stop-first"
    out["rollout"] = rollout
    _job(svc, out, where, problems)
    return out


def _start_interval(check: dict[str, t.Any], engine_version: t.Any) -> dict[str, t.Any]:
    """A healthcheck for the host's engine: start_interval where it runs (Docker Engine 25 or later).

    Probes every start_interval while the container starts (the gate sees it healthy at once), every
    interval after. An older or unknown engine gets no start_interval, and an interval no longer than
    3 x start_interval, so that the gate still sees a start within seconds.
    """
    if not check.get("start_interval"):
        return check
    major = re.match(r"^\s*v?([0-9]+)\.", str(engine_version or ""))
    if major and int(major.group(1)) >= START_INTERVAL_ENGINE:
        return check
    fast = max(_seconds(check["start_interval"]) * 3, 1.0)
    out = {k: v for k, v in check.items() if k != "start_interval"}
    if "interval" not in check or _seconds(check["interval"] or "0s") > fast:
        out["interval"] = f"{fast:g}s"
    return out


def _rollouts(services: dict[str, dict[str, t.Any]], explicit: set[str], active: t.Callable[[dict[str, t.Any]], bool],
              presets: dict[str, t.Any], proxy_runs: bool, gpu_free: Sequence[int], problems: _Problems) -> dict[str, str]:
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
        dependents = sorted(d for d, dsvc in services.items() if active(dsvc) and not dsvc["job"]
                            and dsvc["rollout"] == "stop-first" and sname in dsvc["depends_on"]
                            and not presets.get(dsvc["preset"], {}).get("_proxy"))
        if not dependents:
            continue
        why = (f"stop-first service(s) {', '.join(dependents)} depend on it (their `up` would replace it in place; "
               "make them start-first too, or drop the dependency)")
        if sname in explicit:
            problems.add(f"app_stack_services.{sname}.rollout", f"start-first is not possible: {why}")
        else:
            svc["rollout"] = "stop-first"
            notes[sname] = why
    return notes


def _rollout(sname: str, svc: dict[str, t.Any], explicit: bool, proxy_runs: bool, gpu_free: Sequence[int],
             problems: _Problems) -> str:
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
        problems.add(where, f"start-first is not possible: {'; '.join(blockers)} (allowed: stop-first, or no host "
                            "ports and a proxy service such as nginx)")
    elif svc["reservations"].get("devices"):
        # Two containers on one GPU fit only where its free memory holds a second one.
        room = _gpu_room(svc, gpu_free)
        if room and explicit and svc.get("gpu_memory_mb") and gpu_free:
            problems.add(where, f"start-first is not possible: {room} (allowed: stop-first, or a smaller gpu_memory_mb "
                                "where that is what the service needs)")
        elif room and not explicit:
            blockers.append(room)
    if blockers:
        svc["rollout"] = "stop-first"
        return "; ".join(blockers)
    return ""


def _gpu_free(spec: Mapping[str, t.Any], problems: _Problems) -> list[int]:
    """Each GPU's free memory in MiB (aistack_gpu.memory_free_mib); [] when unknown."""
    free = spec.get("gpu_free_mib") or []
    if not isinstance(free, list) or not all(_is_int(value) and value >= 0 for value in free):
        problems.add("aistack_gpu.memory_free_mib", f"must be a list of MiB, one per GPU (got {free!r})")
        return []
    return [int(value) for value in free]


def _gpu_memory(svc: dict[str, t.Any], gpu: t.Any, where: str, problems: _Problems) -> int | None:
    """The GPU memory (MiB) one of the service's containers needs, when it says (gpu_memory_mb)."""
    need = svc.get("gpu_memory_mb")
    if need is None:
        return None
    if not (_is_int(need) and need > 0):
        problems.add(f"{where}.gpu_memory_mb", f"must be a whole number of MiB, 1 or more (got {need!r})")
        return None
    if not gpu:
        problems.add(f"{where}.gpu_memory_mb", f"is what one container needs of a GPU: set gpu too (got gpu: {gpu!r})")
        return None
    return int(need)


def _gpu_room(svc: dict[str, t.Any], gpu_free: Sequence[int]) -> str:
    """Why a second container of a GPU service may not fit beside the running one ("" when it fits).

    gpu_free: each GPU's free memory (MiB) as nvidia_toolkit read it this run, with the running release's
    containers on it; the engine gives a `count: N` request the first N GPUs, `all` every one.
    """
    need = svc.get("gpu_memory_mb")
    if not need:
        return ("it uses a GPU and declares no gpu_memory_mb (what one container needs), so two may not fit "
                "(set gpu_memory_mb, or rollout: start-first where two fit)")
    if not gpu_free:
        return "it uses a GPU whose free memory is not known (aistack_gpu.memory_free_mib, read by nvidia_toolkit)"
    count = svc["reservations"]["devices"][0]["count"]
    used = list(gpu_free) if count == "all" else list(gpu_free)[:count]
    if len(used) < (len(gpu_free) if count == "all" else count):
        return f"it asks for {count} GPU(s) and the host has {len(gpu_free)}"
    short = [(free, index) for index, free in enumerate(used) if free < need]
    if short:
        free, index = min(short)
        return (f"GPU {index} has {free} MiB free and a second container needs {need} MiB (gpu_memory_mb): "
                "two do not fit")
    return ""


def _job(svc: dict[str, t.Any], out: dict[str, t.Any], where: str, problems: _Problems) -> None:
    """A one-off job (job: true, e.g. a migration): a command, no ports or healthcheck, never restarted."""
    job = svc.get("job", False)
    if not isinstance(job, bool):
        problems.add(f"{where}.job", f"must be true or false (got {job!r})")
    out["job"] = job is True
    if not out["job"]:
        return
    if not svc.get("command"):
        problems.add(f"{where}.command", f"a job needs the command it runs once, such as [alembic, upgrade, head] "
                                         f"(got {svc.get('command')!r})")
    if svc.get("ports"):
        problems.add(f"{where}.ports", f"a job publishes no ports (got {svc['ports']!r}; allowed: none, or [] "
                                       "over a preset's)")
    if "healthcheck" in svc:
        problems.add(f"{where}.healthcheck", f"a job has no healthcheck (got {svc['healthcheck']!r}; allowed: none, "
                                             "the one-off container runs with the image's own disabled)")
    gpu = svc.get("gpu", False)
    if gpu is True or _is_int(gpu):
        problems.add(f"{where}.gpu", f"a job must run on hosts without a GPU too (got {gpu!r}; allowed: false, "
                                     "or auto for one only where present)")
    restart = svc.get("restart", "no")
    if restart is not False and restart != "no":
        problems.add(f"{where}.restart", f"a job runs once: must be no or left out (got {restart!r})")
    out["restart"] = "no"
    out["healthcheck"] = {"disable": True}


def _job_dependents(services: dict[str, dict[str, t.Any]], problems: _Problems) -> None:
    """No service waits for a job: a job never becomes healthy, the deploy runs it before the services start."""
    for sname, svc in services.items():
        for dep in svc["depends_on"]:
            if dep in services and services[dep]["job"]:
                problems.add(f"app_stack_services.{sname}.depends_on",
                             f"{dep!r} is a job, run once before the services start: no service can wait for it "
                             f"(got {svc['depends_on']!r}; allowed: services without job: true)")


def _auto_owner(mounted_by: list[str], services: dict[str, dict[str, t.Any]]) -> str:
    """The service that owns a volume with owner auto: the first long-running one that mounts it, else a job."""
    serving = [s for s in mounted_by if not services[s]["job"]]
    return (serving or mounted_by or [""])[0]


def _env_value(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def app_stack_compose(model: dict[str, t.Any], defaults: dict[str, t.Any], env_file: str) -> dict[str, t.Any]:
    """The compose document of a model without problems (keys in compose's usual order)."""
    model, defaults = _plain(model), _plain(defaults)
    services: dict[str, t.Any] = {}
    for sname, svc in model["services"].items():
        out: dict[str, t.Any] = {"image": svc["image"]}
        for key in ("command", "entrypoint", "user", "working_dir", "shm_size", "stop_signal"):
            if svc.get(key) is not None:
                out[key] = svc[key]
        # A job is only in JOB_PROFILE: no `up` starts it (not even with its own profiles active), `run` does.
        profiles = [JOB_PROFILE] if svc.get("job") else svc["profiles"]
        if profiles:
            out["profiles"] = profiles
        out["pull_policy"] = "never" if defaults.get("pull_policy", "never") == "never" else defaults["pull_policy"]
        out["restart"] = svc["restart"]
        out["stop_grace_period"] = svc["stop_grace_period"]
        if svc["init"]:
            out["init"] = True
        if svc["env_file"]:
            # PostgreSQL reads only its password (postgres.env beside .env): a changed app secret leaves it running.
            out["env_file"] = [posixpath.join(posixpath.dirname(env_file), POSTGRES_ENV_FILE)
                               if sname == model.get("postgres_service") else env_file]
        if svc["environment"]:
            out["environment"] = dict(sorted(svc["environment"].items()))
        if svc["ports"]:
            out["ports"] = svc["ports"]
        if svc["expose"]:
            out["expose"] = svc["expose"]
        if svc["mounts"]:
            out["volumes"] = [
                dict({"type": m["type"], "source": m["source"], "target": m["target"]},
                     **({"read_only": True} if m["read_only"] else {}),
                     **({"bind": {"create_host_path": False}} if m["type"] == "bind" else {}))
                for m in svc["mounts"]]
        if svc["tmpfs"]:
            out["tmpfs"] = list(svc["tmpfs"])
        if svc["devices"]:
            out["devices"] = svc["devices"]
        if svc["depends_on"]:
            out["depends_on"] = {dep: {"condition": "service_healthy", "restart": True} for dep in svc["depends_on"]}
        if svc["healthcheck"]:
            out["healthcheck"] = svc["healthcheck"]
        out["read_only"] = svc["read_only"]
        security_opt = ["no-new-privileges:true"] if defaults.get("no_new_privileges", True) else []
        if security_opt:
            out["security_opt"] = security_opt
        if svc["cap_drop"]:
            out["cap_drop"] = list(svc["cap_drop"])
        if svc["cap_add"]:
            out["cap_add"] = list(svc["cap_add"])
        deploy: dict[str, t.Any] = {}
        if svc["limits"]:
            deploy.setdefault("resources", {})["limits"] = svc["limits"]
        if svc["reservations"]:
            deploy.setdefault("resources", {})["reservations"] = svc["reservations"]
        if deploy:
            out["deploy"] = deploy
        out["logging"] = {"driver": defaults.get("log_driver", "json-file"),
                          "options": {k: str(v) for k, v in (defaults.get("log_options") or {}).items()}}
        if not out["logging"]["options"]:
            del out["logging"]["options"]
        labels = dict(svc["labels"])
        labels["io.aistack.deploy.app"] = model["name"]
        if svc.get("rollout") == "start-first" and not svc.get("job"):
            # The proxy reaches this release's containers by this alias (targets.conf), so the next release's
            # can start beside them and pass the gate before they get a request.
            release = str(defaults.get("release", ""))
            labels[RELEASE_LABEL] = release
            out["networks"] = {"default": {"aliases": [release_alias(sname, release)]}}
        out["labels"] = dict(sorted(labels.items()))
        services[sname] = out
    compose: dict[str, t.Any] = {"name": model["name"], "services": services}
    named = {vname: {"name": v["docker_name"], "external": True}
             for vname, v in model["volumes"].items() if v["type"] == "named"}
    if named:
        compose["volumes"] = named
    return compose


def app_stack_secret_problems(secrets: t.Any, required: t.Any, patterns: t.Any) -> list[str]:
    """Problems with the secrets, naming them, never showing a value."""
    problems = _Problems()
    secrets, required, patterns = _plain(secrets), _plain(required), _plain(patterns)
    if not isinstance(secrets, dict):
        return ["app_stack_secrets: must be a dict of variable names to values"]
    if not _str_list(required):
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


class FilterModule:
    """aistack.deploy filters of the app_stack role."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "app_stack_model": app_stack_model,
            "app_stack_compose": app_stack_compose,
            "app_stack_secret_problems": app_stack_secret_problems,
        }
