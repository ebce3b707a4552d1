"""Unit tests for plugins/module_utils/_release.py: what a release is, which releases a host keeps."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils import _release as r

A, B, C = ("sha256:" + c * 64 for c in "abc")
RECORD = {
    "images": {"app-api:1.0.0": A, "postgres:17": B},
    "compose_sha256": "1" * 64,
    "env_sha256": "2" * 64,
    "files": {"models/model.json": "3" * 64},
}


@pytest.mark.parametrize(
    "change, expected",
    [
        ({}, []),
        (
            {"images": {"app-api:1.0.0": C, "postgres:17": B}},
            ["image app-api:1.0.0 is now cccccccccccc, recorded aaaaaaaaaaaa"],
        ),
        ({"images": {"app-api:1.0.0": A}}, ["image postgres:17 is no longer part of it"]),
        ({"images": {"app-api:1.0.0": A, "postgres:17": B, "redis:7": C}}, ["image redis:7 was not part of it"]),
        ({"compose_sha256": "9" * 64}, ["the compose file differs"]),
        ({"env_sha256": "9" * 64}, ["the environment (.env) differs"]),
        ({"files": {"models/model.json": "9" * 64}}, ["volume file models/model.json has other content"]),
        ({"files": {}}, ["volume file models/model.json has other content"]),
        # Check mode before a build: an unknown ID is no difference.
        ({"images": {"app-api:1.0.0": "", "postgres:17": B}}, []),
    ],
)
def test_release_differences(change: dict[str, t.Any], expected: list[str]) -> None:
    assert r.release_differences(RECORD, {**RECORD, **change}) == expected


def test_several_differences_are_reported_at_once() -> None:
    new = {**RECORD, "images": {"app-api:1.0.0": C, "postgres:17": B}, "env_sha256": "9" * 64}
    assert len(r.release_differences(RECORD, new)) == 2


@pytest.mark.parametrize("recorded", [{}, None])
def test_nothing_recorded_means_no_difference(recorded: t.Any) -> None:
    assert r.release_differences(recorded or {}, RECORD) == []


def test_an_older_record_is_compared_on_what_it_has() -> None:
    old = {"images": ["app-api:1.0.0"], "profiles": []}  # 0.1.0 recorded a list of references
    assert r.release_differences(old, RECORD) == []


HISTORY = [
    {"release": "1.0.0", "result": "healthy"},
    {"release": "1.0.1", "result": "healthy"},
    {"release": "1.0.2", "result": "failed"},
]


@pytest.mark.parametrize(
    "state, leaving, available, expected",
    [
        ({"last_healthy": "1.0.1", "history": HISTORY}, "1.0.2", ["1.0.0", "1.0.1", "1.0.2"], "1.0.1"),
        # A failed redeploy of the last healthy release's own name goes to the one before.
        ({"last_healthy": "1.0.1", "history": HISTORY}, "1.0.1", ["1.0.0", "1.0.1"], "1.0.0"),
        # A pruned directory is no target.
        ({"last_healthy": "1.0.1", "history": HISTORY}, "1.0.1", ["1.0.1"], ""),
        ({}, "1.0.0", ["1.0.0"], ""),
        ({"last_healthy": "", "history": [{"release": "0.9", "result": "failed"}]}, "1.0", ["0.9", "1.0"], ""),
    ],
)
def test_rollback_target(state: dict[str, t.Any], leaving: str, available: list[str], expected: str) -> None:
    assert r.rollback_target(state, leaving, available) == expected


@pytest.mark.parametrize("release, expected", [("1.0.0", True), ("1.0.1", True), ("1.0.2", False), ("2.0", False)])
def test_served(release: str, expected: bool) -> None:
    assert r.served({"last_healthy": "1.0.1", "history": HISTORY}, release) is expected


RELEASES = [{"name": n, "time": t} for n, t in [("1.0.0", 1), ("1.0.1", 2), ("1.0.2", 3), ("1.0.3", 4), ("1.0.4", 5)]]


@pytest.mark.parametrize(
    "keep, protect, kept, removed",
    [
        (3, [], ["1.0.4", "1.0.3", "1.0.2"], ["1.0.1", "1.0.0"]),
        (3, ["1.0.0", ""], ["1.0.4", "1.0.3", "1.0.2", "1.0.0"], ["1.0.1"]),
        (10, [], ["1.0.4", "1.0.3", "1.0.2", "1.0.1", "1.0.0"], []),
        (1, ["1.0.4"], ["1.0.4"], ["1.0.3", "1.0.2", "1.0.1", "1.0.0"]),
    ],
)
def test_releases_to_keep(keep: int, protect: list[str], kept: list[str], removed: list[str]) -> None:
    assert r.releases_to_keep(RELEASES, keep, protect) == (kept, removed)


def test_images_to_remove_spares_what_a_kept_release_needs() -> None:
    records: dict[str, dict[str, t.Any]] = {
        "1.0.0": {"images": {"app-api:1.0.0": A, "postgres:17": B}},
        "1.0.1": {"images": {"app-api:1.0.1": C, "postgres:17": B}},
        "1.0.2": {"images": {"app-api:1.0.2": C, "postgres:17": B}},  # the same image as 1.0.1, another tag
        "0.9": {"images": ["app-api:0.9"]},  # an older record without IDs: nothing to go by
    }
    assert r.images_to_remove(records, kept=["1.0.2"], removed=["1.0.0", "1.0.1", "0.9"]) == [("app-api:1.0.0", A)]


@pytest.mark.parametrize(
    "ref, full",
    [
        ("app", "app:latest"),
        ("app:1.0", "app:1.0"),
        ("registry:5000/team/app", "registry:5000/team/app:latest"),
        ("registry:5000/team/app:2", "registry:5000/team/app:2"),
        ("app@sha256:" + "a" * 64, "app@sha256:" + "a" * 64),
    ],
)
def test_full_reference(ref: str, full: str) -> None:
    assert r.full_reference(ref) == full


def test_image_ids_and_problems() -> None:
    found = [{"Id": A, "RepoTags": ["app-api:1.0.0", "app-api:latest"]}, {"Id": C, "RepoTags": ["postgres:17"]}]
    assert r.image_ids(found, ["app-api:1.0.0", "app-api", "postgres:17", "redis:7"]) == {
        "app-api:1.0.0": A,
        "app-api": A,
        "postgres:17": C,
        "redis:7": "",
    }
    assert r.image_problems({"app-api:1.0.0": A, "postgres:17": B, "redis:7": C}, found) == [
        "image postgres:17 on the host is cccccccccccc, recorded bbbbbbbbbbbb",
        "image redis:7 is not on the host (recorded cccccccccccc)",
    ]


def test_file_checksums() -> None:
    stats = [
        {"item": [{"key": "models"}, {"dest": "model.json"}], "stat": {"checksum": "3" * 64}},
        {"item": [{"key": "models"}, {"dest": "gone.bin"}], "stat": {"exists": False}},
    ]
    assert r.file_checksums(stats) == {"models/model.json": "3" * 64, "models/gone.bin": ""}


def test_missing_images_name_the_archive_app_image_saved() -> None:
    found = [{"Id": A, "RepoTags": ["team/app-api:1.0.0"]}, {"Id": C, "RepoTags": ["postgres:17"]}]
    assert r.missing_images({"team/app-api:1.0.0": A, "postgres:17": B, "redis:7": C, "old": ""}, found) == [
        {"image": "postgres:17", "id": B, "archive": "postgres_17-bbbbbbbbbbbb.tar", "digest": ""},
        {"image": "redis:7", "id": C, "archive": "redis_7-cccccccccccc.tar", "digest": ""},
    ]
    # A recorded digest goes with its image, so that a rollback can pull exactly that image.
    digest = "registry:5000/redis@sha256:" + "d" * 64
    assert r.missing_images({"redis:7": C, "team/app-api:1.0.0": A}, found, {"redis:7": digest, "x": "y"}) == [
        {"image": "redis:7", "id": C, "archive": "redis_7-cccccccccccc.tar", "digest": digest},
    ]
    assert r.archive_name("registry:5000/team/app-api:1.0.0", A) == "registry_5000_team_app-api_1.0.0-aaaaaaaaaaaa.tar"


def test_image_digests_prefer_the_references_own_repository() -> None:
    own, other = "registry:5000/team/app-api@sha256:" + "1" * 64, "mirror/other@sha256:" + "2" * 64
    found = [
        # Pulled from a registry and tagged with the local name: the registry's repository ends with it.
        {"Id": A, "RepoTags": ["team/app-api:1.0.0", "registry:5000/team/app-api:1.0.0"], "RepoDigests": [other, own]},
        # Pushed under its own name.
        {"Id": B, "RepoTags": ["registry:5000/db:17"], "RepoDigests": ["registry:5000/db@sha256:" + "3" * 64]},
        # Built or loaded from an archive: no digest.
        {"Id": C, "RepoTags": ["redis:7"], "RepoDigests": []},
    ]
    assert r.image_digests(found, ["team/app-api:1.0.0", "registry:5000/db:17", "redis:7", "gone:1"]) == {
        "team/app-api:1.0.0": own,
        "registry:5000/db:17": "registry:5000/db@sha256:" + "3" * 64,
    }
    # Only another repository's digest: still the same image, so still usable.
    assert r.image_digests([{"Id": A, "RepoTags": ["app:1"], "RepoDigests": [other]}], ["app:1"]) == {"app:1": other}
    # Nothing that looks like a digest reference.
    assert r.image_digests([{"Id": A, "RepoTags": ["app:1"], "RepoDigests": ["junk"]}], ["app:1"]) == {}
