# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""registry_image_info's logic: references, insecure registries, challenges, and the answers that decide."""

from __future__ import annotations

import json
import typing as t

import pytest

from ansible_collections.aistack.deploy.plugins.module_utils import _registry as r


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("127.0.0.1:5000/team/app-api:1.0", ("127.0.0.1:5000", "team/app-api", "1.0")),
        ("reg.example/aistack/app-api", ("reg.example", "aistack/app-api", "latest")),
        ("docker.io/redis:7", ("docker.io", "library/redis", "7")),
        ("ghcr.io/org/app-api:2.0", ("ghcr.io", "org/app-api", "2.0")),
    ],
)
def test_split_reference(reference: str, expected: tuple[str, str, str]) -> None:
    assert r.split_reference(reference) == expected


def test_api_host() -> None:
    assert r.api_host("docker.io") == "registry-1.docker.io" and r.api_host("ghcr.io") == "ghcr.io"


@pytest.mark.parametrize(
    "host, names, cidrs, expected",
    [
        ("127.0.0.1:5000", [], [], True),
        ("localhost:5000", [], [], True),
        ("[::1]:5000", [], [], True),
        ("10.0.0.5:5000", [], ["10.0.0.0/8"], True),
        ("10.0.0.5:5000", [], ["192.168.0.0/16", "bad"], False),
        ("reg.internal:5000", ["reg.internal:5000"], [], True),
        ("reg.internal:5000", ["reg.internal"], [], False),
        ("ghcr.io", [], ["0.0.0.0/0"], False),  # a name is matched by name only, as the engine does
    ],
)
def test_is_insecure(host: str, names: list[str], cidrs: list[str], expected: bool) -> None:
    assert r.is_insecure(host, names, cidrs) is expected


def test_parse_challenge_and_token_url() -> None:
    scheme, params = r.parse_challenge(
        'Bearer realm="https://auth.example/token",service="reg.example",scope="repository:team/app:pull"'
    )
    assert scheme == "bearer" and params["service"] == "reg.example"
    assert r.token_url(params, "team/app") == (
        "https://auth.example/token?service=reg.example&scope=repository%3Ateam%2Fapp%3Apull"
    )
    assert r.token_url({"realm": "https://a/t"}, "x/y") == "https://a/t?scope=repository%3Ax%2Fy%3Apull"


class Registry:
    """A fake registry: answers by (method, url) and records every request."""

    def __init__(self, answers: dict[tuple[str, str], t.Any]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str, dict[str, str]]] = []

    def __call__(self, method: str, url: str, headers: t.Mapping[str, str]) -> r.Response:
        self.asked.append((method, url, dict(headers)))
        answer = self.answers.get((method, url.split("?")[0]), r.Response(0, {}, "ConnectionRefusedError: refused"))
        return answer(headers) if callable(answer) else answer


URL = "https://reg.example/v2/team/app-api/manifests/1.0"
REF = "reg.example/team/app-api:1.0"


def test_found_and_missing() -> None:
    assert r.ask(REF, Registry({("HEAD", URL): r.Response(200, {}, "")}))["found"] is True
    missing = r.ask(REF, Registry({("HEAD", URL): r.Response(404, {}, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')}))
    assert (missing["found"], missing["status"], missing["url"]) == (False, 404, URL)
    assert "MANIFEST_UNKNOWN" in missing["said"]


def test_basic_auth_with_and_without_credentials() -> None:
    def head(headers: t.Mapping[str, str]) -> r.Response:
        if headers.get("Authorization") == r.basic("u", "p"):
            return r.Response(200, {}, "")
        return r.Response(401, {"Www-Authenticate": 'Basic realm="Registry"'}, "")

    assert r.ask(REF, Registry({("HEAD", URL): head}), "u", "p")["found"] is True
    assert r.ask(REF, Registry({("HEAD", URL): head}), "u", "wrong")["found"] is False
    # Without credentials a 401 decides nothing: the engine may hold a login of its own.
    assert r.ask(REF, Registry({("HEAD", URL): head}))["found"] is None


def test_bearer_token_flow() -> None:
    challenge = {"WWW-Authenticate": 'Bearer realm="https://auth.example/token",service="reg.example"'}

    def head(headers: t.Mapping[str, str]) -> r.Response:
        return r.Response(200 if headers.get("Authorization") == "Bearer T" else 401, challenge, "")

    def token(headers: t.Mapping[str, str]) -> r.Response:
        return r.Response(200, {}, json.dumps({"token": "T"}))

    registry = Registry({("HEAD", URL): head, ("GET", "https://auth.example/token"): token})
    assert r.ask(REF, registry)["found"] is True
    assert "scope=repository%3Ateam%2Fapp-api%3Apull" in registry.asked[1][1]
    refused = Registry({("HEAD", URL): head, ("GET", "https://auth.example/token"): r.Response(401, {}, "bad")})
    answer = r.ask(REF, refused, "u", "p")
    assert (answer["found"], answer["status"]) == (False, 401)


def test_unreachable_and_insecure_over_http() -> None:
    answer = r.ask(REF, Registry({}))
    assert (answer["found"], answer["status"]) == (None, 0) and "refused" in answer["said"]
    local = "127.0.0.1:5000/app-api:1.0"
    http = Registry({("HEAD", "http://127.0.0.1:5000/v2/app-api/manifests/1.0"): r.Response(404, {}, "unknown")})
    answer = r.ask(local, http, insecure=True)
    assert (answer["found"], answer["url"]) == (False, "http://127.0.0.1:5000/v2/app-api/manifests/1.0")
    assert [url for _method, url, _headers in http.asked][0].startswith("https://")
    # Not insecure: never plain HTTP.
    assert r.ask(local, http)["found"] is None and len(http.asked) == 3
