#!/usr/bin/env python
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pack an application's source into one reproducible tar archive: the build context sync of aistack.deploy.app_image.

Usage: aistack-context-archive.py SOURCE_DIR ARCHIVE [--check] [--exclude=NAME ...]

Run on the controller (with the Python that runs ansible-playbook). The
archive holds every file and directory under SOURCE_DIR except Python
bytecode (``__pycache__`` directories, ``*.pyc``), in name order, with the
same mtime (0), owner (0:0) and modes (0644 files, 0755 directories and
executables) whatever the controller: the same source always gives the same
bytes, so copying it to a host is skipped when nothing changed, and a host
unpacks it in one step instead of receiving one file per task. Symbolic links
are kept as links; other special files are left out. ``--exclude=NAME``
leaves out the file or directory NAME at the top of SOURCE_DIR (the app's own
Dockerfile and .dockerignore, where the role renders its own).

The archive is replaced atomically, and only when its content differs.
``--check`` writes nothing. Prints one JSON object: changed, names (every
file, link and directory in the archive), excluded (the excluded names that
SOURCE_DIR has), bytes, sha256 (of the archive).
Exit status: 0 done, 2 SOURCE_DIR is not a directory or ARCHIVE cannot be
written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile
import typing as t

SKIPPED_DIRS = frozenset({"__pycache__"})


def members(source: str, excluded: t.Collection[str] = ()) -> t.Iterator[tuple[str, str]]:
    """(path on disk, name in the archive) of everything to pack, parents before children, in name order."""
    for root, dirs, files in os.walk(source):
        rel = os.path.relpath(root, source)
        top = excluded if rel == "." else ()
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and d not in top)
        for name in sorted(dirs + [f for f in files if not f.endswith(".pyc") and f not in top]):
            yield os.path.join(root, name), name if rel == "." else f"{rel}/{name}"


def tarinfo(path: str, name: str) -> tarfile.TarInfo | None:
    info = os.lstat(path)
    entry = tarfile.TarInfo(name)
    entry.mtime, entry.uid, entry.gid, entry.uname, entry.gname = 0, 0, 0, "root", "root"
    if stat.S_ISDIR(info.st_mode):
        entry.type, entry.mode = tarfile.DIRTYPE, 0o755
    elif stat.S_ISLNK(info.st_mode):
        entry.type, entry.mode, entry.linkname = tarfile.SYMTYPE, 0o777, os.readlink(path)
    elif stat.S_ISREG(info.st_mode):
        entry.size, entry.mode = info.st_size, 0o755 if info.st_mode & stat.S_IXUSR else 0o644
    else:
        return None
    return entry


def pack(source: str, excluded: t.Collection[str] = ()) -> tuple[bytes, list[str]]:
    """The archive's bytes and the names in it."""
    buffer, names = io.BytesIO(), []
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, name in members(source, excluded):
            entry = tarinfo(path, name)
            if entry is None:
                continue
            names.append(name)
            if entry.isreg():
                with open(path, "rb") as content:
                    archive.addfile(entry, content)
            else:
                archive.addfile(entry)
    return buffer.getvalue(), names


def write_atomically(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".context-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str]) -> int:
    excluded = [a.split("=", 1)[1] for a in argv if a.startswith("--exclude=")]
    args = [a for a in argv if a != "--check" and not a.startswith("--exclude=")]
    if len(args) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    source, target = args
    if not os.path.isdir(source):
        print(json.dumps({"failed": True, "msg": f"{source}: not a directory"}))
        return 2
    data, names = pack(source, excluded)
    present = [name for name in excluded if os.path.lexists(os.path.join(source, name))]
    try:
        with open(target, "rb") as current:
            changed = current.read() != data
    except FileNotFoundError:
        changed = True
    try:
        if changed and "--check" not in argv:
            write_atomically(target, data)
    except OSError as exc:
        print(json.dumps({"failed": True, "msg": f"{target}: {exc}"}))
        return 2
    print(json.dumps({"changed": changed, "names": names, "excluded": present, "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
