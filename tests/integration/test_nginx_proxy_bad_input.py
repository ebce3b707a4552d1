"""aistack.deploy.nginx_proxy refuses bad input before it changes anything.

One ansible-playbook run covers every case (tests/harness/aistack_testlib/bad_input.py): each
case is an inventory host (connection local) with its own variables, each a
single change to a valid proxy (the ArgusAI seed's routes) in front of a
stack as app_stack describes it in its aistack_stack fact, with every path of
that stack in a temporary directory. The hosts in group `bad` run the whole
role, the hosts in group `good` only its argument validation and
tasks/validate.yml; both IN CHECK MODE.

For every bad case: the host fails in a validation task, its message names
the variable, and no earlier task reported a change. Certificates are real
(made here with the cryptography library): a key that belongs to another
certificate, an expired certificate, text that is no certificate at all. The
key's value never appears in Ansible's output.
"""

from __future__ import annotations

import copy
import datetime
import typing as t
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aistack_testlib.bad_input import (
    RunResult,
    assert_fails_in_validation,
    assert_passes_validation,
    assert_ran,
    inventory,
    local_host,
    role_tasks,
    run_playbook,
)

ROLE = "aistack.deploy.nginx_proxy"
LAST_VALIDATE_TASK = "validate_stack | Check the stack has a proxy service"


