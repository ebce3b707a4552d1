"""app_image's prune step against the machine's real Docker Engine.

Releases of one target, built a second apart from the busybox fixture (each a
distinct image), then the role's recorded.yml probe and prune tasks with the current release not the
newest: the newest app_image_keep_releases tags stay, the current release
always among them; check mode removes nothing. "Newest" is by version when
every release tag other than the current is a version (1.0.10 after 1.0.9,
whatever the creation order), by creation time otherwise. Registry names of a pruned release go too,
so its image leaves the disk.
"""

from __future__ import annotations

import io
import json
import time
import typing as t

import pytest

RELEASES = ["1.0.1", "1.0.2", "1.0.3", "1.0.4"]
REGISTRY = "127.0.0.1:5999/team"  # only a tag prefix here: nothing talks to it

# The role's read-only probe, as main.yml runs it first; each play below adds the step it tests.
RECORDED = """
- name: Read the recorded releases and the target's images
  ansible.builtin.include_role:
    name: aistack.deploy.app_image
    tasks_from: recorded
  vars: &vars
    app_image_name: {name}
    app_image_release: "{current}"
    app_image_keep_releases: {keep}
    app_image_registry: "{registry}"
    app_image_targets: [api]
    app_image_releases_dir: "{releases_dir}"
    app_image_controller_dir: "{controller_dir}"
"""

PRUNE = (
    RECORDED
    + """
- name: Prune, as main.yml does, only when there is something to remove
  ansible.builtin.include_role:
    name: aistack.deploy.app_image
    tasks_from: prune
  vars: *vars
  when: (__app_image_recorded.stdout | aistack.deploy.app_image_prune_plan({name!r}, ['api'], {current!r}, {keep},
         {registry!r})).remove | length > 0
"""
)


def prune(name: str, current: str, keep: int, registry: str = "", releases_dir: str = "/nonexistent") -> str:
    return PRUNE.format(
        name=name,
        current=current,
        keep=keep,
        registry=registry,
        releases_dir=releases_dir,
        controller_dir="/nonexistent",
    )


@pytest.fixture
def build_releases(docker_client: t.Any, busybox_image: str, unique_name: str) -> t.Iterator[t.Callable[..., str]]:
    """Build the given releases in the given order (oldest first); remove every tag afterwards."""
    name = f"aistack-it/{unique_name}"
    made: list[str] = []

    def _build(releases: t.Sequence[str], registry: str = "") -> str:
        for release in releases:
            dockerfile = f"FROM {busybox_image}\nLABEL io.aistack.test.release={release}\n".encode()
            image = docker_client.images.build(
                fileobj=io.BytesIO(dockerfile), tag=f"{name}-api:{release}", pull=False, rm=True
            )[0]
            made.append(f"{name}-api:{release}")
            if registry:
                image.tag(f"{registry}/{name}-api", release)
                made.append(f"{registry}/{name}-api:{release}")
            time.sleep(1.1)  # Created has one-second resolution in the listing
        return name

    yield _build
    for tag in made:
        try:
            docker_client.images.remove(tag, force=True)
        except Exception:  # pylint: disable=broad-exception-caught  # already pruned
            pass


def tags(docker_client: t.Any, repository: str) -> set[str]:
    return {
        tag.split(":")[-1]
        for image in docker_client.images.list(name=repository)
        for tag in image.tags
        if tag.rsplit(":", 1)[0] == repository
    }


def test_check_mode_removes_nothing(
    docker_client: t.Any, build_releases: t.Callable[..., str], playbook: t.Callable[..., t.Any]
) -> None:
    name = build_releases(RELEASES)
    result = playbook(prune(name, "1.0.2", 2), check=True)
    assert result.rc == 0, result.stdout + result.stderr
    assert '"changed": true' in result.stdout  # it reports what it would remove
    assert tags(docker_client, f"{name}-api") == set(RELEASES)


def test_keeps_the_newest_and_the_current(
    docker_client: t.Any, build_releases: t.Callable[..., str], playbook: t.Callable[..., t.Any]
) -> None:
    name = build_releases(RELEASES)
    result = playbook(prune(name, "1.0.2", 2))
    assert result.rc == 0, result.stdout + result.stderr
    assert tags(docker_client, f"{name}-api") == {"1.0.4", "1.0.2"}
    again = playbook(prune(name, "1.0.2", 2))
    assert again.rc == 0 and '"changed": true' not in again.stdout, again.stdout


def test_versions_are_ordered_as_versions_not_by_creation(
    docker_client: t.Any, build_releases: t.Callable[..., str], playbook: t.Callable[..., t.Any]
) -> None:
    # Created oldest to newest: 1.0.10 first. By creation time the prune would
    # keep v1.0.2 and 1.0.9; by version it keeps 1.0.10 and 1.0.9 (and "v" is
    # only a prefix: v1.0.2 sorts as 1.0.2).
    name = build_releases(["1.0.10", "1.0.9", "v1.0.2", "1.0.1"])
    result = playbook(prune(name, "1.0.1", 3))
    assert result.rc == 0, result.stdout + result.stderr
    assert tags(docker_client, f"{name}-api") == {"1.0.10", "1.0.9", "1.0.1"}


def test_the_current_release_stays_even_when_it_is_the_lowest_version(
    docker_client: t.Any, build_releases: t.Callable[..., str], playbook: t.Callable[..., t.Any]
) -> None:
    name = build_releases(["0.9", "2.1", "2.0", "1.5"])
    result = playbook(prune(name, "0.9", 2))
    assert result.rc == 0, result.stdout + result.stderr
    assert tags(docker_client, f"{name}-api") == {"2.1", "0.9"}


