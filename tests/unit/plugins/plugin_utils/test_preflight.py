# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for site.yml's pre-flight rules (plugins/plugin_utils/_preflight.py) and their filter.

The probe itself (app_stack's preflight.yml) runs against this machine in
tests/integration/test_preflight.py.
"""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.preflight import FilterModule
from ansible_collections.aistack.deploy.plugins.plugin_utils._preflight import parse_probe, preflight_problems

PROBE = """DF /opt/aistack/demo 1048576
DF /var/lib/aistack/demo 1048576
DF /var/lib/docker 512000
LISTEN 00000000:1F40
LISTEN 0100007F:1F90
LISTEN 00000000000000000000000000000000:0050
LISTEN 0000000000000000FFFF00000100007F:01BB
OURS 0.0.0.0:8000->8000/tcp, :::8000->8000/tcp
"""


def test_the_probe_is_read() -> None:
    probe = parse_probe(PROBE + "DF broken line\nLISTEN zz:1\nnoise\n")
    assert probe["free_mb"] == {"/opt/aistack/demo": 1024, "/var/lib/aistack/demo": 1024, "/var/lib/docker": 500}
    assert probe["listeners"] == [("0.0.0.0", 8000), ("127.0.0.1", 8080), ("::", 80), ("127.0.0.1", 443)]
    assert probe["ours"] == {8000}


def test_too_little_disk_names_the_path_and_the_variable() -> None:
    [problem] = preflight_problems(PROBE, {}, [], 1000)
    assert problem.startswith(
        "only 500 MiB free on the filesystem of /var/lib/docker, app_stack_min_free_disk_mb "
        "(aistack_min_free_disk_mb) asks for 1000"
    )
    assert preflight_problems(PROBE, {}, [], 500) == []
    assert preflight_problems(PROBE, {}, [], 0) == []  # 0: no disk check


@pytest.mark.parametrize(
    ("port", "problem"),
    [
        ("8000:8000", None),  # the app's own container publishes it
        ("8080:5555", "port 8080 (app_stack_services.svc.ports) is taken by another program listening on 127.0.0.1"),
        ("127.0.0.1:8080:5555", "port 8080 (app_stack_services.svc.ports) is taken"),
        ("10.0.0.5:8080:5555", None),  # another address than the listener's
        (
            "10.0.0.5:80:80",
            "port 80 (app_stack_services.svc.ports) is taken by another program listening on every address",
        ),
        ("443:443", "port 443 (app_stack_services.svc.ports) is taken"),
        ("9000:9000", None),
        ("8080:5555/udp", None),  # only TCP listeners are read
    ],
)
def test_a_port_another_program_holds_is_named(port: str, problem: str | None) -> None:
    found = preflight_problems(PROBE, {"svc": {"ports": [port]}}, ["svc"], 0)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(problem), found


def test_only_active_services_count_and_a_preset_s_port_names_its_variable() -> None:
    services = {
        "off": {"ports": ["8080:1"]},
        "nginx": {"ports": ["80:80", "8443:443"], "port_variables": ["app_stack_http_port", "app_stack_https_port"]},
        "api": {"ports": ["8080:8000"], "port_variables": ["app_stack_api_port"]},
    }
    assert preflight_problems(PROBE, services, ["nginx", "api"], 0, "web-1") == [
        "port 80 on web-1 (app_stack_http_port) is taken by another program listening on every address: stop it, "
        "or publish the service on another port",
        "port 8080 on web-1 (app_stack_api_port) is taken by another program listening on 127.0.0.1: stop it, "
        "or publish the service on another port",
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("ENGINE active answering", None),
        (
            "ENGINE inactive silent Cannot connect to the Docker daemon at unix:///var/run/docker.sock.",
            None,
        ),  # started later
        ("ENGINE unknown silent Cannot connect", None),  # no systemd to say it runs
        (
            "ENGINE active silent ",
            "the Docker engine on web-1 runs (docker.service is active) but does not answer within "
            "20 s (no answer): restart it",
        ),
        (
            "ENGINE active silent Cannot connect to the Docker daemon at unix:///var/run/docker.sock.",
            "the Docker engine on web-1 runs (docker.service is active) but does not answer within 20 s (Cannot connect to "
            "the Docker daemon at unix:///var/run/docker.sock.): restart it (systemctl restart docker)",
        ),
    ],
)
def test_an_engine_that_runs_but_does_not_answer_is_named(line: str, problem: str | None) -> None:
    assert parse_probe(PROBE + line + "\n")["engine"]["state"] == line.split()[1]
    found = preflight_problems(PROBE + line + "\n", {}, [], 0, "web-1")
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(problem), found


def test_no_docker_cli_no_engine_line() -> None:
    assert parse_probe(PROBE)["engine"] == {}
    assert preflight_problems(PROBE, {}, [], 0) == []


def test_the_filter() -> None:
    problems = FilterModule().filters()["app_stack_preflight_problems"]
    model = {
        "services": {"nginx": {"ports": ["443:443"], "port_variables": ["app_stack_https_port"]}},
        "active_services": ["nginx"],
        "proxy": {"service": "nginx"},
    }
    assert problems(PROBE, model, "2048", "h")[-1].startswith("port 443 on h (app_stack_https_port) is taken")
    with pytest.raises(AnsibleFilterError, match="the model must be a mapping"):
        problems(PROBE, [], 1)
    with pytest.raises(AnsibleFilterError, match="min_free_mb must be a whole number"):
        problems(PROBE, {}, "lots")
