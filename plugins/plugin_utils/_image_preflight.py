# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Whether a host's images are available or deliverable, before a release changes anything (site.yml's pre-flight).

app_image's preflight.yml looks, read-only, at what each source needs and this module decides:

* ``pull``: each ``<app_image_registry>/<name>-<target>:<tag>`` is on the host already (pull.yml then
  pulls nothing), or the registry has it, asked from the host (module registry_image_info) with the role's
  credentials; nothing is asked with ``app_image_preflight_registry`` false (a host that reaches the registry
  through a mirror or proxy of its engine's that ``docker info`` does not show). Only an answer that decides
  refuses: the registry said it has no such tag (404), or refused the credentials the pull would use, or could
  not be reached at all. Without credentials a 401 decides nothing (the engine may hold a login of its own).
  The tag is the one the host pulls (``app_image_tag``): the release, or ``<release>-gpu`` on a host that takes
  the GPU variant of the generated Dockerfile, as every build tags and pushes it.
* ``build_controller``: the controller's Docker engine answers (context.yml and build.yml run there on every
  run, whatever the hosts have).
* any source with ``app_image_extra_images``: the controller's engine has each of them (distribute.yml saves
  them there, whatever the host has).
* ``build_host``: nothing beyond what is checked elsewhere (the context in validate.yml, the host's engine in
  app_stack's preflight.yml).

The host probe's lines: ``HAS <ref>`` (the host's engine has it), ``INSECURE <registry or CIDR>`` (the engine
takes it as insecure), ``PROXY <https_proxy|http_proxy|no_proxy> <value>`` (the engine's proxy). Pure functions.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping, Sequence

from ansible_collections.aistack.deploy.plugins.module_utils._registry import is_insecure, split_reference
from ansible_collections.aistack.deploy.plugins.module_utils._release import full_reference

_PROXY_KEYS = {"https_proxy", "http_proxy", "no_proxy"}


def image_tag(settings: Mapping[str, t.Any]) -> str:
    """The tag this host's images carry: app_image_tag (<release>, or <release>-gpu), else the release."""
    return str(settings.get("app_image_tag") or settings["app_image_release"])


def release_images(settings: Mapping[str, t.Any]) -> list[str]:
    """<name>-<target>:<tag> of every target, as the other roles name them."""
    return [
        f"{settings['app_image_name']}-{target}:{image_tag(settings)}"
        for target in settings.get("app_image_targets") or []
    ]


def registry_images(settings: Mapping[str, t.Any]) -> list[str]:
    """<registry>/<name>-<target>:<tag> of every target: what pull.yml pulls."""
    return [f"{settings['app_image_registry']}/{image}" for image in release_images(settings)]


def parse_host_probe(output: str, daemon_settings: Mapping[str, t.Any] | None = None) -> dict[str, t.Any]:
    """The images the host has, the registries its engine takes as insecure, and its proxy (as environment).

    daemon_settings: docker_engine's daemon.json settings, for a host whose engine is not installed yet.
    """
    has: list[str] = []
    names: list[str] = []
    cidrs: list[str] = []
    proxy: dict[str, str] = {}
    for line in (output or "").splitlines():
        kind, _sep, rest = line.strip().partition(" ")
        rest = rest.strip().strip('"')  # a CIDR comes as JSON
        if kind == "HAS" and rest:
            has.append(rest)
        elif kind == "INSECURE" and rest:
            (cidrs if "/" in rest else names).append(rest)
        elif kind == "PROXY":
            key, _sep, value = rest.partition(" ")
            if key in _PROXY_KEYS and value.strip():
                proxy[key] = value.strip()
    daemon = daemon_settings or {}
    for entry in daemon.get("insecure-registries") or []:
        (cidrs if "/" in str(entry) else names).append(str(entry))
    configured = daemon.get("proxies") or {}
    for key, setting in (("https_proxy", "https-proxy"), ("http_proxy", "http-proxy"), ("no_proxy", "no-proxy")):
        if configured.get(setting) and key not in proxy:
            proxy[key] = str(configured[setting])
    return {"has": has, "insecure_names": names, "insecure_cidrs": cidrs, "proxy": proxy}


def to_ask(settings: Mapping[str, t.Any], probe: Mapping[str, t.Any]) -> list[str]:
    """The registry images the host lacks: those the registry must have (none when the check is turned off)."""
    # The role hands the switch over as `| bool`: True or False, or their strings where templating gives strings.
    if settings.get("app_image_source") != "pull" or str(settings.get("app_image_preflight_registry")) == "False":
        return []
    has = {full_reference(ref) for ref in probe.get("has") or []}
    return [image for image in registry_images(settings) if full_reference(image) not in has]


def registry_insecure(settings: Mapping[str, t.Any], probe: Mapping[str, t.Any]) -> bool:
    host = split_reference(f"{settings.get('app_image_registry') or ''}/x")[0]
    return is_insecure(host, probe.get("insecure_names") or [], probe.get("insecure_cidrs") or [])


def _controller_refs(controller: Mapping[str, t.Any]) -> set[str]:
    return {
        ref
        for image in controller.get("images") or []
        for ref in list(image.get("RepoTags") or []) + list(image.get("RepoDigests") or [])
    }


def _pull_origin(settings: Mapping[str, t.Any]) -> str:
    """The variables a pulled image's name comes from, with the GPU variant's tag where it differs."""
    release = str(settings.get("app_image_release"))
    origin = (
        f"app_image_source=pull with app_image_registry={settings.get('app_image_registry') or ''}, "
        f"app_image_name={settings.get('app_image_name')}, app_image_release={release}"
    )
    if image_tag(settings) != release:
        origin += (
            f"; this host takes the GPU variant (app_image_variant={settings.get('app_image_variant')}), "
            f"tagged {image_tag(settings)} as a controller build pushes it"
        )
    return origin


def image_preflight_problems(
    settings: Mapping[str, t.Any],
    host: str,
    answers: Sequence[Mapping[str, t.Any]],
    controller: Mapping[str, t.Any] | None,
) -> list[str]:
    """Every image the host could not get, each naming the host, the image, the variable and what was tried.

    answers: registry_image_info's images (the registry images the host lacks). controller: the controller
    engine's docker_image_info result (failed with its msg when the engine does not answer), None when the
    source and extra images do not need the controller.
    """
    problems = []
    source = settings.get("app_image_source")
    user = settings.get("app_image_registry_username") or ""
    origin = _pull_origin(settings)
    for answer in answers:
        image, found, status = answer.get("image"), answer.get("found"), answer.get("status")
        said = answer.get("said") or ""
        asked = f"asked {answer.get('url')} from {host}"
        if found is False and status == 404:
            problems.append(
                f"{host} cannot pull image {image} ({origin}): the registry has no such tag ({asked}: "
                f"404 {said}). Push it first (app_image_push on a build), or correct the variable"
            )
        elif found is False:
            problems.append(
                f"{host} cannot pull image {image} ({origin}): the registry refused "
                f"app_image_registry_username={user} ({asked}: {status} {said}). Correct the "
                "credentials (app_image_registry_username, app_image_registry_password)"
            )
        elif found is None and not status:
            problems.append(
                f"{host} cannot pull image {image} ({origin}): the registry does not answer ({asked}: "
                f"{said}). Check the address and the network, the CA "
                "(app_image_registry_ca_certificate), or a plain-HTTP registry's insecure-registries "
                "entry (docker_engine_daemon_settings)"
            )
    if controller is None:
        return problems
    # Registered with failed_when: false, a failed answer is one without images.
    if controller.get("failed") or "images" not in controller:
        said = " ".join(str(controller.get("msg") or "no answer").split())[:300]
        needs = []
        if source == "build_controller":
            needs.append("app_image_source=build_controller builds the images there")
        if settings.get("app_image_extra_images"):
            needs.append("app_image_extra_images are saved from it")
        problems.append(
            f"the controller's Docker engine does not answer ({said}), and {host} needs it: "
            f"{' and '.join(needs) or 'its images come from it'}. Start it, or choose another "
            "app_image_source"
        )
        return problems
    present = _controller_refs(controller)
    for image in settings.get("app_image_extra_images") or []:
        if full_reference(str(image)) not in present and str(image) not in present:
            problems.append(
                f"{host} cannot get image {image} (app_image_extra_images): the controller's Docker "
                "engine, which saves it for the hosts, does not have it (asked that engine for it). Load or "
                "build it there first (docker load -i <archive>, or "
                "docker pull where the controller has a registry), or remove it from the list"
            )
    return problems
