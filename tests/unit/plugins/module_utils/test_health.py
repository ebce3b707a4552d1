# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/_health.py: verdicts, events, the waiter."""

from __future__ import annotations

import queue
import threading
import time
import typing as t

import pytest
from docker.errors import APIError, NotFound

from ansible_collections.aistack.deploy.plugins.module_utils import _health as h

STARTED = "2026-05-08T10:00:00.500000000Z"
STARTED_NS = 1778234400_500000000


def inspect(
    name: str = "web",
    *,
    status: str = "running",
    health: str | None = "starting",
    healthcheck: list[str] | None = None,
    restarting: bool = False,
    oom: bool = False,
    exit_code: int = 0,
    restart_count: int = 0,
    policy: str = "no",
    started: str = STARTED,
    labels: dict[str, str] | None = None,
    cid: str | None = None,
    log: list[dict[str, t.Any]] | None = None,
) -> dict[str, t.Any]:
    """A container's inspect data, as much as the module reads."""
    state: dict[str, t.Any] = {
        "Status": status,
        "Running": status == "running",
        "Paused": status == "paused",
        "Restarting": restarting,
        "OOMKilled": oom,
        "ExitCode": exit_code,
        "StartedAt": started,
    }
    if health is not None:
        state["Health"] = {"Status": health, "FailingStreak": 0, "Log": log or []}
    if healthcheck is None:
        healthcheck = ["CMD-SHELL", "test -f /tmp/ready"] if health is not None else []
    return {
        "Id": cid or f"{name}-id".ljust(64, "0"),
        "Name": f"/{name}",
        "RestartCount": restart_count,
        "State": state,
        "Config": {"Healthcheck": {"Test": healthcheck} if healthcheck else None, "Labels": labels or {}},
        "HostConfig": {"RestartPolicy": {"Name": policy, "MaximumRetryCount": 0}},
    }


def event(cid: str, action: str, *, time_ns: int = STARTED_NS + 10**9, **attributes: str) -> dict[str, t.Any]:
    return {
        "Type": "container",
        "Action": action,
        "status": action,
        "id": cid,
        "Actor": {"ID": cid, "Attributes": attributes},
        "time": time_ns // 10**9,
        "timeNano": time_ns,
    }


# --------------------------------------------------------------------------
# Pure parts


@pytest.mark.parametrize(
    "data, expected",
    [
        (inspect(), True),
        (inspect(health=None), False),
        (inspect(health=None, healthcheck=["NONE"]), False),
        (inspect(health=None, healthcheck=["CMD", "true"]), True),  # created: no State.Health yet
        (inspect(health="healthy", healthcheck=[]), True),
        ({}, False),
    ],
)
def test_has_healthcheck(data: dict[str, t.Any], expected: bool) -> None:
    assert h.has_healthcheck(data) is expected


@pytest.mark.parametrize(
    "data, mode, expected",
    [
        (inspect(), "fail", "healthy"),
        (inspect(), "running", "healthy"),
        (inspect(health=None), "running", "running"),
        (inspect(health=None), "fail", None),
    ],
)
def test_waited_for(data: dict[str, t.Any], mode: str, expected: str | None) -> None:
    assert h.waited_for(data, mode) == expected


@pytest.mark.parametrize(
    "data, mode, state, reason",
    [
        (inspect(health="healthy"), "fail", h.READY, None),
        (inspect(health="starting"), "fail", h.PENDING, None),
        (inspect(health="unhealthy"), "fail", h.FAILED, "unhealthy"),
        (inspect(health=None), "fail", h.FAILED, "no_healthcheck"),
        (inspect(health=None), "running", h.READY, None),
        (inspect(health=None, status="created"), "running", h.PENDING, None),
        (inspect(health=None, status="created"), "fail", h.FAILED, "no_healthcheck"),
        (inspect(health=None, healthcheck=["CMD", "true"], status="created"), "fail", h.PENDING, None),
        (inspect(status="exited", exit_code=3), "fail", h.FAILED, "exited"),
        (inspect(status="exited", oom=True, exit_code=137), "fail", h.FAILED, "oom_killed"),
        (inspect(status="dead"), "running", h.FAILED, "exited"),
        (inspect(status="restarting", restarting=True, restart_count=4), "fail", h.FAILED, "restarted"),
        (inspect(status="running", restarting=True), "fail", h.FAILED, "restarted"),
        (inspect(status="paused"), "fail", h.FAILED, "paused"),
        (inspect(status="removing"), "fail", h.FAILED, "removed"),
        # A running container with a healthcheck but no health state yet.
        (inspect(health=None, healthcheck=["CMD", "true"]), "fail", h.PENDING, None),
        # Exited wins over the missing healthcheck: that is the real cause.
        (inspect(health=None, status="exited", exit_code=1), "fail", h.FAILED, "exited"),
    ],
)
def test_classify_state(data: dict[str, t.Any], mode: str, state: str, reason: str | None) -> None:
    verdict = h.classify_state(data, mode)
    assert (verdict.state, verdict.reason) == (state, reason)


def test_classify_state_exit_detail() -> None:
    assert h.classify_state(inspect(status="exited", exit_code=3), "fail").detail == "with code 3"


@pytest.mark.parametrize(
    "action, attributes, wanted, running_seen, expected",
    [
        ("health_status: healthy", {}, "healthy", True, (h.READY, None)),
        ("health_status: unhealthy", {}, "healthy", True, (h.FAILED, "unhealthy")),
        ("health_status:healthy", {}, "healthy", True, (h.READY, None)),
        ("health_status: starting", {}, "healthy", True, None),
        ("health_status: healthy", {}, "running", True, None),  # not what we wait for
        ("die", {"exitCode": "1"}, "healthy", True, (h.FAILED, "exited")),
        ("die", {}, "running", True, (h.FAILED, "exited")),
        ("oom", {}, "healthy", True, (h.FAILED, "oom_killed")),
        ("destroy", {}, "healthy", False, (h.FAILED, "removed")),
        ("restart", {}, "healthy", True, (h.FAILED, "restarted")),
        ("pause", {}, "healthy", True, (h.FAILED, "paused")),
        ("start", {}, "running", False, (h.READY, None)),
        ("start", {}, "healthy", False, (h.PENDING, None)),
        # A start of a container seen running is a replay or follows a `die`.
        ("start", {}, "healthy", True, None),
        ("kill", {"signal": "1"}, "healthy", True, None),  # SIGHUP reloads do not stop anything
        ("stop", {}, "healthy", True, None),
        ("exec_start: sh -c true", {}, "healthy", True, None),
        ("unpause", {}, "healthy", True, None),
        ("", {}, "healthy", True, None),
    ],
)
def test_classify_event(
    action: str, attributes: dict[str, str], wanted: str, running_seen: bool, expected: tuple[str, str | None] | None
) -> None:
    verdict = h.classify_event(action, attributes, wanted, running_seen)
    assert (None if verdict is None else (verdict.state, verdict.reason)) == expected


