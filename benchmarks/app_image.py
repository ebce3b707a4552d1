# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark the app_image Dockerfile on the reference backend (target api).

Figures, each for the role's rendered Dockerfile ("ours") and for the common
alternative measured in the same run ("single"): the single-stage Dockerfile
most seed guides start from (same base, same CA certificates and pip index,
`COPY . .` then `pip install -r requirements.txt`, same user, healthcheck and
command):

  image size           bytes of the api image (goal: <= 200 MB; the seeds ask < 500 MB)
  cold build           docker build --no-cache (the base image stays: it is a local fixture)
  cached rebuild       rebuild after a change to app/main.py (goal: <= 10 s)
  start to healthy     docker run -> Health.Status == healthy (goal: <= 5 s)
  start to first 200   docker run -> first 200 from /health seen from the host
  /health latency      median and p95 of sequential GETs on one kept-alive connection (goal: median <= 10 ms)

Usage: python benchmarks/app_image.py [--runs 3] [--requests 300] [--json out.json]
Needs the engine and builds aistack-test/python:3.13-slim from Debian packages
if missing (never pulls). Images and containers are named aistack-it-bench-*
and removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
import uuid
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tests" / "harness"
BACKEND = REPO / "examples" / "reference-backend"
SHAPE = REPO / "examples" / "shapes" / "reference_backend.yml"
BASE = "aistack-test/python:3.13-slim"
PREFIX = f"aistack-it-bench-{uuid.uuid4().hex[:8]}"
GOALS = {"size_mb": 200, "cached_rebuild_s": 10, "healthy_s": 5, "health_median_ms": 10}
BUILT: set[str] = set()  # every image id a build here produced, removed at the end

SINGLE_STAGE = """\
# The common alternative: one stage, the whole context first, then pip.
FROM {base}
COPY aistack-ca-certificates/ /usr/local/share/ca-certificates/aistack/
RUN update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \\
    DATA_DIR=/app/data MODELS_DIR=/app/models MODEL_FILE=model.json{pip_env}
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -r requirements.txt \\
 && groupadd --gid 10001 app && useradd --uid 10001 --gid 10001 --no-log-init app \\
 && mkdir -p /app/data /app/models && chown 10001:10001 /app/data /app/models
USER 10001:10001
HEALTHCHECK --interval=3s --timeout=3s --start-period=30s --retries=3 \\
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"]
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
"""


