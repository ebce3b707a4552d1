"""Unit tests for the image_user_info module: main() with patched arguments and a fake engine."""

from __future__ import annotations

import io
import tarfile
import typing as t

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils import _docker_client
from ansible_collections.aistack.deploy.plugins.module_utils._docker_client import DockerException
from ansible_collections.aistack.deploy.plugins.module_utils._image_user import NotFound
from ansible_collections.aistack.deploy.plugins.modules import image_user_info

PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345::/home/app:/bin/sh\n"
GROUP = b"root:x:0:\ngrp:x:2345:\ndocker:x:999:app\n"
IMAGE_ID = "sha256:" + "ab" * 32


def _tar(name: str, content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return buf.getvalue()


class FakeContainer:
    def __init__(self, files: dict[str, bytes], fail_read: bool = False) -> None:
        self.files = files
        self.fail_read = fail_read
        self.started = False
        self.removed: dict[str, t.Any] | None = None

    def get_archive(self, path: str) -> tuple[t.Iterator[bytes], dict[str, t.Any]]:
        if self.fail_read:
            raise DockerException("engine went away")
        if path not in self.files:
            raise NotFound("no such file")
        return iter([_tar(path.rsplit("/", 1)[-1], self.files[path])]), {"linkTarget": ""}

    def start(self) -> None:
        self.started = True

    def remove(self, **kwargs: t.Any) -> None:
        self.removed = kwargs


class FakeImage:
    def __init__(self, user: str | None) -> None:
        self.id = IMAGE_ID
        self.attrs: dict[str, t.Any] = {"Id": IMAGE_ID, "Config": {"User": user} if user is not None else None}


class FakeClient:
    def __init__(
        self,
        user: str | None = "",
        files: dict[str, bytes] | None = None,
        image_error: Exception | None = None,
        fail_read: bool = False,
    ) -> None:
        self.image = FakeImage(user)
        self.image_error = image_error
        self.container = FakeContainer(
            {"/etc/passwd": PASSWD, "/etc/group": GROUP} if files is None else files, fail_read
        )
        self.images = self
        self.containers = self
        self.created: list[dict[str, t.Any]] = []
        self.pulled = False

    # images.*
    def get(self, name: str) -> FakeImage:
        if self.image_error is not None:
            raise self.image_error
        return self.image

    def pull(self, *args: t.Any, **kwargs: t.Any) -> None:
        self.pulled = True

    # containers.*
    def create(self, image: str, **kwargs: t.Any) -> FakeContainer:
        self.created.append(dict(kwargs, image=image))
        return self.container


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., FakeClient]:
    def _install(**kwargs: t.Any) -> FakeClient:
        client = FakeClient(**kwargs)
        monkeypatch.setattr(image_user_info, "get_client", lambda module: client)
        return client

    return _install


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize(
    ("config_user", "override", "expected"),
    [
        (
            "",
            None,
            {
                "uid": 0,
                "gid": 0,
                "user": "root",
                "group": "root",
                "home": "/root",
                "supplementary_gids": [],
                "spec": "",
            },
        ),
        (None, None, {"uid": 0, "gid": 0, "user": "root", "spec": ""}),  # image without Config
        (
            "app",
            None,
            {
                "uid": 1234,
                "gid": 2345,
                "user": "app",
                "group": "grp",
                "home": "/home/app",
                "supplementary_gids": [999],
                "spec": "app",
            },
        ),
        ("4321", None, {"uid": 4321, "gid": 0, "user": None, "group": "root", "home": None, "spec": "4321"}),
        ("app", "4321:77", {"uid": 4321, "gid": 77, "user": None, "group": None, "spec": "4321:77"}),
        ("app", "", {"uid": 0, "gid": 0, "user": "root", "spec": ""}),  # override to root
        (
            "",
            "app:docker",
            {"uid": 1234, "gid": 999, "group": "docker", "supplementary_gids": [], "spec": "app:docker"},
        ),
    ],
)
def test_main_resolves(
    run_module: t.Callable[..., t.Any],
    fake_engine: t.Callable[..., FakeClient],
    check_mode: bool,
    config_user: str | None,
    override: str | None,
    expected: dict[str, t.Any],
) -> None:
    client = fake_engine(user=config_user)
    args: dict[str, t.Any] = {"image": "myapp:1"}
    if override is not None:
        args["user"] = override
    result = run_module(image_user_info.main, args, check_mode=check_mode)
    assert not result.failed, result.result
    assert result.result["changed"] is False
    assert result.result["image_id"] == IMAGE_ID
    for key, value in expected.items():
        assert result.result[key] == value, key
    assert client.created[0]["image"] == IMAGE_ID
    assert not client.container.started
    assert client.container.removed == {"v": True, "force": True}
    assert not client.pulled


