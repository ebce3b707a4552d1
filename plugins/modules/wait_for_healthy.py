#!/usr/bin/python
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wait_for_healthy
short_description: Wait until Docker containers or a compose project are healthy, failing fast
version_added: 0.1.0
description:
  - Waits until the given containers, or the containers of a compose project, are healthy.
  - Driven by Docker's event stream rather than by polling. It subscribes to the events first, then inspects the containers,
    then reacts to each event, so it returns as soon as the last container turns healthy.
  - Fails at once, not at the timeout, when a container turns unhealthy, exits, is killed for running out of memory, is removed,
    is paused, or restarts (a restart loop is a failure). A container that restarted before the wait began is accepted;
    its restart count is reported on failure.
  - A container without a healthcheck is never a silent pass. O(without_healthcheck) says whether that fails the wait or
    whether running is enough.
  - On failure it returns, for each failed container, its status, the health-probe log, the last lines of its log, its exit
    code, whether it was OOM-killed and its restart count, so the cause is visible without logging in to the host.
  - If the event stream breaks (for example while the daemon restarts), the module inspects the containers every half
    second and reopens the stream as soon as the engine answers again.
  - Before it blames a failure on a container, the module asks the engine once whether it still answers (C(/_ping)).
    If the engine stopped during the wait (C(systemctl stop docker), which without live-restore stops the containers
    first), or went away and came back (its event stream ended as the containers failed, or it refused the inspects
    before the one that found the failure), the message names the engine as the cause, the containers' state follows
    as what was last seen, and RV(engine_stopped) is V(true). Docker emits no event of its own shutdown.
  - The module only reads state, so it runs the same in check mode.
author:
  - aistack.deploy developers (@aistack)
extends_documentation_fragment:
  - aistack.deploy.docker
  - aistack.deploy.attributes
  - aistack.deploy.attributes.actiongroup_docker
  - aistack.deploy.attributes.info_module
  - aistack.deploy.attributes.posix
attributes:
  check_mode:
    details:
      - The module never changes anything; it waits in check mode too.
options:
  containers:
    description:
      - Names or IDs of the containers to wait for.
      - Each must exist when the module starts; a missing one fails the wait.
      - Exactly one of O(containers) and O(project) is required.
    type: list
    elements: str
  project:
    description:
      - A compose project whose containers to wait for, found by their label C(com.docker.compose.project).
      - One-off containers (C(docker compose run), label C(com.docker.compose.oneoff=True)) are left out.
      - The wait fails if the project has no container. Containers that exited, even with code 0, fail the wait;
        leave one-shot services (migrations, for example) out with O(services).
    type: str
  services:
    description:
      - With O(project), wait only for the containers of these services (label C(com.docker.compose.service)).
      - Every service listed must have at least one container, or the wait fails.
    type: list
    elements: str
  without_healthcheck:
    description:
      - What a container without a healthcheck means.
      - V(fail) fails the wait at once and names the container.
      - V(running) accepts it as soon as it is running.
    type: str
    choices: [fail, running]
    default: fail
  wait_timeout:
    description:
      - How long to wait, in seconds, for every container to be ready.
      - V(0) judges the current state once without waiting.
      - This is the wait, not the time allowed for one API request; that is O(timeout).
      - Before version 0.2.0 the wait was called O(timeout).
    type: int
    default: 300
    version_added: 0.2.0
  gpus:
    description:
      - Also prove that GPU containers see their GPUs, once every container waited for is ready.
      - A service (with O(project)) or container name to the GPUs each of its containers was given, one entry per
        GPU - its UUID as C(nvidia-smi -L) prints it (V(GPU-5e2b7a3c-...)), or any other label where the UUID is not
        known (then only their number counts).
      - A MIG device is given by its UUID (V(MIG-7d9e2c4a-...)), which C(nvidia-smi -L) lists under its GPU; a GPU
        listed with MIG devices under it that is not given whole counts as those MIG devices.
      - The module runs C(nvidia-smi -L) inside each such container (the NVIDIA runtime mounts it into a GPU
        container, with CDI from the specification) and fails the wait with RV(containers[].reason=gpu_mismatch) when the
        container lists another number of GPUs or other GPUs than these - C(container sees 0 GPUs, expected 1) for
        one that answers its health check but would compute on the CPU - or when C(nvidia-smi) is not in the
        container or cannot run there, which is said, never passed.
    type: dict
    version_added: 0.2.0
  log_lines:
    description:
      - How many of the last lines of a failed container's log to return.
    type: int
    default: 50
  timeout:
    description:
      - The maximum time in seconds to wait for a response to one API request, as in the community.docker modules.
      - If not set in the task, the environment variable E(DOCKER_TIMEOUT) is used, then the default.
      - Before version 0.2.0 it was called O(api_timeout), kept as an alias; O(timeout) was the wait, now O(wait_timeout).
    type: int
    default: 60
    aliases: [api_timeout]
