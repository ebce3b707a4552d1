# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Resolve the user a container image runs as into numeric IDs.

Private to this collection. The resolution mirrors the engine's own
(github.com/moby/sys/user GetExecUser, used by dockerd and runc), so that the
numbers we return are the ones the container process really gets:

- an empty spec is uid 0, looked up in passwd like any numeric uid;
- a numeric uid is a uid even when a user of that *name* exists; when passwd
  has an entry for it, the entry gives the name, primary gid and home,
  otherwise the gid is 0 and there is no home (the engine then uses ``/``);
- a name must exist in passwd;
- an explicit group (name or gid) replaces the primary gid; a numeric gid
  needs no group entry, a name must exist;
- supplementary gids are the groups that list the matched user as a member,
  and only when no group was given explicitly.

The parsing part has no dependencies; reading the files from an image needs
the Docker SDK and creates a container that is never started.
"""

from __future__ import annotations

import io
import posixpath
import re
import tarfile
import typing as t
import uuid
from dataclasses import dataclass, field

try:
    from docker.errors import NotFound
except ImportError:  # the module reports the missing SDK through get_client()

    class NotFound(Exception):  # type: ignore[no-redef]
        """Stand-in so that `except NotFound` works without the SDK."""


PASSWD_PATH = "/etc/passwd"
GROUP_PATH = "/etc/group"
# Same bounds as the engine (moby/sys/user minID/maxID).
MIN_ID = 0
MAX_ID = 2**31 - 1
MAX_SYMLINK_HOPS = 16
CONTAINER_LABEL = "aistack.deploy.image_user_info"

_NUMERIC = re.compile(r"[+-]?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")


class ImageUserError(Exception):
    """The user spec cannot be resolved in this image."""


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    user: str | None
    group: str | None
    home: str | None
    supplementary_gids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, t.Any]:
        return {
            "uid": self.uid,
            "gid": self.gid,
            "user": self.user,
            "group": self.group,
            "home": self.home,
            "supplementary_gids": list(self.supplementary_gids),
        }


def parse_user_spec(spec: str) -> tuple[str, str]:
    """Split a Config.User / --user value into its user and group parts.

    Either part may be empty (``""`` is root, ``":grp"`` is root with group
    grp, ``"usr:"`` is usr with its primary group), as with the engine. The
    engine silently ignores anything after a second colon; we refuse it,
    because such a spec is a typo far more often than an intent.
    """
    parts = spec.split(":")
    if len(parts) > 2:
        raise ImageUserError(f"Invalid user spec {spec!r}: expected user, uid, user:group or uid:gid")
    user_part = parts[0]
    group_part = parts[1] if len(parts) == 2 else ""
    return user_part, group_part


def numeric_id(value: str, what: str) -> int | None:
    """Return value as an ID when it is numeric (as the engine reads it), else None."""
    if not _NUMERIC.fullmatch(value):
        return None
    number = int(value)
    if not MIN_ID <= number <= MAX_ID:
        raise ImageUserError(f"{what} {value} is out of range ({MIN_ID}..{MAX_ID})")
    return number


def _lines(text: str) -> t.Iterator[list[str]]:
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            yield line.split(":")


def _to_int(value: str) -> int | None:
    return int(value) if _DIGITS.fullmatch(value) else None


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Parse /etc/passwd content; blank, comment and malformed lines are skipped.

    The engine's parser reads a non-numeric uid as 0, so a garbage line could
    pass for root; like glibc we skip such lines instead.
    """
    entries = []
    for fields in _lines(text):
        if len(fields) < 4 or not fields[0]:
            continue
        uid, gid = _to_int(fields[2]), _to_int(fields[3])
        if uid is None or gid is None:
            continue
        home = fields[5] if len(fields) > 5 else ""
        entries.append(PasswdEntry(name=fields[0], uid=uid, gid=gid, home=home))
    return entries


def parse_group(text: str) -> list[GroupEntry]:
    """Parse /etc/group content; blank, comment and malformed lines are skipped."""
    entries = []
    for fields in _lines(text):
        if len(fields) < 3 or not fields[0]:
            continue
        gid = _to_int(fields[2])
        if gid is None:
            continue
        members = tuple(m for m in fields[3].split(",") if m) if len(fields) > 3 else ()
        entries.append(GroupEntry(name=fields[0], gid=gid, members=members))
    return entries