@pytest.mark.parametrize(
    "action, expected",
    [
        ("health_status: healthy", ("health_status", "healthy")),
        ("health_status:unhealthy", ("health_status", "unhealthy")),
        ("exec_start: sh -c a:b", ("exec_start", "sh -c a:b")),
        ("die", ("die", "")),
        ("", ("", "")),
    ],
)
def test_split_action(action: str, expected: tuple[str, str]) -> None:
    assert h.split_action(action) == expected


def test_classify_event_exit_code_detail() -> None:
    verdict = h.classify_event("die", {"exitCode": "137"}, "healthy", True)
    assert verdict is not None and verdict.detail == "with code 137"


@pytest.mark.parametrize(
    "action, before, after",
    [
        ("health_status: healthy", ("running", "starting"), ("running", "healthy")),
        ("health_status: unhealthy", ("running", "healthy"), ("running", "unhealthy")),
        ("die", ("running", "healthy"), ("exited", "healthy")),
        ("destroy", ("exited", None), ("removed", None)),
        ("start", ("created", None), ("running", None)),
        ("start", ("exited", "unhealthy"), ("running", "starting")),
        ("pause", ("running", "healthy"), ("paused", "healthy")),
        ("kill", ("running", "healthy"), ("running", "healthy")),
    ],
)
def test_status_after(action: str, before: tuple[str, str | None], after: tuple[str, str | None]) -> None:
    assert h.status_after(action, *before) == after


@pytest.mark.parametrize(
    "data, baseline, reason",
    [
        (inspect(status="exited", exit_code=1), 0, "exited"),
        (inspect(status="exited", oom=True), 0, "oom_killed"),
        (inspect(status="restarting", restarting=True, restart_count=1, policy="always"), 0, "restarted"),
        (inspect(status="running", restart_count=3, policy="on-failure"), 2, "restarted"),
        (inspect(status="exited", restart_count=2, policy="always"), 2, "exited"),  # stopped by hand
        (None, 0, "removed"),  # gone by the time we look again
        (inspect(status="removing", exit_code=137), 0, "removed"),  # docker rm -f: die, then destroy
    ],
)
def test_refine_failure(data: dict[str, t.Any] | None, baseline: int, reason: str) -> None:
    verdict = h.refine_failure(h.failed("exited", "with code 1"), data, baseline)
    assert verdict.reason == reason


def test_refine_failure_names_the_policy() -> None:
    data = inspect(status="restarting", restarting=True, restart_count=1, policy="always")
    verdict = h.refine_failure(h.failed("exited", "with code 1"), data, 0)
    assert verdict.detail == "exited with code 1, restart policy always (restart count 1)"


@pytest.mark.parametrize("verdict", [h.failed("unhealthy"), h.ready(), h.pending()])
def test_refine_failure_leaves_other_verdicts(verdict: h.Verdict) -> None:
    assert h.refine_failure(verdict, inspect(status="exited", oom=True), 0) is verdict


@pytest.mark.parametrize(
    "value, expected",
    [
        (STARTED, STARTED_NS),
        ("2026-05-08T10:00:00Z", 1778234400 * 10**9),
        ("2026-05-08T10:00:00.5Z", 1778234400 * 10**9 + 500_000_000),
        ("2026-05-08T12:00:00.000000001+02:00", 1778234400 * 10**9 + 1),
        ("2026-05-08T08:30:00-01:30", 1778234400 * 10**9),
        ("2026-05-08T10:00:00.1234567891234Z", 1778234400 * 10**9 + 123456789),  # truncated to ns
        ("0001-01-01T00:00:00Z", 0),  # never started
        ("", 0),
        (None, 0),
        ("yesterday", 0),
    ],
)
def test_docker_time_ns(value: str | None, expected: int) -> None:
    assert h.docker_time_ns(value) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        (event("abc", "health_status: healthy", time_ns=5), h.Event("abc", "health_status: healthy", {}, 5)),
        # Old API versions: only id/status/time.
        ({"id": "abc", "status": "die", "time": 7}, h.Event("abc", "die", {}, 7 * 10**9)),
        ({"Type": "network", "Action": "connect", "Actor": {"ID": "net"}}, None),
        ({"Type": "container", "Actor": {"ID": "abc"}}, None),
        ({"Type": "container", "Action": "die", "Actor": {}}, None),
    ],
)
def test_parse_event(raw: dict[str, t.Any], expected: h.Event | None) -> None:
    assert h.parse_event(raw) == expected


@pytest.mark.parametrize(
    "containers, project, key, value",
    [
        (["web", "db"], None, "container", ["web", "db"]),
        (None, "shop", "label", ["com.docker.compose.project=shop"]),
        (["web"], "shop", "label", ["com.docker.compose.project=shop"]),
    ],
)
def test_event_filters(containers: list[str] | None, project: str | None, key: str, value: list[str]) -> None:
    filters = h.event_filters(containers, project)
    assert filters[key] == value
    assert filters["type"] == ["container"]
    assert "health_status" in filters["event"] and "die" in filters["event"]
    assert "exec_start" not in filters["event"]  # probes run as execs: noise


def summary(name: str, project: str = "shop", service: str = "web", oneoff: str | None = None) -> dict[str, t.Any]:
    labels = {h.LABEL_PROJECT: project, h.LABEL_SERVICE: service}
    if oneoff is not None:
        labels[h.LABEL_ONEOFF] = oneoff
    return {"Id": f"{name}-id", "Names": [f"/{name}"], "Labels": labels}


