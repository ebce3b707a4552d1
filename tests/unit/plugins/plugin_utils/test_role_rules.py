# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for each role's own input rules (plugins/plugin_utils/_<role>_input.py) and their filters.

Each bad case starts from the role's defaults, changes what the case names and
must yield exactly one problem that starts with the variable to fix and holds
the text given; each good case yields none. The end-to-end proof that a bad
variable changes nothing on a host is in tests/integration/test_*_bad_input.py.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.app_image import FilterModule as AppImageFilters
from ansible_collections.aistack.deploy.plugins.filter.role_input import FilterModule
from ansible_collections.aistack.deploy.plugins.plugin_utils._app_image_input import app_image_problems, dependency_plan
from ansible_collections.aistack.deploy.plugins.plugin_utils._app_stack_input import app_stack_settings_problems
from ansible_collections.aistack.deploy.plugins.plugin_utils._docker_engine_input import docker_engine_problems
from ansible_collections.aistack.deploy.plugins.plugin_utils._nvidia_toolkit_input import (
    nvidia_toolkit_host_problems,
    nvidia_toolkit_problems,
)

ROLES_DIR = Path(__file__).resolve().parents[4] / "roles"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
COMPOSE = "/usr/local/lib/docker/cli-plugins/docker-compose"


def defaults(role: str, **rendered: t.Any) -> dict[str, t.Any]:
    values = yaml.safe_load((ROLES_DIR / role / "defaults" / "main.yml").read_text()) or {}
    return dict(values, **rendered)


DE = defaults("docker_engine", docker_engine_extra_ca_certificates=[], docker_engine_install_source="distro")
DEBIAN13 = {
    "platform": "Debian 13",
    "supported": True,
    "distro_supported": True,
    "compose_packages": ["docker-compose"],
    "compose_plugin_src_exists": False,
    "users": None,
}
DEBIAN12 = dict(DEBIAN13, platform="Debian 12", compose_packages=[])
EL9 = dict(DEBIAN13, platform="Rocky 9", distro_supported=False)

