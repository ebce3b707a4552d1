"""site.yml's pre-flight (app_stack's preflight.yml) against this machine: engine, free disk and free ports.

Each case is a real ansible-playbook run on this machine (connection local):
the stack's input checks (validate.yml, as site.yml's pre-flight runs them),
then the probe, which only reads (docker info, df, /proc/net/tcp, docker ps). A
port this test listens on stands for another program's, and stand-ins for
systemctl and docker on PATH for a hung engine; the rules themselves are unit
tests (tests/unit/plugins/plugin_utils/test_preflight.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the stack's input as site.yml's pre-flight does
      ansible.builtin.include_role: {name: aistack.deploy.app_stack, tasks_from: validate.yml}
      vars: {__app_stack_input_only: true}
    - name: Check that the host can take the release
      ansible.builtin.include_role: {name: aistack.deploy.app_stack, tasks_from: preflight.yml}
"""


def run(tmp_path: Path, port: int, path: str = "", **extra: t.Any) -> subprocess.CompletedProcess[str]:
    (tmp_path / "play.yml").write_text(PLAY)
    variables = {
        "ansible_python_interpreter": sys.executable,
        "app_stack_name": "preflight-it",
        "app_stack_release": "1.0.0",
        "app_stack_root": str(tmp_path / "opt" / "app"),
        "app_stack_data_root": str(tmp_path / "var" / "app"),
        "app_stack_services": {"api": {"ports": [f"127.0.0.1:{port}:8000"]}},
        **extra,
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            json.dumps(variables),
            str(tmp_path / "play.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, NO_COLOR="1", ANSIBLE_FORCE_COLOR="false", PATH=path + os.environ["PATH"]),
    )


@pytest.fixture
def taken_port() -> t.Iterator[int]:
    """A port some other program (this test) listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_host_with_room_and_free_ports_passes(tmp_path: Path) -> None:
    done = run(tmp_path, free_port(), app_stack_min_free_disk_mb=1)
    assert done.returncode == 0, done.stdout[-3000:]
    assert not (tmp_path / "opt").exists() and not (tmp_path / "var").exists()  # the probe only looked


def test_a_port_another_program_listens_on_is_refused(tmp_path: Path, taken_port: int) -> None:
    done = run(tmp_path, taken_port, app_stack_min_free_disk_mb=1)
    assert done.returncode != 0
    output = done.stdout.replace('\\"', '"')
    assert (
        f"localhost cannot take release 1.0.0 of preflight-it: port {taken_port} (app_stack_services.api.ports) "
        "is taken by another program listening on 127.0.0.1"
    ) in output
    assert "Nothing has changed on any host" in output


def test_a_taken_port_the_user_set_through_a_role_variable_names_that_variable(tmp_path: Path, taken_port: int) -> None:
    done = run(tmp_path, 0, app_stack_services={"api": {}}, app_stack_api_port=taken_port, app_stack_min_free_disk_mb=1)
    assert done.returncode != 0
    assert f"port {taken_port} (app_stack_api_port) is taken by another program" in done.stdout.replace('\\"', '"')


def test_too_little_free_disk_is_refused(tmp_path: Path) -> None:
    done = run(tmp_path, free_port(), app_stack_min_free_disk_mb=1024**3)  # a petabyte
    assert done.returncode != 0
    assert f"MiB free on the filesystem of {tmp_path}/opt/app, app_stack_min_free_disk_mb" in done.stdout


def test_an_engine_that_runs_but_does_not_answer_is_refused(tmp_path: Path) -> None:
    # Stand-ins first on PATH: systemd says docker.service is active, the docker CLI gets no answer.
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "systemctl").write_text("#!/bin/sh\necho active\n")
    (shims / "docker").write_text(
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///shim.sock.' >&2\nexit 1\n"
    )
    for shim in shims.iterdir():
        shim.chmod(0o755)
    done = run(tmp_path, free_port(), path=f"{shims}:", app_stack_min_free_disk_mb=1)
    assert done.returncode != 0
    assert (
        "localhost cannot take release 1.0.0 of preflight-it: the Docker engine runs (docker.service "
        "is active) but does not answer within 20 s (Cannot connect to the Docker daemon at unix:///shim.sock.)"
    ) in done.stdout.replace('\\"', '"')


# ------------------------------------------------------------------ the release's images (app_image's pre-flight)

IMAGE_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the image's input as site.yml's pre-flight does
      ansible.builtin.include_role: {name: aistack.deploy.app_image, tasks_from: validate.yml}
      vars: {__app_image_input_only: true}
    - name: Check that the host can have the release's images
      ansible.builtin.include_role: {name: aistack.deploy.app_image, tasks_from: preflight.yml}
"""
HARNESS = Path(__file__).resolve().parents[1] / "harness"
REGISTRY_IMAGE = "aistack-test/registry:2"  # tests/harness/images/build-registry-image.sh


def run_images(tmp_path: Path, env: dict[str, str] | None = None, **extra: t.Any) -> subprocess.CompletedProcess[str]:
    (tmp_path / "images.yml").write_text(IMAGE_PLAY)
    variables = {
        "ansible_python_interpreter": sys.executable,
        "app_image_source": "pull",
        "app_image_name": "preflight/app",
        "app_image_targets": ["api"],
        **extra,
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            json.dumps(variables),
            str(tmp_path / "images.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, NO_COLOR="1", ANSIBLE_FORCE_COLOR="false", **(env or {})),
    )


@pytest.fixture(scope="module")
def registry_with_release() -> t.Iterator[str]:
    """A registry on 127.0.0.1 (plain HTTP, which an engine allows on loopback) holding preflight/app-api:1.0."""
    subprocess.run(
        [str(HARNESS / "images" / "build-registry-image.sh"), REGISTRY_IMAGE], check=True, capture_output=True
    )
    name = f"aistack-ctx-pf-registry-{os.getpid()}"
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "-p", "127.0.0.1::5000", REGISTRY_IMAGE],
        check=True,
        capture_output=True,
    )
    pushed = ""
    try:
        port = (
            subprocess.run(["docker", "port", name, "5000/tcp"], check=True, capture_output=True, text=True)
            .stdout.split()[0]
            .rsplit(":", 1)[1]
        )
        address = f"127.0.0.1:{port}"
        pushed = f"{address}/preflight/app-api:1.0"
        subprocess.run(["docker", "tag", "aistack-test/busybox", pushed], check=True)
        for _attempt in range(50):  # until the registry answers
            if subprocess.run(["docker", "push", pushed], capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"could not push {pushed}")
        subprocess.run(["docker", "rmi", pushed], check=True, capture_output=True)  # only the registry has it
        yield address
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], check=False, capture_output=True)
        if pushed:
            subprocess.run(["docker", "rmi", pushed], check=False, capture_output=True)


