# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the wait_for_healthy module: main() with patched arguments."""

from __future__ import annotations

import socket
import threading
import typing as t

import pytest
from docker.errors import APIError, NotFound

from ansible_collections.aistack.deploy.plugins.module_utils import _docker_client
from ansible_collections.aistack.deploy.plugins.modules import wait_for_healthy


def container(name: str, health: str | None, status: str = "running", exit_code: int = 0) -> dict[str, t.Any]:
    state: dict[str, t.Any] = {
        "Status": status,
        "Running": status == "running",
        "ExitCode": exit_code,
        "OOMKilled": False,
        "StartedAt": "2026-05-08T10:00:00Z",
    }
    if health:
        state["Health"] = {"Status": health, "Log": [{"ExitCode": 1, "Output": "refused", "Start": "s", "End": "e"}]}
    return {
        "Id": f"{name}-id",
        "Name": f"/{name}",
        "RestartCount": 0,
        "State": state,
        "Config": {"Labels": {}, "Healthcheck": {"Test": ["CMD", "true"]} if health else None},
        "HostConfig": {"RestartPolicy": {"Name": "no"}},
    }


class Stream:
    """An event stream with no events: the verdicts come from inspecting.

    Like the real one, it ends only when closed (or when the engine goes away).
    """

    def __init__(self) -> None:
        self.closed = threading.Event()

    def __iter__(self) -> t.Iterator[dict[str, t.Any]]:
        self.closed.wait(30)
        return iter(())

    def close(self) -> None:
        self.closed.set()


class Api:
    def __init__(self, *containers: dict[str, t.Any], error: Exception | None = None) -> None:
        self.data = {c["Name"].lstrip("/"): c for c in containers}
        self.error = error
        self.ping_error: Exception | None = None
        # nvidia-smi -L in a container: the command run, its output and exit code.
        self.exec_cmd: tuple[str, list[str]] | None = None
        self.smi_output = b""
        self.smi_exit = 0

    def ping(self) -> bool:
        if self.ping_error is not None:
            raise self.ping_error
        return True

    def events(self, **kwargs: t.Any) -> Stream:
        return Stream()

    def inspect_container(self, ref: str) -> dict[str, t.Any]:
        if self.error:
            raise self.error
        for data in self.data.values():
            if ref in (data["Id"], data["Name"].lstrip("/")):
                return data
        raise NotFound(ref)

    def containers(self, **kwargs: t.Any) -> list[dict[str, t.Any]]:
        return []

    def logs(self, ref: str, **kwargs: t.Any) -> bytes:
        return b"booting\nTraceback: boom\n"

    # nvidia-smi -L in a container: what the gate's GPU probe runs (smi_output, smi_exit above).
    def exec_create(self, container: str, cmd: list[str], **kwargs: t.Any) -> dict[str, str]:
        self.exec_cmd = (container, cmd)
        return {"Id": "exec-1"}

    def exec_start(self, exec_id: str) -> bytes:
        return self.smi_output

    def exec_inspect(self, exec_id: str) -> dict[str, t.Any]:
        return {"ExitCode": self.smi_exit}


class Client:
    def __init__(self, api: Api) -> None:
        self.api = api


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., Api]:
    """Point the module at a fake engine holding the given containers."""

    def _engine(*containers: dict[str, t.Any], error: Exception | None = None) -> Api:
        api = Api(*containers, error=error)
        seen: dict[str, t.Any] = {}

        def get_client(module: t.Any, api_timeout_key: str = "timeout") -> Client:
            seen["api_timeout"] = module.params[api_timeout_key]
            return Client(api)

        monkeypatch.setattr(wait_for_healthy, "get_client", get_client)
        api.seen = seen  # type: ignore[attr-defined]
        return api

    return _engine


