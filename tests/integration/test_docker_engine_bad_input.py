"""aistack.deploy.docker_engine refuses bad input before it changes anything.

One ansible-playbook run covers every case: each case is an inventory host
(connection local) with its own variables and pretend platform facts. The
hosts in group `bad` run the whole role, the hosts in group `good` only its
variables and validate steps; both IN CHECK MODE, a safety net on a machine
whose own Docker Engine the role must never touch.

For every bad case: the host fails, the failing task is a validation task
(role argument validation or tasks/validate.yml), its message names the
variable, and no earlier task reported a change. Every good case passes the
same validation, so the bad cases cannot pass by a validation that refuses
everything.
"""

from __future__ import annotations

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

ROLE = "aistack.deploy.docker_engine"

PLATFORMS: dict[str, dict[str, str]] = {
    "debian12": {
        "distribution": "Debian",
        "distribution_major_version": "12",
        "distribution_version": "12.8",
        "distribution_release": "bookworm",
        "os_family": "Debian",
        "architecture": "x86_64",
    },
    "debian13": {
        "distribution": "Debian",
        "distribution_major_version": "13",
        "distribution_version": "13.1",
        "distribution_release": "trixie",
        "os_family": "Debian",
        "architecture": "x86_64",
    },
    "ubuntu2404": {
        "distribution": "Ubuntu",
        "distribution_major_version": "24",
        "distribution_version": "24.04",
        "distribution_release": "noble",
        "os_family": "Debian",
        "architecture": "aarch64",
    },
    "el9": {
        "distribution": "Rocky",
        "distribution_major_version": "9",
        "distribution_version": "9.4",
        "distribution_release": "Blue Onyx",
        "os_family": "RedHat",
        "architecture": "x86_64",
    },
    "arch": {
        "distribution": "Archlinux",
        "distribution_major_version": "NA",
        "distribution_version": "NA",
        "distribution_release": "NA",
        "os_family": "Archlinux",
        "architecture": "x86_64",
    },
}

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n"


class Case(t.NamedTuple):
    platform: str
    variables: dict[str, t.Any]
    names: str  # the variable the failure message must name


