"""aistack.deploy.nvidia_toolkit refuses bad input before it changes anything.

Two ansible-playbook runs (tests/harness/aistack_testlib/bad_input.py), IN CHECK MODE, each
case an inventory host (connection local) with its own variables: one run as
this machine is (no NVIDIA GPU), one with a fixture nvidia-smi of one GPU
(driver 550.127.05) first on PATH, so that the checks of a GPU host run too.
The hosts in group `bad` run the whole role and must fail in its validation,
naming the variable, before any task changed anything; the hosts in group
`good` run its argument validation and validate.yml and must pass them.
"""

from __future__ import annotations

import os
import shlex
import typing as t
from pathlib import Path

import pytest

from aistack_testlib.bad_input import (
    RunResult,
    assert_fails_in_validation,
    assert_passes_validation,
    assert_ran,
    inventory,
    local_host,
    role_tasks,
    run_playbook,
)

ROLE = "aistack.deploy.nvidia_toolkit"
ONE_GPU = (
    Path(__file__).resolve().parents[1] / "unit" / "plugins" / "module_utils" / "fixtures" / "nvidia_smi" / "one_gpu"
)


class Case(t.NamedTuple):
    variables: dict[str, t.Any]
    names: str  # what the failure message must name


BAD_WITHOUT_GPU: dict[str, Case] = {
    "unknown_runtime_mode": Case({"nvidia_toolkit_runtime_mode": "podman"}, "nvidia_toolkit_runtime_mode"),
    "version_pin_malformed": Case({"nvidia_toolkit_version": "latest"}, "nvidia_toolkit_version"),
    "version_pin_a_float": Case({"nvidia_toolkit_version": 1.17}, "nvidia_toolkit_version"),
    "min_driver_malformed": Case(
        {"nvidia_toolkit_driver_min_version": "five-fifty"}, "nvidia_toolkit_driver_min_version"
    ),
    "unknown_channel": Case({"nvidia_toolkit_repo_channel": "nightly"}, "nvidia_toolkit_repo_channel"),
    "repo_url_without_scheme": Case(
        {"nvidia_toolkit_repo_url": "nvidia.github.io/libnvidia-container"}, "nvidia_toolkit_repo_url"
    ),
    "key_url_without_scheme": Case(
        {"nvidia_toolkit_repo_key_url": "mirror.example.com/gpgkey"}, "nvidia_toolkit_repo_key_url"
    ),
    "cdi_spec_outside_cdi_dirs": Case(
        {"nvidia_toolkit_cdi_spec_path": "/opt/cdi/nvidia.yaml"}, "nvidia_toolkit_cdi_spec_path"
    ),
    "daemon_path_relative": Case(
        {"nvidia_toolkit_daemon_config_path": "etc/docker/daemon.json"}, "nvidia_toolkit_daemon_config_path"
    ),
    "default_runtime_not_a_bool": Case(
        {"nvidia_toolkit_default_runtime": "sometimes"}, "nvidia_toolkit_default_runtime"
    ),
    "smoke_command_empty": Case(
        {"nvidia_toolkit_smoke_image": "nvidia/cuda:12.6.3-base-ubuntu24.04", "nvidia_toolkit_smoke_command": []},
        "nvidia_toolkit_smoke_command",
    ),
    "smoke_image_without_gpu": Case(
        {"nvidia_toolkit_smoke_image": "nvidia/cuda:12.6.3-base-ubuntu24.04"}, "nvidia_toolkit_smoke_image"
    ),
    "misspelt_variable": Case({"nvidia_toolkit_runtime_mod": "cdi"}, "nvidia_toolkit_runtime_mod"),
    "unsupported_platform": Case({"test_os_family": "Archlinux"}, "supports Debian"),
}
GOOD_WITHOUT_GPU: dict[str, Case] = {
    "good_defaults": Case({}, ""),
    "good_everything": Case(
        {
            "nvidia_toolkit_version": "1.17.3",
            "nvidia_toolkit_runtime_mode": "legacy",
            "nvidia_toolkit_default_runtime": True,
            "nvidia_toolkit_driver_min_version": "",
            "nvidia_toolkit_repo_url": "https://mirror.example.com/libnvidia-container/",
            "nvidia_toolkit_repo_key_url": "file:///srv/keys/nvidia.asc",
            "nvidia_toolkit_repo_channel": "experimental",
            "nvidia_toolkit_cdi_spec_path": "/var/run/cdi/nvidia.json",
        },
        "",
    ),
}
BAD_WITH_GPU: dict[str, Case] = {
    "driver_older_than_minimum": Case(
        {"nvidia_toolkit_driver_min_version": "560.28"}, "nvidia_toolkit_driver_min_version"
    ),
    "cdi_on_docker_20": Case(
        {"aistack_docker": {"installed": True, "engine_version": "20.10.24"}}, "nvidia_toolkit_runtime_mode"
    ),
}
GOOD_WITH_GPU: dict[str, Case] = {
    "good_gpu_defaults": Case({}, ""),
    "good_gpu_smoke_test": Case(
        {
            "nvidia_toolkit_smoke_image": "nvidia/cuda:12.6.3-base-ubuntu24.04",
            "nvidia_toolkit_driver_min_version": "550.127.05",
        },
        "",
    ),
    "good_gpu_legacy_on_docker_20": Case(
        {"nvidia_toolkit_runtime_mode": "legacy", "aistack_docker": {"installed": True, "engine_version": "20.10.24"}},
        "",
    ),
}

