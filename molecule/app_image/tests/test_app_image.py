"""Verify app_image on the converged host (testinfra): it holds the reference
backend tagged by release, built on the host; it runs as the non-root UID,
becomes healthy, and carries no secret from the deploy environment. (An image
built on the controller and loaded by save/load: the fleet scenario's verify.)"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

IMAGE = "aistack-test/reference-backend-api:1.0.0"
CANARY = "aistack-canary-5f1d0c2e-never-in-an-image"
CONTAINER = "aistack-verify-app-image"
# /health needs the model file on the models volume, as a deployment mounts it.
MODEL = Path(__file__).resolve().parents[3] / "examples/reference-backend/models/model.json"
MODELS_DIR = "/tmp/aistack-verify-models"


def inspect(host, ref: str) -> dict:
    return json.loads(host.check_output(f"docker image inspect {ref}"))[0]


@pytest.fixture(scope="module")
def running(host):
    host.run(f"docker rm -f {CONTAINER}")
    model = shlex.quote(MODEL.read_text(encoding="utf-8"))
    host.check_output(
        f"mkdir -p {MODELS_DIR} && printf %s {model} > {MODELS_DIR}/model.json && chmod 0644 {MODELS_DIR}/model.json"
    )
    host.check_output(f"docker run -d --pull=never --name {CONTAINER} -v {MODELS_DIR}:/app/models:ro {IMAGE}")
    try:
        yield CONTAINER
    finally:
        host.run(f"docker rm -f {CONTAINER}")
        host.run(f"rm -rf {MODELS_DIR}")


def test_image_is_tagged_by_release(host):
    labels = inspect(host, IMAGE)["Config"]["Labels"]
    assert labels["io.aistack.deploy.variant"] == "cpu"
    assert len(labels["io.aistack.deploy.context-hash"]) == 64


def test_image_runs_as_the_non_root_uid(host, running):
    assert inspect(host, IMAGE)["Config"]["User"] == "10001:10001"
    assert host.check_output(f"docker exec {running} id -u") == "10001"
    assert host.check_output(f"docker exec {running} id -g") == "10001"


def test_container_becomes_healthy(host, running):
    deadline = time.monotonic() + 90
    status = ""
    while time.monotonic() < deadline:
        status = host.check_output(f"docker inspect --format '{{{{.State.Health.Status}}}}' {running}")
        if status in ("healthy", "unhealthy"):
            break
        time.sleep(1)
    logs = host.run(f"docker logs --tail 30 {running}")
    assert status == "healthy", logs.stdout + logs.stderr


def test_no_deploy_secret_in_the_image(host):
    history = host.check_output(f"docker history --no-trunc {IMAGE}")
    config = host.check_output(f"docker image inspect {IMAGE}")
    assert "APP_SECRET_CANARY" not in history + config
    assert CANARY not in history
    assert CANARY not in config


def test_no_archive_left_on_the_host(host):
    archives = host.file("/var/tmp/aistack-images")
    assert not archives.exists or not archives.listdir()


def venv_stamp(host, image: str) -> str:
    """When the image's virtualenv was made, to the nanosecond: which build of the builder stage it comes from."""
    return host.check_output(f"docker run --rm --pull=never --entrypoint stat {image} -c %y /opt/venv/pyvenv.cfg")


# Last: it prunes the host's untagged images. The test host's engine is this scenario's alone.
def test_a_prune_leaves_the_dependency_cache(host):
    builder = "aistack-test/reference-backend-builder:cpu"
    # The tag names the builder stage the release's virtualenv was copied from.
    assert venv_stamp(host, builder) == venv_stamp(host, IMAGE)
    host.check_output("docker image prune --force")
    assert inspect(host, builder)["Id"]
    # The builder stage is still the cache: building it again runs no step (the classic builder says
    # "Running in <container>" for each step it runs, "Using cache" for each it takes from the cache).
    rebuilt = host.run("DOCKER_BUILDKIT=0 docker build --target builder /opt/aistack/reference-backend/build/1.0.0")
    assert rebuilt.rc == 0, rebuilt.stderr
    assert "Running in" not in rebuilt.stdout, rebuilt.stdout
