"""Build a uv project (pyproject.toml + uv.lock) from the app_image role's rendered Dockerfile and run it.

examples/uv-backend has no requirements.txt: with the role's defaults
(app_image_dependencies auto) the Dockerfile takes the dependencies from its
uv.lock and installs the package itself (its pyproject.toml has a
[build-system]). Its own Dockerfile, its database and its prestart are the
app_stack_shapes scenario's (molecule/app_stack_shapes/tests/test_uv_backend.py). The lock is made here with `uv lock` against this machine's
index (discovered, never written down), as its README says a user makes it.
Then the image, built with the engine's classic builder (the Docker SDK's):

- has exactly the versions uv.lock pins, and not the dev group (pytest);
- has the project's console script on PATH, and its package imports from any
  directory (installed, and the code directory on sys.path), without PYTHONPATH;
- does not ship uv;
- runs as the non-root user, turns healthy by its own HEALTHCHECK, and answers.

Images and containers are named aistack-it-uv-* and removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing as t
import urllib.request
from pathlib import Path

import pytest
import tomllib

from aistack_testlib import render_shapes
from aistack_testlib.built_image import built_image, healthy_container, run_in

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "uv-backend"
PYTHON_BASE = "aistack-test/python:3.13-slim"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example, locked by uv as a user locks it."""
    source = tmp_path_factory.mktemp("uv") / "uv-backend"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "uv.lock", ".venv"))
    index = render_shapes.machine_pip_settings().get("app_image_pip_index_url")
    env = dict(os.environ, UV_SYSTEM_CERTS="1", **({"UV_DEFAULT_INDEX": index} if index else {}))
    uv = Path(sys.executable).parent / "uv"
    done = subprocess.run(
        [str(uv), "lock", "--python", sys.executable],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return source


@pytest.fixture(scope="module")
def context(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    subprocess.run([str(REPO_ROOT / "tests" / "harness" / "images" / "build-base-images.sh"), "python"], check=True)
    return render_shapes.build_context(
        tmp_path_factory.mktemp("uv-context"),
        None,
        project,
        {
            "app_image_python_base": PYTHON_BASE,
            "app_image_python_version": "3.13",
            "app_image_context_src": str(project),
        },
    )


@pytest.fixture(scope="module")
def image(docker_client: t.Any, context: Path) -> t.Iterator[str]:
    with built_image(docker_client, context, "aistack-it-uv") as tag:
        yield tag


def test_the_dockerfile_takes_the_dependencies_from_the_lock(context: Path) -> None:
    text = (context / "Dockerfile").read_text()
    assert "uv export --frozen --no-dev --no-emit-project" in text
    assert "COPY pyproject.toml uv.lock ./" in text and "requirements.txt ./" not in text.split("uv export")[0]


def test_the_image_has_exactly_the_locked_versions_and_no_dev_group(
    docker_client: t.Any, image: str, project: Path
) -> None:
    locked = {p["name"]: p["version"] for p in tomllib.loads((project / "uv.lock").read_text())["package"]}
    installed = json.loads(run_in(docker_client, image, "uv-backend-info"))  # the project's console script
    assert installed == {
        "uv-backend": "0.1.0",
        **{name: locked[name] for name in ("fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg")},
    }
    assert "pytest" in locked  # the dev group is in the lock...
    frozen = run_in(docker_client, image, "pip", "list", "--format=freeze").lower().splitlines()
    assert not any(line.startswith("pytest==") for line in frozen)  # ...and not in the image
    for line in frozen:
        name, _sep, version = line.partition("==")
        if name in locked:
            assert version == locked[name], line
    assert run_in(docker_client, image, "sh", "-c", "command -v uv || echo none") == "none"


def test_the_package_imports_from_any_directory(docker_client: t.Any, image: str) -> None:
    where = run_in(
        docker_client,
        image,
        "python",
        "-c",
        "import app.main, os; print(os.environ.get('PYTHONPATH', ''))",
        workdir="/tmp",
    )
    assert where == ""
    paths = run_in(docker_client, image, "python", "-c", "import sys; print(' '.join(sys.path))", workdir="/tmp")
    assert "/app" in paths.split()


def test_it_runs_as_non_root_and_turns_healthy(docker_client: t.Any, image: str) -> None:
    with healthy_container(docker_client, image, f"{image}-run") as (container, port):
        assert container.attrs["Config"]["User"] == "10001:10001"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            assert json.loads(answer.read()) == {"name": "uv-backend", "version": "0.1.0"}
