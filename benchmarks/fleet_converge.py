# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark how a first deploy scales with the fleet: site.yml on 1, 2 and 4 fresh test hosts.

For each fleet size (--sizes, default 1 2 4), fresh test hosts are started (containers with systemd
and their own dockerd, as scripts/local-fleet.sh starts them, named aistack-bench-<n> on the network
aistack-bench), and site.yml deploys the local fleet's example stack to them (the reference backend
built once on the controller, PostgreSQL, nginx with TLS) with every host in one batch
(aistack_batches ["100%"]), after a warm-up run on one host that builds the image (its time is not
counted: every timed run loads the same saved image). A no-op run follows on the same hosts. The largest size is then deployed
once more on fresh hosts with the default batches ([1, "25%", "100%"]: a canary, then the rest).

Printed per run: wall time, the controller's CPU seconds (ansible-playbook and everything it waited
for, docker CLIs included) in total and per host, and the test hosts' CPU seconds (their cgroups).
The common alternative to one run for the fleet is one run per host: the 1-host time times N. The
summary gives the ratio of each size's time to the 1-host time (goal for 4 hosts: 1.6 or less),
beside N. The test hosts share this machine's cores with the controller, so a larger fleet's wall
time is mostly CPU contention; its CPU seconds per host tell what the collection itself costs.

Usage: python benchmarks/fleet_converge.py [--sizes 1 2 4] [--image aistack-test/testhost:debian13-docker]
                                           [--no-batches] [--json out.json]
