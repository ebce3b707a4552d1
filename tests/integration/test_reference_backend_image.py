"""Build the reference backend from the app_image role's rendered Dockerfile and run it.

The Dockerfile of examples/shapes/reference_backend.yml is rendered through
Ansible with a base built here from Debian packages (no registry) and with this
machine's extra CA certificates and pip index settings, discovered, never
written down: that is how pip inside the build reaches PyPI. Target api is
built with the engine's classic builder (the Docker SDK's), then run:

- the server runs as the configured non-root UID/GID;
- the image's own HEALTHCHECK turns it healthy; /health answers 200;
- /predict scores with the sample model mounted on the models volume;
- /upload writes to the data directory; /ws echoes through a real handshake;
- SIGTERM (docker stop) ends it cleanly within 5 s.

The GPU variant's path (Python from apt, ENABLE_GPU=true) is built and run on
a Debian stand-in for the CUDA base, which cannot be pulled here.

Images and containers are named aistack-it-* and removed afterwards; the base
image is a cached fixture and stays.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
import typing as t
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from aistack_testlib import render_shapes
from aistack_testlib.built_image import built_image

REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS = REPO_ROOT / "tests" / "harness"
BACKEND = REPO_ROOT / "examples" / "reference-backend"
SHAPE = REPO_ROOT / "examples" / "shapes" / "reference_backend.yml"
PYTHON_BASE = "aistack-test/python:3.13-slim"
UID, GID = 10001, 10001
FEATURES = {"tenure_months": 12, "monthly_charges": 70, "support_tickets": 2}


@pytest.fixture(scope="module")
def image(docker_client: t.Any, tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[str]:
    subprocess.run([str(HARNESS / "images" / "build-base-images.sh"), "python"], check=True)
    context = render_shapes.build_context(
        tmp_path_factory.mktemp("reference-backend"),
        SHAPE,
        BACKEND,
        {"app_image_python_base": PYTHON_BASE, "app_image_python_version": "3.13"},
    )
    with built_image(docker_client, context, "aistack-it-refbackend") as tag:
        yield tag


@pytest.fixture(scope="module")
def running(docker_client: t.Any, image: str) -> t.Iterator[dict[str, t.Any]]:
    name = f"aistack-it-{uuid.uuid4().hex[:10]}"
    started = time.monotonic()
    container = docker_client.containers.run(
        image,
        name=name,
        detach=True,
        volumes={str(BACKEND / "models"): {"bind": "/app/models", "mode": "ro"}},
        ports={"8000/tcp": ("127.0.0.1", None)},
    )
    try:
        health = wait_healthy(container, timeout=60)
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        yield {
            "container": container,
            "base": f"http://127.0.0.1:{port}",
            "port": int(port),
            "health": health,
            "healthy_after": time.monotonic() - started,
        }
    finally:
        container.remove(force=True)


def wait_healthy(container: t.Any, timeout: float) -> dict[str, t.Any]:
    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        state = container.attrs["State"]
        health = state.get("Health") or {}
        if health.get("Status") == "healthy":
            return health
        if health.get("Status") == "unhealthy" or state["Status"] == "exited" or time.monotonic() > deadline:
            raise AssertionError(
                f"not healthy: {state['Status']}/{health.get('Status')}\n"
                f"probes: {json.dumps(health.get('Log', []), indent=1)[-3000:]}\n"
                f"log: {container.logs(tail=50).decode(errors='replace')}"
            )
        time.sleep(0.2)


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, t.Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_image_runs_as_the_configured_non_root_user(
    docker_client: t.Any, image: str, running: dict[str, t.Any]
) -> None:
    assert docker_client.images.get(image).attrs["Config"]["User"] == f"{UID}:{GID}"
    status = running["container"].exec_run(["cat", "/proc/1/status"]).output.decode()
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    gids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Gid:"))
    assert set(uids) == {str(UID)} and set(gids) == {str(GID)}


def test_image_metadata(docker_client: t.Any, image: str) -> None:
    config = docker_client.images.get(image).attrs["Config"]
    assert config["Healthcheck"]["Test"][:2] == ["CMD", "python"]
    assert config["Cmd"][0] == "uvicorn" and config["Entrypoint"] in (None, [])
    assert config.get("StopSignal", "SIGTERM") == "SIGTERM"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONUNBUFFERED"] == "1" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert config["Labels"]["io.aistack.deploy.variant"] == "cpu"


def test_healthy_by_its_own_healthcheck(running: dict[str, t.Any]) -> None:
    assert running["health"]["Status"] == "healthy"
    assert running["health"]["Log"][-1]["ExitCode"] == 0
    status, body = http("GET", running["base"] + "/health")
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["model"]["status"] == "ok"
    assert body["checks"]["disk"]["status"] == "ok"
    assert body["checks"]["database"]["status"] == "skipped"


def test_predict_with_the_mounted_model(running: dict[str, t.Any]) -> None:
    status, body = http(
        "POST",
        running["base"] + "/predict",
        json.dumps({"features": FEATURES}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, body
    assert body["model"] == "churn-demo"
    assert 0.0 < body["score"] < 1.0


def test_upload_lands_in_the_data_directory(running: dict[str, t.Any]) -> None:
    boundary = uuid.uuid4().hex
    payload = os.urandom(2048)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.bin"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, answer = http(
        "POST", running["base"] + "/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert status == 201, answer
    stored = (
        running["container"].exec_run(["stat", "-c", "%s %u", "/app/data/uploads/clip.bin"]).output.decode().split()
    )
    assert stored == [str(len(payload)), str(UID)]


def test_websocket_echo(running: dict[str, t.Any]) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", running["port"]), timeout=10) as sock:
        sock.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1024)
        assert head.startswith(b"HTTP/1.1 101"), head
        text, mask = b"ping through the proxy", os.urandom(4)
        sock.sendall(bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text)))
        frame = head.split(b"\r\n\r\n", 1)[1]
        while len(frame) < 2 + len(text):
            frame += sock.recv(1024)
        assert frame[0] == 0x81 and frame[1] == len(text) and frame[2 : 2 + len(text)] == text


def test_sigterm_stops_it_quickly(running: dict[str, t.Any]) -> None:
    container = running["container"]
    start = time.monotonic()
    container.stop(timeout=10)
    took = time.monotonic() - start
    container.reload()
    # Under 10 s, docker stop's own timeout: SIGTERM ended it, not the SIGKILL after it.
    assert took < 9, f"docker stop took {took:.1f} s"
    assert container.attrs["State"]["ExitCode"] == 0, container.logs(tail=20).decode(errors="replace")
    assert b"Finished server process" in container.logs(tail=20)


def test_gpu_variant_builds_and_runs_on_a_stand_in_cuda_base(
    docker_client: t.Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The GPU variant's own path (Python from apt, venv from python${PYTHON_VERSION}) on a Debian stand-in.

    No CUDA image can be pulled here; the GPU variant only needs an apt-based
    image whose distribution packages python<version>, so the Debian Python
    fixture stands in for nvidia/cuda. ENABLE_GPU must reach the image.
    """
    subprocess.run([str(HARNESS / "images" / "build-base-images.sh"), "python"], check=True)
    context = render_shapes.build_context(
        tmp_path_factory.mktemp("gpu-variant"),
        SHAPE,
        BACKEND,
        {
            "app_image_variant": "gpu",
            "app_image_cuda_base": PYTHON_BASE,
            "app_image_python_version": "3.13",
            "app_image_targets": ["api"],
        },
    )
    name = f"aistack-it-{uuid.uuid4().hex[:10]}"
    with built_image(docker_client, context, "aistack-it-refbackend-gpu") as tag:
        try:
            config = docker_client.images.get(tag).attrs["Config"]
            env = dict(item.split("=", 1) for item in config["Env"])
            assert env["ENABLE_GPU"] == "true"
            assert config["Labels"]["io.aistack.deploy.variant"] == "gpu"
            container = docker_client.containers.run(
                tag, name=name, detach=True, volumes={str(BACKEND / "models"): {"bind": "/app/models", "mode": "ro"}}
            )
            wait_healthy(container, timeout=60)
            python = container.exec_run(["readlink", "-f", "/opt/venv/bin/python"]).output.decode().strip()
            assert python == "/usr/bin/python3.13", "the venv runs on the distribution's python3.13"
        finally:
            try:
                docker_client.containers.get(name).remove(force=True)
            except Exception:  # pylint: disable=broad-exception-caught  # whatever the run got to
                pass
