"""The runner shared by the bad-input tests of the roles (tests/integration/test_*_bad_input.py).

A bad-input test is one ansible-playbook run IN CHECK MODE over an inventory
of local hosts, one host per case: the hosts in group ``bad`` run the whole
role and must fail in its validation, naming the variable, before any task
changed anything; the hosts in group ``good`` run only the role's argument
validation and validate steps and must pass them, so that the bad cases
cannot pass by a validation that refuses everything.

Each test writes its own playbook (what runs before the role, which
validate steps the good hosts run); this module builds the inventory, runs
the playbook with the JSON callback, collects every host's task results in
order, and holds the assertions every such test makes.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import yaml

# The task of a role's argument validation (its name goes on with the role's short description).
ARGSPEC_TASK = "Validating arguments against arg spec 'main'"
# Every task of a role's tasks/validate.yml is named "validate | ...".
# The tasks of a role's validate.yml and of the files it includes (validate_<what>.yml).
VALIDATE_TASK = re.compile(r"^validate(_[a-z_]+)? \| ")


class RunResult(t.NamedTuple):
    rc: int
    # host -> list of (task name, result) in the order the tasks ran
    tasks: dict[str, list[tuple[str, dict[str, t.Any]]]]
    output: str


def local_host(**variables: t.Any) -> dict[str, t.Any]:
    """The variables of an inventory host that is this machine, run by this very Python."""
    return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **variables}


def inventory(
    bad: dict[str, dict[str, t.Any]], good: dict[str, dict[str, t.Any]], all_vars: dict[str, t.Any] | None = None
) -> dict[str, t.Any]:
    """An inventory with the groups ``bad`` and ``good``, host name -> host variables."""
    return {
        "all": {
            "vars": dict(all_vars or {}),
            "children": {"bad": {"hosts": bad}, "good": {"hosts": good}},
        },
    }


def role_tasks(role: str, good_steps: t.Sequence[str] = ("validate.yml",)) -> str:
    """The tasks every bad-input play ends with, as YAML for a play's task list (indented four spaces): the hosts
    in group ``bad`` run the whole role; the hosts in group ``good`` only its argument validation (read from
    ``test_role_path``, an inventory variable) and the task files ``good_steps`` of the role, in order (its
    tasks/validate.yml, after whatever that needs)."""
    steps = "".join(
        f"""
    - name: Run the role's tasks/{step}
      ansible.builtin.include_role:
        name: {role}
        tasks_from: {step}
      when: "'good' in group_names"
"""
        for step in good_steps
    )
    return f"""
    - name: Run the role
      ansible.builtin.include_role:
        name: {role}
      when: "'bad' in group_names"

    - name: Check the input as the role's argument validation does
      ansible.builtin.validate_argument_spec:
        argument_spec: "{{{{ (lookup('ansible.builtin.file', test_role_path ~ '/meta/argument_specs.yml')
          | ansible.builtin.from_yaml).argument_specs.main.options }}}}"
      when: "'good' in group_names"
{steps}"""


def _ansible_playbook() -> str:
    """ansible-playbook of the venv this Python belongs to, else the first on PATH."""
    beside = Path(sys.executable).with_name("ansible-playbook")
    return str(beside) if beside.is_file() else "ansible-playbook"


def run_playbook(tmp: Path, inventory_data: dict[str, t.Any], playbook: str) -> RunResult:
    """Run ``playbook`` over ``inventory_data`` in check mode; collect each host's task results."""
    (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory_data))
    (tmp / "play.yml").write_text(playbook)
    env = dict(
        os.environ,
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_FORKS="8",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_DEPRECATION_WARNINGS="false",
        ANSIBLE_CACHE_PLUGIN="ansible.builtin.memory",
    )
    proc = subprocess.run(
        [_ansible_playbook(), "-i", str(tmp / "inventory.yml"), str(tmp / "play.yml"), "--check"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    try:
        data = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(
            f"ansible-playbook printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        ) from exc
    tasks: dict[str, list[tuple[str, dict[str, t.Any]]]] = {}
    for play in data["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                # Role tasks are named "<role> : <task>".
                name = task["task"]["name"].split(" : ", 1)[-1]
                tasks.setdefault(host, []).append((name, result))
    return RunResult(proc.returncode, tasks, proc.stdout + proc.stderr)


def failure(run: RunResult, host: str) -> tuple[int, str, dict[str, t.Any]]:
    """The first failed task of ``host``: (index, task name, result)."""
    for index, (name, result) in enumerate(run.tasks.get(host, [])):
        if result.get("failed"):
            return index, name, result
    raise AssertionError(f"{host}: no task failed; tasks: {[task[0] for task in run.tasks.get(host, [])]}")


def message(result: dict[str, t.Any]) -> str:
    """Every message of a failed result, including those of loop items."""
    messages = [str(result.get("msg", ""))]
    for item in result.get("results", []):
        # A failed assertion in a loop marks its item with evaluated_to=false.
        if item.get("failed") or item.get("evaluated_to") is False:
            messages.append(str(item.get("msg", "")))
    return "\n".join(messages)


def assert_ran(run: RunResult, hosts: t.Iterable[str]) -> None:
    """Some hosts failed (the bad ones), and every case host ran."""
    assert run.rc != 0, "some hosts must fail"
    assert set(hosts) <= set(run.tasks), run.output[-3000:]


def assert_fails_in_validation(run: RunResult, host: str, *names: str) -> str:
    """``host`` failed in argument validation or a validate task whose message holds every one of ``names``,
    and no task before it changed anything. Returns the message."""
    index, name, result = failure(run, host)
    text = message(result)
    assert name.startswith(ARGSPEC_TASK) or VALIDATE_TASK.match(name), (name, text)
    for expected in names:
        assert expected in text, (name, expected, text)
    changed = [task for task, res in run.tasks[host][:index] if res.get("changed")]
    assert not changed, f"tasks before the failure reported changes: {changed}"
    return text


def assert_passes_validation(run: RunResult, host: str, last_task: str) -> None:
    """``host`` ran up to ``last_task`` (a validate task) without a failure or a change."""
    results = run.tasks[host]
    failed = [(name, message(res)) for name, res in results if res.get("failed")]
    assert not failed
    assert not [name for name, res in results if res.get("changed")]
    names = [task[0] for task in results]
    assert last_task in names, names


def merged(base: dict[str, t.Any], changes: dict[str, t.Any]) -> dict[str, t.Any]:
    """A copy of base (name -> settings) with the settings of some names changed key by key; None removes a name."""
    result = copy.deepcopy(base)
    for name, settings in changes.items():
        if settings is None:
            result.pop(name, None)
        else:
            result[name] = {**result.get(name, {}), **settings}
    return result
