"""Verify a rollout across four hosts (site.yml, batches, lock, audit log), in order.

Converge was the first rollout (release 1.0.0 to fresh hosts) and the
idempotence run the second. Then each story drives ansible-playbook against
the scenario's own inventory, as an operator would, and reads the audit log
(aistack_audit_log, one JSON line per run) and the hosts' containers:

1. converge went to the canary, then one host, then the other two, and
   every host runs the one image built on the controller (save/load);
2. a bad release fails on the canary, goes back there, and the other three
   hosts are untouched: the same containers, the same state.json;
3. while a run deploys the canary alone (--limit), a second run against the
   fleet is refused by the canary's deploy lock, naming its holder, and
   leaves nothing half-done;
4. a host stopped in the middle of its turn is reported and the next batch
   does not start (aistack_max_fail_percentage 0);
5. a stale lock is refused, kept, and broken only with aistack_break_lock.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
import typing as t
from datetime import datetime
from pathlib import Path

APP = "fleet"
HOSTS = [f"aistack-fleet-{n}" for n in range(1, 5)]
ROOT = f"/opt/aistack/{APP}"
LOCK = f"/run/lock/aistack-{APP}.deploy.lock"
SCENARIO = Path(__file__).resolve().parents[1]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
INVENTORY = EPHEMERAL / "inventory"
BAD = {"app_stack_env": {"LOG_LEVEL": "INFO", "MODEL_FILE": "missing.json"}}  # /health answers 503


# A release on hosts already set up, as README's "One role at a time: tags" shows: the engine's and the GPU
# toolkit's own work (about 40 rows per host and run) is converge's and idempotence's to prove.
RELEASE_ONLY = ("--skip-tags", "docker_engine,nvidia_toolkit")


def deploy(release: str, *extra: t.Any, options: t.Sequence[str] = (), background: bool = False) -> t.Any:
    """Run converge.yml (site.yml, RELEASE_ONLY) for a release; each extra is a JSON-able dict of extra variables."""
    args = [
        "ansible-playbook",
        "-i",
        str(INVENTORY),
        str(SCENARIO / "converge.yml"),
        *RELEASE_ONLY,
        *options,
        "-e",
        json.dumps({"aistack_release": release}),
    ]
    for value in extra:
        args += ["-e", json.dumps(value)]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", NO_COLOR="1")
    if background:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    start = time.monotonic()
    run = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    print(f"deploy {release} {extra} {options}: rc {run.returncode} in {time.monotonic() - start:.0f} s")
    return run


def text(run: t.Any) -> str:
    """A run's whole output, errors included (they go to stderr), unescaped and with line wrapping undone."""
    out = (run.stdout or "") + (run.stderr or "")
    return " ".join(out.replace("\\n", " ").replace('\\"', '"').split())


def records() -> list[dict[str, t.Any]]:
    return [json.loads(line) for line in (EPHEMERAL / "audit.jsonl").read_text().splitlines()]


