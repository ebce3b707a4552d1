# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One service of the app_stack model, checked and normalized (private, not a public API).

``service_settings`` takes a service's settings (its preset's merged under the
user's) and returns what the model holds of it: the image, environment, ports,
mounts, healthcheck, restart policy, resources and GPU, security settings and
rollout. Every problem names the variable as the user wrote it. The helpers
and patterns here are shared by the rest of the model (_app_stack_model.py)
and the compose document (_app_stack_compose.py).
"""

from __future__ import annotations

import json
import re
import typing as t

from ansible_collections.aistack.deploy.plugins.plugin_utils._input import Problems

SERVICE_KEYS = frozenset(
    {
        "preset",
        "enabled",
        "target",
        "image",
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "ports",
        "expose",
        "volumes",
        "depends_on",
        "healthcheck",
        "profiles",
        "restart",
        "resources",
        "gpu",
        "read_only",
        "tmpfs",
        "user",
        "cap_add",
        "cap_drop",
        "stop_grace_period",
        "stop_signal",
        "data_user",
        "labels",
        "devices",
        "shm_size",
        "working_dir",
        "init",
        "job",
        "rollout",
        "gpu_memory_mb",
        "per_gpu",
    }
)
HEALTHCHECK_KEYS = frozenset({"test", "interval", "timeout", "retries", "start_period", "start_interval"})
# The first Docker Engine that runs a healthcheck's start_interval (older ones refuse the compose file).
START_INTERVAL_ENGINE = 25
RESOURCE_KEYS = frozenset({"cpus", "memory", "memory_reservation", "pids"})

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(us|ms|s|m|h))+$")
MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$")
RESTART_RE = re.compile(r"^(no|always|unless-stopped|on-failure(:[0-9]+)?)$")
PORT_RE = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:]+\]|[0-9]{1,3}(?:\.[0-9]{1,3}){3}):)?(?:(?P<host>[0-9]{1,5}):)?"
    r"(?P<container>[0-9]{1,5})(?:/(?P<proto>tcp|udp))?$"
)
CAPABILITY_RE = re.compile(r"^(ALL|[A-Z_]+)$")
SIGNAL_RE = re.compile(r"^SIG[A-Z0-9]+$")
# A GPU's UUID as nvidia-smi lists it (aistack_gpu.gpus[].uuid): GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45.
GPU_UUID_RE = re.compile(r"^GPU-[0-9a-fA-F][0-9a-fA-F-]*$")
# A MIG device as aistack_gpu.mig_devices lists it: its UUID (nvidia-smi -L: MIG-<uuid> from R470 on,
# MIG-GPU-<the GPU's uuid>/<GPU instance>/<compute instance> before), or "<GPU index>:<MIG device index>", the
# name nvidia-ctk gives its CDI device (nvidia.com/gpu=0:1).
MIG_UUID_RE = re.compile(r"^MIG-[0-9a-zA-Z][0-9a-zA-Z/-]*$")
MIG_INDEX_RE = re.compile(r"^([0-9]+):([0-9]+)$")
# YAML 1.1 (PyYAML, and so Ansible) reads digits joined by colons as one number in base 60: an unquoted 1:0 is
# 60, 2:1 is 121, 1:0:0 is 3600. Its first digit is 1-9, so every such number is 60 or more (0:1 stays the text
# "0:1"). A GPU index or count of 60 or more is refused for that: no host has so many GPUs, and taking it would
# give a service GPU 60, or 60 GPUs, for the MIG device its user meant.
BASE60 = 60
ROLLOUTS = ("start-first", "stop-first")


def is_int(value: t.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def str_list(value: t.Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def duration(value: t.Any) -> str | None:
    """A compose duration: 30s, 1m30s, or a number of seconds."""
    if is_int(value) and value >= 0:
        return f"{value}s"
    if isinstance(value, str) and DURATION_RE.match(value):
        return value
    return None


def seconds(text: str) -> float:
    """The seconds of a compose duration such as 1m30s."""
    total = 0.0
    for number, _fraction, unit in re.findall(r"([0-9]+(\.[0-9]+)?)(us|ms|s|m|h)", text):
        total += float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def env_value(value: t.Any) -> str:
    """An environment variable's value as compose writes it (true/false for a boolean, '' for none)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _origin(svc: dict[str, t.Any], where: str, key: str) -> str:
    """The variable a setting comes from: the service's (or its preset's) own, else the default app_stack_<key>."""
    return f"{where}.{key}" if key in svc else f"app_stack_{key}"


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


def _strings(svc: dict[str, t.Any], key: str, where: str, problems: Problems, what: str) -> list[str]:
    """A service setting that is a list of strings (empty when unset); a problem, and [], when it is not."""
    value = svc.get(key) or []
    if not str_list(value):
        problems.add(f"{where}.{key}", f"must be a list of {what}")
        return []
    return value


