# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""app_image's one-pass distribution: which images a host gets from the controller (filter app_image_distribution)."""

from __future__ import annotations

import typing as t

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.app_image import FilterModule, app_image_distribution
from ansible_collections.aistack.deploy.plugins.plugin_utils._distribution import distribution_plan

A, B, C = ("sha256:" + c * 64 for c in "abc")
API, DB, PROXY = "team/app-api:1.0.0", "postgres:17", "nginx"
CONTROLLER = [{"Id": A, "RepoTags": [API]}, {"Id": B, "RepoTags": [DB]}, {"Id": C, "RepoTags": ["nginx:latest"]}]


def test_only_what_the_host_lacks_is_loaded_each_with_its_archive_name() -> None:
    host = [{"Id": B, "RepoTags": [DB, "postgres:latest"]}]
    plan = distribution_plan([API, DB, PROXY], [API], CONTROLLER, host, "web-1")
    assert plan == {
        "missing": [],
        "conflicts": [],
        "load": [
            {"name": API, "id": A, "archive": "team_app-api_1.0.0-aaaaaaaaaaaa.tar"},
            # A name without a tag is :latest, as the engines list it.
            {"name": PROXY, "id": C, "archive": "nginx-cccccccccccc.tar"},
        ],
    }
    # Every image already there: nothing to do (a no-op run).
    assert distribution_plan([API, DB, PROXY], [API], CONTROLLER, CONTROLLER, "web-1")["load"] == []


def test_an_image_the_controller_lacks_is_missing() -> None:
    # In check mode a controller build has not happened: the task reports it instead of failing.
    plan = distribution_plan([API, "redis:7", DB], [API], CONTROLLER[1:], [], "web-1")
    assert plan["missing"] == [API, "redis:7"] and [item["name"] for item in plan["load"]] == [DB]


@pytest.mark.parametrize(
    "replace, conflicts, loaded",
    [
        (
            False,
            [
                "team/app-api:1.0.0 on web-1 is image bbbbbbbbbbbb, but the controller's is aaaaaaaaaaaa "
                "(built again from other sources)"
            ],
            [DB],
        ),
        (True, [], [API, DB]),
    ],
)
def test_a_release_tag_the_host_has_as_another_image_is_a_conflict_unless_replaced(
    replace: bool, conflicts: list[str], loaded: list[str]
) -> None:
    # An extra image (not a release tag) is simply loaded again: postgres:17 on the host is another image.
    host = [{"Id": B, "RepoTags": [API]}, {"Id": C, "RepoTags": [DB]}]
    plan = distribution_plan([API, DB], [API], CONTROLLER, host, "web-1", replace)
    assert plan["conflicts"] == conflicts
    assert [item["name"] for item in plan["load"]] == loaded


def test_an_image_named_by_its_digest_is_found_by_it() -> None:
    pinned = "redis@sha256:" + "d" * 64
    controller = [{"Id": C, "RepoTags": [], "RepoDigests": [pinned]}]
    assert distribution_plan([pinned], [], controller, [], "web-1")["load"] == [
        {"name": pinned, "id": C, "archive": "redis_sha256_" + "d" * 64 + "-cccccccccccc.tar"}
    ]
    assert distribution_plan([pinned], [], controller, controller, "web-1")["load"] == []


def test_a_name_given_twice_is_planned_once() -> None:
    assert len(distribution_plan([DB, DB], [], CONTROLLER, [], "web-1")["load"]) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (("postgres:17", [], [], [], "h"), "the images to distribute must be a list of image names"),
        (([DB], [""], [], [], "h"), "releases must be a list of image names"),
        (([DB], [], {}, [], "h"), "on_controller must be the images of docker_image_info"),
        (([DB], [], [], None, "h"), "on_host must be the images of docker_image_info"),
    ],
)
def test_the_filter_names_bad_input(args: tuple[t.Any, ...], message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        app_image_distribution(*args)
    assert FilterModule().filters()["app_image_distribution"] is app_image_distribution
