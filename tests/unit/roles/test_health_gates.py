"""Every health gate in the roles and playbooks prints its failure once, as wait_for_healthy's report.

The default callback prints a failed task's whole result as one line of JSON:
for wait_for_healthy, every container's probe log and log tail. So no gate
may fail by itself: each registers its result with `failed_when: false`, a
debug task prints the report's lines, and a task of its own stops the host
with one short line. tests/integration/test_wait_for_healthy.py runs
app_stack's gate.yml against the real engine and checks what it prints;
this test finds every other gate, so that none brings the JSON back.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
MODULE = "aistack.deploy.wait_for_healthy"
TASK_FILES = sorted(
    [*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("playbooks/*.yml"), REPO / "site.yml", REPO / "rollback.yml"]
)


def _tasks(node: t.Any) -> t.Iterator[dict[str, t.Any]]:
    """Every task of a task file or playbook, inside blocks and plays too."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
            yield from _tasks(node.get(key))


def _gates() -> list[tuple[Path, dict[str, t.Any]]]:
    return [
        (path, task)
        for path in TASK_FILES
        for task in _tasks(yaml.safe_load(path.read_text()))
        if MODULE in task or task.get("action") == MODULE
    ]


def _role_text(path: Path) -> str:
    """The text of every task file beside `path` (a role's tasks; a playbook's directory)."""
    return "\n".join(p.read_text() for p in sorted(path.parent.glob("*.yml")))


def test_the_gates_are_found() -> None:
    # deploy.yml's gate of a new release, gate.yml's of a recorded one, nginx_proxy's of the proxy.
    found = {f"{path.parent.parent.name}/{path.name}" for path, _task in _gates()}
    assert {"app_stack/deploy.yml", "app_stack/gate.yml", "nginx_proxy/service.yml"} <= found, found


def test_no_gate_fails_by_itself() -> None:
    loud = [
        f"{path.relative_to(REPO)}: {task.get('name')}"
        for path, task in _gates()
        if task.get("failed_when") is not False or not task.get("register")
    ]
    assert loud == [], "a wait_for_healthy task that fails prints its results as JSON: register it, failed_when: false"


def test_each_gate_prints_its_report_and_stops_on_it() -> None:
    for path, task in _gates():
        name = task["register"]
        text = _role_text(path)
        debugs = [
            each
            for p in path.parent.glob("*.yml")
            for each in _tasks(yaml.safe_load(p.read_text()))
            if "ansible.builtin.debug" in each and ".report.splitlines()" in str(each["ansible.builtin.debug"])
        ]
        # The stop: a task whose condition reads the registered report (no report: the module's own error).
        assert f"{name}.report | default('no report') | length > 0" in text, (path, name)
        assert debugs, f"{path.relative_to(REPO)}: no debug task prints a report's lines"
        direct = [each for each in debugs if f"{name}.report" in str(each["ansible.builtin.debug"])]
        # deploy.yml's report reaches fallback.yml's debug through __app_stack_failure (kept before going back).
        assert direct or f"{name} if 'deploy | Stop here" in text, (path, name)
