"""app_image refuses a controller build that would serve a GPU and a CPU variant under one image name.

With app_image_variant: auto on a mixed fleet (nvidia_toolkit's aistack_gpu
differs between hosts), a controller build lays out one Dockerfile per image
name and release for every host: all would get the same variant. validate.yml
fails such hosts before anything changes and says what to do; one image name
per variant, a single variant, or host builds pass. One ansible-playbook run
in check mode, local hosts (tests/harness/bad_input.py).
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from bad_input import assert_fails_in_validation, assert_passes_validation, assert_ran, inventory, local_host, \
    run_playbook

CONTEXT = str(Path(__file__).resolve().parents[2] / "examples" / "reference-backend")

PLAYBOOK = """
- name: Validate app_image on a mixed fleet
  hosts: all
  gather_facts: false
  tasks:
    - name: Validate the input
      ansible.builtin.include_role:
        name: aistack.deploy.app_image
        tasks_from: validate.yml
"""


def host(name: str, gpu: bool, **variables: t.Any) -> dict[str, t.Any]:
    return local_host(**{"app_image_name": name, "app_image_gpu_present": gpu, "app_image_context_src": CONTEXT,
                         "app_image_source": "build_controller", "app_image_variant": "auto", **variables})


def test_mixed_variants_under_one_name_fail_before_any_change(tmp_path: Path) -> None:
    bad = {"gpu-1": host("acme/worker", True), "cpu-1": host("acme/worker", False)}
    good = {
        "gpu-2": host("acme/worker-gpu", True), "cpu-2": host("acme/worker-cpu", False),
        # The same name in another release, a fixed variant, a host build: no clash.
        "gpu-3": host("acme/worker", True, app_image_release="2.0.0"),
        "cpu-fixed": host("acme/other", True, app_image_variant="cpu"),
        "cpu-fixed-2": host("acme/other", False, app_image_variant="cpu"),
        "builder": host("acme/worker", False, app_image_source="build_host"),
    }
    run = run_playbook(tmp_path, inventory(bad, good), PLAYBOOK)
    assert_ran(run, [*bad, *good])
    for name in bad:
        text = assert_fails_in_validation(run, name, "app_image_name", "app_image_source=build_host")
        assert ("gpu-1" in text) != (name == "gpu-1")
    for name in good:
        assert_passes_validation(run, name, "validate | Check that a controller build serves one variant per image name")
