"""A rollout across a fleet: a canary host, then batches; it stops on failure; every run leaves an audit record.

The rollout's own task files (app_stack's rollout_check.yml, rollout_start.yml,
rollout_end.yml) and playbooks/report.yml run here exactly as site.yml and
rollback.yml run them, over five inventory hosts that are this machine
(connection local). Only the roles are replaced by one stand-in task that
fails on the hosts a case names, so each run takes seconds and touches
nothing but a temporary directory; the real deploys and rollbacks through
the same files are proven on Docker-in-Docker hosts by the releases scenario.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
HOSTS = ["web-1", "web-2", "web-3", "web-4", "web-5"]
BATCHES = "aistack_batches | default(aistack_serial | default([1, '25%', '100%'])) | to_json"

# site.yml's rollout, with the roles replaced by a stand-in (see the module's docstring).
PLAYBOOK = f"""
- name: "Check every host before any change, to deploy in batches {{{{ {BATCHES} }}}}"
  hosts: aistack
  gather_facts: false
  any_errors_fatal: true
  tasks:
    - name: Check the rollout's settings
      ansible.builtin.include_role: {{name: aistack.deploy.app_stack, tasks_from: rollout_check.yml}}

- name: "Deploy the AI stack in batches {{{{ {BATCHES} }}}}"
  hosts: aistack
  gather_facts: false
  serial: "{{{{ aistack_batches | default(aistack_serial | default([1, '25%', '100%'])) }}}}"
  max_fail_percentage: 100
  pre_tasks:
    - name: Start this host's turn, unless an earlier batch failed
      ansible.builtin.include_role: {{name: aistack.deploy.app_stack, tasks_from: rollout_start.yml}}
  tasks:
    - name: Deploy
      block:
        - name: Stand-in for a host lost in the middle of its deploy (its connection goes away)
          ansible.builtin.ping:
          vars: {{ansible_connection: ssh, ansible_host: 127.0.0.1, ansible_port: 9, ansible_ssh_timeout: 5}}
          when: inventory_hostname in lose_on
        - name: Stand-in for the roles
          ansible.builtin.fail:
            msg: "Release 2.0 of demo did not become healthy: api turned unhealthy (stand-in)"
          when: inventory_hostname in fail_on
        - name: Record that the release reached this host
          ansible.builtin.include_role: {{name: aistack.deploy.app_stack, tasks_from: rollout_end.yml}}
          vars: {{__aistack_deployed: "2.0"}}
      rescue:
        - name: Record why the release did not reach this host
          ansible.builtin.include_role: {{name: aistack.deploy.app_stack, tasks_from: rollout_end.yml}}
          vars:
            __aistack_failed: true
            __aistack_reason: "{{{{ ansible_failed_result.msg }}}}"

- name: Record the rollout and sum it up
  ansible.builtin.import_playbook: {REPO}/playbooks/report.yml
  vars:
    __aistack_action: deploy
