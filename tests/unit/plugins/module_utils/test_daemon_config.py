# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the merge, removal, comparison and validation logic."""

from __future__ import annotations

import copy
import typing as t

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils._daemon_config import (
    DaemonConfigError,
    changed_keys,
    dockerd_error,
    help_supports_validate,
    merge_config,
    parse_config,
    remove_keys,
    render_config,
    same_config,
    split_key,
    validate_config,
)

NVIDIA = {"path": "nvidia-container-runtime", "args": []}


# --- parse and render ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("  \n\t", {}),
        ("{}", {}),
        ('{"debug": true, "log-opts": {"max-size": "10m"}}', {"debug": True, "log-opts": {"max-size": "10m"}}),
    ],
)
def test_parse_config(text: str, expected: dict[str, t.Any]) -> None:
    assert parse_config(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"debug": true,}', "not valid JSON"),
        ("{'debug': true}", "not valid JSON"),
        ('["debug"]', "JSON array, not an object"),
        ("null", "JSON null, not an object"),
        ('"debug"', "JSON string, not an object"),
    ],
)
def test_parse_config_refuses(text: str, message: str) -> None:
    with pytest.raises(DaemonConfigError, match=message) as info:
        parse_config(text, "/etc/docker/daemon.json")
    assert "/etc/docker/daemon.json" in str(info.value)
    assert "refusing to overwrite" in str(info.value)


def test_render_config_is_sorted_indented_and_ends_with_newline() -> None:
    text = render_config({"b": 1, "a": {"d": "x", "c": [1, 2]}})
    assert text == '{\n  "a": {\n    "c": [\n      1,\n      2\n    ],\n    "d": "x"\n  },\n  "b": 1\n}\n'
    assert render_config({}) == "{}\n"


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ({"a": 1}, {"a": 1}, True),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
        ({"a": 1}, {"a": True}, False),
        ({"a": 1}, {"a": 1.0}, False),
        ({"a": "1"}, {"a": 1}, False),
        ({"a": [1, 2]}, {"a": [2, 1]}, False),
        ({"a": {}}, {}, False),
    ],
)
def test_same_config_is_strict_about_types(left: t.Any, right: t.Any, same: bool) -> None:
    assert same_config(left, right) is same


# --- key paths ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("debug", ["debug"]),
        ("log-opts/max-size", ["log-opts", "max-size"]),
        ("builder/gc/enabled", ["builder", "gc", "enabled"]),
    ],
)
def test_split_key(path: str, parts: list[str]) -> None:
    assert split_key(path) == parts


@pytest.mark.parametrize("path", ["", "/", "/debug", "log-opts/", "log-opts//max-size"])
def test_split_key_refuses_empty_parts(path: str) -> None:
    with pytest.raises(DaemonConfigError, match="invalid key path"):
        split_key(path)