def on(host: str, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A command on a test host (its own shell, its own Docker engine)."""
    return subprocess.run(["docker", "exec", host, "sh", "-c", command], capture_output=True, text=True, check=check)


def containers(host: str) -> list[str]:
    """The ids of the app's containers on the host, sorted."""
    out = on(host, f"docker ps -aq --no-trunc --filter label=com.docker.compose.project={APP}").stdout
    return sorted(out.split())


def state(host: str) -> dict[str, t.Any]:
    return json.loads(on(host, f"cat {ROOT}/state.json").stdout)


def current(host: str) -> str:
    return on(host, f"readlink {ROOT}/current").stdout.strip().rsplit("/", 1)[-1]


def wait_for_lock(host: str, run: subprocess.Popen[str], timeout: float = 600) -> None:
    """Until the run holds the host's deploy lock: its turn has started."""
    deadline = time.monotonic() + timeout
    while on(host, f"test -e {LOCK}", check=False).returncode != 0:
        assert run.poll() is None, (
            f"the run ended before {host}'s turn:\n{run.stdout.read()[-4000:] if run.stdout else ''}"
        )
        assert time.monotonic() < deadline, f"{host}'s turn did not start within {timeout} s"
        time.sleep(0.5)


def ended(entry: dict[str, t.Any]) -> float:
    return datetime.fromisoformat(entry["started"].replace("Z", "+00:00")).timestamp() + entry["seconds"]


def started(entry: dict[str, t.Any]) -> float:
    return datetime.fromisoformat(entry["started"].replace("Z", "+00:00")).timestamp()


def in_batches(record: dict[str, t.Any], batches: t.Sequence[t.Sequence[str]]) -> None:
    """Each batch started after the one before it ended (the record's times are whole seconds)."""
    hosts = record["hosts"]
    for earlier, later in itertools.pairwise(batches):
        last_end = max(ended(hosts[host]) for host in earlier)
        first_start = min(started(hosts[host]) for host in later)
        assert last_end <= first_start + 1, f"{later} started before {earlier} ended: {hosts}"


def test_converge_went_to_a_canary_then_one_host_then_the_rest() -> None:
    deploys = [r for r in records() if r["action"] == "deploy" and r["release"] == "1.0.0"]
    assert len(deploys) >= 2, deploys  # converge, then the idempotence run
    first, again = deploys[0], deploys[-1]
    assert first["result"] == "ok" and set(first["hosts"]) == set(HOSTS)
    assert all(h["before"] == "" and h["after"] == "1.0.0" for h in first["hosts"].values()), first
    # Default batches [1, "25%", "100%"] over four hosts: 1, 1, then 2.
    in_batches(first, [HOSTS[:1], HOSTS[1:2], HOSTS[2:]])
    assert again["result"] == "ok"
    assert all(h["before"] == "1.0.0" and h["after"] == "1.0.0" for h in again["hosts"].values()), again
    for host in HOSTS:
        assert current(host) == "1.0.0" and state(host)["current"] == "1.0.0"


def test_every_host_runs_the_image_built_once_on_the_controller() -> None:
    """app_image's controller build, loaded by save/load (the app_image scenario builds on its host)."""
    ids = set()
    for host in HOSTS:
        [image] = json.loads(on(host, "docker image inspect aistack-test/fleet-backend-api:1.0.0").stdout)
        ids.add(image["Id"])
        labels = image["Config"]["Labels"]
        assert labels["io.aistack.deploy.variant"] == "cpu" and len(labels["io.aistack.deploy.context-hash"]) == 64
        assert image["Config"]["User"] == "10001:10001"
        [api] = json.loads(on(host, f"docker inspect {' '.join(containers(host))}").stdout)
        assert api["State"]["Health"]["Status"] == "healthy", api["State"]
        assert on(host, f"docker exec {api['Id']} id -u").stdout.strip() == "10001"
        # The archive it came in is removed from the host once loaded.
        assert on(host, "ls -A /var/tmp/aistack-images 2>/dev/null || true").stdout.strip() == ""
    assert len(ids) == 1, ids  # one build, the same image everywhere


def test_a_bad_release_fails_on_the_canary_and_no_other_host_is_touched() -> None:
    before = {host: (containers(host), on(host, f"cat {ROOT}/state.json").stdout) for host in HOSTS[1:]}
    run = deploy("1.0.1", BAD)
    assert run.returncode != 0, run.stdout[-3000:]
    record = records()[-1]
    assert record["release"] == "1.0.1" and record["counts"] == {"failed": 1, "not started": 3}, record
    canary = record["hosts"]["aistack-fleet-1"]
    assert canary["result"] == "failed" and canary["before"] == "1.0.0" and canary["after"] == "1.0.0", canary
    assert "did not become healthy" in canary["reason"]
    for host in HOSTS[1:]:
        entry = record["hosts"][host]
        assert entry["result"] == "not started" and entry["started"] is None
        # What the pre-flight saw serving: the summary names it for hosts the rollout never reached.
        assert entry["before"] == entry["after"] == "1.0.0", entry
        assert "1 of 4 host(s) failed (aistack-fleet-1)" in entry["reason"]
        assert (containers(host), on(host, f"cat {ROOT}/state.json").stdout) == before[host], f"{host} was touched"
    assert current("aistack-fleet-1") == "1.0.0" and state("aistack-fleet-1")["current"] == "1.0.0"
    assert "aistack-fleet-1  1.0.0 -> 1.0.0" in run.stdout and "aistack-fleet-4  1.0.0 -> 1.0.0" in run.stdout


def test_a_second_run_is_refused_by_the_lock_and_leaves_nothing_half_done() -> None:
    # The first run deploys 1.0.2 to the canary alone (--limit: it is still recorded and summed up).
    others = {host: containers(host) for host in HOSTS[1:]}
    first = deploy("1.0.2", options=["--limit", "aistack-fleet-1"], background=True)
    try:
        wait_for_lock("aistack-fleet-1", first)
        second = deploy("1.0.2")
    finally:
        output = first.communicate(timeout=1800)[0]
    print(output[-2500:])
    assert second.returncode != 0
    refusal = text(second)
    assert "fleet on aistack-fleet-1 is being deployed by" in refusal, refusal[-3000:]
    assert "(process " in refusal and "release 1.0.2) since" in refusal
    assert "Wait for that run to end and try again; nothing has changed." in refusal
    assert first.returncode == 0, output[-4000:]
    refused, limited = records()[-2:]
    assert refused["counts"] == {"failed": 1, "not started": 3}, refused
    assert refused["hosts"]["aistack-fleet-1"]["before"] in {"1.0.0", "1.0.2"}
    assert limited["release"] == "1.0.2" and limited["result"] == "ok" and list(limited["hosts"]) == ["aistack-fleet-1"]
    # Nothing half-done: the canary runs 1.0.2 (one API container, no lock left); the refused run
    # changed nothing on the other hosts.
    assert current("aistack-fleet-1") == "1.0.2" and state("aistack-fleet-1")["current"] == "1.0.2"
    assert len(containers("aistack-fleet-1")) == 1
    for host in HOSTS:
        assert on(host, f"test -e {LOCK}", check=False).returncode != 0, f"{host} kept a lock"
    for host in HOSTS[1:]:
        assert containers(host) == others[host] and current(host) == "1.0.0"


def test_a_host_stopped_in_its_turn_is_reported_and_the_next_batch_does_not_start() -> None:
    last = "aistack-fleet-4"
    untouched = containers(last)
    # Batches of 1, 2, 1: the second host is stopped in its turn, beside the third.
    run = deploy("1.0.3", {"aistack_batches": [1, 2, 1]}, background=True)
    try:
        wait_for_lock("aistack-fleet-2", run)
        subprocess.run(["docker", "stop", "-t", "1", "aistack-fleet-2"], check=True, capture_output=True)
    finally:
        output = run.communicate(timeout=1800)[0]
    assert run.returncode != 0, output[-3000:]
    record = records()[-1]
    hosts = record["hosts"]
    assert hosts["aistack-fleet-1"]["result"] == "deployed" and hosts["aistack-fleet-3"]["result"] == "deployed", hosts
    assert hosts["aistack-fleet-3"]["before"] == "1.0.0" and hosts["aistack-fleet-3"]["after"] == "1.0.3"
    lost = hosts["aistack-fleet-2"]
    # Unreachable (no outcome after its start), or failed where a task saw the host go.
    assert lost["result"] in {"unknown", "failed"} and lost["before"] == "1.0.0", lost
    assert lost["after"] != "1.0.3"
    assert hosts[last]["result"] == "not started", hosts[last]
    assert "1 of 4 host(s) failed (aistack-fleet-2" in hosts[last]["reason"]
    assert containers(last) == untouched and current(last) == "1.0.0"
    print("\n".join(line for line in output.splitlines() if line.strip().startswith('"aistack-fleet')))


def test_a_stale_lock_is_refused_kept_and_broken_only_when_asked() -> None:
    host = "aistack-fleet-3"
    lock = {
        "user": "someone",
        "controller": "another-controller",
        "pid": 4242,
        "action": "deploy",
        "release": "0.9",
        "at": int(time.time()) - 3 * 3600,
    }
    on(host, f"printf '%s\\n' '{json.dumps(lock)}' > {LOCK}")
    untouched = containers(host)
    refused = deploy("1.0.4", options=["--limit", host])
    assert refused.returncode != 0
    assert "The lock is stale (older than app_stack_lock_max_age=7200 s)" in text(refused), refused.stdout[-3000:]
    assert "-e aistack_break_lock=true" in text(refused)
    assert records()[-1]["hosts"][host]["result"] == "failed"
    assert json.loads(on(host, f"cat {LOCK}").stdout) == lock and containers(host) == untouched
    broken = deploy("1.0.4", {"aistack_break_lock": True}, options=["--limit", host])
    assert broken.returncode == 0, broken.stdout[-3000:]
    assert "Broke the deploy lock of" in text(broken)
    assert current(host) == "1.0.4" and on(host, f"test -e {LOCK}", check=False).returncode != 0