# name -> (changed variables, host, variable named first, text)
DOCKER_BAD: dict[str, tuple[dict[str, t.Any], dict[str, t.Any], str, str]] = {
    "unsupported_platform": (
        {},
        dict(DEBIAN13, supported=False, platform="Archlinux NA"),
        "platform",
        "supports Debian 12/13",
    ),
    "distro_on_el9": ({}, EL9, "docker_engine_install_source", "has no Docker Engine packages of its own"),
    "version_malformed": ({"docker_engine_version": "latest"}, DEBIAN13, "docker_engine_version", '"latest"'),
    "repo_url_without_scheme": (
        {"docker_engine_install_source": "docker_ce", "docker_engine_docker_ce_url": "download.docker.com/linux"},
        DEBIAN13,
        "docker_engine_docker_ce_url",
        "http://, https:// or file://",
    ),
    "apt_cache_negative": (
        {"docker_engine_apt_cache_valid_time": -1},
        DEBIAN13,
        "docker_engine_apt_cache_valid_time",
        "0 or more",
    ),
    "debian12_distro_without_compose": ({}, DEBIAN12, "docker_engine_compose_plugin_src", "no Compose v2 package"),
    "compose_src_and_url": (
        {
            "docker_engine_compose_plugin_src": "/c",
            "docker_engine_compose_plugin_url": "https://x/c",
            "docker_engine_compose_plugin_checksum": "sha256:00",
        },
        dict(DEBIAN13, compose_plugin_src_exists=True),
        "docker_engine_compose_plugin_src",
        "both set",
    ),
    "compose_src_missing": (
        {"docker_engine_compose_plugin_src": "/nonexistent/docker-compose"},
        DEBIAN13,
        "docker_engine_compose_plugin_src",
        "no such file on the controller",
    ),
    "compose_url_scheme": (
        {
            "docker_engine_compose_plugin_url": "example.invalid/compose",
            "docker_engine_compose_plugin_checksum": "sha256:00",
        },
        DEBIAN13,
        "docker_engine_compose_plugin_url",
        "needs an http(s)://",
    ),
    "compose_url_without_checksum": (
        {"docker_engine_compose_plugin_url": "https://x/docker-compose"},
        DEBIAN13,
        "docker_engine_compose_plugin_checksum",
        "<algorithm>:<digest>",
    ),
    "compose_checksum_malformed": (
        {
            "docker_engine_compose_plugin_url": "https://x/docker-compose",
            "docker_engine_compose_plugin_checksum": "0123abcd",
        },
        DEBIAN13,
        "docker_engine_compose_plugin_checksum",
        '"0123abcd"',
    ),
    "compose_dest_not_a_plugin_dir": (
        {
            "docker_engine_compose_plugin_src": "/c",
            "docker_engine_compose_plugin_dest": "/usr/local/bin/docker-compose",
        },
        dict(DEBIAN13, compose_plugin_src_exists=True),
        "docker_engine_compose_plugin_dest",
        "finds Compose only as docker-compose",
    ),
    "compose_dest_wrong_name": (
        {
            "docker_engine_compose_plugin_src": "/c",
            "docker_engine_compose_plugin_dest": "/usr/libexec/docker/cli-plugins/compose",
        },
        dict(DEBIAN13, compose_plugin_src_exists=True),
        "docker_engine_compose_plugin_dest",
        "docker-compose",
    ),
    "daemon_path_relative": (
        {"docker_engine_daemon_config_path": "etc/docker/daemon.json"},
        DEBIAN13,
        "docker_engine_daemon_config_path",
        "absolute file path",
    ),
    "daemon_path_a_directory": (
        {"docker_engine_daemon_config_path": "/etc/docker/"},
        DEBIAN13,
        "docker_engine_daemon_config_path",
        "absolute file path",
    ),
    "log_opts_value_not_a_string": (
        {"docker_engine_daemon_settings": {"log-opts": {"max-file": 5}}},
        DEBIAN13,
        "docker_engine_daemon_settings",
        "log-opts",
    ),
    "default_settings_bool_as_string": (
        {"docker_engine_daemon_default_settings": {"live-restore": "yes"}},
        DEBIAN13,
        "docker_engine_daemon_default_settings",
        "live-restore",
    ),
    "mirror_without_scheme": (
        {"docker_engine_daemon_settings": {"registry-mirrors": ["mirror.example.com"]}},
        DEBIAN13,
        "docker_engine_daemon_settings",
        "registry-mirrors",
    ),
    "address_pool_malformed": (
        {"docker_engine_daemon_settings": {"default-address-pools": [{"base": "172.30.0.0/33", "size": 24}]}},
        DEBIAN13,
        "docker_engine_daemon_settings",
        "default-address-pools",
    ),
    "log_level_unknown": (
        {"docker_engine_daemon_settings": {"log-level": "verbose"}},
        DEBIAN13,
        "docker_engine_daemon_settings",
        "log-level",
    ),
    "data_root_relative": (
        {"docker_engine_daemon_settings": {"data-root": "srv/docker"}},
        DEBIAN13,
        "docker_engine_daemon_settings",
        "data-root",
    ),
    "hosts_key_clashes_with_unit": (
        {"docker_engine_daemon_settings": {"hosts": ["unix:///var/run/docker.sock"]}},
        DEBIAN13,
        "docker_engine_daemon_settings",
        "sets hosts",
    ),
    "remove_a_key_that_is_set": (
        {"docker_engine_daemon_remove_keys": ["log-opts/max-size"]},
        DEBIAN13,
        "docker_engine_daemon_remove_keys[0]",
        "would change back and forth",
    ),
    "remove_key_malformed": (
        {"docker_engine_daemon_remove_keys": ["log-opts//max-size"]},
        DEBIAN13,
        "docker_engine_daemon_remove_keys[0]",
        "not a key path",
    ),
    "ca_certificate_not_pem": (
        {"docker_engine_extra_ca_certificates": [{"name": "corp", "content": "nope"}]},
        DEBIAN13,
        "docker_engine_extra_ca_certificates[0].content",
        "PEM",
    ),
    "ca_certificate_bad_name": (
        {"docker_engine_extra_ca_certificates": [{"name": "../x", "content": PEM}]},
        DEBIAN13,
        "docker_engine_extra_ca_certificates[0].name",
        '"../x"',
    ),
    "ca_certificate_not_a_mapping": (
        {"docker_engine_extra_ca_certificates": [PEM]},
        DEBIAN13,
        "docker_engine_extra_ca_certificates[0]",
        "must be a mapping",
    ),
    "user_does_not_exist": (
        {"docker_engine_users": ["nobody-4711"]},
        dict(DEBIAN13, users=["root"]),
        "docker_engine_users",
        '"nobody-4711"',
    ),
}


@pytest.mark.parametrize("case", sorted(DOCKER_BAD))
def test_docker_engine_bad(case: str) -> None:
    changed, host, name, text = DOCKER_BAD[case]
    problems = docker_engine_problems(dict(DE, **changed), host)
    assert len(problems) == 1, problems
    assert problems[0].startswith(name + ":"), problems
    assert text in problems[0], problems


@pytest.mark.parametrize(
    ("changed", "host"),
    [
        ({}, DEBIAN13),
        ({"docker_engine_compose_plugin_src": "/c"}, dict(DEBIAN12, compose_plugin_src_exists=True)),
        (
            {
                "docker_engine_install_source": "docker_ce",
                "docker_engine_version": "27.3.1",
                "docker_engine_compose_plugin_url": "https://example.invalid/docker-compose",
                "docker_engine_compose_plugin_checksum": "sha256:" + "0" * 64,
            },
            EL9,
        ),
        (
            {
                "docker_engine_users": ["root"],
                "docker_engine_version": "26.1",
                "docker_engine_daemon_settings": {
                    "registry-mirrors": ["https://m.example"],
                    "data-root": "/srv/docker",
                    "default-address-pools": [{"base": "172.30.0.0/16", "size": 24}],
                    "log-opts": {"max-size": "50m"},
                },
                "docker_engine_daemon_remove_keys": ["debug", "log-opts/compress"],
                "docker_engine_extra_ca_certificates": [{"name": "corp-proxy", "content": PEM}],
            },
            dict(DEBIAN13, users=["root", "daemon"]),
        ),
        # dockerd's own check is off: the settings are the user's to vouch for.
        ({"docker_engine_daemon_validate": False, "docker_engine_daemon_settings": {"live-restore": "yes"}}, DEBIAN13),
    ],
    ids=["defaults", "debian12_compose_src", "el9_docker_ce_pinned", "everything", "validate_off"],
)
def test_docker_engine_good(changed: dict[str, t.Any], host: dict[str, t.Any]) -> None:
    assert docker_engine_problems(dict(DE, **changed), host) == []


