# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""wait_for_healthy against the machine's real Docker Engine.

One playbook runs every scenario in turn (each starts its container, then
waits on it), which costs one ansible-playbook start instead of ten; each
test below checks one scenario's result. Containers are built on the local
busybox image (never pulled) and removed afterwards, even on failure.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
import typing as t
import uuid
from datetime import datetime

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils._health import HealthWaiter

# A failure must come well before the wait's timeout. The CI machine runs this
# tier beside three Molecule lanes on two cores (load 12 and more), where one
# Ansible task alone can take seconds: the margins are wide, the meaning kept.
WAIT = 180  # seconds: the waits' timeout
FAST_FAIL = 60.0  # seconds: a third of it
HC = ["--health-interval", "1s", "--health-timeout", "2s"]


def _name(tag: str) -> str:
    return f"aistack-it-{uuid.uuid4().hex[:8]}-{tag}"


def _remove(client: t.Any, names: t.Iterable[str]) -> None:
    for name in names:
        try:
            client.api.remove_container(name, force=True)
        except Exception:  # pylint: disable=broad-exception-caught
            pass


class Task(t.NamedTuple):
    result: dict[str, t.Any]
    seconds: float


def durations(result: t.Any) -> dict[str, Task]:
    """A play's results and durations by task name (result: conftest.PlaybookResult)."""
    tasks_by_name = {}
    for play_data in json.loads(result.stdout)["plays"]:
        for task in play_data["tasks"]:
            duration = task["task"].get("duration") or {}
            seconds = (_iso(duration["end"]) - _iso(duration["start"])) if duration.get("end") else -1.0
            tasks_by_name[task["task"]["name"]] = Task(task["hosts"]["localhost"], seconds)
    return tasks_by_name


def _iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    tags = ["healthy", "unhealthy", "exit", "loop", "nohc", "timeout", "web", "worker", "slow", "oneoff"]
    return {tag: _name(tag) for tag in tags} | {"project": _name("proj"), "gate": _name("gate")}


@pytest.fixture(scope="module")
def play(
    docker_client: t.Any, busybox_image: str, names: dict[str, str], module_playbook: t.Callable[..., t.Any]
) -> t.Iterator[dict[str, Task]]:
    """Run every scenario once; remove their containers afterwards."""
    n = names
    img = busybox_image
    project = n["project"]

    def run(name: str, *args: str, command: str = "exec sleep 1d") -> str:
        argv = ["docker", "run", "-d", "--name", name, *args, img, "sh", "-c", command]
        return f"""
- name: Start {name}
  ansible.builtin.command:
    argv: {json.dumps(argv)}
  changed_when: true
"""

    def compose(name: str, service: str, *args: str, command: str = "exec sleep 1d") -> str:
        labels = [
            "--label",
            f"com.docker.compose.project={project}",
            "--label",
            f"com.docker.compose.service={service}",
        ]
        return run(name, *labels, *args, command=command)

    def wait(task: str, options: str, **extra: str) -> str:
        lines = "".join(f"  {key}: {value}\n" for key, value in extra.items())
        return f"""
- name: {task}
  aistack.deploy.wait_for_healthy:
{textwrap.indent(textwrap.dedent(options).strip(), "    ")}
  register: r
  ignore_errors: true
{lines}"""

    def gate(app: str, services: list[str]) -> str:
        return f"""
- name: gate
  ansible.builtin.include_role:
    name: aistack.deploy.app_stack
    tasks_from: gate.yml
    apply:
      ignore_errors: true
  vars:
    app_stack_name: {app}
    app_stack_health_timeout: {WAIT}
    __app_stack_gate_release: "2.0"
    __app_stack_gate_services: {json.dumps(services)}
"""

    ready = "touch /tmp/ready"
    tasks = "".join(
        [
            run(
                n["healthy"],
                "--health-cmd",
                "test -f /tmp/ready",
                "--health-retries",
                "30",
                *HC,
                command=f"sleep 2; {ready}; exec sleep 1d",
            ),
            wait("healthy", f"containers: [{n['healthy']}]\nwait_timeout: {WAIT}"),
            wait("healthy again in check mode", f"containers: [{n['healthy']}]\nwait_timeout: 5", check_mode="true"),
            # Through app_stack's gate (gate.yml), as a recorded release brought up again is gated.
            run(
                n["unhealthy"],
                "--label",
                f"com.docker.compose.project={n['gate']}",
                "--label",
                "com.docker.compose.service=api",
                "--health-cmd",
                "echo probe says no; exit 1",
                "--health-retries",
                "2",
                *HC,
                command="echo starting up; exec sleep 1d",
            ),
            gate(n["gate"], ["api"]),
            run(n["exit"], "--health-cmd", "test -f /tmp/ready", *HC, command="echo bye; sleep 2; exit 3"),
            wait("exit", f"containers: [{n['exit']}]\nwait_timeout: {WAIT}"),
            run(
                n["loop"],
                "--restart",
                "always",
                "--health-cmd",
                "test -f /tmp/ready",
                *HC,
                command="echo crash; sleep 2; exit 1",
            ),
            wait("restart loop", f"containers: [{n['loop']}]\nwait_timeout: {WAIT}"),
            run(n["nohc"], command="exec sleep 1d"),
            wait("no healthcheck, fail", f"containers: [{n['nohc']}]\nwait_timeout: {WAIT}"),
            wait(
                "no healthcheck, running",
                f"containers: [{n['nohc']}]\nwithout_healthcheck: running\nwait_timeout: {WAIT}",
            ),
            run(n["timeout"], "--health-cmd", "false", "--health-start-period", "60s", *HC),
            wait("timeout", f"containers: [{n['timeout']}]\nwait_timeout: 2"),
            wait("missing container", f"containers: [{n['timeout']}, {n['healthy']}-not-there]\nwait_timeout: {WAIT}"),
            compose(n["web"], "web", "--health-cmd", "test -f /tmp/ready", *HC, command=f"{ready}; exec sleep 1d"),
            compose(
                n["worker"], "worker", "--health-cmd", "test -f /tmp/ready", *HC, command=f"{ready}; exec sleep 1d"
            ),
            # Ready 12 s after its start: the containers started after it (the one-off) and the module's own start
            # take far less even on a loaded CI machine, where 4 s once passed before the wait began.
            compose(
                n["slow"],
                "slow",
                "--health-cmd",
                "test -f /tmp/ready",
                "--health-retries",
                "30",
                *HC,
                command=f"sleep 12; {ready}; exec sleep 1d",
            ),
            # A one-off `compose run` container without healthcheck: must be left out.
            compose(n["oneoff"], "web", "--label", "com.docker.compose.oneoff=True"),
            wait("project", f"project: {project}\nwait_timeout: {WAIT}"),
            wait("project services", f"project: {project}\nservices: [web]\nwait_timeout: {WAIT}"),
            wait("project without containers", f"project: {project}-empty\nwait_timeout: {WAIT}"),
            wait("project missing service", f"project: {project}\nservices: [web, ghost]\nwait_timeout: {WAIT}"),
        ]
    )
    all_names = list(n.values())
    _remove(docker_client, all_names)
    try:
        yield durations(module_playbook(tasks))
    finally:
        _remove(docker_client, all_names)


