"""Unit tests for the pure parts of image_user_info: spec, passwd and group parsing, resolution."""

from __future__ import annotations

import io
import tarfile
import typing as t

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils._image_user import (
    GroupEntry,
    ImageUserError,
    NotFound,
    PasswdEntry,
    file_from_tar,
    numeric_id,
    parse_group,
    parse_passwd,
    parse_user_spec,
    read_container_file,
    read_user_files,
    resolve_user,
)

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1234:2345:App user:/home/app:/bin/sh
dup:x:1234:1:second entry for 1234:/dup:/bin/sh
1500:x:1600:1600:a user named like a number:/home/n:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""

GROUP = """\
root:x:0:
daemon:x:1:app
grp:x:2345:
docker:x:999:app,other
video:x:44:other,app
1600:x:1600:
nogroup:x:65534:
"""


# -- parse_user_spec ----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", ("", "")),
        ("app", ("app", "")),
        ("1234", ("1234", "")),
        ("app:grp", ("app", "grp")),
        ("1234:2345", ("1234", "2345")),
        ("app:2345", ("app", "2345")),
        ("1234:grp", ("1234", "grp")),
        ("app:", ("app", "")),
        (":grp", ("", "grp")),
        (":", ("", "")),
    ],
)
def test_parse_user_spec(spec: str, expected: tuple[str, str]) -> None:
    assert parse_user_spec(spec) == expected


@pytest.mark.parametrize("spec", ["a:b:c", "1:2:", "::"])
def test_parse_user_spec_rejects_extra_colons(spec: str) -> None:
    with pytest.raises(ImageUserError, match="Invalid user spec"):
        parse_user_spec(spec)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("1234", 1234),
        ("007", 7),
        ("+5", 5),
        (str(2**31 - 1), 2**31 - 1),
        ("app", None),
        ("12a", None),
        ("", None),
        ("1.5", None),
        ("١٢", None),
        ("12\n", None),
        (" 12", None),
    ],
)
def test_numeric_id(value: str, expected: int | None) -> None:
    assert numeric_id(value, "UID") == expected


@pytest.mark.parametrize("value", ["-1", str(2**31), "99999999999999999999"])
def test_numeric_id_out_of_range(value: str) -> None:
    with pytest.raises(ImageUserError, match="out of range"):
        numeric_id(value, "UID")


# -- parse_passwd / parse_group ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("root:x:0:0:root:/root:/bin/sh\n", [PasswdEntry("root", 0, 0, "/root")]),
        ("root:x:0:0:root:/root:/bin/sh", [PasswdEntry("root", 0, 0, "/root")]),  # no final newline
        ("\n\n  \nroot:x:0:0::/root:/bin/sh\n\n", [PasswdEntry("root", 0, 0, "/root")]),
        ("# comment\n  # indented comment\napp:x:1:2::/h:\n", [PasswdEntry("app", 1, 2, "/h")]),
        ("  app:x:1:2::/h:/bin/sh  \r\n", [PasswdEntry("app", 1, 2, "/h")]),  # whitespace, CRLF
        ("app:x:1:2\n", [PasswdEntry("app", 1, 2, "")]),  # short but usable: no home
        ("app:x:1\n", []),  # no gid
        ("garbage\n", []),
        ("app:x:abc:2::/h:\n", []),  # non-numeric uid: the engine would read it as 0 (root)
        ("app:x:1:-2::/h:\n", []),
        ("app:x: 1:2::/h:\n", []),  # the engine would read " 1" as uid 0
        (":x:1:2::/h:\n", []),  # no name
        ("+::::::\n", []),  # NIS compat line
        ("a:x:1:1::/a:\nbad line\nb:x:2:2::/b:\n", [PasswdEntry("a", 1, 1, "/a"), PasswdEntry("b", 2, 2, "/b")]),
    ],
)
def test_parse_passwd(text: str, expected: list[PasswdEntry]) -> None:
    assert parse_passwd(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("root:x:0:\n", [GroupEntry("root", 0, ())]),
        ("root:x:0\n", [GroupEntry("root", 0, ())]),  # no member field at all
        ("docker:x:999:app,other\n", [GroupEntry("docker", 999, ("app", "other"))]),
        ("docker:x:999:app,,other,\n", [GroupEntry("docker", 999, ("app", "other"))]),
        ("# c\n\n  grp:x:5:a  \n", [GroupEntry("grp", 5, ("a",))]),
        ("grp:x\n", []),
        ("grp:x:five:\n", []),
        (":x:5:\n", []),
    ],
)
def test_parse_group(text: str, expected: list[GroupEntry]) -> None:
    assert parse_group(text) == expected