@pytest.mark.parametrize(
    "summaries, services, names, missing",
    [
        ([summary("b"), summary("a")], None, ["a", "b"], []),
        ([summary("a"), summary("run", oneoff="True")], None, ["a"], []),
        ([summary("a", oneoff="False")], None, ["a"], []),
        ([summary("a"), summary("x", project="other")], None, ["a"], []),
        ([summary("a", service="web"), summary("b", service="db")], ["db"], ["b"], []),
        ([summary("a", service="web")], ["web", "worker"], ["a"], ["worker"]),
        ([], None, [], []),
        ([], ["web"], [], ["web"]),
        ([summary("a", service="web"), summary("a2", service="web")], ["web"], ["a", "a2"], []),
    ],
)
def test_select_project_containers(
    summaries: list[dict[str, t.Any]], services: list[str] | None, names: list[str], missing: list[str]
) -> None:
    selected, missing_services = h.select_project_containers(summaries, "shop", services)
    assert [s["Names"][0].lstrip("/") for s in selected] == names
    assert missing_services == missing


def test_health_log() -> None:
    log = [{"Start": "s", "End": "e", "ExitCode": 1, "Output": "nope\n"}]
    assert h.health_log(inspect(log=log)) == [{"exit_code": 1, "output": "nope\n", "start": "s", "end": "e"}]
    assert h.health_log(inspect(health=None)) == []


@pytest.mark.parametrize(
    "text, count, expected",
    [
        ("a\nb\nc\n", 2, ["b", "c"]),
        ("a\nb\nc", 10, ["a", "b", "c"]),
        ("a\r\nb\r\n", 1, ["b"]),
        ("", 5, []),
        ("a\nb", 0, []),
    ],
)
def test_tail_lines(text: str, count: int, expected: list[str]) -> None:
    assert h.tail_lines(text, count) == expected


@pytest.mark.parametrize(
    "result, expected",
    [
        ({"name": "web", "reason": "exited", "detail": "with code 3"}, "web exited with code 3"),
        ({"name": "web", "service": "api", "reason": "removed"}, "web (service api) was removed"),
        (
            {"name": "web", "reason": "unhealthy", "health_log": [{"exit_code": 1, "output": "a\nrefused\n"}]},
            "web turned unhealthy: last probe exited 1: refused",
        ),
        ({"name": "web", "reason": "unhealthy", "health_log": []}, "web turned unhealthy"),
        (
            {"name": "web", "reason": "timeout", "health": "starting", "elapsed": 2.0},
            "web was still starting after 2.0 s",
        ),
        (
            {"name": "web", "reason": "timeout", "status": "created", "elapsed": 2.0},
            "web was still created after 2.0 s",
        ),
        ({"name": "web", "reason": "restarted", "detail": "restart count 2"}, "web restarted: restart count 2"),
        ({"name": "web", "reason": "something new"}, "web something new"),
    ],
)
def test_describe(result: dict[str, t.Any], expected: str) -> None:
    assert h.describe(result) == expected


# --------------------------------------------------------------------------
# The waiter, against a fake engine

_END = object()


class FakeStream:
    """An event stream fed by the test; iterating blocks like the real one."""

    def __init__(self, items: t.Sequence[t.Any] = ()) -> None:
        self.items: queue.Queue[t.Any] = queue.Queue()
        self.closed = False
        self.ended = threading.Event()
        for item in items:
            self.push(item)

    def push(self, item: t.Any) -> None:
        self.items.put(item)

    def __iter__(self) -> t.Iterator[dict[str, t.Any]]:
        try:
            while True:
                item = self.items.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.ended.set()

    def close(self) -> None:
        self.closed = True
        self.items.put(_END)


class FakeApi:
    """The parts of docker.APIClient the waiter uses, with a call log."""

    def __init__(
        self,
        *containers: dict[str, t.Any],
        summaries: list[dict[str, t.Any]] | None = None,
        streams: list[t.Any] | None = None,
    ) -> None:
        self.data = {c["Id"]: c for c in containers}
        self.summaries = summaries or []
        self.streams = list(streams) if streams is not None else [FakeStream()]
        self.opened: list[FakeStream] = []
        self.calls: list[str] = []
        self.events_kwargs: list[dict[str, t.Any]] = []
        self.logs_text = b"line 1\nline 2\nline 3\n"
        self.lock = threading.Lock()
        self.after_inspect: t.Callable[[], None] | None = None  # runs once, after the next inspect
        self.down: BaseException | None = None  # the engine is gone: every request raises this
        self.before_ping: t.Callable[[], None] | None = None
        # What a command run in a container gives, by container id: (exit code, output), or what exec raises.
        self.exec_results: dict[str, t.Any] = {}
        self._execs: dict[str, t.Any] = {}

    def exec_create(self, container: str, cmd: list[str], **kwargs: t.Any) -> dict[str, str]:
        self.calls.append(f"exec {container} {' '.join(cmd)}")
        result = self.exec_results.get(container, (0, ""))
        if isinstance(result, BaseException):
            raise result
        exec_id = f"exec-{len(self._execs)}"
        self._execs[exec_id] = result
        return {"Id": exec_id}

    def exec_start(self, exec_id: str) -> bytes:
        return self._execs[exec_id][1].encode()

    def exec_inspect(self, exec_id: str) -> dict[str, t.Any]:
        return {"ExitCode": self._execs[exec_id][0]}

    def ping(self) -> bool:
        self.calls.append("ping")
        if self.before_ping:
            self.before_ping()
        if self.down is not None:
            raise self.down
        return True

    def events(self, **kwargs: t.Any) -> FakeStream:
        self.calls.append("events")
        self.events_kwargs.append(kwargs)
        if self.down is not None:
            raise self.down
        stream = self.streams.pop(0) if self.streams else FakeStream()
        if isinstance(stream, BaseException):
            raise stream  # pylint: disable=raising-non-exception  # older pylint cannot narrow the isinstance above
        self.opened.append(stream)
        return stream

    def set(self, data: dict[str, t.Any]) -> None:
        with self.lock:
            self.data[data["Id"]] = data

    def inspect_container(self, ref: str) -> dict[str, t.Any]:
        self.calls.append(f"inspect {ref}")
        if self.down is not None:
            raise self.down
        with self.lock:
            found = [data for data in self.data.values() if ref in (data["Id"], data["Name"].lstrip("/"))]
        hook, self.after_inspect = self.after_inspect, None
        if hook:
            hook()
        if not found:
            raise NotFound(f"No such container: {ref}")
        return found[0]

    def containers(self, all: bool, filters: dict[str, t.Any]) -> list[dict[str, t.Any]]:  # pylint: disable=redefined-builtin
        self.calls.append("containers")
        return self.summaries

    def logs(self, ref: str, **kwargs: t.Any) -> bytes:
        self.calls.append(f"logs {ref}")
        if self.down is not None:
            raise self.down
        return self.logs_text