def _find_user(user_part: str, uid: int | None, passwd: list[PasswdEntry]) -> PasswdEntry | None:
    for entry in passwd:
        matches = entry.uid == uid if uid is not None else entry.name == user_part
        if matches:
            return entry  # first match wins, as in the engine
    return None


def _find_group(group_part: str, gid: int | None, groups: list[GroupEntry]) -> GroupEntry | None:
    for entry in groups:
        matches = entry.gid == gid if gid is not None else entry.name == group_part
        if matches:
            return entry
    return None


def resolve_user(spec: str, passwd_text: str | None, group_text: str | None) -> ResolvedUser:
    """Resolve spec against the image's passwd and group files (None: file absent)."""
    user_part, group_part = parse_user_spec(spec)
    uid = 0 if user_part == "" else numeric_id(user_part, "UID")
    gid = None if group_part == "" else numeric_id(group_part, "GID")
    passwd = parse_passwd(passwd_text) if passwd_text is not None else []
    groups = parse_group(group_text) if group_text is not None else []

    entry = _find_user(user_part, uid, passwd)
    if entry is None and uid is None:
        where = "its /etc/passwd" if passwd_text is not None else "it, which has no /etc/passwd"
        raise ImageUserError(f"User {user_part!r} does not exist in the image: not found in {where}")

    group_entry: GroupEntry | None = None
    if group_part:
        group_entry = _find_group(group_part, gid, groups)
        if group_entry is None and gid is None:
            where = "its /etc/group" if group_text is not None else "it, which has no /etc/group"
            raise ImageUserError(f"Group {group_part!r} does not exist in the image: not found in {where}")
        final_gid = group_entry.gid if group_entry is not None else t.cast(int, gid)
        supplementary: list[int] = []
    else:
        final_gid = entry.gid if entry is not None else 0
        supplementary = [g.gid for g in groups if entry.name in g.members] if entry is not None else []

    named_group = group_entry or _find_group("", final_gid, groups)
    return ResolvedUser(
        uid=entry.uid if entry is not None else t.cast(int, uid),
        gid=final_gid,
        user=entry.name if entry is not None else None,
        group=named_group.name if named_group is not None else None,
        home=(entry.home or None) if entry is not None else None,
        supplementary_gids=supplementary,
    )


# -- reading the files from an image ------------------------------------------


def file_from_tar(data: bytes) -> tuple[str, str | bytes]:
    """Return ("file", content) or ("symlink", target) for the tar's first member."""
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive:
            if member.issym():
                return "symlink", member.linkname
            if member.isfile():
                extracted = archive.extractfile(member)
                return "file", extracted.read() if extracted is not None else b""
            raise ImageUserError(f"{member.name} in the image is not a regular file")
    raise ImageUserError("The engine returned an empty archive")


def read_container_file(container: t.Any, path: str) -> str | None:
    """Read a text file from a (stopped) container, following symlinks; None if absent."""
    for _hop in range(MAX_SYMLINK_HOPS):
        try:
            stream, stat = container.get_archive(path)
        except NotFound:
            return None
        kind, value = file_from_tar(b"".join(stream))
        if kind == "file":
            return t.cast(bytes, value).decode("utf-8", errors="replace")
        # The engine resolves links inside the container root in the stat header.
        target = (stat or {}).get("linkTarget") or posixpath.normpath(
            posixpath.join(posixpath.dirname(path), t.cast(str, value))
        )
        if target == path:
            break
        path = target
    raise ImageUserError(f"Too many levels of symbolic links at {path} in the image")


def read_user_files(client: t.Any, image_id: str) -> tuple[str | None, str | None]:
    """Read /etc/passwd and /etc/group from a created, never started, container."""
    container = client.containers.create(
        image_id,
        # Never run, but creation needs a command (FROM scratch images have none).
        entrypoint=["/aistack-image-user-info-never-started"],
        command=[],
        network_disabled=True,
        labels={CONTAINER_LABEL: "probe"},
        name=f"aistack-image-user-info-{uuid.uuid4().hex[:12]}",
    )
    try:
        return read_container_file(container, PASSWD_PATH), read_container_file(container, GROUP_PATH)
    finally:
        # v=True: images that declare VOLUMEs get anonymous volumes on create.
        container.remove(v=True, force=True)
