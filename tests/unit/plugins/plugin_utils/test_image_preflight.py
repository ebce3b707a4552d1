# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""app_image's pre-flight rules: which images a host must ask for, and which answers refuse it."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.aistack.deploy.plugins.plugin_utils import _image_preflight as p

PULL = {
    "app_image_source": "pull",
    "app_image_name": "team/app",
    "app_image_release": "1.0",
    "app_image_targets": ["api", "worker"],
    "app_image_registry": "reg.example:5000",
    "app_image_registry_username": "",
    "app_image_extra_images": [],
}
IMAGES = ["reg.example:5000/team/app-api:1.0", "reg.example:5000/team/app-worker:1.0"]

PROBE = """INSECURE 127.0.0.0/8
INSECURE "10.1.0.0/16"
INSECURE reg.internal:5000
PROXY https_proxy http://proxy:3128
PROXY http_proxy
PROXY no_proxy localhost
HAS reg.example:5000/team/app-api:1.0
"""


def test_parse_host_probe() -> None:
    parsed = p.parse_host_probe(
        PROBE,
        {
            "insecure-registries": ["reg.other:5000"],
            "proxies": {"https-proxy": "http://ignored", "http-proxy": "http://p:1"},
        },
    )
    assert parsed["has"] == [IMAGES[0]]
    assert parsed["insecure_names"] == ["reg.internal:5000", "reg.other:5000"]
    assert parsed["insecure_cidrs"] == ["127.0.0.0/8", "10.1.0.0/16"]
    # The running engine's proxy wins over the one docker_engine would configure.
    assert parsed["proxy"] == {"https_proxy": "http://proxy:3128", "no_proxy": "localhost", "http_proxy": "http://p:1"}


def test_only_the_images_the_host_lacks_are_asked() -> None:
    parsed = p.parse_host_probe(PROBE)
    assert p.to_ask(PULL, parsed) == [IMAGES[1]]
    assert p.to_ask(PULL, p.parse_host_probe("")) == IMAGES  # no engine yet: the registry must have both
    assert p.to_ask(PULL, p.parse_host_probe("HAS " + "\nHAS ".join(IMAGES))) == []  # on the host: nothing asked
    assert p.to_ask({**PULL, "app_image_source": "build_host"}, parsed) == []


@pytest.mark.parametrize("switch, asked", [(True, IMAGES), ("True", IMAGES), (False, []), ("False", [])])
def test_the_registry_check_can_be_turned_off(switch: t.Any, asked: list[str]) -> None:
    """app_image_preflight_registry false: a host that reaches the registry through its engine's own mirror or
    proxy (which docker info does not show) is not refused; the images it lacks are not asked for."""
    settings = {**PULL, "app_image_preflight_registry": switch}
    assert p.to_ask(settings, p.parse_host_probe("")) == asked  # a host without either image
    # Nothing asked, nothing refused; the controller's checks stay (an extra image it lacks).
    extra = {**settings, "app_image_extra_images": ["team/tool:1"]}
    assert p.image_preflight_problems(extra, "web-1", [], {"images": []}) == [
        p.image_preflight_problems({**PULL, "app_image_extra_images": ["team/tool:1"]}, "web-1", [], {"images": []})[0]
    ]


@pytest.mark.parametrize(
    "registry, probe, expected",
    [
        ("127.0.0.1:5000", "", True),
        ("10.1.2.3:5000/team", 'INSECURE "10.1.0.0/16"', True),
        ("reg.internal:5000", "INSECURE reg.internal:5000", True),
        ("reg.example:5000", "INSECURE reg.internal:5000", False),
    ],
)
def test_registry_insecure(registry: str, probe: str, expected: bool) -> None:
    assert p.registry_insecure({**PULL, "app_image_registry": registry}, p.parse_host_probe(probe)) is expected


def answer(image: str, found: bool | None, status: int, said: str = "") -> dict[str, t.Any]:
    return {
        "image": image,
        "found": found,
        "status": status,
        "said": said,
        "url": "https://reg.example:5000/v2/team/app-worker/manifests/1.0",
    }


