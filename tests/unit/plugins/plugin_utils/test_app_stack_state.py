# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""app_stack's one-round-trip look at a host (state.yml's probe) and whether the current release runs as recorded."""

from __future__ import annotations

import base64
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.app_stack_state import app_stack_host_state
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


def test_a_stack_running_as_recorded_is_up_and_everything_is_read():
    found = parse_state_probe(probe(*UP))
    assert found == {
        "current": "1.0.0",
        "releases": ["0.9.0", "1.0.0"],
        "state": STATE,
        "record": RECORD,
        "containers": {"nginx": ["running"], "api": ["running"], "postgres": ["running"]},
        "up": True,
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
def test_a_stack_not_as_recorded_is_not_up(containers):
    assert parse_state_probe(probe(*containers))["up"] is False


def test_the_proxy_is_nginx_proxys_to_run():
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
def test_without_a_usable_record_or_link_the_stack_is_brought_up(changes):
    assert parse_state_probe(probe(*UP, **changes))["up"] is False


def test_a_fresh_host_has_no_state():
    assert parse_state_probe("") == {
        "current": "",
        "releases": [],
        "state": {},
        "record": {},
        "containers": {},
        "up": False,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"STATE {base64.b64encode(b'{not json').decode()}", "/opt/app/state.json on the host is not JSON"),
        (
            f"STATE {base64.b64encode(b'[1]').decode()}",
            "/opt/app/state.json on the host is not a JSON object but a list",
        ),
        ("CURRENT releases/1.0.0\nRECORD %%%", "/opt/app/releases/1.0.0/release.json on the host is not JSON"),
    ],
)
def test_a_file_that_is_not_a_json_object_is_named(text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        app_stack_host_state(text, "/opt/app")


def test_the_filter_wants_a_string():
    with pytest.raises(AnsibleFilterError, match="expects the probe's output"):
        app_stack_host_state(None)
