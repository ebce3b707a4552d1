"""The app_stack role's compose file, unit and .env, rendered through Ansible for every seed shape.

tests/harness/aistack_testlib/render_shapes.py (render_stacks) runs the role's own validate
tasks (the model through aistack.deploy.app_stack_model, the secret checks)
and its templates for every examples/shapes/*.yml, the extra cases of
STACK_EXTRA_CASES (role defaults, other profile sets, a GPU host) and the
broken cases below, in one ansible-playbook run. These tests assert what
the files say; the lint tier runs `docker compose config` and
`systemd-analyze verify` on the same renderings
(tests/harness/lint/compose-config-all.sh, systemd-verify-all.sh).
"""

from __future__ import annotations

import re
import stat
import typing as t
from pathlib import Path

import pytest
import yaml

from aistack_testlib import render_shapes

SHAPES_DIR = render_shapes.SHAPES
SHAPE_NAMES = sorted(p.stem for p in SHAPES_DIR.glob("*.yml"))
GOOD = {**render_shapes.stack_cases()}
# Cases that must fail, and a text the failure must contain.
BROKEN: dict[str, tuple[render_shapes.Case, str]] = {
    "broken-port_clash": (
        render_shapes.Case(
            SHAPES_DIR / "mini_ai_analyst.yml",
            {"app_stack_services": {"api": {}, "flower": {"ports": ["8000:5555"]}, "redis": {}}},
        ),
        "app_stack_services.flower.ports: host port 8000/tcp of service 'flower' is already published by service 'api'",
    ),
    # The same clash where the user set only the role's port variables: the message names the variable.
    "broken-port_clash_by_variables": (
        render_shapes.Case(
            SHAPES_DIR / "mini_ai_analyst.yml",
            {"app_stack_services": {"api": {}, "flower": {}, "redis": {}}, "app_stack_flower_port": 8000},
        ),
        "app_stack_flower_port: host port 8000/tcp of service 'flower' is already published by service 'api'",
    ),
    "broken-target_not_built": (
        render_shapes.Case(SHAPES_DIR / "demeterai_gpu.yml", {"app_stack_services": {"api": {}}}),
        "app_stack_services.api.target: 'api' is not a target app_image built (built: worker",
    ),
    "broken-inactive_dependency": (
        render_shapes.Case(
            SHAPES_DIR / "argusai_backend.yml",
            {
                "app_stack_profiles": [],
                "app_stack_services": {
                    "backend": {"preset": "api", "depends_on": ["postgres"]},
                    "postgres": {"profiles": ["postgres"]},
                },
            },
        ),
        "app_stack_services.backend.depends_on: 'postgres' is in profiles ['postgres']",
    ),
    # A GPU the host does not have, and two services given one GPU (by its index and its UUID).
    "broken-gpu_not_on_host": (
        render_shapes.Case(
            SHAPES_DIR / "demeterai_gpu.yml",
            {
                **render_shapes.STACK_EXTRA_CASES["demeterai_gpu-gpu_ids"].overrides,
                "app_stack_services": {"worker": {"gpu": [2]}},
            },
        ),
        "app_stack_services.worker.gpu: GPU 2 is not on broken-gpu_not_on_host (got [2]; the host's GPUs by index and UUID, "
        "aistack_gpu.gpus: 0 (GPU-0e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c40), 1 (GPU-1e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c41))",
    ),
    "broken-gpu_given_twice": (
        render_shapes.Case(
            SHAPES_DIR / "demeterai_gpu.yml",
            {
                **render_shapes.STACK_EXTRA_CASES["demeterai_gpu-gpu_ids"].overrides,
                "app_stack_services": {
                    "worker": {"gpu": [1]},
                    "worker2": {"preset": "worker", "gpu": ["GPU-1e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c41"]},
                },
            },
        ),
        "app_stack_services.worker2.gpu: GPU 1 (GPU-1e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c41) is also given to service "
        "'worker' (app_stack_services.worker.gpu)",
    ),
    "broken-placeholder_secret": (
        render_shapes.Case(
            SHAPES_DIR / "argusai_backend.yml",
            {"app_stack_secrets": {"ENCRYPTION_KEY": "changeme", "POSTGRES_PASSWORD": "lint-pg-password-4711"}},
        ),
        "app_stack_secrets.ENCRYPTION_KEY: is a placeholder",
    ),
    "broken-missing_db_password": (
        render_shapes.Case(SHAPES_DIR / "reference_backend.yml", {"app_stack_secrets": {}}),
        "required secret POSTGRES_PASSWORD is missing",
    ),
}


@pytest.fixture(scope="module", name="rendered")
def rendered_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, render_shapes.StackResult]:
    cases = {**GOOD, **{name: case for name, (case, _text) in BROKEN.items()}}
    return render_shapes.render_stacks(tmp_path_factory.mktemp("stacks"), cases)


