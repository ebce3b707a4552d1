# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The app_image role's checks of its input (private, not a public API)."""

from __future__ import annotations

import re
import shlex
import typing as t
from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible_collections.aistack.deploy.plugins.plugin_utils._input import Problems, plain, show

IMAGE_NAME_RE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# host[:port] then an optional path of lower-case components, as Docker's reference grammar has them.
REGISTRY_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")
BUILDS = ("build_host", "build_controller")
DEPENDENCY_MODES = ("auto", "requirements", "uv", "poetry", "pdm", "pip")
# The lock file each locking tool writes beside pyproject.toml, in the order auto looks for them.
LOCK_FILES = {"uv": "uv.lock", "poetry": "poetry.lock", "pdm": "pdm.lock"}
BUILD_SYSTEM_RE = re.compile(r"^\s*\[build-system\]\s*(#.*)?$", re.M)
# A TOML table header ([name] or [[name]]), and the settings that say a project is no package although it may
# have a [build-system]: table -> key whose value false says so (Poetry's package-mode, PDM's distribution).
TABLE_RE = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
NOT_A_PACKAGE = {"tool.poetry": "package-mode", "tool.pdm": "distribution"}
# app_image_dockerfile: the role's own Dockerfile, the app's Dockerfile at the context root, or a path in the context.
DOCKERFILE_MODES = ("generated", "project")
# What the generated Dockerfile guarantees and an app's own image is checked for after the build.
DOCKERFILE_CHECKS = ("non_root", "healthcheck")
# The build arguments the role passes to an app's own Dockerfile, each only where the Dockerfile declares it
# (an ARG line) and the role has a value for it: argument name -> its variable (a list joined by spaces).
PLUMBING_ARGS = {
    "PIP_INDEX_URL": "app_image_pip_index_url",
    "PIP_EXTRA_INDEX_URL": "app_image_pip_extra_index_urls",
    "PIP_TRUSTED_HOST": "app_image_pip_trusted_hosts",
    "UV_DEFAULT_INDEX": "app_image_pip_index_url",
    "UV_INDEX": "app_image_pip_extra_index_urls",
    "UV_INSECURE_HOST": "app_image_pip_trusted_hosts",
    "AISTACK_CA_CERTIFICATES_DIR": "app_image_ca_certificates_dir",
}
DIRECTIVE_RE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(\S*)\s*$")


def _no_package(pyproject: str) -> bool:
    """Whether pyproject.toml says the project is no package (Poetry's package-mode, PDM's distribution = false)."""
    table = ""
    for line in pyproject.splitlines():
        header = TABLE_RE.match(line)
        if header:
            table = header.group(1).replace('"', "").replace(" ", "")
            continue
        key = NOT_A_PACKAGE.get(table)
        if key and re.match(rf"^\s*{re.escape(key)}\s*=\s*false\s*(#.*)?$", line):
            return True
    return False


def present_locks(present_files: t.Any) -> list[str]:
    """The lock files of LOCK_FILES that are in the context, in the order auto looks for them."""
    present = set(present_files or [])
    return [lock for lock in LOCK_FILES.values() if lock in present]


def dependency_plan(
    variables: Mapping[str, t.Any], present_files: t.Any = None, pyproject: t.Any = ""
) -> dict[str, t.Any]:
    """How a build installs the app's dependencies, from the variables and the build context.

    ``present_files``: which of the requirement files, pyproject.toml and the LOCK_FILES are files in the
    context; ``pyproject``: the text of its pyproject.toml ("" when there is none). Returns ``mode``
    (requirements, uv, poetry, pdm or pip), ``install_project`` (the project itself goes into the virtualenv)
    and ``packaged`` (pyproject.toml has a [build-system] table, and does not say the project is no package).
    With auto and several lock files, the first of LOCK_FILES' order; the input check refuses that case.
    """
    present = set(present_files or [])
    setting = variables.get("app_image_dependencies") or "auto"
    requirements = variables.get("app_image_requirements_file") or ""
    locks = [mode for mode, lock in LOCK_FILES.items() if lock in present]
    if setting != "auto":
        mode = setting
    elif requirements and requirements in present:
        mode = "requirements"
    elif "pyproject.toml" in present and locks:
        mode = locks[0]
    elif "pyproject.toml" in present:
        mode = "pip"
    else:
        mode = "requirements"
    packaged = bool(BUILD_SYSTEM_RE.search(pyproject or "")) and not _no_package(pyproject or "")
    install = variables.get("app_image_install_project", "auto")
    if mode == "pip":
        install_project = True  # pip install . always installs the project
    elif install is True or install is False:
        install_project = install
    else:
        install_project = mode in LOCK_FILES and packaged
    return {"mode": mode, "install_project": install_project, "packaged": packaged}


