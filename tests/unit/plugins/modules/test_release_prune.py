"""Unit tests for the release_prune module: main() with patched arguments, real directories, a fake engine."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils._docker_client import DockerException
from ansible_collections.aistack.deploy.plugins.modules import release_prune

# 1.0.2 is 1.0.1's image under another tag.
IDS = {
    name: "sha256:" + c * 64
    for name, c in (("1.0.0", "a"), ("1.0.1", "b"), ("1.0.2", "b"), ("1.0.3", "c"), ("1.0.4", "d"))
}


class FakeAPI:
    def __init__(
        self, users: dict[str, list[str]] | None = None, tags: dict[str, str] | None = None, fail_remove: bool = False
    ) -> None:
        self.users = users or {}
        self.tags = tags if tags is not None else {f"app-api:{n}": i for n, i in IDS.items()}
        self.fail_remove = fail_remove
        self.removed: list[str] = []

    def containers(self, all: bool = False) -> list[dict[str, t.Any]]:  # `all`: the SDK's name
        return [
            {"ImageID": image_id, "Names": [f"/{name}"]} for image_id, names in self.users.items() for name in names
        ]

    def inspect_image(self, ref: str) -> dict[str, str]:
        if ref not in self.tags:
            raise DockerException("No such image")
        return {"Id": self.tags[ref]}

    def remove_image(self, ref: str) -> None:
        if self.fail_remove:
            raise DockerException("409 Conflict: container 1234 is using its referenced image")
        self.removed.append(ref)
        del self.tags[ref]


class FakeClient:
    def __init__(self, api: FakeAPI) -> None:
        self.api = api


def make_root(
    tmp_path: Path,
    current: str = "1.0.4",
    last_healthy: str = "1.0.4",
    healthy: tuple[str, ...] = ("1.0.0", "1.0.1", "1.0.4"),
) -> Path:
    root = tmp_path / "app"
    for day, name in enumerate(IDS, start=1):
        release = root / "releases" / name
        release.mkdir(parents=True)
        (release / "release.json").write_text(
            json.dumps(
                {
                    "release": name,
                    "created_at": f"2026-12-0{day}T10:00:00Z",
                    "images": {f"app-api:{name}": IDS[name], "postgres:17": "sha256:" + "f" * 64},
                }
            )
        )
    (root / "current").symlink_to(f"releases/{current}")
    history = [{"release": n, "result": "healthy" if n in healthy else "failed"} for n in IDS]
    (root / "state.json").write_text(json.dumps({"current": current, "last_healthy": last_healthy, "history": history}))
    return root


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., FakeAPI]:
    def _engine(**kwargs: t.Any) -> FakeAPI:
        api = FakeAPI(**kwargs)
        monkeypatch.setattr(release_prune, "get_client", lambda module: FakeClient(api))
        return api

    return _engine


def releases(root: Path) -> set[str]:
    return {p.name for p in (root / "releases").iterdir()}


def test_keeps_the_newest_and_the_rollback_target_and_removes_only_unneeded_images(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., FakeAPI], tmp_path: Path
) -> None:
    root, api = make_root(tmp_path), engine()
    result = run_module(release_prune.main, {"root": str(root), "keep": 2})
    assert not result.failed, result.result
    # 1.0.4 and 1.0.3 are the newest; 1.0.1 is where a rollback goes (the newest healthy before 1.0.4).
    assert result.result["kept_releases"] == ["1.0.4", "1.0.3", "1.0.1"]
    assert result.result["removed_releases"] == ["1.0.2", "1.0.0"]
    assert releases(root) == {"1.0.4", "1.0.3", "1.0.1"}
    # 1.0.2's image is 1.0.1's under another tag: kept; postgres:17 is needed by every kept release.
    assert api.removed == result.result["removed_images"] == ["app-api:1.0.0"]
    assert result.result["changed"] is True


def test_a_second_run_changes_nothing(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., FakeAPI], tmp_path: Path
) -> None:
    root = make_root(tmp_path)
    engine()
    run_module(release_prune.main, {"root": str(root), "keep": 2})
    again = run_module(release_prune.main, {"root": str(root), "keep": 2})
    assert again.result["changed"] is False and again.result["removed_releases"] == []


def test_check_mode_removes_nothing(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., FakeAPI], tmp_path: Path
) -> None:
    root, api = make_root(tmp_path), engine()
    result = run_module(release_prune.main, {"root": str(root), "keep": 2}, check_mode=True)
    assert result.result["changed"] is True and result.result["removed_images"] == ["app-api:1.0.0"]
    assert releases(root) == set(IDS) and api.removed == []


@pytest.mark.parametrize(
    "api_kwargs, reason",
    [
        ({"users": {IDS["1.0.0"]: ["app-api-1"]}}, "in use by container app-api-1"),
        ({"tags": {"app-api:1.0.0": IDS["1.0.3"]}}, "the tag now names another image"),
        ({"fail_remove": True}, "is using its referenced image"),
    ],
)
def test_an_image_in_use_or_retagged_is_skipped_never_a_failure(
    run_module: t.Callable[..., t.Any],
    engine: t.Callable[..., FakeAPI],
    tmp_path: Path,
    api_kwargs: dict[str, t.Any],
    reason: str,
) -> None:
    root, api = make_root(tmp_path), engine(**api_kwargs)
    result = run_module(release_prune.main, {"root": str(root), "keep": 2})
    assert not result.failed
    assert result.result["removed_images"] == [] and api.removed == []
    assert result.result["skipped_images"][0]["image"] == "app-api:1.0.0"
    assert reason in result.result["skipped_images"][0]["reason"]
    assert "1.0.0" not in releases(root)  # the directory still goes


def test_protected_and_current_releases_stay(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., FakeAPI], tmp_path: Path
) -> None:
    root = make_root(tmp_path, current="1.0.0", last_healthy="1.0.0")
    engine()
    result = run_module(release_prune.main, {"root": str(root), "keep": 1, "protect": ["1.0.2"]})
    # 1.0.4 newest, 1.0.0 current and last healthy, 1.0.2 protected, 1.0.4 is also where a rollback goes.
    assert set(result.result["kept_releases"]) == {"1.0.4", "1.0.2", "1.0.0"}


def test_images_false_leaves_every_image(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., FakeAPI], tmp_path: Path
) -> None:
    root, api = make_root(tmp_path), engine()
    result = run_module(release_prune.main, {"root": str(root), "keep": 2, "images": False})
    assert result.result["removed_releases"] and api.removed == [] and result.result["removed_images"] == []


def test_no_releases_directory_is_no_error(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., FakeAPI], tmp_path: Path
) -> None:
    engine()
    result = run_module(release_prune.main, {"root": str(tmp_path / "none")})
    assert not result.failed and result.result["changed"] is False


def test_keep_below_one_is_refused(
    run_module: t.Callable[..., t.Any], engine: t.Callable[..., FakeAPI], tmp_path: Path
) -> None:
    result = run_module(release_prune.main, {"root": str(tmp_path), "keep": 0})
    assert result.failed and "keep must be 1 or more (got 0)" in result.result["msg"]
