#!/usr/bin/env python
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pack an application's source into one reproducible tar archive: the build context sync of aistack.deploy.app_image.

Usage: aistack-context-archive.py SOURCE_DIR ARCHIVE [--check] [--exclude=NAME ...]
       aistack-context-archive.py --layout BUILD_DIR SOURCE_DIR [--check] [--exclude=NAME ...] < EXTRAS.json

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

``--layout`` is the build context of a build on the controller, in one step
instead of ten tasks: BUILD_DIR becomes exactly the same members (same modes,
links kept) plus the files EXTRAS.json names (a JSON object, name to content:
the rendered Dockerfile and .dockerignore, the CA certificates; 0644, their
directories 0755); anything else in BUILD_DIR is removed, only what differs
is written. It prints changed, names, excluded, and hash: the build context's
digest that the image's label carries (tasks/build.yml), the same as
``find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C
sort -z | xargs -0 sha256sum | sha256sum`` in BUILD_DIR, "none" when it does
not exist. ``--check`` changes nothing and hashes BUILD_DIR as it is.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
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


def write_atomically(path: str, data: bytes, mode: int = 0o644) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".context-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def wanted_tree(
    source: str, excluded: t.Collection[str], extras: t.Mapping[str, str]
) -> tuple[dict[str, tuple[t.Any, ...]], list[str]]:
    """What BUILD_DIR must hold, parents first (name to ("dir",), ("file", bytes, mode) or ("link", target)),
    and the source's names in it (as pack() lists them)."""
    wanted: dict[str, tuple[t.Any, ...]] = {}
    names = []
    for path, name in members(source, excluded):
        entry = tarinfo(path, name)
        if entry is None:
            continue
        names.append(name)
        if entry.isdir():
            wanted[name] = ("dir",)
        elif entry.issym():
            wanted[name] = ("link", entry.linkname)
        else:
            with open(path, "rb") as content:
                wanted[name] = ("file", content.read(), entry.mode)
    for name, content in extras.items():
        parts = name.split("/")
        for depth in range(1, len(parts)):
            wanted.setdefault("/".join(parts[:depth]), ("dir",))
        wanted[name] = ("file", content.encode("utf-8"), 0o644)
    return wanted, names


def _current(path: str) -> tuple[t.Any, ...] | None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(info.st_mode):
        return ("dir", stat.S_IMODE(info.st_mode))
    if stat.S_ISLNK(info.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISREG(info.st_mode):
        return ("file", stat.S_IMODE(info.st_mode))
    return ("other",)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _same(path: str, want: tuple[t.Any, ...], have: tuple[t.Any, ...] | None) -> bool:
    if have is None or have[0] != want[0]:
        return False
    if want[0] == "dir":
        return have[1] == 0o755
    if want[0] == "link":
        return have[1] == want[1]
    if have[1] != want[2] or os.path.getsize(path) != len(want[1]):
        return False
    with open(path, "rb") as content:
        return content.read() == want[1]


def lay_out(target: str, wanted: t.Mapping[str, tuple[t.Any, ...]], check: bool) -> bool:
    """Make TARGET hold exactly WANTED; whether anything changed (would change, with CHECK)."""
    changed = not os.path.isdir(target)
    if changed and not check:
        os.makedirs(target, mode=0o755, exist_ok=True)
        os.chmod(target, 0o755)
    existing = []
    if os.path.isdir(target):
        for root, dirs, files in os.walk(target):
            rel = os.path.relpath(root, target)
            existing += [name if rel == "." else f"{rel}/{name}" for name in dirs + files]
    for name in sorted(existing, reverse=True):  # children before their directory
        path = os.path.join(target, name)
        want = wanted.get(name)
        if want is None or (want[0] != (_current(path) or ("gone",))[0]):
            changed = True
            if not check and os.path.lexists(path):
                _remove(path)
    for name, want in wanted.items():  # parents before children
        path = os.path.join(target, name)
        have = _current(path)
        if _same(path, want, have):
            continue
        changed = True
        if check:
            continue
        if want[0] == "dir":
            os.makedirs(path, mode=0o755, exist_ok=True)
            os.chmod(path, 0o755)
        elif want[0] == "link":
            if os.path.lexists(path):
                _remove(path)
            os.symlink(want[1], path)
        else:
            write_atomically(path, want[1], want[2])
    return changed


def context_hash(target: str) -> str:
    """sha256sum's listing of the regular files (no bytecode), in C order of "./name", hashed again."""
    if not os.path.isdir(target):
        return "none"
    names = []
    for root, dirs, files in os.walk(target):
        rel = os.path.relpath(root, target)
        dirs.sort()
        for name in files:
            path = os.path.join(root, name)
            if name.endswith(".pyc") or "__pycache__" in (rel.split(os.sep) if rel != "." else []):
                continue
            if stat.S_ISREG(os.lstat(path).st_mode):
                names.append("./" + (name if rel == "." else f"{rel}/{name}"))
    listing = hashlib.sha256()
    for name in sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape")):
        digest = hashlib.sha256()
        with open(os.path.join(target, name[2:]), "rb") as content:
            for block in iter(lambda: content.read(1 << 20), b""):
                digest.update(block)
        if "\\" in name or "\n" in name:  # sha256sum's escaping of such names
            line = "\\" + digest.hexdigest() + "  " + name.replace("\\", "\\\\").replace("\n", "\\n") + "\n"
        else:
            line = digest.hexdigest() + "  " + name + "\n"
        listing.update(line.encode("utf-8", "surrogateescape"))
    return listing.hexdigest()


def main_layout(source: str, target: str, excluded: list[str], present: list[str], check: bool) -> int:
    text = sys.stdin.read() if not sys.stdin.isatty() else ""
    try:
        extras = json.loads(text) if text.strip() else {}
    except ValueError:
        extras = None
    if not isinstance(extras, dict) or not all(isinstance(v, str) for v in extras.values()):
        print(json.dumps({"failed": True, "msg": "the extra files must be a JSON object of name to content"}))
        return 2
    wanted, names = wanted_tree(source, excluded, extras)
    try:
        changed = lay_out(target, wanted, check)
    except OSError as exc:
        print(json.dumps({"failed": True, "msg": f"{target}: {exc}"}))
        return 2
    print(json.dumps({"changed": changed, "names": names, "excluded": present, "hash": context_hash(target)}))
    return 0


def main(argv: list[str]) -> int:
    excluded = [a.split("=", 1)[1] for a in argv if a.startswith("--exclude=")]
    args = [a for a in argv if a != "--check" and not a.startswith("--exclude=")]
    layout = args[:1] == ["--layout"]
    if layout:
        args = args[1:]
    if len(args) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    # pack: SOURCE_DIR ARCHIVE; --layout: BUILD_DIR SOURCE_DIR
    source, target = reversed(args) if layout else args
    if not os.path.isdir(source):
        print(json.dumps({"failed": True, "msg": f"{source}: not a directory"}))
        return 2
    present = [name for name in excluded if os.path.lexists(os.path.join(source, name))]
    if layout:
        return main_layout(source, target, excluded, present, "--check" in argv)
    data, names = pack(source, excluded)
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
    print(
        json.dumps(
            {
                "changed": changed,
                "names": names,
                "excluded": present,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