@pytest.mark.parametrize(
    "args, message",
    [
        ({}, "one of the following is required: containers, project"),
        ({"containers": ["a"], "project": "p"}, "parameters are mutually exclusive: containers|project"),
        ({"containers": ["a"], "services": ["web"]}, "missing parameter(s) required by 'services': project"),
        ({"containers": []}, "containers is empty: name at least one container to wait for"),
        ({"project": ""}, "project is empty: name the compose project to wait for"),
        ({"containers": ["a"], "wait_timeout": -1}, "wait_timeout and log_lines must not be negative"),
        (
            {"containers": ["a"], "without_healthcheck": "ignore"},
            "value of without_healthcheck must be one of: fail, running",
        ),
        (
            {"containers": ["a"], "gpus": {"a": "GPU-1"}},
            "gpus: each service or container must map to a list of the GPUs",
        ),
    ],
)
def test_bad_arguments(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api], args: dict[str, t.Any], message: str
) -> None:
    engine()
    result = run_module(wait_for_healthy.main, args)
    assert result.failed
    assert message in result.result["msg"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_healthy(run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api], check_mode: bool) -> None:
    engine(container("web", "healthy"))
    result = run_module(wait_for_healthy.main, {"containers": ["web"]}, check_mode=check_mode)
    assert not result.failed, result.result
    assert result.result["changed"] is False
    assert result.result["msg"] == "1 container(s) healthy"
    assert result.result["stream_interruptions"] == 0
    assert result.result["engine_stopped"] is False
    (web,) = result.result["containers"]
    assert (web["name"], web["ready"], web["waited_for"], web["health"]) == ("web", True, "healthy", "healthy")
    assert "log_tail" not in web


def test_unhealthy_returns_the_evidence(run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api]) -> None:
    engine(container("web", "unhealthy"), container("db", "healthy"))
    result = run_module(wait_for_healthy.main, {"containers": ["web", "db"], "log_lines": 1})
    assert result.failed
    assert result.result["changed"] is False
    assert result.result["msg"] == "Not healthy: web turned unhealthy: last probe exited 1: refused"
    assert result.result["engine_stopped"] is False
    web, db = result.result["containers"]
    assert web["reason"] == "unhealthy"
    assert web["health_log"] == [{"exit_code": 1, "output": "refused", "start": "s", "end": "e"}]
    assert web["log_tail"] == ["Traceback: boom"]
    assert (web["exit_code"], web["oom_killed"], web["restart_count"]) == (0, False, 0)
    assert db["ready"] and "reason" not in db


@pytest.mark.parametrize("engine_answers", [True, False])
def test_exit_blames_the_engine_only_when_it_is_gone(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api], engine_answers: bool
) -> None:
    api = engine(container("nginx", None, status="exited"))
    if not engine_answers:
        api.ping_error = ConnectionRefusedError(111, "Connection refused")
    result = run_module(wait_for_healthy.main, {"containers": ["nginx"], "docker_host": "tcp://192.0.2.10:2376"})
    assert result.failed
    assert result.result["engine_stopped"] is not engine_answers
    (nginx,) = result.result["containers"]
    assert (nginx["reason"], nginx["exit_code"]) == ("exited", 0)
    if engine_answers:
        assert result.result["msg"] == "Not healthy: nginx exited with code 0"
    else:
        assert result.result["msg"] == (
            "The Docker engine on 192.0.2.10 stopped during the health gate (it does not answer: "
            "[Errno 111] Connection refused); last seen: nginx exited with code 0"
        )
        assert nginx["log_tail"] == []


def test_engine_on_this_host_is_named_by_its_host_name(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "deploy-01")
    api = engine(container("nginx", None, status="exited"))
    api.ping_error = ConnectionRefusedError(111, "Connection refused")
    result = run_module(wait_for_healthy.main, {"containers": ["nginx"]})
    assert result.result["msg"].startswith("The Docker engine on deploy-01 stopped during the health gate")
    assert result.result["engine_stopped"] is True


@pytest.mark.parametrize("mode, failed", [("fail", True), ("running", False)])
def test_without_healthcheck(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api], mode: str, failed: bool
) -> None:
    engine(container("cache", None))
    result = run_module(wait_for_healthy.main, {"containers": ["cache"], "without_healthcheck": mode})
    assert result.failed is failed
    if failed:
        assert "cache has no healthcheck" in result.result["msg"]


def test_api_timeout_is_not_the_wait_timeout(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_TIMEOUT", "7")
    api = engine(container("web", "healthy"))
    run_module(wait_for_healthy.main, {"containers": ["web"], "wait_timeout": 99})
    assert api.seen["api_timeout"] == 7  # type: ignore[attr-defined]


@pytest.mark.parametrize("args", [{"timeout": 9}, {"api_timeout": 9}])
def test_timeout_is_the_api_timeout_as_in_community_docker(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api], args: dict[str, int]
) -> None:
    api = engine(container("web", "healthy"))
    result = run_module(wait_for_healthy.main, {"containers": ["web"], **args})
    assert not result.failed
    assert api.seen["api_timeout"] == 9  # type: ignore[attr-defined]