notes:
  - Docker emits C(health_status) events only on a change and none for C(starting), which is why the stream is opened before
    the first inspect.
  - While the engine does not answer, the module keeps trying until O(wait_timeout), so that a daemon restart with live-restore
    does not fail the wait. With socket activation (C(docker.socket)), any request to a stopped engine, the module's
    included, starts it again.
  - Unlike M(community.docker.docker_container) with O(community.docker.docker_container#module:state=healthy), which waits
    through C(unhealthy) until its timeout and treats a container without healthcheck as healthy, this module fails at the first
    C(unhealthy) and never passes a container without healthcheck unless told to.
seealso:
  - module: community.docker.docker_container
  - module: community.docker.docker_container_info
"""

EXAMPLES = r"""
---
- name: Wait for the API and worker containers to be healthy
  aistack.deploy.wait_for_healthy:
    containers:
      - horus-api
      - horus-worker
    wait_timeout: 120

- name: Wait for a whole compose project, accepting Redis without a healthcheck once it runs
  aistack.deploy.wait_for_healthy:
    project: horus
    without_healthcheck: running
  register: health

- name: Wait for two services of a project on a remote engine over TLS
  aistack.deploy.wait_for_healthy:
    project: argus
    services:
      - api
      - worker
    docker_host: tcp://192.0.2.10:2376
    validate_certs: true
    ca_path: /etc/aistack/docker-tls/ca.pem
    client_cert: /etc/aistack/docker-tls/cert.pem
    client_key: /etc/aistack/docker-tls/key.pem

- name: Gate one worker per GPU, proving that each sees its own GPU and no other
  aistack.deploy.wait_for_healthy:
    project: demeter
    services: [worker-gpu0, worker-gpu1]
    gpus:
      worker-gpu0: [GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45]
      worker-gpu1: [GPU-9a1d0c2e-7b3f-4e5d-8c6b-1f2e3d4c5b6a]

- name: Gate a release and show why it failed
  block:
    - name: Wait for the new release to be healthy
      aistack.deploy.wait_for_healthy:
        project: demeter
        services: [api, worker]
        wait_timeout: 180
      register: health
  rescue:
    - name: Show what the failed containers said
      ansible.builtin.debug:
        msg: "{{ health.containers | selectattr('reason', 'defined') }}"
"""

RETURN = r"""
containers:
  description:
    - One entry per container waited for, in the order given (by name in project mode).
    - The keys from RV(containers[].reason) on are present only for containers that failed the wait.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The container's name (as given, when it does not exist).
      type: str
      returned: always
      sample: horus-api-1
    id:
      description: The container's full ID; V(null) if it does not exist.
      type: str
      returned: always
      sample: 5f1b6c7d9e0a5f1b6c7d9e0a5f1b6c7d9e0a5f1b6c7d9e0a5f1b6c7d9e0a1234
    service:
      description: The compose service (label C(com.docker.compose.service)), or V(null).
      type: str
      returned: always
      sample: api
    status:
      description: The container's status when the wait ended (C(running), C(exited), C(restarting), ...).
      type: str
      returned: always
      sample: running
    health:
      description: The health status when the wait ended, or V(null) without a healthcheck.
      type: str
      returned: always
      sample: healthy
    waited_for:
      description:
        - V(healthy) for a container with a healthcheck, V(running) for one without under O(without_healthcheck=running),
          V(null) for one without under O(without_healthcheck=fail).
      type: str
      returned: always
      sample: healthy
    ready:
      description: Whether the container reached what was waited for.
      type: bool
      returned: always
      sample: true
    elapsed:
      description: Seconds from the start of the wait until the container was ready or failed (or until the end of the wait).
      type: float
      returned: always
      sample: 3.142
    reason:
      description: Why the container failed the wait.
      type: str
      returned: failure
      choices: [unhealthy, exited, oom_killed, removed, restarted, paused, no_healthcheck, not_found, timeout, gpu_mismatch]
      sample: unhealthy
    detail:
      description: More about the reason, such as the exit code or the restart count; may be empty.
      type: str
      returned: failure
      sample: with code 1
    health_log:
      description: The health-probe results Docker keeps (the last five), oldest first.
      type: list
      elements: dict
      returned: failure
      contains:
        exit_code:
          description: The probe's exit code (0 healthy, 1 unhealthy).
          type: int
          sample: 1
        output:
          description: The probe's output (Docker keeps at most 4096 bytes).
          type: str
          sample: "wget: can't connect to remote host (127.0.0.1): Connection refused"
        start:
          description: When the probe started.
          type: str
          sample: "2026-05-08T10:00:01.123456789Z"
        end:
          description: When the probe ended.
          type: str
          sample: "2026-05-08T10:00:01.223456789Z"
    log_tail:
      description: The last O(log_lines) lines of the container's log (standard output and error); empty once it is removed.
      type: list
      elements: str
      returned: failure
      sample: ["Traceback (most recent call last):", "ModuleNotFoundError: No module named 'torch'"]
    exit_code:
      description: The container's last exit code.
      type: int
      returned: failure
      sample: 1
    oom_killed:
      description: Whether the kernel killed the container for running out of memory.
      type: bool
      returned: failure
      sample: false
    restart_count:
      description: How often Docker has restarted the container.
      type: int
      returned: failure
      sample: 0
elapsed:
  description: Seconds the whole wait took.
  returned: always
  type: float
  sample: 3.151
report:
  description:
    - For each container that failed the wait, one readable block of lines, once; V("") when the wait succeeded.
    - A block gives the container's name and service, the reason (unhealthy, exited with its code, restarting with
      its restart count and last exit code, ...), the useful line of the last health probe (its last non-empty
      output line, not the whole traceback) and the last lines of its log (at most 15, and at most O(log_lines)).
    - Meant for a task's failure message or a C(debug) of its lines, in place of RV(containers) as JSON.
  returned: always
  type: str
  sample: |-
    horus-api-1 (service api): unhealthy (status running)
      last probe: exit 1: ConnectionRefusedError: [Errno 111] Connection refused
      last 2 log line(s):
        INFO:     Started server process [1]
        ERROR:    Application startup failed. Exiting.
  version_added: 0.2.0
