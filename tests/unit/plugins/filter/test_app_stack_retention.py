# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for plugins/plugin_utils/_retention.py and its filter app_stack_retention_plan.

The volumes are the app_stack model's own (aistack.deploy.app_stack_model on a
Horus-AI-like stack: a named volume for clips and HLS segments, bind volumes
for logs and exports), so the plan is tested on the shape the role hands it.
"""

from __future__ import annotations

import typing as t

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.app_stack import app_stack_model
from ansible_collections.aistack.deploy.plugins.filter.app_stack_retention import (
    FilterModule,
    app_stack_retention_plan,
)
from ansible_collections.aistack.deploy.plugins.plugin_utils._retention import (
    parse_duration,
    parse_size,
    retention_plan,
)

MODEL = app_stack_model(
    {
        "name": "horus",
        "data_root": "/var/lib/aistack/horus",
        "root": "/opt/aistack/horus",
        "services": {
            "api": {
                "image": "demo/horus:1",
                "volumes": ["static:/app/static", "logs:/app/logs", "exports:/app/exports"],
            }
        },
        "volumes": {"static": {"type": "named"}, "logs": {}, "exports": {"path": "/srv/horus/exports/"}},
        "presets": {},
        "profiles": [],
        "images": {},
        "env": {},
        "secret_names": [],
        "gpu_present": False,
        "defaults": {
            "restart": "always",
            "stop_grace_period": "30s",
            "read_only": True,
            "tmpfs": [],
            "cap_drop": ["ALL"],
        },
    }
)
VOLUMES = MODEL["volumes"]
STATIC_MOUNT = "/var/lib/docker/volumes/aistack-horus-static/_data"
MOUNTPOINTS = {"aistack-horus-static": STATIC_MOUNT}
DAY = 86400
GIB = 1024**3


def test_the_model_has_the_volumes_the_tests_use() -> None:
    assert MODEL["problems"] == []
    assert VOLUMES["static"]["docker_name"] == "aistack-horus-static"
    assert VOLUMES["logs"]["path"] == "/var/lib/aistack/horus/logs"


def plan(*entries: t.Any, mountpoints: t.Any = None) -> dict[str, t.Any]:
    return retention_plan(list(entries), VOLUMES, MOUNTPOINTS if mountpoints is None else mountpoints)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            {"volume": "logs", "max_age": "14d"},
            {
                "volume": "logs",
                "type": "bind",
                "path": "",
                "host_path": "/var/lib/aistack/horus/logs",
                "docker_name": None,
                "max_age_seconds": 14 * DAY,
                "max_size_bytes": None,
                "pattern": "*",
            },
            id="bind-whole-volume-age",
        ),
        pytest.param(
            {"volume": "exports", "path": "./daily//reports/", "max_size": "10G", "pattern": "*.csv"},
            {
                "volume": "exports",
                "type": "bind",
                "path": "daily/reports",
                "host_path": "/srv/horus/exports/daily/reports",
                "docker_name": None,
                "max_age_seconds": None,
                "max_size_bytes": 10 * GIB,
                "pattern": "*.csv",
            },
            id="bind-sub-path-size-pattern",
        ),
        pytest.param(
            {"volume": "static", "path": "clips", "max_age": "12h", "max_size": "500M"},
            {
                "volume": "static",
                "type": "named",
                "path": "clips",
                "host_path": f"{STATIC_MOUNT}/clips",
                "docker_name": "aistack-horus-static",
                "max_age_seconds": 12 * 3600,
                "max_size_bytes": 500 * 1024**2,
                "pattern": "*",
            },
            id="named-sub-path-both-limits",
        ),
        pytest.param(
            {"volume": "static", "path": "hls", "max_age": 90, "max_size": 1048576, "pattern": "*.ts"},
            {
                "volume": "static",
                "type": "named",
                "path": "hls",
                "host_path": f"{STATIC_MOUNT}/hls",
                "docker_name": "aistack-horus-static",
                "max_age_seconds": 90,
                "max_size_bytes": 1048576,
                "pattern": "*.ts",
            },
            id="named-plain-numbers",
        ),
        pytest.param(
            {"volume": "logs", "path": None, "max_age": "30m", "pattern": "*.log.*"},
            {
                "volume": "logs",
                "type": "bind",
                "path": "",
                "host_path": "/var/lib/aistack/horus/logs",
                "docker_name": None,
                "max_age_seconds": 1800,
                "max_size_bytes": None,
                "pattern": "*.log.*",
            },
            id="null-path-is-whole-volume",
        ),
    ],
)
def test_good_entries_are_normalized(entry: dict[str, t.Any], expected: dict[str, t.Any]) -> None:
    result = plan(entry)
    assert result["problems"] == []
    assert result["entries"] == [expected]
    assert result["config"] == [
        {
            "dir": expected["host_path"],
            "max_age_seconds": expected["max_age_seconds"],
            "max_size_bytes": expected["max_size_bytes"],
            "pattern": expected["pattern"],
        }
    ]


def test_a_named_volume_without_a_known_mountpoint_has_no_host_path_and_no_config() -> None:
    result = plan(
        {"volume": "static", "path": "clips", "max_age": "14d"}, {"volume": "logs", "max_age": "1d"}, mountpoints={}
    )
    assert result["problems"] == []
    assert result["entries"][0]["host_path"] is None
    assert result["entries"][0]["docker_name"] == "aistack-horus-static"
    assert [entry["dir"] for entry in result["config"]] == ["/var/lib/aistack/horus/logs"]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("14d", 14 * DAY),
        ("12h", 43200),
        ("30m", 1800),
        ("90s", 90),
        ("2w", 14 * DAY),
        ("3600", 3600),
        (" 7d ", 7 * DAY),
        (60, 60),
        ("0", None),
        (0, None),
        (-5, None),
        ("1.5h", None),
        ("14 days", None),
        ("", None),
        (True, None),
        (None, None),
        (1.5, None),
        ([], None),
    ],
)
def test_durations(value: t.Any, seconds: int | None) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("10G", 10 * GIB),
        ("500M", 500 * 1024**2),
        ("1024K", 1024**2),
        ("2T", 2 * 1024**4),
        ("1.5G", 3 * GIB // 2),
        ("10g", 10 * GIB),
        ("10GiB", 10 * GIB),
        ("10GB", 10 * GIB),
        ("4096", 4096),
        ("4096B", 4096),
        (4096, 4096),
        ("0", None),
        (0, None),
        ("0.0001K", None),
        ("-1G", None),
        ("10X", None),
        ("lots", None),
        (False, None),
        (None, None),
        (1.5, None),
    ],
)
def test_sizes(value: t.Any, size: int | None) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        pytest.param(
            "clips",
            "app_stack_retention[0]: must be a mapping of volume, path, max_age, max_size, pattern (got 'clips')",
            id="not-a-mapping",
        ),
        pytest.param(
            {"volume": "logs", "max_age": "1d", "maxsize": "1G"},
            "app_stack_retention[0]: unknown key 'maxsize' (known: volume, path, max_age, max_size, pattern)",
            id="unknown-key",
        ),
        pytest.param(
            {"max_age": "1d"},
            "app_stack_retention[0].volume: is required: the name of a volume of "
            "app_stack_volumes (volumes: exports, logs, static)",
            id="no-volume",
        ),
        pytest.param(
            {"volume": "clipz", "max_age": "1d"},
            "app_stack_retention[0].volume: 'clipz' is not a volume of app_stack_volumes "
            "(volumes: exports, logs, static)",
            id="unknown-volume",
        ),
        pytest.param(
            {"volume": ["logs"], "max_age": "1d"},
            "app_stack_retention[0].volume: ['logs'] is not a volume of app_stack_volumes "
            "(volumes: exports, logs, static)",
            id="volume-not-a-string",
        ),
        pytest.param(
            {"volume": "logs", "path": "/var/log", "max_age": "1d"},
            "app_stack_retention[0].path: '/var/log' must be relative to the volume, without a leading '/'",
            id="absolute-path",
        ),
        pytest.param(
            {"volume": "logs", "path": "a/../../etc", "max_age": "1d"},
            "app_stack_retention[0].path: 'a/../../etc' must not contain a '..' component",
            id="dotdot-path",
        ),
        pytest.param(
            {"volume": "logs", "path": "..", "max_age": "1d"},
            "app_stack_retention[0].path: '..' must not contain a '..' component",
            id="dotdot-alone",
        ),
        pytest.param(
            {"volume": "logs", "path": 7, "max_age": "1d"},
            "app_stack_retention[0].path: 7 must be a string",
            id="path-not-a-string",
        ),
        pytest.param(
            {"volume": "logs", "path": "my clips", "max_age": "1d"},
            "app_stack_retention[0].path: 'my clips' must not contain white space, quotes, '%', '\\' or control "
            "characters",
            id="path-unfit-for-a-unit",
        ),
        pytest.param(
            {"volume": "logs"},
            "app_stack_retention[0]: needs max_age, max_size or both (a retention without a limit deletes nothing)",
            id="no-limit",
        ),
        pytest.param(
            {"volume": "logs", "max_age": None, "max_size": None},
            "app_stack_retention[0]: needs max_age, max_size or both (a retention without a limit deletes nothing)",
            id="null-limits",
        ),
        pytest.param(
            {"volume": "logs", "max_age": "2 weeks"},
            "app_stack_retention[0].max_age: '2 weeks' is not a duration such as 14d, 12h, 30m, 90s (also w) or "
            "a number of seconds, more than 0",
            id="bad-duration",
        ),
        pytest.param(
            {"volume": "logs", "max_age": 0},
            "app_stack_retention[0].max_age: 0 is not a duration such as 14d, 12h, 30m, 90s (also w) or a number "
            "of seconds, more than 0",
            id="zero-duration",
        ),
        pytest.param(
            {"volume": "logs", "max_size": "10X"},
            "app_stack_retention[0].max_size: '10X' is not a size such as 10G, 500M, 1024K (powers of 1024; also "
            "T) or a number of bytes, more than 0",
            id="bad-size",
        ),
        pytest.param(
            {"volume": "logs", "max_size": "0G"},
            "app_stack_retention[0].max_size: '0G' is not a size such as 10G, 500M, 1024K (powers of 1024; also "
            "T) or a number of bytes, more than 0",
            id="zero-size",
        ),
        pytest.param(
            {"volume": "logs", "max_age": "1d", "pattern": "clips/*.mp4"},
            "app_stack_retention[0].pattern: 'clips/*.mp4' must match file names only, without '/' (use path "
            "for directories)",
            id="pattern-with-slash",
        ),
        pytest.param(
            {"volume": "logs", "max_age": "1d", "pattern": ""},
            "app_stack_retention[0].pattern: '' is not a glob on file names such as '*.ts' (a non-empty string)",
            id="empty-pattern",
        ),
        pytest.param(
            {"volume": "logs", "max_age": "1d", "pattern": None},
            "app_stack_retention[0].pattern: None is not a glob on file names such as '*.ts' (a non-empty string)",
            id="null-pattern",
        ),
    ],
)
def test_every_kind_of_problem(entry: t.Any, problem: str) -> None:
    result = plan(entry)
    assert result["problems"] == [problem]
    assert result["entries"] == [] and result["config"] == []


def test_a_bind_volume_path_a_unit_cannot_hold_is_refused() -> None:
    volumes = {"odd": {"type": "bind", "path": "/srv/100%/data", "docker_name": ""}}
    assert retention_plan([{"volume": "odd", "max_age": "1d"}], volumes)["problems"] == [
        "app_stack_retention[0].volume: the host path '/srv/100%/data' of volume 'odd' holds white space, quotes, "
        "'%', '\\' or control characters, which a systemd unit cannot hold"
    ]


def test_every_problem_of_every_entry_is_reported_at_once() -> None:
    result = plan(
        {"volume": "static", "path": "clips", "max_age": "14d"},
        {"volume": "clipz", "path": "../hls", "max_age": "soon", "max_size": "big", "pattern": "a/b", "extra": 1},
        42,
        {"volume": "logs"},
    )
    assert result["entries"] == []
    assert result["problems"] == [
        "app_stack_retention[1]: unknown key 'extra' (known: volume, path, max_age, max_size, pattern)",
        "app_stack_retention[1].volume: 'clipz' is not a volume of app_stack_volumes (volumes: exports, logs, static)",
        "app_stack_retention[1].path: '../hls' must not contain a '..' component",
        "app_stack_retention[1].max_age: 'soon' is not a duration such as 14d, 12h, 30m, 90s (also w) or a number of "
        "seconds, more than 0",
        "app_stack_retention[1].max_size: 'big' is not a size such as 10G, 500M, 1024K (powers of 1024; also T) or a "
        "number of bytes, more than 0",
        "app_stack_retention[1].pattern: 'a/b' must match file names only, without '/' (use path for directories)",
        "app_stack_retention[2]: must be a mapping of volume, path, max_age, max_size, pattern (got 42)",
        "app_stack_retention[3]: needs max_age, max_size or both (a retention without a limit deletes nothing)",
    ]


@pytest.mark.parametrize("entries", [[], None, ()])
def test_no_retention_is_an_empty_plan(entries: t.Any) -> None:
    assert retention_plan(entries, VOLUMES) == {"entries": [], "config": [], "problems": []}


@pytest.mark.parametrize("entries", [{"volume": "logs"}, "logs", 3])
def test_a_retention_that_is_not_a_list_is_one_problem(entries: t.Any) -> None:
    result = retention_plan(entries, VOLUMES)
    assert result["entries"] == []
    assert result["problems"] == [
        f"app_stack_retention: must be a list of {{volume, path, max_age, max_size, pattern}} (got {entries!r})"
    ]


def test_a_stack_without_volumes_names_none() -> None:
    assert retention_plan([{"volume": "logs", "max_age": "1d"}], {})["problems"] == [
        "app_stack_retention[0].volume: 'logs' is not a volume of app_stack_volumes (volumes: none defined)"
    ]


def test_the_filter_is_registered_and_wraps_the_util() -> None:
    assert FilterModule().filters() == {"app_stack_retention_plan": app_stack_retention_plan}
    entries = [{"volume": "static", "path": "hls", "max_age": "2h", "pattern": "*.ts"}]
    assert app_stack_retention_plan(entries, VOLUMES, MOUNTPOINTS) == retention_plan(entries, VOLUMES, MOUNTPOINTS)
    assert app_stack_retention_plan(entries, VOLUMES)["config"] == []


@pytest.mark.parametrize(
    ("volumes", "mountpoints", "message"),
    [
        (["logs"], None, "app_stack_retention_plan: volumes must be the model's volumes mapping, got list"),
        (
            VOLUMES,
            ["x"],
            "app_stack_retention_plan: mountpoints must be a mapping of Docker volume names to host "
            "directories, got list",
        ),
    ],
)
def test_the_filter_refuses_arguments_of_the_wrong_type(volumes: t.Any, mountpoints: t.Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        app_stack_retention_plan([], volumes, mountpoints)
