# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The GPU pre-flight: a GPU image's CUDA version against the host driver's, a GPU service's memory against its
GPUs' (plugin_utils/_gpu_preflight.py)."""

from __future__ import annotations

import json
import typing as t

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.gpu_preflight import (
    FilterModule,
    app_image_cuda_version,
    app_stack_cuda_problems,
    app_stack_gpu_memory_problems,
)
from ansible_collections.aistack.deploy.plugins.plugin_utils._gpu_preflight import (
    cuda_problems,
    cuda_version,
    gpu_memory_problems,
    held_gpus,
    image_cuda,
    partly_held,
    tag_cuda_version,
)

UUIDS = [f"GPU-{index}e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c4{index}" for index in range(4)]
# The aistack_gpu fact of the synthetic host: four RTX 4090s on driver 550.127.05, which runs CUDA 12.4 at most.
GPU: dict[str, t.Any] = {
    "present": True,
    "usable": True,
    "count": 4,
    "driver_version": "550.127.05",
    "cuda_version": "12.4",
    "gpus": [{"index": index, "name": "NVIDIA GeForce RTX 4090", "uuid": UUIDS[index]} for index in range(4)],
}
IMAGE = "acme/worker-gpu:1.0"
DEVICE = {"devices": [{"driver": "cdi", "device_ids": ["nvidia.com/gpu=all"], "capabilities": ["gpu"]}]}


def service(gpus: list[int | str], image: str = IMAGE, **more: t.Any) -> dict[str, t.Any]:
    """A service of app_stack's model that gets GPUs (what the check reads of it)."""
    return {"image": image, "environment": {}, "reservations": DEVICE, "gpus": gpus, **more}


def model(**services: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"services": services, "active_services": sorted(services), "replicas": {}}


def config(label: str = "", env: tuple[str, ...] = ()) -> dict[str, t.Any]:
    return {"Labels": {"io.aistack.deploy.cuda-version": label} if label else {}, "Env": list(env)}


@pytest.mark.parametrize(
    "text, version",
    [
        ("12.4", (12, 4)),
        ("12.6.3", (12, 6)),
        (" 11.8 ", (11, 8)),
        ("v13.0", (13, 0)),
        ("", None),
        ("N/A", None),
        (None, None),
        ("12", None),
        ("twelve.four", None),
    ],
)
def test_cuda_version(text: t.Any, version: tuple[int, int] | None) -> None:
    assert cuda_version(text) == version


@pytest.mark.parametrize(
    "image, version",
    [
        ("nvidia/cuda:12.6.3-runtime-ubuntu24.04", "12.6.3"),
        ("nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04", "12.4.1"),
        ("registry.example.com:5000/mirror/cuda:11.8.0-base-ubuntu22.04", "11.8.0"),
        ("pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime", "12.4"),
        ("vllm/vllm-openai:v0.6.3", ""),
        ("acme/worker:1.2.3", ""),  # a leading version is the image's own, but in a repository named cuda
        ("aistack-test/cuda:fixture", ""),
        ("registry.example.com:5000/cuda", ""),  # a port is no tag
        ("nvidia/cuda@sha256:0123abcd", ""),
        ("", ""),
    ],
)
def test_the_cuda_version_a_tag_names(image: str, version: str) -> None:
    assert tag_cuda_version(image) == version == app_image_cuda_version(image)


@pytest.mark.parametrize(
    "image_config, found",
    [
        # app_image's label first; NVIDIA's CUDA_VERSION where there is none.
        (config("12.8", ("CUDA_VERSION=12.6.3",)), ("12.8", "its label io.aistack.deploy.cuda-version")),
        (config("", ("PATH=/usr/bin", "CUDA_VERSION=12.6.3")), ("12.6.3", "its CUDA_VERSION")),
        (config(), ("", "")),
        (None, ("", "")),
    ],
)
def test_the_cuda_version_an_image_says(image_config: t.Any, found: tuple[str, str]) -> None:
    assert image_cuda(image_config) == found


