# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark deploys with site.yml on the local fleet (scripts/local-fleet.sh up).

Figures, each the median of --runs runs against the converged fleet:

  no-op re-run        ansible-playbook site.yml on converged hosts, nothing to do (changed=0),
                      for one host (--limit) and for the whole fleet; seconds per host
  release deploy      a new release of the same code (new image tag, recreated api container)
                      through the health gate, one host
  rollback            a release whose health check fails (MODEL_FILE points nowhere): up, gate
                      fails on `unhealthy`, the last healthy release comes back and is healthy;
                      the run fails, as it must; one host

and, as the common alternative measured in the same run on the same host,
`docker compose up -d --wait` of the current release by hand (what the seeds'
guides do; it has no rollback, and Compose 2.40 exits 0 even when a
container turns unhealthy).

Usage: python benchmarks/app_stack.py [--runs 3] [--json out.json]
Run it from a checkout after `scripts/local-fleet.sh up`; it leaves the fleet
on the release it found (it deploys that release again at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "examples/local-fleet/hosts.yml"
HOSTS = ("aistack-fleet-1", "aistack-fleet-2")
APP = "reference"


def playbook(*args: str, limit: str | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    command = ["ansible-playbook", "-i", str(INVENTORY), str(ROOT / "site.yml"), *args]
    if limit:
        command += ["--limit", limit]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", NO_COLOR="1")
    start = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    return time.monotonic() - start, proc


def changed(output: str, host: str) -> int:
    for line in output.splitlines():
        if line.startswith(host) and "changed=" in line:
            return int(line.split("changed=")[1].split()[0])
    raise SystemExit(f"no recap for {host}:\n{output[-2000:]}")


def current_release(host: str) -> str:
    state = subprocess.run(
        ["docker", "exec", host, "cat", f"/opt/aistack/{APP}/state.json"], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(state)["last_healthy"]


def compose_wait(host: str) -> float:
    start = time.monotonic()
    subprocess.run(
        [
            "docker",
            "exec",
            host,
            "docker",
            "compose",
            "-p",
            APP,
            "-f",
            f"/opt/aistack/{APP}/current/compose.yaml",
            "up",
            "-d",
            "--wait",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE"):
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aistack-deploy"
        os.environ["ANSIBLE_VAULT_PASSWORD_FILE"] = str(cache / "local-fleet-vault-password")
    host = HOSTS[0]
    start_release = current_release(host)
    figures: dict[str, list[float]] = {
        "noop_one_host": [],
        "noop_fleet_per_host": [],
        "release_deploy": [],
        "rollback": [],
        "compose_up_wait_noop": [],
    }
    same = ("-e", f"aistack_release={start_release}")  # every run starts from the release the fleet is on
    for run in range(args.runs):
        seconds, proc = playbook(*same, limit=host)
        if proc.returncode or changed(proc.stdout, host):
            raise SystemExit(f"the fleet is not converged (rc={proc.returncode}):\n{proc.stdout[-3000:]}")
        figures["noop_one_host"].append(seconds)
        seconds, proc = playbook(*same)
        if proc.returncode or any(changed(proc.stdout, h) for h in HOSTS):
            raise SystemExit(f"no-op fleet run changed something:\n{proc.stdout[-3000:]}")
        figures["noop_fleet_per_host"].append(seconds / len(HOSTS))
        figures["compose_up_wait_noop"].append(compose_wait(host))

        seconds, proc = playbook("-e", f"aistack_release=bench-{run}", limit=host)
        if proc.returncode:
            raise SystemExit(f"release deploy failed:\n{proc.stdout[-3000:]}")
        figures["release_deploy"].append(seconds)

        seconds, proc = playbook(
            "-e",
            f"aistack_release=bench-bad-{run}",
            "-e",
            json.dumps({"app_stack_env": {"MODEL_FILE": "missing.json"}}),
            limit=host,
        )
        text = proc.stdout + proc.stderr
        if proc.returncode == 0 or "Rolled back to release" not in text:
            raise SystemExit(f"the bad release was not rolled back:\n{text[-3000:]}")
        figures["rollback"].append(seconds)
        restored, proc = playbook(*same, limit=host)
        if proc.returncode:
            raise SystemExit(f"could not deploy {start_release} again:\n{proc.stdout[-3000:]}")
        print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in figures.items()), flush=True)

    medians = {key: statistics.median(values) for key, values in figures.items()}
    print()
    print(f"{'figure':<28}{'median s':>10}   runs")
    for key, values in figures.items():
        print(f"{key:<28}{medians[key]:>10.1f}   {', '.join(f'{v:.1f}' for v in values)}")
    print(
        f"\nno-op re-run of site.yml vs a hand-run `docker compose up -d --wait`: "
        f"{medians['noop_one_host'] / medians['compose_up_wait_noop']:.1f}x "
        "(site.yml also checks the engine, the image, volumes, secrets, the unit and the health of every container)"
    )
    if args.json:
        args.json.write_text(json.dumps({"runs": figures, "median": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
