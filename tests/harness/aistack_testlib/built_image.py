# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""An image the integration tests build from a rendered app_image context, and remove afterwards."""

from __future__ import annotations

import contextlib
import time
import typing as t
import uuid
from pathlib import Path

# The builder stage of each image built_image made, by the image's tag: tests run commands in it.
_BUILDER_STAGES: dict[str, str] = {}


def build(client: t.Any, context: Path, target: str, tag: str | None = None) -> str:
    """docker build --target (the classic builder, through the Docker SDK): the image ID; the log if it fails."""
    try:
        # (image, build log): the log is read only when the build fails, from the exception.
        image = client.images.build(path=str(context), target=target, tag=tag, pull=False, rm=True, forcerm=True)[0]
    except Exception as exc:  # docker.errors.BuildError carries the log
        log = "".join(chunk.get("stream", "") + chunk.get("error", "") for chunk in getattr(exc, "build_log", []))
        raise AssertionError(f"building target {target} failed: {exc}\n{log[-6000:]}") from exc
    return str(image.id)


def builder_stage(tag: str) -> str:
    """The ID of the builder stage of the image built_image yielded as tag (run it by that ID)."""
    return _BUILDER_STAGES[tag]


@contextlib.contextmanager
def built_image(client: t.Any, context: Path, prefix: str, target: str = "api") -> t.Iterator[str]:
    """Build target as <prefix>-<random>, yield that tag, then remove it.

    Removing the tag removes the image and the layers only it used. The
    builder stage is left untagged, as every build leaves it: it is the
    engine's cache of the dependencies, and it is shared. Another build with
    the same base and requirements (a Molecule scenario's controller build
    running beside this test, say) gets the very same layers from the cache,
    so removing them here would take that build's cache away from under it:
    its next release would install every dependency again and copy them to
    its hosts (the releases scenario checks that it does not).
    """
    tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
    try:
        _BUILDER_STAGES[tag] = build(client, context, "builder")
        build(client, context, target, tag)
        yield tag
    finally:
        _BUILDER_STAGES.pop(tag, None)
        try:
            client.images.remove(tag, force=True)  # an untag only when another name or a child image holds it
        except Exception:  # pylint: disable=broad-exception-caught  # may not exist after a failed build
            pass


def run_in(client: t.Any, image: str, *command: str, workdir: str = "/", network: str | None = None) -> str:
    """The output of a command run in a throwaway container of the image (no entrypoint)."""
    out = client.containers.run(
        image, list(command), remove=True, working_dir=workdir, entrypoint=[], network_mode=network
    )
    return out.decode().strip()


@contextlib.contextmanager
def healthy_container(client: t.Any, image: str, name: str, timeout: float = 60) -> t.Iterator[tuple[t.Any, str]]:
    """Run the image with its port 8000 on a loopback port; yield the container, once healthy, and that port.

    Fails with the container's last log lines when it turns unhealthy or is not healthy within timeout seconds;
    the container is removed afterwards.
    """
    container = client.containers.run(image, name=name, detach=True, ports={"8000/tcp": ("127.0.0.1", None)})
    try:
        deadline = time.monotonic() + timeout
        while True:
            container.reload()
            status = (container.attrs["State"].get("Health") or {}).get("Status")
            if status == "healthy":
                break
            assert status != "unhealthy" and time.monotonic() < deadline, container.logs(tail=50).decode()
            time.sleep(0.5)
        yield container, container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
    finally:
        container.remove(force=True)