def service_settings(
    sname: str,
    svc: dict[str, t.Any],
    where: str,
    problems: Problems,
    defaults: dict[str, t.Any],
    images: dict[str, str] | None,
    volumes: dict[str, dict[str, t.Any]],
    common_env: dict[str, t.Any],
    secret_names: set[str],
    spec: dict[str, t.Any],
) -> dict[str, t.Any]:
    """One enabled service, checked and normalized: what the model holds of it.

    ``svc`` is the service's settings over its preset's (``preset`` names the preset), ``where`` its variable
    (app_stack_services.<name>), ``defaults`` the role-wide defaults, ``images`` the targets app_image built
    (None before it built any), ``volumes`` the model's volumes (each records the services that mount it),
    ``common_env`` the environment of every service with env_file, ``spec`` the model's input (gpu_present,
    host_gpus, engine_version).
    """
    out: dict[str, t.Any] = {"preset": svc["preset"]}
    _image(svc, out, where, images, problems)
    for key in ("command", "entrypoint"):
        value = svc.get(key)
        if value is not None and not (isinstance(value, str) or str_list(value)):
            problems.add(f"{where}.{key}", "must be a string or a list of strings")
        out[key] = value
    _environment(svc, out, where, common_env, secret_names, problems)
    _ports(svc, out, where, problems)
    out["mounts"] = _mounts(sname, svc, where, volumes, problems)
    out["depends_on"] = _strings(svc, "depends_on", where, problems, "service names")
    out["healthcheck"] = _healthcheck(
        svc, where, spec.get("engine_version"), defaults.get("health_start_interval"), problems
    )
    out["profiles"] = _strings(svc, "profiles", where, problems, "profile names")
    restart = svc.get("restart", defaults.get("restart", "unless-stopped"))
    if restart is False:  # an unquoted `no` in YAML
        restart = "no"
    if not isinstance(restart, str) or not RESTART_RE.match(restart):
        problems.add(
            _origin(svc, where, "restart"), f"must be no, always, unless-stopped or on-failure[:N] (got {restart!r})"
        )
    out["restart"] = restart
    _resources(svc, out, where, spec, problems)
    _security(svc, out, where, defaults, problems)
    _process(svc, out, where, defaults, problems)
    _labels_and_devices(svc, out, where, problems)
    rollout = svc.get("rollout", "stop-first")
    if rollout not in ROLLOUTS:
        problems.add(f"{where}.rollout", f"must be start-first or stop-first (got {rollout!r})")
        rollout = "stop-first"
    out["rollout"] = rollout
    job(svc, out, where, problems)
    return out


def _image(
    svc: dict[str, t.Any], out: dict[str, t.Any], where: str, images: dict[str, str] | None, problems: Problems
) -> None:
    """The service's image: the one app_image built for its target, or an image reference; not both."""
    target, image = svc.get("target"), svc.get("image")
    if target and image:
        problems.add(where, "set target (an image app_image built) or image, not both")
    if target:
        # images is None when site.yml checks the input before app_image has built anything.
        if images is not None and target not in images:
            problems.add(
                f"{where}.target",
                f"{target!r} is not a target app_image built (built: "
                f"{', '.join(sorted(images)) or 'none'}; see app_stack_images)",
            )
        out["image"] = (images or {}).get(target, f"<{target}>")
    elif isinstance(image, str) and image:
        out["image"] = image
    else:
        problems.add(where, "needs target (an app_image target) or image")
        out["image"] = ""
    out["target"] = target or ""


def _environment(
    svc: dict[str, t.Any],
    out: dict[str, t.Any],
    where: str,
    common_env: dict[str, t.Any],
    secret_names: set[str],
    problems: Problems,
) -> None:
    """env_file and the plain environment: app_stack_env for an app target with env_file, then its own."""
    env_file = svc.get("env_file", False)
    if not isinstance(env_file, bool):
        problems.add(f"{where}.env_file", "must be true or false")
    out["env_file"] = env_file is True
    environment = svc.get("environment") or {}
    if not isinstance(environment, dict):
        problems.add(f"{where}.environment", "must be a dict of variable names to values")
        environment = {}
    merged_env: dict[str, str] = {}
    if out["env_file"] and svc.get("target"):
        merged_env.update({k: env_value(v) for k, v in common_env.items() if isinstance(k, str)})
    for key, value in environment.items():
        if not isinstance(key, str) or not ENV_NAME_RE.match(key):
            problems.add(f"{where}.environment", f"{key!r} is not a valid environment variable name")
            continue
        if key in secret_names:
            problems.add(f"{where}.environment", f"{key} is a secret in app_stack_secrets: secrets go only to .env")
        if isinstance(value, (dict, list)):
            problems.add(f"{where}.environment.{key}", "must be a string, number or boolean")
            continue
        merged_env[key] = env_value(value)
    out["environment"] = merged_env