def test_docker_engine_every_problem_at_once() -> None:
    problems = docker_engine_problems(
        dict(DE, docker_engine_version="latest", docker_engine_daemon_config_path="daemon.json"), DEBIAN13
    )
    assert [p.split(":")[0] for p in problems] == ["docker_engine_version", "docker_engine_daemon_config_path"]


NV = defaults("nvidia_toolkit")
APT = {"platform": "Debian 13", "pkg_mgr": "apt"}

NVIDIA_BAD: dict[str, tuple[dict[str, t.Any], dict[str, t.Any], str, str]] = {
    "unsupported_platform": ({}, {"platform": "Archlinux", "pkg_mgr": ""}, "platform", "apt and dnf"),
    "version_malformed": ({"nvidia_toolkit_version": "newest"}, APT, "nvidia_toolkit_version", '"newest"'),
    "driver_min_malformed": (
        {"nvidia_toolkit_driver_min_version": "r550"},
        APT,
        "nvidia_toolkit_driver_min_version",
        "for any",
    ),
    "repo_url_without_scheme": (
        {"nvidia_toolkit_repo_url": "nvidia.github.io/x"},
        APT,
        "nvidia_toolkit_repo_url",
        "http://",
    ),
    "repo_key_url_without_scheme": (
        {"nvidia_toolkit_repo_key_url": "nvidia.github.io/gpgkey"},
        APT,
        "nvidia_toolkit_repo_key_url",
        "http://",
    ),
    "daemon_path_relative": (
        {"nvidia_toolkit_daemon_config_path": "daemon.json"},
        APT,
        "nvidia_toolkit_daemon_config_path",
        "absolute file path",
    ),
    "cdi_spec_outside_cdi_dirs": (
        {"nvidia_toolkit_cdi_spec_path": "/opt/cdi/nvidia.yaml"},
        APT,
        "nvidia_toolkit_cdi_spec_path",
        "/etc/cdi and /var/run/cdi",
    ),
    "cdi_spec_not_yaml": (
        {"nvidia_toolkit_cdi_spec_path": "/etc/cdi/nvidia.txt"},
        APT,
        "nvidia_toolkit_cdi_spec_path",
        "*.yaml or *.json",
    ),
    "smoke_command_empty": (
        {"nvidia_toolkit_smoke_image": "cuda:12", "nvidia_toolkit_smoke_command": []},
        APT,
        "nvidia_toolkit_smoke_command",
        "non-empty list of strings",
    ),
}


@pytest.mark.parametrize("case", sorted(NVIDIA_BAD))
def test_nvidia_toolkit_bad(case: str) -> None:
    changed, host, name, text = NVIDIA_BAD[case]
    problems = nvidia_toolkit_problems(dict(NV, **changed), host)
    assert len(problems) == 1, problems
    assert problems[0].startswith(name + ":"), problems
    assert text in problems[0], problems


def test_nvidia_toolkit_good() -> None:
    assert nvidia_toolkit_problems(NV, APT) == []
    legacy = dict(NV, nvidia_toolkit_runtime_mode="legacy", nvidia_toolkit_cdi_spec_path="/anywhere")
    assert nvidia_toolkit_problems(legacy, {"platform": "Rocky 9", "pkg_mgr": "dnf"}) == []


NO_GPU = {"present": False, "count": 0}
GPU = {"present": True, "usable": True, "count": 1, "driver_version": "550.127.05", "driver_state": "ok"}
DOCKER_27 = {"installed": True, "engine_version": "27.3.1"}

GPU_BAD: dict[str, tuple[dict[str, t.Any], dict[str, t.Any], dict[str, t.Any], str, str]] = {
    "smoke_without_gpu": (
        {"nvidia_toolkit_smoke_image": "cuda:12"},
        NO_GPU,
        DOCKER_27,
        "nvidia_toolkit_smoke_image",
        "no NVIDIA GPU",
    ),
    "no_driver": (
        {},
        dict(
            GPU,
            usable=False,
            driver_state="no_driver",
            driver_message="nvidia-smi not found",
            pci_devices=[{"address": "0000:01:00.0"}],
        ),
        DOCKER_27,
        "driver",
        "on the PCI bus (0000:01:00.0) but no working driver: nvidia-smi not found. Install the NVIDIA driver"
        " (525.60.13 or later",
    ),
    "version_mismatch": (
        {},
        dict(GPU, usable=False, driver_state="version_mismatch", driver_message="Driver/library version mismatch"),
        DOCKER_27,
        "driver",
        "Driver/library version mismatch.",
    ),
    "driver_too_old": (
        {"nvidia_toolkit_driver_min_version": "560"},
        GPU,
        DOCKER_27,
        "nvidia_toolkit_driver_min_version",
        "550.127.05 is older",
    ),
    "cdi_on_docker_24": (
        {},
        GPU,
        {"installed": True, "engine_version": "24.0.7"},
        "nvidia_toolkit_runtime_mode",
        "this host runs 24.0.7",
    ),
}


