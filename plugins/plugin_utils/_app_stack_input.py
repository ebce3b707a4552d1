# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The app_stack role's checks of its deploy settings (private, not a public API).

The services, volumes and presets are the data model's to check
(filter app_stack_model); retention has its own (_retention.py).
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping

from ansible_collections.aistack.deploy.plugins.plugin_utils._input import Problems, plain, show

RELEASE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# (variable, smallest value, why)
MINIMUMS = (
    ("app_stack_health_timeout", 1, "seconds"),
    ("app_stack_drain_seconds", 0, "seconds"),
    ("app_stack_keep_releases", 2, "the current and the previous release; aistack_keep_releases sets it"),
    ("app_stack_history_length", 1, "entries"),
    ("app_stack_backup_keep", 1, "backups"),
    ("app_stack_lock_max_age", 1, "seconds"),
    ("app_stack_min_free_disk_mb", 0, "MiB; 0 turns the pre-flight's disk check off; aistack_min_free_disk_mb sets it"),
)

# The port variables the presets publish or proxy: a port number whether or not the host publishes it today
# (behind nginx the api's port is the upstream's, never a host port, and the next inventory may publish it).
PORTS = (
    "app_stack_api_port",
    "app_stack_frontend_port",
    "app_stack_flower_port",
    "app_stack_http_port",
    "app_stack_https_port",
)


def _absolute(path: t.Any) -> bool:
    return isinstance(path, str) and path.startswith("/") and path.strip("/") != ""


def app_stack_settings_problems(variables: Mapping[str, t.Any]) -> list[str]:
    """Problems of the app_stack role's release, paths and deploy settings (types already checked)."""
    v = plain(variables)
    problems = Problems()
    release = str(v["app_stack_release"])
    if not RELEASE_RE.match(release):
        problems.add(
            "app_stack_release",
            f"{show(release)}: a release name of letters, digits, '.', '_' or '-'"
            " (up to 128, not starting with '.' or '-'); aistack_release sets it",
        )
    if not _absolute(v["app_stack_root"]):
        problems.add("app_stack_root", f"{show(v['app_stack_root'])}: must be an absolute path, not /")
    for name, minimum, why in MINIMUMS:
        if int(v[name]) < minimum:
            problems.add(name, f"must be {minimum} or more ({why}), got {show(v[name])}")
    for name in PORTS:
        if not 1 <= int(v[name]) <= 65535:
            problems.add(name, f"must be a port number 1-65535, got {show(v[name])}")
    backup_dir, root = v["app_stack_backup_dir"], str(v["app_stack_root"]).rstrip("/")
    # A relative app_stack_data_root (which the default derives from) is the model's to name.
    if (
        _absolute(v["app_stack_root"])
        and str(v["app_stack_data_root"]).startswith("/")
        and (not _absolute(backup_dir) or backup_dir == root or backup_dir.startswith(root + "/"))
    ):
        problems.add(
            "app_stack_backup_dir",
            f"{show(backup_dir)}: must be an absolute path outside app_stack_root ({root}), where releases come and go",
        )
    return list(problems)
