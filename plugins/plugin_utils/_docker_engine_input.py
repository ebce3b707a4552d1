# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The docker_engine role's checks of its input (private, not a public API).

A pure function of the role's variables and of what tasks/variables.yml read
off the host (platform, what its install sources bring, which users exist).
The daemon.json settings are checked by the same code the
docker_daemon_config module runs (module_utils/_daemon_config.py).
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping

from ansible_collections.aistack.deploy.plugins.module_utils._daemon_config import (
    DaemonConfigError,
    merge_config,
    split_key,
    validate_config,
)
from ansible_collections.aistack.deploy.plugins.plugin_utils._input import (
    FILE_PATH_RE,
    REPO_URL_RE,
    VERSION_RE,
    Problems,
    plain,
    show,
)

BINARY_URL_RE = re.compile(r"^(https?|ftp|file)://\S+$")
CHECKSUM_RE = re.compile(r"^(md5|sha1|sha224|sha256|sha384|sha512):\S+$")
CA_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# The docker systemd units start dockerd with -H fd://: daemon.json must not set these too.
DAEMON_FLAG_KEYS = ("hosts",)
CLI_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def _sources(v: Mapping[str, t.Any], host: Mapping[str, t.Any], problems: Problems) -> None:
    source = v["docker_engine_install_source"]
    if source == "distro" and not host.get("distro_supported"):
        problems.add(
            "docker_engine_install_source",
            f"'distro': {host.get('platform')} has no Docker Engine packages of its own; use docker_ce",
        )
    if not VERSION_RE.match(v["docker_engine_version"]):
        problems.add(
            "docker_engine_version",
            f"{show(v['docker_engine_version'])}: give a version or a prefix of one"
            ' (27.3.1, 27.3, 20.10.24), or "" for the newest',
        )
    if source == "docker_ce" and not REPO_URL_RE.match(v["docker_engine_docker_ce_url"]):
        problems.add(
            "docker_engine_docker_ce_url",
            f"{show(v['docker_engine_docker_ce_url'])}: must be an http://,"
            " https:// or file:// URL (the base that holds debian/, ubuntu/, rhel/ and centos/)",
        )
    if int(v["docker_engine_apt_cache_valid_time"]) < 0:
        problems.add(
            "docker_engine_apt_cache_valid_time",
            f"{v['docker_engine_apt_cache_valid_time']}: must be 0 or more seconds",
        )


def _compose(v: Mapping[str, t.Any], host: Mapping[str, t.Any], problems: Problems) -> None:
    src, url = v["docker_engine_compose_plugin_src"], v["docker_engine_compose_plugin_url"]
    checksum, dest = v["docker_engine_compose_plugin_checksum"], v["docker_engine_compose_plugin_dest"]
    if not src and not url and not host.get("compose_packages"):
        problems.add(
            "docker_engine_compose_plugin_src",
            f"{host.get('platform')} has no Compose v2 package from"
            f" docker_engine_install_source={v['docker_engine_install_source']}: set it (a docker-compose v2"
            " binary on the controller) or docker_engine_compose_plugin_url with its checksum",
        )
    if src and url:
        problems.add(
            "docker_engine_compose_plugin_src", "and docker_engine_compose_plugin_url are both set: give one of them"
        )
    if url and not BINARY_URL_RE.match(url):
        problems.add("docker_engine_compose_plugin_url", f"{show(url)}: needs an http(s)://, ftp:// or file:// URL")
    if url and not CHECKSUM_RE.match(checksum):
        problems.add(
            "docker_engine_compose_plugin_checksum",
            f"{show(checksum)}: give <algorithm>:<digest>"
            " (for example sha256:<hex>) for docker_engine_compose_plugin_url",
        )
    if src and not host.get("compose_plugin_src_exists"):
        problems.add("docker_engine_compose_plugin_src", f"{show(src)}: no such file on the controller")
    if (src or url) and (dest.rsplit("/", 1)[-1] != "docker-compose" or dest.rsplit("/", 1)[0] not in CLI_PLUGIN_DIRS):
        problems.add(
            "docker_engine_compose_plugin_dest",
            f"{show(dest)}: the docker CLI finds Compose only as docker-compose in {', '.join(CLI_PLUGIN_DIRS)}",
        )


