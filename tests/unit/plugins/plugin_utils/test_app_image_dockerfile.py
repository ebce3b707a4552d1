# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""app_image with the app's own Dockerfile: reading its ARG and FROM lines, the build plan, the checks of the image."""

from __future__ import annotations

import typing as t

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.deploy.plugins.filter.app_image import FilterModule
from ansible_collections.aistack.deploy.plugins.plugin_utils._app_image_input import (
    built_image_problems,
    dockerfile_args,
    dockerfile_instructions,
    dockerfile_plan,
    dockerfile_stages,
    masked_credentials,
)

FILTERS = FilterModule().filters()


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("FROM python:3.13-slim\nARG PIP_INDEX_URL\n", ["PIP_INDEX_URL"]),
        (
            "ARG BASE=python:3.13\nFROM ${BASE}\nARG PIP_INDEX_URL=https://pypi.invalid/simple\n",
            ["BASE", "PIP_INDEX_URL"],
        ),
        # Several per line, quoted defaults, lower-case instruction, a repeat counted once.
        ('arg A=1 B C="x y"\nARG A\n', ["A", "B", "C"]),
        # Line continuations, with a comment and a blank line inside.
        ("ARG A \\\n  # the index\n\n  PIP_EXTRA_INDEX_URL\n", ["A", "PIP_EXTRA_INDEX_URL"]),
        # The escape parser directive: a backtick continues the line, a backslash does not.
        ("# escape=`\nFROM x\nARG A `\n  UV_INDEX\nARG WIN=C:\\\nARG LAST\n", ["A", "UV_INDEX", "WIN", "LAST"]),
        # Not an ARG: in a comment, in a RUN, as an ENV.
        ("# ARG HIDDEN\nRUN echo ARG NOPE\nENV ARG=1\n", []),
        # An unbalanced quote still names the argument (Docker itself would refuse the file).
        ('ARG A="open\n', ["A"]),
        ("", []),
    ],
)
def test_dockerfile_args(text: str, args: list[str]) -> None:
    assert dockerfile_args(text) == args


def test_a_directive_after_the_first_line_is_a_comment() -> None:
    # Parser directives only count before any other line: here the backslash still continues.
    text = "FROM x\n# escape=`\nARG A \\\n  B\n"
    assert dockerfile_instructions(text) == [("FROM", "x"), ("ARG", "A  B")]
    assert dockerfile_args(text) == ["A", "B"]


@pytest.mark.parametrize(
    ("text", "stages"),
    [
        ("FROM python:3.13 AS Base\nFROM base as api\nFROM api\n", ["base", "api"]),
        ("FROM --platform=$BUILDPLATFORM python:3.13 AS build\n", ["build"]),
        ("FROM python:3.13\n", []),
    ],
)
def test_dockerfile_stages(text: str, stages: list[str]) -> None:
    assert dockerfile_stages(text) == stages


EXTRA = ["https://a.invalid", "https://b.invalid"]
VARS = {
    "app_image_dockerfile": "project",
    "app_image_targets": ["api", "worker"],
    "app_image_build_args": {},
    "app_image_pip_index_url": "https://index.invalid/simple",
    "app_image_pip_extra_index_urls": EXTRA,
    "app_image_pip_trusted_hosts": [],
    "app_image_extra_ca_certificates": [],
    "app_image_ca_certificates_dir": "aistack-ca-certificates",
}
DOCKERFILE = """FROM python:3.13-slim AS base
ARG PIP_INDEX_URL PIP_TRUSTED_HOST UV_INDEX AISTACK_CA_CERTIFICATES_DIR APP_ENV
FROM base AS API
"""


@pytest.mark.parametrize(
    ("changed", "plan"),
    [
        # Only what the Dockerfile declares and the role has a value for; the user's build arguments over them.
        (
            {},
            {
                "path": "Dockerfile",
                "targets": {"api": "api", "worker": ""},
                "build_args": {"PIP_INDEX_URL": "https://index.invalid/simple", "UV_INDEX": " ".join(EXTRA)},
            },
        ),
        (
            {
                "app_image_build_args": {"PIP_INDEX_URL": "https://mine.invalid/simple", "APP_ENV": "staging"},
                "app_image_dockerfile": "docker/Dockerfile",
            },
            {
                "path": "docker/Dockerfile",
                "targets": {"api": "api", "worker": ""},
                "build_args": {
                    "PIP_INDEX_URL": "https://mine.invalid/simple",
                    "UV_INDEX": " ".join(EXTRA),
                    "APP_ENV": "staging",
                },
            },
        ),
        # The CA directory only when there are certificates to put there; trusted hosts joined by spaces.
        (
            {
                "app_image_pip_index_url": "",
                "app_image_pip_extra_index_urls": [],
                "app_image_pip_trusted_hosts": ["a", "b"],
                "app_image_extra_ca_certificates": [{"name": "corp", "content": "PEM"}],
            },
            {
                "path": "Dockerfile",
                "targets": {"api": "api", "worker": ""},
                "build_args": {"PIP_TRUSTED_HOST": "a b", "AISTACK_CA_CERTIFICATES_DIR": "aistack-ca-certificates"},
            },
        ),
        # generated: app_image_build_args alone, each target its own stage, whatever the text.
        (
            {"app_image_dockerfile": "generated", "app_image_build_args": {"APP_ENV": "staging"}},
            {"path": "", "build_args": {"APP_ENV": "staging"}, "targets": {"api": "api", "worker": "worker"}},
        ),
    ],
)
def test_dockerfile_plan(changed: dict[str, t.Any], plan: dict[str, t.Any]) -> None:
    found = dockerfile_plan({**VARS, **changed}, DOCKERFILE)
    assert {key: found[key] for key in plan} == plan


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://user:s3cret@index.invalid/simple", "https://user:***@index.invalid/simple"),
        ("https://tok3n@index.invalid:8443/simple", "https://***@index.invalid:8443/simple"),  # a token as the user
        ("https://user:@index.invalid/simple", "https://user:***@index.invalid/simple"),
        ("https://index.invalid/simple", ""),
        ("not a url", ""),
        ("http://[::1/simple", ""),  # urlsplit refuses it
    ],
)
def test_masked_credentials(url: str, masked: str) -> None:
    assert masked_credentials(url) == masked


