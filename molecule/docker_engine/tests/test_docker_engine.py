"""Verify docker_engine on a converged Debian test host (testinfra)."""

from __future__ import annotations

import json

# The test host image carries Debian's busybox-static: build a FROM scratch
# image from it inside the host, with no network and no registry.
BUILD_BUSYBOX = r"""
work=$(mktemp -d)
mkdir -p "$work/bin"
cp "$(command -v busybox)" "$work/bin/busybox"
ln -s busybox "$work/bin/sh"
ln -s busybox "$work/bin/sleep"
printf 'FROM scratch\nCOPY bin/ /bin/\nENV PATH=/bin\nCMD ["sh"]\n' > "$work/Dockerfile"
docker build -q -t aistack-verify/busybox:latest "$work" >/dev/null
rm -rf "$work"
"""


def docker_info(host) -> dict:
    return json.loads(host.check_output("docker info --format '{{json .}}'"))


def test_docker_is_active_and_enabled(host):
    service = host.service("docker")
    assert service.is_running
    assert service.is_enabled


def test_compose_is_v2(host):
    version = host.check_output("docker compose version --short").lstrip("v")
    assert version.split(".")[0] == "2", version


def test_planted_key_survives_next_to_role_keys(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["labels"] == ["aistack.planted=survives"]
    assert config["live-restore"] is True
    assert config["log-driver"] == "json-file"
    assert config["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert "aistack.planted=survives" in docker_info(host)["Labels"]


def test_live_restore_is_on(host):
    assert docker_info(host)["LiveRestoreEnabled"] is True


def test_user_is_in_docker_group(host):
    assert "docker" in host.user("aistack").groups


def test_locally_built_image_runs_with_log_rotation(host):
    build = host.run("sh -ec %s", BUILD_BUSYBOX)
    assert build.rc == 0, build.stderr
    host.run_test("docker image inspect aistack-verify/busybox:latest")
    name = "aistack-verify-logs"
    host.run(f"docker rm -f {name}")
    try:
        host.check_output(
            f"docker run -d --name {name} --pull=never aistack-verify/busybox sh -c 'echo hello-from-inside; sleep 60'"
        )
        log_config = json.loads(host.check_output(f"docker inspect -f '{{{{json .HostConfig.LogConfig}}}}' {name}"))
        assert log_config == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}
        assert "hello-from-inside" in host.check_output(f"sleep 1; docker logs {name}")
    finally:
        host.run(f"docker rm -f {name}")


def test_user_address_pool_is_used(host):
    name = "aistack-verify-net"
    host.run(f"docker network rm {name}")
    try:
        host.check_output(f"docker network create {name}")
        subnet = host.check_output(f"docker network inspect -f '{{{{(index .IPAM.Config 0).Subnet}}}}' {name}")
        assert subnet.startswith("10.213."), subnet
    finally:
        host.run(f"docker network rm {name}")


def test_python_docker_sdk_is_installed(host):
    host.run_test("python3 -c 'import docker'")
