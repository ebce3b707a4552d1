# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The nginx_proxy role's data model, checked and normalized (private, not a public API).

``nginx_proxy_model`` takes the role's variables (upstreams, routes, limits,
timeouts, headers, TLS settings and whether a certificate and key were given)
and returns the normalized model the nginx.conf template renders, plus every
problem it found, each naming the variable. The template renders only a model
without problems, so a value that would break nginx's syntax (a quote, a
brace, a newline) never reaches a host; what only nginx can judge (an extra
directive) is proven with ``nginx -t`` before it goes live.
Pure functions over plain data, used by the filter in plugins/filter/nginx_proxy.py.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping

from ansible_collections.aistack.deploy.plugins.plugin_utils._input import Problems, plain
from ansible_collections.aistack.deploy.plugins.plugin_utils._switch import target_variable

UPSTREAM_KEYS = frozenset({"host", "port", "scheme"})
ROUTE_KEYS = frozenset(
    {
        "path",
        "upstream",
        "match",
        "strip_prefix",
        "websocket",
        "client_max_body_size",
        "read_timeout",
        "send_timeout",
        "proxy_headers",
    }
)
TLS_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
# A compose service's name (app_stack's rule): the hosts targets.conf may redirect to one release's containers.
SERVICE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
HOST_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$|^\[[0-9A-Fa-f:.]+\]$")
PATH_RE = re.compile(r"^/[A-Za-z0-9._~!&()*+,=:@%/-]*$")
SIZE_RE = re.compile(r"^[0-9]+[kKmMgG]?$")
TIME_RE = re.compile(r"^[0-9]+(ms|s|m|h|d)?$")
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
SERVER_NAME_RE = re.compile(r"^(_|\*?\.?[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*\.?|~[^\s;{}\"'\\]+)$")
CIPHERS_RE = re.compile(r"^[A-Za-z0-9_:+!@=.-]+$")
# Headers the role sets itself on every proxied request.
OWN_PROXY_HEADERS = frozenset(
    {"host", "x-real-ip", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "upgrade", "connection"}
)


def _quotable(value: t.Any) -> bool:
    """A value that can sit inside nginx's double quotes: one line, no NUL."""
    return (
        isinstance(value, (str, int, float))
        and not isinstance(value, bool)
        and not any(char in str(value) for char in "\n\r\0")
    )


def _quote(value: t.Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _port(value: t.Any) -> t.TypeGuard[int | str]:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 0 < value < 65536
        or isinstance(value, str)
        and value.isdigit()
        and 0 < int(value) < 65536
    )


def _headers(value: t.Any, where: str, problems: Problems, own: frozenset[str] = frozenset()) -> list[list[str]]:
    """name -> value dict of header lines; [[name, quoted value]]; a problem for every bad entry."""
    if value in (None, {}):
        return []
    if not isinstance(value, dict):
        problems.add(where, "must be a dict of header names to values")
        return []
    out = []
    for name, text in value.items():
        if not isinstance(name, str) or not HEADER_NAME_RE.match(name):
            problems.add(where, f"{name!r} is not a valid header name (letters, digits, '-')")
        elif name.lower() in own:
            problems.add(
                f"{where}.{name}", "is set by the role itself (Host, X-Forwarded-*, X-Real-IP, Upgrade, Connection)"
            )
        elif not _quotable(text):
            problems.add(f"{where}.{name}", "must be a one-line string or number")
        else:
            out.append([name, _quote(text)])
    return out


def _size(value: t.Any, where: str, problems: Problems) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str) or not SIZE_RE.match(value):
        problems.add(where, f"must be a size such as 10m, 512k or 0 for no limit (got {value!r})")
        return "1m"
    return value


def _time(value: t.Any, where: str, problems: Problems) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return f"{value}s"
    if not isinstance(value, str) or not TIME_RE.match(value) or not re.match(r"^0*[1-9]", value):
        problems.add(where, f"must be a time such as 60s, 500ms or 5m (got {value!r})")
        return "60s"
    return value