@pytest.mark.parametrize("case", sorted(GPU_BAD))
def test_nvidia_toolkit_host_bad(case: str) -> None:
    changed, gpu, docker, name, text = GPU_BAD[case]
    problems = nvidia_toolkit_host_problems(dict(NV, **changed), gpu, docker)
    assert len(problems) == 1, problems
    assert problems[0].startswith(name + ":"), problems
    assert text in problems[0], problems


@pytest.mark.parametrize(
    ("changed", "gpu", "docker"),
    [
        ({}, NO_GPU, {}),
        ({}, GPU, DOCKER_27),
        ({"nvidia_toolkit_runtime_mode": "legacy"}, GPU, {"installed": True, "engine_version": "24.0.7"}),
        ({"nvidia_toolkit_driver_min_version": ""}, GPU, {"installed": False}),
    ],
)
def test_nvidia_toolkit_host_good(changed: dict[str, t.Any], gpu: dict[str, t.Any], docker: dict[str, t.Any]) -> None:
    assert nvidia_toolkit_host_problems(dict(NV, **changed), gpu, docker) == []


AI = defaults(
    "app_image",
    app_image_name="acme/api",
    app_image_release="1.0.0",
    app_image_context_src="/src",
    app_image_keep_releases=5,
    app_image_registry="",
    app_image_registry_username="",
    app_image_registry_password="",
)