"""


class Run(t.NamedTuple):
    rc: int
    output: str
    audit: list[dict[str, t.Any]]


def rollout(
    tmp: Path,
    *extra: dict[str, t.Any],
    fail_on: t.Sequence[str] = (),
    lose_on: t.Sequence[str] = (),
    inventory_vars: dict[str, t.Any] | None = None,
    limit: str = "",
) -> Run:
    log = tmp / "state" / "audit.jsonl"
    hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable} for name in HOSTS}
    inventory = {
        "aistack": {
            "hosts": hosts,
            "vars": {
                "aistack_release": "2.0",
                "aistack_audit_log": str(log),
                "fail_on": list(fail_on),
                "lose_on": list(lose_on),
                **(inventory_vars or {}),
            },
        }
    }
    (tmp / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp / "site.yml").write_text(PLAYBOOK)
    args = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(tmp / "inventory.yml"),
        str(tmp / "site.yml"),
    ]
    for value in extra:
        args += ["-e", json.dumps(value)]
    if limit:
        args += ["--limit", limit]
    env = dict(
        os.environ,
        NO_COLOR="1",
        ANSIBLE_FORCE_COLOR="false",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_DEPRECATION_WARNINGS="false",
    )
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    audit = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    # Older ansible-core prints messages only inside JSON: unescape the quotes for the assertions.
    return Run(proc.returncode, (proc.stdout + proc.stderr).replace('\\"', '"'), audit)


def test_a_good_release_goes_to_a_canary_then_batches_and_is_recorded(tmp_path: Path) -> None:
    run = rollout(tmp_path)
    assert run.rc == 0, run.output[-3000:]
    # Default batches over five hosts: the canary, then 25 % (one host), then the other three.
    assert run.output.count('PLAY [Deploy the AI stack in batches [1, "25%", "100%"]]') == 3
    [record] = run.audit
    # The canary started first, then the one-host batch, then the rest.
    started = {host: entry["started"] for host, entry in record["hosts"].items()}
    assert started["web-1"] <= started["web-2"] <= min(started[host] for host in HOSTS[2:])
    assert record["action"] == "deploy" and record["release"] == "2.0" and record["result"] == "ok"
    assert record["by"] and record["controller"] and record["started"] <= record["ended"]
    assert set(record["hosts"]) == set(HOSTS)
    assert all(
        host["result"] == "deployed" and host["after"] == "2.0" and host["seconds"] >= 0
        for host in record["hosts"].values()
    )
    assert "Release 2.0, deploy:" in run.output and f"Audit log: {tmp_path}/state/audit.jsonl" in run.output
    assert oct((tmp_path / "state" / "audit.jsonl").stat().st_mode & 0o777) == "0o600"


def test_a_release_that_fails_on_the_canary_reaches_no_other_host(tmp_path: Path) -> None:
    run = rollout(tmp_path, fail_on=["web-1"])
    assert run.rc != 0
    [record] = run.audit
    assert record["result"] == "failed" and record["counts"] == {"failed": 1, "not started": 4}
    assert record["hosts"]["web-1"]["reason"].startswith("Release 2.0 of demo did not become healthy")
    for host in HOSTS[1:]:
        assert record["hosts"][host]["result"] == "not started"
        assert (
            "1 of 5 host(s) failed (web-1), more than aistack_max_fail_percentage=0" in record["hosts"][host]["reason"]
        )
    assert all(record["hosts"][host]["started"] is None for host in HOSTS[1:])  # never started
    # The failed host fails the run at the end, naming why; the others stay unchanged and are named in the summary.
    assert "failed on web-1: Release 2.0 of demo did not become healthy" in run.output
    assert not any(f"fatal: [{host}]" in run.output for host in HOSTS[1:])
    assert "web-3  - -> -" in run.output and "not started" in run.output


def test_failures_within_max_fail_percentage_let_the_rollout_go_on(tmp_path: Path) -> None:
    run = rollout(
        tmp_path, {"aistack_batches": [1, 1, 3]}, fail_on=["web-2"], inventory_vars={"aistack_max_fail_percentage": 20}
    )
    assert run.rc != 0  # web-2 failed, and says so
    [record] = run.audit
    assert record["counts"] == {"deployed": 4, "failed": 1}
    assert record["hosts"]["web-2"]["result"] == "failed"


def test_a_host_lost_in_the_middle_of_its_turn_stops_the_rollout_and_is_named(tmp_path: Path) -> None:
    # web-2 is lost in a batch of two: web-3 ends its turn, the last batch does not start. (A batch whose hosts
    # are all lost ends the whole run: Ansible's rule for serial plays; README, "Current limits".)
    run = rollout(tmp_path, {"aistack_batches": [1, 2, "100%"]}, lose_on=["web-2"])
    assert run.rc != 0
    [record] = run.audit
    assert record["counts"] == {"deployed": 2, "unknown": 1, "not started": 2}, record
    assert record["hosts"]["web-3"]["result"] == "deployed"
    assert record["hosts"]["web-2"]["reason"].startswith("did not finish: unreachable")
    for host in HOSTS[3:]:
        assert (
            "1 of 5 host(s) failed (web-2 (unreachable)), more than aistack_max_fail_percentage=0"
            in record["hosts"][host]["reason"]
        )
    assert "fatal: [web-4]" not in run.output


def test_a_run_limited_to_some_hosts_is_recorded_and_summed_up(tmp_path: Path) -> None:
    # --limit leaves the controller (localhost) out of every play: the record still runs, once.
    run = rollout(tmp_path, fail_on=["web-4"], limit="web-3,web-4")
    assert run.rc != 0
    [record] = run.audit
    assert set(record["hosts"]) == {"web-3", "web-4"} and record["counts"] == {"deployed": 1, "failed": 1}, record
    assert "Release 2.0, deploy:" in run.output and "failed on web-4: Release 2.0 of demo" in run.output


def test_batches_set_in_the_inventory_are_refused_before_anything_runs(tmp_path: Path) -> None:
    run = rollout(tmp_path, inventory_vars={"aistack_batches": [2, "100%"]})
    assert run.rc != 0
    assert 'aistack_batches: [2, "100%"] is set where Ansible cannot read it' in run.output
    assert '-e \'{"aistack_batches": [2, "100%"]}\'' in run.output
    assert "Stand-in for the roles" not in run.output and run.audit == []


def test_bad_rollout_settings_are_refused_naming_each_variable(tmp_path: Path) -> None:
    run = rollout(tmp_path, {"aistack_batches": [1, "0%", "many"]}, inventory_vars={"aistack_max_fail_percentage": 150})
    assert run.rc != 0
    assert "rollout: 3 problem(s)" in run.output
    assert "aistack_batches[1]: '0%': a share must be over 0 % and up to 100 %" in run.output
    assert "aistack_batches[2]: 'many' is neither a number of hosts nor a percentage" in run.output
    assert "aistack_max_fail_percentage: 150 is not a percentage from 0 to 100" in run.output
    assert "Stand-in for the roles" not in run.output and run.audit == []
