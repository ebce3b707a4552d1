"""Verify app_stack through site.yml on the converged hosts (testinfra).

First what converge left on every host: every container healthy and not
root, /health 200, an upload lands in the host directory owned by the
image's UID/GID, .env 0600, the canary secret nowhere, the unit enabled and
valid. Then the side effects, in order, driven by ansible-playbook against
the scenario's own inventory: a no-op re-run changes and restarts nothing;
dockerd restarts; the unit stops and starts; a bad input changes nothing.
nginx_proxy's checks follow in test_nginx_proxy.py, on the same host.
The release lifecycle (failed releases going back, rollback.yml, pruning,
the engine stopping during the gate) is the `releases` scenario's.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shlex
import subprocess
import time
import typing as t
from pathlib import Path

import pytest
import testinfra

APP = "reference"
ROOT = f"/opt/aistack/{APP}"
DATA = f"/var/lib/aistack/{APP}"
CANARY = "aistack-canary-9c41e7b2-never-outside-env"
HOSTS = ("aistack-app-stack-1",)
SCENARIO = Path(__file__).resolve().parents[1]
INVENTORY = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "inventory"
UID_GID = "10001:10001"

# Python on the test host (it has no curl): GET or multipart POST, prints "status body". Through nginx
# (the api publishes no port behind it); the certificate is nginx_proxy's test (test_nginx_proxy.py).
HTTP = r"""
import ssl, sys, urllib.request, urllib.error, uuid
url = sys.argv[1]
context = ssl._create_unverified_context()
data, headers = None, {}
if len(sys.argv) > 2:
    boundary = uuid.uuid4().hex
    data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{sys.argv[2]}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n{sys.argv[3]}\r\n--{boundary}--\r\n").encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
