# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The app_image role's checks of its input (private, not a public API)."""

from __future__ import annotations

import re
from collections.abc import Mapping
import typing as t

from ansible_collections.aistack.deploy.plugins.plugin_utils._input import Problems, plain, show

IMAGE_NAME_RE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# host[:port] then an optional path of lower-case components, as Docker's reference grammar has them.
REGISTRY_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")
BUILDS = ("build_host", "build_controller")


def _names(v: Mapping[str, t.Any], problems: Problems) -> None:
    if not IMAGE_NAME_RE.match(v["app_image_name"]):
        problems.add("app_image_name", f"{show(v['app_image_name'])}: must be a lower-case image repository"
                     " (letters, digits, '.', '_', '-', '/'), for example acme/api")
    release = str(v["app_image_release"])
    if not TAG_RE.match(release):
        problems.add("app_image_release", f"{show(release)}: must be a Docker tag (letters, digits, '.', '_', '-';"
                     " up to 128, not starting with '.' or '-')")


def _source(v: Mapping[str, t.Any], context_exists: t.Any, problems: Problems) -> None:
    source, src = v["app_image_source"], v["app_image_context_src"]
    if source in BUILDS and not src:
        problems.add("app_image_context_src", f"must name the application source on the controller when"
                     f" app_image_source is {source}")
    elif source in BUILDS and context_exists is False:
        problems.add("app_image_context_src", f"{show(src)}: no such directory on the controller")
    if source == "pull" and not v["app_image_registry"]:
        problems.add("app_image_registry", "must name a registry when app_image_source is pull")
    if v["app_image_push"] and source not in BUILDS:
        problems.add("app_image_push", f"pushes what a build made: it needs app_image_source build_host or"
                     f" build_controller (got {source})")
    if v["app_image_push"] and not v["app_image_registry"]:
        problems.add("app_image_push", "needs app_image_registry naming a registry")
    if int(v["app_image_keep_releases"]) < 2:
        problems.add("app_image_keep_releases", f"{v['app_image_keep_releases']}: must be 2 or more"
                     " (the current and the previous release)")


def dependency_files(variables: Mapping[str, t.Any]) -> dict[str, str]:
    """The requirement files a build reads, variable name to its path inside the context (those given only)."""
    targets = variables.get("app_image_targets") or ["api"]
    wanted = {"app_image_requirements_file": True, "app_image_gpu_requirements_file": True,
              "app_image_development_requirements_file": "development" in targets,
              "app_image_flower_requirements_file": "flower" in targets}
    return {name: variables[name] for name, used in wanted.items() if used and variables.get(name)}


def _dependencies(v: Mapping[str, t.Any], present: t.Any, problems: Problems) -> None:
    """Each requirement file a build reads: a relative path inside the context, and there (when present is known)."""
    if v["app_image_source"] not in BUILDS:
        return
    if not v["app_image_requirements_file"]:
        problems.add("app_image_requirements_file", "must name the requirements of every target, a file inside"
                     " app_image_context_src (for example requirements.txt)")
    for name, path in dependency_files(v).items():
        if path.startswith("/") or ".." in path.split("/"):
            problems.add(name, f"{show(path)}: must be a path inside app_image_context_src, without a leading '/'"
                         " or '..'")
        elif present is not None and path not in present:
            problems.add(name, f"{show(path)}: no such file in app_image_context_src"
                         f" ({show(v['app_image_context_src'])})")


def _health(v: Mapping[str, t.Any], problems: Problems) -> None:
    probed = {"api", "development"} & set(v.get("app_image_targets") or ["api"])
    path = v["app_image_health_path"]
    if v["app_image_healthcheck"] and probed and not str(path).startswith("/"):
        problems.add("app_image_health_path", f"{show(path)}: must be a URL path starting with '/' (for example"
                     " /health), which the probes of the api and development targets request")


def _registry(v: Mapping[str, t.Any], problems: Problems) -> None:
    registry = v["app_image_registry"]
    if registry and not REGISTRY_RE.match(registry):
        problems.add("app_image_registry", f"{show(registry)}: must be host[:port][/path] without a scheme or a"
                     " trailing slash (e.g. registry.example.com:5000/team)")
    user, password = v["app_image_registry_username"], v["app_image_registry_password"]
    if bool(user) != bool(password):
        problems.add("app_image_registry_username", "and app_image_registry_password go together: give both"
                     " or neither")
    if user and not registry:
        problems.add("app_image_registry_username", "needs app_image_registry")
    ca = v["app_image_registry_ca_certificate"]
    if ca and not registry:
        problems.add("app_image_registry_ca_certificate", "needs app_image_registry")
    if ca and "-----BEGIN CERTIFICATE-----" not in ca:
        problems.add("app_image_registry_ca_certificate", "must be a PEM certificate (-----BEGIN CERTIFICATE-----)")
    if ca and not v["app_image_registry_certs_dir"].startswith("/"):
        problems.add("app_image_registry_certs_dir", f"{show(v['app_image_registry_certs_dir'])}: must be an"
                     " absolute path")


def app_image_problems(variables: Mapping[str, t.Any], context_exists: t.Any = None,
                       present_files: t.Any = None) -> list[str]:
    """Problems of the app_image role's variables (types already checked).

    ``context_exists``: whether ``app_image_context_src`` is a directory on the
    controller (None: not looked at). ``present_files``: which of the paths
    ``dependency_files`` names are files in that directory (None: not looked at).
    """
    v = plain(variables)
    problems = Problems()
    _names(v, problems)
    _source(v, context_exists, problems)
    _dependencies(v, None if context_exists is False else present_files, problems)
    _health(v, problems)
    _registry(v, problems)
    return list(problems)