# --- merge --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "settings", "expected"),
    [
        pytest.param({}, {"debug": True}, {"debug": True}, id="add-to-empty"),
        pytest.param({"debug": False}, {}, {"debug": False}, id="empty-settings"),
        pytest.param(
            {"debug": False, "dns": ["192.0.2.1"]},
            {"debug": True},
            {"debug": True, "dns": ["192.0.2.1"]},
            id="scalar-replaces-others-kept",
        ),
        pytest.param(
            {"log-opts": {"max-size": "10m"}},
            {"log-opts": {"max-file": "3"}},
            {"log-opts": {"max-size": "10m", "max-file": "3"}},
            id="nested-merge",
        ),
        pytest.param(
            {"log-opts": {"max-size": "10m", "max-file": "5"}},
            {"log-opts": {"max-file": "3"}},
            {"log-opts": {"max-size": "10m", "max-file": "3"}},
            id="nested-replace-one-key",
        ),
        pytest.param(
            {"runtimes": {"nvidia": NVIDIA}},
            {"runtimes": {"crun": {"path": "/usr/bin/crun"}}},
            {"runtimes": {"nvidia": NVIDIA, "crun": {"path": "/usr/bin/crun"}}},
            id="runtimes-side-by-side",
        ),
        pytest.param(
            {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}},
            {"runtimes": {"nvidia": {"runtimeArgs": ["--debug"]}}},
            {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": [], "runtimeArgs": ["--debug"]}}},
            id="three-levels-deep",
        ),
        pytest.param(
            {"features": {"buildkit": True}},
            {"features": {"cdi": True}},
            {"features": {"buildkit": True, "cdi": True}},
            id="features-merge",
        ),
        pytest.param(
            {"registry-mirrors": ["https://a.example"]},
            {"registry-mirrors": ["https://b.example"]},
            {"registry-mirrors": ["https://b.example"]},
            id="list-replaces-not-appends",
        ),
        pytest.param({"dns": ["192.0.2.1"]}, {"dns": []}, {"dns": []}, id="empty-list-replaces"),
        pytest.param(
            {"log-opts": "max-size=10m"},
            {"log-opts": {"max-size": "10m"}},
            {"log-opts": {"max-size": "10m"}},
            id="conflict-dict-replaces-scalar",
        ),
        pytest.param(
            {"log-opts": {"max-size": "10m"}},
            {"log-opts": "json"},
            {"log-opts": "json"},
            id="conflict-scalar-replaces-dict",
        ),
        pytest.param(
            {"hosts": {"a": 1}},
            {"hosts": ["unix:///run/docker.sock"]},
            {"hosts": ["unix:///run/docker.sock"]},
            id="conflict-list-replaces-dict",
        ),
        pytest.param(
            {"features": ["buildkit"]},
            {"features": {"buildkit": True}},
            {"features": {"buildkit": True}},
            id="conflict-dict-replaces-list",
        ),
        pytest.param({"log-opts": {}}, {"log-opts": {}}, {"log-opts": {}}, id="empty-dict-into-empty-dict"),
        pytest.param({"debug": True}, {"debug": None}, {"debug": None}, id="null-is-a-value-not-a-removal"),
    ],
)
def test_merge_config(base: dict[str, t.Any], settings: dict[str, t.Any], expected: dict[str, t.Any]) -> None:
    assert merge_config(base, settings) == expected


def test_merge_config_leaves_its_arguments_alone() -> None:
    base = {"log-opts": {"max-size": "10m"}, "dns": ["192.0.2.1"]}
    settings = {"log-opts": {"max-file": "3"}, "runtimes": {"nvidia": {"path": "x", "args": []}}}
    base_copy, settings_copy = copy.deepcopy(base), copy.deepcopy(settings)
    merged = merge_config(base, settings)
    merged["log-opts"]["max-size"] = "1m"
    merged["runtimes"]["nvidia"]["args"].append("--x")
    assert base == base_copy
    assert settings == settings_copy


