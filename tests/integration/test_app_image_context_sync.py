"""app_image's build context on a host (tasks/context.yml), through ansible-playbook on this machine.

The builder is named 127.0.0.1 (the machine itself, reached over the local
connection), so the role takes the path of a remote host: the source packed on
the controller once, the archive copied beside the build directory, unpacked
there. A run with nothing changed is one probe of the build directory and its
stamp; the layout steps (context_layout.yml) run only when the source, the
files the role adds or the directory itself changed. What the probe prints as
the context hash is the digest that aistack-context-archive.py's --layout
computes (the label of a controller build), so either path labels the same
context alike. Nothing here needs the engine: no image is built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "roles" / "app_image" / "files" / "aistack-context-archive.py"
LAYOUT = "context_layout | "

CONTEXT = """
- name: Lay out the build context
  ansible.builtin.include_role:
    name: aistack.deploy.app_image
    tasks_from: context
  vars: {role_vars}

- name: Show the context hash
  ansible.builtin.debug:
    msg: "{{{{ __app_image_context_probe.stdout_lines[1] }}}}"
"""


def certificate(name: str) -> dict[str, str]:
    return {"name": name, "content": f"-----BEGIN CERTIFICATE-----\n{name}\n-----END CERTIFICATE-----\n"}


@pytest.fixture
def app(tmp_path: Path) -> dict[str, t.Any]:
    src = tmp_path / "src"
    (src / "app" / "api").mkdir(parents=True)
    (src / "requirements.txt").write_text("fastapi\n")
    (src / "app" / "__init__.py").write_text("")
    (src / "app" / "api" / "routes.py").write_text("ROUTES = []\n")
    (src / "app" / "main.py").write_text("print('hi')\n")
    (src / "Dockerfile").write_text("FROM scratch\n")  # the app's own: left out with the generated one
    build = tmp_path / "build" / "1.0.0"
    role_vars = {
        "app_image_name": "aistack-it/context-sync",
        "app_image_release": "1.0.0",
        "app_image_targets": ["api"],
        "app_image_extra_ca_certificates": [certificate("corp")],
        "app_image_context_src": str(src),
        "app_image_controller_dir": str(tmp_path / "controller"),
        "__app_image_builder": "127.0.0.1",
        "__app_image_build_path": str(build),
    }
    return {"src": src, "build": build, "vars": role_vars}


def run(playbook: t.Callable[..., t.Any], role_vars: dict[str, t.Any], **kwargs: t.Any) -> t.Any:
    result = playbook(CONTEXT.format(role_vars=json.dumps(role_vars)), **kwargs)
    assert result.rc == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def rows(result: t.Any) -> dict[str, dict[str, t.Any]]:
    """Task name (without the role's prefix) to its result on localhost."""
    return {name.split(" : ", 1)[-1]: host for name, host in result.tasks.items()}


def changed(result: t.Any) -> list[str]:
    return [name for name, host in rows(result).items() if host.get("changed")]


def laid_out(result: t.Any) -> bool:
    """Whether the layout steps ran (their include was not skipped)."""
    return any(name.startswith(LAYOUT) and not host.get("skipped") for name, host in rows(result).items())


def tree(build: Path) -> list[str]:
    return sorted(p.relative_to(build).as_posix() for p in build.rglob("*"))


def layout_hash(build: Path, src: Path) -> str:
    """The digest aistack-context-archive.py --layout --check prints for the directory as it is."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--layout", str(build), str(src), "--check"],
        input="{}",
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)["hash"]


def current(result: t.Any) -> str:
    return result.task("Show the context hash")["msg"]


EXPECTED = [
    ".dockerignore",
    "Dockerfile",
    "aistack-ca-certificates",
    "aistack-ca-certificates/corp.crt",
    "app",
    "app/__init__.py",
    "app/api",
    "app/api/routes.py",
    "app/main.py",
    "requirements.txt",
]


def test_a_no_op_is_one_probe_and_changes_are_found_and_undone(
    app: dict[str, t.Any], playbook: t.Callable[..., t.Any]
) -> None:
    build, src, role_vars = app["build"], app["src"], app["vars"]
    # A fresh host in check mode: changes predicted, nothing written, no failure.
    checked = run(playbook, role_vars, check=True)
    assert changed(checked) and not build.exists() and not Path(f"{build}.context.stamp").exists()
    assert current(checked) == "none none"

    first = run(playbook, role_vars)
    assert laid_out(first) and "context_layout | Unpack the source into the build directory" in changed(first)
    assert tree(build) == EXPECTED
    assert "Python AI backend" in (build / "Dockerfile").read_text()  # the role's, not the app's
    assert (build / "aistack-ca-certificates" / "corp.crt").read_text() == certificate("corp")["content"]
    digest = current(first).split()[0]
    assert digest == layout_hash(build, src)

    # Nothing changed: the probe only, in a real run and in check mode.
    for check in (False, True):
        again = run(playbook, role_vars, check=check)
        assert changed(again) == [] and not laid_out(again), changed(again)
        assert rows(again)["context | Lay out the build context (the stamp differs from its inputs or the directory)"][
            "skipped"
        ]
        assert current(again).split()[0] == digest

    # Changed by hand in the build directory, one at a time: a file's content, a mode, a stray file the context
    # hash does not count (bytecode), an empty directory. Each is found (check mode predicts it, changing nothing)
    # and undone.
    def edit() -> None:
        (build / "app" / "main.py").write_text("print('edited on the host')\n")

    def chmod() -> None:
        (build / "requirements.txt").chmod(0o600)

    def bytecode() -> None:
        (build / "app" / "main.cpython-313.pyc").write_bytes(b"\0")

    def empty_dir() -> None:
        (build / "app" / "api" / "__pycache__").mkdir()

    for change in (edit, chmod, bytecode, empty_dir):
        change()
        before = tree(build)
        checked = run(playbook, role_vars, check=True)
        assert laid_out(checked) and changed(checked), change.__name__
        assert tree(build) == before  # check mode changed nothing
        fixed = run(playbook, role_vars)
        assert laid_out(fixed) and changed(fixed), change.__name__
        assert tree(build) == EXPECTED and (build / "app" / "main.py").read_text() == "print('hi')\n"
        assert (build / "requirements.txt").stat().st_mode & 0o777 == 0o644
        assert current(fixed).split()[0] == digest
    assert not laid_out(run(playbook, role_vars))

    # The source loses a file and gains one; a CA certificate is replaced by another.
    (src / "app" / "api" / "routes.py").unlink()
    (src / "app" / "new.py").write_text("NEW = 1\n")
    role_vars = {**role_vars, "app_image_extra_ca_certificates": [certificate("other")]}
    checked = run(playbook, role_vars, check=True)
    assert laid_out(checked) and changed(checked) and (build / "app" / "api" / "routes.py").exists()
    moved = run(playbook, role_vars)
    assert laid_out(moved)
    assert tree(build) == [
        ".dockerignore",
        "Dockerfile",
        "aistack-ca-certificates",
        "aistack-ca-certificates/other.crt",
        "app",
        "app/__init__.py",
        "app/api",
        "app/main.py",
        "app/new.py",
        "requirements.txt",
    ]
    assert current(moved).split()[0] == layout_hash(build, src) != digest
    again = run(playbook, role_vars)
    assert changed(again) == [] and not laid_out(again)

    # The build directory removed by hand (the stamp left): laid out again.
    subprocess.run(["rm", "-rf", str(build)], check=True)
    back = run(playbook, role_vars)
    assert laid_out(back) and os.path.isdir(build) and current(back).split()[0] == layout_hash(build, src)


def test_the_apps_own_dockerfile_is_the_one_laid_out_with_project(
    app: dict[str, t.Any], playbook: t.Callable[..., t.Any]
) -> None:
    build, role_vars = (
        app["build"],
        {**app["vars"], "app_image_dockerfile": "project", "app_image_extra_ca_certificates": []},
    )
    first = run(playbook, role_vars)
    assert laid_out(first) and (build / "Dockerfile").read_text() == "FROM scratch\n"
    assert not (build / ".dockerignore").exists() and not (build / "aistack-ca-certificates").exists()
    # Switching to the generated one is a change of inputs: the role's Dockerfile replaces the app's.
    generated = run(playbook, {**role_vars, "app_image_dockerfile": "generated"})
    assert laid_out(generated) and "Python AI backend" in (build / "Dockerfile").read_text()
    again = run(playbook, {**role_vars, "app_image_dockerfile": "generated"})
    assert changed(again) == [] and not laid_out(again)


# ------------------------------------------------------------- a fleet of hosts with their own sources

FLEET_PLAY = """
- hosts: builders
  gather_facts: false
  tasks:
    - name: Lay out the build context
      ansible.builtin.include_role:
        name: aistack.deploy.app_image
        tasks_from: context
"""


def run_fleet(tmp_path: Path, hosts: dict[str, dict[str, t.Any]], **common: t.Any) -> dict[str, dict[str, t.Any]]:
    """The context tasks on several builders at once (each this machine, local connection), one inventory.

    Returns, per task name without the role's prefix, the results per host.
    """
    inventory = {
        "builders": {
            "hosts": {name: {"ansible_connection": "local", **own} for name, own in hosts.items()},
            "vars": {**common, "__app_image_builder": "{{ inventory_hostname }}"},
        }
    }
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {"children": inventory}}))
    (tmp_path / "fleet.yml").write_text(FLEET_PLAY)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    done = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "inventory.json"), str(tmp_path / "fleet.yml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return {
        task["task"]["name"].split(" : ", 1)[-1]: task["hosts"]
        for play in json.loads(done.stdout)["plays"]
        for task in play["tasks"]
    }


def test_hosts_with_their_own_sources_each_get_their_own(tmp_path: Path) -> None:
    """Two builders of one image and release, each with its own source (host_vars): each lays out its own.

    Hosts that share a source share one archive, packed once; a host with another source packs its own, into
    an archive of its own: never over the first host's before that host has copied it. A new release rewrites
    the same archives.
    """
    sources = {}
    for name in ("a", "b", "c"):
        src = tmp_path / f"src-{name}"
        (src / "app").mkdir(parents=True)
        (src / "requirements.txt").write_text("fastapi\n")
        (src / "app" / "main.py").write_text(f"print('source {name}')\n")
        sources[name] = src
    hosts = {
        # Two hosts with source a (one archive, packed once), one with source b.
        "builder-1": {"app_image_context_src": str(sources["a"]), "__app_image_build_path": str(tmp_path / "b1")},
        "builder-2": {"app_image_context_src": str(sources["b"]), "__app_image_build_path": str(tmp_path / "b2")},
        "builder-3": {"app_image_context_src": str(sources["a"]), "__app_image_build_path": str(tmp_path / "b3")},
    }
    common = {
        "app_image_name": "aistack-it/context-fleet",
        "app_image_release": "1.0.0",
        "app_image_targets": ["api"],
        "app_image_extra_ca_certificates": [],
        "app_image_controller_dir": str(tmp_path / "controller"),
    }

    def main_py(build: str) -> str:
        return (tmp_path / build / "app" / "main.py").read_text()

    first = run_fleet(tmp_path, hosts, **common)
    assert (main_py("b1"), main_py("b2"), main_py("b3")) == (
        "print('source a')\n",
        "print('source b')\n",
        "print('source a')\n",
    )
    own = first["context | Pack the source of a host whose source or archive is not the first host's"]
    assert [host for host, result in sorted(own.items()) if not result.get("skipped")] == ["builder-2"]
    assert len(list((tmp_path / "controller" / "context").glob("*.tar"))) == 2

    # A new release of the same sources: the same two archives (one per source, not one more per release), and
    # no host lays anything out.
    again = run_fleet(tmp_path, hosts, **{**common, "app_image_release": "1.0.1"})
    assert len(list((tmp_path / "controller" / "context").glob("*.tar"))) == 2
    layout = "context | Lay out the build context (the stamp differs from its inputs or the directory)"
    assert all(result.get("skipped") for result in again[layout].values()), again[layout]

    # Host 2 moves to a third source: only it lays out again, and gets that source.
    hosts["builder-2"]["app_image_context_src"] = str(sources["c"])
    moved = run_fleet(tmp_path, hosts, **common)
    assert sorted(host for host, result in moved[layout].items() if not result.get("skipped")) == ["builder-2"]
    assert (main_py("b1"), main_py("b2"), main_py("b3")) == (
        "print('source a')\n",
        "print('source c')\n",
        "print('source a')\n",
    )
