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
index, offline mode) in the same single run.
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
        vars_files.append(str(case.shape))
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


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(f"usage: {argv[0]} OUTDIR\n")
        return 2
    for name, directory in render(Path(argv[1]), shape_cases()).items():
        sys.stderr.write(f"rendered {name}: {directory / 'Dockerfile'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