stream_interruptions:
  description: How often the event stream broke or could not be opened, so that the module inspected instead.
  returned: always
  type: int
  sample: 0
engine_stopped:
  description:
    - Whether the Docker engine went away during the wait, as the module found when the wait failed.
    - V(true) when the engine did not answer C(/_ping) then, or answered again only after ending the event stream
      as the containers failed, or after refusing the inspects before the one that found the failure.
    - When V(true), the message names the engine as the cause, and a container's exit in RV(containers) is most
      likely a consequence of the engine stopping. The engine may be running again by then (a restart, or socket
      activation); whether a rollback can be tried is for the caller to check.
    - Always V(false) when the wait succeeds.
  returned: always
  type: bool
  sample: false
  version_added: 0.2.0
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.deploy.plugins.module_utils._docker_client import (
    DOCKER_COMMON_ARGS,
    DockerException,
    get_client,
)
from ansible_collections.aistack.deploy.plugins.module_utils._health import (
    REPORT_LOG_LINES,
    HealthWaiter,
    engine_host,
    failure_report,
)


def main() -> None:
    argument_spec = {
        **DOCKER_COMMON_ARGS,
        # The API request timeout, as in community.docker; api_timeout is its name before 0.2.0.
        "timeout": {**DOCKER_COMMON_ARGS["timeout"], "aliases": ["api_timeout"]},
        "containers": {"type": "list", "elements": "str"},
        "project": {"type": "str"},
        "services": {"type": "list", "elements": "str"},
        "without_healthcheck": {"type": "str", "choices": ["fail", "running"], "default": "fail"},
        "wait_timeout": {"type": "int", "default": 300},
        "log_lines": {"type": "int", "default": 50},
        "gpus": {"type": "dict"},
    }
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("containers", "project")],
        required_one_of=[("containers", "project")],
        required_by={"services": "project"},
        supports_check_mode=True,
    )
    params = module.params
    if params["containers"] is not None and not params["containers"]:
        module.fail_json(msg="containers is empty: name at least one container to wait for")
    if params["project"] is not None and not params["project"]:
        module.fail_json(msg="project is empty: name the compose project to wait for")
    if not all(
        isinstance(gpus, list) and all(isinstance(gpu, (str, int)) for gpu in gpus)
        for gpus in (params["gpus"] or {}).values()
    ):
        module.fail_json(
            msg="gpus: each service or container must map to a list of the GPUs it was given "
            "(their UUIDs, or labels where the UUIDs are not known)"
        )
    if params["wait_timeout"] < 0 or params["log_lines"] < 0:
        module.fail_json(msg="wait_timeout and log_lines must not be negative")

    client = get_client(module)
    started = time.monotonic()
    waiter = HealthWaiter(
        client.api,
        containers=params["containers"],
        project=params["project"],
        services=params["services"],
        without_healthcheck=params["without_healthcheck"],
        timeout=params["wait_timeout"],
        log_lines=params["log_lines"],
        host=engine_host(params["docker_host"]),
        gpus=params["gpus"],
    )
    try:
        ok, message, results = waiter.run()
    except DockerException as exc:
        module.fail_json(msg=f"Error talking to the Docker Engine: {exc}", exception=traceback.format_exc())
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(msg=f"Unexpected error while waiting: {exc}", exception=traceback.format_exc())
    result = {
        "changed": False,
        "containers": results,
        "elapsed": round(time.monotonic() - started, 3),
        "stream_interruptions": waiter.stream_interruptions,
        "engine_stopped": waiter.engine_stopped,
        "report": failure_report(results, min(REPORT_LOG_LINES, params["log_lines"])),
    }
    if not ok:
        module.fail_json(msg=message, **result)
    module.exit_json(msg=message, **result)


if __name__ == "__main__":
    main()
