# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Documentation of the Docker Engine connection options.

They match plugins/module_utils/_docker_client.py:
- aistack.deploy.docker: the connection options (DOCKER_CONNECTION_ARGS).
- aistack.deploy.docker.api_timeout: `timeout` as the API request timeout
  (DOCKER_COMMON_ARGS adds it); wait_for_healthy documents its own (with the
  alias api_timeout), its wait is `wait_timeout`.
"""

from __future__ import annotations


class ModuleDocFragment:
    # The engine connection options, shared by every module that talks to Docker.
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The URL or Unix socket path of the Docker API, for example V(unix:///var/run/docker.sock)
        or V(tcp://192.0.2.23:2376). With TLS, C(tcp) is replaced by C(https).
      - If not set in the task, the environment variable E(DOCKER_HOST) is used, then the default.
    type: str
    default: unix:///var/run/docker.sock
    aliases:
      - docker_url
  tls_hostname:
    description:
      - The name the Docker host's TLS certificate is expected to carry.
      - If not set in the task, the environment variable E(DOCKER_TLS_HOSTNAME) is used.
      - Docker SDK for Python 7.0.0 and newer cannot check it; the module then warns and ignores it.
    type: str
  api_version:
    description:
      - The Docker API version to speak. V(auto) negotiates the newest version both sides support.
      - If not set in the task, the environment variable E(DOCKER_API_VERSION) is used, then the default.
    type: str
    default: auto
    aliases:
      - docker_api_version
  ca_path:
    description:
      - Path to the CA certificate used to verify the Docker host (with O(validate_certs=true)).
      - If not set and E(DOCKER_CERT_PATH) is, C(ca.pem) from that directory is used.
    type: path
    aliases:
      - ca_cert
      - tls_ca_cert
      - cacert_path
  client_cert:
    description:
      - Path to the client's TLS certificate.
      - If not set and E(DOCKER_CERT_PATH) is, C(cert.pem) from that directory is used.
    type: path
    aliases:
      - tls_client_cert
      - cert_path
  client_key:
    description:
      - Path to the client's TLS key.
      - If not set and E(DOCKER_CERT_PATH) is, C(key.pem) from that directory is used.
    type: path
    aliases:
      - tls_client_key
      - key_path
  tls:
    description:
      - Use TLS without verifying the Docker host. O(validate_certs=true) takes precedence.
      - Also enabled when the environment variable E(DOCKER_TLS) is set to a true value.
    type: bool
    default: false
  validate_certs:
    description:
      - Use TLS and verify the Docker host's certificate.
      - Also enabled when the environment variable E(DOCKER_TLS_VERIFY) is set to a true value.
    type: bool
    default: false
    aliases:
      - tls_verify
  use_ssh_client:
    description:
      - For an C(ssh://) O(docker_host), use the system's SSH client instead of paramiko.
    type: bool
    default: false
    version_added: 0.2.0
  debug:
    description:
      - Accepted so that C(module_defaults) shared with the community.docker modules serve these modules too
        (see the C(aistack.deploy.docker) action group); it changes nothing here.
    type: bool
    default: false
    version_added: 0.2.0
notes:
  - The connection options have the same names, aliases and environment variables as those of
    the community.docker modules. The action group C(aistack.deploy.docker) extends C(community.docker.docker), so
    C(module_defaults) for C(group/aistack.deploy.docker) serve this collection's modules and the community.docker
    ones alike (a C(group/community.docker.docker) entry does not reach this collection's modules).
requirements:
  - Docker SDK for Python (the C(docker) package on PyPI)
"""

    # The API request timeout (wait_for_healthy documents its own, with an alias).
    API_TIMEOUT = r"""
options:
  timeout:
    description:
      - The maximum time in seconds to wait for a response to one API request.
      - If not set in the task, the environment variable E(DOCKER_TIMEOUT) is used, then the default.
    type: int
    default: 60
"""