@pytest.mark.parametrize(
    ("changed", "found"),
    [
        # The role's index with credentials, declared by the app's Dockerfile: refused, the password never shown.
        (
            {"app_image_pip_index_url": "https://ci:s3cret@index.invalid/simple"},
            [
                "app_image_pip_index_url: https://ci:***@index.invalid/simple carries credentials, and the app's Dockerfile"
                ' (Dockerfile, app_image_dockerfile="project") declares ARG PIP_INDEX_URL'
            ],
        ),
        (
            {"app_image_pip_extra_index_urls": ["https://a.invalid", "https://t0ken@b.invalid/simple"]},
            [
                "app_image_pip_extra_index_urls: https://***@b.invalid/simple carries credentials",
            ],
        ),
        # A build argument of the user's the Dockerfile declares.
        (
            {"app_image_build_args": {"APP_ENV": "https://u:p@x.invalid"}},
            ["app_image_build_args.APP_ENV: https://u:***@x.invalid carries credentials"],
        ),
        # Not declared by the Dockerfile: it reaches no stage.
        ({"app_image_build_args": {"OTHER": "https://u:p@x.invalid"}}, []),
        # The user's own PIP_INDEX_URL replaces the role's: only it is looked at.
        (
            {
                "app_image_pip_index_url": "https://ci:s3cret@index.invalid/simple",
                "app_image_build_args": {"PIP_INDEX_URL": "https://index.invalid/simple"},
            },
            [],
        ),
        # The generated Dockerfile declares the index arguments in its builder stages only.
        (
            {"app_image_dockerfile": "generated", "app_image_pip_index_url": "https://ci:s3cret@index.invalid/simple"},
            [],
        ),
        ({}, []),
    ],
)
def test_credentials_in_build_arguments_are_refused(changed: dict[str, t.Any], found: list[str]) -> None:
    problems = dockerfile_plan({**VARS, **changed}, DOCKERFILE)["problems"]
    assert len(problems) == len(found), problems
    for problem, text in zip(problems, found, strict=True):
        assert text in problem and "s3cret" not in problem and "t0ken" not in problem


def result(target: str, uid: t.Any, healthcheck: t.Any) -> dict[str, t.Any]:
    """An image_user_info loop result over a docker_image_info loop result."""
    return {"uid": uid, "item": {"item": target, "images": [{"Config": {"Healthcheck": healthcheck}}]}}


CHECKED = {
    "app_image_name": "acme/api",
    "app_image_release": "1.0",
    "app_image_dockerfile": "project",
    "app_image_dockerfile_checks": ["non_root", "healthcheck"],
}
PROBE = {"Test": ["CMD", "python", "-c", "pass"], "Interval": 2000000000}


@pytest.mark.parametrize(
    ("changed", "results", "found"),
    [
        ({}, [result("api", 10001, PROBE)], []),
        ({}, [result("api", 0, PROBE)], ['acme/api-api:1.0 (built from app_image_dockerfile="project") runs as root']),
        (
            {},
            [result("api", 10001, None)],
            [
                'acme/api-api:1.0 (built from app_image_dockerfile="project") has no '
                "HEALTHCHECK, so app_stack's health gate has nothing to wait on"
            ],
        ),
        ({}, [result("worker", 10001, {"Test": ["NONE"]})], ["acme/api-worker:1.0 (built from"]),  # HEALTHCHECK NONE
        ({}, [result("api", 0, None)], ["runs as root", "has no HEALTHCHECK"]),
        ({"app_image_dockerfile_checks": ["non_root"]}, [result("api", 10001, None)], []),
        ({"app_image_dockerfile_checks": []}, [result("api", 0, None)], []),
        ({}, [], []),  # check mode: nothing built yet, nothing to check
    ],
)
def test_built_image_problems(changed: dict[str, t.Any], results: list[t.Any], found: list[str]) -> None:
    problems = built_image_problems({**CHECKED, **changed}, results)
    assert len(problems) == len(found), problems
    for problem, text in zip(problems, found, strict=True):
        assert text in problem
    for problem in problems:
        assert "app_image_dockerfile_checks" in problem


def test_filters_wrap_the_rules() -> None:
    assert FILTERS["app_image_dockerfile_plan"](VARS, DOCKERFILE)["targets"] == {"api": "api", "worker": ""}
    assert FILTERS["app_image_built_problems"](CHECKED, [result("api", 10001, PROBE)]) == []
    with pytest.raises(AnsibleFilterError, match="the role's variables"):
        FILTERS["app_image_dockerfile_plan"]([], "")
    with pytest.raises(AnsibleFilterError, match="image_user_info loop"):
        FILTERS["app_image_built_problems"](CHECKED, {"results": []})