def wait(api: FakeApi, **kwargs: t.Any) -> tuple[bool, str, list[dict[str, t.Any]], h.HealthWaiter]:
    kwargs.setdefault("containers", ["web"])
    kwargs.setdefault("timeout", 5)
    kwargs.setdefault("poll_interval", 0.01)
    waiter = h.HealthWaiter(api, **kwargs)
    ok, message, results = waiter.run()
    return ok, message, results, waiter


def test_subscribes_before_it_inspects() -> None:
    web = inspect(health="healthy")
    api = FakeApi(web)
    ok, _msg, results, _waiter = wait(api)
    assert ok and results[0]["ready"]
    assert api.calls[0] == "events"
    assert api.calls[1] == "inspect web"
    assert api.events_kwargs[0]["filters"]["container"] == ["web"]
    assert float(api.events_kwargs[0]["since"]) == pytest.approx(time.time(), abs=5)


def test_healthy_event_ends_the_wait() -> None:
    web = inspect()
    stream = FakeStream([event(web["Id"], "exec_start: sh -c test"), event(web["Id"], "health_status: healthy")])
    ok, message, results, waiter = wait(FakeApi(web, streams=[stream]))
    assert ok, message
    assert results[0] == {
        "name": "web",
        "id": web["Id"],
        "service": None,
        "status": "running",
        "health": "healthy",
        "waited_for": "healthy",
        "ready": True,
        "elapsed": results[0]["elapsed"],
    }
    assert stream.closed and waiter.stream_interruptions == 0


def test_unhealthy_event_fails_fast_with_details() -> None:
    web = inspect()
    api = FakeApi(web, streams=[FakeStream([event(web["Id"], "health_status: unhealthy")])])
    log = [{"Start": "s", "End": "e", "ExitCode": 1, "Output": "connection refused\n"}]
    api.set(inspect(health="unhealthy", log=log))  # what the refresh after the event sees
    started = time.monotonic()
    ok, message, results, _waiter = wait(api, timeout=30)
    assert time.monotonic() - started < 5
    assert not ok
    assert message == "Not healthy: web turned unhealthy: last probe exited 1: connection refused"
    result = results[0]
    assert result["reason"] == "unhealthy" and result["health"] == "unhealthy"
    assert result["health_log"][0]["exit_code"] == 1
    assert result["log_tail"] == ["line 1", "line 2", "line 3"]
    assert (result["exit_code"], result["oom_killed"], result["restart_count"]) == (0, False, 0)


@pytest.mark.parametrize(
    "action, attributes, refreshed, reason",
    [
        ("die", {"exitCode": "2"}, inspect(status="exited", exit_code=2), "exited"),
        ("oom", {}, inspect(status="exited", oom=True, exit_code=137), "oom_killed"),
        ("die", {"exitCode": "137"}, inspect(status="exited", oom=True, exit_code=137), "oom_killed"),
        (
            "die",
            {"exitCode": "1"},
            inspect(status="restarting", restarting=True, restart_count=1, policy="always"),
            "restarted",
        ),
        ("restart", {}, inspect(restart_count=1), "restarted"),
        ("pause", {}, inspect(status="paused"), "paused"),
    ],
)
def test_failure_events(action: str, attributes: dict[str, str], refreshed: dict[str, t.Any], reason: str) -> None:
    web = inspect()
    raw = event(web["Id"], action)
    raw["Actor"]["Attributes"] = attributes
    api = FakeApi(web, streams=[FakeStream([raw])])
    api.set(refreshed)
    ok, _msg, results, _waiter = wait(api, timeout=30)
    assert not ok
    assert results[0]["reason"] == reason


def test_removed_container_fails_with_what_was_known() -> None:
    web = inspect()
    api = FakeApi(web, streams=[FakeStream([event(web["Id"], "destroy")])])
    api.after_inspect = api.data.clear  # gone after the first look: the refresh finds nothing
    api.logs_text = b""
    ok, message, results, _waiter = wait(api, timeout=30)
    assert not ok and message == "Not healthy: web was removed"
    assert results[0]["status"] == "removed" and results[0]["log_tail"] == []


def test_forced_removal_is_reported_as_removal() -> None:
    web = inspect()
    api = FakeApi(web, streams=[FakeStream([event(web["Id"], "die", exitCode="137")])])
    api.after_inspect = api.data.clear
    api.logs_text = b""
    ok, message, results, _waiter = wait(api, timeout=30)
    assert not ok and message == "Not healthy: web was removed: it exited with code 137"
    assert results[0]["status"] == "removed" and results[0]["log_tail"] == []


def test_a_ready_container_that_dies_while_others_wait_fails() -> None:
    web, db = inspect("web", health="healthy"), inspect("db")
    stream = FakeStream([event(web["Id"], "die", exitCode="1")])
    api = FakeApi(web, db, streams=[stream])
    ok, message, results, _waiter = wait(api, containers=["web", "db"])
    assert not ok and message.startswith("Not healthy: web exited")
    assert results[1]["ready"] is False and "reason" not in results[1]


def test_events_of_other_containers_and_earlier_incarnations_are_ignored() -> None:
    web = inspect()
    stream = FakeStream(
        [
            event("someone-else", "die"),
            event(web["Id"], "die", time_ns=STARTED_NS - 1),  # replayed, before this start
            event(web["Id"], "start", time_ns=STARTED_NS + 1),  # the start we already saw
            event(web["Id"], "health_status: healthy"),
        ]
    )
    ok, message, _results, _waiter = wait(FakeApi(web, streams=[stream]))
    assert ok, message


def test_created_container_is_waited_for_until_it_starts() -> None:
    web = inspect(health=None, healthcheck=["CMD", "true"], status="created", started="0001-01-01T00:00:00Z")
    stream = FakeStream([event(web["Id"], "start"), event(web["Id"], "health_status: healthy")])
    ok, message, results, _waiter = wait(FakeApi(web, streams=[stream]))
    assert ok, message
    assert results[0]["status"] == "running"


@pytest.mark.parametrize("mode, ok, reason", [("fail", False, "no_healthcheck"), ("running", True, None)])
def test_without_healthcheck(mode: str, ok: bool, reason: str | None) -> None:
    web = inspect(health=None)
    result_ok, _msg, results, _waiter = wait(FakeApi(web), without_healthcheck=mode)
    assert result_ok is ok
    assert results[0].get("reason") == reason
    assert results[0]["waited_for"] == (None if mode == "fail" else "running")


