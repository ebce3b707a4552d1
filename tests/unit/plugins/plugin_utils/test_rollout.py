# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for a fleet rollout's settings, its stop rule and its report (plugins/plugin_utils/_rollout.py),
their filters (plugins/filter/rollout.py) and the audit log writer (roles/app_stack/files/audit_append.py).

The rollout itself, through the task files that use them, is tests/integration/test_rollout.py.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import typing as t
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.rollout import FilterModule
from ansible_collections.aistack.deploy.plugins.plugin_utils._rollout import (
    rollout_gate,
    rollout_problems,
    rollout_report,
)

AUDIT_APPEND = Path(__file__).resolve().parents[4] / "roles" / "app_stack" / "files" / "audit_append.py"


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"aistack_batches": [1, "25%", "100%"], "aistack_max_fail_percentage": 0, "aistack_audit_log": ""},
        {"aistack_batches": 3},
        {"aistack_batches": "30%"},
        {"aistack_batches": "2"},
        {"aistack_batches": ["12.5%", 4]},
        {"aistack_serial": "100%"},
        {"aistack_max_fail_percentage": 100},
        {"aistack_max_fail_percentage": 33.3},
    ],
)
def test_good_settings(settings: dict[str, t.Any]) -> None:
    assert rollout_problems(settings) == []


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"aistack_batches": []}, "aistack_batches: empty"),
        ({"aistack_batches": 0}, "aistack_batches: 0 hosts: a batch needs 1 or more"),
        ({"aistack_batches": -2}, "aistack_batches: -2 hosts"),
        ({"aistack_batches": "0%"}, "aistack_batches: '0%': a share must be over 0 % and up to 100 %"),
        ({"aistack_batches": "150%"}, "aistack_batches: '150%'"),
        ({"aistack_batches": [1, "half"]}, "aistack_batches[1]: 'half' is neither a number of hosts nor a percentage"),
        ({"aistack_batches": [True]}, "aistack_batches[0]: True is not a number of hosts"),
        ({"aistack_batches": [1.5]}, "aistack_batches[0]: 1.5 is neither"),
        ({"aistack_serial": "x"}, "aistack_serial: 'x' is neither"),
        ({"aistack_max_fail_percentage": -1}, "aistack_max_fail_percentage: -1 is not a percentage from 0 to 100"),
        ({"aistack_max_fail_percentage": "10"}, "aistack_max_fail_percentage: '10' is not a percentage"),
        ({"aistack_max_fail_percentage": True}, "aistack_max_fail_percentage: True"),
        ({"aistack_audit_log": ["a"]}, "aistack_audit_log: ['a'] is not a file path"),
    ],
)
def test_bad_settings_are_named_one_problem_each(settings: dict[str, t.Any], problem: str) -> None:
    [found] = rollout_problems(settings)
    assert found.startswith(problem), found


def test_every_problem_is_reported_at_once() -> None:
    problems = rollout_problems({"aistack_batches": [0, "x"], "aistack_max_fail_percentage": 101})
    names = [p.split(":")[0] for p in problems]
    assert names == ["aistack_batches[0]", "aistack_batches[1]", "aistack_max_fail_percentage"]


def test_the_gate_stops_once_failures_exceed_the_share() -> None:
    outcomes = {"a": {"result": "deployed"}, "b": {"result": "failed"}, "c": {}, "d": {}, "e": {}}
    assert rollout_gate(outcomes, 0)["stop"] is True
    assert rollout_gate(outcomes, 20)["stop"] is False  # 1 of 5 is 20 %: not more than 20
    assert rollout_gate(outcomes, 19.9)["stop"] is True
    gate = rollout_gate(outcomes, 0)
    assert gate["failed"] == ["b"]
    assert gate["reason"] == "the rollout stopped: 1 of 5 host(s) failed (b), more than aistack_max_fail_percentage=0"
    assert rollout_gate({"a": {"result": "deployed"}, "b": {}}, 0) == {"stop": False, "reason": "", "failed": []}
    assert rollout_gate({}, 0)["stop"] is False


def test_a_host_lost_in_the_middle_of_its_turn_counts_as_failed() -> None:
    # web-2 started its turn and left the play (unreachable); web-1 is in the batch running now.
    outcomes = {"web-1": {"result": "deployed"}, "web-2": {"result": "started"}, "web-3": {}, "web-4": {}}
    gate = rollout_gate(outcomes, 0, ["web-1", "web-3", "web-4"])
    assert gate["stop"] is True and gate["failed"] == ["web-2"]
    assert "(web-2 (unreachable))" in gate["reason"]
    # Started and still in the play: its turn is running, not failed.
    assert rollout_gate(outcomes, 0, ["web-1", "web-2", "web-3", "web-4"])["stop"] is False
    # Without the active hosts nothing can be known of it.
    assert rollout_gate(outcomes, 0)["stop"] is False
    assert rollout_gate(outcomes, 25, ["web-1", "web-3", "web-4"])["stop"] is False  # 1 of 4 is 25 %


