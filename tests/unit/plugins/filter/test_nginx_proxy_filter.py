# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for plugins/filter/nginx_proxy.py: the nginx_proxy role's model.

The input is the role's defaults as tasks/validate.yml hands them to the
filter, unless a test changes them.
"""

from __future__ import annotations

import copy
import typing as t
from pathlib import Path

import pytest
import yaml

from ansible_collections.aistack.deploy.plugins.filter.nginx_proxy import FilterModule, nginx_proxy_model

ROLE = Path(__file__).resolve().parents[4] / "roles" / "nginx_proxy"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
KEYS = (
    "upstreams",
    "routes",
    "server_names",
    "client_max_body_size",
    "timeouts",
    "proxy_headers",
    "response_headers",
    "websocket",
    "extra_directives",
    "tls_protocols",
    "tls_ciphers",
    "hsts",
    "hsts_max_age",
    "hsts_include_subdomains",
)
ARGUSAI_ROUTES = [
    {"path": "/api/", "upstream": "api", "strip_prefix": True},
    {"path": "/ws", "upstream": "api", "websocket": True, "read_timeout": "1h"},
    {"path": "/docs", "upstream": "api"},
    {"path": "/", "upstream": "frontend", "client_max_body_size": "50m"},
]


def spec(**changes: t.Any) -> dict[str, t.Any]:
    base = {key: copy.deepcopy(DEFAULTS[f"nginx_proxy_{key}"]) for key in KEYS}
    base.update(
        {
            "https_port": 443,
            "certificate_given": False,
            "key_given": False,
            "certificate_file": {"path": "", "exists": False},
            "key_file": {"path": "", "exists": False},
        }
    )
    base.update(changes)
    return base


def model_of(**changes: t.Any) -> dict[str, t.Any]:
    model = nginx_proxy_model(spec(**changes))
    assert model["problems"] == []
    return model


def problems_of(**changes: t.Any) -> list[str]:
    return nginx_proxy_model(spec(**changes))["problems"]


def test_the_defaults_are_a_valid_model() -> None:
    model = model_of()
    assert model["upstreams"] == {
        "api": {
            "host": "api",
            "port": 8000,
            "scheme": "http",
            "variable": "aistack_upstream_api",
            "target_variable": "aistack_target_api",
        }
    }
    assert [r["path"] for r in model["routes"]] == ["/"]
    assert model["tls_protocols"] == ["TLSv1.2", "TLSv1.3"]
    assert model["hsts"] == "max-age=63072000"
    assert model["websocket_map"] is False
    assert model["user_certificate"] is False
    assert ["X-Frame-Options", '"SAMEORIGIN"'] in model["response_headers"]


def test_the_argusai_routes() -> None:
    model = model_of(
        upstreams={"api": {"host": "api", "port": 8000}, "frontend": {"host": "frontend", "port": 3000}},
        routes=copy.deepcopy(ARGUSAI_ROUTES),
    )
    routes = {r["path"]: r for r in model["routes"]}
    # Longest first; nginx matches the longest prefix anyway.
    assert [r["path"] for r in model["routes"]] == ["/api/", "/docs", "/ws", "/"]
    assert routes["/api/"]["strip_prefix"] and routes["/api/"]["strip_regex"] == "^/api/?(.*)$"
    assert routes["/ws"]["websocket"] and routes["/ws"]["read_timeout"] == "1h"
    assert routes["/"]["upstream"] == "frontend" and routes["/"]["client_max_body_size"] == "50m"
    assert model["websocket_map"] is True


def test_exact_routes_come_first_and_may_share_a_path_with_a_prefix_route() -> None:
    model = model_of(
        routes=[
            {"path": "/", "upstream": "api"},
            {"path": "/health", "upstream": "api", "match": "exact"},
            {"path": "/health", "upstream": "api"},
        ]
    )
    expected = [("exact", "/health"), ("prefix", "/health"), ("prefix", "/")]
    assert [(r["match"], r["path"]) for r in model["routes"]] == expected


def test_websocket_map_can_be_forced_on() -> None:
    assert model_of(websocket=True)["websocket_map"] is True


def test_headers_are_quoted_for_nginx() -> None:
    model = model_of(
        proxy_headers={"X-App": 'say "hi" \\ bye'},
        routes=[{"path": "/", "upstream": "api", "proxy_headers": {"X-Route": 3}}],
    )
    assert model["proxy_headers"] == [["X-App", '"say \\"hi\\" \\\\ bye"']]
    assert model["routes"][0]["proxy_headers"] == [["X-Route", '"3"']]


def test_extra_directives_get_their_semicolon() -> None:
    model = model_of(extra_directives=["add_header X-Extra 1", "gzip on;", "location /x { return 204; }"])
    assert model["extra_directives"] == ["add_header X-Extra 1;", "gzip on;", "location /x { return 204; }"]


def test_hsts_variants() -> None:
    assert model_of(hsts=False)["hsts"] == ""
    assert model_of(hsts_max_age=300, hsts_include_subdomains=True)["hsts"] == "max-age=300; includeSubDomains"


def test_a_given_certificate_and_key() -> None:
    assert model_of(certificate_given=True, key_given=True)["user_certificate"] is True


def test_only_tls_1_3() -> None:
    assert model_of(tls_protocols=["TLSv1.3"])["tls_protocols"] == ["TLSv1.3"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"routes": [{"path": "api", "upstream": "api"}]}, "nginx_proxy_routes[0].path: must be a URL path"),
        ({"routes": [{"path": "/a b", "upstream": "api"}]}, "nginx_proxy_routes[0].path: must be a URL path"),
        ({"routes": [{"path": "/a;b", "upstream": "api"}]}, "nginx_proxy_routes[0].path: must be a URL path"),
        ({"routes": [{"path": "/a{b}", "upstream": "api"}]}, "nginx_proxy_routes[0].path: must be a URL path"),
        ({"routes": [{"path": "/x/../etc", "upstream": "api"}]}, "nginx_proxy_routes[0].path: must be a URL path"),
        (
            {"routes": [{"path": "/", "upstream": "nowhere"}]},
            "nginx_proxy_routes[0].upstream: 'nowhere' is not in nginx_proxy_upstreams (known: api)",
        ),
        (
            {"routes": [{"path": "/", "upstream": "api"}, {"path": "/", "upstream": "api"}]},
            "nginx_proxy_routes[1].path: prefix route '/' is already nginx_proxy_routes[0]",
        ),
        (
            {"routes": [{"path": "/", "upstream": "api", "match": "regex"}]},
            "nginx_proxy_routes[0].match: must be prefix or exact",
        ),
        (
            {"routes": [{"path": "/", "upstream": "api", "strip_prefix": True}]},
            "nginx_proxy_routes[0].strip_prefix: needs a prefix route other than /",
        ),
        (
            {"routes": [{"path": "/", "upstream": "api", "websocket": "yes"}]},
            "nginx_proxy_routes[0].websocket: must be true or false",
        ),
        (
            {"routes": [{"path": "/", "upstream": "api", "timeout": "5s"}]},
            "nginx_proxy_routes[0]: unknown key 'timeout'",
        ),
        (
            {"routes": [{"path": "/", "upstream": "api", "read_timeout": "soon"}]},
            "nginx_proxy_routes[0].read_timeout: must be a time",
        ),
        (
            {"routes": [{"path": "/", "upstream": "api", "client_max_body_size": "big"}]},
            "nginx_proxy_routes[0].client_max_body_size: must be a size",
        ),
        (
            {"routes": [{"path": "/", "upstream": "api", "proxy_headers": {"Host": "x"}}]},
            "nginx_proxy_routes[0].proxy_headers.Host: is set by the role itself",
        ),
        ({"routes": []}, "nginx_proxy_routes: must be a list of at least one route"),
        ({"routes": ["/"]}, "nginx_proxy_routes[0]: must be a dict with path and upstream"),
        ({"upstreams": {}}, "nginx_proxy_upstreams: must name at least one upstream"),
        (
            {"upstreams": {"api": {"host": "api", "port": 70000}}},
            "nginx_proxy_upstreams.api.port: must be a port number",
        ),
        (
            {"upstreams": {"api": {"host": "api;evil", "port": 80}}},
            "nginx_proxy_upstreams.api.host: must be a host name",
        ),
        (
            {"upstreams": {"api": {"host": "api", "port": 80, "scheme": "ftp"}}},
            "nginx_proxy_upstreams.api.scheme: must be http or https",
        ),
        (
            {"upstreams": {"api": {"host": "api", "port": 80, "weight": 2}}},
            "nginx_proxy_upstreams.api: unknown key 'weight'",
        ),
        (
            {"upstreams": {"a pi": {"host": "api", "port": 80}}},
            "nginx_proxy_upstreams: 'a pi' is not a valid upstream name",
        ),
        (
            {"tls_protocols": ["TLSv1.1", "TLSv1.2"]},
            "nginx_proxy_tls_protocols: unknown or insecure protocol 'TLSv1.1'",
        ),
        ({"tls_protocols": ["SSLv3"]}, "nginx_proxy_tls_protocols: unknown or insecure protocol 'SSLv3'"),
        ({"tls_protocols": []}, "nginx_proxy_tls_protocols: must be a non-empty list"),
        ({"tls_ciphers": "AES; include /etc/passwd"}, "nginx_proxy_tls_ciphers: must be an OpenSSL cipher list"),
        ({"client_max_body_size": "10 MB"}, "nginx_proxy_client_max_body_size: must be a size"),
        ({"timeouts": {"connect": "0s", "read": "60s", "send": "60s"}}, "nginx_proxy_timeouts.connect: must be a time"),
        ({"timeouts": {"connect": "5s", "idle": "60s"}}, "nginx_proxy_timeouts: unknown key 'idle'"),
        ({"proxy_headers": {"X-Bad": "a\nb"}}, "nginx_proxy_proxy_headers.X-Bad: must be a one-line string or number"),
        (
            {"response_headers": {"Bad Header": "x"}},
            "nginx_proxy_response_headers: 'Bad Header' is not a valid header name",
        ),
        (
            {"response_headers": {"Strict-Transport-Security": "max-age=1"}},
            "nginx_proxy_response_headers.Strict-Transport-Security: is set by the role itself",
        ),
        ({"server_names": ["exa mple.com"]}, "nginx_proxy_server_names: must be a list of server names"),
        ({"server_names": []}, "nginx_proxy_server_names: must be a list of server names"),
        ({"hsts": "yes"}, "nginx_proxy_hsts: must be true or false"),
        ({"hsts_max_age": "a year"}, "nginx_proxy_hsts_max_age: must be a number of seconds"),
        (
            {"extra_directives": ["gzip on;\nserver_tokens on;"]},
            "nginx_proxy_extra_directives: must be a list of one-line",
        ),
        ({"extra_directives": "gzip on;"}, "nginx_proxy_extra_directives: must be a list of one-line"),
        ({"https_port": 0}, "nginx_proxy_https_port: must be a port number"),
        ({"websocket": "sometimes"}, "nginx_proxy_websocket: must be auto, true or false"),
        (
            {"websocket": False, "routes": [{"path": "/ws", "upstream": "api", "websocket": True}]},
            "nginx_proxy_websocket: is false but a route sets websocket: true",
        ),
        ({"certificate_given": True}, "nginx_proxy_tls_certificate_key: a certificate is given without its key"),
        ({"key_given": True}, "nginx_proxy_tls_certificate: a key is given without its certificate"),
        (
            {
                "certificate_given": True,
                "key_given": True,
                "certificate_file": {"path": "/no/cert.pem", "exists": False},
            },
            "nginx_proxy_tls_certificate_file: '/no/cert.pem' is not a readable file on the controller",
        ),
    ],
)
def test_bad_input_names_the_variable(changes: dict[str, t.Any], expected: str) -> None:
    problems = problems_of(**changes)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(routes=[{"path": "x", "upstream": "nowhere"}], tls_protocols=["TLSv1"], hsts="on")
    assert len(problems) == 4


def test_not_a_dict_is_all_problems_not_a_crash() -> None:
    assert nginx_proxy_model(None)["problems"]


def test_filter_module_exports_the_model() -> None:
    assert FilterModule().filters() == {"nginx_proxy_model": nginx_proxy_model}
