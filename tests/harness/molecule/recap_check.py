"""Fail unless an ansible-playbook log's PLAY RECAP shows failed=0 and
unreachable=0 for every host, and changed=0 too unless --changes-ok is given.

Used on each `check` (converge --check) run of a scenario
(tests/harness/molecule/scenario.sh): against converged test hosts nothing may
change; against fresh ones changes are predicted, but nothing may fail.

    python tests/harness/molecule/recap_check.py [--changes-ok] LOG
"""

import re
import sys

RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def main(path: str, changes_ok: bool = False) -> int:
    hosts = {}
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            match = RECAP.match(line.strip())
            if match:
                hosts[match.group(1)] = tuple(int(g) for g in match.groups()[1:])
    if not hosts:
        print(f"no PLAY RECAP in {path}")
        return 1
    bad = {h: v for h, v in hosts.items() if (v[1] and not changes_ok) or v[2] or v[3]}
    for host, (ok, changed, unreachable, failed) in sorted(hosts.items()):
        print(f"check mode: {host}: ok={ok} changed={changed} unreachable={unreachable} failed={failed}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[-1], changes_ok="--changes-ok" in sys.argv[1:-1]))
