#!/usr/bin/env python
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Append one JSON record (read from stdin) as one line to an audit log: audit_append.py LOG.

Runs on the controller (app_stack's report.yml). The line is written in one
write under an exclusive lock, so runs that end at once never interleave or
lose a line; the log and its directory are created private (0600, 0700).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys


def append(path: str, text: str) -> None:
    record = json.loads(text)  # refuse anything that is not one JSON value
    line = (json.dumps(record, sort_keys=False, separators=(",", ":")) + "\n").encode()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"wrote {written} of {len(line)} bytes to {path}")
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: audit_append.py LOG < record.json", file=sys.stderr)
        return 2
    try:
        append(argv[1], sys.stdin.read())
    except (OSError, ValueError) as exc:
        print(f"cannot append to the audit log {argv[1]}: {exc}", file=sys.stderr)
        return 1
    print(f"appended to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
