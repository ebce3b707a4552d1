# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for docker_daemon_config's main() against files in tmp_path.

A fake dockerd on PATH makes the validator choice deterministic whatever
engine the machine has; the integration tests use the real one.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
import typing as t
from pathlib import Path

import pytest

from ansible_collections.aistack.deploy.plugins.modules.docker_daemon_config import main

PLANTED = {
    "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}},
    "log-opts": {"max-size": "10m"},
    "dns": ["192.0.2.53"],
}

FAKE_DOCKERD = """\
#!/bin/sh
# Stand-in for dockerd: answers --help, and --validate when SUPPORTS_VALIDATE.
echo "$*" >> "{log}"
if [ "$1" = "--help" ]; then
  echo "Usage:	dockerd [OPTIONS]"
  echo "      --config-file string   Daemon configuration file"
  {validate_help}
  exit 0
fi
if [ "$1" = "--validate" ] && [ "$2" = "--config-file" ]; then
  if grep -q '"no-such-directive"' "$3"; then
    echo "unable to configure the Docker daemon with file $3: the following directives don't match any configuration option: no-such-directive" >&2
    exit 1
  fi
  echo "configuration OK" >&2
  exit 0
fi
exit 125
"""


class FakeDockerd(t.NamedTuple):
    log: Path

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def install_fake_dockerd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, validate: bool) -> FakeDockerd:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    log = tmp_path / "dockerd-calls.log"
    script = bindir / "dockerd"
    script.write_text(
        FAKE_DOCKERD.format(
            log=log,
            validate_help='echo "      --validate             Validate daemon configuration and exit"'
            if validate
            else ":",
        )
    )
    script.chmod(0o755)
    # PATH comes before the sbin directories get_bin_path adds, so the fake wins.
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return FakeDockerd(log)


@pytest.fixture
def old_dockerd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDockerd:
    """A dockerd like Engine 20.10's: no --validate."""
    return install_fake_dockerd(tmp_path, monkeypatch, validate=False)


@pytest.fixture
def new_dockerd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDockerd:
    """A dockerd like Engine >= 23's: knows --validate."""
    return install_fake_dockerd(tmp_path, monkeypatch, validate=True)


@pytest.fixture
def run(run_module: t.Callable[..., t.Any], tmp_path: Path) -> t.Callable[..., t.Any]:
    moduletmp = tmp_path / "moduletmp"
    moduletmp.mkdir()

    def _run(args: dict[str, t.Any], **kwargs: t.Any) -> t.Any:
        return run_module(main, dict(args, _ansible_tmpdir=str(moduletmp)), **kwargs)

    return _run


@pytest.fixture
def daemon_json(tmp_path: Path) -> Path:
    """An existing daemon.json, as the NVIDIA toolkit writes it (indent 4)."""
    path = tmp_path / "docker" / "daemon.json"
    path.parent.mkdir()
    path.write_text(json.dumps(PLANTED, indent=4))
    return path


def test_creates_file_and_parent_directory(
    run: t.Callable[..., t.Any], tmp_path: Path, old_dockerd: FakeDockerd
) -> None:
    path = tmp_path / "etc" / "docker" / "daemon.json"
    res = run({"path": str(path), "settings": {"live-restore": True, "log-opts": {"max-file": "3"}}})
    assert not res.failed, res.result
    assert res.result["changed"] is True
    assert res.result["changed_keys"] == ["live-restore", "log-opts"]
    assert res.result["validated_with"] == "builtin"
    assert path.read_text() == '{\n  "live-restore": true,\n  "log-opts": {\n    "max-file": "3"\n  }\n}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    if os.geteuid() == 0:
        assert (path.stat().st_uid, path.stat().st_gid) == (0, 0)
    assert old_dockerd.calls() == ["--help"]
    assert "backup_file" not in res.result


def test_merges_and_keeps_keys_it_does_not_own(
    run: t.Callable[..., t.Any], daemon_json: Path, old_dockerd: FakeDockerd
) -> None:
    res = run({"path": str(daemon_json), "settings": {"log-opts": {"max-file": "3"}, "features": {"cdi": True}}})
    assert res.result["changed"] is True
    assert res.result["changed_keys"] == ["features", "log-opts/max-file"]
    expected = dict(PLANTED, **{"log-opts": {"max-size": "10m", "max-file": "3"}, "features": {"cdi": True}})
    assert json.loads(daemon_json.read_text()) == expected
    assert res.result["config"] == expected
    assert daemon_json.read_text() == json.dumps(expected, indent=2, sort_keys=True) + "\n"


