"""Verify nvidia_toolkit on the synthetic GPU host and the CPU host (testinfra)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

GPU_HOST = "aistack-nvidia-gpu"
SOURCES = "/etc/apt/sources.list.d/nvidia-container-toolkit.sources"
KEYRING = "/etc/apt/keyrings/nvidia-container-toolkit.asc"
CDI_SPEC = "/etc/cdi/nvidia.yaml"
CDI_RECORD = "/var/lib/aistack/nvidia_toolkit/cdi.json"
IMAGE = "aistack-verify/busybox:latest"
SMI = "/usr/bin/nvidia-smi"
SCENARIO = Path(__file__).resolve().parents[1]
INVENTORY = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "inventory"


def is_gpu_host(host) -> bool:
    return host.backend.get_hostname() == GPU_HOST


@pytest.fixture
def gpu_host(host):
    if not is_gpu_host(host):
        pytest.skip("GPU host only")
    return host


@pytest.fixture
def cpu_host(host):
    if is_gpu_host(host):
        pytest.skip("CPU host only")
    return host


def docker_info(host) -> dict:
    return json.loads(host.check_output("docker info --format '{{json .}}'"))


def daemon_json(host) -> dict:
    return json.loads(host.file("/etc/docker/daemon.json").content_string)


def test_planted_and_docker_engine_keys_survive(host):
    config = daemon_json(host)
    assert config["labels"] == ["aistack.planted=survives"]
    assert config["live-restore"] is True
    assert config["default-address-pools"][0]["base"] == "10.213.0.0/16"


def test_gpu_host_docker_lists_the_nvidia_runtime(gpu_host):
    info = docker_info(gpu_host)
    assert "nvidia" in info["Runtimes"]
    assert info["DefaultRuntime"] == "runc"
    config = daemon_json(gpu_host)
    assert config["runtimes"]["nvidia"] == {"path": "nvidia-container-runtime", "args": []}
    assert config["features"]["cdi"] is True


def test_gpu_host_toolkit_from_the_signed_repository_pinned(gpu_host):
    sources = gpu_host.file(SOURCES).content_string
    assert "URIs: http://aistack-nvidia-toolkit-repo/stable/deb/amd64" in sources
    assert f"Signed-By: {KEYRING}" in sources
    assert "BEGIN PGP PUBLIC KEY BLOCK" in gpu_host.file(KEYRING).content_string
    for package in ("nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools",
                    "libnvidia-container1"):
        assert gpu_host.package(package).version == "1.17.2-1", package
    # apt verified the fixture repository's signature (no trusted=yes anywhere).
    assert "trusted" not in sources


def test_gpu_host_cdi_spec_for_the_driver(gpu_host):
    spec = gpu_host.file(CDI_SPEC)
    assert spec.exists
    assert "kind: nvidia.com/gpu" in spec.content_string
    assert "driver 550.127.05" in spec.content_string
    record = json.loads(gpu_host.file(CDI_RECORD).content_string)
    assert record == {"driver_version": "550.127.05", "spec_path": CDI_SPEC}


def test_gpu_host_container_with_the_cdi_device_sees_it(gpu_host):
    out = gpu_host.check_output(
        f"docker run --rm --pull=never --device nvidia.com/gpu=all {IMAGE} "
        "sh -c 'ls -l /dev/nvidia0; echo AISTACK=$AISTACK_FIXTURE_DRIVER_VERSION; nvidia-smi'")
    assert out.startswith("c"), out  # a character device
    assert "AISTACK=550.127.05" in out
    assert "NVIDIA GeForce RTX 4090" in out


def test_gpu_host_container_without_the_device_has_none(gpu_host):
    result = gpu_host.run(f"docker run --rm --pull=never {IMAGE} ls /dev/nvidia0")
    assert result.rc != 0


def test_gpu_host_nvidia_runtime_runs_containers(gpu_host):
    out = gpu_host.check_output(f"docker run --rm --pull=never --runtime=nvidia {IMAGE} sh -c 'echo through-nvidia'")
    assert out.strip() == "through-nvidia"


def test_gpu_host_gpus_flag_device_request(gpu_host):
    # What compose's `driver: nvidia` reservation asks for: dockerd's nvidia
    # driver runs the toolkit's prestart hook.
    out = gpu_host.check_output(f"docker run --rm --pull=never --gpus all {IMAGE} sh -c 'echo with-gpus'")
    assert out.strip() == "with-gpus"


def test_cpu_host_has_nothing_nvidia(cpu_host):
    info = docker_info(cpu_host)
    assert "nvidia" not in info["Runtimes"]
    config = daemon_json(cpu_host)
    assert "runtimes" not in config
    assert "features" not in config
    assert "default-runtime" not in config
    assert not cpu_host.file(CDI_SPEC).exists
    assert not cpu_host.file(SOURCES).exists
    assert not cpu_host.file(KEYRING).exists
    assert not cpu_host.file("/var/lib/aistack/nvidia_toolkit").exists
    assert not cpu_host.package("nvidia-container-toolkit").is_installed
    assert cpu_host.run("grep -rl nvidia /etc/apt/sources.list.d/").stdout == ""


def worker(host) -> dict:
    name = host.check_output("docker ps -q --filter label=com.docker.compose.project=demeterai-ml "
                             "--filter label=com.docker.compose.service=worker")
    assert name, "no running worker of the DemeterAI shape"
    return json.loads(host.check_output(f"docker inspect {name.splitlines()[0]}"))[0]


def test_demeterai_gpu_host_gets_the_gpu_variant_with_a_device_request(gpu_host):
    container = worker(gpu_host)
    image = json.loads(gpu_host.check_output(f"docker image inspect {container['Image']}"))[0]
    assert image["Config"]["Labels"]["io.aistack.deploy.variant"] == "gpu"
    assert container["Config"]["Image"].startswith("aistack-test/demeterai-ml-gpu-worker:")
    requests = container["HostConfig"]["DeviceRequests"]
    assert requests and requests[0]["Driver"] == "nvidia", requests
    assert ["gpu"] in requests[0]["Capabilities"]
    assert container["State"]["Health"]["Status"] == "healthy"
    assert "CUDA_VISIBLE_DEVICES=0" in container["Config"]["Env"]


def test_demeterai_cpu_host_gets_the_cpu_variant_without_one(cpu_host):
    container = worker(cpu_host)
    image = json.loads(cpu_host.check_output(f"docker image inspect {container['Image']}"))[0]
    assert image["Config"]["Labels"]["io.aistack.deploy.variant"] == "cpu"
    assert container["Config"]["Image"].startswith("aistack-test/demeterai-ml-cpu-worker:")
    assert not container["HostConfig"]["DeviceRequests"]
    assert container["State"]["Health"]["Status"] == "healthy"


# ---------------------------------------------------------------- side effects, GPU host, in this order

def run_role() -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", NO_COLOR="1")
    return subprocess.run(["ansible-playbook", "-i", str(INVENTORY), str(SCENARIO / "side_effect.yml"),
                           "--limit", GPU_HOST], capture_output=True, text=True, env=env, check=False)


def recap(output: str) -> dict[str, int]:
    for line in output.splitlines():
        if line.startswith(GPU_HOST) and "ok=" in line:
            return {k: int(v) for k, v in (f.split("=") for f in line.split(":", 1)[1].split())}
    raise AssertionError(f"no recap line for {GPU_HOST}:\n{output[-3000:]}")


def test_side_effect_driver_upgrade_regenerates_the_cdi_spec(gpu_host):
    started = gpu_host.check_output("systemctl show docker -p ActiveEnterTimestampMonotonic")
    daemon_before = gpu_host.file("/etc/docker/daemon.json").content_string
    gpu_host.check_output(f"cp {SMI} /root/nvidia-smi.orig && sed -i 's/550\\.127\\.05/560.35.03/g' {SMI}")
    try:
        run = run_role()
        assert run.returncode == 0, run.stdout[-3000:]
        assert "changed: [aistack-nvidia-gpu]" in run.stdout.split("cdi | Generate the CDI specification")[1].split("TASK")[0]
        assert "RUNNING HANDLER" not in run.stdout  # daemon.json did not change: Docker keeps running
        assert "driver 560.35.03" in gpu_host.file(CDI_SPEC).content_string
        assert json.loads(gpu_host.file(CDI_RECORD).content_string)["driver_version"] == "560.35.03"
        assert gpu_host.file("/etc/docker/daemon.json").content_string == daemon_before
        assert gpu_host.check_output("systemctl show docker -p ActiveEnterTimestampMonotonic") == started
    finally:
        gpu_host.check_output(f"mv /root/nvidia-smi.orig {SMI}")


def test_side_effect_driver_library_mismatch_fails_clearly_and_changes_nothing(gpu_host):
    gpu_host.check_output(f"cp {SMI} /root/nvidia-smi.orig")
    gpu_host.check_output(
        f"printf '%s\\n' '#!/bin/sh' 'echo \"Failed to initialize NVML: Driver/library version mismatch\"' "
        f"'echo \"NVML library version: 560.35\"' 'exit 18' > {SMI}")
    try:
        run = run_role()
        assert run.returncode != 0
        output = run.stdout + run.stderr
        assert "Driver/library version mismatch" in output
        assert "reboot" in output
        assert "Install the NVIDIA driver" not in output
        assert recap(run.stdout)["changed"] == 0
        assert recap(run.stdout)["failed"] == 1
    finally:
        gpu_host.check_output(f"mv /root/nvidia-smi.orig {SMI}")
