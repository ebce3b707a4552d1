#!/usr/bin/env python
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Delete old files in the data directories of an aistack app: the retention of aistack.deploy.app_stack.

Usage: aistack-retention.py --config /etc/aistack/<app>/retention.json [--dry-run]

The configuration is a JSON list of {dir, max_age_seconds, max_size_bytes,
pattern}, written by the role from app_stack_retention. For each directory:
regular files whose name matches the pattern and whose modification time is
older than max_age_seconds are deleted; then, while the matching files left
are larger than max_size_bytes together, the oldest are deleted; directories
emptied by this are removed (never the directory itself).

Run as root over directories the app's containers can write, so it trusts
nothing in them: it never follows a symlink (it walks without following
links, skips symlinks entirely and opens every directory on the way to a file
with O_NOFOLLOW before it deletes the file, which must still be the file it
saw), and it touches nothing outside the directory. A directory that is
missing, a symlink or / is refused.

Standard library only; runs on the host's python3 (3.8 or later). Exit
status: 0 done, 1 a directory was refused or a file could not be deleted,
2 the configuration is unusable.
"""

from __future__ import annotations

import argparse
import errno
import fnmatch
import json
import os
import stat
import sys
import time
import typing as t

CONFIG_KEYS = ("dir", "max_age_seconds", "max_size_bytes", "pattern")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class ConfigError(Exception):
    """The configuration cannot be used; nothing is deleted."""


class Candidate(t.NamedTuple):
    """A matching regular file, as the walk saw it."""

    rel: str
    size: int
    mtime: float
    dev: int
    ino: int


class Outcome(t.NamedTuple):
    removed: int
    freed: int
    kept_files: int
    kept_bytes: int
    failed: bool


# --- configuration -----------------------------------------------------------


def _positive_or_none(value: t.Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


def entry_problem(entry: t.Any) -> str | None:
    """What is wrong with one entry of the configuration, or None."""
    if not isinstance(entry, dict) or set(entry) - set(CONFIG_KEYS) or not isinstance(entry.get("dir"), str):
        return f"must be an object with keys {', '.join(CONFIG_KEYS)} and a dir"
    if not entry["dir"].startswith("/"):
        return f"dir {entry['dir']!r} is not an absolute path"
    if not all(_positive_or_none(entry.get(key)) for key in ("max_age_seconds", "max_size_bytes")):
        return "max_age_seconds and max_size_bytes must be null or whole numbers above 0"
    if entry.get("max_age_seconds") is None and entry.get("max_size_bytes") is None:
        return "needs max_age_seconds, max_size_bytes or both"
    pattern = entry.get("pattern", "*")
    if not isinstance(pattern, str) or not pattern or "/" in pattern:
        return f"pattern {pattern!r} must be a non-empty glob on file names (no '/')"
    return None


def load_config(path: str) -> list[dict[str, t.Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            entries = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(entries, list):
        raise ConfigError(f"{path} must hold a JSON list of {{{', '.join(CONFIG_KEYS)}}}")
    problems = [
        f"{path}[{index}]: {problem}"
        for index, entry in enumerate(entries)
        for problem in [entry_problem(entry)]
        if problem
    ]
    if problems:
        raise ConfigError("; ".join(problems))
    return entries


# --- the directory itself ----------------------------------------------------


def refusal(directory: str) -> str | None:
    """Why directory must not be cleaned (missing, a symlink, not a directory, /), or None."""
    top = os.path.normpath(directory)
    if top == "/" or not os.path.isabs(top):
        return "is / or not an absolute path"
    try:
        mode = os.lstat(top).st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISLNK(mode):
        return "is a symlink"
    return None if stat.S_ISDIR(mode) else "is not a directory"


def open_top(directory: str) -> int:
    """A descriptor of the directory itself; O_NOFOLLOW: a symlink put there since refusal() is refused too."""
    return os.open(os.path.normpath(directory), DIR_FLAGS)


# --- what to delete ------------------------------------------------------------


def scan(top: str, pattern: str, errors: list[str]) -> list[Candidate]:
    """Matching regular files below top, without following symlinks (symlinks are skipped, never deleted)."""
    found = []
    for dirpath, _dirnames, filenames in os.walk(top, followlinks=False, onerror=lambda exc: errors.append(str(exc))):
        for name in filenames:
            if not fnmatch.fnmatchcase(name, pattern):
                continue
            path = os.path.join(dirpath, name)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                found.append(
                    Candidate(os.path.relpath(path, top), info.st_size, info.st_mtime, info.st_dev, info.st_ino)
                )
    return found


def choose(
    candidates: list[Candidate], now: float, max_age: int | None, max_size: int | None
) -> tuple[list[tuple[Candidate, str]], list[Candidate]]:
    """(files to delete with the reason, files kept): first those older than max_age, then the oldest over max_size."""
    ordered = sorted(candidates, key=lambda c: (c.mtime, c.rel))
    expired = [c for c in ordered if max_age is not None and c.mtime < now - max_age]
    kept = [c for c in ordered if not (max_age is not None and c.mtime < now - max_age)]
    doomed = [(c, f"older than {max_age} s") for c in expired]
    total = sum(c.size for c in kept)
    while max_size is not None and kept and total > max_size:
        oldest = kept.pop(0)
        total -= oldest.size
        doomed.append((oldest, f"over {max_size} bytes"))
    return doomed, kept


# --- deleting without following symlinks -------------------------------------


def open_below(top_fd: int, parts: list[str]) -> int:
    """A descriptor of top/parts..., each component opened with O_NOFOLLOW: a symlink on the way fails (ELOOP)."""
    fd = os.dup(top_fd)
    for part in parts:
        try:
            child = os.open(part, DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        fd = child
    return fd


def delete(top_fd: int, candidate: Candidate) -> bool:
    """Unlink the file if it is still the regular file the walk saw; False when it is gone, replaced or rewritten."""
    *parents, name = candidate.rel.split(os.sep)
    try:
        fd = open_below(top_fd, parents)
    except FileNotFoundError:
        return False
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino, info.st_mtime) != (
            candidate.dev,
            candidate.ino,
            candidate.mtime,
        ):
            return False
        os.unlink(name, dir_fd=fd)
        return True
    except FileNotFoundError:  # the app deleted it meanwhile
        return False
    finally:
        os.close(fd)


def remove_empty_dirs(top_fd: int, dirs: set[str]) -> None:
    """Remove the directories files were deleted from, deepest first, and their parents, when left empty."""
    pending = {d for d in dirs if d}
    while pending:
        rel = max(pending, key=lambda d: (d.count(os.sep), d))
        pending.discard(rel)
        *parents, name = rel.split(os.sep)
        try:
            fd = open_below(top_fd, parents)
        except OSError:
            continue
        try:
            os.rmdir(name, dir_fd=fd)  # unlinkat(AT_REMOVEDIR): a symlink or a non-empty directory stays
        except OSError:
            continue
        finally:
            os.close(fd)
        if os.path.dirname(rel):
            pending.add(os.path.dirname(rel))


# --- one directory -------------------------------------------------------------


def _stamp(mtime: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime))


def apply(top_fd: int, top: str, doomed: list[tuple[Candidate, str]], dry_run: bool) -> tuple[int, int, bool]:
    """Delete (or, dry run, list) the files; (files removed, bytes freed, whether a deletion failed)."""
    removed, freed, failed, emptied = 0, 0, False, set()
    for candidate, why in doomed:
        path = os.path.join(top, candidate.rel)
        try:
            done = True if dry_run else delete(top_fd, candidate)
        except OSError as exc:
            print(f"cannot delete {path}: {exc.strerror if exc.errno != errno.ELOOP else 'a symlink on the way'}")
            failed = True
            continue
        if done:
            removed, freed = removed + 1, freed + candidate.size
            emptied.add(os.path.dirname(candidate.rel))
            print(
                f"{'would delete' if dry_run else 'deleted'} {path} ({candidate.size} bytes, "
                f"modified {_stamp(candidate.mtime)}, {why})"
            )
    if not dry_run:
        remove_empty_dirs(top_fd, emptied)
    return removed, freed, failed


def clean(entry: dict[str, t.Any], now: float, dry_run: bool) -> Outcome | None:
    """Apply one entry of the configuration; None when its directory is refused."""
    top = os.path.normpath(entry["dir"])
    reason, top_fd = refusal(top), -1
    if not reason:
        try:
            top_fd = open_top(top)
        except OSError as exc:
            reason = f"cannot be opened without following a symlink ({exc.strerror})"
    if reason:
        print(f"refused {entry['dir']}: {reason}")
        return None
    errors: list[str] = []
    try:
        candidates = scan(top, entry.get("pattern", "*"), errors)
        doomed, kept = choose(candidates, now, entry.get("max_age_seconds"), entry.get("max_size_bytes"))
        removed, freed, failed = apply(top_fd, top, doomed, dry_run)
    finally:
        os.close(top_fd)
    for error in errors:
        print(f"cannot read {error}")
    return Outcome(removed, freed, len(kept), sum(c.size for c in kept), failed or bool(errors))


def main(argv: list[str] | None = None, now: float | None = None) -> int:
    parser = argparse.ArgumentParser(description="Delete old files in an aistack app's data directories.")
    parser.add_argument("--config", required=True, help="JSON list of {dir, max_age_seconds, max_size_bytes, pattern}")
    parser.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    args = parser.parse_args(argv)
    try:
        entries = load_config(args.config)
    except ConfigError as exc:
        print(f"aistack-retention: {exc}", file=sys.stderr)
        return 2
    now = time.time() if now is None else now
    status = 0
    for entry in entries:
        outcome = clean(entry, now, args.dry_run)
        if outcome is None or outcome.failed:
            status = 1
        if outcome is not None:
            would = "would be " if args.dry_run else ""
            print(
                f"{os.path.normpath(entry['dir'])}: {outcome.removed} files {would}removed, {outcome.freed} bytes "
                f"{would}freed, {outcome.kept_bytes} bytes kept in {outcome.kept_files} files"
            )
    return status


if __name__ == "__main__":
    sys.exit(main())
