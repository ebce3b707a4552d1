# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which release tags app_image removes beyond app_image_keep_releases (filter app_image_prune_plan).

The probe (roles/app_image/tasks/recorded.yml) prints, in one round trip, ``RECORD <base64>`` per
release.json of the app's release directories and ``IMAGE <target> <id> <reference> <created>`` per tag
``docker image ls`` shows of each target's repository, and ``CURRENT <id> <variant>`` of the current
release's image of the first target (``<no value>`` or nothing where it has no variant label). Per target, the current release is always kept, and
the newest ``keep - 1`` other releases; so is every tag a kept release recorded, whatever its age. Newest
means: when every other release tag of the repository is a version (1.4.2, v2.0, 10; or the GPU variant's
tag of one, 1.4.2-gpu), the highest version, numbers compared as numbers (1.10 after 1.9);
otherwise the newest image.

The controller keeps an archive of each image a controller build sent to hosts (``archives/<reference>-<id12>.tar``,
module_utils/_release.py's ``archive_name``): a rollback loads a release's image from it where a host lost it.
``archive_plan`` (filter app_image_archive_plan) picks the archives of the app's release images to remove by the
same rule, per target and per variant (``<release>`` and ``<release>-gpu`` count apart: a mixed fleet's controller
has both): the current release's, those of the newest ``keep - 1`` other releases and every archive of an image a
kept release recorded on one of the run's hosts stay.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import typing as t

from ansible_collections.aistack.deploy.plugins.module_utils._release import archive_name, archive_safe

VERSION_RE = re.compile(r"^v?[0-9]+(\.[0-9]+)*(-gpu)?$")
_NUMBER_RE = re.compile(r"[0-9]+")


def _record_images(encoded: str) -> dict[str, str]:
    """The images one release.json records (its ``images``: reference to ID); a record that cannot be read, none."""
    try:
        record = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return {}
    images = record.get("images") if isinstance(record, dict) else None
    return {str(ref): str(image_id) for ref, image_id in images.items()} if isinstance(images, dict) else {}


def _record_refs(encoded: str) -> list[str]:
    """The image references one release.json records (its ``images`` keys)."""
    return list(_record_images(encoded))


def _version_key(tag: str) -> str:
    """Each number padded to 12 digits, so that text order is version order: 1.10 -> 000000000001.000000000010."""
    return _NUMBER_RE.sub(lambda match: match.group().lstrip("0").rjust(12, "0"), tag.removeprefix("v"))


def parse_probe(probe: str) -> tuple[list[str], dict[str, list[tuple[str, str, str]]], dict[str, str]]:
    """The recorded references (each once, in order), per target its tags as (image id, reference, created), and
    the current image's ``id`` and ``variant`` (empty where the host has no such image)."""
    recorded: list[str] = []
    images: dict[str, list[tuple[str, str, str]]] = {}
    current = {"id": "", "variant": ""}
    for line in probe.splitlines():
        key, _sep, rest = line.partition(" ")
        if key == "CURRENT":
            image_id, _sep, variant = rest.strip().partition(" ")
            current = {"id": image_id, "variant": "" if variant == "<no value>" else variant}
        elif key == "RECORD":
            recorded += [ref for ref in _record_refs(rest.strip()) if ref not in recorded]
        elif key == "IMAGE":
            parts = rest.split(" ", 3)
            if len(parts) == 4:
                images.setdefault(parts[0], []).append((parts[1], parts[2], parts[3]))
    return recorded, images, current


def _old_tags(tags: list[tuple[str, str, str]], prefix: str, current: str) -> list[str]:
    """The target's release tags but the current one, newest first (see the module's docstring)."""
    created: dict[str, str] = {}
    refs: dict[str, list[str]] = {}
    for image_id, ref, when in tags:
        created.setdefault(image_id, when)
        refs.setdefault(image_id, []).append(ref)
    by_age = [
        ref
        for image_id in sorted(refs, key=created.__getitem__, reverse=True)
        for ref in refs[image_id]
        if ref.startswith(prefix) and ref != current
    ]
    if all(VERSION_RE.match(ref[len(prefix) :]) for ref in by_age):
        return sorted(by_age, key=lambda ref: _version_key(ref[len(prefix) :]), reverse=True)
    return by_age


def prune_plan(probe: str, name: str, targets: list[str], tag: str, keep: int, registry: str = "") -> dict[str, t.Any]:
    """``recorded``: what the releases recorded; ``remove``: the references to remove, a registry's name too;
    ``current``: the ``id`` and ``variant`` of the current release's image of the first target."""
    recorded, images, current = parse_probe(probe)
    remove = []
    for target in targets:
        prefix = f"{name}-{target}:"
        for ref in _old_tags(images.get(target, []), prefix, prefix + tag)[max(keep - 1, 0) :]:
            for full in [ref] + ([f"{registry}/{ref}"] if registry else []):
                if full not in recorded:
                    remove.append(full)
    return {"recorded": recorded, "remove": remove, "current": current}


def _newest_first(releases: dict[str, float]) -> list[str]:
    """Release tags newest first: by version when every one is a version, else by the newest archive's time."""
    if all(VERSION_RE.match(release) for release in releases):
        return sorted(releases, key=_version_key, reverse=True)
    return sorted(releases, key=releases.__getitem__, reverse=True)


def archive_plan(
    files: t.Iterable[tuple[str, float]],
    probes: t.Iterable[str],
    name: str,
    targets: list[str],
    release: str,
    keep: int,
) -> list[str]:
    """The file names of the controller's archives of the app's release images to remove (see the docstring).

    files: (file name, modification time) of each archive; probes: each host's recorded.yml output.
    """
    recorded = {
        archive_name(ref, image_id)
        for probe in probes
        for line in probe.splitlines()
        if line.startswith("RECORD ")
        for ref, image_id in _record_images(line[len("RECORD ") :].strip()).items()
    }
    listed = list(files)
    remove = []
    for target in targets:
        pattern = re.compile(re.escape(archive_safe(f"{name}-{target}:")) + r"([A-Za-z0-9_.-]+)-[0-9a-f]{12}\.tar")
        for gpu in (False, True):
            current = release + ("-gpu" if gpu else "")
            by_release: dict[str, list[str]] = {}
            newest: dict[str, float] = {}
            for file_name, mtime in listed:
                match = pattern.fullmatch(file_name)
                if not match or match[1].endswith("-gpu") != gpu or match[1] == current:
                    continue
                by_release.setdefault(match[1], []).append(file_name)
                newest[match[1]] = max(newest.get(match[1], mtime), mtime)
            for old in _newest_first(newest)[max(keep - 1, 0) :]:
                remove += sorted(file_name for file_name in by_release[old] if file_name not in recorded)
    return remove
