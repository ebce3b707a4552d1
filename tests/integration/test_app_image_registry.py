"""app_image's push and pull paths against a real registry on this machine.

The registry is Debian's docker-registry package (Distribution 2.8, the
program of the official registry image), built into aistack-test/registry:2
by tests/harness/images/build-registry-image.sh (no pull; cached by content, so a
second run costs a fraction of a second) and run on the machine's engine on
127.0.0.1:<free port>, plain HTTP (the engine allows 127.0.0.0/8 registries).

The role runs through ansible-playbook on localhost, which plays the
controller and the hosts in turn: a build (build_controller or build_host)
pushes <registry>/<name>-<target>:<release>; then "another host" (localhost
after its copies of the image are removed) pulls it and finds it under the
local name <name>-<target>:<release>. Every second run reports changed=0, so
does --check after a run, and --check on a host that lacks the image changes
nothing. The controller build and its pull go through a registry with basic
authentication (refused without credentials, the password never in the
output, each HOME logged in once); the host build and the pruning use a plain
one. A GPU host that builds its own image pushes it as <release>-gpu, the
tag a GPU host pulls. Also: the build directory mirroring its source,
pruning of pulled releases, and the input checks.

The application is a minimal one (no requirements) on the harness's Python
base from Debian packages, so a build takes seconds. Everything made here is
named aistack-it-* (AISTACK_IT_PREFIX sets another prefix) and removed afterwards: containers, tags, and the untagged
images these builds leave (builder stages, replaced tags), told apart by the
test's name in their requirements file and label.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import typing as t
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "tests" / "harness"
PlaybookResult = t.Any  # conftest.PlaybookResult: rc, tasks, stdout, stderr, task(name)

REGISTRY_IMAGE = "aistack-test/registry:2"
PYTHON_BASE = "aistack-test/python:3.13-slim"
USER, PASSWORD = "deployer", "s3cret-" + uuid.uuid4().hex[:12]

ROLE = """
- name: Run app_image
  ansible.builtin.include_role:
    name: aistack.deploy.app_image
  vars: {role_vars}

- name: Show the fact
  ansible.builtin.debug:
    var: aistack_image