def _ports(svc: dict[str, t.Any], out: dict[str, t.Any], where: str, problems: Problems) -> None:
    """Published ports ([ip:]host:container[/proto]) and exposed ones (container ports only)."""
    ports = _strings(svc, "ports", where, problems, "strings such as '8000:8000' or '127.0.0.1:8000:8000'")
    for port in ports:
        match = PORT_RE.match(port)
        numbers = [int(n) for n in (match.group("host"), match.group("container")) if n] if match else []
        if not match or any(n < 1 or n > 65535 for n in numbers):
            problems.add(f"{where}.ports", f"{port!r} is not [ip:]host:container[/tcp|udp] with ports 1-65535")
    out["ports"] = ports
    expose = svc.get("expose") or []
    if not isinstance(expose, list) or not all(is_int(p) or (isinstance(p, str) and p.isdigit()) for p in expose):
        problems.add(f"{where}.expose", "must be a list of port numbers")
        expose = []
    out["expose"] = [str(p) for p in expose]


def _mounts(
    sname: str, svc: dict[str, t.Any], where: str, volumes: dict[str, dict[str, t.Any]], problems: Problems
) -> list[dict[str, t.Any]]:
    """The service's mounts: a host path, or a volume of app_stack_volumes (which records who mounts it)."""
    mounts = []
    for index, mount in enumerate(svc.get("volumes") or []):
        parsed = _parse_mount(mount)
        if parsed is None:
            problems.add(
                f"{where}.volumes[{index}]",
                f"{mount!r} is not 'volume:/container/path[:ro]' or '/host/path:/container/path[:ro]'",
            )
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
    return mounts


def _healthcheck(
    svc: dict[str, t.Any], where: str, engine_version: t.Any, image_start_interval: t.Any, problems: Problems
) -> dict[str, t.Any] | None:
    """The healthcheck: the service's, fit for the host's engine; for the image's own, None or its start_interval.

    A compose healthcheck without a test keeps the image's test and every timing it does not set (Docker merges
    them), so on an engine that runs start_interval the image's probe runs every ``image_start_interval``
    while the container starts, its own interval after.
    """
    healthcheck = svc.get("healthcheck", "image")
    if healthcheck == "image":
        if image_start_interval and engine_major(engine_version) >= START_INTERVAL_ENGINE:
            return {"start_interval": image_start_interval}
        return None
    if not isinstance(healthcheck, dict):
        problems.add(
            f"{where}.healthcheck",
            "must be 'image' (the image's own HEALTHCHECK) or a dict with test; "
            "every service needs a healthcheck for the health gate",
        )
        return None
    for key in sorted(set(healthcheck) - HEALTHCHECK_KEYS):
        problems.add(f"{where}.healthcheck", f"unknown key {key!r} (known: {', '.join(sorted(HEALTHCHECK_KEYS))})")
    test = healthcheck.get("test")
    if not (str_list(test) and test and test[0] in ("CMD", "CMD-SHELL")) and not (isinstance(test, str) and test):
        problems.add(
            f"{where}.healthcheck.test", "must be a shell command string or a list starting with CMD or CMD-SHELL"
        )
    check: dict[str, t.Any] = {"test": test}
    for key in ("interval", "timeout", "start_period", "start_interval"):
        if key in healthcheck:
            value = duration(healthcheck[key])
            if value is None:
                problems.add(f"{where}.healthcheck.{key}", f"must be a duration such as 10s (got {healthcheck[key]!r})")
            check[key] = value
    if "retries" in healthcheck:
        if not is_int(healthcheck["retries"]) or healthcheck["retries"] < 1:
            problems.add(f"{where}.healthcheck.retries", "must be a whole number of 1 or more")
        check["retries"] = healthcheck["retries"]
    return _start_interval(check, engine_version)


def engine_major(engine_version: t.Any) -> int:
    """The major version of the host's Docker Engine (aistack_docker.engine_version); 0 when unknown."""
    major = re.match(r"^\s*v?([0-9]+)\.", str(engine_version or ""))
    return int(major.group(1)) if major else 0


def _start_interval(check: dict[str, t.Any], engine_version: t.Any) -> dict[str, t.Any]:
    """A healthcheck for the host's engine: start_interval where it runs (Docker Engine 25 or later).

    Probes every start_interval while the container starts (the gate sees it healthy at once), every
    interval after. An older or unknown engine gets no start_interval, and an interval no longer than
    3 x start_interval, so that the gate still sees a start within seconds.
    """
    if not check.get("start_interval") or engine_major(engine_version) >= START_INTERVAL_ENGINE:
        return check
    fast = max(seconds(check["start_interval"]) * 3, 1.0)
    out = {k: v for k, v in check.items() if k != "start_interval"}
    if "interval" not in check or seconds(check["interval"] or "0s") > fast:
        out["interval"] = f"{fast:g}s"
    return out


