"""app_image's prune step against the machine's real Docker Engine.

Four releases of one target, built a second apart from the busybox fixture
(each a distinct image), then the role's prune tasks with the current release
not the newest: the newest app_image_keep_releases tags stay, the current
release always among them; check mode removes nothing.
"""

from __future__ import annotations

import io
import time
import typing as t

import pytest

RELEASES = ["1.0.1", "1.0.2", "1.0.3", "1.0.4"]

PRUNE = """
- name: Prune
  ansible.builtin.include_role:
    name: aistack.deploy.app_image
    tasks_from: prune
  vars:
    app_image_name: {name}
    app_image_release: "{current}"
    app_image_keep_releases: {keep}
    __app_image_target: api
"""


@pytest.fixture
def releases(docker_client: t.Any, busybox_image: str, unique_name: str) -> t.Iterator[str]:
    name = f"aistack-it/{unique_name}"
    for release in RELEASES:
        dockerfile = f"FROM {busybox_image}\nLABEL io.aistack.test.release={release}\n".encode()
        docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=f"{name}-api:{release}", pull=False, rm=True)
        time.sleep(1.1)  # Created has one-second resolution in the listing
    try:
        yield name
    finally:
        for release in RELEASES:
            try:
                docker_client.images.remove(f"{name}-api:{release}", force=True)
            except Exception:  # pylint: disable=broad-exception-caught  # already pruned
                pass


def tags(docker_client: t.Any, name: str) -> set[str]:
    return {tag.split(":")[-1] for image in docker_client.images.list(name=f"{name}-api") for tag in image.tags}


def test_check_mode_removes_nothing(docker_client: t.Any, releases: str, playbook: t.Callable[..., t.Any]) -> None:
    result = playbook(PRUNE.format(name=releases, current="1.0.2", keep=2), check=True)
    assert result.rc == 0, result.stdout + result.stderr
    assert tags(docker_client, releases) == set(RELEASES)


def test_keeps_the_newest_and_the_current(docker_client: t.Any, releases: str, playbook: t.Callable[..., t.Any]) -> None:
    result = playbook(PRUNE.format(name=releases, current="1.0.2", keep=2))
    assert result.rc == 0, result.stdout + result.stderr
    assert tags(docker_client, releases) == {"1.0.4", "1.0.2"}
    again = playbook(PRUNE.format(name=releases, current="1.0.2", keep=2))
    assert again.rc == 0 and '"changed": true' not in again.stdout, again.stdout