"""


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def registry_image() -> str:
    subprocess.run([str(HARNESS / "images" / "build-registry-image.sh"), REGISTRY_IMAGE], check=True)
    return REGISTRY_IMAGE


@pytest.fixture(scope="module")
def python_base() -> str:
    subprocess.run([str(HARNESS / "images" / "build-base-images.sh"), "python"], check=True)
    return PYTHON_BASE


def start_registry(client: t.Any, image: str, **kwargs: t.Any) -> tuple[t.Any, str]:
    """Run the registry on 127.0.0.1:<free port>; return the container and host:port once it answers."""
    container = client.containers.run(
        image,
        name=f"{os.environ.get('AISTACK_IT_PREFIX') or 'aistack-it-'}registry-{uuid.uuid4().hex[:8]}",
        detach=True,
        ports={"5000/tcp": ("127.0.0.1", None)},
        **kwargs,
    )
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"]
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2).close()
                break
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # basic authentication on: it answers
                    break
                raise
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise AssertionError("the registry never answered:\n" + container.logs().decode()[-3000:]) from exc
                time.sleep(0.2)
        return container, f"127.0.0.1:{port}"
    except BaseException:
        container.remove(force=True, v=True)
        raise


@pytest.fixture(scope="module")
def registry(docker_client: t.Any, registry_image: str) -> t.Iterator[str]:
    container, address = start_registry(docker_client, registry_image)
    try:
        yield address
    finally:
        container.remove(force=True, v=True)


@pytest.fixture(scope="module")
def auth_registry(
    docker_client: t.Any, registry_image: str, tmp_path_factory: pytest.TempPathFactory
) -> t.Iterator[str]:
    """A second registry with basic authentication (htpasswd, bcrypt) for USER/PASSWORD."""
    line = (
        docker_client.containers.run(
            registry_image, entrypoint=["htpasswd"], command=["-Bbn", USER, PASSWORD], remove=True
        )
        .decode()
        .strip()
    )
    htpasswd = tmp_path_factory.mktemp("auth") / "htpasswd"
    htpasswd.write_text(line + "\n")
    htpasswd.chmod(0o644)
    container, address = start_registry(
        docker_client,
        registry_image,
        environment={
            "REGISTRY_AUTH": "htpasswd",
            "REGISTRY_AUTH_HTPASSWD_REALM": "aistack-test",
            "REGISTRY_AUTH_HTPASSWD_PATH": "/etc/docker/registry/auth/htpasswd",
        },
        volumes={str(htpasswd): {"bind": "/etc/docker/registry/auth/htpasswd", "mode": "ro"}},
    )
    try:
        yield address
    finally:
        container.remove(force=True, v=True)


@pytest.fixture
def app(tmp_path: Path, unique_name: str, docker_client: t.Any, python_base: str) -> t.Iterator[dict[str, t.Any]]:
    """A minimal application source and the role variables to build it; removes its images afterwards."""
    src = tmp_path / "src"
    (src / "app").mkdir(parents=True)
    # The requirements file and a label carry the test's name, so the images
    # its builds leave behind untagged (the builder stage, replaced tags) can be
    # told from anyone else's and removed.
    requirements = f"requirements-{unique_name}.txt"
    (src / requirements).write_text("# nothing: the standard library is enough\n")
    (src / "app" / "__init__.py").write_text("")
    (src / "app" / "main.py").write_text("def app(scope, receive, send):\n    raise NotImplementedError\n")
    name = f"aistack-it/{unique_name}"
    role_vars = {
        "app_image_name": name,
        "app_image_release": "1.0.0",
        "app_image_targets": ["api"],
        "app_image_python_base": python_base,
        "app_image_python_version": "3.13",
        "app_image_build_packages": [],
        "app_image_requirements_file": requirements,
        "app_image_labels": {"io.aistack.test.app": unique_name},
        "app_image_extra_ca_certificates": [],
        "app_image_context_src": str(src),
        "app_image_build_dir": str(tmp_path / "host-build"),
        "app_image_controller_dir": str(tmp_path / "controller"),
        "app_image_host_archive_dir": str(tmp_path / "archives"),
    }
    yield {"src": src, "name": name, "vars": role_vars, "tmp": tmp_path, "requirements": requirements}
    for image in docker_client.images.list():
        for tag in image.tags:
            if f"{name}-" in tag:
                try:
                    docker_client.images.remove(tag, force=True)
                except Exception:  # pylint: disable=broad-exception-caught  # removed with an earlier tag
                    pass
    for image in docker_client.images.list(filters={"dangling": True}):
        labels = image.attrs["Config"].get("Labels") or {}
        command = " ".join((image.attrs.get("ContainerConfig") or {}).get("Cmd") or [])
        if labels.get("io.aistack.test.app") == unique_name or requirements in command:
            try:
                docker_client.images.remove(image.id, force=True)
            except Exception:  # pylint: disable=broad-exception-caught  # gone with another one
                pass


# ------------------------------------------------------------------- helpers


def run_role(playbook: t.Callable[..., PlaybookResult], role_vars: dict[str, t.Any], **kwargs: t.Any) -> PlaybookResult:
    return playbook(ROLE.format(role_vars=json.dumps(role_vars)), **kwargs)


def stats(result: PlaybookResult) -> dict[str, int]:
    return json.loads(result.stdout)["stats"]["localhost"]


def ok(result: PlaybookResult) -> dict[str, int]:
    assert result.rc == 0, failures(result) + result.stderr[-3000:]
    return stats(result)


def failures(result: PlaybookResult) -> str:
    data = json.loads(result.stdout)
    found = []
    for play in data["plays"]:
        for task in play["tasks"]:
            host = task["hosts"].get("localhost", {})
            items = host.get("results") or [host]
            for item in items:
                if item.get("failed"):
                    found.append(f"{short(task['task']['name'])}: {item.get('msg')}")
    return "\n".join(found) or result.stdout[-3000:]


def changed_tasks(result: PlaybookResult) -> list[str]:
    data = json.loads(result.stdout)
    return [
        short(task["task"]["name"])
        for play in data["plays"]
        for task in play["tasks"]
        if task["hosts"].get("localhost", {}).get("changed")
    ]


def short(task_name: str) -> str:
    """A task's name without the role prefix ("aistack.deploy.app_image : ")."""
    return task_name.split(" : ", 1)[-1]


