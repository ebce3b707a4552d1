"""site.yml's pre-flight on a GPU host: a GPU image's CUDA against the driver's, before anything changes.

Real ansible-playbook runs on this machine (connection local): the stack's
input checks and app_stack's pre-flight probe, as site.yml's first play runs
them after nvidia_toolkit's detection, whose aistack_gpu fact is given here
(the synthetic GPU host of molecule/nvidia_toolkit runs the detection itself).
The images are tiny local ones that say their CUDA as app_image's label or as
NVIDIA's CUDA_VERSION; the rules are unit tests
(tests/unit/plugins/plugin_utils/test_gpu_preflight.py).
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

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the stack's input as site.yml's pre-flight does
      ansible.builtin.include_role: {name: aistack.deploy.app_stack, tasks_from: validate.yml}
      vars: {__app_stack_input_only: true}
    - name: Check that the host can take the release
      ansible.builtin.include_role: {name: aistack.deploy.app_stack, tasks_from: preflight.yml}
"""
# What nvidia_toolkit's pre-flight hands on for a host with one RTX 4090 on driver 550.127.05 (CUDA 12.4 at most).
GPU = {
    "present": True,
    "usable": True,
    "count": 1,
    "driver_version": "550.127.05",
    "cuda_version": "12.4",
    "memory_free_mib": [24052],
    "cdi_devices": [],
    "gpus": [
        {
            "index": 0,
            "name": "NVIDIA GeForce RTX 4090",
            "uuid": "GPU-5e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c45",
            "memory_free_mib": 24052,
        }
    ],
}


@pytest.fixture(scope="module")
def gpu_images(busybox_image: str) -> t.Iterator[dict[str, str]]:
    """Two images of a GPU service: one built for CUDA 12.8 (app_image's label), one for 12.4.1 (NVIDIA's env)."""
    tag = uuid.uuid4().hex[:10]
    images = {"too_new": f"aistack-gpuh-cuda-{tag}:12.8", "fits": f"aistack-gpuh-cuda-{tag}:12.4.1"}
    builds = {
        "too_new": f"FROM {busybox_image}\nLABEL io.aistack.deploy.cuda-version=12.8\n",
        "fits": f"FROM {busybox_image}\nENV CUDA_VERSION=12.4.1\n",
    }
    for case, dockerfile in builds.items():
        subprocess.run(
            ["docker", "build", "-q", "-t", images[case], "-"],
            input=dockerfile,
            text=True,
            capture_output=True,
            check=True,
        )
    yield images
    subprocess.run(["docker", "image", "rm", *images.values()], capture_output=True, check=False)


# The deploy's own input check, right after app_image: an image built or loaded in this run is known only there.
AFTER_APP_IMAGE = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the stack's input as the deploy does
      ansible.builtin.include_role: {name: aistack.deploy.app_stack, tasks_from: validate.yml}
"""


def run(tmp_path: Path, image: str, play: str = PLAY) -> subprocess.CompletedProcess[str]:
    (tmp_path / "play.yml").write_text(play)
    variables = {
        "ansible_python_interpreter": sys.executable,
        "aistack_gpu": GPU,
        "app_stack_name": "gpu-preflight-it",
        "app_stack_release": "1.0.0",
        "app_stack_root": str(tmp_path / "opt" / "app"),
        "app_stack_data_root": str(tmp_path / "var" / "app"),
        "app_stack_min_free_disk_mb": 1,
        "app_stack_services": {
            "inference": {
                "image": image,
                "gpu": [0],
                "command": ["sleep", "600"],
                "healthcheck": {"test": ["CMD", "true"]},
            }
        },
        "app_stack_required_secrets": [],
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            json.dumps(variables),
            str(tmp_path / "play.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, NO_COLOR="1", ANSIBLE_FORCE_COLOR="false"),
    )


def test_an_image_built_for_a_newer_cuda_than_the_driver_runs_is_refused(
    tmp_path: Path, gpu_images: dict[str, str]
) -> None:
    done = run(tmp_path, gpu_images["too_new"])
    assert done.returncode != 0
    output = done.stdout.replace('\\"', '"')
    assert (
        f"localhost cannot take release 1.0.0 of gpu-preflight-it: service inference runs {gpu_images['too_new']}, "
        "built for CUDA 12.8 (its label io.aistack.deploy.cuda-version), but the NVIDIA driver 550.127.05 of "
        "GPU 0 (NVIDIA GeForce RTX 4090) on localhost runs CUDA 12.4 at most"
    ) in output, output[-3000:]
    assert "Nothing has changed on any host" in output
    assert not (tmp_path / "opt").exists() and not (tmp_path / "var").exists()


def test_an_image_the_driver_runs_passes(tmp_path: Path, gpu_images: dict[str, str]) -> None:
    done = run(tmp_path, gpu_images["fits"])
    assert done.returncode == 0, done.stdout[-3000:]


def test_an_image_known_only_after_app_image_is_refused_before_app_stack_changes_anything(
    tmp_path: Path, gpu_images: dict[str, str]
) -> None:
    done = run(tmp_path, gpu_images["too_new"], AFTER_APP_IMAGE)
    assert done.returncode != 0
    output = done.stdout.replace('\\"', '"')
    assert "validate | Check that the NVIDIA driver runs the CUDA of the GPU services' images" in output
    assert (
        f"service inference runs {gpu_images['too_new']}, built for CUDA 12.8 (its label "
        "io.aistack.deploy.cuda-version), but the NVIDIA driver 550.127.05 of GPU 0 (NVIDIA GeForce RTX 4090) on "
        "localhost runs CUDA 12.4 at most"
    ) in output, output[-3000:]
    assert "app_stack changed nothing on localhost" in output
    assert not (tmp_path / "opt").exists() and not (tmp_path / "var").exists()