def dockerfile_path(variables: Mapping[str, t.Any]) -> str:
    """The Dockerfile a build uses, as a path inside the context; "" for the generated one."""
    setting = variables.get("app_image_dockerfile") or "generated"
    if setting == "generated":
        return ""
    return "Dockerfile" if setting == "project" else str(setting)


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction of a Dockerfile, line continuations joined, comments left out.

    Follows the Dockerfile reference: an ``# escape=`` parser directive (backslash or backtick) on the first
    lines, comment lines and blank lines (also inside a continued instruction).
    """
    escape = "\\"
    lines = (text or "").splitlines()
    for line in lines:  # parser directives: only on the first lines, before any comment, blank or instruction
        match = DIRECTIVE_RE.match(line)
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
    found: list[tuple[str, str]] = []
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith(escape):
            current.append(stripped[:-1])
            continue
        current.append(stripped)
        instruction = " ".join(part for part in current if part).strip()
        current = []
        if instruction:
            word, _sep, rest = instruction.partition(" ")
            found.append((word.upper(), rest.strip()))
    if current:
        word, _sep, rest = " ".join(part for part in current if part).strip().partition(" ")
        if word:
            found.append((word.upper(), rest.strip()))
    return found


def _words(arguments: str) -> list[str]:
    try:
        return shlex.split(arguments, comments=False, posix=True)
    except ValueError:  # an unbalanced quote: Docker would refuse the file; the names still read
        return arguments.split()


def dockerfile_args(text: str) -> list[str]:
    """The names of the build arguments a Dockerfile declares (``ARG NAME``, ``ARG NAME=default``, several
    per line), in the order first declared."""
    names: list[str] = []
    for instruction, arguments in dockerfile_instructions(text):
        if instruction != "ARG":
            continue
        for word in _words(arguments):
            name = word.split("=", 1)[0]
            if name and name not in names:
                names.append(name)
    return names


def dockerfile_stages(text: str) -> list[str]:
    """The stage names of a Dockerfile (``FROM <image> AS <name>``), lower-case as Docker compares them."""
    stages = []
    for instruction, arguments in dockerfile_instructions(text):
        words = [word for word in _words(arguments) if not word.startswith("--")]
        if instruction == "FROM" and len(words) == 3 and words[1].lower() == "as":
            stages.append(words[2].lower())
    return stages


def _joined(value: t.Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(item) for item in value if item)
    return str(value or "")


def masked_credentials(url: str) -> str:
    """``url`` with its password (or a token given as the user) replaced by ``***``; "" when it carries none."""
    try:
        parts = urlsplit(url)
        user, password, host = parts.username, parts.password, parts.hostname
    except ValueError:
        return ""
    if not user and password is None:
        return ""
    shown = f"{user}:***" if password is not None else "***"
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{shown}@{host or ''}{port}").geturl()


def _credential_problems(
    v: Mapping[str, t.Any], path: str, plumbing: Mapping[str, str], user_args: Mapping[str, t.Any]
) -> list[str]:
    """Build arguments of the app's own Dockerfile that would carry a URL's credentials into an image's history.

    ``plumbing``: the role's arguments the Dockerfile declares; ``user_args``: those of app_image_build_args it
    declares. (The generated Dockerfile declares the package index arguments in its builder stages only, never
    in a target image, and no other.)
    """
    where = f"the app's Dockerfile ({path}, app_image_dockerfile={show(v.get('app_image_dockerfile'))})"
    why = (
        "the classic builder the role uses records build arguments in the history of every image whose stage"
        " declares them, where anyone who can pull the image reads them"
    )
    problems = []
    for name, variable in PLUMBING_ARGS.items():
        value = v.get(variable)
        if name not in plumbing or name in user_args:
            continue
        for url in value if isinstance(value, list) else [value]:
            masked = masked_credentials(str(url or ""))
            if masked:
                problems.append(
                    f"{variable}: {masked} carries credentials, and {where} declares ARG {name}: {why}."
                    " Give an index that needs none from the build network, or build the image elsewhere"
                    " and deploy it with app_image_source=pull"
                )
    for name, value in user_args.items():
        masked = next((masked_credentials(word) for word in str(value).split() if masked_credentials(word)), "")
        if masked:
            problems.append(
                f"app_image_build_args.{name}: {masked} carries credentials: {why}; build arguments are never secrets"
            )
    return problems


def dockerfile_plan(variables: Mapping[str, t.Any], text: t.Any = "") -> dict[str, t.Any]:
    """How a build uses an app's own Dockerfile (``text``; "" when it is the generated one or not read).

    Returns ``path`` (the Dockerfile inside the context, "" for the generated one), ``declared`` (its ARG
    names), ``plumbing`` (the PLUMBING_ARGS it declares that the role has values for), ``build_args`` (those,
    then app_image_build_args over them; the generated Dockerfile gets app_image_build_args alone),
    ``stages``, ``targets`` (each of app_image_targets to the stage built for it: itself when the
    Dockerfile has a stage of that name, else "" for the last stage) and ``problems``: build arguments that
    would carry a URL's credentials (a password, or a token given as the user) into an image's history,
    named by the variable they come from, the credentials masked (none with the generated Dockerfile).
    """
    v = plain(variables)
    path = dockerfile_path(v)
    user_args = dict(v.get("app_image_build_args") or {})
    targets = list(v.get("app_image_targets") or ["api"])
    if not path:
        return {
            "path": "",
            "declared": [],
            "plumbing": {},
            "build_args": user_args,
            "stages": [],
            "targets": {target: target for target in targets},
            "problems": [],
        }
    declared = dockerfile_args(str(text or ""))
    stages = dockerfile_stages(str(text or ""))
    plumbing = {}
    for name, variable in PLUMBING_ARGS.items():
        value = _joined(v.get(variable))
        if name == "AISTACK_CA_CERTIFICATES_DIR" and not v.get("app_image_extra_ca_certificates"):
            value = ""  # no certificates written to the context
        if name in declared and value:
            plumbing[name] = value
    return {
        "path": path,
        "declared": declared,
        "plumbing": plumbing,
        "build_args": {**plumbing, **user_args},
        "stages": stages,
        "targets": {target: target if target.lower() in stages else "" for target in targets},
        "problems": _credential_problems(v, path, plumbing, {k: x for k, x in user_args.items() if k in declared}),
    }


def built_image_problems(variables: Mapping[str, t.Any], results: t.Any) -> list[str]:
    """What the images built from an app's own Dockerfile lack, of the checks app_image_dockerfile_checks names.

    ``results``: the results of an aistack.deploy.image_user_info loop (``uid``) whose items are the results of
    a docker_image_info loop over app_image_targets (``item``: the target; ``images``: the image, inspected).
    """
    v = plain(variables)
    checks = list(v.get("app_image_dockerfile_checks") or [])
    where = f"app_image_dockerfile={show(v.get('app_image_dockerfile'))}"
    problems = []
    for result in plain(results) or []:
        info = result.get("item") or {}
        images = info.get("images") or []
        name = f"{v.get('app_image_name')}-{info.get('item')}:{v.get('app_image_release')}"
        uid = result.get("uid")
        if "non_root" in checks and uid is not None and str(uid) == "0":
            problems.append(
                f"{name} (built from {where}) runs as root (UID 0): give the Dockerfile a USER with a"
                " non-zero UID, or take non_root out of app_image_dockerfile_checks"
            )
        test = ((images[0].get("Config") or {}).get("Healthcheck") or {}).get("Test") if images else None
        if "healthcheck" in checks and images and (not test or test[0] == "NONE"):
            problems.append(
                f"{name} (built from {where}) has no HEALTHCHECK, so app_stack's health gate has"
                " nothing to wait on: give the Dockerfile one, or give every app_stack service of this"
                " image its own healthcheck and take healthcheck out of app_image_dockerfile_checks"
            )
    return problems


def _dockerfile(v: Mapping[str, t.Any], present: t.Any, problems: Problems) -> None:
    """app_image_dockerfile: generated, project or a path inside the context, and the file there."""
    setting, checks = v.get("app_image_dockerfile", "generated"), v.get("app_image_dockerfile_checks", [])
    for check in checks or []:
        if check not in DOCKERFILE_CHECKS:
            problems.add("app_image_dockerfile_checks", f"{show(check)}: must be one of {', '.join(DOCKERFILE_CHECKS)}")
    if not isinstance(setting, str) or not setting:
        problems.add(
            "app_image_dockerfile",
            f"{show(setting)}: must be generated, project or the path of a Dockerfile inside app_image_context_src",
        )
        return
    if setting == "generated" or v["app_image_source"] not in BUILDS:
        return
    path, context = dockerfile_path(v), show(v["app_image_context_src"])
    if path.startswith("/") or ".." in path.split("/"):
        problems.add(
            "app_image_dockerfile",
            f"{show(setting)}: must be generated, project or a path inside"
            " app_image_context_src, without a leading '/' or '..'",
        )
    elif present is not None and path not in present:
        what = "no Dockerfile at the root of" if setting == "project" else "no such file in"
        problems.add("app_image_dockerfile", f"{show(setting)}: {what} app_image_context_src ({context})")


def _names(v: Mapping[str, t.Any], problems: Problems) -> None:
    if not IMAGE_NAME_RE.match(v["app_image_name"]):
        problems.add(
            "app_image_name",
            f"{show(v['app_image_name'])}: must be a lower-case image repository"
            " (letters, digits, '.', '_', '-', '/'), for example acme/api",
        )
    release = str(v["app_image_release"])
    if not TAG_RE.match(release):
        problems.add(
            "app_image_release",
            f"{show(release)}: must be a Docker tag (letters, digits, '.', '_', '-';"
            " up to 128, not starting with '.' or '-')",
        )


def _source(v: Mapping[str, t.Any], context_exists: t.Any, problems: Problems) -> None:
    source, src = v["app_image_source"], v["app_image_context_src"]
    if source in BUILDS and not src:
        problems.add(
            "app_image_context_src",
            f"must name the application source on the controller when app_image_source is {source}",
        )
    elif source in BUILDS and context_exists is False:
        problems.add("app_image_context_src", f"{show(src)}: no such directory on the controller")
    if source == "pull" and not v["app_image_registry"]:
        problems.add("app_image_registry", "must name a registry when app_image_source is pull")
    if v["app_image_push"] and source not in BUILDS:
        problems.add(
            "app_image_push",
            f"pushes what a build made: it needs app_image_source build_host or build_controller (got {source})",
        )
    if v["app_image_push"] and not v["app_image_registry"]:
        problems.add("app_image_push", "needs app_image_registry naming a registry")
    if int(v["app_image_keep_releases"]) < 2:
        problems.add(
            "app_image_keep_releases",
            f"{v['app_image_keep_releases']}: must be 2 or more (the current and the previous release)",
        )


def dependency_files(variables: Mapping[str, t.Any]) -> dict[str, str]:
    """The requirement files a build reads, variable name to its path inside the context (those given only)."""
    targets = variables.get("app_image_targets") or ["api"]
    wanted = {
        "app_image_requirements_file": True,
        "app_image_gpu_requirements_file": True,
        "app_image_development_requirements_file": "development" in targets,
        "app_image_flower_requirements_file": "flower" in targets,
    }
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
    needed = (
        ["pyproject.toml", LOCK_FILES[plan["mode"]]]
        if plan["mode"] in LOCK_FILES
        else ["pyproject.toml"]
        if plan["mode"] == "pip"
        else []
    )
    if plan["install_project"] and "pyproject.toml" not in needed:
        needed.append("pyproject.toml")
    missing = [name for name in needed if present is not None and name not in present]
    if missing:
        variable = (
            "app_image_dependencies"
            if plan["mode"] in LOCK_FILES or plan["mode"] == "pip"
            else "app_image_install_project"
        )
        problems.add(
            variable,
            f"{show(v.get(variable))} needs {' and '.join(needed)} in app_image_context_src"
            f" ({context}); missing: {', '.join(missing)}",
        )
    locks = present_locks(present)
    if setting == "auto" and plan["mode"] in LOCK_FILES and len(locks) > 1:
        tools = [mode for mode, lock in LOCK_FILES.items() if lock in locks]
        problems.add(
            "app_image_dependencies",
            f"{show(setting)} finds {len(locks)} lock files in"
            f" app_image_context_src ({context}): {', '.join(locks)}; set app_image_dependencies to the"
            f" tool whose lock the image installs ({' or '.join(tools)}), or remove the stale lock",
        )
    if plan["mode"] == "pip" and install is False:
        problems.add(
            "app_image_install_project",
            "false: app_image_dependencies pip installs the project itself"
            " (pip install .); use uv (a uv.lock) or requirements to leave it out",
        )


def _dependencies(v: Mapping[str, t.Any], present: t.Any, problems: Problems) -> None:
    """Each requirement file a build reads: a relative path inside the context, and there (when present is known).

    Only the generated Dockerfile reads them; an app's own installs its dependencies its own way."""
    if v["app_image_source"] not in BUILDS or v.get("app_image_dockerfile", "generated") != "generated":
        return
    plan = dependency_plan(v, present)
    _project(v, present, plan, problems)
    files = dependency_files(v)
    if plan["mode"] != "requirements":
        files.pop("app_image_requirements_file", None)
    elif not v["app_image_requirements_file"]:
        problems.add(
            "app_image_requirements_file",
            "must name the requirements of every target, a file inside"
            " app_image_context_src (for example requirements.txt), unless the project's pyproject.toml"
            " declares them (app_image_dependencies)",
        )
    for name, path in files.items():
        if path.startswith("/") or ".." in path.split("/"):
            problems.add(
                name, f"{show(path)}: must be a path inside app_image_context_src, without a leading '/' or '..'"
            )
        elif present is not None and path not in present:
            hint = (
                ", and there is no pyproject.toml to take the dependencies from either"
                if name == "app_image_requirements_file" and v.get("app_image_dependencies", "auto") == "auto"
                else ""
            )
            problems.add(
                name, f"{show(path)}: no such file in app_image_context_src ({show(v['app_image_context_src'])})" + hint
            )


