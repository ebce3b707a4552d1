# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark the health gate: how long after Docker's health event does the task return?

For each scenario (a container that turns healthy, or unhealthy, after about
S seconds) and each method, a fresh container is started and waited on. The
latency is the time from Docker's own `health_status` event (timeNano, read
from the event stream by this script) to the moment the waiting task
returned (for Ansible tasks: when the result reached the controller's
callbacks; for the bare script: when its process ended). Methods run
interleaved, in a rotating order, so drift in machine load hits all alike.

Methods:
  ours            aistack.deploy.wait_for_healthy (after a task that starts the container)
  docker_container community.docker.docker_container state=healthy (starts and waits)
  info_until_5    community.docker.docker_container_info in an `until` loop, delay 5
  info_until_1    the same, delay 1
  compose_wait    `docker compose up -d --wait` (Compose v2) in an ansible.builtin.command task
  sdk_floor       a bare Python script on the Docker SDK's event stream (the floor)

Usage: python benchmarks/health_gate.py [--runs 5] [--scenarios healthy:3,...] [--json out.json]
Needs the engine, the local image aistack-test/busybox:latest (built if
missing, never pulled) and, for compose_wait, a Compose v2 binary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import typing as t
import uuid
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parents[1]
IMAGE = "aistack-test/busybox:latest"
SESSION = uuid.uuid4().hex[:8]
LABEL = "aistack.bench"
METHODS = ["ours", "docker_container", "info_until_5", "info_until_1", "compose_wait", "sdk_floor"]
GOALS = {"healthy": 0.15, "unhealthy": 0.3}

CALLBACK = '''
from __future__ import annotations
import json, os, time
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Record when the result of the task named "Wait" reaches the controller."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_times"
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, result, status):
        now = time.time()
        if result._task.get_name() != "Wait":
            return
        with open(os.environ["AISTACK_BENCH_TIMES"], "a", encoding="utf-8") as out:
            res = result._result
            lines = [line.strip() for key in ("msg", "stderr") for line in str(res.get(key) or "").splitlines()]
            msg = " | ".join(line for line in lines if line)[-160:]
            out.write(json.dumps({"time": now, "status": status, "rc": res.get("rc"), "msg": msg}) + "\\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")
'''

FLOOR = """
import sys
import docker

name = sys.argv[1]
client = docker.from_env()
events = client.api.events(decode=True, filters={"type": "container", "container": name, "event": "health_status"})
status = (client.api.inspect_container(name)["State"].get("Health") or {}).get("Status")
if status not in ("healthy", "unhealthy"):
    for event in events:
        status = event.get("Action", "").split(":", 1)[-1].strip()
        if status in ("healthy", "unhealthy"):
            break
sys.exit(0 if status == "healthy" else 1)
"""


class Scenario(t.NamedTuple):
    outcome: str  # healthy | unhealthy
    seconds: int

    @property
    def label(self) -> str:
        return f"{self.outcome} after ~{self.seconds} s"

    def command(self) -> str:
        if self.outcome == "healthy":
            return f"sleep {self.seconds - 0.5}; touch /tmp/ready; exec sleep 1d"
        return "exec sleep 1d"

    def start_period(self) -> int:
        # Failures inside the start period do not count; the first one after it
        # (retries 1) makes the container unhealthy.
        return self.seconds + 2 if self.outcome == "healthy" else self.seconds

    def docker_run_args(self, name: str) -> list[str]:
        return [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--label",
            f"{LABEL}={SESSION}",
            "--health-cmd",
            "test -f /tmp/ready",
            "--health-interval",
            "1s",
            "--health-timeout",
            "2s",
            "--health-retries",
            "1",
            "--health-start-period",
            f"{self.start_period()}s",
            IMAGE,
            "sh",
            "-c",
            self.command(),
        ]