def registry_get(address: str, path: str, auth: tuple[str, str] | None = None) -> t.Any:
    request = urllib.request.Request(f"http://{address}{path}")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def manifest_digest(address: str, repository: str, tag: str) -> str:
    """The digest of the manifest a registry's tag names."""
    request = urllib.request.Request(
        f"http://{address}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"]


def self_signed_certificate() -> str:
    """A CA certificate in PEM (what a private registry's CA hands out)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aistack-it test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def image_id(client: t.Any, reference: str) -> str | None:
    try:
        return client.images.get(reference).id
    except Exception:  # pylint: disable=broad-exception-caught  # docker.errors.ImageNotFound
        return None


def forget_image(client: t.Any, *references: str) -> None:
    """Make this engine "another host": remove every tag of the image (it leaves the disk)."""
    for reference in references:
        try:
            client.images.remove(reference, force=True)
        except Exception:  # pylint: disable=broad-exception-caught  # not there
            pass


# --------------------------------------------------------------------- tests


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"app_image_source": "pull", "app_image_push": True, "app_image_registry": "127.0.0.1:5000"},
            "app_image_push: pushes what a build made",
        ),
        # A typo in a file name the build reads: named before any change, not when the build fails minutes later.
        (
            {"app_image_requirements_file": "requirement.txt"},
            'app_image_requirements_file: "requirement.txt": no such file in app_image_context_src',
        ),
        (
            {"app_image_source": "pull", "app_image_registry": "https://127.0.0.1:5000"},
            'app_image_registry: "https://127.0.0.1:5000": must be host[:port][/path]',
        ),
        (
            {"app_image_source": "pull", "app_image_registry": "127.0.0.1:5000/team/"},
            'app_image_registry: "127.0.0.1:5000/team/": must be host[:port][/path]',
        ),
        (
            {"app_image_source": "pull", "app_image_registry": "127.0.0.1:5000", "app_image_registry_username": "u"},
            "app_image_registry_username: and app_image_registry_password go together",
        ),
        (
            {
                "app_image_source": "pull",
                "app_image_registry": "127.0.0.1:5000",
                "app_image_registry_ca_certificate": "not a certificate",
            },
            "app_image_registry_ca_certificate: must be a PEM certificate",
        ),
    ],
)
def test_bad_registry_input_fails_before_any_change(
    app: dict[str, t.Any], playbook: t.Callable[..., PlaybookResult], extra: dict[str, t.Any], message: str
) -> None:
    result = run_role(playbook, {**app["vars"], **extra})
    assert result.rc != 0
    assert message in failures(result)
    assert stats(result)["changed"] == 0
    assert not (app["tmp"] / "host-build").exists() and not (app["tmp"] / "controller").exists()


def test_controller_build_pushes_and_another_host_pulls_with_basic_authentication(
    app: dict[str, t.Any], auth_registry: str, docker_client: t.Any, playbook: t.Callable[..., PlaybookResult]
) -> None:
    name, local = app["name"], f"{app['name']}-api:1.0.0"
    remote = f"{auth_registry}/team/{local}"
    # The login is stored in ~/.docker/config.json: a HOME of the test's own keeps the machine's untouched.
    home, other_home = app["tmp"] / "home", app["tmp"] / "other-home"  # the controller; another host, not logged in
    home.mkdir()
    other_home.mkdir()
    creds = {
        "app_image_registry": f"{auth_registry}/team",
        "app_image_registry_username": USER,
        "app_image_registry_password": PASSWORD,
    }
    push_vars = {**app["vars"], **creds, "app_image_source": "build_controller", "app_image_push": True}

    # Check mode on a fresh controller: it would build and push, and changes nothing.
    dry = ok(run_role(playbook, push_vars, check=True, env={"HOME": str(home)}))
    assert dry["changed"] > 0 and image_id(docker_client, local) is None

    # Without credentials the registry refuses the push (the build before it stays), and the role says where.
    refused = run_role(
        playbook,
        {**push_vars, "app_image_registry_username": "", "app_image_registry_password": ""},
        env={"HOME": str(home)},
    )
    assert refused.rc != 0 and "push | Push the images" in failures(refused)
    assert not (home / ".docker" / "config.json").exists()

    first = run_role(playbook, push_vars, env={"HOME": str(home)})
    ok(first)
    assert PASSWORD not in first.stdout + first.stderr
    assert {"registry | Log in to the registry", "push | Push the images"} <= set(changed_tasks(first))
    assert json.loads((home / ".docker" / "config.json").read_text())["auths"][auth_registry]["auth"]
    built = image_id(docker_client, local)
    assert built and image_id(docker_client, remote) == built
    auth = (USER, PASSWORD)
    assert f"team/{name}-api" in registry_get(auth_registry, "/v2/_catalog", auth=auth)["repositories"]
    assert registry_get(auth_registry, f"/v2/team/{name}-api/tags/list", auth=auth)["tags"] == ["1.0.0"]

    again = run_role(playbook, push_vars, env={"HOME": str(home)})
    assert ok(again)["changed"] == 0, changed_tasks(again)
    checked = run_role(playbook, push_vars, check=True, env={"HOME": str(home)})
    assert ok(checked)["changed"] == 0, changed_tasks(checked)

    # Another host: no copy of the image at all, and no login yet.
    forget_image(docker_client, local, remote)
    assert image_id(docker_client, built) is None
    pull_vars = {**app["vars"], **creds, "app_image_source": "pull", "app_image_context_src": ""}
    dry = run_role(playbook, pull_vars, check=True, env={"HOME": str(other_home)})
    assert ok(dry)["changed"] > 0 and image_id(docker_client, local) is None

    pulled = run_role(playbook, pull_vars, env={"HOME": str(other_home)})
    ok(pulled)
    assert PASSWORD not in pulled.stdout + pulled.stderr
    assert {"pull | Pull the images from the registry", "pull | Tag the images with their local names"} <= set(
        changed_tasks(pulled)
    )
    assert json.loads((other_home / ".docker" / "config.json").read_text())["auths"][auth_registry]["auth"]
    assert image_id(docker_client, local) == built  # the same image, by content address
    fact = pulled.task("Show the fact")["aistack_image"]
    assert fact["images"] == {"api": local} and fact["id"] == built and fact["source"] == "pull"
    assert fact["uid"] == 10001 and fact["gid"] == 10001

    again = run_role(playbook, pull_vars, env={"HOME": str(other_home)})
    assert ok(again)["changed"] == 0, changed_tasks(again)
    checked = run_role(playbook, pull_vars, check=True, env={"HOME": str(other_home)})
    assert ok(checked)["changed"] == 0, changed_tasks(checked)


def test_host_build_pushes_and_its_build_dir_mirrors_the_source(
    app: dict[str, t.Any], registry: str, docker_client: t.Any, playbook: t.Callable[..., PlaybookResult]
) -> None:
    name, local = app["name"], f"{app['name']}-api:1.0.0"
    remote = f"{registry}/{local}"
    build_dir = app["tmp"] / "host-build"
    (app["src"] / "app" / "old.py").write_text("OLD = True\n")
    # A private CA's certificate goes where Docker looks for it (a directory of the test's own here).
    certs = app["tmp"] / "certs.d"
    role_vars = {
        **app["vars"],
        "app_image_source": "build_host",
        "app_image_push": True,
        "app_image_registry": registry,
        "app_image_registry_ca_certificate": self_signed_certificate(),
        "app_image_registry_certs_dir": str(certs),
    }

    ok(run_role(playbook, role_vars))
    first = image_id(docker_client, local)
    assert first and image_id(docker_client, remote) == first
    assert (build_dir / "app" / "old.py").is_file()
    assert registry_get(registry, f"/v2/{name}-api/tags/list")["tags"] == ["1.0.0"]
    assert (certs / registry / "ca.crt").read_text() == role_vars["app_image_registry_ca_certificate"].strip() + "\n"

    # The source loses a file (and a directory); the build directory had a stray one too.
    (app["src"] / "app" / "old.py").unlink()
    (build_dir / "stray").mkdir()
    (build_dir / "stray" / "left.txt").write_text("not in the source\n")
    # A release name is immutable: the same release from another source is refused, naming the image,
    # in check mode (which predicts it) as in a real run...
    for check in (True, False):
        refused = run_role(playbook, role_vars, check=check)
        assert refused.rc != 0 and f"{local} on localhost was built from another build context" in failures(refused)
        assert image_id(docker_client, local) == first
    # ...unless the user asks to replace it.
    role_vars["app_image_release_replace"] = True
    checked = run_role(playbook, role_vars, check=True)
    assert ok(checked)["changed"] > 0 and image_id(docker_client, local) == first
    rebuilt = run_role(playbook, role_vars)
    ok(rebuilt)
    # (The refused run had already laid out today's context: the build directory mirrors the source.)
    assert {
        "build_images | Build the images",
        "push | Remove the registry names of replaced builds",
        "push | Push the images",
    } <= set(changed_tasks(rebuilt))
    assert not (build_dir / "app" / "old.py").exists() and not (build_dir / "stray").exists()
    assert sorted(p.relative_to(build_dir).as_posix() for p in build_dir.rglob("*")) == [
        ".dockerignore",
        "Dockerfile",
        "app",
        "app/__init__.py",
        "app/main.py",
        app["requirements"],
    ]
    second = image_id(docker_client, local)
    assert second != first and image_id(docker_client, remote) == second
    # The registry's tag now names the new build: its manifest is the one this engine pushed.
    assert docker_client.images.get(remote).attrs["RepoDigests"] == [
        f"{registry}/{name}-api@{manifest_digest(registry, f'{name}-api', '1.0.0')}"
    ]
    # The previous build left the disk (no digest reference keeps it).
    assert image_id(docker_client, first) is None

    again = run_role(playbook, role_vars)
    assert ok(again)["changed"] == 0, changed_tasks(again)
    checked = run_role(playbook, role_vars, check=True)
    assert ok(checked)["changed"] == 0, changed_tasks(checked)


def test_a_gpu_host_s_own_build_is_what_a_gpu_host_pulls(
    app: dict[str, t.Any], registry: str, docker_client: t.Any, playbook: t.Callable[..., PlaybookResult]
) -> None:
    """A GPU host that builds and pushes names the GPU variant <release>-gpu, as a controller build does: a GPU
    host that pulls (app_image_variant auto, a GPU present) asks for that tag and finds it (it once found
    nothing: the host build pushed <release>, the tag of the CPU variant). The Debian Python base stands in
    for the CUDA base."""
    name, local = app["name"], f"{app['name']}-api:1.0.0-gpu"
    remote = f"{registry}/{local}"
    gpu_host = {
        **app["vars"],
        "app_image_variant": "auto",
        "app_image_gpu_present": True,
        "app_image_cuda_base": PYTHON_BASE,
        "app_image_registry": registry,
    }
    built_run = run_role(playbook, {**gpu_host, "app_image_source": "build_host", "app_image_push": True})
    ok(built_run)
    assert registry_get(registry, f"/v2/{name}-api/tags/list")["tags"] == ["1.0.0-gpu"]
    built = image_id(docker_client, local)
    assert built and image_id(docker_client, remote) == built
    assert built_run.task("Show the fact")["aistack_image"]["images"] == {"api": local}
    assert docker_client.images.get(built).labels["io.aistack.deploy.variant"] == "gpu"

    forget_image(docker_client, local, remote)  # another GPU host
    pulled = run_role(playbook, {**gpu_host, "app_image_source": "pull", "app_image_context_src": ""})
    ok(pulled)
    assert image_id(docker_client, local) == built
    fact = pulled.task("Show the fact")["aistack_image"]
    assert fact["images"] == {"api": local} and fact["variant"] == "gpu"


def test_check_mode_without_the_build_directory_refuses_no_existing_release(
    app: dict[str, t.Any], docker_client: t.Any, playbook: t.Callable[..., PlaybookResult]
) -> None:
    """A fresh build directory (a new controller directory or CI runner) beside images the builder has.

    Check mode lays out no context, so it has none to hash: it once refused release 1.0.0 as "built from another
    build context" although the sources were the same. It now predicts the build and leaves the decision to the
    real run, which lays the context out and finds it unchanged.
    """
    local, build_dir = f"{app['name']}-api:1.0.0", app["tmp"] / "host-build"
    role_vars = {**app["vars"], "app_image_source": "build_host"}
    ok(run_role(playbook, role_vars))
    first = image_id(docker_client, local)
    subprocess.run(["rm", "-rf", str(build_dir)], check=True)
    checked = run_role(playbook, role_vars, check=True)
    assert ok(checked)["changed"] > 0 and image_id(docker_client, local) == first and not build_dir.exists()
    assert "whether an existing one was built from today's sources is decided by the real run" in checked.stdout
    again = run_role(playbook, role_vars)
    assert ok(again) and "build_images | Build the images" not in changed_tasks(again)
    assert image_id(docker_client, local) == first


def test_pulled_releases_are_pruned_with_their_registry_names(
    app: dict[str, t.Any],
    registry: str,
    docker_client: t.Any,
    busybox_image: str,
    playbook: t.Callable[..., PlaybookResult],
) -> None:
    import io

    name = app["name"]
    releases = ["1.9.0", "1.10.0", "1.10.1"]
    pushed = {}
    for release in releases:  # three distinct small images, pushed by the test itself (the role's push is tested above)
        dockerfile = f"FROM {busybox_image}\nLABEL io.aistack.test.app={app['vars']['app_image_labels']['io.aistack.test.app']} release={release}\n"
        image = docker_client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()), pull=False, rm=True, tag=f"{registry}/{name}-api:{release}"
        )[0]
        for line in docker_client.images.push(f"{registry}/{name}-api", tag=release, stream=True, decode=True):
            assert "error" not in line, line
        pushed[release] = image.id
        forget_image(docker_client, f"{registry}/{name}-api:{release}")
    assert len(set(pushed.values())) == 3
    assert not {image.id for image in docker_client.images.list(all=True)} & set(pushed.values())

    pull_vars = {
        **app["vars"],
        "app_image_source": "pull",
        "app_image_registry": registry,
        "app_image_context_src": "",
        "app_image_keep_releases": 2,
    }
    for release in releases:
        ok(run_role(playbook, {**pull_vars, "app_image_release": release}))
    kept = {tag for image in docker_client.images.list() for tag in image.tags if f"{name}-api:" in tag}
    assert kept == {
        f"{name}-api:1.10.0",
        f"{name}-api:1.10.1",
        f"{registry}/{name}-api:1.10.0",
        f"{registry}/{name}-api:1.10.1",
    }
    # 1.9.0 left the disk: no tag and no digest reference keeps its image.
    assert image_id(docker_client, pushed["1.9.0"]) is None
    # Rolling back to 1.10.0 keeps 1.10.1 (the newest other version) and prunes nothing.
    back = run_role(playbook, {**pull_vars, "app_image_release": "1.10.0"})
    assert ok(back)["changed"] == 0, changed_tasks(back)


RECORD = """
- name: Look for the release's image
  community.docker.docker_image_info:
    name: ["{ref}"]
  register: found

