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

import pytest

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


# ------------------------------------------------------------ --layout (a build on the controller)

EXTRAS = {"Dockerfile": "FROM scratch\n", ".dockerignore": "**/__pycache__\n", "ca/corp.crt": "PEM\n"}


def layout(build: Path, src: Path, *args: t.Any, extras: dict[str, str] | None = None) -> tuple[int, dict[str, t.Any]]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--layout", str(build), str(src), *map(str, args)],
        input=json.dumps(EXTRAS if extras is None else extras),
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}


def shell_hash(build: Path) -> str:
    """The digest context.yml computes on a host: the image label both paths must agree on."""
    done = subprocess.run(
        "find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z "
        "| xargs -0 sha256sum | sha256sum | cut -d' ' -f1",
        shell=True,
        cwd=build,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def tree(build: Path) -> dict[str, str]:
    found = {}
    for path in sorted(build.rglob("*")):
        rel = path.relative_to(build).as_posix()
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[rel] = f"dir {oct(path.stat().st_mode & 0o777)}"
        else:
            found[rel] = f"{oct(path.stat().st_mode & 0o777)} {path.read_text()}"
    return found


def test_layout_is_the_source_and_the_extras_and_nothing_else(tmp_path: Path) -> None:
    src, build = source(tmp_path), tmp_path / "build"
    rc, out = layout(build, src, "--exclude=Dockerfile", "--exclude=.dockerignore")
    assert rc == 0 and out["changed"] is True and out["excluded"] == []
    assert out["names"] == ["app", "latest", "requirements.txt", "run.sh", "app/main.py"]
    assert tree(build) == {
        ".dockerignore": "0o644 **/__pycache__\n",
        "Dockerfile": "0o644 FROM scratch\n",
        "app": "dir 0o755",
        "app/main.py": "0o644 print('hi')\n",
        "ca": "dir 0o755",
        "ca/corp.crt": "0o644 PEM\n",
        "latest": "-> app",
        "requirements.txt": "0o644 fastapi\n",
        "run.sh": "0o755 #!/bin/sh\n",
    }
    assert out["hash"] == shell_hash(build)
    again = layout(build, src, "--exclude=Dockerfile", "--exclude=.dockerignore")[1]
    assert again["changed"] is False and again["hash"] == out["hash"]


def test_layout_mends_every_difference_and_check_mode_only_reports_it(tmp_path: Path) -> None:
    src, build = source(tmp_path), tmp_path / "build"
    first = layout(build, src)[1]
    (build / "stray").mkdir()
    (build / "stray" / "left.txt").write_text("not in the source\n")
    (build / "app" / "__pycache__").mkdir()
    (build / "app" / "__pycache__" / "main.pyc").write_bytes(b"\0")
    (build / "requirements.txt").write_text("flask\n")  # edited in place
    (build / "run.sh").chmod(0o644)  # lost its x bit
    (build / "latest").unlink()
    (build / "latest").symlink_to("elsewhere")
    (build / "app" / "main.py").unlink()
    (build / "app" / "main.py").mkdir()  # a directory where the source has a file
    before = tree(build)
    checked = layout(build, src, "--check")[1]
    assert checked["changed"] is True and tree(build) == before and checked["hash"] == shell_hash(build)
    mended = layout(build, src)[1]
    assert mended["changed"] is True and mended["hash"] == first["hash"] == shell_hash(build)
    assert not (build / "stray").exists() and not (build / "app" / "__pycache__").exists()
    assert layout(build, src, "--check")[1]["changed"] is False


def test_layout_follows_the_source_and_the_extras(tmp_path: Path) -> None:
    src, build = source(tmp_path), tmp_path / "build"
    first = layout(build, src)[1]
    (src / "app" / "new.py").write_text("NEW = 1\n")
    (src / "requirements.txt").unlink()
    changed = layout(build, src, extras={"Dockerfile": "FROM scratch\nUSER 10001\n"})[1]
    assert changed["changed"] is True and changed["hash"] != first["hash"]
    assert (build / "app" / "new.py").is_file() and not (build / "requirements.txt").exists()
    assert not (build / ".dockerignore").exists() and not (build / "ca").exists()
    assert (build / "Dockerfile").read_text() == "FROM scratch\nUSER 10001\n"


def test_layout_check_mode_on_a_fresh_controller_creates_nothing(tmp_path: Path) -> None:
    rc, out = layout(tmp_path / "build", source(tmp_path), "--check")
    assert rc == 0 and out["changed"] is True and out["hash"] == "none" and not (tmp_path / "build").exists()


@pytest.mark.parametrize("extras", ['["Dockerfile"]', '{"Dockerfile": 1}', "not json"])
def test_layout_refuses_extras_that_are_not_names_to_text(tmp_path: Path, extras: str) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--layout", str(tmp_path / "b"), str(source(tmp_path))],
        input=extras,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and not (tmp_path / "b").exists()


def test_layout_refuses_a_missing_source(tmp_path: Path) -> None:
    rc, out = layout(tmp_path / "build", tmp_path / "nope")
    assert rc == 2 and "not a directory" in out["msg"] and not (tmp_path / "build").exists()
