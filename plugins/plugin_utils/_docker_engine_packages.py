# Copyright (c) 2026, aistack.deploy developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which of the packages docker_engine wants are not installed yet, from one dpkg-query.

A run where every package is installed (the usual run) skips apt: apt's own
"present" answer costs seconds per host (it loads its whole cache, after an
update of the package lists), this answer a fraction of one. Only dpkg's
view is read: a host without dpkg (dnf) has nothing installed here, so every
package goes to the package manager as before.
"""

from __future__ import annotations

import fnmatch
import typing as t


def installed_packages(probe: str) -> dict[str, str]:
    """Package name to version, of the packages dpkg lists as installed.

    Reads the lines "PKG <status> <name> <version>" of
    `dpkg-query -W -f='PKG ${db:Status-Abbrev} ${Package} ${Version}\\n'` (status "ii": installed and
    configured; anything else, e.g. "rc" or "iF", is not installed). Other lines are ignored.
    """
    found: dict[str, str] = {}
    for line in probe.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[0] == "PKG" and fields[1] == "ii":
            # Multi-arch packages are listed as name:arch by some dpkg versions.
            found[fields[2].split(":", 1)[0]] = fields[3]
    return found


def missing_packages(wanted: t.Iterable[str], probe: str) -> list[str]:
    """The entries of `wanted` ("name" or apt's "name=version-glob") that the host does not have.

    A pinned entry counts as installed only when the installed version matches its glob (the pin
    docker_engine writes, e.g. "docker-ce=5:27.3.1*"); anything not in apt's form (a dnf pin such as
    "docker-ce-27.3.1*") is never found, so it goes to the package manager.
    """
    installed = installed_packages(probe)
    missing = []
    for spec in wanted:
        name, sep, pin = str(spec).partition("=")
        version = installed.get(name)
        if version is None or (sep and not fnmatch.fnmatchcase(version, pin)):
            missing.append(str(spec))
    return missing
