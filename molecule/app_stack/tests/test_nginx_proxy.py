"""Verify nginx_proxy through site.yml (testinfra, and clients on the controller).

These run after test_app_stack.py on the same host (pytest takes the files
in order), so they also prove that nginx came through app_stack's side
effects (dockerd and the unit restarted, a refused bad input).

What converge left: nginx healthy in the app's compose project, HTTPS /api/
answering 200 with the generated certificate checked against the CA the role
made, HTTP answering 301 to HTTPS, TLS 1.1 refused while 1.2 and 1.3 work,
a WebSocket upgrade through /ws answering 101 and echoing, keys 0600. Then
the side effects, driven by ansible-playbook against the scenario's own
inventory, with a request loop running all along: a broken extra directive
fails the play and the live configuration keeps serving; a good change is
reloaded gracefully (same container, no failed request).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
import typing as t
from pathlib import Path

import pytest
import testinfra

APP = "reference"
HOST = "aistack-app-stack-1"
SCENARIO = Path(__file__).resolve().parents[1]
INVENTORY = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "inventory"
PROXY_DIR = f"/var/lib/aistack/{APP}/proxy"
PKI = f"/opt/aistack/{APP}/pki"


@pytest.fixture(scope="module")
def host() -> t.Any:
    return testinfra.get_host(f"ansible://{HOST}?ansible_inventory={INVENTORY}")


@pytest.fixture(scope="module")
def address() -> str:
    """The test host's address on the scenario's network, as the controller reaches it (not its own bridges')."""
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", HOST],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[0]


@pytest.fixture(scope="module")
def ca(host) -> str:
    return host.check_output(f"cat {PKI}/ca.crt")


def tls_context(ca_pem: str | None = None, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    if ca_pem is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cadata=ca_pem)
    if version is not None:
        context.minimum_version = context.maximum_version = version
        # Let this client offer old versions at all: the refusal must be the server's.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def https_get(address: str, ca_pem: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPSConnection(address, 443, context=tls_context(ca_pem), timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def containers(host) -> dict[str, dict[str, t.Any]]:
    ids = host.check_output(f"docker ps -aq --filter label=com.docker.compose.project={APP}").split()
    found = json.loads(host.check_output(f"docker inspect {' '.join(ids)}")) if ids else []
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in found}