def compose(rendered: dict[str, render_shapes.StackResult], case: str) -> dict[str, t.Any]:
    result = rendered[case]
    assert result.failure is None, f"{case} failed: {result.failure}"
    return yaml.safe_load(result.compose.read_text())


def env_path(rendered: dict[str, render_shapes.StackResult], case: str) -> Path:
    """Each release has its own .env (the role's default release is 'latest')."""
    return rendered[case].directory / "root" / "releases" / "latest" / ".env"


def env_file(rendered: dict[str, render_shapes.StackResult], case: str, name: str = ".env") -> dict[str, str]:
    text = env_path(rendered, case).with_name(name).read_text()
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return {key: value.strip("'") for key, value in pairs}


def unit(rendered: dict[str, render_shapes.StackResult], case: str) -> str:
    return rendered[case].unit().read_text()


def shape_vars(case: str) -> dict[str, t.Any]:
    shape, overrides = GOOD[case]
    found = yaml.safe_load(shape.read_text()) if shape is not None else {}
    return {**found, **overrides}


@pytest.mark.parametrize("case", sorted(GOOD))
def test_every_case_renders_without_problems(rendered: dict[str, render_shapes.StackResult], case: str) -> None:
    result = rendered[case]
    assert result.failure is None, f"{case}: {result.failure}"
    assert result.model()["problems"] == []
    assert result.compose.is_file() and result.unit().is_file()


def test_every_shape_describes_its_stack() -> None:
    for name in SHAPE_NAMES:
        found = yaml.safe_load((SHAPES_DIR / f"{name}.yml").read_text())
        assert found.get("app_stack_name"), f"{name}: no app_stack_name"
        assert found.get("app_stack_services"), f"{name}: no app_stack_services"
        assert not found.get("app_stack_secrets"), f"{name}: secret values do not belong in a shape file"


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_case_fails_with_its_problem(rendered: dict[str, render_shapes.StackResult], case: str) -> None:
    failure = rendered[case].failure
    assert failure is not None, f"{case} rendered, but must fail"
    said = failure["msg"] if isinstance(failure["msg"], str) else "\n".join(failure["msg"])
    assert BROKEN[case][1] in said
    assert not rendered[case].compose.exists(), "nothing is rendered after a failed check"


@pytest.mark.parametrize("case", sorted(GOOD))
def test_services_images_and_healthchecks(rendered: dict[str, render_shapes.StackResult], case: str) -> None:
    doc = compose(rendered, case)
    model = rendered[case].model()
    name = shape_vars(case).get("app_stack_name", "app")
    assert doc["name"] == name
    for sname, svc in doc["services"].items():
        target = model["services"][sname]["target"]
        if target:
            assert svc["image"] == f"aistack-lint/app-{target}:lint", "targets take app_stack_images"
        else:
            assert svc["image"] and not svc["image"].startswith("aistack-lint/")
        assert svc["pull_policy"] == "never"
        assert svc["labels"]["io.aistack.deploy.app"] == name
        assert "no-new-privileges:true" in svc["security_opt"] and svc["cap_drop"] == ["ALL"]
        # The health gate needs a healthcheck: the preset's, the shape's or the image's own (app_image targets,
        # the frontend image of the ArgusAI seed).
        assert "healthcheck" in svc or target or model["services"][sname]["preset"] == "frontend", sname


@pytest.mark.parametrize("case", sorted(GOOD))
def test_secrets_only_in_env(rendered: dict[str, render_shapes.StackResult], case: str) -> None:
    result = rendered[case]
    secrets = render_shapes.stack_lint_vars(GOOD[case], result.directory / "root")["app_stack_secrets"]
    env = env_file(rendered, case)
    assert stat.S_IMODE(env_path(rendered, case).stat().st_mode) == 0o600
    for key, value in secrets.items():
        assert env[key] == value
        for path in (result.compose, result.unit(), result.directory / "model.json"):
            assert value not in path.read_text(), f"secret {key} leaked into {path.name}"
    doc = compose(rendered, case)
    postgres = rendered[case].model()["postgres_service"]
    for sname, svc in doc["services"].items():
        if "env_file" in svc:
            expected = env_path(rendered, case).with_name("postgres.env" if sname == postgres else ".env")
            assert svc["env_file"] == [str(expected)], sname


def test_postgres_reads_its_password_alone(rendered: dict[str, render_shapes.StackResult]) -> None:
    """A changed app secret must not change what the database container reads (it would be recreated)."""
    with_postgres = [case for case in sorted(GOOD) if rendered[case].model()["postgres_service"]]
    assert len(with_postgres) >= 3, with_postgres  # the reference backend, Horus AI, ArgusAI...
    for case in with_postgres:
        path = env_path(rendered, case).with_name("postgres.env")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert env_file(rendered, case, "postgres.env") == {"POSTGRES_PASSWORD": render_shapes.LINT_DB_PASSWORD}, case