def test_an_image_built_for_a_newer_cuda_is_refused_naming_host_gpu_and_both_versions() -> None:
    problems = cuda_problems(model(worker=service([1])), GPU, {IMAGE: config("12.8")}, "gpu-1")
    assert problems == [
        "service worker runs acme/worker-gpu:1.0, built for CUDA 12.8 (its label io.aistack.deploy.cuda-version), "
        "but the NVIDIA driver 550.127.05 of GPU 1 (NVIDIA GeForce RTX 4090) on gpu-1 runs CUDA 12.4 at most "
        "(nvidia-smi's CUDA Version, aistack_gpu.cuda_version): upgrade the driver on gpu-1, or deploy an image built "
        "for CUDA 12.4 or older (app_image_cuda_base); NVIDIA_DISABLE_REQUIRE=true in the service's environment skips "
        "this check where CUDA forward compatibility is installed"
    ]


def test_a_mig_device_is_named_with_its_gpu_s_model_and_its_memory_is_not_measured() -> None:
    # A MIG device (<gpu>:<mig>, as app_stack's model lists it) is of its GPU's model.
    [problem] = cuda_problems(
        model(worker=service(["1:0"], gpu_memory_mb=90000)), GPU, {IMAGE: config("12.8")}, "gpu-1"
    )
    assert "of GPU 1:0 (NVIDIA GeForce RTX 4090) on gpu-1" in problem
    # nvidia-smi reports free memory per GPU, not per MIG device: nothing to measure it against.
    memory = {**GPU, "gpus": [{**entry, "memory_mib": 24564, "memory_free_mib": 24000} for entry in GPU["gpus"]]}
    assert gpu_memory_problems(model(worker=service(["1:0"], gpu_memory_mb=90000)), memory, set(), "gpu-1") == []


@pytest.mark.parametrize(
    "image_config",
    [
        config("12.4"),
        config("12.4.1"),
        config("11.8"),
        config("", ("CUDA_VERSION=12.2.2",)),
        # Says nothing of its CUDA: not checked.
        config(),
        config("unknown"),
    ],
)
def test_an_image_the_driver_runs_or_that_says_no_version_passes(image_config: dict[str, t.Any]) -> None:
    assert cuda_problems(model(worker=service([0])), GPU, {IMAGE: image_config}, "gpu-1") == []


@pytest.mark.parametrize(
    "gpu",
    [
        {**GPU, "cuda_version": "N/A"},  # nvidia-smi prints N/A (MIG), or no version at all
        {**GPU, "cuda_version": ""},
        {"present": False, "cuda_version": ""},  # a CPU host
        {},
    ],
)
def test_nothing_is_checked_where_the_driver_s_cuda_is_not_known(gpu: dict[str, t.Any]) -> None:
    assert cuda_problems(model(worker=service([0])), gpu, {IMAGE: config("12.8")}, "gpu-1") == []


def test_only_running_gpu_services_on_images_the_host_has_are_checked() -> None:
    services = {
        "worker": service([0]),
        "api": {**service([]), "reservations": {}},  # no GPU
        "batch": service([2], image="acme/batch:1"),  # not running (its profile is not active)
        "trainer": service([3], image="acme/trainer:2"),  # its image is not on the host yet
    }
    the_model = {**model(**services), "active_services": ["api", "trainer", "worker"]}
    images = {IMAGE: config("12.4"), "acme/batch:1": config("12.8")}
    assert cuda_problems(the_model, GPU, images, "gpu-1") == []


def test_nvidia_disable_require_skips_the_check_as_it_skips_the_runtime_s() -> None:
    the_model = model(worker=service([0], environment={"NVIDIA_DISABLE_REQUIRE": "true"}))
    assert cuda_problems(the_model, GPU, {IMAGE: config("12.8")}, "gpu-1") == []
    in_image = config("12.8", ("NVIDIA_DISABLE_REQUIRE=1",))
    assert cuda_problems(model(worker=service([0])), GPU, {IMAGE: in_image}, "gpu-1") == []
    # The service's own word wins over the image's.
    overruled = model(worker=service([0], environment={"NVIDIA_DISABLE_REQUIRE": "false"}))
    assert len(cuda_problems(overruled, GPU, {IMAGE: in_image}, "gpu-1")) == 1