def test_without_healthcheck_running_waits_for_the_start() -> None:
    web = inspect(health=None, status="created", started="0001-01-01T00:00:00Z")
    stream = FakeStream([event(web["Id"], "start")])
    ok, _msg, results, _waiter = wait(FakeApi(web, streams=[stream]), without_healthcheck="running")
    assert ok and results[0]["waited_for"] == "running"


def test_timeout_reports_every_container_still_waiting() -> None:
    web, db = inspect("web"), inspect("db", health="healthy")
    started = time.monotonic()
    ok, message, results, _waiter = wait(FakeApi(web, db), containers=["web", "db"], timeout=0.3)
    assert 0.25 < time.monotonic() - started < 3
    assert not ok and message == f"Not healthy: web was still starting after {results[0]['elapsed']} s"
    assert results[0]["reason"] == "timeout" and results[0]["log_tail"]
    assert results[1]["ready"] and "reason" not in results[1]


def test_timeout_zero_judges_once() -> None:
    ok, _msg, results, _waiter = wait(FakeApi(inspect()), timeout=0)
    assert not ok and results[0]["reason"] == "timeout"
    ok, _msg, _results, _waiter = wait(FakeApi(inspect(health="healthy")), timeout=0)
    assert ok


def test_missing_container_fails_at_once() -> None:
    ok, message, results, _waiter = wait(FakeApi(inspect()), containers=["web", "ghost"], timeout=30)
    assert not ok and message == "Not healthy: ghost does not exist"
    assert results[1] == dict(results[1], name="ghost", id=None, reason="not_found", log_tail=[])


def test_same_container_twice_is_waited_for_once() -> None:
    web = inspect(health="healthy")
    _ok, _msg, results, _waiter = wait(FakeApi(web), containers=["web", web["Id"]])
    assert len(results) == 1


def test_stream_break_falls_back_to_inspecting_then_reopens() -> None:
    web = inspect()
    first = FakeStream([ConnectionError("daemon went away")])
    second = FakeStream()
    api = FakeApi(web, streams=[first, ConnectionError("still down"), second])
    result: dict[str, t.Any] = {}

    def run() -> None:
        result["value"] = wait(api, timeout=10)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 5
    while len(api.opened) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(api.opened) == 2, "the stream was not reopened"
    inspects_while_down = api.calls.count(f"inspect {web['Id']}")
    assert inspects_while_down >= 1
    second.push(event(web["Id"], "health_status: healthy"))
    thread.join(5)
    ok, message, _results, waiter = result["value"]
    assert ok, message
    assert waiter.stream_interruptions == 1
    # The reopened stream replays from when the first one broke.
    assert float(api.events_kwargs[2]["since"]) >= float(api.events_kwargs[0]["since"])


def test_inspecting_while_the_stream_is_down_sees_health() -> None:
    web = inspect()
    api = FakeApi(web, streams=[ConnectionError("no events"), ConnectionError("no events")] * 50)
    threading.Timer(0.1, lambda: api.set(inspect(health="healthy"))).start()
    ok, message, _results, waiter = wait(api, timeout=5)
    assert ok, message
    assert waiter.stream_interruptions == 1


def test_inspecting_while_the_stream_is_down_sees_a_restart() -> None:
    web = inspect(restart_count=0)
    api = FakeApi(web, streams=[ConnectionError("no events")] * 100)
    later = inspect(restart_count=1, started="2026-05-08T10:00:09Z")
    threading.Timer(0.1, lambda: api.set(later)).start()
    ok, _msg, results, _waiter = wait(api, timeout=5)
    assert not ok and results[0]["reason"] == "restarted"


def test_engine_gone_until_the_timeout_says_so() -> None:
    web = inspect()
    api = FakeApi(web, streams=[ConnectionError("refused")] * 100)
    original = api.inspect_container
    calls = {"n": 0}

    def flaky(ref: str) -> dict[str, t.Any]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise ConnectionError("refused")
        return original(ref)

    api.inspect_container = flaky  # type: ignore[method-assign]
    ok, message, results, _waiter = wait(api, timeout=0.3)
    assert not ok and results[0]["reason"] == "timeout"
    assert "last engine error" in message and "refused" in message


@pytest.mark.parametrize(
    "summaries, services, message",
    [
        ([], None, "Compose project 'shop' has no containers"),
        ([summary("a", service="web")], ["web", "db"], "Compose project 'shop' has no container for service(s) db"),
        ([summary("run", oneoff="True")], None, "Compose project 'shop' has no containers"),
    ],
)
def test_project_without_containers_fails_clearly(
    summaries: list[dict[str, t.Any]], services: list[str] | None, message: str
) -> None:
    api = FakeApi(inspect("a", cid="a-id"), summaries=summaries)
    ok, got, results, _waiter = wait(api, containers=None, project="shop", services=services)
    assert (ok, got, results) == (False, message, [])


def test_project_mode_waits_for_the_selected_services() -> None:
    labels = {h.LABEL_PROJECT: "shop", h.LABEL_SERVICE: "web"}
    web = inspect("shop-web-1", cid="a-id", labels=labels)
    db = inspect("shop-db-1", cid="b-id", labels=dict(labels, **{h.LABEL_SERVICE: "db"}))
    api = FakeApi(
        web,
        db,
        summaries=[
            summary("shop-web-1", service="web") | {"Id": "a-id"},
            summary("shop-db-1", service="db") | {"Id": "b-id"},
        ],
        streams=[FakeStream([event("b-id", "die"), event("a-id", "health_status: healthy")])],
    )
    ok, message, results, _waiter = wait(api, containers=None, project="shop", services=["web"])
    assert ok, message
    assert [(r["name"], r["service"]) for r in results] == [("shop-web-1", "web")]
    assert api.events_kwargs[0]["filters"]["label"] == ["com.docker.compose.project=shop"]


# --------------------------------------------------------------------------
# The engine going away during the wait

REFUSED = ConnectionRefusedError(111, "Connection refused")
RESET = ConnectionResetError(104, "Connection reset by peer")
WEB_ID = inspect()["Id"]


