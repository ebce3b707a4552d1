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
DEPENDENCY_MODES = ("auto", "requirements", "uv", "pip")
# The files of a project whose dependencies pyproject.toml declares (uv: and its lock).
PROJECT_FILES = ("pyproject.toml", "uv.lock")
BUILD_SYSTEM_RE = re.compile(r"^\s*\[build-system\]\s*(#.*)?$", re.M)


def dependency_plan(variables: Mapping[str, t.Any], present_files: t.Any = None, pyproject: t.Any = "") -> dict[str, t.Any]:
    """How a build installs the app's dependencies, from the variables and the build context.

    ``present_files``: which of the requirement files and PROJECT_FILES are files in the context;
    ``pyproject``: the text of its pyproject.toml ("" when there is none). Returns ``mode``
    (requirements, uv or pip), ``install_project`` (the project itself goes into the virtualenv) and
    ``packaged`` (pyproject.toml has a [build-system] table).
    """
    present = set(present_files or [])
    setting = variables.get("app_image_dependencies") or "auto"
    requirements = variables.get("app_image_requirements_file") or ""
    if setting != "auto":
        mode = setting
    elif requirements and requirements in present:
        mode = "requirements"
    elif set(PROJECT_FILES) <= present:
        mode = "uv"
    elif "pyproject.toml" in present:
        mode = "pip"
    else:
        mode = "requirements"
    packaged = bool(BUILD_SYSTEM_RE.search(pyproject or ""))
    install = variables.get("app_image_install_project", "auto")
    if mode == "pip":
        install_project = True  # pip install . always installs the project
    elif install is True or install is False:
        install_project = install
    else:
        install_project = mode == "uv" and packaged
    return {"mode": mode, "install_project": install_project, "packaged": packaged}


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


def _project(v: Mapping[str, t.Any], present: t.Any, plan: Mapping[str, t.Any], problems: Problems) -> None:
    """The project files the chosen dependency source and project install need."""
    setting, context = v.get("app_image_dependencies", "auto"), show(v["app_image_context_src"])
    if setting not in DEPENDENCY_MODES:
        problems.add("app_image_dependencies", f"{show(setting)}: must be one of {', '.join(DEPENDENCY_MODES)}")
        return
    install = v.get("app_image_install_project", "auto")
    if install not in ("auto", True, False) or isinstance(install, int) and not isinstance(install, bool):
        problems.add("app_image_install_project", f"{show(install)}: must be auto, true or false")
        return
    needed = {"uv": list(PROJECT_FILES), "pip": ["pyproject.toml"]}.get(plan["mode"], [])
    if plan["install_project"] and "pyproject.toml" not in needed:
        needed.append("pyproject.toml")
    missing = [name for name in needed if present is not None and name not in present]
    if missing:
        variable = ("app_image_dependencies" if plan["mode"] in ("uv", "pip")
                    else "app_image_install_project")
        problems.add(variable, f"{show(v.get(variable))} needs {' and '.join(needed)} in app_image_context_src"
                     f" ({context}); missing: {', '.join(missing)}")
    if plan["mode"] == "pip" and install is False:
        problems.add("app_image_install_project", "false: app_image_dependencies pip installs the project itself"
                     " (pip install .); use uv (a uv.lock) or requirements to leave it out")


def _dependencies(v: Mapping[str, t.Any], present: t.Any, problems: Problems) -> None:
    """Each requirement file a build reads: a relative path inside the context, and there (when present is known)."""
    if v["app_image_source"] not in BUILDS:
        return
    plan = dependency_plan(v, present)
    _project(v, present, plan, problems)
    files = dependency_files(v)
    if plan["mode"] != "requirements":
        files.pop("app_image_requirements_file", None)
    elif not v["app_image_requirements_file"]:
        problems.add("app_image_requirements_file", "must name the requirements of every target, a file inside"
                     " app_image_context_src (for example requirements.txt), unless the project's pyproject.toml"
                     " declares them (app_image_dependencies)")
    for name, path in files.items():
        if path.startswith("/") or ".." in path.split("/"):
            problems.add(name, f"{show(path)}: must be a path inside app_image_context_src, without a leading '/'"
                         " or '..'")
        elif present is not None and path not in present:
            hint = (", and there is no pyproject.toml to take the dependencies from either"
                    if name == "app_image_requirements_file" and v.get("app_image_dependencies", "auto") == "auto"
                    else "")
            problems.add(name, f"{show(path)}: no such file in app_image_context_src ({show(v['app_image_context_src'])})"
                         + hint)


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