def test_a_per_gpu_service_is_named_once_with_every_gpu_of_its_replicas() -> None:
    replicas = {f"worker-gpu{index}": service([index], replica_of="worker") for index in range(4)}
    the_model = {**model(**replicas), "replicas": {"worker": sorted(replicas)}}
    problems = cuda_problems(the_model, GPU, {IMAGE: config("", ("CUDA_VERSION=12.6.3",))}, "gpu-1")
    assert len(problems) == 1
    assert problems[0].startswith(
        "service worker runs acme/worker-gpu:1.0, built for CUDA 12.6.3 (its CUDA_VERSION), "
        "but the NVIDIA driver 550.127.05 of GPUs 0, 1, 2, 3 (NVIDIA GeForce RTX 4090) on "
        "gpu-1 runs CUDA 12.4 at most"
    )


def test_gpus_of_different_models_are_named_by_model() -> None:
    mixed = {**GPU, "gpus": [*GPU["gpus"][:3], {"index": 3, "name": "NVIDIA L4", "uuid": UUIDS[3]}]}
    problems = cuda_problems(model(worker=service([0, 3, 1])), mixed, {IMAGE: config("12.8")}, "gpu-1")
    assert "of GPUs 0, 1 (NVIDIA GeForce RTX 4090); GPU 3 (NVIDIA L4) on gpu-1" in problems[0]
    unlisted = cuda_problems(model(worker=service(["GPU-abc"])), {**GPU, "gpus": []}, {IMAGE: config("12.8")}, "h")
    assert "of GPU GPU-abc on h" in unlisted[0]


def test_the_filter_reads_docker_image_info_or_the_preflight_probe() -> None:
    the_model = model(worker=service([0]))
    found = [{"RepoTags": [IMAGE, "acme/worker-gpu:latest"], "Config": config("12.8")}]
    from_info = app_stack_cuda_problems(the_model, GPU, found, "gpu-1")
    probe = f"DF /opt 123456\nIMAGE {IMAGE} {json.dumps(config('12.8'))}\nIMAGE broken {{not json\nCURRENT 1.0.0\n"
    assert from_info == app_stack_cuda_problems(the_model, GPU, probe, "gpu-1") and len(from_info) == 1
    assert FilterModule().filters()["app_stack_cuda_problems"] is app_stack_cuda_problems


