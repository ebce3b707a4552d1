# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for plugins/filter/app_stack.py: the app_stack role's model, compose file and secret checks.

The presets are the role's own (roles/app_stack/vars/main.yml), their
templates rendered with fixed values; the defaults are the role's defaults as
tasks/validate.yml and templates/compose.yaml.j2 hand them to the filters.
"""

from __future__ import annotations

import copy
import json
import typing as t
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.parsing.utils.yaml import from_yaml

from aistack_testlib.bad_input import merged
from ansible_collections.aistack.deploy.plugins.filter.app_stack import (
    FilterModule,
    app_stack_compose,
    app_stack_model,
    app_stack_secret_problems,
)
from ansible_collections.aistack.deploy.plugins.filter.gpu_preflight import app_stack_gpu_memory_problems
from ansible_collections.aistack.deploy.plugins.plugin_utils._app_stack_service import base60_readings
from ansible_collections.aistack.deploy.plugins.plugin_utils._switch import release_alias

ROLE = Path(__file__).resolve().parents[4] / "roles" / "app_stack"
ROLE_DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
PRESET_CONTEXT = {
    "app_stack_api_port": 8000,
    "app_stack_frontend_port": 3000,
    "app_stack_flower_port": 5555,
    "app_stack_frontend_image": "demo/frontend:1",
    "app_stack_postgres_image": "demo/postgres:17",
    "app_stack_redis_image": "demo/redis:7",
    "app_stack_postgres_user": "demo_user",
    "app_stack_postgres_db": "demo_db",
    "app_stack_nginx_image": "demo/nginx:1.26",
    "app_stack_http_port": 8080,
    "app_stack_https_port": 8443,
}


def _render(value: t.Any) -> t.Any:
    if isinstance(value, str):
        return jinja2.Template(value).render(**PRESET_CONTEXT)
    if isinstance(value, dict):
        return {k: _render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v) for v in value]
    return value


PRESETS = _render(yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__app_stack_presets"])
# What tasks/validate.yml passes as the model's defaults, from the role's defaults.
DEFAULTS = {
    key: ROLE_DEFAULTS[f"app_stack_{key}"]
    for key in ("restart", "stop_grace_period", "read_only", "tmpfs", "cap_drop", "health_start_interval")
}
# What templates/compose.yaml.j2 passes to app_stack_compose.
COMPOSE_DEFAULTS = {
    "no_new_privileges": ROLE_DEFAULTS["app_stack_no_new_privileges"],
    "log_driver": ROLE_DEFAULTS["app_stack_log_driver"],
    "log_options": ROLE_DEFAULTS["app_stack_log_options"],
    "pull_policy": ROLE_DEFAULTS["app_stack_pull_policy"],
}
PLACEHOLDERS = ROLE_DEFAULTS["app_stack_secret_placeholders"]
IMAGES = {"api": "demo/app:1.0.0-api", "worker": "demo/app:1.0.0-worker", "beat": "demo/app:1.0.0-beat"}
ENV_FILE = "/opt/aistack/demo/.env"
REFERENCE_SERVICES = {
    "api": {"volumes": ["data:/app/data", "models:/app/models:ro"]},
    "worker": {"volumes": ["data:/app/data", "models:/app/models:ro"]},
    "postgres": {},
    "redis": {},
}
REFERENCE_VOLUMES: dict[str, dict[str, t.Any]] = {
    "data": {"mode": "0750"},
    "models": {"mode": "0755", "files": [{"src": "/ctl/models/model.json"}]},
}


def spec(**changes: t.Any) -> dict[str, t.Any]:
    """The model's input as tasks/validate.yml builds it: the reference stack unless changed."""
    base: dict[str, t.Any] = {
        "name": "demo",
        "data_root": "/var/lib/aistack/demo",
        "services": copy.deepcopy(REFERENCE_SERVICES),
        "volumes": copy.deepcopy(REFERENCE_VOLUMES),
        "presets": copy.deepcopy(PRESETS),
        "profiles": [],
        "images": dict(IMAGES),
        "env": {"LOG_LEVEL": "INFO"},
        "secret_names": ["POSTGRES_PASSWORD", "APP_SECRET_KEY"],
        "gpu_present": False,
        "defaults": copy.deepcopy(DEFAULTS),
    }
    base.update(changes)
    return base


def model_of(**changes: t.Any) -> dict[str, t.Any]:
    """The model of a valid input (fails the test on any problem)."""
    model = app_stack_model(spec(**changes))
    assert model["problems"] == []
    return model


def problems_of(**changes: t.Any) -> list[str]:
    return app_stack_model(spec(**changes))["problems"]


# --- the reference stack ------------------------------------------------------


def test_reference_stack_model() -> None:
    model = model_of()
    services = model["services"]
    assert list(services) == ["api", "worker", "postgres", "redis"]
    assert model["active_services"] == ["api", "postgres", "redis", "worker"]
    assert model["images"] == ["demo/app:1.0.0-api", "demo/app:1.0.0-worker", "demo/postgres:17", "demo/redis:7"]
    assert {name: svc["preset"] for name, svc in services.items()} == {
        "api": "api",
        "worker": "worker",
        "postgres": "postgres",
        "redis": "redis",
    }
    assert services["api"]["image"] == "demo/app:1.0.0-api"
    assert services["api"]["target"] == "api"
    assert services["postgres"]["target"] == ""
    assert services["api"]["ports"] == ["8000:8000"]
    assert services["worker"]["ports"] == []
    assert services["api"]["healthcheck"] is None  # the image's own HEALTHCHECK
    assert services["postgres"]["healthcheck"]["retries"] == 5
    assert services["postgres"]["healthcheck"]["interval"] == "3s"
    assert services["postgres"]["stop_signal"] == "SIGINT"
    # The preset's volumes are declared beside the user's.
    assert set(model["volumes"]) == {"data", "models", "pgdata", "redis-data"}
    assert model["volumes"]["pgdata"]["mode"] == "0700"


# --- presets ------------------------------------------------------------------


def test_preset_settings_are_replaced_key_by_key() -> None:
    model = model_of(services={"api": {"ports": ["127.0.0.1:9000:8000"], "read_only": False, "gpu": False}})
    api = model["services"]["api"]
    assert api["ports"] == ["127.0.0.1:9000:8000"]
    assert api["read_only"] is False
    assert api["env_file"] is True  # from the preset, not replaced
    assert api["reservations"] == {}


def test_preset_environment_and_labels_merge() -> None:
    model = model_of(
        services={
            "postgres": {
                "environment": {"POSTGRES_DB": "other_db", "PGDATA": "/var/lib/postgresql/data/pg"},
                "labels": {"team": "data"},
            },
            "redis": {},
        },
        volumes={},
    )
    assert model["services"]["postgres"]["environment"] == {
        "POSTGRES_USER": "demo_user",
        "POSTGRES_DB": "other_db",
        "PGDATA": "/var/lib/postgresql/data/pg",
    }
    assert model["services"]["postgres"]["labels"] == {"team": "data"}


def test_preset_picked_by_name_and_by_preset_key() -> None:
    model = model_of(
        services={
            "celery": {"preset": "worker", "command": ["celery", "-A", "app", "worker"]},
            "tool": {"preset": "none", "image": "demo/tool:1", "healthcheck": {"test": "true"}},
            "api": {},
        }
    )
    assert model["services"]["celery"]["preset"] == "worker"
    assert model["services"]["celery"]["image"] == "demo/app:1.0.0-worker"
    assert model["services"]["celery"]["command"] == ["celery", "-A", "app", "worker"]
    tool = model["services"]["tool"]
    assert tool["preset"] == "none"
    assert tool["env_file"] is False
    assert tool["healthcheck"] == {"test": "true"}
    assert tool["depends_on"] == []


def test_disabled_service_is_left_out() -> None:
    model = model_of(services={"api": {}, "worker": {"enabled": False}, "redis": {"enabled": False}})
    assert list(model["services"]) == ["api"]
    assert "redis-data" not in model["volumes"]
    assert "REDIS_URL" not in model["services"]["api"]["environment"]


# --- dependencies and profiles ------------------------------------------------


def test_auto_depends_on_only_for_services_that_run() -> None:
    assert model_of()["services"]["api"]["depends_on"] == ["postgres", "redis"]
    assert model_of(services={"api": {}, "redis": {}}, volumes={})["services"]["api"]["depends_on"] == ["redis"]
    assert model_of(services={"api": {}}, volumes={})["services"]["api"]["depends_on"] == []


def test_auto_depends_on_leaves_out_inactive_profiles() -> None:
    services = {"api": {}, "postgres": {"profiles": ["db"]}, "redis": {}}
    inactive = model_of(services=copy.deepcopy(services), volumes={})
    assert inactive["services"]["api"]["depends_on"] == ["redis"]
    assert inactive["active_services"] == ["api", "redis"]
    assert "demo/postgres:17" not in inactive["images"]
    active = model_of(services=copy.deepcopy(services), volumes={}, profiles=["db"])
    assert active["services"]["api"]["depends_on"] == ["postgres", "redis"]
    assert active["active_services"] == ["api", "postgres", "redis"]
    assert active["profiles"] == ["db"]
    assert "demo/postgres:17" in active["images"]


def test_auto_depends_on_of_a_profiled_service_keeps_deps_of_its_own_profile() -> None:
    model = model_of(
        services={
            "worker": {"profiles": ["full"]},
            "redis": {"profiles": ["full"]},
            "postgres": {"profiles": ["db"]},
            "api": {},
        },
        volumes={},
    )
    assert model["services"]["worker"]["depends_on"] == ["redis"]
    assert model["active_services"] == ["api"]


def test_explicit_depends_on_is_kept_and_checked() -> None:
    assert (
        model_of(services={"api": {"depends_on": []}, "redis": {}}, volumes={})["services"]["api"]["depends_on"] == []
    )
    problems = problems_of(services={"api": {"depends_on": ["postgres"]}, "postgres": {"profiles": ["db"]}}, volumes={})
    assert problems == [
        "app_stack_services.api.depends_on: 'postgres' is in profiles ['db'] that app_stack_profiles does not activate"
    ]
    assert problems_of(services={"api": {"depends_on": ["api"]}}, volumes={}) == [
        "app_stack_services.api.depends_on: a service cannot depend on itself"
    ]
    assert problems_of(services={"api": {"depends_on": ["queue"]}}, volumes={}) == [
        "app_stack_services.api.depends_on: unknown or disabled service 'queue'"
    ]


# --- volumes and owners -------------------------------------------------------


def test_bind_and_named_volumes() -> None:
    model = model_of(volumes={"data": {"type": "named"}, "models": {"path": "/srv/models", "mode": "0755"}})
    data, models, pgdata = (model["volumes"][v] for v in ("data", "models", "pgdata"))
    assert (data["type"], data["path"], data["docker_name"]) == ("named", "", "aistack-demo-data")
    assert (models["type"], models["path"], models["docker_name"]) == ("bind", "/srv/models", "")
    assert pgdata["path"] == "/var/lib/aistack/demo/pgdata"
    assert model["services"]["api"]["mounts"] == [
        {"type": "volume", "source": "data", "target": "/app/data", "read_only": False},
        {"type": "bind", "source": "/srv/models", "target": "/app/models", "read_only": True},
    ]
    assert data["mounted_by"] == ["api", "worker"]


def test_host_path_mount_passes_through() -> None:
    model = model_of(services={"api": {"volumes": ["/etc/ssl/certs:/etc/ssl/certs:ro"]}}, volumes={})
    assert model["services"]["api"]["mounts"] == [
        {"type": "bind", "source": "/etc/ssl/certs", "target": "/etc/ssl/certs", "read_only": True}
    ]


def test_owner_auto_is_the_first_service_that_mounts_it() -> None:
    model = model_of()
    data = model["volumes"]["data"]
    assert (data["owner_image"], data["owner_user"], data["owner_fixed"]) == ("demo/app:1.0.0-api", "", "")
    pgdata = model["volumes"]["pgdata"]
    assert (pgdata["owner_image"], pgdata["owner_user"]) == ("demo/postgres:17", "postgres")  # the preset's data_user
    # One image_user_info lookup per (image, user), however many volumes it owns (data and models: one);
    # the presets' volumes come first.
    assert model["owners"] == [
        {"key": "demo/postgres:17|postgres", "image": "demo/postgres:17", "user": "postgres"},
        {"key": "demo/redis:7|", "image": "demo/redis:7", "user": ""},
        {"key": "demo/app:1.0.0-api|", "image": "demo/app:1.0.0-api", "user": ""},
    ]


@pytest.mark.parametrize(
    ("owner", "fixed", "image", "user"),
    [
        ("root", "0:0", "", ""),
        ("1000:1001", "1000:1001", "", ""),
        ("service:postgres", "", "demo/postgres:17", "postgres"),
        ("service:worker", "", "demo/app:1.0.0-worker", "app"),
    ],
)
def test_owner_settings(owner: str, fixed: str, image: str, user: str) -> None:
    model = model_of(
        services={**copy.deepcopy(REFERENCE_SERVICES), "worker": {"volumes": ["data:/app/data"], "data_user": "app"}},
        volumes={"data": {"owner": owner}, "models": {}},
    )
    data = model["volumes"]["data"]
    assert (data["owner_fixed"], data["owner_image"], data["owner_user"]) == (fixed, image, user)
    keys = [owner_entry["key"] for owner_entry in model["owners"]]
    assert (f"{image}|{user}" in keys) == bool(image)


def test_unmounted_bind_volume_stays_root_and_needs_no_lookup() -> None:
    model = model_of()
    models = model["volumes"]["models"]  # mounted by api, so auto
    assert models["owner_fixed"] == ""
    unmounted = model_of(volumes={**copy.deepcopy(REFERENCE_VOLUMES), "spare": {}})["volumes"]["spare"]
    assert (unmounted["owner_fixed"], unmounted["owner_key"]) == ("0:0", "")


def test_owner_of_unknown_service_is_a_problem_not_a_crash() -> None:
    assert problems_of(volumes={"data": {"owner": "service:trainer"}, "models": {}}) == [
        "app_stack_volumes.data.owner: names unknown or disabled service 'trainer'"
    ]


def test_files_dest_defaults_to_the_file_name() -> None:
    model = model_of(
        volumes={
            "data": {},
            "models": {
                "files": [{"src": "/ctl/models/model.json"}, {"src": "/ctl/conf/", "dest": "conf/app", "mode": "0640"}]
            },
        }
    )
    assert model["volumes"]["models"]["files"] == [
        {"src": "/ctl/models/model.json", "dest": "model.json"},
        {"src": "/ctl/conf/", "dest": "conf/app", "mode": "0640"},
    ]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"mode": 750}, "app_stack_volumes.data.mode: must be an octal mode in quotes such as '0750' (got 750)"),
        ({"mode": "0999"}, "app_stack_volumes.data.mode: must be an octal mode in quotes such as '0750' (got '0999')"),
        ({"type": "tmpfs"}, "app_stack_volumes.data.type: must be bind or named (got 'tmpfs')"),
        ({"path": "srv/data"}, "app_stack_volumes.data.path: must be an absolute host path (got 'srv/data')"),
        ({"size": "1g"}, "app_stack_volumes.data: unknown key 'size' (known: files, mode, owner, path, type)"),
        (
            {"files": [{"src": "/ctl/a", "dest": "../a"}]},
            "app_stack_volumes.data.files[0].dest: must be a path relative to the volume (got '../a')",
        ),
        ({"type": "named", "files": [{"src": "/ctl/a"}]}, "app_stack_volumes.data.files: only bind volumes take files"),
    ],
)
def test_volume_problems(settings: dict[str, t.Any], problem: str) -> None:
    assert problems_of(volumes={"data": settings, "models": {}}) == [problem]


# --- GPU ----------------------------------------------------------------------

