"""Fixtures for integration tests: the machine's real Docker Engine.

These tests need an engine; the test command (scripts/test.sh) makes sure one
answers before it runs them. If none answers here, the tests fail loudly
rather than skip: a skipped integration test is not a pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import typing as t
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS = REPO_ROOT / "tests" / "harness"
BUSYBOX = "aistack-test/busybox:latest"
# What unique_name (and the registries test_app_image_registry.py starts) begin with: AISTACK_IT_PREFIX sets
# another, so that runs beside each other on one engine can tell their containers and images apart.
NAME_PREFIX = os.environ.get("AISTACK_IT_PREFIX") or "aistack-it-"


@pytest.fixture(scope="session")
def docker_client() -> t.Any:
    import docker

    client = docker.from_env()
    client.ping()
    return client


@pytest.fixture(scope="session")
def busybox_image(docker_client: t.Any) -> str:
    """A tiny local image with sh, httpd, wget, nc (built from Debian, no pull)."""
    subprocess.run([str(HARNESS / "images" / "build-busybox.sh"), BUSYBOX], check=True)
    return BUSYBOX


@pytest.fixture
def unique_name() -> str:
    return f"{NAME_PREFIX}{uuid.uuid4().hex[:10]}"


class PlaybookResult(t.NamedTuple):
    rc: int
    tasks: dict[str, dict[str, t.Any]]
    stdout: str
    stderr: str

    def task(self, name: str) -> dict[str, t.Any]:
        return self.tasks[name]


def run_playbook(
    tasks_yaml: str,
    *,
    tmp_path: Path,
    check: bool = False,
    diff: bool = False,
    extra_args: t.Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> PlaybookResult:
    """Run tasks on localhost with ansible-playbook (the play written to tmp_path); return results by task name."""
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        + textwrap.indent(textwrap.dedent(tasks_yaml).strip() + "\n", "    ")
    )
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(play), *extra_args]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    run_env = dict(
        os.environ,
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_PYTHON_INTERPRETER=os.environ.get("ANSIBLE_PYTHON_INTERPRETER", _venv_python()),
    )
    run_env.update(env or {})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, check=False)
    tasks: dict[str, dict[str, t.Any]] = {}
    try:
        data = json.loads(proc.stdout)
        for play_data in data["plays"]:
            for task in play_data["tasks"]:
                tasks[task["task"]["name"]] = task["hosts"]["localhost"]
    except (ValueError, KeyError) as exc:
        raise AssertionError(
            f"ansible-playbook printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        ) from exc
    return PlaybookResult(proc.returncode, tasks, proc.stdout, proc.stderr)


def _venv_python() -> str:
    import sys

    return sys.executable


@pytest.fixture
def playbook(tmp_path: Path) -> t.Callable[..., PlaybookResult]:
    def _run(tasks_yaml: str, **kwargs: t.Any) -> PlaybookResult:
        return run_playbook(tasks_yaml, tmp_path=tmp_path, **kwargs)

    return _run


@pytest.fixture(scope="module")
def module_playbook(tmp_path_factory: pytest.TempPathFactory) -> t.Callable[..., PlaybookResult]:
    """playbook for module-scoped fixtures (one play whose results a module's tests share)."""
    tmp_path = tmp_path_factory.mktemp("play")

    def _run(tasks_yaml: str, **kwargs: t.Any) -> PlaybookResult:
        return run_playbook(tasks_yaml, tmp_path=tmp_path, **kwargs)

    return _run
