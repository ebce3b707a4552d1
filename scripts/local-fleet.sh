#!/usr/bin/env bash
# The main job, on this machine: start a local fleet of two Debian 13 test
# hosts (containers with systemd and their own dockerd) and deploy to it with
#
#   ansible-playbook -i examples/local-fleet/hosts.yml site.yml
#
# Usage: scripts/local-fleet.sh [up|down]   (default: up)
# Installs what it needs (virtualenv, Docker Engine, test-host image) itself.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$AISTACK_ROOT"
action=${1:-up}

choose_newest
venv=${AISTACK_VENV:-$AISTACK_ROOT/.venv}
make_venv "$venv" "$NEWEST_PY" "$NEWEST_REQ"
export PATH="$venv/bin:$PATH"
expose_collection
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-false}

case "$action" in
  up)
    tests/harness/ensure-engine.sh
    ensure_debian_packages mmdebstrap
    tests/harness/build-testhost.sh 13
    say "starting the local fleet"
    ansible-playbook examples/local-fleet/fleet.yml -e fleet_state=up
    say "deploying: ansible-playbook -i examples/local-fleet/hosts.yml site.yml"
    ansible-playbook -i examples/local-fleet/hosts.yml site.yml
    say "the fleet"
    for host in aistack-fleet-1 aistack-fleet-2; do
      printf '%s: Docker %s, Compose %s (docker exec -it %s bash)\n' "$host" \
        "$(docker exec "$host" docker version --format '{{.Server.Version}}')" \
        "$(docker exec "$host" docker compose version --short)" "$host"
    done
    echo "remove it with: scripts/local-fleet.sh down"
    ;;
  down)
    ansible-playbook examples/local-fleet/fleet.yml -e fleet_state=down
    ;;
  *) echo "usage: $0 [up|down]" >&2; exit 2 ;;
esac
