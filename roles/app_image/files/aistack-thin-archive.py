#!/usr/bin/env python
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write a copy of a `docker save` archive without the layers a host already has.

    aistack-thin-archive.py ARCHIVE OUT < host-layers

`docker load` takes a layer from the archive only when the engine lacks it
(it looks the layer up by its chain ID, the digest of the layer and every
layer under it); a layer it has is never read. So an archive for a host that
runs the release before needs only the layers that changed, usually the
application's code: megabytes instead of the whole image.

stdin is what the host said of itself: its storage driver status
(`docker info --format '{{json .DriverStatus}}'`) on the first line, then one
line per image, `docker image inspect --format '{{json .RootFS.Layers}}'`.
An engine on the containerd image store imports archives through containerd,
which wants every blob: for it the archive is copied whole.

Prints one JSON object: path (what to copy: OUT, or ARCHIVE itself when
nothing can be left out), thin, layers, omitted, bytes, archive_bytes.
Reads both formats of `docker save`: the legacy one (<id>/layer.tar) and the
OCI layout of Docker 25 and later (blobs/sha256/<digest>).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import sys
import tarfile
import typing as t


def chain_ids(diff_ids: t.Sequence[str]) -> list[str]:
    """The chain ID of each layer of an image: the layer's diff ID on top of the chain below it."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if chains:
            diff_id = "sha256:" + hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest()
        chains.append(diff_id)
    return chains


def host_chains(lines: t.Iterable[str]) -> tuple[set[str], bool]:
    """The chain IDs a host has, and whether its engine can take an archive without them."""
    lines = [line.strip() for line in lines if line.strip()]
    if not lines:
        return set(), False
    driver = lines[0]
    have: set[str] = set()
    for line in lines[1:]:
        layers = json.loads(line)
        if isinstance(layers, list):
            have.update(chain_ids([str(layer) for layer in layers]))
    return have, "io.containerd.snapshotter" not in driver


def _name(member: tarfile.TarInfo) -> str:
    return posixpath.normpath(member.name)


def _json(archive: tarfile.TarFile, name: str) -> t.Any:
    member = archive.getmember(name) if name in archive.getnames() else archive.getmember("./" + name)
    handle = archive.extractfile(member)
    if handle is None:
        raise ValueError(f"{name} is not a file in the archive")
    return json.load(handle)


def omittable(archive: tarfile.TarFile, have: set[str]) -> tuple[set[str], int]:
    """The archive's layer files every image in it can do without on a host that has the chains ``have``, and
    how many layer files the archive has."""
    omit: set[str] = set()
    keep: set[str] = set()
    for entry in _json(archive, "manifest.json"):
        config = _json(archive, posixpath.normpath(entry["Config"]))
        diff_ids = config["rootfs"]["diff_ids"]
        layers = [posixpath.normpath(path) for path in entry["Layers"]]
        if len(layers) != len(diff_ids):
            return set(), 0  # not an archive this script understands: nothing is left out
        for path, chain in zip(layers, chain_ids(diff_ids), strict=True):
            (omit if chain in have else keep).add(path)
    omit -= keep
    layers = len(omit | keep)
    # A kept symbolic link (legacy archives link a layer that two images share) keeps its target.
    for member in archive.getmembers():
        if member.issym() and _name(member) not in omit:
            omit.discard(posixpath.normpath(posixpath.join(posixpath.dirname(_name(member)), member.linkname)))
    return omit, layers


def thin(archive_path: str, out_path: str, lines: t.Iterable[str]) -> dict[str, t.Any]:
    have, possible = host_chains(lines)
    result = {"path": archive_path, "thin": False, "omitted": 0, "archive_bytes": os.path.getsize(archive_path)}
    with tarfile.open(archive_path) as archive:
        omit, result["layers"] = omittable(archive, have)
        if not (possible and have):
            omit = set()
        if omit:
            os.makedirs(os.path.dirname(out_path) or ".", mode=0o700, exist_ok=True)
            partial = out_path + ".part"
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as thin_archive:
                for member in archive.getmembers():
                    if _name(member) in omit:
                        continue
                    thin_archive.addfile(member, archive.extractfile(member) if member.isfile() else None)
            os.chmod(partial, 0o600)
            os.replace(partial, out_path)
            result.update(path=out_path, thin=True, omitted=len(omit))
    result["bytes"] = os.path.getsize(result["path"])
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write(__doc__ or "")
        return 2
    print(json.dumps(thin(argv[1], argv[2], sys.stdin.read().splitlines()), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