def nginx_proxy_model(spec: t.Any) -> dict[str, t.Any]:
    """Check the nginx_proxy role's variables and return the model nginx.conf renders.

    ``spec`` keys: upstreams, routes, server_names, client_max_body_size, timeouts (connect, read, send),
    proxy_headers, response_headers, hsts, hsts_max_age, hsts_include_subdomains, tls_protocols, tls_ciphers,
    extra_directives, https_port, websocket, certificate_given, key_given, certificate_file, key_file
    (each file: {path, exists}).
    """
    problems = Problems()
    spec = plain(spec) if isinstance(spec, Mapping) else {}
    upstreams, upstreams_in = _upstreams(spec, problems)
    routes = _routes(spec, upstreams, upstreams_in, problems)
    names = _server_names(spec, problems)
    timeouts = _timeouts(spec, problems)
    protocols, ciphers = _tls(spec, problems)
    hsts, max_age, subdomains = _hsts(spec, problems)
    extra = _extra_directives(spec, problems)
    https_port = spec.get("https_port")
    if not _port(https_port):
        problems.add("nginx_proxy_https_port", f"must be a port number 1-65535 (got {https_port!r})")
        https_port = 443
    websocket = _websocket(spec, routes, problems)
    user_certificate = _tls_material(spec, problems)
    return {
        "upstreams": upstreams,
        "routes": routes,
        "server_names": names,
        "client_max_body_size": _size(spec.get("client_max_body_size"), "nginx_proxy_client_max_body_size", problems),
        "timeouts": timeouts,
        "proxy_headers": _headers(spec.get("proxy_headers"), "nginx_proxy_proxy_headers", problems, OWN_PROXY_HEADERS),
        "response_headers": _headers(
            spec.get("response_headers"),
            "nginx_proxy_response_headers",
            problems,
            frozenset({"strict-transport-security"}),
        ),
        "hsts": f"max-age={int(max_age)}{'; includeSubDomains' if subdomains is True else ''}" if hsts is True else "",
        "tls_protocols": [p for p in TLS_PROTOCOLS if p in protocols],
        "tls_ciphers": ciphers if isinstance(ciphers, str) else "",
        "extra_directives": [d.strip().rstrip(";") + ";" if not d.strip().endswith("}") else d.strip() for d in extra],
        "https_port": int(https_port),
        "websocket_map": websocket is True or (websocket == "auto" and any(r["websocket"] for r in routes)),
        "user_certificate": user_certificate,
        "problems": list(problems),
    }


def _upstreams(spec: dict[str, t.Any], problems: Problems) -> tuple[dict[str, dict[str, t.Any]], dict[t.Any, t.Any]]:
    """nginx_proxy_upstreams, each checked and normalized; also the input itself ({} when it is no dict)."""
    upstreams_in = spec.get("upstreams")
    upstreams: dict[str, dict[str, t.Any]] = {}
    if not isinstance(upstreams_in, dict) or not upstreams_in:
        problems.add("nginx_proxy_upstreams", "must name at least one upstream: name -> {host, port}")
        upstreams_in = {}
    for name, uspec in upstreams_in.items():
        upstream = _upstream(name, uspec, problems)
        if upstream is not None:
            upstreams[name] = upstream
    return upstreams, upstreams_in


def _upstream(name: t.Any, uspec: t.Any, problems: Problems) -> dict[str, t.Any] | None:
    """One upstream: host, port and scheme, and the variables nginx.conf names it by; None when unusable."""
    where = f"nginx_proxy_upstreams.{name}"
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.add("nginx_proxy_upstreams", f"{name!r} is not a valid upstream name (letters, digits, '-', '_')")
        return None
    if not isinstance(uspec, dict):
        problems.add(where, "must be a dict with host and port")
        return None
    for key in sorted(set(uspec) - UPSTREAM_KEYS):
        problems.add(where, f"unknown key {key!r} (known: {', '.join(sorted(UPSTREAM_KEYS))})")
    host, port, scheme = uspec.get("host"), uspec.get("port"), uspec.get("scheme", "http")
    if not isinstance(host, str) or not HOST_RE.match(host):
        problems.add(f"{where}.host", f"must be a host name (a compose service) or an address (got {host!r})")
    if not _port(port):
        problems.add(f"{where}.port", f"must be a port number 1-65535 (got {port!r})")
    if scheme not in ("http", "https"):
        problems.add(f"{where}.scheme", f"must be http or https (got {scheme!r})")
    return {
        "host": host,
        "port": int(port) if _port(port) else 0,
        "scheme": scheme,
        "variable": "aistack_upstream_" + name.replace("-", "_"),
        # A compose service: app_stack's targets.conf may name the release that serves it.
        "target_variable": target_variable(host) if isinstance(host, str) and SERVICE_RE.match(host) else "",
    }


def _routes(
    spec: dict[str, t.Any], upstreams: dict[str, dict[str, t.Any]], upstreams_in: dict[t.Any, t.Any], problems: Problems
) -> list[dict[str, t.Any]]:
    """nginx_proxy_routes, each checked and normalized, exact routes first, then the longest prefix first."""
    routes_in = spec.get("routes")
    routes: list[dict[str, t.Any]] = []
    if not isinstance(routes_in, list) or not routes_in:
        problems.add("nginx_proxy_routes", "must be a list of at least one route: {path, upstream}")
        routes_in = []
    seen: dict[tuple[str, str], int] = {}
    for index, rspec in enumerate(routes_in):
        route = _route(index, rspec, upstreams, upstreams_in, seen, problems)
        if route is not None:
            routes.append(route)
    # Longest prefix first reads best; nginx picks the longest match anyway.
    routes.sort(key=lambda r: (r["match"] != "exact", -len(r["path"]), r["path"]))
    return routes