def test_tags_that_are_not_all_versions_are_ordered_by_creation(
    docker_client: t.Any, build_releases: t.Callable[..., str], playbook: t.Callable[..., t.Any]
) -> None:
    # "nightly" is no version: creation time decides, so nightly (made last
    # before the current 3.0) is the newest other release; by version 2.0 would be.
    name = build_releases(["2.0", "1.0", "nightly", "3.0"])
    result = playbook(prune(name, "3.0", 2))
    assert result.rc == 0, result.stdout + result.stderr
    assert tags(docker_client, f"{name}-api") == {"nightly", "3.0"}


def test_registry_names_of_pruned_releases_go_too(
    docker_client: t.Any, build_releases: t.Callable[..., str], playbook: t.Callable[..., t.Any]
) -> None:
    name = build_releases(RELEASES, registry=REGISTRY)
    pruned_ids = {docker_client.images.get(f"{name}-api:{release}").id for release in ("1.0.1", "1.0.2")}
    result = playbook(prune(name, "1.0.4", 2, registry=REGISTRY))
    assert result.rc == 0, result.stdout + result.stderr
    assert tags(docker_client, f"{name}-api") == {"1.0.3", "1.0.4"}
    assert tags(docker_client, f"{REGISTRY}/{name}-api") == {"1.0.3", "1.0.4"}
    left = {image.id for image in docker_client.images.list(all=True)}
    assert not pruned_ids & left, "a pruned release's image is still on disk"
    again = playbook(prune(name, "1.0.4", 2, registry=REGISTRY))
    assert again.rc == 0 and '"changed": true' not in again.stdout, again.stdout


def test_a_release_app_stack_keeps_is_never_pruned(
    docker_client: t.Any, build_releases: t.Callable[..., str], playbook: t.Callable[..., t.Any], tmp_path: t.Any
) -> None:
    # 1.0.1 is a release directory of app_stack (a rollback target): beyond the count, it stays.
    name = build_releases(RELEASES)
    record = tmp_path / "releases" / "1.0.1" / "release.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"images": {f"{name}-api:1.0.1": docker_client.images.get(f"{name}-api:1.0.1").id}}))
    result = playbook(prune(name, "1.0.4", 2, releases_dir=str(tmp_path / "releases")))
    assert result.rc == 0, result.stdout + result.stderr
    assert tags(docker_client, f"{name}-api") == {"1.0.4", "1.0.3", "1.0.1"}


def test_an_image_a_container_uses_is_left_and_the_run_goes_on(
    docker_client: t.Any, build_releases: t.Callable[..., str], playbook: t.Callable[..., t.Any]
) -> None:
    name = build_releases(RELEASES)
    user = docker_client.containers.create(f"{name}-api:1.0.1", command=["true"])  # created, never started
    try:
        result = playbook(prune(name, "1.0.4", 2))
        assert result.rc == 0, result.stdout + result.stderr
        assert tags(docker_client, f"{name}-api") == {"1.0.4", "1.0.3", "1.0.1"}
        assert f"Left in place (a container uses it): {name}-api:1.0.1" in result.stdout
    finally:
        user.remove(force=True)


PRUNE_ARCHIVES = (
    RECORDED
    + """
- name: Remove the controller's archives beyond the count, as main.yml does after a run that saved one
  ansible.builtin.include_role:
    name: aistack.deploy.app_image
    tasks_from: prune_archives
  vars: *vars
"""
)


def test_the_controllers_archives_beyond_the_count_go_and_a_recorded_one_stays(
    playbook: t.Callable[..., t.Any], tmp_path: t.Any, unique_name: str
) -> None:
    # The archives a controller build saved for five releases, the postgres image's and a file of someone else's.
    name, image_id = f"aistack-it/{unique_name}", "sha256:" + "0123456789ab" * 5 + "cdef"
    archives = tmp_path / "controller" / "archives"
    archives.mkdir(parents=True)
    stem = name.replace("/", "_") + "-api_"
    files = {
        release: archives / f"{stem}{release}-0123456789ab.tar"
        for release in ["1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5"]
    }
    others = [archives / "aistack-test_postgres_17-0123456789ab.tar", archives / "notes.tar"]
    for path in [*files.values(), *others]:
        path.write_text("an image archive\n")
    # 1.0.2 is a release the host keeps (a rollback target): its archive stays, whatever its age.
    record = tmp_path / "releases" / "1.0.2" / "release.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"images": {f"{name}-api:1.0.2": image_id}}))
    play = PRUNE_ARCHIVES.format(
        name=name,
        current="1.0.4",
        keep=2,
        registry="",
        releases_dir=tmp_path / "releases",
        controller_dir=tmp_path / "controller",
    )

    checked = playbook(play, check=True)
    assert checked.rc == 0 and '"changed": true' in checked.stdout, checked.stdout + checked.stderr
    assert all(path.exists() for path in [*files.values(), *others])

    # keep 2, current 1.0.4 (a rollback, not the highest): 1.0.5 stays, 1.0.2 is recorded, 1.0.3 and 1.0.1 go.
    result = playbook(play)
    assert result.rc == 0, result.stdout + result.stderr
    assert sorted(path.name for path in archives.iterdir()) == sorted(
        [files["1.0.2"].name, files["1.0.4"].name, files["1.0.5"].name, *(path.name for path in others)]
    )
    again = playbook(play)
    assert again.rc == 0 and '"changed": true' not in again.stdout, again.stdout
