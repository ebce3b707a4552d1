# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for plugins/plugin_utils/_input.py, the input check every role shares, and its filter.

The specs are the roles' own meta/argument_specs.yml: each role's defaults
(those that are not templates) must pass, and each bad value must be refused
with a message naming the variable, its value and what is allowed.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.role_input import FilterModule, role_input_problems
from ansible_collections.aistack.deploy.plugins.plugin_utils._input import (
    Problems,
    plain,
    role_input_problems as check,
    show,
    unknown_variables,
)

ROLES_DIR = Path(__file__).resolve().parents[4] / "roles"
ROLES = ("docker_engine", "nvidia_toolkit", "app_image", "app_stack", "nginx_proxy")


def options(role: str) -> dict[str, t.Any]:
    spec = yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def defaults(role: str) -> dict[str, t.Any]:
    values = yaml.safe_load((ROLES_DIR / role / "defaults" / "main.yml").read_text()) or {}
    return {k: v for k, v in values.items() if not (isinstance(v, str) and "{{" in v)}


@pytest.mark.parametrize("role", ROLES)
def test_every_role_defaults_pass(role: str) -> None:
    assert check(options(role), defaults(role), role, list(defaults(role))) == []


# (role, variable, bad value, what the message must hold besides the variable)
BAD: list[tuple[str, str, t.Any, str]] = [
    ("docker_engine", "docker_engine_version", 27.10, "must be a string, got float 27.1 (quote it"),
    ("docker_engine", "docker_engine_version", 27, "must be a string, got int 27"),
    ("docker_engine", "docker_engine_version", True, "must be a string, got bool true"),
    ("docker_engine", "docker_engine_install_source", "podman", '"podman" is not one of "docker_ce", "distro"'),
    ("docker_engine", "docker_engine_docker_ce_channel", "nightly", "is not one of"),
    ("docker_engine", "docker_engine_buildx", "sometimes", "must be true or false, got string"),
    ("docker_engine", "docker_engine_buildx", 2, "must be true or false, got int 2"),
    ("docker_engine", "docker_engine_apt_cache_valid_time", "an hour", "must be an integer"),
    ("docker_engine", "docker_engine_apt_cache_valid_time", 1.5, "must be an integer, got float"),
    ("docker_engine", "docker_engine_apt_cache_valid_time", False, "must be an integer, got bool"),
    ("docker_engine", "docker_engine_daemon_settings", ["debug"], "must be a mapping, got list"),
    ("docker_engine", "docker_engine_daemon_remove_keys", "debug", "must be a list, got string"),
    ("docker_engine", "docker_engine_users", "alice", "must be a list, got string"),
    ("docker_engine", "docker_engine_users", ["alice", 7], "docker_engine_users[1]: must be a string, got int 7"),
    (
        "docker_engine",
        "docker_engine_extra_ca_certificates",
        [{"content": "x"}],
        "docker_engine_extra_ca_certificates[0].name: is required",
    ),
    (
        "docker_engine",
        "docker_engine_extra_ca_certificates",
        [{"name": "a", "content": "x", "nam": 1}],
        "docker_engine_extra_ca_certificates[0].nam: unknown key (did you mean name?)",
    ),
    ("docker_engine", "docker_engine_extra_ca_certificates", ["pem"], "[0]: must be a mapping, got string"),
    ("nvidia_toolkit", "nvidia_toolkit_version", 1.17, "must be a string, got float 1.17"),
    ("nvidia_toolkit", "nvidia_toolkit_driver_min_version", 550, "must be a string, got int 550"),
    ("nvidia_toolkit", "nvidia_toolkit_runtime_mode", "csv", "is not one of"),
    ("nvidia_toolkit", "nvidia_toolkit_default_runtime", "maybe", "must be true or false"),
    ("nvidia_toolkit", "nvidia_toolkit_smoke_command", "nvidia-smi", "must be a list, got string"),
    ("app_image", "app_image_python_version", 3.1, "must be a string, got float 3.1 (quote it"),
    ("app_image", "app_image_source", "build", "is not one of"),
    ("app_image", "app_image_variant", "tpu", "is not one of"),
    ("app_image", "app_image_uid", "ten", "must be an integer"),
    ("app_image", "app_image_targets", "api", "must be a list, got string"),
    ("app_image", "app_image_env", ["A=1"], "must be a mapping, got list"),
    ("app_image", "app_image_offline", "no way", "must be true or false"),
    ("app_image", "app_image_extra_images", [["a"]], "[0]: must be a string, got list"),
    ("app_stack", "app_stack_health_timeout", "soon", "must be an integer"),
    ("app_stack", "app_stack_services", ["api"], "must be a mapping, got list"),
    ("app_stack", "app_stack_profiles", {"monitoring": True}, "must be a list, got mapping"),
    ("app_stack", "app_stack_pull_policy", "sometimes", "is not one of"),
    ("app_stack", "app_stack_retention_dry_run", "sometimes", "must be true or false"),
    ("app_stack", "app_stack_release_replace", "perhaps", "must be true or false"),
    ("app_stack", "app_stack_lock_max_age", "an hour", "must be an integer"),
    ("app_stack", "app_stack_lock_break", "please", "must be true or false"),
    ("nginx_proxy", "nginx_proxy_hsts", "always", "must be true or false"),
    ("nginx_proxy", "nginx_proxy_server_names", "example.com", "must be a list, got string"),
    ("nginx_proxy", "nginx_proxy_hsts_max_age", "a year", "must be an integer"),
]


