"""site.yml through ansible-runner, the engine AWX and Automation Platform run a job with.

A private data directory laid out as AWX lays one out for a job: ``project``
is a checkout of this collection (its ``ansible.cfg`` finds the collection
through ``.collections/``, as in a project synced from git), ``inventory/``
holds the hosts and their group vars, with the app's secret encrypted with
ansible-vault under a vault ID, ``env/extravars`` the job template's extra
variables (what a survey asks: the release, where the audit log goes). The
vault password is given as AWX gives a vault credential: ``--vault-id
<id>@prompt`` on the command line, the password answered to ansible-vault's
prompt by runner (``passwords``), never written into the directory.

The host is one Debian 13 test host that runs its own dockerd
(``testhost:debian13-docker``, started with molecule/shared's tasks) and the
stack the cheapest real one the collection deploys: the API of
``tests/integration/byod-app`` built from the app's own Dockerfile
(``app_image_dockerfile: project``, standard library only, no package index)
on the controller, loaded on the host, behind app_stack's health gate. The
whole site.yml runs: pre-flight, lock, docker_engine, nvidia_toolkit (no GPU:
nothing), app_image, app_stack, the audit record and the summary.

Proven: the run succeeds; the stack is healthy and answers; runner's
artifacts (status, rc, job events, stats) report the host's results; the
vault secret reached the host's ``.env`` and nowhere in runner's output; a
second job, a release job template whose Skip Tags leave the engine alone
(``docker_engine,nvidia_toolkit``), is changed=0, runs none of the engine
work the first job did and gives the deploy lock back; each job appended its
record to the audit log.
Containers, networks and images are named aistack-runner-* and removed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "tests" / "harness"
APP = Path(__file__).resolve().parent / "byod-app"
TESTHOST = "aistack-test/testhost:debian13-docker"
VAULT_ID = "aistack"
# How AWX answers ansible-playbook's prompt for a vault credential with a vault ID.
VAULT_PROMPT = rf"Vault password \({VAULT_ID}\):\s*?$"
# The roles a release job template skips (AWX's Skip Tags field).
SKIPPED = ("docker_engine", "nvidia_toolkit")


class Fleet(t.NamedTuple):
    run: str  # aistack-runner-<id>: the prefix of everything the test makes
    host: str
    network: str


def _ansible_playbook(play: str, tmp: Path) -> None:
    path = tmp / f"hosts-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(play)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _hosts_play(fleet: Fleet) -> str:
    platforms = [{"name": fleet.host, "image": TESTHOST}]
    tasks = str(REPO / "molecule" / "shared" / "tasks" / "testhosts_up.yml")
    return yaml.safe_dump(
        [
            {
                "name": "Test hosts",
                "hosts": "localhost",
                "connection": "local",
                "gather_facts": False,
                "tasks": [
                    {
                        "name": "Hosts",
                        "ansible.builtin.include_tasks": tasks,
                        "vars": {
                            "testhost_platforms": platforms,
                            "testhost_network": fleet.network,
                            "testhost_label": fleet.run,
                        },
                    }
                ],
            }
        ]
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, docker_client: t.Any) -> t.Iterator[Fleet]:
    """One test host on its own network; removed afterwards with the images the test built."""
    subprocess.run([str(HARNESS / "images" / "build-testhost.sh"), "13-docker"], check=True)
    subprocess.run([str(HARNESS / "images" / "build-base-images.sh"), "python"], check=True)
    run = f"aistack-runner-{uuid.uuid4().hex[:8]}"
    fleet_ = Fleet(run, f"{run}-1", run)
    tmp = tmp_path_factory.mktemp("runner-hosts")
    try:
        _ansible_playbook(_hosts_play(fleet_), tmp)
        yield fleet_
    finally:
        # testhosts_down.yml's two steps, without an ansible-playbook start: the host with its volumes, the network.
        subprocess.run(["docker", "rm", "--force", "--volumes", fleet_.host], capture_output=True, check=False)
        subprocess.run(["docker", "network", "rm", fleet_.network], capture_output=True, check=False)
        for image in docker_client.images.list(filters={"label": f"io.aistack.test.app={run}"}):
            for tag in image.tags:
                docker_client.images.remove(tag, force=True)
        for image in docker_client.images.list(all=True, filters={"label": f"io.aistack.test.app={run}"}):
            try:
                docker_client.images.remove(image.id, force=True)
            except Exception:  # pylint: disable=broad-exception-caught  # gone with another one
                pass


def _vault(value: str, password: str) -> str:
    from ansible.parsing.vault import VaultLib, VaultSecret  # pylint: disable=import-outside-toplevel

    vault = VaultLib([(VAULT_ID, VaultSecret(password.encode()))])
    return vault.encrypt(value, vault_id=VAULT_ID).decode()


class _Vault(yaml.SafeDumper):
    """Writes a str subclass as an ``!vault |`` block, as ansible-vault encrypt_string does."""


class _Encrypted(str):
    pass


_Vault.add_representer(_Encrypted, lambda dumper, data: dumper.represent_scalar("!vault", str(data), style="|"))


@pytest.fixture(scope="module")
def job(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, t.Any]:
    """The private data directory of a job template and its vault credential's password."""
    pdd = tmp_path_factory.mktemp("runner-job")
    password, secret = uuid.uuid4().hex, f"runner-secret-{uuid.uuid4().hex}"
    (pdd / "project").symlink_to(REPO, target_is_directory=True)
    (pdd / "inventory" / "group_vars").mkdir(parents=True)
    (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump({"aistack": {"hosts": {fleet.host: None}}}))
    group_vars = {
        # The test host is a container on this machine, reached with `docker exec` (a real inventory: SSH).
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_pipelining": True,
        "docker_engine_install_source": "distro",
        "aistack_app_name": "runner",
        "app_image_name": f"{fleet.run}/app",
        "app_image_source": "build_controller",
        "app_image_dockerfile": "project",
        "app_image_context_src": str(APP),
        "app_image_targets": ["api"],
        "app_image_build_args": {"TEST_RUN": fleet.run},
        "app_image_controller_dir": str(pdd / "controller"),
        "app_stack_services": {"api": {}},
        "app_stack_required_secrets": ["APP_SECRET_KEY"],
        "app_stack_secrets": {"APP_SECRET_KEY": "{{ vault_app_secret_key }}"},
        "vault_app_secret_key": _Encrypted(_vault(secret, password)),
    }
    (pdd / "inventory" / "group_vars" / "aistack.yml").write_text(
        "---\n" + yaml.dump(group_vars, Dumper=_Vault, sort_keys=False)
    )
    (pdd / "env").mkdir()
    audit = pdd / "audit" / "audit.jsonl"
    # What a job template's extra variables or its survey give.
    (pdd / "env" / "extravars").write_text(
        yaml.safe_dump({"aistack_release": "1.0.0", "aistack_audit_log": str(audit)})
    )
    return {"dir": pdd, "password": password, "secret": secret, "audit": audit}


