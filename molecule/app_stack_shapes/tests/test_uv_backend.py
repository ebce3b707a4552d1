"""uv-backend (examples/uv-backend), a FastAPI + PostgreSQL app laid out as today's templates are, through site.yml.

Converge built release 1.0.0 from the generated Dockerfile, the app's own Dockerfile and .dockerignore in the
context left out (Molecule's idempotence run found nothing to change: the app's files are not copied in and
rendered over on every run). Here, in order:

1. 1.0.0 is the generated Dockerfile's image with the package installed (its console script runs from any
   directory), the app reads the database under its own names (app_stack_env_from), and its prestart job
   migrated the database (Alembic's revision, the initial data) before the release served;
2. 1.1.0 from the app's own Dockerfile (app_image_dockerfile: project): its user, its HEALTHCHECK, none of the
   generated one's labels; the prestart runs again as the release's job, behind a backup that holds the rows
   written on 1.0.0, and the rows are kept. A second run of the app's Dockerfile is changed=0 in the integration
   tier (test_app_image_own_dockerfile.py), and app_stack's part was proven by the idempotence run.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import typing as t
from pathlib import Path

import testinfra

HOST = "aistack-shape-uv"
APP = "uv-backend"
REVISION = "7c1d2e3f4a5b"  # examples/uv-backend/app/alembic/versions
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
INVENTORY = EPHEMERAL / "inventory"
SCENARIO = Path(__file__).resolve().parents[1]
# A release on a host already set up: the engine's work is converge's and idempotence's to prove.
RELEASE_ONLY = ("--limit", HOST, "--skip-tags", "docker_engine,nvidia_toolkit")
NOTE_TEXT = "are left out of the build context: app_image_dockerfile=generated"


def host() -> t.Any:
    return testinfra.get_host(f"ansible://{HOST}?ansible_inventory={INVENTORY}")


def api(path: str, body: dict[str, t.Any] | None = None) -> t.Any:
    """The API on the host's published port, as a client on the host reaches it (a POST when there is a body)."""
    script = (
        "import sys, urllib.request as u; d = sys.argv[2]; "
        "r = u.Request(sys.argv[1], data=d.encode() or None, headers={'Content-Type': 'application/json'}); "
        "print(u.urlopen(r, timeout=10).read().decode())"
    )
    data = json.dumps(body) if body is not None else ""
    return json.loads(host().check_output(f"python3 -c {quote(script)} http://127.0.0.1:8000{path} {quote(data)}"))


def quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def image(release: str) -> dict[str, t.Any]:
    return json.loads(host().check_output(f"docker image inspect aistack-test/{APP}-api:{release}"))[0]


def api_container() -> str:
    return host().check_output(
        f"docker ps -q --filter label=com.docker.compose.project={APP} --filter label=com.docker.compose.service=api"
    )


def deploy(release: str, dockerfile: str) -> subprocess.CompletedProcess[str]:
    args = [
        "ansible-playbook",
        "-i",
        str(INVENTORY),
        str(SCENARIO / "converge.yml"),
        *RELEASE_ONLY,
        "-e",
        json.dumps({"aistack_release": release, "app_image_dockerfile": dockerfile}),
    ]
    start = time.monotonic()
    run = subprocess.run(
        args,
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, ANSIBLE_FORCE_COLOR="false", NO_COLOR="1"),
    )
    print(f"{release} ({dockerfile}): rc {run.returncode} in {time.monotonic() - start:.0f} s")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    return run


def test_the_first_release_is_the_generated_dockerfiles_image_with_the_package_installed():
    assert image("1.0.0")["Config"]["Labels"]["io.aistack.deploy.variant"] == "cpu"
    info = json.loads(host().check_output(f"docker exec -w /tmp {api_container()} uv-backend-info"))
    assert info["uv-backend"] == "0.1.0" and set(info) >= {"alembic", "psycopg", "sqlalchemy"}


def test_the_app_reads_its_own_names_and_its_prestart_migrated_the_database():
    assert api("/api/v1/utils/database") == {
        "server": "postgres",
        "port": 5432,
        "user": "uv_backend",
        "db": "uv_backend",
        "revision": REVISION,
    }
    # The initial data the prestart wrote once.
    assert api("/api/v1/items")[0]["title"] == "first item, written by the prestart"
    env = json.loads(host().check_output(f"docker inspect {api_container()}"))[0]["Config"]["Env"]
    assert {
        "POSTGRES_SERVER=postgres",
        "POSTGRES_PORT=5432",
        "POSTGRES_USER=uv_backend",
        "POSTGRES_DB=uv_backend",
    } <= set(env)
    # The password only in the release's .env (0600), under the preset's own name.
    dotenv = host().file(f"/opt/aistack/{APP}/releases/1.0.0/.env")
    assert dotenv.mode == 0o600 and "POSTGRES_PASSWORD=" in host().check_output(f"cat {dotenv.path}")
    compose = host().check_output(f"cat /opt/aistack/{APP}/releases/1.0.0/compose.yaml")
    assert "uv-backend-test-password" not in compose


def test_the_next_release_from_the_apps_own_dockerfile_migrates_behind_a_backup():
    written = api("/api/v1/items", {"title": "written on 1.0.0"})
    run = deploy("1.1.0", "project")
    assert NOTE_TEXT not in run.stdout  # the note's task is there, skipped
    assert "api built from app_image_dockerfile=project: checked for non_root, healthcheck" in run.stdout
    config = image("1.1.0")["Config"]
    assert config["User"] == "10001:10001" and config["Cmd"][:2] == ["uvicorn", "app.main:app"]
    assert "127.0.0.1:8000/health" in " ".join(config["Healthcheck"]["Test"])
    assert "io.aistack.deploy.variant" not in (config["Labels"] or {})
    # The prestart ran as the release's job, after a backup of the database as 1.0.0 left it.
    assert "prestart (exit 0)" in run.stdout and "initial data already there" in run.stdout
    dumps = [
        name for name in host().check_output(f"ls /var/lib/aistack/{APP}/backups").split() if name.startswith("1.1.0-")
    ]
    assert dumps
    assert "written on 1.0.0" in host().check_output(f"zcat /var/lib/aistack/{APP}/backups/{dumps[0]}")
    state = json.loads(host().check_output(f"cat /opt/aistack/{APP}/state.json"))
    assert state["current"] == state["last_healthy"] == "1.1.0"
    assert written in api("/api/v1/items")
    assert api("/api/v1/utils/database")["revision"] == REVISION
    # The app's own image has the package too (uv sync, not editable).
    assert (
        json.loads(host().check_output(f"docker exec -w /tmp {api_container()} uv-backend-info"))["uv-backend"]
        == "0.1.0"
    )