IMAGE_BAD: dict[str, tuple[dict[str, t.Any], t.Any, str, str]] = {
    "name_upper_case": ({"app_image_name": "Acme/API"}, True, "app_image_name", "lower-case"),
    "name_with_tag": ({"app_image_name": "acme/api:1"}, True, "app_image_name", '"acme/api:1"'),
    "release_with_slash": ({"app_image_release": "1.0/x"}, True, "app_image_release", "Docker tag"),
    "release_too_long": ({"app_image_release": "r" * 129}, True, "app_image_release", "up to 128"),
    "context_src_missing": ({"app_image_context_src": ""}, None, "app_image_context_src", "must name"),
    "context_src_typo": (
        {"app_image_context_src": "/srcc"},
        False,
        "app_image_context_src",
        '"/srcc": no such directory on the controller',
    ),
    "pull_without_registry": ({"app_image_source": "pull"}, None, "app_image_registry", "pull"),
    "push_from_pull": (
        {"app_image_source": "pull", "app_image_push": True, "app_image_registry": "r.example"},
        None,
        "app_image_push",
        "got pull",
    ),
    "push_without_registry": ({"app_image_push": True}, True, "app_image_push", "needs app_image_registry"),
    "registry_with_scheme": (
        {"app_image_registry": "https://r.example"},
        True,
        "app_image_registry",
        "without a scheme",
    ),
    "registry_trailing_slash": ({"app_image_registry": "r.example/"}, True, "app_image_registry", "trailing slash"),
    "username_without_password": (
        {"app_image_registry": "r.example", "app_image_registry_username": "u"},
        True,
        "app_image_registry_username",
        "go together",
    ),
    "credentials_without_registry": (
        {"app_image_registry_username": "u", "app_image_registry_password": "p"},
        True,
        "app_image_registry_username",
        "needs app_image_registry",
    ),
    "ca_not_pem": (
        {"app_image_registry": "r.example", "app_image_registry_ca_certificate": "x"},
        True,
        "app_image_registry_ca_certificate",
        "PEM",
    ),
    "ca_without_registry": (
        {"app_image_registry_ca_certificate": PEM},
        True,
        "app_image_registry_ca_certificate",
        "needs app_image_registry",
    ),
    "certs_dir_relative": (
        {
            "app_image_registry": "r.example",
            "app_image_registry_ca_certificate": PEM,
            "app_image_registry_certs_dir": "certs.d",
        },
        True,
        "app_image_registry_certs_dir",
        "absolute",
    ),
    "keep_one_release": ({"app_image_keep_releases": "1"}, True, "app_image_keep_releases", "2 or more"),
    # The requirement files a build reads (PRESENT: what the context holds).
    "requirements_typo": (
        {"app_image_requirements_file": "requirement.txt"},
        True,
        "app_image_requirements_file",
        '"requirement.txt": no such file in app_image_context_src ("/src")',
    ),
    "requirements_empty": (
        {"app_image_requirements_file": ""},
        True,
        "app_image_requirements_file",
        "must name the requirements of every target",
    ),
    "requirements_outside": (
        {"app_image_requirements_file": "../reqs.txt"},
        True,
        "app_image_requirements_file",
        "inside app_image_context_src, without a leading '/' or '..'",
    ),
    "requirements_absolute": (
        {"app_image_requirements_file": "/etc/reqs.txt"},
        True,
        "app_image_requirements_file",
        '"/etc/reqs.txt": must be a path inside',
    ),
    "gpu_requirements_missing": (
        {"app_image_gpu_requirements_file": "requirements-gpu.txt"},
        True,
        "app_image_gpu_requirements_file",
        '"requirements-gpu.txt": no such file',
    ),
    "development_requirements_missing": (
        {"app_image_targets": ["api", "development"], "app_image_development_requirements_file": "dev.txt"},
        True,
        "app_image_development_requirements_file",
        '"dev.txt": no such file',
    ),
    "flower_requirements_missing": (
        {"app_image_targets": ["worker", "flower"], "app_image_flower_requirements_file": "requirements/flower.txt"},
        True,
        "app_image_flower_requirements_file",
        '"requirements/flower.txt": no such',
    ),
    "health_path_relative": (
        {"app_image_health_path": "health"},
        True,
        "app_image_health_path",
        "\"health\": must be a URL path starting with '/'",
    ),
    "health_path_of_development": (
        {"app_image_targets": ["development"], "app_image_health_path": ""},
        True,
        "app_image_health_path",
        "starting with '/'",
    ),
    # Where the dependencies come from (PRESENT has requirements.txt only).
    "uv_without_its_files": (
        {"app_image_dependencies": "uv"},
        True,
        "app_image_dependencies",
        '"uv" needs pyproject.toml and uv.lock in app_image_context_src ("/src"); missing: pyproject.toml, uv.lock',
    ),
    "pip_without_pyproject": (
        {"app_image_dependencies": "pip"},
        True,
        "app_image_dependencies",
        '"pip" needs pyproject.toml in app_image_context_src ("/src"); missing: pyproject.toml',
    ),
    "poetry_without_its_files": (
        {"app_image_dependencies": "poetry"},
        True,
        "app_image_dependencies",
        '"poetry" needs pyproject.toml and poetry.lock in app_image_context_src ("/src");'
        " missing: pyproject.toml, poetry.lock",
    ),
    "pdm_without_its_files": (
        {"app_image_dependencies": "pdm"},
        True,
        "app_image_dependencies",
        '"pdm" needs pyproject.toml and pdm.lock in app_image_context_src ("/src"); missing: pyproject.toml, pdm.lock',
    ),
    "dependencies_unknown": (
        {"app_image_dependencies": "hatch"},
        True,
        "app_image_dependencies",
        '"hatch": must be one of auto, requirements, uv, poetry, pdm, pip',
    ),
    "install_project_without_pyproject": (
        {"app_image_install_project": True},
        True,
        "app_image_install_project",
        "true needs pyproject.toml in app_image_context_src",
    ),
    "install_project_word": (
        {"app_image_install_project": "yes"},
        True,
        "app_image_install_project",
        '"yes": must be auto, true or false',
    ),
    "install_project_number": (
        {"app_image_install_project": 1},
        True,
        "app_image_install_project",
        "1: must be auto, true or false",
    ),
    # The app's own Dockerfile (app_image_dockerfile): there, before any change, and named with the context.
    "dockerfile_project_missing": (
        {"app_image_dockerfile": "project"},
        True,
        "app_image_dockerfile",
        '"project": no Dockerfile at the root of app_image_context_src ("/src")',
    ),
    "dockerfile_path_missing": (
        {"app_image_dockerfile": "docker/Dockerfile.prod"},
        True,
        "app_image_dockerfile",
        '"docker/Dockerfile.prod": no such file in app_image_context_src ("/src")',
    ),
    "dockerfile_outside": (
        {"app_image_dockerfile": "../Dockerfile"},
        True,
        "app_image_dockerfile",
        "inside app_image_context_src, without a leading '/' or '..'",
    ),
    "dockerfile_absolute": (
        {"app_image_dockerfile": "/srv/Dockerfile"},
        True,
        "app_image_dockerfile",
        '"/srv/Dockerfile": must be generated, project or a path inside',
    ),
    "dockerfile_empty": (
        {"app_image_dockerfile": ""},
        True,
        "app_image_dockerfile",
        '"": must be generated, project or the path of a Dockerfile',
    ),
    "dockerfile_check_unknown": (
        {"app_image_dockerfile_checks": ["non_root", "ports"]},
        True,
        "app_image_dockerfile_checks",
        '"ports": must be one of non_root, healthcheck',
    ),
}
PRESENT = ["requirements.txt"]


@pytest.mark.parametrize("case", sorted(IMAGE_BAD))
def test_app_image_bad(case: str) -> None:
    changed, exists, name, text = IMAGE_BAD[case]
    problems = app_image_problems(dict(AI, **changed), exists, PRESENT)
    assert len(problems) == 1, problems
    assert problems[0].startswith(name + ":"), problems
    assert text in problems[0], problems


