# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The release filters (plugins/filter/app_release.py): what a release records, and what a rollback brings back."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.app_release import (
    FilterModule,
    app_stack_missing_images,
    app_stack_release_record,
)

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
DIGEST = "registry.example:5000/team/app-api@sha256:" + "d" * 64
MODEL = {
    "active_services": ["api", "postgres"],
    "proxy": {},
    "start_first": ["api"],
    "images": ["team/app-api:1.0.0", "postgres:17"],
}
FOUND = [
    {"Id": A, "RepoTags": ["team/app-api:1.0.0", "registry.example:5000/team/app-api:1.0.0"], "RepoDigests": [DIGEST]},
    {"Id": B, "RepoTags": ["postgres:17"], "RepoDigests": []},
]


def test_the_record_holds_ids_and_the_digests_of_images_from_a_registry() -> None:
    record = app_stack_release_record(MODEL, FOUND, [], {"release": "1.0.0", "app": "demo"})
    assert record["release"] == "1.0.0" and record["services"] == ["api", "postgres"]
    assert record["images"] == {"team/app-api:1.0.0": A, "postgres:17": B}
    # postgres:17 was built or loaded here: no digest, so a rollback would load it from an archive.
    assert record["digests"] == {"team/app-api:1.0.0": DIGEST}


def test_the_record_holds_what_a_rollback_gates_and_switches_by() -> None:
    model = {
        **MODEL,
        "start_first": ["api-gpu0", "api-gpu1"],
        "replicas": {"api": ["api-gpu0", "api-gpu1"]},
        "gpu_gate": {"api-gpu0": ["GPU-0e2b"], "api-gpu1": ["GPU-1e2b"]},
    }
    record = app_stack_release_record(model, FOUND, [], {"release": "1.0.0"})
    assert record["replicas"] == {"api": ["api-gpu0", "api-gpu1"]}
    assert record["gpus"] == {"api-gpu0": ["GPU-0e2b"], "api-gpu1": ["GPU-1e2b"]}
    # A model without them (a CPU stack): empty, so that a rollback switches and gates as before.
    assert (
        app_stack_release_record(MODEL, FOUND, [], {})["replicas"],
        app_stack_release_record(MODEL, FOUND, [], {})["gpus"],
    ) == ({}, {})


def test_a_rollback_gets_the_recorded_digest_of_each_lost_image() -> None:
    record = app_stack_release_record(MODEL, FOUND, [], {"release": "1.0.0"})
    lost = app_stack_missing_images(record["images"], [FOUND[1]], record["digests"])
    assert lost == [
        {"image": "team/app-api:1.0.0", "id": A, "archive": "team_app-api_1.0.0-aaaaaaaaaaaa.tar", "digest": DIGEST}
    ]
    # A record written before digests were: the same entries, with no digest.
    assert app_stack_missing_images(record["images"], [FOUND[1]])[0]["digest"] == ""
    assert "app_stack_missing_images" in FilterModule().filters()


def test_input_that_is_not_a_mapping_is_named() -> None:
    with pytest.raises(AnsibleFilterError, match="the recorded digests must be a mapping"):
        app_stack_missing_images({}, [], ["not", "a", "mapping"])
    with pytest.raises(AnsibleFilterError, match="the model must be a mapping"):
        app_stack_release_record("model", [], [], {})