def _health(v: Mapping[str, t.Any], problems: Problems) -> None:
    probed = {"api", "development"} & set(v.get("app_image_targets") or ["api"])
    path = v["app_image_health_path"]
    if v["app_image_healthcheck"] and probed and not str(path).startswith("/"):
        problems.add(
            "app_image_health_path",
            f"{show(path)}: must be a URL path starting with '/' (for example"
            " /health), which the probes of the api and development targets request",
        )


def _registry(v: Mapping[str, t.Any], problems: Problems) -> None:
    registry = v["app_image_registry"]
    if registry and not REGISTRY_RE.match(registry):
        problems.add(
            "app_image_registry",
            f"{show(registry)}: must be host[:port][/path] without a scheme or a"
            " trailing slash (e.g. registry.example.com:5000/team)",
        )
    user, password = v["app_image_registry_username"], v["app_image_registry_password"]
    if bool(user) != bool(password):
        problems.add("app_image_registry_username", "and app_image_registry_password go together: give both or neither")
    if user and not registry:
        problems.add("app_image_registry_username", "needs app_image_registry")
    ca = v["app_image_registry_ca_certificate"]
    if ca and not registry:
        problems.add("app_image_registry_ca_certificate", "needs app_image_registry")
    if ca and "-----BEGIN CERTIFICATE-----" not in ca:
        problems.add("app_image_registry_ca_certificate", "must be a PEM certificate (-----BEGIN CERTIFICATE-----)")
    if ca and not v["app_image_registry_certs_dir"].startswith("/"):
        problems.add(
            "app_image_registry_certs_dir", f"{show(v['app_image_registry_certs_dir'])}: must be an absolute path"
        )


def app_image_problems(
    variables: Mapping[str, t.Any], context_exists: t.Any = None, present_files: t.Any = None
) -> list[str]:
    """Problems of the app_image role's variables (types already checked).

    ``context_exists``: whether ``app_image_context_src`` is a directory on the
    controller (None: not looked at). ``present_files``: which of the paths
    ``dependency_files`` names are files in that directory (None: not looked at).
    """
    v = plain(variables)
    problems = Problems()
    _names(v, problems)
    _source(v, context_exists, problems)
    _dockerfile(v, None if context_exists is False else present_files, problems)
    _dependencies(v, None if context_exists is False else present_files, problems)
    _health(v, problems)
    _registry(v, problems)
    return list(problems)
