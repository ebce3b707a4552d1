# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""app_image's pruning: which release tags go beyond app_image_keep_releases (recorded.yml's probe, parsed)."""

from __future__ import annotations

import base64
import json
import typing as t

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.app_image import app_image_prune_plan
from ansible_collections.aistack.deploy.plugins.plugin_utils._app_image_prune import prune_plan

NAME = "horus/backend"


def record(*refs: str) -> str:
    body = {"release": "x", "images": {ref: "sha256:" + "0" * 64 for ref in refs}}
    return "RECORD " + base64.b64encode(json.dumps(body).encode()).decode()


def image(tag: str, created: str, target: str = "api", image_id: str = "") -> str:
    return f"IMAGE {target} {image_id or 'id-' + tag} {NAME}-{target}:{tag} {created} +0000 UTC"


def day(n: int) -> str:
    return f"2026-12-{n:02d} 10:00:00"


def test_the_oldest_versions_beyond_the_count_go_and_the_current_one_stays() -> None:
    probe = "\n".join(image(tag, day(n)) for n, tag in enumerate(["1.0.0", "1.1.0", "1.2.0", "1.3.0"], start=1))
    # keep 2: the current release (1.1.0, not the newest: a rollback) and the highest other one (1.3.0).
    assert prune_plan(probe, NAME, ["api"], "1.1.0", 2)["remove"] == [f"{NAME}-api:1.2.0", f"{NAME}-api:1.0.0"]


def test_versions_compare_as_numbers_not_as_text() -> None:
    # 1.10 is newer than 1.9 whatever the images' ages say.
    probe = "\n".join([image("1.10", day(1)), image("1.9", day(2)), image("1.8", day(3)), image("2.0", day(4))])
    assert prune_plan(probe, NAME, ["api"], "2.0", 2)["remove"] == [f"{NAME}-api:1.9", f"{NAME}-api:1.8"]


def test_a_gpu_variant_and_a_v_prefix_are_versions_too() -> None:
    probe = "\n".join(
        [image("v1.0-gpu", day(1)), image("v1.2-gpu", day(2)), image("1.1-gpu", day(3)), image("1.3-gpu", day(4))]
    )
    assert prune_plan(probe, NAME, ["api"], "1.3-gpu", 2)["remove"] == [f"{NAME}-api:1.1-gpu", f"{NAME}-api:v1.0-gpu"]


def test_names_that_are_not_versions_go_by_the_images_age() -> None:
    probe = "\n".join([image("blue", day(3)), image("green", day(1)), image("red", day(2)), image("main", day(4))])
    assert prune_plan(probe, NAME, ["api"], "main", 2)["remove"] == [f"{NAME}-api:red", f"{NAME}-api:green"]


def test_tags_of_one_image_stay_together_by_its_age() -> None:
    probe = "\n".join(
        [
            image("a", day(1), image_id="old"),
            image("b", day(3), image_id="new"),
            image("c", day(1), image_id="old"),
            image("main", day(4)),
        ]
    )
    assert prune_plan(probe, NAME, ["api"], "main", 2)["remove"] == [f"{NAME}-api:a", f"{NAME}-api:c"]


def test_a_tag_a_kept_release_recorded_stays_whatever_its_age() -> None:
    probe = "\n".join(
        [
            record(f"{NAME}-api:1.0.0"),
            image("1.0.0", day(1)),
            image("1.1.0", day(2)),
            image("1.2.0", day(3)),
            image("1.3.0", day(4)),
        ]
    )
    plan = prune_plan(probe, NAME, ["api"], "1.3.0", 2)
    assert plan["recorded"] == [f"{NAME}-api:1.0.0"] and plan["remove"] == [f"{NAME}-api:1.1.0"]


def test_the_registry_name_of_a_removed_release_goes_too_unless_recorded() -> None:
    probe = "\n".join(
        [
            record(f"reg.example.com/{NAME}-api:1.0.0"),
            image("1.0.0", day(1)),
            image("1.1.0", day(2)),
            image("1.2.0", day(3)),
        ]
    )
    assert prune_plan(probe, NAME, ["api"], "1.2.0", 2, "reg.example.com")["remove"] == [f"{NAME}-api:1.0.0"]


def test_each_target_is_pruned_on_its_own() -> None:
    probe = "\n".join(
        [
            image("1.0", day(1)),
            image("1.1", day(2)),
            image("1.0", day(1), "worker"),
            image("1.1", day(2), "worker"),
            image("1.2", day(3), "worker"),
        ]
    )
    assert prune_plan(probe, NAME, ["api", "worker"], "1.2", 2)["remove"] == [f"{NAME}-api:1.0", f"{NAME}-worker:1.0"]


def test_nothing_to_remove_on_a_fresh_host_or_within_the_count() -> None:
    assert prune_plan("", NAME, ["api"], "1.0", 3) == {
        "recorded": [],
        "remove": [],
        "current": {"id": "", "variant": ""},
    }
    probe = "\n".join([image("1.0", day(1)), image("1.1", day(2)), image("1.2", day(3))])
    assert prune_plan(probe, NAME, ["api"], "1.2", 3)["remove"] == []


def test_a_record_that_cannot_be_read_names_no_image() -> None:
    assert (
        prune_plan("RECORD %%%\nRECORD " + base64.b64encode(b"[1]").decode(), NAME, ["api"], "1", 2)["recorded"] == []
    )


def test_an_image_of_another_repository_is_never_touched() -> None:
    probe = "\n".join(
        [
            image("1.0", day(1)),
            f"IMAGE api id-x {NAME}-apiserver:0.1 {day(1)} +0000 UTC",
            image("1.1", day(2)),
            image("1.2", day(3)),
        ]
    )
    assert prune_plan(probe, NAME, ["api"], "1.2", 2)["remove"] == [f"{NAME}-api:1.0"]


@pytest.mark.parametrize(
    ("line", "current"),
    [
        ("CURRENT sha256:abc gpu", {"id": "sha256:abc", "variant": "gpu"}),
        ("CURRENT sha256:abc <no value>", {"id": "sha256:abc", "variant": ""}),  # no variant label
        ("CURRENT sha256:abc ", {"id": "sha256:abc", "variant": ""}),
    ],
)
def test_the_current_image_and_its_variant_are_read(line: str, current: dict[str, str]) -> None:
    assert prune_plan(line, NAME, ["api"], "1", 2)["current"] == current


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((None, NAME, ["api"], "1", 2), "expects the probe's output"),
        (("", NAME, "api", "1", 2), "targets must be a list"),
        (("", NAME, ["api"], "1", "two"), "keep must be a number"),
    ],
)
def test_the_filter_refuses_what_it_cannot_read(args: tuple[t.Any, ...], message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        app_image_prune_plan(*args)
