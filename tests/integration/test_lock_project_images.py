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
import tomllib
import typing as t
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
import render_shapes  # tests/harness, put on sys.path by tests/conftest.py
from built_image import built_image, healthy_container, run_in  # tests/harness

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
    "poetry": Tool("poetry-api", "poetry.lock",
                   [f"poetry=={DEFAULTS['app_image_poetry_version']}",
                    f"poetry-plugin-export=={DEFAULTS['app_image_poetry_plugin_export_version']}"],
                   "/opt/poetry/bin/poetry export --no-interaction --only main --format requirements.txt"),
    # hishel 2 breaks the HTTP session of `pdm lock` in PDM 2.29 (not its export, which reads only the lock).
    "pdm": Tool("pdm-api", "pdm.lock", [f"pdm=={DEFAULTS['app_image_pdm_version']}", "hishel<2"],
                "PDM_CHECK_UPDATE=false /opt/pdm/bin/pdm export --prod --format requirements"),
}


def lock(tool: str, source: Path, venv: Path) -> None:
    """Install the tool into venv from this machine's index, and lock the project in source with it."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *TOOLS[tool].packages],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    index = render_shapes.machine_pip_settings().get("app_image_pip_index_url")
    env = dict(os.environ, REQUESTS_CA_BUNDLE=CA_BUNDLE, SSL_CERT_FILE=CA_BUNDLE, PDM_CHECK_UPDATE="false")
    env.pop("VIRTUAL_ENV", None)
    if index and tool == "pdm":
        env["PDM_PYPI_URL"] = index
    elif index:  # Poetry takes its index from the project: this copy's only
        with (source / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
            pyproject.write(f'\n[[tool.poetry.source]]\nname = "machine"\nurl = "{index}"\npriority = "primary"\n')
    done = subprocess.run([str(venv / "bin" / tool), "lock"], cwd=source, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


@pytest.fixture(scope="module", params=sorted(TOOLS))
def tool(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def project(tool: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example, locked by its tool as a user locks it."""
    work = tmp_path_factory.mktemp(tool)
    source = work / TOOLS[tool].example
    shutil.copytree(REPO_ROOT / "examples" / TOOLS[tool].example, source,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.lock", ".venv", ".pdm-python"))
    lock(tool, source, work / "venv")
    return source


@pytest.fixture(scope="module")
def context(tool: str, project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    subprocess.run([str(REPO_ROOT / "tests" / "harness" / "build-base-images.sh"), "python"], check=True)
    # Every dependency has a wheel: no compilers in the builder (and no apt, which is quicker).
    return render_shapes.build_context(tmp_path_factory.mktemp(f"{tool}-context"), None, project, {
        "app_image_python_base": PYTHON_BASE, "app_image_python_version": "3.13", "app_image_build_packages": [],
        "app_image_context_src": str(project)})


@pytest.fixture(scope="module")
def image(tool: str, docker_client: t.Any, context: Path) -> t.Iterator[str]:
    with built_image(docker_client, context, f"aistack-it-{tool}") as tag:
        yield tag


def test_the_dockerfile_takes_the_dependencies_from_the_lock(tool: str, context: Path) -> None:
    text = " ".join((context / "Dockerfile").read_text().split())
    assert f"{TOOLS[tool].export} --output requirements.lock" in text
    assert f"COPY pyproject.toml {TOOLS[tool].lock} ./" in text


def test_the_image_has_exactly_the_locked_versions_and_no_dev_group(
        tool: str, docker_client: t.Any, image: str, project: Path) -> None:
    locked = {p["name"]: p["version"] for p in tomllib.loads((project / TOOLS[tool].lock).read_text())["package"]}
    assert "pytest" in locked  # the dev group is in the lock...
    name = TOOLS[tool].example
    installed = json.loads(run_in(docker_client, image, f"{name}-info"))  # the project's console script
    assert installed == {name: "0.1.0", "uvicorn": locked["uvicorn"]}
    frozen = dict(line.lower().partition("==")[::2] for line in
                  run_in(docker_client, image, "pip", "list", "--format=freeze").splitlines())
    # ...and not in the image: the virtualenv holds pip, the project and the main dependencies at their locked
    # versions, nothing else (no pytest, no tool).
    assert set(frozen) == {"pip", name, "uvicorn", "click", "h11"}, frozen
    for package in ("uvicorn", "click", "h11"):
        assert frozen[package] == locked[package], package


def test_the_tool_stays_in_the_builder(tool: str, docker_client: t.Any, image: str) -> None:
    assert run_in(docker_client, image, "sh", "-c", f"command -v {tool} || ls -d /opt/{tool} 2>/dev/null || echo none") \
        == "none"


def test_the_export_reads_only_the_lock(tool: str, docker_client: t.Any, image: str) -> None:
    """What app_image_offline needs of the tool: its export works without any network."""
    exported = run_in(docker_client, f"{image}-builder", "sh", "-c",
                      f"{TOOLS[tool].export} --output /tmp/again.lock && cat /tmp/again.lock", workdir="/build",
                      network="none")
    assert "--hash=sha256:" in exported and "uvicorn==" in exported and "pytest" not in exported
    assert exported == run_in(docker_client, f"{image}-builder", "cat", "/build/requirements.lock")


def test_it_runs_as_non_root_and_turns_healthy(tool: str, docker_client: t.Any, image: str) -> None:
    with healthy_container(docker_client, image, f"{image}-run") as (container, port):
        assert container.attrs["Config"]["User"] == "10001:10001"
        assert run_in(docker_client, image, "id", "-u") == "10001"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            assert json.loads(answer.read()) == {"name": TOOLS[tool].example, "version": "0.1.0"}


def test_a_lock_that_no_longer_matches_pyproject_stops_the_build(
        tool: str, docker_client: t.Any, context: Path, image: str, tmp_path: Path) -> None:
    """The user added a dependency and did not lock again: no export, no image, and a line saying what to run.

    After the image fixture, the tool's own layer is in the build cache: this build stops within seconds.
    """
    stale = tmp_path / "context"
    shutil.copytree(context, stale)
    pyproject = stale / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"uvicorn>=0.30",', '"uvicorn>=0.30",\n    "h11>=0.14",', 1))
    assert '"h11>=0.14"' in pyproject.read_text()
    tag = f"aistack-it-{tool}-stale-{uuid.uuid4().hex[:8]}"
    log = ""
    try:
        docker_client.images.build(path=str(stale), target="builder", tag=tag, pull=False, rm=True, forcerm=True)
    except Exception as exc:  # pylint: disable=broad-exception-caught  # docker.errors.BuildError carries the log
        log = "".join(chunk.get("stream", "") + chunk.get("error", "") for chunk in getattr(exc, "build_log", []))
    finally:
        # The layers this build made (the COPY of the stale files) are dangling: remove them, newest first.
        made = re.findall(r"(?<!Using cache\n) ---> ([0-9a-f]{12})\n", log)
        for name in [tag, *reversed(made)]:
            try:
                docker_client.images.remove(name)
            except Exception:  # pylint: disable=broad-exception-caught  # not there (the build failed), or in use
                pass
    assert log, f"{tool}: the builder stage was built from a stale {TOOLS[tool].lock}"
    # The line the check echoes (the RUN step's own text, also in the log, starts with "Step"); stderr is coloured.
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)
    said = [line for line in log.splitlines() if line.startswith(f"app_image: {TOOLS[tool].lock} does not match")]
    assert said and f'run "{tool} lock" in the project, commit {TOOLS[tool].lock}' in said[0], log[-3000:]