class Trial(t.NamedTuple):
    run: int
    scenario: str
    method: str
    latency: float | None  # seconds from the health event to the return
    outcome_ok: bool  # returned ok for healthy, failed for unhealthy
    note: str


class EventClock:
    """Read health events of this session's containers: name -> [(status, time)]."""

    def __init__(self, client: t.Any) -> None:
        self.seen: dict[str, list[tuple[str, float]]] = {}
        self.lock = threading.Lock()
        self.stream = client.api.events(
            decode=True, filters={"type": "container", "event": "health_status", "label": f"{LABEL}={SESSION}"}
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                name = event.get("Actor", {}).get("Attributes", {}).get("name", "")
                status = event.get("Action", "").split(":", 1)[-1].strip()
                with self.lock:
                    self.seen.setdefault(name, []).append((status, event["timeNano"] / 1e9))
        except Exception:  # pylint: disable=broad-exception-caught
            pass

    def first(self, name: str, status: str) -> float | None:
        deadline = time.time() + 2  # the event may still be in flight
        while time.time() < deadline:
            with self.lock:
                for seen_status, when in self.seen.get(name, []):
                    if seen_status == status:
                        return when
            time.sleep(0.05)
        return None


def find_compose() -> list[str] | None:
    """A Compose v2 command: `docker compose` or a docker-compose v2 binary."""
    candidates = [["docker", "compose"]]
    for path in (shutil.which("docker-compose"), str(Path(sys.executable).parent / "docker-compose")):
        if path and os.path.exists(path):
            candidates.append([path])
    for command in candidates:
        try:
            out = subprocess.run(
                [*command, "version", "--short"], capture_output=True, text=True, timeout=20, check=False
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip().lstrip("v").startswith("2"):
            return command
    return None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.client = docker.from_env()
        self.work = Path(tempfile.mkdtemp(prefix="aistack-bench-"))
        (self.work / "callbacks").mkdir()
        (self.work / "callbacks" / "bench_times.py").write_text(CALLBACK)
        (self.work / "floor.py").write_text(FLOOR)
        tree = self.work / "collections" / "ansible_collections" / "aistack"
        tree.mkdir(parents=True)
        (tree / "deploy").symlink_to(REPO, target_is_directory=True)
        self.env = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=str(self.work / "collections"),
            ANSIBLE_CALLBACK_PLUGINS=str(self.work / "callbacks"),
            ANSIBLE_CALLBACKS_ENABLED="bench_times",
            ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        )
        self.compose = find_compose()
        self.events = EventClock(self.client)
        self.created: list[str] = []
        self.projects: list[str] = []

    # -- one trial per method ----------------------------------------------

    def trial(self, run: int, scenario: Scenario, method: str) -> Trial:
        name = f"aistack-it-bench-{SESSION}-{uuid.uuid4().hex[:6]}"
        self.created.append(name)
        try:
            if method == "sdk_floor":
                returned, ok, note = self._floor(name, scenario)
            else:
                returned, ok, note = self._playbook(name, scenario, method)
        finally:
            self._cleanup(name)
        event = self.events.first(name, scenario.outcome)
        latency = None if event is None or returned is None else returned - event
        expected_ok = scenario.outcome == "healthy"
        if event is None:
            note = f"no {scenario.outcome} event seen; {note}"
        return Trial(run, scenario.label, method, latency, ok == expected_ok, note)

    def _floor(self, name: str, scenario: Scenario) -> tuple[float | None, bool, str]:
        subprocess.run(scenario.docker_run_args(name), check=True, capture_output=True)
        proc = subprocess.Popen([sys.executable, str(self.work / "floor.py"), name])
        try:
            code = proc.wait(timeout=scenario.seconds + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            return None, False, "floor script timed out"
        return time.time(), code == 0, ""

    def _playbook(self, name: str, scenario: Scenario, method: str) -> tuple[float | None, bool, str]:
        tasks = self._tasks(name, scenario, method)
        play = self.work / f"{name}.yml"
        play.write_text(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
            + textwrap.indent(textwrap.dedent(tasks).strip() + "\n", "    ")
        )
        times = self.work / f"{name}.times"
        env = dict(self.env, AISTACK_BENCH_TIMES=str(times))
        subprocess.run(
            ["ansible-playbook", "-i", "localhost,", "-c", "local", str(play)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if not times.exists():
            return None, False, "the Wait task did not run"
        record = json.loads(times.read_text().splitlines()[-1])
        expected = "ok" if scenario.outcome == "healthy" else "failed"
        note = (
            "" if record["status"] == expected else f"returned {record['status']} (rc {record['rc']}): {record['msg']}"
        )
        return record["time"], record["status"] == "ok", note

    def _tasks(self, name: str, scenario: Scenario, method: str) -> str:
        start = f"""
- name: Start
  ansible.builtin.command:
    argv: {json.dumps(scenario.docker_run_args(name))}
  changed_when: true
"""
        until_timeout = scenario.seconds + 60
        if method == "ours":
            return (
                start
                + f"""
- name: Wait
  aistack.deploy.wait_for_healthy:
    containers: [{name}]
    wait_timeout: {until_timeout}
"""
            )
        if method == "docker_container":
            # It waits through `unhealthy` until this timeout (default 300 s):
            # keep that short in the unhealthy scenarios to bound the run.
            wait_timeout = until_timeout if scenario.outcome == "healthy" else scenario.seconds + 10
            return f"""
- name: Wait
  community.docker.docker_container:
    name: {name}
    image: {IMAGE}
    pull: never
    command: {json.dumps(["sh", "-c", scenario.command()])}
    labels:
      {LABEL}: "{SESSION}"
    healthcheck:
      test: [CMD-SHELL, test -f /tmp/ready]
      interval: 1s
      timeout: 2s
      retries: 1
      start_period: {scenario.start_period()}s
    state: healthy
    healthy_wait_timeout: {wait_timeout}
"""
        if method.startswith("info_until_"):
            delay = int(method.rsplit("_", 1)[1])
            return (
                start
                + f"""
- name: Wait
  community.docker.docker_container_info:
    name: {name}
  register: info
  until: info.container.State.Health.Status in ['healthy', 'unhealthy']
  retries: {math.ceil(until_timeout / delay)}
  delay: {delay}
  failed_when: info.container.State.Health.Status != 'healthy'
"""
            )
        if method == "compose_wait":
            project = name
            self.projects.append(project)
            compose_file = self.work / f"{name}.compose.yaml"
            compose_file.write_text(
                json.dumps(
                    {
                        "services": {
                            "app": {
                                "image": IMAGE,
                                "pull_policy": "never",
                                "container_name": name,
                                "command": ["sh", "-c", scenario.command()],
                                "labels": {LABEL: SESSION},
                                "healthcheck": {
                                    "test": ["CMD-SHELL", "test -f /tmp/ready"],
                                    "interval": "1s",
                                    "timeout": "2s",
                                    "retries": 1,
                                    "start_period": f"{scenario.start_period()}s",
                                },
                            }
                        }
                    }
                )
            )
            argv = [
                *(self.compose or []),
                "-p",
                project,
                "-f",
                str(compose_file),
                "up",
                "-d",
                "--wait",
                "--wait-timeout",
                str(until_timeout),
            ]
            return f"""
- name: Wait
  ansible.builtin.command:
    argv: {json.dumps(argv)}
  changed_when: true
"""
        raise ValueError(method)

    def _cleanup(self, name: str) -> None:
        try:
            self.client.api.remove_container(name, force=True)
        except docker.errors.NotFound:
            pass
        if name in self.projects and self.compose:
            subprocess.run([*self.compose, "-p", name, "down", "-t", "0"], capture_output=True, check=False)

    def cleanup_all(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": f"{LABEL}={SESSION}"}):
            container.remove(force=True)
        for project in self.projects:
            for network in self.client.networks.list(names=[f"{project}_default"]):
                network.remove()
        shutil.rmtree(self.work, ignore_errors=True)


def summarize(trials: list[Trial], scenarios: list[Scenario], methods: list[str]) -> list[str]:
    lines = []
    for scenario in scenarios:
        rows = {m: [tr for tr in trials if tr.scenario == scenario.label and tr.method == m] for m in methods}
        medians = {
            m: statistics.median([tr.latency for tr in rs if tr.latency is not None])
            for m, rs in rows.items()
            if any(tr.latency is not None for tr in rs)
        }
        ours, floor = medians.get("ours"), medians.get("sdk_floor")
        lines.append(
            f"\n{scenario.label}: seconds from Docker's health_status: {scenario.outcome} event "
            f"to the task {'returning' if scenario.outcome == 'healthy' else 'failing'}"
        )
        lines.append(f"  {'method':<17}{'n':>3}{'median':>9}{'min':>9}{'max':>9}{'x ours':>9}{'- floor':>9}  outcome")
        for method in methods:
            done = [tr.latency for tr in rows[method] if tr.latency is not None]
            if not done:
                lines.append(
                    f"  {method:<17}{len(rows[method]):>3}   (no result) {rows[method][0].note if rows[method] else ''}"
                )
                continue
            median = medians[method]
            ratio = f"{median / ours:.1f}" if ours else "-"
            over = f"{median - floor:+.3f}" if floor is not None else "-"
            wrong = [tr for tr in rows[method] if not tr.outcome_ok]
            outcome = "as expected" if not wrong else f"{len(wrong)} wrong: {wrong[0].note[:80]}"
            lines.append(
                f"  {method:<17}{len(done):>3}{median:>9.3f}{min(done):>9.3f}{max(done):>9.3f}"
                f"{ratio:>9}{over:>9}  {outcome}"
            )
        if ours is not None:
            goal = GOALS[scenario.outcome]
            lines.append(f"  goal: ours <= {goal} s -> {'met' if ours <= goal else 'NOT met'} ({ours:.3f} s)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenarios", default="healthy:3,unhealthy:3,healthy:30,unhealthy:30")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--json", help="write every trial to this file")
    args = parser.parse_args()
    scenarios = [Scenario(o, int(s)) for o, s in (item.split(":") for item in args.scenarios.split(","))]
    methods = args.methods.split(",")
    subprocess.run([str(REPO / "tests" / "harness" / "images" / "build-busybox.sh"), IMAGE], check=True)
    # A plain SIGTERM would skip the cleanup below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(f"stopped by signal {signum}"))
    bench = Bench(args)
    if bench.compose is None and "compose_wait" in methods:
        sys.stderr.write("no Compose v2 binary found: skipping compose_wait\n")
        methods.remove("compose_wait")
    sys.stderr.write(f"session {SESSION}; compose: {' '.join(bench.compose or ['-'])}\n")
    trials: list[Trial] = []
    try:
        for run in range(args.runs):
            for scenario in scenarios:
                order = methods[run % len(methods) :] + methods[: run % len(methods)]
                for method in order:
                    trial = bench.trial(run, scenario, method)
                    trials.append(trial)
                    latency = "-" if trial.latency is None else f"{trial.latency:.3f}"
                    sys.stderr.write(
                        f"run {run + 1}/{args.runs} {scenario.label:<22} {method:<17} {latency:>8} s"
                        f"{'' if trial.outcome_ok else '  WRONG OUTCOME ' + trial.note[:100]}\n"
                    )
    finally:
        bench.cleanup_all()
    if args.json:
        Path(args.json).write_text(json.dumps([trial._asdict() for trial in trials], indent=1))
    sys.stdout.write("\n".join(summarize(trials, scenarios, methods)) + "\n")


if __name__ == "__main__":
    main()
