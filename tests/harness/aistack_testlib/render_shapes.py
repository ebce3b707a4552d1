#!/usr/bin/env python
"""Render the app_image role's Dockerfile and .dockerignore for every example shape.

    PYTHONPATH=tests/harness python -m aistack_testlib.render_shapes OUTDIR

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

    PYTHONPATH=tests/harness python -m aistack_testlib.render_shapes --stack OUTDIR [DOCKER_BINARY]

renders the app_stack role's files instead, for every shape, every extra case
of STACK_EXTRA_CASES and the role defaults: OUTDIR/<case>/compose.yaml,
OUTDIR/<case>/aistack-<name>.service, OUTDIR/<case>/model.json and the .env
the compose file points to (OUTDIR/<case>/root/releases/<release>/.env, dummy secrets; postgres.env
beside it with a PostgreSQL service), again in
one ansible-playbook run. render_stacks() is the function behind it; see there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
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
    # The role's internal variables (the dependency plan the Dockerfile follows), above the others as role vars are.
    vars_files.append(str(ROLE / "vars" / "main.yml"))
    return {
        "name": f"Render {name}",
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": vars_files,
        "tasks": [
            {
                "name": f"Render {out}",
                "ansible.builtin.template": {
                    "src": str(ROLE / "templates" / src),
                    "dest": str(dest / out),
                    "mode": "0644",
                },
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
        env = dict(
            os.environ,
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_LOCALHOST_WARNING="0",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
            ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
            ANSIBLE_DISPLAY_SKIPPED_HOSTS="0",
        )
        proc = subprocess.run(
            [_ansible_playbook(), "-i", "localhost,", "-c", "local", str(playbook)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"rendering failed (ansible-playbook rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return dirs


def machine_ca_certificates() -> list[dict[str, str]]:
    """This machine's extra CA certificates, as app_image_extra_ca_certificates items."""
    return [
        {"name": path.stem, "content": path.read_text(encoding="utf-8")}
        for path in sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    ]


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


def build_context(workdir: Path, shape: Path | None, source: Path, overrides: dict[str, t.Any] | None = None) -> Path:
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


# ------------------------------------------------------------------ app_stack
STACK_ROLE = REPO_ROOT / "roles" / "app_stack"
# Cases beyond the shapes themselves: the role defaults, and the settings the
# shapes leave off by default (other profile sets, a host with a GPU).
STACK_EXTRA_CASES: dict[str, Case] = {
    "defaults": Case(None, {}),
    "argusai_backend-no_profiles": Case(SHAPES / "argusai_backend.yml", {"app_stack_profiles": []}),
    "argusai_backend-all_profiles": Case(SHAPES / "argusai_backend.yml", {"app_stack_profiles": ["postgres", "ssl"]}),
    "ai_video_pipeline-backend_only": Case(SHAPES / "ai_video_pipeline.yml", {"app_stack_profiles": []}),
    "demeterai_gpu-gpu_present": Case(SHAPES / "demeterai_gpu.yml", {"aistack_gpu": {"present": True, "count": 1}}),
    # The worker pinned to the second of two GPUs (compose device_ids), as aistack_gpu lists them.
    "demeterai_gpu-gpu_ids": Case(
        SHAPES / "demeterai_gpu.yml",
        {
            "aistack_gpu": {
                "present": True,
                "count": 2,
                "memory_free_mib": [24000, 24000],
                "gpus": [
                    {"index": 0, "uuid": "GPU-0e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c40", "memory_free_mib": 24000},
                    {"index": 1, "uuid": "GPU-1e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c41", "memory_free_mib": 24000},
                ],
            },
            "app_stack_services": {
                "worker": {"gpu": [1], "environment": {"CUDA_VISIBLE_DEVICES": "0"}, "shm_size": "2g"}
            },
        },
    ),
    # One worker per GPU on a host of four (per_gpu), each asking for its GPU by CDI device name: nvidia_toolkit
    # generated a CDI specification (cdi_devices) and the engine injects CDI devices (Docker Engine 25 or later).
    "demeterai_gpu-per_gpu": Case(
        SHAPES / "demeterai_gpu.yml",
        {
            "aistack_docker": {"engine_version": "26.1.5"},
            "aistack_gpu": {
                "present": True,
                "count": 4,
                "memory_free_mib": [24000] * 4,
                "gpus": [
                    {
                        "index": index,
                        "uuid": f"GPU-{index}e2b7a3c-1f0d-8c4e-9a61-2d7f3b8e0c4{index}",
                        "memory_free_mib": 24000,
                    }
                    for index in range(4)
                ],
                "cdi_devices": ["nvidia.com/gpu=all"] + [f"nvidia.com/gpu={index}" for index in range(4)],
            },
            "app_stack_services": {"worker": {"per_gpu": True, "shm_size": "2g"}},
        },
    ),
    # An app that reads its connection in pieces under its own names (app_stack_env_from).
    "reference_backend-env_from": Case(
        SHAPES / "reference_backend.yml",
        {
            "app_stack_env_from": {
                "POSTGRES_SERVER": "postgres.host",
                "POSTGRES_PORT": "postgres.port",
                "POSTGRES_USER": "postgres.user",
                "POSTGRES_DB": "postgres.db",
                "DB_PASSWORD": "postgres.password",
                "SQLALCHEMY_URL": "postgres.url",
                "CELERY_BROKER_URL": "redis.url",
            }
        },
    ),
}
# Secrets for rendering only: every required one gets a value that is no
# placeholder; the database password has URL-special characters so that the
# DATABASE_URL the role derives is exercised too.
LINT_SECRET = "lint-only-{name}-not-a-real-secret"
LINT_DB_PASSWORD = "lint/Only:p@ss-not-a-real-secret"