@pytest.mark.parametrize("case", sorted(GOOD))
def test_database_url_derived_for_postgres(rendered: dict[str, render_shapes.StackResult], case: str) -> None:
    doc = compose(rendered, case)
    env = env_file(rendered, case)
    # The PostgreSQL that runs with the case's profiles; one that does not run hands on no URL.
    postgres = [rendered[case].model()["postgres_service"]] if rendered[case].model()["postgres_service"] else []
    if not postgres:
        assert "DATABASE_URL" not in env or "DATABASE_URL" in shape_vars(case).get("app_stack_required_secrets", [])
        return
    pg_env = doc["services"][postgres[0]]["environment"]
    password = render_shapes.LINT_DB_PASSWORD.replace("/", "%2F").replace(":", "%3A").replace("@", "%40")
    assert env["DATABASE_URL"] == (
        f"postgresql://{pg_env['POSTGRES_USER']}:{password}@{postgres[0]}:5432/{pg_env['POSTGRES_DB']}"
    )


def test_env_from_pieces_plain_in_compose_and_secrets_only_in_env(
    rendered: dict[str, render_shapes.StackResult],
) -> None:
    case = "reference_backend-env_from"
    doc, env = compose(rendered, case), env_file(rendered, case)
    pg_env = doc["services"]["postgres"]["environment"]
    for sname in ("api", "worker"):
        environment = doc["services"][sname]["environment"]
        assert {
            key: environment[key]
            for key in ("POSTGRES_SERVER", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_DB", "CELERY_BROKER_URL")
        } == {
            "POSTGRES_SERVER": "postgres",
            "POSTGRES_PORT": "5432",
            "POSTGRES_USER": pg_env["POSTGRES_USER"],
            "POSTGRES_DB": pg_env["POSTGRES_DB"],
            "CELERY_BROKER_URL": "redis://redis:6379/0",
        }, sname
        assert "DB_PASSWORD" not in environment and "SQLALCHEMY_URL" not in environment
    # The password and the URL that holds it: .env only, the same values as DATABASE_URL's.
    assert env["DB_PASSWORD"] == env["POSTGRES_PASSWORD"] == render_shapes.LINT_DB_PASSWORD
    assert env["SQLALCHEMY_URL"] == env["DATABASE_URL"]
    assert render_shapes.LINT_DB_PASSWORD not in rendered[case].compose.read_text()


@pytest.mark.parametrize("case", sorted(GOOD))
def test_unit_runs_the_current_release(rendered: dict[str, render_shapes.StackResult], case: str) -> None:
    text = unit(rendered, case)
    name = shape_vars(case).get("app_stack_name", "app")
    root = rendered[case].directory / "root"
    assert rendered[case].unit().name == f"aistack-{name}.service"
    assert re.search(
        rf"^ExecStart=/\S+ compose --project-name {re.escape(name)} --file {re.escape(str(root))}"
        r"/current/compose\.yaml up --detach --remove-orphans$",
        text,
        re.M,
    )
    profiles = shape_vars(case).get("app_stack_profiles", [])
    if profiles:
        assert f"\nEnvironment=COMPOSE_PROFILES={','.join(profiles)}\n" in text
    else:
        assert "COMPOSE_PROFILES" not in text
    grace = rendered[case].model()["max_stop_grace_seconds"]
    assert f"\nTimeoutStopSec={grace + 30}\n" in text


def test_gpu_reservation_only_where_a_gpu_is(rendered: dict[str, render_shapes.StackResult]) -> None:
    without = compose(rendered, "demeterai_gpu")["services"]["worker"]
    with_gpu = compose(rendered, "demeterai_gpu-gpu_present")["services"]["worker"]
    assert "deploy" not in without
    assert with_gpu["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
    ]
    assert with_gpu["environment"]["CUDA_VISIBLE_DEVICES"] == "0" and with_gpu["shm_size"] == "2g"
    pinned = compose(rendered, "demeterai_gpu-gpu_ids")["services"]["worker"]
    assert pinned["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "device_ids": ["1"], "capabilities": ["gpu"]}
    ]


def test_per_gpu_one_worker_per_gpu_by_cdi_device(rendered: dict[str, render_shapes.StackResult]) -> None:
    services = compose(rendered, "demeterai_gpu-per_gpu")["services"]
    assert list(services) == ["worker-gpu0", "worker-gpu1", "worker-gpu2", "worker-gpu3"]
    for index, (name, replica) in enumerate(services.items()):
        assert replica["deploy"]["resources"]["reservations"]["devices"] == [
            {"driver": "cdi", "device_ids": [f"nvidia.com/gpu={index}"], "capabilities": ["gpu"]}
        ], name
        assert replica["networks"] == {"default": {"aliases": ["worker"]}}
        assert replica["labels"]["io.aistack.deploy.gpu"] == str(index)
        assert replica["shm_size"] == "2g" and replica["image"] == services["worker-gpu0"]["image"]
    assert rendered["demeterai_gpu-per_gpu"].model()["replicas"] == {"worker": list(services)}


def test_argusai_profiles(rendered: dict[str, render_shapes.StackResult]) -> None:
    doc = compose(rendered, "argusai_backend")
    services = doc["services"]
    assert services["postgres"]["profiles"] == ["postgres", "full"] and services["nginx"]["profiles"] == ["ssl", "full"]
    assert services["backend"]["depends_on"] == {"postgres": {"condition": "service_healthy", "restart": True}}
    assert list(services["frontend"]["depends_on"]) == ["backend"]
    assert services["backend"]["deploy"]["resources"]["limits"] == {"memory": "1g"}
    assert services["frontend"]["deploy"]["resources"]["limits"] == {"memory": "512m"}
    assert doc["volumes"] == {
        "data": {"name": "aistack-argusai-data", "external": True},
        "pgdata": {"name": "aistack-argusai-pgdata", "external": True},
    }
    # nginx is the nginx preset: the nginx_proxy role's configuration directory, read-only.
    assert services["nginx"]["volumes"] == [
        {
            "type": "bind",
            "source": "/var/lib/aistack/argusai/proxy",
            "target": "/etc/aistack-proxy",
            "read_only": True,
            "bind": {"create_host_path": False},
        }
    ]
    assert services["nginx"]["image"] == "nginx:1.27-alpine" and services["nginx"]["ports"] == ["80:80", "443:443"]
    assert list(services["nginx"]["depends_on"]) == ["backend", "frontend"]
    # Without the postgres profile the backend must not wait for a PostgreSQL that stays down.
    assert "depends_on" not in compose(rendered, "argusai_backend-no_profiles")["services"]["backend"]


def test_bind_volumes_live_under_the_data_root(rendered: dict[str, render_shapes.StackResult]) -> None:
    services = compose(rendered, "mini_ai_analyst")["services"]
    for sname in ("api", "worker"):
        sources = {v["target"]: v["source"] for v in services[sname]["volumes"]}
        assert sources == {f"/app/{v}": f"/var/lib/aistack/mini-ai-analyst/{v}" for v in ("models", "uploads", "logs")}
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]
    volumes = rendered["reference_backend"].model()["volumes"]
    assert {n: (v["type"], v["path"], v["mode"]) for n, v in volumes.items()} == {
        "data": ("bind", "/var/lib/aistack/reference/data", "0750"),
        "models": ("bind", "/var/lib/aistack/reference/models", "0755"),
        "pgdata": ("bind", "/var/lib/aistack/reference/pgdata", "0700"),
        "redis-data": ("bind", "/var/lib/aistack/reference/redis-data", "0750"),
    }
    # Data never lives in a release directory.
    assert all(not v["path"].startswith("/opt/aistack") for v in volumes.values())