NVIDIA_ALL = [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]


def test_gpu_auto_reserves_only_where_a_gpu_is() -> None:
    assert model_of(gpu_present=False)["services"]["worker"]["reservations"] == {}
    with_gpu = model_of(gpu_present=True)["services"]
    assert with_gpu["worker"]["reservations"] == {"devices": NVIDIA_ALL}
    assert with_gpu["api"]["reservations"] == {"devices": NVIDIA_ALL}
    assert with_gpu["postgres"]["reservations"] == {}


def test_gpu_count_and_true() -> None:
    services = {**copy.deepcopy(REFERENCE_SERVICES), "worker": {"gpu": 2}, "api": {"gpu": True}}
    model = model_of(services=services, gpu_present=True)
    assert model["services"]["worker"]["reservations"]["devices"][0]["count"] == 2
    assert model["services"]["api"]["reservations"]["devices"][0]["count"] == "all"


@pytest.mark.parametrize("gpu", [True, 1])
def test_gpu_asked_for_on_a_host_without_one(gpu: t.Any) -> None:
    problems = problems_of(services={**copy.deepcopy(REFERENCE_SERVICES), "worker": {"gpu": gpu}})
    assert len(problems) == 1
    assert problems[0].startswith("app_stack_services.worker.gpu: asks for a GPU but this host has none")


# Four GPUs as aistack_gpu.gpus lists them (the fields the model reads: index, uuid).
FOUR_GPUS = [
    {"index": index, "uuid": f"GPU-{index}e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c4{index}", "memory_free_mib": 24000}
    for index in range(4)
]
UUID = [gpu["uuid"] for gpu in FOUR_GPUS]
HAVE = "0 ({}), 1 ({}), 2 ({}), 3 ({})".format(*UUID)
W = "app_stack_services.worker.gpu"


def gpu_services(**gpus: t.Any) -> dict[str, t.Any]:
    """The reference services with the gpu of some set (merged key by key)."""
    return merged(REFERENCE_SERVICES, {sname: {"gpu": gpu} for sname, gpu in gpus.items()})


@pytest.mark.parametrize(
    "gpu, host_gpus, device_ids",
    [
        ([0, 1], FOUR_GPUS, ["0", "1"]),
        (["1"], FOUR_GPUS, ["1"]),  # an index quoted in YAML
        ([UUID[2]], FOUR_GPUS, [UUID[2]]),
        ([3, UUID[0]], FOUR_GPUS, ["3", UUID[0]]),
        # Where aistack_gpu lists no GPUs (nvidia_toolkit did not run), the ids are taken as they are.
        ([0, 5], [], ["0", "5"]),
        (["GPU-abc"], [], ["GPU-abc"]),
    ],
)
def test_gpu_ids_reserve_those_gpus(gpu: t.Any, host_gpus: list[dict[str, t.Any]], device_ids: list[str]) -> None:
    services = gpu_services(worker=gpu, api=False)
    model = model_of(services=services, gpu_present=True, host_gpus=host_gpus)
    device = {"driver": "nvidia", "device_ids": device_ids, "capabilities": ["gpu"]}
    assert model["services"]["worker"]["reservations"] == {"devices": [device]}
    compose = app_stack_compose(model, COMPOSE_DEFAULTS, ENV_FILE)
    assert compose["services"]["worker"]["deploy"] == {"resources": {"reservations": {"devices": [device]}}}
    assert "deploy" not in compose["services"]["api"]


@pytest.mark.parametrize(
    "gpu, host_gpus, gpus, count",
    [
        # The GPUs each container gets, by their index in aistack_gpu.gpus, and how many.
        ("auto", FOUR_GPUS, [0, 1, 2, 3], 4),
        (2, FOUR_GPUS, [0, 1], 2),
        ([UUID[3], 1], FOUR_GPUS, [3, 1], 2),
        # Where the host's GPUs are not listed: the ids as written, and no number for "every GPU".
        ([0, "GPU-abc"], [], ["0", "GPU-abc"], 2),
        (True, [], [], None),
        (False, FOUR_GPUS, [], 0),
    ],
)
def test_the_gpus_a_service_gets(
    gpu: t.Any, host_gpus: list[dict[str, t.Any]], gpus: list[t.Any], count: int | None
) -> None:
    worker = model_of(services=gpu_services(worker=gpu, api=False), gpu_present=True, host_gpus=host_gpus)["services"][
        "worker"
    ]
    assert (worker["gpus"], worker["gpu_count"]) == (gpus, count)


@pytest.mark.parametrize(
    "gpus, host_gpus, gate",
    [
        # What the health gate proves each GPU container sees: the UUIDs of its GPUs.
        ({"worker": [3, 1]}, FOUR_GPUS, {"worker": [UUID[3], UUID[1]]}),
        ({"worker": "auto", "api": 2}, FOUR_GPUS, {"worker": UUID, "api": UUID[:2]}),
        # Where the host's GPUs are not listed: a UUID as written, and only the number of the others.
        ({"worker": [0, "GPU-abc"]}, [], {"worker": ["GPU 0", "GPU-abc"]}),
        ({"worker": 2}, [], {"worker": ["GPU 0", "GPU 1"]}),
        # Every GPU of a host that does not list them: not known, not gated on GPUs.
        ({"worker": True}, [], {}),
    ],
)
def test_the_gpus_the_gate_proves(
    gpus: dict[str, t.Any], host_gpus: list[dict[str, t.Any]], gate: dict[str, list[str]]
) -> None:
    services = merged(gpu_services(**gpus), {name: {"gpu": False} for name in ("api", "worker") if name not in gpus})
    assert model_of(services=services, gpu_present=True, host_gpus=host_gpus)["gpu_gate"] == gate


def test_the_gate_proves_each_replica_sees_its_own_gpu() -> None:
    model = model_of(
        services=merged(REFERENCE_SERVICES, {"worker": {"per_gpu": True}, "api": {"gpu": False}}),
        gpu_present=True,
        host_gpus=FOUR_GPUS,
        cdi_devices=CDI_DEVICES,
        engine_version="26.1.5",
    )
    assert model["gpu_gate"] == {f"worker-gpu{index}": [UUID[index]] for index in range(4)}
    assert model_of()["gpu_gate"] == {}  # a CPU host


