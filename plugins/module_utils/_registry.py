# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ask a registry whether it has an image's tag, as a Docker engine's pull would (module registry_image_info).

Private to this collection. The registry's HTTP API v2: ``HEAD /v2/<repository>/manifests/<tag>`` with the
manifest types an engine accepts; a 401 names how to authenticate (``Basic``, or ``Bearer`` with a token
service to ask first, as Docker Hub, GHCR, GitLab and Harbor do). HTTPS first, plain HTTP only for a registry
the engine takes as insecure (a loopback address, or one its daemon.json lists), as the engine does.
Pure helpers first; ``ask`` does the I/O through an ``open`` function given to it.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import typing as t
from urllib.parse import urlencode

# What an engine accepts when it pulls: an index (multi-platform) or a single manifest.
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)
# The engine's name for Docker Hub and the host its API answers on.
_HUB_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
_HUB_API = "registry-1.docker.io"
_PARAM = re.compile(r'(\w+)="([^"]*)"')


def split_reference(reference: str) -> tuple[str, str, str]:
    """(registry host[:port], repository, tag) of host[:port]/path/name:tag (tag "latest" when none)."""
    host, _sep, rest = reference.partition("/")
    name, tag = rest, "latest"
    if ":" in rest.rsplit("/", 1)[-1]:
        name, tag = rest.rsplit(":", 1)
    if host in _HUB_NAMES and "/" not in name:
        name = "library/" + name
    return host, name, tag


def api_host(host: str) -> str:
    """The host the registry's API answers on (Docker Hub's differs from its name)."""
    return _HUB_API if host in _HUB_NAMES else host


def is_insecure(host: str, names: t.Sequence[str] = (), cidrs: t.Sequence[str] = ()) -> bool:
    """Whether an engine would talk plain HTTP to this registry: loopback, or listed as insecure in its settings."""
    if host in names:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    for cidr in cidrs:
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """(scheme, parameters) of a WWW-Authenticate header: ("bearer", {"realm": ..., "service": ...})."""
    scheme, _sep, rest = (header or "").strip().partition(" ")
    return scheme.lower(), dict(_PARAM.findall(rest))


def token_url(params: t.Mapping[str, str], repository: str) -> str:
    """The token service's URL for pulling `repository`, from a Bearer challenge's parameters."""
    query = {key: params[key] for key in ("service",) if params.get(key)}
    query["scope"] = params.get("scope") or f"repository:{repository}:pull"
    return params.get("realm", "") + "?" + urlencode(query)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Response(t.NamedTuple):
    """What one request got: an HTTP status (0: none, the request itself failed), headers and body or error."""

    status: int
    headers: t.Mapping[str, str]
    body: str


Opener = t.Callable[[str, str, t.Mapping[str, str]], Response]


def ask(
    reference: str, open_url: Opener, username: str = "", password: str = "", insecure: bool = False
) -> dict[str, t.Any]:
    """Whether the registry has `reference`'s tag.

    Returns {image, found, status, said, url}: found True (it has it), False (it answered that it has not, or
    refused the credentials given), None (no answer that decides: unreachable, or credentials needed and none
    given). open_url(method, url, headers) -> Response never raises.
    """
    host, repository, tag = split_reference(reference)
    schemes = ["https", "http"] if insecure else ["https"]
    headers = {"Accept": ACCEPT}
    said = ""
    for scheme in schemes:
        url = f"{scheme}://{api_host(host)}/v2/{repository}/manifests/{tag}"
        answer = open_url("HEAD", url, headers)
        if answer.status == 0:
            said = answer.body
            continue  # unreachable this way; an insecure registry is tried over plain HTTP next
        if answer.status == 401:
            answer = _authenticate(answer, url, repository, headers, open_url, username, password)
        return _verdict(reference, url, answer, bool(username))
    return {
        "image": reference,
        "found": None,
        "status": 0,
        "said": said,
        "url": f"{schemes[-1]}://{api_host(host)}/v2/{repository}/manifests/{tag}",
    }


def _authenticate(
    answer: Response,
    url: str,
    repository: str,
    headers: t.Mapping[str, str],
    open_url: Opener,
    username: str,
    password: str,
) -> Response:
    challenge = {key.lower(): value for key, value in answer.headers.items()}.get("www-authenticate", "")
    scheme, params = parse_challenge(challenge)
    credentials = {"Authorization": basic(username, password)} if username else {}
    if scheme == "basic":
        return open_url("HEAD", url, {**headers, **credentials}) if credentials else answer
    if scheme != "bearer" or not params.get("realm"):
        return answer
    granted = open_url("GET", token_url(params, repository), credentials)
    if granted.status != 200:
        return Response(granted.status or answer.status, granted.headers, granted.body or answer.body)
    try:
        document = json.loads(granted.body or "{}")
    except ValueError:
        document = {}
    token = document.get("token") or document.get("access_token") if isinstance(document, dict) else None
    if not token:
        return answer
    return open_url("HEAD", url, {**headers, "Authorization": f"Bearer {token}"})


def _verdict(reference: str, url: str, answer: Response, with_credentials: bool) -> dict[str, t.Any]:
    found: bool | None
    if 200 <= answer.status < 300:
        found = True
    elif answer.status == 404:
        found = False
    elif answer.status in (401, 403):
        # With the credentials the pull would use, a refusal is the pull's refusal; without any, the engine may
        # hold a login of its own (docker login by hand): no answer that decides.
        found = False if with_credentials else None
    else:
        found = None
    said = " ".join((answer.body or "").split())[:300]
    return {"image": reference, "found": found, "status": answer.status, "said": said, "url": url}