# The placeholder COMPOSE_BINARY is replaced by the path of a real file.
BAD_CASES: dict[str, Case] = {
    "unknown_install_source": Case(
        "debian13", {"docker_engine_install_source": "podman"}, "docker_engine_install_source"
    ),
    "bool_not_a_bool": Case("debian13", {"docker_engine_buildx": "sometimes"}, "docker_engine_buildx"),
    "int_not_an_int": Case(
        "debian13", {"docker_engine_apt_cache_valid_time": "an hour"}, "docker_engine_apt_cache_valid_time"
    ),
    "settings_not_a_dict": Case(
        "debian13", {"docker_engine_daemon_settings": ["debug"]}, "docker_engine_daemon_settings"
    ),
    "users_a_string": Case("debian13", {"docker_engine_users": "alice"}, "docker_engine_users"),
    "version_a_float": Case("debian13", {"docker_engine_version": 27.10}, "docker_engine_version"),
    "version_malformed": Case("debian13", {"docker_engine_version": "latest"}, "docker_engine_version"),
    "unknown_channel": Case(
        "debian13",
        {"docker_engine_install_source": "docker_ce", "docker_engine_docker_ce_channel": "nightly"},
        "docker_engine_docker_ce_channel",
    ),
    "repo_url_without_scheme": Case(
        "debian13",
        {"docker_engine_install_source": "docker_ce", "docker_engine_docker_ce_url": "download.docker.com/linux"},
        "docker_engine_docker_ce_url",
    ),
    "misspelt_variable": Case("debian13", {"docker_engine_instal_source": "distro"}, "docker_engine_instal_source"),
    "distro_on_el9": Case("el9", {"docker_engine_install_source": "distro"}, "docker_engine_install_source"),
    "unsupported_platform": Case("arch", {}, "supports Debian 12/13"),
    "debian12_distro_without_compose": Case("debian12", {}, "docker_engine_compose_plugin_src"),
    "compose_src_and_url": Case(
        "debian12",
        {
            "docker_engine_compose_plugin_src": "COMPOSE_BINARY",
            "docker_engine_compose_plugin_url": "https://example.invalid/compose",
            "docker_engine_compose_plugin_checksum": "sha256:" + "0" * 64,
        },
        "docker_engine_compose_plugin_url",
    ),
    "compose_src_missing": Case(
        "debian12",
        {"docker_engine_compose_plugin_src": "/nonexistent/docker-compose"},
        "docker_engine_compose_plugin_src",
    ),
    "compose_url_without_checksum": Case(
        "debian12",
        {"docker_engine_compose_plugin_url": "https://example.invalid/docker-compose"},
        "docker_engine_compose_plugin_checksum",
    ),
    "compose_checksum_malformed": Case(
        "debian12",
        {
            "docker_engine_compose_plugin_url": "https://example.invalid/docker-compose",
            "docker_engine_compose_plugin_checksum": "0123abcd",
        },
        "docker_engine_compose_plugin_checksum",
    ),
    "compose_dest_not_a_plugin_dir": Case(
        "debian12",
        {
            "docker_engine_compose_plugin_src": "COMPOSE_BINARY",
            "docker_engine_compose_plugin_dest": "/usr/local/bin/docker-compose",
        },
        "docker_engine_compose_plugin_dest",
    ),
    "log_opts_value_not_a_string": Case(
        "debian13", {"docker_engine_daemon_settings": {"log-opts": {"max-file": 5}}}, "docker_engine_daemon_settings"
    ),
    "default_settings_bool_as_string": Case(
        "debian13",
        {"docker_engine_daemon_default_settings": {"live-restore": "yes"}},
        "docker_engine_daemon_default_settings",
    ),
    "mirror_without_scheme": Case(
        "debian13",
        {"docker_engine_daemon_settings": {"registry-mirrors": ["mirror.example.com"]}},
        "docker_engine_daemon_settings",
    ),
    "address_pool_malformed": Case(
        "debian13",
        {"docker_engine_daemon_settings": {"default-address-pools": [{"base": "172.30.0.0/33", "size": 24}]}},
        "docker_engine_daemon_settings",
    ),
    "hosts_key_clashes_with_unit": Case(
        "debian13",
        {"docker_engine_daemon_settings": {"hosts": ["unix:///var/run/docker.sock"]}},
        "docker_engine_daemon_settings",
    ),
    "remove_a_key_that_is_set": Case(
        "debian13", {"docker_engine_daemon_remove_keys": ["log-opts/max-size"]}, "docker_engine_daemon_remove_keys"
    ),
    "daemon_path_relative": Case(
        "debian13", {"docker_engine_daemon_config_path": "etc/docker/daemon.json"}, "docker_engine_daemon_config_path"
    ),
    "ca_certificate_not_pem": Case(
        "debian13",
        {"docker_engine_extra_ca_certificates": [{"name": "corp-proxy", "content": "not a certificate"}]},
        "docker_engine_extra_ca_certificates",
    ),
    "ca_certificate_without_name": Case(
        "debian13", {"aistack_extra_ca_certificates": [{"content": PEM}]}, "docker_engine_extra_ca_certificates"
    ),
    "user_does_not_exist": Case(
        "debian13", {"docker_engine_users": ["aistack-no-such-user-4711"]}, "docker_engine_users"
    ),
}