def test_pull_passes_when_the_registry_has_the_image_and_names_one_it_lacks(
    tmp_path: Path, registry_with_release: str
) -> None:
    ok = run_images(tmp_path, app_image_registry=registry_with_release, app_image_release="1.0")
    assert ok.returncode == 0, ok.stdout[-3000:]
    # Asked, not pulled: the host's engine still lacks it.
    assert (
        subprocess.run(
            ["docker", "image", "inspect", f"{registry_with_release}/preflight/app-api:1.0"],
            capture_output=True,
            check=False,
        ).returncode
        != 0
    )
    missing = run_images(tmp_path, app_image_registry=registry_with_release, app_image_release="1.1")
    assert missing.returncode != 0
    output = missing.stdout.replace('\\"', '"')
    assert (
        f"localhost cannot pull image {registry_with_release}/preflight/app-api:1.1 (app_image_source=pull with "
        f"app_image_registry={registry_with_release}, app_image_name=preflight/app, app_image_release=1.1): the "
        f"registry has no such tag (asked http://{registry_with_release}/v2/preflight/app-api/manifests/1.1 "
        "from localhost: 404"
    ) in output, output[-3000:]
    assert "Nothing has changed on any host" in output


def test_an_unreachable_registry_and_an_extra_image_the_controller_lacks_are_refused(tmp_path: Path) -> None:
    done = run_images(
        tmp_path,
        app_image_registry=f"127.0.0.1:{free_port()}",
        app_image_release="1.0",
        app_image_extra_images=["aistack-test/busybox", "aistack-ctx/not-there:1"],
    )
    assert done.returncode != 0
    output = done.stdout.replace('\\"', '"')
    assert "2 problem(s) with the images of release 1.0" in output, output[-3000:]
    assert "the registry does not answer" in output and "ConnectionRefusedError" in output
    assert (
        "localhost cannot get image aistack-ctx/not-there:1 (app_image_extra_images): the controller's Docker "
        "engine, which saves it for the hosts, does not have it"
    ) in output
    assert "aistack-test/busybox (app_image_extra_images)" not in output


def test_a_controller_engine_that_does_not_answer_is_refused(tmp_path: Path, registry_with_release: str) -> None:
    # The controller (this machine) talks to a socket nobody serves; the probe's docker CLI sees no engine either,
    # so the registry is asked for the image as for a host without an engine yet.
    done = run_images(
        tmp_path,
        env={"DOCKER_HOST": f"unix://{tmp_path}/nobody.sock"},
        app_image_registry=registry_with_release,
        app_image_release="1.0",
        app_image_extra_images=["aistack-test/busybox"],
    )
    assert done.returncode != 0
    output = done.stdout.replace('\\"', '"')
    assert "1 problem(s) with the images of release 1.0: the controller's Docker engine does not answer" in output, (
        output[-3000:]
    )
    assert "and localhost needs it: app_image_extra_images are saved from it" in output


def test_an_image_already_on_the_host_needs_no_registry(tmp_path: Path) -> None:
    registry = f"127.0.0.1:{free_port()}"  # nobody answers there
    local = f"{registry}/preflight/app-api:2.0"
    subprocess.run(["docker", "tag", "aistack-test/busybox", local], check=True)
    try:
        done = run_images(tmp_path, app_image_registry=registry, app_image_release="2.0")
    finally:
        subprocess.run(["docker", "rmi", local], check=False, capture_output=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "preflight | Ask the registry for the images the host lacks, from the host] ***\nskipping" in done.stdout


def test_the_registry_check_can_be_turned_off(tmp_path: Path) -> None:
    # A host that reaches the registry only through its engine's own mirror or proxy (docker info shows neither):
    # here nobody answers at the address, and with the check off the run goes on to the pull.
    done = run_images(
        tmp_path,
        app_image_registry=f"127.0.0.1:{free_port()}",
        app_image_release="3.0",
        app_image_preflight_registry=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    for task in (
        "Look at the registry images on the host and how its engine reaches registries",
        "Ask the registry for the images the host lacks, from the host",
    ):
        assert f"preflight | {task}] ***\nskipping" in done.stdout, done.stdout[-3000:]
