# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host's retention script (roles/app_stack/files/aistack-retention.py) on real trees under tmp_path.

It runs as root over directories the app's containers write, so besides what
it deletes these tests prove what it must never touch: anything outside its
directory, the targets of symlinks inside it, the symlinks themselves, the
directory itself. It is run as the host runs it (a subprocess, also on the
oldest Python it supports when this machine has it) and imported, for a fixed
clock and for the race of a directory swapped for a symlink after the walk.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "app_stack" / "files" / "aistack-retention.py"
NOW = 1_800_000_000.0
DAY = 86400


def _load() -> t.Any:
    spec = importlib.util.spec_from_file_location("aistack_retention", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


retention = _load()


def make(path: Path, age_days: float, size: int = 10, now: float = NOW) -> Path:
    """A file of size bytes, last modified age_days before now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    return path


def config(tmp_path: Path, *entries: dict[str, t.Any]) -> Path:
    path = tmp_path / "retention.json"
    path.write_text(
        json.dumps([{"max_age_seconds": None, "max_size_bytes": None, "pattern": "*", **entry} for entry in entries])
    )
    return path


def run(
    tmp_path: Path, *entries: dict[str, t.Any], dry_run: bool = False, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str]]:
    """main() on a fixed clock; (exit status, printed lines)."""
    argv = ["--config", str(config(tmp_path, *entries))] + (["--dry-run"] if dry_run else [])
    status = retention.main(argv, now=NOW)
    return status, capsys.readouterr().out.splitlines()


@pytest.fixture(name="data")
def data_fixture(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_files_older_than_max_age_go_newer_ones_stay(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = make(data / "clips" / "2026-01-01" / "a.mp4", 20)
    older = make(data / "clips" / "b.mp4", 15)
    new = make(data / "clips" / "c.mp4", 13)
    status, out = run(tmp_path, {"dir": str(data / "clips"), "max_age_seconds": 14 * DAY}, capsys=capsys)
    assert status == 0
    assert not old.exists() and not older.exists() and new.exists()
    assert f"deleted {old} (10 bytes, modified {retention._stamp(NOW - 20 * DAY)}, older than {14 * DAY} s)" in out
    assert out[-1] == f"{data / 'clips'}: 2 files removed, 20 bytes freed, 10 bytes kept in 1 files"


def test_the_size_cap_deletes_the_oldest_first(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {age: make(data / "hls" / f"seg{age}.ts", age, size=100) for age in (5, 4, 3, 2, 1)}
    status, out = run(tmp_path, {"dir": str(data / "hls"), "max_size_bytes": 250}, capsys=capsys)
    assert status == 0
    assert sorted(age for age, path in files.items() if path.exists()) == [1, 2]
    deleted = [line.split()[1] for line in out if line.startswith("deleted ")]
    assert deleted == [str(files[5]), str(files[4]), str(files[3])]
    assert out[-1] == f"{data / 'hls'}: 3 files removed, 300 bytes freed, 200 bytes kept in 2 files"


def test_age_first_then_size_over_what_is_left(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expired = make(data / "old.ts", 30, size=1000)
    kept = [make(data / f"s{age}.ts", age, size=100) for age in (3, 2, 1)]
    status, _out = run(tmp_path, {"dir": str(data), "max_age_seconds": 7 * DAY, "max_size_bytes": 200}, capsys=capsys)
    assert status == 0
    assert not expired.exists()
    assert [path.exists() for path in kept] == [False, True, True]


def test_only_files_matching_the_pattern_count_and_go(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    segment = make(data / "hls" / "old.ts", 10, size=500)
    playlist = make(data / "hls" / "index.m3u8", 10, size=500)
    big_other = make(data / "hls" / "poster.jpg", 0, size=10_000)
    status, out = run(
        tmp_path,
        {"dir": str(data / "hls"), "max_age_seconds": DAY, "max_size_bytes": 1000, "pattern": "*.ts"},
        capsys=capsys,
    )
    assert status == 0
    assert not segment.exists() and playlist.exists() and big_other.exists()
    assert out[-1].endswith("1 files removed, 500 bytes freed, 0 bytes kept in 0 files")


def test_symlinks_inside_are_never_followed_nor_deleted(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    target_file = make(outside / "precious.db", 100, size=10_000)
    make(outside / "dir" / "also-precious.log", 100, size=10_000)
    (data / "logs").mkdir(parents=True)
    (data / "logs" / "to-file.log").symlink_to(target_file)
    (data / "logs" / "to-dir").symlink_to(outside / "dir", target_is_directory=True)
    (data / "logs" / "dangling").symlink_to(tmp_path / "nowhere")
    own = make(data / "logs" / "app.log", 100)
    status, out = run(tmp_path, {"dir": str(data / "logs"), "max_age_seconds": DAY, "max_size_bytes": 1}, capsys=capsys)
    assert status == 0
    assert not own.exists()
    assert target_file.read_bytes() == b"x" * 10_000
    assert (outside / "dir" / "also-precious.log").exists()
    assert all((data / "logs" / name).is_symlink() for name in ("to-file.log", "to-dir", "dangling"))
    assert [line for line in out if line.startswith("deleted ")] == [
        f"deleted {own} (10 bytes, modified {retention._stamp(NOW - 100 * DAY)}, older than {DAY} s)"
    ]


def test_nothing_outside_the_directory_is_touched(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inside = make(data / "clips" / "old.mp4", 30)
    sibling = make(data / "clips-archive" / "old.mp4", 30)
    parent = make(data / "old.mp4", 30)
    status, _out = run(
        tmp_path, {"dir": str(data / "clips"), "max_age_seconds": DAY, "max_size_bytes": 1}, capsys=capsys
    )
    assert status == 0
    assert not inside.exists() and sibling.exists() and parent.exists()


def test_emptied_directories_go_the_directory_itself_and_untouched_empty_ones_stay(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make(data / "clips" / "2026" / "01" / "a.mp4", 30)
    make(data / "clips" / "2026" / "02" / "b.mp4", 30)
    make(data / "clips" / "2026" / "03" / "c.mp4", 1)
    (data / "clips" / "incoming").mkdir()
    make(data / "clips" / "top.mp4", 30)
    status, _out = run(tmp_path, {"dir": str(data / "clips"), "max_age_seconds": 7 * DAY}, capsys=capsys)
    assert status == 0
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*")) == [
        "clips",
        "clips/2026",
        "clips/2026/03",
        "clips/2026/03/c.mp4",
        "clips/incoming",
    ]
    make(data / "clips" / "2026" / "03" / "c.mp4", 30)
    status, _out = run(tmp_path, {"dir": str(data / "clips"), "max_age_seconds": 7 * DAY}, capsys=capsys)
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*")) == ["clips", "clips/incoming"]


def test_a_dry_run_deletes_nothing_and_says_what_it_would(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = make(data / "clips" / "sub" / "old.mp4", 30, size=7)
    big = [make(data / "clips" / f"n{age}.mp4", age, size=100) for age in (3, 2, 1)]
    status, out = run(
        tmp_path,
        {"dir": str(data / "clips"), "max_age_seconds": 7 * DAY, "max_size_bytes": 150},
        dry_run=True,
        capsys=capsys,
    )
    assert status == 0
    assert old.exists() and all(path.exists() for path in big)
    assert [line.split()[2] for line in out if line.startswith("would delete ")] == [str(old), str(big[0]), str(big[1])]
    assert out[-1] == f"{data / 'clips'}: 3 files would be removed, 207 bytes would be freed, 100 bytes kept in 1 files"


@pytest.mark.parametrize("kind", ["missing", "symlink", "file", "root"])
def test_a_refused_directory_fails_the_run_but_not_the_others(
    tmp_path: Path, data: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real"
    precious = make(real / "old.log", 30)
    refused = {
        "missing": tmp_path / "nope",
        "symlink": tmp_path / "link",
        "file": tmp_path / "plain",
        "root": Path("/"),
    }[kind]
    if kind == "symlink":
        refused.symlink_to(real, target_is_directory=True)
    if kind == "file":
        refused.write_text("x")
    other = make(data / "old.log", 30)
    status, out = run(
        tmp_path,
        {"dir": str(refused), "max_age_seconds": DAY},
        {"dir": str(data), "max_age_seconds": DAY},
        capsys=capsys,
    )
    assert status == 1
    assert precious.exists() and not other.exists()
    reason = {
        "missing": "does not exist",
        "symlink": "is a symlink",
        "file": "is not a directory",
        "root": "is / or not an absolute path",
    }[kind]
    assert f"refused {refused}: {reason}" in out


def test_a_directory_swapped_for_a_symlink_after_the_walk_is_not_deleted_through(tmp_path: Path, data: Path) -> None:
    make(data / "clips" / "day" / "a.mp4", 30)
    outside = tmp_path / "outside"
    precious = make(outside / "a.mp4", 30)
    top = str(data / "clips")
    doomed, _kept = retention.choose(retention.scan(top, "*", []), NOW, DAY, None)
    # The app (or an attacker in its container) swaps the directory for a link out of it.
    shutil.rmtree(data / "clips" / "day")
    (data / "clips" / "day").symlink_to(outside, target_is_directory=True)
    top_fd = retention.open_top(top)
    try:
        removed, freed, failed = retention.apply(top_fd, top, doomed, dry_run=False)
    finally:
        os.close(top_fd)
    assert (removed, freed, failed) == (0, 0, True)
    assert precious.exists() and (data / "clips" / "day").is_symlink()


@pytest.mark.parametrize("change", ["replaced", "rewritten"])
def test_a_file_changed_after_the_walk_is_left_alone(tmp_path: Path, data: Path, change: str) -> None:
    path = make(data / "a.log", 30)
    doomed, _kept = retention.choose(retention.scan(str(data), "*", []), NOW, DAY, None)
    if change == "replaced":
        path.unlink()
    make(path, 0)  # a new file under the old name, or the old one written again: no longer what was judged
    top_fd = retention.open_top(str(data))
    try:
        assert retention.apply(top_fd, str(data), doomed, dry_run=False) == (0, 0, False)
    finally:
        os.close(top_fd)
    assert path.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read"),
        ('{"dir": "/x"}', "must hold a JSON list"),
        ('[{"dir": "relative", "max_age_seconds": 1}]', "dir 'relative' is not an absolute path"),
        ('[{"dir": "/x"}]', "needs max_age_seconds, max_size_bytes or both"),
        ('[{"dir": "/x", "max_age_seconds": 0}]', "must be null or whole numbers above 0"),
        ('[{"dir": "/x", "max_age_seconds": 1, "pattern": "a/b"}]', "must be a non-empty glob on file names"),
        ('[{"dir": "/x", "max_age_seconds": 1, "extra": 1}]', "must be an object with keys"),
    ],
)
def test_an_unusable_configuration_deletes_nothing_and_exits_2(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "retention.json"
    path.write_text(content)
    assert retention.main(["--config", str(path)], now=NOW) == 2
    assert message in capsys.readouterr().err


def _pythons() -> list[str]:
    """This interpreter, and the oldest the script supports (3.8) where this machine has one that runs."""
    found = [sys.executable]
    oldest = shutil.which("python3.8")
    if oldest and subprocess.run([oldest, "-c", "pass"], capture_output=True, check=False).returncode == 0:
        found.append(oldest)
    return found


@pytest.mark.parametrize("python", _pythons())
def test_as_the_host_runs_it(tmp_path: Path, data: Path, python: str) -> None:
    now = time.time()
    old = make(data / "clips" / "old.mp4", 20, now=now)
    new = make(data / "clips" / "new.mp4", 1, now=now)
    outside = make(tmp_path / "outside" / "old.mp4", 20, now=now)
    (data / "clips" / "out").symlink_to(tmp_path / "outside", target_is_directory=True)
    cfg = config(tmp_path, {"dir": str(data / "clips"), "max_age_seconds": 14 * DAY})
    dry = subprocess.run(
        [python, str(SCRIPT), "--config", str(cfg), "--dry-run"], capture_output=True, text=True, check=False
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0].startswith(f"would delete {old} (10 bytes")
    assert old.exists()
    done = subprocess.run([python, str(SCRIPT), "--config", str(cfg)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"deleted {old} (10 bytes, modified {retention._stamp(now - 20 * DAY)}, older than {14 * DAY} s)",
        f"{data / 'clips'}: 1 files removed, 10 bytes freed, 10 bytes kept in 1 files",
    ]
    assert not old.exists() and new.exists() and outside.exists()
    missing = config(tmp_path, {"dir": str(tmp_path / "gone"), "max_age_seconds": DAY})
    refused = subprocess.run(
        [python, str(SCRIPT), "--config", str(missing)], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 1
    assert f"refused {tmp_path / 'gone'}: does not exist" in refused.stdout