Needs the engine, the test-host image (tests/harness/images/build-testhost.sh 13-docker, or 13 for hosts
without Docker's packages) and the base images of scripts/local-fleet.sh. Removes its hosts at the
end, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples/local-fleet"
NETWORK = "aistack-bench"
# The benchmark's own image name and controller cache: the local fleet's stay untouched.
IMAGE_NAME = "aistack-bench/reference-backend"


def fleet(names: list[str], image: str, state: str) -> None:
    """Start or remove the benchmark's test hosts with the local fleet's own playbook."""
    extra = {
        "fleet_state": state,
        "testhost_network": NETWORK,
        "testhost_label": NETWORK,
        "testhost_platforms": [{"name": name, "image": image} for name in names],
    }
    subprocess.run(
        ["ansible-playbook", str(EXAMPLE / "fleet.yml"), "-e", json.dumps(extra)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ, ANSIBLE_FORCE_COLOR="false"),
    )


def inventory(workdir: Path, names: list[str]) -> Path:
    """The local fleet's inventory for these hosts: its group_vars as they are, secrets of this run's own."""
    inv = workdir / "inventory"
    (inv / "group_vars" / "aistack").mkdir(parents=True, exist_ok=True)
    # group_vars find the example app at "{{ inventory_dir }}/../reference-backend".
    link = workdir / "reference-backend"
    if not link.exists():
        link.symlink_to(ROOT / "examples/reference-backend")
    for name in ("main.yml", "controller.yml"):
        target = inv / "group_vars" / "aistack" / name
        if not target.exists():
            target.symlink_to(EXAMPLE / "group_vars" / "aistack" / name)
    secret_file = inv / "group_vars" / "aistack" / "secrets.yml"
    if not secret_file.exists():
        secret_file.write_text(
            yaml.safe_dump(
                {
                    "vault_postgres_password": secrets.token_urlsafe(24),
                    "vault_app_secret_key": secrets.token_urlsafe(32),
                }
            )
        )
        secret_file.chmod(0o600)
    hosts = yaml.safe_load((EXAMPLE / "hosts.yml").read_text())
    hosts["aistack"]["hosts"] = {name: None for name in names}
    path = inv / "hosts.yml"
    path.write_text(yaml.safe_dump(hosts))
    return path


def host_cpu_seconds(names: list[str]) -> float | None:
    """CPU seconds the hosts' containers used so far (cgroup v1 or v2); None where they cannot be read."""
    total = 0.0
    for name in names:
        cid = subprocess.run(
            ["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True, check=True
        ).stdout.strip()
        v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
        v2 = next(
            (
                p
                for p in (
                    Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"),
                    Path(f"/sys/fs/cgroup/docker/{cid}/cpu.stat"),
                )
                if p.exists()
            ),
            None,
        )
        if v1.exists():
            total += int(v1.read_text()) / 1e9
        elif v2 is not None:
            total += int(re.search(r"usage_usec (\d+)", v2.read_text()).group(1)) / 1e6
        else:
            return None
    return total


def converge(workdir: Path, names: list[str], batches: list[str | int], label: str) -> dict:
    """One site.yml run on the hosts: wall, controller CPU (waited children), hosts' CPU, and the recap."""
    hosts_file = inventory(workdir, names)
    extra = {
        "aistack_batches": batches,
        "aistack_audit_log": str(workdir / "audit.jsonl"),
        "app_image_name": IMAGE_NAME,
        "app_image_controller_dir": str(workdir / "controller"),
    }
    command = ["ansible-playbook", "-i", str(hosts_file), str(ROOT / "site.yml"), "-e", json.dumps(extra)]
    before_host = host_cpu_seconds(names)
    before = os.times()
    start = time.monotonic()
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env=dict(os.environ, ANSIBLE_FORCE_COLOR="false", NO_COLOR="1"),
    )
    wall = time.monotonic() - start
    after = os.times()
    after_host = host_cpu_seconds(names)
    controller = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    changed = sum(int(m) for m in re.findall(r"^aistack-bench-\d+\s+:.* changed=(\d+)", proc.stdout, re.M))
    row = {
        "run": label,
        "hosts": len(names),
        "batches": batches,
        "rc": proc.returncode,
        "wall_s": round(wall, 1),
        "controller_cpu_s": round(controller, 1),
        "controller_cpu_s_per_host": round(controller / len(names), 1),
        "hosts_cpu_s": None if before_host is None or after_host is None else round(after_host - before_host, 1),
        "changed": changed,
    }
    print(json.dumps(row), flush=True)
    if proc.returncode != 0:
        (workdir / f"{label}.log").write_text(proc.stdout + proc.stderr)
        raise SystemExit(f"{label}: ansible-playbook rc {proc.returncode}; output in {workdir / (label + '.log')}")
    return row


def stop(signum: int, frame: t.Any) -> None:
    """SIGTERM ends the run as Ctrl-C does: the hosts are removed on the way out."""
    raise KeyboardInterrupt(f"signal {signum} at {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--image", default="aistack-test/testhost:debian13-docker")
    parser.add_argument("--no-batches", action="store_true", help="leave out the run with the default batches")
    parser.add_argument("--json")
    args = parser.parse_args()

    rows: list[dict] = []
    names: list[str] = []
    signal.signal(signal.SIGTERM, stop)
    # The first run builds the image on the controller and saves its archives; the timed ones all reuse them.
    plan = [(1, ["100%"], "warm-up (builds the image once)")]
    plan += [(size, ["100%"], f"{size} host(s), one batch") for size in args.sizes]
    if not args.no_batches:
        plan.append((max(args.sizes), [1, "25%", "100%"], f"{max(args.sizes)} hosts, canary and batches"))
    with tempfile.TemporaryDirectory(prefix="aistack-bench-") as tmp:
        workdir = Path(tmp)
        try:
            for size, batches, label in plan:
                names = [f"aistack-bench-{n}" for n in range(1, size + 1)]
                fleet(names, args.image, "up")
                first = converge(workdir, names, batches, f"{label}: first deploy")
                if not label.startswith("warm-up"):
                    rows += [first, converge(workdir, names, batches, f"{label}: no-op run")]
                fleet(names, args.image, "down")
                names = []
        finally:
            if names:
                fleet(names, args.image, "down")
            # The controller's archives go with the temp dir, the hosts' images with the hosts; the build stays.
            built = subprocess.run(
                ["docker", "images", "-q", "--filter", f"reference={IMAGE_NAME}-*"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            if built:
                subprocess.run(["docker", "rmi", "-f", *sorted(set(built))], check=False, stdout=subprocess.DEVNULL)

    one = next((r for r in rows if r["hosts"] == 1 and r["run"].endswith("first deploy")), None)
    print(f"\nsite.yml on fresh test hosts ({args.image}), this machine's {os.cpu_count()} cores shared by all")
    print(
        f"{'run':<48}{'wall s':>8}{'ratio to 1 host':>17}{'one at a time':>15}{'ctl CPU-s/host':>16}"
        f"{'hosts CPU-s':>13}{'changed':>9}"
    )
    for row in rows:
        first = row["run"].endswith("first deploy")
        ratio = f"{row['wall_s'] / one['wall_s']:.2f}" if one and first else "-"
        alone = f"{row['hosts']:.2f}" if one and first else "-"
        hosts_cpu = "n/a" if row["hosts_cpu_s"] is None else f"{row['hosts_cpu_s']:.0f}"
        print(
            f"{row['run']:<48}{row['wall_s']:>8.1f}{ratio:>17}{alone:>15}{row['controller_cpu_s_per_host']:>16.1f}"
            f"{hosts_cpu:>13}{row['changed']:>9}"
        )
    print(
        "ratio to 1 host: this run's wall time / the 1-host first deploy's; one at a time: the same ratio for one "
        "run per host (N). Goal for 4 hosts in one batch: 1.6 or less."
    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
