# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""app_image_changed_tags: which release tags a build refuses (another context) or would build (unbuilt)."""

from __future__ import annotations

import typing as t

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.app_image import app_image_changed_tags

NAME = "horus/backend"
TODAY = "a" * 64


def result(target: str, labels: dict[str, str] | None = None, found: bool = True) -> dict[str, t.Any]:
    """One item of a docker_image_info loop over the targets."""
    images = [{"Id": "sha256:" + "1" * 64, "Config": {"Labels": labels}}] if found else []
    return {"item": target, "images": images}


BUILT_TODAY = result("api", {"io.aistack.deploy.context-hash": TODAY})
BUILT_BEFORE = result("worker", {"io.aistack.deploy.context-hash": "b" * 64})
LOADED = result("beat", None)  # loaded or pulled: no label
MISSING = result("flower", found=False)


@pytest.mark.parametrize(
    ("results", "unbuilt", "expected"),
    [
        ([BUILT_TODAY], False, []),
        ([BUILT_TODAY], True, []),
        ([BUILT_TODAY, BUILT_BEFORE], False, [f"{NAME}-worker:1.0.0"]),
        ([BUILT_TODAY, BUILT_BEFORE], True, [f"{NAME}-worker:1.0.0"]),
        # Not built by app_image, or not there: nothing to refuse, but a build builds them.
        ([LOADED, MISSING], False, []),
        ([LOADED, MISSING], True, [f"{NAME}-beat:1.0.0", f"{NAME}-flower:1.0.0"]),
        (
            [BUILT_TODAY, BUILT_BEFORE, LOADED, MISSING],
            True,
            [f"{NAME}-worker:1.0.0", f"{NAME}-beat:1.0.0", f"{NAME}-flower:1.0.0"],
        ),
        ([], True, []),
    ],
)
def test_tags(results: list[dict[str, t.Any]], unbuilt: bool, expected: list[str]) -> None:
    assert app_image_changed_tags(results, TODAY, NAME, "1.0.0", unbuilt) == expected


def test_unbuilt_defaults_to_the_refusal_only() -> None:
    assert app_image_changed_tags([LOADED, MISSING, BUILT_BEFORE], TODAY, NAME, "1.0.0-gpu") == [
        f"{NAME}-worker:1.0.0-gpu"
    ]


@pytest.mark.parametrize(
    ("results", "unbuilt", "message"),
    [
        ({"results": []}, False, "expects the results of a docker_image_info loop"),
        (["api"], False, "expects the results of a docker_image_info loop"),
        ([BUILT_TODAY], "yes", "unbuilt must be true or false, got 'yes'"),
    ],
)
def test_bad_input(results: t.Any, unbuilt: t.Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        app_image_changed_tags(results, TODAY, NAME, "1.0.0", unbuilt)
