"""app_image serves a mixed CPU/GPU fleet from one image name and one controller build.

With app_image_variant: auto on a fleet whose hosts differ in nvidia_toolkit's
aistack_gpu, a controller build makes both variants of the generated
Dockerfile under the one name: the GPU variant tagged <release>-gpu, the CPU
variant <release>, each host getting only its own (the nvidia_toolkit
scenario builds and deploys both). This test proves the naming each host is
handed before anything is built: every host of the fleet passes validation
(a controller build used to refuse such a fleet), and aistack_image names
the tag of its variant; a host build, or an app's own Dockerfile (which has
no variants), keeps <release>. One ansible-playbook run in check mode, local
hosts (tests/harness/bad_input.py); nothing is built.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from bad_input import assert_passes_validation, inventory, local_host, run_playbook

CONTEXT = str(Path(__file__).resolve().parents[2] / "examples" / "reference-backend")
OWN_DOCKERFILE_APP = str(Path(__file__).resolve().parent / "byod-app")

PLAYBOOK = """
- name: Name the images of a mixed fleet
  hosts: all
  gather_facts: false
  tasks:
    - name: Validate the input
      ansible.builtin.include_role:
        name: aistack.deploy.app_image
        tasks_from: validate.yml
    # Check mode: nothing is built, so the fact names the images the host would get.
    - name: Hand on the aistack_image fact
      ansible.builtin.include_role:
        name: aistack.deploy.app_image
        tasks_from: facts.yml
"""


def host(gpu: bool, **variables: t.Any) -> dict[str, t.Any]:
    return local_host(**{"app_image_name": "acme/worker", "app_image_release": "1.0.0", "app_image_targets": ["worker"],
                         "app_image_gpu_present": gpu, "app_image_context_src": CONTEXT,
                         "app_image_source": "build_controller", "app_image_variant": "auto", **variables})


HOSTS = {
    # One inventory, one controller build: both variants under the one name.
    "gpu-1": (host(True), "acme/worker-worker:1.0.0-gpu"),
    "cpu-1": (host(False), "acme/worker-worker:1.0.0"),
    # A fixed variant names its tag alike, whatever the host has.
    "gpu-fixed": (host(False, app_image_variant="gpu"), "acme/worker-worker:1.0.0-gpu"),
    "cpu-fixed": (host(True, app_image_variant="cpu"), "acme/worker-worker:1.0.0"),
    # A host builds only its own variant; an app's own Dockerfile has none.
    "gpu-host-build": (host(True, app_image_source="build_host"), "acme/worker-worker:1.0.0"),
    "gpu-own-dockerfile": (host(True, app_image_dockerfile="project", app_image_context_src=OWN_DOCKERFILE_APP),
                           "acme/worker-worker:1.0.0"),
}


def image_fact(run: t.Any, name: str) -> dict[str, t.Any]:
    for task, result in run.tasks[name]:
        if task == "facts | Set the aistack_image fact":
            return result["ansible_facts"]["aistack_image"]
    raise AssertionError(f"{name}: no aistack_image fact: {[entry[0] for entry in run.tasks[name]]}")


def test_one_name_serves_both_variants_each_host_its_own_tag(tmp_path: Path) -> None:
    run = run_playbook(tmp_path, inventory({}, {name: case[0] for name, case in HOSTS.items()}), PLAYBOOK)
    assert run.rc == 0, run.output[-3000:]
    for name, (_variables, image) in HOSTS.items():
        assert_passes_validation(run, name, "validate | Check the role's input (nothing has changed yet)")
        fact = image_fact(run, name)
        assert fact["images"] == {"worker": image}, name
        # The release stays the release: only the tag of a controller build's GPU variant says -gpu.
        assert fact["release"] == "1.0.0"