def _run_job(job: dict[str, t.Any], ident: str, **kwargs: t.Any) -> t.Any:
    import ansible_runner  # pylint: disable=import-outside-toplevel

    with pytest.MonkeyPatch.context() as patch:
        # The project alone finds the collection (its ansible.cfg), not the test harness's collection path.
        patch.delenv("ANSIBLE_COLLECTIONS_PATH", raising=False)
        patch.delenv("ANSIBLE_COLLECTIONS_PATHS", raising=False)
        return ansible_runner.run(
            private_data_dir=str(job["dir"]),
            playbook="site.yml",
            ident=ident,
            cmdline=f"--vault-id {VAULT_ID}@prompt",
            passwords={VAULT_PROMPT: job["password"]},
            quiet=True,
            **kwargs,
        )


def _role_task(event_data: dict[str, t.Any]) -> tuple[str, str]:
    return event_data.get("role") or "", event_data.get("task") or ""


def _stdout(result: t.Any) -> str:
    return Path(result.config.artifact_dir, "stdout").read_text()


def _exec(host: str, *argv: str) -> str:
    proc = subprocess.run(["docker", "exec", host, *argv], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{argv}: {proc.stderr}"
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def first(job: dict[str, t.Any]) -> t.Any:
    return _run_job(job, "deploy-1")


def test_a_job_deploys_site_yml_and_runners_artifacts_report_the_host(
    first: t.Any, fleet: Fleet, job: dict[str, t.Any]
) -> None:
    assert first.status == "successful" and first.rc == 0, _stdout(first)[-6000:]
    artifacts = Path(first.config.artifact_dir)
    assert (artifacts / "status").read_text() == "successful" and (artifacts / "rc").read_text() == "0"
    # What AWX shows per host: the play recap in the stats, every task's event in job_events.
    assert first.stats["changed"].get(fleet.host, 0) > 0 and first.stats["ok"][fleet.host] > 0
    assert not first.stats["failures"] and not first.stats["dark"]
    events = [json.loads(path.read_text()) for path in sorted((artifacts / "job_events").glob("*.json"))]
    on_host = {
        event["event_data"].get("task")
        for event in events
        if event["event"] == "runner_on_ok" and event["event_data"].get("host") == fleet.host
    }
    assert any(task and "deploy | " in task for task in on_host), sorted(filter(None, on_host))
    assert not any(
        event["event"] == "runner_on_failed" and not event["event_data"].get("ignore_errors") for event in events
    )
    # The vault credential decrypted the secret: it is in the release's .env and in none of runner's output.
    assert f"APP_SECRET_KEY='{job['secret']}'" in _exec(fleet.host, "cat", "/opt/aistack/runner/current/.env")
    assert job["secret"] not in _stdout(first)
    assert not any(job["secret"] in path.read_text() for path in (artifacts / "job_events").glob("*.json"))


def test_the_stack_the_job_deployed_is_healthy_and_answers(first: t.Any, fleet: Fleet) -> None:
    assert first.rc == 0
    assert (
        _exec(fleet.host, "docker", "compose", "-p", "runner", "ps", "--format", "{{.Service}}={{.Health}}")
        == "api=healthy"
    )
    answer = _exec(
        fleet.host,
        "python3",
        "-c",
        "import urllib.request; "
        "print(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=10).read().decode())",
    )
    assert json.loads(answer) == {"app": "byod", "path": "/health"}


def test_a_second_job_with_skip_tags_changes_nothing_and_both_are_in_the_audit_log(
    first: t.Any, fleet: Fleet, job: dict[str, t.Any]
) -> None:
    """A release job template as an operator sets one up: AWX's Skip Tags field leaves the engine alone."""
    assert first.rc == 0
    second = _run_job(job, "deploy-2", skip_tags=",".join(SKIPPED))
    assert second.status == "successful" and second.rc == 0, _stdout(second)[-6000:]
    ran = [
        event["event_data"]
        for event in second.events
        if event["event"] in ("runner_on_ok", "runner_on_skipped") and event["event_data"].get("host") == fleet.host
    ]
    changed = [data["task"] for data in ran if data.get("res", {}).get("changed")]
    assert second.stats["changed"].get(fleet.host, 0) == 0, changed
    roles = {data.get("role") for data in ran}
    # The stack was checked and deployed again (a no-op). Of the skipped roles, only their always-tagged part
    # ran (input checks, facts): none of the work the first job did with them, such as configuring the engine.
    assert {"app_image", "app_stack", "docker_engine"} <= roles, roles
    engine_work = {
        _role_task(event["event_data"])
        for event in first.events
        if event["event"] == "runner_on_ok"
        and event["event_data"].get("role") in SKIPPED
        and event["event_data"]["res"].get("changed")
    }
    assert engine_work, "the first job changed nothing with docker_engine or nvidia_toolkit"
    ran_again = engine_work & {_role_task(data) for data in ran}
    assert not ran_again, ran_again
    # Whatever the tags, the job took the deploy lock and gave it back (site.yml's always section, tagged always).
    assert [data["res"].get("stdout") for data in ran if data["task"] == "unlock | Give the deploy lock back"] == [
        "released"
    ]
    # The run's summary, in runner's stdout as in AWX's job output.
    assert "Release 1.0.0, deploy:" in _stdout(second) and f"Audit log: {job['audit']}" in _stdout(second)
    records = [json.loads(line) for line in job["audit"].read_text().splitlines()]
    assert [record["action"] for record in records] == ["deploy", "deploy"]
    for record in records:
        assert record["release"] == "1.0.0" and record["result"] == "ok", record
        assert record["hosts"][fleet.host]["result"] == "deployed" and record["hosts"][fleet.host]["after"] == "1.0.0"
    assert records[1]["hosts"][fleet.host]["before"] == "1.0.0", records[1]