def test_gpu_ids_render_as_compose_device_ids_in_yaml() -> None:
    compose = compose_of(services=gpu_services(worker=[0, UUID[1]]), gpu_present=True, host_gpus=FOUR_GPUS)
    # Compose reads device_ids as strings: an index stays a quoted '0' in the file.
    text = yaml.safe_dump(compose, sort_keys=False)
    assert "- '0'\n" in text
    devices = yaml.safe_load(text)["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "device_ids": ["0", UUID[1]], "capabilities": ["gpu"]}]


@pytest.mark.parametrize(
    "gpus",
    [
        # Named GPUs of their own, and shared use beside them: a count, true or auto claims no GPU.
        {"api": [0], "worker": [1]},
        {"api": True, "worker": [0]},
        {"api": "auto", "worker": [UUID[0]]},
        {"api": 1, "worker": [0, 1, 2, 3]},
        # An index and a UUID of different GPUs.
        {"api": [UUID[1]], "worker": [0]},
    ],
)
def test_gpu_ids_of_different_gpus_and_shared_use_beside_them(gpus: dict[str, t.Any]) -> None:
    model = model_of(services=gpu_services(**gpus), gpu_present=True, host_gpus=FOUR_GPUS)
    assert model["services"]["worker"]["reservations"]["devices"][0]["device_ids"]


CLASH = (
    "is also given to service 'api' (app_stack_services.api.gpu): a GPU named by index or UUID, or taken by "
    "per_gpu, is one service's alone (allowed: another GPU, or a count, true or auto, which share the host's GPUs)"
)


def test_the_same_gpu_for_a_service_that_does_not_run_is_no_clash() -> None:
    services = merged(gpu_services(api=[0], worker=[0]), {"worker": {"profiles": ["gpu-batch"]}})
    model_of(services=services, gpu_present=True, host_gpus=FOUR_GPUS)
    assert problems_of(services=services, gpu_present=True, host_gpus=FOUR_GPUS, profiles=["gpu-batch"]) == [
        f"{W}: GPU 0 ({UUID[0]}) {CLASH}"
    ]


@pytest.mark.parametrize(
    "gpus, host_gpus, gpu_present, problems",
    [
        # Not on the host: the value and what the host has.
        (
            {"worker": [4]},
            FOUR_GPUS,
            True,
            [f"{W}: GPU 4 is not on this host (got [4]; the host's GPUs by index and UUID, aistack_gpu.gpus: {HAVE})"],
        ),
        (
            {"worker": [1, "GPU-deadbeef"]},
            FOUR_GPUS[:2],
            True,
            [
                f"{W}: GPU GPU-deadbeef is not on this host (got [1, 'GPU-deadbeef']; the host's GPUs by index and UUID, "
                f"aistack_gpu.gpus: 0 ({UUID[0]}), 1 ({UUID[1]}))"
            ],
        ),
        # One GPU twice in one list: by its index and its UUID, or the same index.
        (
            {"worker": [0, UUID[0]]},
            FOUR_GPUS,
            True,
            [f"{W}: names GPU 0 ({UUID[0]}) twice (as 0 and {UUID[0]}; got [0, '{UUID[0]}'])"],
        ),
        ({"worker": [1, "1"]}, [], True, [f"{W}: names GPU 1 twice (as 1 and 1; got [1, '1'])"]),
        # Two services, one GPU: by index, by UUID, and an index and the UUID of the same GPU.
        ({"api": [0], "worker": [1, 0]}, FOUR_GPUS, True, [f"{W}: GPU 0 ({UUID[0]}) {CLASH}"]),
        ({"api": [UUID[2]], "worker": [UUID[2]]}, FOUR_GPUS, True, [f"{W}: GPU 2 ({UUID[2]}) {CLASH}"]),
        ({"api": [UUID[3]], "worker": [3]}, FOUR_GPUS, True, [f"{W}: GPU 3 ({UUID[3]}) {CLASH}"]),
        ({"api": [0], "worker": [0]}, [], True, [f"{W}: GPU 0 {CLASH}"]),
        # A list on a host without a GPU is refused like gpu: true.
        (
            {"worker": [0]},
            [],
            False,
            [
                f"{W}: asks for a GPU but this host has none (aistack_gpu.present is false); use gpu: auto to reserve one only "
                "where present (got [0]: a list names GPUs of the hosts that have them; set it in their host or group variables)"
            ],
        ),
    ],
)
def test_gpu_id_problems(
    gpus: dict[str, t.Any], host_gpus: list[dict[str, t.Any]], gpu_present: bool, problems: list[str]
) -> None:
    assert problems_of(services=gpu_services(**gpus), gpu_present=gpu_present, host_gpus=host_gpus) == problems


@pytest.mark.parametrize(
    "gpu", [[], [-1], [True], [1.5], ["gpu0"], ["GPU-"], ["MIG-"], ["0:"], ["0:1:2"], [[0]], {"0": 1}, "0,1", 0]
)
def test_gpu_malformed(gpu: t.Any) -> None:
    assert problems_of(services=gpu_services(worker=gpu), gpu_present=True, host_gpus=FOUR_GPUS) == [
        f"{W}: must be true, false, auto, a number of GPUs, or a list of GPU indexes or UUIDs such as [0, 1] or "
        f"[GPU-5e2b7a3c-...], or of MIG devices such as ['0:1'] or [MIG-7d9e2c4a-...] (got {gpu!r})"
    ]


def test_a_job_takes_no_gpu_list() -> None:
    problems = problems_of(
        services={**copy.deepcopy(REFERENCE_SERVICES), "migrate": {**MIGRATE, "gpu": [0]}},
        gpu_present=True,
        host_gpus=FOUR_GPUS,
    )
    assert problems == [
        "app_stack_services.migrate.gpu: a job must run on hosts without a GPU too (got [0]; allowed: "
        "false, or auto for one only where present)"
    ]


@pytest.mark.parametrize("host_gpus", ["x", [{"uuid": "GPU-1"}], [{"index": "0"}], [{"index": 0, "uuid": 1}]])
def test_host_gpus_malformed(host_gpus: t.Any) -> None:
    assert problems_of(host_gpus=host_gpus) == [
        f"aistack_gpu.gpus: must be a list of GPUs, each with its index and uuid (got {host_gpus!r})"
    ]


# --- one replica per GPU (per_gpu) --------------------------------------------

REPLICAS = ["worker-gpu0", "worker-gpu1", "worker-gpu2", "worker-gpu3"]
P = "app_stack_services.worker.per_gpu"


def test_per_gpu_gives_each_gpu_a_replica_of_its_own() -> None:
    model = model_of(
        services=merged(REFERENCE_SERVICES, {"worker": {"per_gpu": True}, "api": {"gpu": False}}),
        gpu_present=True,
        host_gpus=FOUR_GPUS,
    )
    services = model["services"]
    assert "worker" not in services and model["replicas"] == {"worker": REPLICAS}
    assert [name for name in services if name.startswith("worker")] == REPLICAS
    for index, name in enumerate(REPLICAS):
        replica = services[name]
        assert replica["reservations"] == {
            "devices": [{"driver": "nvidia", "device_ids": [str(index)], "capabilities": ["gpu"]}]
        }
        assert replica["replica_of"] == "worker" and replica["gpu_index"] == index
        assert replica["gpus"] == [index] and replica["gpu_count"] == 1
        assert replica["image"] == "demo/app:1.0.0-worker" and replica["depends_on"] == ["postgres", "redis"]
    assert model["active_services"] == ["api", "postgres", "redis", *REPLICAS]
    # The preset's gpu: auto gives way: no replica shares its GPU with the others.
    assert model["volumes"]["data"]["mounted_by"] == ["api", *REPLICAS]


def test_the_preflight_names_the_per_gpu_replica_whose_gpu_lacks_its_memory() -> None:
    # The model as the pre-flight has it, then the GPU memory check (plugins/filter/gpu_preflight.py) on it.
    model = model_of(
        services=merged(
            REFERENCE_SERVICES, {"worker": {"per_gpu": True, "gpu_memory_mb": 20000}, "api": {"gpu": False}}
        ),
        gpu_present=True,
        host_gpus=FOUR_GPUS,
    )
    gpu = {
        "usable": True,
        "gpus": [
            {
                **entry,
                "name": "NVIDIA L4",
                "memory_mib": 23034,
                "memory_free_mib": 12000 if entry["index"] == 2 else 22000,
            }
            for entry in FOUR_GPUS
        ],
    }
    assert app_stack_gpu_memory_problems(model, gpu, "", "gpu-1") == [
        "service worker needs 20000 MiB of GPU memory (app_stack_services.worker.gpu_memory_mb), but on gpu-1 GPU 2 "
        f"(NVIDIA L4, {UUID[2]}) has 12000 MiB free: give it a GPU with room (gpu, per_gpu), free the GPU of what else "
        "runs there, or lower gpu_memory_mb if the service needs less"
    ]
    # Its own running worker holds GPU 2: a stop-first deploy frees it.
    held = 'GPUREQ [{"Driver":"nvidia","DeviceIDs":["2"],"Capabilities":[["gpu"]]}]\n'
    assert app_stack_gpu_memory_problems(model, gpu, held, "gpu-1") == []


def test_per_gpu_replicas_in_the_compose_file() -> None:
    compose = compose_of(
        services=merged(REFERENCE_SERVICES, {"worker": {"per_gpu": True}}), gpu_present=True, host_gpus=FOUR_GPUS[:2]
    )
    assert [name for name in compose["services"] if name.startswith("worker")] == ["worker-gpu0", "worker-gpu1"]
    replica = compose["services"]["worker-gpu1"]
    assert replica["deploy"] == {
        "resources": {"reservations": {"devices": [{"driver": "nvidia", "device_ids": ["1"], "capabilities": ["gpu"]}]}}
    }
    # The others reach any replica by the service's name.
    assert replica["networks"] == {"default": {"aliases": ["worker"]}}
    assert replica["labels"]["io.aistack.deploy.replica-of"] == "worker"
    assert replica["labels"]["io.aistack.deploy.gpu"] == "1"


def test_what_depends_on_a_per_gpu_service_waits_for_every_replica() -> None:
    services = merged(PROXIED, {"api": {"per_gpu": True, "gpu_memory_mb": 8000}, "worker": {"gpu": False}})
    model = model_of(services=services, gpu_present=True, host_gpus=FOUR_GPUS[:2], gpu_free_mib=[24000, 24000])
    assert model["services"]["nginx"]["depends_on"] == ["api-gpu0", "api-gpu1"]
    # Behind the proxy, with room for a second container on each GPU: every replica starts first, and all of
    # them answer to the one alias of their release that nginx is sent to.
    assert model["start_first"] == ["api-gpu0", "api-gpu1"] and model["rollout_notes"] == {}
    compose = app_stack_compose(model, {**COMPOSE_DEFAULTS, "release": "1.0.1"}, ENV_FILE)
    for name in ("api-gpu0", "api-gpu1"):
        assert compose["services"][name]["networks"] == {"default": {"aliases": ["api", release_alias("api", "1.0.1")]}}


@pytest.mark.parametrize(
    "free, note",
    [
        ([24000, 6000], f"GPU 1 ({UUID[1]}) has 6000 MiB free and a second container needs 8000 MiB"),
        ([100, 24000], f"GPU 0 ({UUID[0]}) has 100 MiB free"),
    ],
)
def test_per_gpu_starts_first_only_where_each_gpu_has_room(free: list[int], note: str) -> None:
    services = merged(PROXIED, {"api": {"per_gpu": True, "gpu_memory_mb": 8000}, "worker": {"gpu": False}})
    model = model_of(services=services, gpu_present=True, host_gpus=FOUR_GPUS[:2], gpu_free_mib=free)
    assert model["start_first"] == [] and note in model["rollout_notes"]["api"], model["rollout_notes"]
    assert {model["services"][name]["rollout"] for name in ("api-gpu0", "api-gpu1")} == {"stop-first"}


@pytest.mark.parametrize(
    "gpus",
    [
        # Shared use beside the replicas: a count, true or auto claims no GPU.
        {"api": True},
        {"api": 2},
        {"api": "auto"},
    ],
)
def test_shared_use_beside_per_gpu(gpus: dict[str, t.Any]) -> None:
    services = merged(gpu_services(**gpus), {"worker": {"per_gpu": True}})
    assert model_of(services=services, gpu_present=True, host_gpus=FOUR_GPUS)["replicas"] == {"worker": REPLICAS}


PER_GPU_CLASH = (
    "(app_stack_services.api.gpu): a GPU named by index or UUID, or taken by per_gpu, is one service's "
    "alone (allowed: another GPU, or a count, true or auto, which share the host's GPUs)"
)


@pytest.mark.parametrize(
    "worker, others, host_gpus, gpu_present, problems",
    [
        # Combined with gpu (a count or a list): one GPU each is per_gpu's whole point.
        (
            {"per_gpu": True, "gpu": 1},
            {},
            FOUR_GPUS,
            True,
            [
                f"{P}: gives each replica one GPU of its own: leave gpu out (got gpu: 1; a count or a list of GPUs is for one "
                "container)"
            ],
        ),
        (
            {"per_gpu": True, "gpu": [0, 1]},
            {},
            FOUR_GPUS,
            True,
            [
                f"{P}: gives each replica one GPU of its own: leave gpu out (got gpu: [0, 1]; a count or a list of GPUs is "
                "for one container)"
            ],
        ),
        # A host without GPU, and a GPU host whose GPUs are not listed.
        (
            {"per_gpu": True},
            {},
            [],
            False,
            [
                f"{P}: runs one replica per GPU but this host has none (aistack_gpu.present is false): set per_gpu in the host "
                "or group variables of the GPU hosts"
            ],
        ),
        (
            {"per_gpu": True},
            {},
            [],
            True,
            [
                f"{P}: runs one replica per GPU, but the host's GPUs are not listed (aistack_gpu.gpus, which nvidia_toolkit "
                "sets, is empty)"
            ],
        ),
        ({"per_gpu": "yes"}, {}, FOUR_GPUS, True, [f"{P}: must be true or false (got 'yes')"]),
        # Another service names one of the GPUs the replicas take: both are named.
        (
            {"per_gpu": True},
            {"api": {"gpu": [2]}},
            FOUR_GPUS,
            True,
            [f"{P}: GPU 2 ({UUID[2]}) is also given to service 'api' {PER_GPU_CLASH}"],
        ),
        (
            {"per_gpu": True},
            {"api": {"gpu": [UUID[3]]}},
            FOUR_GPUS,
            True,
            [f"{P}: GPU 3 ({UUID[3]}) is also given to service 'api' {PER_GPU_CLASH}"],
        ),
        # Two per_gpu services: every GPU twice.
        (
            {"per_gpu": True},
            {"api": {"per_gpu": True, "ports": []}},
            FOUR_GPUS[:1],
            True,
            [
                f"{P}: GPU 0 ({UUID[0]}) is also given to service 'api' (app_stack_services.api.per_gpu): a GPU named by index "
                "or UUID, or taken by per_gpu, is one service's alone (allowed: another GPU, or a count, true or auto, which "
                "share the host's GPUs)"
            ],
        ),
        # Replicas cannot share a host port.
        (
            {"per_gpu": True, "ports": ["9000:9000"]},
            {},
            FOUR_GPUS,
            True,
            [
                "app_stack_services.worker.ports: per_gpu runs one replica per GPU, which cannot share host port(s) 9000:9000 "
                "(allowed: none; reach the replicas through a proxy service, or by the service's name 'worker' from the "
                "others)"
            ],
        ),
        # A replica's name taken by another service.
        (
            {"per_gpu": True},
            {"worker-gpu1": {"preset": "worker"}},
            FOUR_GPUS[:2],
            True,
            [
                f"{P}: its replica on GPU 1 would be named 'worker-gpu1', as service 'worker-gpu1' is: rename one of them"
            ],
        ),
    ],
)
def test_per_gpu_problems(
    worker: dict[str, t.Any],
    others: dict[str, t.Any],
    host_gpus: list[dict[str, t.Any]],
    gpu_present: bool,
    problems: list[str],
) -> None:
    services = merged(REFERENCE_SERVICES, {"worker": worker, "api": {"gpu": False}, **others})
    assert problems_of(services=services, gpu_present=gpu_present, host_gpus=host_gpus) == problems


def test_a_job_runs_once_not_per_gpu() -> None:
    problems = problems_of(
        services={**copy.deepcopy(REFERENCE_SERVICES), "migrate": {**MIGRATE, "per_gpu": True}},
        gpu_present=True,
        host_gpus=FOUR_GPUS,
    )
    assert problems == [
        "app_stack_services.migrate.per_gpu: a job runs once, not once per GPU (got True; allowed: false, or left out)"
    ]


def test_per_gpu_false_is_the_service_s_gpu_as_before() -> None:
    model = model_of(
        services=merged(REFERENCE_SERVICES, {"worker": {"per_gpu": False}}), gpu_present=True, host_gpus=FOUR_GPUS
    )
    assert model["services"]["worker"]["reservations"] == {"devices": NVIDIA_ALL} and model["replicas"] == {}


# --- CDI device names ----------------------------------------------------------

CDI_DEVICES = ["nvidia.com/gpu=all"] + [f"nvidia.com/gpu={index}" for index in range(4)]


def cdi(*names: str) -> dict[str, t.Any]:
    return {"devices": [{"driver": "cdi", "device_ids": list(names), "capabilities": ["gpu"]}]}


@pytest.mark.parametrize(
    "gpu, reservation",
    [
        ("auto", cdi("nvidia.com/gpu=all")),
        (True, cdi("nvidia.com/gpu=all")),
        (2, cdi("nvidia.com/gpu=0", "nvidia.com/gpu=1")),
        ([3, 1], cdi("nvidia.com/gpu=3", "nvidia.com/gpu=1")),
        # A UUID by its GPU's index (nvidia-ctk names the devices by index).
        ([UUID[2]], cdi("nvidia.com/gpu=2")),
    ],
)
def test_cdi_where_nvidia_toolkit_wrote_a_spec_and_the_engine_runs_it(
    gpu: t.Any, reservation: dict[str, t.Any]
) -> None:
    model = model_of(
        services=gpu_services(worker=gpu, api=False),
        gpu_present=True,
        host_gpus=FOUR_GPUS,
        cdi_devices=CDI_DEVICES,
        engine_version="26.1.5",
    )
    assert model["services"]["worker"]["reservations"] == reservation


def test_per_gpu_replicas_by_cdi_device_name() -> None:
    model = model_of(
        services=merged(REFERENCE_SERVICES, {"worker": {"per_gpu": True}, "api": {"gpu": False}}),
        gpu_present=True,
        host_gpus=FOUR_GPUS,
        cdi_devices=CDI_DEVICES,
        engine_version="26.1.5",
    )
    assert [model["services"][name]["reservations"] for name in REPLICAS] == [
        cdi(f"nvidia.com/gpu={index}") for index in range(4)
    ]


@pytest.mark.parametrize(
    "cdi_devices, engine_version",
    [
        # legacy runtime mode (nvidia_toolkit wrote no CDI specification), or a CPU host.
        ([], "26.1.5"),
        # An engine before 25 cannot inject CDI devices; unknown (docker_engine did not run): not assumed.
        (CDI_DEVICES, "24.0.7"),
        (CDI_DEVICES, ""),
    ],
)
def test_the_nvidia_device_request_elsewhere(cdi_devices: list[str], engine_version: str) -> None:
    model = model_of(
        services=gpu_services(worker=[1], api=False),
        gpu_present=True,
        host_gpus=FOUR_GPUS,
        cdi_devices=cdi_devices,
        engine_version=engine_version,
    )
    assert model["services"]["worker"]["reservations"]["devices"][0]["driver"] == "nvidia"


@pytest.mark.parametrize(
    "gpu, cdi_devices, problem",
    [
        # More GPUs asked for than the spec names (generated before a card was added; more than the host has
        # is a problem of its own: test_a_count_beyond_the_host_s_gpus_is_refused).
        (
            2,
            CDI_DEVICES[:2],
            "nvidia.com/gpu=1: not a CDI device of this host (aistack_gpu.cdi_devices, from "
            "nvidia_toolkit's CDI specification: nvidia.com/gpu=all, nvidia.com/gpu=0)",
        ),
        # A spec that does not name a GPU the host lists (generated before the card was added).
        (
            [1],
            CDI_DEVICES[:2],
            "nvidia.com/gpu=1: not a CDI device of this host (aistack_gpu.cdi_devices, from "
            "nvidia_toolkit's CDI specification: nvidia.com/gpu=all, nvidia.com/gpu=0)",
        ),
    ],
)
def test_a_cdi_device_the_spec_does_not_name_is_refused(gpu: t.Any, cdi_devices: list[str], problem: str) -> None:
    problems = problems_of(
        services=gpu_services(worker=gpu, api=False),
        gpu_present=True,
        host_gpus=FOUR_GPUS[:2],
        cdi_devices=cdi_devices,
        engine_version="26.1.5",
    )
    assert problems == [f"{W}: {problem}"]


def test_cdi_devices_malformed() -> None:
    assert problems_of(cdi_devices="nvidia.com/gpu=all") == [
        "aistack_gpu.cdi_devices: must be a list of CDI device names (got 'nvidia.com/gpu=all')"
    ]


# --- MIG devices ----------------------------------------------------------------

# GPU 1 of the four in MIG mode, with two MIG devices (aistack_gpu.gpus and .mig_devices as gpu_info reports them).
MIG_GPUS = [{**gpu, "mig_mode": "Enabled" if gpu["index"] == 1 else "Disabled"} for gpu in FOUR_GPUS]
MIG_UUID = ["MIG-7d9e2c4a-51b3-5f0e-a8d6-1c2b3e4f5a60", "MIG-9a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d"]
MIGS = [
    {"gpu": 1, "index": index, "profile": "3g.20gb", "uuid": MIG_UUID[index], "cdi_device": f"nvidia.com/gpu=1:{index}"}
    for index in range(2)
]
MIG_CDI = CDI_DEVICES + ["nvidia.com/gpu=1:0", "nvidia.com/gpu=1:1"]
ON_MIG_HOST = {"gpu_present": True, "host_gpus": MIG_GPUS, "mig_devices": MIGS, "host": "gpu-1"}
MIG_HAVE = (
    f"the host's MIG devices, aistack_gpu.mig_devices: 1:0 ({MIG_UUID[0]}, 3g.20gb), 1:1 ({MIG_UUID[1]}, 3g.20gb)"
)


@pytest.mark.parametrize("gpu", [["1:1"], [MIG_UUID[1]], ["01:1"]])
def test_a_mig_device_by_index_or_uuid(gpu: t.Any) -> None:
    """The CDI name nvidia-ctk gives it (nvidia.com/gpu=1:1) where CDI runs; elsewhere the nvidia driver's
    device_ids with its UUID (what NVIDIA_VISIBLE_DEVICES takes); the gate proves the container sees it."""
    cdi_model = model_of(
        services=gpu_services(worker=gpu, api=False), cdi_devices=MIG_CDI, engine_version="26.1.5", **ON_MIG_HOST
    )
    worker = cdi_model["services"]["worker"]
    assert worker["reservations"] == cdi("nvidia.com/gpu=1:1")
    assert (worker["gpus"], worker["gpu_count"]) == (["1:1"], 1)
    assert cdi_model["gpu_gate"] == {"worker": [MIG_UUID[1]]}
    legacy = model_of(services=gpu_services(worker=gpu, api=False), **ON_MIG_HOST)
    device = {"driver": "nvidia", "device_ids": [MIG_UUID[1]], "capabilities": ["gpu"]}
    assert legacy["services"]["worker"]["reservations"] == {"devices": [device]}
    for model, rendered in ((cdi_model, cdi("nvidia.com/gpu=1:1")["devices"]), (legacy, [device])):
        compose = app_stack_compose(model, COMPOSE_DEFAULTS, ENV_FILE)
        assert compose["services"]["worker"]["deploy"] == {"resources": {"reservations": {"devices": rendered}}}


def test_mig_devices_and_whole_gpus_of_different_services() -> None:
    """A MIG device each for two services, and another GPU whole for a third: no clash."""
    services = merged(gpu_services(worker=["1:0"], api=["1:1"]), {"embedder": {"preset": "worker", "gpu": [2]}})
    model = model_of(services=services, cdi_devices=MIG_CDI, engine_version="26.1.5", **ON_MIG_HOST)
    assert model["gpu_gate"] == {"worker": [MIG_UUID[0]], "api": [MIG_UUID[1]], "embedder": [UUID[2]]}


def whole_in_mig_mode(sname: str, label: str, got: t.Any, host: str = "gpu-1") -> str:
    """The refusal of GPU 1 of ON_MIG_HOST (in MIG mode) named whole by service ``sname``."""
    return (
        f"app_stack_services.{sname}.gpu: names {label} whole, but on {host} it is in MIG mode: a GPU in MIG mode is "
        "used only through its MIG devices (given whole, a container gets no device CUDA can use); ask for one of its "
        f'MIG devices instead, such as gpu: ["1:0"], or take per_gpu, a replica per MIG device (got {got!r}; the MIG '
        f"devices of GPU 1, aistack_gpu.mig_devices: 1:0 ({MIG_UUID[0]}, 3g.20gb), 1:1 ({MIG_UUID[1]}, 3g.20gb))"
    )


@pytest.mark.parametrize(
    "gpus, host, problems",
    [
        # A MIG device the host does not have: the service, the host, the device and what the host has.
        ({"worker": ["1:5"]}, ON_MIG_HOST, [f"{W}: MIG device 1:5 is not on gpu-1 (got ['1:5']; {MIG_HAVE})"]),
        # Beside GPU 1 given whole: that is refused (GPU 1 is in MIG mode), the missing device named as missing.
        (
            {"api": [1], "worker": ["1:5"]},
            ON_MIG_HOST,
            [
                whole_in_mig_mode("api", f"GPU 1 ({UUID[1]})", [1]),
                f"{W}: MIG device 1:5 is not on gpu-1 (got ['1:5']; {MIG_HAVE})",
            ],
        ),
        (
            {"worker": ["MIG-00000000-0000-0000-0000-000000000000"]},
            ON_MIG_HOST,
            [
                f"{W}: MIG device MIG-00000000-0000-0000-0000-000000000000 is not on gpu-1 (got "
                f"['MIG-00000000-0000-0000-0000-000000000000']; {MIG_HAVE})"
            ],
        ),
        # A host without MIG devices.
        (
            {"worker": ["0:0"]},
            {"gpu_present": True, "host_gpus": FOUR_GPUS, "host": "gpu-2"},
            [
                f"{W}: MIG device 0:0 is not on gpu-2 (got ['0:0']; the host has no MIG device: aistack_gpu.mig_devices is "
                "empty (no GPU in MIG mode, or none with MIG devices made))"
            ],
        ),
        # GPU 1 whole for one service while another has one of its MIG devices: GPU 1 is in MIG mode, so the
        # whole GPU is what is refused (its MIG devices are what a container can use).
        ({"api": [1], "worker": ["1:0"]}, ON_MIG_HOST, [whole_in_mig_mode("api", f"GPU 1 ({UUID[1]})", [1])]),
        # Where the host does not list its GPUs, MIG mode is not known: the clash is named, with both services.
        (
            {"api": [1], "worker": ["1:0"]},
            {"gpu_present": True},
            [
                f"{W}: MIG device 1:0 is a MIG device of GPU 1, which service 'api' is given whole "
                "(app_stack_services.api.gpu): a GPU given whole is that service's alone, its MIG devices too (allowed: "
                "another GPU for one of them, or MIG devices of that GPU for both)"
            ],
        ),
        # One MIG device, by <gpu>:<mig> and by UUID, for two services.
        (
            {"api": ["1:0"], "worker": [MIG_UUID[0]]},
            ON_MIG_HOST,
            [
                f"{W}: MIG device 1:0 ({MIG_UUID[0]}) is also given to service 'api' (app_stack_services.api.gpu): a GPU named "
                "by index or UUID, or taken by per_gpu, is one service's alone (allowed: another GPU, or a count, true or "
                "auto, which share the host's GPUs)"
            ],
        ),
        # One service: a GPU whole (by UUID: GPU 1, in MIG mode) and its own MIG device; the same where MIG mode is
        # not known; a MIG device twice.
        (
            {"worker": [UUID[1], "1:1"]},
            ON_MIG_HOST,
            [whole_in_mig_mode("worker", f"GPU 1 ({UUID[1]})", [UUID[1], "1:1"])],
        ),
        (
            {"worker": [1, "1:1"]},
            {"gpu_present": True},
            [
                f"{W}: names GPU 1 whole (1) and its MIG device 1:1 (1:1; got [1, '1:1']): a container gets "
                "either the whole GPU or MIG devices of it"
            ],
        ),
        (
            {"worker": ["1:0", MIG_UUID[0]]},
            ON_MIG_HOST,
            [
                f"{W}: names MIG device 1:0 ({MIG_UUID[0]}) twice (as 1:0 and {MIG_UUID[0]}; got ['1:0', '{MIG_UUID[0]}'])"
            ],
        ),
    ],
)
def test_mig_device_problems(gpus: dict[str, t.Any], host: dict[str, t.Any], problems: list[str]) -> None:
    services = merged(gpu_services(**gpus), {name: {"gpu": False} for name in ("api", "worker") if name not in gpus})
    assert problems_of(services=services, **host) == problems


def test_mig_devices_of_a_host_whose_gpus_are_not_listed_are_taken_as_written() -> None:
    model = model_of(services=gpu_services(worker=["0:1", "MIG-abc"], api=False), gpu_present=True)
    assert model["services"]["worker"]["reservations"]["devices"][0]["device_ids"] == ["0:1", "MIG-abc"]
    assert model["gpu_gate"] == {"worker": ["MIG device 0:1", "MIG-abc"]}


MIG_REPLICAS = ["worker-gpu0", "worker-gpu1-mig0", "worker-gpu1-mig1", "worker-gpu2", "worker-gpu3"]


def test_per_gpu_on_a_gpu_in_mig_mode_runs_a_replica_per_mig_device() -> None:
    model = model_of(
        services=merged(REFERENCE_SERVICES, {"worker": {"per_gpu": True}, "api": {"gpu": False}}),
        cdi_devices=MIG_CDI,
        engine_version="26.1.5",
        **ON_MIG_HOST,
    )
    assert model["replicas"] == {"worker": MIG_REPLICAS}
    names = ["nvidia.com/gpu=0", "nvidia.com/gpu=1:0", "nvidia.com/gpu=1:1", "nvidia.com/gpu=2", "nvidia.com/gpu=3"]
    assert [model["services"][name]["reservations"] for name in MIG_REPLICAS] == [cdi(name) for name in names]
    assert model["gpu_gate"] == dict(
        zip(MIG_REPLICAS, [[UUID[0]], [MIG_UUID[0]], [MIG_UUID[1]], [UUID[2]], [UUID[3]]], strict=True)
    )
    compose = app_stack_compose(model, COMPOSE_DEFAULTS, ENV_FILE)
    assert compose["services"]["worker-gpu1-mig1"]["labels"]["io.aistack.deploy.gpu"] == "1:1"
    assert compose["services"]["worker-gpu2"]["labels"]["io.aistack.deploy.gpu"] == "2"


def test_per_gpu_refuses_a_gpu_in_mig_mode_without_mig_devices() -> None:
    services = merged(REFERENCE_SERVICES, {"worker": {"per_gpu": True}, "api": {"gpu": False}})
    assert problems_of(services=services, gpu_present=True, host_gpus=MIG_GPUS, mig_devices=[], host="gpu-1") == [
        "app_stack_services.worker.per_gpu: runs one replica per GPU, and per MIG device on a GPU in MIG mode, but "
        "GPU 1 of gpu-1 is in MIG mode with no MIG device (aistack_gpu.mig_devices): make its MIG devices "
        "(nvidia-smi mig -cgi <profiles> -C), or turn its MIG mode off"
    ]


def test_a_mig_device_s_free_memory_is_not_known_so_it_stops_first() -> None:
    services = merged(PROXIED, {"api": {"gpu": ["1:0"], "gpu_memory_mb": 4000}, "worker": {"gpu": False}})
    model = model_of(services=services, gpu_free_mib=[24000] * 4, **ON_MIG_HOST)
    assert model["start_first"] == []
    assert f"the free memory of MIG device 1:0 ({MIG_UUID[0]}) is not known" in model["rollout_notes"]["api"]


def beyond(count: int, have: str, allowed: str, host: str = "gpu-1", mig: str = "") -> str:
    return (
        f"{W}: asks for {count} GPUs, but {host} has {have} (aistack_gpu.gpus: "
        + ", ".join(f"{gpu['index']} ({gpu['uuid']})" for gpu in FOUR_GPUS[: int(have.split()[0])])
        + f"{mig}): the runtime would give the container fewer or none, or refuse to start it; {allowed} (got {count})"
    )


ALLOWED_UP_TO = "allowed: a count of 1 to {}, true or auto (every GPU), or a list of the GPUs it gets"


@pytest.mark.parametrize(
    "count, host_gpus, problems",
    [
        (2, FOUR_GPUS[:2], []),
        (4, FOUR_GPUS, []),
        (3, FOUR_GPUS[:2], [beyond(3, "2 GPUs", ALLOWED_UP_TO.format(2))]),
        (5, FOUR_GPUS, [beyond(5, "4 GPUs", ALLOWED_UP_TO.format(4))]),
        (
            2,
            FOUR_GPUS[:1],
            [beyond(2, "1 GPU", "allowed: a count of 1, true or auto (every GPU), or a list of the GPUs it gets")],
        ),
    ],
)
@pytest.mark.parametrize("cdi_devices", [[], CDI_DEVICES], ids=["nvidia", "cdi"])
def test_a_count_beyond_the_host_s_gpus_is_refused(
    count: int, host_gpus: list[dict[str, t.Any]], problems: list[str], cdi_devices: list[str]
) -> None:
    """The runtime gives gpu: N as the host's first N GPUs: more than the host has fails at start (or, with some
    runtimes, gives fewer), so it is refused before any change, naming the host's GPUs and the counts allowed."""
    assert (
        problems_of(
            services=gpu_services(worker=count, api=False),
            gpu_present=True,
            host_gpus=host_gpus,
            cdi_devices=cdi_devices[: len(host_gpus) + 1],
            engine_version="26.1.5",
            host="gpu-1",
        )
        == problems
    )


def test_a_count_on_a_host_whose_gpus_are_not_listed_is_taken_as_written() -> None:
    """Without aistack_gpu.gpus (nvidia_toolkit did not run) the host's number of GPUs is not known."""
    assert problems_of(services=gpu_services(worker=8, api=False), gpu_present=True, host_gpus=[]) == []


@pytest.mark.parametrize(
    "count, host, allowed",
    [
        # GPU 1 is in MIG mode: a count reaches whole GPUs only up to it, and its MIG devices add none.
        (5, ON_MIG_HOST, ALLOWED_UP_TO.format(1).replace("1 to 1", "1 (GPU 1 is in MIG mode)")),
        (
            5,
            {**ON_MIG_HOST, "host_gpus": MIG_GPUS[1:], "mig_devices": MIGS},
            "no count is allowed there, as GPU 1 is in MIG mode: ask for true or auto (every GPU and MIG device), "
            "or name the GPUs and MIG devices it gets in a list, or take per_gpu",
        ),
    ],
    ids=["first_whole", "first_in_mig_mode"],
)
def test_a_count_beyond_a_host_with_mig_devices_counts_whole_gpus(
    count: int, host: dict[str, t.Any], allowed: str
) -> None:
    """A count asks for whole GPUs: the MIG devices of a GPU in MIG mode are not GPUs of their own for it, and
    what is allowed stops at the first GPU in MIG mode (reaching it is refused as a GPU given whole)."""
    host_gpus = host["host_gpus"]
    have = f"{len(host_gpus)} GPU{'' if len(host_gpus) == 1 else 's'}"
    listed = ", ".join(f"{gpu['index']} ({gpu['uuid']})" for gpu in host_gpus)
    assert problems_of(services=gpu_services(worker=count, api=False), **host) == [
        f"{W}: asks for {count} GPUs, but gpu-1 has {have} (aistack_gpu.gpus: {listed}; its 2 MIG device(s) do "
        "not count: a count gives whole GPUs): the runtime would give the container fewer or none, or refuse to "
        f"start it; {allowed} (got {count})"
    ]


@pytest.mark.parametrize("gpu", [True, "auto"])
def test_every_gpu_with_one_in_mig_mode_stops_first_as_its_room_is_not_known(gpu: t.Any) -> None:
    """Every GPU of a host is every MIG device of a GPU in MIG mode too, whose free memory nvidia-smi does not
    report (GPU 1's own figure is the card's): a start-first is replaced in place, with that reason."""
    services = merged(PROXIED, {"api": {"gpu": gpu, "gpu_memory_mb": 4000}, "worker": {"gpu": False}})
    model = model_of(services=services, gpu_free_mib=[24000] * 4, **ON_MIG_HOST)
    assert model["start_first"] == []
    assert (
        f"the free memory of the MIG devices of GPU 1 ({UUID[1]}), which is in MIG mode, is not known"
        in model["rollout_notes"]["api"]
    )
    # Without a GPU in MIG mode, the same service starts first where each GPU has room for two.
    plain_host = {**ON_MIG_HOST, "host_gpus": FOUR_GPUS, "mig_devices": []}
    assert model_of(services=services, gpu_free_mib=[24000] * 4, **plain_host)["start_first"] == ["api"]


@pytest.mark.parametrize("gpu", [[1], [UUID[1]], ["1"]])
@pytest.mark.parametrize(
    "host",
    [
        pytest.param(ON_MIG_HOST, id="mig_mode"),
        # A fact without mig_mode: MIG devices listed for GPU 1 put it in MIG mode all the same.
        pytest.param({**ON_MIG_HOST, "host_gpus": FOUR_GPUS}, id="mig_devices_listed"),
    ],
)
def test_a_gpu_in_mig_mode_is_refused_whole(gpu: list[t.Any], host: dict[str, t.Any]) -> None:
    """On real hardware a GPU in MIG mode is of use only through its MIG devices: given whole (by index or UUID),
    the container gets no device CUDA can use, so it is refused before anything changes, naming what to ask for."""
    services = gpu_services(worker=gpu, api=False)
    assert problems_of(services=services, **host) == [whole_in_mig_mode("worker", f"GPU 1 ({UUID[1]})", gpu)]


def test_a_gpu_in_mig_mode_without_mig_devices_is_refused_whole() -> None:
    host_gpus = [{**MIG_GPUS[1], "index": 0}]
    assert problems_of(
        services=gpu_services(worker=[0], api=False), gpu_present=True, host_gpus=host_gpus, host="gpu-1"
    ) == [
        f"{W}: names GPU 0 ({UUID[1]}) whole, but on gpu-1 it is in MIG mode: a GPU in MIG mode is used only through its "
        "MIG devices (given whole, a container gets no device CUDA can use); ask for another GPU, or take per_gpu, a "
        "replica per MIG device (got [0]; GPU 0 has no MIG device made: make them (nvidia-smi mig -cgi <profiles> -C), or "
        "turn its MIG mode off)"
    ]


@pytest.mark.parametrize("count, refused", [(1, False), (2, True), (4, True)])
def test_a_count_that_reaches_a_gpu_in_mig_mode_is_refused(count: int, refused: bool) -> None:
    """A count N is the host's first N GPUs whole: one in MIG mode among them is refused, as if named whole."""
    problems = problems_of(services=gpu_services(worker=count, api=False), **ON_MIG_HOST)
    assert problems == (
        [
            f"{W}: asks for {count} GPU(s), which the runtime gives as the first {count} GPUs of gpu-1 whole, and GPU 1 "
            "among them is in MIG mode: a GPU in MIG mode is used only through its MIG devices (given whole, a container "
            'gets no device CUDA can use); name the GPUs and MIG devices it gets in a list, such as gpu: ["1:0"], or take '
            f"per_gpu, a replica per GPU and MIG device (got {count}; the MIG devices of GPU 1, aistack_gpu.mig_devices: "
            f"1:0 ({MIG_UUID[0]}, 3g.20gb), 1:1 ({MIG_UUID[1]}, 3g.20gb))"
        ]
        if refused
        else []
    )


@pytest.mark.parametrize("gpu", [True, "auto"])
def test_every_gpu_of_a_host_in_mig_mode_is_shared_use(gpu: t.Any) -> None:
    """true and auto ask the runtime for every device (count all, nvidia.com/gpu=all): every GPU, and every MIG
    device of a GPU in MIG mode, which is how such a GPU is used; the gate proves the container sees every GPU."""
    for spec_of in ({}, {"cdi_devices": MIG_CDI, "engine_version": "26.1.5"}):
        model = model_of(services=gpu_services(worker=gpu, api=False), **spec_of, **ON_MIG_HOST)
        assert model["services"]["worker"]["gpus"] == [0, 1, 2, 3]
        assert model["gpu_gate"] == {"worker": UUID}


# --- MIG devices written without quotes (YAML 1.1 reads 1:0 as 60) -------------------------------------------


@pytest.mark.parametrize(
    "text, problem",
    [
        (
            "worker: {gpu: [1:0]}",
            "60 is what YAML 1.1 makes of 1:0 written without quotes (digits joined by colons are a number in base 60), "
            'not a GPU index: a MIG device <gpu>:<mig> must be quoted, gpu: ["1:0"] (got [60]; a GPU index of 60 or more '
            "is taken only in quotes, or name the GPU by its UUID)",
        ),
        (
            "worker: {gpu: [0, 2:1, 3]}",
            "121 is what YAML 1.1 makes of 2:1 written without quotes (digits joined by colons are a number in base 60), "
            'not a GPU index: a MIG device <gpu>:<mig> must be quoted, gpu: [0, "2:1", 3] (got [0, 121, 3]; a GPU index of '
            "60 or more is taken only in quotes, or name the GPU by its UUID)",
        ),
        (
            "worker: {gpu: [1:0, 1:1]}",
            "60 is what YAML 1.1 makes of 1:0 and 61 is what YAML 1.1 makes of 1:1 written without quotes (digits joined "
            'by colons are a number in base 60), not a GPU index: a MIG device <gpu>:<mig> must be quoted, gpu: ["1:0", '
            '"1:1"] (got [60, 61]; a GPU index of 60 or more is taken only in quotes, or name the GPU by its UUID)',
        ),
        (
            "worker: {gpu: [1:0:0]}",
            "3600 is what YAML 1.1 makes of 60:0 or 1:0:0 written without quotes (digits joined by colons are a number in "
            'base 60), not a GPU index: a MIG device <gpu>:<mig> must be quoted, gpu: ["60:0"] (got [3600]; a GPU index of '
            "60 or more is taken only in quotes, or name the GPU by its UUID)",
        ),
        # Without the brackets: a number, which would be a count of 60 GPUs.
        (
            "worker: {gpu: 1:0}",
            "60 is what YAML 1.1 makes of 1:0 written without quotes (digits joined by colons are a number in base 60), "
            'not a count of GPUs: a MIG device <gpu>:<mig> must be quoted, gpu: ["1:0"] (got 60; a count is less than 60)',
        ),
    ],
)
@pytest.mark.parametrize(
    "host",
    [
        pytest.param(ON_MIG_HOST, id="listed"),
        # Where the host's GPUs are not listed a GPU index is taken as written: 60 would be, silently.
        pytest.param({"gpu_present": True}, id="not_listed"),
    ],
)
def test_an_unquoted_mig_device_is_refused_with_how_to_write_it(
    text: str, problem: str, host: dict[str, t.Any]
) -> None:
    """What Ansible hands the model for an unquoted <gpu>:<mig> (its own YAML loader, as for inventory and vars
    files): a number in base 60. Refused, naming the variable and the quoted form, on every host."""
    services = merged(REFERENCE_SERVICES, {"api": {"gpu": False}, **from_yaml(text)})
    assert app_stack_model(spec(services=services, **host))["problems"] == [f"{W}: {problem}"]


@pytest.mark.parametrize("text, device_ids", [("['1:0']", ["1:0"]), ("[0:1]", ["0:1"]), ("['60']", ["60"])])
def test_what_yaml_keeps_as_text_is_taken(text: str, device_ids: list[str]) -> None:
    """A quoted 1:0, an unquoted 0:1 (no number in base 60 starts with 0) and a quoted '60' are taken as written."""
    services = merged(REFERENCE_SERVICES, {"api": {"gpu": False}, "worker": {"gpu": from_yaml(text)}})
    model = model_of(services=services, gpu_present=True)
    assert model["services"]["worker"]["reservations"]["devices"][0]["device_ids"] == device_ids


@pytest.mark.parametrize(
    "value, readings",
    [(60, ["1:0"]), (61, ["1:1"]), (3599, ["59:59"]), (3600, ["60:0", "1:0:0"]), (3661, ["61:1", "1:1:1"])],
)
def test_base60_readings(value: int, readings: list[str]) -> None:
    assert base60_readings(value) == readings
    # Each reading is what YAML 1.1 makes that number of.
    assert all(from_yaml(reading) == value for reading in readings)


@pytest.mark.parametrize("migs", [{"gpu": 1}, [{"gpu": "1", "index": 0, "uuid": "MIG-a"}], [{"gpu": 1}]])
def test_mig_devices_malformed(migs: t.Any) -> None:
    assert problems_of(mig_devices=migs) == [
        f"aistack_gpu.mig_devices: must be a list of MIG devices, each with its gpu, index and uuid (got {migs!r})"
    ]


# --- environment --------------------------------------------------------------


def test_env_goes_only_to_app_targets_with_env_file() -> None:
    model = model_of(
        services={
            **copy.deepcopy(REFERENCE_SERVICES),
            "beat": {"env_file": False},
            "tool": {"image": "demo/tool:1", "env_file": True, "healthcheck": "image"},
        }
    )
    services = model["services"]
    expected = {"LOG_LEVEL": "INFO", "REDIS_URL": "redis://redis:6379/0"}
    assert services["api"]["environment"] == expected
    assert services["worker"]["environment"] == expected
    assert services["beat"]["environment"] == {}  # a target, but without env_file
    assert services["tool"]["environment"] == {}  # env_file, but not an app target
    assert services["postgres"]["environment"] == {"POSTGRES_USER": "demo_user", "POSTGRES_DB": "demo_db"}
    assert services["redis"]["environment"] == {}


def test_env_values_become_strings_and_service_environment_wins() -> None:
    model = model_of(
        env={"DEBUG": False, "WORKERS": 4, "EMPTY": None, "LOG_LEVEL": "INFO"},
        services={"api": {"environment": {"LOG_LEVEL": "DEBUG"}}},
        volumes={},
    )
    assert model["services"]["api"]["environment"] == {
        "DEBUG": "false",
        "WORKERS": "4",
        "EMPTY": "",
        "LOG_LEVEL": "DEBUG",
    }


def test_preset_env_yields_to_a_secret_of_the_same_name() -> None:
    # compose's environment wins over env_file: a plain REDIS_URL would hide the secret one.
    model = model_of(secret_names=["POSTGRES_PASSWORD", "REDIS_URL"])
    assert "REDIS_URL" not in model["services"]["api"]["environment"]


def test_secret_names_in_plain_environment_are_problems() -> None:
    assert problems_of(env={"APP_SECRET_KEY": "x"}) == [
        "app_stack_env: APP_SECRET_KEY is also a secret in app_stack_secrets: secrets go only to .env"
    ]
    assert problems_of(
        services={**copy.deepcopy(REFERENCE_SERVICES), "api": {"environment": {"POSTGRES_PASSWORD": "x"}}}
    ) == [
        "app_stack_services.api.environment: POSTGRES_PASSWORD is a secret in app_stack_secrets: secrets go only to .env"
    ]


def test_env_from_hands_the_connection_pieces_to_app_services_under_their_names() -> None:
    model = model_of(
        env_from={
            "POSTGRES_SERVER": "postgres.host",
            "POSTGRES_PORT": "postgres.port",
            "POSTGRES_USER": "postgres.user",
            "POSTGRES_DB": "postgres.db",
            "POSTGRES_PASSWORD_FOR_APP": "postgres.password",
            "DB_URL": "postgres.url",
            "BROKER_HOST": "redis.host",
            "BROKER_PORT": "redis.port",
            "BROKER_URL": "redis.url",
        },
        services={
            **copy.deepcopy(REFERENCE_SERVICES),
            "api": {"volumes": ["data:/app/data", "models:/app/models:ro"], "environment": {"BROKER_PORT": "6380"}},
        },
    )
    pieces = {
        "POSTGRES_SERVER": "postgres",
        "POSTGRES_PORT": "5432",
        "POSTGRES_USER": "demo_user",
        "POSTGRES_DB": "demo_db",
        "BROKER_HOST": "redis",
        "BROKER_URL": "redis://redis:6379/0",
    }
    base = {"LOG_LEVEL": "INFO", "REDIS_URL": "redis://redis:6379/0"}
    assert model["services"]["worker"]["environment"] == {**base, **pieces, "BROKER_PORT": "6379"}
    assert model["services"]["api"]["environment"] == {**base, **pieces, "BROKER_PORT": "6380"}  # its own wins
    # The secret pieces: names and sources only, never a value; PostgreSQL and Redis get nothing.
    assert model["env_from_secrets"] == {"POSTGRES_PASSWORD_FOR_APP": "postgres.password", "DB_URL": "postgres.url"}
    assert model["services"]["postgres"]["environment"] == {"POSTGRES_USER": "demo_user", "POSTGRES_DB": "demo_db"}
    assert model["services"]["redis"]["environment"] == {}


def test_env_from_follows_the_postgres_service_and_its_settings() -> None:
    model = model_of(
        env_from={"PGHOST": "postgres.host", "PGUSER": "postgres.user"},
        services={"api": {}, "db": {"preset": "postgres", "environment": {"POSTGRES_USER": "owner"}}},
        volumes={},
    )
    assert model["services"]["api"]["environment"]["PGHOST"] == "db"
    assert model["services"]["api"]["environment"]["PGUSER"] == "owner"
    assert model_of()["env_from_secrets"] == {}


@pytest.mark.parametrize(
    ("env_from", "problem"),
    [
        (
            {"POSTGRES_SERVER": "postgres.hostname"},
            "app_stack_env_from.POSTGRES_SERVER: must be one of postgres.host, postgres.port, postgres.user, postgres.db, "
            "postgres.password, postgres.url, redis.host, redis.port, redis.url (got 'postgres.hostname')",
        ),
        ({"9LIVES": "postgres.host"}, "app_stack_env_from: '9LIVES' is not a valid environment variable name"),
        (
            {"LOG_LEVEL": "postgres.host"},
            "app_stack_env_from.LOG_LEVEL: LOG_LEVEL is already set to 'INFO' (app_stack_env)",
        ),
        (
            {"REDIS_URL": "redis.url"},
            "app_stack_env_from.REDIS_URL: REDIS_URL is already set to 'redis://redis:6379/0' (by a preset)",
        ),
        (
            {"APP_SECRET_KEY": "postgres.password"},
            "app_stack_env_from.APP_SECRET_KEY: APP_SECRET_KEY is also a secret in app_stack_secrets "
            "(.env has it already)",
        ),
        (["POSTGRES_SERVER"], "app_stack_env_from: must be a dict of variable names to sources such as postgres.host"),
    ],
)
def test_env_from_problems(env_from: t.Any, problem: str) -> None:
    assert problems_of(env_from=env_from) == [problem]


def test_env_from_needs_the_service_to_run() -> None:
    assert problems_of(
        env_from={"POSTGRES_SERVER": "postgres.host", "BROKER": "redis.url"}, services={"api": {}}, volumes={}
    ) == [
        "app_stack_env_from.POSTGRES_SERVER: postgres.host needs a postgres service that runs "
        "(a service of app_stack_services with that preset)",
        "app_stack_env_from.BROKER: redis.url needs a redis service that runs "
        "(a service of app_stack_services with that preset)",
    ]


# --- service checks -----------------------------------------------------------


def test_host_port_clashes() -> None:
    def worker_ports(*ports: str) -> list[str]:
        return problems_of(services={**copy.deepcopy(REFERENCE_SERVICES), "worker": {"ports": list(ports)}})

    clash = (
        "app_stack_services.worker.ports: host port 8000/tcp of service 'worker' is already published by service 'api'"
    )
    assert worker_ports("8000:9000") == [clash]
    assert worker_ports("127.0.0.1:8000:9000") == [clash]
    assert worker_ports("8000:9000/udp") == []
    assert worker_ports("9000") == []  # no host port
    both_local = problems_of(
        services={"api": {"ports": ["127.0.0.1:8000:8000"]}, "worker": {"ports": ["127.0.0.2:8000:8000"]}}, volumes={}
    )
    assert both_local == []
    inactive = problems_of(services={"api": {}, "worker": {"ports": ["8000:9000"], "profiles": ["x"]}}, volumes={})
    assert inactive == []


def test_a_preset_port_clash_names_the_role_variable_the_user_set() -> None:
    presets = copy.deepcopy(PRESETS)
    presets["flower"]["ports"] = ["8000:5555"]  # as app_stack_flower_port: 8000 renders it
    model = app_stack_model(
        spec(
            presets=presets,
            services={"api": {}, "flower": {}, "redis": {}},
            volumes={},
            images={**IMAGES, "flower": "demo/app:1.0.0-flower"},
        )
    )
    assert model["problems"] == [
        "app_stack_flower_port: host port 8000/tcp of service 'flower' is already published by service 'api'"
    ]
    assert model["services"]["api"]["port_variables"] == ["app_stack_api_port"]
    # A ports list of the user's own is named as such.
    own = model_of(services={"api": {"ports": ["9000:8000"]}}, volumes={})
    assert own["services"]["api"]["port_variables"] == ["app_stack_services.api.ports"]


@pytest.mark.parametrize("port", ["70000:8000", "8000:0", "eight:8000", "1.2.3:80:80", "8000:8000/sctp"])
def test_malformed_ports(port: str) -> None:
    assert problems_of(services={"api": {"ports": [port]}}, volumes={}) == [
        f"app_stack_services.api.ports: {port!r} is not [ip:]host:container[/tcp|udp] with ports 1-65535"
    ]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"port": 1}, "app_stack_services.api: unknown key 'port'"),
        ({"preset": "memcached", "target": "api"}, "app_stack_services.api.preset: unknown preset 'memcached'"),
        ({"image": "demo/api:2"}, "app_stack_services.api: set target (an image app_image built) or image, not both"),
        ({"target": "trainer"}, "app_stack_services.api.target: 'trainer' is not a target app_image built"),
        ({"volumes": ["data:app/data"]}, "app_stack_services.api.volumes[0]: 'data:app/data' is not"),
        ({"volumes": ["cache:/cache"]}, "app_stack_services.api.volumes[0]: volume 'cache' is not declared"),
        ({"restart": "sometimes"}, "app_stack_services.api.restart: must be no, always, unless-stopped"),
        ({"resources": {"memory": "2 GB"}}, "app_stack_services.api.resources.memory: must be a size"),
        ({"resources": {"cpus": 0}}, "app_stack_services.api.resources.cpus: must be a positive number"),
        ({"healthcheck": "none"}, "app_stack_services.api.healthcheck: must be 'image'"),
        ({"healthcheck": {"interval": "10s"}}, "app_stack_services.api.healthcheck.test: must be"),
        ({"healthcheck": {"test": "true", "retries": 0}}, "app_stack_services.api.healthcheck.retries: must be"),
        ({"stop_grace_period": "soon"}, "app_stack_services.api.stop_grace_period: must be a duration"),
        ({"cap_drop": ["all"]}, "app_stack_services.api.cap_drop: must be a list of capability names"),
        ({"tmpfs": ["tmp"]}, "app_stack_services.api.tmpfs: must be a list of absolute container paths"),
    ],
)
def test_service_problems(settings: dict[str, t.Any], problem: str) -> None:
    problems = problems_of(services={"api": settings}, volumes={"data": {}})
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("restart", "sometimes"),
        ("stop_grace_period", "30 seconds"),
        ("tmpfs", ["tmp"]),
        ("cap_drop", ["all"]),
    ],
)
def test_bad_role_default_is_named_once_as_the_role_variable(key: str, value: t.Any) -> None:
    problems = problems_of(defaults={**DEFAULTS, key: value})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"app_stack_{key}: "), problems


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"name": "MyApp"}, "app_stack_name: must be lower-case letters"),
        ({"data_root": "var/lib/demo"}, "app_stack_data_root: must be an absolute path below /"),
        ({"data_root": "/"}, "app_stack_data_root: must be an absolute path below /"),
        ({"services": {}}, "app_stack_services: must name at least one service"),
        ({"profiles": "full"}, "app_stack_profiles: must be a list of profile names"),
    ],
)
def test_top_level_problems(changes: dict[str, t.Any], problem: str) -> None:
    problems = problems_of(**changes)
    assert problems and problems[0].startswith(problem), problems