# --- removal ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "keys", "expected", "removed"),
    [
        pytest.param({"debug": True, "dns": []}, ["debug"], {"dns": []}, ["debug"], id="top-level"),
        pytest.param({"debug": True}, ["live-restore"], {"debug": True}, [], id="missing-top-level"),
        pytest.param({}, ["debug", "log-opts/max-size"], {}, [], id="missing-in-empty"),
        pytest.param(
            {"log-opts": {"max-size": "10m", "max-file": "3"}},
            ["log-opts/max-file"],
            {"log-opts": {"max-size": "10m"}},
            ["log-opts/max-file"],
            id="nested",
        ),
        pytest.param(
            {"log-opts": {"max-size": "10m"}},
            ["log-opts/max-file"],
            {"log-opts": {"max-size": "10m"}},
            [],
            id="missing-nested",
        ),
        pytest.param(
            {"log-opts": {"max-size": "10m"}, "debug": True},
            ["log-opts/max-size"],
            {"debug": True},
            ["log-opts/max-size"],
            id="emptied-parent-pruned",
        ),
        pytest.param(
            {"runtimes": {"nvidia": NVIDIA}},
            ["runtimes/nvidia"],
            {},
            ["runtimes/nvidia"],
            id="last-runtime-prunes-runtimes",
        ),
        pytest.param(
            {"runtimes": {"nvidia": NVIDIA, "crun": {"path": "crun"}}},
            ["runtimes/nvidia"],
            {"runtimes": {"crun": {"path": "crun"}}},
            ["runtimes/nvidia"],
            id="other-runtime-kept",
        ),
        pytest.param({"a": {"b": {"c": 1}}, "x": 1}, ["a/b/c"], {"x": 1}, ["a/b/c"], id="prune-chain"),
        pytest.param(
            {"a": {"b": {"c": 1}, "d": 2}}, ["a/b/c"], {"a": {"d": 2}}, ["a/b/c"], id="prune-stops-at-non-empty"
        ),
        pytest.param(
            {"log-opts": {}, "debug": True}, ["debug"], {"log-opts": {}}, ["debug"], id="pre-existing-empty-dict-kept"
        ),
        pytest.param(
            {"log-opts": {}}, ["log-opts/max-size"], {"log-opts": {}}, [], id="missing-under-empty-dict-keeps-it"
        ),
        pytest.param(
            {"log-opts": "max-size=10m"},
            ["log-opts/max-size"],
            {"log-opts": "max-size=10m"},
            [],
            id="conflict-scalar-on-the-way",
        ),
        pytest.param({"dns": ["192.0.2.1"]}, ["dns/0"], {"dns": ["192.0.2.1"]}, [], id="conflict-list-on-the-way"),
        pytest.param({"runtimes": {"nvidia": NVIDIA}}, ["runtimes"], {}, ["runtimes"], id="whole-dict"),
        pytest.param({"debug": True}, ["debug", "debug"], {}, ["debug"], id="duplicate-key-listed-once"),
        pytest.param(
            {"log-opts": {"max-size": "10m"}},
            ["log-opts/max-size", "log-opts"],
            {},
            ["log-opts/max-size"],
            id="child-then-pruned-parent",
        ),
    ],
)
def test_remove_keys(base: dict[str, t.Any], keys: list[str], expected: dict[str, t.Any], removed: list[str]) -> None:
    before = copy.deepcopy(base)
    assert remove_keys(base, keys) == (expected, removed)
    assert base == before


def test_remove_keys_refuses_malformed_paths() -> None:
    with pytest.raises(DaemonConfigError, match="invalid key path"):
        remove_keys({"debug": True}, ["log-opts/"])


# --- changed keys -------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "keys"),
    [
        pytest.param({}, {}, [], id="nothing"),
        pytest.param({"debug": True}, {"debug": True}, [], id="same"),
        pytest.param({}, {"debug": True}, ["debug"], id="added"),
        pytest.param({"debug": True}, {}, ["debug"], id="removed"),
        pytest.param({"debug": 1}, {"debug": True}, ["debug"], id="type-only-change"),
        pytest.param(
            {"log-opts": {"max-size": "10m"}},
            {"log-opts": {"max-size": "10m", "max-file": "3"}},
            ["log-opts/max-file"],
            id="nested-added",
        ),
        pytest.param({}, {"runtimes": {"nvidia": NVIDIA}}, ["runtimes"], id="new-subtree-at-its-root"),
        pytest.param(
            {"runtimes": {"runc": {"path": "runc"}}},
            {"runtimes": {"runc": {"path": "runc"}, "nvidia": NVIDIA}},
            ["runtimes/nvidia"],
            id="new-runtime",
        ),
        pytest.param({"dns": ["a"]}, {"dns": ["a", "b"]}, ["dns"], id="list-at-its-key"),
        pytest.param({"log-opts": "x"}, {"log-opts": {"max-size": "1m"}}, ["log-opts"], id="type-conflict"),
        pytest.param(
            {"b": 1, "a": {"z": 1, "y": 1}}, {"b": 2, "a": {"z": 2, "y": 2}}, ["a/y", "a/z", "b"], id="sorted"
        ),
    ],
)
def test_changed_keys(before: dict[str, t.Any], after: dict[str, t.Any], keys: list[str]) -> None:
    assert changed_keys(before, after) == keys