PLAYBOOK = f"""
# One play: when every host of a play has failed, later plays do not run.
- name: Run nvidia_toolkit with bad and good input
  hosts: all
  gather_facts: false
  tasks:
    - name: Gather the platform facts
      ansible.builtin.setup:
        gather_subset: [min]

    - name: Pretend to be another platform
      ansible.builtin.set_fact:
        os_family: "{{{{ test_os_family }}}}"
        cacheable: true
      when: test_os_family is defined
{role_tasks(ROLE)}"""


def _run(tmp_path: Path, bad: dict[str, Case], good: dict[str, Case]) -> RunResult:
    role_path = Path(__file__).resolve().parents[2] / "roles" / "nvidia_toolkit"

    def host(case: Case) -> dict[str, t.Any]:
        # Safety net behind check mode: nothing points at the machine's own files.
        return local_host(**{"nvidia_toolkit_daemon_config_path": str(tmp_path / "daemon.json"), **case.variables})

    data = inventory(
        {name: host(case) for name, case in bad.items()},
        {name: host(case) for name, case in good.items()},
        {"test_role_path": str(role_path)},
    )
    run = run_playbook(tmp_path, data, PLAYBOOK)
    assert_ran(run, [*bad, *good])
    return run


def _check(run: RunResult, bad: dict[str, Case], good: dict[str, Case]) -> None:
    for name, case in bad.items():
        assert_fails_in_validation(run, name, case.names)
    for name in good:
        assert_passes_validation(
            run, name, "validate_host | Check the GPU, its driver and Docker (nothing has changed yet)"
        )


def test_bad_input_on_a_host_without_gpu(tmp_path: Path) -> None:
    if any((Path(d) / "nvidia-smi").exists() for d in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("this machine has an nvidia-smi: the cases assume a host without a GPU")
    run = _run(tmp_path, BAD_WITHOUT_GPU, GOOD_WITHOUT_GPU)
    _check(run, BAD_WITHOUT_GPU, GOOD_WITHOUT_GPU)
    # A host without a GPU: the message says so, not just the variable.
    assert "no NVIDIA GPU" in assert_fails_in_validation(run, "smoke_image_without_gpu", "nvidia_toolkit_smoke_image")


def test_bad_input_on_a_gpu_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *--query-gpu=*) cat {shlex.quote(str(ONE_GPU / "query.txt"))} ;;'
        f" *) cat {shlex.quote(str(ONE_GPU / 'summary.txt'))} ;; esac\n"
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    run = _run(tmp_path, BAD_WITH_GPU, GOOD_WITH_GPU)
    _check(run, BAD_WITH_GPU, GOOD_WITH_GPU)
    assert "550.127.05" in assert_fails_in_validation(run, "driver_older_than_minimum", "560.28")
