# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_engine's answer to "is every package installed?" from one dpkg-query (skips apt when it is)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.docker_engine import docker_engine_missing_packages
from ansible_collections.aistack.deploy.plugins.plugin_utils._docker_engine_packages import (
    installed_packages,
    missing_packages,
)

# What the probe prints on a Debian 13 host with Debian's Docker installed (dpkg-query's real format).
PROBE = """DOCKERD /usr/sbin/dockerd
LISTS 4
PKG ii  ca-certificates 20250419
PKG ii  docker.io 26.1.5+dfsg1-9+b9
PKG ii  docker-cli 26.1.5+dfsg1-9+b9
PKG rc  docker-buildx 0.13.1+ds1-3
PKG ii  docker-compose 2.26.1-4
PKG ii  python3-docker:all 7.1.0-2
"""


def test_installed_packages_keeps_only_installed_ones_and_drops_the_architecture() -> None:
    assert installed_packages(PROBE) == {
        "ca-certificates": "20250419",
        "docker.io": "26.1.5+dfsg1-9+b9",
        "docker-cli": "26.1.5+dfsg1-9+b9",
        "docker-compose": "2.26.1-4",
        "python3-docker": "7.1.0-2",
    }


@pytest.mark.parametrize(
    ("wanted", "missing"),
    [
        # Every package installed: apt is not asked.
        (["ca-certificates", "docker.io", "docker-cli", "docker-compose", "python3-docker"], []),
        # Removed but its configuration left ("rc") is not installed.
        (["docker.io", "docker-buildx"], ["docker-buildx"]),
        # Never heard of.
        (["docker.io", "containerd.io"], ["containerd.io"]),
        # A pin the installed version matches (docker_engine writes name=<version>*).
        (["docker.io=26.1.5*", "docker-cli=26.1.5*"], []),
        # A pin it does not match: apt installs (or downgrades to) the pinned version.
        (["docker.io=27.3.1*", "docker-cli=26.1*"], ["docker.io=27.3.1*"]),
        # docker-ce's epoch form.
        (["docker-ce=5:27.3.1*"], ["docker-ce=5:27.3.1*"]),
        # Not apt's form (a dnf pin): never found, the package manager decides.
        (["docker-ce-27.3.1*"], ["docker-ce-27.3.1*"]),
        ([], []),
    ],
)
def test_missing_packages(wanted: list[str], missing: list[str]) -> None:
    assert missing_packages(wanted, PROBE) == missing


def test_a_host_without_dpkg_has_nothing_installed() -> None:
    assert missing_packages(["docker-ce", "containerd.io"], "DOCKERD /usr/bin/dockerd\n") == [
        "docker-ce",
        "containerd.io",
    ]


def test_a_pin_is_a_glob_on_the_whole_version() -> None:
    probe = "PKG ii  docker.io 126.1.5-1\n"
    assert missing_packages(["docker.io=26.1.5*"], probe) == ["docker.io=26.1.5*"]


@pytest.mark.parametrize(("wanted", "probe"), [("docker.io", ""), (None, ""), (["docker.io"], None)])
def test_the_filter_refuses_what_is_not_a_list_and_a_string(wanted: object, probe: object) -> None:
    with pytest.raises(AnsibleFilterError, match="docker_engine_missing_packages: expects"):
        docker_engine_missing_packages(wanted, probe)


def test_the_filter_answers_like_the_function() -> None:
    assert docker_engine_missing_packages(("docker.io", "nope"), PROBE) == ["nope"]
