"""Verify nvidia_toolkit and the GPU deploy on the synthetic GPU host and the CPU host (testinfra).

Each test runs on the host it is about, found by name in the scenario's
inventory: none is run on both hosts only to be skipped on one. The side
effects come last, in this order.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra

GPU_HOST = "aistack-nvidia-gpu"
CPU_HOST = "aistack-nvidia-cpu"
SOURCES = "/etc/apt/sources.list.d/nvidia-container-toolkit.sources"
KEYRING = "/etc/apt/keyrings/nvidia-container-toolkit.asc"
CDI_SPEC = "/etc/cdi/nvidia.yaml"
CDI_RECORD = "/var/lib/aistack/nvidia_toolkit/cdi.json"
IMAGE = "aistack-verify/busybox:latest"
SMI = "/usr/bin/nvidia-smi"
SCENARIO = Path(__file__).resolve().parents[1]
REPO = SCENARIO.parents[1]
INVENTORY = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "inventory"
# The four synthetic GPUs (tests/unit/plugins/module_utils/fixtures/nvidia_smi/four_gpus), by index.
UUIDS = [
    "GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45",
    "GPU-a3c91f4e-62b0-4d8a-b7e5-0c19d2f6e831",
    "GPU-7d04e2b9-18c5-43f7-9e6a-5b2c8d1f0a76",
    "GPU-c8f65a13-9e27-4b1d-a0c4-3e7f2d59b184",
]
WORKERS = [f"worker-gpu{index}" for index in range(4)]
# One image name, one controller build: the GPU variant's tag carries -gpu (app_image's README).
GPU_WORKER_IMAGE = "aistack-test/demeterai-ml-worker:latest-gpu"
CPU_WORKER_IMAGE = "aistack-test/demeterai-ml-worker:latest"


def host_named(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


@pytest.fixture(scope="module")
def gpu_host():
    return host_named(GPU_HOST)


@pytest.fixture(scope="module")
def cpu_host():
    return host_named(CPU_HOST)


def docker_info(host) -> dict:
    return json.loads(host.check_output("docker info --format '{{json .}}'"))


def daemon_json(host) -> dict:
    return json.loads(host.file("/etc/docker/daemon.json").content_string)


@pytest.mark.parametrize("name", [GPU_HOST, CPU_HOST])
def test_planted_and_docker_engine_keys_survive(name: str) -> None:
    config = daemon_json(host_named(name))
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
    for package in (
        "nvidia-container-toolkit",
        "nvidia-container-toolkit-base",
        "libnvidia-container-tools",
        "libnvidia-container1",
    ):
        assert gpu_host.package(package).version == "1.17.2-1", package
    # apt verified the fixture repository's signature (no trusted=yes anywhere).
    assert "trusted" not in sources


def test_gpu_host_cdi_spec_for_the_driver(gpu_host):
    spec = gpu_host.file(CDI_SPEC)
    assert spec.exists
    assert "kind: nvidia.com/gpu" in spec.content_string
    assert "driver 550.127.05" in spec.content_string
    # A device per GPU, by index, and all of them.
    assert gpu_host.check_output("nvidia-ctk cdi list").split() == [
        "nvidia.com/gpu=0",
        "nvidia.com/gpu=1",
        "nvidia.com/gpu=2",
        "nvidia.com/gpu=3",
        "nvidia.com/gpu=all",
    ]
    record = json.loads(gpu_host.file(CDI_RECORD).content_string)
    assert record == {"driver_version": "550.127.05", "spec_path": CDI_SPEC}


def test_gpu_host_container_with_the_cdi_device_sees_it(gpu_host):
    out = gpu_host.check_output(
        f"docker run --rm --pull=never --device nvidia.com/gpu=all {IMAGE} "
        "sh -c 'ls -l /dev/nvidia0; echo AISTACK=$AISTACK_FIXTURE_DRIVER_VERSION; nvidia-smi'"
    )
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
    # What compose's `driver: nvidia` reservation asks for (the legacy runtime
    # mode): dockerd's nvidia driver runs the toolkit's prestart hook.
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


def containers_of(host, service: str) -> list[dict]:
    ids = host.check_output(
        "docker ps -q --filter label=com.docker.compose.project=demeterai-ml "
        f"--filter label=com.docker.compose.service={service}"
    ).split()
    return [json.loads(host.check_output(f"docker inspect {cid}"))[0] for cid in ids]


def test_demeterai_gpu_host_runs_one_worker_per_gpu_each_seeing_only_its_own(gpu_host):
    assert containers_of(gpu_host, "worker") == []
    for index, service in enumerate(WORKERS):
        (container,) = containers_of(gpu_host, service)
        image = json.loads(gpu_host.check_output(f"docker image inspect {container['Image']}"))[0]
        assert image["Config"]["Labels"]["io.aistack.deploy.variant"] == "gpu"
        # The CUDA stand-in's CUDA_VERSION, which the fixture driver runs.
        assert image["Config"]["Labels"]["io.aistack.deploy.cuda-version"] == "12.4.1"
        assert container["Config"]["Image"] == GPU_WORKER_IMAGE
        assert container["Config"]["Labels"]["io.aistack.deploy.gpu"] == str(index)
        assert container["State"]["Health"]["Status"] == "healthy"
        requests = container["HostConfig"]["DeviceRequests"]
        assert [(r["Driver"], r["DeviceIDs"], r["Capabilities"]) for r in requests] == [
            ("cdi", [f"nvidia.com/gpu={index}"], [["gpu"]])
        ], requests
        assert "CUDA_VISIBLE_DEVICES=0" in container["Config"]["Env"]
        # Its own device node and no other, and the driver's nvidia-smi lists that GPU alone (as GPU 0).
        nodes = gpu_host.check_output(f"docker exec {container['Id']} sh -c 'ls /dev | grep ^nvidia'").split()
        assert nodes == [f"nvidia{index}"], (service, nodes)
        listed = gpu_host.check_output(f"docker exec {container['Id']} nvidia-smi -L")
        assert listed.strip() == f"GPU 0: NVIDIA GeForce RTX 4090 (UUID: {UUIDS[index]})"


def test_demeterai_cpu_host_gets_the_cpu_variant_without_a_gpu(cpu_host):
    (container,) = containers_of(cpu_host, "worker")
    image = json.loads(cpu_host.check_output(f"docker image inspect {container['Image']}"))[0]
    assert image["Config"]["Labels"]["io.aistack.deploy.variant"] == "cpu"
    assert "io.aistack.deploy.cuda-version" not in image["Config"]["Labels"]
    assert container["Config"]["Image"] == CPU_WORKER_IMAGE
    assert not container["HostConfig"]["DeviceRequests"]
    assert container["State"]["Health"]["Status"] == "healthy"


def repository_tags(host, repository: str) -> list[str]:
    out = host.check_output(f"docker image ls --format '{{{{.Repository}}}}:{{{{.Tag}}}}' {repository}")
    return sorted(out.split())


def test_demeterai_one_controller_build_each_host_only_its_variant_recorded(gpu_host, cpu_host):
    # The controller's engine holds both variants of the one image name, each labelled with its variant.
    inspect = subprocess.run(
        ["docker", "image", "inspect", GPU_WORKER_IMAGE, CPU_WORKER_IMAGE], capture_output=True, text=True, check=True
    )
    labels = [image["Config"]["Labels"] for image in json.loads(inspect.stdout)]
    assert [label["io.aistack.deploy.variant"] for label in labels] == ["gpu", "cpu"]
    # Each host was sent only the variant for its hardware, and its release records which it runs.
    for host, image, variant in ((gpu_host, GPU_WORKER_IMAGE, "gpu"), (cpu_host, CPU_WORKER_IMAGE, "cpu")):
        assert repository_tags(host, "aistack-test/demeterai-ml-worker") == [image]
        record = json.loads(host.file("/opt/aistack/demeterai-ml/releases/latest/release.json").content_string)
        assert list(record["images"]) == [image]
        assert (record["delivery"]["source"], record["delivery"]["variant"]) == ("build_controller", variant)


# ---------------------------------------------------------------- side effects, GPU host, in this order


def ansible_playbook(playbook: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", NO_COLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(playbook), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def run_role() -> subprocess.CompletedProcess[str]:
    return ansible_playbook(SCENARIO / "side_effect.yml", "--limit", GPU_HOST)


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
        assert (
            "changed: [aistack-nvidia-gpu]"
            in run.stdout.split("cdi | Generate the CDI specification")[1].split("TASK")[0]
        )
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
        f"'echo \"NVML library version: 560.35\"' 'exit 18' > {SMI}"
    )
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


def worker_ids(host) -> list[str]:
    return sorted(container["Id"] for service in WORKERS for container in containers_of(host, service))


# An image of a GPU service built for CUDA 12.8, which the fixture driver (CUDA 12.4 at most) does not run.
TOO_NEW = "aistack-verify/cuda-too-new:12.8"


def test_side_effect_a_newer_cuda_and_too_little_gpu_memory_are_refused_in_the_preflight(gpu_host):
    gpu_host.check_output(
        f"printf 'FROM {IMAGE}\\nLABEL io.aistack.deploy.cuda-version=12.8\\n' | docker build -q -t {TOO_NEW} -"
    )
    before = worker_ids(gpu_host)
    stack = {
        "aistack_hosts": GPU_HOST,
        "app_stack_name": "cuda-check",
        "app_stack_services": {
            "inference": {
                "image": TOO_NEW,
                "gpu": True,
                "command": ["sleep", "3600"],
                "healthcheck": {"test": ["CMD", "true"]},
            },
            # Needs more GPU memory than GPU 0 has free (the fixture's 24052 MiB): refused in the same pre-flight.
            "embedder": {
                "image": IMAGE,
                "gpu": [0],
                "gpu_memory_mb": 30000,
                "command": ["sleep", "3600"],
                "healthcheck": {"test": ["CMD", "true"]},
            },
        },
        "app_stack_required_secrets": [],
        # app_image's input, checked in the same pre-flight (the DemeterAI worker's).
        "app_image_context_src": str(SCENARIO / "demeterai-app"),
        "app_image_targets": ["worker"],
        "app_image_celery_app": "app.celery_app",
    }
    run = ansible_playbook(REPO / "site.yml", "-e", json.dumps(stack))
    output = (run.stdout + run.stderr).replace('\\"', '"')
    assert run.returncode != 0
    assert (
        f"{GPU_HOST} cannot take release latest of cuda-check: service inference runs {TOO_NEW}, built for CUDA "
        "12.8 (its label io.aistack.deploy.cuda-version), but the NVIDIA driver 550.127.05 of GPUs 0, 1, 2, 3 "
        f"(NVIDIA GeForce RTX 4090) on {GPU_HOST} runs CUDA 12.4 at most"
    ) in output, output[-4000:]
    assert (
        "service embedder needs 30000 MiB of GPU memory (app_stack_services.embedder.gpu_memory_mb), but on "
        f"{GPU_HOST} GPU 0 (NVIDIA GeForce RTX 4090, {UUIDS[0]}) has 24052 MiB free"
    ) in output, output[-4000:]
    assert "Nothing has changed on any host" in output
    # Refused in the first play, before the deploy play's lock, roles and containers.
    assert "Take the app's deploy lock" not in output
    assert not gpu_host.file("/opt/aistack/cuda-check").exists
    assert worker_ids(gpu_host) == before
    gpu_host.check_output(f"docker image rm {TOO_NEW}")


def test_side_effect_a_gpu_service_behind_nginx_starts_first_fails_a_blind_gate_and_else_stops_first(gpu_host):
    # Docker's own record of the api containers' starts and stops, followed while the releases roll (the engine
    # keeps too few past events to read them afterwards: the workers' health probes are events too).
    follow = (
        "echo $$ > /run/gpu-rollout-events.pid; exec timeout 900 docker events --filter type=container "
        "--filter label=com.docker.compose.project=gpu-rollout --filter label=com.docker.compose.service=api "
        "--filter event=start --filter event=die "
        "--format '{{.Action}} {{index .Actor.Attributes \"io.aistack.deploy.release\"}}'"
    )
    events = subprocess.Popen(["docker", "exec", GPU_HOST, "sh", "-c", follow], stdout=subprocess.PIPE, text=True)
    try:
        run = ansible_playbook(SCENARIO / "gpu_rollout.yml")
    finally:
        gpu_host.run("sleep 1; kill $(cat /run/gpu-rollout-events.pid)")
        seen = [line.strip() for line in events.communicate(timeout=30)[0].splitlines()]
    output = run.stdout.replace('\\"', '"')
    assert run.returncode == 0, output[-4000:]
    # r2 started while r1 still ran (start-first: 8000 MiB fits twice in GPU 3's 24210 MiB free).
    assert seen[:3] == ["start r1", "start r2", "die r1"], seen
    # Release gate's container started beside r2's and was removed when its gate failed: r2 never stopped for it.
    assert seen[3:5] == ["start gate", "die gate"], seen
    # r3 started only once r2 had stopped (stop-first: replaced in place, its container carries no release
    # label, which only start-first containers need).
    assert seen[5:] == ["die r2", "start"], seen
    # The gate's reason, in the failed container's block; the host went back to r2, which served throughout.
    assert "GATE FAILED AS IT MUST: Release gate of gpu-rollout did not become healthy" in output, output[-4000:]
    assert (
        f"(service api): does not see exactly its GPUs (container sees 0 GPUs, expected 1: {UUIDS[3]} (nvidia-smi -L in "
        "the container: exit 6: No devices were found))"
    ) in output, output[-4000:]
    assert "Rolled back to release r2, which is healthy again and stays current" in output
    assert "AISTACK_FIXTURE_LOST_GPU" not in gpu_host.file(CDI_SPEC).content_string
    assert not gpu_host.file(f"{CDI_SPEC}.gate").exists
    # Why r3 stopped first, in the deploy's output: the GPU, its free memory and the need.
    assert (
        f"api: GPU 3 ({UUIDS[3]}) has 24210 MiB free and a second container needs 24300 MiB (gpu_memory_mb): "
        "two do not fit"
    ) in output, output[-4000:]
    assert output.count("two do not fit") == 1
    state = json.loads(gpu_host.file("/opt/aistack/gpu-rollout/state.json").content_string)
    assert state["current"] == "r3"
    failed = [entry for entry in state["history"] if entry["release"] == "gate"]
    assert [(e["result"], e["cause"], e["rolled_back_to"]) for e in failed] == [("failed", "health gate", "r2")]
    (container,) = json.loads(
        gpu_host.check_output(
            "docker inspect $(docker ps -q --filter label=com.docker.compose.project=gpu-rollout "
            "--filter label=com.docker.compose.service=api)"
        )
    )
    assert "ROLLOUT=r3" in container["Config"]["Env"]
    assert [r["DeviceIDs"] for r in container["HostConfig"]["DeviceRequests"]] == [["nvidia.com/gpu=3"]]


REGISTRY = "aistack-nvidia-registry:5000"


def test_side_effect_a_fleet_pulls_each_host_its_own_variant_unasked(gpu_host, cpu_host):
    # pull_fleet.yml: the pre-flight on an empty registry, the controller build's push, the deploy by pulling.
    run = ansible_playbook(SCENARIO / "pull_fleet.yml")
    output = run.stdout.replace('\\"', '"')
    assert run.returncode == 0, output[-4000:]
    # The pre-flight asked the registry, from each host, for the tag that host pulls, and refused before any change.
    refusals = [line for line in output.splitlines() if "PREFLIGHT REFUSED AS IT MUST" in line]
    assert len(refusals) == 2, refusals
    assert any(
        f"{GPU_HOST} cannot pull image {REGISTRY}/{GPU_WORKER_IMAGE} (" in line
        and "this host takes the GPU variant (app_image_variant=auto), tagged latest-gpu" in line
        and "the registry has no such tag" in line
        for line in refusals
    ), refusals
    assert any(
        f"{CPU_HOST} cannot pull image {REGISTRY}/{CPU_WORKER_IMAGE} (" in line
        and "the registry has no such tag" in line
        for line in refusals
    ), refusals
    for host, image, variant in ((gpu_host, GPU_WORKER_IMAGE, "gpu"), (cpu_host, CPU_WORKER_IMAGE, "cpu")):
        # Each host pulled its own variant (the registry's name stays beside the local one), never the other.
        assert repository_tags(host, f"{REGISTRY}/aistack-test/demeterai-ml-worker") == [f"{REGISTRY}/{image}"]
        assert repository_tags(host, "aistack-test/demeterai-ml-worker") == [image]
        record = json.loads(host.file("/opt/aistack/demeterai-ml/releases/latest/release.json").content_string)
        assert list(record["images"]) == [image]
        assert (record["delivery"]["source"], record["delivery"]["variant"]) == ("pull", variant)
    # The same deploy again, then in check mode: nothing changes on either host.
    for args in ((), ("--check",)):
        again = ansible_playbook(SCENARIO / "pull_fleet_deploy.yml", *args)
        assert again.returncode == 0, again.stdout[-4000:]
        for name in (GPU_HOST, CPU_HOST):
            line = next(line for line in again.stdout.splitlines() if line.startswith(name) and "ok=" in line)
            assert " changed=0 " in line, (args, line, again.stdout[-4000:])


# The synthetic GPU 2's MIG devices (tests/harness/images/nvidia/nvidia-smi), made by their capability nodes.
MIG_UUIDS = ["MIG-2f6c1a9e-3b7d-5e40-9c18-6a5d4e3f2b10", "MIG-8b3e5d7c-1a2f-5c69-b4e0-7d9c1f2a3e54"]
MIG_NODES = "/dev/nvidia-caps/nvidia-cap-2-0 /dev/nvidia-caps/nvidia-cap-2-1"


def mig_containers(host) -> dict[str, dict]:
    ids = host.check_output("docker ps -q --filter label=com.docker.compose.project=mig-app").split()
    found = [json.loads(host.check_output(f"docker inspect {cid}"))[0] for cid in ids]
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in found}


def test_side_effect_services_on_mig_devices_and_per_gpu_per_slice(gpu_host):
    gpu_host.check_output(f"mkdir -p /dev/nvidia-caps && for node in {MIG_NODES}; do mknod -m 0666 $node c 1 3; done")
    try:
        run = ansible_playbook(SCENARIO / "mig.yml")
        output = run.stdout.replace('\\"', '"')
        assert run.returncode == 0, output[-4000:]
        # Refused before any change, naming the services, the host, the device and what the host has.
        assert "MIG REFUSED AS IT MUST" in output
        mig_have = f"2:0 ({MIG_UUIDS[0]}, 3g.12gb), 2:1 ({MIG_UUIDS[1]}, 3g.12gb)"
        assert (
            f"app_stack_services.whole.gpu: names GPU 2 ({UUIDS[2]}) whole, but on {GPU_HOST} it is in MIG mode"
        ) in output, output[-4000:]
        assert f"(got [2]; the MIG devices of GPU 2, aistack_gpu.mig_devices: {mig_have})" in output, output[-4000:]
        assert (
            f"app_stack_services.count.gpu: asks for 3 GPU(s), which the runtime gives as the first 3 GPUs of "
            f"{GPU_HOST} whole, and GPU 2 among them is in MIG mode"
        ) in output, output[-4000:]
        # The playbook's unquoted 2:0, as Ansible's own YAML loader read it: 120, refused with the quoted form.
        assert (
            "app_stack_services.unquoted.gpu: 120 is what YAML 1.1 makes of 2:0 written without quotes (digits "
            "joined by colons are a number in base 60), not a GPU index: a MIG device <gpu>:<mig> must be quoted, "
            'gpu: ["2:0"] (got [120]'
        ) in output, output[-4000:]
        # A MIG device of a GPU in MIG mode is no clash with that GPU asked for whole (refused for that itself).
        assert "app_stack_services.slice.gpu" not in output, output[-4000:]
        assert (
            f"app_stack_services.missing.gpu: MIG device 2:5 is not on {GPU_HOST} (got ['2:5']; the host's MIG "
            f"devices, aistack_gpu.mig_devices: 2:0 ({MIG_UUIDS[0]}, 3g.12gb), 2:1 ({MIG_UUIDS[1]}, 3g.12gb))"
        ) in output, output[-4000:]
        # The specification names a device per MIG device.
        assert "nvidia.com/gpu=2:1" in gpu_host.check_output("nvidia-ctk cdi list").split()
        # m1 passed its gate (each slice service saw its MIG device); m2 is per_gpu, one replica per GPU or MIG device.
        state = json.loads(gpu_host.file("/opt/aistack/mig-app/state.json").content_string)
        assert state["current"] == "m2"
        assert [e["release"] for e in state["history"] if e["result"] == "healthy"] == ["m1", "m2"], state["history"]
        replicas = mig_containers(gpu_host)
        assert sorted(replicas) == ["shard-gpu0", "shard-gpu1", "shard-gpu2-mig0", "shard-gpu2-mig1", "shard-gpu3"]
        for index, name in enumerate(["shard-gpu2-mig0", "shard-gpu2-mig1"]):
            container = replicas[name]
            assert container["Config"]["Labels"]["io.aistack.deploy.gpu"] == f"2:{index}"
            assert [r["DeviceIDs"] for r in container["HostConfig"]["DeviceRequests"]] == [
                [f"nvidia.com/gpu=2:{index}"]
            ]
            listed = gpu_host.check_output(f"docker exec {container['Id']} nvidia-smi -L")
            assert listed.splitlines() == [
                f"GPU 0: NVIDIA GeForce RTX 4090 (UUID: {UUIDS[2]})",
                f"  MIG 3g.12gb     Device  0: (UUID: {MIG_UUIDS[index]})",
            ], listed
        # GPU 2's whole replica is not there: its MIG devices took its place.
        listed = gpu_host.check_output(f"docker exec {replicas['shard-gpu3']['Id']} nvidia-smi -L")
        assert listed.strip() == f"GPU 0: NVIDIA GeForce RTX 4090 (UUID: {UUIDS[3]})"
    finally:
        gpu_host.run("docker compose -p mig-app down --timeout 1")
        gpu_host.run(f"rm -f {MIG_NODES}; rmdir /dev/nvidia-caps")
        restored = run_role()
        assert restored.returncode == 0, restored.stdout[-3000:]
    # Without the MIG devices the specification is generated again, as it was.
    assert gpu_host.check_output("nvidia-ctk cdi list").split() == [
        "nvidia.com/gpu=0",
        "nvidia.com/gpu=1",
        "nvidia.com/gpu=2",
        "nvidia.com/gpu=3",
        "nvidia.com/gpu=all",
    ]
    assert "2:0" not in gpu_host.file(CDI_SPEC).content_string