@pytest.mark.parametrize(
    ("changed", "exists"),
    [
        ({}, True),
        (
            {
                "app_image_source": "pull",
                "app_image_registry": "registry.example.com:5000/team",
                "app_image_registry_username": "u",
                "app_image_registry_password": "p",
                "app_image_registry_ca_certificate": PEM,
            },
            None,
        ),
        (
            {"app_image_source": "build_controller", "app_image_push": True, "app_image_registry": "localhost:5000"},
            True,
        ),
        ({"app_image_release": 7}, True),
    ],
)
def test_app_image_good(changed: dict[str, t.Any], exists: t.Any) -> None:
    assert app_image_problems(dict(AI, **changed), exists) == []
    assert app_image_problems(dict(AI, **changed), exists, PRESENT) == []


@pytest.mark.parametrize(
    "changed",
    [
        # Files of targets the image does not build are not read, nor looked for.
        {"app_image_development_requirements_file": "dev.txt", "app_image_flower_requirements_file": "flower.txt"},
        # Without a probe, or without a target that requests the path, the path is not used.
        {"app_image_healthcheck": False, "app_image_health_path": "health"},
        {"app_image_targets": ["worker", "beat"], "app_image_health_path": "health"},
        # A pull builds nothing: no requirement file is read.
        {"app_image_source": "pull", "app_image_registry": "r.example", "app_image_requirements_file": "gone.txt"},
        {
            "app_image_targets": ["api", "development"],
            "app_image_development_requirements_file": "requirements/dev.txt",
            "app_image_gpu_requirements_file": "requirements/gpu.txt",
        },
    ],
)
def test_app_image_files_not_read_or_present_are_fine(changed: dict[str, t.Any]) -> None:
    present = ["requirements.txt", "requirements/dev.txt", "requirements/gpu.txt"]
    assert app_image_problems(dict(AI, **changed), True, present) == []


@pytest.mark.parametrize(
    ("changed", "present", "pyproject", "plan"),
    [
        # auto: the requirements file first, then uv's pair, then pyproject.toml alone.
        ({}, ["requirements.txt", "pyproject.toml", "uv.lock"], "", ("requirements", False)),
        ({}, ["pyproject.toml", "uv.lock"], "[build-system]\nrequires = []\n", ("uv", True)),
        ({}, ["pyproject.toml", "uv.lock"], "[project]\nname = 'x'\n", ("uv", False)),  # a virtual project: no wheel
        ({}, ["pyproject.toml"], "", ("pip", True)),
        ({}, [], "", ("requirements", False)),  # nothing found: the requirements file's own problem names it
        ({}, None, "", ("requirements", False)),  # not looked at
        # Given, whatever the context holds; the project installed only when asked or packaged.
        (
            {"app_image_dependencies": "requirements"},
            ["pyproject.toml", "uv.lock"],
            "[build-system]",
            ("requirements", False),
        ),
        (
            {"app_image_dependencies": "requirements", "app_image_install_project": True},
            ["requirements.txt", "pyproject.toml"],
            "",
            ("requirements", True),
        ),
        (
            {"app_image_dependencies": "uv", "app_image_install_project": False},
            ["pyproject.toml", "uv.lock"],
            "  [build-system]  # indented, with a comment\n",
            ("uv", False),
        ),
        ({"app_image_dependencies": "pip", "app_image_install_project": "auto"}, ["pyproject.toml"], "", ("pip", True)),
        # Poetry's and PDM's locks: auto finds each (after uv.lock, then poetry.lock, then pdm.lock); the project is
        # installed when packaged, unless the tool's own setting says it is no package.
        ({}, ["pyproject.toml", "poetry.lock"], "[build-system]\nrequires = ['poetry-core']\n", ("poetry", True)),
        ({}, ["pyproject.toml", "pdm.lock"], "[build-system]\nrequires = ['pdm-backend']\n", ("pdm", True)),
        (
            {},
            ["pyproject.toml", "poetry.lock"],
            "[tool.poetry]\npackage-mode = false  # an app\n[build-system]\n",
            ("poetry", False),
        ),
        ({}, ["pyproject.toml", "pdm.lock"], "[tool.pdm]\ndistribution = false\n\n[build-system]\n", ("pdm", False)),
        (
            {},
            ["pyproject.toml", "pdm.lock"],
            "[tool.pdm.dev-dependencies]\ndistribution = false\n[build-system]\n",
            ("pdm", True),
        ),  # the setting belongs to [tool.pdm], not to another table
        ({}, ["pyproject.toml", "pdm.lock"], "[ tool . pdm ]\ndistribution=false\n[build-system]\n", ("pdm", False)),
        ({}, ["pyproject.toml", "poetry.lock", "pdm.lock"], "", ("poetry", False)),  # several: refused by the check
        ({}, ["pyproject.toml", "uv.lock", "poetry.lock", "pdm.lock"], "", ("uv", False)),
        ({}, ["requirements.txt", "pyproject.toml", "poetry.lock", "pdm.lock"], "", ("requirements", False)),
        ({}, ["poetry.lock"], "", ("requirements", False)),  # a lock without pyproject.toml is no project
        ({"app_image_dependencies": "pdm"}, ["pyproject.toml", "uv.lock", "pdm.lock"], "[build-system]", ("pdm", True)),
        (
            {"app_image_dependencies": "poetry", "app_image_install_project": False},
            ["pyproject.toml", "poetry.lock"],
            "[build-system]",
            ("poetry", False),
        ),
    ],
)
def test_app_image_dependency_plan(
    changed: dict[str, t.Any], present: t.Any, pyproject: str, plan: tuple[str, bool]
) -> None:
    found = dependency_plan(dict(AI, **changed), present, pyproject)
    assert (found["mode"], found["install_project"]) == plan