def _only(task: Task) -> dict[str, t.Any]:
    (container,) = task.result["containers"]
    return container


def test_healthy(play: dict[str, Task]) -> None:
    task = play["healthy"]
    assert not task.result.get("failed"), task.result
    assert task.result["changed"] is False
    container = _only(task)
    assert container["ready"] and container["waited_for"] == "healthy" and container["health"] == "healthy"
    assert 0 < container["elapsed"] < FAST_FAIL
    assert "log_tail" not in container and task.result["report"] == ""


def test_check_mode(play: dict[str, Task]) -> None:
    task = play["healthy again in check mode"]
    assert not task.result.get("failed"), task.result
    assert task.result["changed"] is False and _only(task)["ready"]


GATE = "aistack.deploy.app_stack : gate | "


def test_unhealthy_fails_fast_with_evidence(play: dict[str, Task]) -> None:
    task = play[GATE + "Wait until the release is healthy"]
    # The gate registers the module's failed result (failed_when: false) and stops in a task of its own.
    assert not task.result.get("failed") and task.seconds < FAST_FAIL, task
    container = _only(task)
    assert container["reason"] == "unhealthy" and container["service"] == "api"
    assert container["health_log"] and container["health_log"][-1]["exit_code"] == 1
    assert "probe says no" in container["health_log"][-1]["output"]
    assert "starting up" in container["log_tail"]
    assert task.result["msg"].endswith("turned unhealthy: last probe exited 1: probe says no")
    # The readable report: one block, the probe's useful line and the log, each once.
    report = task.result["report"].splitlines()
    assert report[0] == f"{container['name']} (service api): unhealthy (status running)", report
    assert report[1] == "  last probe: exit 1: probe says no", report
    assert "    starting up" in report and task.result["report"].count("probe says no") == 1


def test_a_failed_gate_prints_its_report_once_and_no_json(play: dict[str, Task], names: dict[str, str]) -> None:
    """What the default callback prints of app_stack's gate: the report's lines once, then one short line.

    The callback prints a failed task's whole result: the gate's one failed task must hold nothing but its message
    (no containers, probe log or log tail as JSON), and the report must appear in no other task's output.
    """
    wait = play[GATE + "Wait until the release is healthy"].result
    shown = play[GATE + "Show each failed container once (reason, last probe, last log lines)"].result
    stop = play[GATE + "Stop here when a container failed the health gate (each one shown above, once)"].result
    assert shown["msg"] == wait["report"].splitlines() and not shown.get("failed")
    assert stop["failed"] is True
    assert not {"containers", "report", "health_log", "log_tail"} & set(stop), stop
    name = _only(play[GATE + "Wait until the release is healthy"])["name"]
    assert stop["msg"] == (
        f"Release 2.0 of {names['gate']} did not become healthy again: {name} unhealthy "
        "(each failed container is shown above, once)"
    )
    failed = [task_name for task_name, task in play.items() if task.result.get("failed") and task_name.startswith(GATE)]
    assert failed == [GATE + "Stop here when a container failed the health gate (each one shown above, once)"]
    # Printed once: the probe's useful line is in the report's lines and in no failed task's message.
    assert (
        sum(
            json.dumps(task.result).count("probe says no")
            for task_name, task in play.items()
            if task_name.startswith(GATE) and task_name != GATE + "Wait until the release is healthy"
        )
        == 1
    )