@pytest.mark.parametrize(
    "docker_host, expected",
    [
        (None, "this-host"),
        ("", "this-host"),
        ("unix:///var/run/docker.sock", "this-host"),
        ("fd://", "this-host"),
        ("npipe:////./pipe/docker_engine", "this-host"),
        ("tcp://192.0.2.10:2376", "192.0.2.10"),
        ("https://gpu01.example.org:2376", "gpu01.example.org"),
        ("ssh://deploy@gpu02.example.org:22", "gpu02.example.org"),
        ("tcp://[2001:db8::1]:2376", "2001:db8::1"),
    ],
)
def test_engine_host(monkeypatch: pytest.MonkeyPatch, docker_host: str | None, expected: str) -> None:
    monkeypatch.setattr(h.socket, "gethostname", lambda: "this-host")
    assert h.engine_host(docker_host) == expected


def stop_engine_after_the_first_look(api: FakeApi, error: BaseException = REFUSED) -> None:
    """The engine answers the first inspect, then no request at all (`systemctl stop docker`)."""
    api.after_inspect = lambda: setattr(api, "down", error)


@pytest.mark.parametrize(
    "streams, seen",
    [
        # Without live-restore the engine stops the containers, then closes the stream: the exit comes first.
        (lambda: [FakeStream([event(WEB_ID, "die", exitCode="0"), _END])], "web exited with code 0"),
        # The stream ends or breaks; reopening it and inspecting are refused until the timeout.
        (lambda: [FakeStream([_END])], "web was still starting after"),
        (lambda: [FakeStream([RESET])], "web was still starting after"),
        # No stream from the start; the inspects are refused after the first.
        (lambda: [REFUSED], "web was still starting after"),
    ],
    ids=["exit-then-stream-end", "stream-end", "stream-reset", "reconnect-refused"],
)
def test_engine_stopped_during_the_wait_is_named(streams: t.Callable[[], list[t.Any]], seen: str) -> None:
    api = FakeApi(inspect(), streams=streams())
    stop_engine_after_the_first_look(api)
    ok, message, results, waiter = wait(api, timeout=0.5, host="gpu01")
    assert not ok
    assert message.startswith(
        "The Docker engine on gpu01 stopped during the health gate (it does not answer: [Errno 111] Connection refused"
    ), message
    assert f"); last seen: {seen}" in message
    assert waiter.engine_stopped is True
    assert results[0]["log_tail"] == []  # nothing more to ask of a stopped engine
    assert "ping" in api.calls


def test_engine_restarted_under_the_wait_is_named() -> None:
    """With socket activation (docker.socket), the first request after `systemctl stop docker` starts
    the engine again: /_ping answers, but only after the old engine has ended the event stream."""
    stream = FakeStream([event(WEB_ID, "die", exitCode="0"), _END])
    api = FakeApi(inspect(), streams=[stream])
    api.after_inspect = lambda: api.set(inspect(status="exited", exit_code=0))

    def slow_ping() -> None:
        assert stream.ended.wait(5)
        time.sleep(0.1)  # the reader thread queues the end right after

    api.before_ping = slow_ping
    ok, message, results, waiter = wait(api, timeout=5, host="gpu01")
    assert not ok
    assert message == (
        "The Docker engine on gpu01 stopped during the health gate (its event stream ended "
        "as the containers failed; it answers again); last seen: web exited with code 0"
    )
    assert waiter.engine_stopped is True
    assert results[0]["reason"] == "exited" and results[0]["log_tail"] == ["line 1", "line 2", "line 3"]


def test_an_exit_found_as_the_engine_answers_again_is_blamed_on_the_engine() -> None:
    api = FakeApi(inspect(), streams=[FakeStream([RESET]), FakeStream()])
    stop_engine_after_the_first_look(api)

    def engine_back() -> None:
        api.set(inspect(status="exited", exit_code=0))
        api.down = None

    threading.Timer(0.2, engine_back).start()
    ok, message, _results, waiter = wait(api, timeout=5, host="gpu01")
    assert not ok
    assert message == (
        "The Docker engine on gpu01 stopped during the health gate (it did not answer for a while: "
        "inspect failed: [Errno 111] Connection refused; it answers again); "
        "last seen: web exited with code 0"
    )
    assert waiter.engine_stopped is True


@pytest.mark.parametrize(
    "streams",
    [
        lambda: [FakeStream([event(WEB_ID, "die", exitCode="2")])],
        # The stream broke once, but the engine kept answering: the exit is the container's.
        lambda: [FakeStream([RESET]), FakeStream([event(WEB_ID, "die", exitCode="2")])],
        lambda: [FakeStream([RESET]), REFUSED, FakeStream()],
    ],
    ids=["stream-open", "stream-reopened", "events-refused-inspect-answers"],
)
def test_an_exit_while_the_engine_answers_blames_the_container(streams: t.Callable[[], list[t.Any]]) -> None:
    api = FakeApi(inspect(), streams=streams())
    api.after_inspect = lambda: api.set(inspect(status="exited", exit_code=2))
    ok, message, results, waiter = wait(api, timeout=5, host="gpu01")
    assert (ok, message) == (False, "Not healthy: web exited with code 2")
    assert waiter.engine_stopped is False
    assert "ping" in api.calls  # the engine was asked before the container was blamed
    assert results[0]["log_tail"] == ["line 1", "line 2", "line 3"]


def test_success_needs_no_ping() -> None:
    api = FakeApi(inspect(health="healthy"))
    ok, _message, _results, waiter = wait(api, host="gpu01")
    assert ok and waiter.engine_stopped is False
    assert "ping" not in api.calls


# --------------------------------------------------------------------------
# The readable report: one block per failed container


_TRACEBACK = "\n".join(
    [
        "Traceback (most recent call last):",
        '  File "<string>", line 1, in <module>',
        '  File "/usr/lib/python3.13/urllib/request.py", line 189, in urlopen',
        "    return opener.open(url, data, timeout)",
        "urllib.error.URLError: <urlopen error [Errno 111] Connection refused>",
        "",
        "",
    ]
)


@pytest.mark.parametrize(
    "entries, expected",
    [
        ([], ""),
        (
            [{"exit_code": 0, "output": "ok"}, {"exit_code": 1, "output": _TRACEBACK}],
            "exit 1: urllib.error.URLError: <urlopen error [Errno 111] Connection refused>",
        ),
        ([{"exit_code": 1, "output": "  \n\n"}], "exit 1: (no output)"),
        ([{"exit_code": -1, "output": "x" * 500}], "exit -1: " + "x" * 297 + "..."),
    ],
)
def test_probe_line(entries: list[dict[str, t.Any]], expected: str) -> None:
    assert h.probe_line(entries) == expected