@pytest.mark.parametrize(
    ("changed", "present"),
    [
        ({}, ["pyproject.toml", "uv.lock"]),  # auto finds uv's pair: no requirements file needed
        ({"app_image_requirements_file": ""}, ["pyproject.toml"]),  # auto finds pip's pyproject.toml
        ({"app_image_dependencies": "uv", "app_image_install_project": True}, ["pyproject.toml", "uv.lock"]),
        (
            {"app_image_dependencies": "pip", "app_image_gpu_requirements_file": "gpu.txt"},
            ["pyproject.toml", "gpu.txt"],
        ),
        ({}, ["pyproject.toml", "poetry.lock"]),
        ({}, ["pyproject.toml", "pdm.lock"]),
        # Several locks: fine once the tool is named, or when the requirements file wins anyway.
        ({"app_image_dependencies": "poetry"}, ["pyproject.toml", "uv.lock", "poetry.lock"]),
        ({}, ["requirements.txt", "pyproject.toml", "uv.lock", "pdm.lock"]),
        # Offline: each tool comes from the wheelhouse, and its export reads only the lock.
        ({"app_image_dependencies": "poetry", "app_image_offline": True}, ["pyproject.toml", "poetry.lock"]),
        ({"app_image_offline": True}, ["pyproject.toml", "pdm.lock"]),
    ],
)
def test_app_image_project_sources_are_fine(changed: dict[str, t.Any], present: list[str]) -> None:
    assert app_image_problems(dict(AI, **changed), True, present) == []


@pytest.mark.parametrize(
    ("present", "locks", "tools"),
    [
        (["pyproject.toml", "uv.lock", "poetry.lock"], "uv.lock, poetry.lock", "uv or poetry"),
        (["pyproject.toml", "pdm.lock", "poetry.lock"], "poetry.lock, pdm.lock", "poetry or pdm"),
        (
            ["pyproject.toml", "uv.lock", "poetry.lock", "pdm.lock"],
            "uv.lock, poetry.lock, pdm.lock",
            "uv or poetry or pdm",
        ),
    ],
)
def test_app_image_auto_refuses_several_locks(present: list[str], locks: str, tools: str) -> None:
    problems = app_image_problems(dict(AI, app_image_requirements_file="requirements/base.txt"), True, present)
    count = len(locks.split(", "))
    assert problems == [
        f'app_image_dependencies: "auto" finds {count} lock files in app_image_context_src ("/src"):'
        f" {locks}; set app_image_dependencies to the tool whose lock the image installs ({tools}),"
        " or remove the stale lock"
    ]


def test_app_image_pip_always_installs_the_project() -> None:
    problems = app_image_problems(
        dict(AI, app_image_dependencies="pip", app_image_install_project=False), True, ["pyproject.toml"]
    )
    assert problems == [
        "app_image_install_project: false: app_image_dependencies pip installs the project itself "
        "(pip install .); use uv (a uv.lock) or requirements to leave it out"
    ]


def test_app_image_missing_requirements_with_no_project_says_so() -> None:
    [problem] = app_image_problems(AI, True, [])
    assert problem == (
        'app_image_requirements_file: "requirements.txt": no such file in app_image_context_src ("/src"), '
        "and there is no pyproject.toml to take the dependencies from either"
    )


@pytest.mark.parametrize(
    ("changed", "present"),
    [
        # The app's own Dockerfile installs the dependencies its own way: no requirements file is looked for.
        ({"app_image_dockerfile": "project"}, ["Dockerfile"]),
        (
            {"app_image_dockerfile": "docker/Dockerfile.prod", "app_image_dockerfile_checks": []},
            ["docker/Dockerfile.prod"],
        ),
        ({"app_image_dockerfile": "project", "app_image_dependencies": "uv"}, ["Dockerfile"]),
        # Not looked at (check of the types only), or nothing built here.
        ({"app_image_dockerfile": "project"}, None),
        ({"app_image_dockerfile": "project", "app_image_source": "pull", "app_image_registry": "r.example"}, []),
        # generated needs no Dockerfile in the context, and one there is left out (not a problem).
        ({"app_image_dockerfile": "generated"}, ["requirements.txt", "Dockerfile"]),
    ],
)
def test_app_image_own_dockerfile_is_fine(changed: dict[str, t.Any], present: t.Any) -> None:
    assert app_image_problems(dict(AI, **changed), True, present) == []


def test_app_image_own_dockerfile_in_a_missing_context_is_one_problem() -> None:
    problems = app_image_problems(dict(AI, app_image_context_src="/srcc", app_image_dockerfile="project"), False, [])
    assert problems == ['app_image_context_src: "/srcc": no such directory on the controller']


def test_app_image_files_are_not_looked_for_in_a_missing_context() -> None:
    # The missing directory is the one problem, not each file in it.
    problems = app_image_problems(dict(AI, app_image_context_src="/srcc"), False, [])
    assert problems == ['app_image_context_src: "/srcc": no such directory on the controller']


