# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark what clients see during a release: start-first vs the recreate path, on the local fleet.

For each of --runs rounds, on one host of the local fleet (scripts/local-fleet.sh up), in this order (a
start-first release switches only from containers that have their release's alias, so one start-first deploy,
not counted, follows the stop-first ones):

  good, start-first   a new release with the api's default rollout (start-first behind nginx)
  good, stop-first    the same with app_stack_services.api.rollout: stop-first: the api is recreated in
                      place, as every deploy did before start-first (the common alternative)
  bad, start-first    a release whose /health fails (MODEL_FILE points nowhere): the gate fails, the
                      host goes back; the run fails, as it must
  bad, stop-first     the same on the recreate path

During each deploy a request loop GETs https://<host>/api/health through nginx 10 times a second
(it stops by itself after --limit seconds) and counts answers that are not 200 and the longest gap
between two 200s. Printed per case: the median deploy time, failed requests, longest gap, and the
ratio of each figure to the stop-first one.

Usage: python benchmarks/rollout.py [--runs 2] [--host aistack-fleet-1] [--json out.json]
It leaves the host on a healthy release of the same code.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import ssl
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "examples/local-fleet/hosts.yml"
GROUP_VARS = ROOT / "examples/local-fleet/group_vars/aistack/main.yml"


class Loop(threading.Thread):
    """GET url 10 times a second until stopped or limit_s passed; keep (time, status) of each answer."""

    def __init__(self, url: str, limit_s: float) -> None:
        super().__init__(daemon=True)
        self.url, self.limit_s = url, limit_s
        self.halt = threading.Event()
        self.seen: list[tuple[float, int]] = []

    def run(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + self.limit_s
        while not self.halt.is_set() and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url, timeout=5, context=context) as answer:
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            self.seen.append((time.monotonic(), status))
            time.sleep(0.1)

    def figures(self) -> dict[str, float]:
        good = [at for at, status in self.seen if status == 200]
        return {
            "requests": len(self.seen),
            "failed": sum(1 for _at, s in self.seen if s != 200),
            "longest_gap_s": max((b - a for a, b in itertools.pairwise(good)), default=0.0),
        }


def address(host: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", host],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[0]


def deploy(host: str, release: str, services: dict, env: dict | None) -> tuple[float, int]:
    extra = {"aistack_release": release, "app_stack_services": services, "aistack_batches": [1]}
    if env is not None:
        extra["app_stack_env"] = env
    command = [
        "ansible-playbook",
        "-i",
        str(INVENTORY),
        str(ROOT / "site.yml"),
        "--limit",
        host,
        "--skip-tags",
        "docker_engine,nvidia_toolkit",
        "-e",
        json.dumps(extra),
    ]
    start = time.monotonic()
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env=dict(os.environ, ANSIBLE_FORCE_COLOR="false", NO_COLOR="1"),
    )
    return time.monotonic() - start, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--host", default="aistack-fleet-1")
    parser.add_argument("--limit", type=float, default=600, help="seconds after which a request loop stops by itself")
    parser.add_argument("--json")
    args = parser.parse_args()

    base = yaml.safe_load(GROUP_VARS.read_text())["app_stack_services"]
    stop_first = copy.deepcopy(base)
    stop_first["api"] = {**stop_first["api"], "rollout": "stop-first"}
    cases = {
        ("good", "start-first"): (base, None),
        ("good", "stop-first"): (stop_first, None),
        ("bad", "start-first"): (base, {"MODEL_FILE": "missing.json"}),
        ("bad", "stop-first"): (stop_first, {"MODEL_FILE": "missing.json"}),
    }
    url = f"https://{address(args.host)}/api/health"
    stamp = time.strftime("%Y%m%d%H%M%S")
    trials: list[dict] = []
    order = [("good", "stop-first"), ("bad", "stop-first"), None, ("good", "start-first"), ("bad", "start-first")]
    for run in range(args.runs):
        for index, case in enumerate(order):
            release = f"bench-{stamp}-{run}-{index}"
            if case is None:
                if deploy(args.host, release, base, None)[1] != 0:
                    raise SystemExit(f"the start-first deploy of {release} failed")
                continue
            services, env = cases[case]
            loop = Loop(url, args.limit)
            loop.start()
            seconds, code = deploy(args.host, release, services, env)
            loop.halt.set()
            loop.join()
            trial = {
                "case": "/".join(case),
                "release": release,
                "seconds": round(seconds, 1),
                "rc": code,
                **loop.figures(),
            }
            trials.append(trial)
            print(json.dumps(trial), flush=True)
            expected_ok = case[0] == "good"
            if (code == 0) != expected_ok:
                raise SystemExit(
                    f"{trial['case']}: ansible-playbook rc {code}, expected {'0' if expected_ok else 'a failure'}"
                )

    print(f"\n{args.host}, {args.runs} run(s) per case, request loop through nginx over HTTPS at 10/s")
    print(
        f"{'case':<22}{'deploy s':>10}{'failed req':>12}{'longest gap s':>15}   ratio to stop-first (time, failed, gap)"
    )
    medians = {}
    for case in cases:
        rows = [t for t in trials if t["case"] == "/".join(case)]
        medians[case] = {k: statistics.median(r[k] for r in rows) for k in ("seconds", "failed", "longest_gap_s")}
    for case, fig in medians.items():
        ref = medians[(case[0], "stop-first")]
        ratio = ", ".join(f"{fig[k] / ref[k]:.2f}" if ref[k] else "-" for k in ("seconds", "failed", "longest_gap_s"))
        print(
            f"{'/'.join(case):<22}{fig['seconds']:>10.1f}{fig['failed']:>12.0f}{fig['longest_gap_s']:>15.2f}   {ratio}"
        )
    # Leave the host on a healthy release of the same code.
    deploy(args.host, f"bench-{stamp}-end", base, None)
    if args.json:
        Path(args.json).write_text(json.dumps(trials, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