def test_second_run_changes_nothing(run: t.Callable[..., t.Any], daemon_json: Path, old_dockerd: FakeDockerd) -> None:
    args = {"path": str(daemon_json), "settings": {"live-restore": True, "runtimes": {"crun": {"path": "crun"}}}}
    assert run(args).result["changed"] is True
    before = daemon_json.stat()
    res = run(args)
    assert res.result["changed"] is False
    assert res.result["changed_keys"] == []
    assert res.result["validated_with"] is None
    after = daemon_json.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_same_content_in_other_formatting_is_left_alone(
    run: t.Callable[..., t.Any], daemon_json: Path, old_dockerd: FakeDockerd
) -> None:
    original = daemon_json.read_text()
    res = run({"path": str(daemon_json), "settings": {"dns": ["192.0.2.53"], "log-opts": {"max-size": "10m"}}})
    assert res.result["changed"] is False
    assert daemon_json.read_text() == original


def test_type_only_difference_is_a_change(
    run: t.Callable[..., t.Any], tmp_path: Path, old_dockerd: FakeDockerd
) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"max-concurrent-downloads": 3.0}')
    res = run({"path": str(path), "settings": {"max-concurrent-downloads": 3}})
    assert res.result["changed"] is True
    assert json.loads(path.read_text())["max-concurrent-downloads"] == 3
    assert "3.0" not in path.read_text()


def test_check_mode_writes_nothing(
    run: t.Callable[..., t.Any], daemon_json: Path, tmp_path: Path, old_dockerd: FakeDockerd
) -> None:
    original = daemon_json.read_text()
    res = run({"path": str(daemon_json), "settings": {"debug": True}, "backup": True}, check_mode=True)
    assert res.result["changed"] is True
    assert res.result["changed_keys"] == ["debug"]
    assert res.result["config"]["debug"] is True
    assert res.result["validated_with"] == "builtin"
    assert "backup_file" not in res.result
    assert daemon_json.read_text() == original
    assert sorted(p.name for p in daemon_json.parent.iterdir()) == ["daemon.json"]

    missing = tmp_path / "nowhere" / "daemon.json"
    res = run({"path": str(missing), "settings": {"debug": True}}, check_mode=True)
    assert res.result["changed"] is True
    assert not missing.parent.exists()


def test_diff_shows_file_before_and_after(
    run: t.Callable[..., t.Any], daemon_json: Path, old_dockerd: FakeDockerd
) -> None:
    original = daemon_json.read_text()
    res = run({"path": str(daemon_json), "settings": {"debug": True}}, diff=True, check_mode=True)
    diff = res.result["diff"]
    assert diff["before"] == original
    assert json.loads(diff["after"]) == dict(PLANTED, debug=True)
    assert diff["after"].endswith("}\n")
    assert diff["before_header"] == diff["after_header"] == f"{daemon_json} (content)"


def test_diff_of_a_new_file_starts_empty(run: t.Callable[..., t.Any], tmp_path: Path, old_dockerd: FakeDockerd) -> None:
    res = run({"path": str(tmp_path / "daemon.json"), "settings": {"debug": True}}, diff=True)
    assert res.result["diff"]["before"] == ""
    assert res.result["diff"]["after"] == '{\n  "debug": true\n}\n'


def test_no_diff_without_diff_mode(run: t.Callable[..., t.Any], daemon_json: Path, old_dockerd: FakeDockerd) -> None:
    assert "diff" not in run({"path": str(daemon_json), "settings": {"debug": True}}).result


@pytest.mark.parametrize(
    ("keys", "changed", "changed_keys", "expected"),
    [
        pytest.param(
            ["runtimes/nvidia"],
            True,
            ["runtimes/nvidia"],
            {"log-opts": {"max-size": "10m"}, "dns": ["192.0.2.53"]},
            id="nested-and-pruned",
        ),
        pytest.param(["log-opts/max-file", "live-restore"], False, [], PLANTED, id="missing"),
        pytest.param(
            ["dns", "log-opts/max-size", "nope"],
            True,
            ["dns", "log-opts/max-size"],
            {"runtimes": PLANTED["runtimes"]},
            id="some-missing",
        ),
    ],
)
def test_absent_removes_keys(
    run: t.Callable[..., t.Any],
    daemon_json: Path,
    old_dockerd: FakeDockerd,
    keys: list[str],
    changed: bool,
    changed_keys: list[str],
    expected: dict[str, t.Any],
) -> None:
    res = run({"path": str(daemon_json), "state": "absent", "keys": keys})
    assert not res.failed, res.result
    assert res.result["changed"] is changed
    assert res.result["changed_keys"] == changed_keys
    assert json.loads(daemon_json.read_text()) == expected
    assert res.result["config"] == expected


