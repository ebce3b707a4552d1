# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""app_stack's deploy lock (tasks lock.yml and unlock.yml) as site.yml and rollback.yml use it.

Each case is a real ansible-playbook run on this machine (connection local)
with the lock file under tmp_path: a play that takes the lock, does its work
and gives the lock back in an always block, as the playbooks do.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Take the lock
      ansible.builtin.include_role: {{name: aistack.deploy.app_stack, tasks_from: lock.yml}}
    - name: Work, holding the lock
      block:
        - name: Show the lock
          ansible.builtin.debug:
            msg: "{{{{ lookup('ansible.builtin.file', '{lock}', errors='ignore') }}}}"
      always:
        - name: Give the lock back
          ansible.builtin.include_role: {{name: aistack.deploy.app_stack, tasks_from: unlock.yml}}
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    lock = tmp_path / "run" / "demo.deploy.lock"
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(lock=lock))
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-e",
        "app_stack_name=demo",
        "-e",
        f"app_stack_lock_path={lock}",
        str(playbook),
        *args,
    ]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", NO_COLOR="1")
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def plant(tmp_path: Path, pid: int, controller: str | None = None, age_s: int = 0) -> Path:
    lock = tmp_path / "run" / "demo.deploy.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(
        json.dumps(
            {
                "user": "bob",
                "controller": controller or socket.gethostname(),
                "pid": pid,
                "action": "rollback",
                "release": "2.0",
                "at": int(time.time()) - age_s,
            }
        )
        + "\n"
    )
    return lock


def test_a_free_lock_is_taken_and_given_back(tmp_path: Path) -> None:
    done = run(tmp_path)
    assert done.returncode == 0, done.stdout
    assert '\\"action\\": \\"deploy\\"' in done.stdout  # what the work saw in the lock: this run
    assert not (tmp_path / "run" / "demo.deploy.lock").exists()


def test_a_run_while_a_live_run_holds_the_lock_is_refused_and_leaves_it(tmp_path: Path) -> None:
    lock = plant(tmp_path, os.getpid())  # this test's process: alive
    before = lock.read_text()
    done = run(tmp_path)
    assert done.returncode != 0
    assert (
        f"demo on localhost is being rolled back by bob@{socket.gethostname()} (process {os.getpid()},"
        " release 2.0)" in done.stdout
    )
    assert "Wait for that run to end and try again; nothing has changed." in done.stdout
    assert "Show the lock" not in done.stdout and lock.read_text() == before


def test_a_lock_whose_process_is_gone_is_stale_and_stays_until_broken(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = plant(tmp_path, dead.pid)
    done = run(tmp_path)
    assert done.returncode != 0
    assert f"The lock is stale (its process {dead.pid} on {socket.gethostname()} is gone)" in done.stdout
    assert "-e aistack_break_lock=true" in done.stdout and lock.exists()
    broken = run(tmp_path, "-e", "aistack_break_lock=true")
    assert broken.returncode == 0, broken.stdout
    assert "Broke the deploy lock of" in broken.stdout and '"user": "bob"' in broken.stdout.replace('\\"', '"')
    assert not lock.exists()


def test_an_old_lock_from_another_controller_is_stale(tmp_path: Path) -> None:
    plant(tmp_path, 1, controller="elsewhere", age_s=9000)
    done = run(tmp_path)
    assert done.returncode != 0
    assert "The lock is stale (older than app_stack_lock_max_age=7200 s)" in done.stdout


def test_check_mode_takes_nothing_and_is_refused_by_a_lock(tmp_path: Path) -> None:
    checked = run(tmp_path, "--check")
    assert checked.returncode == 0, checked.stdout
    assert not (tmp_path / "run" / "demo.deploy.lock").exists()
    lock = plant(tmp_path, os.getpid())
    refused = run(tmp_path, "--check")
    assert refused.returncode != 0 and "is being rolled back by bob@" in refused.stdout and lock.exists()


def test_a_negative_lock_age_is_refused_naming_the_variable(tmp_path: Path) -> t.Any:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            "app_stack_lock_max_age=-1",
            "-e",
            "app_stack_release=1.0.0",
            str(write_validate_play(tmp_path)),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, NO_COLOR="1"),
        check=False,
    )
    assert done.returncode != 0
    assert "app_stack_lock_max_age: must be 1 or more (seconds), got" in done.stdout


def write_validate_play(tmp_path: Path) -> Path:
    path = tmp_path / "validate.yml"
    path.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the stack's input as site.yml does
      ansible.builtin.include_role: {name: aistack.deploy.app_stack, tasks_from: validate.yml}
      vars: {__app_stack_input_only: true}
""")
    return path