GOOD_CASES: dict[str, Case] = {
    "good_debian12_distro_compose_src": Case("debian12", {"docker_engine_compose_plugin_src": "COMPOSE_BINARY"}, ""),
    "good_debian13_distro_everything": Case(
        "debian13",
        {
            "docker_engine_version": "26.1",
            "docker_engine_users": ["root"],
            "docker_engine_daemon_settings": {
                "registry-mirrors": ["https://mirror.example.com"],
                "insecure-registries": ["registry.example.com:5000"],
                "data-root": "/srv/docker",
                "default-address-pools": [{"base": "172.30.0.0/16", "size": 24}],
                "log-opts": {"max-size": "50m"},
            },
            "docker_engine_daemon_remove_keys": ["debug", "log-opts/compress"],
            "aistack_extra_ca_certificates": [{"name": "corp-proxy", "content": PEM}],
        },
        "",
    ),
    "good_ubuntu2404_docker_ce": Case("ubuntu2404", {"docker_engine_install_source": "docker_ce"}, ""),
    "good_el9_docker_ce_pinned_compose_url": Case(
        "el9",
        {
            "docker_engine_install_source": "docker_ce",
            "docker_engine_version": "27.3.1",
            "docker_engine_compose_plugin_url": "https://example.invalid/docker-compose",
            "docker_engine_compose_plugin_checksum": "sha256:" + "0" * 64,
        },
        "",
    ),
}

PLAYBOOK = f"""
# One play: when every host of a play has failed, later plays do not run.
- name: Run docker_engine with bad and good input
  hosts: all
  gather_facts: false
  tasks:
    - name: Pretend to be the platform under test
      ansible.builtin.set_fact:
        distribution: "{{{{ test_platform.distribution }}}}"
        distribution_major_version: "{{{{ test_platform.distribution_major_version }}}}"
        distribution_version: "{{{{ test_platform.distribution_version }}}}"
        distribution_release: "{{{{ test_platform.distribution_release }}}}"
        os_family: "{{{{ test_platform.os_family }}}}"
        architecture: "{{{{ test_platform.architecture }}}}"
        cacheable: true
{role_tasks(ROLE, ("variables.yml", "validate.yml"))}"""


def _substitute(value: t.Any, compose_binary: str) -> t.Any:
    if value == "COMPOSE_BINARY":
        return compose_binary
    if isinstance(value, dict):
        return {k: _substitute(v, compose_binary) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, compose_binary) for v in value]
    return value


def _host_vars(case: Case, tmp: Path, compose_binary: str) -> dict[str, t.Any]:
    host = local_host(
        test_platform=PLATFORMS[case.platform],
        # Safety net behind check mode: nothing points at the machine's own files.
        docker_engine_daemon_config_path=str(tmp / "daemon.json"),
    )
    if case.platform == "debian12" and "docker_engine_install_source" not in case.variables:
        host["docker_engine_install_source"] = "distro"
    if case.platform == "debian13":
        host["docker_engine_install_source"] = "distro"
    host.update(_substitute(case.variables, compose_binary))
    return host


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    tmp = tmp_path_factory.mktemp("docker_engine_bad_input")
    compose_binary = tmp / "docker-compose"
    compose_binary.write_text("#!/bin/sh\necho 'Docker Compose version v2.99.0'\n")
    compose_binary.chmod(0o755)
    role_path = Path(__file__).resolve().parents[2] / "roles" / "docker_engine"
    hosts = inventory(
        bad={name: _host_vars(case, tmp, str(compose_binary)) for name, case in BAD_CASES.items()},
        good={name: _host_vars(case, tmp, str(compose_binary)) for name, case in GOOD_CASES.items()},
        all_vars={"test_role_path": str(role_path)},
    )
    return run_playbook(tmp, hosts, PLAYBOOK)


def test_the_playbook_ran(run: RunResult) -> None:
    assert_ran(run, set(BAD_CASES) | set(GOOD_CASES))


def test_enough_bad_cases() -> None:
    assert len(BAD_CASES) >= 10


@pytest.mark.parametrize("host", sorted(BAD_CASES))
def test_bad_input_fails_in_validation(run: RunResult, host: str) -> None:
    assert_fails_in_validation(run, host, BAD_CASES[host].names)


@pytest.mark.parametrize("host", sorted(GOOD_CASES))
def test_good_input_passes_validation(run: RunResult, host: str) -> None:
    assert_passes_validation(run, host, "validate | Check the role's input (nothing has changed yet)")