def _route(
    index: int,
    rspec: t.Any,
    upstreams: dict[str, dict[str, t.Any]],
    upstreams_in: dict[t.Any, t.Any],
    seen: dict[tuple[str, str], int],
    problems: Problems,
) -> dict[str, t.Any] | None:
    """One route: its path and match (each once, recorded in ``seen``), upstream, flags and limits."""
    where = f"nginx_proxy_routes[{index}]"
    if not isinstance(rspec, dict):
        problems.add(where, "must be a dict with path and upstream")
        return None
    for key in sorted(set(rspec) - ROUTE_KEYS):
        problems.add(where, f"unknown key {key!r} (known: {', '.join(sorted(ROUTE_KEYS))})")
    path, upstream = rspec.get("path"), rspec.get("upstream")
    match = rspec.get("match", "prefix")
    if not isinstance(path, str) or not PATH_RE.match(path) or "//" in path or "/../" in path + "/":
        problems.add(
            f"{where}.path", f"must be a URL path starting with / without spaces, quotes, braces or ';' (got {path!r})"
        )
        path = "/"
    if match not in ("prefix", "exact"):
        problems.add(f"{where}.match", f"must be prefix or exact (got {match!r})")
        match = "prefix"
    key = (match, path)
    if key in seen:
        problems.add(f"{where}.path", f"{match} route {path!r} is already nginx_proxy_routes[{seen[key]}]")
    seen.setdefault(key, index)
    if upstream not in upstreams:
        known = ", ".join(sorted(upstreams)) or "none"
        if isinstance(upstream, str) and upstream in upstreams_in:
            pass  # the upstream itself is broken: reported above
        else:
            problems.add(f"{where}.upstream", f"{upstream!r} is not in nginx_proxy_upstreams (known: {known})")
    flags = _route_flags(rspec, where, match, path, problems)
    return {
        "path": path,
        "match": match,
        "upstream": upstream if isinstance(upstream, str) else "",
        "strip_prefix": flags["strip_prefix"],
        # The prefix and what follows it, for `rewrite <regex> /$1`.
        "strip_regex": "^" + re.escape(path.rstrip("/")) + "/?(.*)$",
        "websocket": flags["websocket"],
        "client_max_body_size": _size(rspec["client_max_body_size"], f"{where}.client_max_body_size", problems)
        if "client_max_body_size" in rspec
        else "",
        "read_timeout": _time(rspec["read_timeout"], f"{where}.read_timeout", problems)
        if "read_timeout" in rspec
        else "",
        "send_timeout": _time(rspec["send_timeout"], f"{where}.send_timeout", problems)
        if "send_timeout" in rspec
        else "",
        "proxy_headers": _headers(rspec.get("proxy_headers"), f"{where}.proxy_headers", problems, OWN_PROXY_HEADERS),
    }


def _route_flags(rspec: dict[str, t.Any], where: str, match: str, path: str, problems: Problems) -> dict[str, bool]:
    """A route's strip_prefix and websocket (false when wrong); strip_prefix only on a prefix route other than /."""
    flags = {}
    for flag in ("strip_prefix", "websocket"):
        flags[flag] = rspec.get(flag, False)
        if not isinstance(flags[flag], bool):
            problems.add(f"{where}.{flag}", "must be true or false")
            flags[flag] = False
    if flags["strip_prefix"] and (match == "exact" or path == "/"):
        problems.add(f"{where}.strip_prefix", "needs a prefix route other than /")
        flags["strip_prefix"] = False
    return flags


def _server_names(spec: dict[str, t.Any], problems: Problems) -> list[str]:
    """nginx_proxy_server_names (['_'] when wrong)."""
    names = spec.get("server_names")
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and SERVER_NAME_RE.match(n) for n in names)
    ):
        problems.add(
            "nginx_proxy_server_names",
            f"must be a list of server names such as example.com, *.example.com or _ (got {names!r})",
        )
        names = ["_"]
    return names


