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

from ansible_collections.aistack.deploy.plugins.filter.app_image import app_image_archive_plan, app_image_prune_plan
from ansible_collections.aistack.deploy.plugins.module_utils._release import archive_name
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


def test_a_gpu_host_build_s_releases_before_and_after_the_gpu_tag_go_by_version() -> None:
    """A GPU host that built its own images before they were tagged <release>-gpu: its old releases (1.0.0,
    1.1.0) and the new ones (1.2.0-gpu, 1.3.0-gpu) are one line of versions; a tag a release records stays
    (its registry name, which no record names, goes), and a pruned release's registry name goes with it."""
    probe = "\n".join(
        [image("1.0.0", day(1)), image("1.1.0", day(2)), image("1.2.0-gpu", day(3)), image("1.3.0-gpu", day(4))]
        + [record(f"{NAME}-api:1.0.0")]
    )
    assert prune_plan(probe, NAME, ["api"], "1.3.0-gpu", 2, "registry.test:5000")["remove"] == [
        f"{NAME}-api:1.1.0",
        f"registry.test:5000/{NAME}-api:1.1.0",
        f"registry.test:5000/{NAME}-api:1.0.0",
    ]


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


# ---------------------------------------------------------------- the controller's archives (archive_plan)

ID = "sha256:" + "ab12" * 16  # archive names carry the first 12 hex digits: ab12ab12ab12


def archive(target: str, release: str, mtime: float, image_id: str = ID, name: str = NAME) -> dict[str, t.Any]:
    """An entry of ansible.builtin.find's files, as app_image saved the image of the release."""
    return {
        "path": f"/home/ops/.cache/aistack-deploy/archives/{archive_name(f'{name}-{target}:{release}', image_id)}",
        "mtime": mtime,
    }


def names(*entries: dict[str, t.Any]) -> list[str]:
    return [entry["path"].rsplit("/", 1)[-1] for entry in entries]


def recorded_on_a_host(images: dict[str, str]) -> str:
    body = {"release": "x", "images": images}
    return "RECORD " + base64.b64encode(json.dumps(body).encode()).decode()


def test_archives_beyond_the_count_go_by_version_and_the_current_release_stays() -> None:
    files = [archive("api", release, n) for n, release in enumerate(["1.0.0", "1.9.0", "1.10.0", "1.2.0"], start=1)]
    # keep 2, current 1.2.0 (a rollback: not the highest): 1.10.0 stays, 1.9.0 and 1.0.0 go, whatever their ages.
    assert app_image_archive_plan(files, [], NAME, ["api"], "1.2.0", 2) == names(files[1], files[0])


def test_an_archive_a_hosts_kept_release_recorded_stays_whatever_its_age() -> None:
    files = [archive("api", release, n) for n, release in enumerate(["1.0.0", "1.1.0", "1.2.0", "1.3.0"], start=1)]
    probes = ["IMAGE api x y z", recorded_on_a_host({f"{NAME}-api:1.0.0": ID})]
    assert app_image_archive_plan(files, probes, NAME, ["api"], "1.3.0", 2) == names(files[1])
    # The same reference with another image (a release rebuilt under its name) is not what the host recorded.
    other = recorded_on_a_host({f"{NAME}-api:1.0.0": "sha256:" + "cd34" * 16})
    assert app_image_archive_plan(files, [other], NAME, ["api"], "1.3.0", 2) == names(files[1], files[0])


def test_every_archive_of_a_release_goes_or_stays_together_and_the_current_ones_all_stay() -> None:
    rebuilt = "sha256:" + "ef56" * 16
    files = [
        archive("api", "1.0.0", 1),
        archive("api", "1.0.0", 2, rebuilt),
        archive("api", "1.1.0", 3),
        archive("api", "1.1.0", 4, rebuilt),
    ]
    assert app_image_archive_plan(files, [], NAME, ["api"], "1.1.0", 1) == sorted(names(files[0], files[1]))


def test_targets_and_variants_are_counted_apart() -> None:
    files = [
        archive(target, release + variant, n)
        for n, (target, release, variant) in enumerate(
            [(t_, r, v) for t_ in ("api", "worker") for r in ("1.0", "1.1", "1.2") for v in ("", "-gpu")]
        )
    ]
    removed = app_image_archive_plan(files, [], NAME, ["api", "worker"], "1.2", 2)
    assert removed == [
        archive_name(f"{NAME}-api:1.0", ID),
        archive_name(f"{NAME}-api:1.0-gpu", ID),
        archive_name(f"{NAME}-worker:1.0", ID),
        archive_name(f"{NAME}-worker:1.0-gpu", ID),
    ]


def test_releases_that_are_not_versions_go_by_the_newest_archive() -> None:
    files = [
        archive("api", "blue", 30),
        archive("api", "green", 10),
        archive("api", "green", 40, "sha256:" + "ef56" * 16),  # green rebuilt: its newest archive counts
        archive("api", "red", 20),
    ]
    # keep 2, the current release (main) has no archive: green, the newest other, stays; blue, then red, go.
    assert app_image_archive_plan(files, [], NAME, ["api"], "main", 2) == names(files[0], files[3])


@pytest.mark.parametrize(
    "path",
    [
        # Other images: the extra images, another target, another app whose name only starts like this one.
        f"/a/{archive_name('aistack-test/postgres:17', ID)}",
        f"/a/{archive_name(f'{NAME}-flower:0.1', ID)}",
        f"/a/{archive_name('horus/backend2-api:0.1', ID)}",
        # Not an archive app_image wrote: no image ID, or another suffix.
        "/a/horus_backend-api_0.1.tar",
        f"/a/{archive_name(f'{NAME}-api:0.1', ID)}.part",
    ],
)
def test_archives_of_other_images_stay(path: str) -> None:
    files = [{"path": path, "mtime": 1.0}, archive("api", "1.0", 2), archive("api", "1.1", 3)]
    assert app_image_archive_plan(files, [], NAME, ["api"], "1.1", 1) == names(files[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("not a list", [], ["api"], 2), "expects the files of ansible.builtin.find"),
        (([{"mtime": 1}], [], ["api"], 2), "expects the files of ansible.builtin.find"),
        (([], "probe", ["api"], 2), "probes must be a list"),
        (([], [], "api", 2), "targets must be a list"),
        (([], [], ["api"], "two"), "keep and each mtime must be numbers"),
    ],
)
def test_archive_plan_refuses_what_is_not_its_input(args: tuple[t.Any, ...], message: str) -> None:
    files, probes, targets, keep = args
    with pytest.raises(AnsibleFilterError, match=message):
        app_image_archive_plan(files, probes, NAME, targets, "1.0", keep)
