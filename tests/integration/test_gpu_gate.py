# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health gate's GPU probe against the machine's real Docker Engine (no GPU here).

What `nvidia-smi -L` in a container answers is what the engine's exec gives
back: a stand-in nvidia-smi (a shell script in the container) for a
container that sees one GPU, and none at all for an image without it, whose
exit code and message come from the engine. The synthetic GPU host of
molecule/nvidia_toolkit runs the same probe through the role's gate.
"""

from __future__ import annotations

import re
import typing as t
import uuid

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils._health import HealthWaiter

UUID = "GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45"
# A container whose PATH has an nvidia-smi that lists one GPU, as the driver's does in a container given one.
WITH_SMI = (
    "mkdir -p /tmp/bin && printf '#!/bin/sh\\necho \"GPU 0: NVIDIA GeForce RTX 4090 (UUID: "
    + UUID
    + ")\"\\n' > /tmp/bin/nvidia-smi && chmod +x /tmp/bin/nvidia-smi && exec sleep 600"
)


@pytest.fixture(scope="module")
def containers(docker_client: t.Any, busybox_image: str) -> t.Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    names = {"with_smi": f"aistack-gpuh-gate-{tag}-smi", "without": f"aistack-gpuh-gate-{tag}-nosmi"}
    healthcheck = {"test": ["CMD", "true"], "interval": 1_000_000_000, "timeout": 2_000_000_000, "retries": 3}
    try:
        docker_client.containers.run(
            busybox_image,
            ["sh", "-c", WITH_SMI],
            name=names["with_smi"],
            detach=True,
            environment={"PATH": "/tmp/bin:/bin"},
            healthcheck=healthcheck,
        )
        docker_client.containers.run(
            busybox_image, ["sleep", "600"], name=names["without"], detach=True, healthcheck=healthcheck
        )
        yield names
    finally:
        for name in names.values():
            try:
                docker_client.api.remove_container(name, force=True)
            except Exception:  # pylint: disable=broad-exception-caught
                pass


def gate(client: t.Any, name: str, gpus: list[str]) -> tuple[bool, str, list[dict[str, t.Any]]]:
    return HealthWaiter(client.api, containers=[name], timeout=60, gpus={name: gpus}).run()


def test_a_container_that_lists_exactly_its_gpu_passes(docker_client: t.Any, containers: dict[str, str]) -> None:
    ok, message, _results = gate(docker_client, containers["with_smi"], [UUID])
    assert ok, message


def test_a_container_that_sees_fewer_gpus_than_it_was_given_fails(
    docker_client: t.Any, containers: dict[str, str]
) -> None:
    ok, message, results = gate(docker_client, containers["with_smi"], [UUID, "GPU-ffff"])
    assert not ok and results[0]["reason"] == "gpu_mismatch"
    assert f"does not see exactly its GPUs: container sees 1 GPU, expected 2: {UUID}, GPU-ffff" in message


def test_without_nvidia_smi_the_gate_says_so_and_fails(docker_client: t.Any, containers: dict[str, str]) -> None:
    ok, message, results = gate(docker_client, containers["without"], ["GPU 0"])
    assert not ok and results[0]["reason"] == "gpu_mismatch"
    # The engine's exec says the program is not there: exit 126 or 127, as the runtime reports it.
    assert re.search(
        r"nvidia-smi is not in the container, so the gate cannot prove it sees its 1 GPU \(GPU 0\): "
        r"exit 12[67]: .*nvidia-smi",
        message,
    ), message