def test_absent_on_a_missing_file_creates_nothing(
    run: t.Callable[..., t.Any], tmp_path: Path, old_dockerd: FakeDockerd
) -> None:
    path = tmp_path / "daemon.json"
    res = run({"path": str(path), "state": "absent", "keys": ["debug"]})
    assert res.result["changed"] is False
    assert not path.exists()


def test_empty_settings_on_a_missing_file_creates_nothing(
    run: t.Callable[..., t.Any], tmp_path: Path, old_dockerd: FakeDockerd
) -> None:
    path = tmp_path / "daemon.json"
    res = run({"path": str(path), "settings": {}})
    assert not res.failed, res.result
    assert res.result["changed"] is False
    assert not path.exists()


def test_empty_file_counts_as_empty_object(
    run: t.Callable[..., t.Any], tmp_path: Path, old_dockerd: FakeDockerd
) -> None:
    path = tmp_path / "daemon.json"
    path.write_text("")
    res = run({"path": str(path), "settings": {"debug": True}}, diff=True)
    assert res.result["changed"] is True
    assert res.result["diff"]["before"] == ""
    assert json.loads(path.read_text()) == {"debug": True}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"debug": true,,}', "is not valid JSON"),
        ('["debug"]', "holds a JSON array, not an object"),
    ],
)
def test_broken_existing_file_is_never_overwritten(
    run: t.Callable[..., t.Any], tmp_path: Path, old_dockerd: FakeDockerd, content: str, message: str
) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(content)
    res = run({"path": str(path), "settings": {"debug": True}, "validate": False})
    assert res.failed
    assert message in res.result["msg"]
    assert str(path) in res.result["msg"]
    assert path.read_text() == content
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("daemon")) == ["daemon.json"]


def test_directory_as_path_fails(run: t.Callable[..., t.Any], tmp_path: Path, old_dockerd: FakeDockerd) -> None:
    res = run({"path": str(tmp_path), "settings": {"debug": True}})
    assert res.failed
    assert "is a directory" in res.result["msg"]


def test_mode_and_owner_are_kept(run: t.Callable[..., t.Any], daemon_json: Path, old_dockerd: FakeDockerd) -> None:
    daemon_json.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(daemon_json, 1234, 5678)
    res = run({"path": str(daemon_json), "settings": {"debug": True}})
    assert res.result["changed"] is True
    st = daemon_json.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert json.loads(daemon_json.read_text())["debug"] is True


def test_backup_keeps_the_old_file(run: t.Callable[..., t.Any], daemon_json: Path, old_dockerd: FakeDockerd) -> None:
    original = daemon_json.read_text()
    res = run({"path": str(daemon_json), "settings": {"debug": True}, "backup": True})
    backup = Path(res.result["backup_file"])
    assert backup.parent == daemon_json.parent
    assert backup.name.startswith("daemon.json.")
    assert backup.read_text() == original
    again = run({"path": str(daemon_json), "settings": {"debug": True}, "backup": True})
    assert again.result["changed"] is False
    assert "backup_file" not in again.result


def test_backup_of_a_new_file_is_not_made(
    run: t.Callable[..., t.Any], tmp_path: Path, old_dockerd: FakeDockerd
) -> None:
    res = run({"path": str(tmp_path / "daemon.json"), "settings": {"debug": True}, "backup": True})
    assert res.result["changed"] is True
    assert "backup_file" not in res.result


def test_symlink_is_followed(
    run: t.Callable[..., t.Any], daemon_json: Path, tmp_path: Path, old_dockerd: FakeDockerd
) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(daemon_json)
    res = run({"path": str(link), "settings": {"debug": True}})
    assert res.result["changed"] is True
    assert link.is_symlink()
    assert json.loads(daemon_json.read_text())["debug"] is True


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        pytest.param({"log-opts": {"max-file": 3}}, "log-opts/max-file", id="log-opts-number"),
        pytest.param({"live-restore": "yes"}, "live-restore", id="bool-as-string"),
        pytest.param({"runtimes": {"nvidia": "nvidia-container-runtime"}}, "runtimes/nvidia", id="runtime-string"),
        pytest.param({"log-opts/max-size": "10m"}, "log-opts/max-size", id="path-as-key"),
    ],
)
def test_invalid_result_fails_and_writes_nothing(
    run: t.Callable[..., t.Any], daemon_json: Path, new_dockerd: FakeDockerd, settings: dict[str, t.Any], key: str
) -> None:
    original = daemon_json.read_text()
    res = run({"path": str(daemon_json), "settings": settings})
    assert res.failed
    assert key in res.result["msg"]
    assert "nothing was written" in res.result["msg"]
    assert res.result["validation_errors"][0].startswith(key)
    assert res.result["validated_with"] == "builtin"
    assert daemon_json.read_text() == original
    assert new_dockerd.calls() == []  # the built-in check stops it before dockerd runs


