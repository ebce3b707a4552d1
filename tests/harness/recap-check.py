"""Fail unless an ansible-playbook log's PLAY RECAP shows changed=0 and failed=0
for every host (used on `--check` runs against converged test hosts)."""

import re
import sys

RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def main(path: str) -> int:
    hosts = {}
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            match = RECAP.match(line.strip())
            if match:
                hosts[match.group(1)] = tuple(int(g) for g in match.groups()[1:])
    if not hosts:
        print(f"no PLAY RECAP in {path}")
        return 1
    bad = {h: v for h, v in hosts.items() if v[1] or v[2] or v[3]}
    for host, (ok, changed, unreachable, failed) in sorted(hosts.items()):
        print(f"check mode: {host}: ok={ok} changed={changed} unreachable={unreachable} failed={failed}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