@pytest.mark.parametrize(
    ("settings", "seconds"),
    [
        ({}, 60),  # postgres' 60s
        ({"worker": {"stop_grace_period": "1m30s"}}, 90),
        ({"worker": {"stop_grace_period": 120}}, 120),
        ({"worker": {"stop_grace_period": "1h"}}, 3600),
    ],
)
def test_max_stop_grace_seconds(settings: dict[str, t.Any], seconds: int) -> None:
    services = copy.deepcopy(REFERENCE_SERVICES)
    for name, extra in settings.items():
        services[name].update(extra)
    assert model_of(services=services)["max_stop_grace_seconds"] == seconds


def test_max_stop_grace_seconds_rounds_up() -> None:
    model = model_of(
        services={"api": {"stop_grace_period": "1500ms"}}, volumes={}, defaults={**DEFAULTS, "stop_grace_period": "1s"}
    )
    assert model["max_stop_grace_seconds"] == 2
    assert model["services"]["api"]["stop_grace_period"] == "1500ms"


def test_model_takes_lazy_mappings() -> None:
    """Ansible may hand in its own Mapping types; the filter copies them into plain dicts."""

    class Lazy(t.Mapping[str, t.Any]):
        def __init__(self, data: dict[str, t.Any]) -> None:
            self._data = data

        def __getitem__(self, key: str) -> t.Any:
            return self._data[key]

        def __iter__(self) -> t.Iterator[str]:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    lazy = app_stack_model(Lazy({**spec(), "services": Lazy(copy.deepcopy(REFERENCE_SERVICES))}))
    assert lazy == app_stack_model(spec())


