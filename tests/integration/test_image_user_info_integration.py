"""image_user_info against the real engine, with images built locally (never pulled).

Every expectation is checked twice: against numbers written here, and against
what the engine itself gives a process started from the same image (`id`),
so the tests also prove that our resolution matches Docker's.
"""

from __future__ import annotations

import io
import tarfile
import time
import types
import typing as t
import uuid

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils._image_user import (
    CONTAINER_LABEL,
    ImageUserError,
    read_user_files,
    resolve_user,
)

# Users are written into the files directly: Debian's busybox has no adduser.
# The passwd gets a comment, a blank line and a malformed line on purpose, and
# a user named "1500" whose uid is not 1500 (a numeric spec is always a uid).
USERS_DOCKERFILE = """\
FROM {busybox}
RUN printf '%s\\n' '# service accounts' '' 'broken line' \
        'app:x:1234:2345:App:/home/app:/bin/sh' '1500:x:1600:1600::/home/n:/bin/sh' >> /etc/passwd \
 && printf '%s\\n' 'grp:x:2345:' 'docker:x:999:app' 'video:x:44:other,app' >> /etc/group
"""

# Config.User form -> (uid, gid, user, group, home, supplementary gids)
FORMS: dict[str, tuple[int, int, str | None, str | None, str | None, list[int]]] = {
    "": (0, 0, "root", "root", "/root", []),
    "app": (1234, 2345, "app", "grp", "/home/app", [999, 44]),
    "1234": (1234, 2345, "app", "grp", "/home/app", [999, 44]),
    "4321": (4321, 0, None, "root", None, []),
    "1500": (1500, 0, None, "root", None, []),
    "app:docker": (1234, 999, "app", "docker", "/home/app", []),
    "4321:8765": (4321, 8765, None, None, None, []),
    "app:8765": (1234, 8765, "app", None, "/home/app", []),
    "4321:grp": (4321, 2345, None, "grp", None, []),
}
MISSING = {"ghost": "User 'ghost' does not exist in the image", "app:ghosts": "Group 'ghosts' does not exist"}


class Images:
    """Builds test images named aistack-it-*, and removes them all at the end."""

    def __init__(self, client: t.Any) -> None:
        self.client = client
        self.prefix = f"aistack-it-{uuid.uuid4().hex[:8]}"
        self.tags: list[str] = []

    def build(self, suffix: str, dockerfile: str, files: dict[str, bytes] | None = None) -> t.Any:
        tag = f"{self.prefix}-{suffix}:latest"
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as archive:
            for name, data in {"Dockerfile": dockerfile.encode(), **(files or {})}.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        context.seek(0)
        self.tags.append(tag)
        image, _logs = self.client.images.build(
            fileobj=context, custom_context=True, tag=tag, pull=False, rm=True, forcerm=True
        )
        return image

    def remove_all(self) -> None:
        for tag in reversed(self.tags):
            try:
                self.client.images.remove(tag, force=True)
            except Exception:  # pylint: disable=broad-except
                pass  # already gone, or never built


@pytest.fixture(scope="module")
def images(docker_client: t.Any, busybox_image: str) -> t.Iterator[dict[str, t.Any]]:
    builder = Images(docker_client)
    built: dict[str, t.Any] = {"prefix": builder.prefix}
    try:
        base = built["base"] = builder.build("users", USERS_DOCKERFILE.format(busybox=busybox_image))
        for index, spec in enumerate([*FORMS, *MISSING]):
            dockerfile = f"FROM {base.id}\nUSER {spec}\n" if spec else f"FROM {base.id}\n"
            built[spec] = builder.build(f"form{index}", dockerfile)
        built["symlink"] = builder.build(
            "symlink",
            (
                f"FROM {base.id}\nRUN mkdir /x && mv /etc/passwd /x/pw && ln -s ../x/pw /etc/passwd\n"
                "VOLUME /data\nUSER app\n"
            ),
        )
        built["scratch-numeric"] = builder.build(
            "scratch-numeric", "FROM scratch\nCOPY hello /hello\nUSER 1000:1000\n", {"hello": b"hi\n"}
        )
        built["scratch-name"] = builder.build(
            "scratch-name", "FROM scratch\nCOPY hello /hello\nUSER app\n", {"hello": b"hi\n"}
        )
        yield built
    finally:
        ids = {image.id for image in built.values() if hasattr(image, "id")}
        leftovers = [
            c
            for c in docker_client.containers.list(all=True, filters={"label": CONTAINER_LABEL})
            if c.attrs.get("Image") in ids
        ]
        for container in leftovers:
            container.remove(v=True, force=True)
        builder.remove_all()
    assert not leftovers, f"image_user_info left containers behind: {[c.name for c in leftovers]}"


def engine_truth(client: t.Any, image: t.Any, name: str) -> tuple[int, int, list[int], str] | str:
    """What the engine gives a process of this image: (uid, gid, all gids, HOME), or its error."""
    container = client.containers.create(
        image.id, ["sh", "-c", "id -u; id -g; id -G; echo $HOME"], name=name, network_disabled=True
    )
    try:
        try:
            container.start()
        except Exception as exc:  # pylint: disable=broad-except
            return str(exc)
        container.wait(timeout=30)
        uid, gid, gids, home = container.logs(stderr=False).decode().splitlines()
        return int(uid), int(gid), sorted({int(g) for g in gids.split()}), home
    finally:
        container.remove(force=True)


def resolve_direct(client: t.Any, image: t.Any, spec: str | None = None) -> dict[str, t.Any]:
    passwd, group = read_user_files(client, image.id)
    return resolve_user(image.attrs["Config"]["User"] if spec is None else spec, passwd, group).as_dict()


