# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""app_stack's one-round-trip look at a host (state.yml's probe) and whether the current release runs as recorded."""

from __future__ import annotations

import base64
import json
import typing as t

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.app_stack_state import (
    app_stack_host_state,
    app_stack_path_differs,
)
from ansible_collections.aistack.deploy.plugins.plugin_utils._app_stack_state import parse_state_probe

RECORD = {"release": "1.0.0", "services": ["api", "nginx", "postgres"], "proxy_service": "nginx"}
STATE = {"current": "1.0.0", "history": [{"release": "1.0.0", "result": "healthy"}]}


def b64(value: object) -> str:
    return base64.b64encode(json.dumps(value, indent=2).encode()).decode()


def probe(
    *containers: str, record: object = "default", state: object = "default", current: str = "releases/1.0.0"
) -> str:
    record = RECORD if record == "default" else record
    state = STATE if state == "default" else state
    lines = [f"CURRENT {current}"] if current else []
    lines += ["RELEASE 0.9.0", "RELEASE 1.0.0"]
    lines += [f"CONTAINER {c}" for c in containers]
    if state is not None:
        lines.append(f"STATE {b64(state)}")
    if record is not None:
        lines.append(f"RECORD {b64(record)}")
    return "\n".join(lines) + "\n"


UP = ("nginx running", "api running", "postgres running")


def test_a_stack_running_as_recorded_is_up_and_everything_is_read() -> None:
    found = parse_state_probe(probe(*UP))
    assert found == {
        "current": "1.0.0",
        "releases": ["0.9.0", "1.0.0"],
        "state": STATE,
        "record": RECORD,
        "containers": {"nginx": ["running"], "api": ["running"], "postgres": ["running"]},
        "up": True,
        "healthy": False,
        "target_record": {},
        "target_compose": False,
        "unit": {},
        "left": [],
        "paths": {},
    }


@pytest.mark.parametrize(
    "containers",
    [
        ("nginx running", "api exited", "postgres running"),  # a service stopped
        ("nginx running", "api restarting", "postgres running"),  # crash-looping
        ("nginx running", "postgres running"),  # a container gone
        ("nginx running", "api running", "api running", "postgres running"),  # a start-first switch that did not finish
        UP + ("worker running",),  # a container of a service the release does not have
        (),  # nothing runs (the engine was wiped)
    ],
)
def test_a_stack_not_as_recorded_is_not_up(containers: tuple[str, ...]) -> None:
    assert parse_state_probe(probe(*containers))["up"] is False


def test_the_proxy_is_nginx_proxys_to_run() -> None:
    assert parse_state_probe(probe("nginx exited", "api running", "postgres running"))["up"] is True
    assert parse_state_probe(probe("api running", "postgres running"))["up"] is True


@pytest.mark.parametrize(
    "changes",
    [
        {"record": None},  # a release directory without a record
        {"record": {"release": "1.0.0"}},  # a record without services
        {"current": "releases/2.0.0"},  # a link to a release directory that is not there
        {"current": ""},  # no link at all
    ],
)
def test_without_a_usable_record_or_link_the_stack_is_brought_up(changes: dict[str, t.Any]) -> None:
    assert parse_state_probe(probe(*UP, **changes))["up"] is False


def test_a_fresh_host_has_no_state() -> None:
    assert parse_state_probe("") == {
        "current": "",
        "releases": [],
        "state": {},
        "record": {},
        "containers": {},
        "up": False,
        "healthy": False,
        "target_record": {},
        "target_compose": False,
        "unit": {},
        "left": [],
        "paths": {},
    }


HEALTHY = (
    "nginx running Up 2 hours (healthy)",
    "api running Up 2 hours (healthy)",
    "postgres running Up 3 hours (healthy)",
)


def test_a_stack_up_whose_containers_pass_their_health_checks_is_healthy() -> None:
    found = parse_state_probe(probe(*HEALTHY))
    assert found["up"] is True and found["healthy"] is True
    assert found["containers"] == {"nginx": ["running"], "api": ["running"], "postgres": ["running"]}


@pytest.mark.parametrize(
    "containers",
    [
        (
            "nginx running Up 2 hours (healthy)",
            "api running Up 5 seconds (health: starting)",
            "postgres running Up 3 hours (healthy)",
        ),  # still starting: the gate waits
        (
            "nginx running Up 2 hours (healthy)",
            "api running Up 2 hours (unhealthy)",
            "postgres running Up 3 hours (healthy)",
        ),  # failing its check
        (
            "nginx running Up 2 hours (healthy)",
            "api running Up 2 hours",
            "postgres running Up 3 hours (healthy)",
        ),  # no health check at all
        (
            "nginx running Up 2 hours (healthy)",
            "api exited Exited (1) 2 minutes ago",
            "postgres running Up 3 hours (healthy)",
        ),  # not up at all
    ],
)
def test_a_container_not_passing_its_health_check_leaves_the_stack_unhealthy(containers: tuple[str, ...]) -> None:
    assert parse_state_probe(probe(*containers))["healthy"] is False