# -- resolve_user ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "uid", "gid", "user", "group", "home", "sgids"),
    [
        # empty: root, looked up by uid 0
        ("", 0, 0, "root", "root", "/root", []),
        # name: primary group and home from passwd, supplementary groups from membership
        ("app", 1234, 2345, "app", "grp", "/home/app", [1, 999, 44]),
        ("nobody", 65534, 65534, "nobody", "nogroup", "/nonexistent", []),
        # uid in passwd: same as the name; first entry wins
        ("1234", 1234, 2345, "app", "grp", "/home/app", [1, 999, 44]),
        # uid absent from passwd: gid 0, no name, no home
        ("4321", 4321, 0, None, "root", None, []),
        # a numeric spec is always a uid, never the user named "1500"
        ("1500", 1500, 0, None, "root", None, []),
        # name:group replaces the primary group, no supplementary groups
        ("app:docker", 1234, 999, "app", "docker", "/home/app", []),
        ("app:root", 1234, 0, "app", "root", "/home/app", []),
        # uid:gid needs no entries at all
        ("4321:8765", 4321, 8765, None, None, None, []),
        ("1234:999", 1234, 999, "app", "docker", "/home/app", []),
        # name:gid with and without a group entry
        ("app:8765", 1234, 8765, "app", None, "/home/app", []),
        ("app:44", 1234, 44, "app", "video", "/home/app", []),
        # a numeric group is always a gid, never the group named "1600"... which has gid 1600 anyway
        ("app:1600", 1234, 1600, "app", "1600", "/home/app", []),
        # uid:group
        ("4321:grp", 4321, 2345, None, "grp", None, []),
        ("0:video", 0, 44, "root", "video", "/root", []),
        # empty parts
        ("app:", 1234, 2345, "app", "grp", "/home/app", [1, 999, 44]),
        (":grp", 0, 2345, "root", "grp", "/root", []),
    ],
)
def test_resolve_user(
    spec: str, uid: int, gid: int, user: str | None, group: str | None, home: str | None, sgids: list[int]
) -> None:
    resolved = resolve_user(spec, PASSWD, GROUP)
    assert resolved.as_dict() == {
        "uid": uid,
        "gid": gid,
        "user": user,
        "group": group,
        "home": home,
        "supplementary_gids": sgids,
    }


@pytest.mark.parametrize(
    ("spec", "passwd", "group", "message"),
    [
        ("ghost", PASSWD, GROUP, "User 'ghost' does not exist in the image: not found in its /etc/passwd"),
        ("ghost:grp", PASSWD, GROUP, "User 'ghost'"),
        ("app:ghosts", PASSWD, GROUP, "Group 'ghosts' does not exist in the image: not found in its /etc/group"),
        ("4321:ghosts", PASSWD, GROUP, "Group 'ghosts'"),
        ("app", None, None, "User 'app' does not exist in the image: not found in it, which has no /etc/passwd"),
        ("0:grp", None, None, "Group 'grp' does not exist in the image: not found in it, which has no /etc/group"),
        ("app", "", GROUP, "User 'app'"),
        # comments never become users, even when they look like one
        ("#app", "#app:x:1:1::/:\n", GROUP, "User '#app'"),
        ("-1", PASSWD, GROUP, "UID -1 is out of range"),
        ("app:-1", PASSWD, GROUP, "GID -1 is out of range"),
        ("a:b:c", PASSWD, GROUP, "Invalid user spec"),
    ],
)
def test_resolve_user_errors(spec: str, passwd: str | None, group: str | None, message: str) -> None:
    with pytest.raises(ImageUserError, match=f"^{message}".replace("(", r"\(")):
        resolve_user(spec, passwd, group)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", (0, 0, None)),
        ("1234", (1234, 0, None)),
        ("1234:5678", (1234, 5678, None)),
        (":5678", (0, 5678, None)),
    ],
)
def test_resolve_user_without_files(spec: str, expected: tuple[int, int, str | None]) -> None:
    """FROM scratch: numeric specs work without any passwd or group file."""
    resolved = resolve_user(spec, None, None)
    assert (resolved.uid, resolved.gid, resolved.user) == expected
    assert resolved.group is None and resolved.home is None and resolved.supplementary_gids == []


def test_resolve_user_passwd_without_root() -> None:
    """An image whose passwd lacks uid 0 still runs as root, unnamed."""
    resolved = resolve_user("", "app:x:1000:1000::/home/app:\n", "root:x:0:\n")
    assert (resolved.uid, resolved.gid, resolved.user, resolved.group, resolved.home) == (0, 0, None, "root", None)


def test_resolve_user_empty_home_is_null() -> None:
    resolved = resolve_user("svc", "svc:x:10:10::::\n", "")
    assert resolved.home is None and resolved.group is None


