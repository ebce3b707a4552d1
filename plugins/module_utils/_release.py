# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a release is, and which releases a host keeps (pure functions).

A release is what its ``release.json`` records: the image ID of every image
it runs, the checksum of its compose file and of its environment file, and
the checksums of the files it places into volumes. Used by the module
``release_prune`` (on the host) and by the filters of ``app_stack`` (on the
controller). Private to this collection.
"""

from __future__ import annotations

import typing as t

# The parts of a release record that make a release what it is.
CONTENT_KEYS = ("images", "compose_sha256", "env_sha256", "files")


def recorded_images(record: t.Mapping[str, t.Any] | None) -> dict[str, str]:
    """reference -> image ID of a record; {} for a record of 0.1.0 (a list of references, no IDs)."""
    images = (record or {}).get("images")
    return {str(ref): str(image_id or "") for ref, image_id in images.items()} if isinstance(images, t.Mapping) else {}


def short_id(image_id: str) -> str:
    """sha256:0123456789abcdef... -> 0123456789ab (as `docker images` shows it)."""
    return (image_id or "").split(":")[-1][:12] or "(none)"


def _image_differences(old: dict[str, str], new: dict[str, str]) -> list[str]:
    found = []
    for ref in sorted(set(old) | set(new)):
        if ref not in new:
            found.append(f"image {ref} is no longer part of it")
        elif ref not in old:
            found.append(f"image {ref} was not part of it")
        elif old[ref] != new[ref]:
            found.append(f"image {ref} is now {short_id(new[ref])}, recorded {short_id(old[ref])}")
    return found


def _file_differences(old: dict[str, str], new: dict[str, str]) -> list[str]:
    changed = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
    return [f"volume file {name} has other content" for name in changed]


def release_differences(recorded: t.Mapping[str, t.Any], new: t.Mapping[str, t.Any]) -> list[str]:
    """What differs between a recorded release and the one about to be deployed under its name.

    An image whose new ID is unknown (empty: check mode before a build) is
    not counted as a difference. A record without a checksum (written by an
    older version of the collection) is compared on what it has.
    """
    if not recorded:
        return []
    new_images = recorded_images(new)
    unknown = {ref for ref, image_id in new_images.items() if not image_id}
    differences = (
        _image_differences(
            {r: i for r, i in recorded_images(recorded).items() if r not in unknown},
            {r: i for r, i in new_images.items() if r not in unknown},
        )
        if isinstance(recorded.get("images"), t.Mapping)
        else []
    )
    for key, what in (("compose_sha256", "the compose file"), ("env_sha256", "the environment (.env)")):
        if recorded.get(key) and new.get(key) and recorded[key] != new[key]:
            differences.append(f"{what} differs")
    if "files" in recorded:
        differences += _file_differences(dict(recorded.get("files") or {}), dict(new.get("files") or {}))
    return differences


def served(state: t.Mapping[str, t.Any], release: str) -> bool:
    """Whether a release ever passed its health gate on this host (state.json's history)."""
    return (
        any(
            entry.get("release") == release and entry.get("result") == "healthy"
            for entry in state.get("history") or []
            if isinstance(entry, dict)
        )
        or state.get("last_healthy") == release
    )


def rollback_target(state: t.Mapping[str, t.Any], leaving: str, available: t.Iterable[str]) -> str:
    """The newest release that was healthy, is not ``leaving`` and still has its directory; '' when none.

    Looks at last_healthy first, then back through the history, so that a
    failed redeploy of the last healthy release's own name still finds the
    release before it.
    """
    present = set(available)
    candidates = [state.get("last_healthy") or ""]
    candidates += [
        entry.get("release", "")
        for entry in reversed(state.get("history") or [])
        if isinstance(entry, dict) and entry.get("result") == "healthy"
    ]
    for name in candidates:
        if name and name != leaving and name in present:
            return str(name)
    return ""


def releases_to_keep(
    releases: t.Sequence[t.Mapping[str, t.Any]], keep: int, protect: t.Iterable[str]
) -> tuple[list[str], list[str]]:
    """Split release names into (kept, removed).

    ``releases`` are {name, time} (time: when it was deployed, larger is
    newer). The ``keep`` newest are kept, and every protected name (the
    current release, the last healthy one, the one being deployed) on top.
    """
    ordered = sorted(releases, key=lambda r: (r.get("time") or 0, r["name"]), reverse=True)
    protected = {name for name in protect if name}
    kept = [r["name"] for i, r in enumerate(ordered) if i < keep or r["name"] in protected]
    removed = [r["name"] for r in ordered if r["name"] not in kept]
    return kept, removed


def images_to_remove(
    records: t.Mapping[str, t.Mapping[str, t.Any]], kept: t.Iterable[str], removed: t.Iterable[str]
) -> list[tuple[str, str]]:
    """(reference, image ID) recorded by removed releases and needed by no kept release.

    An image is needed when a kept release records the same reference or the
    same image ID (one image can carry several tags).
    """
    needed_refs: set[str] = set()
    needed_ids: set[str] = set()
    for name in kept:
        images = recorded_images(records.get(name))
        needed_refs.update(images)
        needed_ids.update(i for i in images.values() if i)
    candidates: dict[str, str] = {}
    for name in removed:
        for ref, image_id in recorded_images(records.get(name)).items():
            if ref not in needed_refs and image_id and image_id not in needed_ids:
                candidates[ref] = image_id
    return sorted(candidates.items())


def full_reference(ref: str) -> str:
    """An image reference as Docker lists it in RepoTags: a reference without a tag means :latest."""
    if "@" in ref:
        return ref
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else f"{ref}:latest"


def image_ids(found: t.Iterable[t.Mapping[str, t.Any]], refs: t.Iterable[str]) -> dict[str, str]:
    """reference -> image ID, from docker_image_info's images; '' for a reference not on the host."""
    by_tag: dict[str, str] = {}
    for image in found:
        for tag in list(image.get("RepoTags") or []) + list(image.get("RepoDigests") or []):
            by_tag[tag] = str(image.get("Id") or "")
    return {ref: by_tag.get(full_reference(ref), by_tag.get(ref, "")) for ref in refs}


def image_digests(found: t.Iterable[t.Mapping[str, t.Any]], refs: t.Iterable[str]) -> dict[str, str]:
    """reference -> a registry digest reference (<repository>@sha256:...) of its image, for images that have one.

    An image pulled from a registry, or pushed to one, has RepoDigests; a build or an image loaded from an
    archive has none, and is left out. Of several, the one in the reference's own repository comes first.
    """
    by_tag: dict[str, list[str]] = {}
    for image in found:
        for tag in list(image.get("RepoTags") or []):
            by_tag[tag] = [str(digest) for digest in image.get("RepoDigests") or [] if "@" in str(digest)]
    digests = {}
    for ref in refs:
        repository = full_reference(ref).rsplit(":", 1)[0]

        def rank(digest: str, repository: str = repository) -> tuple[int, str]:
            source = digest.split("@", 1)[0]
            return (0 if source == repository else 1 if source.endswith("/" + repository) else 2), digest

        candidates = sorted(by_tag.get(full_reference(ref), by_tag.get(ref, [])), key=rank)
        if candidates:
            digests[ref] = candidates[0]
    return digests


def file_checksums(stats: t.Iterable[t.Mapping[str, t.Any]]) -> dict[str, str]:
    """<volume>/<dest> -> sha256 of each file placed into a volume (stat results of a subelements loop)."""
    sums: dict[str, str] = {}
    for result in stats:
        volume, entry = result["item"][0], result["item"][1]
        sums[f"{volume['key']}/{entry['dest']}"] = str((result.get("stat") or {}).get("checksum") or "")
    return sums


def image_problems(recorded: t.Mapping[str, str], found: t.Iterable[t.Mapping[str, t.Any]]) -> list[str]:
    """Each recorded image that is not on the host, or is there as another image (a rebuild under its tag)."""
    now = image_ids(found, recorded)
    problems = []
    for ref in sorted(recorded):
        if not now[ref]:
            problems.append(f"image {ref} is not on the host (recorded {short_id(recorded[ref])})")
        elif recorded[ref] and now[ref] != recorded[ref]:
            problems.append(f"image {ref} on the host is {short_id(now[ref])}, recorded {short_id(recorded[ref])}")
    return problems


def archive_safe(ref: str) -> str:
    """A reference as a file name: each character but [A-Za-z0-9_.-] as _."""
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in ref)


def archive_name(ref: str, image_id: str) -> str:
    """The file app_image saves an image to on the controller: <archive_safe(ref)>-<id12>.tar."""
    return f"{archive_safe(ref)}-{image_id.split(':')[-1][:12]}.tar"


def missing_images(
    recorded: t.Mapping[str, str], found: t.Iterable[t.Mapping[str, t.Any]], digests: t.Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """Recorded images the host does not have as recorded: {image, id, archive, digest} each.

    archive: the file app_image saved the image to on the controller; digest: the registry reference the
    release recorded for it (``digests`` of its release.json), '' when it came from no registry.
    """
    now = image_ids(found, recorded)
    return [
        {
            "image": ref,
            "id": recorded[ref],
            "archive": archive_name(ref, recorded[ref]),
            "digest": str((digests or {}).get(ref) or ""),
        }
        for ref in sorted(recorded)
        if recorded[ref] and now[ref] != recorded[ref]
    ]
