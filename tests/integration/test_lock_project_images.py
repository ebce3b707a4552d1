"""Build a Poetry and a PDM project (pyproject.toml + poetry.lock / pdm.lock) from the role's Dockerfile, and run them.

examples/poetry-api and examples/pdm-api have no requirements.txt: with the
role's defaults (app_image_dependencies auto) the Dockerfile takes the
dependencies from the lock and installs the package itself (each
pyproject.toml has a [build-system]). Each lock is made here, as its README
says a user makes it, by the tool at the release the builder stage installs
(roles/app_image/defaults/main.yml), installed into a temporary virtualenv
from this machine's index (discovered, never written down). Then each image,
built with the engine's classic builder (the Docker SDK's):

- has exactly the versions the lock pins for the main dependencies, and
  nothing of the dev group (pytest);
- has the project's console script on PATH;
- does not ship the tool (neither its virtualenv nor a package of it);
- runs as the non-root user, turns healthy by its own HEALTHCHECK, and answers.

The builder stage's export is run again with the network off: it reads only
the lock, which is what lets app_image_offline install the tool from the
wheelhouse like any other package. A dependency added to pyproject.toml and
not locked stops the builder stage at the tool's own check, with a line that
names the lock and the command that fixes it. Images and containers are named
aistack-it-poetry-* and aistack-it-pdm-* and removed afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import typing as t
import urllib.request
import uuid
from pathlib import Path

import pytest
import tomllib
import yaml

from aistack_testlib import render_shapes
from aistack_testlib.built_image import builder_stage, built_image, healthy_container, run_in

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((REPO_ROOT / "roles" / "app_image" / "defaults" / "main.yml").read_text())
PYTHON_BASE = "aistack-test/python:3.13-slim"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class Tool(t.NamedTuple):
    example: str
    lock: str
    packages: list[str]  # what the temporary virtualenv installs to lock with
    export: str  # the builder stage's export, as the Dockerfile writes it


TOOLS = {
    "poetry": Tool(
        "poetry-api",
        "poetry.lock",
        [
            f"poetry=={DEFAULTS['app_image_poetry_version']}",
            f"poetry-plugin-export=={DEFAULTS['app_image_poetry_plugin_export_version']}",
        ],
        "/opt/poetry/bin/poetry export --no-interaction --only main --format requirements.txt",
    ),
    # hishel 2 breaks the HTTP session of `pdm lock` in PDM 2.29 (not its export, which reads only the lock).
    "pdm": Tool(
        "pdm-api",
        "pdm.lock",
        [f"pdm=={DEFAULTS['app_image_pdm_version']}", "hishel<2"],
        "PDM_CHECK_UPDATE=false /opt/pdm/bin/pdm export --prod --format requirements",
    ),
}


def lock(tool: str, source: Path, venv: Path) -> None:
    """Install the tool into venv from this machine's index, and lock the project in source with it."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", *TOOLS[tool].packages],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    index = render_shapes.machine_pip_settings().get("app_image_pip_index_url")
    env = dict(os.environ, REQUESTS_CA_BUNDLE=CA_BUNDLE, SSL_CERT_FILE=CA_BUNDLE, PDM_CHECK_UPDATE="false")
    env.pop("VIRTUAL_ENV", None)
    if index and tool == "pdm":
        env["PDM_PYPI_URL"] = index
    elif index:  # Poetry takes its index from the project: this copy's only
        with (source / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
            pyproject.write(f'\n[[tool.poetry.source]]\nname = "machine"\nurl = "{index}"\npriority = "primary"\n')
    done = subprocess.run(
        [str(venv / "bin" / tool), "lock"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


@pytest.fixture(scope="module", params=sorted(TOOLS))
def tool(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def project(tool: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example, locked by its tool as a user locks it."""
    work = tmp_path_factory.mktemp(tool)
    source = work / TOOLS[tool].example
    shutil.copytree(
        REPO_ROOT / "examples" / TOOLS[tool].example,
        source,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.lock", ".venv", ".pdm-python"),
    )
    lock(tool, source, work / "venv")
    return source


@pytest.fixture(scope="module")
def context(tool: str, project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    subprocess.run([str(REPO_ROOT / "tests" / "harness" / "images" / "build-base-images.sh"), "python"], check=True)
    # Every dependency has a wheel: no compilers in the builder (and no apt, which is quicker).
    return render_shapes.build_context(
        tmp_path_factory.mktemp(f"{tool}-context"),
        None,
        project,
        {
            "app_image_python_base": PYTHON_BASE,
            "app_image_python_version": "3.13",
            "app_image_build_packages": [],
            "app_image_context_src": str(project),
        },
    )


@pytest.fixture(scope="module")
def image(tool: str, docker_client: t.Any, context: Path) -> t.Iterator[str]:
    with built_image(docker_client, context, f"aistack-it-{tool}") as tag:
        yield tag


def test_the_dockerfile_takes_the_dependencies_from_the_lock(tool: str, context: Path) -> None:
    text = " ".join((context / "Dockerfile").read_text().split())
    assert f"{TOOLS[tool].export} --output requirements.lock" in text
    assert f"COPY pyproject.toml {TOOLS[tool].lock} ./" in text


def test_the_image_has_exactly_the_locked_versions_and_no_dev_group(
    tool: str, docker_client: t.Any, image: str, project: Path
) -> None:
    locked = {p["name"]: p["version"] for p in tomllib.loads((project / TOOLS[tool].lock).read_text())["package"]}
    assert "pytest" in locked  # the dev group is in the lock...
    name = TOOLS[tool].example
    installed = json.loads(run_in(docker_client, image, f"{name}-info"))  # the project's console script
    assert installed == {name: "0.1.0", "uvicorn": locked["uvicorn"]}
    frozen = dict(
        line.lower().partition("==")[::2]
        for line in run_in(docker_client, image, "pip", "list", "--format=freeze").splitlines()
    )
    # ...and not in the image: the virtualenv holds pip, the project and the main dependencies at their locked
    # versions, nothing else (no pytest, no tool).
    assert set(frozen) == {"pip", name, "uvicorn", "click", "h11"}, frozen
    for package in ("uvicorn", "click", "h11"):
        assert frozen[package] == locked[package], package


def test_the_tool_stays_in_the_builder(tool: str, docker_client: t.Any, image: str) -> None:
    assert (
        run_in(docker_client, image, "sh", "-c", f"command -v {tool} || ls -d /opt/{tool} 2>/dev/null || echo none")
        == "none"
    )


def test_the_export_reads_only_the_lock(tool: str, docker_client: t.Any, image: str) -> None:
    """What app_image_offline needs of the tool: its export works without any network."""
    exported = run_in(
        docker_client,
        builder_stage(image),
        "sh",
        "-c",
        f"{TOOLS[tool].export} --output /tmp/again.lock && cat /tmp/again.lock",
        workdir="/build",
        network="none",
    )
    assert "--hash=sha256:" in exported and "uvicorn==" in exported and "pytest" not in exported
    assert exported == run_in(docker_client, builder_stage(image), "cat", "/build/requirements.lock")


def test_it_runs_as_non_root_and_turns_healthy(tool: str, docker_client: t.Any, image: str) -> None:
    with healthy_container(docker_client, image, f"{image}-run") as (container, port):
        assert container.attrs["Config"]["User"] == "10001:10001"
        assert run_in(docker_client, image, "id", "-u") == "10001"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            assert json.loads(answer.read()) == {"name": TOOLS[tool].example, "version": "0.1.0"}


def made_layers(message: str) -> list[str]:
    """The layers a failed build made, from docker_image's message (its log as a list): not cached, not a base."""
    lines = re.findall(r"'((?:[^'\\]|\\.)*)'", message.partition("logs: ")[2])
    return [
        match.group(1)
        for before, line in zip(["", *lines], lines, strict=False)
        if (match := re.fullmatch(r"\s*---> ([0-9a-f]{12})\s*", line))
        and "Using cache" not in before
        and ": FROM " not in before
    ]


ROLE_BUILD = """
- name: Build the release with app_image
  ansible.builtin.include_role:
    name: aistack.deploy.app_image
  vars: {role_vars}
"""
STOP = (
    "aistack.deploy.app_image : build_images | Stop here when the app's lock no longer matches pyproject.toml "
    "(nothing was built from it)"
)


def test_a_lock_that_no_longer_matches_pyproject_stops_the_build(
    tool: str, docker_client: t.Any, project: Path, image: str, tmp_path: Path, playbook: t.Callable[..., t.Any]
) -> None:
    """The user added a dependency and did not lock again: app_image stops with one line saying what to run.

    The role builds on this machine (build_controller) the Dockerfile the image fixture built, so the tool's own
    layer is in the build cache and the builder stage stops at the check within seconds; no image is tagged.
    """
    stale = tmp_path / "src"
    shutil.copytree(project, stale, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    pyproject = stale / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"uvicorn>=0.30",', '"uvicorn>=0.30",\n    "h11>=0.14",', 1))
    assert '"h11>=0.14"' in pyproject.read_text()
    name = f"aistack-it/{tool}-stale-{uuid.uuid4().hex[:8]}"
    role_vars = {
        "app_image_source": "build_controller",
        "app_image_name": name,
        "app_image_release": "1.0",
        "app_image_targets": ["api"],
        "app_image_context_src": str(stale),
        "app_image_python_base": PYTHON_BASE,
        "app_image_python_version": "3.13",
        "app_image_build_packages": [],
        "app_image_controller_dir": str(tmp_path / "controller"),
        "app_image_extra_ca_certificates": render_shapes.machine_ca_certificates(),
        **render_shapes.machine_pip_settings(),
    }
    done = playbook(ROLE_BUILD.format(role_vars=json.dumps(role_vars)))
    build = done.task("aistack.deploy.app_image : build_images | Build the images")
    for layer in reversed(made_layers(" ".join(str(item.get("msg", "")) for item in build.get("results", [])))):
        try:  # the layers this build made (the COPY of the stale files) are dangling: remove them, newest first
            docker_client.images.remove(layer)
        except Exception:  # pylint: disable=broad-exception-caught  # in use by another build, or gone
            pass
    assert done.rc != 0 and not build.get("failed"), build
    stop = done.task(STOP)
    assert stop["failed"] and stop["msg"] == (
        f'app_image: {TOOLS[tool].lock} does not match pyproject.toml (see the check above): run "{tool} lock" in '
        f"the project, commit {TOOLS[tool].lock} and deploy again; nothing is built from a stale lock"
    ), stop
    assert not docker_client.images.list(name=f"{name}-api")
