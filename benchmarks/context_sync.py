# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark the build context's sync on a run where nothing changed: app_image's context.yml vs copy and rsync.

With app_image_source=build_host the build context goes to every host. A generated 100-file app (a package of
98 modules, requirements.txt, a README) is laid out on 1 and on 4 test hosts (aistack-test/testhost:debian13,
connection community.docker.docker) by three methods, each into its own directory:

* ours: app_image's tasks/context.yml as the role runs it (pack once per run on the controller, one probe per
  host, the layout steps only where the stamp differs: on a no-op, nowhere);
* copy: ansible.builtin.copy of the source directory, the common alternative (one check per file and host);
* synchronize: ansible.posix.synchronize of the source directory (rsync, through docker exec here; one rsync per
  host, which compares sizes and modification times), the alternative the issue names. It needs rsync on the
  controller and on the hosts: the hosts get Debian's package (apt) when they start, the controller must have it
  (`apt-get install rsync`).

Each method's context is laid out once first (not measured; copy's by docker cp, which puts the same bytes and
modes where copy would), then ours and synchronize run --runs times and copy --copy-runs times (default: --runs;
copy takes minutes per host), in a rotating order. Printed per host count: the seconds from the method's first
task's start to its last task's end (Ansible's json callback), the controller CPU seconds of the method's
ansible-playbook run (its start-up included), the ratios ours/copy and ours/synchronize, and the 4-host/1-host
ratio of each.

Usage: python benchmarks/context_sync.py [--runs 3] [--copy-runs N] [--files 100] [--sizes 1 4] [--json out.json]

Hosts are containers named aistack-ctx-bench-<n>, removed at the end, also after a failure, Ctrl-C or SIGTERM.
Each ansible-playbook run is bounded (--timeout seconds, default 1200).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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
# The alternatives write the two files the role renders beside the source, as a hand-written role would (one
# task each); ours renders them on the controller and counts them in its stamp.
EXTRAS = """
    - name: "{method} | Write the Dockerfile and .dockerignore"
      ansible.builtin.copy:
        content: "{{{{ item.content }}}}"
        dest: "{dest}/{{{{ item.name }}}}"
        mode: "0644"
      loop:
        - {{name: Dockerfile, content: "FROM python:3.13-slim\\nCOPY . /app\\n"}}
        - {{name: .dockerignore, content: ".git\\n__pycache__\\n"}}
"""
COPY = """
    - name: copy | Copy the source directory
      ansible.builtin.copy:
        src: "{{ app_image_context_src }}/"
        dest: /opt/ctx/copy/
        mode: preserve
""" + EXTRAS.format(method="copy", dest="/opt/ctx/copy")
# delete: what the source lost goes, as ours removes it; the two written files are not the source's, and writing
# them changes the directory's time, which rsync would set back on every run (--omit-dir-times).
SYNCHRONIZE = """
    - name: synchronize | Sync the source directory with rsync
      ansible.posix.synchronize:
        src: "{{ app_image_context_src }}/"
        dest: /opt/ctx/sync/
        delete: true
        rsync_opts: [--exclude=/Dockerfile, --exclude=/.dockerignore, --omit-dir-times]
""" + EXTRAS.format(method="synchronize", dest="/opt/ctx/sync")
METHODS = {"ours": OURS, "copy": COPY, "synchronize": SYNCHRONIZE}


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
    for name in names:  # rsync for synchronize, from Debian's archive (the host's own apt sources)
        subprocess.run(
            ["docker", "exec", name, "sh", "-c", "apt-get update -qq && apt-get install -y -qq rsync >/dev/null"],
            check=True,
            capture_output=True,
            timeout=600,
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


def run(work: Path, method: str, names: list[str], app: Path, timeout: int, tasks: str = "") -> tuple[float, float]:
    """One run of a method on the hosts: seconds from its first task's start to its last task's end (negative: the
    number of changes, on a run that should have none), and the controller CPU seconds of the run."""
    play = work / f"{method}.yml"
    play.write_text(PLAY.format(method=method, tasks=tasks or METHODS[method]))
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
    planned = {"ours": runs, "synchronize": runs, "copy": copy_runs}
    for size in sizes:
        names = [f"{PREFIX}-{number}" for number in range(1, size + 1)]
        remove_hosts()
        start_hosts(names)
        figures: dict[str, list[float]] = {method: [] for method in METHODS}
        cpu: dict[str, list[float]] = {method: [] for method in METHODS}
        run(work, "ours", names, app, timeout)  # the first layouts: not measured
        run(work, "synchronize", names, app, timeout)
        for name in names:  # copy's first layout, by docker cp: by copy it takes minutes per host under load
            subprocess.run(["docker", "exec", name, "mkdir", "-p", "/opt/ctx/copy"], check=True)
            subprocess.run(["docker", "cp", f"{app}/.", f"{name}:/opt/ctx/copy/"], check=True, capture_output=True)
        run(work, "copy", names, app, timeout, tasks=EXTRAS.format(method="copy", dest="/opt/ctx/copy"))
        order = list(METHODS)
        for number in range(max(planned.values())):
            for method in order[number % len(order) :] + order[: number % len(order)]:  # a rotating order
                if number >= planned[method]:
                    continue
                seconds, cpu_seconds = run(work, method, names, app, timeout)
                if seconds < 0:
                    raise SystemExit(f"{method} on {size} host(s) changed {-seconds:.0f} thing(s) on a no-op run")
                figures[method].append(seconds)
                cpu[method].append(cpu_seconds)
        median = {method: statistics.median(values) for method, values in figures.items()}
        row: dict[str, t.Any] = {"hosts": size}
        for method in METHODS:
            row[f"{method}_s"] = median[method]
            row[f"{method}_cpu_s"] = statistics.median(cpu[method])
        for other in ("copy", "synchronize"):
            row[f"ours/{other}"] = round(median["ours"] / median[other], 3) if median[other] else None
        for method in METHODS:
            row[f"{method}_runs"] = figures[method]
            row[f"{method}_cpu_runs"] = cpu[method]
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
    if shutil.which("rsync") is None:
        parser.error("synchronize needs rsync on this machine: apt-get install rsync")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aistack-ctx-bench-") as tmp:
        work = Path(tmp)
        app = make_app(work, args.files)
        try:
            rows = measure(work, app, args.sizes, args.runs, args.copy_runs or args.runs, args.timeout)
        finally:
            remove_hosts()
    print(
        f"\nBuild-context sync on a no-op run, {args.files}-file app, median of {args.runs} (ours, synchronize) and "
        f"{args.copy_runs or args.runs} (copy) ({time.monotonic() - started:.0f} s in all):"
    )
    print(
        f"{'hosts':>5}  {'ours s':>7}  {'sync s':>7}  {'copy s':>7}  {'ours/sync':>9}  {'ours/copy':>9}"
        f"  {'ours CPU s':>10}  {'sync CPU s':>10}  {'copy CPU s':>10}"
    )
    for row in rows:
        print(
            f"{row['hosts']:>5}  {row['ours_s']:>7.2f}  {row['synchronize_s']:>7.2f}  {row['copy_s']:>7.2f}"
            f"  {row['ours/synchronize']:>9}  {row['ours/copy']:>9}  {row['ours_cpu_s']:>10.2f}"
            f"  {row['synchronize_cpu_s']:>10.2f}  {row['copy_cpu_s']:>10.2f}"
        )
    by_size = {row["hosts"]: row for row in rows}
    if 1 in by_size and 4 in by_size:
        print(
            "4 hosts / 1 host: "
            + ", ".join(f"{method} {by_size[4][f'{method}_s'] / by_size[1][f'{method}_s']:.2f}" for method in METHODS)
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