def _daemon(v: Mapping[str, t.Any], problems: Problems) -> None:
    if not FILE_PATH_RE.match(v["docker_engine_daemon_config_path"]):
        problems.add(
            "docker_engine_daemon_config_path",
            f"{show(v['docker_engine_daemon_config_path'])}: must be an absolute file path",
        )
    merged: dict[str, t.Any] = {}
    for name in ("docker_engine_daemon_default_settings", "docker_engine_daemon_settings"):
        settings = v[name]
        clash = sorted(set(settings) & set(DAEMON_FLAG_KEYS))
        if clash:
            problems.add(
                name,
                f"sets {', '.join(clash)}: the docker systemd unit already passes it to dockerd"
                " (-H fd://), and dockerd refuses to start when a flag is set in both places;"
                " use a systemd drop-in for docker.service instead",
            )
        if v["docker_engine_daemon_validate"]:
            for error in validate_config(settings):
                problems.add(name, error)
        merged = merge_config(merged, settings)
    _remove_keys(v["docker_engine_daemon_remove_keys"], merged, problems)


def _remove_keys(paths: list[t.Any], merged: dict[str, t.Any], problems: Problems) -> None:
    for index, path in enumerate(paths):
        where = f"docker_engine_daemon_remove_keys[{index}]"
        try:
            parts = split_key(path)
        except DaemonConfigError:
            problems.add(where, f"{show(path)} is not a key path (write a/b/c)")
            continue
        node: t.Any = merged
        for part in parts:
            node = node.get(part, None) if isinstance(node, dict) else None
        if node is not None:
            problems.add(
                where,
                f"{show(path)} is set by docker_engine_daemon_settings or"
                " docker_engine_daemon_default_settings (it would change back and forth)",
            )


def _ca_certificates(certificates: list[t.Any], problems: Problems) -> None:
    for index, item in enumerate(certificates):
        where = f"docker_engine_extra_ca_certificates[{index}]"
        if not isinstance(item, Mapping):
            problems.add(where, f"must be a mapping with name and content, got {show(item)}")
            continue
        if not isinstance(item.get("name"), str) or not CA_NAME_RE.match(item["name"]):
            problems.add(f"{where}.name", f"{show(item.get('name'))}: letters, digits, '.', '_', '-'")
        content = item.get("content")
        if (
            not isinstance(content, str)
            or "-----BEGIN CERTIFICATE-----" not in content
            or "-----END CERTIFICATE-----" not in content
        ):
            problems.add(f"{where}.content", "must be a PEM certificate (-----BEGIN CERTIFICATE----- ...)")


def docker_engine_problems(variables: Mapping[str, t.Any], host: Mapping[str, t.Any]) -> list[str]:
    """Every problem of the docker_engine role's input that the types alone do not show.

    ``variables`` holds the role's variables (``docker_engine_*``, types
    already checked); ``host`` what the role read off the host and the
    controller: ``platform`` (a name for messages), ``supported``,
    ``distro_supported``, ``compose_packages`` (of the chosen install source),
    ``compose_plugin_src_exists`` and ``users`` (the names in passwd, or None
    when not looked up).
    """
    v, host = plain(variables), plain(host)
    problems = Problems()
    if not host.get("supported"):
        problems.add(
            "platform",
            f"aistack.deploy.docker_engine supports Debian 12/13, Ubuntu 22.04/24.04 and"
            f" Enterprise Linux 9 (and their successors); this host runs {host.get('platform')}",
        )
        return list(problems)
    _sources(v, host, problems)
    _compose(v, host, problems)
    _daemon(v, problems)
    _ca_certificates(v["docker_engine_extra_ca_certificates"], problems)
    users = host.get("users")
    if users is not None:
        for name in v["docker_engine_users"]:
            if name not in users:
                problems.add("docker_engine_users", f"no user {show(name)} on this host; create it first")
    return list(problems)
