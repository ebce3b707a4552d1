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


def build(client: t.Any, context: Path, target: str, tag: str) -> None:
    """docker build --target (the engine's classic builder, through the Docker SDK); the log when it fails."""
    try:
        client.images.build(path=str(context), target=target, tag=tag, pull=False, rm=True, forcerm=True)
    except Exception as exc:  # docker.errors.BuildError carries the log
        log = "".join(chunk.get("stream", "") + chunk.get("error", "") for chunk in getattr(exc, "build_log", []))
        raise AssertionError(f"building target {target} failed: {exc}\n{log[-6000:]}") from exc


@contextlib.contextmanager
def built_image(client: t.Any, context: Path, prefix: str, target: str = "api") -> t.Iterator[str]:
    """Build target as <prefix>-<random>, yield that tag, then remove it.

    The builder stage gets a tag too: removing both tags removes every layer
    of the build, and nothing dangling stays behind.
    """
    tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
    try:
        build(client, context, "builder", f"{tag}-builder")
        build(client, context, target, tag)
        yield tag
    finally:
        for name in (tag, f"{tag}-builder"):
            try:
                client.images.remove(name, force=True)
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