# --- the compose file ---------------------------------------------------------


def compose_of(**changes: t.Any) -> dict[str, t.Any]:
    return app_stack_compose(model_of(**changes), COMPOSE_DEFAULTS, ENV_FILE)


def test_compose_services() -> None:
    compose = compose_of()
    assert compose["name"] == "demo"
    assert list(compose["services"]) == ["api", "worker", "postgres", "redis"]
    api, postgres, redis = (compose["services"][s] for s in ("api", "postgres", "redis"))
    assert api["image"] == "demo/app:1.0.0-api"
    assert api["pull_policy"] == "never"
    assert api["restart"] == "unless-stopped"
    assert api["env_file"] == [ENV_FILE]
    assert postgres["env_file"] == ["/opt/aistack/demo/postgres.env"]  # its password alone
    assert "env_file" not in redis
    assert api["environment"] == {"LOG_LEVEL": "INFO", "REDIS_URL": "redis://redis:6379/0"}
    assert api["ports"] == ["8000:8000"]
    assert api["depends_on"] == {
        "postgres": {"condition": "service_healthy", "restart": True},
        "redis": {"condition": "service_healthy", "restart": True},
    }
    assert "depends_on" not in redis
    assert "healthcheck" not in api
    assert postgres["healthcheck"]["test"][0] == "CMD-SHELL"
    assert postgres["stop_signal"] == "SIGINT"
    assert postgres["stop_grace_period"] == "60s"
    assert api["labels"] == {"io.aistack.deploy.app": "demo"}


