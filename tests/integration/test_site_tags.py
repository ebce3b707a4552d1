"""site.yml's tags, as the README's "One role at a time: tags" promises them.

``ansible-playbook --list-tasks`` with the operator's ``--tags`` and
``--skip-tags`` (nothing runs, no host is reached; two runs, about a second
each; here and not in the unit tier because the playbook needs community.docker
and the other collections the oldest unit venv does not carry): each role's work carries the role's name;
whatever the tags, the pre-flight, the deploy lock, every
role's input checks and facts, and the rollout's record run (``always``).
``--list-tasks`` leaves out a block's ``rescue`` and ``always`` sections, so
those (the lock given back, a failed host's outcome) are read from the
playbook itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = ("docker_engine", "nvidia_toolkit", "app_image", "app_stack", "nginx_proxy")
_TASK = re.compile(r"^ {6}(?:aistack\.deploy\.(?P<role>\w+) : )?(?P<name>.*?)\tTAGS: \[(?P<tags>[^\]]*)\]$")


class Task(t.NamedTuple):
    role: str
    name: str
    tags: frozenset[str]


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tags") / "hosts.yml"
    path.write_text(yaml.safe_dump({"aistack": {"hosts": {"web-1": None}}}))
    return path


def listed(inventory: Path, *args: str) -> list[Task]:
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            str(REPO / "site.yml"),
            "--list-tasks",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tasks = []
    for line in proc.stdout.splitlines():
        match = _TASK.match(line)
        if match:
            tags = frozenset(tag.strip() for tag in match["tags"].split(",") if tag.strip())
            tasks.append(Task(match["role"] or "", match["name"], tags))
    assert tasks, proc.stdout
    return tasks


ALWAYS_OUTSIDE_ROLES = (
    "Check the rollout's settings",
    "Check the stack's input before anything changes",
    "Check the image's input before anything changes",
    "Check the proxy's input before anything changes",
    "Check that the host can take the release",
    "Start this host's turn, unless an earlier batch failed",
    "Take the app's deploy lock on this host",
    "Record that the release reached this host",
    "Append the run to the audit log and print the summary",
    "Fail where the deploy failed",
)


def test_tags_nginx_proxy_runs_the_proxys_work_and_every_check_and_fact(inventory: Path) -> None:
    tasks = listed(inventory, "--tags", "nginx_proxy")
    work = [task for task in tasks if "always" not in task.tags]
    assert work and all(task.role == "nginx_proxy" for task in work), work
    assert "config | Render nginx.conf into staging" in {task.name for task in work}
    names = {task.name for task in tasks}
    assert set(ALWAYS_OUTSIDE_ROLES) <= names, set(ALWAYS_OUTSIDE_ROLES) - names
    # Every role still checks its input and hands on its fact (aistack_docker, aistack_gpu, ..., aistack_proxy).
    assert {task.role for task in tasks if task.name.startswith("facts | ")} == set(ROLES)
    assert "facts | Set the aistack_proxy fact" in names


def test_skip_tags_leaves_out_the_roles_changes_never_their_checks(inventory: Path) -> None:
    tasks = listed(inventory, "--skip-tags", "docker_engine,nvidia_toolkit")
    # What is left of the two roles is their always-tagged part: the rest of their work carries their names.
    skipped = [task for task in tasks if task.role in ("docker_engine", "nvidia_toolkit")]
    assert skipped and all(task.tags == {"always"} for task in skipped), skipped
    # The other roles' tasks each carry their role's name or always (an untagged one would show TAGS: []).
    for task in tasks:
        assert task.tags & {task.role, "always"} if task.role else "always" in task.tags, task
    assert {task.name.split(" | ")[0] for task in skipped} >= {"validate", "facts"}
    assert {"app_image", "app_stack", "nginx_proxy"} <= {task.role for task in tasks if "always" not in task.tags}
    assert set(ALWAYS_OUTSIDE_ROLES) <= {task.name for task in tasks}


def _sections(tasks: list[dict[str, t.Any]]) -> t.Iterator[dict[str, t.Any]]:
    for task in tasks:
        yield task
        for section in ("block", "rescue", "always"):
            yield from _sections(task.get(section, []))


def test_the_lock_given_back_and_a_failed_hosts_outcome_are_always_tagged() -> None:
    """The block sections --list-tasks does not show: whatever the tags, the lock goes back and a failure is named."""
    plays = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    deploy = next(play for play in plays if str(play.get("name", "")).startswith("Deploy the AI stack"))
    [block] = [task for task in deploy["tasks"] if "block" in task]
    for task in block["rescue"] + block["always"]:
        include = task["ansible.builtin.include_role"]
        assert task["tags"] == ["always"] and include["apply"]["tags"] == ["always"], task["name"]
    assert {task["ansible.builtin.include_role"]["tasks_from"] for task in block["always"]} == {"unlock.yml"}
    assert {task["ansible.builtin.include_role"]["tasks_from"] for task in block["rescue"]} == {"rollout_end.yml"}
    # Every task file the rollout includes from app_stack carries always into what it loads.
    for task in _sections(deploy["pre_tasks"] + deploy["tasks"]):
        include = task.get("ansible.builtin.include_role")
        if include and "tasks_from" in include:
            assert task.get("tags") == ["always"] and include["apply"]["tags"] == ["always"], task["name"]