def test_pull_answers() -> None:
    assert p.image_preflight_problems(PULL, "web-1", [answer(IMAGES[0], True, 200)], None) == []
    [missing] = p.image_preflight_problems(PULL, "web-1", [answer(IMAGES[1], False, 404, "MANIFEST_UNKNOWN")], None)
    assert missing == (
        "web-1 cannot pull image reg.example:5000/team/app-worker:1.0 (app_image_source=pull with "
        "app_image_registry=reg.example:5000, app_image_name=team/app, app_image_release=1.0): the registry has no "
        "such tag (asked https://reg.example:5000/v2/team/app-worker/manifests/1.0 from web-1: 404 MANIFEST_UNKNOWN)."
        " Push it first (app_image_push on a build), or correct the variable"
    )
    [denied] = p.image_preflight_problems(
        {**PULL, "app_image_registry_username": "deploy"},
        "web-1",
        [answer(IMAGES[1], False, 401, "UNAUTHORIZED")],
        None,
    )
    assert "refused app_image_registry_username=deploy" in denied and "401 UNAUTHORIZED" in denied
    [gone] = p.image_preflight_problems(PULL, "web-1", [answer(IMAGES[1], None, 0, "ConnectionRefusedError")], None)
    assert "does not answer" in gone and "ConnectionRefusedError" in gone and "web-1" in gone
    # A 401 without credentials, or a 5xx, decides nothing: no refusal.
    assert (
        p.image_preflight_problems(PULL, "web-1", [answer(IMAGES[1], None, 401), answer(IMAGES[0], None, 503)], None)
        == []
    )


GPU_PULL = {**PULL, "app_image_tag": "1.0-gpu", "app_image_variant": "auto"}


def test_a_gpu_host_asks_for_the_gpu_variants_tag() -> None:
    """A host that takes the GPU variant pulls <release>-gpu (app_image_tag, as a controller build pushes it):
    the registry is asked for that tag, the host's own copy is looked for under it, and a missing tag names
    both the release the user wrote and the tag the host asked for."""
    gpu_images = [image.replace(":1.0", ":1.0-gpu") for image in IMAGES]
    assert p.to_ask(GPU_PULL, p.parse_host_probe("")) == gpu_images
    # The CPU variant's tag on the host is not the GPU variant's.
    assert p.to_ask(GPU_PULL, p.parse_host_probe(PROBE)) == gpu_images
    assert p.to_ask(GPU_PULL, p.parse_host_probe(f"HAS {gpu_images[0]}")) == gpu_images[1:]
    # A settings dict without app_image_tag (or an empty one) is the release, as before.
    assert p.to_ask({**PULL, "app_image_tag": ""}, p.parse_host_probe("")) == IMAGES
    [missing] = p.image_preflight_problems(GPU_PULL, "gpu-1", [answer(gpu_images[1], False, 404)], None)
    assert missing.startswith(
        "gpu-1 cannot pull image reg.example:5000/team/app-worker:1.0-gpu (app_image_source=pull with "
        "app_image_registry=reg.example:5000, app_image_name=team/app, app_image_release=1.0; this host takes the "
        "GPU variant (app_image_variant=auto), tagged 1.0-gpu as a controller build pushes it): the registry has "
        "no such tag"
    ), missing


BUILD = {**PULL, "app_image_source": "build_controller", "app_image_extra_images": ["postgres:17", "redis"]}


def test_controller_engine_silent() -> None:
    [problem] = p.image_preflight_problems(BUILD, "web-1", [], {"failed": False, "msg": "Error connecting:\n refused"})
    assert problem.startswith("the controller's Docker engine does not answer (Error connecting: refused), and web-1")
    assert "app_image_source=build_controller builds the images there and app_image_extra_images" in problem


def test_controller_must_have_the_extra_images() -> None:
    controller = {"images": [{"RepoTags": ["postgres:17"]}, {"RepoTags": ["redis:latest"]}]}
    assert p.image_preflight_problems(BUILD, "web-1", [], controller) == []
    [problem] = p.image_preflight_problems(BUILD, "web-1", [], {"images": [{"RepoTags": ["postgres:17"]}]})
    assert problem.startswith("web-1 cannot get image redis (app_image_extra_images): the controller's Docker engine")
    assert p.image_preflight_problems({**BUILD, "app_image_extra_images": []}, "web-1", [], {"images": []}) == []
