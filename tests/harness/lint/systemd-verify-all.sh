#!/usr/bin/env bash
# `systemd-analyze verify` on the unit the app_stack role renders for every
# example seed shape and extra case (tests/output/compose/<case>/aistack-*.service,
# rendered by compose-config-all.sh; rendered here when that directory is
# missing). verify exits 0 on settings it merely ignores (a misspelt key, a
# bad time span), so any line it prints about the unit fails it too.
#
#   tests/harness/lint/systemd-verify-all.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:-tests/output/compose}
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing (Debian package systemd)" >&2; exit 1; }
if [ ! -d "$out" ]; then
  [ "$out" = tests/output/compose ] || { echo "no directory $out" >&2; exit 1; }
  tests/harness/lint/compose-config-all.sh --render
fi
mapfile -t units < <(find "$out" -name 'aistack-*.service' | sort)
[ ${#units[@]} -gt 0 ] || { echo "no rendered units under $out" >&2; exit 1; }
# The units require docker.service. Where Docker is not installed (a lint
# machine), a stand-in unit of that name goes first on the unit path, so the
# dependency resolves and the rest of the unit is still verified.
stub=
if ! systemctl cat docker.service >/dev/null 2>&1 && [ ! -e /lib/systemd/system/docker.service ] \
    && [ ! -e /usr/lib/systemd/system/docker.service ] && [ ! -e /etc/systemd/system/docker.service ]; then
  stub=$(mktemp -d)
  trap 'rm -rf "$stub"' EXIT
  printf '[Unit]\nDescription=stand-in for docker.service (lint only)\n[Service]\nExecStart=/bin/true\n' \
    > "$stub/docker.service"
  export SYSTEMD_UNIT_PATH="$stub:"
  echo "note: docker.service is not installed: verifying against a stand-in unit" >&2
fi
status=0
start=$SECONDS
for unit in "${units[@]}"; do
  rc=0
  said=$(systemd-analyze verify --man=no "$unit" 2>&1) || rc=$?
  if [ "$rc" -eq 0 ] && ! grep -qF "$(basename "$unit")" <<<"$said"; then
    echo "ok  $unit"
  else
    echo "BAD $unit (rc $rc)"
    status=1
  fi
  [ -z "$said" ] || while IFS= read -r line; do printf '    %s\n' "$line"; done <<<"$said"
done
echo "${#units[@]} units verified in $(( SECONDS - start )) s"
exit $status