def test_compose_hardening() -> None:
    services = compose_of()["services"]
    for name, svc in services.items():
        assert svc["security_opt"] == ["no-new-privileges:true"], name
        assert svc["cap_drop"] == ["ALL"], name
        assert svc["tmpfs"] == ["/tmp"], name
    assert services["api"]["read_only"] is True
    assert services["redis"]["read_only"] is True
    assert services["postgres"]["read_only"] is False
    assert services["postgres"]["cap_add"] == ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
    assert "cap_add" not in services["api"]
    relaxed = app_stack_compose(model_of(), {**COMPOSE_DEFAULTS, "no_new_privileges": False}, ENV_FILE)
    assert "security_opt" not in relaxed["services"]["api"]


def test_compose_logging() -> None:
    compose = compose_of()
    assert compose["services"]["api"]["logging"] == {
        "driver": "json-file",
        "options": {"max-size": "10m", "max-file": "3"},
    }
    plain = app_stack_compose(model_of(), {**COMPOSE_DEFAULTS, "log_driver": "journald", "log_options": {}}, ENV_FILE)
    assert plain["services"]["api"]["logging"] == {"driver": "journald"}
    numbers = app_stack_compose(model_of(), {**COMPOSE_DEFAULTS, "log_options": {"max-file": 5}}, ENV_FILE)
    assert numbers["services"]["api"]["logging"]["options"] == {"max-file": "5"}


def test_compose_volumes() -> None:
    compose = compose_of(volumes={"data": {"type": "named"}, "models": {}})
    assert compose["volumes"] == {"data": {"name": "aistack-demo-data", "external": True}}
    assert compose["services"]["api"]["volumes"] == [
        {"type": "volume", "source": "data", "target": "/app/data"},
        {
            "type": "bind",
            "source": "/var/lib/aistack/demo/models",
            "target": "/app/models",
            "read_only": True,
            "bind": {"create_host_path": False},
        },
    ]
    assert "volumes" not in compose_of()  # bind volumes only: no top-level volumes


def test_compose_resources_and_gpu() -> None:
    services = {
        **copy.deepcopy(REFERENCE_SERVICES),
        "worker": {"resources": {"cpus": 1.5, "memory": "2g", "memory_reservation": "512m", "pids": 256}},
    }
    compose = compose_of(services=services, gpu_present=True)
    assert compose["services"]["worker"]["deploy"] == {
        "resources": {
            "limits": {"cpus": "1.5", "memory": "2g", "pids": 256},
            "reservations": {"memory": "512m", "devices": NVIDIA_ALL},
        }
    }
    assert "deploy" not in compose_of()["services"]["api"]


def test_compose_profiles_and_pull_policy() -> None:
    model = model_of(services={"api": {"profiles": ["web"]}}, volumes={})
    compose = app_stack_compose(model, {**COMPOSE_DEFAULTS, "pull_policy": "missing"}, ENV_FILE)
    assert compose["services"]["api"]["profiles"] == ["web"]
    assert compose["services"]["api"]["pull_policy"] == "missing"


def test_compose_dumps_without_anchors() -> None:
    # Presets share objects between services (two workers, the same healthcheck); no YAML anchor may result.
    services = {
        **copy.deepcopy(REFERENCE_SERVICES),
        "worker2": {"preset": "worker"},
        "redis2": {"preset": "redis", "volumes": ["redis-data:/data"], "profiles": ["x"]},
    }
    text = yaml.safe_dump(compose_of(services=services, gpu_present=True), sort_keys=False)
    assert "&id" not in text and "*id" not in text, text
    assert yaml.safe_load(text)["services"]["worker2"]["image"] == "demo/app:1.0.0-worker"


def test_compose_holds_no_secret() -> None:
    secret_names = ["POSTGRES_PASSWORD", "APP_SECRET_KEY", "REDIS_URL"]
    model = model_of(secret_names=secret_names)
    compose = app_stack_compose(model, COMPOSE_DEFAULTS, ENV_FILE)
    for svc in compose["services"].values():
        assert not set(svc.get("environment", {})) & set(secret_names), svc
    text = json.dumps(compose)
    for name in secret_names:
        assert name not in text


# --- secrets ------------------------------------------------------------------

GOOD_SECRETS = {
    "POSTGRES_PASSWORD": "pg-Unit/Test:w0rd@aistack",
    "APP_SECRET_KEY": "k3y-6f1c0b9e-unit",
    "PORT_SALT": 4711,
}


def test_good_secrets_have_no_problems() -> None:
    assert app_stack_secret_problems(GOOD_SECRETS, ["APP_SECRET_KEY", "POSTGRES_PASSWORD"], PLACEHOLDERS) == []


def test_missing_required_secrets_are_named() -> None:
    problems = app_stack_secret_problems(
        {"APP_SECRET_KEY": "k3y-6f1c0b9e-unit"}, ["APP_SECRET_KEY", "POSTGRES_PASSWORD", "OPENAI_API_KEY"], PLACEHOLDERS
    )
    assert problems == [
        "app_stack_secrets: required secret POSTGRES_PASSWORD is missing (app_stack_required_secrets)",
        "app_stack_secrets: required secret OPENAI_API_KEY is missing (app_stack_required_secrets)",
    ]


PLACEHOLDER_VALUES = [
    "changeme",
    "CHANGE_ME",
    "change-me",
    "your-secret-key",
    "your_api_key",
    "<set me>",
    "<OPENAI_API_KEY>",
    "${X}",
    "${APP_SECRET_KEY}",
    "xxxx",
    "********",
    "TODO",
    "Dummy",
]


@pytest.mark.parametrize("value", PLACEHOLDER_VALUES)
def test_placeholders_are_refused_without_showing_them(value: str) -> None:
    problems = app_stack_secret_problems({**GOOD_SECRETS, "APP_SECRET_KEY": value}, ["APP_SECRET_KEY"], PLACEHOLDERS)
    assert problems == [
        "app_stack_secrets.APP_SECRET_KEY: is a placeholder, not a secret: set the real value "
        "(for example from ansible-vault)"
    ]
    assert all(value not in problem for problem in problems)


NOT_IN_ENV = "must not contain a newline, a NUL or a single quote (.env quotes values with ')"
NOT_A_STRING = "must be a string or a number"


@pytest.mark.parametrize(
    ("value", "problem", "hidden"),
    [
        ("", "is empty", []),
        ("   ", "is empty", []),
        ("first-canary-line\nsecond-canary-line", NOT_IN_ENV, ["first-canary-line", "second-canary-line"]),
        ("carriage-canary\rreturn-canary", NOT_IN_ENV, ["carriage-canary", "return-canary"]),
        ("nul-canary\0byte-canary", NOT_IN_ENV, ["nul-canary", "byte-canary"]),
        ("quote-canary'after-quote-canary", NOT_IN_ENV, ["quote-canary", "after-quote-canary"]),
        (None, NOT_A_STRING, []),
        (True, NOT_A_STRING, []),
        (["list-canary"], NOT_A_STRING, ["list-canary"]),
        ({"dict-canary": "dict-canary-value"}, NOT_A_STRING, ["dict-canary"]),
    ],
)
def test_bad_secret_values_are_named_never_shown(value: t.Any, problem: str, hidden: list[str]) -> None:
    problems = app_stack_secret_problems({**GOOD_SECRETS, "APP_SECRET_KEY": value}, [], PLACEHOLDERS)
    assert problems == [f"app_stack_secrets.APP_SECRET_KEY: {problem}"]
    for fragment in hidden:
        assert fragment not in problems[0]


def test_secret_names_are_checked_values_stay_hidden() -> None:
    problems = app_stack_secret_problems(
        {"app-secret": "name-canary-value", "1ST": "digit-canary-value"}, [], PLACEHOLDERS
    )
    assert problems == [
        "app_stack_secrets: 'app-secret' is not a valid environment variable name",
        "app_stack_secrets: '1ST' is not a valid environment variable name",
    ]
    assert not any("canary" in problem for problem in problems)


def test_secret_problems_of_malformed_arguments() -> None:
    assert app_stack_secret_problems(["APP_SECRET_KEY=v"], [], PLACEHOLDERS) == [
        "app_stack_secrets: must be a dict of variable names to values"
    ]
    assert app_stack_secret_problems(GOOD_SECRETS, "APP_SECRET_KEY", PLACEHOLDERS) == [
        "app_stack_required_secrets: must be a list of secret names"
    ]
    assert app_stack_secret_problems(GOOD_SECRETS, [], ["(unclosed"]) == [
        "app_stack_secret_placeholders: '(unclosed' is not a regular expression"
    ]


def test_filters_are_registered() -> None:
    assert FilterModule().filters() == {
        "app_stack_model": app_stack_model,
        "app_stack_compose": app_stack_compose,
        "app_stack_secret_problems": app_stack_secret_problems,
    }


# --- data paths the role must never take over -----------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/etc",
        "/etc/app",
        "/usr/local/data",
        "/var/lib/docker/volumes/x",
        "/",
        "/var/lib",
        "/opt/aistack/demo/releases/1.0.0",
        "/opt/aistack/demo",
        "/srv/../etc/app",
    ],
)
def test_unsafe_bind_paths_are_problems(path: str) -> None:
    problems = problems_of(root="/opt/aistack/demo", volumes={"data": {"path": path}, "models": {}})
    assert [p for p in problems if p.startswith("app_stack_volumes.data.path:")], problems


@pytest.mark.parametrize("path", ["/srv/demo/data", "/var/lib/aistack/demo/data", "/data/demo", "/home/ml/data"])
def test_ordinary_bind_paths_are_accepted(path: str) -> None:
    model = model_of(root="/opt/aistack/demo", volumes={"data": {"path": path}, "models": {}})
    assert model["volumes"]["data"]["path"] == path


@pytest.mark.parametrize("data_root", ["/etc/demo", "/opt/aistack/demo/data", "/usr"])
def test_unsafe_data_root_is_a_problem(data_root: str) -> None:
    problems = problems_of(root="/opt/aistack/demo", data_root=data_root)
    assert any(p.startswith("app_stack_data_root:") for p in problems), problems


def test_unquoted_no_restart_policy_is_no() -> None:
    model = model_of(services={"api": {"restart": False}})
    assert model["services"]["api"]["restart"] == "no"


def test_images_none_skips_the_target_check_for_the_early_input_check() -> None:
    model = model_of(images=None, services={"api": {}, "worker": {}})
    assert model["services"]["api"]["image"] == "<api>"
    assert problems_of(images=None, services={"api": {"target": "api", "image": "x:1"}})


# --- profiles and what presets hand on ----------------------------------------------
def test_auto_depends_on_a_service_in_several_profiles_when_one_is_active() -> None:
    model = model_of(profiles=["postgres"], services={"api": {}, "postgres": {"profiles": ["postgres", "full"]}})
    assert model["services"]["api"]["depends_on"] == ["postgres"]
    assert model["postgres_service"] == "postgres"


def test_inactive_postgres_and_redis_hand_on_nothing() -> None:
    model = model_of(
        profiles=[], services={"api": {}, "postgres": {"profiles": ["full"]}, "redis": {"profiles": ["full"]}}
    )
    assert model["postgres_service"] == ""
    assert "REDIS_URL" not in model["services"]["api"]["environment"]
    assert model["services"]["api"]["depends_on"] == []


def test_redis_url_names_the_redis_service() -> None:
    model = model_of(services={"api": {}, "broker": {"preset": "redis"}})
    assert model["services"]["api"]["environment"]["REDIS_URL"] == "redis://broker:6379/0"


# --- the proxy service (nginx preset, for the nginx_proxy role) ------------------


def test_no_proxy_without_an_nginx_service() -> None:
    assert model_of()["proxy"] == {}