@pytest.mark.parametrize("spec", list(FORMS))
def test_every_config_user_form_matches_the_engine(
    docker_client: t.Any, images: dict[str, t.Any], unique_name: str, spec: str
) -> None:
    image = images[spec]
    assert (image.attrs["Config"]["User"] or "") == spec
    uid, gid, user, group, home, sgids = FORMS[spec]
    assert resolve_direct(docker_client, image) == {
        "uid": uid,
        "gid": gid,
        "user": user,
        "group": group,
        "home": home,
        "supplementary_gids": sgids,
    }
    truth = engine_truth(docker_client, image, unique_name)
    assert truth == (uid, gid, sorted({gid, *sgids}) if sgids else [gid], home or "/")


@pytest.mark.parametrize("spec", list(MISSING))
def test_missing_user_or_group_is_an_error_like_in_the_engine(
    docker_client: t.Any, images: dict[str, t.Any], unique_name: str, spec: str
) -> None:
    with pytest.raises(ImageUserError, match=MISSING[spec]):
        resolve_direct(docker_client, images[spec])
    truth = engine_truth(docker_client, images[spec], unique_name)
    assert isinstance(truth, str) and "unable to find" in truth


class RecordingContainers:
    """Stands in for client.containers: records what read_user_files creates."""

    def __init__(self, client: t.Any) -> None:
        self.client = client
        self.created: list[t.Any] = []

    def create(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        container = self.client.containers.create(*args, **kwargs)
        self.created.append(container)
        return container


def test_symlinked_passwd_and_volumes_leave_nothing_behind(
    docker_client: t.Any, images: dict[str, t.Any], unique_name: str
) -> None:
    image = images["symlink"]
    recorder = RecordingContainers(docker_client)
    since = int(time.time()) - 1
    passwd, group = read_user_files(types.SimpleNamespace(containers=recorder), image.id)
    until = int(time.time()) + 1
    assert resolve_user("app", passwd, group).as_dict()["uid"] == 1234
    assert engine_truth(docker_client, image, unique_name)[:2] == (1234, 2345)

    [container] = recorder.created
    actions = [
        event["Action"]
        for event in docker_client.events(since=since, until=until, decode=True, filters={"container": container.id})
    ]
    assert "create" in actions and "destroy" in actions, actions
    assert "start" not in actions, actions  # never started
    assert not docker_client.containers.list(all=True, filters={"id": container.id})
    volumes = [m["Name"] for m in container.attrs["Mounts"] if m["Type"] == "volume"]
    assert volumes, "the VOLUME of the image should have made an anonymous volume"
    for volume in volumes:
        assert not docker_client.volumes.list(filters={"name": volume}), volume


def test_scratch_images(docker_client: t.Any, images: dict[str, t.Any]) -> None:
    assert resolve_direct(docker_client, images["scratch-numeric"]) == {
        "uid": 1000,
        "gid": 1000,
        "user": None,
        "group": None,
        "home": None,
        "supplementary_gids": [],
    }
    with pytest.raises(ImageUserError, match="User 'app' does not exist in the image: .*no /etc/passwd"):
        resolve_direct(docker_client, images["scratch-name"])


def test_module_in_a_playbook(docker_client: t.Any, images: dict[str, t.Any], playbook: t.Callable[..., t.Any]) -> None:
    """The real module, run by ansible-playbook: each form, overrides, errors, check mode."""
    tasks = []
    for index, spec in enumerate([*FORMS, *MISSING]):
        tasks.append(
            f"- name: form{index}\n  aistack.deploy.image_user_info:\n"
            f"    image: {images[spec].tags[0]}\n  ignore_errors: true\n"
        )
    missing_image = f"{images['prefix']}-never-built:latest"
    tasks.append(f"""
- name: override
  aistack.deploy.image_user_info:
    image: {images["base"].id}
    user: "app:video"
- name: override to root
  aistack.deploy.image_user_info:
    image: {images["app"].tags[0]}
    user: ""
- name: check mode
  aistack.deploy.image_user_info:
    image: {images["app"].tags[0]}
  check_mode: true
- name: scratch
  aistack.deploy.image_user_info:
    image: {images["scratch-numeric"].tags[0]}
- name: missing image
  aistack.deploy.image_user_info:
    image: {missing_image}
  ignore_errors: true
""")
    result = playbook("\n".join(tasks))

    for index, spec in enumerate(FORMS):
        task = result.task(f"form{index}")
        uid, gid, user, group, home, sgids = FORMS[spec]
        assert not task.get("failed"), (spec, task)
        assert task["changed"] is False
        got = {k: task[k] for k in ("uid", "gid", "user", "group", "home", "supplementary_gids", "spec", "image_id")}
        assert got == {
            "uid": uid,
            "gid": gid,
            "user": user,
            "group": group,
            "home": home,
            "supplementary_gids": sgids,
            "spec": spec,
            "image_id": images[spec].id,
        }, spec
    for offset, spec in enumerate(MISSING):
        task = result.task(f"form{len(FORMS) + offset}")
        assert task["failed"] and MISSING[spec] in task["msg"], task
        assert task["spec"] == spec

    override = result.task("override")
    assert (override["uid"], override["gid"], override["group"], override["spec"]) == (1234, 44, "video", "app:video")
    root = result.task("override to root")
    assert (root["uid"], root["gid"], root["user"], root["spec"]) == (0, 0, "root", "")
    check = result.task("check mode")
    assert (check["uid"], check["gid"], check["changed"]) == (1234, 2345, False)
    scratch = result.task("scratch")
    assert (scratch["uid"], scratch["gid"], scratch["user"]) == (1000, 1000, None)
    missing = result.task("missing image")
    assert missing["failed"]
    assert missing["msg"] == f"Image {missing_image} is not present on this Docker host (this module never pulls)"
    assert not docker_client.images.list(name=missing_image)