# --- validation ---------------------------------------------------------------

VALID = {
    "data-root": "/var/lib/docker",
    "debug": False,
    "default-address-pools": [{"base": "172.30.0.0/16", "size": 24}, {"base": "fd00:1::/48", "size": 64}],
    "default-runtime": "runc",
    "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 1024}},
    "dns": ["192.0.2.53"],
    "features": {"buildkit": True, "cdi": False},
    "insecure-registries": ["registry.local:5000", "10.0.0.0/8"],
    "live-restore": True,
    "log-driver": "json-file",
    "log-level": "warn",
    "log-opts": {"max-size": "10m", "max-file": "3", "labels": "app"},
    "max-concurrent-downloads": 3,
    "registry-mirrors": ["https://mirror.example.com"],
    "runtimes": {
        "nvidia": {"path": "nvidia-container-runtime", "args": []},
        "crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--debug"]},
        "shim": {"runtimeType": "io.containerd.runsc.v1", "options": {"TypeUrl": "x"}},
    },
    "some-key-we-do-not-know": {"anything": [1, None]},
}


def test_validate_config_accepts_a_realistic_file() -> None:
    assert validate_config(VALID) == []
    assert validate_config({}) == []


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        pytest.param(
            {"log-opts": {"max-file": 3}},
            ["log-opts/max-file", "must be a string", "number 3", "quote numbers"],
            id="log-opts-number",
        ),
        pytest.param({"log-opts": {"max-size": None}}, ["log-opts/max-size", "null"], id="log-opts-null"),
        pytest.param(
            {"log-opts": ["max-size=10m"]}, ["log-opts:", "must be an object", "array"], id="log-opts-not-a-dict"
        ),
        pytest.param(
            {"live-restore": "true"}, ["live-restore", "must be a boolean", 'string "true"'], id="bool-as-string"
        ),
        pytest.param({"debug": 1}, ["debug", "boolean", "number 1"], id="bool-as-number"),
        pytest.param(
            {"max-concurrent-downloads": True}, ["max-concurrent-downloads", "integer", "boolean"], id="int-as-bool"
        ),
        pytest.param({"max-concurrent-downloads": 3.0}, ["max-concurrent-downloads", "integer"], id="int-as-float"),
        pytest.param(
            {"registry-mirrors": "https://mirror.example.com"}, ["registry-mirrors", "array"], id="mirrors-as-string"
        ),
        pytest.param(
            {"registry-mirrors": ["mirror.example.com"]},
            ["registry-mirrors[0]", "https://"],
            id="mirror-without-scheme",
        ),
        pytest.param(
            {"insecure-registries": ["ok", 5000]}, ["insecure-registries[1]", "string"], id="insecure-registry-number"
        ),
        pytest.param(
            {"default-address-pools": {"base": "10.0.0.0/8", "size": 24}},
            ["default-address-pools", "array"],
            id="pools-not-a-list",
        ),
        pytest.param(
            {"default-address-pools": [{"base": "10.0.0.0/8"}]},
            ["default-address-pools[0]", "needs 'size'"],
            id="pool-without-size",
        ),
        pytest.param(
            {"default-address-pools": [{"base": "10.0.0.0/8", "size": "24"}]},
            ["default-address-pools[0]/size", "integer"],
            id="pool-size-string",
        ),
        pytest.param(
            {"default-address-pools": [{"base": "not-a-net", "size": 24}]},
            ["default-address-pools[0]/base", "CIDR"],
            id="pool-base-garbage",
        ),
        pytest.param(
            {"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]},
            ["default-address-pools[0]/size", "between 16 and 32"],
            id="pool-size-too-small",
        ),
        pytest.param(
            {"default-address-pools": ["10.0.0.0/8"]}, ["default-address-pools[0]", "object"], id="pool-as-string"
        ),
        pytest.param(
            {"runtimes": {"nvidia": "nvidia-container-runtime"}}, ["runtimes/nvidia", "object"], id="runtime-as-string"
        ),
        pytest.param(
            {"runtimes": {"nvidia": {"runtimeArgs": []}}},
            ["runtimes/nvidia", "needs a 'path'"],
            id="runtime-without-path",
        ),
        pytest.param(
            {"runtimes": {"nvidia": {"path": "x", "runtimeArgs": "--debug"}}},
            ["runtimes/nvidia/runtimeArgs", "array"],
            id="runtime-args-string",
        ),
        pytest.param(
            {"runtimes": {"nvidia": {"path": ["x"]}}}, ["runtimes/nvidia/path", "string"], id="runtime-path-list"
        ),
        pytest.param({"runtimes": ["nvidia"]}, ["runtimes", "object"], id="runtimes-list"),
        pytest.param({"features": {"buildkit": "true"}}, ["features/buildkit", "boolean"], id="feature-string"),
        pytest.param({"data-root": "docker"}, ["data-root", "absolute path"], id="data-root-relative"),
        pytest.param({"data-root": 5}, ["data-root", "string"], id="data-root-number"),
        pytest.param({"log-driver": ["json-file"]}, ["log-driver", "string"], id="log-driver-list"),
        pytest.param({"log-level": "verbose"}, ["log-level", "one of debug, info"], id="log-level-choice"),
        pytest.param(
            {"default-ulimits": {"nofile": {"Hard": "65536"}}}, ["default-ulimits/nofile/Hard"], id="ulimit-string"
        ),
        pytest.param({"log-opts/max-size": "10m"}, ["log-opts/max-size", "nested dicts"], id="path-as-top-level-key"),
    ],
)
def test_validate_config_names_the_offending_key(config: dict[str, t.Any], fragments: list[str]) -> None:
    errors = validate_config(config)
    assert len(errors) == 1, errors
    for fragment in fragments:
        assert fragment in errors[0]