@pytest.mark.parametrize(
    "result, expected",
    [
        ({"reason": "unhealthy", "status": "running"}, "unhealthy (status running)"),
        ({"reason": "exited", "exit_code": 3}, "exited with code 3"),
        ({"reason": "restarted", "exit_code": 1, "restart_count": 4}, "restarting (4 restart(s), last exit code 1)"),
        ({"reason": "oom_killed", "exit_code": 137}, "killed for running out of memory (exit code 137)"),
        ({"reason": "timeout", "health": "starting", "elapsed": 60.0}, "still starting after 60.0 s"),
        ({"reason": "removed", "detail": "it exited with code 0"}, "was removed (it exited with code 0)"),
        ({"reason": "not_found"}, "does not exist"),
    ],
)
def test_reason_phrase(result: dict[str, t.Any], expected: str) -> None:
    assert h.reason_phrase(result) == expected


def test_failure_report_one_block_per_failed_container() -> None:
    results: list[dict[str, t.Any]] = [
        {"name": "demo-redis-1", "service": "redis", "ready": True},
        {
            "name": "demo-api-1",
            "id": "a" * 64,
            "service": "api",
            "status": "running",
            "reason": "unhealthy",
            "health_log": [{"exit_code": 1, "output": "first"}, {"exit_code": 1, "output": _TRACEBACK}],
            "log_tail": [f"line {number}" for number in range(1, 51)] + ["", ""],
        },
        {
            "name": "demo-worker-1",
            "id": "b" * 64,
            "service": "worker",
            "status": "exited",
            "reason": "exited",
            "exit_code": 3,
            "health_log": [],
            "log_tail": [],
        },
    ]
    report = h.failure_report(results)
    assert report.splitlines() == [
        "demo-api-1 (service api): unhealthy (status running)",
        "  last probe: exit 1: urllib.error.URLError: <urlopen error [Errno 111] Connection refused>",
        "  last 15 log line(s):",
        *[f"    line {number}" for number in range(36, 51)],
        "demo-worker-1 (service worker): exited with code 3",
        "  no log lines",
    ]
    # Once: each container's name, its probe's line and a log line appear a single time.
    assert report.count("demo-api-1") == 1 and report.count("Connection refused") == 1
    assert report.count("line 50") == 1 and "Traceback" not in report and "redis" not in report


def test_failure_report_empty_when_nothing_failed() -> None:
    assert h.failure_report([{"name": "a", "ready": True}]) == ""
    assert h.failure_report([]) == ""


def test_failure_report_fewer_log_lines_and_a_missing_container() -> None:
    results: list[dict[str, t.Any]] = [
        {"name": "gone", "id": None, "reason": "not_found", "log_tail": []},
        {"name": "c", "id": "c" * 64, "reason": "exited", "exit_code": 1, "log_tail": ["a", "b", "c"]},
    ]
    assert h.failure_report(results, 2).splitlines() == [
        "gone: does not exist",
        "c: exited with code 1",
        "  last 2 log line(s):",
        "    b",
        "    c",
    ]
    assert h.failure_report(results, 0).splitlines() == [
        "gone: does not exist",
        "c: exited with code 1",
        "  no log lines",
    ]


# --------------------------------------------------------------------------
# GPUs: nvidia-smi -L inside each GPU container, once it is ready

UUIDS = [f"GPU-{index}e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c4{index}" for index in range(4)]


def smi(*uuids: str) -> str:
    """nvidia-smi -L of a container that sees these GPUs (numbered from 0 inside it, as the driver does)."""
    return "".join(f"GPU {index}: NVIDIA GeForce RTX 4090 (UUID: {uuid})\n" for index, uuid in enumerate(uuids))


def test_gpu_list_reads_nvidia_smi_l() -> None:
    text = (
        smi(UUIDS[2]) + "  MIG 1g.10gb     Device  0: (UUID: MIG-aa5f1c2e-0f4b-5d1e-9c39-0c4e2a2b8f11)\n"
        "GPU 1: Tesla T4\n"
    )
    assert h.gpu_list(text) == [
        {"index": "0", "name": "NVIDIA GeForce RTX 4090", "uuid": UUIDS[2]},
        {"index": "1", "name": "Tesla T4", "uuid": ""},
    ]
    assert h.gpu_list("No devices were found\n") == []


@pytest.mark.parametrize(
    "expected, code, output, problem",
    [
        # Exactly its GPUs, by UUID; or by number where the UUIDs are not known.
        ([UUIDS[1]], 0, smi(UUIDS[1]), ""),
        ([UUIDS[0], UUIDS[3]], 0, smi(UUIDS[3], UUIDS[0]), ""),
        (["GPU 0", "GPU 1"], 0, smi(UUIDS[0], UUIDS[1]), ""),
        # Healthy, but on the CPU: no GPU at all.
        (
            [UUIDS[3]],
            6,
            "No devices were found\n",
            f"container sees 0 GPUs, expected 1: {UUIDS[3]} (nvidia-smi -L in the container: exit 6: No devices were found)",
        ),
        (
            [UUIDS[3]],
            0,
            "",
            f"container sees 0 GPUs, expected 1: {UUIDS[3]} (nvidia-smi -L in the container: it listed none)",
        ),
        (
            [UUIDS[0]],
            9,
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
            f"container sees 0 GPUs, expected 1: {UUIDS[0]} (nvidia-smi -L in the container: exit 9: NVIDIA-SMI has failed "
            "because it couldn't communicate with the NVIDIA driver.)",
        ),
        # Every GPU of the host where it was given one.
        (
            [UUIDS[1]],
            0,
            smi(*UUIDS[:2]),
            f"container sees 2 GPUs, expected 1: {UUIDS[1]} (nvidia-smi -L in the container: GPU 0: NVIDIA GeForce RTX "
            f"4090 ({UUIDS[0]}); GPU 1: NVIDIA GeForce RTX 4090 ({UUIDS[1]}))",
        ),
        # Another GPU than its own.
        (
            [UUIDS[1]],
            0,
            smi(UUIDS[2]),
            f"container sees other GPUs than the 1 it was given ({UUIDS[1]}) (nvidia-smi -L in the container: GPU 0: NVIDIA "
            f"GeForce RTX 4090 ({UUIDS[2]}))",
        ),
    ],
)
def test_gpu_problem(expected: list[str], code: int, output: str, problem: str) -> None:
    assert h.gpu_problem(expected, code, output) == problem