def playbook(*args: str) -> tuple[int, str]:
    """Converge again with extra variables: (rc, everything Ansible printed, failures included)."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", NO_COLOR="1")
    result = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(SCENARIO / "converge.yml"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        check=False,
    )
    return result.returncode, result.stdout


def failures(output: str) -> str:
    return "\n".join(line for line in output.splitlines() if "fatal:" in line or "FAILED!" in line) or output[-3000:]


# ---------------------------------------------------------------- after converge


def test_nginx_runs_healthy_in_the_apps_compose_project(host):
    found = containers(host)
    assert {s: c["State"]["Health"]["Status"] for s, c in found.items()} == {
        s: "healthy" for s in ("api", "worker", "postgres", "redis", "nginx")
    }
    mounts = {m["Destination"]: m for m in found["nginx"]["Mounts"]}
    assert mounts["/etc/aistack-proxy"]["Source"] == PROXY_DIR
    assert mounts["/etc/aistack-proxy"]["RW"] is False
    assert found["nginx"]["HostConfig"]["ReadonlyRootfs"] is True


def test_https_api_answers_200_with_the_certificate_checked_against_its_ca(address, ca):
    status, headers, body = https_get(address, ca, "/api/health")
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"
    assert headers["strict-transport-security"] == "max-age=63072000"
    assert headers["x-aistack-config"] == "1"
    # /docs reaches the backend too (FastAPI's page).
    status, _headers, body = https_get(address, ca, "/docs")
    assert status == 200 and b"swagger" in body.lower()


def test_a_client_without_that_ca_refuses_the_certificate(address):
    with socket.create_connection((address, 443), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(raw, server_hostname=address)


def test_http_answers_301_to_https(address):
    conn = http.client.HTTPConnection(address, 80, timeout=10)
    conn.request("GET", "/api/health?x=1")
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{address}/api/health?x=1"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_handshakes_succeed(address, ca, version):
    context = ssl.create_default_context(cadata=ca)
    context.minimum_version = context.maximum_version = version
    with socket.create_connection((address, 443), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=address) as tls:
            assert tls.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]


def test_tls_1_1_handshake_is_refused_by_the_server(address):
    with socket.create_connection((address, 443), timeout=10) as raw:
        with pytest.raises(ssl.SSLError) as refused:
            tls_context(None, ssl.TLSVersion.TLSv1_1).wrap_socket(raw, server_hostname=address)
    # The server's alert, not a client that could not offer TLS 1.1 at all.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)
    assert "PROTOCOL_VERSION" in str(refused.value).upper() or "UNSUPPORTED_PROTOCOL" in str(refused.value).upper()


def ws_frame(payload: bytes) -> bytes:
    """A masked client text frame (RFC 6455)."""
    mask = os.urandom(4)
    header = bytes([0x81])
    header += (
        bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    )
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_websocket_upgrade_through_ws_answers_101_and_echoes(address, ca):
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((address, 443), timeout=10) as raw:
        with tls_context(ca).wrap_socket(raw, server_hostname=address) as tls:
            tls.sendall(
                (
                    f"GET /ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = tls.recv(4096)
                assert chunk, head
                head += chunk
            status_line, rest = head.split(b"\r\n", 1)
            assert status_line.startswith(b"HTTP/1.1 101"), head
            assert b"upgrade: websocket" in rest.lower()
            tls.sendall(ws_frame(b"hello through nginx"))
            frame = head.split(b"\r\n\r\n", 1)[1]
            while len(frame) < 2 or len(frame) < 2 + (frame[1] & 0x7F):
                frame += tls.recv(4096)
            assert frame[0] == 0x81  # a final text frame, unmasked from the server
            assert frame[2 : 2 + (frame[1] & 0x7F)] == b"hello through nginx"


def test_keys_are_0600_root_and_the_ca_key_is_never_mounted(host):
    for path in (
        f"{PROXY_DIR}/live/tls/server.key",
        f"{PROXY_DIR}/staging/tls/server.key",
        f"{PKI}/ca.key",
        f"{PKI}/server.key",
    ):
        key = host.file(path)
        assert (key.mode, key.user, key.group) == (0o600, "root", "root"), path
    assert host.file(PKI).mode == 0o700
    assert not host.file(f"{PROXY_DIR}/live/tls/ca.key").exists
    assert host.file(f"{PROXY_DIR}/live").is_symlink


# ---------------------------------------------------------------- side effects


class RequestLoop(threading.Thread):
    """HTTPS GET /api/health as fast as one client goes, counting what failed."""

    def __init__(self, address: str, ca_pem: str) -> None:
        super().__init__(daemon=True)
        self.address, self.ca_pem = address, ca_pem
        self.stopped = threading.Event()
        self.ok = 0
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                status, _headers, body = https_get(self.address, self.ca_pem, "/api/health")
                if status == 200:
                    self.ok += 1
                else:
                    self.errors.append(f"{status} {body[:200]!r}")
            except (OSError, http.client.HTTPException) as error:
                self.errors.append(repr(error))
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)


@pytest.fixture(scope="module")
def loop(address, ca) -> t.Iterator[RequestLoop]:
    requests = RequestLoop(address, ca)
    requests.start()
    yield requests
    requests.stop()


def test_side_effect_a_broken_directive_fails_and_the_live_config_keeps_serving(host, loop):
    live = host.check_output(f"readlink {PROXY_DIR}/live")
    started = containers(host)["nginx"]["State"]["StartedAt"]
    # An operator changing only the proxy runs only its role (site.yml's tags).
    rc, output = playbook(
        "--tags", "nginx_proxy", "-e", json.dumps({"nginx_proxy_extra_directives": ["add_hedder X-Broken yes"]})
    )
    assert rc != 0
    assert 'unknown directive \\"add_hedder\\"' in output or 'unknown directive "add_hedder"' in output, failures(
        output
    )
    assert "the live one keeps serving" in output
    assert host.check_output(f"readlink {PROXY_DIR}/live") == live
    assert containers(host)["nginx"]["State"]["StartedAt"] == started
    # The refused configuration directory is gone; staging holds the refused file until a good run.
    assert host.check_output(f"ls {PROXY_DIR}").split().count(live) == 1
    time.sleep(1)
    assert loop.ok > 0 and loop.errors == []


def test_side_effect_a_good_change_is_reloaded_gracefully(host, loop, address, ca):
    live = host.check_output(f"readlink {PROXY_DIR}/live")
    nginx = containers(host)["nginx"]
    before = loop.ok
    rc, output = playbook(
        "--tags", "nginx_proxy", "-e", json.dumps({"nginx_proxy_response_headers": {"X-Aistack-Config": "2"}})
    )
    assert rc == 0, failures(output)
    # --tags nginx_proxy: every role checked its input and handed on its facts; only nginx_proxy changed anything.
    for skipped in (
        "docker_engine : packages |",
        "app_image : build |",
        "app_stack : deploy |",
        "app_stack : release |",
    ):
        assert skipped not in output, skipped
    for ran in ("docker_engine : facts |", "app_stack : validate |", "app_stack : facts |", "nginx_proxy : config |"):
        assert ran in output, ran
    reload = re.search(r"Reload nginx gracefully.*?\n(changed|ok|skipping):", output, re.S)
    assert reload and reload.group(1) == "changed", output[-3000:]
    assert host.check_output(f"readlink {PROXY_DIR}/live") != live
    after = containers(host)["nginx"]
    assert (after["Id"], after["State"]["StartedAt"]) == (nginx["Id"], nginx["State"]["StartedAt"])
    _status, headers, _body = https_get(address, ca, "/api/health")
    assert headers["x-aistack-config"] == "2"
    time.sleep(1)
    assert loop.ok > before and loop.errors == []