def test_main_scratch_image_numeric(
    run_module: t.Callable[..., t.Any], fake_engine: t.Callable[..., FakeClient]
) -> None:
    fake_engine(user="1000:1000", files={})
    result = run_module(image_user_info.main, {"image": "scratchy"})
    assert not result.failed
    assert (result.result["uid"], result.result["gid"], result.result["user"]) == (1000, 1000, None)


@pytest.mark.parametrize(
    ("config_user", "files", "message"),
    [
        ("ghost", None, "Cannot resolve user 'ghost' of image myapp:1: User 'ghost' does not exist in the image"),
        ("app:ghosts", None, "Group 'ghosts' does not exist in the image"),
        ("app", {}, "which has no /etc/passwd"),
        ("x:y:z", None, "Invalid user spec"),
    ],
)
def test_main_resolution_errors(
    run_module: t.Callable[..., t.Any],
    fake_engine: t.Callable[..., FakeClient],
    config_user: str,
    files: dict[str, bytes] | None,
    message: str,
) -> None:
    client = fake_engine(user=config_user, files=files)
    result = run_module(image_user_info.main, {"image": "myapp:1"})
    assert result.failed
    assert message in result.result["msg"]
    assert result.result["spec"] == config_user and result.result["image_id"] == IMAGE_ID
    assert client.container.removed == {"v": True, "force": True}


def test_main_missing_image_never_pulls(
    run_module: t.Callable[..., t.Any], fake_engine: t.Callable[..., FakeClient]
) -> None:
    client = fake_engine(image_error=NotFound("No such image"))
    result = run_module(image_user_info.main, {"image": "nowhere:1"})
    assert result.failed
    assert result.result["msg"] == "Image nowhere:1 is not present on this Docker host (this module never pulls)"
    assert not client.pulled and not client.created


def test_main_engine_error_on_inspect(
    run_module: t.Callable[..., t.Any], fake_engine: t.Callable[..., FakeClient]
) -> None:
    fake_engine(image_error=DockerException("boom"))
    result = run_module(image_user_info.main, {"image": "myapp:1"})
    assert result.failed
    assert result.result["msg"] == "Cannot inspect image myapp:1: boom"
    assert "exception" in result.result


def test_main_engine_error_on_read_still_removes(
    run_module: t.Callable[..., t.Any], fake_engine: t.Callable[..., FakeClient]
) -> None:
    client = fake_engine(user="app", fail_read=True)
    result = run_module(image_user_info.main, {"image": "myapp:1"})
    assert result.failed
    assert result.result["msg"].startswith("Cannot read the user database of image myapp:1: engine went away")
    assert client.container.removed == {"v": True, "force": True}


def test_main_requires_image(run_module: t.Callable[..., t.Any]) -> None:
    result = run_module(image_user_info.main, {})
    assert result.failed
    assert "image" in result.result["msg"]


def test_main_without_docker_sdk(run_module: t.Callable[..., t.Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_docker_client, "DOCKER_IMPORT_ERROR", "Traceback: No module named 'docker'")
    result = run_module(image_user_info.main, {"image": "myapp:1"})
    assert result.failed
    assert "Failed to import the required Python library (docker)" in result.result["msg"]
