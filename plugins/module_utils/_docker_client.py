# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared access to a Docker Engine through the Docker SDK for Python.

Private to this collection: the leading underscore means no compatibility
promise to anyone importing it from outside. The options are documented by
the doc fragment aistack.deploy.docker (plugins/doc_fragments/docker.py).
"""

from __future__ import annotations

import inspect
import os
import traceback
import typing as t

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

DOCKER_IMPORT_ERROR: str | None
try:
    import docker  # pylint: disable=unused-import
    from docker.errors import DockerException  # pylint: disable=unused-import

    DOCKER_IMPORT_ERROR = None
except ImportError:
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):  # type: ignore[no-redef]
        """Stand-in so that `except DockerException` works without the SDK."""


DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

# The engine connection options without the API request timeout (documented by
# the doc fragment aistack.deploy.docker).
DOCKER_CONNECTION_ARGS: dict[str, dict[str, t.Any]] = {
    "docker_host": {
        "type": "str",
        "default": DEFAULT_DOCKER_HOST,
        "aliases": ["docker_url"],
        "fallback": (env_fallback, ["DOCKER_HOST"]),
    },
    "tls_hostname": {"type": "str", "fallback": (env_fallback, ["DOCKER_TLS_HOSTNAME"])},
    "api_version": {
        "type": "str",
        "default": "auto",
        "aliases": ["docker_api_version"],
        "fallback": (env_fallback, ["DOCKER_API_VERSION"]),
    },
    "ca_path": {"type": "path", "aliases": ["ca_cert", "tls_ca_cert", "cacert_path"]},
    "client_cert": {"type": "path", "aliases": ["tls_client_cert", "cert_path"]},
    "client_key": {"type": "path", "aliases": ["tls_client_key", "key_path"]},
    "tls": {"type": "bool", "default": False},
    "validate_certs": {"type": "bool", "default": False, "aliases": ["tls_verify"]},
    "use_ssh_client": {"type": "bool", "default": False},
    # Accepted so that community.docker's module_defaults serve these modules too; no effect here.
    "debug": {"type": "bool", "default": False},
}

# The engine connection options, shared by every module of the collection that
# talks to Docker. Same names and environment fallbacks as community.docker, so
# users can reuse their module_defaults (doc fragment aistack.deploy.docker).
DOCKER_COMMON_ARGS: dict[str, dict[str, t.Any]] = dict(
    DOCKER_CONNECTION_ARGS,
    timeout={"type": "int", "default": 60, "fallback": (env_fallback, ["DOCKER_TIMEOUT"])},
)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "False")


def client_kwargs(params: dict[str, t.Any], api_timeout_key: str = "timeout") -> dict[str, t.Any]:
    """Translate module parameters into keyword arguments for docker.DockerClient.

    api_timeout_key names the parameter holding the API request timeout.
    """
    kwargs: dict[str, t.Any] = {
        "base_url": params.get("docker_host") or DEFAULT_DOCKER_HOST,
        "version": params.get("api_version") or "auto",
        "timeout": params.get(api_timeout_key) or 60,
    }
    if params.get("use_ssh_client"):
        kwargs["use_ssh_client"] = True
    tls = params.get("tls") or _env_flag("DOCKER_TLS")
    verify = params.get("validate_certs") or _env_flag("DOCKER_TLS_VERIFY")
    cert_dir = os.environ.get("DOCKER_CERT_PATH")
    ca_path = params.get("ca_path") or (cert_dir and os.path.join(cert_dir, "ca.pem"))
    client_cert = params.get("client_cert") or (cert_dir and os.path.join(cert_dir, "cert.pem"))
    client_key = params.get("client_key") or (cert_dir and os.path.join(cert_dir, "key.pem"))
    if tls or verify:
        from docker.tls import TLSConfig  # pylint: disable=import-outside-toplevel

        tls_kwargs: dict[str, t.Any] = {"verify": ca_path if verify and ca_path else verify}
        if client_cert and client_key:
            tls_kwargs["client_cert"] = (client_cert, client_key)
        if params.get("tls_hostname") and tls_hostname_supported():
            tls_kwargs["assert_hostname"] = params["tls_hostname"]
        kwargs["tls"] = TLSConfig(**tls_kwargs)
    return kwargs


def tls_hostname_supported() -> bool:
    """Docker SDK for Python 7 dropped TLSConfig(assert_hostname=...)."""
    from docker.tls import TLSConfig  # pylint: disable=import-outside-toplevel

    return "assert_hostname" in inspect.signature(TLSConfig.__init__).parameters


def get_client(module: AnsibleModule, api_timeout_key: str = "timeout") -> t.Any:
    """Return a connected docker.DockerClient or fail the module clearly."""
    if DOCKER_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    if module.params.get("tls_hostname") and not tls_hostname_supported():
        module.warn("tls_hostname is ignored: Docker SDK for Python 7.0.0 and newer cannot check it.")
    try:
        client = docker.DockerClient(**client_kwargs(module.params, api_timeout_key))
        client.ping()
    except DockerException as exc:
        module.fail_json(
            msg=f"Cannot reach the Docker Engine at {module.params.get('docker_host')}: {exc}",
            exception=traceback.format_exc(),
        )
    return client