class StackResult(t.NamedTuple):
    """One rendered stack: its directory, and why it failed (None when it rendered)."""

    directory: Path
    failure: dict[str, t.Any] | None

    @property
    def compose(self) -> Path:
        return self.directory / "compose.yaml"

    def unit(self) -> Path:
        units = sorted(self.directory.glob("aistack-*.service"))
        if len(units) != 1:
            raise RuntimeError(f"{self.directory}: expected one rendered unit, found {units}")
        return units[0]

    def model(self) -> dict[str, t.Any]:
        return json.loads((self.directory / "model.json").read_text(encoding="utf-8"))


def stack_cases(shapes_dir: Path = SHAPES) -> dict[str, Case]:
    """Every shape, plus STACK_EXTRA_CASES (the role defaults among them)."""
    return {**shape_cases(shapes_dir), **STACK_EXTRA_CASES}


def _plain_vars(case: Case) -> dict[str, t.Any]:
    """The shape's variables and the case's overrides, as written (no templating)."""
    found: dict[str, t.Any] = {}
    if case.shape is not None:
        found.update(yaml.safe_load(Path(case.shape).read_text(encoding="utf-8")) or {})
    found.update(case.overrides)
    return found


def stack_lint_vars(case: Case, root: Path, docker_binary: str | None = None) -> dict[str, t.Any]:
    """What a lint render sets besides the shape: images of the targets the shape builds, dummy secrets, paths.

    app_stack_images maps each target of the shape's app_image_targets (the
    app_image default [api] otherwise) to an image name, as app_image's
    aistack_image fact would: a service asking for a target the shape's image
    does not build is a problem, as it is on a host. app_stack_root is
    root, where the role's env.j2 writes the .env the compose file names.
    """
    variables = _plain_vars(case)
    app_defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    targets = variables.get("app_image_targets", app_defaults["app_image_targets"])
    stack_defaults = yaml.safe_load((STACK_ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    required = list(variables.get("app_stack_required_secrets", stack_defaults["app_stack_required_secrets"]))
    password = variables.get("app_stack_postgres_password_secret", stack_defaults["app_stack_postgres_password_secret"])
    secrets = {name: LINT_SECRET.format(name=re.sub(r"[^a-z0-9]+", "-", name.lower())) for name in required}
    secrets[password] = LINT_DB_PASSWORD
    out: dict[str, t.Any] = {
        "app_stack_root": str(root),
        "app_stack_images": {target: f"aistack-lint/app-{target}:lint" for target in targets},
        "app_stack_secrets": secrets,
    }
    if docker_binary:
        out["app_stack_docker_binary"] = docker_binary
    return out


def _validate_tasks() -> list[dict[str, t.Any]]:
    """The role's own validate.yml up to its first task that needs a Docker Engine.

    Those are the release/path and deploy-setting checks, the model
    (set_fact __app_stack_model through the aistack.deploy.app_stack_model
    filter), its problem check and the secret checks: the same task text the
    role runs, read from the file each time.
    """
    tasks = yaml.safe_load((STACK_ROLE / "tasks" / "validate.yml").read_text(encoding="utf-8"))
    kept: list[dict[str, t.Any]] = []
    for task in tasks:
        if any(key.startswith("community.docker.") for key in task):
            break
        kept.append(task)
    if not any("__app_stack_model" in (task.get("ansible.builtin.set_fact") or {}) for task in kept):
        raise RuntimeError(
            "roles/app_stack/tasks/validate.yml no longer builds __app_stack_model "
            "before its first Docker task: update aistack_testlib/render_shapes.py"
        )
    return kept


def _case_vars(case: Case, overrides: dict[str, t.Any]) -> dict[str, t.Any]:
    """Role defaults, the shape, overrides, the role's vars/main.yml: layered as Ansible does, one flat dict.

    Top-level names replace each other (Ansible's default hash behaviour) and
    every value stays as written, so Jinja in the defaults and in the shape is
    templated lazily on the host, as it is when the role runs.
    """
    merged: dict[str, t.Any] = {}
    merged.update(yaml.safe_load((STACK_ROLE / "defaults" / "main.yml").read_text(encoding="utf-8")) or {})
    if case.shape is not None:
        merged.update(yaml.safe_load(Path(case.shape).read_text(encoding="utf-8")) or {})
    merged.update(overrides)
    # Role vars (the presets) rank above play and inventory variables.
    merged.update(yaml.safe_load((STACK_ROLE / "vars" / "main.yml").read_text(encoding="utf-8")) or {})
    # validate.yml reads the role's argument spec (its input check) from role_path.
    merged["role_path"] = str(STACK_ROLE)
    return merged


def _stack_play() -> dict[str, t.Any]:
    """One play over every case (a host each): the role's validate tasks, then its templates."""
    steps: list[dict[str, t.Any]] = []
    for task in _validate_tasks():
        steps.append(task)
        if "__app_stack_model" in (task.get("ansible.builtin.set_fact") or {}):
            steps.append(
                {
                    "name": "Keep the model (also when it has problems)",
                    "ansible.builtin.copy": {
                        "content": "{{ __app_stack_model | to_nice_json(indent=2) }}\n",
                        "dest": "{{ __lint_dest }}/model.json",
                        "mode": "0644",
                    },
                }
            )
    templates = STACK_ROLE / "templates"
    steps += [
        {
            "name": "Create the release directory as the role does",
            "ansible.builtin.file": {
                "path": "{{ app_stack_root }}/releases/{{ app_stack_release }}",
                "state": "directory",
                "mode": "0755",
            },
        },
        {
            "name": "Render .env as the role does",
            "no_log": True,
            "ansible.builtin.template": {
                "src": str(templates / "env.j2"),
                "dest": "{{ app_stack_root }}/releases/{{ app_stack_release }}/.env",
                "mode": "0600",
            },
        },
        {
            "name": "Render postgres.env as the role does (PostgreSQL's password alone)",
            "no_log": True,
            "ansible.builtin.template": {
                "src": str(templates / "env.j2"),
                "dest": "{{ app_stack_root }}/releases/{{ app_stack_release }}/postgres.env",
                "mode": "0600",
            },
            "vars": {"__app_stack_env_postgres_only": True},
            "when": "__app_stack_model.postgres_service | length > 0",
        },
        {
            "name": "Render compose.yaml as the role does",
            "ansible.builtin.template": {
                "src": str(templates / "compose.yaml.j2"),
                "dest": "{{ __lint_dest }}/compose.yaml",
                "mode": "0644",
            },
        },
        {
            "name": "Render the unit as the role does",
            "ansible.builtin.template": {
                "src": str(templates / "aistack-app.service.j2"),
                "dest": "{{ __lint_dest }}/aistack-{{ app_stack_name }}.service",
                "mode": "0644",
            },
        },
    ]
    return {
        "name": "Render the app_stack role's files for every case",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Render the case",
                "block": steps,
                "rescue": [
                    {
                        "name": "Record why it failed",
                        "ansible.builtin.copy": {
                            "content": "{{ {'task': ansible_failed_task.name, 'msg': ansible_failed_result.msg | default(''),"
                            " 'problems': (__app_stack_model | default({})).problems | default([])}"
                            " | to_nice_json(indent=2) }}\n",
                            "dest": "{{ __lint_dest }}/failed.json",
                            "mode": "0644",
                        },
                    }
                ],
            }
        ],
    }