def _pem_pair(days: int = 30) -> tuple[str, str]:
    """A self-signed certificate and its key, valid from yesterday for ``days`` (negative: expired)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proxy.test.invalid")])
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(days=1 if days > 0 else 10)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


CERT, KEY = _pem_pair()
OTHER_CERT, OTHER_KEY = _pem_pair()
EXPIRED_CERT, EXPIRED_KEY = _pem_pair(days=-1)
KEYS = (KEY, OTHER_KEY, EXPIRED_KEY)

UPSTREAMS = {"api": {"host": "api", "port": 8000}, "frontend": {"host": "frontend", "port": 3000}}
ROUTES: list[dict[str, t.Any]] = [
    {"path": "/api/", "upstream": "api", "strip_prefix": True},
    {"path": "/ws", "upstream": "api", "websocket": True},
    {"path": "/docs", "upstream": "api"},
    {"path": "/", "upstream": "frontend"},
]
BASE: dict[str, t.Any] = {"nginx_proxy_upstreams": UPSTREAMS, "nginx_proxy_routes": ROUTES}


def routes(index: int, **changes: t.Any) -> dict[str, t.Any]:
    result = copy.deepcopy(ROUTES)
    result[index].update(changes)
    return {"nginx_proxy_routes": result}


class Case(t.NamedTuple):
    variables: dict[str, t.Any]
    names: str  # the variable (or its path) the failure message must name
    detail: str = ""


BAD_CASES: dict[str, Case] = {
    "route_path_relative": Case(routes(0, path="api/"), "nginx_proxy_routes[0].path", "must be a URL path"),
    "route_path_with_brace": Case(routes(1, path="/ws{"), "nginx_proxy_routes[1].path"),
    "route_unknown_upstream": Case(routes(3, upstream="web"), "nginx_proxy_routes[3].upstream", "'web'"),
    "route_duplicate": Case(
        {"nginx_proxy_routes": ROUTES + [{"path": "/ws", "upstream": "api"}]}, "nginx_proxy_routes[4].path", "already"
    ),
    "route_unknown_key": Case(routes(0, rewrite="^/api"), "nginx_proxy_routes[0]", "'rewrite'"),
    "route_timeout_malformed": Case(routes(1, read_timeout="an hour"), "nginx_proxy_routes[1].read_timeout"),
    "routes_empty": Case({"nginx_proxy_routes": []}, "nginx_proxy_routes"),
    "upstream_port_malformed": Case(
        {"nginx_proxy_upstreams": {**UPSTREAMS, "api": {"host": "api", "port": "http"}}},
        "nginx_proxy_upstreams.api.port",
    ),
    "upstream_host_injection": Case(
        {"nginx_proxy_upstreams": {**UPSTREAMS, "api": {"host": "api; return 200", "port": 8000}}},
        "nginx_proxy_upstreams.api.host",
    ),
    "tls_protocol_unknown": Case(
        {"nginx_proxy_tls_protocols": ["TLSv1.1", "TLSv1.2"]}, "nginx_proxy_tls_protocols", "TLSv1.1"
    ),
    "tls_ciphers_malformed": Case({"nginx_proxy_tls_ciphers": "HIGH; ssl_protocols SSLv3"}, "nginx_proxy_tls_ciphers"),
    "body_size_malformed": Case(
        {"nginx_proxy_client_max_body_size": "ten megabytes"}, "nginx_proxy_client_max_body_size"
    ),
    "header_name_malformed": Case(
        {"nginx_proxy_response_headers": {"X Frame": "DENY"}}, "nginx_proxy_response_headers"
    ),
    "proxy_header_owned_by_role": Case(
        {"nginx_proxy_proxy_headers": {"X-Forwarded-Proto": "http"}}, "nginx_proxy_proxy_headers.X-Forwarded-Proto"
    ),
    "extra_directive_multi_line": Case(
        {"nginx_proxy_extra_directives": ["gzip on;\n}"]}, "nginx_proxy_extra_directives"
    ),
    "websocket_switch_malformed": Case({"nginx_proxy_websocket": "maybe"}, "nginx_proxy_websocket"),
    "certificate_without_key": Case(
        {"nginx_proxy_tls_certificate": CERT}, "nginx_proxy_tls_certificate_key", "without its key"
    ),
    "key_without_certificate": Case(
        {"nginx_proxy_tls_certificate_key": KEY}, "nginx_proxy_tls_certificate", "without its certificate"
    ),
    "key_of_another_certificate": Case(
        {"nginx_proxy_tls_certificate": CERT, "nginx_proxy_tls_certificate_key": OTHER_KEY},
        "nginx_proxy_tls_certificate_key",
        "does not belong to the certificate",
    ),
    "certificate_not_pem": Case(
        {"nginx_proxy_tls_certificate": "-----BEGIN CERTIFICATE-----\nnope\n", "nginx_proxy_tls_certificate_key": KEY},
        "nginx_proxy_tls_certificate",
        "not a PEM certificate",
    ),
    "certificate_expired": Case(
        {"nginx_proxy_tls_certificate": EXPIRED_CERT, "nginx_proxy_tls_certificate_key": EXPIRED_KEY},
        "nginx_proxy_tls_certificate",
        "expired",
    ),
    "certificate_file_missing": Case(
        {"nginx_proxy_tls_certificate_file": "/nonexistent/aistack/server.crt", "nginx_proxy_tls_certificate_key": KEY},
        "nginx_proxy_tls_certificate_file",
        "not a readable file",
    ),
    "stack_without_proxy": Case(
        {"aistack_stack": {"name": "badinput", "root": "ROOT", "profiles": [], "proxy": {}}},
        "aistack_stack.proxy",
        "no proxy service",
    ),
}

GOOD_CASES: dict[str, Case] = {
    "argusai_routes": Case({}, ""),
    "role_defaults": Case(
        {
            "nginx_proxy_upstreams": {"api": {"host": "api", "port": 8000}},
            "nginx_proxy_routes": [{"path": "/", "upstream": "api"}],
        },
        "",
    ),
    "given_certificate_and_key": Case(
        {
            "nginx_proxy_tls_certificate": CERT,
            "nginx_proxy_tls_certificate_key": KEY,
            "nginx_proxy_tls_protocols": ["TLSv1.3"],
            "nginx_proxy_hsts": False,
        },
        "",
    ),
    "given_files": Case(
        {"nginx_proxy_tls_certificate_file": "CERT_FILE", "nginx_proxy_tls_certificate_key_file": "KEY_FILE"}, ""
    ),
}

PLAYBOOK = f"""
- name: Run nginx_proxy with bad and good input
  hosts: all
  gather_facts: false
  tasks:{role_tasks(ROLE)}"""


def _host_vars(host: str, case: Case, tmp: Path) -> dict[str, t.Any]:
    root = tmp / host / "root"
    variables = local_host(
        # The stack as app_stack hands it on; every path in the temporary directory.
        aistack_stack={
            "name": "badinput",
            "root": str(root),
            "profiles": [],
            "proxy": {
                "service": "nginx",
                "image": "aistack-test/nginx:1.26",
                "config_dir": str(tmp / host / "proxy"),
                "http_port": 80,
                "https_port": 443,
            },
        },
        nginx_proxy_pki_dir=str(root / "pki"),
        nginx_proxy_crypto_packages=[],
    )
    variables.update(copy.deepcopy(BASE))
    variables.update(copy.deepcopy(case.variables))
    if variables["aistack_stack"].get("root") == "ROOT":
        variables["aistack_stack"]["root"] = str(root)
    for key, value in (
        ("nginx_proxy_tls_certificate_file", tmp / "server.crt"),
        ("nginx_proxy_tls_certificate_key_file", tmp / "server.key"),
    ):
        if variables.get(key) in ("CERT_FILE", "KEY_FILE"):
            variables[key] = str(value)
    return variables


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    tmp = tmp_path_factory.mktemp("nginx_proxy_bad_input")
    (tmp / "server.crt").write_text(OTHER_CERT)
    (tmp / "server.key").write_text(OTHER_KEY)
    role_path = Path(__file__).resolve().parents[2] / "roles" / "nginx_proxy"
    hosts = inventory(
        bad={name: _host_vars(name, case, tmp) for name, case in BAD_CASES.items()},
        good={name: _host_vars(name, case, tmp) for name, case in GOOD_CASES.items()},
        all_vars={"test_role_path": str(role_path)},
    )
    result = run_playbook(tmp, hosts, PLAYBOOK)
    assert_ran(result, list(BAD_CASES) + list(GOOD_CASES))
    return result


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_fails_before_any_change(run: RunResult, case: str) -> None:
    expected = BAD_CASES[case]
    assert_fails_in_validation(run, case, expected.names, expected.detail)


@pytest.mark.parametrize("case", sorted(GOOD_CASES))
def test_good_input_passes_validation(run: RunResult, case: str) -> None:
    assert_passes_validation(run, case, LAST_VALIDATE_TASK)


def test_no_key_appears_in_the_output(run: RunResult) -> None:
    for key in KEYS:
        body = "".join(key.strip().splitlines()[1:-1])
        assert body[:40] not in run.output.replace("\\n", "")
