# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark what a new release copies and loads by save/copy/load: the thinned archive vs the whole one.

On this machine's engine: the reference backend's api image (the role's rendered Dockerfile) as release A,
then release B after a change to app/main.py, what most releases are. B is saved once. A host that runs A
gets B's archive without the layers it has (roles/app_image/files/aistack-thin-archive.py, given A's layers
as the host's); the common alternative, what every release copied before, is the whole archive. Printed:
bytes to copy, seconds to write the thinned archive, and seconds for `docker load` into an engine that has A
(B removed before each load), median of --runs, with the ratio thin/whole.

Usage: python benchmarks/image_delivery.py [--runs 3] [--json out.json]
Builds aistack-test/python:3.13-slim from Debian packages if missing (never pulls). Images are named
aistack-it-bench-delivery-* and removed at the end, with the archives.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests" / "harness"
BACKEND = ROOT / "examples" / "reference-backend"
SHAPE = ROOT / "examples" / "shapes" / "reference_backend.yml"
THIN = ROOT / "roles" / "app_image" / "files" / "aistack-thin-archive.py"
BASE = "aistack-test/python:3.13-slim"
PREFIX = "aistack-it-bench-delivery"


def context(workdir: Path) -> Path:
    sys.path.insert(0, str(HARNESS))
    from aistack_testlib import render_shapes as render  # pylint: disable=import-outside-toplevel

    return render.build_context(
        workdir / "ctx", SHAPE, BACKEND, {"app_image_python_base": BASE, "app_image_python_version": "3.13"}
    )


def build(client: t.Any, ctx: Path, tag: str, target: str = "api") -> str:
    return client.images.build(path=str(ctx), tag=tag, target=target, pull=False, rm=True, forcerm=True)[0].id


def host_said(client: t.Any, tag: str) -> str:
    """What the host-side listing of distribute_load.yml prints for an engine that has only ``tag``."""
    driver = json.dumps(client.info().get("DriverStatus") or [])
    return f"{driver}\n{json.dumps(client.images.get(tag).attrs['RootFS']['Layers'])}\n"


def load(archive: Path, expect: str, client: t.Any, tag: str) -> float:
    client.images.remove(tag, force=True)
    start = time.monotonic()
    subprocess.run(["docker", "load", "--quiet", "--input", str(archive)], check=True, capture_output=True)
    took = time.monotonic() - start
    assert client.images.get(tag).id == expect, f"{archive.name} loaded another image under {tag}"
    return took


def measure(client: t.Any, work: Path, runs: int) -> dict[str, t.Any]:
    ctx = context(work)
    # The builder stage under a tag of its own: the cleanup removes its layers with it.
    build(client, ctx, f"{PREFIX}-builder:a", target="builder")
    build(client, ctx, f"{PREFIX}:a")
    main = ctx / "app" / "main.py"
    main.write_text(main.read_text() + "\n# release b: a change to the code\n")
    expect = build(client, ctx, f"{PREFIX}:b")
    whole = work / "whole.tar"
    subprocess.run(["docker", "save", "--output", str(whole), f"{PREFIX}:b"], check=True)
    said = host_said(client, f"{PREFIX}:a")
    thin_s, loads = [], {"whole": [], "thin": []}
    for _run in range(runs):
        start = time.monotonic()
        out = json.loads(
            subprocess.run(
                [sys.executable, str(THIN), str(whole), str(work / "thin.tar")],
                input=said,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        thin_s.append(time.monotonic() - start)
        loads["whole"].append(load(whole, expect, client, f"{PREFIX}:b"))
        loads["thin"].append(load(Path(out["path"]), expect, client, f"{PREFIX}:b"))
    return {
        "whole_mb": out["archive_bytes"] / 2**20,
        "thin_mb": out["bytes"] / 2**20,
        "layers": out["layers"],
        "omitted": out["omitted"],
        "thin_s": statistics.median(thin_s),
        "load_whole_s": statistics.median(loads["whole"]),
        "load_thin_s": statistics.median(loads["thin"]),
    }


def cleanup(client: t.Any) -> None:
    for image in client.images.list(name=f"{PREFIX}*"):
        for tag in image.tags:
            client.images.remove(tag, force=True)


def report(r: dict[str, t.Any]) -> str:
    return "\n".join(
        [
            f"{'figure':28} {'thin':>9} {'whole':>9} {'thin/whole':>11}",
            f"{'archive to copy (MiB)':28} {r['thin_mb']:>9.2f} {r['whole_mb']:>9.1f} {r['thin_mb'] / r['whole_mb']:>11.4f}",
            f"{'docker load (s)':28} {r['load_thin_s']:>9.2f} {r['load_whole_s']:>9.2f} "
            f"{r['load_thin_s'] / r['load_whole_s']:>11.3f}",
            f"{'writing the thin archive (s)':28} {r['thin_s']:>9.2f} {'-':>9}",
            f"layers left out: {r['omitted']} of {r['layers']}",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3, help="loads of each archive (median)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    subprocess.run([str(HARNESS / "images" / "build-base-images.sh"), "python"], check=True)
    client = docker.from_env()
    try:
        with tempfile.TemporaryDirectory(prefix="aistack-bench-") as work:
            results = measure(client, Path(work), args.runs)
    finally:
        cleanup(client)
    sys.stdout.write(report(results) + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
