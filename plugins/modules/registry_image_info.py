#!/usr/bin/python
# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_image_info
short_description: Ask a container registry whether it has image tags, without pulling them
version_added: 0.2.0
description:
  - Asks a registry's HTTP API (v2) for the manifest of each image tag (C(HEAD /v2/<repository>/manifests/<tag>)),
    from the host the module runs on, as a Docker engine's pull would. Nothing is pulled or stored; it needs no
    Docker engine, so it runs on a host that has none yet.
  - Authenticates as the engine does, with the given credentials, by C(Basic) or through the token service a
    C(Bearer) challenge names (Docker Hub, GHCR, GitLab, Harbor).
  - HTTPS first, trusting the system's certificate authorities, the given O(ca_certificates) and a C(ca.crt) under
    O(certs_dir)C(/<registry>/) (where Docker looks); plain HTTP only when O(insecure=true), as an engine does for
    a registry it takes as insecure.
  - Proxies come from the environment (C(https_proxy), C(http_proxy), C(no_proxy)), like the engine's.
  - app_image's pre-flight (site.yml's first play) uses it for O(aistack.deploy.app_image#role:main:app_image_source=pull).
author:
  - aistack.deploy developers (@aistack)
extends_documentation_fragment:
  - aistack.deploy.attributes
  - aistack.deploy.attributes.info_module
  - aistack.deploy.attributes.posix
options:
  images:
    description:
      - Image references with their registry, C(host[:port]/path/name:tag) (tag C(latest) when none).
    type: list
    elements: str
    required: true
  username:
    description: User name for the registry; with O(password).
    type: str
    default: ""
  password:
    description: Password or token for the registry; with O(username).
    type: str
    default: ""
  ca_certificates:
    description: PEM certificates of private certificate authorities to trust, besides the system's.
    type: list
    elements: str
    default: []
  certs_dir:
    description: Where Docker looks for a registry's C(ca.crt) (C(<certs_dir>/<host[:port]>/ca.crt)), read when present.
    type: path
    default: /etc/docker/certs.d
  insecure:
    description: Whether plain HTTP may be tried after HTTPS fails, as an engine does for an insecure registry.
    type: bool
    default: false
  timeout:
    description: Seconds one request may take.
    type: int
    default: 15
"""

EXAMPLES = r"""
---
- name: Ask whether the registry has the release's image
  aistack.deploy.registry_image_info:
    images: [registry.example.com:5000/team/app-api:1.4.0]
    username: deploy
    password: "{{ registry_password }}"
  register: registry_answers
"""

RETURN = r"""
images:
  description: One entry per image, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    image:
      description: The reference asked for.
      type: str
      sample: registry.example.com:5000/team/app-api:1.4.0
    found:
      description:
        - V(true) the registry has it; V(false) it answered that it has not (C(404)), or refused the credentials
          given; V(null) no answer that decides (unreachable, or credentials needed and none given).
      type: bool
      sample: true
    status:
      description: The last HTTP status; V(0) when no request got an answer.
      type: int
      sample: 200
    said:
      description: The registry's answer or the request's error, on one line (at most 300 characters).
      type: str
      sample: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
    url:
      description: The URL asked.
      type: str
      sample: https://registry.example.com:5000/v2/team/app-api/manifests/1.4.0
"""

import os
import ssl
import typing as t
import urllib.error
import urllib.request
from http.client import HTTPMessage

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.deploy.plugins.module_utils._registry import Response, ask, split_reference


class _KeepMethod(urllib.request.HTTPRedirectHandler):
    """Follow redirects (registries send blobs elsewhere) but keep the method: a HEAD stays a HEAD."""

    def redirect_request(
        self, req: urllib.request.Request, fp: t.IO[bytes], code: int, msg: str, headers: HTTPMessage, newurl: str
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.method = req.get_method()
        return new


def _opener(context: ssl.SSLContext, timeout: int) -> t.Callable[[str, str, t.Mapping[str, str]], Response]:
    handlers = [urllib.request.HTTPSHandler(context=context), _KeepMethod()]
    opener = urllib.request.build_opener(*handlers)

    def open_url(method: str, url: str, headers: t.Mapping[str, str]) -> Response:
        request = urllib.request.Request(url, method=method, headers=dict(headers))
        try:
            with opener.open(request, timeout=timeout) as response:
                body = response.read(4096).decode("utf-8", "replace") if method != "HEAD" else ""
                return Response(response.status, dict(response.headers.items()), body)
        except urllib.error.HTTPError as exc:
            body = exc.read(4096).decode("utf-8", "replace") if exc.fp else ""
            return Response(exc.code, dict(exc.headers.items()) if exc.headers else {}, body or str(exc.reason))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return Response(0, {}, f"{type(reason).__name__}: {reason}")

    return open_url


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "images": {"type": "list", "elements": "str", "required": True},
            "username": {"type": "str", "default": ""},
            "password": {"type": "str", "default": "", "no_log": True},
            "ca_certificates": {"type": "list", "elements": "str", "default": []},
            "certs_dir": {"type": "path", "default": "/etc/docker/certs.d"},
            "insecure": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 15},
        },
        required_together=[("username", "password")],
        supports_check_mode=True,
    )
    params = module.params
    results = []
    for reference in params["images"]:
        context = ssl.create_default_context()
        for pem in params["ca_certificates"]:
            try:
                context.load_verify_locations(cadata=pem)
            except (ssl.SSLError, ValueError) as exc:
                module.fail_json(msg=f"ca_certificates: not a PEM certificate ({exc})")
        docker_ca = os.path.join(params["certs_dir"], split_reference(reference)[0], "ca.crt")
        if os.path.isfile(docker_ca):
            try:
                context.load_verify_locations(cafile=docker_ca)
            except ssl.SSLError:
                pass  # not one the engine could use either
        results.append(
            ask(
                reference,
                _opener(context, params["timeout"]),
                params["username"],
                params["password"],
                params["insecure"],
            )
        )
    module.exit_json(changed=False, images=results)


if __name__ == "__main__":
    main()
