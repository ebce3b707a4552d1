"""app_image with the app's own Dockerfile (app_image_dockerfile), through the role's real tasks on this engine.

tests/integration/byod-app is a minimal app with its own Dockerfile (FROM the
harness's Python base, a non-root USER, a HEALTHCHECK, an ``api`` stage before
a last ``debug`` one) and .dockerignore; no package index is needed. The role
runs through ansible-playbook on localhost (app_image_source build_host, the
build directory under the test's tmp_path), as in test_app_image_registry.py:

- ``project``: the image is the app's Dockerfile's (its labels, its ``api``
  stage and not the last one, its .dockerignore and not the role's, the
  PIP_INDEX_URL it declares passed from app_image_pip_index_url), runs as its
  user and turns healthy; the checks are reported; a second run is changed=0;
  a change to the Dockerfile is a change of sources (refused for the release);
- a Dockerfile without HEALTHCHECK and USER fails after its build, naming
  app_image_dockerfile and app_image_dockerfile_checks; with the checks taken
  out it passes;
- a missing Dockerfile (``project`` or a path) fails before any change;
- a package index URL with credentials, which the app's Dockerfile would
  record in the image's history (PIP_INDEX_URL is declared), fails before any
  change, the password never shown;
- ``generated`` with the app's Dockerfile in the context leaves it out, says so,
  and a second layout of the context is changed=0.

Images and containers are named aistack-it-byod-* and removed afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import typing as t
import urllib.request
import uuid
from pathlib import Path

import pytest

from aistack_testlib.built_image import healthy_container, run_in

HARNESS = Path(__file__).resolve().parents[2] / "tests" / "harness"
APP = Path(__file__).resolve().parent / "byod-app"
PYTHON_BASE = "aistack-test/python:3.13-slim"
INDEX = "http://127.0.0.1:9/simple"  # only written into the image: nothing asks it

ROLE = """
- name: Run app_image
  ansible.builtin.include_role:
    name: aistack.deploy.app_image
  vars: {role_vars}

- name: Show the fact
  ansible.builtin.debug:
    var: aistack_image