def _resources(
    svc: dict[str, t.Any], out: dict[str, t.Any], where: str, spec: dict[str, t.Any], problems: Problems
) -> None:
    """Limits and reservations (cpus, memory, memory_reservation, pids), then the GPU and its memory."""
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
    for key, target_dict, target_key in (("memory", limits, "memory"), ("memory_reservation", reservations, "memory")):
        if key in resources:
            value = resources[key]
            if (is_int(value) and value > 0) or (isinstance(value, str) and MEMORY_RE.match(value)):
                target_dict[target_key] = str(value)
            else:
                problems.add(f"{where}.resources.{key}", f"must be a size such as 512m or 2g (got {value!r})")
    if "pids" in resources:
        if is_int(resources["pids"]) and resources["pids"] > 0:
            limits["pids"] = resources["pids"]
        else:
            problems.add(f"{where}.resources.pids", "must be a whole number of 1 or more")
    gpu = (
        _per_gpu(svc, where, spec, reservations, problems)
        if "per_gpu" in svc
        else _gpu(svc, where, spec, reservations, problems)
    )
    out["per_gpu"] = svc.get("per_gpu") is True
    out["limits"], out["reservations"] = limits, reservations
    # Checked on every host; it counts only where the service gets a GPU (gpu: auto on a CPU host does not).
    need = _gpu_memory(svc, gpu, where, problems)
    out["gpu_memory_mb"] = need if reservations.get("devices") else None


def _gpu(
    svc: dict[str, t.Any], where: str, spec: dict[str, t.Any], reservations: dict[str, t.Any], problems: Problems
) -> t.Any:
    """The service's gpu setting (false when wrong); reserves the GPUs in ``reservations`` where the host has one.

    true and auto reserve every GPU, a number the first N (compose ``count``), all shared with other services;
    a list reserves those GPUs, by index or UUID (compose ``device_ids``), and MIG devices, by UUID or
    ``<gpu>:<mig>``, which must be on the host where aistack_gpu lists its GPUs (``spec['host_gpus']``) and MIG
    devices (``spec['mig_devices']``). Only auto is left out on a host without GPU.
    """
    gpu = svc.get("gpu", False)
    gpu_present = bool(spec.get("gpu_present"))
    if _base60_problem(gpu, where, problems):
        return False
    ids = gpu_device_ids(gpu)
    if not (isinstance(gpu, bool) or gpu == "auto" or (is_int(gpu) and gpu > 0) or ids):
        problems.add(
            f"{where}.gpu",
            f"must be true, false, auto, a number of GPUs, or a list of GPU indexes or "
            f"UUIDs such as [0, 1] or [GPU-5e2b7a3c-...], or of MIG devices such as "
            f"['0:1'] or [MIG-7d9e2c4a-...] (got {gpu!r})",
        )
        gpu = False
    if (gpu is True or is_int(gpu) or ids) and not gpu_present:
        problems.add(
            f"{where}.gpu",
            "asks for a GPU but this host has none (aistack_gpu.present is false); "
            "use gpu: auto to reserve one only where present"
            + (
                f" (got {gpu!r}: a list names GPUs of the hosts that have them; set it in "
                "their host or group variables)"
                if ids
                else ""
            ),
        )
    if gpu and gpu_present:
        device: dict[str, t.Any] = {"driver": "nvidia"}
        if ids:
            device["device_ids"] = ids
            _gpus_on_host(ids, gpu, where, spec, problems)
        else:
            device["count"] = gpu if is_int(gpu) else "all"
            if is_int(gpu):
                _count_on_host(gpu, where, spec, problems)
        device["capabilities"] = ["gpu"]
        reservations["devices"] = [device]
    return gpu


