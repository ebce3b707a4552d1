"""app_image serves a mixed CPU/GPU fleet from one image name and one controller build.

With app_image_variant: auto on a fleet whose hosts differ in nvidia_toolkit's
aistack_gpu, a controller build makes both variants of the generated
Dockerfile under the one name: the GPU variant tagged <release>-gpu, the CPU
variant <release>, each host getting only its own (the nvidia_toolkit
scenario builds and deploys both). This test proves the naming each host is
handed before anything is built: every host of the fleet passes validation
(a controller build used to refuse such a fleet), and aistack_image names
the tag of its variant. A GPU host that builds its own image names it the
same way (what it pushes is what a GPU host pulls); an app's own Dockerfile
(which has no variants) keeps <release>. A fleet that pulls
(app_image_source: pull) takes the same tags without being told:
<release>-gpu on a GPU host, <release> on a CPU host, and its pre-flight
asks the registry for exactly the tag the host will pull. One ansible-playbook run in check mode per
test, local hosts (tests/harness/aistack_testlib/bad_input.py); nothing is built or pulled.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from aistack_testlib.bad_input import assert_passes_validation, inventory, local_host, run_playbook

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
    return local_host(
        **{
            "app_image_name": "acme/worker",
            "app_image_release": "1.0.0",
            "app_image_targets": ["worker"],
            "app_image_gpu_present": gpu,
            "app_image_context_src": CONTEXT,
            "app_image_source": "build_controller",
            "app_image_variant": "auto",
            **variables,
        }
    )


# Nothing answers on port 9 of the loopback: a pre-flight that asks there names the image it asked for.
REGISTRY = "127.0.0.1:9"
PULL = {"app_image_source": "pull", "app_image_registry": REGISTRY, "app_image_context_src": ""}

HOSTS = {
    # One inventory, one controller build: both variants under the one name.
    "gpu-1": (host(True), "acme/worker-worker:1.0.0-gpu"),
    "cpu-1": (host(False), "acme/worker-worker:1.0.0"),
    # A fixed variant names its tag alike, whatever the host has.
    "gpu-fixed": (host(False, app_image_variant="gpu"), "acme/worker-worker:1.0.0-gpu"),
    "cpu-fixed": (host(True, app_image_variant="cpu"), "acme/worker-worker:1.0.0"),
    # A host builds only its own variant, named as a controller build names it; an app's own Dockerfile has none.
    "gpu-host-build": (host(True, app_image_source="build_host"), "acme/worker-worker:1.0.0-gpu"),
    "cpu-host-build": (host(False, app_image_source="build_host"), "acme/worker-worker:1.0.0"),
    "gpu-own-dockerfile": (
        host(True, app_image_dockerfile="project", app_image_context_src=OWN_DOCKERFILE_APP),
        "acme/worker-worker:1.0.0",
    ),
    # A fleet that pulls what a controller build pushed: each host the tag of its own variant, unasked.
    "gpu-pull": (host(True, **PULL), "acme/worker-worker:1.0.0-gpu"),
    "cpu-pull": (host(False, **PULL), "acme/worker-worker:1.0.0"),
    "cpu-fixed-pull": (host(True, app_image_variant="cpu", **PULL), "acme/worker-worker:1.0.0"),
    # Images of an app's own Dockerfile have no variants: <release> on every host.
    "gpu-own-dockerfile-pull": (host(True, app_image_dockerfile="project", **PULL), "acme/worker-worker:1.0.0"),
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
        # The release stays the release: only the tag of the GPU variant says -gpu.
        assert fact["release"] == "1.0.0"


PREFLIGHT = """
- name: Check that each host can have its images
  hosts: all
  gather_facts: false
  tasks:
    - name: Run app_image's pre-flight
      ansible.builtin.include_role:
        name: aistack.deploy.app_image
        tasks_from: preflight.yml
"""


def test_the_pull_preflight_asks_the_registry_for_the_tag_the_host_pulls(tmp_path: Path) -> None:
    # The registry does not answer: each host's refusal names the image it asked for, which is the one it pulls.
    pulls = {name: case for name, case in HOSTS.items() if name.endswith("-pull")}
    run = run_playbook(tmp_path, inventory({}, {name: case[0] for name, case in pulls.items()}), PREFLIGHT)
    assert run.rc != 0
    for name, (_variables, image) in pulls.items():
        [(task, result)] = [entry for entry in run.tasks[name] if entry[1].get("failed")]
        assert task == "preflight | Refuse a host whose images can be neither had nor built (nothing has changed yet)"
        assert f"{name} cannot pull image {REGISTRY}/{image} (" in result["msg"], result["msg"]
        assert "the registry does not answer" in result["msg"]
        assert not [entry[0] for entry in run.tasks[name] if entry[1].get("changed")]
    # Only the GPU host's message says why its tag is not the release.
    assert "this host takes the GPU variant (app_image_variant=auto), tagged 1.0.0-gpu" in str(run.tasks["gpu-pull"])
    assert "takes the GPU variant" not in str(run.tasks["cpu-pull"])