@pytest.mark.parametrize(
    "args, message",
    [
        (([], GPU, [], "h"), "the model must be a mapping"),
        ((model(), GPU, {"x": 1}, "h"), "images must be docker_image_info's images or the pre-flight probe's output"),
    ],
)
def test_the_filter_refuses_what_it_cannot_read(args: tuple[t.Any, ...], message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        app_stack_cuda_problems(*args)


# ---------------------------------------------------------------- GPU memory (gpu_memory_mb)

# The synthetic host's memory: 24564 MiB each, GPU 0 with 24052 free, the others 24210 (the four_gpus fixture).
FREE = [24052, 24210, 24210, 24210]
MEMORY_GPU: dict[str, t.Any] = {
    **GPU,
    "gpus": [{**entry, "memory_mib": 24564, "memory_free_mib": FREE[entry["index"]]} for entry in GPU["gpus"]],
}


def needs(gpus: list[t.Any], mib: int | None, **more: t.Any) -> dict[str, t.Any]:
    return service(gpus, gpu_memory_mb=mib, **more)


@pytest.mark.parametrize(
    "gpus, mib",
    [
        ([0], 24052),
        ([1], 24210),
        ([0, 1, 2, 3], 24000),
        ([2], 1),
        ([0], None),  # declares no need: nothing to check
        (["GPU-unknown"], 999999),  # a GPU the host does not list: not checked here (the model names it)
    ],
)
def test_a_service_whose_gpus_have_its_memory_free_passes(gpus: list[t.Any], mib: int | None) -> None:
    assert gpu_memory_problems(model(worker=needs(gpus, mib)), MEMORY_GPU, set(), "gpu-1") == []


def test_a_service_needing_more_than_its_gpu_has_free_is_refused_naming_host_gpu_need_and_free() -> None:
    problems = gpu_memory_problems(model(worker=needs([0], 24100)), MEMORY_GPU, set(), "gpu-1")
    assert problems == [
        "service worker needs 24100 MiB of GPU memory (app_stack_services.worker.gpu_memory_mb), but on gpu-1 GPU 0 "
        f"(NVIDIA GeForce RTX 4090, {UUIDS[0]}) has 24052 MiB free: give it a GPU with room (gpu, per_gpu), free the "
        "GPU of what else runs there, or lower gpu_memory_mb if the service needs less"
    ]


def test_every_short_gpu_of_a_service_is_named_and_a_per_gpu_service_once() -> None:
    replicas = {f"worker-gpu{index}": needs([index], 24100, replica_of="worker") for index in range(4)}
    problems = gpu_memory_problems(
        {**model(**replicas), "replicas": {"worker": sorted(replicas)}}, MEMORY_GPU, set(), "gpu-1"
    )
    assert len(problems) == 1
    assert "service worker needs 24100 MiB" in problems[0]
    assert f"GPU 0 (NVIDIA GeForce RTX 4090, {UUIDS[0]}) has 24052 MiB free" in problems[0]
    assert "GPU 1" not in problems[0] and "GPU 3" not in problems[0]
    both = gpu_memory_problems(model(trainer=needs([0, 1], 24300)), MEMORY_GPU, set(), "gpu-1")
    assert "GPU 0 (NVIDIA GeForce RTX 4090, " in both[0] and "; GPU 1 (NVIDIA GeForce RTX 4090, " in both[0]
    assert "has 24210 MiB free:" in both[0]


def test_a_gpu_the_app_already_holds_is_measured_by_its_whole_memory() -> None:
    # The running release's containers use some of GPU 0: a stop-first deploy gives it back.
    the_model = model(worker=needs([0], 24100))
    assert gpu_memory_problems(the_model, MEMORY_GPU, {0}, "gpu-1") == []
    too_big = gpu_memory_problems(model(worker=needs([0], 30000)), MEMORY_GPU, {0}, "gpu-1")
    assert f"GPU 0 (NVIDIA GeForce RTX 4090, {UUIDS[0]}) has 24564 MiB in all" in too_big[0]
    # Held elsewhere: GPU 0 still counts what is free.
    assert len(gpu_memory_problems(the_model, MEMORY_GPU, {1, 2}, "gpu-1")) == 1


@pytest.mark.parametrize(
    "gpu",
    [
        {**MEMORY_GPU, "usable": False},  # a driver that does not answer: its figures are not known
        {**MEMORY_GPU, "gpus": []},
        {"present": False},
        {},
    ],
)
def test_nothing_is_checked_where_the_gpus_and_their_memory_are_not_known(gpu: dict[str, t.Any]) -> None:
    assert gpu_memory_problems(model(worker=needs([0], 10**6)), gpu, set(), "gpu-1") == []


def test_only_running_gpu_services_are_checked() -> None:
    the_model = {**model(worker=needs([0], 10**6), batch=needs([1], 10**6)), "active_services": ["batch"]}
    problems = gpu_memory_problems(the_model, MEMORY_GPU, set(), "gpu-1")
    assert len(problems) == 1 and problems[0].startswith("service batch ")


@pytest.mark.parametrize(
    "requests, held",
    [
        ([], set()),
        ([[{"Driver": "cdi", "DeviceIDs": ["nvidia.com/gpu=1"], "Capabilities": [["gpu"]]}]], {1}),
        ([[{"Driver": "cdi", "DeviceIDs": [f"nvidia.com/gpu={UUIDS[2]}"]}]], {2}),
        ([[{"Driver": "cdi", "DeviceIDs": ["nvidia.com/gpu=all"]}]], {0, 1, 2, 3}),
        ([[{"Driver": "nvidia", "Count": 2, "DeviceIDs": None}]], {0, 1}),
        ([[{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]], {0, 1, 2, 3}),  # docker run --gpus all
        ([[{"Driver": "nvidia", "DeviceIDs": ["3", UUIDS[1]]}]], {1, 3}),
        # Two containers, one without a GPU (null requests); another driver's devices hold no GPU.
        ([None, [{"Driver": "cdi", "DeviceIDs": ["nvidia.com/gpu=0"]}], [{"Driver": "other", "Count": -1}]], {0}),
        ([[{"Driver": "cdi", "DeviceIDs": ["vendor.com/fpga=0"]}]], set()),
    ],
)
def test_the_gpus_running_containers_hold(requests: list[t.Any], held: set[int]) -> None:
    assert held_gpus(requests, MEMORY_GPU["gpus"]) == held


# GPU 1 of the synthetic host in MIG mode, with two MIG devices (the aistack_gpu fact as gpu_info reports it).
MIG_UUIDS = ["MIG-7d9e2c4a-51b3-5f0e-a8d6-1c2b3e4f5a60", "MIG-9a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d"]
MIGS = [
    {
        "gpu": 1,
        "index": index,
        "profile": "3g.12gb",
        "uuid": MIG_UUIDS[index],
        "cdi_device": f"nvidia.com/gpu=1:{index}",
    }
    for index in range(2)
]
MIG_GPU = {
    **MEMORY_GPU,
    "gpus": [{**entry, "mig_mode": "Enabled" if entry["index"] == 1 else "Disabled"} for entry in MEMORY_GPU["gpus"]],
    "mig_enabled": True,
    "mig_devices": MIGS,
}
EVERYTHING = {0, 1, 2, 3, "1:0", "1:1"}


@pytest.mark.parametrize(
    "requests, held",
    [
        # A MIG device is held as <gpu>:<mig>, whether asked for by CDI name, by UUID or as <gpu>:<mig>.
        ([[{"Driver": "cdi", "DeviceIDs": ["nvidia.com/gpu=1:0"]}]], {"1:0"}),
        ([[{"Driver": "nvidia", "DeviceIDs": [MIG_UUIDS[1]]}]], {"1:1"}),
        ([[{"Driver": "nvidia", "DeviceIDs": ["1:1", "0"]}]], {"1:1", 0}),
        # Every device: every GPU and every MIG device (what the runtime's "all" gives).
        ([[{"Driver": "cdi", "DeviceIDs": ["nvidia.com/gpu=all"]}]], EVERYTHING),
        ([[{"Driver": "", "Count": -1}]], EVERYTHING),
        # A count is the first N GPUs, whole.
        ([[{"Driver": "nvidia", "Count": 2}]], {0, 1}),
        # A MIG UUID the host does not list holds nothing known.
        ([[{"Driver": "nvidia", "DeviceIDs": ["MIG-00000000-0000-0000-0000-000000000000"]}]], set()),
    ],
)
def test_the_mig_devices_running_containers_hold(requests: list[t.Any], held: set[t.Any]) -> None:
    assert held_gpus(requests, MIG_GPU["gpus"], MIGS) == held


def test_a_mig_device_held_where_the_host_lists_none_is_held_by_its_name() -> None:
    """nvidia-smi -L failed (no mig_devices), but a container holds nvidia.com/gpu=1:0: GPU 1 is in MIG mode."""
    held = held_gpus([[{"Driver": "cdi", "DeviceIDs": ["nvidia.com/gpu=1:0"]}]], MEMORY_GPU["gpus"])
    assert held == {"1:0"}
    assert partly_held(held) == {1}


def needs_all(mib: int) -> dict[str, t.Any]:
    """A service with every GPU (true or auto): app_stack's model gives it every GPU by index."""
    return needs([0, 1, 2, 3], mib)


@pytest.mark.parametrize(
    "gpu, held",
    [
        # GPU 1 in MIG mode: its figures are the card's, while the containers work on its MIG devices, whose memory
        # nvidia-smi does not report: not measured, held or not (the serving release's container on MIG device 1:0
        # uses some of GPU 1's free memory, and must not refuse its own next release).
        (MIG_GPU, set()),
        (MIG_GPU, {"1:0"}),
        (MIG_GPU, {1, "1:0", "1:1"}),
        # A fact that does not say MIG mode (no mig_mode, no MIG devices listed): a held MIG device says it.
        (MEMORY_GPU, {"1:0"}),
    ],
)
def test_a_gpu_in_mig_mode_is_not_measured(gpu: dict[str, t.Any], held: set[t.Any]) -> None:
    low = {
        **gpu,
        "gpus": [{**entry, "memory_free_mib": 900} if entry["index"] == 1 else entry for entry in gpu["gpus"]],
    }
    assert gpu_memory_problems(model(worker=needs_all(20000)), low, held, "gpu-1") == []
    # The other GPUs are measured as ever: GPU 0 has 24052 MiB free.
    [problem] = gpu_memory_problems(model(worker=needs_all(24100)), low, held, "gpu-1")
    assert f"GPU 0 (NVIDIA GeForce RTX 4090, {UUIDS[0]}) has 24052 MiB free" in problem
    assert "GPU 1" not in problem


def test_a_whole_gpu_held_beside_mig_devices_is_measured_by_its_whole_memory() -> None:
    """Holding MIG devices of GPU 1 changes nothing for GPU 0, held whole: its whole memory counts."""
    the_model = model(worker=needs([0], 24100))
    assert gpu_memory_problems(the_model, MIG_GPU, {0, "1:0"}, "gpu-1") == []
    assert len(gpu_memory_problems(the_model, MIG_GPU, {"1:0"}, "gpu-1")) == 1


def test_the_filter_reads_mig_devices_from_the_probe_and_the_fact() -> None:
    """The serving release's container on MIG device 1:0 (by UUID, the nvidia driver's form): GPU 1 is partly held."""
    low = {
        **MIG_GPU,
        "gpus": [{**entry, "memory_free_mib": 900} if entry["index"] == 1 else entry for entry in MIG_GPU["gpus"]],
    }
    probe = f'GPUREQ [{{"Driver":"nvidia","DeviceIDs":["{MIG_UUIDS[0]}"]}}]\n'
    assert app_stack_gpu_memory_problems(model(worker=needs_all(20000)), low, probe, "gpu-1") == []


def test_the_filter_reads_the_preflight_probe() -> None:
    the_model = model(worker=needs([0], 24100))
    assert len(app_stack_gpu_memory_problems(the_model, MEMORY_GPU, "DF /opt 1\nCURRENT 1.0\n", "gpu-1")) == 1
    probe = 'OURS \nGPUREQ [{"Driver":"cdi","DeviceIDs":["nvidia.com/gpu=0"]}]\nGPUREQ null\nGPUREQ {broken\n'
    assert app_stack_gpu_memory_problems(the_model, MEMORY_GPU, probe, "gpu-1") == []
    assert FilterModule().filters()["app_stack_gpu_memory_problems"] is app_stack_gpu_memory_problems


@pytest.mark.parametrize(
    "args, message",
    [
        (([], MEMORY_GPU, "", "h"), "the model must be a mapping"),
        ((model(), MEMORY_GPU, [], "h"), "probe must be the output of app_stack's pre-flight probe"),
    ],
)
def test_the_memory_filter_refuses_what_it_cannot_read(args: tuple[t.Any, ...], message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        app_stack_gpu_memory_problems(*args)