MIG = ["MIG-7d9e2c4a-51b3-5f0e-a8d6-1c2b3e4f5a60", "MIG-9a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d"]


def mig_smi(*migs: str, gpu: str = UUIDS[1]) -> str:
    """nvidia-smi -L in a container given MIG devices of one GPU: the GPU, its MIG devices indented below it."""
    return f"GPU 0: NVIDIA A100-SXM4-40GB (UUID: {gpu})\n" + "".join(
        f"  MIG 3g.20gb     Device  {MIG.index(uuid)}: (UUID: {uuid})\n" for uuid in migs
    )


@pytest.mark.parametrize(
    "expected, output, problem",
    [
        # A MIG device: the container lists its GPU and, under it, the MIG device it was given.
        ([MIG[1]], mig_smi(MIG[1]), ""),
        ([MIG[0], MIG[1]], mig_smi(*MIG), ""),
        # The GPU given whole (in MIG mode, its MIG devices listed under it): the GPU counts.
        ([UUIDS[1]], mig_smi(*MIG), ""),
        # Given one MIG device, it sees both: the other slice's work shares its memory.
        (
            [MIG[0]],
            mig_smi(*MIG),
            f"container sees 2 GPUs, expected 1: {MIG[0]} (nvidia-smi -L in the container: MIG device 0:0: MIG 3g.20gb of "
            f"NVIDIA A100-SXM4-40GB ({MIG[0]}); MIG device 0:1: MIG 3g.20gb of NVIDIA A100-SXM4-40GB ({MIG[1]}))",
        ),
        # The other MIG device than its own.
        (
            [MIG[0]],
            mig_smi(MIG[1]),
            f"container sees other GPUs than the 1 it was given ({MIG[0]}) (nvidia-smi -L in the container: MIG device 0:1: "
            f"MIG 3g.20gb of NVIDIA A100-SXM4-40GB ({MIG[1]}))",
        ),
        # The GPU with no MIG device under it: the slice did not reach the container.
        (
            [MIG[0]],
            mig_smi(),
            f"container sees other GPUs than the 1 it was given ({MIG[0]}) (nvidia-smi -L in the container: GPU 0: NVIDIA "
            f"A100-SXM4-40GB ({UUIDS[1]}))",
        ),
    ],
)
def test_gpu_problem_with_mig_devices(expected: list[str], output: str, problem: str) -> None:
    assert h.gpu_problem(expected, 0, output) == problem


@pytest.mark.parametrize("code", [126, 127])
def test_no_nvidia_smi_in_the_container_is_said_never_passed(code: int) -> None:
    problem = h.gpu_problem([UUIDS[0]], code, 'exec: "nvidia-smi": executable file not found in $PATH\n')
    assert problem.startswith(
        f"nvidia-smi is not in the container, so the gate cannot prove it sees its 1 GPU "
        f'({UUIDS[0]}): exit {code}: exec: "nvidia-smi": executable file not found in $PATH'
    )


def gpu_worker(name: str) -> dict[str, t.Any]:
    return inspect(name, health="healthy", labels={h.LABEL_PROJECT: "demo", h.LABEL_SERVICE: name})


def test_the_gate_proves_each_gpu_container_sees_its_own_gpus() -> None:
    workers = [gpu_worker(f"worker-gpu{index}") for index in range(2)]
    api = FakeApi(
        *workers, summaries=[{"Id": w["Id"], "Names": [w["Name"]], "Labels": w["Config"]["Labels"]} for w in workers]
    )
    api.exec_results = {workers[0]["Id"]: (0, smi(UUIDS[0])), workers[1]["Id"]: (0, smi(UUIDS[1]))}
    ok, message, _results, _waiter = wait(
        api, containers=None, project="demo", gpus={"worker-gpu0": [UUIDS[0]], "worker-gpu1": [UUIDS[1]]}
    )
    assert ok, message
    assert [call for call in api.calls if call.startswith("exec")] == [
        f"exec {workers[0]['Id']} nvidia-smi -L",
        f"exec {workers[1]['Id']} nvidia-smi -L",
    ]


def test_a_healthy_gpu_container_that_sees_no_gpu_fails_the_gate_with_the_reason() -> None:
    workers = [gpu_worker(f"worker-gpu{index}") for index in range(2)]
    api = FakeApi(
        *workers, summaries=[{"Id": w["Id"], "Names": [w["Name"]], "Labels": w["Config"]["Labels"]} for w in workers]
    )
    api.exec_results = {workers[0]["Id"]: (0, smi(UUIDS[0])), workers[1]["Id"]: (6, "No devices were found\n")}
    ok, message, results, _waiter = wait(
        api, containers=None, project="demo", gpus={"worker-gpu0": [UUIDS[0]], "worker-gpu1": [UUIDS[1]]}
    )
    assert not ok
    assert message == (
        f"Not healthy: worker-gpu1 (service worker-gpu1) does not see exactly its GPUs: container sees 0 GPUs, "
        f"expected 1: {UUIDS[1]} (nvidia-smi -L in the container: exit 6: No devices were found)"
    )
    assert results[0]["ready"] and "reason" not in results[0]
    assert results[1]["reason"] == "gpu_mismatch" and not results[1]["ready"]
    report = h.failure_report(results)
    assert report.startswith("worker-gpu1 (service worker-gpu1): does not see exactly its GPUs (container sees 0 GPUs")


def test_the_gpus_are_asked_only_once_every_container_is_ready_and_by_name_too() -> None:
    web = inspect("web", health="unhealthy")
    api = FakeApi(web)
    ok, _message, _results, _waiter = wait(api, gpus={"web": [UUIDS[0]]})
    assert not ok and not any(call.startswith("exec") for call in api.calls)
    healthy = FakeApi(inspect("web", health="healthy"))
    healthy.exec_results = {healthy.data[next(iter(healthy.data))]["Id"]: APIError("container is not running")}
    ok, message, _results, _waiter = wait(healthy, gpus={"web": ["GPU 0"]})
    assert (
        not ok
        and "the gate could not run nvidia-smi -L in the container to prove it sees its 1 GPU (GPU 0): "
        "container is not running"
        in message
    )