def test_validate_config_reports_every_problem() -> None:
    errors = validate_config({"live-restore": "yes", "log-opts": {"max-file": 3, "max-size": 10}, "debug": True})
    assert [error.split(":")[0] for error in errors] == ["live-restore", "log-opts/max-file", "log-opts/max-size"]


# --- dockerd helpers ----------------------------------------------------------

DOCKERD_20_HELP = """Usage:\tdockerd [OPTIONS]

      --config-file string                      Daemon configuration file (default "/etc/docker/daemon.json")
      --userns-remap string                     User/Group setting for user namespaces
  -v, --version                                 Print version information and quit
"""
DOCKERD_26_HELP = (
    DOCKERD_20_HELP + "      --validate                                Validate daemon configuration and exit\n"
)


@pytest.mark.parametrize(
    ("help_text", "supported"),
    [
        (DOCKERD_20_HELP, False),
        (DOCKERD_26_HELP, True),
        ("", False),
        ("      --validate-config   something else", False),
        ("  -V, --validate   Validate daemon configuration and exit", True),
    ],
)
def test_help_supports_validate(help_text: str, supported: bool) -> None:
    assert help_supports_validate(help_text) is supported


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            "unable to configure the Docker daemon with file /tmp/x.json: the following directives don't match "
            "any configuration option: bogus\n",
            "unable to configure the Docker daemon with file /tmp/x.json: the following directives don't match "
            "any configuration option: bogus",
        ),
        ("line one\n\n  line two  \n", "line one; line two"),
        ("", "no message"),
    ],
)
def test_dockerd_error(output: str, message: str) -> None:
    assert dockerd_error(output) == message
