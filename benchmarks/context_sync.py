# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark the build context's sync on a run where nothing changed: app_image's context.yml vs a directory copy.

With app_image_source=build_host the build context goes to every host. A generated 100-file app (a package of
98 modules, requirements.txt, a README) is laid out on 1 and on 4 test hosts (aistack-test/testhost:debian13,
connection community.docker.docker) by two methods, each into its own directory:

* ours: roles/app_image/tasks/context.yml as the role runs it (pack once per run on the controller, then one
  probe per host that hashes the build directory and reads the stamp the last layout left; the layout steps,
  context_layout.yml, run only where the stamp differs: on a no-op, nowhere);
* copy: ansible.builtin.copy of the source directory, the common alternative (one check per file and host).
  (ansible.posix.synchronize needs rsync on the hosts, which the test hosts lack: not measured.)

Each method's context is laid out once first (not measured; copy's by docker cp, which puts the same bytes and
modes where copy would), then ours runs --runs times and copy --copy-runs times (default: --runs; copy takes
minutes under load) with nothing changed, interleaved. Printed per host count: the median seconds of the
method's tasks (from the first task's start to the last task's end, Ansible's json callback), the median
controller CPU seconds of its whole ansible-playbook run (user + system of it and its children, start-up
included), the ratio ours/copy, and the 4-host/1-host ratio of each.

Usage: python benchmarks/context_sync.py [--runs 3] [--copy-runs N] [--files 100] [--sizes 1 4] [--json out.json]
Hosts are containers named aistack-ctx-bench-<n>, removed at the end, also after a failure, Ctrl-C or SIGTERM.
Each ansible-playbook run is bounded (--timeout seconds, default 1200).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "aistack-test/testhost:debian13"
PREFIX = "aistack-ctx-bench"

PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: "{method} | start"
      ansible.builtin.meta: noop
{tasks}
"""
OURS = """
    - name: ours | Lay out the build context as app_image does
      ansible.builtin.include_role:
        name: aistack.deploy.app_image
        tasks_from: context.yml
      vars:
        __app_image_builder: "{{ inventory_hostname }}"
        __app_image_build_path: /opt/ctx/ours
"""
COPY = """
    - name: copy | Copy the source directory
      ansible.builtin.copy:
        src: "{{ app_image_context_src }}/"
        dest: /opt/ctx/copy/
        mode: preserve
