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
cache=${XDG_CACHE_HOME:-$HOME/.cache}/aistack-deploy

# The example's secrets: random, ansible-vault encrypted, made once per
# checkout (the vault password stays outside it).
ensure_vault() {
  local dir=$cache
  local vault=examples/local-fleet/group_vars/aistack/vault.yml
  export ANSIBLE_VAULT_PASSWORD_FILE=$dir/local-fleet-vault-password
  mkdir -p "$dir"
  if [ ! -s "$ANSIBLE_VAULT_PASSWORD_FILE" ]; then
    (umask 077; python -c 'import secrets; print(secrets.token_urlsafe(32))' > "$ANSIBLE_VAULT_PASSWORD_FILE")
    rm -f "$vault"
  fi
  if [ ! -s "$vault" ]; then
    say "writing random secrets to $vault (ansible-vault, password in $ANSIBLE_VAULT_PASSWORD_FILE)"
    (umask 077; python -c 'import secrets
print("---\nvault_postgres_password: " + secrets.token_urlsafe(24))
print("vault_app_secret_key: " + secrets.token_urlsafe(32))' > "$vault")
    ansible-vault encrypt "$vault"
  fi
}

case "$action" in
  up)
    scripts/ensure-engine.sh
    ensure_debian_packages mmdebstrap
    tests/harness/images/build-testhost.sh 13
    # The images the example stack starts from, built from Debian packages.
    tests/harness/images/build-base-images.sh python postgres nginx
    ensure_vault
    say "starting the local fleet"
    ansible-playbook examples/local-fleet/fleet.yml -e fleet_state=up
    say "deploying: ansible-playbook -i examples/local-fleet/hosts.yml site.yml"
    ansible-playbook -i examples/local-fleet/hosts.yml site.yml
    say "the fleet"
    for host in aistack-fleet-1 aistack-fleet-2; do
      address=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$host" | awk '{print $1}')
      printf '%s: Docker %s, Compose %s; stack: %s\n' "$host" \
        "$(docker exec "$host" docker version --format '{{.Server.Version}}')" \
        "$(docker exec "$host" docker compose version --short)" \
        "$(docker exec "$host" docker compose -p reference ps --format '{{.Service}}={{.Health}}' | sort | tr '\n' ' ')"
      printf '  shell: docker exec -it %s bash\n' "$host"
      # The CA the host's nginx_proxy made: clients that trust it get a verified HTTPS connection.
      ca="$cache/$host-ca.crt"
      docker exec "$host" cat /opt/aistack/reference/pki/ca.crt >"$ca"
      # The API publishes no port of its own behind nginx: it is reached through it (/api/ and /docs).
      printf '  API: https://%s/api/health, https://%s/docs (nginx, TLS; CA: %s), http://%s/ redirects there\n' \
        "$address" "$address" "$ca" "$address"
      printf '  through nginx: %s\n' "$(python -c 'import ssl, sys, urllib.request
context = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen(sys.argv[1], timeout=10, context=context) as r:
    print(r.status, r.headers["Strict-Transport-Security"] and "HSTS", r.read().decode())' "https://$address/api/health" "$ca" 2>&1 | tail -1)"
    done
    echo "remove it with: scripts/local-fleet.sh down"
    ;;
  down)
    ansible-playbook examples/local-fleet/fleet.yml -e fleet_state=down
    ;;
  *) echo "usage: $0 [up|down]" >&2; exit 2 ;;
esac