def test_the_proxys_health_is_nginx_proxys_to_check() -> None:
    found = parse_state_probe(probe("nginx running Up 1 second (health: starting)", *HEALTHY[1:]))
    assert found["healthy"] is True


def test_the_target_release_the_unit_and_the_retention_files_are_read() -> None:
    target = {"release": "2.0.0", "created_at": "2026-12-01T00:00:00Z"}
    text = (
        probe(*HEALTHY)
        + "\n".join(
            [
                f"TARGET 2.0.0 {b64(target)}",
                "TARGET_COMPOSE",
                "UNIT enabled active",
                "LEFT /etc/systemd/system/aistack-app-retention.timer",
                "LEFT /etc/aistack/app/retention.json",
            ]
        )
        + "\n"
    )
    found = parse_state_probe(text)
    assert found["target_record"] == target and found["target_compose"] is True
    assert found["unit"] == {"enabled": "enabled", "active": "active"}
    assert found["left"] == ["/etc/systemd/system/aistack-app-retention.timer", "/etc/aistack/app/retention.json"]


def test_the_paths_this_run_would_write_are_read_with_owner_mode_and_checksum() -> None:
    text = (
        "\n".join(
            [
                "STAT 0:0 755 dir /opt/aistack/app",
                "STAT 1000:1000 750 dir /srv/data/models",
                "STAT 0:0 600 " + "a" * 64 + " /opt/aistack/app/releases/1.0/.env",
                "STAT 0:0 644 " + "b" * 64 + " /srv/data/models/with space.json",
                "STAT 0:0 6x4 dir /bad-mode",
                "STAT 0:0 755",
                "STAT nonsense",
            ]
        )
        + "\n"
    )
    assert parse_state_probe(text)["paths"] == {
        "/opt/aistack/app": {"owner": "0:0", "mode": 0o755, "sha256": "dir"},
        "/srv/data/models": {"owner": "1000:1000", "mode": 0o750, "sha256": "dir"},
        "/opt/aistack/app/releases/1.0/.env": {"owner": "0:0", "mode": 0o600, "sha256": "a" * 64},
        "/srv/data/models/with space.json": {"owner": "0:0", "mode": 0o644, "sha256": "b" * 64},
    }


def test_a_unit_systemctl_does_not_know_reads_as_empty() -> None:
    assert parse_state_probe("UNIT  \n")["unit"] == {"enabled": "", "active": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"STATE {base64.b64encode(b'{not json').decode()}", "/opt/app/state.json on the host is not JSON"),
        (
            f"STATE {base64.b64encode(b'[1]').decode()}",
            "/opt/app/state.json on the host is not a JSON object but a list",
        ),
        ("CURRENT releases/1.0.0\nRECORD %%%", "/opt/app/releases/1.0.0/release.json on the host is not JSON"),
        ("TARGET 2.0.0 %%%", "/opt/app/releases/2.0.0/release.json on the host is not JSON"),
    ],
)
def test_a_file_that_is_not_a_json_object_is_named(text: str, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        app_stack_host_state(text, "/opt/app")


def test_the_filter_wants_a_string() -> None:
    with pytest.raises(AnsibleFilterError, match="expects the probe's output"):
        app_stack_host_state(None)


PATHS = {
    "/srv/d": {"owner": "10001:10001", "mode": 0o750, "sha256": "dir"},
    "/srv/d/f.json": {"owner": "0:0", "mode": 0o644, "sha256": "a" * 64},
}


@pytest.mark.parametrize(
    ("args", "differs"),
    [
        (("/srv/d", "10001:10001", "0750"), False),
        (("/srv/d", "10001:10001", 0o750), False),  # a number works too
        (("/srv/d", "0:0", "0750"), True),  # another owner
        (("/srv/d", "10001:10001", "0755"), True),  # another mode
        (("/srv/d/f.json", "0:0", "0644", "a" * 64), False),
        (("/srv/d/f.json", "0:0", "0644", "b" * 64), True),  # other content
        (("/srv/d/f.json", "0:0", "0644"), True),  # a file where a directory is wanted
        (("/srv/missing", "0:0", "0755"), True),  # not found by the probe
        (("/srv/d", "10001:10001", "u=rwx"), True),  # no octal mode: written
    ],
)
def test_a_path_differs_unless_owner_mode_and_content_are_as_wanted(args: tuple[t.Any, ...], differs: bool) -> None:
    assert app_stack_path_differs(PATHS, *args) is differs


def test_path_differs_wants_the_paths_dict() -> None:
    with pytest.raises(AnsibleFilterError, match="expects the paths"):
        app_stack_path_differs([], "/srv/d", "0:0", "0755")
