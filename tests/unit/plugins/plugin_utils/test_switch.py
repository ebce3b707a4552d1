# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import re

import pytest

from ansible_collections.aistack.deploy.plugins.filter.switch import app_stack_switch_plan
from ansible_collections.aistack.deploy.plugins.plugin_utils._switch import (
    parse_probe,
    release_alias,
    switch_plan,
    target_variable,
    targets_text,
)

MODEL = {"start_first": ["api"], "proxy": {"service": "nginx"}}
OLD, NEW = release_alias("api", "1.0.0"), release_alias("api", "1.0.1")


def probe(
    *containers: tuple[str, str], routed: bool = True, served: str | None = OLD, aliases: tuple[str, ...] = (NEW,)
) -> str:
    lines = [
        f"container\t{i}\t{service}\t{release}\tapp-{service}-{i}" for i, (service, release) in enumerate(containers, 1)
    ]
    lines += ["routed"] if routed else []
    lines += [f"target\tset $aistack_target_api {served};"] if served else []
    lines += [f"alias\t{alias}" for alias in aliases]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("release", ["1.0.0", "2026.12.02-rc.1", "A_b-C", "x" * 128, "1.0.0+build"])
def test_an_alias_is_one_dns_label_unique_per_release(release: str) -> None:
    alias = release_alias("api", release)
    assert re.match(r"^[a-z0-9][a-z0-9_-]*--[a-z0-9-]*-[0-9a-f]{8}$", alias) and len(alias) <= 63
    assert alias != release_alias("api", release + "1")
    # 1.0.1 and 1-0-1 share a slug, not an alias.
    assert release_alias("api", "1.0.1") != release_alias("api", "1-0-1")


def test_targets_name_each_start_first_service_s_alias() -> None:
    text = targets_text(["frontend", "api"], "1.0.1")
    assert f"set $aistack_target_api {NEW};" in text
    assert f"set $aistack_target_frontend {release_alias('frontend', '1.0.1')};" in text
    assert target_variable("my-api") == "aistack_target_my_api"
    # What the probe reads back is what was written.
    assert parse_probe("".join(f"target\t{line}\n" for line in text.splitlines()))["targets"] == {
        "aistack_target_api": NEW,
        "aistack_target_frontend": release_alias("frontend", "1.0.1"),
    }


def test_a_serving_release_routed_by_its_alias_switches() -> None:
    plan = app_stack_switch_plan(probe(("api", "1.0.0"), ("nginx", ""), ("worker", "")), MODEL, "1.0.1")
    assert plan["live"] == ["api"]
    assert plan["old_ids"] == ["1"] and plan["old_names"] == ["app-api-1"]
    assert plan["proxy_container"] == "app-nginx-2"
    assert f"set $aistack_target_api {NEW};" in plan["targets"]
    assert plan["notes"] == []


def test_a_run_that_stopped_after_the_new_containers_started_switches_again() -> None:
    # Old and new both run (the last run failed after `up`): only the old one goes.
    plan = switch_plan(probe(("api", "1.0.0"), ("api", "1.0.1")), ["api"], "nginx", "1.0.1")
    assert plan["live"] == ["api"] and plan["old_ids"] == ["1"]


@pytest.mark.parametrize(
    "text, why",
    [
        (probe(("api", "1.0.0"), routed=False), "does not route through targets.conf"),
        (probe(("api", "")), "by their release's alias yet"),  # containers of a release made before start-first
        (probe(("api", "1.0.0"), served=None), "by their release's alias yet"),
        (probe(("api", "1.0.0"), served=release_alias("api", "0.9")), "by their release's alias yet"),
        (probe(("api", "1.0.0"), aliases=()), "gives it no alias of its own"),  # a rollback to an older release
    ],
)
def test_a_service_the_proxy_cannot_switch_is_replaced_in_place_and_says_why(text: str, why: str) -> None:
    plan = switch_plan(text, ["api"], "nginx", "1.0.1")
    assert plan["live"] == [] and plan["old_ids"] == []
    assert len(plan["notes"]) == 1 and plan["notes"][0].startswith("api: replaced in place this time (")
    assert why in plan["notes"][0]


def test_nothing_to_switch_on_a_first_deploy_or_a_re_run() -> None:
    assert switch_plan(probe(), ["api"], "nginx", "1.0.1")["live"] == []
    rerun = switch_plan(probe(("api", "1.0.1"), served=NEW), ["api"], "nginx", "1.0.1")
    assert rerun["live"] == [] and rerun["notes"] == [] and NEW in rerun["targets"]
    # An empty probe (skipped): no service, and targets.conf names none (nginx uses the plain names).
    empty = switch_plan("", ["api"], "", "1.0.1")
    assert empty["live"] == [] and "set " not in empty["targets"] and empty["proxy_container"] == ""