def base60_readings(value: int) -> list[str]:
    """The unquoted texts YAML 1.1 reads as this number in base 60: 60 -> [1:0], 3600 -> [60:0, 1:0:0]."""
    readings = []
    parts = 2
    while value >= BASE60 ** (parts - 1):
        digits = [(value // BASE60**power) % BASE60 for power in range(parts - 1)][::-1]
        readings.append(":".join(str(part) for part in [value // BASE60 ** (parts - 1), *digits]))
        parts += 1
    return readings


def _base60_problem(gpu: t.Any, where: str, problems: Problems) -> bool:
    """Whether gpu is, or lists, a number of 60 or more: an unquoted <gpu>:<mig> as YAML 1.1 reads it (refused)."""
    items = gpu if isinstance(gpu, list) else [gpu]
    found = [item for item in items if is_int(item) and item >= BASE60]
    if not found:
        return False
    said = " and ".join(f"{item} is what YAML 1.1 makes of {' or '.join(base60_readings(item))}" for item in found)
    quoted = [base60_readings(item)[0] if item in found else item for item in items]
    problems.add(
        f"{where}.gpu",
        f"{said} written without quotes (digits joined by colons are a number in base 60), "
        + ("not a GPU index" if isinstance(gpu, list) else "not a count of GPUs")
        + f": a MIG device <gpu>:<mig> must be quoted, gpu: {json.dumps(quoted)} (got {gpu!r}; "
        + (
            "a GPU index of 60 or more is taken only in quotes, or name the GPU by its UUID)"
            if isinstance(gpu, list)
            else "a count is less than 60)"
        ),
    )
    return True


def _count_on_host(count: int, where: str, spec: dict[str, t.Any], problems: Problems) -> None:
    """A count N gets the host's first N GPUs whole: the host has N GPUs, and none of them is in MIG mode (where
    aistack_gpu lists the GPUs; MIG devices do not add to the count)."""
    host_gpus, migs = spec.get("host_gpus") or [], spec.get("mig_devices") or []
    if host_gpus and count > len(host_gpus):
        problems.add(f"{where}.gpu", _count_beyond_host(count, spec, host_gpus, migs))
        return
    for gpu in host_gpus[:count]:
        if in_mig_mode(gpu, migs):
            own = [f"{mig['gpu']}:{mig['index']}" for mig in migs if mig.get("gpu") == gpu["index"]]
            problems.add(
                f"{where}.gpu",
                f"asks for {count} GPU(s), which the runtime gives as the first {count} GPUs of "
                f"{host_name(spec)} whole, and GPU {gpu['index']} among them is in MIG mode: a GPU in MIG mode "
                "is used only through its MIG devices (given whole, a container gets no device CUDA can use); "
                "name the GPUs and MIG devices it gets in a list"
                + (f", such as gpu: {json.dumps(own[:1])}" if own else "")
                + f", or take per_gpu, a replica per GPU and MIG device (got {count!r}; {migs_of(gpu, migs)})",
            )
            return


def _count_beyond_host(
    count: int, spec: dict[str, t.Any], host_gpus: list[dict[str, t.Any]], migs: t.Sequence[dict[str, t.Any]]
) -> str:
    """The refusal of a count larger than the host's number of GPUs, with the counts that are allowed there: up to
    the first GPU in MIG mode (a count gives GPUs whole; a MIG device is not a GPU of its own for it)."""
    have = len(host_gpus)
    whole = next((position for position, gpu in enumerate(host_gpus) if in_mig_mode(gpu, migs)), have)
    said = (
        f"asks for {count} GPUs, but {host_name(spec)} has {have} GPU{'' if have == 1 else 's'} "
        f"(aistack_gpu.gpus: {gpus_listed(host_gpus)}"
        + (f"; its {len(migs)} MIG device(s) do not count: a count gives whole GPUs" if migs else "")
        + "): the runtime would give the container fewer or none, or refuse to start it; "
    )
    if whole == 0:
        allowed = (
            f"no count is allowed there, as GPU {host_gpus[0]['index']} is in MIG mode: ask for true or auto "
            "(every GPU and MIG device), or name the GPUs and MIG devices it gets in a list, or take per_gpu"
        )
    else:
        allowed = (
            "allowed: a count of 1"
            + (f" to {whole}" if whole > 1 else "")
            + (f" (GPU {host_gpus[whole]['index']} is in MIG mode)" if whole < have else "")
            + ", true or auto (every GPU), or a list of the GPUs it gets"
        )
    return f"{said}{allowed} (got {count!r})"


def gpus_listed(host_gpus: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    """The host's GPUs as a refusal lists them: index (UUID), ..."""
    return ", ".join(f"{gpu['index']} ({gpu['uuid']})" if gpu.get("uuid") else str(gpu["index"]) for gpu in host_gpus)


def in_mig_mode(gpu: t.Mapping[str, t.Any], migs: t.Sequence[t.Mapping[str, t.Any]]) -> bool:
    """Whether a GPU of aistack_gpu.gpus is in MIG mode: its mig_mode says so, or MIG devices of it are listed."""
    return gpu.get("mig_mode") == "Enabled" or any(mig.get("gpu") == gpu.get("index") for mig in migs)


def migs_of(gpu: t.Mapping[str, t.Any], migs: t.Sequence[dict[str, t.Any]]) -> str:
    """A GPU's MIG devices as a refusal lists them, or that it has none made."""
    own = [mig for mig in migs if mig.get("gpu") == gpu.get("index")]
    if not own:
        return (
            f"GPU {gpu.get('index')} has no MIG device made: make them (nvidia-smi mig -cgi <profiles> -C), "
            "or turn its MIG mode off"
        )
    return f"the MIG devices of GPU {gpu.get('index')}, aistack_gpu.mig_devices: " + ", ".join(
        f"{mig['gpu']}:{mig['index']} ({mig.get('uuid') or '?'}, {mig.get('profile') or '?'})" for mig in own
    )


def _per_gpu(
    svc: dict[str, t.Any], where: str, spec: dict[str, t.Any], reservations: dict[str, t.Any], problems: Problems
) -> bool:
    """per_gpu: true: every GPU of the host, each for a replica of its own (the model makes the replicas).

    Reserves them all here, by index (compose ``device_ids``), so that the checks across services see what the
    replicas take together: no other service may name one of them, and a start-first needs room on each.
    Returns whether the service asks for GPUs.
    """
    per_gpu = svc["per_gpu"]
    if not isinstance(per_gpu, bool):
        problems.add(f"{where}.per_gpu", f"must be true or false (got {per_gpu!r})")
        return False
    if not per_gpu:
        return bool(_gpu(svc, where, spec, reservations, problems))
    if "gpu" in svc:
        problems.add(
            f"{where}.per_gpu",
            f"gives each replica one GPU of its own: leave gpu out (got gpu: "
            f"{svc['gpu']!r}; a count or a list of GPUs is for one container)",
        )
        return False
    host_gpus = spec.get("host_gpus") or []
    if not spec.get("gpu_present"):
        problems.add(
            f"{where}.per_gpu",
            "runs one replica per GPU but this host has none (aistack_gpu.present is "
            "false): set per_gpu in the host or group variables of the GPU hosts",
        )
    elif not host_gpus:
        problems.add(
            f"{where}.per_gpu",
            "runs one replica per GPU, but the host's GPUs are not listed "
            "(aistack_gpu.gpus, which nvidia_toolkit sets, is empty)",
        )
    else:
        ids = per_gpu_device_ids(host_gpus, spec.get("mig_devices") or [])
        for gpu in host_gpus:
            if gpu.get("mig_mode") == "Enabled" and str(gpu["index"]) in ids:
                problems.add(
                    f"{where}.per_gpu",
                    f"runs one replica per GPU, and per MIG device on a GPU in MIG mode, "
                    f"but GPU {gpu['index']} of {host_name(spec)} is in MIG mode with no "
                    "MIG device (aistack_gpu.mig_devices): make its MIG devices "
                    "(nvidia-smi mig -cgi <profiles> -C), or turn its MIG mode off",
                )
        reservations["devices"] = [{"driver": "nvidia", "device_ids": ids, "capabilities": ["gpu"]}]
    return True


def per_gpu_device_ids(host_gpus: list[dict[str, t.Any]], migs: list[dict[str, t.Any]]) -> list[str]:
    """What per_gpu gives a replica each: every GPU by index, or in its place its MIG devices (<gpu>:<mig>)."""
    ids: list[str] = []
    for gpu in host_gpus:
        own = [f"{mig['gpu']}:{mig['index']}" for mig in migs if mig.get("gpu") == gpu["index"]]
        ids.extend(own or [str(gpu["index"])])
    return ids


def host_name(spec: dict[str, t.Any]) -> str:
    """The host as the problems name it (the model's spec['host'], the inventory name), else "this host"."""
    return str(spec.get("host") or "this host")


def gpu_device_ids(gpu: t.Any) -> list[str] | None:
    """The compose device_ids of a list of GPU indexes (0, '1') and UUIDs (GPU-...), and of MIG devices ('0:1',
    MIG-...); None when gpu is no such list."""
    if not isinstance(gpu, list) or not gpu:
        return None
    ids = []
    for item in gpu:
        mig = MIG_INDEX_RE.match(item) if isinstance(item, str) else None
        if is_int(item) and item >= 0:
            ids.append(str(item))
        elif isinstance(item, str) and item.isdigit() and item.isascii():
            ids.append(str(int(item)))
        elif mig:
            ids.append(f"{int(mig.group(1))}:{int(mig.group(2))}")
        elif isinstance(item, str) and (GPU_UUID_RE.match(item) or MIG_UUID_RE.match(item)):
            ids.append(item)
        else:
            return None
    return ids


def is_mig(device_id: str) -> bool:
    """Whether a device id names a MIG device (<gpu>:<mig> or MIG-...) rather than a whole GPU."""
    return bool(MIG_INDEX_RE.match(device_id) or device_id.startswith("MIG-"))


def host_gpu(device_id: str, host_gpus: list[dict[str, t.Any]]) -> tuple[int, dict[str, t.Any]] | None:
    """The host GPU (its position in aistack_gpu.gpus, and it) that a device id names by index or UUID."""
    for position, gpu in enumerate(host_gpus):
        if device_id in (str(gpu.get("index")), gpu.get("uuid")):
            return position, gpu
    return None


def host_mig(device_id: str, migs: t.Sequence[dict[str, t.Any]]) -> dict[str, t.Any] | None:
    """The host's MIG device (an entry of aistack_gpu.mig_devices) that a device id names by <gpu>:<mig> or UUID."""
    for mig in migs:
        if device_id in (f"{mig.get('gpu')}:{mig.get('index')}", mig.get("uuid")):
            return mig
    return None


def gpu_label(
    device_id: str, host_gpus: list[dict[str, t.Any]], migs: t.Sequence[dict[str, t.Any]] = ()
) -> tuple[str, str]:
    """A GPU or MIG device as a key (a GPU's index and UUID give the same where the host lists them, a MIG
    device's <gpu>:<mig> and UUID likewise) and as problems name it."""
    if is_mig(device_id):
        mig = host_mig(device_id, migs)
        if mig is None:
            return device_id, f"MIG device {device_id}"
        key = f"{mig['gpu']}:{mig['index']}"
        return key, f"MIG device {key} ({mig['uuid']})" if mig.get("uuid") else f"MIG device {key}"
    found = host_gpu(device_id, host_gpus)
    if found is None:
        return device_id, f"GPU {device_id}"
    gpu = found[1]
    return str(gpu["index"]), f"GPU {gpu['index']} ({gpu['uuid']})" if gpu.get("uuid") else f"GPU {gpu['index']}"


def migs_listed(migs: t.Sequence[dict[str, t.Any]]) -> str:
    """The host's MIG devices as a refusal lists them."""
    if not migs:
        return (
            "the host has no MIG device: aistack_gpu.mig_devices is empty (no GPU in MIG mode, or none with "
            "MIG devices made)"
        )
    return "the host's MIG devices, aistack_gpu.mig_devices: " + ", ".join(
        f"{mig['gpu']}:{mig['index']} ({mig.get('uuid') or '?'}, {mig.get('profile') or '?'})" for mig in migs
    )


def _gpus_on_host(ids: list[str], gpu: t.Any, where: str, spec: dict[str, t.Any], problems: Problems) -> None:
    """Each GPU or MIG device a list names is on the host (where aistack_gpu lists its GPUs), and named once; a
    GPU in MIG mode is not named whole (only its MIG devices are of use), nor a GPU whole beside one of its own
    MIG devices."""
    host_gpus, migs = spec.get("host_gpus") or [], spec.get("mig_devices") or []
    seen: dict[str, str] = {}
    mig_mode: set[str] = set()
    for device_id in ids:
        key, label = gpu_label(device_id, host_gpus, migs)
        found = None if is_mig(device_id) else host_gpu(device_id, host_gpus)
        whole = found[1] if found else None
        if host_gpus and is_mig(device_id) and host_mig(device_id, migs) is None:
            problems.add(
                f"{where}.gpu", f"MIG device {device_id} is not on {host_name(spec)} (got {gpu!r}; {migs_listed(migs)})"
            )
        elif host_gpus and not is_mig(device_id) and found is None:
            problems.add(
                f"{where}.gpu",
                f"GPU {device_id} is not on {host_name(spec)} (got {gpu!r}; the host's GPUs "
                f"by index and UUID, aistack_gpu.gpus: {gpus_listed(host_gpus)})",
            )
        elif key in seen:
            problems.add(f"{where}.gpu", f"names {label} twice (as {seen[key]} and {device_id}; got {gpu!r})")
        elif whole is not None and in_mig_mode(whole, migs):
            own = [f"{mig['gpu']}:{mig['index']}" for mig in migs if mig.get("gpu") == whole["index"]]
            mig_mode.add(key)
            problems.add(
                f"{where}.gpu",
                f"names {label} whole, but on {host_name(spec)} it is in MIG mode: a GPU in MIG mode is used "
                "only through its MIG devices (given whole, a container gets no device CUDA can use); ask for "
                + (f"one of its MIG devices instead, such as gpu: {json.dumps(own[:1])}, " if own else "another GPU, ")
                + f"or take per_gpu, a replica per MIG device (got {gpu!r}; {migs_of(whole, migs)})",
            )
        seen.setdefault(key, device_id)
    for key, device_id in seen.items():
        parent = key.split(":")[0] if MIG_INDEX_RE.match(key) else None
        # A GPU in MIG mode named whole is refused for that already.
        if parent is not None and parent in seen and parent not in mig_mode:
            problems.add(
                f"{where}.gpu",
                f"names GPU {parent} whole ({seen[parent]}) and its MIG device {key} "
                f"({device_id}; got {gpu!r}): a container gets either the whole GPU or "
                "MIG devices of it",
            )


def _gpu_memory(svc: dict[str, t.Any], gpu: t.Any, where: str, problems: Problems) -> int | None:
    """The GPU memory (MiB) one of the service's containers needs, when it says (gpu_memory_mb)."""
    need = svc.get("gpu_memory_mb")
    if need is None:
        return None
    if not (is_int(need) and need > 0):
        problems.add(f"{where}.gpu_memory_mb", f"must be a whole number of MiB, 1 or more (got {need!r})")
        return None
    if not gpu:
        problems.add(f"{where}.gpu_memory_mb", f"is what one container needs of a GPU: set gpu too (got gpu: {gpu!r})")
        return None
    return int(need)


def _security(
    svc: dict[str, t.Any], out: dict[str, t.Any], where: str, defaults: dict[str, t.Any], problems: Problems
) -> None:
    """read_only, init, tmpfs and capabilities: the service's own, else the role's defaults."""
    for key in ("read_only", "init"):
        value = svc.get(key, defaults.get(key, False))
        if not isinstance(value, bool):
            problems.add(_origin(svc, where, key), "must be true or false")
        out[key] = value is True
    tmpfs = svc.get("tmpfs", defaults.get("tmpfs", []))
    if not str_list(tmpfs) or not all(p.startswith("/") for p in tmpfs):
        problems.add(_origin(svc, where, "tmpfs"), "must be a list of absolute container paths")
        tmpfs = []
    out["tmpfs"] = tmpfs
    for key in ("cap_add", "cap_drop"):
        value = svc.get(key, defaults.get(key, []))
        if not str_list(value) or not all(CAPABILITY_RE.match(c) for c in value):
            problems.add(_origin(svc, where, key), "must be a list of capability names such as NET_BIND_SERVICE")
            value = []
        out[key] = value


def _process(
    svc: dict[str, t.Any], out: dict[str, t.Any], where: str, defaults: dict[str, t.Any], problems: Problems
) -> None:
    """How the container's process runs and stops: user, working_dir, shm_size, data_user, stop settings."""
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
    grace = duration(svc.get("stop_grace_period", defaults.get("stop_grace_period", "30s")))
    if grace is None:
        problems.add(_origin(svc, where, "stop_grace_period"), "must be a duration such as 30s or a number of seconds")
        grace = "30s"
    out["stop_grace_period"] = grace
    signal = svc.get("stop_signal")
    if signal is not None and (not isinstance(signal, str) or not SIGNAL_RE.match(signal)):
        problems.add(f"{where}.stop_signal", f"must be a signal name such as SIGTERM (got {signal!r})")
    out["stop_signal"] = signal


def _labels_and_devices(svc: dict[str, t.Any], out: dict[str, t.Any], where: str, problems: Problems) -> None:
    """The container's labels (values as strings) and the host devices it gets."""
    labels = svc.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) for k in labels):
        problems.add(f"{where}.labels", "must be a dict of label names to values")
        labels = {}
    out["labels"] = {k: str(v) for k, v in labels.items()}
    devices = svc.get("devices") or []
    if not str_list(devices) or not all(d.startswith("/dev/") for d in devices):
        problems.add(f"{where}.devices", "must be a list of host devices such as /dev/video0[:/dev/video0[:rwm]]")
        devices = []
    out["devices"] = devices


def job(svc: dict[str, t.Any], out: dict[str, t.Any], where: str, problems: Problems) -> None:
    """A one-off job (job: true, e.g. a migration): a command, no ports or healthcheck, never restarted."""
    is_job = svc.get("job", False)
    if not isinstance(is_job, bool):
        problems.add(f"{where}.job", f"must be true or false (got {is_job!r})")
    out["job"] = is_job is True
    if not out["job"]:
        return
    if not svc.get("command"):
        problems.add(
            f"{where}.command",
            f"a job needs the command it runs once, such as [alembic, upgrade, head] (got {svc.get('command')!r})",
        )
    if svc.get("ports"):
        problems.add(
            f"{where}.ports", f"a job publishes no ports (got {svc['ports']!r}; allowed: none, or [] over a preset's)"
        )
    if "healthcheck" in svc:
        problems.add(
            f"{where}.healthcheck",
            f"a job has no healthcheck (got {svc['healthcheck']!r}; allowed: none, "
            "the one-off container runs with the image's own disabled)",
        )
    gpu = svc.get("gpu", False)
    if gpu is True or is_int(gpu) or isinstance(gpu, list):
        problems.add(
            f"{where}.gpu",
            f"a job must run on hosts without a GPU too (got {gpu!r}; allowed: false, "
            "or auto for one only where present)",
        )
    if svc.get("per_gpu", False) is not False:
        problems.add(
            f"{where}.per_gpu",
            f"a job runs once, not once per GPU (got {svc['per_gpu']!r}; allowed: false, or left out)",
        )
    restart = svc.get("restart", "no")
    if restart is not False and restart != "no":
        problems.add(f"{where}.restart", f"a job runs once: must be no or left out (got {restart!r})")
    out["restart"] = "no"
    out["healthcheck"] = {"disable": True}
