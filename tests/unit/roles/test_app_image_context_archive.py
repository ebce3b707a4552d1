# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The build context archive (roles/app_image/files/aistack-context-archive.py) on real trees under tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import typing as t
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "app_image" / "files" / "aistack-context-archive.py"


def run(*args: t.Any) -> tuple[int, dict[str, t.Any]]:
    done = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}


def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "app" / "__pycache__").mkdir(parents=True)
    (src / "app" / "main.py").write_text("print('hi')\n")
    (src / "app" / "__pycache__" / "main.cpython-313.pyc").write_bytes(b"\0")
    (src / "app" / "stale.pyc").write_bytes(b"\0")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o700)
    (src / "requirements.txt").write_text("fastapi\n")
    (src / "latest").symlink_to("app")
    os.mkfifo(src / "fifo")
    return src


def test_archive_holds_the_source_without_bytecode_in_name_order(tmp_path: Path) -> None:
    rc, out = run(source(tmp_path), tmp_path / "ctx.tar")
    assert rc == 0 and out["changed"] is True
    assert out["names"] == ["app", "latest", "requirements.txt", "run.sh", "app/main.py"]
    with tarfile.open(tmp_path / "ctx.tar") as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert list(members) == out["names"]
    assert members["run.sh"].mode == 0o755 and members["requirements.txt"].mode == 0o644
    assert members["app"].isdir() and members["app"].mode == 0o755
    assert members["latest"].issym() and members["latest"].linkname == "app"
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, 0)}


def test_same_source_same_bytes_and_no_change(tmp_path: Path) -> None:
    src = source(tmp_path)
    run(src, tmp_path / "a.tar")
    os.utime(src / "app" / "main.py", (1, 1))  # a checkout that touched the file
    rc, out = run(src, tmp_path / "a.tar")
    assert rc == 0 and out["changed"] is False
    run(src, tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_a_changed_file_changes_the_archive_and_check_mode_writes_nothing(tmp_path: Path) -> None:
    src = source(tmp_path)
    first = run(src, tmp_path / "ctx.tar")[1]
    before = (tmp_path / "ctx.tar").read_bytes()
    (src / "app" / "main.py").write_text("print('bye')\n")
    rc, checked = run(src, tmp_path / "ctx.tar", "--check")
    assert rc == 0 and checked["changed"] is True and checked["sha256"] != first["sha256"]
    assert (tmp_path / "ctx.tar").read_bytes() == before
    written = run(src, tmp_path / "ctx.tar")[1]
    assert written["changed"] is True and written["sha256"] == checked["sha256"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".context-")]


def test_check_mode_on_a_new_archive_creates_nothing(tmp_path: Path) -> None:
    rc, out = run(source(tmp_path), tmp_path / "cache" / "ctx.tar", "--check")
    assert rc == 0 and out["changed"] is True and not (tmp_path / "cache").exists()


def test_a_missing_source_is_refused(tmp_path: Path) -> None:
    rc, out = run(tmp_path / "nope", tmp_path / "ctx.tar")
    assert rc == 2 and out["failed"] is True and "not a directory" in out["msg"]
    assert not (tmp_path / "ctx.tar").exists()


def test_usage(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "Usage" in done.stderr


def test_excluded_top_level_names_are_left_out_and_reported(tmp_path: Path) -> None:
    """The app's own Dockerfile and .dockerignore, where the role renders its own (app_image_dockerfile=generated)."""
    src = source(tmp_path)
    plain = run(src, tmp_path / "plain.tar")[1]
    (src / "Dockerfile").write_text("FROM scratch\n")
    (src / "app" / "Dockerfile").write_text("FROM scratch\n")  # not at the top: kept
    rc, out = run(src, tmp_path / "ctx.tar", "--exclude=Dockerfile", "--exclude=.dockerignore")
    assert rc == 0 and out["excluded"] == ["Dockerfile"]
    assert out["names"] == ["app", "latest", "requirements.txt", "run.sh", "app/Dockerfile", "app/main.py"]
    (src / "app" / "Dockerfile").unlink()
    again = run(src, tmp_path / "ctx.tar", "--exclude=Dockerfile", "--exclude=.dockerignore")[1]
    assert again["sha256"] == plain["sha256"] and plain["excluded"] == []
