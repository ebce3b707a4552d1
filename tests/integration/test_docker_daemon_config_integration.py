# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docker_daemon_config through real ansible-playbook runs, on files in tmp_path.

The machine's own /etc/docker/daemon.json is never touched: every task names
its path. Validation uses the machine's real dockerd, and the expected
validator is found by probing that dockerd, not assumed.

(Named *_integration.py because pytest cannot collect two test modules with
the same basename from directories without __init__.py, and the unit test of
main() is tests/unit/plugins/modules/test_docker_daemon_config.py.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import typing as t
from pathlib import Path

import pytest

MODULE = "aistack.deploy.docker_daemon_config"

# What nvidia-ctk and a user left in the file before we came (indent 4, as
# nvidia-ctk writes it; `args`, not `runtimeArgs`, as nvidia-ctk writes it).
PLANTED = {
    "default-runtime": "nvidia",
    "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}},
    "log-opts": {"max-size": "10m"},
    "dns": ["192.0.2.53"],
}
SETTINGS = {
    "live-restore": True,
    "log-driver": "json-file",
    "log-opts": {"max-file": "3"},
    "features": {"buildkit": True},
}
MERGED = dict(
    PLANTED,
    **{
        "live-restore": True,
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
        "features": {"buildkit": True},
    },
)


def task(name: str, extra: str = "", **args: t.Any) -> str:
    """One task of the module; args as JSON (which is YAML) to dodge quoting traps."""
    return f"- name: {name}\n  {MODULE}: {json.dumps(args)}\n" + "".join(
        f"  {line}\n" for line in extra.splitlines() if line
    )


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    path = tmp_path / "docker" / "daemon.json"
    path.parent.mkdir()
    path.write_text(json.dumps(PLANTED, indent=4))
    return path


def dockerd_supports_validate() -> bool:
    """Ask this machine's dockerd (if any) whether it knows --validate."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
    dockerd = shutil.which("dockerd", path=search)
    if dockerd is None:
        return False
    proc = subprocess.run([dockerd, "--help"], capture_output=True, text=True, check=False)
    return re.search(r"^\s*--validate\s", proc.stdout + proc.stderr, re.MULTILINE) is not None


def test_planted_keys_survive_and_second_run_changes_nothing(playbook: t.Callable[..., t.Any], planted: Path) -> None:
    planted.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(planted, 4321, 8765)
    res = playbook(
        task("Merge settings", path=str(planted), settings=SETTINGS)
        + task("Merge settings again", path=str(planted), settings=SETTINGS)
    )
    assert res.rc == 0, res.stdout
    first, second = res.task("Merge settings"), res.task("Merge settings again")
    assert first["changed"] is True
    assert first["changed_keys"] == ["features", "live-restore", "log-driver", "log-opts/max-file"]
    assert second["changed"] is False
    assert second["changed_keys"] == []
    assert json.loads(planted.read_text()) == MERGED
    assert planted.read_text() == json.dumps(MERGED, indent=2, sort_keys=True) + "\n"
    st = planted.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (4321, 8765)


def test_check_mode_changes_nothing_and_diff_shows_before_after(
    playbook: t.Callable[..., t.Any], planted: Path
) -> None:
    original, before = planted.read_text(), planted.stat()
    res = playbook(task("Preview merge", path=str(planted), settings=SETTINGS), check=True, diff=True)
    assert res.rc == 0, res.stdout
    result = res.task("Preview merge")
    assert result["changed"] is True
    assert result["config"] == MERGED
    assert result["diff"]["before"] == original
    assert json.loads(result["diff"]["after"]) == MERGED
    assert result["diff"]["before_header"] == f"{planted} (content)"
    assert planted.read_text() == original
    after = planted.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in planted.parent.iterdir()) == ["daemon.json"]


def test_check_mode_on_a_converged_file_reports_no_change(playbook: t.Callable[..., t.Any], planted: Path) -> None:
    assert playbook(task("Converge", path=str(planted), settings=SETTINGS)).rc == 0
    res = playbook(task("Converge", path=str(planted), settings=SETTINGS), check=True, diff=True)
    assert res.rc == 0, res.stdout
    assert res.task("Converge")["changed"] is False


def test_absent_removes_named_keys_only(playbook: t.Callable[..., t.Any], planted: Path) -> None:
    res = playbook(
        task("Remove nvidia runtime", path=str(planted), state="absent", keys=["runtimes/nvidia", "default-runtime"])
        + task(
            "Remove missing keys",
            path=str(planted),
            state="absent",
            keys=["runtimes/nvidia", "log-opts/max-file", "live-restore"],
        )
    )
    assert res.rc == 0, res.stdout
    removed = res.task("Remove nvidia runtime")
    assert removed["changed"] is True
    assert removed["changed_keys"] == ["default-runtime", "runtimes/nvidia"]
    assert res.task("Remove missing keys")["changed"] is False
    # runtimes held only nvidia, so it goes too; everything else stays.
    assert json.loads(planted.read_text()) == {"log-opts": {"max-size": "10m"}, "dns": ["192.0.2.53"]}


def test_new_file_in_missing_directory(playbook: t.Callable[..., t.Any], tmp_path: Path) -> None:
    path = tmp_path / "etc" / "docker" / "daemon.json"
    res = playbook(task("Create daemon.json", path=str(path), settings={"live-restore": True}, backup=True))
    assert res.rc == 0, res.stdout
    result = res.task("Create daemon.json")
    assert result["changed"] is True
    assert "backup_file" not in result
    assert path.read_text() == '{\n  "live-restore": true\n}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    if os.geteuid() == 0:
        assert (path.stat().st_uid, path.stat().st_gid) == (0, 0)


def test_backup_and_broken_file(playbook: t.Callable[..., t.Any], planted: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"debug": true,')
    original = planted.read_text()
    res = playbook(
        task("Merge with backup", path=str(planted), settings={"debug": True}, backup=True)
        + task("Merge into broken file", "ignore_errors: true", path=str(broken), settings={"debug": True})
    )
    assert res.rc == 0, res.stdout
    assert Path(res.task("Merge with backup")["backup_file"]).read_text() == original
    failed = res.task("Merge into broken file")
    assert failed["failed"] is True
    assert "is not valid JSON" in failed["msg"]
    assert broken.read_text() == '{"debug": true,'


def test_validation_with_this_machines_dockerd(playbook: t.Callable[..., t.Any], planted: Path) -> None:
    supports = dockerd_supports_validate()
    expected = "dockerd" if supports else "builtin"
    original = planted.read_text()
    res = playbook(
        task("Number in log-opts", "ignore_errors: true", path=str(planted), settings={"log-opts": {"max-file": 3}})
        + task(
            "Unknown directive",
            "ignore_errors: true\ncheck_mode: true",
            path=str(planted),
            settings={"no-such-directive": True},
        )
        + task("Valid merge", path=str(planted), settings=SETTINGS)
    )
    assert res.rc == 0, res.stdout

    number = res.task("Number in log-opts")
    assert number["failed"] is True
    assert "log-opts/max-file" in number["msg"]
    assert number["validated_with"] == "builtin"  # caught before dockerd is asked

    # Only dockerd knows every directive; the built-in check lets unknown keys pass.
    unknown = res.task("Unknown directive")
    assert unknown.get("failed", False) is supports
    assert unknown["validated_with"] == expected
    if supports:
        assert "no-such-directive" in unknown["msg"]

    valid = res.task("Valid merge")
    assert valid["changed"] is True
    assert valid["validated_with"] == expected
    assert json.loads(planted.read_text()) == MERGED
    assert original != planted.read_text()