def test_a_target_release_without_aliases_routes_by_plain_names() -> None:
    plan = switch_plan(probe(aliases=()), ["api"], "nginx", "1.0.1")
    assert "set " not in plan["targets"]


def test_a_switch_leaves_targets_conf_as_it_is_until_the_gate() -> None:
    plan = switch_plan(probe(("api", "1.0.0"), ("nginx", "")), ["api"], "nginx", "1.0.1")
    assert plan["live"] == ["api"] and plan["targets_before_up"] == ""
    # Nor does a first deploy, a re-run of the release that serves, or a skipped probe.
    assert switch_plan(probe(served=None), ["api"], "nginx", "1.0.1")["targets_before_up"] == ""
    assert switch_plan(probe(("api", "1.0.1"), served=NEW), ["api"], "nginx", "1.0.1")["targets_before_up"] == ""
    assert switch_plan("", ["api"], "", "1.0.1")["targets_before_up"] == ""


@pytest.mark.parametrize(
    "start_first, text",
    [
        ([], probe(("api", "1.0.0"), ("nginx", ""), aliases=())),  # the api is stop-first now
        (["api"], probe(("api", "1.0.0"), ("nginx", ""), aliases=())),  # a rollback to a release without aliases
        (["api"], probe(("api", "1.0.0"), ("nginx", ""), served=release_alias("api", "0.9"))),  # routed elsewhere
    ],
)
def test_a_service_replaced_in_place_is_routed_by_its_plain_name_before_the_up(
    start_first: list[str], text: str
) -> None:
    """targets.conf must stop naming the alias of containers the `up` removes, or nginx answers 502 until the gate.

    The rollout benchmark's stop-first deploy behind nginx answered 526 of 1,309 requests with an error: the
    alias of the old release stayed in targets.conf (nginx looked it up, found nothing, or a cached address)
    for as long as the new release's gate ran.
    """
    plan = switch_plan(text, start_first, "nginx", "1.0.1")
    assert plan["live"] == [] and plan["proxy_container"] == "app-nginx-2"
    assert plan["targets_before_up"] and "set " not in plan["targets_before_up"]


def test_before_the_up_only_the_services_that_switch_keep_their_line() -> None:
    text = (
        probe(("api", "1.0.0"), ("web", "1.0.0"), ("nginx", ""), aliases=(NEW,))
        + f"target\tset $aistack_target_web {release_alias('web', '1.0.0')};\n"
    )
    plan = switch_plan(text, ["api", "web"], "nginx", "1.0.1")  # web: no alias in 1.0.1's compose file
    assert plan["live"] == ["api"]
    assert f"set $aistack_target_api {OLD};" in plan["targets_before_up"]
    assert "aistack_target_web" not in plan["targets_before_up"]


REPLICAS = {"api": ["api-gpu0", "api-gpu1"]}


def test_the_replicas_of_a_per_gpu_service_switch_together_under_its_alias() -> None:
    model = {"start_first": ["api-gpu1", "api-gpu0"], "replicas": REPLICAS, "proxy": {"service": "nginx"}}
    text = probe(("api-gpu0", "1.0.0"), ("api-gpu1", "1.0.0"), ("nginx", ""), ("worker", ""))
    plan = app_stack_switch_plan(text, model, "1.0.1")
    assert plan["live"] == ["api-gpu0", "api-gpu1"] and plan["old_ids"] == ["1", "2"]
    # nginx reaches the release's replicas by the service's one alias.
    assert f"set $aistack_target_api {NEW};" in plan["targets"] and "gpu" not in plan["targets"]
    assert plan["notes"] == [] and plan["targets_before_up"] == ""


def test_replicas_that_cannot_switch_are_replaced_in_place_together() -> None:
    plan = switch_plan(
        probe(("api-gpu0", "1.0.0"), ("api-gpu1", "1.0.0"), routed=False),
        ["api-gpu0", "api-gpu1"],
        "nginx",
        "1.0.1",
        REPLICAS,
    )
    assert plan["live"] == [] and plan["old_ids"] == []
    assert plan["notes"] == [
        "api: replaced in place this time (the proxy's live configuration does not route "
        "through targets.conf yet (nginx_proxy renders it))"
    ]


def test_the_filter_refuses_replicas_that_are_not_a_mapping() -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="replicas must be a mapping"):
        app_stack_switch_plan("", {"start_first": [], "replicas": ["api-gpu0"]}, "1.0.1")


def test_the_filter_refuses_a_model_that_is_not_a_mapping() -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="the model must be a mapping"):
        app_stack_switch_plan("", ["api"], "1.0.1")
