"""Render docker_engine's repository definitions and package lists per platform.

The role is converged for real on Debian 12 and 13 only; these tests cover
the code paths for Ubuntu 22.04/24.04 and Enterprise Linux 9 as well, by
rendering the role's own templates and variables with Ansible's templar,
with the variables layered as Ansible layers them (defaults, then vars/main.yml,
then the platform file tasks/variables.yml picks).
"""

from __future__ import annotations

import configparser
import fnmatch
import typing as t
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19 templates every string

    def trust_as_template(value: str) -> str:
        return value


ROLE = Path(__file__).resolve().parents[3] / "roles" / "docker_engine"

FACTS: dict[str, dict[str, str]] = {
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
    "ubuntu2204": {
        "distribution": "Ubuntu",
        "distribution_major_version": "22",
        "distribution_version": "22.04",
        "distribution_release": "jammy",
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
    "rhel9": {
        "distribution": "RedHat",
        "distribution_major_version": "9",
        "distribution_version": "9.4",
        "distribution_release": "Plow",
        "os_family": "RedHat",
        "architecture": "x86_64",
    },
    "rocky9": {
        "distribution": "Rocky",
        "distribution_major_version": "9",
        "distribution_version": "9.4",
        "distribution_release": "Blue Onyx",
        "os_family": "RedHat",
        "architecture": "x86_64",
    },
}


def _trust(value: t.Any) -> t.Any:
    """Mark strings from the role's own files as templates, as Ansible does."""
    if isinstance(value, dict):
        return {key: _trust(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trust(item) for item in value]
    if isinstance(value, str):
        return trust_as_template(value)
    return value


def _load(path: Path) -> dict[str, t.Any]:
    return _trust(DataLoader().load_from_file(str(path))) or {}


def platform_file(facts: dict[str, str]) -> Path:
    """The file tasks/variables.yml picks: first found of Distribution-Major, Distribution, OsFamily."""
    for name in (
        f"{facts['distribution']}-{facts['distribution_major_version']}.yml",
        f"{facts['distribution']}.yml",
        f"{facts['os_family']}.yml",
    ):
        if (ROLE / "vars" / name).is_file():
            return ROLE / "vars" / name
    raise AssertionError(f"no vars file for {facts}")


class Role:
    """The role's variables for one platform and one set of user variables."""

    def __init__(self, platform: str, **user_vars: t.Any) -> None:
        facts = FACTS[platform]
        variables: dict[str, t.Any] = {}
        variables.update(_load(ROLE / "defaults" / "main.yml"))
        variables.update(_trust(user_vars))  # inventory beats role defaults
        variables.update(_load(ROLE / "vars" / "main.yml"))
        variables.update(_load(platform_file(facts)))  # include_vars beats role vars
        variables["ansible_facts"] = facts
        variables["ansible_managed"] = "Ansible managed"
        self.templar = Templar(loader=DataLoader(), variables=variables)

    def var(self, name: str) -> t.Any:
        return self.templar.template(trust_as_template("{{ " + name + " }}"))

    def render(self, template: str) -> str:
        source = (ROLE / "templates" / template).read_text()
        return self.templar.template(trust_as_template(source))


def parse_deb822(text: str) -> dict[str, str]:
    """One deb822 stanza as a dict; comments skipped; no blank line inside."""
    fields: dict[str, str] = {}
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines and all(lines), f"one stanza without blank lines expected:\n{text}"
    for line in lines:
        key, sep, value = line.partition(":")
        assert sep and key.strip() == key and " " not in key, f"not a deb822 field: {line!r}"
        assert key not in fields, f"{key} twice"
        fields[key] = value.strip()
    return fields


def parse_repo(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


# --- apt: deb822 .sources ----------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "os_dir", "suite", "arch"),
    [
        ("debian12", "debian", "bookworm", "amd64"),
        ("debian13", "debian", "trixie", "amd64"),
        ("ubuntu2204", "ubuntu", "jammy", "amd64"),
        ("ubuntu2404", "ubuntu", "noble", "arm64"),
    ],
)
def test_apt_sources(platform: str, os_dir: str, suite: str, arch: str) -> None:
    role = Role(platform)
    text = role.render("docker.sources.j2")
    assert text.startswith("#\n# Ansible managed\n#\n")
    assert "{{" not in text and "{%" not in text
    assert parse_deb822(text) == {
        "Types": "deb",
        "URIs": f"https://download.docker.com/linux/{os_dir}",
        "Suites": suite,
        "Components": "stable",
        "Architectures": arch,
        "Signed-By": "/etc/apt/keyrings/docker.asc",
    }
    assert role.var("__docker_engine_apt_keyring") == "/etc/apt/keyrings/docker.asc"
    assert role.var("__docker_engine_docker_ce_gpg_url") == f"https://download.docker.com/linux/{os_dir}/gpg"
    assert role.var("__docker_engine_pkg_mgr") == "apt"
    assert role.var("__docker_engine_apt_sources_file").endswith(".sources")


def test_apt_sources_from_a_mirror_and_the_test_channel() -> None:
    role = Role(
        "debian12",
        docker_engine_docker_ce_url="https://mirror.example.com/docker/linux/",
        docker_engine_docker_ce_channel="test",
    )
    fields = parse_deb822(role.render("docker.sources.j2"))
    assert fields["URIs"] == "https://mirror.example.com/docker/linux/debian"
    assert fields["Components"] == "test"
    assert role.var("__docker_engine_docker_ce_gpg_url") == "https://mirror.example.com/docker/linux/debian/gpg"


# --- dnf: .repo ------------------------------------------------------------


@pytest.mark.parametrize(("platform", "os_dir"), [("rhel9", "rhel"), ("rocky9", "centos")])
def test_dnf_repo(platform: str, os_dir: str) -> None:
    role = Role(platform)
    text = role.render("docker-ce.repo.j2")
    assert text.startswith("#\n# Ansible managed\n#\n")
    repo = parse_repo(text)
    assert repo.sections() == ["docker-ce-stable"]
    section = repo["docker-ce-stable"]
    assert section["baseurl"] == f"https://download.docker.com/linux/{os_dir}/$releasever/$basearch/stable"
    assert section["gpgkey"] == f"https://download.docker.com/linux/{os_dir}/gpg"
    assert section["gpgcheck"] == "1"
    assert section["enabled"] == "1"
    assert section["name"] == "Docker CE Stable - $basearch"
    assert role.var("__docker_engine_pkg_mgr") == "dnf"


def test_dnf_repo_from_a_mirror_and_the_test_channel() -> None:
    role = Role(
        "rocky9", docker_engine_docker_ce_url="file:///srv/mirror/docker", docker_engine_docker_ce_channel="test"
    )
    section = parse_repo(role.render("docker-ce.repo.j2"))["docker-ce-test"]
    assert section["baseurl"] == "file:///srv/mirror/docker/centos/$releasever/$basearch/test"
    assert section["gpgkey"] == "file:///srv/mirror/docker/centos/gpg"


# --- package lists and version pins -----------------------------------------

DOCKER_CE = ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin", "docker-compose-plugin"]


@pytest.mark.parametrize(
    ("platform", "source", "extra", "expected"),
    [
        ("debian12", "docker_ce", {}, [*DOCKER_CE, "python3-docker"]),
        ("ubuntu2204", "docker_ce", {}, [*DOCKER_CE, "python3-docker"]),
        ("rocky9", "docker_ce", {}, [*DOCKER_CE, "python3-pip"]),
        (
            "debian12",
            "distro",
            {"docker_engine_compose_plugin_src": "/tmp/docker-compose"},
            ["docker.io", "python3-docker"],
        ),
        ("debian13", "distro", {}, ["docker.io", "docker-cli", "docker-buildx", "docker-compose", "python3-docker"]),
        ("ubuntu2204", "distro", {}, ["docker.io", "docker-buildx", "docker-compose-v2", "python3-docker"]),
        ("ubuntu2404", "distro", {}, ["docker.io", "docker-buildx", "docker-compose-v2", "python3-docker"]),
        # A Compose binary from the user replaces the Compose package.
        (
            "debian13",
            "distro",
            {"docker_engine_compose_plugin_url": "https://example.invalid/c"},
            ["docker.io", "docker-cli", "docker-buildx", "python3-docker"],
        ),
        (
            "debian13",
            "docker_ce",
            {"docker_engine_buildx": False, "docker_engine_python_sdk": False},
            ["docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin"],
        ),
    ],
)
def test_packages(platform: str, source: str, extra: dict[str, t.Any], expected: list[str]) -> None:
    role = Role(platform, docker_engine_install_source=source, **extra)
    assert role.var("__docker_engine_packages") == expected


@pytest.mark.parametrize(
    ("platform", "source", "version", "pinned", "installable"),
    [
        # The apt module matches <name>=<pattern> with fnmatch against the full
        # version (epoch included); dnf matches <name>-<glob> against name-version-release.
        (
            "debian12",
            "docker_ce",
            "27.3.1",
            ["docker-ce=5:27.3.1*", "docker-ce-cli=5:27.3.1*"],
            "5:27.3.1-1~debian.12~bookworm",
        ),
        (
            "ubuntu2404",
            "docker_ce",
            "27.3",
            ["docker-ce=5:27.3*", "docker-ce-cli=5:27.3*"],
            "5:27.3.1-1~ubuntu.24.04~noble",
        ),
        ("debian12", "distro", "20.10.24", ["docker.io=20.10.24*"], "20.10.24+dfsg1-1+deb12u1+b6"),
        ("debian13", "distro", "26.1.5", ["docker.io=26.1.5*", "docker-cli=26.1.5*"], "26.1.5+dfsg1-9+b5"),
        ("ubuntu2204", "distro", "24.0", ["docker.io=24.0*"], "24.0.7-0ubuntu2~22.04.1"),
        ("rocky9", "docker_ce", "27.3.1", ["docker-ce-27.3.1*", "docker-ce-cli-27.3.1*"], "27.3.1-1.el9"),
    ],
)
def test_version_pin(platform: str, source: str, version: str, pinned: list[str], installable: str) -> None:
    role = Role(
        platform,
        docker_engine_install_source=source,
        docker_engine_version=version,
        docker_engine_compose_plugin_src="/tmp/docker-compose",
    )
    packages = role.var("__docker_engine_packages")
    assert packages[: len(pinned)] == pinned
    # Only the engine and CLI are pinned, never containerd, buildx or Compose.
    assert all("=" not in p and "*" not in p for p in packages[len(pinned) :]), packages
    for spec in pinned:
        if "=" in spec:
            name, pattern = spec.split("=", 1)
            assert fnmatch.fnmatch(installable, pattern), (spec, installable)
        else:
            name = spec.rsplit("-", 1)[0]
            assert fnmatch.fnmatch(f"{name}-{installable}", spec), (spec, installable)


def test_unpinned_packages_carry_no_version() -> None:
    packages = Role("debian13", docker_engine_install_source="docker_ce").var("__docker_engine_packages")
    assert not [p for p in packages if "=" in p or "*" in p]


# --- platform data ------------------------------------------------------------


def test_debian12_distro_has_no_compose_v2_package() -> None:
    role = Role("debian12", docker_engine_install_source="distro")
    assert role.var("__docker_engine_source.compose") == []
    assert role.var("__docker_engine_source.buildx") == []


def test_el_has_no_distro_source() -> None:
    assert Role("rocky9").var("__docker_engine_distro_supported") is False


@pytest.mark.parametrize("platform", sorted(FACTS))
def test_platform_is_supported(platform: str) -> None:
    assert Role(platform).var("__docker_engine_platform_supported | bool") is True


def test_every_platform_file_defines_the_same_variables() -> None:
    files = sorted(p for p in (ROLE / "vars").glob("*.yml") if p.name != "main.yml")
    keys = {p.name: set(_load(p)) for p in files}
    reference = keys["Debian-12.yml"]
    assert all(k.startswith("__docker_engine_") for k in reference)
    assert {name: sorted(found ^ reference) for name, found in keys.items() if found != reference} == {}
