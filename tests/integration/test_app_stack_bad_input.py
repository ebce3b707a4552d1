"""aistack.deploy.app_stack refuses bad input before it changes anything.

One ansible-playbook run covers every case (tests/harness/aistack_testlib/bad_input.py): each
case is an inventory host (connection local) with its own variables, each a
single change to the valid stack of the molecule scenario (reference backend
api + worker, PostgreSQL, Redis, a data and a models volume). The hosts in
group `bad` run the whole role, the hosts in group `good` only its argument
validation and tasks/validate.yml; both IN CHECK MODE and with every path of
the role (app_stack_root, app_stack_data_root) in a temporary directory and
no systemd unit, a safety net on a machine whose own Docker Engine, /opt and
/var/lib the role must never touch.

For every bad case: the host fails, the failing task is a validation task
(role argument validation or tasks/validate.yml), its message names the
variable (for the service model, the variable's path), and no earlier task
reported a change. Every good case passes the same validation, so the bad
cases cannot pass by a validation that refuses everything. No secret value
appears anywhere in Ansible's output.

The cases here are a few of each kind (each check task of validate.yml, the
argument spec, every kind of model problem); every other bad service, volume
and stack case is a unit test of the model (test_bad_input_is_named in
tests/unit/plugins/filter/test_app_stack_filter.py), as the deploy settings,
secrets and retention rules are (tests/unit/plugins/).
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from aistack_testlib.bad_input import (
    RunResult,
    assert_fails_in_validation,
    assert_passes_validation,
    assert_ran,
    inventory,
    local_host,
    merged,
    role_tasks,
    run_playbook,
)

ROLE = "aistack.deploy.app_stack"
LAST_VALIDATE_TASK = "validate | Check the stack's input and secrets (nothing has changed yet)"

# Images of the molecule scenario; validation in check mode does not need them on this machine.
IMAGES = {"api": "aistack-test/reference-backend-api:1.0.0", "worker": "aistack-test/reference-backend-worker:1.0.0"}
PG_PASSWORD = "pg-Bad/Input:w0rd@aistack"
SECRET_KEY = "aistack-canary-5d0e1f6a-never-in-output"
# Secret values that must never reach Ansible's output (with the placeholders of the bad cases below).
SECRET_VALUES = (PG_PASSWORD, SECRET_KEY, "multi-line-canary\nsecond-line-canary")
MODEL_FILE = "MODEL_FILE"  # replaced by the path of a real file on the controller

SERVICES: dict[str, t.Any] = {
    "api": {"volumes": ["data:/app/data", "models:/app/models:ro"]},
    "worker": {"volumes": ["data:/app/data", "models:/app/models:ro"]},
    "postgres": {},
    "redis": {},
}
VOLUMES: dict[str, t.Any] = {
    "data": {"mode": "0750"},
    "models": {"mode": "0755", "files": [{"src": MODEL_FILE}]},
}
SECRETS = {"POSTGRES_PASSWORD": PG_PASSWORD, "APP_SECRET_KEY": SECRET_KEY}

# The valid stack every case starts from.
BASE: dict[str, t.Any] = {
    "app_stack_name": "badinput",
    "app_stack_release": "1.0.0",
    "app_stack_images": IMAGES,
    "app_stack_gpu_present": False,
    "app_stack_postgres_image": "aistack-test/postgres:17",
    "app_stack_redis_image": "aistack-test/redis:7",
    "app_stack_services": SERVICES,
    "app_stack_volumes": VOLUMES,
    "app_stack_env": {"LOG_LEVEL": "INFO"},
    "app_stack_required_secrets": ["APP_SECRET_KEY"],
    "app_stack_secrets": SECRETS,
}


def services(**changes: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """The base services with the settings of some changed (merged key by key); None removes a service."""
    return {"app_stack_services": merged(SERVICES, changes)}


def volumes(**changes: dict[str, t.Any]) -> dict[str, t.Any]:
    """The base volumes with the settings of some changed (merged key by key)."""
    return {"app_stack_volumes": merged(VOLUMES, changes)}


def secrets(**changes: t.Any) -> dict[str, t.Any]:
    """The base secrets with some changed; None removes one."""
    result = {**SECRETS, **changes}
    return {"app_stack_secrets": {k: v for k, v in result.items() if v is not None}}


class Case(t.NamedTuple):
    variables: dict[str, t.Any]
    names: str  # the variable (or its path) the failure message must name
    detail: str = ""  # more the message must say, where the variable alone would not tell the cases apart


BAD_CASES: dict[str, Case] = {
    # --- secrets
    "secret_required_missing": Case(
        secrets(APP_SECRET_KEY=None), "app_stack_secrets", "required secret APP_SECRET_KEY is missing"
    ),
    "secret_placeholder_changeme": Case(
        secrets(APP_SECRET_KEY="changeme"), "app_stack_secrets.APP_SECRET_KEY", "placeholder"
    ),
    "secret_with_newline": Case(
        secrets(APP_SECRET_KEY=SECRET_VALUES[2]), "app_stack_secrets.APP_SECRET_KEY", "newline"
    ),
    "postgres_without_password": Case(
        secrets(POSTGRES_PASSWORD=None), "app_stack_secrets", "required secret POSTGRES_PASSWORD is missing"
    ),
    "secrets_not_a_dict": Case({"app_stack_secrets": ["APP_SECRET_KEY=x"]}, "app_stack_secrets"),
    # --- services
    "service_unknown_key": Case(services(api={"port": ["8000:8000"]}), "app_stack_services.api", "'port'"),
    "service_target_and_image": Case(
        services(api={"target": "api", "image": "example/api:1"}), "app_stack_services.api", "not both"
    ),
    "mount_undeclared_volume": Case(
        services(api={"volumes": ["data:/app/data", "cache:/app/cache"]}),
        "app_stack_services.api.volumes[1]",
        "'cache'",
    ),
    "host_port_clash": Case(
        services(worker={"ports": ["8000:9000"]}),
        "app_stack_services.worker.ports",
        "already published by service 'api'",
    ),
    "port_out_of_range": Case(services(api={"ports": ["70000:8000"]}), "app_stack_services.api.ports", "70000"),
    "gpu_true_without_gpu": Case(services(worker={"gpu": True}), "app_stack_services.worker.gpu", "this host has none"),
    "per_gpu_without_gpu": Case(
        services(worker={"per_gpu": True}), "app_stack_services.worker.per_gpu", "this host has none"
    ),
    # --- defaults of every service: the message names the role variable, not each service
    "default_restart_unknown": Case({"app_stack_restart": "sometimes"}, "app_stack_restart: ", "'sometimes'"),
    # --- environment
    "env_is_also_a_secret": Case(
        {"app_stack_env": {"LOG_LEVEL": "INFO", "APP_SECRET_KEY": "in-the-clear"}}, "app_stack_env", "APP_SECRET_KEY"
    ),
    # --- volumes
    "volume_mode_unquoted_int": Case(volumes(data={"mode": 750}), "app_stack_volumes.data.mode", "750"),
    # --- identity, paths and deploy settings
    "release_with_slash": Case({"app_stack_release": "1.0/../../etc"}, "app_stack_release", '"1.0/../../etc"'),
    "root_relative": Case({"app_stack_root": "opt/aistack/badinput"}, "app_stack_root", '"opt/aistack/badinput"'),
    "keep_releases_one": Case(
        {"app_stack_keep_releases": 1},
        "app_stack_keep_releases",
        "must be 2 or more (the current and the previous release; aistack_keep_releases sets it), got 1",
    ),
    "backup_keep_zero": Case(
        {"app_stack_backup_keep": 0},
        "app_stack_backup_keep",
        "app_stack_backup_keep: must be 1 or more (backups), got 0",
    ),
    "backup_dir_relative": Case(
        {"app_stack_backup_dir": "backups"}, "app_stack_backup_dir", "must be an absolute path outside app_stack_root"
    ),
    "release_replace_not_a_bool": Case({"app_stack_release_replace": "perhaps"}, "app_stack_release_replace"),
    # --- retention of data that grows
    "retention_not_a_list": Case({"app_stack_retention": {"volume": "data"}}, "app_stack_retention"),
    "retention_unknown_volume": Case(
        {"app_stack_retention": [{"volume": "clipz", "max_age": "14d"}]}, "app_stack_retention[0].volume", "'clipz'"
    ),
    "retention_bad_age": Case(
        {"app_stack_retention": [{"volume": "data", "max_age": "two weeks"}]},
        "app_stack_retention[0].max_age",
        "'two weeks'",
    ),
    "retention_dry_run_not_a_bool": Case({"app_stack_retention_dry_run": "sometimes"}, "app_stack_retention_dry_run"),
    "health_timeout_zero": Case(
        {"app_stack_health_timeout": 0},
        "app_stack_health_timeout",
        "app_stack_health_timeout: must be 1 or more (seconds), got 0",
    ),
    "profiles_not_a_list": Case({"app_stack_profiles": {"monitoring": True}}, "app_stack_profiles"),
    "api_port_not_a_number": Case({"app_stack_api_port": "eighty"}, "app_stack_api_port"),
    "pull_policy_unknown": Case({"app_stack_pull_policy": "sometimes"}, "app_stack_pull_policy"),
    "required_secrets_a_dict": Case(
        {"app_stack_required_secrets": {"APP_SECRET_KEY": True}}, "app_stack_required_secrets"
    ),
}

GOOD_CASES: dict[str, Case] = {
    # The stack of the molecule scenario, every bad case's starting point.
    "good_reference_stack": Case({}, ""),
    "good_migrate_job": Case(
        services(migrate={"command": ["alembic", "-c", "app/alembic.ini", "upgrade", "head"]}), ""
    ),
    "good_retention": Case(
        {
            "app_stack_retention": [
                {"volume": "data", "path": "clips", "max_age": "14d"},
                {"volume": "data", "path": "hls", "max_size": "10G", "pattern": "*.ts"},
            ],
            "app_stack_retention_dry_run": True,
            "app_stack_release_replace": True,
        },
        "",
    ),
    # The role's defaults: one api service.
    "good_api_only": Case(
        {
            "app_stack_services": {"api": {}},
            "app_stack_volumes": {},
            "app_stack_env": {},
            "app_stack_required_secrets": [],
            "app_stack_secrets": {},
        },
        "",
    ),
    # gpu: auto on a host without a GPU, a GPU on one with, named volumes, a service in an active profile
    # depended on, one in an inactive profile that nothing depends on, limits, an explicit healthcheck.
    "good_everything": Case(
        {
            **services(
                api={
                    "healthcheck": {
                        "test": ["CMD", "true"],
                        "interval": "10s",
                        "timeout": "5s",
                        "retries": 3,
                        "start_period": "1m30s",
                    },
                    "resources": {"cpus": 1.5, "memory": "2g", "memory_reservation": "512m", "pids": 256},
                    "depends_on": ["postgres", "redis", "metrics"],
                },
                worker={"gpu": 1, "restart": "on-failure:3", "stop_grace_period": 120},
                metrics={"image": "aistack-test/redis:7", "healthcheck": "image", "profiles": ["monitoring"]},
                debug={
                    "image": "aistack-test/redis:7",
                    "healthcheck": "image",
                    "profiles": ["debug"],
                    "depends_on": ["metrics"],
                },
            ),
            **volumes(
                data={"type": "named"},
                models={
                    "owner": "1000:1000",
                    "mode": "0750",
                    "files": [{"src": MODEL_FILE, "dest": "v1/model.json", "mode": "0640"}],
                },
            ),
            "app_stack_profiles": ["monitoring"],
            "app_stack_gpu_present": True,
            "app_stack_keep_releases": 2,
            "app_stack_health_timeout": 1,
            "app_stack_release": "2026.11.22-rc_1",
        },
        "",
    ),
    "good_gpu_auto_without_gpu": Case(services(worker={"gpu": "auto"}), ""),
}

PLAYBOOK = f"""
# One play: when every host of a play has failed, later plays do not run.
- name: Run app_stack with bad and good input
  hosts: all
  gather_facts: false
  tasks:{role_tasks(ROLE)}"""


def _substitute(value: t.Any, model_file: str) -> t.Any:
    if value == MODEL_FILE:
        return model_file
    if isinstance(value, dict):
        return {k: _substitute(v, model_file) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, model_file) for v in value]
    return value


def _host_vars(host: str, case: Case, tmp: Path, model_file: str) -> dict[str, t.Any]:
    variables = local_host(
        # Safety net behind check mode: nothing points at this machine's /opt, /var/lib or systemd.
        app_stack_root=str(tmp / host / "root"),
        app_stack_data_root=str(tmp / host / "data"),
        app_stack_systemd=False,
    )
    variables.update(_substitute(BASE, model_file))
    variables.update(_substitute(case.variables, model_file))
    return variables


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    tmp = tmp_path_factory.mktemp("app_stack_bad_input")
    model_file = tmp / "model.json"
    model_file.write_text('{"format": "aistack-linear-model/1"}\n')
    role_path = Path(__file__).resolve().parents[2] / "roles" / "app_stack"
    hosts = inventory(
        bad={name: _host_vars(name, case, tmp, str(model_file)) for name, case in BAD_CASES.items()},
        good={name: _host_vars(name, case, tmp, str(model_file)) for name, case in GOOD_CASES.items()},
        all_vars={"test_role_path": str(role_path)},
    )
    return run_playbook(tmp, hosts, PLAYBOOK)


def test_the_playbook_ran(run: RunResult) -> None:
    assert_ran(run, set(BAD_CASES) | set(GOOD_CASES))


def test_enough_bad_cases() -> None:
    # A few of each kind end to end; every rule's cases are unit tests of the
    # model and rules (tests/unit/plugins/filter/test_app_stack_filter.py,
    # tests/unit/plugins/plugin_utils/).
    assert len(BAD_CASES) >= 20


def test_no_secret_value_in_the_output(run: RunResult) -> None:
    for value in SECRET_VALUES:
        for line in value.splitlines():
            assert line not in run.output, f"a secret value is in Ansible's output: {line!r}"


@pytest.mark.parametrize("host", sorted(BAD_CASES))
def test_bad_input_fails_in_validation(run: RunResult, host: str) -> None:
    case = BAD_CASES[host]
    assert_fails_in_validation(run, host, *[text for text in (case.names, case.detail) if text])


def test_a_failed_deploy_setting_is_reported_alone(run: RunResult) -> None:
    # The rules that passed are not listed: the message names only what is wrong.
    message = assert_fails_in_validation(run, "health_timeout_zero", "app_stack_health_timeout")
    assert "keep_releases" not in message and "backup" not in message, message


@pytest.mark.parametrize("host", sorted(GOOD_CASES))
def test_good_input_passes_validation(run: RunResult, host: str) -> None:
    assert_passes_validation(run, host, LAST_VALIDATE_TASK)