def test_the_report_has_every_host_and_the_counts() -> None:
    outcomes = {
        "web-1": {
            "result": "deployed",
            "target": "2.0",
            "before": "1.0",
            "after": "2.0",
            "started": 100,
            "ended": 130.44,
        },
        "web-2": {
            "result": "failed",
            "target": "2.0",
            "before": "1.0",
            "after": "1.0",
            "started": 131,
            "ended": 170,
            "reason": "Release 2.0 did not become healthy: api\nDiagnostics: ...",
        },
        "web-3": {"result": "not started", "reason": "the rollout stopped"},
        "web-4": {"result": "started", "started": 171},
    }
    report = rollout_report(outcomes, {"action": "deploy", "by": "ops", "controller": "ctl", "ended": 200})
    record = report["record"]
    assert record["release"] == "2.0" and record["result"] == "failed" and record["by"] == "ops"
    assert record["started"] == "1970-01-01T00:01:40Z" and record["ended"] == "1970-01-01T00:03:20Z"
    assert record["seconds"] == 100.0
    assert record["counts"] == {"deployed": 1, "failed": 1, "not started": 1, "unknown": 1}
    assert record["hosts"]["web-1"] == {
        "result": "deployed",
        "before": "1.0",
        "after": "2.0",
        "started": "1970-01-01T00:01:40Z",
        "seconds": 30.4,
    }
    assert record["hosts"]["web-4"]["reason"].startswith("did not finish")
    assert report["failed"] == ["web-2", "web-3", "web-4"]
    json.dumps(record)  # one JSON line
    lines = report["lines"]
    assert lines[0].split() == ["host", "release", "result", "time"]
    assert lines[1].split() == ["web-1", "1.0", "->", "2.0", "deployed", "30", "s"]
    assert lines[3].strip() == "Release 2.0 did not become healthy: api"  # the reason's first line only


def test_an_all_good_report() -> None:
    report = rollout_report({"a": {"result": "deployed", "target": "3"}}, {"action": "rollback"})
    assert report["record"]["result"] == "ok" and report["record"]["action"] == "rollback"
    assert report["failed"] == [] and report["record"]["seconds"] is None


def test_the_filters_refuse_what_is_not_a_mapping() -> None:
    filters = FilterModule().filters()
    with pytest.raises(AnsibleFilterError, match="rollout_gate: the outcomes must be a mapping"):
        filters["rollout_gate"](["a"], 0)
    with pytest.raises(AnsibleFilterError, match="max_fail_percentage must be a number"):
        filters["rollout_gate"]({}, "lots")
    with pytest.raises(AnsibleFilterError, match="active must be a list of host names"):
        filters["rollout_gate"]({}, 0, "web-1")
    assert filters["rollout_gate"]({"a": {"result": "started"}}, 0, [])["failed"] == ["a"]
    with pytest.raises(AnsibleFilterError, match="rollout_problems: the settings must be a mapping"):
        filters["rollout_problems"]("x")
    assert filters["rollout_report"]({}, {})["record"]["hosts"] == {}


def _audit_append() -> t.Any:
    spec = importlib.util.spec_from_file_location("audit_append", AUDIT_APPEND)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _append_many(path: str, start: int) -> None:
    module = _audit_append()
    for index in range(start, start + 50):
        module.append(path, json.dumps({"run": index, "pad": "x" * 6000}))


def test_the_audit_log_gets_whole_lines_from_runs_that_end_at_once(tmp_path: Path) -> None:
    log = tmp_path / "state" / "aistack" / "audit.jsonl"
    workers = [multiprocessing.Process(target=_append_many, args=(str(log), start)) for start in (0, 50, 100, 150)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    runs = sorted(json.loads(line)["run"] for line in log.read_text().splitlines())
    assert runs == list(range(200))
    assert oct(log.stat().st_mode & 0o777) == "0o600" and oct(log.parent.stat().st_mode & 0o777) == "0o700"


def test_the_audit_log_refuses_what_is_not_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _audit_append()
    monkeypatch.setattr("sys.stdin", type("In", (), {"read": staticmethod(lambda: "not json")})())
    assert module.main(["audit_append.py", str(tmp_path / "a.jsonl")]) == 1
    assert "cannot append to the audit log" in capsys.readouterr().err
    assert not (tmp_path / "a.jsonl").exists()
    assert module.main(["audit_append.py"]) == 2
