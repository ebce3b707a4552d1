"""One module_defaults entry for the engine connection (meta/runtime.yml's action group).

group/aistack.deploy.docker holds this collection's modules that talk to the
Docker Engine and extends community.docker's group: its defaults reach both,
the ones community.docker's modules share included (use_ssh_client, debug,
timeout as the API timeout). Run against the machine's real engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

PLAY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/aistack.deploy.docker:
      docker_host: {host}
      timeout: 20
      use_ssh_client: false
      debug: false
  tasks:
    - name: ours
      aistack.deploy.wait_for_healthy:
        containers: [{container}]
        without_healthcheck: running
        wait_timeout: 60
      ignore_errors: true
    - name: ours too
      aistack.deploy.image_user_info:
        image: {image}
      ignore_errors: true
    - name: community.docker's
      community.docker.docker_host_info:
      ignore_errors: true
"""


def run(tmp_path: Path, host: str, container: str, image: str) -> dict[str, dict[str, t.Any]]:
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(host=host, container=container, image=image))
    env = dict(
        os.environ,
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(play)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    try:
        tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError(f"no JSON from ansible-playbook:\n{proc.stdout}\n{proc.stderr}") from exc
    return {task["task"]["name"]: task["hosts"]["localhost"] for task in tasks}


@pytest.fixture
def running(docker_client: t.Any, busybox_image: str, unique_name: str) -> t.Iterator[str]:
    container = docker_client.containers.run(busybox_image, ["sleep", "300"], name=unique_name, detach=True)
    try:
        yield unique_name
    finally:
        container.remove(force=True)


def test_one_default_reaches_our_modules_and_community_docker_s(
    tmp_path: Path, running: str, busybox_image: str
) -> None:
    results = run(tmp_path, "unix:///var/run/docker.sock", running, busybox_image)
    assert not results["ours"].get("failed"), results["ours"]
    assert results["ours"]["containers"][0]["ready"] is True
    assert not results["ours too"].get("failed"), results["ours too"]
    assert not results["community.docker's"].get("failed"), results["community.docker's"]


def test_a_wrong_default_reaches_every_module_of_the_group(tmp_path: Path, running: str, busybox_image: str) -> None:
    nowhere = f"unix://{tmp_path}/nowhere.sock"
    results = run(tmp_path, nowhere, running, busybox_image)
    for name in ("ours", "ours too"):
        assert results[name].get("failed"), (name, results[name])
        assert f"Cannot reach the Docker Engine at {nowhere}" in results[name]["msg"], (name, results[name]["msg"])
    # community.docker's message names no socket, only that there is none (the real one answers: see above).
    assert results["community.docker's"].get("failed")
    assert "No such file or directory" in results["community.docker's"]["msg"]
