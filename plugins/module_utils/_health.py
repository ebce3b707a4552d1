# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Wait for containers to become healthy, driven by Docker's event stream.

Private to this collection (module wait_for_healthy). The pure parts (reading
inspect data and events into verdicts) come first; HealthWaiter does the I/O
against a low-level docker.APIClient.

The order matters: Docker emits ``health_status`` only when the status
changes, so the event stream is opened before the containers are inspected,
and every transition after the inspect reaches us through the stream.

The engine itself can go away during the wait (``systemctl stop docker``):
without live-restore it stops the containers first, and their exits reach us
before the stream ends. Docker emits no event for its own shutdown (events of
type ``daemon`` report only ``reload``), so before a failure is blamed on a
container the waiter asks the engine once whether it still answers
(``/_ping``); see HealthWaiter._check_engine.
"""

from __future__ import annotations

import calendar
import queue
import re
import socket
import threading
import time
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_ONEOFF = "com.docker.compose.oneoff"

READY = "ready"
PENDING = "pending"
FAILED = "failed"

WAIT_HEALTHY = "healthy"
WAIT_RUNNING = "running"

# The container events that can change a verdict. Docker matches
# "health_status" against "health_status: healthy|unhealthy" by prefix.
# (The engine's own events, of type "daemon", are only "reload": none tells
# of a shutdown, so they are not watched.)
WATCHED_EVENTS = ("health_status", "start", "restart", "die", "oom", "destroy", "pause")

# docker_host schemes of an engine on the host the module runs on.
LOCAL_SCHEMES = ("", "unix", "npipe", "fd")

REASON_TEXT = {
    "unhealthy": "turned unhealthy",
    "exited": "exited",
    "oom_killed": "was killed for running out of memory (OOMKilled)",
    "removed": "was removed",
    "restarted": "restarted",
    "paused": "is paused",
    "no_healthcheck": "has no healthcheck (set without_healthcheck=running to accept a running container)",
    "not_found": "does not exist",
    "timeout": "timed out",
    "gpu_mismatch": "does not see exactly its GPUs",
}

# What proves which GPUs a container sees: the list the driver's nvidia-smi prints inside it, which the NVIDIA
# runtime (its hook, or a CDI specification) mounts into every GPU container.
GPU_PROBE = ("nvidia-smi", "-L")
# nvidia-smi -L: "GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-5e2b7a3c-...)"; MIG devices are indented under theirs.
_GPU_LINE_RE = re.compile(r"^GPU\s+(?P<index>[0-9]+):\s*(?P<name>.*?)\s*(?:\(UUID:\s*(?P<uuid>[^)\s]+)\))?\s*$")
# "  MIG 3g.20gb     Device  0: (UUID: MIG-7d9e2c4a-...)", under the GPU it is part of.
_MIG_LINE_RE = re.compile(
    r"^\s+MIG\s+(?P<profile>\S+)\s+Device\s+(?P<index>[0-9]+):\s*\(UUID:\s*(?P<uuid>MIG-[^)\s]+)\)\s*$"
)
# The exit codes of a command the runtime could not start: not executable (126), not there (127).
_NOT_STARTED = (126, 127)


@dataclass(frozen=True)
class Verdict:
    """Where one container stands: ready, pending, or failed for a reason."""

    state: str
    reason: str | None = None
    detail: str = ""


def ready() -> Verdict:
    return Verdict(READY)


def pending(detail: str = "") -> Verdict:
    return Verdict(PENDING, detail=detail)


def failed(reason: str, detail: str = "") -> Verdict:
    return Verdict(FAILED, reason, detail)


# --------------------------------------------------------------------------
# Pure helpers: inspect data, events, results


def has_healthcheck(inspect: dict[str, t.Any]) -> bool:
    """True if the container has a healthcheck (its own or its image's)."""
    if (inspect.get("State") or {}).get("Health"):
        return True
    test = ((inspect.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def waited_for(inspect: dict[str, t.Any], without_healthcheck: str) -> str | None:
    """What readiness means for this container; None if it cannot be ready."""
    if has_healthcheck(inspect):
        return WAIT_HEALTHY
    return WAIT_RUNNING if without_healthcheck == "running" else None


def exit_detail(code: t.Any) -> str:
    return f"with code {code}" if code not in (None, "") else ""


def classify_state(inspect: dict[str, t.Any], without_healthcheck: str) -> Verdict:
    """Verdict from a container's inspect data alone."""
    state = inspect.get("State") or {}
    status = state.get("Status") or ""
    if state.get("Restarting") or status == "restarting":
        return failed("restarted", f"in a restart loop (restart count {inspect.get('RestartCount', 0)})")
    if status == "removing":
        return failed("removed")
    if status in ("exited", "dead"):
        if state.get("OOMKilled"):
            return failed("oom_killed")
        return failed("exited", exit_detail(state.get("ExitCode")))
    if status == "paused" or state.get("Paused"):
        return failed("paused")
    wanted = waited_for(inspect, without_healthcheck)
    if wanted is None:
        return failed("no_healthcheck")
    if status != "running":
        return pending(f"is {status or 'not running'}")
    if wanted == WAIT_RUNNING:
        return ready()
    health = (state.get("Health") or {}).get("Status")
    if health == "healthy":
        return ready()
    if health == "unhealthy":
        return failed("unhealthy")
    return pending(f"is {health or 'starting'}")


def split_action(action: str) -> tuple[str, str]:
    """'health_status: healthy' -> ('health_status', 'healthy'); 'die' -> ('die', '')."""
    name, arg = (action.split(":", 1) + [""])[:2]
    return name.strip(), arg.strip()


def classify_event(action: str, attributes: dict[str, t.Any], wanted: str | None, running_seen: bool) -> Verdict | None:
    """Verdict from one container event; None when the event changes nothing.

    running_seen: the container was already running when we looked. Its
    `start` event is then either a replay of the start we saw, or comes after
    a `die` that has already failed the wait, so it says nothing new.
    """
    name, arg = split_action(action)
    if name == "health_status":
        if wanted != WAIT_HEALTHY:
            return None
        if arg == "healthy":
            return ready()
        if arg == "unhealthy":
            return failed("unhealthy")
        return None
    if name == "die":
        return failed("exited", exit_detail(attributes.get("exitCode")))
    if name == "oom":
        return failed("oom_killed")
    if name == "destroy":
        return failed("removed")
    if name == "restart":
        return failed("restarted")
    if name == "pause":
        return failed("paused")
    if name == "start":
        if running_seen:
            return None
        return ready() if wanted == WAIT_RUNNING else pending("is starting")
    return None


def status_after(action: str, status: str | None, health: str | None) -> tuple[str | None, str | None]:
    """Status and health of a container after an event, without inspecting it again."""
    name, arg = split_action(action)
    if name == "health_status":
        return status, arg or health
    new_status = {"start": "running", "die": "exited", "destroy": "removed", "pause": "paused"}.get(name)
    if new_status is None:
        return status, health
    return new_status, "starting" if name == "start" and health else health


def refine_failure(verdict: Verdict, inspect: dict[str, t.Any] | None, baseline_restarts: int) -> Verdict:
    """Name an exit more precisely once the container can be inspected again.

    Docker sets OOMKilled, Restarting and the removal in progress (`docker rm
    -f` kills, then removes) before it emits `die`, so one inspect after the
    event tells them from a plain exit. inspect is None once the container is
    gone.
    """
    if verdict.state != FAILED or verdict.reason != "exited":
        return verdict
    if not inspect:
        return failed("removed", f"it exited {verdict.detail}".strip())
    state = inspect.get("State") or {}
    restarts = inspect.get("RestartCount") or 0
    if state.get("OOMKilled"):
        return failed("oom_killed", verdict.detail)
    if state.get("Status") == "removing":
        return failed("removed", f"it exited {verdict.detail}".strip())
    policy = ((inspect.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
    if state.get("Restarting") or restarts > baseline_restarts:
        exited = f"exited {verdict.detail}".strip()
        return failed("restarted", f"{exited}, restart policy {policy} (restart count {restarts})")
    return verdict


def docker_time_ns(value: str | None) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time from the Docker API; 0 if unset."""
    if not value or value.startswith("0001-"):
        return 0
    match = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", value)
    if not match:
        return 0
    fields = [int(part) for part in match.groups()[:6]]
    seconds = calendar.timegm((fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], 0, 0, 0))
    zone = match.group(8)
    if zone != "Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    fraction = int((match.group(7) or "0")[:9].ljust(9, "0"))
    return seconds * 1_000_000_000 + fraction


@dataclass(frozen=True)
class Event:
    """The parts of a Docker event this module reads."""

    container_id: str
    action: str
    attributes: dict[str, t.Any]
    time_ns: int


def parse_event(raw: dict[str, t.Any]) -> Event | None:
    """Read a decoded event of the /events stream; None for non-container events."""
    if raw.get("Type", "container") != "container":
        return None
    actor = raw.get("Actor") or {}
    container_id = actor.get("ID") or raw.get("id")
    action = raw.get("Action") or raw.get("status")
    if not container_id or not action:
        return None
    time_ns = raw.get("timeNano") or int(raw.get("time") or 0) * 1_000_000_000
    return Event(container_id, action, dict(actor.get("Attributes") or {}), int(time_ns))


def event_filters(containers: t.Sequence[str] | None = None, project: str | None = None) -> dict[str, t.Any]:
    """Server-side filters for the event stream (narrowed again by id on our side)."""
    filters: dict[str, t.Any] = {"type": ["container"], "event": list(WATCHED_EVENTS)}
    if project is not None:
        filters["label"] = [f"{LABEL_PROJECT}={project}"]
    elif containers:
        filters["container"] = list(containers)
    return filters


def select_project_containers(
    summaries: t.Sequence[dict[str, t.Any]], project: str, services: t.Sequence[str] | None
) -> tuple[list[dict[str, t.Any]], list[str]]:
    """Containers of a compose project, minus one-off ones, narrowed to services.

    Returns the selected container summaries (from GET /containers/json) and
    the requested services that have no container.
    """
    selected = []
    for summary in summaries:
        labels = summary.get("Labels") or {}
        if labels.get(LABEL_PROJECT) != project:
            continue
        if str(labels.get(LABEL_ONEOFF, "False")).lower() == "true":
            continue
        if services and labels.get(LABEL_SERVICE) not in services:
            continue
        selected.append(summary)
    found = {(s.get("Labels") or {}).get(LABEL_SERVICE) for s in selected}
    missing = [name for name in (services or []) if name not in found]
    return sorted(selected, key=_summary_name), missing


def _summary_name(summary: dict[str, t.Any]) -> str:
    names = summary.get("Names") or [""]
    return names[0].lstrip("/")


def health_log(inspect: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """The health-probe results Docker keeps (the last five), oldest first."""
    entries = ((inspect.get("State") or {}).get("Health") or {}).get("Log") or []
    return [
        {
            "exit_code": entry.get("ExitCode"),
            "output": entry.get("Output", ""),
            "start": entry.get("Start"),
            "end": entry.get("End"),
        }
        for entry in entries
    ]


def tail_lines(text: str, count: int) -> list[str]:
    """The last `count` lines of a log text, without line ends."""
    if count <= 0 or not text:
        return []
    return text.splitlines()[-count:]


def container_name(inspect: dict[str, t.Any]) -> str:
    return (inspect.get("Name") or "").lstrip("/") or (inspect.get("Id") or "")[:12]


def service_of(inspect: dict[str, t.Any]) -> str | None:
    return ((inspect.get("Config") or {}).get("Labels") or {}).get(LABEL_SERVICE)


def engine_host(docker_host: str | None) -> str:
    """The host an engine runs on, for messages: this host's name for a local socket."""
    parts = urlsplit(docker_host or "")
    if parts.scheme in LOCAL_SCHEMES or not parts.hostname:
        return socket.gethostname()
    return parts.hostname


def engine_stopped_message(host: str, detail: str, seen: str) -> str:
    """The task message when the engine went away during the wait; `seen`: what the containers did."""
    message = f"The Docker engine on {host} stopped during the health gate ({detail})"
    return message + (f"; last seen: {seen}" if seen else "")


def describe(result: dict[str, t.Any]) -> str:
    """One line for the task message: who failed and why."""
    who = result.get("name") or "?"
    if result.get("service"):
        who += f" (service {result['service']})"
    reason = result.get("reason") or "failed"
    text = REASON_TEXT.get(reason, reason)
    detail = result.get("detail") or ""
    if reason == "unhealthy" and result.get("health_log"):
        last = result["health_log"][-1]
        output = (last.get("output") or "").strip().splitlines()
        detail = f"last probe exited {last.get('exit_code')}" + (f": {output[-1]}" if output else "")
    if reason == "timeout":
        state = result.get("health") or result.get("status") or "not ready"
        return f"{who} was still {state} after {result.get('elapsed')} s"
    if reason == "exited":
        return f"{who} {text} {detail}".rstrip()
    return f"{who} {text}" + (f": {detail}" if detail else "")


REPORT_LOG_LINES = 15  # log lines per container in the readable report
_REPORT_WIDTH = 300  # characters of one probe or log line in it


def _clip(line: str) -> str:
    line = line.rstrip()
    return line if len(line) <= _REPORT_WIDTH else line[: _REPORT_WIDTH - 3] + "..."


def probe_line(entries: t.Sequence[dict[str, t.Any]]) -> str:
    """The useful line of the last health probe: its last non-empty output line ("" without a probe).

    A probe that fails with a traceback prints the exception last; the lines above it are the stack.
    """
    if not entries:
        return ""
    last = entries[-1]
    lines = [line for line in str(last.get("output") or "").splitlines() if line.strip()]
    said = _clip(lines[-1].strip()) if lines else "(no output)"
    return f"exit {last.get('exit_code')}: {said}"


def reason_phrase(result: dict[str, t.Any]) -> str:
    """Why one container failed, in words: unhealthy, exited with code 3, restarting (4 restarts, last exit 1)."""
    reason = result.get("reason") or "failed"
    code = result.get("exit_code")
    restarts = result.get("restart_count")
    if reason == "unhealthy":
        return f"unhealthy (status {result.get('status') or '?'})"
    if reason == "exited":
        return f"exited with code {code}" if code is not None else "exited"
    if reason == "restarted":
        return f"restarting ({restarts or 0} restart(s), last exit code {code})"
    if reason == "oom_killed":
        return f"killed for running out of memory (exit code {code})"
    if reason == "timeout":
        return f"still {result.get('health') or result.get('status') or 'not ready'} after {result.get('elapsed')} s"
    text = REASON_TEXT.get(reason, reason)
    detail = result.get("detail") or ""
    return text + (f" ({detail})" if detail else "")


def failure_report(results: t.Sequence[dict[str, t.Any]], log_lines: int = REPORT_LOG_LINES) -> str:
    """One readable block per failed container: name, reason, the last probe's useful line, the last log lines.

    "" when no container failed. What a task's failure message prints once, instead of the results as JSON.
    """
    blocks = []
    for result in results:
        if not result.get("reason"):
            continue
        who = result.get("name") or "?"
        if result.get("service"):
            who += f" (service {result['service']})"
        lines = [f"{who}: {reason_phrase(result)}"]
        probe = probe_line(result.get("health_log") or [])
        if probe:
            lines.append(f"  last probe: {probe}")
        tail = [_clip(line) for line in (result.get("log_tail") or [])]
        while tail and not tail[-1].strip():
            tail.pop()
        tail = tail[-log_lines:] if log_lines > 0 else []
        if tail:
            lines.append(f"  last {len(tail)} log line(s):")
            lines.extend(f"    {line}" for line in tail)
        elif result.get("id"):
            lines.append("  no log lines")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def gpu_list(output: str) -> list[dict[str, str]]:
    """The GPUs ``nvidia-smi -L`` lists: index (as the container numbers them), name and UUID."""
    found = []
    for line in output.splitlines():
        match = _GPU_LINE_RE.match(line.strip())
        if match and not line.startswith((" ", "\t")):
            found.append(
                {"index": match.group("index"), "name": match.group("name"), "uuid": match.group("uuid") or ""}
            )
    return found


def seen_devices(output: str, wanted: t.Collection[str]) -> list[dict[str, str]]:
    """What a container sees as the gate counts it: each GPU ``nvidia-smi -L`` lists, except that a GPU listed
    with MIG devices under it, and not given whole (its UUID not in ``wanted``), counts as those MIG devices."""
    gpus: list[dict[str, t.Any]] = []
    for line in output.splitlines():
        gpu_line = _GPU_LINE_RE.match(line.strip())
        mig_line = _MIG_LINE_RE.match(line)
        if gpu_line and not line.startswith((" ", "\t")):
            gpus.append(
                {
                    "index": gpu_line.group("index"),
                    "name": gpu_line.group("name"),
                    "uuid": gpu_line.group("uuid") or "",
                    "migs": [],
                }
            )
        elif mig_line and gpus:
            gpus[-1]["migs"].append(mig_line.groupdict())
    seen: list[dict[str, str]] = []
    for gpu in gpus:
        if gpu["migs"] and gpu["uuid"] not in wanted:
            seen.extend(
                {
                    "index": f"{gpu['index']}:{mig['index']}",
                    "name": f"MIG {mig['profile']} of {gpu['name']}",
                    "uuid": mig["uuid"],
                }
                for mig in gpu["migs"]
            )
        else:
            seen.append({key: gpu[key] for key in ("index", "name", "uuid")})
    return seen


def _plural(count: int) -> str:
    return f"{count} GPU" + ("" if count == 1 else "s")


def gpu_problem(expected: t.Sequence[str], exit_code: t.Any, output: str) -> str:
    """Why a container's ``nvidia-smi -L`` does not prove it sees exactly the GPUs it was given ("" when it does).

    ``expected``: one entry per GPU the container was given: its UUID (GPU-..., or MIG-... for a MIG device,
    which the list names under its GPU), which the list must name, or any other label where the UUID is not
    known (then only the number counts).
    """
    wanted = [str(entry) for entry in expected]
    said = " ".join(line.strip() for line in output.splitlines() if line.strip())
    said = said if len(said) <= _REPORT_WIDTH else said[: _REPORT_WIDTH - 3] + "..."
    if exit_code is None:
        return (
            f"the gate could not run nvidia-smi -L in the container to prove it sees its "
            f"{_plural(len(wanted))} ({', '.join(wanted)}): {said or 'the engine refused'}"
        )
    if exit_code in _NOT_STARTED:
        return (
            f"nvidia-smi is not in the container, so the gate cannot prove it sees its {_plural(len(wanted))} "
            f"({', '.join(wanted)}): exit {exit_code}: {said or 'no output'} (the NVIDIA runtime mounts it "
            "into a GPU container: with CDI from the specification, with the nvidia runtime for "
            "NVIDIA_DRIVER_CAPABILITIES with utility)"
        )
    seen = seen_devices(output, wanted) if exit_code == 0 else []
    uuids = [gpu["uuid"] for gpu in seen]
    named = [entry for entry in wanted if entry.startswith(("GPU-", "MIG-"))]
    missing = [entry for entry in named if entry not in uuids]
    extra = [uuid for uuid in uuids if uuid and uuid not in wanted and named]
    if len(seen) == len(wanted) and not missing and not extra:
        return ""
    listed = "; ".join(
        f"{'MIG device' if ':' in gpu['index'] else 'GPU'} {gpu['index']}: {gpu['name']}"
        + (f" ({gpu['uuid']})" if gpu["uuid"] else "")
        for gpu in seen
    ) or (f"exit {exit_code}: {said}" if said or exit_code else "it listed none")
    text = f"container sees {_plural(len(seen))}, expected {len(wanted)}: {', '.join(wanted) or 'none'}"
    if missing and len(seen) == len(wanted):
        text = f"container sees other GPUs than the {len(wanted)} it was given ({', '.join(wanted)})"
    return f"{text} (nvidia-smi -L in the container: {listed})"


# --------------------------------------------------------------------------
# The waiter: I/O against the engine


@dataclass
class Target:
    """One container being waited for."""

    ref: str
    id: str = ""
    name: str = ""
    service: str | None = None
    wanted: str | None = None
    verdict: Verdict = field(default_factory=pending)
    inspect: dict[str, t.Any] | None = None
    status: str | None = None
    health: str | None = None
    started_ns: int = 0
    restart_count: int = 0
    running_seen: bool = False
    settled_at: float | None = None


_STREAM_END = "end"
_STREAM_EVENT = "event"


class HealthWaiter:
    """Wait for containers to be ready; stop at the first failure.

    api: a docker.APIClient (docker.DockerClient().api). clock: monotonic
    seconds. poll_interval: how often to inspect while the event stream is
    down (and to try to reopen it). host: the engine's host, for messages
    (see engine_host). After run(), engine_stopped tells whether the engine
    went away during the wait.
    """

    def __init__(
        self,
        api: t.Any,
        *,
        containers: t.Sequence[str] | None = None,
        project: str | None = None,
        services: t.Sequence[str] | None = None,
        without_healthcheck: str = "fail",
        timeout: float = 300,
        log_lines: int = 50,
        poll_interval: float = 0.5,
        clock: t.Callable[[], float] = time.monotonic,
        wall_clock: t.Callable[[], float] = time.time,
        host: str = "",
        gpus: t.Mapping[str, t.Sequence[str]] | None = None,
    ) -> None:
        self.api = api
        self.containers = list(containers or [])
        self.project = project
        self.services = list(services or [])
        self.without_healthcheck = without_healthcheck
        self.timeout = timeout
        self.log_lines = log_lines
        self.poll_interval = poll_interval
        self.clock = clock
        self.wall_clock = wall_clock
        self.host = host or engine_host(None)
        # Service (or container) -> the GPUs each of its containers must see, once ready (see gpu_problem).
        self.gpus = {str(key): [str(entry) for entry in value] for key, value in (gpus or {}).items()}
        self.targets: list[Target] = []
        self.stream_interruptions = 0
        self.last_error = ""
        self.engine_stopped = False
        self.engine_detail = ""
        self._engine_answers = True
        self._inspect_error = ""  # why the last poll could not inspect a container
        self._away = ""  # the engine refused inspects, then answered with a failure
        self._queue: queue.Queue[tuple[int, str, t.Any]] = queue.Queue()
        self._generation = 0
        self._stream: t.Any = None
        self._start = 0.0
        self._lost_at: float | None = None

    # -- public ------------------------------------------------------------

    def run(self) -> tuple[bool, str, list[dict[str, t.Any]]]:
        """Wait; return (ok, message, per-container results)."""
        self._start = self.clock()
        deadline = self._start + self.timeout
        try:
            self._open_stream(self.wall_clock())
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self._stream_lost(exc)
        try:
            problem = self._resolve()
            if problem:
                return False, problem, [self._result(target) for target in self.targets]
            self._loop(deadline)
            if self.gpus and all(target.verdict.state == READY for target in self.targets):
                self._check_gpus()
            if any(target.verdict.state == FAILED for target in self.targets):
                self._check_engine()  # before the stream is closed: its end is a clue
        finally:
            self._close_stream()
        return self._finish()

    # -- setup -------------------------------------------------------------

    def _resolve(self) -> str | None:
        """Find the containers and take their first verdicts; a message if none can be waited for."""
        if self.project is not None:
            summaries = self.api.containers(all=True, filters={"label": [f"{LABEL_PROJECT}={self.project}"]})
            selected, missing = select_project_containers(summaries, self.project, self.services)
            if missing:
                return f"Compose project {self.project!r} has no container for service(s) {', '.join(missing)}"
            if not selected:
                return f"Compose project {self.project!r} has no containers" + (
                    f" for services {', '.join(self.services)}" if self.services else ""
                )
            refs = [summary["Id"] for summary in selected]
        else:
            refs = self.containers
        for ref in refs:
            inspect = self._inspect(ref)
            if inspect is not None and any(other.id == inspect.get("Id") for other in self.targets):
                continue  # the same container named twice (name and id)
            target = Target(ref=ref)
            self.targets.append(target)
            if inspect is None:
                target.name = ref
                self._settle(target, failed("not_found"))
                continue
            self._take(target, inspect, first=True)
        return None

    def _inspect(self, ref: str) -> dict[str, t.Any] | None:
        from docker.errors import NotFound  # pylint: disable=import-outside-toplevel

        try:
            return self.api.inspect_container(ref)
        except NotFound:
            return None

    def _take(self, target: Target, inspect: dict[str, t.Any], first: bool = False) -> None:
        """Record fresh inspect data and judge the container by it."""
        state = inspect.get("State") or {}
        started_ns = docker_time_ns(state.get("StartedAt"))
        restarts = inspect.get("RestartCount") or 0
        target.inspect = inspect
        target.status = state.get("Status")
        target.health = (state.get("Health") or {}).get("Status")
        if first:
            target.id = inspect.get("Id", "")
            target.name = container_name(inspect)
            target.service = service_of(inspect)
            target.started_ns = started_ns
            target.restart_count = restarts
        target.wanted = waited_for(inspect, self.without_healthcheck)
        verdict = classify_state(inspect, self.without_healthcheck)
        if not first and ((target.started_ns and started_ns > target.started_ns) or restarts > target.restart_count):
            # Seen by inspecting while the event stream was down.
            verdict = failed("restarted", f"restart count {restarts}")
        if state.get("Running"):
            target.running_seen = True
        self._settle(target, verdict)

    def _settle(self, target: Target, verdict: Verdict) -> None:
        if verdict.state == target.verdict.state and verdict.state != PENDING:
            return
        if verdict.state != PENDING:
            target.settled_at = self.clock()
        target.verdict = verdict

    # -- the event stream --------------------------------------------------

    def _open_stream(self, since: float) -> None:
        """Subscribe to the engine's container events and read them on a thread.

        `since` replays what happened between our clock reading and the
        engine registering the subscription (it sends its response headers
        before it subscribes).
        """
        stream = self.api.events(
            decode=True, since=f"{since:.9f}", filters=event_filters(self.containers, self.project)
        )
        self._generation += 1
        self._stream = stream
        reader = threading.Thread(target=self._read, args=(stream, self._generation), name="docker-events", daemon=True)
        reader.start()

    def _read(self, stream: t.Any, generation: int) -> None:
        error: BaseException | None = None
        try:
            for raw in stream:
                self._queue.put((generation, _STREAM_EVENT, raw))
        except BaseException as exc:  # pylint: disable=broad-exception-caught
            error = exc
        self._queue.put((generation, _STREAM_END, error))

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._generation += 1
        if stream is not None:
            try:
                stream.close()
            except Exception:  # pylint: disable=broad-exception-caught
                pass

    def _stream_lost(self, error: BaseException | None) -> None:
        self._close_stream()
        self.stream_interruptions += 1
        self._lost_at = self.wall_clock()
        self.last_error = f"event stream ended: {error}" if error else "event stream ended"

    # -- the loop ----------------------------------------------------------

    def _loop(self, deadline: float) -> None:
        while True:
            if any(target.verdict.state == FAILED for target in self.targets):
                return
            waiting = [target for target in self.targets if target.verdict.state == PENDING]
            if not waiting:
                return
            remaining = deadline - self.clock()
            if remaining <= 0:
                for target in waiting:
                    self._settle(target, failed("timeout"))
                return
            # Without a stream, block on the queue for at most one poll
            # interval: events from a reopened stream still end the wait early.
            wait = remaining if self._stream is not None else min(self.poll_interval, remaining)
            try:
                generation, kind, payload = self._queue.get(timeout=wait)
            except queue.Empty:
                if self._stream is None:
                    self._poll()
                continue
            if generation != self._generation:
                continue
            if kind == _STREAM_END:
                self._stream_lost(payload)
                self._poll()
            else:
                self._on_event(payload)

    def _on_event(self, raw: dict[str, t.Any]) -> None:
        event = parse_event(raw)
        if event is None:
            return
        for target in self.targets:
            if target.id != event.container_id or target.verdict.state == FAILED:
                continue
            if event.time_ns and target.started_ns and event.time_ns < target.started_ns:
                continue  # replayed from before the incarnation we inspected
            verdict = classify_event(event.action, event.attributes, target.wanted, target.running_seen)
            if verdict is None:
                continue
            target.status, target.health = status_after(event.action, target.status, target.health)
            if event.action == "start":
                target.running_seen = True
            self._settle(target, verdict)

    def _poll(self) -> None:
        """While the stream is down: try to reopen it, then inspect (in that order)."""
        if self._stream is None:
            try:
                self._open_stream(self._lost_at or self.wall_clock())
            except Exception as exc:  # pylint: disable=broad-exception-caught
                self.last_error = f"event stream unavailable: {exc}"
        refused_before, self._inspect_error = self._inspect_error, ""
        for target in self.targets:
            if target.verdict.state == FAILED or not target.id:
                continue
            try:
                inspect = self._inspect(target.id)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                self.last_error = self._inspect_error = f"inspect failed: {exc}"
                continue
            if inspect is None:
                self._settle(target, failed("removed"))
            else:
                self._take(target, inspect)
            if refused_before and target.verdict.state == FAILED:
                # The first answer after the engine refused us shows a failure:
                # the engine went away (and came back, as after a restart).
                self._away = refused_before

    # -- the engine --------------------------------------------------------

    def _check_engine(self) -> None:
        """Before a failure is blamed on a container: did the engine go away?

        One /_ping. If it fails, the engine stopped. If it answers, the engine
        may still have gone and come back (a restart, or socket activation
        starting it again on our request): then the event stream ended as the
        containers failed, or the engine had refused the inspects before the
        one that found the failure.
        """
        try:
            self.api.ping()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self._engine_answers = False
            detail = f"it does not answer: {exc}"
            self._engine_gone(detail + (f"; {self.last_error}" if self.last_error else ""))
            return
        if self._stream_ended():
            self._engine_gone("its event stream ended as the containers failed; it answers again")
        elif self._away:
            self._engine_gone(f"it did not answer for a while: {self._away}; it answers again")

    def _stream_ended(self) -> bool:
        """Whether the open event stream has ended (its end waits in the queue)."""
        if self._stream is None:
            return False
        while True:
            try:
                generation, kind, _payload = self._queue.get_nowait()
            except queue.Empty:
                return False
            if generation == self._generation and kind == _STREAM_END:
                return True

    def _engine_gone(self, detail: str) -> None:
        self.engine_stopped = True
        self.engine_detail = detail

    # -- GPUs ----------------------------------------------------------------

    def _check_gpus(self) -> None:
        """Once every container is ready: each GPU container lists exactly its GPUs (nvidia-smi -L inside it)."""
        for target in self.targets:
            expected = self.gpus.get(target.service or "", self.gpus.get(target.name))
            if expected is None or not target.id:
                continue
            exit_code, output = self._exec(target.id, GPU_PROBE)
            problem = gpu_problem(expected, exit_code, output)
            if problem:
                self._settle(target, failed("gpu_mismatch", problem))

    def _exec(self, container: str, argv: t.Sequence[str]) -> tuple[t.Any, str]:
        """Run a command in a container: its exit code and output (None and the engine's refusal)."""
        from docker.errors import APIError  # pylint: disable=import-outside-toplevel

        try:
            created = self.api.exec_create(container, list(argv), stdout=True, stderr=True)
            raw = self.api.exec_start(created["Id"])
            code = self.api.exec_inspect(created["Id"]).get("ExitCode")
        except APIError as exc:
            return None, str(exc.explanation or exc)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
        return code, text

    # -- results -----------------------------------------------------------

    def _finish(self) -> tuple[bool, str, list[dict[str, t.Any]]]:
        failures = [target for target in self.targets if target.verdict.state == FAILED]
        if failures and self._engine_answers:
            for target in failures:
                self._refresh(target)
        results = [self._result(target) for target in self.targets]
        if failures:
            failing = [result for result in results if result.get("reason")]
            seen = "; ".join(describe(result) for result in failing)
            if self.engine_stopped:
                return False, engine_stopped_message(self.host, self.engine_detail, seen), results
            message = "Not healthy: " + seen
            if self.last_error and any(result.get("reason") == "timeout" for result in failing):
                message += f" (last engine error: {self.last_error})"
            return False, message, results
        wanted = sorted({result["waited_for"] for result in results})
        return True, f"{len(results)} container(s) {' or '.join(wanted)}", results

    def _refresh(self, target: Target) -> None:
        """Inspect a failed container once more, for the report."""
        if not target.id:
            return
        try:
            inspect = self._inspect(target.id)
        except Exception:  # pylint: disable=broad-exception-caught
            return
        target.verdict = refine_failure(target.verdict, inspect, target.restart_count)
        if target.verdict.reason == "removed":
            target.status = "removed"
        if inspect is not None:
            target.inspect = inspect
            state = inspect.get("State") or {}
            target.status = state.get("Status")
            target.health = (state.get("Health") or {}).get("Status")

    def _logs(self, target: Target) -> list[str]:
        if not target.id or self.log_lines <= 0 or not self._engine_answers:
            return []
        try:
            raw = self.api.logs(target.id, stdout=True, stderr=True, tail=self.log_lines)
        except Exception:  # pylint: disable=broad-exception-caught
            return []
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return tail_lines(text, self.log_lines)

    def _result(self, target: Target) -> dict[str, t.Any]:
        inspect = target.inspect or {}
        state = inspect.get("State") or {}
        settled = target.settled_at if target.settled_at is not None else self.clock()
        result: dict[str, t.Any] = {
            "name": target.name or target.ref,
            "id": target.id or None,
            "service": target.service,
            "status": target.status,
            "health": target.health,
            "waited_for": target.wanted,
            "ready": target.verdict.state == READY,
            "elapsed": round(max(settled - self._start, 0.0), 3),
        }
        if target.verdict.state == FAILED:
            result.update(
                reason=target.verdict.reason,
                detail=target.verdict.detail,
                health_log=health_log(inspect),
                log_tail=self._logs(target),
                exit_code=state.get("ExitCode"),
                oom_killed=state.get("OOMKilled"),
                restart_count=inspect.get("RestartCount"),
            )
        return result