AS = defaults(
    "app_stack",
    app_stack_release="1.0.0",
    app_stack_root="/opt/aistack/app",
    app_stack_data_root="/var/lib/aistack/app",
    app_stack_backup_dir="/var/lib/aistack/app/backups",
    app_stack_keep_releases=5,
    app_stack_min_free_disk_mb=2048,
)

STACK_BAD: dict[str, tuple[dict[str, t.Any], str, str]] = {
    "release_with_slash": ({"app_stack_release": "1.0/../../etc"}, "app_stack_release", '"1.0/../../etc"'),
    "release_starts_with_dot": ({"app_stack_release": ".1"}, "app_stack_release", "not starting with"),
    "root_relative": ({"app_stack_root": "opt/aistack"}, "app_stack_root", '"opt/aistack"'),
    "root_is_slash": ({"app_stack_root": "//"}, "app_stack_root", "not /"),
    "health_timeout_zero": ({"app_stack_health_timeout": 0}, "app_stack_health_timeout", "1 or more (seconds), got 0"),
    "keep_one_release": ({"app_stack_keep_releases": "1"}, "app_stack_keep_releases", "2 or more"),
    "history_zero": ({"app_stack_history_length": 0}, "app_stack_history_length", "1 or more"),
    "lock_age_negative": ({"app_stack_lock_max_age": -5}, "app_stack_lock_max_age", "1 or more (seconds), got -5"),
    "free_disk_negative": ({"app_stack_min_free_disk_mb": -1}, "app_stack_min_free_disk_mb", "0 or more (MiB"),
    "backup_keep_zero": ({"app_stack_backup_keep": 0}, "app_stack_backup_keep", "1 or more (backups), got 0"),
    "api_port_too_big": (
        {"app_stack_api_port": 70000},
        "app_stack_api_port",
        "must be a port number 1-65535, got 70000",
    ),
    "https_port_zero": ({"app_stack_https_port": "0"}, "app_stack_https_port", '1-65535, got "0"'),
    "flower_port_negative": ({"app_stack_flower_port": -1}, "app_stack_flower_port", "1-65535, got -1"),
    "backup_dir_relative": ({"app_stack_backup_dir": "backups"}, "app_stack_backup_dir", "absolute path outside"),
    "backup_dir_in_root": (
        {"app_stack_backup_dir": "/opt/aistack/app/backups"},
        "app_stack_backup_dir",
        "outside app_stack_root (/opt/aistack/app)",
    ),
}


@pytest.mark.parametrize("case", sorted(STACK_BAD))
def test_app_stack_settings_bad(case: str) -> None:
    changed, name, text = STACK_BAD[case]
    problems = app_stack_settings_problems(dict(AS, **changed))
    assert len(problems) == 1, problems
    assert problems[0].startswith(name + ":"), problems
    assert text in problems[0], problems


def test_app_stack_settings_good() -> None:
    assert app_stack_settings_problems(AS) == []
    # A relative data root is the model's to name, not the backup directory's.
    assert app_stack_settings_problems(dict(AS, app_stack_data_root="var/lib", app_stack_backup_dir="var/lib/b")) == []


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("docker_engine_input_problems", ([], {})),
        ("nvidia_toolkit_input_problems", ({}, [])),
        ("nvidia_toolkit_gpu_problems", ({}, "gpu")),
        ("app_image_input_problems", ("x",)),
        ("app_stack_input_problems", (None,)),
    ],
)
def test_filters_refuse_what_is_not_a_mapping(name: str, args: tuple[t.Any, ...]) -> None:
    with pytest.raises(AnsibleFilterError, match=name):
        FilterModule().filters()[name](*args)


def test_filters_call_the_rules() -> None:
    filters = FilterModule().filters()
    assert filters["docker_engine_input_problems"](DE, DEBIAN13) == []
    assert filters["nvidia_toolkit_input_problems"](NV, APT) == []
    assert filters["nvidia_toolkit_gpu_problems"](NV, NO_GPU) == []
    assert filters["app_image_input_problems"](AI, True) == []
    assert filters["app_stack_input_problems"](AS) == []


def test_the_dependency_plan_filter() -> None:
    plan = AppImageFilters().filters()["app_image_dependency_plan"]
    assert plan({"app_image_requirements_file": "r.txt"}, ["pyproject.toml", "uv.lock"], None) == {
        "mode": "uv",
        "install_project": False,
        "packaged": False,
    }
    with pytest.raises(AnsibleFilterError, match="app_image_dependency_plan: the input must be the role's variables"):
        plan(["x"])
    with pytest.raises(AnsibleFilterError, match="present_files must be a list"):
        plan({}, "pyproject.toml")
    # null reaches a filter as "" on ansible-core before 2.19: not looked at.
    assert plan({}, "")["mode"] == "requirements"
    assert FilterModule().filters()["app_image_input_problems"](AI, "", "") == []
    with pytest.raises(AnsibleFilterError, match="app_image_input_problems: present_files must be a list"):
        FilterModule().filters()["app_image_input_problems"](AI, True, "requirements.txt")