try:
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10,
                                context=context) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"""


def http(host, path: str, *upload: str) -> tuple[int, str]:
    script = base64.b64encode(HTTP.encode()).decode()
    args = " ".join(shlex.quote(a) for a in upload)
    out = host.check_output(
        f"python3 -c 'import base64; exec(base64.b64decode(\"{script}\"))' https://127.0.0.1{path} {args}"
    )
    status, body = (out.split(" ", 1) + [""])[:2]
    return int(status), body


def containers(host) -> list[dict[str, t.Any]]:
    ids = host.check_output(f"docker ps -aq --filter label=com.docker.compose.project={APP}").split()
    return json.loads(host.check_output(f"docker inspect {' '.join(ids)}")) if ids else []


def health(host) -> dict[str, str]:
    return {
        c["Config"]["Labels"]["com.docker.compose.service"]: (c["State"].get("Health") or {}).get(
            "Status", c["State"]["Status"]
        )
        for c in containers(host)
    }


def wait_healthy(host, services: set[str], timeout: float = 180) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        status = health(host)
        if set(status) == services and all(s == "healthy" for s in status.values()):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"not healthy after {timeout} s: {status}")
        time.sleep(2)


def state(host) -> dict[str, t.Any]:
    return json.loads(host.check_output(f"cat {ROOT}/state.json"))


def playbook(*args: str, limit: str = HOSTS[0]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", NO_COLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(SCENARIO / "converge.yml"), "--limit", limit, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def recap(output: str, host: str) -> dict[str, int]:
    for line in output.splitlines():
        if line.startswith(host) and "ok=" in line:
            return {k: int(v) for k, v in (f.split("=") for f in line.split(":", 1)[1].split())}
    raise AssertionError(f"no recap line for {host}:\n{output[-3000:]}")


SERVICES = {"api", "worker", "postgres", "redis", "nginx"}
# nginx's master runs as root (it reads the key and binds 80 and 443), its workers do not.
APP_SERVICES = SERVICES - {"nginx"}


# ---------------------------------------------------------------- after converge, on every host


def test_every_container_is_healthy(host):
    assert health(host) == {s: "healthy" for s in SERVICES}


def test_health_answers_200(host):
    status, body = http(host, "/health")
    assert status == 200, body
    assert json.loads(body)["checks"]["database"]["status"] == "ok"


def test_upload_lands_in_the_data_volume_owned_by_the_image_user(host):
    status, body = http(host, "/upload", "verify.txt", "uploaded-by-verify")
    assert status == 201, body
    stored = host.file(f"{DATA}/data/uploads/verify.txt")
    assert stored.content_string == "uploaded-by-verify"
    assert f"{stored.uid}:{stored.gid}" == UID_GID
    data = host.file(f"{DATA}/data")
    assert (f"{data.uid}:{data.gid}", data.mode) == (UID_GID, 0o750)
    models = host.file(f"{DATA}/models")
    assert (f"{models.uid}:{models.gid}", models.mode) == (UID_GID, 0o755)
    assert host.file(f"{DATA}/models/model.json").uid == 10001
    # PostgreSQL's data belongs to the user its entrypoint drops to (999 in the fixture image).
    pgdata = host.file(f"{DATA}/pgdata")
    assert (pgdata.uid, pgdata.mode) == (999, 0o700)


def test_env_file_is_0600_root_and_holds_the_secrets(host):
    env = host.file(f"{ROOT}/releases/1.0.0/.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert f"APP_SECRET_CANARY='{CANARY}'" in env.content_string
    # The database URL is derived, with the password URL-encoded.
    assert (
        "DATABASE_URL='postgresql://reference:pg-Test%2FPass%3Aw0rd%40aistack@postgres:5432/reference'"
        in env.content_string
    )


def test_env_from_hands_the_app_its_connection_under_its_own_names(host):
    # The plain pieces in the app containers' environment, from the compose file.
    for service in ("api", "worker"):
        seen = json.loads(
            host.check_output(f"docker inspect --format '{{{{json .Config.Env}}}}' reference-{service}-1")
        )
        assert {
            "POSTGRES_SERVER=postgres",
            "POSTGRES_DB=reference",
            "CELERY_BROKER_URL=redis://redis:6379/0",
            "DB_PASSWORD=pg-Test/Pass:w0rd@aistack",
        } <= set(seen), service
    # The password under the app's name: .env only, never the compose file.
    assert "DB_PASSWORD='pg-Test/Pass:w0rd@aistack'" in host.file(f"{ROOT}/releases/1.0.0/.env").content_string
    compose_file = host.file(f"{ROOT}/releases/1.0.0/compose.yaml").content_string
    assert "POSTGRES_SERVER: postgres" in compose_file and "pg-Test/Pass" not in compose_file


def test_postgres_reads_its_password_alone(host):
    pg_env = host.file(f"{ROOT}/releases/1.0.0/postgres.env")
    assert (pg_env.user, pg_env.mode) == ("root", 0o600)
    assert [line for line in pg_env.content_string.splitlines() if not line.startswith("#")] == [
        "POSTGRES_PASSWORD='pg-Test/Pass:w0rd@aistack'"
    ]
    # The running database container sees no app secret (a changed one would recreate it).
    seen = host.check_output("docker inspect --format '{{json .Config.Env}}' reference-postgres-1")
    assert CANARY not in seen and "DATABASE_URL" not in seen and "POSTGRES_PASSWORD=" in seen


def test_the_canary_is_only_in_the_release_env_file(host):
    # Each release keeps its secrets in its own .env (0600): nowhere else in the release, no image.
    assert host.run(f"grep -rl {CANARY} {ROOT}").stdout.split() == [f"{ROOT}/releases/1.0.0/.env"]
    for image in host.check_output("docker images --format '{{.Repository}}:{{.Tag}}'").split():
        assert CANARY not in host.check_output(f"docker image inspect {image}"), image
        assert CANARY not in host.check_output(f"docker history --no-trunc {image}"), image


def test_containers_run_as_non_root(host):
    for container in containers(host):
        if container["Config"]["Labels"]["com.docker.compose.service"] not in APP_SERVICES:
            continue
        name = container["Name"].lstrip("/")
        uids = [line.split()[1] for line in host.check_output(f"docker top {name} -eo pid,uid").splitlines()[1:]]
        assert uids and "0" not in uids, (name, uids)
        assert container["HostConfig"]["SecurityOpt"] == ["no-new-privileges:true"]
        assert "ALL" in container["HostConfig"]["CapDrop"]


def test_release_layout(host):
    assert host.file(f"{ROOT}/current").linked_to == f"{ROOT}/releases/1.0.0"
    assert state(host)["last_healthy"] == "1.0.0"
    assert host.file(f"{ROOT}/releases/1.0.0/compose.yaml").exists
    release = json.loads(host.check_output(f"cat {ROOT}/releases/1.0.0/release.json"))
    assert sorted(release["images"]) == sorted(
        [
            "aistack-test/postgres:17",
            "aistack-test/redis:7",
            "aistack-test/nginx:1.26",
            "aistack-test/stack-backend-api:1.0.0",
            "aistack-test/stack-backend-worker:1.0.0",
        ]
    )
    # Each image as its ID: the release is exactly these images.
    for ref, image_id in release["images"].items():
        assert host.check_output(f"docker image inspect --format '{{{{.Id}}}}' {ref}") == image_id


def test_unit_is_enabled_active_and_valid(host):
    unit = host.service(f"aistack-{APP}")
    assert unit.is_enabled and unit.is_running
    verify = host.run(f"systemd-analyze verify /etc/systemd/system/aistack-{APP}.service")
    assert verify.rc == 0 and verify.stderr.strip() == "", verify.stderr
    assert "TimeoutStopSec=90" in host.file(f"/etc/systemd/system/aistack-{APP}.service").content_string


# ---------------------------------------------------------------- side effects (once, in order)


@pytest.fixture(scope="module")
def one() -> t.Any:
    return testinfra.get_host(f"ansible://{HOSTS[0]}?ansible_inventory={INVENTORY}")


def instant(stamp: str) -> datetime.datetime:
    """An RFC 3339 UTC time as Docker writes it (nanoseconds, trailing zeros trimmed), to the microsecond."""
    whole, _dot, fraction = stamp.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(whole).replace(microsecond=int((fraction + "000000")[:6]))


def no_op_run_at_vvv() -> tuple[str, str]:
    """The output of a no-op run of site.yml at -vvv on the first host, and when it started (UTC, ISO 8601).

    tests/harness/molecule/scenario.sh runs this scenario's idempotence step at
    -vvv into $AISTACK_IDEMPOTENCE_LOG (first line: its start): that run is
    read here rather than repeated. Without it (molecule verify by hand) the
    run is made here.
    """
    log = Path(os.environ.get("AISTACK_IDEMPOTENCE_LOG") or "/nonexistent")
    if log.is_file():
        started, output = (log.read_text() + "\n").split("\n", 1)
        return output, started
    started = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())
    run = playbook("-vvv")
    assert run.returncode == 0, run.stdout[-3000:]
    return run.stdout + run.stderr, started


def test_side_effect_no_op_rerun_changes_nothing_and_never_shows_the_canary(one):
    output, started = no_op_run_at_vvv()
    assert f"<{HOSTS[0]}> EXEC" in output, "not a -vvv run"  # the connection's commands: really verbose
    assert recap(output, HOSTS[0])["changed"] == 0
    assert CANARY not in output
    # Nothing restarted: every container of the stack started before that run did.
    late = [
        (c["Name"], c["State"]["StartedAt"])
        for c in containers(one)
        if instant(c["State"]["StartedAt"]) >= instant(started)
    ]
    assert not late, f"restarted during the no-op run (started {started}): {late}"


def test_side_effect_stack_is_healthy_after_dockerd_restarts(one):
    one.check_output("systemctl restart docker")
    wait_healthy(one, SERVICES, 120)
    # nginx may have started before the api and looked its name up in vain: it asks again after its
    # resolver's valid time (10 s, nginx_proxy's README), and answers from then on.
    deadline = time.monotonic() + 30
    while (status := http(one, "/health")[0]) != 200 and time.monotonic() < deadline:
        time.sleep(1)
    assert status == 200


def test_side_effect_unit_stops_and_starts_the_stack(one):
    one.check_output(f"systemctl stop aistack-{APP}")
    assert all(c["State"]["Running"] is False for c in containers(one))
    one.check_output(f"systemctl start aistack-{APP}")
    wait_healthy(one, SERVICES, 120)
    assert http(one, "/health")[0] == 200


def test_side_effect_bad_input_changes_nothing(one):
    ids = sorted(c["Id"] for c in containers(one))
    env_before = one.file(f"{ROOT}/releases/1.0.0/.env").content_string
    run = playbook(
        "-e",
        "aistack_release=1.0.3",
        "-e",
        json.dumps({"app_stack_secrets": {"POSTGRES_PASSWORD": "changeme", "APP_SECRET_CANARY": CANARY}}),
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "app_stack_secrets.POSTGRES_PASSWORD: is a placeholder" in output
    assert CANARY not in output and "changeme" not in output  # values are never shown
    assert sorted(c["Id"] for c in containers(one)) == ids
    assert one.file(f"{ROOT}/releases/1.0.0/.env").content_string == env_before
    assert not one.file(f"{ROOT}/releases/1.0.3").exists
    # site.yml checked the input before app_image: no image of 1.0.3 was built or loaded either.
    assert one.run("docker image inspect aistack-test/stack-backend-api:1.0.3").rc != 0
    assert state(one)["last_healthy"] == "1.0.0"
