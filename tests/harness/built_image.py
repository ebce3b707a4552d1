# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""An image the integration tests build from a rendered app_image context, and remove afterwards."""

from __future__ import annotations

import contextlib
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