@pytest.mark.parametrize(("role", "name", "value", "text"), BAD, ids=[f"{b[1]}={show(b[2], 20)}" for b in BAD])
def test_bad_value_is_named_with_its_value(role: str, name: str, value: t.Any, text: str) -> None:
    problems = check(options(role), dict(defaults(role), **{name: value}), role, [name])
    assert len(problems) == 1, problems
    assert problems[0].startswith(name), problems
    assert text in problems[0], problems


# What `-e name=value` gives is a string; it means what it says.
GOOD_FROM_COMMAND_LINE: list[tuple[str, str, t.Any]] = [
    ("docker_engine", "docker_engine_apt_cache_valid_time", "600"),
    ("docker_engine", "docker_engine_buildx", "false"),
    ("docker_engine", "docker_engine_buildx", "yes"),
    ("app_stack", "app_stack_health_timeout", " 60 "),
    ("app_image", "app_image_uid", 10002),
    ("nginx_proxy", "nginx_proxy_hsts", True),
    ("nvidia_toolkit", "nvidia_toolkit_version", "1.17.3"),
]


@pytest.mark.parametrize(("role", "name", "value"), GOOD_FROM_COMMAND_LINE)
def test_values_as_the_command_line_gives_them_pass(role: str, name: str, value: t.Any) -> None:
    assert check(options(role), dict(defaults(role), **{name: value}), role, [name]) == []


def test_null_is_not_set_and_passes() -> None:
    assert check(options("docker_engine"), {"docker_engine_version": None}, "docker_engine") == []


def test_every_problem_at_once_and_nothing_about_what_passed() -> None:
    values = dict(defaults("docker_engine"), docker_engine_version=27.10, docker_engine_users="alice")
    problems = check(options("docker_engine"), values, "docker_engine", ["docker_engine_verison"])
    assert [p.split(":")[0] for p in problems] == [
        "docker_engine_version",
        "docker_engine_users",
        "docker_engine_verison",
    ]


@pytest.mark.parametrize(
    ("typo", "suggested"),
    [
        ("docker_engine_instal_source", "docker_engine_install_source"),
        ("docker_engine_daemon_setting", "docker_engine_daemon_settings"),
        ("docker_engine_user", "docker_engine_users"),
    ],
)
def test_typo_suggests_the_closest_variable(typo: str, suggested: str) -> None:
    problems = check(options("docker_engine"), {}, "docker_engine", [typo, "docker_engine_users"])
    assert problems == [
        f"{typo}: not a variable of aistack.deploy.docker_engine (did you mean {suggested}?);"
        " its variables are listed in its README and meta/argument_specs.yml"
    ]


def test_typo_far_from_anything_suggests_nothing() -> None:
    problems = unknown_variables("app_stack", ["app_stack_services"], ["app_stack_zzz_qqq", "app_stack_services"])
    assert problems == [
        "app_stack_zzz_qqq: not a variable of aistack.deploy.app_stack;"
        " its variables are listed in its README and meta/argument_specs.yml"
    ]


def test_other_prefixes_are_not_this_roles() -> None:
    assert unknown_variables("app_stack", [], ["app_stacked", "app_image_x", "__app_stack_x"]) == []


def test_aliases_are_known() -> None:
    spec = {"x_a": {"type": "str", "aliases": ["x_b"]}}
    assert check(spec, {"x_a": "1"}, "x", ["x_a", "x_b"]) == []


def test_choices_of_a_list_apply_to_each_element() -> None:
    spec = {"x_modes": {"type": "list", "elements": "str", "choices": ["a", "b"]}}
    assert check(spec, {"x_modes": ["a", "c"]}, "x") == ['x_modes[1]: "c" is not one of "a", "b"']


def test_int_choices_accept_the_command_line_string() -> None:
    spec = {"x_n": {"type": "int", "choices": [1, 2]}}
    assert check(spec, {"x_n": "2"}, "x") == []
    assert check(spec, {"x_n": True}, "x") == ["x_n: must be an integer, got bool true"]


def test_float_and_raw() -> None:
    spec = {"x_f": {"type": "float"}, "x_r": {"type": "raw"}}
    assert check(spec, {"x_f": "1.5e3", "x_r": object()}, "x") == []
    assert check(spec, {"x_f": "fast"}, "x") == ['x_f: must be a number, got string "fast"']


def test_problems_are_listed_once() -> None:
    problems = Problems()
    problems.add("a", "b")
    problems.add("a", "b")
    assert problems == ["a: b"]


def test_plain_and_show() -> None:
    assert plain(({"a": (1, 2)},)) == [{"a": [1, 2]}]
    assert show("x" * 100, 10) == '"xxxxxx...'


def test_filter_wrapper() -> None:
    assert FilterModule().filters()["role_input_problems"] is role_input_problems
    assert role_input_problems({"x_a": {"type": "int"}}, {"x_a": "z"}, "x", None) == [
        'x_a: must be an integer, got string "z"'
    ]
    with pytest.raises(AnsibleFilterError, match="expects the options"):
        role_input_problems(["x_a"], {}, "x")
    with pytest.raises(AnsibleFilterError, match="expects the variables' values"):
        role_input_problems({}, ["x"], "x")