def test_invalid_existing_key_also_fails_when_the_file_changes(
    run: t.Callable[..., t.Any], tmp_path: Path, old_dockerd: FakeDockerd
) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"log-opts": {"max-file": 3}}')
    res = run({"path": str(path), "settings": {"debug": True}})
    assert res.failed
    assert "log-opts/max-file" in res.result["msg"]


def test_validate_false_writes_what_it_is_given(
    run: t.Callable[..., t.Any], daemon_json: Path, new_dockerd: FakeDockerd
) -> None:
    res = run({"path": str(daemon_json), "settings": {"log-opts": {"max-file": 3}}, "validate": False})
    assert not res.failed, res.result
    assert res.result["validated_with"] is None
    assert json.loads(daemon_json.read_text())["log-opts"]["max-file"] == 3
    assert new_dockerd.calls() == []


def test_dockerd_validates_when_it_can(
    run: t.Callable[..., t.Any], daemon_json: Path, new_dockerd: FakeDockerd
) -> None:
    res = run({"path": str(daemon_json), "settings": {"debug": True}})
    assert not res.failed, res.result
    assert res.result["validated_with"] == "dockerd"
    calls = new_dockerd.calls()
    assert calls[0] == "--help"
    assert calls[1].startswith("--validate --config-file ")
    assert not os.path.exists(calls[1].split()[-1])  # the temporary file is gone


def test_dockerd_refusal_fails_and_writes_nothing(
    run: t.Callable[..., t.Any], daemon_json: Path, new_dockerd: FakeDockerd
) -> None:
    original = daemon_json.read_text()
    res = run({"path": str(daemon_json), "settings": {"no-such-directive": True}})
    assert res.failed
    assert res.result["validated_with"] == "dockerd"
    assert "no-such-directive" in res.result["msg"]
    assert "<merged daemon.json>" in res.result["msg"]
    assert daemon_json.read_text() == original


def test_dockerd_validates_in_check_mode_too(
    run: t.Callable[..., t.Any], daemon_json: Path, new_dockerd: FakeDockerd
) -> None:
    res = run({"path": str(daemon_json), "settings": {"no-such-directive": True}}, check_mode=True)
    assert res.failed
    assert "no-such-directive" in res.result["msg"]


def test_old_dockerd_is_not_asked_to_validate(
    run: t.Callable[..., t.Any], daemon_json: Path, old_dockerd: FakeDockerd
) -> None:
    res = run({"path": str(daemon_json), "settings": {"no-such-directive": True}})
    assert not res.failed, res.result
    assert res.result["validated_with"] == "builtin"
    assert old_dockerd.calls() == ["--help"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param({"state": "absent"}, "keys", id="absent-without-keys"),
        pytest.param({}, "settings", id="present-without-settings"),
        pytest.param({"settings": {"debug": True}, "keys": ["debug"]}, "mutually exclusive", id="both"),
        pytest.param({"state": "absent", "keys": ["log-opts/"]}, "invalid key path", id="bad-path"),
    ],
)
def test_bad_arguments(
    run: t.Callable[..., t.Any], daemon_json: Path, old_dockerd: FakeDockerd, args: dict[str, t.Any], message: str
) -> None:
    original = daemon_json.read_text()
    res = run(dict(args, path=str(daemon_json)))
    assert res.failed
    assert message in res.result["msg"]
    assert daemon_json.read_text() == original


def test_unexpected_error_is_reported_with_traceback(
    run: t.Callable[..., t.Any], daemon_json: Path, old_dockerd: FakeDockerd, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ansible.module_utils import basic

    def broken_move(*args: t.Any, **kwargs: t.Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(basic.AnsibleModule, "atomic_move", broken_move)
    original = daemon_json.read_text()
    res = run({"path": str(daemon_json), "settings": {"debug": True}})
    assert res.failed
    assert "No space left on device" in res.result["msg"]
    assert "Traceback" in res.result["exception"]
    assert daemon_json.read_text() == original
    assert sorted(p.name for p in daemon_json.parent.iterdir()) == ["daemon.json"]


def test_documentation_parses() -> None:
    import yaml

    from ansible_collections.aistack.deploy.plugins.modules import docker_daemon_config as module

    doc = yaml.safe_load(module.DOCUMENTATION)
    assert set(doc["options"]) == {"path", "state", "settings", "keys", "validate", "backup"}
    assert set(doc["attributes"]) == {"check_mode", "diff_mode", "idempotent"}
    assert yaml.safe_load(module.EXAMPLES)
    assert {"config", "changed_keys", "backup_file", "validated_with"} <= set(yaml.safe_load(module.RETURN))
    assert textwrap.dedent(module.EXAMPLES).startswith("\n---")
