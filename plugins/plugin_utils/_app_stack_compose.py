# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The compose document of an app_stack model (private, not a public API).

``app_stack_compose`` turns a model without problems (_app_stack_model.py)
into the compose document, keys in compose's usual order. It holds no secret
value: secrets reach containers only through the .env file (``env_file``).
Pure functions over plain data, used by the filters in plugins/filter/app_stack.py.
"""

from __future__ import annotations

import posixpath
import typing as t

from ansible_collections.aistack.deploy.plugins.plugin_utils._input import plain
from ansible_collections.aistack.deploy.plugins.plugin_utils._switch import RELEASE_LABEL, release_alias

# The compose profile of one-off jobs: no `up` activates it, `docker compose run <job>` still runs the job.
JOB_PROFILE = "aistack-job"
# A replica of a per_gpu service: the service it is one of, and the index of its GPU.
REPLICA_LABEL = "io.aistack.deploy.replica-of"
GPU_LABEL = "io.aistack.deploy.gpu"
# The PostgreSQL service's env_file, beside the release's .env: its password alone.
POSTGRES_ENV_FILE = "postgres.env"


def app_stack_compose(model: dict[str, t.Any], defaults: dict[str, t.Any], env_file: str) -> dict[str, t.Any]:
    """The compose document of a model without problems (keys in compose's usual order)."""
    model, defaults = plain(model), plain(defaults)
    services: dict[str, t.Any] = {}
    for sname, svc in model["services"].items():
        services[sname] = _service(sname, svc, model, defaults, env_file)
    compose: dict[str, t.Any] = {"name": model["name"], "services": services}
    named = {
        vname: {"name": v["docker_name"], "external": True}
        for vname, v in model["volumes"].items()
        if v["type"] == "named"
    }
    if named:
        compose["volumes"] = named
    return compose


def _service(
    sname: str, svc: dict[str, t.Any], model: dict[str, t.Any], defaults: dict[str, t.Any], env_file: str
) -> dict[str, t.Any]:
    """One service of the compose document."""
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
        out["env_file"] = [
            posixpath.join(posixpath.dirname(env_file), POSTGRES_ENV_FILE)
            if sname == model.get("postgres_service")
            else env_file
        ]
    if svc["environment"]:
        out["environment"] = dict(sorted(svc["environment"].items()))
    _network_and_storage(svc, out)
    _security_and_resources(svc, out, defaults)
    out["logging"] = {
        "driver": defaults.get("log_driver", "json-file"),
        "options": {k: str(v) for k, v in (defaults.get("log_options") or {}).items()},
    }
    if not out["logging"]["options"]:
        del out["logging"]["options"]
    labels = dict(svc["labels"])
    labels["io.aistack.deploy.app"] = model["name"]
    aliases = []
    if svc.get("replica_of"):
        # A replica of a per_gpu service answers to the service's name too (the others reach any replica by it).
        labels[REPLICA_LABEL] = svc["replica_of"]
        labels[GPU_LABEL] = str(svc["gpu_index"])
        aliases.append(svc["replica_of"])
    if svc.get("rollout") == "start-first" and not svc.get("job"):
        # The proxy reaches this release's containers by this alias (targets.conf), so the next release's
        # can start beside them and pass the gate before they get a request; a per_gpu service's replicas
        # share their service's.
        release = str(defaults.get("release", ""))
        labels[RELEASE_LABEL] = release
        aliases.append(release_alias(svc.get("replica_of") or sname, release))
    if aliases:
        out["networks"] = {"default": {"aliases": aliases}}
    out["labels"] = dict(sorted(labels.items()))
    return out


def _network_and_storage(svc: dict[str, t.Any], out: dict[str, t.Any]) -> None:
    """Ports, mounts, tmpfs, devices, dependencies and the healthcheck of one service."""
    if svc["ports"]:
        out["ports"] = svc["ports"]
    if svc["expose"]:
        out["expose"] = svc["expose"]
    if svc["mounts"]:
        out["volumes"] = [
            dict(
                {"type": m["type"], "source": m["source"], "target": m["target"]},
                **({"read_only": True} if m["read_only"] else {}),
                **({"bind": {"create_host_path": False}} if m["type"] == "bind" else {}),
            )
            for m in svc["mounts"]
        ]
    if svc["tmpfs"]:
        out["tmpfs"] = list(svc["tmpfs"])
    if svc["devices"]:
        out["devices"] = svc["devices"]
    if svc["depends_on"]:
        out["depends_on"] = {dep: {"condition": "service_healthy", "restart": True} for dep in svc["depends_on"]}
    if svc["healthcheck"]:
        out["healthcheck"] = svc["healthcheck"]


def _security_and_resources(svc: dict[str, t.Any], out: dict[str, t.Any], defaults: dict[str, t.Any]) -> None:
    """read_only, no-new-privileges, capabilities, then the resource limits and reservations of one service."""
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