def test_the_nginx_preset_is_the_proxy_with_its_config_dir_and_ports() -> None:
    model = model_of(services={**copy.deepcopy(REFERENCE_SERVICES), "nginx": {}})
    assert model["proxy"] == {
        "service": "nginx",
        "image": "demo/nginx:1.26",
        "config_dir": "/var/lib/aistack/demo/proxy",
        "http_port": 8080,
        "https_port": 8443,
    }
    nginx = model["services"]["nginx"]
    assert nginx["depends_on"] == ["api"]
    assert model["volumes"]["proxy"]["owner_fixed"] == "0:0" and model["volumes"]["proxy"]["mode"] == "0750"
    compose = app_stack_compose(model, COMPOSE_DEFAULTS, ENV_FILE)
    service = compose["services"]["nginx"]
    assert service["volumes"] == [
        {
            "type": "bind",
            "source": "/var/lib/aistack/demo/proxy",
            "target": "/etc/aistack-proxy",
            "read_only": True,
            "bind": {"create_host_path": False},
        }
    ]
    assert service["read_only"] is True and "KILL" in service["cap_add"]
    assert service["depends_on"]["api"]["condition"] == "service_healthy"


def test_a_proxy_in_an_inactive_profile_is_no_proxy() -> None:
    model = model_of(services={**copy.deepcopy(REFERENCE_SERVICES), "nginx": {"profiles": ["ssl"]}})
    assert model["proxy"] == {}
    assert (
        model_of(services={**copy.deepcopy(REFERENCE_SERVICES), "nginx": {"profiles": ["ssl"]}}, profiles=["ssl"])[
            "proxy"
        ]["service"]
        == "nginx"
    )


def test_two_proxies_and_a_proxy_without_its_config_mount_are_refused() -> None:
    edge = {"preset": "nginx", "ports": ["9443:443"]}
    two = problems_of(services={**copy.deepcopy(REFERENCE_SERVICES), "nginx": {}, "edge": edge})
    assert any("only one proxy service can run (running: edge, nginx)" in p for p in two)
    unmounted = problems_of(services={**copy.deepcopy(REFERENCE_SERVICES), "nginx": {"volumes": []}})
    assert unmounted == [
        "app_stack_services.nginx.volumes: the proxy needs a bind volume mounted at /etc/aistack-proxy "
        "(its configuration)"
    ]


# --- one-off jobs (migrations) ----------------------------------------------------
MIGRATE = {"command": ["alembic", "-c", "app/alembic.ini", "upgrade", "head"]}
SEED = {"image": "demo/tool:1", "job": True, "command": "seed --once"}
HEALTHY = {"condition": "service_healthy", "restart": True}


@pytest.mark.parametrize(
    ("job", "settings", "image", "env_file", "depends_on"),
    [
        ("migrate", MIGRATE, "demo/app:1.0.0-api", [ENV_FILE], {"postgres": HEALTHY}),
        ("seed", SEED, "demo/tool:1", None, None),
        (
            "upgrade",
            {"preset": "migrate", "restart": "no", "gpu": "auto", **MIGRATE},
            "demo/app:1.0.0-api",
            [ENV_FILE],
            {"postgres": HEALTHY},
        ),
    ],
)
def test_a_good_job(job: str, settings: dict[str, t.Any], image: str, env_file: t.Any, depends_on: t.Any) -> None:
    model = model_of(services={**copy.deepcopy(REFERENCE_SERVICES), job: copy.deepcopy(settings)})
    assert model["jobs"] == [job]
    assert model["active_services"] == ["api", "postgres", "redis", "worker"]
    assert image in model["images"]
    assert model["services"][job]["job"] is True and model["services"]["api"]["job"] is False
    service = app_stack_compose(model, COMPOSE_DEFAULTS, ENV_FILE)["services"][job]
    assert service["profiles"] == ["aistack-job"]
    assert service["restart"] == "no"
    assert service["healthcheck"] == {"disable": True}
    assert service["command"] == settings["command"]
    assert service.get("env_file") == env_file
    assert service.get("depends_on") == depends_on
    assert "ports" not in service


@pytest.mark.parametrize(("profiles", "jobs"), [([], []), (["db"], ["seed"])])
def test_a_job_in_a_profile_runs_only_with_it_and_never_with_up(profiles: list[str], jobs: list[str]) -> None:
    model = model_of(
        profiles=profiles, services={**copy.deepcopy(REFERENCE_SERVICES), "seed": {**SEED, "profiles": ["db"]}}
    )
    assert model["jobs"] == jobs
    assert ("demo/tool:1" in model["images"]) == bool(jobs)
    assert model["services"]["seed"]["profiles"] == ["db"]
    # Only the job profile in compose: `up` with COMPOSE_PROFILES=db (the unit) must not start it either.
    assert app_stack_compose(model, COMPOSE_DEFAULTS, ENV_FILE)["services"]["seed"]["profiles"] == ["aistack-job"]


def test_jobs_count_for_images_only() -> None:
    services = {
        "migrate": {"volumes": ["data:/app/data"], "stop_grace_period": "1h", "data_user": "migrator", **MIGRATE},
        "seed": {**SEED, "volumes": ["models:/models"]},
        **copy.deepcopy(REFERENCE_SERVICES),
        "frontend": {"depends_on": ["api"]},
    }
    model = model_of(services=services)
    assert model["jobs"] == ["migrate", "seed"]
    assert model["active_services"] == ["api", "frontend", "postgres", "redis", "worker"]
    assert "demo/tool:1" in model["images"]
    assert model["max_stop_grace_seconds"] == 60  # postgres' grace; the unit never stops a job
    assert model["volumes"]["data"]["owner_user"] == ""  # api owns data, not the job listed first
    assert model["volumes"]["models"]["owner_image"] == "demo/app:1.0.0-api"
    assert model["postgres_service"] == "postgres" and model["proxy"] == {}
    # A preset never waits for a job: frontend's preset dependency on api drops a job named api.
    as_job = model_of(services={"api": {"job": True, "ports": [], **MIGRATE}, "frontend": {}}, volumes={})
    assert as_job["services"]["frontend"]["depends_on"] == []
    assert (as_job["jobs"], as_job["active_services"]) == (["api"], ["frontend"])


JOB = "app_stack_services.migrate"


@pytest.mark.parametrize(
    ("settings", "others", "problem"),
    [
        ({}, {}, f"{JOB}.command: a job needs the command it runs once, such as [alembic, upgrade, head] (got None)"),
        (
            {"command": []},
            {},
            f"{JOB}.command: a job needs the command it runs once, such as [alembic, upgrade, head] (got [])",
        ),
        (
            {"ports": ["9000:9000"], **MIGRATE},
            {},
            f"{JOB}.ports: a job publishes no ports (got ['9000:9000']; allowed: none, or [] over a preset's)",
        ),
        (
            {"healthcheck": {"test": "true"}, **MIGRATE},
            {},
            f"{JOB}.healthcheck: a job has no healthcheck (got {{'test': 'true'}}; allowed: none, the one-off container "
            "runs with the image's own disabled)",
        ),
        (
            {"restart": "always", **MIGRATE},
            {},
            f"{JOB}.restart: a job runs once: must be no or left out (got 'always')",
        ),
        (
            {"gpu": True, **MIGRATE},
            {},
            f"{JOB}.gpu: a job must run on hosts without a GPU too (got True; allowed: false, "
            "or auto for one only where present)",
        ),
        ({"job": "yes", **MIGRATE}, {}, f"{JOB}.job: must be true or false (got 'yes')"),
        (
            MIGRATE,
            {"api": {"depends_on": ["postgres", "migrate"]}},
            "app_stack_services.api.depends_on: 'migrate' is a job, run once before the services start: no service can "
            "wait for it (got ['postgres', 'migrate']; allowed: services without job: true)",
        ),
        (
            MIGRATE,
            {"seed": {**SEED, "depends_on": ["migrate"]}},
            "app_stack_services.seed.depends_on: 'migrate' is a job, run once before the services start: no service can "
            "wait for it (got ['migrate']; allowed: services without job: true)",
        ),
    ],
)
def test_job_problems(settings: dict[str, t.Any], others: dict[str, t.Any], problem: str) -> None:
    problems = problems_of(
        gpu_present=True,
        services={**copy.deepcopy(REFERENCE_SERVICES), **copy.deepcopy(others), "migrate": copy.deepcopy(settings)},
    )
    assert problems == [problem]


def test_a_job_with_several_problems_names_each() -> None:
    problems = problems_of(
        services={
            **copy.deepcopy(REFERENCE_SERVICES),
            "api": {"depends_on": ["migrate"]},
            "migrate": {"ports": ["9000:9000"], "restart": "always", "healthcheck": "image"},
        }
    )
    assert [p.split(":", 1)[0] for p in problems] == [
        f"{JOB}.command",
        f"{JOB}.ports",
        f"{JOB}.healthcheck",
        f"{JOB}.restart",
        "app_stack_services.api.depends_on",
    ]


# --- bad stack input, one case each -------------------------------------------
# The cases of the role's input as a user writes it (app_stack_* variables),
# turned into the model's input as tasks/validate.yml does: each must give a
# problem naming the variable (the path the user wrote) and what is wrong.
# A few of the same kind run end to end through the role in
# tests/integration/test_app_stack_bad_input.py (nothing changes on a host).

MODEL_SRC = REFERENCE_VOLUMES["models"]["files"][0]["src"]


class Case(t.NamedTuple):
    variables: dict[str, t.Any]
    names: str  # the variable (or its path) a problem must name
    detail: str = ""  # more that problem must say