def test_community_docker_group_defaults_are_accepted(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api]
) -> None:
    """What a module_defaults entry of group/aistack.deploy.docker (extending community.docker's) may set."""
    engine(container("web", "healthy"))
    result = run_module(
        wait_for_healthy.main,
        {
            "containers": ["web"],
            "use_ssh_client": False,
            "debug": True,
            "timeout": 30,
            "tls": False,
            "validate_certs": False,
        },
    )
    assert not result.failed, result.result


@pytest.mark.parametrize(
    "error, message",
    [
        (APIError("500 Server Error"), "Error talking to the Docker Engine: 500 Server Error"),
        (RuntimeError("surprise"), "Unexpected error while waiting: surprise"),
    ],
)
def test_errors_end_in_fail_json(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api], error: Exception, message: str
) -> None:
    engine(error=error)
    result = run_module(wait_for_healthy.main, {"containers": ["web"]})
    assert result.failed
    assert result.result["msg"] == message
    assert "Traceback" in result.result["exception"]


def test_missing_docker_sdk(run_module: t.Callable[..., t.Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_docker_client, "DOCKER_IMPORT_ERROR", "Traceback: No module named 'docker'")
    result = run_module(wait_for_healthy.main, {"containers": ["web"]})
    assert result.failed
    assert "Failed to import the required Python library (docker)" in result.result["msg"]


def test_unreachable_engine(run_module: t.Callable[..., t.Any], tmp_path: t.Any) -> None:
    host = f"unix://{tmp_path}/no.sock"
    result = run_module(wait_for_healthy.main, {"containers": ["web"], "docker_host": host})
    assert result.failed
    assert result.result["msg"].startswith(f"Cannot reach the Docker Engine at {host}")


@pytest.mark.parametrize(
    "params, expected",
    [
        (
            {"docker_host": "unix:///x.sock", "api_version": "1.41", "timeout": 5},
            {"base_url": "unix:///x.sock", "version": "1.41", "timeout": 5},
        ),
        ({"docker_host": None, "timeout": None}, {"base_url": "unix:///var/run/docker.sock", "timeout": 60}),
        (
            {"docker_host": "ssh://deploy@host", "use_ssh_client": True},
            {"base_url": "ssh://deploy@host", "use_ssh_client": True},
        ),
    ],
)
def test_client_kwargs(params: dict[str, t.Any], expected: dict[str, t.Any]) -> None:
    kwargs = _docker_client.client_kwargs(params)
    assert {key: kwargs[key] for key in expected} == expected
    assert "tls" not in kwargs
    assert ("use_ssh_client" in kwargs) is bool(params.get("use_ssh_client"))


def test_client_kwargs_tls(tmp_path: t.Any) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    kwargs = _docker_client.client_kwargs(
        {"docker_host": "tcp://192.0.2.1:2376", "validate_certs": True, "ca_path": str(ca)}
    )
    assert kwargs["tls"].verify == str(ca)
    assert kwargs["base_url"] == "tcp://192.0.2.1:2376"  # the SDK turns tcp into https for TLS


GPU_UUID = "GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45"


def test_a_gpu_container_that_sees_its_gpu_passes(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api]
) -> None:
    api = engine(container("worker", "healthy"))
    api.smi_output = f"GPU 0: NVIDIA GeForce RTX 4090 (UUID: {GPU_UUID})\n".encode()
    result = run_module(wait_for_healthy.main, {"containers": ["worker"], "gpus": {"worker": [GPU_UUID]}})
    assert not result.failed, result.result
    assert api.exec_cmd == ("worker-id", ["nvidia-smi", "-L"])


def test_a_healthy_gpu_container_that_sees_no_gpu_fails_the_wait(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., Api]
) -> None:
    api = engine(container("worker", "healthy"))
    api.smi_exit, api.smi_output = 6, b"No devices were found\n"
    result = run_module(wait_for_healthy.main, {"containers": ["worker"], "gpus": {"worker": [GPU_UUID]}})
    assert result.failed
    assert result.result["msg"] == (
        f"Not healthy: worker does not see exactly its GPUs: container sees 0 GPUs, expected 1: "
        f"{GPU_UUID} (nvidia-smi -L in the container: exit 6: No devices were found)"
    )
    assert result.result["containers"][0]["reason"] == "gpu_mismatch"
    assert result.result["report"].startswith(
        "worker: does not see exactly its GPUs (container sees 0 GPUs, expected 1"
    )