def test_exit_fails_fast(play: dict[str, Task]) -> None:
    task = play["exit"]
    assert task.result["failed"] and task.seconds < FAST_FAIL, task
    container = _only(task)
    assert (container["reason"], container["exit_code"], container["status"]) == ("exited", 3, "exited")
    assert container["log_tail"] == ["bye"] and container["oom_killed"] is False
    # Its probe may or may not have run in its two seconds: the block has a probe line or not.
    report = [line for line in task.result["report"].splitlines() if not line.startswith("  last probe: ")]
    assert report == [f"{container['name']}: exited with code 3", "  last 1 log line(s):", "    bye"], report


def test_restart_loop_fails(play: dict[str, Task]) -> None:
    task = play["restart loop"]
    assert task.result["failed"] and task.seconds < FAST_FAIL, task
    container = _only(task)
    assert container["reason"] == "restarted"
    assert "crash" in container["log_tail"]
    assert container["restart_count"] >= 0


def test_no_healthcheck_fail(play: dict[str, Task]) -> None:
    task = play["no healthcheck, fail"]
    assert task.result["failed"] and task.seconds < FAST_FAIL
    container = _only(task)
    assert container["reason"] == "no_healthcheck" and container["waited_for"] is None
    assert "without_healthcheck=running" in task.result["msg"]


def test_no_healthcheck_running(play: dict[str, Task]) -> None:
    task = play["no healthcheck, running"]
    assert not task.result.get("failed"), task.result
    assert _only(task)["waited_for"] == "running"


def test_timeout(play: dict[str, Task]) -> None:
    task = play["timeout"]
    assert task.result["failed"]
    container = _only(task)
    assert container["reason"] == "timeout" and container["health"] == "starting"
    assert 1.9 <= task.result["elapsed"] < 15  # gives up at its 2 s timeout, not at something else's
    assert "was still starting after" in task.result["msg"]


def test_missing_container(play: dict[str, Task], names: dict[str, str]) -> None:
    task = play["missing container"]
    assert task.result["failed"] and task.seconds < FAST_FAIL
    assert task.result["msg"] == f"Not healthy: {names['healthy']}-not-there does not exist"


def test_project_waits_for_the_slow_one(play: dict[str, Task], names: dict[str, str]) -> None:
    task = play["project"]
    assert not task.result.get("failed"), task.result
    by_name = {c["name"]: c for c in task.result["containers"]}
    assert set(by_name) == {names["web"], names["worker"], names["slow"]}  # not the one-off
    assert all(c["ready"] for c in by_name.values())
    assert by_name[names["slow"]]["service"] == "slow"
    assert by_name[names["slow"]]["elapsed"] > by_name[names["web"]]["elapsed"]
    assert task.seconds > by_name[names["slow"]]["elapsed"] > 1  # it waited for the slow one, and returned after


def test_project_services(play: dict[str, Task], names: dict[str, str]) -> None:
    task = play["project services"]
    assert not task.result.get("failed"), task.result
    assert [c["name"] for c in task.result["containers"]] == [names["web"]]


def test_project_without_containers(play: dict[str, Task], names: dict[str, str]) -> None:
    task = play["project without containers"]
    assert task.result["failed"]
    assert task.result["msg"] == f"Compose project '{names['project']}-empty' has no containers"
    assert play["project missing service"].result["msg"] == (
        f"Compose project '{names['project']}' has no container for service(s) ghost"
    )


def test_removed_while_waited_on(docker_client: t.Any, busybox_image: str) -> None:
    """Run the waiter in-process to remove the container exactly while it waits."""
    name = _name("removed")
    try:
        docker_client.containers.run(
            busybox_image,
            ["sh", "-c", "exec sleep 1d"],
            name=name,
            detach=True,
            healthcheck={"test": ["CMD-SHELL", "false"], "interval": 1_000_000_000, "start_period": 60_000_000_000},
        )
        waiter = HealthWaiter(docker_client.api, containers=[name], timeout=30)
        outcome: dict[str, t.Any] = {}
        thread = threading.Thread(target=lambda: outcome.update(value=waiter.run()))
        started = time.monotonic()
        thread.start()
        while not (waiter.targets and waiter.targets[0].id) and time.monotonic() - started < 10:
            time.sleep(0.02)
        assert waiter.targets, "the waiter did not find the container"
        time.sleep(0.3)  # now it is waiting on the stream
        docker_client.api.remove_container(name, force=True)
        thread.join(15)
        ok, message, results = outcome["value"]
        assert not ok and results[0]["reason"] == "removed", message
        assert time.monotonic() - started < 10
        assert waiter.stream_interruptions == 0
    finally:
        _remove(docker_client, [name])
