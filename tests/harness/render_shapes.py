#!/usr/bin/env python
"""Render the app_image role's Dockerfile and .dockerignore for every example shape.

    python tests/harness/render_shapes.py OUTDIR

writes OUTDIR/<shape>/Dockerfile and OUTDIR/<shape>/.dockerignore for each
examples/shapes/<shape>.yml. Rendering goes through Ansible itself (one
ansible-playbook run, one play per case, ansible.builtin.template), so
ansible_managed, filters, lazy templating of the role defaults and undefined
variables behave exactly as in the role. Variables are layered as the role
sees them: role defaults, then the shape file, then per-case overrides.

The unit tests import render() to render extra cases (CA certificates, pip
index, offline mode) in the same single run; the integration test and the
benchmark use build_context() to lay out a buildable context the way the
role will, with this machine's CA certificates and pip index settings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = REPO_ROOT / "roles" / "app_image"
SHAPES = REPO_ROOT / "examples" / "shapes"
TEMPLATES = {"Dockerfile": "Dockerfile.j2", ".dockerignore": "dockerignore.j2"}


class Case(t.NamedTuple):
    """One rendering: a shape file (or none: role defaults only) and overrides."""

    shape: Path | None
    overrides: dict[str, t.Any]


def shape_cases(shapes_dir: Path = SHAPES) -> dict[str, Case]:
    """Every examples/shapes/<name>.yml as a case named <name>."""
    return {path.stem: Case(path, {}) for path in sorted(shapes_dir.glob("*.yml"))}


def _ansible_playbook() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if not found:
        raise RuntimeError("ansible-playbook not found beside this Python or on PATH")
    return found


def _play(name: str, case: Case, dest: Path, overrides_file: Path | None) -> dict[str, t.Any]:
    vars_files = [str(ROLE / "defaults" / "main.yml")]
    if case.shape is not None:
        vars_files.append(str(Path(case.shape).resolve()))
    if overrides_file is not None:
        vars_files.append(str(overrides_file))
    return {
        "name": f"Render {name}",
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": vars_files,
        "tasks": [
            {
                "name": f"Render {out}",
                "ansible.builtin.template": {"src": str(ROLE / "templates" / src), "dest": str(dest / out), "mode": "0644"},
            }
            for out, src in TEMPLATES.items()
        ],
    }


def render(outdir: Path, cases: t.Mapping[str, Case]) -> dict[str, Path]:
    """Render every case into outdir/<name>/; return name -> that directory."""
    outdir = Path(outdir).resolve()
    dirs = {name: outdir / name for name in cases}
    with tempfile.TemporaryDirectory(prefix="aistack-render-") as work:
        plays = []
        for name, case in cases.items():
            dirs[name].mkdir(parents=True, exist_ok=True)
            overrides_file = None
            if case.overrides:
                overrides_file = Path(work) / f"{name}.json"
                overrides_file.write_text(json.dumps(case.overrides), encoding="utf-8")
            plays.append(_play(name, case, dirs[name], overrides_file))
        playbook = Path(work) / "render.yml"
        playbook.write_text(json.dumps(plays), encoding="utf-8")
        env = dict(os.environ,
                   ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                   ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_DISPLAY_SKIPPED_HOSTS="0")
        proc = subprocess.run([_ansible_playbook(), "-i", "localhost,", "-c", "local", str(playbook)],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"rendering failed (ansible-playbook rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return dirs


def machine_ca_certificates() -> list[dict[str, str]]:
    """This machine's extra CA certificates, as app_image_extra_ca_certificates items."""
    return [{"name": path.stem, "content": path.read_text(encoding="utf-8")}
            for path in sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))]


def machine_pip_settings() -> dict[str, t.Any]:
    """This machine's pip index settings that make sense inside a build (http and https only), as role variables."""
    proc = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False)
    found: dict[str, list[str]] = {"index-url": [], "extra-index-url": [], "trusted-host": []}
    for line in proc.stdout.splitlines():
        key, value = (line.split("=", 1) + [""])[:2]
        name = key.rsplit(".", 1)[-1]
        if name in found:
            found[name].extend(value.strip().strip("'\"").split())
    web = ("http://", "https://")
    overrides: dict[str, t.Any] = {
        "app_image_pip_extra_index_urls": [url for url in found["extra-index-url"] if url.startswith(web)],
        "app_image_pip_trusted_hosts": found["trusted-host"],
    }
    index = [url for url in found["index-url"] if url.startswith(web)]
    if index:
        overrides["app_image_pip_index_url"] = index[0]
    return overrides


def build_context(workdir: Path, shape: Path, source: Path, overrides: dict[str, t.Any] | None = None) -> Path:
    """workdir/context: source + rendered Dockerfile and .dockerignore + CA files, laid out as the role will.

    The machine's extra CA certificates and pip index settings are added to
    the overrides (callers' overrides win).
    """
    cas = machine_ca_certificates()
    variables = {"app_image_extra_ca_certificates": cas, **machine_pip_settings(), **(overrides or {})}
    rendered = render(workdir / "rendered", {"image": Case(shape, variables)})["image"]
    context = workdir / "context"
    shutil.copytree(source, context, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in TEMPLATES:
        shutil.copy(rendered / name, context / name)
    ca_dir = context / "aistack-ca-certificates"
    ca_dir.mkdir(exist_ok=True)
    for ca in variables["app_image_extra_ca_certificates"]:
        (ca_dir / f"{ca['name']}.crt").write_text(ca["content"], encoding="utf-8")
    return context


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(f"usage: {argv[0]} OUTDIR\n")
        return 2
    for name, directory in render(Path(argv[1]), shape_cases()).items():
        sys.stderr.write(f"rendered {name}: {directory / 'Dockerfile'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