"""


def make_app(root: Path, files: int) -> Path:
    """A Python app of `files` files: requirements.txt, README.md and a package of modules of about 2 KB."""
    app = root / "app-src"
    package = app / "app"
    package.mkdir(parents=True)
    (app / "requirements.txt").write_text("fastapi==0.115.0\nuvicorn==0.30.6\n")
    (app / "README.md").write_text("A generated app for benchmarks/context_sync.py.\n")
    (package / "__init__.py").write_text("")
    for number in range(files - 3):
        body = "".join(f"def f{number}_{line}(x: int) -> int:\n    return x + {line}\n\n" for line in range(40))
        (package / f"module_{number:03d}.py").write_text(body)
    return app


def start_hosts(names: list[str]) -> None:
    for name in names:
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                name,
                "--label",
                f"{PREFIX}=1",
                "--entrypoint",
                "sleep",
                IMAGE,
                "infinity",
            ],
            check=True,
            capture_output=True,
        )


def remove_hosts() -> None:
    found = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={PREFIX}=1"], capture_output=True, text=True, check=False
    ).stdout.split()
    if found:
        subprocess.run(["docker", "rm", "-f", *found], check=False, capture_output=True)


def _seconds(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(work: Path, method: str, names: list[str], app: Path, timeout: int) -> tuple[float, float]:
    """One run of a method on the hosts: seconds from its first task's start to its last task's end (negative: the
    number of changes, on a run that should have none), and the controller CPU seconds of the run."""
    play = work / f"{method}.yml"
    play.write_text(PLAY.format(method=method, tasks=OURS if method == "ours" else COPY))
    inventory = work / "hosts.yml"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {name: None for name in names},
                    "vars": {
                        "ansible_connection": "community.docker.docker",
                        "ansible_python_interpreter": "/usr/bin/python3",
                    },
                }
            }
        )
    )
    variables = {
        "app_image_context_src": str(app),
        "app_image_name": "ctx/bench",
        "app_image_release": "1.0",
        "app_image_controller_dir": str(work / "controller"),
    }
    cpu = children_cpu()
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(play), "-e", json.dumps(variables)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=timeout,
        env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", NO_COLOR="1", ANSIBLE_FORCE_COLOR="false"),
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"{method} on {len(names)} host(s): rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        )
    tasks = [
        task
        for play_data in json.loads(proc.stdout)["plays"]
        for task in play_data["tasks"]
        if not task["task"]["name"].endswith("| start")
    ]
    changed = sum(1 for task in tasks for result in task["hosts"].values() if result.get("changed"))
    start = min(_seconds(task["task"]["duration"]["start"]) for task in tasks)
    end = max(_seconds(task["task"]["duration"]["end"]) for task in tasks)
    return (round(end - start, 2) if changed == 0 else -float(changed)), round(children_cpu() - cpu, 2)


def measure(work: Path, app: Path, sizes: list[int], runs: int, copy_runs: int, timeout: int) -> list[dict[str, t.Any]]:
    rows = []
    for size in sizes:
        names = [f"{PREFIX}-{number}" for number in range(1, size + 1)]
        remove_hosts()
        start_hosts(names)
        figures: dict[str, list[float]] = {"ours": [], "copy": []}
        cpu: dict[str, list[float]] = {"ours": [], "copy": []}
        run(work, "ours", names, app, timeout)  # the first layout: not measured
        for name in names:  # copy's first layout, by docker cp: by copy it takes minutes per host under load
            subprocess.run(["docker", "exec", name, "mkdir", "-p", "/opt/ctx/copy"], check=True)
            subprocess.run(["docker", "cp", f"{app}/.", f"{name}:/opt/ctx/copy/"], check=True, capture_output=True)
        for number in range(max(runs, copy_runs)):
            order = ("ours", "copy") if number % 2 == 0 else ("copy", "ours")
            for method in order:
                if number >= (runs if method == "ours" else copy_runs):
                    continue
                seconds, cpu_seconds = run(work, method, names, app, timeout)
                if seconds < 0:
                    raise SystemExit(f"{method} on {size} host(s) changed {-seconds:.0f} thing(s) on a no-op run")
                figures[method].append(seconds)
                cpu[method].append(cpu_seconds)
        ours, copy = statistics.median(figures["ours"]), statistics.median(figures["copy"])
        row = {
            "hosts": size,
            "ours_s": ours,
            "copy_s": copy,
            "ours/copy": round(ours / copy, 3) if copy else None,
            "ours_cpu_s": statistics.median(cpu["ours"]),
            "copy_cpu_s": statistics.median(cpu["copy"]),
            "ours_runs": figures["ours"],
            "copy_runs": figures["copy"],
            "ours_cpu_runs": cpu["ours"],
            "copy_cpu_runs": cpu["copy"],
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
        remove_hosts()
    return rows


def stop(signum: int, frame: t.Any) -> None:
    """SIGTERM ends the run as Ctrl-C does: the hosts are removed on the way out."""
    raise KeyboardInterrupt(f"signal {signum} at {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--copy-runs", type=int, help="runs of the copy baseline (default: --runs)")
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--timeout", type=int, default=1200, help="seconds one ansible-playbook run may take")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aistack-ctx-bench-") as tmp:
        work = Path(tmp)
        app = make_app(work, args.files)
        try:
            rows = measure(work, app, args.sizes, args.runs, args.copy_runs or args.runs, args.timeout)
        finally:
            remove_hosts()
    print(
        f"\nBuild-context sync on a no-op run, {args.files}-file app, median of {args.runs} (ours) and "
        f"{args.copy_runs or args.runs} (copy) ({time.monotonic() - started:.0f} s in all):"
    )
    print(f"{'hosts':>5}  {'ours s':>7}  {'copy s':>7}  {'ours/copy':>9}  {'ours CPU s':>10}  {'copy CPU s':>10}")
    for row in rows:
        print(
            f"{row['hosts']:>5}  {row['ours_s']:>7.2f}  {row['copy_s']:>7.2f}  {row['ours/copy']:>9}"
            f"  {row['ours_cpu_s']:>10.2f}  {row['copy_cpu_s']:>10.2f}"
        )
    by_size = {row["hosts"]: row for row in rows}
    if 1 in by_size and 4 in by_size:
        print(
            f"4 hosts / 1 host: ours {by_size[4]['ours_s'] / by_size[1]['ours_s']:.2f}, "
            f"copy {by_size[4]['copy_s'] / by_size[1]['copy_s']:.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