"""
CHECK_TASK = "build_checks | Check the images built from the app's Dockerfile"


@pytest.fixture(scope="module")
def python_base() -> str:
    subprocess.run([str(HARNESS / "images" / "build-base-images.sh"), "python"], check=True)
    return PYTHON_BASE


@pytest.fixture
def app(tmp_path: Path, docker_client: t.Any, python_base: str) -> t.Iterator[dict[str, t.Any]]:
    """A copy of byod-app and the role variables to build it; removes its images afterwards."""
    run = f"aistack-it-byod-{uuid.uuid4().hex[:10]}"
    src = tmp_path / "src"
    shutil.copytree(APP, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (src / "ignored").mkdir()
    (src / "ignored" / "secret.txt").write_text("left out by the app's .dockerignore\n")
    (src / "docs").mkdir()
    (src / "docs" / "notes.txt").write_text("the role's .dockerignore would leave docs out\n")
    role_vars = {
        "app_image_name": run,
        "app_image_release": "1.0.0",
        "app_image_targets": ["api"],
        "app_image_dockerfile": "project",
        "app_image_build_args": {"TEST_RUN": run},
        "app_image_pip_index_url": INDEX,
        "app_image_python_base": python_base,
        "app_image_python_version": "3.13",
        "app_image_build_packages": [],
        "app_image_labels": {"io.aistack.test.app": run},
        "app_image_extra_ca_certificates": [],
        "app_image_context_src": str(src),
        "app_image_build_dir": str(tmp_path / "host-build"),
        "app_image_controller_dir": str(tmp_path / "controller"),
        "app_image_host_archive_dir": str(tmp_path / "archives"),
    }
    yield {"src": src, "name": run, "vars": role_vars, "tmp": tmp_path}
    for container in docker_client.containers.list(all=True, filters={"name": run}):
        container.remove(force=True)
    for image in docker_client.images.list():
        if any(tag.startswith(f"{run}-") for tag in image.tags):
            for tag in image.tags:
                try:
                    docker_client.images.remove(tag, force=True)
                except Exception:  # pylint: disable=broad-exception-caught  # removed with an earlier tag
                    pass
    for image in docker_client.images.list(all=True, filters={"label": f"io.aistack.test.app={run}"}):
        try:
            docker_client.images.remove(image.id, force=True)
        except Exception:  # pylint: disable=broad-exception-caught  # gone with another one
            pass


def run_role(playbook: t.Callable[..., t.Any], role_vars: dict[str, t.Any], **kwargs: t.Any) -> t.Any:
    return playbook(ROLE.format(role_vars=json.dumps(role_vars)), **kwargs)


def short(task_name: str) -> str:
    return task_name.split(" : ", 1)[-1]


def tasks(result: t.Any) -> list[tuple[str, dict[str, t.Any]]]:
    return [
        (short(task["task"]["name"]), task["hosts"].get("localhost", {}))
        for play in json.loads(result.stdout)["plays"]
        for task in play["tasks"]
    ]


def failures(result: t.Any) -> str:
    found = [
        f"{name}: {item.get('msg')}"
        for name, host in tasks(result)
        for item in (host.get("results") or [host])
        if item.get("failed")
    ]
    return "\n".join(found) or result.stdout[-3000:]


def changed_tasks(result: t.Any) -> list[str]:
    return [name for name, host in tasks(result) if host.get("changed")]


def stats(result: t.Any) -> dict[str, int]:
    return json.loads(result.stdout)["stats"]["localhost"]


def ok(result: t.Any) -> dict[str, int]:
    assert result.rc == 0, failures(result) + result.stderr[-3000:]
    return stats(result)


def messages(result: t.Any, name: str) -> str:
    return " ".join(str(host.get("msg", "")) for task, host in tasks(result) if task == name)


def test_the_apps_own_dockerfile_is_built_checked_and_idempotent(
    app: dict[str, t.Any], docker_client: t.Any, playbook: t.Callable[..., t.Any]
) -> None:
    local, build_dir = f"{app['name']}-api:1.0.0", app["tmp"] / "host-build"
    first = run_role(playbook, app["vars"])
    ok(first)
    assert "build_images | Build the images" in changed_tasks(first)
    # The checks ran on the image and said so.
    assert "api built from app_image_dockerfile=project: checked for non_root, healthcheck" in messages(
        first, CHECK_TASK
    )
    image = docker_client.images.get(local)
    labels = image.attrs["Config"]["Labels"]
    # The app's Dockerfile, its api stage (not the last one), with the build arguments it declares.
    assert labels["io.aistack.test.byod"] == "project" and labels["io.aistack.test.stage"] == "api"
    assert "io.aistack.deploy.variant" not in labels  # the generated Dockerfile's label
    assert image.attrs["Config"]["User"] == "10002:10002"
    assert run_in(docker_client, local, "cat", "/srv/app/index-url.txt") == INDEX
    # The app's .dockerignore applied, not the role's (which would leave docs/ out); the role wrote none.
    assert run_in(docker_client, local, "ls", "/srv/app/docs") == "notes.txt"
    assert run_in(docker_client, local, "sh", "-c", "ls /srv/app/ignored 2>&1 || echo gone").endswith("gone")
    assert (build_dir / "Dockerfile").read_bytes() == (APP / "Dockerfile").read_bytes()
    assert (build_dir / ".dockerignore").read_bytes() == (APP / ".dockerignore").read_bytes()
    fact = first.task("Show the fact")["aistack_image"]
    assert fact["uid"] == 10002 and fact["gid"] == 10002

    again = run_role(playbook, app["vars"])
    assert ok(again)["changed"] == 0, changed_tasks(again)

    with healthy_container(docker_client, local, f"{app['name']}-run") as (_container, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            assert json.loads(answer.read()) == {"app": "byod", "path": "/"}

    # The Dockerfile is part of the build context hash: a change to it is a change of sources.
    with (app["src"] / "Dockerfile").open("a") as dockerfile:
        dockerfile.write('LABEL io.aistack.test.changed="yes"\n')
    refused = run_role(playbook, app["vars"])
    assert refused.rc != 0 and f"{local} on localhost was built from another build context" in failures(refused)
    assert docker_client.images.get(local).id == image.id


def test_an_image_without_healthcheck_or_user_fails_naming_the_variable(
    app: dict[str, t.Any], docker_client: t.Any, playbook: t.Callable[..., t.Any]
) -> None:
    (app["src"] / "docker").mkdir()
    (app["src"] / "docker" / "Dockerfile.bare").write_text(
        f'FROM {PYTHON_BASE}\nARG TEST_RUN\nLABEL io.aistack.test.app="${{TEST_RUN}}"\n'
        'CMD ["python", "-m", "http.server", "8000"]\n'
    )
    role_vars = {**app["vars"], "app_image_dockerfile": "docker/Dockerfile.bare"}
    refused = run_role(playbook, role_vars)
    assert refused.rc != 0
    text = failures(refused)
    local = f"{app['name']}-api:1.0.0"
    assert f'{local} (built from app_image_dockerfile="docker/Dockerfile.bare") runs as root (UID 0)' in text
    assert f'{local} (built from app_image_dockerfile="docker/Dockerfile.bare") has no HEALTHCHECK' in text
    assert "app_image_dockerfile_checks" in text and CHECK_TASK in text
    assert "the stage" not in text
    # Taken out: the same image (nothing rebuilt) passes.
    built = docker_client.images.get(local).id
    passed = run_role(playbook, {**role_vars, "app_image_dockerfile_checks": []})
    assert ok(passed)["changed"] == 0, changed_tasks(passed)
    assert docker_client.images.get(local).id == built


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("project", '"project": no Dockerfile at the root of app_image_context_src'),
        ("docker/Dockerfile.prod", '"docker/Dockerfile.prod": no such file in app_image_context_src'),
    ],
)
def test_a_missing_dockerfile_is_refused_before_any_change(
    app: dict[str, t.Any], playbook: t.Callable[..., t.Any], setting: str, message: str
) -> None:
    (app["src"] / "Dockerfile").unlink()
    result = run_role(playbook, {**app["vars"], "app_image_dockerfile": setting})
    assert result.rc != 0
    # The context's path is shortened past 40 characters, as every problem shows a value.
    assert f'app_image_dockerfile: {message} ("{str(app["src"])[:20]}' in failures(result)
    assert stats(result)["changed"] == 0
    assert not (app["tmp"] / "host-build").exists() and not (app["tmp"] / "controller").exists()


def test_an_index_url_with_credentials_is_refused_before_any_change(
    app: dict[str, t.Any], playbook: t.Callable[..., t.Any]
) -> None:
    url = "http://ci:s3cret-value@127.0.0.1:9/simple"
    result = run_role(playbook, {**app["vars"], "app_image_pip_index_url": url})
    assert result.rc != 0
    assert (
        "app_image_pip_index_url: http://ci:***@127.0.0.1:9/simple carries credentials, and the app's Dockerfile"
        ' (Dockerfile, app_image_dockerfile="project") declares ARG PIP_INDEX_URL'
    ) in failures(result)
    assert "s3cret-value" not in result.stdout + result.stderr
    assert stats(result)["changed"] == 0
    assert not (app["tmp"] / "host-build").exists() and not (app["tmp"] / "controller").exists()


CONTEXT = """
- name: Lay out the build context as build_host does
  ansible.builtin.include_role:
    name: aistack.deploy.app_image
    tasks_from: context
  vars: {role_vars}
