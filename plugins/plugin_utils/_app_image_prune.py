# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which release tags app_image removes beyond app_image_keep_releases (filter app_image_prune_plan).

The probe (roles/app_image/tasks/recorded.yml) prints, in one round trip, ``RECORD <base64>`` per
release.json of the app's release directories and ``IMAGE <target> <id> <reference> <created>`` per tag
``docker image ls`` shows of each target's repository, and ``CURRENT <id> <variant>`` of the current
release's image of the first target (``<no value>`` or nothing where it has no variant label). Per target, the current release is always kept, and
the newest ``keep - 1`` other releases; so is every tag a kept release recorded, whatever its age. Newest
means: when every other release tag of the repository is a version (1.4.2, v2.0, 10; or a controller
build's GPU variant of one, 1.4.2-gpu), the highest version, numbers compared as numbers (1.10 after 1.9);
otherwise the newest image.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import typing as t

VERSION_RE = re.compile(r"^v?[0-9]+(\.[0-9]+)*(-gpu)?$")
_NUMBER_RE = re.compile(r"[0-9]+")


def _record_refs(encoded: str) -> list[str]:
    """The image references one release.json records (its ``images`` keys); a record that cannot be read, none."""
    try:
        record = json.loads(base64.b64decode(encoded, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return []
    images = record.get("images") if isinstance(record, dict) else None
    return [str(ref) for ref in images] if isinstance(images, dict) else []


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