- name: Record the release as app_stack does
  ansible.builtin.set_fact:
    record: >-
      {{{{ {{'images': ['{ref}']}} | aistack.deploy.app_stack_release_record(found.images, [],
           {{'release': '1.0.0', 'delivery': {{'source': 'pull', 'archives': ''}}}}) }}}}
"""

RELOAD = """
- name: Look for the release's images as rollback.yml does
  community.docker.docker_image_info:
    name: "{{ record.images | list }}"
  register: lost

- name: Bring them back as rollback.yml does
  ansible.builtin.include_role:
    name: aistack.deploy.app_stack
    tasks_from: reload.yml
  vars:
    __app_stack_rollback_record: "{{ record }}"
    __app_stack_rollback_missing: >-
      {{ record.images | aistack.deploy.app_stack_missing_images(lost.images, record.digests) }}
"""
PULL_TASK = "aistack.deploy.app_stack : reload | Pull the images from their registry by digest"


def test_a_rollback_pulls_a_lost_image_by_the_digest_its_release_recorded(
    app: dict[str, t.Any],
    registry: str,
    docker_client: t.Any,
    busybox_image: str,
    playbook: t.Callable[..., PlaybookResult],
) -> None:
    """app_stack's reload.yml (rollback.yml, a release delivered by pull): the digest comes back, never the tag."""
    import io

    name = app["name"]
    ref, remote = f"{name}-api:1.0.0", f"{registry}/{name}-api:1.0.0"
    label = app["vars"]["app_image_labels"]["io.aistack.test.app"]
    images = {}
    for content in ("the release", "what the tag names by now"):
        dockerfile = f'FROM {busybox_image}\nLABEL io.aistack.test.app={label} content="{content}"\n'
        images[content] = docker_client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()), pull=False, rm=True, tag=remote
        )[0].id
        for line in docker_client.images.push(f"{registry}/{name}-api", tag="1.0.0", stream=True, decode=True):
            assert "error" not in line, line
        if content == "the release":  # as a pull delivered it: the local name beside the registry's digest
            docker_client.images.get(images[content]).tag(f"{name}-api", tag="1.0.0")
            run = playbook(RECORD.format(ref=ref))
            assert run.rc == 0, run.stdout[-3000:] + run.stderr[-3000:]
            record = run.task("Record the release as app_stack does")["ansible_facts"]["record"]
            assert record["images"] == {ref: images[content]}
            assert record["digests"][ref].startswith(f"{registry}/{name}-api@sha256:"), record
    # The host loses the release's image for good (every tag and digest of it); the registry's tag 1.0.0 names
    # other content by now, so only the recorded digest leads back to it.
    docker_client.images.remove(images["the release"], force=True)
    forget_image(docker_client, remote)
    run = playbook(RELOAD, extra_args=["-e", json.dumps({"record": record})])
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.task("Look for the release's images as rollback.yml does")["images"] == []
    pulled = run.task(PULL_TASK)
    assert pulled["changed"] and [item["item"]["digest"] for item in pulled["results"]] == [record["digests"][ref]]
    assert image_id(docker_client, ref) == images["the release"]
    assert image_id(docker_client, remote) is None  # nothing was pulled by tag