def services(**changes: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """The reference services with the settings of some changed (merged key by key); None removes one."""
    return {"app_stack_services": merged(REFERENCE_SERVICES, changes)}


def volumes(**changes: dict[str, t.Any]) -> dict[str, t.Any]:
    """The reference volumes with the settings of some changed (merged key by key)."""
    return {"app_stack_volumes": merged(REFERENCE_VOLUMES, changes)}


def spec_of(variables: dict[str, t.Any]) -> dict[str, t.Any]:
    """The model's input from app_stack_* variables, as tasks/validate.yml builds it."""
    changes: dict[str, t.Any] = {}
    defaults = copy.deepcopy(DEFAULTS)
    for name, value in variables.items():
        key = name.removeprefix("app_stack_")
        if key in DEFAULTS:
            defaults[key] = value
        else:
            changes[key] = value
    return spec(**changes, defaults=defaults)


BAD_INPUT: dict[str, Case] = {
    "service_unknown_preset": Case(
        services(cache={"preset": "memcached"}), "app_stack_services.cache.preset", "'memcached'"
    ),
    "service_target_not_built": Case(
        services(trainer={"target": "trainer", "healthcheck": "image"}),
        "app_stack_services.trainer.target",
        "'trainer'",
    ),
    "service_neither_target_nor_image": Case(services(sidecar={}), "app_stack_services.sidecar", "needs target"),
    "service_name_upper_case": Case(services(Worker2={"preset": "worker"}), "app_stack_services", "'Worker2'"),
    "services_empty": Case({"app_stack_services": {}}, "app_stack_services", "at least one service"),
    "mount_bad_syntax": Case(services(api={"volumes": ["data:app/data"]}), "app_stack_services.api.volumes[0]"),
    "mount_bad_option": Case(
        services(worker={"volumes": ["data:/app/data:rx"]}), "app_stack_services.worker.volumes[0]"
    ),
    "host_port_clash_on_one_address": Case(
        services(worker={"ports": ["127.0.0.1:8000:9000"]}), "app_stack_services.worker.ports", "already published"
    ),
    "port_not_a_list": Case(services(api={"ports": "8000:8000"}), "app_stack_services.api.ports"),
    "depends_on_unknown_service": Case(
        services(worker={"depends_on": ["postgres", "queue"]}), "app_stack_services.worker.depends_on", "'queue'"
    ),
    "depends_on_disabled_service": Case(
        services(redis={"enabled": False}, worker={"depends_on": ["redis"]}),
        "app_stack_services.worker.depends_on",
        "'redis'",
    ),
    "depends_on_inactive_profile": Case(
        services(
            metrics={"image": "aistack-test/redis:7", "healthcheck": "image", "profiles": ["monitoring"]},
            api={"depends_on": ["postgres", "redis", "metrics"]},
        ),
        "app_stack_services.api.depends_on",
        "'metrics'",
    ),
    "depends_on_itself": Case(
        services(worker={"depends_on": ["worker"]}), "app_stack_services.worker.depends_on", "itself"
    ),
    "restart_policy_unknown": Case(
        services(api={"restart": "sometimes"}), "app_stack_services.api.restart", "'sometimes'"
    ),
    "memory_limit_malformed": Case(
        services(worker={"resources": {"memory": "2 GB"}}), "app_stack_services.worker.resources.memory", "'2 GB'"
    ),
    "resources_unknown_key": Case(
        services(worker={"resources": {"gpus": 1}}), "app_stack_services.worker.resources", "'gpus'"
    ),
    "gpu_count_without_gpu": Case(services(worker={"gpu": 1}), "app_stack_services.worker.gpu", "this host has none"),
    "gpu_malformed": Case(services(worker={"gpu": "yes please"}), "app_stack_services.worker.gpu"),
    "gpu_list_without_gpu": Case(services(worker={"gpu": [0]}), "app_stack_services.worker.gpu", "this host has none"),
    "gpu_list_malformed": Case(services(worker={"gpu": ["first"]}), "app_stack_services.worker.gpu", "['first']"),
    "per_gpu_without_gpu": Case(
        services(worker={"per_gpu": True}), "app_stack_services.worker.per_gpu", "this host has none"
    ),
    "per_gpu_with_gpu": Case(
        services(worker={"per_gpu": True, "gpu": 1}), "app_stack_services.worker.per_gpu", "leave gpu out"
    ),
    "healthcheck_without_test": Case(
        services(api={"healthcheck": {"interval": "10s"}}), "app_stack_services.api.healthcheck.test"
    ),
    "healthcheck_none": Case(
        services(api={"healthcheck": "none"}), "app_stack_services.api.healthcheck", "every service needs a healthcheck"
    ),
    "healthcheck_interval_malformed": Case(
        services(api={"healthcheck": {"test": "true", "interval": "ten"}}),
        "app_stack_services.api.healthcheck.interval",
    ),
    "stop_signal_malformed": Case(services(postgres={"stop_signal": "INT"}), "app_stack_services.postgres.stop_signal"),
    "service_environment_is_a_secret": Case(
        services(api={"environment": {"APP_SECRET_KEY": "in-the-clear"}}),
        "app_stack_services.api.environment",
        "APP_SECRET_KEY",
    ),
    "default_stop_grace_period_malformed": Case(
        {"app_stack_stop_grace_period": "30 seconds"}, "app_stack_stop_grace_period: "
    ),
    "default_tmpfs_relative": Case({"app_stack_tmpfs": ["tmp"]}, "app_stack_tmpfs: "),
    "default_cap_drop_lower_case": Case({"app_stack_cap_drop": ["all"]}, "app_stack_cap_drop: "),
    "env_name_malformed": Case({"app_stack_env": {"LOG-LEVEL": "INFO"}}, "app_stack_env", "'LOG-LEVEL'"),
    "volume_mode_yaml_octal": Case(volumes(data={"mode": 0o750}), "app_stack_volumes.data.mode", "488"),
    "volume_mode_not_octal": Case(volumes(data={"mode": "0999"}), "app_stack_volumes.data.mode", "'0999'"),
    "volume_unknown_key": Case(volumes(data={"size": "10g"}), "app_stack_volumes.data", "'size'"),
    "volume_unknown_type": Case(volumes(data={"type": "tmpfs"}), "app_stack_volumes.data.type"),
    "volume_path_relative": Case(volumes(data={"path": "srv/data"}), "app_stack_volumes.data.path"),
    "volume_owner_malformed": Case(volumes(data={"owner": "app"}), "app_stack_volumes.data.owner", "'app'"),
    "volume_owner_unknown_service": Case(
        volumes(data={"owner": "service:trainer"}), "app_stack_volumes.data.owner", "'trainer'"
    ),
    "volume_file_dest_escapes": Case(
        volumes(models={"files": [{"src": MODEL_SRC, "dest": "../../etc/model.json"}]}),
        "app_stack_volumes.models.files[0].dest",
    ),
    "volume_file_dest_absolute": Case(
        volumes(models={"files": [{"src": MODEL_SRC, "dest": "/etc/model.json"}]}),
        "app_stack_volumes.models.files[0].dest",
    ),
    "volume_file_without_src": Case(
        volumes(models={"files": [{"dest": "model.json"}]}), "app_stack_volumes.models.files[0]", "needs src"
    ),
    "volume_named_with_files": Case(
        volumes(models={"type": "named"}), "app_stack_volumes.models.files", "only bind volumes"
    ),
    "app_name_upper_case": Case({"app_stack_name": "MyApp"}, "app_stack_name", "'MyApp'"),
    "data_root_relative": Case(
        {"app_stack_data_root": "var/lib/aistack/badinput"}, "app_stack_data_root", "'var/lib/aistack/badinput'"
    ),
    "job_without_command": Case(services(migrate={}), "app_stack_services.migrate.command"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_named(case: str) -> None:
    bad = BAD_INPUT[case]
    problems = app_stack_model(spec_of(bad.variables))["problems"]
    assert any(bad.names in problem and bad.detail in problem for problem in problems), problems


# ---------------------------------------------------------------- rollout: start-first behind the proxy

PROXIED: dict[str, dict[str, t.Any]] = {**REFERENCE_SERVICES, "nginx": {}}


def test_behind_the_proxy_the_api_publishes_no_port_and_starts_first() -> None:
    model = model_of(services=copy.deepcopy(PROXIED))
    assert model["problems"] == []
    assert model["services"]["api"]["ports"] == []
    assert model["start_first"] == ["api"] and model["rollout_notes"] == {}
    # Stop-first as their presets say: no two PostgreSQL, Redis or worker containers at once.
    assert {s: model["services"][s]["rollout"] for s in ("worker", "postgres", "redis", "nginx")} == dict.fromkeys(
        ("worker", "postgres", "redis", "nginx"), "stop-first"
    )


def test_the_compose_file_gives_a_start_first_service_its_release_s_alias_and_label() -> None:
    compose = app_stack_compose(
        model_of(services=copy.deepcopy(PROXIED)), {**COMPOSE_DEFAULTS, "release": "1.0.1"}, ENV_FILE
    )
    api = compose["services"]["api"]
    assert api["networks"] == {"default": {"aliases": [release_alias("api", "1.0.1")]}}
    assert api["labels"]["io.aistack.deploy.release"] == "1.0.1"
    # Only start-first services: a release label elsewhere would recreate PostgreSQL at every release.
    assert "networks" not in compose["services"]["postgres"]
    assert "io.aistack.deploy.release" not in compose["services"]["postgres"]["labels"]


@pytest.mark.parametrize(
    "services, note",
    [
        # No proxy: the api publishes its port (the only way in), so two of it cannot run.
        (REFERENCE_SERVICES, "publishes host port(s) 8000:8000"),
        # The user publishes a port behind the proxy too.
        ({**PROXIED, "api": {"ports": ["127.0.0.1:9000:8000"]}}, "publishes host port(s) 127.0.0.1:9000:8000"),
    ],
)
def test_a_preset_s_start_first_that_cannot_be_falls_back_to_stop_first_with_the_reason(
    services: dict[str, t.Any], note: str
) -> None:
    model = model_of(services=copy.deepcopy(services))
    assert model["problems"] == []
    assert model["services"]["api"]["rollout"] == "stop-first" and model["start_first"] == []
    assert note in model["rollout_notes"]["api"]


@pytest.mark.parametrize(
    "api, free, note",
    [
        # No need declared: two may not fit.
        ({}, [24052], "declares no gpu_memory_mb"),
        # The need declared, the GPU's free memory unknown (nvidia_toolkit did not run).
        ({"gpu_memory_mb": 8000}, [], "free memory is not known"),
        # With the running release on it, GPU 0 has too little left for a second container.
        ({"gpu_memory_mb": 8000}, [6000], "GPU 0 has 6000 MiB free and a second container needs 8000 MiB"),
        # gpu: all (auto) needs room on every GPU; the one with least room is named.
        ({"gpu_memory_mb": 8000}, [20000, 7000, 5000], "GPU 2 has 5000 MiB free"),
        # Two GPUs asked for, one on the host.
        ({"gpu": 2, "gpu_memory_mb": 8000}, [20000], "asks for 2 GPU(s) and the host has 1"),
    ],
)
def test_a_gpu_service_starts_first_only_where_its_gpus_have_room(
    api: dict[str, t.Any], free: list[int], note: str
) -> None:
    model = model_of(services={**copy.deepcopy(PROXIED), "api": api}, gpu_present=True, gpu_free_mib=free)
    assert model["start_first"] == [] and note in model["rollout_notes"]["api"], model["rollout_notes"]


@pytest.mark.parametrize(
    "api, free",
    [
        ({"gpu_memory_mb": 8000}, [8000]),
        ({"gpu_memory_mb": 8000}, [30000, 9000]),
        # A count takes the first GPUs: GPU 1's little room does not matter.
        ({"gpu": 1, "gpu_memory_mb": 8000}, [30000, 100]),
        # The user's word where nothing says otherwise.
        ({"rollout": "start-first"}, [100]),
        ({"rollout": "start-first", "gpu_memory_mb": 8000}, []),
    ],
)
def test_a_gpu_service_with_room_for_two_starts_first(api: dict[str, t.Any], free: list[int]) -> None:
    model = model_of(services={**copy.deepcopy(PROXIED), "api": api}, gpu_present=True, gpu_free_mib=free)
    assert model["start_first"] == ["api"] and model["rollout_notes"] == {}


@pytest.mark.parametrize(
    "api, free, host_gpus, note",
    [
        # Named GPUs: their own free memory counts, the others' does not.
        (
            {"gpu": [1], "gpu_memory_mb": 8000},
            [30000, 6000],
            FOUR_GPUS[:2],
            f"GPU 1 ({UUID[1]}) has 6000 MiB free and a second container needs 8000 MiB",
        ),
        (
            {"gpu": [UUID[2], 0], "gpu_memory_mb": 8000},
            [30000, 30000, 100, 30000],
            FOUR_GPUS,
            f"GPU 2 ({UUID[2]}) has 100 MiB free",
        ),
        # Where aistack_gpu lists no GPUs, an index is the place in memory_free_mib; a UUID is not known.
        ({"gpu": [1], "gpu_memory_mb": 8000}, [30000, 6000], [], "GPU 1 has 6000 MiB free"),
        ({"gpu": ["GPU-abc"], "gpu_memory_mb": 8000}, [30000], [], "the free memory of GPU GPU-abc is not known"),
        ({"gpu": [0]}, [30000], FOUR_GPUS[:1], "declares no gpu_memory_mb"),
    ],
)
def test_a_gpu_service_with_named_gpus_starts_first_only_where_they_have_room(
    api: dict[str, t.Any], free: list[int], host_gpus: list[dict[str, t.Any]], note: str
) -> None:
    model = model_of(
        services={**copy.deepcopy(PROXIED), "api": api, "worker": {"gpu": False}},
        gpu_present=True,
        gpu_free_mib=free,
        host_gpus=host_gpus,
    )
    assert model["start_first"] == [] and note in model["rollout_notes"]["api"], model["rollout_notes"]


@pytest.mark.parametrize(
    "api, free, host_gpus",
    [
        ({"gpu": [0], "gpu_memory_mb": 8000}, [30000, 100], FOUR_GPUS[:2]),
        ({"gpu": [UUID[1]], "gpu_memory_mb": 8000}, [100, 8000], FOUR_GPUS[:2]),
        ({"gpu": [1], "gpu_memory_mb": 8000}, [100, 8000], []),
        # The user's word where the GPU's free memory is not known.
        ({"gpu": ["GPU-abc"], "gpu_memory_mb": 8000, "rollout": "start-first"}, [100], []),
    ],
)
def test_a_gpu_service_with_named_gpus_and_room_for_two_starts_first(
    api: dict[str, t.Any], free: list[int], host_gpus: list[dict[str, t.Any]]
) -> None:
    model = model_of(
        services={**copy.deepcopy(PROXIED), "api": api, "worker": {"gpu": False}},
        gpu_present=True,
        gpu_free_mib=free,
        host_gpus=host_gpus,
    )
    assert model["start_first"] == ["api"] and model["rollout_notes"] == {}


def test_a_start_first_on_a_named_gpu_known_not_to_fit_is_refused() -> None:
    problems = problems_of(
        services={
            **copy.deepcopy(PROXIED),
            "worker": {"gpu": False},
            "api": {"rollout": "start-first", "gpu": [1], "gpu_memory_mb": 8000},
        },
        gpu_present=True,
        gpu_free_mib=[30000, 6000],
        host_gpus=FOUR_GPUS[:2],
    )
    assert problems == [
        f"app_stack_services.api.rollout: start-first is not possible: GPU 1 ({UUID[1]}) has 6000 MiB "
        "free and a second container needs 8000 MiB (gpu_memory_mb): two do not fit (allowed: "
        "stop-first, or a smaller gpu_memory_mb where that is what the service needs)"
    ]


def test_a_gpu_memory_need_without_a_gpu_is_ignored_on_a_cpu_host_and_checked() -> None:
    # gpu: auto on a host without GPU: no reservation, the need does not matter.
    model = model_of(services={**copy.deepcopy(PROXIED), "api": {"gpu_memory_mb": 8000}})
    assert model["start_first"] == ["api"]
    assert "app_stack_services.api.gpu_memory_mb: must be a whole number of MiB, 1 or more (got 'lots')" in problems_of(
        services={**copy.deepcopy(PROXIED), "api": {"gpu_memory_mb": "lots"}}, gpu_present=True
    )
    assert (
        "app_stack_services.api.gpu_memory_mb: is what one container needs of a GPU: set gpu too (got gpu: False)"
        in problems_of(
            services={**copy.deepcopy(PROXIED), "api": {"gpu": False, "gpu_memory_mb": 10}}, gpu_present=True
        )
    )
    assert any(
        p.startswith("aistack_gpu.memory_free_mib: must be a list of MiB") for p in problems_of(gpu_free_mib="x")
    )


def test_a_gpu_start_first_the_user_asks_for_and_known_not_to_fit_is_refused() -> None:
    problems = problems_of(
        services={**copy.deepcopy(PROXIED), "api": {"rollout": "start-first", "gpu_memory_mb": 8000}},
        gpu_present=True,
        gpu_free_mib=[6000],
    )
    assert any(
        p.startswith("app_stack_services.api.rollout: start-first is not possible: GPU 0 has 6000 MiB free")
        for p in problems
    ), problems


@pytest.mark.parametrize(
    "services, expected",
    [
        (
            {**PROXIED, "api": {"rollout": "blue-green"}},
            "app_stack_services.api.rollout: must be start-first or stop-first (got 'blue-green')",
        ),
        (
            {**REFERENCE_SERVICES, "worker": {"rollout": "start-first"}},
            "app_stack_services.worker.rollout: start-first is not possible: no proxy service runs in front of it",
        ),
        (
            {**PROXIED, "api": {"rollout": "start-first", "ports": ["8000:8000"]}},
            "app_stack_services.api.rollout: start-first is not possible: it publishes host port(s) 8000:8000",
        ),
        (
            {**PROXIED, "migrate": {"command": ["true"], "rollout": "start-first"}},
            "app_stack_services.migrate.rollout: start-first is not possible: it is a job, run once",
        ),
    ],
)
def test_a_start_first_the_user_asks_for_and_cannot_have_is_refused(services: dict[str, t.Any], expected: str) -> None:
    assert any(p.startswith(expected) for p in problems_of(services=copy.deepcopy(services))), problems_of(
        services=copy.deepcopy(services)
    )


def test_a_user_who_wants_the_old_path_says_stop_first() -> None:
    model = model_of(services={**copy.deepcopy(PROXIED), "api": {"rollout": "stop-first"}})
    assert model["start_first"] == [] and model["rollout_notes"] == {} and model["services"]["api"]["ports"] == []


def test_a_start_first_service_a_stop_first_one_depends_on_is_replaced_in_place() -> None:
    services = {**copy.deepcopy(PROXIED), "worker": {"volumes": ["data:/app/data"], "depends_on": ["api"]}}
    model = model_of(services=services)
    assert model["start_first"] == [] and "worker depend on it" in model["rollout_notes"]["api"]
    # The proxy depends on the api too: it is started after the switch, by nginx_proxy.
    assert model_of(services=copy.deepcopy(PROXIED))["start_first"] == ["api"]
    services["api"] = {"rollout": "start-first"}
    assert any(
        p.startswith(
            "app_stack_services.api.rollout: start-first is not possible: stop-first service(s) worker depend on it"
        )
        for p in problems_of(services=services)
    )


# ---------------------------------------------------------------- healthchecks: start_interval where the engine has it


@pytest.mark.parametrize(
    "engine, expected",
    [
        ("26.1.5+dfsg1", {"start_interval": "1s", "interval": "30s"}),
        ("25.0.0", {"start_interval": "1s", "interval": "30s"}),
        # Debian 12's engine refuses start_interval: left out, and the check runs every 3 s from the start.
        ("20.10.24+dfsg1", {"interval": "3s"}),
        ("", {"interval": "3s"}),  # unknown (docker_engine did not run): the same
    ],
)
def test_a_preset_probes_every_second_while_starting_where_the_engine_can(
    engine: str, expected: dict[str, str]
) -> None:
    check = model_of(engine_version=engine)["services"]["postgres"]["healthcheck"]
    assert {k: check[k] for k in ("start_interval", "interval") if k in check} == expected
    assert check["start_period"] == "60s" and check["retries"] == 5


@pytest.mark.parametrize(
    "engine, start_interval, expected",
    [
        # The image's test and timings stay (compose sends no test: Docker keeps the image's); probed every second
        # while starting.
        ("26.1.5+dfsg1", "1s", {"start_interval": "1s"}),
        ("25.0.0", 2, {"start_interval": "2s"}),
        # An engine that cannot, or '' (the role's way to leave the image's timing alone): the image's own healthcheck.
        ("20.10.24+dfsg1", "1s", None),
        ("", "1s", None),
        ("26.1.5", "", None),
    ],
)
def test_a_service_on_its_images_healthcheck_probes_fast_only_while_starting(
    engine: str, start_interval: str | int, expected: dict[str, str] | None
) -> None:
    model = model_of(engine_version=engine, defaults={**DEFAULTS, "health_start_interval": start_interval})
    assert model["services"]["api"]["healthcheck"] == expected
    # A preset's own healthcheck keeps its own settings.
    assert model["services"]["postgres"]["healthcheck"]["test"][0] == "CMD-SHELL"


@pytest.mark.parametrize("value", ["soon", "0s", ["1s"]])
def test_a_bad_health_start_interval_is_named(value: object) -> None:
    problems = problems_of(engine_version="26.1.5", defaults={**DEFAULTS, "health_start_interval": value})
    assert (
        f"app_stack_health_start_interval: must be a duration such as 1s, or '' for the image's own timing "
        f"(got {value!r})" in problems
    )


def test_a_healthcheck_s_start_interval_of_the_user_is_checked() -> None:
    services: dict[str, dict[str, t.Any]] = {
        **copy.deepcopy(REFERENCE_SERVICES),
        "redis": {"healthcheck": {"test": "true", "start_interval": "soon"}},
    }
    assert (
        "app_stack_services.redis.healthcheck.start_interval: must be a duration such as 10s (got 'soon')"
        in problems_of(services=services)
    )
    # An interval already shorter than 3 x start_interval stays as the user gave it.
    services["redis"]["healthcheck"] = {"test": "true", "start_interval": "2s", "interval": "4s"}
    assert model_of(services=services)["services"]["redis"]["healthcheck"] == {"test": "true", "interval": "4s"}