def test_resolve_user_explicit_group_name_wins_over_same_gid() -> None:
    resolved = resolve_user("0:second", PASSWD, "first:x:7:\nsecond:x:7:\n")
    assert (resolved.gid, resolved.group) == (7, "second")


# -- tar and container helpers -------------------------------------------------


def _tar(name: str, content: bytes | None = None, link: str | None = None, kind: bytes = tarfile.REGTYPE) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        info = tarfile.TarInfo(name)
        if link is not None:
            info.type, info.linkname = tarfile.SYMTYPE, link
            archive.addfile(info)
        elif content is not None:
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        else:
            info.type = kind
            archive.addfile(info)
    return buf.getvalue()


def test_file_from_tar() -> None:
    assert file_from_tar(_tar("passwd", b"root:x:0:0::/root:\n")) == ("file", b"root:x:0:0::/root:\n")
    assert file_from_tar(_tar("passwd", link="../x/pw")) == ("symlink", "../x/pw")
    with pytest.raises(ImageUserError, match="not a regular file"):
        file_from_tar(_tar("passwd", kind=tarfile.DIRTYPE))
    with pytest.raises(ImageUserError, match="empty archive"):
        file_from_tar(_tar_empty())


def _tar_empty() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w"):
        pass
    return buf.getvalue()


class FakeContainer:
    """get_archive() over a dict of path -> bytes (file) or str (symlink target)."""

    def __init__(self, files: dict[str, bytes | str], resolve_links: bool = True) -> None:
        self.files = files
        self.resolve_links = resolve_links
        self.removed: dict[str, t.Any] | None = None
        self.requests: list[str] = []

    def get_archive(self, path: str) -> tuple[t.Iterator[bytes], dict[str, t.Any]]:
        self.requests.append(path)
        if path not in self.files:
            raise NotFound("not found")
        value = self.files[path]
        if isinstance(value, str):
            target = value if self.resolve_links else ""
            data = _tar(path.rsplit("/", 1)[-1], link=value)
            return iter([data[:100], data[100:]]), {"linkTarget": target}
        return iter([_tar(path.rsplit("/", 1)[-1], value)]), {"linkTarget": ""}

    def remove(self, **kwargs: t.Any) -> None:
        self.removed = kwargs


@pytest.mark.parametrize(
    ("files", "resolve_links", "expected"),
    [
        ({"/etc/passwd": b"x"}, True, "x"),
        ({}, True, None),
        ({"/etc/passwd": "/x/pw", "/x/pw": b"y"}, True, "y"),
        # without the engine's resolved target, the link is resolved relative to /etc
        ({"/etc/passwd": "../x/pw", "/x/pw": b"z"}, False, "z"),
        ({"/etc/passwd": "/x/pw", "/x/pw": "/y/pw", "/y/pw": b"w"}, True, "w"),
        ({"/etc/passwd": "/gone"}, True, None),  # dangling link: as absent
        ({"/etc/passwd": b"caf\xe9\n"}, True, "caf\ufffd\n"),  # undecodable bytes do not fail
    ],
)
def test_read_container_file(files: dict[str, bytes | str], resolve_links: bool, expected: str | None) -> None:
    assert read_container_file(FakeContainer(files, resolve_links), "/etc/passwd") == expected


@pytest.mark.parametrize(
    "files",
    [
        {"/etc/passwd": "/etc/passwd"},
        {"/etc/passwd": "/a", "/a": "/etc/passwd"},
    ],
)
def test_read_container_file_link_loops(files: dict[str, bytes | str]) -> None:
    with pytest.raises(ImageUserError, match="symbolic links"):
        read_container_file(FakeContainer(files), "/etc/passwd")


class FakeContainers:
    def __init__(self, container: FakeContainer) -> None:
        self.container = container
        self.create_kwargs: dict[str, t.Any] = {}

    def create(self, image: str, **kwargs: t.Any) -> FakeContainer:
        self.create_kwargs = dict(kwargs, image=image)
        return self.container


class FakeClient:
    def __init__(self, container: FakeContainer) -> None:
        self.containers = FakeContainers(container)


def test_read_user_files_never_starts_and_removes() -> None:
    container = FakeContainer({"/etc/passwd": b"p", "/etc/group": b"g"})
    client = FakeClient(container)
    assert read_user_files(client, "sha256:abc") == ("p", "g")
    assert client.containers.create_kwargs["image"] == "sha256:abc"
    assert client.containers.create_kwargs["network_disabled"] is True
    assert container.removed == {"v": True, "force": True}


def test_read_user_files_removes_on_error() -> None:
    container = FakeContainer({"/etc/passwd": "/etc/passwd"})
    with pytest.raises(ImageUserError):
        read_user_files(FakeClient(container), "sha256:abc")
    assert container.removed == {"v": True, "force": True}