"""


def test_generated_leaves_the_apps_dockerfile_out_and_says_so(
    app: dict[str, t.Any], playbook: t.Callable[..., t.Any]
) -> None:
    """The context's layout only (a build of the generated Dockerfile: test_app_image_registry.py): it once took the
    app's Dockerfile and .dockerignore in and rendered over them on every run, a change each time."""
    build_dir = app["tmp"] / "host-build"
    (app["src"] / "requirements.txt").write_text("# nothing: the standard library is enough\n")
    role_vars = {
        **app["vars"],
        "app_image_dockerfile": "generated",
        "__app_image_builder": "localhost",
        "__app_image_build_path": str(build_dir),
    }
    first = playbook(CONTEXT.format(role_vars=json.dumps(role_vars)))
    ok(first)
    note = messages(first, "context | Note that the app's own Dockerfile is not the one used")
    assert "Dockerfile and .dockerignore of app_image_context_src" in note and "app_image_dockerfile=project" in note
    assert "Python AI backend" in (build_dir / "Dockerfile").read_text()  # the role's, not the app's
    assert "!app" in (build_dir / ".dockerignore").read_text()
    again = playbook(CONTEXT.format(role_vars=json.dumps(role_vars)))
    assert ok(again)["changed"] == 0, changed_tasks(again)
