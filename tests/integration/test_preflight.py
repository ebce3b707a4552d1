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
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", json.dumps(variables), str(tmp_path / "play.yml")],
        capture_output=True, text=True, check=False,
        env=dict(os.environ, NO_COLOR="1", ANSIBLE_FORCE_COLOR="false", PATH=path + os.environ["PATH"]))


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
    assert (f"localhost cannot take release 1.0.0 of preflight-it: port {taken_port} (app_stack_services.api.ports) "
            "is taken by another program listening on 127.0.0.1") in output
    assert "Nothing has changed on any host" in output


def test_a_taken_port_the_user_set_through_a_role_variable_names_that_variable(tmp_path: Path, taken_port: int) -> None:
    done = run(tmp_path, 0, app_stack_services={"api": {}}, app_stack_api_port=taken_port, app_stack_min_free_disk_mb=1)
    assert done.returncode != 0
    assert f"port {taken_port} (app_stack_api_port) is taken by another program" in done.stdout.replace('\\"', '"')


def test_too_little_free_disk_is_refused(tmp_path: Path) -> None:
    done = run(tmp_path, free_port(), app_stack_min_free_disk_mb=1024 ** 3)  # a petabyte
    assert done.returncode != 0
    assert f"MiB free on the filesystem of {tmp_path}/opt/app, app_stack_min_free_disk_mb" in done.stdout


def test_an_engine_that_runs_but_does_not_answer_is_refused(tmp_path: Path) -> None:
    # Stand-ins first on PATH: systemd says docker.service is active, the docker CLI gets no answer.
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "systemctl").write_text("#!/bin/sh\necho active\n")
    (shims / "docker").write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///shim.sock.' >&2\n"
                                  "exit 1\n")
    for shim in shims.iterdir():
        shim.chmod(0o755)
    done = run(tmp_path, free_port(), path=f"{shims}:", app_stack_min_free_disk_mb=1)
    assert done.returncode != 0
    assert ("localhost cannot take release 1.0.0 of preflight-it: the Docker engine runs (docker.service "
            "is active) but does not answer within 20 s (Cannot connect to the Docker daemon at unix:///shim.sock.)"
            ) in done.stdout.replace('\\"', '"')