def contexts(workdir: Path) -> dict[str, Path]:
    sys.path.insert(0, str(HARNESS))
    from aistack_testlib import render_shapes as render  # pylint: disable=import-outside-toplevel

    ours = render.build_context(
        workdir / "ours", SHAPE, BACKEND, {"app_image_python_base": BASE, "app_image_python_version": "3.13"}
    )
    single = render.build_context(
        workdir / "single", SHAPE, BACKEND, {"app_image_python_base": BASE, "app_image_python_version": "3.13"}
    )
    pip = render.machine_pip_settings()
    pip_env = "".join(
        f" \\\n    {name}={value!r}"
        for name, value in (
            ("PIP_INDEX_URL", pip.get("app_image_pip_index_url", "")),
            ("PIP_EXTRA_INDEX_URL", " ".join(pip["app_image_pip_extra_index_urls"])),
            ("PIP_TRUSTED_HOST", " ".join(pip["app_image_pip_trusted_hosts"])),
        )
        if value
    )
    (single / "Dockerfile").write_text(SINGLE_STAGE.format(base=BASE, pip_env=pip_env.replace("'", '"')))
    # The single-stage file copies everything: keep only the usual exclusions.
    (single / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n.git\n")
    return {"ours": ours, "single": single}


def build(client: t.Any, context: Path, tag: str, *, nocache: bool, target: str | None) -> float:
    start = time.monotonic()
    kwargs = {"target": target} if target else {}
    image = client.images.build(
        path=str(context), tag=tag, pull=False, rm=True, forcerm=True, nocache=nocache, **kwargs
    )[0]
    took = time.monotonic() - start
    BUILT.add(image.id)
    return took


def touch_code(context: Path, run: int) -> None:
    main = context / "app" / "main.py"
    text = main.read_text().split("\n# bench-run", 1)[0]
    main.write_text(f"{text}\n# bench-run {run}\n")


def start_and_wait(client: t.Any, tag: str, name: str) -> tuple[float, float, int]:
    """Seconds to healthy, seconds to the first 200 seen from the host, and the host port."""
    start = time.monotonic()
    container = client.containers.run(
        tag,
        name=name,
        detach=True,
        volumes={str(BACKEND / "models"): {"bind": "/app/models", "mode": "ro"}},
        ports={"8000/tcp": ("127.0.0.1", None)},
    )
    port, first_200, healthy = 0, 0.0, 0.0
    while not healthy:
        if time.monotonic() - start > 120:
            raise RuntimeError(f"{name} not healthy after 120 s: {container.logs(tail=20).decode(errors='replace')}")
        container.reload()
        if not port and container.attrs["NetworkSettings"]["Ports"].get("8000/tcp"):
            port = int(container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"])
        if port and not first_200 and get_status(port) == 200:
            first_200 = time.monotonic() - start
        if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
            healthy = time.monotonic() - start
        time.sleep(0.02)
    return healthy, first_200 or healthy, port


def get_status(port: int) -> int:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/health")
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return 0


def health_latency(port: int, requests: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    times = []
    for _request in range(requests):
        start = time.perf_counter()
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        times.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise RuntimeError(f"/health answered {response.status}")
    conn.close()
    return times


def measure(client: t.Any, variant: str, context: Path, runs: int, requests: int) -> dict[str, t.Any]:
    tag = f"{PREFIX}-{variant}"
    target = "api" if variant == "ours" else None
    figures: dict[str, t.Any] = {"cold_build_s": build(client, context, tag, nocache=True, target=target)}
    figures["size_mb"] = client.images.get(tag).attrs["Size"] / 1e6
    rebuilds = []
    for run in range(runs):
        touch_code(context, run)
        rebuilds.append(build(client, context, tag, nocache=False, target=target))
    figures["cached_rebuild_s"] = statistics.median(rebuilds)
    healthy, first, latency = [], [], []
    for run in range(runs):
        name = f"{tag}-{run}"
        try:
            took_healthy, took_first, port = start_and_wait(client, tag, name)
            healthy.append(took_healthy)
            first.append(took_first)
            latency += health_latency(port, requests)
        finally:
            client.containers.get(name).remove(force=True)
    latency.sort()
    figures.update(
        healthy_s=statistics.median(healthy),
        first_200_s=statistics.median(first),
        health_median_ms=statistics.median(latency),
        health_p95_ms=latency[int(len(latency) * 0.95) - 1],
    )
    return figures


def cleanup(client: t.Any) -> None:
    """Remove the containers, tags and every image built here (a rebuild leaves the previous one untagged)."""
    for container in client.containers.list(all=True, filters={"name": PREFIX}):
        container.remove(force=True)
    for image in client.images.list(name=f"{PREFIX}-*"):
        for tag in image.tags:
            client.images.remove(tag, force=True)
    for image_id in BUILT:
        try:
            client.images.remove(image_id, force=True)
        except docker.errors.NotFound:
            pass


def report(results: dict[str, dict[str, t.Any]]) -> str:
    rows = [
        ("image size (MB)", "size_mb", "{:.0f}"),
        ("cold build (s)", "cold_build_s", "{:.1f}"),
        ("cached rebuild (s)", "cached_rebuild_s", "{:.1f}"),
        ("start to healthy (s)", "healthy_s", "{:.2f}"),
        ("start to first 200 (s)", "first_200_s", "{:.2f}"),
        ("/health median (ms)", "health_median_ms", "{:.2f}"),
        ("/health p95 (ms)", "health_p95_ms", "{:.2f}"),
    ]
    lines = [f"{'figure':24} {'ours':>9} {'single':>9} {'ours/single':>12}  goal"]
    for label, key, fmt in rows:
        ours, single = results["ours"][key], results["single"][key]
        goal = GOALS.get(key)
        verdict = "" if goal is None else f"<= {goal}: {'met' if ours <= goal else 'MISSED'}"
        lines.append(f"{label:24} {fmt.format(ours):>9} {fmt.format(single):>9} {ours / single:>12.2f}  {verdict}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3, help="rebuilds and starts per variant (median)")
    parser.add_argument("--requests", type=int, default=300, help="/health requests per start")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    subprocess.run([str(HARNESS / "images" / "build-base-images.sh"), "python"], check=True)
    client = docker.from_env()
    results: dict[str, dict[str, t.Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="aistack-bench-") as work:
            for variant, context in contexts(Path(work)).items():
                sys.stderr.write(f"[app_image] measuring {variant}...\n")
                try:
                    results[variant] = measure(client, variant, context, args.runs, args.requests)
                finally:
                    if variant == "ours":
                        # The builder stage as an image of its own (from the cache), so the
                        # cleanup removes its layers too.
                        build(client, context, f"{PREFIX}-builder", nocache=False, target="builder")
    finally:
        cleanup(client)
    sys.stdout.write(report(results) + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
