# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A rollout across a fleet: its settings, when it stops, what it reports.

site.yml and rollback.yml deploy in batches (a canary host first); every host
ends with an outcome (the fact ``aistack_outcome``): ``deployed``, ``failed``
(with the reason), or ``not started`` (the rollout stopped before its batch).
Pure functions over plain data, used by the filters in plugins/filter/rollout.py.
"""

from __future__ import annotations

import datetime
import re
import typing as t
from collections.abc import Mapping, Sequence

DEFAULT_BATCHES: list[t.Any] = [1, "25%", "100%"]
RESULTS = ("deployed", "failed", "not started")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def _batch_problem(value: t.Any) -> str:
    """Why one batch size is not a host count (1 or more) or a percentage (over 0, up to 100 %); '' when it is."""
    if isinstance(value, bool):
        return f"{value!r} is not a number of hosts"
    if isinstance(value, int):
        return "" if value >= 1 else f"{value} hosts: a batch needs 1 or more"
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            share = float(match.group(1))
            return "" if 0 < share <= 100 else f"{value!r}: a share must be over 0 % and up to 100 %"
        if value.strip().isdigit():
            return _batch_problem(int(value))
    return f"{value!r} is neither a number of hosts nor a percentage like '25%'"


def rollout_problems(settings: Mapping[str, t.Any]) -> list[str]:
    """Every problem of the rollout settings, each naming the variable, its value and what is allowed."""
    problems = []
    # aistack_serial: the older name of aistack_batches, still read where aistack_batches is not set.
    name = "aistack_serial" if "aistack_serial" in settings and "aistack_batches" not in settings else "aistack_batches"
    batches = settings.get(name, DEFAULT_BATCHES)
    sizes = batches if isinstance(batches, Sequence) and not isinstance(batches, str) else [batches]
    if not sizes:
        problems.append(f"{name}: empty; give batch sizes, e.g. [1, '25%', '100%']")
    for index, size in enumerate(sizes):
        why = _batch_problem(size)
        if why:
            where = f"{name}[{index}]" if sizes is batches else name
            problems.append(f"{where}: {why}; allowed: a number of hosts (1 or more) or a percentage like '25%'")
    fail = settings.get("aistack_max_fail_percentage", 0)
    if isinstance(fail, bool) or not isinstance(fail, (int, float)) or not 0 <= fail <= 100:
        problems.append(
            f"aistack_max_fail_percentage: {fail!r} is not a percentage from 0 to 100 "
            "(0 stops the rollout at the first failed host)"
        )
    log = settings.get("aistack_audit_log", "")
    if not isinstance(log, str):
        problems.append(f"aistack_audit_log: {log!r} is not a file path (empty: keep no audit log)")
    return problems


def _outcome(value: t.Any) -> dict[str, t.Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def rollout_gate(
    outcomes: Mapping[str, t.Any], max_fail_percentage: t.Any, active: Sequence[str] | None = None
) -> dict[str, t.Any]:
    """Whether the next batch may start: stop once the hosts that failed are more than max_fail_percentage of all.

    ``outcomes``: every host of the rollout -> its outcome so far ({} for a host whose batch has not run).
    ``active``: the hosts still in the play (Ansible's ansible_play_hosts), when known. A host that started
    its turn and is no longer among them was lost in the middle of its deploy (unreachable: its engine or
    the machine stopped) and counts as failed; its outcome never said so, because nothing ran on it again.
    """
    hosts = list(outcomes)
    still = None if active is None else set(active)
    failed = []
    lost = []
    for host in hosts:
        result = _outcome(outcomes[host]).get("result")
        if result == "failed":
            failed.append(host)
        elif result == "started" and still is not None and host not in still:
            failed.append(host)
            lost.append(host)
    share = 100.0 * len(failed) / len(hosts) if hosts else 0.0
    stop = bool(failed) and share > float(max_fail_percentage)
    reason = ""
    if stop:
        named = ", ".join(f"{host} (unreachable)" if host in lost else host for host in failed)
        reason = (
            f"the rollout stopped: {len(failed)} of {len(hosts)} host(s) failed ({named}), "
            f"more than aistack_max_fail_percentage={float(max_fail_percentage):g}"
        )
    return {"stop": stop, "reason": reason, "failed": failed}


def _duration(outcome: Mapping[str, t.Any]) -> float | None:
    try:
        return round(float(outcome["ended"]) - float(outcome["started"]), 1)
    except (KeyError, TypeError, ValueError):
        return None


def rollout_report(outcomes: Mapping[str, t.Any], run: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The audit record of a run (one JSON line) and the summary table an operator reads first.

    ``outcomes``: host -> its ``aistack_outcome`` ({} for a host that ended without one: unreachable, or stopped
    by an error outside the deploy). ``run``: action, release, by, controller, started, ended.
    """
    hosts: dict[str, dict[str, t.Any]] = {}
    for host, value in outcomes.items():
        outcome = _outcome(value)
        result = outcome.get("result") if outcome.get("result") in RESULTS else "unknown"
        entry: dict[str, t.Any] = {
            "result": result,
            "before": str(outcome.get("before") or ""),
            "after": str(outcome.get("after") or ""),
            "started": _iso(outcome["started"]) if _is_number(outcome.get("started")) else None,
            "seconds": _duration(outcome),
        }
        reason = str(outcome.get("reason") or "")
        if result == "unknown":
            reason = reason or "did not finish: unreachable, or stopped by an error outside its deploy"
        if reason:
            entry["reason"] = reason
        hosts[host] = entry
    counts = {
        result: sum(1 for entry in hosts.values() if entry["result"] == result) for result in (*RESULTS, "unknown")
    }
    starts = [
        float(_outcome(value)["started"]) for value in outcomes.values() if _is_number(_outcome(value).get("started"))
    ]
    started = run.get("started") if _is_number(run.get("started")) else (min(starts) if starts else None)
    ended = run.get("ended") if _is_number(run.get("ended")) else None
    targets = sorted(
        {str(_outcome(value).get("target")) for value in outcomes.values() if _outcome(value).get("target")}
    )
    record = {
        "action": str(run.get("action") or "deploy"),
        "release": str(run.get("release") or ", ".join(targets)),
        "by": str(run.get("by") or ""),
        "controller": str(run.get("controller") or ""),
        "started": _iso(started),
        "ended": _iso(ended),
        "seconds": round(float(ended) - float(started), 1) if started is not None and ended is not None else None,
        "result": "ok" if hosts and counts["deployed"] == len(hosts) else "failed",
        "counts": {key: value for key, value in counts.items() if value},
        "hosts": hosts,
    }
    width = max([len("host")] + [len(host) for host in hosts])
    lines = [f"{'host':<{width}}  {'release':<23}  {'result':<11}  time"]
    for host, entry in hosts.items():
        change = f"{entry['before'] or '-'} -> {entry['after'] or '-'}"
        seconds = "" if entry["seconds"] is None else f"{entry['seconds']:.0f} s"
        lines.append(f"{host:<{width}}  {change:<23}  {entry['result']:<11}  {seconds}".rstrip())
        if entry.get("reason"):
            lines.append(f"{'':<{width}}    {_first_line(entry['reason'])}")
    return {
        "record": record,
        "lines": lines,
        "failed": [host for host, entry in hosts.items() if entry["result"] != "deployed"],
    }


def _is_number(value: t.Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool)


def _iso(epoch: t.Any) -> str | None:
    if epoch is None:
        return None
    return (
        datetime.datetime.fromtimestamp(float(epoch), datetime.timezone.utc)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def _first_line(text: str, limit: int = 160) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