def _timeouts(spec: dict[str, t.Any], problems: Problems) -> dict[str, str]:
    """nginx_proxy_timeouts: connect, read and send, each a time (its default when unset)."""
    timeouts = spec.get("timeouts")
    if not isinstance(timeouts, dict):
        problems.add("nginx_proxy_timeouts", "must be a dict with connect, read and send")
        timeouts = {}
    for key in sorted(set(timeouts) - {"connect", "read", "send"}):
        problems.add("nginx_proxy_timeouts", f"unknown key {key!r} (known: connect, read, send)")
    return {
        key: _time(timeouts.get(key, default), f"nginx_proxy_timeouts.{key}", problems)
        for key, default in (("connect", "5s"), ("read", "60s"), ("send", "60s"))
    }


def _tls(spec: dict[str, t.Any], problems: Problems) -> tuple[list[t.Any], t.Any]:
    """nginx_proxy_tls_protocols (all allowed ones when not a list) and nginx_proxy_tls_ciphers, as given."""
    protocols = spec.get("tls_protocols")
    if not isinstance(protocols, list) or not protocols:
        problems.add("nginx_proxy_tls_protocols", f"must be a non-empty list of {' and '.join(TLS_PROTOCOLS)}")
        protocols = list(TLS_PROTOCOLS)
    for protocol in protocols:
        if protocol not in TLS_PROTOCOLS:
            problems.add(
                "nginx_proxy_tls_protocols",
                f"unknown or insecure protocol {protocol!r} (allowed: {', '.join(TLS_PROTOCOLS)})",
            )
    ciphers = spec.get("tls_ciphers")
    if not isinstance(ciphers, str) or not CIPHERS_RE.match(ciphers):
        problems.add(
            "nginx_proxy_tls_ciphers",
            f"must be an OpenSSL cipher list such as ECDHE-ECDSA-AES128-GCM-SHA256:... (got {ciphers!r})",
        )
    return protocols, ciphers


def _hsts(spec: dict[str, t.Any], problems: Problems) -> tuple[t.Any, t.Any, t.Any]:
    """nginx_proxy_hsts, _hsts_max_age (0 when wrong) and _hsts_include_subdomains, as given."""
    hsts = spec.get("hsts")
    if not isinstance(hsts, bool):
        problems.add("nginx_proxy_hsts", "must be true or false")
    max_age = spec.get("hsts_max_age")
    if not (
        isinstance(max_age, int)
        and not isinstance(max_age, bool)
        and max_age >= 0
        or isinstance(max_age, str)
        and max_age.isdigit()
    ):
        problems.add("nginx_proxy_hsts_max_age", f"must be a number of seconds (got {max_age!r})")
        max_age = 0
    subdomains = spec.get("hsts_include_subdomains")
    if not isinstance(subdomains, bool):
        problems.add("nginx_proxy_hsts_include_subdomains", "must be true or false")
    return hsts, max_age, subdomains


def _extra_directives(spec: dict[str, t.Any], problems: Problems) -> list[str]:
    """nginx_proxy_extra_directives: one-line directives ([] when wrong)."""
    extra = spec.get("extra_directives")
    if not isinstance(extra, list) or not all(
        isinstance(d, str) and "\n" not in d and "\r" not in d and d.strip() for d in extra
    ):
        problems.add("nginx_proxy_extra_directives", "must be a list of one-line nginx directives")
        extra = []
    return extra


def _websocket(spec: dict[str, t.Any], routes: list[dict[str, t.Any]], problems: Problems) -> t.Any:
    """nginx_proxy_websocket: auto (when wrong), true or false; false only where no route sets websocket."""
    websocket = spec.get("websocket")
    if websocket not in ("auto", True, False):
        problems.add("nginx_proxy_websocket", f"must be auto, true or false (got {websocket!r})")
        websocket = "auto"
    if websocket is False and any(r["websocket"] for r in routes):
        problems.add("nginx_proxy_websocket", "is false but a route sets websocket: true")
    return websocket


def _tls_material(spec: dict[str, t.Any], problems: Problems) -> bool:
    """Whether the user gave a certificate and its key (else one is generated on the host); a problem for half a pair."""
    cert_given, key_given = bool(spec.get("certificate_given")), bool(spec.get("key_given"))
    for variable, file in (
        ("nginx_proxy_tls_certificate_file", spec.get("certificate_file")),
        ("nginx_proxy_tls_certificate_key_file", spec.get("key_file")),
    ):
        if isinstance(file, dict) and file.get("path") and not file.get("exists"):
            problems.add(variable, f"{file['path']!r} is not a readable file on the controller")
    if cert_given and not key_given:
        problems.add(
            "nginx_proxy_tls_certificate_key",
            "a certificate is given without its key (set nginx_proxy_tls_certificate_key or _key_file)",
        )
    if key_given and not cert_given:
        problems.add(
            "nginx_proxy_tls_certificate",
            "a key is given without its certificate (set nginx_proxy_tls_certificate or _file)",
        )
    return cert_given and key_given