def render_stacks(
    outdir: Path, cases: t.Mapping[str, Case], docker_binary: str | None = None
) -> dict[str, StackResult]:
    """Render the app_stack role's compose file and unit for every case, in one ansible-playbook run.

    Each case is a host of its own (local connection) in one play, so a case
    that fails its checks fails alone: its StackResult.failure names the task
    and message (the model's problems, a missing secret). Variables are
    layered as the role sees them (_case_vars): role defaults, the shape,
    stack_lint_vars() and then the case's overrides, the role's vars/main.yml
    (presets) on top. The model is built by the tasks of the role's
    validate.yml (see _validate_tasks); .env, compose.yaml and the unit by
    the role's templates.
    """
    outdir = Path(outdir).resolve()
    names = list(cases)
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
            raise ValueError(f"case name {name!r}: letters, digits, '.', '_' and '-' only")
    dirs = {name: outdir / name for name in names}
    hosts = {}
    for name, case in cases.items():
        if dirs[name].exists():
            shutil.rmtree(dirs[name])
        (dirs[name] / "root").mkdir(parents=True)
        variables = _case_vars(case, {**stack_lint_vars(case, dirs[name] / "root", docker_binary), **case.overrides})
        hosts[name] = dict(
            variables,
            __lint_dest=str(dirs[name]),
            ansible_connection="local",
            ansible_python_interpreter=sys.executable,
        )
    with tempfile.TemporaryDirectory(prefix="aistack-render-stack-") as work:
        playbook = Path(work) / "render-stacks.yml"
        playbook.write_text(json.dumps([_stack_play()]), encoding="utf-8")
        inventory = Path(work) / "inventory.json"
        inventory.write_text(json.dumps({"all": {"hosts": hosts}}), encoding="utf-8")
        env = dict(
            os.environ,
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_LOCALHOST_WARNING="0",
            ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
            ANSIBLE_DISPLAY_SKIPPED_HOSTS="0",
            ANSIBLE_PIPELINING="1",
            ANSIBLE_FORKS=str(min(len(names), os.cpu_count() or 1)),
        )
        proc = subprocess.run(
            [_ansible_playbook(), "-i", str(inventory), str(playbook)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"rendering failed (ansible-playbook rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    results = {}
    for name in names:
        failed = dirs[name] / "failed.json"
        failure = json.loads(failed.read_text(encoding="utf-8")) if failed.exists() else None
        if failure is None and not (dirs[name] / "compose.yaml").exists():
            raise RuntimeError(f"{name}: neither rendered nor failed; ansible-playbook said:\n{proc.stdout}")
        results[name] = StackResult(dirs[name], failure)
    return results


def main(argv: list[str]) -> int:
    if len(argv) in (3, 4) and argv[1] == "--stack":
        failed = 0
        for name, result in render_stacks(Path(argv[2]), stack_cases(), argv[3] if len(argv) == 4 else None).items():
            problems = result.model()["problems"] if result.failure is None else []
            if result.failure is None and not problems:
                sys.stderr.write(f"rendered {name}: {result.compose} {result.unit().name}\n")
            elif result.failure is None:
                # The role's own assert stops a model with problems; this holds should validate.yml change.
                failed += 1
                sys.stderr.write(f"FAILED {name}: the model has problems\n")
                for problem in problems:
                    sys.stderr.write(f"    {problem}\n")
            else:
                failed += 1
                sys.stderr.write(f"FAILED {name}: {result.failure['task']}: {result.failure['msg']}\n")
                for problem in result.failure["problems"]:
                    sys.stderr.write(f"    {problem}\n")
        return 1 if failed else 0
    return _main_dockerfiles(argv)


def _main_dockerfiles(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(f"usage: {argv[0]} OUTDIR | --stack OUTDIR [DOCKER_BINARY]\n")
        return 2
    for name, directory in render(Path(argv[1]), shape_cases()).items():
        sys.stderr.write(f"rendered {name}: {directory / 'Dockerfile'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
