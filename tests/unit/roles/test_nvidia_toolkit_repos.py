"""Render nvidia_toolkit's repository definitions, package pins and daemon.json keys per platform.

The role is converged for real on Debian 13 (molecule/nvidia_toolkit, apt
against a fixture repository); these tests cover the URLs NVIDIA's real
repository uses, the dnf path of Enterprise Linux, and the version pins, by
rendering the role's own templates and variables with Ansible's templar.
"""

from __future__ import annotations

import configparser
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


ROLE = Path(__file__).resolve().parents[3] / "roles" / "nvidia_toolkit"
FACTS = {
    "debian13": {"os_family": "Debian", "architecture": "x86_64"},
    "ubuntu2404_arm": {"os_family": "Debian", "architecture": "aarch64"},
    "rocky9": {"os_family": "RedHat", "architecture": "x86_64"},
}
GPU = {"present": True, "usable": True, "count": 2, "driver_version": "550.127.05"}


def _trust(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        return {key: _trust(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trust(item) for item in value]
    return trust_as_template(value) if isinstance(value, str) else value


def templar(platform: str, **user_vars: t.Any) -> Templar:
    variables: dict[str, t.Any] = {}
    variables.update(_trust(DataLoader().load_from_file(str(ROLE / "defaults" / "main.yml"))))
    variables.update(_trust(user_vars))
    variables.update(_trust(DataLoader().load_from_file(str(ROLE / "vars" / "main.yml"))))
    variables.update(ansible_facts=FACTS[platform], ansible_managed="Ansible managed", __nvidia_toolkit_gpu=GPU)
    return Templar(loader=DataLoader(), variables=variables)


def var(tmpl: Templar, name: str) -> t.Any:
    return tmpl.template(trust_as_template("{{ " + name + " }}"))


def render(tmpl: Templar, template: str) -> str:
    return tmpl.template(trust_as_template((ROLE / "templates" / template).read_text()))


def deb822(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in lines}


@pytest.mark.parametrize(("platform", "arch"), [("debian13", "amd64"), ("ubuntu2404_arm", "arm64")])
def test_apt_source_is_nvidias_flat_repository(platform: str, arch: str) -> None:
    tmpl = templar(platform)
    text = render(tmpl, "nvidia-container-toolkit.sources.j2")
    assert text.startswith("#\n# Ansible managed\n#\n")
    assert deb822(text) == {
        "Types": "deb",
        "URIs": f"https://nvidia.github.io/libnvidia-container/stable/deb/{arch}",
        "Suites": "/",
        "Signed-By": "/etc/apt/keyrings/nvidia-container-toolkit.asc",
    }
    assert var(tmpl, "__nvidia_toolkit_key_url") == "https://nvidia.github.io/libnvidia-container/gpgkey"
    assert var(tmpl, "__nvidia_toolkit_pkg_mgr") == "apt"


def test_apt_source_from_a_mirror_with_its_own_key() -> None:
    tmpl = templar(
        "debian13",
        nvidia_toolkit_repo_url="http://mirror.example.com/nvidia/",
        nvidia_toolkit_repo_channel="experimental",
        nvidia_toolkit_repo_key_url="file:///srv/nvidia.asc",
    )
    assert (
        deb822(render(tmpl, "nvidia-container-toolkit.sources.j2"))["URIs"]
        == "http://mirror.example.com/nvidia/experimental/deb/amd64"
    )
    assert var(tmpl, "__nvidia_toolkit_key_url") == "file:///srv/nvidia.asc"


def test_dnf_repo() -> None:
    tmpl = templar("rocky9")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render(tmpl, "nvidia-container-toolkit.repo.j2"))
    section = parser["nvidia-container-toolkit"]
    assert section["baseurl"] == "https://nvidia.github.io/libnvidia-container/stable/rpm/$basearch"
    assert section["gpgkey"] == "https://nvidia.github.io/libnvidia-container/gpgkey"
    assert section["repo_gpgcheck"] == "1"
    assert var(tmpl, "__nvidia_toolkit_pkg_mgr") == "dnf"


@pytest.mark.parametrize(
    ("platform", "version", "expected"),
    [
        (
            "debian13",
            "",
            [
                "nvidia-container-toolkit",
                "nvidia-container-toolkit-base",
                "libnvidia-container-tools",
                "libnvidia-container1",
            ],
        ),
        (
            "debian13",
            "1.17.3",
            [
                "nvidia-container-toolkit=1.17.3*",
                "nvidia-container-toolkit-base=1.17.3*",
                "libnvidia-container-tools=1.17.3*",
                "libnvidia-container1=1.17.3*",
            ],
        ),
        (
            "rocky9",
            "1.17",
            [
                "nvidia-container-toolkit-1.17*",
                "nvidia-container-toolkit-base-1.17*",
                "libnvidia-container-tools-1.17*",
                "libnvidia-container1-1.17*",
            ],
        ),
    ],
)
def test_packages_and_pins(platform: str, version: str, expected: list[str]) -> None:
    assert var(templar(platform, nvidia_toolkit_version=version), "__nvidia_toolkit_install_packages") == expected


@pytest.mark.parametrize(
    ("mode", "default_runtime", "expected"),
    [
        (
            "cdi",
            False,
            {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}, "features": {"cdi": True}},
        ),
        ("legacy", False, {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}}),
        (
            "legacy",
            True,
            {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}, "default-runtime": "nvidia"},
        ),
    ],
)
def test_daemon_settings(mode: str, default_runtime: bool, expected: dict[str, t.Any]) -> None:
    tmpl = templar("debian13", nvidia_toolkit_runtime_mode=mode, nvidia_toolkit_default_runtime=default_runtime)
    assert var(tmpl, "__nvidia_toolkit_daemon_settings") == expected


def test_cdi_record_is_keyed_by_driver_version() -> None:
    assert var(templar("debian13"), "__nvidia_toolkit_cdi_wanted") == {
        "driver_version": "550.127.05",
        "spec_path": "/etc/cdi/nvidia.yaml",
    }


def test_cdi_record_names_the_mig_devices_so_a_new_mig_layout_regenerates_the_spec() -> None:
    variables = dict(templar("debian13").available_variables)
    variables["__nvidia_toolkit_gpu"] = {
        **GPU,
        "mig_devices": [{"gpu": 0, "index": 0, "uuid": "MIG-a"}, {"gpu": 0, "index": 1, "uuid": "MIG-b"}],
    }
    assert var(Templar(loader=DataLoader(), variables=variables), "__nvidia_toolkit_cdi_wanted") == {
        "driver_version": "550.127.05",
        "spec_path": "/etc/cdi/nvidia.yaml",
        "mig_devices": ["MIG-a", "MIG-b"],
    }