def test_horus_named_volumes_keep_baked_content(rendered: dict[str, render_shapes.StackResult]) -> None:
    doc = compose(rendered, "horus_ai")
    api = doc["services"]["api"]
    assert [(v["type"], v["source"], v["target"]) for v in api["volumes"]] == [
        ("volume", "static", "/app/static"),
        ("volume", "models", "/app/ml/models"),
    ]
    assert api["restart"] == "always" and doc["services"]["postgres"]["image"] == "postgres:15"
    assert api["deploy"]["resources"]["limits"] == {"cpus": "2", "memory": "2g"}


def test_shape_images_build_what_the_stack_runs() -> None:
    """Every target a shape's stack runs is one its app_image settings build."""
    app_defaults = yaml.safe_load((render_shapes.ROLE / "defaults" / "main.yml").read_text())
    presets = yaml.safe_load((render_shapes.STACK_ROLE / "vars" / "main.yml").read_text())["__app_stack_presets"]
    for name in SHAPE_NAMES:
        found = yaml.safe_load((SHAPES_DIR / f"{name}.yml").read_text())
        built = set(found.get("app_image_targets", app_defaults["app_image_targets"]))
        for sname, svc in found["app_stack_services"].items():
            svc = svc or {}
            target = svc.get("target", presets.get(svc.get("preset", sname), {}).get("target"))
            if target and svc.get("enabled", True):
                assert target in built, f"{name}: service {sname} runs target {target}, the image builds {built}"
